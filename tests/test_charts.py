"""Charts: figure type, currency in every money axis, one currency per figure, exact totals.

The expected values are computed here independently with Python ``Decimal`` from the raw
wire records, never from the chart module's own helpers.
"""

from __future__ import annotations

import os
from collections import defaultdict
from decimal import Decimal

import plotly.graph_objects as go
import pytest

from invoicekit import charts
from invoicekit.errors import InvalidArgumentError
from invoicekit.schema import to_frame

NAMES = {"111111111111": "Retail EU", "222222222222": "Payments", "333333333333": "Tokyo"}


def _view(currency: str, total: str, *, fx: tuple[str, str] | None = None) -> dict:
    view = {
        "CurrencyCode": currency,
        "TotalAmount": total,
        "TotalAmountBeforeTax": total,
        "AmountBreakdown": {
            "SubTotalAmount": total,
            "Discounts": {"TotalAmount": "0.00"},
            "Taxes": {"TotalAmount": "0.00"},
            "Fees": {"TotalAmount": "0.00"},
        },
    }
    if fx:
        view["CurrencyExchangeDetails"] = {
            "SourceCurrencyCode": fx[0],
            "TargetCurrencyCode": currency,
            "Rate": fx[1],
        }
    return view


def _inv(
    acct,
    inv_id,
    year,
    month,
    base_cur,
    base,
    pay_cur=None,
    pay=None,
    *,
    rate=None,
    kind="INVOICE",
    entity="Amazon Web Services, Inc.",
    original=None,
):
    rec = {
        "AccountId": acct,
        "InvoiceId": inv_id,
        "InvoiceType": kind,
        "BillingPeriod": {"Month": month, "Year": year},
        "IssuedDate": 1.7e9,
        "Entity": {"InvoicingEntity": entity, "BillingEntity": "AWS"},
        "BaseCurrencyAmount": _view(base_cur, base),
        "TaxCurrencyAmount": _view(base_cur, base),
        "PaymentCurrencyAmount": _view(
            pay_cur or base_cur, pay or base, fx=(base_cur, rate) if rate else None
        ),
    }
    if original:
        rec["OriginalInvoiceId"] = original
    return rec


RECORDS = [
    # Retail EU: USD base, EUR payment at a stated rate
    _inv(
        "111111111111",
        "E-1",
        2026,
        7,
        "USD",
        "1000.10",
        "EUR",
        "920.09",
        rate="0.920000000000",
        entity="Amazon Web Services EMEA SARL",
    ),
    _inv(
        "111111111111",
        "E-2",
        2026,
        8,
        "USD",
        "1200.33",
        "EUR",
        "1110.31",
        rate="0.925000000000",
        entity="Amazon Web Services EMEA SARL",
    ),
    _inv(
        "111111111111",
        "E-3",
        2026,
        9,
        "USD",
        "900.01",
        "EUR",
        "828.01",
        rate="0.920000000000",
        entity="Amazon Web Services EMEA SARL",
    ),
    _inv(
        "111111111111",
        "C-1",
        2026,
        8,
        "USD",
        "-100.05",
        "EUR",
        "-92.55",
        rate="0.925000000000",
        kind="CREDIT_MEMO",
        entity="Amazon Web Services EMEA SARL",
        original="E-2",
    ),
    # Payments: USD only, two invoices in August (marketplace)
    _inv("222222222222", "P-1", 2026, 7, "USD", "500.00"),
    _inv("222222222222", "P-2", 2026, 8, "USD", "650.25"),
    _inv("222222222222", "P-3", 2026, 8, "USD", "12.34", entity="Amazon Web Services, Inc."),
    _inv("222222222222", "P-4", 2026, 9, "USD", "0.01"),
    # Tokyo: JPY base and payment; no September invoice (missing)
    _inv("333333333333", "J-1", 2026, 7, "JPY", "150000"),
    _inv("333333333333", "J-2", 2026, 8, "JPY", "162345"),
    # a payment receipt is not spend; nor is a tax invoice restating a commercial invoice
    {**_inv("222222222222", "T-1", 2026, 9, "USD", "0.01"), "CommercialInvoiceId": "P-4"},
    _inv("222222222222", "R-1", 2026, 8, "USD", "999999.99", kind="PAYMENT_RECEIPT"),
]


