"""Sandbox speed: it must never be a benchmark's bottleneck.

1. Sequential keep-alive boto3 calls per second with no latency (target >= 300 calls/s).
2. The same with large pages (every invoice of an account in one answer).
3. 64 concurrent requests at 100 ms latency: wall time against 64 x 100 ms sequential
   (target: close to 0.1 s, i.e. served in parallel).

The sandbox runs in its own process (``start(in_process=False)``) so it does not share the
client's GIL. Targets are reported, not asserted.
"""

from __future__ import annotations

import threading
import time

#: Target of the sequential benchmark (calls per second).
TARGET_CALLS_PER_S = 300.0
#: Concurrent requests and their latency in the parallel benchmark.
CONCURRENCY = 64
LATENCY_MS = 100.0
#: The parallel wall time is "close to" one latency when below this.
TARGET_PARALLEL_WALL_S = 0.25
SEQUENTIAL_CALLS = 600


def _client(sb, account, *, pool: int = 10):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "invoicing",
        endpoint_url=sb.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=account["access_key_id"],
        aws_secret_access_key=account["secret_access_key"],
        config=Config(
            max_pool_connections=pool, retries={"mode": "standard", "total_max_attempts": 1}
        ),
    )


def _request(account: dict, period: tuple[int, int]) -> dict:
    return {
        "Selector": {"ResourceType": "ACCOUNT_ID", "Value": account["account_id"]},
        "Filter": {"BillingPeriod": {"Year": period[0], "Month": period[1]}},
    }


def _sequential() -> dict:
    from invoicekit.sandbox import start

    with start(accounts=3, months=3, today="2026-11-25", in_process=False) as sb:
        org = sb.admin("org")
        account = org["accounts"][0]
        year, month = (int(x) for x in org["periods"][-1].split("-"))
        client = _client(sb, account, pool=1)
        kwargs = _request(account, (year, month))
        for _ in range(20):  # warm up: connection, signer caches, server code paths
            client.list_invoice_summaries(**kwargs)
        t0 = time.perf_counter()
        for _ in range(SEQUENTIAL_CALLS):
            client.list_invoice_summaries(**kwargs)
        elapsed = time.perf_counter() - t0
    rate = SEQUENTIAL_CALLS / elapsed
    return {
        "benchmark": "sequential keep-alive boto3 ListInvoiceSummaries (no latency)",
        "measured": f"{rate:.0f} calls/s",
        "target": f">= {TARGET_CALLS_PER_S:.0f} calls/s",
        "ok": rate >= TARGET_CALLS_PER_S,
        "detail": f"{SEQUENTIAL_CALLS} calls in {elapsed:.2f} s, one connection",
    }


def _large_pages() -> dict:
    """Calls/s when each answer carries every invoice of an account (ReceiverRole, 5 years)."""
    from invoicekit.sandbox import start

    with start(today="2026-11-25", in_process=False) as sb:
        org = sb.admin("org")
        account = max(org["accounts"], key=lambda a: a["invoices"])
        client = _client(sb, account, pool=1)
        kwargs = {
            "Selector": {"ResourceType": "ACCOUNT_ID", "Value": account["account_id"]},
            "Filter": {
                "ReceiverRole": "BUYER",
                "TimeInterval": {"StartDate": "2025-06-01", "EndDate": "2026-12-01"},
            },
            "MaxResults": 100,
        }
        per_page = len(client.list_invoice_summaries(**kwargs)["InvoiceSummaries"])
        calls = 200
        t0 = time.perf_counter()
        for _ in range(calls):
            client.list_invoice_summaries(**kwargs)
        elapsed = time.perf_counter() - t0
    rate = calls / elapsed
    return {
        "benchmark": f"sequential boto3 calls returning {per_page} invoices each",
        "measured": f"{rate:.0f} calls/s ({rate * per_page:.0f} invoices/s)",
        "target": f">= {TARGET_CALLS_PER_S / 3:.0f} calls/s (boto3 parsing dominates)",
        "ok": rate >= TARGET_CALLS_PER_S / 3,
        "detail": "precomputed invoice JSON: a page is a join of fragments",
    }


def _parallel() -> dict:
    from invoicekit.sandbox import start

    with start(
        accounts=3, months=3, today="2026-11-25", latency_ms=LATENCY_MS, in_process=False
    ) as sb:
        org = sb.admin("org")
        account = org["accounts"][0]
        year, month = (int(x) for x in org["periods"][-1].split("-"))
        client = _client(sb, account, pool=CONCURRENCY)
        kwargs = _request(account, (year, month))
        # open the connections first so the measurement is of serving, not of connecting
        _burst(client, kwargs)
        wall = _burst(client, kwargs)
    sequential = CONCURRENCY * LATENCY_MS / 1000.0
    return {
        "benchmark": f"{CONCURRENCY} concurrent requests at {LATENCY_MS:.0f} ms latency",
        "measured": f"{wall:.3f} s wall",
        "target": f"<= {TARGET_PARALLEL_WALL_S} s (sequential would be {sequential:.1f} s)",
        "ok": wall <= TARGET_PARALLEL_WALL_S,
        "detail": f"speed-up {sequential / wall:.0f}x over sequential",
    }


def _burst(client, kwargs: dict) -> float:
    barrier = threading.Barrier(CONCURRENCY + 1)
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            client.list_invoice_summaries(**kwargs)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(CONCURRENCY)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} of {CONCURRENCY} requests failed: {errors[0]!r}")
    return wall


def run() -> list[dict]:
    """Both sandbox benchmarks as table rows."""
    return [_sequential(), _large_pages(), _parallel()]


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
