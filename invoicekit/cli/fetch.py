"""``invoicekit fetch``: load a fleet's invoice summaries into a parquet or CSV file.

Prints how many rows it loaded in :mod:`invoicekit.documents` words ("loaded 168 rows: 156
invoices, 12 credit memos"). A fetch that finds no invoice at all writes an empty file with
every column and says so in one warning line on stderr (exit 0).

Exit codes: 0 every account succeeded; 3 some accounts failed (the others' invoices are
written); 2 bad input (a month that does not parse, end before start, a range before 2005, an
unknown output extension, a missing or invalid fleet file, an unknown profile, no credentials).

Examples
--------
::

    invoicekit fetch --config fleet.yml --from 2025-01 --to 2025-12 \\
        --output invoices.parquet --store invoice-store
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from invoicekit._client import DEFAULT_CLIENT
from invoicekit.cli import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_PARTIAL,
    add_client_argument,
    add_progress_argument,
    month,
    positive_int,
    progress_enabled,
    writable_output,
)
from invoicekit.loader import (
    DEFAULT_RATE_PER_ACCOUNT,
    MIN_RATE_PER_ACCOUNT,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

HELP = "load invoice summaries of a fleet into a parquet/CSV file and local store"
OUTPUT_FORMATS = {".parquet": "parquet", ".csv": "csv"}


#: The largest ``--settle-days`` (the loader's bound).
MAX_SETTLE_DAYS = 100_000
#: The largest ``--rate-per-account`` (the loader's bound), requests per second.
MAX_RATE_PER_ACCOUNT = 10_000.0


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SETTLE_DAYS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of days from 0 to {MAX_SETTLE_DAYS:,}, e.g. 45"
        )
    return value


def _rate(text: str) -> float:
    """``--rate-per-account``: 0 (no pacing) or MIN..MAX requests per second."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != 0 and not MIN_RATE_PER_ACCOUNT <= value <= MAX_RATE_PER_ACCOUNT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a rate: give requests per second from {MIN_RATE_PER_ACCOUNT:g} to "
            f"{MAX_RATE_PER_ACCOUNT:,.0f} (0 turns pacing off), e.g. 2"
        )
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit fetch``."""
    parser.add_argument(
        "--config", required=True, metavar="FLEET.yml", help="fleet file listing the payer accounts"
    )
    parser.add_argument(
        "--from", dest="start", type=month, required=True, metavar="YYYY-MM", help="first month"
    )
    parser.add_argument(
        "--to",
        dest="end",
        type=month,
        required=True,
        metavar="YYYY-MM",
        help="last month (inclusive)",
    )
    parser.add_argument(
        "--output", required=True, metavar="FILE", help="FILE.parquet or FILE.csv to write"
    )
    parser.add_argument(
        "--store",
        metavar="DIR",
        help="local store: raw responses as audit evidence; settled months are not re-queried",
    )
    parser.add_argument(
        "--refresh", action="store_true", help="query every month even when the store has it"
    )
    parser.add_argument(
        "--settle-days",
        type=_days,
        default=None,
        metavar="N",
        help="days after a month ends before its stored copy is final (default 45)",
    )
    parser.add_argument(
        "--max-workers", type=positive_int, default=None, metavar="N", help="concurrent requests"
    )
    parser.add_argument(
        "--rate-per-account",
        type=_rate,
        default=DEFAULT_RATE_PER_ACCOUNT,
        metavar="R",
        help="the most requests per second sent to one payer account (default "
        f"{DEFAULT_RATE_PER_ACCOUNT:g}); each account's own limit is discovered below it and "
        "remembered in the store; 0 turns pacing off",
    )
    add_client_argument(parser)
    add_progress_argument(parser)
    parser.add_argument(
        "--by",
        choices=("billing_period", "issued"),
        default="billing_period",
        help="window by billing month (default) or by issued date",
    )


def _output_format(path: str) -> str:
    from invoicekit.errors import InvalidArgumentError

    fmt = OUTPUT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidArgumentError(
            f"--output {path}: unknown extension {Path(path).suffix or '(none)'!r}: "
            "use FILE.parquet or FILE.csv"
        )
    return fmt


def _check_order(start: str, end: str) -> None:
    from invoicekit.errors import InvalidArgumentError

    if end < start:  # both "YYYY-MM"
        raise InvalidArgumentError(
            f"--to {end} is before --from {start}: give --to the same month as --from or later"
        )


def _throttled(df: pd.DataFrame) -> int:
    """Throttling answers the run absorbed (retried and slowed down for; none failed)."""
    from invoicekit.outcomes import run_report

    report = run_report(df)
    return int((report.extra if report is not None else {}).get("throttled", 0) or 0)


def _outcome(df: pd.DataFrame) -> tuple[list[dict], int, int, int]:
    """(failures as dicts, API calls, windows queried, windows from the store) of a load."""
    from invoicekit.outcomes import run_report

    report = run_report(df)
    extra = report.extra if report is not None else {}

    def stat(key: str) -> int:
        return int(extra.get(key, df.attrs.get(key, 0)) or 0)

    if report is not None:
        failures = [f.as_dict() for f in report.failures]
        calls = report.api_calls
    else:
        failures = list(df.attrs.get("failures", []))
        calls = int(df.attrs.get("api_calls", 0))
    return failures, calls, stat("windows_fetched"), stat("windows_from_store")


def loaded_line(df: pd.DataFrame) -> str:
    """``"loaded 168 rows: 156 invoices, 12 credit memos"`` (the documents vocabulary)."""
    from invoicekit import documents

    n = len(df)
    rows = f"{n:,} row{'' if n == 1 else 's'}"
    return f"loaded {rows}: {documents.describe(documents.count(df))}" if n else f"loaded {rows}"


def _import_in_background(module: str) -> None:
    """Start importing ``module`` in a daemon thread (a later import waits for it, or fails
    the same way in the main thread)."""
    import importlib
    import threading

    def load() -> None:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - the main thread's import reports it
            pass

    threading.Thread(target=load, name="invoicekit-import", daemon=True).start()


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the fetch with Python's cyclic garbage collector called less often.

    A fetch allocates a few dicts per invoice and per request (answers, headers, records) and
    keeps most of them until the frame is built; with the default thresholds (a young
    collection every 700 allocations, a full one every 70,000 or so) the collector walks the
    growing heap again and again: ~15 % of the process CPU at 1,000 accounts. Reference
    counting still frees everything that is not a cycle; cycles are collected, less often.
    The thresholds are restored afterwards.
    """
    import gc

    old = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def run(args: argparse.Namespace) -> int:
    """Fetch, write, print the summary; return the exit code."""
    with _fewer_collections():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from invoicekit.errors import ConfigError
    from invoicekit.loader import CONFIG_CODES, split_windows

    # Everything that can be checked without the network, first.
    _check_order(args.start, args.end)
    windows = split_windows(args.start, args.end, args.by)
    fmt = _output_format(args.output)
    out = writable_output(args.output)
    config = Path(args.config)
    if not config.is_file():
        raise ConfigError(
            f"fleet file {config} not found: pass --config with the path of a fleet YAML file",
        )

    _import_in_background("invoicekit.schema")  # pandas + pyarrow load while requests wait
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries

    fleet = load_fleet(config)
    df = read_invoice_summaries(
        fleet,
        args.start,
        args.end,
        by=args.by,
        store=args.store,
        refresh=args.refresh,
        settle_days=args.settle_days,
        max_workers=args.max_workers,
        rate_per_account=args.rate_per_account or None,
        progress=progress_enabled(args),
        client=getattr(args, "client", DEFAULT_CLIENT),
    )
    from invoicekit import schema

    if fmt == "csv":
        schema.to_csv(df, out)
    else:
        schema.to_parquet(df, out)

    failures, api_calls, fetched, stored = _outcome(df)
    failed = {f["account_id"] for f in failures}
    n_accounts = len(fleet.accounts)
    span = f"{windows[0].key}..{windows[-1].key}"
    print(
        f"invoicekit fetch: {span} by {args.by}: "
        f"{n_accounts} accounts ({n_accounts - len(failed)} ok, {len(failed)} failed)"
    )
    print(f"  {loaded_line(df)}")
    print(f"  written to {out}")
    print(f"  API calls: {api_calls} (windows queried: {fetched}, from store: {stored})")
    print(f"  throttled answers: {_throttled(df)} (slowed down and retried; none failed a window)")
    for f in failures:
        name = f" ({f['account_name']})" if f.get("account_name") else ""
        windows_failed = f.get("windows") or []
        print(
            f"  failed: {f['account_id']}{name} {f['operation']} {f['code']} "
            f"[{len(windows_failed)} window{'s' if len(windows_failed) != 1 else ''}]: "
            f"{f['message']}"
        )
    sys.stdout.flush()
    if not len(df):
        answered = n_accounts - len(failed)
        where = f"{answered} account{'' if answered == 1 else 's'}"
        if failed:
            where += f" ({len(failed)} failed)"
        print(f"invoicekit: warning: no invoice found for {span} in {where}", file=sys.stderr)
    if not failures:
        return EXIT_OK
    bad_config = [f for f in failures if f.get("config") or f["code"] in CONFIG_CODES]
    if bad_config:
        first = bad_config[0]
        print(f"invoicekit: error: {first['message']}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(
        f"invoicekit: error: {len(failed)} of {n_accounts} accounts failed (listed above); "
        f"the other accounts' invoices were written to {out}",
        file=sys.stderr,
    )
    return EXIT_PARTIAL
