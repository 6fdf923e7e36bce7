"""``invoicekit download``: batch-download invoice PDFs into an audit-ready archive.

The invoices come from the fleet (``--config`` with ``--from``/``--to``, listed with
ListInvoiceSummaries) or from a file written by ``invoicekit fetch`` (``--summaries``; then
``--config`` gives each account its credentials, and ``--from``/``--to`` narrow the file).

``--dest s3://BUCKET/PREFIX`` archives into S3 instead (:mod:`invoicekit.archive.s3`): every
object put with a SHA-256 checksum S3 verifies, optionally locked (``--object-lock-mode`` with
``--retain-until``/``--retain-days``, ``--legal-hold``) and SSE-KMS encrypted; the manifest is
the object ``PREFIX/manifest.csv`` (``--manifest-copy FILE`` writes it locally too).

Exit codes: 0 every document downloaded or already archived; 3 some documents (or accounts)
failed — the others are archived and listed in ``DEST/manifest.csv``; 2 bad input (arguments,
fleet file, summaries file, template, a bucket without Object Lock or versioning when a lock is
asked, or no account with usable credentials: refused before any request).

Examples
--------
::

    invoicekit download --config fleet.yml --from 2025-01 --to 2025-12 --dest invoices/
    invoicekit download --config fleet.yml --summaries invoices.parquet --dest invoices/
    invoicekit download --config fleet.yml --from 2025-01 --to 2025-12 \\
        --dest s3://audit-archive/invoices --object-lock-mode COMPLIANCE --retain-days 3650
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from invoicekit.cli import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_PARTIAL,
    add_client_argument,
    add_progress_argument,
    month,
    positive_int,
    progress_enabled,
    read_summaries,
)

HELP = "batch-download invoice PDFs into an audit-ready archive"
#: Failures printed one per line before "... and N more".
MAX_FAILURE_LINES = 25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit download``."""
    from invoicekit.archive import DEFAULT_MAX_WORKERS, DEFAULT_TEMPLATE

    parser.add_argument(
        "--config", metavar="FLEET.yml", help="fleet file listing the payer accounts"
    )
    parser.add_argument(
        "--summaries",
        metavar="FILE",
        help="invoices from `invoicekit fetch` (FILE.parquet or FILE.csv) instead of listing them",
    )
    parser.add_argument(
        "--from", dest="start", type=month, metavar="YYYY-MM", help="first billing month"
    )
    parser.add_argument(
        "--to", dest="end", type=month, metavar="YYYY-MM", help="last billing month (inclusive)"
    )
    parser.add_argument(
        "--dest",
        required=True,
        metavar="DIR|s3://BUCKET/PREFIX",
        help="archive directory, or an S3 bucket and prefix",
    )
    parser.add_argument(
        "--template",
        default=DEFAULT_TEMPLATE,
        help=f"file naming template relative to DIR (default: {DEFAULT_TEMPLATE})",
    )
    parser.add_argument(
        "--no-supplemental",
        action="store_true",
        help="only the invoice PDFs, not the supplemental documents",
    )
    parser.add_argument(
        "--max-workers",
        type=positive_int,
        default=DEFAULT_MAX_WORKERS,
        metavar="N",
        help=f"invoices processed at once (default {DEFAULT_MAX_WORKERS})",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="ask GetInvoicePDF again for complete invoices too, to pick up documents added "
        "since (archived documents are not downloaded again)",
    )
    add_s3_arguments(parser)
    parser.add_argument(
        "--manifest-copy",
        metavar="FILE",
        help="S3 archive: also write the manifest to this local file",
    )
    add_client_argument(parser)
    add_progress_argument(parser)


