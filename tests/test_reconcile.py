"""Reconciliation checks, exact totals, month-end table, completeness grid and AP export.

Frames are built by hand with the contract's dtypes (``schema.DTYPES``) so every expected value
is computed here with Python ``Decimal``, independently of the code under test.
"""

from __future__ import annotations

import random
from decimal import Decimal as D

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicekit import schema
from invoicekit.errors import InvalidArgumentError
from invoicekit.reconcile import (
    CHECKS,
    FINDING_COLUMNS,
    completeness_grid,
    coverage,
    export_ap,
    month_end_table,
    reconcile_invoices,
    totals,
)

COMPONENTS = ("total", "total_before_tax", "subtotal", "discounts", "taxes", "fees")
MONEY = schema.DTYPES["base_total"]


# --------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------


def view(subtotal: str, discounts: str = "0", fees: str = "0", taxes: str = "0") -> dict:
    """A view that adds up under the documented convention (discounts negative)."""
    before = D(subtotal) + D(discounts) + D(fees)
    return {
        "subtotal": D(subtotal),
        "discounts": D(discounts),
        "fees": D(fees),
        "taxes": D(taxes),
        "total_before_tax": before,
        "total": before + D(taxes),
    }


def converted(base: dict, rate: str, currency: str, shift: dict | None = None) -> dict:
    """``base`` x ``rate``: parts rounded half-up to the minor unit, sums derived from them.

    Like an invoice, the converted view adds up exactly; ``shift`` then moves components.
    """
    from invoicekit._money import quantize

    out = {
        c: quantize(base[c] * D(rate), currency) for c in ("subtotal", "discounts", "fees", "taxes")
    }
    out["total_before_tax"] = out["subtotal"] + out["discounts"] + out["fees"]
    out["total"] = out["total_before_tax"] + out["taxes"]
    for c, delta in (shift or {}).items():
        out[c] += D(delta)
    return out


def invoice(
    invoice_id: str,
    *,
    account: str = "100000000001",
    period: str = "2026-09",
    kind: str = "INVOICE",
    base: dict | None = None,
    base_currency: str = "USD",
    payment: dict | None = None,
    payment_currency: str | None = None,
    payment_rate: str | None = None,
    payment_source: str | None = None,
    tax: dict | None = None,
    tax_currency: str | None = None,
    tax_rate: str | None = None,
    tax_source: str | None = None,
    **extra: object,
) -> dict:
    row: dict = {
        "account_id": account,
        "account_name": f"Account {account[-2:]}",
        "invoice_id": invoice_id,
        "invoice_type": kind,
        "billing_period": period,
        "issued_date": pd.Timestamp(period + "-01", tz="UTC") + pd.DateOffset(months=1, days=1),
        "due_date": pd.Timestamp(period + "-01", tz="UTC") + pd.DateOffset(months=2, days=1),
        "invoicing_entity": "Amazon Web Services, Inc.",
        "billing_entity": "AWS",
    }
    base = base if base is not None else view("100.00", "-10.00", "0", "18.00")
    views = {"base": (base, base_currency, None, None)}
    if payment is not None:
        views["payment"] = (payment, payment_currency, payment_rate, payment_source)
    if tax is not None:
        views["tax"] = (tax, tax_currency, tax_rate, tax_source)
    for v, (amounts, currency, rate, source) in views.items():
        row[f"{v}_currency"] = currency
        for c in COMPONENTS:
            row[f"{v}_{c}"] = amounts[c]
        row[f"{v}_fx_rate"] = D(rate) if rate is not None else None
        row[f"{v}_fx_source"] = source
    row.update(extra)
    return row


def frame(rows: list[dict]) -> pd.DataFrame:
    data = {}
    for col in schema.COLUMNS:
        values = [r.get(col) for r in rows]
        dtype = schema.DTYPES[col]
        if col == "billing_period":
            data[col] = pd.PeriodIndex(values, freq="M")
        elif col in ("issued_date", "due_date"):
            data[col] = pd.to_datetime(values, utc=True)
        else:
            data[col] = pd.array(values, dtype=dtype)
    return pd.DataFrame(data)


def only(findings: pd.DataFrame, check: str) -> pd.DataFrame:
    return findings[findings["check"] == check].reset_index(drop=True)


def dec(value) -> D:
    return D(str(value))


# --------------------------------------------------------------------------------------------
# Shape of the findings
# --------------------------------------------------------------------------------------------


