"""The sandbox writes CUR 2.0 and FOCUS 1.2 exports that tie out to its invoices (issue 13)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from invoicekit.sandbox.exports import BUCKET, CREATE_NEW_INDEX, EXECUTIONS, write_exports
from invoicekit.sandbox.org import build_organization

TODAY = "2026-11-25"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    org = build_organization(accounts=4, months=3, today=TODAY)
    root = tmp_path_factory.mktemp("exports")
    return org, root, write_exports(org, root)


def _current_files(root: Path, export: dict) -> dict[str, list[Path]]:
    """Data files of the latest execution (by manifest mtime) of every billing month."""
    out: dict[str, list[Path]] = {}
    meta = root / export["path"] / "metadata"
    by_period: dict[str, list[Path]] = {}
    for m in meta.rglob("*-Manifest.json"):
        period = m.relative_to(meta).parts[0].split("=")[1]
        by_period.setdefault(period, []).append(m)
    for period, manifests in by_period.items():
        latest = max(manifests, key=lambda p: p.stat().st_mtime)
        files = json.loads(latest.read_text())["dataFiles"]
        out[period] = [root / f.split(f"s3://{BUCKET}/", 1)[1] for f in files]
    return out


def _sums(files, invoice_col, cost_col) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for f in files:
        t = pq.read_table(f, columns=[invoice_col, cost_col])
        for inv, cost in zip(t[invoice_col].to_pylist(), t[cost_col].to_pylist(), strict=True):
            key = inv or ""
            sums[key] = sums.get(key, Decimal(0)) + Decimal(repr(cost))
    return sums


def test_layout_and_real_column_names_and_types(written):
    org, root, info = written
    names = {(e["payer_account_id"], e["format"]) for e in info["exports"]}
    assert names == {(a.account_id, f) for a in org.accounts for f in ("cur2", "focus")}
    cur = next(e for e in info["exports"] if e["format"] == "cur2")
    focus = next(e for e in info["exports"] if e["format"] == "focus")
    cur_files = sorted((root / cur["path"] / "data").glob("BILLING_PERIOD=*/*.parquet"))
    focus_files = sorted((root / focus["path"] / "data").glob("billing_period=*/*.parquet"))
    assert cur_files and focus_files
    assert (root / cur["path"] / "metadata" / "BILLING_PERIOD=2026-10"
            / f"{cur['name']}-Manifest.json").is_file()  # fmt: skip
    cs = pq.read_schema(cur_files[0])
    for col in ("bill_invoice_id", "bill_invoicing_entity", "bill_billing_entity",
                "bill_bill_type", "bill_payer_account_id", "line_item_usage_account_id",
                "line_item_line_item_type", "line_item_unblended_cost",
                "line_item_net_unblended_cost", "line_item_currency_code"):  # fmt: skip
        assert col in cs.names
    assert str(cs.field("line_item_unblended_cost").type) == "double"
    assert str(cs.field("resource_tags").type).startswith("map<string, string")
    assert str(cs.field("cost_category").type).startswith("map<string, string")
    assert str(cs.field("bill_billing_period_start_date").type).startswith("timestamp")
    fs = pq.read_schema(focus_files[0])
    for col in ("BilledCost", "BillingAccountId", "SubAccountId", "BillingCurrency",
                "BillingPeriodStart", "ChargeCategory", "InvoiceId", "InvoiceIssuerName", "Tags"):  # fmt: skip
        assert col in fs.names
    assert str(fs.field("BilledCost").type) == "double"
    manifest = json.loads(
        next((root / cur["path"] / "metadata").rglob("*-Manifest.json")).read_text()
    )
    assert set(manifest) >= {"executionId", "exportArn", "columns", "dataFiles"}
    assert all(f.startswith(f"s3://{BUCKET}/") for f in manifest["dataFiles"])
    assert cur["payer_account_id"] in manifest["exportArn"]


@pytest.mark.parametrize("fmt,inv_col,cost_col", [
    ("cur2", "bill_invoice_id", "line_item_unblended_cost"),
    ("focus", "InvoiceId", "BilledCost"),
])  # fmt: skip
def test_lines_add_up_to_each_invoice_within_rounding(written, fmt, inv_col, cost_col):
    org, root, info = written
    moved = {n["invoice_id"] for n in info["notes"]} | {
        n["related_invoice_id"] for n in info["notes"]
    }
    by_id = {i["InvoiceId"]: i for i in org.invoices}
    checked = 0
    for export in (e for e in info["exports"] if e["format"] == fmt):
        for files in _current_files(root, export).values():
            for inv_id, total in _sums(files, inv_col, cost_col).items():
                if not inv_id or inv_id in moved:
                    continue
                invoice = by_id[inv_id]
                expected = Decimal(invoice["BaseCurrencyAmount"]["TotalAmount"])
                # more precision than the invoice, never a cent off (the per-line tax payer:
                # a few cents, its own alignment category)
                tolerance = (
                    Decimal("0.005")
                    if export["payer_account_id"] != org.accounts[3].account_id
                    else Decimal("0.10")
                )
                assert abs(total - expected) <= tolerance, (inv_id, total, expected)
                assert total != expected  # lines carry more precision than the invoice
                checked += 1
    assert checked >= 10


def test_current_month_has_no_invoice_id(written):
    org, root, info = written
    for export in (e for e in info["exports"] if e["format"] == "cur2"):
        files = _current_files(root, export)["2026-11"]
        ids = set(pq.read_table(files[0], columns=["bill_invoice_id"])[0].to_pylist())
        assert ids == {None}
        closed = _current_files(root, export)["2026-10"]
        assert None not in set(pq.read_table(closed[0], columns=["bill_invoice_id"])[0].to_pylist())


def test_create_new_keeps_superseded_executions_and_sorting_ids_misleads(written):
    org, root, info = written
    payer = org.accounts[CREATE_NEW_INDEX - 1].account_id
    export = next(
        e for e in info["exports"] if e["payer_account_id"] == payer and e["format"] == "cur2"
    )
    assert export["delivery"] == "CREATE_NEW"
    meta = root / export["path"] / "metadata" / "BILLING_PERIOD=2026-10"
    manifests = sorted(meta.glob("*/*-Manifest.json"))
    assert len(manifests) == EXECUTIONS
    latest = max(manifests, key=lambda p: p.stat().st_mtime)
    by_id = max(manifests, key=lambda p: p.parent.name)
    assert latest != by_id
    latest_files = [root / f.split(f"s3://{BUCKET}/", 1)[1]
                    for f in json.loads(latest.read_text())["dataFiles"]]  # fmt: skip
    every = sorted((root / export["path"] / "data" / "BILLING_PERIOD=2026-10").rglob("*.parquet"))
    assert len(every) == EXECUTIONS * len(latest_files)
    all_sum = sum(pc.sum(pq.read_table(f)["line_item_unblended_cost"]).as_py() for f in every)
    cur_sum = sum(
        pc.sum(pq.read_table(f)["line_item_unblended_cost"]).as_py() for f in latest_files
    )
    assert all_sum > 2 * cur_sum  # summing every snapshot overcounts


def test_anomalies_are_planted_and_listed(tmp_path):
    org = build_organization(accounts=4, months=3, today=TODAY)
    info = write_exports(org, tmp_path, anomalies=True, formats=("cur2",))
    kinds = {a["kind"] for a in info["anomalies"]}
    assert kinds == {"line_without_invoice", "invoice_without_lines", "difference_beyond_rounding"}
    assert json.loads((tmp_path / "exports.json").read_text())["anomalies"] == info["anomalies"]
    gone = next(a for a in info["anomalies"] if a["kind"] == "invoice_without_lines")
    files = list((tmp_path / gone["payer_account_id"]).rglob("*.parquet"))
    ids = set()
    for f in files:
        ids |= set(pq.read_table(f, columns=["bill_invoice_id"])[0].to_pylist())
    assert gone["invoice_id"] not in ids


def test_export_lines_sets_the_size(tmp_path):
    org = build_organization(accounts=1, months=1, today=TODAY)
    write_exports(org, tmp_path, lines=5000, formats=("cur2",))
    files = list(tmp_path.rglob("BILLING_PERIOD=2026-10/*.parquet"))
    n = sum(pq.read_metadata(f).num_rows for f in files)
    assert 4000 <= n <= 6000


def test_start_writes_exports(make_sandbox, tmp_path):
    sb = make_sandbox(accounts=2, months=2, exports=tmp_path / "x")
    assert (tmp_path / "x" / "exports.json").is_file()
    assert {p.name for p in (tmp_path / "x").iterdir()} >= {a.account_id for a in sb.org.accounts}


def test_cli_sandbox_exports_option(tmp_path):
    from invoicekit.sandbox import start

    with start(accounts=2, months=2, today=TODAY, exports=tmp_path / "x", in_process=False,
               anomalies=True) as sb:  # fmt: skip
        assert sb.endpoint_url.startswith("http://")
        info = json.loads((tmp_path / "x" / "exports.json").read_text())
    assert len(info["exports"]) == 4
    assert {a["kind"] for a in info["anomalies"]} >= {"line_without_invoice"}