def add_s3_arguments(parser: argparse.ArgumentParser) -> None:
    """The Object Lock and encryption options of an S3 destination (download, close)."""
    from invoicekit.archive.s3 import LOCK_MODES

    parser.add_argument(
        "--object-lock-mode",
        type=str.upper,
        choices=LOCK_MODES,
        metavar="MODE",
        help="S3: lock every object put, COMPLIANCE or GOVERNANCE (needs --retain-until or "
        "--retain-days; the bucket must have Object Lock and versioning)",
    )
    parser.add_argument(
        "--retain-until", metavar="DATE", help="S3: retention end (ISO date, 00:00 UTC)"
    )
    parser.add_argument(
        "--retain-days",
        type=positive_int,
        metavar="N",
        help="S3: retention of N days from now (business now: --now)",
    )
    parser.add_argument(
        "--legal-hold", action="store_true", help="S3: put a legal hold on every object"
    )
    parser.add_argument(
        "--sse-kms-key-id", metavar="KEY", help="S3: encrypt every object with this KMS key"
    )


def retention_from_args(args: argparse.Namespace, dest: str, flag: str = "--dest") -> Any:
    """The :class:`~invoicekit.archive.s3.Retention` asked (``None``: none); S3 options with a
    local destination are refused, naming the flag."""
    from invoicekit.archive.s3 import is_s3_url, retention
    from invoicekit.errors import InvalidArgumentError

    given = [
        name
        for name, value in (
            ("--object-lock-mode", args.object_lock_mode),
            ("--retain-until", args.retain_until),
            ("--retain-days", args.retain_days),
            ("--legal-hold", args.legal_hold or None),
            ("--sse-kms-key-id", args.sse_kms_key_id),
            ("--manifest-copy", getattr(args, "manifest_copy", None)),
        )
        if value is not None
    ]
    if given and not is_s3_url(dest):
        raise InvalidArgumentError(
            f"{given[0]} applies to an S3 destination only: give {flag} s3://BUCKET/PREFIX"
        )
    return retention(
        args.object_lock_mode,
        retain_until=args.retain_until,
        retain_days=args.retain_days,
        legal_hold=args.legal_hold,
    )


def filter_periods(df: Any, start: str | None, end: str | None) -> Any:
    """Keep the rows whose billing period lies in ``start``..``end`` (inclusive, YYYY-MM)."""
    from invoicekit import months

    lo = months.format_month(*months.parse_month(start, "--from")) if start else None
    hi = months.format_month(*months.parse_month(end, "--to")) if end else None
    if lo and hi and lo > hi:
        from invoicekit.errors import InvalidArgumentError

        raise InvalidArgumentError(f"--from {lo} is after --to {hi}: give the earlier month first")
    if (lo is None and hi is None) or "billing_period" not in df.columns:
        return df
    periods = (
        df["billing_period"]
        .astype(object)
        .map(lambda v: "" if v is None or type(v).__name__ == "NAType" else months.month_str(v))
    )
    keep = periods.map(lambda p: (lo is None or p >= lo) and (hi is None or p <= hi))
    return df[keep.astype(bool).to_numpy()]


def load_fleet_arg(config: str | None) -> Any:
    """The fleet of ``--config`` (``None`` when not given)."""
    from invoicekit.errors import ConfigError

    if config is None:
        return None
    p = Path(config)
    if not p.is_file():
        raise ConfigError(
            f"fleet file {p} not found: pass --config with the path of a fleet YAML file"
        )
    from invoicekit.fleet import load_fleet

    return load_fleet(p)


def summaries_from_args(
    args: argparse.Namespace, fleet: Any, *, progress: bool
) -> tuple[Any, list]:
    """The invoices a command works on, and the loader's account failures (if it listed them).

    Failures are dicts (:meth:`invoicekit.outcomes.Failure.as_dict`).
    """
    from invoicekit import months, outcomes
    from invoicekit.errors import InvalidArgumentError

    if args.summaries:
        return filter_periods(read_summaries(args.summaries), args.start, args.end), []
    if fleet is None:
        raise InvalidArgumentError("pass --config FLEET.yml with --from/--to, or --summaries FILE")
    if not args.start or not args.end:
        raise InvalidArgumentError("pass --from YYYY-MM and --to YYYY-MM with --config")
    from invoicekit.loader import read_invoice_summaries

    months.split_windows(args.start, args.end)  # bad months: one clear line before any request
    df = read_invoice_summaries(fleet, args.start, args.end, progress=progress)
    report = outcomes.run_report(df)
    if report is not None:
        return df, [f.as_dict() for f in report.failures]
    return df, list(df.attrs.get("failures", []))


