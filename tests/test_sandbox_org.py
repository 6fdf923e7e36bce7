"""The sandbox's synthetic organization: determinism, exact arithmetic, anomalies, wire shape, PDFs.

Pure tests: no server. Each check is recomputed here from the wire data with Decimal, so that a
broken generator (or a broken planted anomaly) fails a test.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import botocore.session
import pypdf
import pytest

from invoicekit.errors import InvalidArgumentError
from invoicekit.sandbox.org import (
    ANOMALY_CHECKS,
    ENTITY_EMEA,
    ENTITY_INDIA,
    ENTITY_JAPAN,
    ENTITY_US,
    build_organization,
)

TODAY = "2026-11-25"
VIEWS = {
    "BaseCurrencyAmount": "base",
    "TaxCurrencyAmount": "tax",
    "PaymentCurrencyAmount": "payment",
}
MINOR = {"USD": 2, "EUR": 2, "GBP": 2, "INR": 2, "JPY": 0}


@pytest.fixture(scope="module")
def org():
    return build_organization(seed=7, today=TODAY)


@pytest.fixture(scope="module")
def anomalous():
    return build_organization(seed=7, today=TODAY, anomalies=True)


# --------------------------------------------------------------------------------------------
# An independent checker: every error-severity problem the contract's reconcile checks name
# --------------------------------------------------------------------------------------------


def d(text: str) -> Decimal:
    assert isinstance(text, str), f"amount {text!r} is not a decimal string"
    return Decimal(text)


def components(view: dict) -> dict[str, Decimal]:
    b = view["AmountBreakdown"]
    return {
        "total": d(view["TotalAmount"]),
        "total_before_tax": d(view["TotalAmountBeforeTax"]),
        "subtotal": d(b["SubTotalAmount"]),
        "discounts": d(b["Discounts"]["TotalAmount"]),
        "taxes": d(b["Taxes"]["TotalAmount"]),
        "fees": d(b["Fees"]["TotalAmount"]),
    }


def unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR[currency])


def problems(org) -> list[tuple[str, str | None, str, str | None]]:
    """(check, invoice_id, account_id|period, view) for every error found."""
    out = []
    # a tax authority's cancellation is a late event the organization lists, not a defect
    cancelled_late = {e["invoice_id"] for e in org.late_events if e["kind"] == "tax_cancelled"}
    by_id = defaultdict(list)
    for inv in org.invoices:
        by_id[inv["InvoiceId"]].append(inv)
    for inv in org.invoices:
        iid = inv["InvoiceId"]
        base = components(inv["BaseCurrencyAmount"])
        for key, name in VIEWS.items():
            c = components(inv[key])
            if c["total"] != c["total_before_tax"] + c["taxes"]:
                out.append(("arithmetic_total", iid, inv["AccountId"], name))
            if c["total_before_tax"] != c["subtotal"] + c["discounts"] + c["fees"]:
                out.append(("arithmetic_before_tax", iid, inv["AccountId"], name))
            if inv["InvoiceType"] != "CREDIT_MEMO" and c["discounts"] > 0:
                out.append(("discount_sign", iid, inv["AccountId"], name))
            fx = inv[key].get("CurrencyExchangeDetails")
            if fx:
                rate = d(fx["Rate"])
                cur = inv[key]["CurrencyCode"]
                for comp, value in c.items():
                    if abs(value - base[comp] * rate) > unit(cur):
                        out.append(("exchange", iid, inv["AccountId"], name))
                        break
        if inv["InvoiceType"] == "CREDIT_MEMO" and inv["OriginalInvoiceId"] not in by_id:
            out.append(("credit_memo_original", iid, inv["AccountId"], None))
        if "CommercialInvoiceId" in inv and inv["CommercialInvoiceId"] not in by_id:
            out.append(("tax_invoice_commercial", iid, inv["AccountId"], None))
        if inv.get("TaxAuthorityStatus") == "CANCELLED" and iid not in cancelled_late:
            out.append(("tax_authority_cancelled", iid, inv["AccountId"], None))
    for iid, versions in by_id.items():
        if len({json.dumps(v, sort_keys=True) for v in versions}) > 1:
            out.append(("duplicate_invoice", iid, versions[0]["AccountId"], None))
    present = {
        (i["AccountId"], (i["BillingPeriod"]["Year"], i["BillingPeriod"]["Month"]))
        for i in org.invoices
        if i["InvoiceType"] == "INVOICE"
    }
    for account in org.accounts:
        for period in org.periods:
            if (account.account_id, period) not in present:
                out.append(
                    ("completeness", None, account.account_id, f"{period[0]}-{period[1]:02d}")
                )
    return out


# --------------------------------------------------------------------------------------------
# Determinism and shape of the organization
# --------------------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_invoices_line_items_and_pdfs(org):
    again = build_organization(seed=7, today=TODAY)
    assert json.dumps(again.invoices) == json.dumps(org.invoices)
    assert again.line_items == org.line_items
    assert again.admin_view() == org.admin_view()
    sample = [doc.document_id for doc in org.documents[::97]]
    assert [again.render_pdf(x) for x in sample] == [org.render_pdf(x) for x in sample]


_DIGEST_SCRIPT = """
import hashlib, json
from invoicekit.sandbox.org import build_organization
org = build_organization(seed=7, accounts=4, months=6, today="2026-11-25", anomalies=True)
h = hashlib.sha256(json.dumps([org.invoices, org.line_items, org.anomalies]).encode())
for doc in org.documents[::5]:
    h.update(org.render_pdf(doc.document_id))