def test_findings_have_the_contract_columns_and_exact_decimal_dtypes():
    clean = reconcile_invoices(frame([invoice("I-1")]))
    assert list(clean.columns) == FINDING_COLUMNS == [
        "check", "severity", "account_id", "invoice_id", "billing_period", "view",
        "currency", "expected", "actual", "difference", "message", "finding_id",
    ]  # fmt: skip
    assert clean.empty
    for col in ("expected", "actual", "difference"):
        assert clean[col].dtype == MONEY
    assert clean["billing_period"].dtype == pd.PeriodDtype("M")
    assert list(CHECKS) == [
        "arithmetic_total", "arithmetic_before_tax", "discount_sign", "exchange", "completeness",
        "duplicate_invoice", "credit_memo_original", "credit_memo_net", "tax_invoice_commercial",
        "tax_authority_cancelled", "payment_currency_change",
    ]  # fmt: skip


def test_consistent_invoices_give_no_finding():
    base = view("1234.56", "-123.45", "25.00", "227.36")
    rows = [
        invoice("I-1", period="2026-08", base=base,
                payment=converted(base, "0.912345", "EUR"), payment_currency="EUR",
                payment_rate="0.912345", payment_source="USD"),
        invoice("I-2", period="2026-09", base=base,
                payment=converted(base, "0.912345", "EUR"), payment_currency="EUR",
                payment_rate="0.912345", payment_source="USD"),
    ]  # fmt: skip
    assert reconcile_invoices(frame(rows)).empty


# --------------------------------------------------------------------------------------------
# Arithmetic and the discount sign convention
# --------------------------------------------------------------------------------------------


def test_arithmetic_total_finds_a_one_cent_error_exactly():
    base = view("100.00", "-10.00", "0", "18.00")
    base["total"] = D("108.01")  # before tax 90.00 + taxes 18.00 = 108.00
    findings = reconcile_invoices(frame([invoice("I-1", base=base)]))
    hit = only(findings, "arithmetic_total")
    assert len(hit) == 1
    row = hit.iloc[0]
    assert (row.severity, row.invoice_id, row.view, row.currency) == ("error", "I-1", "base", "USD")
    assert dec(row.expected) == D("108.00")
    assert dec(row.actual) == D("108.01")
    assert dec(row.difference) == D("0.01")
    assert str(row.billing_period) == "2026-09"


def test_arithmetic_before_tax_finds_a_wrong_subtotal():
    base = view("100.00", "-10.00", "5.00", "0")
    base["subtotal"] = D("100.10")  # 100.10 - 10.00 + 5.00 = 95.10, reported 95.00
    hit = only(reconcile_invoices(frame([invoice("I-1", base=base)])), "arithmetic_before_tax")
    assert len(hit) == 1
    assert dec(hit.expected[0]) == D("95.10")
    assert dec(hit.actual[0]) == D("95.00")
    assert dec(hit.difference[0]) == D("-0.10")
    assert hit.severity[0] == "error"


def test_arithmetic_checks_every_view_not_only_base():
    base = view("200.00", "0", "0", "40.00")
    payment = converted(base, "0.8", "GBP")
    payment["total"] += D("0.02")  # breaks arithmetic and exchange of the payment view
    rows = [invoice("I-1", base=base, payment=payment, payment_currency="GBP",
                    payment_rate="0.8", payment_source="USD")]  # fmt: skip
    hit = only(reconcile_invoices(frame(rows)), "arithmetic_total")
    assert list(hit["view"]) == ["payment"]
    assert hit.currency[0] == "GBP"


def test_positive_discount_that_balances_the_other_way_is_named_discount_sign():
    # Reported with the other convention: discount +10.00 and before tax = 100 - 10 = 90.
    base = {"subtotal": D("100.00"), "discounts": D("10.00"), "fees": D("0"),
            "taxes": D("18.00"), "total_before_tax": D("90.00"), "total": D("108.00")}  # fmt: skip
    findings = reconcile_invoices(frame([invoice("I-1", base=base)]))
    sign = only(findings, "discount_sign")
    assert len(sign) == 1
    assert sign.severity[0] == "warning"
    assert dec(sign.expected[0]) == D("110.00")  # what the documented convention expects
    assert dec(sign.actual[0]) == D("90.00")
    assert "other sign convention" in sign.message[0] and "10.00" in sign.message[0]
    # named, not silently passed, and not double-reported as an arithmetic error
    assert only(findings, "arithmetic_before_tax").empty


def test_positive_discount_that_balances_neither_way_is_an_arithmetic_error():
    base = {"subtotal": D("100.00"), "discounts": D("10.00"), "fees": D("0"),
            "taxes": D("0"), "total_before_tax": D("95.00"), "total": D("95.00")}  # fmt: skip
    findings = reconcile_invoices(frame([invoice("I-1", base=base)]))
    assert only(findings, "discount_sign").empty
    hit = only(findings, "arithmetic_before_tax")
    assert len(hit) == 1 and hit.severity[0] == "error"


def test_credit_memo_with_positive_discount_under_the_documented_convention_passes():
    # A credit memo reverses an invoice: subtotal -50, discount +5 (reversal), before tax -45.
    original = invoice("I-1", period="2026-08", base=view("100.00", "-10.00"))
    memo = invoice("C-1", kind="CREDIT_MEMO", base=view("-50.00", "5.00"),
                   original_invoice_id="I-1")  # fmt: skip
    findings = reconcile_invoices(frame([original, memo]))
    assert findings[findings["check"].isin(["discount_sign", "arithmetic_before_tax"])].empty


