"""Loading at reseller scale: the whole ``invoicekit fetch`` process against the rate-limit bound.

The sandbox runs in its own process with 100 ms latency and a per-account limit the loader is
not told of; ``invoicekit fetch`` runs as a subprocess (start-up, imports, writing the parquet
file included) over 12 billing months, with its defaults (lean client, limit discovery). Each
row compares its wall time with the rate-limit bound: the largest, over accounts, of that
account's pages divided by its rate — target <= 1.5x. Also measured:

* the blog's sequential boto3 paginator loop, timed on a sample of accounts and scaled to the
  1,000 accounts (target: fetch >= 100x faster);
* the client CPU per API call (user + system CPU of the whole fetch process / its API calls)
  on the boto3 reference path and on the lean path, same sandbox and fleet.

``python -m benchmarks scale`` runs 100 accounts at 2, 5 and 20 requests/s and 300 at 5/s;
``INVOICEKIT_BENCH_SCALE=full`` adds the 1,000-account row and the sequential comparison at
that size (a few minutes; run it on a quiet machine).
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import isolate_aws_env

MONTHS = 12
LATENCY_MS = 100.0
TODAY = "2026-11-25"  # last closed month 2026-10
START, END = "2025-11", "2026-10"
SEQUENTIAL_SAMPLE = 10
#: (accounts, per-account limit in requests/s)
ROWS = [(100, 2.0), (100, 5.0), (100, 20.0), (300, 5.0)]
FULL_ROWS = [*ROWS, (1000, 5.0)]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _fetch(fleet_config: Path, out: Path, client: str) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one ``invoicekit fetch`` process."""
    cmd = [
        sys.executable, "-m", "invoicekit", "fetch", "--config", str(fleet_config),
        "--from", START, "--to", END, "--output", str(out), "--no-progress", "--client", client,
    ]  # fmt: skip
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"invoicekit fetch exited {proc.returncode}: {proc.stderr[-500:]}")
    return wall, _children_cpu() - cpu0, proc.stdout


def _pages(out: Path) -> dict[str, int]:
    """Pages each account needs: one per window, more when a window holds > 100 invoices."""
    from invoicekit import schema

    df = schema.from_parquet(out)
    counts = df.groupby(["account_id", "billing_period"], observed=True).size()
    pages = {a: MONTHS for a in df["account_id"].unique()}
    for (acct, _), n in counts.items():
        pages[acct] += math.ceil(n / 100) - 1
    return pages


def _calls(stdout: str) -> int:
    for line in stdout.splitlines():
        if line.strip().startswith("API calls:"):
            return int(line.split(":")[1].split("(")[0])
    return 0


def _throttled(stdout: str) -> int:
    for line in stdout.splitlines():
        if line.strip().startswith("throttled answers:"):
            return int(line.split(":")[1].split("(")[0])
    return 0


def _sequential(fleet_config: Path, accounts: list[str]) -> float:
    from benchmarks.bench_loader import _sequential_boto3

    t0 = time.perf_counter()
    _sequential_boto3(fleet_config, accounts, START, END)
    return time.perf_counter() - t0


def run() -> list[dict]:
    isolate_aws_env()
    from invoicekit.sandbox import start

    full = os.environ.get("INVOICEKIT_BENCH_SCALE", "").lower() == "full"
    rows: list[dict] = []
    load = os.getloadavg()[0]
    for accounts, rate in FULL_ROWS if full else ROWS:
        with (
            start(
                in_process=False,
                accounts=accounts,
                months=MONTHS,
                today=TODAY,
                latency_ms=LATENCY_MS,
                rate_limit=rate,
            ) as sb,
            tempfile.TemporaryDirectory(prefix="invoicekit-bench-scale-") as tmp,
        ):
            out = Path(tmp) / "invoices.parquet"
            sb.reset_stats()
            wall, cpu, stdout = _fetch(Path(sb.fleet_config), out, "lean")
            throttled = sb.stats().get("throttled", 0)
            pages = _pages(out)
            bound = max(pages.values()) / rate
            calls = _calls(stdout)
            rows.append(
                {
                    "benchmark": f"scale: fetch {accounts} accounts at {rate:g} req/s vs bound",
                    "measured": f"{wall / bound:.2f}x ({wall:.2f} s, bound {bound:.2f} s; "
                    f"{calls} calls, {throttled} throttled answers absorbed)",
                    "target": "<= 1.5x",
                    "ok": wall / bound <= 1.5 and _throttled(stdout) == throttled,
                    "notes": f"lean client, limit discovered; client CPU {cpu:.2f} s "
                    f"({1000 * cpu / max(1, calls):.2f} ms/call); load {load:.1f}",
                }
            )
            if (accounts, rate) == (100, 5.0):
                # the same fleet and sandbox on the boto3 reference path: CPU per call
                b_wall, b_cpu, b_out = _fetch(Path(sb.fleet_config), out, "boto3")
                b_calls = _calls(b_out)
                rows.append(
                    {
                        "benchmark": "scale: client CPU per call, boto3 path -> lean path",
                        "measured": f"{1000 * b_cpu / max(1, b_calls):.2f} ms -> "
                        f"{1000 * cpu / max(1, calls):.2f} ms "
                        f"({b_cpu / max(cpu, 1e-9):.1f}x less)",
                        "target": "lower",
                        "ok": cpu < b_cpu,
                        "notes": f"whole fetch process CPU / API calls, {accounts} accounts; "
                        f"boto3 path wall {b_wall:.2f} s vs lean {wall:.2f} s",
                    }
                )
            if accounts == max(a for a, _ in (FULL_ROWS if full else ROWS)):
                sample = sorted(pages)[:SEQUENTIAL_SAMPLE]
                t_sample = _sequential(Path(sb.fleet_config), sample)
                t_seq = t_sample * accounts / len(sample)
                target = 100 if accounts >= 1000 else 30
                rows.append(
                    {
                        "benchmark": f"scale: fetch {accounts} accounts vs sequential loop",
                        "measured": f"{t_seq / wall:.1f}x (sequential {t_seq:.0f} s = "
                        f"{t_sample:.1f} s for {len(sample)} accounts x "
                        f"{accounts // len(sample)})",
                        "target": f">= {target}x",
                        "ok": t_seq / wall >= target,
                        "notes": "the blog's boto3 paginator loop, one account and month after "
                        "the other, timed on a sample and scaled",
                    }
                )
    return rows


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
