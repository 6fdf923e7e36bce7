"""``invoicekit export-ap``: invoices and credit memos as a CSV for accounts payable.

Formats: ``generic`` (snake_case columns) and ``oracle-ap`` (Oracle Payables'
``AP_INVOICES_INTERFACE`` column names). Amounts are the payment currency view. Exit codes:
0 written; 2 bad input (missing or unreadable summaries file, unwritable output).

Examples
--------
::

    invoicekit export-ap --summaries invoices.parquet --format oracle-ap --output ap.csv
"""

from __future__ import annotations

import argparse

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
    from invoicekit.cli import read_summaries
    from invoicekit.reconcile import export_ap

    df = read_summaries(args.summaries)
    try:
        rows = export_ap(df, args.output, format=args.format, source=args.source)
    except OSError as exc:
        raise InvalidArgumentError(
            f"cannot write {args.output!r}: {exc.strerror or exc}; check the directory exists"
        ) from exc
    print(f"wrote {len(rows)} row(s) ({args.format}) to {args.output}")
    return EXIT_OK
