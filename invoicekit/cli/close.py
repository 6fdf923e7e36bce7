"""``invoicekit close``: one command, one close pack a controller can sign.

Runs the month-end of one billing month (fetch the month and the 12 before it, reconcile,
download and verify the month's documents, export AP, write the executive summary) and leaves
``DIR/YYYY-MM/`` with ``run.json`` and ``SHA256SUMS`` (``sha256sum -c`` checks it from inside
the pack). One sentence per step. Resumable (a killed run continues from the last completed
step), idempotent (a second run on a complete pack changes nothing and says so). The reference
is ``docs/close.md``.

Exit codes: 0 closed (or already closed); 1 blocked: the AP export refused open error findings
(the pack is written and says so); 3 partial: some accounts or documents failed (the pack
records what is missing; run the same command again to retry); 2 bad input (arguments, fleet
file, a pack whose files no longer verify, another close running in DIR, an ``--upload``
bucket that is unusable or lacks Object Lock/versioning when a lock is asked — checked before
the close starts).

``--upload s3://BUCKET/PREFIX`` copies the finished pack to ``PREFIX/YYYY-MM/`` in S3 (every
object with a SHA-256 checksum S3 verifies, optionally locked with ``--object-lock-mode``,
``--retain-until``/``--retain-days``, ``--legal-hold``) and verifies the copy there.

Examples
--------
::

    invoicekit close --config fleet.yml --month 2026-10 --dest closes/
    invoicekit close --config fleet.yml --month 2026-10 --dest closes/ --reopen \\
        --format generic oracle-ap --accept-findings closes/2026-10/findings.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from invoicekit.cli import add_progress_argument, bounded_int, month, progress_enabled

HELP = "close a billing month: fetch, reconcile, archive, AP export and a signed close pack"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit close``."""
    from invoicekit.ap import AP_FORMATS

    parser.add_argument(
        "--config", required=True, metavar="FLEET.yml", help="fleet file listing the payer accounts"
    )
    parser.add_argument(
        "--month",
        type=month,
        default=None,
        metavar="YYYY-MM",
        help="the billing month to close (default: the last closed month, per --now)",
    )
    parser.add_argument(
        "--dest",
        required=True,
        metavar="DIR",
        help="directory of close packs: the pack is DIR/YYYY-MM, the AP ledger DIR/ap-ledger.csv",
    )
    parser.add_argument(
        "--format",
        dest="formats",
        nargs="+",
        action="extend",
        choices=AP_FORMATS,
        default=None,
        metavar="FORMAT",
        help=f"AP format(s), one or more: {', '.join(AP_FORMATS)} (default generic)",
    )
    parser.add_argument(
        "--reopen",
        action="store_true",
        help="close a closed month again; the earlier pack is kept as DIR/YYYY-MM.v1, .v2...",
    )
    parser.add_argument(
        "--pdf", action="store_true", help="also write executive_summary.pdf into the pack"
    )
    parser.add_argument(
        "--accept-findings",
        dest="accept",
        metavar="FILE",
        help="findings CSV with accepted_by filled in: those findings do not block the AP export",
    )
    parser.add_argument(
        "--store",
        metavar="DIR",
        help="local store (default DIR/store): a rerun queries only months not yet settled",
    )
    parser.add_argument(
        "--lookback",
        type=bounded_int(0, 120, 12),
        default=12,
        metavar="N",
        help="months fetched before --month for the summary's comparisons (default 12)",
    )
    parser.add_argument(
        "--upload",
        metavar="s3://BUCKET/PREFIX",
        help="also store the finished pack in S3 as PREFIX/YYYY-MM/ (checksummed, and locked "
        "with --object-lock-mode), then verify it there",
    )
    from invoicekit.cli.download import add_s3_arguments

    add_s3_arguments(parser)
    add_progress_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Close the month, print one sentence per step; return the exit code."""
    from invoicekit import months
    from invoicekit.close import close_month
    from invoicekit.errors import ConfigError
    from invoicekit.fleet import load_fleet

    config = Path(args.config)
    if not config.is_file():
        raise ConfigError(
            f"fleet file {config} not found: pass --config with the path of a fleet YAML file"
        )
    fleet = load_fleet(config)
    chosen = args.month or months.last_closed_month()
    lock = s3_client = None
    if args.upload or args.object_lock_mode or args.legal_hold or args.sse_kms_key_id:
        from invoicekit.archive.s3 import S3Location, archive_client, check_bucket
        from invoicekit.cli.download import retention_from_args

        lock = retention_from_args(args, args.upload or "", flag="--upload")
        s3_client = archive_client(fleet)
        check_bucket(s3_client, S3Location.parse(args.upload, "--upload"), lock, "--upload")

    def echo(line: str) -> None:
        print(line, flush=True)

    result = close_month(
        fleet,
        chosen,
        args.dest,
        formats=tuple(args.formats or ("generic",)),
        reopen=args.reopen,
        pdf=args.pdf,
        accept=args.accept,
        store=args.store,
        progress=progress_enabled(args),
        lookback=args.lookback,
        echo=echo,
    )
    if args.upload and result.pack is not None:
        from invoicekit.close import upload_pack

        check = upload_pack(
            result.pack, args.upload, retention=lock, sse_kms_key_id=args.sse_kms_key_id,
            s3_client=s3_client,
        )  # fmt: skip
        echo(f"Uploaded the pack to {check.path}: {check.summary()}.")
        if not check.ok:
            sys.stdout.flush()
            return 1
    sys.stdout.flush()
    return result.exit_code
