"""``invoicekit export-ap``: one billing month's payable invoices for AP, never twice.

Exports the payable documents (invoices; credit memos as credits referencing the invoice they
correct — never a tax invoice nor a payment receipt) of one billing month (``--month``,
default the last closed month at ``--now``; ``--all`` for every month, on purpose only) in the
format of the AP system (``generic``, ``oracle-ap``, ``netsuite``, ``xero``; docs/ap.md lists
every column). An export ledger (``--ledger``, default ``ap-ledger.csv`` beside the output)
records every invoice exported, so running the export again writes a header-only file and says
why (``--reexport`` overrides). The reconciliation checks run on what would be exported: an
open error finding on one of those invoices blocks the export (one line per finding, in plain
words) unless a controller accepts it (``--accept-findings FILE``; recorded in the ledger).

Exit codes: 0 written, or nothing new to export; 1 blocked by open error findings (nothing
written); 2 bad input (a missing or unreadable file, a bad month, an invoice id with two
different contents, a bad mapping or ledger, an unwritable output).

Examples
--------
::

    invoicekit export-ap --summaries invoices.parquet --month 2026-10 --format oracle-ap \\
        --output ap/2026-10 --business-unit "US1 Business Unit" --supplier-site AWS-MAIN
    invoicekit export-ap --summaries invoices.parquet --format xero --output bills.csv \\
        --accept-findings findings-accepted.csv
"""

from __future__ import annotations

import argparse

from invoicekit.cli import EXIT_FINDINGS, EXIT_OK, positive_int
from invoicekit.errors import InvalidArgumentError

HELP = "export one billing month's payable invoices for accounts payable, never twice"
#: The formats (kept here so ``--help`` imports no pandas; checked against invoicekit.ap).
FORMATS = ("generic", "oracle-ap", "netsuite", "xero")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit export-ap``."""
    parser.add_argument(
        "--summaries",
        required=True,
        metavar="FILE",
        help="invoice summaries written by `invoicekit fetch` (.parquet or .csv)",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--month",
        metavar="YYYY-MM",
        help="the billing month to export (default: the last closed month, per --now)",
    )
    scope.add_argument(
        "--all",
        dest="all_months",
        action="store_true",
        help="export every month of the summaries file (on purpose only)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="generic",
        help="generic CSV, Oracle Fusion Payables open interface (two tables), NetSuite "
        "vendor bill import, or Xero bills import (docs/ap.md)",
    )
    parser.add_argument(
        "--output",
        required=True,
        metavar="PATH",
        help="the file to write (oracle-ap: a directory receiving AP_INVOICES_INTERFACE.csv "
        "and AP_INVOICE_LINES_INTERFACE.csv)",
    )
    parser.add_argument(
        "--ledger",
        metavar="FILE",
        help="the export ledger (default: ap-ledger.csv beside --output)",
    )
    parser.add_argument(
        "--reexport",
        action="store_true",
        help="export invoices the ledger already has, again",
    )
    parser.add_argument(
        "--accept-findings",
        metavar="FILE",
        help="findings a controller accepted: the findings CSV of `invoicekit reconcile "
        "--output` with accepted_by filled in, or a text file of finding ids",
    )
    parser.add_argument(
        "--findings",
        metavar="FILE",
        help="check against this findings CSV instead of running the checks again",
    )
    parser.add_argument(
        "--invoice-id-start",
        type=positive_int,
        metavar="N",
        help="oracle-ap: the first INVOICE_ID (default: one more than the ledger's last)",
    )
    parser.add_argument(
        "--mapping",
        metavar="FILE",
        help="YAML or CSV mapping of invoicing entity to supplier, gl_account, tax_code "
        "(default: the fleet file's ap: mapping)",
    )
    parser.add_argument(
        "--config",
        metavar="fleet.yml",
        help="a fleet file whose ap: section gives supplier site, business unit, source, mapping",
    )
    parser.add_argument(
        "--supplier-site", metavar="S", help="oracle-ap VENDOR_SITE_CODE for every invoice"
    )
    parser.add_argument(
        "--business-unit", metavar="B", help="oracle-ap OPERATING_UNIT for every invoice"
    )
    parser.add_argument(
        "--source",
        metavar="S",
        help="oracle-ap SOURCE, a Payables source you defined (default: the fleet file's, "
        "else INVOICEKIT)",
    )
    parser.add_argument(
        "--business-units",
        metavar="FILE",
        help="business units: a CSV or a fleet file with a business_units: section; every "
        "invoice carries its business unit, cost center and GL account (docs/chargeback.md)",
    )
    parser.add_argument(
        "--units",
        metavar="FILE",
        help="invoice units written by `invoicekit units --output` (when --business-units "
        "names invoice units)",
    )


def _read_findings(path: str):
    """A findings CSV (``invoicekit reconcile --output``) as a DataFrame of strings."""
    from pathlib import Path

    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InvalidArgumentError(
            f"--findings {path}: no such file (write it with `invoicekit reconcile --output FILE`)"
        )
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception as exc:  # parser and unicode errors: a file we cannot read
        raise InvalidArgumentError(f"--findings {path}: cannot read it ({exc})") from None
    missing = [c for c in ("check", "severity", "invoice_id") if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(
            f"--findings {path}: not a findings CSV (no column {', '.join(missing)}); write it "
            "with `invoicekit reconcile --output FILE`"
        )
    return frame


def _flag_names(message: str) -> str:
    """The API's argument names as the CLI's flags, in a message."""
    for api, flag in (
        ("invoice_id_start=", "--invoice-id-start "),
        ("month=", "--month "),
        ("output ", "--output "),
        ("ledger ", "--ledger "),
        ("accept ", "--accept-findings "),
        ("mapping ", "--mapping "),
        ("business_units", "--business-units"),
    ):
        if message.startswith(api):
            return flag + message[len(api) :]
    return message


def run(args: argparse.Namespace) -> int:
    """Run ``invoicekit export-ap``; returns the exit code."""
    from invoicekit import months
    from invoicekit.ap import export_ap
    from invoicekit.cli import read_summaries

    month = None
    if args.month is not None:
        month = months.format_month(*months.parse_month(args.month, "--month"))
    fleet = None
    if args.config:
        from invoicekit.fleet import load_fleet

        fleet = load_fleet(args.config)
    findings = _read_findings(args.findings) if args.findings else None
    business_units = units = None
    if args.business_units:
        from invoicekit.business_units import read_business_units

        business_units = read_business_units(args.business_units, name="--business-units")
    if args.units:
        from invoicekit.units import load_units

        units = load_units(args.units, name="--units")
    df = read_summaries(args.summaries)
    try:
        result = export_ap(
            df,
            args.output,
            args.format,
            month=month,
            all_months=args.all_months,
            ledger=args.ledger,
            reexport=args.reexport,
            findings=findings,
            accept=args.accept_findings,
            invoice_id_start=args.invoice_id_start,
            mapping=args.mapping,
            fleet=fleet,
            supplier_site=args.supplier_site,
            business_unit=args.business_unit,
            source=args.source,
            business_units=business_units,
            units=units,
        )
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(_flag_names(str(exc))) from exc
    for line in result.summary():
        print(line)
    return EXIT_FINDINGS if result.status == "blocked" else EXIT_OK
