"""``invoicekit report``: the executive summary (HTML, optional PDF) from invoice summaries.

Thin: parses the flags, reads the files and calls :func:`invoicekit.report.executive_summary`.

Examples
--------
``invoicekit report --summaries invoices.parquet --findings findings.csv --archive archive
--month 2026-10 --output reports/executive_summary.html --pdf reports/executive_summary.pdf``
"""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from pathlib import Path

from invoicekit.cli import EXIT_OK, month, read_summaries
from invoicekit.errors import InvalidArgumentError

HELP = "write the executive summary (HTML, optional PDF) from invoice summaries"
_MONEY_COLUMNS = ("expected", "actual", "difference")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit report``."""
    from invoicekit import charts

    parser.add_argument(
        "--summaries", required=True, metavar="FILE", help="invoice summaries (invoicekit fetch)"
    )
    parser.add_argument(
        "--findings",
        metavar="FILE",
        help="findings CSV (invoicekit reconcile --output); default: reconcile here",
    )
    parser.add_argument(
        "--archive", metavar="DIR", help="PDF archive to report on (invoicekit download)"
    )
    parser.add_argument(
        "--month",
        type=month,
        metavar="YYYY-MM",
        help="report month (default: the last closed month, or the data's latest if earlier)",
    )
    parser.add_argument(
        "--view",
        choices=("payment", "base"),
        default="payment",
        help="currency of every figure: payment (what AP pays, default) or base (what AWS prices in)",
    )
    parser.add_argument("--output", required=True, metavar="FILE.html", help="HTML file to write")
    parser.add_argument("--pdf", metavar="FILE.pdf", help="also print it to PDF (Chromium)")
    parser.add_argument(
        "--top",
        type=int,
        default=8,
        metavar="N",
        help=f"accounts drawn each as a series (1-{charts.LEGEND_MAX - 1}; the rest is 'Other')",
    )
    parser.add_argument("--title", help="page heading (default: 'AWS spend — <month>')")


def read_findings(path: str):
    """A findings CSV (``write_findings_csv``) back as a frame with exact decimal amounts."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InvalidArgumentError(
            f"--findings {path}: no such file (write it with `invoicekit reconcile --output FILE`)"
        )
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"--findings {path}: not a findings CSV ({exc})") from exc
    missing = {"check", "severity", "account_id", "message"} - set(frame.columns)
    if missing:
        raise InvalidArgumentError(
            f"--findings {path}: not a findings CSV (no {', '.join(sorted(missing))} column); "
            "write it with `invoicekit reconcile --output FILE`"
        )
    for col in _MONEY_COLUMNS:
        if col in frame.columns:
            try:
                frame[col] = [Decimal(v) if v else None for v in frame[col]]
            except InvalidOperation as exc:
                raise InvalidArgumentError(
                    f"--findings {path}: column {col} holds a value that is not an amount"
                ) from exc
    for col in frame.columns:
        if col not in _MONEY_COLUMNS:
            frame[col] = frame[col].map(lambda v: v or None)
    return frame


def run(args: argparse.Namespace) -> int:
    """Write the page (and the PDF); print where."""
    from invoicekit import report

    df = read_summaries(args.summaries)
    findings = read_findings(args.findings) if args.findings else None
    if args.archive and not Path(args.archive).is_dir():
        raise InvalidArgumentError(
            f"--archive {args.archive}: no such directory (write it with `invoicekit download`)"
        )
    if not str(args.output).lower().endswith((".html", ".htm")):
        raise InvalidArgumentError(f"--output {args.output}: give an .html file name")
    if args.top < 1 or args.top > 11:
        raise InvalidArgumentError(f"--top {args.top}: give 1 to 11 (the rest is 'Other')")
    path = report.executive_summary(
        df,
        path=args.output,
        findings=findings,
        archive=args.archive,
        month=args.month,
        view=args.view,
        pdf=args.pdf,
        title=args.title,
        source=str(args.summaries),
        top=args.top,
    )
    size_kb = path.stat().st_size / 1024
    print(f"invoicekit report: executive summary → {path} ({size_kb:,.0f} KiB)")
    if args.pdf:
        print(f"invoicekit report: printed → {args.pdf}")
    return EXIT_OK