# --------------------------------------------------------------------------------------------
# Exchange: minor units of the target currency
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "rate", "within", "beyond"),
    [
        ("JPY", "150.5", "1", "2"),  # JPY has no minor unit: tolerance 1 yen
        ("KWD", "0.3071", "0.001", "0.002"),  # KWD has three: tolerance 0.001
        ("EUR", "0.912345", "0.01", "0.02"),
    ],
)
def test_exchange_tolerance_is_one_minor_unit_of_the_target_currency(
    currency, rate, within, beyond
):
    base = view("1234.00", "-12.00", "0", "122.00")
    ok = converted(base, rate, currency, shift={"subtotal": within})
    bad = converted(base, rate, currency, shift={"subtotal": beyond})
    exact_subtotal = base["subtotal"] * D(rate)
    # the shifted amounts really are that far from the exact conversion
    assert abs(ok["subtotal"] - exact_subtotal) <= D(within)
    assert abs(bad["subtotal"] - exact_subtotal) > D(within)
    rows = [
        invoice("OK-1", base=base, payment=ok, payment_currency=currency,
                payment_rate=rate, payment_source="USD"),
        invoice("BAD-1", base=base, payment=bad, payment_currency=currency,
                payment_rate=rate, payment_source="USD"),
    ]  # fmt: skip
    hit = only(reconcile_invoices(frame(rows)), "exchange")
    assert list(hit["invoice_id"]) == ["BAD-1"]
    row = hit.iloc[0]
    assert (row.severity, row.view, row.currency) == ("error", "payment", currency)
    from invoicekit._money import quantize

    assert dec(row.expected) == quantize(exact_subtotal, currency)
    assert dec(row.actual) == bad["subtotal"]
    assert "subtotal" in row.message


def test_exchange_uses_the_view_named_by_fx_source():
    # tax view in EUR converted from USD; payment view in GBP converted from the EUR tax view
    base = view("1000.00", "-50.00", "0", "190.00")
    tax = converted(base, "0.9", "EUR")
    payment_ok = converted(tax, "0.85", "GBP")
    rows = [invoice("I-1", base=base, tax=tax, tax_currency="EUR", tax_rate="0.9",
                    tax_source="USD", payment=payment_ok, payment_currency="GBP",
                    payment_rate="0.85", payment_source="EUR")]  # fmt: skip
    assert only(reconcile_invoices(frame(rows)), "exchange").empty
    # the same GBP amounts checked against base (USD) x 0.85 would be far off
    assert abs(payment_ok["total"] - base["total"] * D("0.85")) > D("1")


def test_exchange_from_a_currency_no_view_carries_is_a_warning_not_a_pass():
    base = view("100.00")
    payment = converted(base, "0.9", "EUR")
    rows = [invoice("I-1", base=base, payment=payment, payment_currency="EUR",
                    payment_rate="0.9", payment_source="CHF")]  # fmt: skip
    hit = only(reconcile_invoices(frame(rows)), "exchange")
    assert len(hit) == 1
    assert hit.severity[0] == "warning"
    assert "CHF" in hit.message[0]


# --------------------------------------------------------------------------------------------
# Completeness
# --------------------------------------------------------------------------------------------


def test_completeness_flags_each_missing_account_month_in_the_data_span():
    rows = [
        invoice("A-07", account="100000000001", period="2026-07"),
        invoice("A-09", account="100000000001", period="2026-09"),
        invoice("B-07", account="100000000002", period="2026-07"),
        invoice("B-08", account="100000000002", period="2026-08"),
        invoice("B-09", account="100000000002", period="2026-09"),
        # a credit memo does not make a month complete
        invoice("CM-08", account="100000000001", period="2026-08", kind="CREDIT_MEMO",
                base=view("-5.00"), original_invoice_id="A-07"),
    ]  # fmt: skip
    hit = only(reconcile_invoices(frame(rows)), "completeness")
    assert [(r.account_id, str(r.billing_period), r.severity) for r in hit.itertuples()] == [
        ("100000000001", "2026-08", "error")
    ]
    assert pd.isna(hit.invoice_id[0])


def test_completeness_covers_the_requested_range_even_beyond_the_data():
    rows = [invoice("A-09", period="2026-09")]
    hit = only(reconcile_invoices(frame(rows), start="2026-08", end="2026-10"), "completeness")
    assert sorted(str(p) for p in hit["billing_period"]) == ["2026-08", "2026-10"]


