"""Invoices tied out to CUR 2.0 and FOCUS 1.2 exports: every category, both formats (issue 13)."""

from __future__ import annotations

import shutil
from decimal import Decimal

import pytest

from invoicekit import schema
from invoicekit.costs import CATEGORIES, align, read_cost_export
from invoicekit.errors import InvalidArgumentError
from invoicekit.sandbox.exports import CREATE_NEW_INDEX, write_exports
from invoicekit.sandbox.org import build_organization

TODAY = "2026-11-25"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    org = build_organization(accounts=4, months=3, today=TODAY)
    root = tmp_path_factory.mktemp("exports")
    info = write_exports(org, root, anomalies=True)
    names = {a.account_id: a.name for a in org.accounts}
    return org, root, info, schema.to_frame(org.invoices, account_names=names)


@pytest.fixture(scope="module")
def tied(case):
    org, root, info, summaries = case
    return align(summaries, read_cost_export(root, format="cur2"))


def _row(table, invoice_id):
    rows = table[table["invoice_id"] == invoice_id]
    assert len(rows) == 1, invoice_id
    return rows.iloc[0]


def test_planted_anomalies_are_unexplained(case, tied):
    org, root, info, summaries = case
    for a in info["anomalies"]:
        if a["invoice_id"]:
            row = _row(tied, a["invoice_id"])
        else:
            row = tied[(tied["invoice_id"] == "") & (tied["billing_period"] == a["billing_period"])
                       & (tied["payer_account_id"] == a["payer_account_id"])].iloc[0]  # fmt: skip
        assert row["category"] == a["category"]
        assert row["explained"] is False or row["explained"] == False  # noqa: E712
        if a["kind"] == "difference_beyond_rounding":
            assert abs(row["difference"] + Decimal(a["amount"])) <= Decimal("0.005")
        if a["kind"] == "line_without_invoice":
            assert abs(row["lines_total"] - Decimal(a["amount"])) <= Decimal("0.005")
    unexplained = tied[tied["explained"] == False]  # noqa: E712
    assert len(unexplained) == len(info["anomalies"])
    # unexplained rows come first
    assert list(tied["explained"].head(len(unexplained))) == [False] * len(unexplained)


def test_every_other_invoice_is_explained(case, tied):
    org, root, info, summaries = case
    planted = {a["invoice_id"] for a in info["anomalies"]}
    spend = [i for i in org.invoices
             if i["InvoiceType"] in ("INVOICE", "CREDIT_MEMO") and not i.get("CommercialInvoiceId")]  # fmt: skip
    assert len(spend) > 20
    for inv in spend:
        if inv["InvoiceId"] in planted:
            continue
        row = _row(tied, inv["InvoiceId"])
        assert row["category"] in ("matched", "tax_lines", "credits_refunds"), row.to_dict()
        assert row["invoice_total"] == Decimal(inv["BaseCurrencyAmount"]["TotalAmount"])


def test_matched_is_within_half_a_cent_and_tax_lines_within_the_tax(tied):
    matched = tied[tied["category"] == "matched"]
    assert len(matched) > 10
    assert all(abs(d) <= Decimal("0.005") for d in matched["difference"])
    assert any(d != 0 for d in matched["difference"])  # more precision than the invoice
    tax = tied[tied["category"] == "tax_lines"]
    assert len(tax) >= 1
    for row in tax.itertuples():
        assert abs(row.difference) > Decimal("0.005")
        assert abs(row.difference - (row.invoice_taxes - row.tax_lines_total)) <= Decimal("0.005")


def test_refund_billed_under_the_original_invoice_is_credits_refunds(case, tied):
    org, root, info, summaries = case
    note = info["notes"][0]
    memo, original = _row(tied, note["invoice_id"]), _row(tied, note["related_invoice_id"])
    assert memo["category"] == original["category"] == "credits_refunds"
    assert memo["lines"] == 0
    assert abs(original["difference"] + memo["invoice_total"]) <= Decimal("0.005")


