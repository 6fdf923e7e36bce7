"""End to end: sandbox → loader / ``invoicekit fetch`` → ``reconcile`` finds every planted anomaly."""

from __future__ import annotations

import csv

import pytest

from invoicekit import schema
from invoicekit.cli import main
from invoicekit.loader import read_invoice_summaries
from invoicekit.reconcile import month_end_table, reconcile_invoices, totals

pytestmark = pytest.mark.slow


def _span(org) -> tuple[str, str]:
    (y0, m0), (y1, m1) = org.periods[0], org.periods[-1]
    return f"{y0:04d}-{m0:02d}", f"{y1:04d}-{m1:02d}"


def test_fetch_then_reconcile_cli_finds_every_planted_anomaly(make_sandbox, tmp_path, capsys):
    sb = make_sandbox(accounts=8, months=12, anomalies=True)
    planted = sb.anomalies()
    assert {a["check"] for a in planted} == {
        "completeness", "arithmetic_total", "exchange", "credit_memo_original", "duplicate_invoice",
    }  # fmt: skip
    start, end = _span(sb.org)
    summaries = tmp_path / "invoices.parquet"
    # the loader keeps both versions of a re-issued invoice id, and says so
    with pytest.warns(UserWarning, match="duplicate_invoice"):
        fetched = main(
            ["fetch", "--config", str(sb.fleet_config), "--from", start, "--to", end,
             "--output", str(summaries), "--no-progress"]
        )  # fmt: skip
    assert fetched == 0, capsys.readouterr().err
    findings_csv = tmp_path / "findings.csv"
    code = main(
        ["reconcile", "--summaries", str(summaries), "--from", start, "--to", end,
         "--output", str(findings_csv)]
    )  # fmt: skip
    assert code == 1
    with open(findings_csv, encoding="utf-8", newline="") as fh:
        findings = list(csv.DictReader(fh))

    def found(a: dict) -> bool:
        for f in findings:
            if f["check"] != a["check"]:
                continue
            if a["invoice_id"] and f["invoice_id"] == a["invoice_id"]:
                return True
            if not a["invoice_id"] and (f["account_id"], f["billing_period"]) == (
                a["account_id"],
                a["billing_period"],
            ):
                return True
        return False

    assert [a for a in planted if not found(a)] == []


def test_loader_frame_of_a_clean_sandbox_reconciles_without_errors(sandbox):
    start, end = _span(sandbox.org)
    df = read_invoice_summaries(sandbox.fleet_config, start, end, progress=False)
    assert df.attrs["failures"] == []
    findings = reconcile_invoices(df)
    errors = findings[findings["severity"] == "error"]
    assert errors.empty, errors[["check", "invoice_id", "message"]].to_string()
    # what came over the wire totals exactly like the organization's own records
    expected = totals(schema.to_frame(sandbox.org.invoices), ["billing_period", "account_id"])
    got = totals(df, ["billing_period", "account_id"])
    assert got.astype(str).equals(expected.astype(str))
    table = month_end_table(df, end)
    assert set(table["account_id"]) == {a.account_id for a in sandbox.org.accounts}
    assert (table["invoices"] >= 1).all()
