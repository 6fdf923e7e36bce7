"""Allocation below the invoice: exact to the minor unit in every view, untagged kept (issue 13)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pyarrow.parquet as pq
import pytest

from invoicekit import schema
from invoicekit._money import minor_unit
from invoicekit.costs import UNTAGGED, allocate, read_cost_export
from invoicekit.costs.allocate import ALLOCATION_COLUMNS, largest_remainder
from invoicekit.errors import InvalidArgumentError
from invoicekit.sandbox.exports import write_exports
from invoicekit.sandbox.org import build_organization

TODAY = "2026-11-25"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    org = build_organization(accounts=5, months=2, today=TODAY)
    root = tmp_path_factory.mktemp("exports")
    write_exports(org, root, formats=("cur2",))
    return org, root, schema.to_frame(org.invoices), read_cost_export(root)


def _spend(summaries):
    from invoicekit import documents

    return summaries[documents.is_spend(summaries)]


@pytest.mark.parametrize("by", ["linked_account", "tag:team", "cost_category:CostCenter"])
def test_allocations_add_up_to_every_invoice_in_every_view(case, by):
    org, root, summaries, costs = case
    table = allocate(summaries, costs, by=by)
    spend = _spend(summaries)
    assert set(table["invoice_id"]) == set(spend["invoice_id"])
    for rec in spend.to_dict("records"):
        mine = table[table["invoice_id"] == rec["invoice_id"]]
        for view in ("base", "tax", "payment"):
            rows = mine[mine["view"] == view]
            assert set(rows["currency"]) == {rec[f"{view}_currency"]}
            unit = minor_unit(rec[f"{view}_currency"])
            for comp in ("subtotal", "discounts", "fees", "taxes", "total"):
                assert sum(rows[comp], Decimal(0)) == rec[f"{view}_{comp}"], (
                    rec["invoice_id"],
                    view,
                    comp,
                )
                assert all(x % unit == 0 for x in rows[comp])
            for r in rows.itertuples():
                assert r.total == r.subtotal + r.discounts + r.fees + r.taxes


def test_untagged_cost_is_its_own_line(case):
    org, root, summaries, costs = case
    table = allocate(summaries, costs, by="tag:team")
    untagged = table[(table["value"] == UNTAGGED) & (table["view"] == "base")]
    assert len(untagged) > 0
    assert sum(untagged["total"], Decimal(0)) > 0


def test_linked_account_shares_follow_the_lines(case):
    org, root, summaries, costs = case
    table = allocate(summaries, costs, by="linked_account", month="2026-10")
    inv = _spend(summaries)
    inv = inv[inv["billing_period"].astype(str) == "2026-10"].iloc[0]
    # independent: the charge lines of that invoice per usage account, straight from parquet
    weights: dict[str, Fraction] = {}
    for f in root.rglob("BILLING_PERIOD=2026-10/*.parquet"):
        t = pq.read_table(f, columns=["bill_invoice_id", "line_item_usage_account_id",
                                      "line_item_line_item_type", "line_item_unblended_cost"]).to_pylist()  # fmt: skip
        for r in t:
            if r["bill_invoice_id"] == inv["invoice_id"] and r["line_item_line_item_type"] not in (
                "Tax", "Fee", "EdpDiscount", "Credit"):  # fmt: skip
                a = r["line_item_usage_account_id"]
                weights[a] = weights.get(a, Fraction(0)) + Fraction(
                    Decimal(repr(r["line_item_unblended_cost"]))
                )
    total_w = sum(weights.values())
    rows = table[(table["invoice_id"] == inv["invoice_id"]) & (table["view"] == "payment")]
    unit = minor_unit(inv["payment_currency"])
    members = {m.account_id for m in org.members[inv["account_id"]]}
    assert set(rows["value"]) <= members
    for r in rows.itertuples():
        exact = Fraction(inv["payment_subtotal"]) * weights[r.value] / total_w
        assert abs(Fraction(r.subtotal) - exact) < Fraction(unit)


def test_business_unit_uses_the_mapping(case, tmp_path):
    org, root, summaries, costs = case
    payer = org.accounts[0].account_id
    members = [m.account_id for m in org.members[payer]]
    csv = tmp_path / "bu.csv"
    csv.write_text("account_id,business_unit\n" + "".join(f"{a},Retail\n" for a in members[:2]))
    table = allocate(summaries, costs, by="business_unit", business_units=str(csv), month="2026-10")
    mine = table[(table["payer_account_id"] == payer) & (table["view"] == "base")]
    assert set(mine["value"]) <= {"Retail", "(unallocated)"}
    assert "Retail" in set(mine["value"])
    for inv_id, rows in mine.groupby("invoice_id"):
        expected = summaries[summaries["invoice_id"] == inv_id]["base_total"].iloc[0]
        assert sum(rows["total"], Decimal(0)) == expected


def test_largest_remainder_is_exact_and_fair():
    parts = largest_remainder(Decimal("10.00"), [Fraction(1)] * 3, Decimal("0.01"))
    assert parts == [Decimal("3.34"), Decimal("3.33"), Decimal("3.33")]
    mixed = largest_remainder(Decimal("-7"), [Fraction(5), Fraction(-1), Fraction(3)], Decimal(1))
    assert sum(mixed) == Decimal(-7)


def test_bad_dimension_names_the_flag(case):
    org, root, summaries, costs = case
    with pytest.raises(InvalidArgumentError, match="--by"):
        allocate(summaries, costs, by="team")


@pytest.mark.parametrize("fmt", ["cur2", "focus"])
def test_linked_accounts_carry_the_member_names(case, tmp_path, fmt):
    org, root, summaries, costs = case
    if fmt == "focus":
        write_exports(org, tmp_path, formats=("focus",))
        costs = read_cost_export(tmp_path)
    table = allocate(summaries, costs, by="linked_account")
    names = {m.account_id: m.name for ms in org.members.values() for m in ms}
    accounts = table[table["value"].isin(names)]
    assert len(accounts) > 0 and accounts["value_name"].notna().all()
    assert {v: n for v, n in zip(accounts["value"], accounts["value_name"], strict=True)} == {
        v: names[v] for v in accounts["value"]
    }
    # the placeholders (no lines, no account) have no name
    assert table[~table["value"].isin(names)]["value_name"].isna().all()


def test_other_dimensions_have_no_value_name(case):
    org, root, summaries, costs = case
    table = allocate(summaries, costs, by="tag:team", month="2026-10")
    assert list(table.columns) == ALLOCATION_COLUMNS
    assert table["value_name"].isna().all()


def test_an_export_without_the_name_column_still_allocates(case, tmp_path):
    import shutil

    org, root, summaries, costs = case
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    for f in copy.rglob("*.parquet"):
        t = pq.read_table(f)
        pq.write_table(t.drop(["line_item_usage_account_name"]), f)
    named = allocate(summaries, costs, by="linked_account", month="2026-10")
    table = allocate(summaries, read_cost_export(copy), by="linked_account", month="2026-10")
    assert table["value_name"].isna().all()
    assert table.drop(columns="value_name").equals(named.drop(columns="value_name"))