def test_range_limits_the_checked_invoices_but_not_reference_resolution():
    bad = view("100.00")
    bad["total"] = D("999.00")
    rows = [
        invoice("OLD-BAD", period="2026-01", base=bad),
        invoice("I-09", period="2026-09"),
        invoice("C-09", period="2026-09", kind="CREDIT_MEMO", base=view("-10.00"),
                original_invoice_id="OLD-BAD"),
    ]  # fmt: skip
    findings = reconcile_invoices(frame(rows), start="2026-09", end="2026-09")
    assert only(findings, "arithmetic_total").empty  # OLD-BAD is outside the range
    assert only(findings, "credit_memo_original").empty  # but it resolves the credit memo
    assert only(findings, "completeness").empty


@pytest.mark.parametrize(
    ("start", "end"), [("2026-13", None), ("soon", None), (None, "2026-00"), ("2026-10", "2026-01")]
)
def test_bad_months_raise_invalid_argument(start, end):
    with pytest.raises(InvalidArgumentError):
        reconcile_invoices(frame([invoice("I-1")]), start=start, end=end)


def test_missing_columns_are_named():
    df = frame([invoice("I-1")]).drop(columns=["base_taxes"])
    with pytest.raises(InvalidArgumentError, match="base_taxes"):
        reconcile_invoices(df)


# --------------------------------------------------------------------------------------------
# Duplicates, credit memos, tax invoices, payment currency
# --------------------------------------------------------------------------------------------


def test_duplicate_invoice_only_when_the_content_differs():
    same = invoice("I-1")
    other = invoice("I-1", base=view("100.00", "-10.00", "0", "18.01"))
    assert only(reconcile_invoices(frame([same, dict(same)])), "duplicate_invoice").empty
    hit = only(reconcile_invoices(frame([same, other])), "duplicate_invoice")
    assert len(hit) == 1
    assert (hit.invoice_id[0], hit.severity[0]) == ("I-1", "error")
    assert dec(hit.difference[0]) == D("0.01")
    assert "base_taxes" in hit.message[0] and "base_total" in hit.message[0]


def test_credit_memo_original_unknown_is_a_warning_and_known_gives_the_net():
    rows = [
        invoice("I-1", period="2026-08", base=view("100.00", "0", "0", "20.00")),
        invoice("C-1", kind="CREDIT_MEMO", base=view("-30.00", "0", "0", "-6.00"),
                original_invoice_id="I-1"),
        invoice("C-2", kind="CREDIT_MEMO", base=view("-10.00"), original_invoice_id="I-1"),
        invoice("C-3", kind="CREDIT_MEMO", base=view("-10.00"), original_invoice_id="GHOST"),
        invoice("C-4", kind="CREDIT_MEMO", base=view("-10.00")),
    ]  # fmt: skip
    findings = reconcile_invoices(frame(rows))
    orphans = only(findings, "credit_memo_original")
    assert sorted(orphans["invoice_id"]) == ["C-3", "C-4"]
    assert set(orphans["severity"]) == {"warning"}
    net = only(findings, "credit_memo_net")
    assert len(net) == 1
    row = net.iloc[0]
    assert (row.invoice_id, row.severity, row.currency) == ("I-1", "info", "USD")
    assert str(row.billing_period) == "2026-08"  # the original invoice's period
    assert dec(row.expected) == D("120.00")
    assert dec(row.difference) == D("-36.00") + D("-10.00")
    assert dec(row.actual) == D("120.00") - D("46.00")


def test_over_credited_invoice_is_raised_to_a_warning():
    rows = [
        invoice("I-1", period="2026-08", base=view("100.00")),
        invoice("C-1", kind="CREDIT_MEMO", base=view("-150.00"), original_invoice_id="I-1"),
    ]
    net = only(reconcile_invoices(frame(rows)), "credit_memo_net")
    assert net.severity[0] == "warning"
    assert dec(net.actual[0]) == D("-50.00")


def test_tax_invoice_commercial_id_must_resolve():
    rows = [
        invoice("5869984025"),
        invoice("AISPL-1", commercial_invoice_id="5869984025"),
        invoice("AISPL-2", commercial_invoice_id="0000000000"),
    ]
    hit = only(reconcile_invoices(frame(rows)), "tax_invoice_commercial")
    assert list(hit["invoice_id"]) == ["AISPL-2"]
    assert hit.severity[0] == "warning"


def test_tax_authority_cancelled_is_flagged():
    rows = [
        invoice("AISPL-1", tax_authority_status="ISSUED"),
        invoice("AISPL-2", account="100000000001", tax_authority_status="CANCELLED"),
    ]
    hit = only(reconcile_invoices(frame(rows)), "tax_authority_cancelled")
    assert list(hit["invoice_id"]) == ["AISPL-2"]
    assert hit.severity[0] == "warning"