def test_current_month_is_not_yet_invoiced(case, tied):
    org, root, info, summaries = case
    rows = tied[tied["billing_period"] == "2026-11"]
    assert set(rows["category"]) == {"not_yet_invoiced"}
    assert set(rows["payer_account_id"]) == {a.account_id for a in org.accounts}
    assert rows["explained"].all()


def test_create_new_superseded_executions_are_not_double_counted(case, tied):
    org, root, info, summaries = case
    payer = org.accounts[CREATE_NEW_INDEX - 1].account_id
    costs = read_cost_export(root, format="cur2")
    export = next(e for e in costs.exports if e.payer_account_id == payer)
    assert export.delivery == "CREATE_NEW" and export.superseded > 0
    rows = tied[(tied["payer_account_id"] == payer) & tied["invoice_type"].notna()]
    planted = {a["invoice_id"] for a in info["anomalies"]}
    assert {r.category for r in rows.itertuples() if r.invoice_id not in planted} == {"matched"}


def test_focus_gives_the_same_tie_out(case, tied):
    org, root, info, summaries = case
    focus = align(summaries, read_cost_export(root, format="focus"))
    key = ["payer_account_id", "billing_period", "invoice_id"]
    a = tied.sort_values(key).reset_index(drop=True)
    b = focus.sort_values(key).reset_index(drop=True)
    assert list(a["category"]) == list(b["category"])
    assert list(a["lines_total"]) == list(b["lines_total"])


def test_month_and_payers_without_export(case, tmp_path):
    org, root, info, summaries = case
    shutil.copytree(root / org.accounts[0].account_id, tmp_path / org.accounts[0].account_id)
    table = align(summaries, read_cost_export(tmp_path, format="cur2"), month="2026-10")
    assert set(table["billing_period"]) == {"2026-10"}
    others = table[table["payer_account_id"] != org.accounts[0].account_id]
    assert len(others) > 0
    assert set(others["category"]) == {"no_export"}  # reported, not "invoice without lines"
    assert others["explained"].isna().all()
    assert CATEGORIES["no_export"][0] is None


def test_no_manifest_is_a_one_line_error(tmp_path):
    with pytest.raises(InvalidArgumentError, match="no Data Exports manifest"):
        read_cost_export(tmp_path)


def test_first_days_of_a_month_the_closed_month_is_not_yet_invoiced(tmp_path):
    # 2 December: November is closed but AWS has not issued its invoices yet
    org = build_organization(accounts=3, months=2, today="2026-12-02")
    write_exports(org, tmp_path, formats=("cur2",))
    table = align(schema.to_frame(org.invoices), read_cost_export(tmp_path))
    for month in ("2026-11", "2026-12"):
        rows = table[table["billing_period"] == month]
        assert set(rows["category"]) == {"not_yet_invoiced"}
        assert set(rows["payer_account_id"]) == {a.account_id for a in org.accounts}
    assert table["explained"].all()


def test_the_notebook_table_lists_every_unexplained_row_before_cutting(tied, monkeypatch):
    from invoicekit import notebook
    from invoicekit.costs import present

    shown = []
    monkeypatch.setattr(notebook, "_display", shown.append)
    # shuffled, and a limit smaller than the unexplained rows: every one is listed, first
    shuffled = tied.sample(frac=1, random_state=3)
    present.show_tie_out(shuffled, limit=1)
    [table] = [s for s in shown if getattr(s, "figures", None) and s.figures.get("table")]
    bad = tied[tied["explained"] == False]  # noqa: E712
    assert len(bad) >= 2
    body = table.plain.splitlines()[1:]  # after the header
    assert len(body) == len(bad)
    assert all("no cost lines" in r or "no invoice" in r or "Unexplained" in r for r in body)
    assert f"… and {len(tied) - len(bad):,} more rows." in table.html
