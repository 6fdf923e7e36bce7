"""Loader speed: invoicekit vs a plain sequential boto3 loop, the rate-limit bound, re-runs.

The sandbox runs in its own process (no shared GIL) with 100 ms latency per request and a
per-account rate limit of 5 requests/s, 100 payer accounts x 12 months:

* ``speedup_vs_sequential``: a plain boto3 paginator loop, one account and month after the other,
  timed on a sample of accounts and scaled to all of them (it would take minutes) — target >= 30x;
* ``vs_rate_limit_bound``: invoicekit's time over the rate-limit bound, the largest over accounts
  of (that account's pages / rate) — target <= 1.5x;
* ``throttling_errors_reaching_user``: failures with a throttling code — target 0 (the sandbox's
  429s are absorbed by per-account adaptive retries);
* ``incremental_rerun_calls``: a second run over 24 months of which 22 are settled makes <= 10%
  of the first run's API calls.

Run with ``python -m benchmarks loader`` (``make bench``).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

from benchmarks import isolate_aws_env

ACCOUNTS = 100
MONTHS = 12
LATENCY_MS = 100.0
RATE_LIMIT = 5.0  # requests/s per account
SEQUENTIAL_SAMPLE = 10  # accounts timed for the sequential baseline
TODAY = "2026-11-25"  # last closed month 2026-10
# Incremental: 24 months ending 2026-10; on 2026-11-10 September and October are unsettled.
RERUN_TODAY = "2026-11-10"


def _list_calls(df) -> int:
    """ListInvoiceSummaries requests of the run that made ``df`` (api_calls also counts
    AssumeRole)."""
    from invoicekit.outcomes import run_report

    return run_report(df).extra["api_calls_by_operation"]["ListInvoiceSummaries"]


def _months(last: tuple[int, int], n: int) -> tuple[str, str]:
    y, m = last
    idx = y * 12 + m - 1 - (n - 1)
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}", f"{y:04d}-{m:02d}"


def _sequential_boto3(fleet_config: Path, account_ids: list[str], start: str, end: str) -> int:
    """The plain way: one boto3 session per profile, a paginator, one month after the other."""
    import boto3
    import yaml

    from invoicekit.loader import split_windows

    doc = yaml.safe_load(fleet_config.read_text())
    base = fleet_config.parent
    os.environ["AWS_CONFIG_FILE"] = str(base / doc["aws_config_file"])
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(base / doc["aws_shared_credentials_file"])
    try:
        n = 0
        for account_id in account_ids:
            session = boto3.Session(profile_name=f"invoicekit-sandbox-{account_id}")
            client = session.client("invoicing")
            paginator = client.get_paginator("list_invoice_summaries")
            for w in split_windows(start, end):
                for page in paginator.paginate(
                    Selector={"ResourceType": "ACCOUNT_ID", "Value": account_id},
                    Filter=w.api_filter(),
                    PaginationConfig={"PageSize": 100},
                ):
                    n += len(page.get("InvoiceSummaries", []))
        return n
    finally:
        os.environ.pop("AWS_CONFIG_FILE", None)
        os.environ.pop("AWS_SHARED_CREDENTIALS_FILE", None)


def _pages_per_account(df, months: int) -> dict[str, int]:
    """Pages each account needs: one per window, more when a window holds > 100 invoices."""
    counts = df.groupby(["account_id", "billing_period"], observed=True).size()
    pages: dict[str, int] = {}
    for (acct, _), n in counts.items():
        pages[acct] = pages.get(acct, 0) + math.ceil(n / 100) - 1
    return {a: months + extra for a, extra in pages.items()}


def run() -> list[dict]:
    isolate_aws_env()
    from invoicekit.errors import THROTTLING_CODES
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries
    from invoicekit.sandbox import start

    rows: list[dict] = []
    start_m, end_m = _months((2026, 10), MONTHS)
    with start(
        in_process=False,
        accounts=ACCOUNTS,
        months=MONTHS,
        today=TODAY,
        latency_ms=LATENCY_MS,
        rate_limit=RATE_LIMIT,
    ) as sb:
        # invoicekit, all accounts, concurrently; cold: sessions, roles and clients made here
        sb.reset_stats()
        t0 = time.perf_counter()
        fleet = load_fleet(sb.fleet_config)
        df = read_invoice_summaries(fleet, start_m, end_m, progress=False)
        t_ik = time.perf_counter() - t0
        stats = sb.stats()
        # warm: the same Fleet again (a notebook re-run): sessions and clients are reused
        t0 = time.perf_counter()
        df_warm = read_invoice_summaries(fleet, start_m, end_m, progress=False)
        t_warm = time.perf_counter() - t0
        warm_failures = df_warm.attrs["failures"]
        calls = df.attrs["api_calls"]
        failures = df.attrs["failures"]
        throttled_to_user = sum(1 for f in failures if f["code"] in THROTTLING_CODES)
        pages = _pages_per_account(df, MONTHS)
        bound = max(pages.values()) / RATE_LIMIT if pages else float("nan")

        # the plain sequential loop, on a sample of accounts, scaled
        sample = sorted(pages)[:SEQUENTIAL_SAMPLE]
        sb.reset_stats()
        t0 = time.perf_counter()
        n_seq = _sequential_boto3(Path(sb.fleet_config), sample, start_m, end_m)
        t_sample = time.perf_counter() - t0
        seq_throttled = sb.stats().get("throttled", 0)
        t_seq = t_sample * ACCOUNTS / len(sample)
        n_ik_sample = int(df["account_id"].isin(sample).sum())

    setup = (
        f"{ACCOUNTS} accounts x {MONTHS} months, {LATENCY_MS:.0f} ms, {RATE_LIMIT:g} req/s/account"
    )
    rows.append(
        {
            "benchmark": "loader: invoicekit read_invoice_summaries",
            "measured": f"{t_ik:.2f} s ({calls} calls incl. "
            f"{calls - _list_calls(df)} AssumeRole, {len(df)} invoices, "
            f"{stats.get('throttled', 0)} 429s absorbed)",
            "target": "-",
            "ok": not failures,
            "notes": setup,
        }
    )
    rows.append(
        {
            "benchmark": "loader: speedup vs sequential boto3 paginator loop",
            "measured": f"{t_seq / t_ik:.1f}x (sequential {t_seq:.1f} s = {t_sample:.1f} s for "
            f"{len(sample)} accounts x {ACCOUNTS // len(sample)}; {seq_throttled} 429s)",
            "target": ">= 30x",
            "ok": t_seq / t_ik >= 30 and n_seq == n_ik_sample,
            "notes": f"sequential loop timed on {len(sample)} accounts and scaled; same invoices: "
            f"{n_seq == n_ik_sample}",
        }
    )
    rows.append(
        {
            "benchmark": "loader: cold time vs rate-limit bound",
            "measured": f"{t_ik / bound:.2f}x (bound {bound:.2f} s = max pages/account "
            f"{max(pages.values())} / {RATE_LIMIT:g} per s)",
            "target": "<= 1.5x",
            "ok": t_ik / bound <= 1.5,
            "notes": setup,
        }
    )
    rows.append(
        {
            "benchmark": "loader: warm re-run vs rate-limit bound",
            "measured": f"{t_warm / bound:.2f}x ({t_warm:.2f} s)",
            "target": "<= 1.5x",
            "ok": t_warm / bound <= 1.5 and not warm_failures,
            "notes": "same Fleet object again: sessions, assumed roles and clients reused",
        }
    )
    rows.append(
        {
            "benchmark": "loader: throttling errors reaching the user",
            "measured": throttled_to_user,
            "target": "0",
            "ok": throttled_to_user == 0
            and not any(f["code"] in THROTTLING_CODES for f in warm_failures),
            "notes": f"failures of any kind: {len(failures)} cold, {len(warm_failures)} warm",
        }
    )

    # incremental re-run over 24 months, 22 settled
    start_m, end_m = _months((2026, 10), 24)
    with (
        start(
            in_process=False,
            accounts=ACCOUNTS,
            months=24,
            today=RERUN_TODAY,
            latency_ms=LATENCY_MS,
            rate_limit=RATE_LIMIT,
        ) as sb,
        tempfile.TemporaryDirectory(prefix="invoicekit-bench-store-") as store,
    ):
        t0 = time.perf_counter()
        first = read_invoice_summaries(
            sb.fleet_config, start_m, end_m, store=store, now=RERUN_TODAY, progress=False
        )
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = read_invoice_summaries(
            sb.fleet_config, start_m, end_m, store=store, now=RERUN_TODAY, progress=False
        )
        t_second = time.perf_counter() - t0
        same = first.equals(second)
    # the store saves ListInvoiceSummaries queries; each run assumes the roles again either way
    ratio = _list_calls(second) / max(1, _list_calls(first))
    rows.append(
        {
            "benchmark": "loader: incremental re-run calls (24 months, 22 settled)",
            "measured": f"{ratio:.1%} ({_list_calls(second)} / {_list_calls(first)} "
            f"ListInvoiceSummaries calls; {t_second:.2f} s vs {t_first:.2f} s)",
            "target": "<= 10%",
            "ok": ratio <= 0.10 and same and not second.attrs["failures"],
            "notes": f"same frame from store + fresh months: {same}",
        }
    )
    return rows


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