def test_payment_currency_change_is_info_at_the_month_it_changes():
    base = view("100.00")

    def paid(i, period, currency, rate):
        return invoice(i, period=period, base=base, payment=converted(base, rate, currency),
                       payment_currency=currency, payment_rate=rate, payment_source="USD")  # fmt: skip

    rows = [
        paid("I-7", "2026-07", "EUR", "0.9"),
        paid("I-8", "2026-08", "EUR", "0.9"),
        paid("I-9", "2026-09", "GBP", "0.8"),
        invoice("J-7", account="100000000002", period="2026-07"),
        invoice("J-8", account="100000000002", period="2026-08"),
        invoice("J-9", account="100000000002", period="2026-09"),
    ]
    hit = only(reconcile_invoices(frame(rows)), "payment_currency_change")
    assert len(hit) == 1
    row = hit.iloc[0]
    assert (row.account_id, str(row.billing_period), row.currency, row.severity) == (
        "100000000001", "2026-09", "GBP", "info",
    )  # fmt: skip
    assert "EUR" in row.message


# --------------------------------------------------------------------------------------------
# Planted anomalies of the sandbox organization: 100% recall, no false alarm
# --------------------------------------------------------------------------------------------


def _found(findings: pd.DataFrame, anomaly: dict) -> bool:
    hits = findings[findings["check"] == anomaly["check"]]
    if anomaly["invoice_id"]:
        return bool((hits["invoice_id"] == anomaly["invoice_id"]).any())
    return bool(
        (
            (hits["account_id"] == anomaly["account_id"])
            & (hits["billing_period"].astype(str) == anomaly["billing_period"])
        ).any()
    )


@pytest.mark.parametrize("seed", [7, 8])
def test_every_planted_anomaly_is_found(seed):
    from invoicekit.sandbox.org import build_organization

    org = build_organization(seed=seed, today="2026-11-25", anomalies=True)
    assert {a["kind"] for a in org.anomalies} >= {
        "missing_invoice", "total_mismatch", "fx_mismatch", "orphan_credit_memo",
        "duplicate_invoice_id",
    }  # fmt: skip
    findings = reconcile_invoices(schema.to_frame(org.invoices))
    missed = [a for a in org.anomalies if not _found(findings, a)]
    assert missed == []


@pytest.mark.parametrize("seed", [7, 8])
def test_a_clean_organization_has_no_error_finding(seed):
    from invoicekit.sandbox.org import build_organization

    org = build_organization(seed=seed, today="2026-11-25", anomalies=False)
    findings = reconcile_invoices(schema.to_frame(org.invoices))
    errors = findings[findings["severity"] == "error"]
    assert errors.empty, errors[["check", "invoice_id", "message"]].to_string()


# --------------------------------------------------------------------------------------------
# Totals
# --------------------------------------------------------------------------------------------


def test_totals_of_100k_invoices_equal_python_decimal_sums_to_the_last_digit():
    rng = random.Random(20261125)
    n = 100_000
    currencies = ["USD", "EUR", "JPY", "KWD"]
    cur = [rng.choice(currencies) for _ in range(n)]
    amounts = []
    for _ in range(n):
        places = rng.randint(0, 10)  # up to the money scale
        units = rng.randint(-(10**12), 10**13)
        amounts.append(D(units).scaleb(-places))
    strings = pa.array([format(a, "f") for a in amounts]).cast(pa.decimal128(38, 10))
    zero = pd.array([D(0)] * n, dtype=MONEY)
    money = pd.array(strings, dtype=MONEY)
    df = pd.DataFrame(
        {
            "billing_period": pd.PeriodIndex(["2026-09"] * n, freq="M"),
            "invoice_type": pd.array(["INVOICE"] * n, dtype=schema.DTYPES["invoice_type"]),
            "base_currency": pd.array(cur, dtype=schema.DTYPES["base_currency"]),
            **{f"base_{c}": zero for c in COMPONENTS if c != "total"},
            "base_total": money,
        }
    )
    expected: dict[str, D] = {}
    for c, a in zip(cur, amounts, strict=True):
        expected[c] = expected.get(c, D(0)) + a
    result = totals(df, by=["billing_period"])
    got = {r.currency: dec(r.total) for r in result.itertuples()}
    assert got == expected
    assert int(result["invoices"].sum()) == n