def run(args: argparse.Namespace) -> int:
    """Download, print a summary and the failures; return the exit code."""
    from invoicekit import documents, outcomes
    from invoicekit.archive import (
        DOWNLOADED,
        FAILED,
        SKIPPED,
        download_invoice_pdfs,
        protect_logs,
        validate_template,
    )
    from invoicekit.archive.s3 import is_s3_url
    from invoicekit.errors import CONFIG_CODES, RETRYABLE_CODES

    protect_logs()
    validate_template(args.template)  # bad input before any request
    lock = retention_from_args(args, args.dest)
    fleet = load_fleet_arg(args.config)
    dest: Any = args.dest
    if is_s3_url(args.dest):  # the bucket is checked before any invoicing request
        from invoicekit.archive.s3 import S3Store

        dest = S3Store.for_download(
            args.dest, fleet=fleet, retention=lock, sse_kms_key_id=args.sse_kms_key_id,
            manifest_copy=args.manifest_copy, max_workers=args.max_workers,
            lean=args.client == "lean",
        )  # fmt: skip
    progress = progress_enabled(args)
    df, list_failures = summaries_from_args(args, fleet, progress=progress)
    if (
        list_failures
        and len(df) == 0
        and all(f.get("config") or f.get("code") in CONFIG_CODES for f in list_failures)
    ):
        print(f"invoicekit: error: {list_failures[0]['message']}", file=sys.stderr)
        return EXIT_BAD_INPUT

    result = download_invoice_pdfs(
        df,
        dest,
        fleet=fleet,
        template=args.template,
        supplemental=not args.no_supplemental,
        max_workers=args.max_workers,
        progress=progress,
        refresh=args.refresh,
        client=args.client,  # (an S3 store carries its lock, KMS key and manifest copy)
    )
    report = outcomes.run_report(result)
    counts = report.counts if report is not None else {}
    dest = result.attrs.get("dest", args.dest)
    listed = documents.describe(documents.count(df)) if len(df) else "no invoice"
    kinds = {k: n for k, n in counts.items() if k not in (DOWNLOADED, SKIPPED, FAILED)}
    print(
        f"invoicekit download: {listed} listed, archive {dest}\n"
        f"  {documents.describe_documents(kinds)}\n"
        f"  downloaded: {counts.get(DOWNLOADED, 0)}, already archived: "
        f"{counts.get(SKIPPED, 0)}, failed: {counts.get(FAILED, 0)}\n"
        f"  API calls: {report.api_calls if report is not None else 0}"
    )
    for f in list_failures:
        print(f"  failed listing: account {f['account_id']} {f.get('code', '')}: {f['message']}")
    failed = result[result["status"] == FAILED]
    for _, r in failed.head(MAX_FAILURE_LINES).iterrows():
        print(
            f"  failed: account {r['account_id']} invoice {r['invoice_id']} "
            f"document {r['document_id']}: {r['error']}"
        )
    if len(failed) > MAX_FAILURE_LINES:
        print(f"  ... and {len(failed) - MAX_FAILURE_LINES} more failed documents")
    sys.stdout.flush()
    if len(failed) or list_failures:
        failures = [*(report.failures if report is not None else []), *list_failures]
        codes = [f.code if isinstance(f, outcomes.Failure) else f.get("code") for f in failures]
        later = " later" if codes and all(c in RETRYABLE_CODES for c in codes) else ""
        print(
            f"invoicekit: error: {len(failed)} documents and {len(list_failures)} accounts failed "
            f"(listed above); the others are archived in {dest}; run the same command again"
            f"{later} to retry only what is missing",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    return EXIT_OK
