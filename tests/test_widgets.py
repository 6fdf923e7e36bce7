"""Widgets driven from Python: a picker change redraws the figure with the right data."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import plotly.graph_objects as go
import pytest

from invoicekit import charts, widgets
from invoicekit.sandbox.org import build_organization
from invoicekit.schema import to_frame


@pytest.fixture(scope="module")
def org():
    return build_organization(accounts=6, months=12, today="2026-11-25")


@pytest.fixture(scope="module")
def df(org):
    return to_frame(org.invoices, account_names={a.account_id: a.name for a in org.accounts})


def _net_by_month(org, view_field, currency, accounts=None, months=None):
    out: dict = defaultdict(Decimal)
    for r in org.invoices:
        # spend: invoices and credit memos; a tax invoice restating a commercial one is not
        if r.get("InvoiceType") not in ("INVOICE", "CREDIT_MEMO") or r.get("CommercialInvoiceId"):
            continue
        if accounts is not None and r["AccountId"] not in accounts:
            continue
        if r[view_field]["CurrencyCode"] != currency:
            continue
        m = f"{r['BillingPeriod']['Year']}-{r['BillingPeriod']['Month']:02d}"
        if months is not None and not (months[0] <= m <= months[1]):
            continue
        out[m] += Decimal(r[view_field]["TotalAmount"])
    return dict(out)


def _bars(fig):
    """The bar traces (a trend also carries a text trace labelling each month's total)."""
    return [t for t in fig.data if t.type == "bar"]


def _trace_names(fig):
    return sorted(t.name for t in _bars(fig))


def test_explorer_draws_every_account_in_a_figure_widget(df, org):
    ex = widgets.SpendExplorer(df)
    assert isinstance(ex.figure, go.FigureWidget)
    assert len(_bars(ex.figure)) == len(org.accounts)
    assert "USD" in ex.figure.layout.yaxis.title.text
    assert charts.figure_totals(ex.figure) == _net_by_month(org, "BaseCurrencyAmount", "USD")


def test_account_picker_redraws_with_only_that_account(df, org):
    ex = widgets.SpendExplorer(df)
    before = [list(t.y) for t in _bars(ex.figure)]
    acct = org.accounts[2]
    ex.account_picker.value = (acct.account_id,)
    assert _trace_names(ex.figure) == [f"{acct.name} ({acct.account_id})"]
    assert [list(t.y) for t in _bars(ex.figure)] != before
    assert charts.figure_totals(ex.figure) == _net_by_month(
        org, "BaseCurrencyAmount", "USD", accounts={acct.account_id}
    )


def test_period_picker_narrows_the_months(df, org):
    ex = widgets.SpendExplorer(df)
    months = list(ex.period_picker.options)
    ex.period_picker.value = (months[3], months[5])
    assert list(ex.figure.data[0].x) == months[3:6]
    assert charts.figure_totals(ex.figure) == _net_by_month(
        org, "BaseCurrencyAmount", "USD", months=(months[3], months[5])
    )


def test_view_and_currency_pickers_follow_the_selection(df, org):
    ex = widgets.SpendExplorer(df)
    eu = next(a for a in org.accounts if a.payment_currency != "USD")
    ex.account_picker.value = (eu.account_id,)
    ex.view_picker.value = "payment"
    # only the selected account's payment currency is offered, and drawn
    assert list(ex.currency_picker.options) == [eu.payment_currency]
    assert eu.payment_currency in ex.figure.layout.yaxis.title.text
    assert charts.figure_totals(ex.figure) == _net_by_month(
        org, "PaymentCurrencyAmount", eu.payment_currency, accounts={eu.account_id}
    )
    # widening the selection offers every payment currency, one at a time
    ex.account_picker.value = tuple(a.account_id for a in org.accounts)
    assert set(ex.currency_picker.options) == {a.payment_currency for a in org.accounts}
    for cur in ex.currency_picker.options:
        ex.currency_picker.value = cur
        assert ex.figure.layout.meta["invoicekit"]["currency"] == cur
        assert cur in ex.figure.layout.yaxis.title.text


def test_chart_picker_switches_chart(df):
    ex = widgets.SpendExplorer(df)
    ex.chart_picker.value = "top"
    assert ex.figure.layout.meta["invoicekit"]["chart"] == "top_accounts"
    assert ex.figure.data[0].orientation == "h"
    ex.chart_picker.value = "mom"
    assert ex.figure.layout.meta["invoicekit"]["chart"] == "month_over_month"
    ex.chart_picker.value = "trend_entity"
    assert ex.figure.layout.meta["invoicekit"]["by"] == "entity"


def test_empty_selection_says_why_instead_of_failing(df):
    ex = widgets.SpendExplorer(df)
    ex.account_picker.value = ()
    assert len(ex.figure.data) == 0
    assert "pick at least one account" in ex.message.value
    ex.account_picker.value = (ex.account_picker.options[0][1],)
    assert len(_bars(ex.figure)) == 1 and ex.message.value == ""


def test_download_panel_fills_its_bar_and_reruns_for_free(make_sandbox, tmp_path):
    from invoicekit.loader import read_invoice_summaries
    from invoicekit.report import find_secrets

    sb = make_sandbox(accounts=3, months=2)
    frame = read_invoice_summaries(sb.fleet_config, "2026-09", "2026-10", progress=False)
    panel = widgets.DownloadPanel(frame, tmp_path / "archive", fleet=sb.fleet_config, steps=3)
    assert panel.progress.max == frame["invoice_id"].nunique() and panel.progress.value == 0
    seen = []
    panel.progress.observe(lambda ch: seen.append(ch["new"]), names="value")
    # the button's path: a background thread
    panel.start().join(timeout=120)
    result = panel.result
    assert panel.error is None and result is not None
    assert seen and seen[-1] == panel.progress.max and len(set(seen)) >= 2  # it advanced in steps
    assert panel.progress.bar_style == "success"
    assert set(result["status"]) == {"downloaded"}
    invoices = set(result.loc[result["document_type"] == "INVOICE", "invoice_id"])
    assert invoices == set(frame["invoice_id"])
    assert all((tmp_path / "archive" / p).is_file() for p in result["path"])
    assert "no failures" in panel.status.value and find_secrets(panel.status.value) == []
    again = panel.run()
    assert set(again["status"]) == {"skipped"} and again.attrs["api_calls"] == 0
    assert "already archived" in panel.status.value


def test_an_account_keeps_its_colour_when_the_selection_changes(df, org):
    ex = widgets.SpendExplorer(df)
    before = {t.name: t.marker.color for t in _bars(ex.figure)}
    assert len(set(before.values())) == len(before)  # one colour per account
    acct = org.accounts[3]
    name = f"{acct.name} ({acct.account_id})"
    ex.account_picker.value = (acct.account_id, org.accounts[0].account_id)
    after = {t.name: t.marker.color for t in _bars(ex.figure)}
    assert after[name] == before[name]
    ex.chart_picker.value = "top"
    top = ex.figure.data[0]
    assert dict(zip(top.y, top.marker.color, strict=True))[name] == before[name]