def test_totals_never_mix_currencies_and_net_credit_memos():
    rows = [
        invoice("U-1", account="100000000001", base=view("100.10", "-0.05")),
        invoice("U-2", account="100000000002", base=view("200.20")),
        invoice("Y-1", account="100000000003", base=view("15000"), base_currency="JPY"),
        invoice("U-C", account="100000000001", kind="CREDIT_MEMO", base=view("-20.00"),
                original_invoice_id="U-1"),
        invoice("U-R", account="100000000001", kind="PAYMENT_RECEIPT", base=view("80.05")),
        invoice("U-T", account="100000000001", base=view("100.10", "-0.05"),
                commercial_invoice_id="U-1"),  # tax invoice restating U-1
    ]  # fmt: skip
    df = frame(rows)
    net = totals(df, ["billing_period"])
    assert list(net.columns) == [
        "billing_period", "currency", "invoices", "credit_memos", *COMPONENTS,
    ]  # fmt: skip
    by_cur = {r.currency: r for r in net.itertuples()}
    assert set(by_cur) == {"JPY", "USD"}
    assert dec(by_cur["USD"].total) == D("100.05") + D("200.20") - D("20.00")
    assert dec(by_cur["USD"].discounts) == D("-0.05")
    assert (by_cur["USD"].invoices, by_cur["USD"].credit_memos) == (2, 1)
    assert dec(by_cur["JPY"].total) == D("15000")
    gross = totals(df, ["billing_period"], net_credit_memos=False)
    usd = gross[gross["currency"] == "USD"].iloc[0]
    assert dec(usd.total) == D("300.25")
    assert usd.credit_memos == 0
    per_account = totals(df, ["account_id"])
    assert len(per_account) == 3
    assert per_account["total"].dtype == MONEY


def test_totals_by_entity_in_the_payment_view():
    base = view("100.00")
    rows = [
        invoice("E-1", base=base, payment=converted(base, "0.9", "EUR"), payment_currency="EUR",
                payment_rate="0.9", payment_source="USD",
                invoicing_entity="Amazon Web Services EMEA SARL"),
        invoice("E-2", base=base, payment=converted(base, "0.9", "EUR"), payment_currency="EUR",
                payment_rate="0.9", payment_source="USD",
                invoicing_entity="Amazon Web Services EMEA SARL"),
        invoice("N-1", base=base),  # no payment view: left out of the payment totals
    ]  # fmt: skip
    result = totals(frame(rows), by=["invoicing_entity"], view="payment")
    assert len(result) == 1
    assert result.currency[0] == "EUR"
    assert dec(result.total[0]) == D("180.00")
    with pytest.raises(InvalidArgumentError):
        totals(frame(rows), view="local")


# --------------------------------------------------------------------------------------------
# Month-end table and completeness grid
# --------------------------------------------------------------------------------------------


def test_month_end_table_per_payer_account():
    base = view("1000.00", "-100.00", "0", "180.00")  # total 1080.00
    pay = converted(base, "0.9", "EUR")  # 972.00
    memo = view("-100.00")
    rows = [
        invoice("I-1", base=base, payment=pay, payment_currency="EUR", payment_rate="0.9",
                payment_source="USD"),
        invoice("C-1", kind="CREDIT_MEMO", base=memo, payment=converted(memo, "0.9", "EUR"),
                payment_currency="EUR", payment_rate="0.9", payment_source="USD",
                original_invoice_id="I-1"),
        invoice("I-OLD", period="2026-08", base=base, payment=pay, payment_currency="EUR",
                payment_rate="0.9", payment_source="USD"),
        invoice("J-OLD", account="100000000002", period="2026-08"),
    ]  # fmt: skip
    table = month_end_table(frame(rows), "2026-09")
    assert list(table.columns) == [
        "account_id", "account_name", "invoices", "credit_memos",
        "base_currency", "net_base", "payment_currency", "net_payment",
    ]  # fmt: skip
    first = table[table["account_id"] == "100000000001"].iloc[0]
    assert (first.invoices, first.credit_memos) == (1, 1)
    assert (first.base_currency, first.payment_currency) == ("USD", "EUR")
    assert dec(first.net_base) == D("1080.00") - D("100.00")
    assert dec(first.net_payment) == D("972.00") - D("90.00")
    quiet = table[table["account_id"] == "100000000002"].iloc[0]
    assert (quiet.invoices, quiet.credit_memos) == (0, 0)


def test_completeness_grid_counts_invoices_per_account_and_month():
    rows = [
        invoice("A-1", account="100000000001", period="2026-07"),
        invoice("A-2", account="100000000001", period="2026-07"),
        invoice("A-3", account="100000000001", period="2026-09"),
        invoice("B-1", account="100000000002", period="2026-08"),
        invoice("B-C", account="100000000002", period="2026-09", kind="CREDIT_MEMO",
                base=view("-1.00"), original_invoice_id="B-1"),
    ]  # fmt: skip
    grid = completeness_grid(frame(rows))
    assert list(grid.columns) == ["2026-07", "2026-08", "2026-09"]
    assert list(grid.index) == ["100000000001", "100000000002"]
    assert grid.loc["100000000001"].tolist() == [2, 0, 1]
    assert grid.loc["100000000002"].tolist() == [0, 1, 0]
    wider = completeness_grid(frame(rows), "2026-06", "2026-10")
    assert list(wider.columns) == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    # the grid's zeros are exactly the completeness findings
    findings = only(reconcile_invoices(frame(rows), start="2026-06", end="2026-10"), "completeness")
    zeros = {(a, m) for a in wider.index for m in wider.columns if wider.loc[a, m] == 0}
    assert {(r.account_id, str(r.billing_period)) for r in findings.itertuples()} == zeros