@pytest.fixture(scope="module")
def df():
    return to_frame(RECORDS, account_names=NAMES)


def _expected(view: str, currency: str, key) -> dict:
    """Independent Decimal sums of spend (INVOICE + CREDIT_MEMO) from the raw records."""
    field = {"base": "BaseCurrencyAmount", "payment": "PaymentCurrencyAmount"}[view]
    out: dict = defaultdict(Decimal)
    for r in RECORDS:
        if r["InvoiceType"] not in ("INVOICE", "CREDIT_MEMO") or r.get("CommercialInvoiceId"):
            continue
        v = r[field]
        if v["CurrencyCode"] != currency:
            continue
        out[key(r)] += Decimal(v["TotalAmount"])
    return dict(out)


def _month(r) -> str:
    return f"{r['BillingPeriod']['Year']}-{r['BillingPeriod']['Month']:02d}"


def _money_axes_titles(fig: go.Figure) -> list[str]:
    return [
        fig.layout[k].title.text
        for k in fig.layout
        if k.startswith(("xaxis", "yaxis")) and fig.layout[k].title.text
    ]


def _plotted_stack_sums(fig: go.Figure) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(float)
    for tr in fig.data:
        if tr.type != "bar":  # the month totals' labels are a text trace
            continue
        for x, y in zip(tr.x, tr.y, strict=True):
            if y is not None:
                sums[x] += y
    return dict(sums)


@pytest.mark.parametrize(
    "view,currency", [("base", "USD"), ("base", "JPY"), ("payment", "EUR"), ("payment", "USD")]
)
def test_spend_trend_totals_equal_decimal_sums_and_axis_names_currency(df, view, currency):
    fig = charts.spend_trend(df, view=view, currency=currency)
    assert isinstance(fig, go.Figure)
    assert currency in fig.layout.yaxis.title.text
    expected = _expected(view, currency, _month)
    # exact totals travel with the figure ...
    assert charts.figure_totals(fig) == expected
    # ... and the drawn bars add up to them (floats only for drawing)
    plotted = _plotted_stack_sums(fig)
    assert set(plotted) == set(expected)
    for m, v in expected.items():
        assert plotted[m] == pytest.approx(float(v), abs=1e-6)
    assert fig.layout.barmode == "relative"
    assert fig.layout.template.layout.colorway  # the invoicekit template is applied


def test_spend_trend_stacks_by_account_and_by_entity(df):
    by_acct = charts.spend_trend(df, view="base", currency="USD")
    bars = [t for t in by_acct.data if t.type == "bar"]
    assert {t.name for t in bars} == {"Retail EU (111111111111)", "Payments (222222222222)"}
    retail = next(t for t in bars if t.name.startswith("Retail"))
    # August nets the credit memo: 1200.33 - 100.05
    assert dict(zip(retail.x, retail.y, strict=True))["2026-08"] == pytest.approx(1100.28)
    assert "1,100.28 USD" in dict(zip(retail.x, retail.customdata, strict=True))["2026-08"][0]
    by_ent = charts.spend_trend(df, by="entity", view="base", currency="USD")
    assert {t.name for t in by_ent.data if t.type == "bar"} == {
        "Amazon Web Services EMEA SARL",
        "Amazon Web Services, Inc.",
    }
    assert charts.figure_totals(by_ent) == charts.figure_totals(by_acct)


def test_money_charts_refuse_to_mix_currencies(df):
    for chart in (charts.spend_trend, charts.month_over_month, charts.top_accounts):
        with pytest.raises(InvalidArgumentError, match="never sums across currencies"):
            chart(df, view="base")  # USD and JPY
    with pytest.raises(InvalidArgumentError, match="is not a currency view"):
        charts.spend_trend(df, view="local")


def test_by_currency_gives_one_single_currency_figure_per_currency(df):
    figs = charts.by_currency(charts.spend_trend, df, view="payment")
    assert sorted(figs) == ["EUR", "JPY", "USD"]
    for cur, fig in figs.items():
        meta = fig.layout.meta["invoicekit"]
        assert meta["currency"] == cur
        assert cur in fig.layout.yaxis.title.text
        others = {"EUR", "JPY", "USD"} - {cur}
        assert not any(o in t for o in others for t in _money_axes_titles(fig))


