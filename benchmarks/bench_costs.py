"""Invoice tie-out and allocation on one billing month of a CUR 2.0 export, at growing sizes.

For each size the sandbox writes one payer's CUR 2.0 export of one billing month with about
that many lines (:func:`invoicekit.sandbox.exports.write_exports`), then three runs each in its
own process (so their peak memory is their own: ``resource.getrusage(RUSAGE_CHILDREN)`` of a
wrapper process that waits for the worker):

* ``align``: :func:`invoicekit.costs.align` (DuckDB, exact decimals);
* ``allocate``: :func:`invoicekit.costs.allocate` by ``tag:team`` (DuckDB weights, exact
  largest-remainder split in Python);
* ``pandas_align`` / ``pandas_allocate``: the plain approach in the same run:
  ``pd.read_parquet`` of the needed columns, then ``groupby`` invoice id (the tie-out sums),
  or invoice id x kind of line x tag (the allocation weights; the tag read from the map).

Targets (issue 13): DuckDB >= 3x faster than pandas at 10M lines; peak memory < 2 GB at 30M
lines; time about linear in the size. Sizes: ``INVOICEKIT_BENCH_COST_LINES`` (a comma list,
e.g. ``1000000,10000000,30000000``; default ``100000,300000`` so a CI run stays short).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SIZES = (100_000, 300_000)
SPEEDUP_TARGET = 3.0
MEMORY_TARGET_MB = 2048.0


def _sizes() -> list[int]:
    text = os.environ.get("INVOICEKIT_BENCH_COST_LINES", "")
    if not text.strip():
        return list(DEFAULT_SIZES)
    return [int(x) for x in text.replace("_", "").split(",") if x.strip()]


def _prepare(root: Path, lines: int) -> None:
    from invoicekit import schema
    from invoicekit.sandbox.exports import write_exports
    from invoicekit.sandbox.org import build_organization

    org = build_organization(seed=7, accounts=1, months=1, today="2026-11-25")
    write_exports(org, root / "exports", lines=lines, formats=("cur2",))
    schema.to_parquet(schema.to_frame(org.invoices), root / "summaries.parquet")


def _work(mode: str, root: str) -> None:
    """The measured work (runs in the worker process); prints elapsed seconds as JSON."""
    start = time.perf_counter()
    if mode in ("align", "allocate"):
        from invoicekit import schema
        from invoicekit.costs import align, allocate, read_cost_export

        summaries = schema.from_parquet(Path(root) / "summaries.parquet")
        costs = read_cost_export(Path(root) / "exports", months=["2026-10"])
        if mode == "align":
            out = align(summaries, costs, month="2026-10")
        else:
            out = allocate(summaries, costs, by="tag:team", month="2026-10")
        rows = len(out)
    else:
        import pandas as pd

        files = sorted(
            str(p) for p in (Path(root) / "exports").rglob("BILLING_PERIOD=2026-10/*.parquet")
        )
        if mode == "pandas_align":  # the tie-out sums: per payer and invoice id
            df = pd.read_parquet(
                files,
                columns=["bill_payer_account_id", "bill_invoice_id", "line_item_unblended_cost"],
            )
            out = df.groupby(["bill_payer_account_id", "bill_invoice_id"], dropna=False)[
                "line_item_unblended_cost"
            ].sum()
        else:  # the allocation weights: per invoice id, kind of line and tag
            df = pd.read_parquet(
                files,
                columns=["bill_invoice_id", "line_item_line_item_type",
                         "line_item_unblended_cost", "resource_tags"],
            )  # fmt: skip
            team = df["resource_tags"].map(
                lambda m: dict(m).get("user_team") if m is not None else None
            )
            out = (
                df.assign(team=team)
                .groupby(["bill_invoice_id", "line_item_line_item_type", "team"], dropna=False)[
                    "line_item_unblended_cost"
                ]
                .sum()
            )
        rows = len(out)
    print(json.dumps({"elapsed_s": time.perf_counter() - start, "rows": rows}))


def _wrapper(mode: str, root: str) -> None:
    """Run the worker as a child and report its elapsed time and peak RSS (RUSAGE_CHILDREN)."""
    proc = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks.bench_costs", "--work", mode, root],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(result))


def _measure(mode: str, root: Path) -> dict:
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "benchmarks.bench_costs", "--wrap", mode, str(root)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run() -> list[dict]:
    """One row per size and approach (``python -m benchmarks costs``)."""
    rows = []
    previous = None
    for lines in _sizes():
        tmp = Path(tempfile.mkdtemp(prefix="invoicekit-bench-costs-"))
        try:
            t0 = time.perf_counter()
            _prepare(tmp, lines)
            written = time.perf_counter() - t0
            modes = ("align", "allocate", "pandas_align", "pandas_allocate")
            res = {mode: _measure(mode, tmp) for mode in modes}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        speedup = res["pandas_align"]["elapsed_s"] / max(res["align"]["elapsed_s"], 1e-9)
        peak = max(res["align"]["peak_mb"], res["allocate"]["peak_mb"])
        per_m = res["align"]["elapsed_s"] / lines * 1e6
        growth = "" if previous is None else f"{per_m / previous:.2f}x per line vs previous size"
        previous = per_m
        rows.append(
            {
                "benchmark": f"costs align {lines:,} lines",
                "measured": f"{res['align']['elapsed_s']:.2f} s, peak {res['align']['peak_mb']:.0f} MB",
                "target": f">= {SPEEDUP_TARGET:.0f}x pandas at 10M",
                # the speed target is set at 10M lines: smaller runs report, never judge
                "ok": speedup >= SPEEDUP_TARGET if lines >= 10_000_000 else "n/a below 10M",
                "pandas": f"{res['pandas_align']['elapsed_s']:.2f} s, "
                f"peak {res['pandas_align']['peak_mb']:.0f} MB",
                "speedup": f"{speedup:.1f}x",
                "linearity": growth,
                "export written in": f"{written:.1f} s",
            }
        )
        rows.append(
            {
                "benchmark": f"costs allocate tag:team {lines:,} lines",
                "measured": f"{res['allocate']['elapsed_s']:.2f} s, peak {res['allocate']['peak_mb']:.0f} MB",
                "target": f"peak < {MEMORY_TARGET_MB:.0f} MB at 30M",
                "ok": peak < MEMORY_TARGET_MB,
                "pandas": f"{res['pandas_allocate']['elapsed_s']:.2f} s, "
                f"peak {res['pandas_allocate']['peak_mb']:.0f} MB",
                "speedup": f"{res['pandas_allocate']['elapsed_s'] / max(res['allocate']['elapsed_s'], 1e-9):.1f}x",
            }
        )
    return rows


if __name__ == "__main__":  # the worker and wrapper entry points
    if len(sys.argv) > 1 and sys.argv[1] == "--work":
        _work(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--wrap":
        _wrapper(sys.argv[2], sys.argv[3])
    else:
        for row in run():
            print(row)