# --------------------------------------------------------------------------------------------
# Accounts-payable export: tests/test_ap_export.py, tests/test_ap_formats.py (invoicekit.ap)
# --------------------------------------------------------------------------------------------


def test_the_ap_export_is_still_importable_from_reconcile():
    import invoicekit.ap
    import invoicekit.reconcile.ap

    assert export_ap is invoicekit.ap.export_ap is invoicekit.reconcile.ap.export_ap


# --------------------------------------------------------------------------------------------
# Property: the exchange verdict is exactly |actual - source x rate| > one minor unit
# --------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    cents=st.integers(min_value=-(10**9), max_value=10**9),
    rate_units=st.integers(min_value=1, max_value=200 * 10**6),
    currency=st.sampled_from(["JPY", "KWD", "EUR", "INR"]),
    shift=st.integers(min_value=-3, max_value=3),
)
def test_exchange_verdict_matches_decimal_arithmetic(cents, rate_units, currency, shift):
    from invoicekit._money import minor_unit, quantize

    amount = D(cents).scaleb(-2)
    rate = D(rate_units).scaleb(-6)
    unit = minor_unit(currency)
    target = quantize(amount * rate, currency) + shift * unit
    exact = amount * rate
    should_flag = abs(target - exact) > unit
    base = view(str(amount))
    payment = {c: (target if c in ("total", "total_before_tax", "subtotal") else D(0))
               for c in COMPONENTS}  # fmt: skip
    rows = [invoice("I-1", base=base, payment=payment, payment_currency=currency,
                    payment_rate=str(rate), payment_source="USD")]  # fmt: skip
    hit = only(reconcile_invoices(frame(rows)), "exchange")
    assert (len(hit) == 1) == should_flag
    if should_flag:
        assert dec(hit.expected[0]) == quantize(exact, currency)
        assert dec(hit.actual[0]) == target


# --------------------------------------------------------------------------------------------
# The package: reconcile_invoices, coverage, one formatter, docstring examples
# --------------------------------------------------------------------------------------------


def test_reconcile_invoices_is_the_entry_point_and_the_package_is_not_callable():
    import types

    import invoicekit.reconcile as package
    from invoicekit.reconcile import checks

    assert type(package) is types.ModuleType and not callable(package)
    assert package.reconcile_invoices is checks.reconcile_invoices
    assert package.CHECKS is checks.CHECKS and "reconcile" not in package.__all__
    # the 0.1 name resolves only with a warning, to the same function
    with pytest.warns(DeprecationWarning, match="reconcile_invoices"):
        from invoicekit.reconcile import reconcile as old
    assert old is reconcile_invoices
    # the functions are not shadowed by submodules of the same name
    assert callable(package.totals) and callable(package.export_ap)


def test_check_severities_are_the_documented_contract():
    assert {n: c.severity for n, c in CHECKS.items()} == {
        "arithmetic_total": "error", "arithmetic_before_tax": "error",
        "discount_sign": "warning", "exchange": "error", "completeness": "error",
        "duplicate_invoice": "error", "credit_memo_original": "warning",
        "credit_memo_net": "info", "tax_invoice_commercial": "warning",
        "tax_authority_cancelled": "warning", "payment_currency_change": "info",
    }  # fmt: skip


def test_reconcile_invoices_keyword_only_range_and_same_result_for_any_month_form():
    rows = [invoice("A-08", period="2026-08"), invoice("A-10", period="2026-10")]
    df = frame(rows)
    by_text = reconcile_invoices(df, start="2026-08", end="2026-10")
    by_period = reconcile_invoices(df, start=pd.Period("2026-08", "M"), end=pd.Period("2026-10"))
    pd.testing.assert_frame_equal(by_text, by_period)
    assert [str(p) for p in by_text["billing_period"]] == ["2026-09"]
    with pytest.raises(TypeError):
        reconcile_invoices(df, "2026-08")  # start and end are keywords
    with pytest.raises(InvalidArgumentError, match="end=2026-01 is before start=2026-10"):
        reconcile_invoices(df, start="2026-10", end="2026-01")


def test_months_the_data_does_not_hold_are_said_to_be_outside_it():
    rows = [
        invoice("A-08", account="100000000001", period="2026-08"),
        invoice("B-08", account="100000000002", period="2026-08"),
        invoice("A-09", account="100000000001", period="2026-09"),
    ]
    findings = only(reconcile_invoices(frame(rows), start="2026-08", end="2026-10"), "completeness")
    by_key = {(r.account_id, str(r.billing_period)): r.message for r in findings.itertuples()}
    assert set(by_key) == {
        ("100000000002", "2026-09"), ("100000000001", "2026-10"), ("100000000002", "2026-10"),
    }  # fmt: skip
    # 2026-09 is in the data: B's invoice is missing
    assert "fetch it again or ask AWS" in by_key[("100000000002", "2026-09")]
    # 2026-10 is not in the data at all: no claim that AWS failed to invoice
    october = by_key[("100000000001", "2026-10")]
    assert "has no row of 2026-10 at all (it holds 2026-08..2026-09)" in october
    assert "ask AWS" not in october