def test_single_currency_selection_needs_no_currency_argument(df):
    fig = charts.spend_trend(df, view="base", accounts=["333333333333"])
    assert fig.layout.meta["invoicekit"]["currency"] == "JPY"
    # compact tick labels at round values, the currency in the axis title
    assert list(fig.layout.yaxis.ticktext) == ["0", "50k", "100k", "150k", "200k"]
    assert list(fig.layout.yaxis.tickvals) == [0, 50_000, 100_000, 150_000, 200_000]
    fig = charts.spend_trend(df, view="base", currency="USD", periods=("2026-08", "2026-08"))
    assert charts.figure_totals(fig) == {
        "2026-08": Decimal("1200.33") - Decimal("100.05") + Decimal("650.25") + Decimal("12.34")
    }


def test_month_over_month_changes_are_exact(df):
    fig = charts.month_over_month(df, view="base", currency="USD")
    net = _expected("base", "USD", _month)
    assert charts.figure_totals(fig) == {
        "2026-08": net["2026-08"] - net["2026-07"],
        "2026-09": net["2026-09"] - net["2026-08"],
    }
    bars = fig.data[0]
    assert list(bars.x) == ["2026-08", "2026-09"]
    assert bars.y[1] == pytest.approx(float(net["2026-09"] - net["2026-08"]))
    assert "USD" in fig.layout.yaxis.title.text
    # a decrease is drawn green, an increase red
    assert bars.marker.color[1] != bars.marker.color[0]


def test_top_accounts_ranks_exact_totals(df):
    fig = charts.top_accounts(df, n=1, view="base", currency="USD")
    expected = _expected("base", "USD", lambda r: r["AccountId"])
    meta = fig.layout.meta["invoicekit"]
    assert {k: Decimal(v) for k, v in meta["totals"].items()} == {
        "Retail EU (111111111111)": expected["111111111111"]
    }
    assert Decimal(meta["rest"]) == expected["222222222222"]
    assert list(fig.data[0].y) == ["Retail EU (111111111111)"]
    assert fig.data[0].x[0] == pytest.approx(float(expected["111111111111"]))
    assert "USD" in fig.layout.xaxis.title.text


def test_credit_memos_chart(df):
    fig = charts.credit_memos(df, view="payment", currency="EUR")
    assert charts.figure_totals(fig) == {"2026-08": Decimal("-92.55")}
    assert fig.layout.meta["invoicekit"]["count"] == 1
    assert "EUR" in fig.layout.yaxis.title.text
    empty = charts.credit_memos(df, view="base", accounts=["222222222222"])
    assert len(empty.data) == 0 and "No credit memos" in empty.layout.annotations[0].text


def test_currency_mix_counts_never_sums_money(df):
    fig = charts.currency_mix(df, view="payment")
    assert {t.name for t in fig.data} == {"EUR", "JPY", "USD"}
    assert "count" in fig.layout.yaxis.title.text
    usd = next(t for t in fig.data if t.name == "USD")
    assert dict(zip(usd.x, usd.y, strict=True)) == {"2026-07": 1, "2026-08": 2, "2026-09": 1}
    # the hover carries each currency's own exact total, not a cross-currency sum
    eur = next(t for t in fig.data if t.name == "EUR")
    assert dict(zip(eur.x, eur.customdata, strict=True))["2026-08"][0] == "1,017.76 EUR"


def test_completeness_heatmap_flags_missing_months(df):
    fig = charts.completeness_heatmap(
        df, start="2026-07", end="2026-10", accounts=list(NAMES) + ["444444444444"]
    )
    hm = fig.data[0]
    assert isinstance(hm, go.Heatmap)
    assert list(hm.x) == ["2026-07", "2026-08", "2026-09", "2026-10"]
    missing = {tuple(m) for m in fig.layout.meta["invoicekit"]["missing"]}
    assert ("333333333333", "2026-09") in missing
    assert {("444444444444", m) for m in hm.x} <= missing  # an account that returned nothing
    assert ("222222222222", "2026-08") not in missing
    row = list(hm.y).index("Payments (222222222222)")
    # the receipt is not an invoice; the tax invoice is (as in reconcile.completeness_grid)
    assert list(hm.text[row]) == ["1", "2", "2", "0"]


