"""``invoicekit align``: tie invoices out to the cost-and-usage export (CUR 2.0 or FOCUS 1.2).

Per invoice id, the invoice's total (base currency view) against the sum of its export lines,
the difference and a category that explains it (docs/costs.md). Prints one line per category
and every unexplained row; ``--output`` writes the whole table (.csv or .parquet), the
unexplained rows first. Exit codes: 0 every difference explained; 1 at least one unexplained
(``unexplained``, ``lines_without_invoice``, ``invoice_without_lines``); 2 bad input.
Payer-months no export covers are listed (``no_export``) and not counted as problems.

Examples
--------
::

    invoicekit align --summaries invoices.parquet --costs exports/ --month 2026-10 \\
        --output tie-out.csv
"""

from __future__ import annotations

import argparse

from invoicekit.cli import EXIT_FINDINGS, EXIT_OK, month, read_summaries

HELP = "tie invoices out to the cost-and-usage export (CUR 2.0 or FOCUS 1.2), per invoice id"
#: How many unexplained rows the summary lists before it says "... and N more".
MAX_LISTED = 30


def add_cost_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``align`` and ``allocate`` share."""
    parser.add_argument("--summaries", required=True, metavar="FILE",
                        help="invoice summaries written by `invoicekit fetch` (.parquet or .csv)")  # fmt: skip
    parser.add_argument(
        "--costs",
        required=True,
        action="append",
        metavar="PATH",
        help="a Data Exports export (CUR 2.0 or FOCUS 1.2), a folder of exports, a local "
        "`aws s3 sync` copy or s3://bucket/prefix (repeatable)",
    )
    parser.add_argument("--format", choices=("cur2", "focus"),
                        help="use only exports of this format (default: detect; CUR 2.0 when a "
                        "payer has both)")  # fmt: skip
    parser.add_argument("--month", type=month, metavar="YYYY-MM",
                        help="one billing month (default: every month of the summaries)")  # fmt: skip
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                        help="where the SQL runs (default duckdb; spark needs invoicekit[spark])")  # fmt: skip
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="S3 endpoint for s3:// exports (default $AWS_ENDPOINT_URL_S3)")  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit align``."""
    add_cost_arguments(parser)
    parser.add_argument(
        "--output", metavar="FILE", help="write the tie-out table (.csv or .parquet)"
    )


def read_costs(args: argparse.Namespace):
    """The exports of ``--costs`` (raises InvalidArgumentError naming the flag)."""
    from invoicekit.costs import read_cost_export

    return read_cost_export(args.costs, format=args.format, endpoint_url=args.endpoint_url)


def run(args: argparse.Namespace) -> int:
    """Tie out, print the summary, write ``--output``; 1 when something is unexplained."""
    from invoicekit.costs import align
    from invoicekit.costs.align import tie_out_lines, unexplained_lines
    from invoicekit.costs.output import write_table

    summaries = read_summaries(args.summaries)
    costs = read_costs(args)
    table = align(summaries, costs, month=args.month, engine=args.engine)
    if args.output:
        write_table(table, args.output)
    for line in tie_out_lines(table, costs, month=args.month):
        print(line)
    for line in unexplained_lines(table, MAX_LISTED):
        print(line)
    for note in table.attrs.get("notes", []):
        print(f"Note: {note}.")
    if args.output:
        print(f"The tie-out table is in {args.output}.")
    bad = table[table["explained"].eq(False).fillna(False)]
    return EXIT_FINDINGS if len(bad) else EXIT_OK