def test_coverage_names_the_checked_range_and_the_months_not_in_the_data():
    rows = [
        invoice("A-08", account="100000000001", period="2026-08"),
        invoice("C-08", account="100000000001", period="2026-08", kind="CREDIT_MEMO",
                base=view("-1.00"), original_invoice_id="A-08"),
        invoice("B-09", account="100000000002", period="2026-09"),
        invoice("A-06", account="100000000001", period="2026-06"),
    ]  # fmt: skip
    df = frame(rows)
    c = coverage(df, "2026-07", "2026-10")
    assert (c.start, c.end, c.data_start, c.data_end) == (
        "2026-07",
        "2026-10",
        "2026-06",
        "2026-09",
    )
    assert c.months == ("2026-07", "2026-08", "2026-09", "2026-10")
    assert c.absent == ("2026-07", "2026-10")
    assert c.accounts == 2
    assert c.counts == {"invoice": 2, "credit memo": 1, "tax invoice": 0, "payment receipt": 0}
    assert c.describe() == "2026-07..2026-10 (4 billing months, 2 accounts)"
    whole = coverage(df)
    assert (whole.start, whole.end, whole.absent) == ("2026-06", "2026-09", ("2026-07",))
    empty = coverage(df.iloc[0:0])
    assert (empty.start, empty.months, empty.accounts) == (None, (), 0)
    assert empty.describe() == "no billing month (0 accounts)"


def test_amounts_in_messages_are_formatted_as_booked():
    base = view("1234567.00", "0", "0", "0")
    base["total"] = D("1234567.89")
    memo_rows = [
        invoice("I-9", period="2026-08", base=view("2000.00")),
        invoice("C-1", kind="CREDIT_MEMO", base=view("-100.125"), original_invoice_id="I-9"),
        invoice("C-2", kind="CREDIT_MEMO", base=view("-0.50"), original_invoice_id="I-9"),
    ]
    findings = reconcile_invoices(frame([invoice("I-1", base=base), *memo_rows]))
    total = only(findings, "arithmetic_total").message[0]
    assert "base total 1,234,567.89 USD is not total before tax + taxes = 1,234,567.00" in total
    net = only(findings, "credit_memo_net").message[0]
    # -100.125 - 0.50 = -100.625 rounds half-up to -100.63, never half-even -100.62
    assert "with 2 credit memos -100.63 USD: net 1,899.38 USD" in net
    assert dec(only(findings, "credit_memo_net").difference[0]) == D("-100.625")  # exact


def test_counts_follow_the_documents_vocabulary():
    from invoicekit import documents

    rows = [
        invoice("I-1", base=view("10.00")),
        invoice("I-2", base=view("5.00")),
        invoice("T-1", base=view("10.00"), commercial_invoice_id="I-1"),
        invoice("R-1", kind="PAYMENT_RECEIPT", base=view("15.00")),
        invoice("C-1", kind="CREDIT_MEMO", base=view("-1.00"), original_invoice_id="I-1"),
    ]
    df = frame(rows)
    t = totals(df).iloc[0]
    spend = df[documents.is_spend(df)]
    kinds = documents.count(spend)
    assert (t.invoices, t.credit_memos) == (kinds["invoice"], kinds["credit memo"]) == (2, 1)
    assert dec(t.total) == D("14.00")
    table = month_end_table(df, "2026-09").iloc[0]
    assert (table.invoices, table.credit_memos) == (2, 1)
    assert dec(table.net_base) == D("14.00")
    gross = totals(df, net_credit_memos=False).iloc[0]
    assert (gross.invoices, gross.credit_memos, dec(gross.total)) == (2, 0, D("15.00"))


def test_views_come_from_the_schema():
    from invoicekit.reconcile import _arrow

    with pytest.raises(InvalidArgumentError, match="view='local' is not a currency view"):
        totals(frame([invoice("I-1")]), view="local")
    assert {c.split("_", 1)[0] for c in _arrow.required_columns() if c.endswith("_fx_rate")} == set(
        schema.VIEWS
    )


def test_docstring_examples_run():
    import doctest

    import invoicekit.ap as ap_package
    import invoicekit.reconcile as package
    from invoicekit.ap import export, formats, ledger, mapping
    from invoicekit.reconcile import checks, tables

    for module in (package, checks, tables, ap_package, export, formats, ledger, mapping):
        result = doctest.testmod(
            module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
        assert result.attempted > 0 and result.failed == 0, module.__name__
