"""``invoicekit verify``: re-hash a PDF archive against its manifest.

Reports missing files, corrupt files (size or sha256 different from the manifest, not a
complete PDF), unexpected files (not in the manifest, partial downloads) and unusable manifest
lines. With ``--summaries FILE`` (or ``--config`` with ``--from``/``--to``) it also reports
every invoice of the range that has no PDF in the archive (completeness).

``DIR`` may be ``s3://BUCKET/PREFIX`` (an archive written by ``download --dest s3://...``):
every object is read back and re-hashed, its stored SHA-256 checksum compared, and a lock the
manifest records must still be in force (``unlocked`` otherwise). The bucket is reached with
the fleet file's ``archive:`` section (``--config``) or the standard AWS chain.

Exit codes: 0 nothing wrong; 1 problems found (listed); 2 bad input (no such directory or
bucket, no manifest, a bad month or summaries file).

Examples
--------
::

    invoicekit verify invoices/
    invoicekit verify invoices/ --summaries invoices.parquet --from 2025-01 --to 2025-12
    invoicekit verify s3://audit-archive/invoices --config fleet.yml --from 2025-01 --to 2025-12
"""

from __future__ import annotations

import argparse
import sys

from invoicekit.cli import EXIT_FINDINGS, EXIT_OK, add_progress_argument, month, progress_enabled

HELP = "re-hash a PDF archive against its manifest"
#: Problems printed one per line before "... and N more".
MAX_PROBLEM_LINES = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit verify``."""
    parser.add_argument(
        "dir",
        metavar="DIR|s3://BUCKET/PREFIX",
        help="archive directory (or S3 bucket and prefix) written by download",
    )
    parser.add_argument(
        "--summaries",
        metavar="FILE",
        help="invoices that should be archived (from `invoicekit fetch`): completeness report",
    )
    parser.add_argument(
        "--config", metavar="FLEET.yml", help="list the invoices of --from/--to from the fleet"
    )
    parser.add_argument(
        "--from", dest="start", type=month, metavar="YYYY-MM", help="first billing month"
    )
    parser.add_argument(
        "--to", dest="end", type=month, metavar="YYYY-MM", help="last billing month (inclusive)"
    )
    add_progress_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Verify, print the problems and a summary; return the exit code."""
    from invoicekit.archive import protect_logs, verify_archive
    from invoicekit.archive.s3 import is_s3_url
    from invoicekit.cli.download import filter_periods, load_fleet_arg, summaries_from_args
    from invoicekit.errors import InvalidArgumentError

    protect_logs()
    summaries = None
    list_failures: list = []
    in_s3 = is_s3_url(args.dir)
    fleet = load_fleet_arg(args.config) if args.config and (in_s3 or not args.summaries) else None
    if args.summaries or args.config:
        if args.summaries or args.start or args.end or not in_s3:
            summaries, list_failures = summaries_from_args(
                args, None if args.summaries else fleet, progress=progress_enabled(args)
            )
    elif args.start or args.end:
        raise InvalidArgumentError(
            "--from/--to need the invoices to check against: add --summaries FILE or --config FLEET.yml"
        )
    if summaries is not None:
        summaries = filter_periods(summaries, args.start, args.end)
    report = verify_archive(args.dir, summaries=summaries, fleet=fleet if in_s3 else None)
    problems = report.problems
    for rec in problems.head(MAX_PROBLEM_LINES).to_dict("records"):
        p = {k: ("" if v is None or v != v else str(v)) for k, v in rec.items()}  # NA → ""
        what = p["path"] or f"invoice {p['invoice_id']}"
        who = ""
        if p["invoice_id"] and p["path"]:
            who = f" (account {p['account_id']} invoice {p['invoice_id']} document {p['document_id']})"
        elif p["problem"] == "no_document":
            who = f" (account {p['account_id']}, {p['billing_period']})"
        print(f"{p['problem']}: {what}{who}: {p['detail']}")
    if len(problems) > MAX_PROBLEM_LINES:
        print(f"... and {len(problems) - MAX_PROBLEM_LINES} more problems")
    for f in list_failures:
        print(f"listing failed: account {f['account_id']}: {f['message']}")
    print(f"invoicekit verify: {report.summary()}")
    sys.stdout.flush()
    return EXIT_OK if report.ok and not list_failures else EXIT_FINDINGS