def test_exchange_rates_one_axis_per_pair(df):
    fig = charts.exchange_rates(df, view="payment")
    assert [t.name for t in fig.data] == ["USD→EUR"]
    assert fig.layout.yaxis.title.text == "EUR per 1 USD"
    rates = fig.layout.meta["invoicekit"]["rates"]["USD→EUR"]
    assert rates["2026-08"] == ["0.925", "0.925"]
    assert fig.data[0].y[0] == pytest.approx(0.92)
    assert (
        "No currency conversion"
        in charts.exchange_rates(df, view="base").layout.annotations[0].text
    )


def test_charts_never_show(df, monkeypatch):
    shown = []
    monkeypatch.setattr(go.Figure, "show", lambda self, *a, **k: shown.append(self))
    charts.spend_trend(df, currency="USD")
    charts.completeness_heatmap(df)
    charts.currency_mix(df)
    assert shown == []


def test_on_the_sandbox_organization_totals_match_decimal_sums_and_invoicekit_totals():
    from invoicekit.reconcile import totals
    from invoicekit.sandbox.org import build_organization

    org = build_organization(accounts=6, months=12, today="2026-11-25")
    frame = to_frame(org.invoices, account_names={a.account_id: a.name for a in org.accounts})
    for view in ("base", "payment"):
        for cur, fig in charts.by_currency(charts.spend_trend, frame, view=view).items():
            field = {"base": "BaseCurrencyAmount", "payment": "PaymentCurrencyAmount"}[view]
            want: dict = defaultdict(Decimal)
            for r in org.invoices:
                if (
                    r.get("InvoiceType") in ("INVOICE", "CREDIT_MEMO")
                    and not r.get("CommercialInvoiceId")
                    and r[field]["CurrencyCode"] == cur
                ):
                    want[_month(r)] += Decimal(r[field]["TotalAmount"])
            got = charts.figure_totals(fig)
            assert got == dict(want), (view, cur)
            t = totals(frame, by=["billing_period"], view=view)
            t = t[t["currency"] == cur]
            assert got == {str(r.billing_period): Decimal(r.total) for r in t.itertuples()}
    hm = charts.completeness_heatmap(frame)
    assert hm.layout.meta["invoicekit"]["missing"] == []  # a clean organization is complete


def _one(amount: str, currency: str = "USD", acct: str = "111111111111") -> dict:
    return _inv(acct, "H-1", 2026, 10, currency, amount)


def test_hover_text_rounds_half_up_as_booked():
    """0.125 USD books as 0.13 (half-up): the chart's exact text says so too, never 0.12."""
    frame = to_frame(
        [_one("0.125"), _inv("222222222222", "H-2", 2026, 11, "USD", "1000.005")],
        account_names=NAMES,
    )
    trend = charts.spend_trend(frame, currency="USD")
    hover = {
        (t.name, x): cd[0] for t in trend.data for x, cd in zip(t.x, t.customdata, strict=True)
    }
    assert hover[("Retail EU (111111111111)", "2026-10")] == "0.13 USD"
    assert hover[("Payments (222222222222)", "2026-11")] == "1,000.01 USD"
    top = charts.top_accounts(frame, currency="USD")
    assert [cd[0] for cd in top.data[0].customdata] == ["0.13 USD", "1,000.01 USD"]
    mom = charts.month_over_month(frame, currency="USD")
    assert list(mom.data[0].customdata[0]) == ["999.88 USD", "+799904.0%", "1,000.01 USD"]
    # the exact totals stay exact: rounding is for display only
    assert charts.figure_totals(trend) == {
        "2026-10": Decimal("0.125"),
        "2026-11": Decimal("1000.005"),
    }


