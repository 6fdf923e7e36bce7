"""Schema speed and size: 100,000 raw InvoiceSummary records → the typed invoice frame.

Baseline measured in the same run: ``pd.json_normalize`` on the same records (which yields only
strings and objects, no exact decimals, no UTC, no periods). Targets (issue 3):

* ``schema.to_frame`` >= 2x faster than ``pd.json_normalize``;
* the frame for 100,000 invoices <= 100 MB by ``memory_usage(deep=True)``.

Records come from the sandbox's synthetic organization (the same generator the server uses),
replicated under fresh account and invoice ids up to 100,000. Both the wire form (epoch-second
floats) and botocore's parsed form (local-time datetimes, what boto3 users hold) are timed.
"""

from __future__ import annotations

import gc
import json
import time
from typing import Any

N_RECORDS = 100_000
RATIO_TARGET = 2.0
MEMORY_TARGET_MB = 100.0
REPEATS = 3


def _records(n: int = N_RECORDS) -> list[dict[str, Any]]:
    from invoicekit.sandbox.org import build_organization

    org = build_organization(seed=7, accounts=200, months=24, today="2026-11-25")
    base = list(org.invoices)
    out: list[dict[str, Any]] = []
    copy_no = 0
    while len(out) < n:
        for rec in base:
            if len(out) >= n:
                break
            r = dict(rec)
            if copy_no:
                # a distinct payer account and invoice per replica (12 digits, unique ids)
                r["AccountId"] = f"{int(rec['AccountId']) + copy_no * 1000:012d}"
                r["InvoiceId"] = f"{rec['InvoiceId']}-{copy_no}"
            out.append(r)
        copy_no += 1
    return out


def _botocore_parsed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import botocore.parsers
    import botocore.session

    op = (
        botocore.session.get_session()
        .get_service_model("invoicing")
        .operation_model("ListInvoiceSummaries")
    )
    parser = botocore.parsers.create_parser("json")
    out: list[dict[str, Any]] = []
    for i in range(0, len(records), 100):  # pages of 100, as the API returns them
        body = json.dumps({"InvoiceSummaries": records[i : i + 100]}).encode()
        parsed = parser.parse({"body": body, "headers": {}, "status_code": 200}, op.output_shape)
        out.extend(parsed["InvoiceSummaries"])
    return out


def _best(fn: Any, repeats: int = REPEATS) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def run() -> list[dict]:
    """Measure and return the benchmark rows (targets reported, not asserted)."""
    import pandas as pd

    from invoicekit import schema

    # fresh dicts per record, as json.loads of each page would give (no shared sub-dicts)
    wire = json.loads(json.dumps(_records()))
    parsed = _botocore_parsed(wire)
    names = {r["AccountId"]: f"Payer {r['AccountId'][-4:]}" for r in wire[:1000]}

    rows: list[dict] = []
    for label, records in (("wire records", wire), ("botocore-parsed records", parsed)):
        t_ours, frame = _best(lambda records=records: schema.to_frame(records, names))
        t_base, _ = _best(lambda records=records: pd.json_normalize(records))
        ratio = t_base / t_ours
        rows.append(
            {
                "benchmark": f"to_frame vs json_normalize, {len(records):,} {label}",
                "measured": f"{ratio:.1f}x faster ({t_ours:.2f} s vs {t_base:.2f} s)",
                "target": f">= {RATIO_TARGET:.0f}x",
                "ok": ratio >= RATIO_TARGET,
            }
        )
    mb = frame.memory_usage(deep=True).sum() / 1e6
    rows.append(
        {
            "benchmark": f"frame memory, {len(frame):,} invoices (memory_usage(deep=True))",
            "measured": f"{mb:.1f} MB",
            "target": f"<= {MEMORY_TARGET_MB:.0f} MB",
            "ok": mb <= MEMORY_TARGET_MB,
        }
    )
    t_long, long = _best(lambda: schema.long_form(frame), repeats=1)
    rows.append(
        {
            "benchmark": f"long_form, {len(frame):,} invoices -> {len(long):,} rows",
            "measured": f"{t_long:.2f} s",
            "target": "(reported)",
            "ok": True,
        }
    )
    return rows


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
