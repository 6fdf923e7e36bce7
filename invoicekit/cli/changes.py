"""``invoicekit changes``: what changed in a closed month since its close pack was written.

Reads the close pack (``DIR/YYYY-MM``: ``summaries.parquet``, ``archive/manifest.csv``,
``run.json``) and compares it with the month read again through the fleet (``--config``:
ListInvoiceSummaries for the month, GetInvoicePDF for every archived invoice's documents) or
with the local store alone (``--store`` without ``--config``). A store-only comparison can also
start from a moment instead of a pack: ``--store DIR --month YYYY-MM --since TIMESTAMP``.

Prints one sentence per change (by account, then invoice) and a summary line; ``--output
FILE.csv`` writes every change, one row per field (``invoicekit.changes.CHANGE_COLUMNS``).

Exit codes: 0 nothing changed; 1 something changed; 2 bad input (no pack, a bad month or
timestamp, a missing fleet file); 3 partial (the accounts that could not be read are named,
the others are reported).

Examples
--------
::

    invoicekit changes --config fleet.yml --close close/2026-10 --output changes.csv
    invoicekit changes --store invoice-store --close close/2026-10
    invoicekit changes --store invoice-store --month 2026-10 --since 2026-11-12T09:00:00Z
"""

from __future__ import annotations

import argparse
import csv
import io

from invoicekit.cli import add_progress_argument, month, progress_enabled

HELP = "list what changed in a closed month since its close pack was written"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit changes``."""
    parser.add_argument(
        "--close", metavar="DIR/YYYY-MM", help="the close pack written by `invoicekit close`"
    )
    parser.add_argument(
        "--config", metavar="FLEET.yml", help="read the month again from the fleet's accounts"
    )
    parser.add_argument(
        "--store",
        metavar="DIR",
        help="local store: without --config the comparison uses it alone; with --config the "
        "fresh retrieval is saved in it as a new version",
    )
    parser.add_argument(
        "--month", type=month, metavar="YYYY-MM", help="billing month (default: the pack's)"
    )
    parser.add_argument(
        "--since",
        metavar="TIMESTAMP",
        help="compare with the store as it was at this moment (ISO, e.g. 2026-11-12T09:00:00Z; "
        "default: the pack's close time)",
    )
    parser.add_argument(
        "--output", metavar="FILE.csv", help="write every change, one row per field, as CSV"
    )
    add_progress_argument(parser)


def changes_csv(df) -> str:
    """Every change, one row per field, as CSV text (the columns of ``CHANGE_COLUMNS``)."""
    from invoicekit.changes import CHANGE_COLUMNS

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CHANGE_COLUMNS)
    for rec in df.to_dict("records"):
        w.writerow(
            ["" if v is None or v != v else str(v) for v in (rec[c] for c in CHANGE_COLUMNS)]
        )
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    """Compare, print one sentence per change and a summary; return the exit code."""
    from invoicekit._files import write_text
    from invoicekit.changes import changes_since_close
    from invoicekit.cli.download import load_fleet_arg
    from invoicekit.errors import InvalidArgumentError

    if args.close is None:
        if args.config:
            raise InvalidArgumentError(
                "--config needs --close DIR/YYYY-MM: the close pack to compare the month with"
            )
        if not (args.store and args.month and args.since):
            raise InvalidArgumentError(
                "give --close DIR/YYYY-MM (with --config FLEET.yml or --store DIR), or "
                "--store DIR --month YYYY-MM --since TIMESTAMP"
            )
    elif not (args.config or args.store):
        raise InvalidArgumentError(
            "--close needs --config FLEET.yml (read the month again) or --store DIR (compare "
            "with the local store)"
        )
    fleet = load_fleet_arg(args.config)
    report = changes_since_close(
        args.close,
        fleet=fleet,
        store=args.store,
        month=args.month,
        since=args.since,
        progress=progress_enabled(args),
    )
    if args.output:
        write_text(args.output, changes_csv(report.changes))
    for line in report.summary():
        print(line)
    return report.exit_code