def test_money_axis_and_bar_labels_are_compact_with_the_currency_in_the_title():
    frame = to_frame(
        [_one("1143243.38"), _inv("222222222222", "H-2", 2026, 10, "USD", "-45210.00")],
        account_names=NAMES,
    )
    trend = charts.spend_trend(frame, currency="USD")
    y = trend.layout.yaxis
    assert y.title.text == "Net spend (USD, base currency)"
    assert list(y.ticktext) == [
        "-200k", "0", "200k", "400k", "600k", "800k", "1M", "1.2M"
    ]  # fmt: skip
    assert list(y.tickvals) == [float(v) for v in range(-200_000, 1_200_001, 200_000)]
    assert y.tickformat is None  # no full-cent d3 format on the axis
    top = charts.top_accounts(frame, currency="USD")
    assert list(top.data[0].text) == ["-45k USD", "1.1M USD"]  # bars, bottom-up
    assert top.layout.xaxis.ticktext[-1] == "1.2M" and "USD" in top.layout.xaxis.title.text
    assert [cd[0] for cd in top.data[0].customdata] == ["-45,210.00 USD", "1,143,243.38 USD"]
    # a tick between round figures keeps the digits that name it
    small = charts.spend_trend(to_frame([_one("1.20")], account_names=NAMES), currency="USD")
    assert list(small.layout.yaxis.ticktext) == ["0", "0.2", "0.4", "0.6", "0.8", "1", "1.2"]
    half = charts.spend_trend(to_frame([_one("12400000")], account_names=NAMES), currency="USD")
    assert list(half.layout.yaxis.ticktext) == ["0", "2.5M", "5M", "7.5M", "10M", "12.5M"]


@pytest.mark.browser
def test_save_png_through_kaleido_and_system_chromium(df, tmp_path):
    if charts.find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: apt-get install chromium")
        pytest.skip("no chromium installed (apt-get install chromium) — PNG export untested")
    out = charts.save_png(charts.spend_trend(df, currency="USD"), tmp_path / "png" / "usd.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_completeness_is_categorical_missing_expected_several():
    recs = [
        _inv("111111111111", "A-1", 2026, 7, "USD", "1.00"),
        _inv("111111111111", "A-2", 2026, 8, "USD", "1.00"),
        _inv("111111111111", "A-3", 2026, 8, "USD", "1.00", entity="AWS EMEA SARL"),
        _inv("111111111111", "A-4", 2026, 8, "USD", "1.00", entity="AWS Japan"),
    ]
    fig = charts.completeness_heatmap(to_frame(recs, account_names=NAMES), end="2026-09")
    hm = fig.data[0]
    # three invoices look the same as two (several entities: normal), never darker; 0 is red
    assert list(hm.z[0]) == [1, 2, 0] and list(hm.text[0]) == ["1", "3", "0"]
    assert list(hm.colorbar.ticktext) == [c[1] for c in charts.COMPLETENESS_CATEGORIES]
    colours = {c for _, c in hm.colorscale}
    assert len(colours) == len(charts.COMPLETENESS_CATEGORIES)  # bands, not a gradient
    assert fig.layout.meta["invoicekit"]["missing"] == [["111111111111", "2026-09"]]


def test_at_300_accounts_legends_stay_short_and_totals_stay_exact():
    from invoicekit.sandbox.org import build_organization

    org = build_organization(accounts=300, months=3, today="2026-11-25")
    frame = to_frame(org.invoices, account_names={a.account_id: a.name for a in org.accounts})
    fig = charts.spend_trend(frame, view="base", currency="USD")
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) <= charts.LEGEND_MAX and bars[-1].name == "Other (290 accounts)"
    assert bars[-1].marker.color == charts.OTHER_COLOR
    want: dict = defaultdict(Decimal)
    for r in org.invoices:
        if r["InvoiceType"] in ("INVOICE", "CREDIT_MEMO") and not r.get("CommercialInvoiceId"):
            want[_month(r)] += Decimal(r["BaseCurrencyAmount"]["TotalAmount"])
    assert charts.figure_totals(fig) == dict(want)  # "Other" hides nothing from the totals
    assert fig.layout.xaxis.tickangle == 0  # month labels horizontal
    labels = [t for t in fig.data if t.type == "scatter"][0]
    assert list(labels.text) == [charts.format_compact(v) for v in want.values()]
    top = charts.top_accounts(frame, view="base", currency="USD", n=5)
    assert top.data[1].name == "Other" and top.data[1].y[0] == "Other (295 accounts)"
    heat = charts.completeness_heatmap(frame)
    assert len(heat.data[0].y) <= 40 and len(heat.layout.meta["invoicekit"]["all_accounts"]) == 300
    with pytest.raises(InvalidArgumentError, match="top must be"):
        charts.spend_trend(frame, view="base", currency="USD", top=40)
