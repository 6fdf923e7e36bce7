"""``invoicekit reconcile``: check a summaries file the way a month-end close needs it.

Prints the range it checked (``checked 2026-01..2026-10 (10 billing months, 12 accounts)``),
the months of that range the file holds no row of (``not in the summaries file``: fetch them,
they are not reported as missing invoices one by one), the number of findings per check and
severity, then every error finding. Exit codes: 0 no error-severity finding; 1 at least one
error finding (the run worked and found problems; a month of the range that is not in the file
is one: its completeness cannot be confirmed); 2 bad input (a missing or unreadable file, a
month that does not parse, ``--to`` before ``--from``).

The findings CSV (``--output``) has a stable ``finding_id`` per finding and an empty
``accepted_by`` column a controller fills in to accept a finding for the AP export
(``invoicekit export-ap --accept-findings FILE``, docs/ap.md).

Examples
--------
::

    invoicekit reconcile --summaries invoices.parquet --from 2026-01 --to 2026-10 \\
        --output findings.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import os
from decimal import Decimal
from typing import TYPE_CHECKING

from invoicekit import documents, months
from invoicekit.cli import EXIT_FINDINGS, EXIT_OK, read_summaries
from invoicekit.errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover -- pandas is imported when the command runs, not for --help
    import pandas as pd

    from invoicekit.reconcile import Coverage

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
        metavar="YYYY-MM",
        help="first billing month (default: the file's first)",
    )
    parser.add_argument(
        "--to",
        dest="end",
        metavar="YYYY-MM",
        help="last billing month (default: the file's last)",
    )
    parser.add_argument(
        "--units",
        metavar="FILE",
        help="invoice units (`invoicekit units --from M --to M --output FILE`): completeness "
        "then expects an invoice per unit and month",
    )
    parser.add_argument("--output", metavar="FILE.csv", help="write every finding to this CSV")


def _text(value: object) -> str:
    import pandas as pd

    if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, Decimal):
        text = f"{value.normalize():f}"
        return "0" if text in ("-0", "0") else text
    return str(value)


#: The column of the findings CSV a controller fills in to accept a finding (their name).
ACCEPTED_BY = "accepted_by"


def write_findings_csv(findings: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write findings as UTF-8 CSV (no BOM): plain decimal strings, ``YYYY-MM`` periods.

    Exact values (every digit of ``expected``/``actual``/``difference``), written atomically.
    Every row has its stable ``finding_id`` (computed when the frame lacks it) and an
    ``accepted_by`` column, empty unless the frame already carries one: a controller writes
    their name there to accept the finding, and ``invoicekit export-ap --accept-findings FILE``
    reads it back (:func:`invoicekit.ap.read_acceptance`).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from invoicekit.reconcile import reconcile_invoices
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame(build_organization(accounts=2, months=2, today="2026-11-05").invoices)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "findings.csv"
    >>> write_findings_csv(reconcile_invoices(df), path)
    >>> path.read_text().splitlines()[0].endswith("message,finding_id,accepted_by")
    True
    """
    from invoicekit._files import write_bytes
    from invoicekit.reconcile.checks import finding_ids

    findings = findings.copy()
    if "finding_id" not in findings.columns:
        findings["finding_id"] = finding_ids(findings)
    if ACCEPTED_BY not in findings.columns:
        findings[ACCEPTED_BY] = ""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(list(findings.columns))
    for row in findings.astype(object).itertuples(index=False, name=None):
        writer.writerow([_text(v) for v in row])
    try:
        write_bytes(path, text.getvalue().encode("utf-8"), mkdir=False)
    except OSError as exc:
        raise InvalidArgumentError(
            f"--output {path}: cannot write it ({exc.strerror or exc}); check the directory exists"
        ) from exc


def _months(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """``--from``/``--to`` as ``"YYYY-MM"`` (errors name the flag and the fix)."""
    start = end = None
    if args.start is not None:
        start = months.format_month(*months.parse_month(args.start, "--from"))
    if args.end is not None:
        end = months.format_month(*months.parse_month(args.end, "--to"))
    if start is not None and end is not None:
        months.month_range(start, end, names=("--from", "--to"))  # --to before --from
    return start, end


def _month_list(labels: list[str] | tuple[str, ...]) -> str:
    """``2026-11..2026-12`` for a run of consecutive months, else ``2026-03, 2026-07``."""
    if len(labels) > 1 and list(labels) == months.month_range(labels[0], labels[-1]):
        return f"{labels[0]}..{labels[-1]}"
    return ", ".join(labels)


def _summary(findings: pd.DataFrame, cov: Coverage) -> str:
    import pandas as pd

    from invoicekit.reconcile import CHECKS, SEVERITIES

    lines = [f"checked {cov.describe()}"]
    outside = set(cov.absent)
    if cov.absent:
        held = (
            f"it holds {cov.data_start}..{cov.data_end}"
            if cov.data_start
            else "it holds no billing month"
        )
        one = len(cov.absent) == 1
        lines.append(
            f"{_month_list(cov.absent)}: not in the summaries file ({held}), so "
            f"{'its' if one else 'their'} invoices are not checked: fetch "
            f"{'it' if one else 'them'} with `invoicekit fetch --from {cov.absent[0]} "
            f"--to {cov.absent[-1]}`"
        )
    checked = documents.describe({k: n for k, n in cov.counts.items() if n})
    lines.append(f"reconciled {checked}: {len(findings)} finding(s)")
    counts = findings.groupby(["check", "severity"]).size() if len(findings) else pd.Series()
    width = max(len(c) for c in CHECKS)
    lines.append(f"  {'check':<{width}}  " + "  ".join(f"{s:>7}" for s in SEVERITIES))
    for name in CHECKS:
        row = [int(counts.get((name, s), 0)) for s in SEVERITIES]
        lines.append(f"  {name:<{width}}  " + "  ".join(f"{n:>7}" for n in row))
    errors = findings[findings["severity"] == "error"]
    # Completeness of a month the file does not hold is said once above, not per account.
    not_in_file = (errors["check"] == "completeness") & errors["billing_period"].astype(str).isin(
        outside
    )
    listed = errors[~not_in_file.to_numpy()]
    if len(errors):
        lines.append(f"{len(errors)} error finding(s):")
        if not_in_file.any():
            lines.append(
                f"  completeness: {int(not_in_file.sum())} account-month(s) of "
                f"{_month_list(cov.absent)} not in the summaries file (see above)"
            )
        for r in listed.head(MAX_LISTED_ERRORS).itertuples(index=False):
            where = " ".join(
                _text(x) for x in (r.account_id, r.invoice_id, r.billing_period, r.view) if _text(x)
            )
            lines.append(f"  {r.check}: {where}: {r.message}")
        if len(listed) > MAX_LISTED_ERRORS:
            lines.append(f"  ... and {len(listed) - MAX_LISTED_ERRORS} more (see --output)")
    else:
        lines.append("no error findings")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``invoicekit reconcile``; returns the exit code."""
    from invoicekit.reconcile import coverage, reconcile_invoices

    start, end = _months(args)
    df = read_summaries(args.summaries)
    units = None
    if args.units:
        from invoicekit.units import load_units

        units = load_units(args.units, name="--units")
    findings = reconcile_invoices(df, start=start, end=end, units=units)
    if args.output:
        write_findings_csv(findings, args.output)
    print(_summary(findings, coverage(df, start, end)))
    if args.output:
        print(f"findings written to {args.output}")
    return EXIT_FINDINGS if (findings["severity"] == "error").any() else EXIT_OK
