"""``invoicekit reconcile``: check a summaries file the way a month-end close needs it.

Prints the number of findings per check and severity, then every error finding. Exit codes:
0 no error-severity finding; 1 at least one error finding (the run worked and found problems);
2 bad input (a missing or unreadable file, a month that does not parse, end before start).

Examples
--------
::

    invoicekit reconcile --summaries invoices.parquet --from 2026-01 --to 2026-10 \\
        --output findings.csv
"""

from __future__ import annotations

import argparse
import csv
import os
from decimal import Decimal

import pandas as pd

from invoicekit.cli import EXIT_FINDINGS, EXIT_OK, month, read_summaries
from invoicekit.errors import InvalidArgumentError

HELP = "check invoice totals, exchange rates and completeness"
#: How many error findings the summary lists before it says "... and N more".
MAX_LISTED_ERRORS = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit reconcile``."""
    parser.add_argument(
        "--summaries",
        required=True,
        metavar="FILE",
        help="invoice summaries written by `invoicekit fetch` (.parquet or .csv)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=month,
        metavar="YYYY-MM",
        help="first billing month (default: the data's)",
    )
    parser.add_argument(
        "--to",
        dest="end",
        type=month,
        metavar="YYYY-MM",
        help="last billing month (default: the data's)",
    )
    parser.add_argument("--output", metavar="FILE.csv", help="write every finding to this CSV")


def _text(value: object) -> str:
    if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, Decimal):
        text = f"{value.normalize():f}"
        return "0" if text in ("-0", "0") else text
    return str(value)


def write_findings_csv(findings: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write findings as UTF-8 CSV (no BOM): plain decimal strings, ``YYYY-MM`` periods."""
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(list(findings.columns))
            for row in findings.astype(object).itertuples(index=False, name=None):
                writer.writerow([_text(v) for v in row])
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc


def _summary(df: pd.DataFrame, findings: pd.DataFrame) -> str:
    from invoicekit.reconcile import CHECKS, SEVERITIES

    lines = []
    periods = df["billing_period"].dropna()
    span = f", billing periods {periods.min()}..{periods.max()}" if len(periods) else ""
    lines.append(
        f"reconciled {len(df)} invoice(s) of {df['account_id'].nunique()} account(s){span}: "
        f"{len(findings)} finding(s)"
    )
    counts = findings.groupby(["check", "severity"]).size() if len(findings) else pd.Series()
    width = max(len(c) for c in CHECKS)
    lines.append(f"  {'check':<{width}}  " + "  ".join(f"{s:>7}" for s in SEVERITIES))
    for name in CHECKS:
        row = [int(counts.get((name, s), 0)) for s in SEVERITIES]
        lines.append(f"  {name:<{width}}  " + "  ".join(f"{n:>7}" for n in row))
    errors = findings[findings["severity"] == "error"]
    if len(errors):
        lines.append(f"{len(errors)} error finding(s):")
        for r in errors.head(MAX_LISTED_ERRORS).itertuples(index=False):
            where = " ".join(
                _text(x) for x in (r.account_id, r.invoice_id, r.billing_period, r.view) if _text(x)
            )
            lines.append(f"  {r.check}: {where}: {r.message}")
        if len(errors) > MAX_LISTED_ERRORS:
            lines.append(f"  ... and {len(errors) - MAX_LISTED_ERRORS} more (see --output)")
    else:
        lines.append("no error findings")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``invoicekit reconcile``; returns the exit code."""
    from invoicekit.reconcile import reconcile

    df = read_summaries(args.summaries)
    findings = reconcile(df, start=args.start, end=args.end)
    if args.output:
        write_findings_csv(findings, args.output)
    print(_summary(df, findings))
    if args.output:
        print(f"findings written to {args.output}")
    return EXIT_FINDINGS if (findings["severity"] == "error").any() else EXIT_OK
