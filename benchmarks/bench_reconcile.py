"""Reconciliation speed: ``reconcile_invoices`` of 100,000 invoices must take under 3 s.

Input: the sandbox organization (seed 7, 12 accounts x 24 months, anomalies planted) replicated
with fresh account and invoice ids until it holds at least 100,000 invoices, so every replica
carries the real mix of currencies (USD, EUR, GBP, JPY, INR), credit memos, tax invoices and
anomalies. Timings are the best of a few runs (the machine is shared).
"""

from __future__ import annotations

import time

import pandas as pd

INVOICES = 100_000
RECONCILE_TARGET_S = 3.0
TOTALS_TARGET_S = 1.0
REPEAT = 3


def _frame(n: int = INVOICES) -> pd.DataFrame:
    from invoicekit import schema
    from invoicekit.sandbox.org import build_organization

    org = build_organization(seed=7, accounts=12, months=24, today="2026-11-25", anomalies=True)
    one = schema.to_frame(org.invoices)
    copies = -(-n // len(one))
    parts = []
    for k in range(copies):
        part = one.copy()
        prefix = f"R{k:04d}-"
        for col in ("invoice_id", "original_invoice_id", "commercial_invoice_id"):
            part[col] = prefix + part[col]
        part["account_id"] = f"{k:04d}" + part["account_id"].str.slice(4)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _best(fn, repeat: int = REPEAT) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def run() -> list[dict]:
    """Time reconcile_invoices, totals, month_end_table and completeness_grid on 100k invoices."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from invoicekit.reconcile import completeness_grid, month_end_table, reconcile_invoices, totals

    df = _frame()
    n = len(df)
    rows = []
    seconds, findings = _best(lambda: reconcile_invoices(df))
    errors = int((findings["severity"] == "error").sum())
    rows.append(
        {
            "benchmark": f"reconcile {n:,} invoices",
            "measured": f"{seconds:.2f} s",
            "target": f"< {RECONCILE_TARGET_S:.0f} s",
            "ok": seconds < RECONCILE_TARGET_S,
            "findings": f"{len(findings):,} ({errors} errors)",
        }
    )
    # Worst case: every discount in the other sign convention -> a finding per invoice and view.
    flipped = df.copy()
    for v in ("base", "tax", "payment"):
        col = f"{v}_discounts"
        flipped[col] = pd.array(pc.negate(pa.array(df[col])), dtype=df[col].dtype)
    seconds, many = _best(lambda: reconcile_invoices(flipped), repeat=1)
    rows.append(
        {
            "benchmark": f"reconcile {n:,} invoices, all discounts in the other sign",
            "measured": f"{seconds:.2f} s",
            "target": f"< {RECONCILE_TARGET_S:.0f} s",
            "ok": seconds < RECONCILE_TARGET_S,
            "findings": f"{len(many):,}",
        }
    )
    seconds, result = _best(lambda: totals(df, ["billing_period", "account_id"]))
    rows.append(
        {
            "benchmark": f"totals by period x account, {n:,} invoices",
            "measured": f"{seconds:.2f} s",
            "target": f"< {TOTALS_TARGET_S:.0f} s",
            "ok": seconds < TOTALS_TARGET_S,
            "findings": f"{len(result):,} groups",
        }
    )
    period = str(df["billing_period"].max())
    seconds, result = _best(lambda: month_end_table(df, period))
    rows.append(
        {
            "benchmark": f"month_end_table {period}, {n:,} invoices",
            "measured": f"{seconds:.2f} s",
            "target": f"< {TOTALS_TARGET_S:.0f} s",
            "ok": seconds < TOTALS_TARGET_S,
            "findings": f"{len(result):,} accounts",
        }
    )
    seconds, result = _best(lambda: completeness_grid(df))
    rows.append(
        {
            "benchmark": f"completeness_grid, {n:,} invoices",
            "measured": f"{seconds:.2f} s",
            "target": f"< {TOTALS_TARGET_S:.0f} s",
            "ok": seconds < TOTALS_TARGET_S,
            "findings": f"{result.shape[0]:,} x {result.shape[1]}",
        }
    )
    return rows


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
