"""``invoicekit allocate``: rows that add up to each invoice, per dimension (issue 13)."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from invoicekit import schema
from invoicekit.cli import EXIT_BAD_INPUT, EXIT_OK, main
from invoicekit.sandbox.exports import write_exports
from invoicekit.sandbox.org import build_organization


def _run(argv):
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    org = build_organization(accounts=3, months=2, today="2026-11-25")
    d = tmp_path_factory.mktemp("allocate")
    schema.to_parquet(schema.to_frame(org.invoices), d / "s.parquet")
    write_exports(org, d / "x", formats=("focus",))
    return d, org


def test_allocate_by_tag_writes_rows_adding_up_to_each_invoice(files, capsys):
    d, org = files
    out = d / "by-team.csv"
    code = _run(["allocate", "--summaries", str(d / "s.parquet"), "--costs", str(d / "x"),
                 "--month", "2026-10", "--by", "tag:team", "--output", str(out)])  # fmt: skip
    assert code == EXIT_OK
    rows = list(csv.DictReader(out.open()))
    totals: dict[tuple[str, str], Decimal] = {}
    for r in rows:
        key = (r["invoice_id"], r["view"])
        totals[key] = totals.get(key, Decimal(0)) + Decimal(r["total"])
    views = {
        "base": "BaseCurrencyAmount",
        "tax": "TaxCurrencyAmount",
        "payment": "PaymentCurrencyAmount",
    }
    checked = 0
    for inv in org.invoices:
        if (inv["BillingPeriod"]["Month"], inv["InvoiceType"]) == (10, "INVOICE") and not inv.get(
            "CommercialInvoiceId"
        ):
            for view, key in views.items():
                assert totals[(inv["InvoiceId"], view)] == Decimal(inv[key]["TotalAmount"])
                checked += 1
    assert checked >= 6
    assert "(untagged)" in {r["value"] for r in rows}
    assert "Allocated" in capsys.readouterr().out


def test_unknown_dimension_exits_2(files, capsys):
    d, _ = files
    code = _run(["allocate", "--summaries", str(d / "s.parquet"), "--costs", str(d / "x"),
                 "--by", "colour"])  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert "--by" in capsys.readouterr().err


def test_allocate_by_linked_account_prints_name_and_id(files, capsys):
    d, org = files
    out = d / "by-account.csv"
    code = _run(["allocate", "--summaries", str(d / "s.parquet"), "--costs", str(d / "x"),
                 "--month", "2026-10", "--by", "linked_account", "--output", str(out)])  # fmt: skip
    assert code == EXIT_OK
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    names = {m.account_id: m.name for ms in org.members.values() for m in ms}
    accounts = {r["value"] for r in rows if r["value"] in names}
    assert accounts
    for r in rows:
        if r["value"] in names:
            assert r["value_name"] == names[r["value"]]
    # the accounts listed (the largest, per currency) read "Name (id)"
    listed = [a for a in accounts if f"{names[a]} ({a})" in printed]
    assert listed, printed
    assert all(f"    {a} " not in printed for a in listed)  # never the bare id