print(h.hexdigest())
"""


def test_output_is_identical_across_processes_and_hash_seeds():
    digests = set()
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_different_seed_gives_a_different_organization(org):
    other = build_organization(seed=8, today=TODAY)
    mine = {i["InvoiceId"]: i["BaseCurrencyAmount"]["TotalAmount"] for i in org.invoices}
    theirs = {i["InvoiceId"]: i["BaseCurrencyAmount"]["TotalAmount"] for i in other.invoices}
    assert mine != theirs
    assert len(set(mine) & set(theirs)) < len(mine) // 10
    assert other.accounts[0].secret_access_key != org.accounts[0].secret_access_key
    doc = org.documents[0].document_id
    other_doc = other.documents[0].document_id
    assert org.render_pdf(doc) != other.render_pdf(other_doc)


def test_default_organization_is_realistic(org):
    assert len(org.accounts) == 12
    assert len({a.name for a in org.accounts}) == 12
    assert {a.account_id for a in org.accounts} == {f"1000000000{k:02d}" for k in range(1, 13)}
    assert {a.invoicing_entity for a in org.accounts} == {
        ENTITY_US,
        ENTITY_EMEA,
        ENTITY_JAPAN,
        ENTITY_INDIA,
    }
    assert {a.base_currency for a in org.accounts} == {"USD"}
    assert {"EUR", "GBP", "JPY", "INR"} <= {a.payment_currency for a in org.accounts}
    # somewhere the tax currency differs from the payment currency (EMEA paying in USD)
    assert any(a.tax_currency != a.payment_currency for a in org.accounts)
    kinds = {(i["Entity"]["BillingEntity"], i["BillType"], i["InvoiceType"]) for i in org.invoices}
    assert ("AWS", "ANNIVERSARY", "INVOICE") in kinds
    assert ("AWS_MARKETPLACE", "PURCHASE", "INVOICE") in kinds
    assert ("AWS", "REFUND", "CREDIT_MEMO") in kinds
    assert any("PurchaseOrderNumber" in i for i in org.invoices)
    assert any(
        i["BaseCurrencyAmount"]["AmountBreakdown"]["Fees"]["Breakdown"] for i in org.invoices
    )
    doc_types = {doc.document_type for doc in org.documents}
    assert doc_types == {
        "INVOICE",
        "PAYMENT_RECEIPT",
        "TAX_E_INVOICE",
        "GOVERNMENT_INVOICE",
        "SUPPLEMENT",
    }


def test_one_account_changed_its_payment_currency(org):
    currencies = defaultdict(set)
    for inv in org.invoices:
        currencies[inv["AccountId"]].add(inv["PaymentCurrencyAmount"]["CurrencyCode"])
    changed = [a for a in org.accounts if len(currencies[a.account_id]) > 1]
    assert [a.name for a in changed] == ["Retail France"]
    # the account record names the current payment currency
    latest = org.invoices_for(changed[0].account_id)[-1]
    assert latest["PaymentCurrencyAmount"]["CurrencyCode"] == changed[0].payment_currency == "EUR"


def test_bill_source_accounts_list_one_account_and_count_all(org):
    statuses = set()
    for inv in org.invoices:
        assert len(inv["BillSourceAccounts"]) == 1
        assert inv["BillSourceAccountsTotalCount"] >= 1
        statuses.add(inv.get("EinvoiceDeliveryStatus"))
    assert {"DELIVERED", "NOT_DELIVERED", None} == statuses


def test_invoices_are_ordered_and_ids_unique_in_a_clean_org(org):
    keys = [(i["AccountId"], i["IssuedDate"], i["InvoiceId"]) for i in org.invoices]
    assert keys == sorted(keys)
    ids = [i["InvoiceId"] for i in org.invoices]
    assert len(ids) == len(set(ids))


def test_larger_organizations_keep_unique_names_and_ids():
    big = build_organization(seed=7, accounts=100, months=3, today=TODAY)
    assert len({a.name for a in big.accounts}) == 100
    assert len({a.account_id for a in big.accounts}) == 100
    assert len({a.access_key_id for a in big.accounts}) == 100
    ids = [i["InvoiceId"] for i in big.invoices]
    assert len(ids) == len(set(ids))
    assert problems(big) == []


# --------------------------------------------------------------------------------------------
# Periods and dates
# --------------------------------------------------------------------------------------------


def test_periods_end_with_the_last_closed_month(org):
    assert len(org.periods) == 24
    assert org.periods[0] == (2024, 11) and org.periods[-1] == (2026, 10)
    jan = build_organization(seed=7, accounts=2, months=3, today=date(2027, 1, 1))
    assert jan.periods == [(2026, 10), (2026, 11), (2026, 12)]
    assert build_organization(accounts=1, months=1, today="2026-03-31").periods == [(2026, 2)]


def test_every_account_has_one_anniversary_invoice_per_unit_and_period_issued_early_next_month(
    org,
):
    seen = defaultdict(int)
    limit = datetime(2026, 11, 25, tzinfo=UTC).timestamp()
    for inv in org.invoices:
        issued = datetime.fromtimestamp(inv["IssuedDate"], tz=UTC)
        assert inv["IssuedDate"] <= limit, "no invoice is issued after 'today'"
        due = datetime.fromtimestamp(inv["DueDate"], tz=UTC)
        assert due - issued == timedelta(days=30)
        if inv["BillType"] != "ANNIVERSARY" or "CommercialInvoiceId" in inv:
            continue
        bp = inv["BillingPeriod"]
        seen[(inv["AccountId"], bp["Year"], bp["Month"])] += 1
        next_month = (bp["Year"] + bp["Month"] // 12, bp["Month"] % 12 + 1)
        assert (issued.year, issued.month) == next_month
        assert 1 <= issued.day <= 3
        assert inv["InvoiceFrequency"] == "RECURRING" and inv["Entity"]["BillingEntity"] == "AWS"
    # one per invoice unit as configured at the month's end, plus the payer's default invoice
    expected = {
        (a.account_id, y, m): 1 + len(org.units_at_month_end(a.account_id, (y, m)))
        for a in org.accounts
        for (y, m) in org.periods
    }
    assert dict(seen) == expected
    assert max(expected.values()) > 1, "the default organization has payers with units"


# --------------------------------------------------------------------------------------------
# Money: exact arithmetic, conversion, minor units, signs
# --------------------------------------------------------------------------------------------


def test_a_clean_organization_has_no_problem_of_any_error_check(org):
    assert problems(org) == []


def test_arithmetic_is_exact_in_every_view_and_breakdowns_add_up(org):
    for inv in org.invoices:
        for key in VIEWS:
            view = inv[key]
            c = components(view)
            assert c["total"] == c["total_before_tax"] + c["taxes"], inv["InvoiceId"]
            assert c["total_before_tax"] == c["subtotal"] + c["discounts"] + c["fees"]
            for part, comp in (("Discounts", "discounts"), ("Taxes", "taxes"), ("Fees", "fees")):
                items = view["AmountBreakdown"][part]["Breakdown"]
                assert sum((d(x["Amount"]) for x in items), Decimal(0)) == c[comp]


def test_converted_views_are_within_one_minor_unit_of_base_times_rate(org):
    converted = 0
    worst = Decimal(0)
    for inv in org.invoices:
        base = components(inv["BaseCurrencyAmount"])
        for key in ("TaxCurrencyAmount", "PaymentCurrencyAmount"):
            view = inv[key]
            fx = view.get("CurrencyExchangeDetails")
            if view["CurrencyCode"] == "USD":
                assert fx is None, "no exchange details without a conversion"
                assert components(view) == base
                continue
            converted += 1
            assert fx["SourceCurrencyCode"] == "USD"
            assert fx["TargetCurrencyCode"] == view["CurrencyCode"]
            rate = d(fx["Rate"])
            for comp, value in components(view).items():
                exact = base[comp] * rate
                error = abs(value - exact) / unit(view["CurrencyCode"])
                worst = max(worst, error)
                assert error < 1, (inv["InvoiceId"], key, comp, value, exact)
    assert converted > 100
    assert worst > Decimal("0.5"), "largest-remainder rounding must be exercised"


def test_every_amount_carries_exactly_the_currency_minor_units(org):
    pattern = {2: re.compile(r"-?\d+\.\d{2}"), 0: re.compile(r"-?\d+")}
    jpy = 0
    for inv in org.invoices:
        for key in VIEWS:
            view = inv[key]
            rx = pattern[MINOR[view["CurrencyCode"]]]
            jpy += view["CurrencyCode"] == "JPY"
            amounts = [view["TotalAmount"], view["TotalAmountBeforeTax"]]
            b = view["AmountBreakdown"]
            amounts.append(b["SubTotalAmount"])
            for part in ("Discounts", "Taxes", "Fees"):
                amounts.append(b[part]["TotalAmount"])
                amounts += [x["Amount"] for x in b[part]["Breakdown"]]
            for text in amounts:
                assert rx.fullmatch(text), (inv["InvoiceId"], view["CurrencyCode"], text)
                assert text not in ("-0.00", "-0")
    assert jpy > 0


def test_exchange_rates_are_realistic_and_monthly(org):
    rates = defaultdict(set)
    for inv in org.invoices:
        for key in ("TaxCurrencyAmount", "PaymentCurrencyAmount"):
            fx = inv[key].get("CurrencyExchangeDetails")
            if fx:
                rates[fx["TargetCurrencyCode"]].add(d(fx["Rate"]))
    ranges = {"EUR": (0.75, 1.1), "GBP": (0.65, 0.95), "JPY": (120, 180), "INR": (70, 100)}
    for cur, (lo, hi) in ranges.items():
        assert rates[cur], cur
        assert all(Decimal(str(lo)) < r < Decimal(str(hi)) for r in rates[cur]), cur
        assert len(rates[cur]) > 12, f"{cur} rates should move month to month"


def test_discounts_are_negative_and_taxes_follow_realistic_rates(org):
    tax_rates = set()
    discounted = 0
    for inv in org.invoices:
        b = inv["BaseCurrencyAmount"]["AmountBreakdown"]
        sub = d(b["SubTotalAmount"])
        before = d(inv["BaseCurrencyAmount"]["TotalAmountBeforeTax"])
        for item in b["Discounts"]["Breakdown"]:
            assert d(item["Amount"]) < 0
            discounted += 1
            if "Rate" in item:
                expected = -(sub * d(item["Rate"])).quantize(Decimal("0.01"), ROUND_HALF_UP)
                assert d(item["Amount"]) == expected
        for item in b["Taxes"]["Breakdown"]:
            rate = d(item["Rate"])
            tax_rates.add(rate)
            assert d(item["Amount"]) == (before * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert discounted > 24
    assert {Decimal("0.19"), Decimal("0.20"), Decimal("0.10"), Decimal("0.09")} <= tax_rates


def test_credit_memos_refund_an_earlier_invoice_of_the_same_account(org):
    by_id = {i["InvoiceId"]: i for i in org.invoices}
    memos = [i for i in org.invoices if i["InvoiceType"] == "CREDIT_MEMO"]
    assert len(memos) >= 3
    for memo in memos:
        assert memo["BillType"] == "REFUND"
        original = by_id[memo["OriginalInvoiceId"]]
        assert original["AccountId"] == memo["AccountId"]
        assert original["InvoiceType"] == "INVOICE"
        assert original["IssuedDate"] < memo["IssuedDate"]
        for key in VIEWS:
            c = components(memo[key])
            assert c["total"] < 0 and c["subtotal"] < 0 and c["taxes"] <= 0
        assert d(memo["BaseCurrencyAmount"]["TotalAmount"]).copy_abs() < d(
            original["BaseCurrencyAmount"]["TotalAmount"]
        )


def test_india_tax_invoices_resolve_to_their_commercial_invoice(org):
    by_id = {i["InvoiceId"]: i for i in org.invoices}
    india = [a.account_id for a in org.accounts if a.invoicing_entity == ENTITY_INDIA]
    tax_invoices = [i for i in org.invoices if "CommercialInvoiceId" in i]
    assert india and len(tax_invoices) == len(india) * len(org.periods)
    cancelled_late = {e["invoice_id"] for e in org.late_events if e["kind"] == "tax_cancelled"}
    for tax in tax_invoices:
        assert tax["AccountId"] in india
        assert tax["InvoiceId"].startswith("AISPL")
        assert tax["InvoiceType"] == "INVOICE"
        cancelled = tax["InvoiceId"] in cancelled_late
        assert tax["TaxAuthorityStatus"] == ("CANCELLED" if cancelled else "ISSUED")
        commercial = by_id[tax["CommercialInvoiceId"]]
        assert "CommercialInvoiceId" not in commercial
        assert commercial["AccountId"] == tax["AccountId"]
        assert commercial["BillingPeriod"] == tax["BillingPeriod"]
        assert commercial["PaymentCurrencyAmount"]["CurrencyCode"] == "INR"
        types = [doc.document_type for doc in org.documents_for(tax["InvoiceId"])]
        assert types == ["INVOICE", "TAX_E_INVOICE", "GOVERNMENT_INVOICE"]


def test_line_items_sum_to_each_invoice_base_subtotal(org):
    sums = defaultdict(Decimal)
    aws_by_cell = defaultdict(Decimal)
    for item in org.line_items:
        sums[item["invoice_id"]] += d(item["amount_usd"])
        if item["billing_entity"] == "AWS" and item["line_item_type"] == "Usage":
            aws_by_cell[(item["account_id"], item["billing_period"])] += d(item["amount_usd"])
    anniversary_by_cell = defaultdict(Decimal)
    for inv in org.invoices:
        if "CommercialInvoiceId" in inv:  # a tax invoice restates its commercial invoice
            continue
        sub = d(inv["BaseCurrencyAmount"]["AmountBreakdown"]["SubTotalAmount"])
        assert sums.pop(inv["InvoiceId"]) == sub, inv["InvoiceId"]
        if inv["BillType"] == "ANNIVERSARY":
            bp = inv["BillingPeriod"]
            anniversary_by_cell[(inv["AccountId"], f"{bp['Year']}-{bp['Month']:02d}")] += sub
    # the month's usage is billed exactly once, across the default and the units' invoices
    assert dict(aws_by_cell) == dict(anniversary_by_cell)
    assert sums == {}, "every line item belongs to an invoice"


def test_line_items_name_a_member_account_of_the_invoice_unit_that_bills_them(org):
    members = {p: {m.account_id for m in ms} for p, ms in org.members.items()}
    assert set(members) == {a.account_id for a in org.accounts}
    for payer, ms in org.members.items():
        assert ms[0].account_id == payer and len(ms) >= 3
        assert all(m.payer_account_id == payer and m.attributes for m in ms)
    for item in org.line_items:
        assert item["usage_account_id"] in members[item["account_id"]]
        inv = org.invoices_by_id(item["invoice_id"])[0]
        if inv["BillType"] != "ANNIVERSARY":
            continue
        period = tuple(int(x) for x in item["billing_period"].split("-"))
        units = {u["InvoiceUnitArn"]: u for u in org.units_at_month_end(inv["AccountId"], period)}
        arn = org.unit_of_invoice(inv["InvoiceId"])
        in_units = {a for u in units.values() for a in u["Rule"]["LinkedAccounts"]}
        if arn is None:  # the default invoice bills the accounts in no unit
            assert item["usage_account_id"] not in in_units
        else:
            assert item["usage_account_id"] in units[arn]["Rule"]["LinkedAccounts"]


def test_cost_and_usage_view_agrees_with_the_invoices(org):
    cur = org.cost_and_usage()
    assert len(cur) == len(org.line_items)
    by_invoice = defaultdict(Decimal)
    for row in cur:
        assert row["line_item_currency_code"] == "USD"
        by_invoice[row["bill_invoice_id"]] += d(row["line_item_unblended_cost"])
    for inv in org.invoices:
        if "CommercialInvoiceId" not in inv:
            sub = inv["BaseCurrencyAmount"]["AmountBreakdown"]["SubTotalAmount"]
            assert by_invoice[inv["InvoiceId"]] == d(sub)


def test_usage_shows_growth_and_a_retail_q4_peak(org):
    spend = defaultdict(Decimal)
    for item in org.line_items:
        if item["billing_entity"] == "AWS" and item["line_item_type"] == "Usage":
            spend[(item["account_id"], item["billing_period"])] += d(item["amount_usd"])
    months = [f"{y}-{m:02d}" for y, m in org.periods]
    first_year = sum(v for (a, p), v in spend.items() if p in months[:12])
    second_year = sum(v for (a, p), v in spend.items() if p in months[12:])
    assert second_year > first_year * Decimal("1.05")
    retail = org.accounts[0].account_id  # Retail EU
    q4 = spend[(retail, "2025-11")] + spend[(retail, "2025-12")]
    summer = spend[(retail, "2025-07")] + spend[(retail, "2025-08")]
    assert q4 > summer * Decimal("1.25")


# --------------------------------------------------------------------------------------------
# Anomalies
# --------------------------------------------------------------------------------------------


def test_a_clean_organization_lists_no_anomalies(org):
    assert org.anomalies == ()


def test_anomaly_records_follow_the_contract(anomalous):
    kinds = defaultdict(int)
    for rec in anomalous.anomalies:
        assert set(rec) == {
            "kind",
            "check",
            "account_id",
            "invoice_id",
            "billing_period",
            "view",
            "detail",
        }
        assert rec["check"] == ANOMALY_CHECKS[rec["kind"]]
        assert re.fullmatch(r"\d{4}-\d{2}", rec["billing_period"])
        assert rec["detail"]
        kinds[rec["kind"]] += 1
    assert set(kinds) == set(ANOMALY_CHECKS)
    assert all(n >= 2 for n in kinds.values())
    json.dumps(list(anomalous.anomalies))
    again = build_organization(seed=7, today=TODAY, anomalies=True)
    assert again.anomalies == anomalous.anomalies
    assert json.dumps(again.invoices) == json.dumps(anomalous.invoices)


def _period(inv: dict) -> str:
    return f"{inv['BillingPeriod']['Year']}-{inv['BillingPeriod']['Month']:02d}"


def test_each_anomaly_is_wrong_in_the_data_the_way_its_record_says(anomalous):
    known_ids = {i["InvoiceId"] for i in anomalous.invoices}
    for rec in anomalous.anomalies:
        kind, iid = rec["kind"], rec["invoice_id"]
        if kind == "missing_invoice":
            assert iid is None
            assert not [
                i
                for i in anomalous.invoices
                if i["AccountId"] == rec["account_id"]
                and _period(i) == rec["billing_period"]
                and i["InvoiceType"] == "INVOICE"
            ]
            # the usage is still there: the invoice is what went missing
            assert any(
                li["account_id"] == rec["account_id"]
                and li["billing_period"] == rec["billing_period"]
                for li in anomalous.line_items
            )
            continue
        versions = anomalous.invoices_by_id(iid)
        assert versions and all(v["AccountId"] == rec["account_id"] for v in versions)
        assert all(_period(v) == rec["billing_period"] for v in versions)
        inv = versions[0]
        if kind == "total_mismatch":
            key = {v: k for k, v in VIEWS.items()}[rec["view"]]
            c = components(inv[key])
            assert c["total"] != c["total_before_tax"] + c["taxes"]
        elif kind == "fx_mismatch":
            key = {v: k for k, v in VIEWS.items()}[rec["view"]]
            view, base = inv[key], components(inv["BaseCurrencyAmount"])
            rate = d(view["CurrencyExchangeDetails"]["Rate"])
            c = components(view)
            assert c["total"] == c["total_before_tax"] + c["taxes"], "only the rate is wrong"
            assert abs(c["total"] - base["total"] * rate) > unit(view["CurrencyCode"])
        elif kind == "orphan_credit_memo":
            assert inv["InvoiceType"] == "CREDIT_MEMO"
            assert inv["OriginalInvoiceId"] not in known_ids
        elif kind == "duplicate_invoice_id":
            assert len(versions) == 2
            totals = {v["BaseCurrencyAmount"]["TotalAmount"] for v in versions}
            assert len(totals) == 2


def test_planted_anomalies_are_the_only_problems(anomalous):
    found = problems(anomalous)
    planted = {(r["check"], r["invoice_id"]) for r in anomalous.anomalies}
    planted_cells = {
        (r["account_id"], r["billing_period"])
        for r in anomalous.anomalies
        if r["invoice_id"] is None
    }
    for check, iid, where, view in found:
        if check == "completeness":
            assert (where, view) in planted_cells
        else:
            assert (check, iid) in planted, (check, iid, view)
    # and every planted one is found by the independent checker
    found_keys = {(c, i) for c, i, _, _ in found}
    for r in anomalous.anomalies:
        if r["invoice_id"] is not None:
            assert (r["check"], r["invoice_id"]) in found_keys, r


def test_anomalies_are_planted_in_small_organizations_without_failing():
    tiny = build_organization(seed=3, accounts=1, months=1, today=TODAY, anomalies=True)
    assert all(r["check"] == ANOMALY_CHECKS[r["kind"]] for r in tiny.anomalies)


# --------------------------------------------------------------------------------------------
# Wire shape (botocore's service model is the authority)
# --------------------------------------------------------------------------------------------


def _validate(value, shape, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), path
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{path}: members not in the model: {unknown}"
        for name, member in value.items():
            _validate(member, shape.members[name], f"{path}.{name}")
    elif kind == "list":
        assert isinstance(value, list), path
        for k, item in enumerate(value):
            _validate(item, shape.member, f"{path}[{k}]")
    elif kind == "string":
        assert isinstance(value, str), path
        if shape.enum:
            assert value in shape.enum, f"{path}: {value!r} not in {shape.enum}"
        meta = shape.metadata
        if "pattern" in meta:
            assert re.fullmatch(meta["pattern"], value), f"{path}: {value!r} !~ {meta['pattern']}"
        assert meta.get("min", 0) <= len(value) <= meta.get("max", 10**9), path
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), path
    elif kind == "timestamp":
        assert isinstance(value, float), f"{path}: epoch seconds travel as numbers"
    else:  # pragma: no cover - the model has no other types here
        raise AssertionError(f"{path}: unexpected shape type {kind}")


def test_every_invoice_validates_against_the_botocore_invoice_summary_shape(anomalous):
    model = botocore.session.get_session().get_service_model("invoicing")
    shape = model.shape_for("InvoiceSummary")
    for inv in anomalous.invoices:
        _validate(inv, shape, inv["InvoiceId"])
        assert 1 <= inv["BillingPeriod"]["Month"] <= 12
        assert 2005 <= inv["BillingPeriod"]["Year"] <= 2050
        # JSON round trip keeps it identical (nothing that JSON cannot carry)
        assert json.loads(json.dumps(inv)) == inv


# --------------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------------


def _text(pdf: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return len(reader.pages), reader.pages[0].extract_text()


def test_documents_are_listed_main_first_and_resolvable(org):
    ids = [doc.document_id for doc in org.documents]
    assert len(ids) == len(set(ids))
    for inv in org.invoices[:60]:
        docs = org.documents_for(inv["InvoiceId"])
        assert docs[0].document_type == "INVOICE" and docs[0].document_id == inv["InvoiceId"]
        for k, doc in enumerate(docs[1:], start=1):
            assert doc.document_id == f"{inv['InvoiceId']}-SUPPLEMENT-{k}"
            assert org.document(doc.document_id) == doc
            assert doc.account_id == inv["AccountId"]
    with pytest.raises(KeyError):
        org.document("nope")
    assert org.documents_for("nope") == []


def test_invoice_pdfs_are_one_page_and_show_id_account_and_totals(org):
    picked = {}
    for inv in org.invoices:  # one invoice per (entity, type, bill type)
        key = (inv["Entity"]["InvoicingEntity"], inv["InvoiceType"], inv["BillType"])
        picked.setdefault(key, inv)
    assert len(picked) >= 8
    for inv in picked.values():
        pdf = org.render_pdf(inv["InvoiceId"])
        assert pdf.startswith(b"%PDF-")
        pages, text = _text(pdf)
        assert pages == 1
        assert inv["InvoiceId"] in text and inv["AccountId"] in text
        assert org.account(inv["AccountId"]).name in text
        assert inv["Entity"]["InvoicingEntity"] in text
        for key in VIEWS:
            assert inv[key]["TotalAmount"] in text
        for key in ("TaxCurrencyAmount", "PaymentCurrencyAmount"):
            fx = inv[key].get("CurrencyExchangeDetails")
            if fx:
                assert fx["Rate"] in text
        assert org.render_pdf(inv["InvoiceId"]) is pdf, "rendered once, then cached"


def test_supplemental_documents_name_their_type_and_invoice(org):
    seen = set()
    for doc in org.documents:
        if doc.document_type == "INVOICE" or doc.document_type in seen:
            continue
        seen.add(doc.document_type)
        pages, text = _text(org.render_pdf(doc.document_id))
        assert pages == 1
        assert doc.document_id in text and doc.document_type in text
        assert doc.invoice_id in text and doc.account_id in text
    assert seen == {"PAYMENT_RECEIPT", "TAX_E_INVOICE", "GOVERNMENT_INVOICE", "SUPPLEMENT"}


# --------------------------------------------------------------------------------------------
# Credentials and admin view
# --------------------------------------------------------------------------------------------


def test_sandbox_credentials_map_keys_to_accounts(org):
    for account in org.accounts:
        assert re.fullmatch(r"AKIASANDBOX\d{9}", account.access_key_id)
        assert int(account.access_key_id[-9:]) == account.index
        assert len(account.secret_access_key) == 40
        assert org.account_for_key(account.access_key_id) is account
        assert org.account(account.account_id) is account
        assert account.role_arn == f"arn:aws:iam::{account.account_id}:role/InvoiceReader"
        assert account.external_id == "finops-sandbox"
    assert org.account_for_key(org.org_access_key_id) is None
    assert org.account_for_key("AKIAFAKEFAKEFAKEFAKE") is None
    assert len(org.org_access_key_id) == 20
    assert org.org_secret_access_key not in {a.secret_access_key for a in org.accounts}
    with pytest.raises(KeyError):
        org.account("999999999999")


def test_admin_view_is_json_and_lists_every_account_with_credentials(org):
    view = json.loads(json.dumps(org.admin_view()))
    assert view["periods"][0] == "2024-11" and view["periods"][-1] == "2026-10"
    assert view["organization"]["access_key_id"] == org.org_access_key_id
    assert view["organization"]["secret_access_key"] == org.org_secret_access_key
    listed = {a["account_id"]: a for a in view["accounts"]}
    assert set(listed) == {a.account_id for a in org.accounts}
    for account in org.accounts:
        row = listed[account.account_id]
        assert row["name"] == account.name
        assert row["access_key_id"] == account.access_key_id
        assert row["secret_access_key"] == account.secret_access_key
        assert row["role_arn"] == account.role_arn
        assert row["payment_currency"] == account.payment_currency
        assert row["invoices"] == len(org.invoices_for(account.account_id))


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{"accounts": 0}, {"months": 0}, {"seed": "x"}, {"today": "not-a-date"}, {"accounts": 2.5}],
)
def test_bad_arguments_are_refused_with_invalid_argument_error(kwargs):
    with pytest.raises(InvalidArgumentError):
        build_organization(**kwargs)


def test_today_defaults_to_business_today(monkeypatch):
    from invoicekit import clock

    monkeypatch.setenv(clock.ENV, "2030-01-15T08:00:00Z")
    assert build_organization(accounts=1, months=1).today == date(2030, 1, 15)
    with clock.pinned("2027-06-01"):
        org = build_organization(accounts=1, months=1)
    assert org.today == date(2027, 6, 1)
    assert org.periods == [(2027, 5)]


def test_today_defaults_to_the_real_utc_date_without_a_business_time(monkeypatch):
    from invoicekit import clock

    monkeypatch.delenv(clock.ENV, raising=False)
    monkeypatch.setattr(clock, "_pinned", None)
    before = datetime.now(UTC).date()
    org = build_organization(accounts=1, months=1)
    assert before <= org.today <= datetime.now(UTC).date()
