"""``invoicekit export-ap``: the payable documents as a CSV for accounts payable.

The rows are :func:`invoicekit.documents.is_payable` (invoices and credit memos; never a tax
invoice restating a commercial invoice, nor a payment receipt). Formats: ``generic``
(snake_case columns) and ``oracle-ap`` (Oracle Payables' ``AP_INVOICES_INTERFACE`` column
names). Amounts are the payment currency view; the command prints what it wrote and the net
payable per currency (:func:`invoicekit._money.format_money`). Exit codes:
0 written; 2 bad input (missing or unreadable summaries file, unwritable output).

Examples
--------
::

    invoicekit export-ap --summaries invoices.parquet --format oracle-ap --output ap.csv
"""

from __future__ import annotations

import argparse
from decimal import Decimal

from invoicekit._money import format_money
from invoicekit.cli import EXIT_OK
from invoicekit.errors import InvalidArgumentError

HELP = "export invoices for accounts payable (generic or Oracle AP)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit export-ap``."""
    parser.add_argument(
        "--summaries",
        required=True,
        metavar="FILE",
        help="invoice summaries written by `invoicekit fetch` (.parquet or .csv)",
    )
    parser.add_argument(
        "--format",
        choices=("generic", "oracle-ap"),
        default="generic",
        help="generic columns, or Oracle Payables AP_INVOICES_INTERFACE columns",
    )
    parser.add_argument("--output", required=True, metavar="FILE.csv", help="the CSV to write")
    parser.add_argument(
        "--source",
        default="INVOICEKIT",
        help="SOURCE value of the oracle-ap format (a Payables source you defined)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``invoicekit export-ap``; returns the exit code."""
    from invoicekit import documents
    from invoicekit.cli import read_summaries
    from invoicekit.reconcile import export_ap

    df = read_summaries(args.summaries)
    try:
        rows = export_ap(df, args.output, format=args.format, source=args.source)
    except OSError as exc:
        raise InvalidArgumentError(
            f"--output {args.output}: cannot write it ({exc.strerror or exc}); "
            "check the directory exists"
        ) from exc
    counts = documents.count(df.iloc[documents.is_payable(df).nonzero()[0]])
    print(
        f"wrote {len(rows)} row(s) ({documents.describe(counts)}; {args.format}) to {args.output}"
    )
    amount, currency = (
        ("amount", "currency")
        if args.format == "generic"
        else ("INVOICE_AMOUNT", "INVOICE_CURRENCY_CODE")
    )
    payable = _sum_by_currency(rows[amount], rows[currency])
    if payable:
        print("net payable: " + ", ".join(format_money(a, c, code=True) for c, a in payable))
    return EXIT_OK


def _sum_by_currency(amounts, currencies) -> list[tuple[str, Decimal]]:
    """Exact sums of the written amounts (decimal strings) per currency, by currency code."""
    sums: dict[str, Decimal] = {}
    for a, c in zip(amounts, currencies, strict=True):
        if a and c:
            sums[c] = sums.get(c, Decimal(0)) + Decimal(a)
    return sorted(sums.items())
