"""Charts: the invoice DataFrame in, a :class:`plotly.graph_objects.Figure` out.

Every function here is pure: it takes the one-row-per-invoice frame of
:mod:`invoicekit.schema` and returns a figure; none calls ``.show()``. The rules:

- **Never across currencies.** A money chart draws one currency of one currency view
  (``view="base"`` or ``"payment"``, ``"tax"`` too). When the view holds several currencies,
  pass ``currency=`` or use :func:`by_currency` to get one figure per currency.
- **The currency is in every money axis title**, e.g. ``"Net spend (EUR, base currency)"``.
- **Totals are exact.** Sums are computed as :class:`decimal.Decimal`; a figure holds floats
  only because plotly draws floats. The exact sums travel with the figure in
  ``fig.layout.meta["invoicekit"]`` (decimal strings) and in each point's hover text.
- **Spend** is :func:`invoicekit.documents.is_spend`: invoices and credit memos netted (credit
  memos carry negative amounts); payment receipts are not spend, and neither are tax invoices
  that restate a commercial invoice — the same rule as :func:`invoicekit.totals`, so a chart's
  totals equal ``totals()`` to the last digit.
- **Readable at any fleet size.** Stacked charts draw the largest accounts (``top=10``) and
  one grey "Other (k accounts)" series, so a legend never holds more than :data:`LEGEND_MAX`
  entries; month labels stand horizontal ("Oct", the year under January).
- **One colour per account.** :func:`account_colors` maps each account to a colour by its
  rank; pass the same map (``colors=``) to every chart of a run.
- **Two ways to show money** (:mod:`invoicekit._money`): hover text and sentences show the
  exact amount as booked (:func:`~invoicekit._money.format_money`: half-up to the minor unit,
  ``1,234.50 EUR``); axis ticks and bar labels show compact figures
  (:func:`~invoicekit._money.format_compact`: ``1.9M``, ``162M JPY``), the currency being in
  the axis title.

Examples
--------
>>> from invoicekit import charts  # doctest: +SKIP
>>> figs = charts.by_currency(charts.spend_trend, df, view="base")  # doctest: +SKIP
>>> figs["EUR"].layout.yaxis.title.text  # doctest: +SKIP
'Net spend (EUR, base currency)'
>>> charts.save_png(figs["EUR"], "spend_eur.png")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from invoicekit import _money, documents, schema
from invoicekit._money import format_compact, format_money
from invoicekit.errors import InvalidArgumentError, InvoiceKitError
from invoicekit.months import MONTH_ABBR, as_period, month_range, month_str, month_words, span

__all__ = [
    "TEMPLATE",
    "PALETTE",
    "OTHER_COLOR",
    "COLOURED_ACCOUNTS",
    "LEGEND_MAX",
    "account_colors",
    "month_label",
    "currencies",
    "by_currency",
    "spend_trend",
    "month_over_month",
    "top_accounts",
    "currency_mix",
    "credit_memos",
    "completeness_heatmap",
    "COMPLETENESS_CATEGORIES",
    "exchange_rates",
    "chargeback_bars",
    "chargeback_charts",
    "UNALLOCATED_COLOR",
    "figure_totals",
    "format_money",
    "find_chromium",
    "save_png",
]

#: Name of the plotly template every chart uses (registered in ``plotly.io.templates``).
TEMPLATE = "invoicekit"
#: The colours of accounts, by rank (the largest account first); 20, so that an account that
#: is among the largest of two currencies still gets a colour no neighbour in a chart has.
PALETTE = (
    "#1f4e79", "#e07b39", "#3a9d5d", "#c0392b", "#7d5ba6", "#8c6d31", "#d35f9f", "#1b9aaa",
    "#b8a200", "#4c78a8", "#f58518", "#54a24b", "#9d755d", "#e45756", "#72b7b2", "#b279a2",
    "#ff9da6", "#5f6b6d", "#bcbd22", "#17becf",
)  # fmt: skip
_COLORWAY = list(PALETTE[:12])
#: The colour of the "Other" series (every account not among a chart's largest).
OTHER_COLOR = "#b0b6bd"
#: How many of the largest accounts of each currency get their own colour (and legend entry).
COLOURED_ACCOUNTS = 10
#: The most legend entries a chart shows (the top accounts plus "Other").
LEGEND_MAX = 12
_INCREASE, _DECREASE = "#c0392b", "#3a9d5d"
_PNG_WIDTH_PX, _PNG_HEIGHT_PX = 1100, 550
_BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def _register_template() -> None:
    base = pio.templates["plotly_white"]
    tpl = go.layout.Template(base)
    tpl.layout.update(
        font={"family": "Helvetica, Arial, sans-serif", "size": 13, "color": "#222"},
        colorway=_COLORWAY,
        separators=".,",
        title={"x": 0.01, "xanchor": "left", "font": {"size": 17}},
        legend={"title": {"text": ""}, "font": {"size": 11}},
        margin={"l": 80, "r": 30, "t": 90, "b": 60},
        modebar={"orientation": "v", "bgcolor": "rgba(255,255,255,0.6)"},
        hoverlabel={"font": {"family": "Menlo, Consolas, monospace", "size": 12}},
        bargap=0.2,
    )
    pio.templates[TEMPLATE] = tpl


_register_template()


# ----------------------------------------------------------------------------------------------
# exact helpers
# ----------------------------------------------------------------------------------------------


def _money_title(what: str, currency: str, view: str) -> str:
    return f"{what} ({currency}, {schema.VIEW_LABELS[view]})"


_NICE_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
_TICKS = 6


def _nice_ticks(lo: Decimal, hi: Decimal) -> list[Decimal]:
    """About six round tick values from ``lo`` to ``hi`` (zero always inside: bars start there)."""
    lo, hi = min(lo, Decimal(0)), max(hi, Decimal(0))
    if lo == hi:
        return [Decimal(0)]
    raw = (hi - lo) / _TICKS
    unit = Decimal(1).scaleb(raw.adjusted())
    step = next(unit * m for m in _NICE_STEPS if unit * m >= raw)
    first = (lo / step).to_integral_value(rounding=ROUND_FLOOR) * step
    last = (hi / step).to_integral_value(rounding=ROUND_CEILING) * step
    n = int((last - first) / step)
    return [first + i * step for i in range(n + 1)]


def _tick_labels(ticks: Sequence[Decimal]) -> list[str]:
    """Compact labels naming each round tick exactly: ``"-200k"``, ``"0"``, ``"1.25M"``."""
    labels = []
    for t in ticks:
        scale, suffix = _money.compact_scale(t)
        labels.append(f"{(t / scale).normalize():f}{suffix}")
    return labels


def _money_axis(title: str, lo: Decimal | None, hi: Decimal | None, **extra: Any) -> dict:
    """A money axis: its title (with the currency) and compact tick labels at round values.

    ``lo``/``hi`` are the lowest and highest values drawn (``None`` when nothing is drawn: the
    axis keeps plotly's defaults).
    """
    axis: dict[str, Any] = {"title": {"text": title}, **extra}
    if lo is None or hi is None:
        return axis
    ticks = _nice_ticks(lo, hi)
    axis.update(tickmode="array", tickvals=[float(t) for t in ticks], ticktext=_tick_labels(ticks))
    if len(ticks) > 1:  # the axis ends on a labelled tick
        axis["range"] = [float(ticks[0]), float(ticks[-1])]
    return axis


def _percent(ratio: Decimal) -> str:
    """``Decimal("0.12345")`` → ``"+12.3%"``, rounded half-up like every figure shown."""
    return f"{(ratio * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):+f}%"


def _stack_bounds(sums: Iterable[tuple[str, Decimal]]) -> tuple[Decimal | None, Decimal | None]:
    """Lowest and highest extent of ``barmode="relative"`` stacks, from ``(x, value)`` pairs."""
    pos: dict[str, Decimal] = defaultdict(Decimal)
    neg: dict[str, Decimal] = defaultdict(Decimal)
    for x, v in sums:
        (pos if v > 0 else neg)[x] += v
    if not pos and not neg:
        return None, None
    return min(neg.values(), default=Decimal(0)), max(pos.values(), default=Decimal(0))


def _account_label(account_id: Any, name: Any) -> str:
    if name is None or name is pd.NA or (isinstance(name, float) and pd.isna(name)) or not name:
        return str(account_id)
    return f"{name} ({account_id})"


def _filter(
    df: pd.DataFrame,
    *,
    accounts: Iterable[str] | None = None,
    periods: tuple[Any, Any] | None = None,
) -> pd.DataFrame:
    """Rows of the chosen accounts and billing-period range (inclusive)."""
    mask = pd.Series(True, index=df.index)
    if accounts is not None:
        wanted = [str(a) for a in accounts]
        mask &= df["account_id"].isin(wanted).fillna(False).astype(bool)
    if periods is not None:
        start, end = periods
        bp = df["billing_period"]
        if start is not None:
            mask &= (bp >= as_period(start, "periods[0]")).fillna(False).astype(bool)
        if end is not None:
            mask &= (bp <= as_period(end, "periods[1]")).fillna(False).astype(bool)
    return df if mask.all() else df.loc[mask]


def currencies(df: pd.DataFrame, view: str = "base") -> list[str]:
    """The currencies of ``view`` present in ``df``, sorted.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (:func:`invoicekit.schema.to_frame`).
    view : {"base", "tax", "payment"}
        The currency view.

    Returns
    -------
    list of str

    Examples
    --------
    >>> charts.currencies(df, "payment")  # doctest: +SKIP
    ['EUR', 'JPY', 'USD']
    """
    col = f"{schema.check_view(view)}_currency"
    return sorted(str(c) for c in df[col].dropna().unique())


def _one_currency(df: pd.DataFrame, view: str, currency: str | None) -> str:
    present = currencies(df, view)
    if currency is not None:
        return str(currency).upper()
    if len(present) == 1:
        return present[0]
    if not present:
        raise InvalidArgumentError(
            f"no {view}-currency amounts in the selection: widen the accounts or periods"
        )
    raise InvalidArgumentError(
        f"the {view} view holds {len(present)} currencies ({', '.join(present)}); "
        "invoicekit never sums across currencies: pass currency='...' or use "
        "charts.by_currency(chart, df) for one figure per currency"
    )


def _rows(df: pd.DataFrame, view: str, currency: str) -> pd.DataFrame:
    cur = df[f"{view}_currency"]
    return df.loc[(cur == currency).fillna(False).astype(bool)]


def _exact_sums(df: pd.DataFrame, keys: Sequence[str], column: str) -> dict[tuple, Decimal]:
    """Exact Decimal sums of ``column`` grouped by ``keys`` (null amounts are skipped)."""
    sums: dict[tuple, Decimal] = defaultdict(Decimal)
    key_cols = [
        [month_str(v) for v in df[k]] if k == "billing_period" else list(df[k]) for k in keys
    ]
    with localcontext() as ctx:
        ctx.prec = 60  # far beyond decimal128(38, 10): never rounds
        for *key, amount in zip(*key_cols, df[column], strict=True):
            if amount is None or amount is pd.NA:
                continue
            sums[tuple(key)] += Decimal(amount)
    return dict(sums)


def _dstr(amount: Decimal) -> str:
    """Exact decimal string without trailing zeros: ``Decimal('3000.3900000000')`` → ``'3000.39'``."""
    return format(amount.normalize(), "f") if amount else "0"


def _account_labels(rows: pd.DataFrame) -> dict[str, str]:
    """account id → ``"Name (id)"`` for the accounts of ``rows``."""
    return {
        str(a): _account_label(a, n)
        for a, n in zip(rows["account_id"], rows["account_name"], strict=True)
    }


def month_label(month: str, *, first: bool = False) -> str:
    """A billing month as an axis label: ``"Oct"``, with the year under January and the first.

    Examples
    --------
    >>> month_label("2026-10"), month_label("2026-01"), month_label("2025-11", first=True)
    ('Oct', 'Jan<br>2026', 'Nov<br>2025')
    """
    y, m = month[:4], int(month[5:7])
    name = MONTH_ABBR[m - 1]
    return f"{name}<br>{y}" if first or m == 1 else name


def _month_axis(months: Sequence[str]) -> dict[str, Any]:
    """The billing-month category axis, in the given order, labelled horizontally ("Oct")."""
    months = list(months)
    step = max(1, -(-len(months) // 24))  # at most about 24 labels
    shown = [m for i, m in enumerate(months) if i % step == 0]
    return {
        "title": {"text": "Billing month"},
        "type": "category",
        "categoryorder": "array",
        "categoryarray": months,
        "tickmode": "array",
        "tickvals": shown,
        "ticktext": [month_label(m, first=i == 0) for i, m in enumerate(shown)],
        "tickangle": 0,
    }


def account_colors(df: pd.DataFrame, *, top: int = COLOURED_ACCOUNTS) -> dict[str, str]:
    """One colour per payer account for every chart drawn from ``df`` (deterministic).

    The ``top`` largest accounts of each currency of each view (by exact net spend over the
    whole frame) get a colour of :data:`PALETTE`, the largest first; two accounts that are
    among the largest of the same currency never share one. Every other account is drawn
    inside "Other" (:data:`OTHER_COLOR`). Pass the result as ``colors=`` to the charts of a
    run (the executive summary, the notebooks and the widgets do) so that an account keeps its
    colour whatever the selection.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (all the run's accounts and months).
    top : int
        Accounts coloured per currency.

    Returns
    -------
    dict of str to str
        Account id → ``"#rrggbb"`` (accounts without a colour are absent).

    Examples
    --------
    >>> colors = charts.account_colors(df)  # doctest: +SKIP
    >>> charts.spend_trend(df, currency="EUR", view="payment", colors=colors)  # doctest: +SKIP
    """
    sel = documents.spend(df)
    groups: list[list[str]] = []
    for view in schema.VIEWS:
        for cur in currencies(sel, view):
            sums = _exact_sums(_rows(sel, view, cur), ["account_id"], f"{view}_total")
            ranked = sorted(sums.items(), key=lambda kv: (-kv[1], str(kv[0][0])))
            groups.append([str(k[0]) for k, _ in ranked[:top]])
    rank: dict[str, int] = {}
    neighbours: dict[str, set[str]] = defaultdict(set)
    for g in groups:
        for i, a in enumerate(g):
            rank[a] = min(rank.get(a, i), i)
            neighbours[a].update(x for x in g if x != a)
    colors: dict[str, str] = {}
    for a in sorted(rank, key=lambda x: (rank[x], x)):
        used = {colors[n] for n in neighbours[a] if n in colors}
        free = [c for c in PALETTE if c not in used]
        colors[a] = free[0] if free else PALETTE[rank[a] % len(PALETTE)]
    return colors


def _series_colors(
    keys: Sequence[str], colors: dict[str, str] | None, *, by_rank: bool = False
) -> dict[str, str]:
    """A colour for each of ``keys`` (ranked): from ``colors``, else a free palette colour."""
    out: dict[str, str] = {}
    given = {} if by_rank or colors is None else colors
    for k in keys:
        c = given.get(k)
        if c is not None and c not in out.values():
            out[k] = c
    for k in keys:
        if k not in out:
            free = [c for c in PALETTE if c not in out.values()]
            out[k] = free[0] if free else OTHER_COLOR
    return out


def _check_top(top: Any) -> int | None:
    if top is None:
        return None
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= LEGEND_MAX - 1:
        raise InvalidArgumentError(
            f"top must be a whole number from 1 to {LEGEND_MAX - 1} (the legend holds the top "
            f"accounts and 'Other'), not {top!r}"
        )
    return top


def _top_keys(sums: dict[tuple, Decimal], top: int | None) -> tuple[list[str], list[str]]:
    """The stack keys ranked by exact total (largest first), split into ``top`` and the rest."""
    per: dict[str, Decimal] = defaultdict(Decimal)
    for (_, k), v in sums.items():
        per[str(k)] += v
    ranked = [k for k, _ in sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))]
    if top is None or len(ranked) <= top + 1:  # "Other" for one account would hide its name
        return ranked, []
    return ranked[:top], ranked[top:]


def _stacked_bars(
    fig: go.Figure,
    sums: dict[tuple, Decimal],
    labels: dict[str, str],
    currency: str,
    *,
    top: int | None = None,
    colors: dict[str, str] | None = None,
    what: str = "accounts",
    by_rank: bool = False,
) -> dict[str, Decimal]:
    """Bar traces of ``{(month, key): sum}``: the ``top`` keys, then one "Other" series.

    The months run without gaps from the first to the last; a segment's hover shows its exact
    amount as booked. Returns each month's exact total (every key included).
    """
    months = span(k[0] for k in sums)
    month_totals = {m: Decimal(0) for m in months}
    for (m, _), v in sums.items():
        month_totals[m] += v
    shown, rest = _top_keys(sums, top)
    palette = _series_colors(shown, colors, by_rank=by_rank)
    series = [(k, labels.get(k, k), [sums.get((m, k)) for m in months]) for k in shown]
    if rest:
        other: dict[str, Decimal] = {}
        rest_set = set(rest)
        for (m, k), v in sums.items():
            if str(k) in rest_set:
                other[m] = other.get(m, Decimal(0)) + v
        series.append(("", f"Other ({len(rest):,} {what})", [other.get(m) for m in months]))
    for key, name, ys in series:
        fig.add_bar(
            x=months,
            y=[float(v) if v is not None else None for v in ys],
            name=name,
            marker_color=palette.get(key, OTHER_COLOR),
            customdata=[[format_money(v, currency, code=True)] for v in ys],
            hovertemplate=f"<b>{name}</b><br>%{{x}}: %{{customdata[0]}}<extra></extra>",
        )
    return month_totals


def _label_totals(fig: go.Figure, month_totals: dict[str, Decimal], currency: str) -> None:
    """Each month's exact total, compact (``1.9M``), above its bar."""
    if len(month_totals) > 36:
        return
    fig.add_scatter(
        x=list(month_totals),
        y=[float(max(v, Decimal(0))) for v in month_totals.values()],
        mode="text",
        text=[format_compact(v) for v in month_totals.values()],
        textposition="top center",
        textfont={"size": 10, "color": "#444"},
        customdata=[[format_money(v, currency, code=True)] for v in month_totals.values()],
        hovertemplate="%{x} total: %{customdata[0]}<extra></extra>",
        showlegend=False,
        name="Month total",
        cliponaxis=False,
    )


def _meta(chart: str, **extra: Any) -> dict[str, Any]:
    return {"invoicekit": {"chart": chart, **extra}}


def _empty(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(
        text=message,
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        font={"size": 15, "color": "#666"},
    )
    return fig


def by_currency(
    chart: Callable[..., go.Figure], df: pd.DataFrame, *, view: str = "base", **kwargs: Any
) -> dict[str, go.Figure]:
    """One figure per currency of ``view``: ``{currency: chart(df, view=view, currency=c)}``.

    Parameters
    ----------
    chart : callable
        A money chart of this module (:func:`spend_trend`, :func:`month_over_month`,
        :func:`top_accounts`, :func:`credit_memos`).
    df : pandas.DataFrame
        Invoice summaries.
    view : {"base", "tax", "payment"}
        The currency view.
    **kwargs
        Passed to ``chart``.

    Returns
    -------
    dict of str to plotly.graph_objects.Figure
        Ordered by currency code.

    Examples
    --------
    >>> figs = charts.by_currency(charts.spend_trend, df, view="payment")  # doctest: +SKIP
    >>> sorted(figs)  # doctest: +SKIP
    ['EUR', 'USD']
    """
    return {c: chart(df, view=view, currency=c, **kwargs) for c in currencies(df, view)}


def figure_totals(fig: go.Figure) -> dict[str, Decimal]:
    """The exact totals a figure was drawn from, as Decimals (from ``fig.layout.meta``).

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        A figure made by this module.

    Returns
    -------
    dict of str to Decimal
        Keyed by x category (billing period for trends, account label for top accounts).

    Examples
    --------
    >>> charts.figure_totals(charts.spend_trend(df, currency="USD"))["2026-10"]  # doctest: +SKIP
    Decimal('48211.07')
    """
    meta = (fig.layout.meta or {}).get("invoicekit", {})
    return {k: Decimal(v) for k, v in meta.get("totals", {}).items()}


# ----------------------------------------------------------------------------------------------
# money charts
# ----------------------------------------------------------------------------------------------


def spend_trend(
    df: pd.DataFrame,
    *,
    by: str = "account",
    view: str = "base",
    currency: str | None = None,
    accounts: Iterable[str] | None = None,
    periods: tuple[Any, Any] | None = None,
    title: str | None = None,
    top: int | None = COLOURED_ACCOUNTS,
    colors: dict[str, str] | None = None,
) -> go.Figure:
    """Monthly net spend, stacked by payer account or by invoicing entity, in one currency.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (:func:`invoicekit.schema.to_frame`).
    by : {"account", "entity"}
        Stack by payer account or by AWS invoicing entity.
    view : {"base", "tax", "payment"}
        Which currency view of each invoice to draw.
    currency : str, optional
        The currency to draw; required when ``view`` holds several currencies.
    accounts : iterable of str, optional
        Only these account ids.
    periods : (start, end), optional
        Inclusive billing-period range, e.g. ``("2026-01", "2026-06")``; ``None`` for open ends.
    title : str, optional
        Replaces the default title.
    top : int or None
        The largest accounts (or entities) drawn each as a series; the others are one "Other"
        series, so the legend holds at most ``top + 1`` entries. ``None`` draws every one.
    colors : dict of str to str, optional
        Account id → colour (:func:`account_colors`); default: derived from ``df``, so charts
        drawn from the same frame colour an account alike.

    Returns
    -------
    plotly.graph_objects.Figure
        Stacked bars (``barmode="relative"``: credit memos below zero); x = billing month; each
        month's total (compact) above its bar.
        ``fig.layout.meta["invoicekit"]["totals"]`` holds each month's exact net total.

    Examples
    --------
    >>> fig = charts.spend_trend(df, by="entity", view="base", currency="USD")  # doctest: +SKIP
    >>> fig.layout.yaxis.title.text  # doctest: +SKIP
    'Net spend (USD, base currency)'
    """
    schema.check_view(view)
    if by not in ("account", "entity"):
        raise InvalidArgumentError(f"by must be 'account' or 'entity', not {by!r}")
    top = _check_top(top)
    if colors is None and by == "account":
        colors = account_colors(df)
    sel = documents.spend(_filter(df, accounts=accounts, periods=periods))
    cur = _one_currency(sel, view, currency)
    rows = _rows(sel, view, cur)
    column = f"{view}_total"
    fig = go.Figure()
    if by == "account":
        labels = _account_labels(rows)
        sums = _exact_sums(rows, ["billing_period", "account_id"], column)
    else:
        labels = {}
        sums = _exact_sums(
            rows.fillna({"invoicing_entity": "(no entity)"}),
            ["billing_period", "invoicing_entity"],
            column,
        )
    month_totals = _stacked_bars(
        fig,
        sums,
        labels,
        cur,
        top=top,
        colors=colors,
        what="accounts" if by == "account" else "entities",
        by_rank=by != "account",
    )
    _label_totals(fig, month_totals, cur)
    sums_by_month = [(m, v) for (m, _), v in sums.items()]
    default_title = (
        f"Monthly net spend by {'payer account' if by == 'account' else 'invoicing entity'}"
        f" — {cur}, {schema.VIEW_LABELS[view]}"
    )
    fig.update_layout(
        template=TEMPLATE,
        barmode="relative",
        title=title or default_title,
        xaxis=_month_axis(list(month_totals)),
        yaxis=_money_axis(_money_title("Net spend", cur, view), *_stack_bounds(sums_by_month)),
        legend={"traceorder": "normal"},
        meta=_meta(
            "spend_trend",
            currency=cur,
            view=view,
            by=by,
            totals={m: _dstr(v) for m, v in month_totals.items()},
        ),
    )
    if not sums:
        _empty(fig, "No invoices in this selection")
    return fig


def month_over_month(
    df: pd.DataFrame,
    *,
    view: str = "base",
    currency: str | None = None,
    accounts: Iterable[str] | None = None,
    periods: tuple[Any, Any] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Change of net spend against the previous billing month, in one currency.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries.
    view : {"base", "tax", "payment"}
        Currency view.
    currency : str, optional
        Required when the view holds several currencies.
    accounts : iterable of str, optional
        Only these account ids.
    periods : (start, end), optional
        Inclusive billing-period range.
    title : str, optional
        Replaces the default title.

    Returns
    -------
    plotly.graph_objects.Figure
        One bar per month from the second month on: red for an increase, green for a
        decrease; the hover shows the change in percent. ``meta["invoicekit"]["totals"]``
        holds each month's exact change, ``["net"]`` each month's exact net spend.

    Examples
    --------
    >>> fig = charts.month_over_month(df, currency="EUR")  # doctest: +SKIP
    """
    schema.check_view(view)
    sel = documents.spend(_filter(df, accounts=accounts, periods=periods))
    cur = _one_currency(sel, view, currency)
    rows = _rows(sel, view, cur)
    sums = _exact_sums(rows, ["billing_period"], f"{view}_total")
    net: dict[str, Decimal] = {}
    if sums:
        first, last = min(k[0] for k in sums), max(k[0] for k in sums)
        net = {m: sums.get((m,), Decimal(0)) for m in month_range(first, last)}
    months = list(net)
    changes = {m: net[m] - net[p] for p, m in zip(months, months[1:], strict=False)}
    pct = {
        m: (_percent(changes[m] / net[p]) if net[p] else "n/a")
        for p, m in zip(months, months[1:], strict=False)
    }
    fig = go.Figure()
    xs = list(changes)
    fig.add_bar(
        x=xs,
        y=[float(changes[m]) for m in xs],
        marker_color=[_INCREASE if changes[m] > 0 else _DECREASE for m in xs],
        customdata=[
            [format_money(changes[m], cur, code=True), pct[m], format_money(net[m], cur, code=True)]
            for m in xs
        ],
        hovertemplate=(
            "%{x}: %{customdata[0]} (%{customdata[1]})<br>net spend %{customdata[2]}<extra></extra>"
        ),
        name="Change",
        showlegend=False,
    )
    fig.update_layout(
        template=TEMPLATE,
        title=title or f"Month-over-month change in net spend — {cur}, {schema.VIEW_LABELS[view]}",
        xaxis=_month_axis(xs),
        yaxis=_money_axis(
            _money_title("Change", cur, view),
            min(changes.values(), default=None),
            max(changes.values(), default=None),
            zeroline=True,
        ),
        meta=_meta(
            "month_over_month",
            currency=cur,
            view=view,
            totals={m: _dstr(v) for m, v in changes.items()},
            net={m: _dstr(v) for m, v in net.items()},
        ),
    )
    if not xs:
        _empty(fig, "Needs at least two billing months")
    return fig


def top_accounts(
    df: pd.DataFrame,
    *,
    n: int = 10,
    view: str = "base",
    currency: str | None = None,
    periods: tuple[Any, Any] | None = None,
    title: str | None = None,
    colors: dict[str, str] | None = None,
    other: bool = True,
) -> go.Figure:
    """The ``n`` payer accounts with the highest net spend in one currency, and "Other".

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries.
    n : int
        How many accounts (largest first, from the top of the chart).
    view : {"base", "tax", "payment"}
        Currency view.
    currency : str, optional
        Required when the view holds several currencies.
    periods : (start, end), optional
        Inclusive billing-period range.
    title : str, optional
        Replaces the default title.
    colors : dict of str to str, optional
        Account id → colour (:func:`account_colors`); default: derived from ``df``.
    other : bool
        Draw the accounts not shown as one grey "Other (k accounts)" bar (a second trace).

    Returns
    -------
    plotly.graph_objects.Figure
        Horizontal bars, one colour per account (the first trace; "Other" the second);
        ``meta["invoicekit"]["totals"]`` maps each account's label to its exact net spend,
        ``["rest"]`` is the exact net spend of the accounts not shown.

    Examples
    --------
    >>> fig = charts.top_accounts(df, n=5, currency="USD")  # doctest: +SKIP
    """
    schema.check_view(view)
    if not isinstance(n, int) or n < 1:
        raise InvalidArgumentError(f"n must be a positive integer, not {n!r}")
    if colors is None:
        colors = account_colors(df)
    sel = documents.spend(_filter(df, periods=periods))
    cur = _one_currency(sel, view, currency)
    rows = _rows(sel, view, cur)
    labels = _account_labels(rows)
    sums = _exact_sums(rows, ["account_id"], f"{view}_total")
    ranked = sorted(sums.items(), key=lambda kv: (-kv[1], kv[0][0]))
    top, rest = ranked[:n], ranked[n:]
    rest_total = sum((v for _, v in rest), Decimal(0))
    palette = _series_colors([str(k[0]) for k, _ in top], colors)
    top = list(reversed(top))  # plotly draws horizontal bars bottom-up
    names = [labels[k[0]] for k, _ in top]
    fig = go.Figure()
    fig.add_bar(
        y=names,
        x=[float(v) for _, v in top],
        orientation="h",
        marker_color=[palette[str(k[0])] for k, _ in top],
        customdata=[[format_money(v, cur, code=True)] for _, v in top],
        text=[format_compact(v, cur) for _, v in top],
        textposition="auto",
        hovertemplate="<b>%{y}</b><br>%{customdata[0]}<extra></extra>",
        showlegend=False,
        name="Net spend",
    )
    other_label = f"Other ({len(rest):,} accounts)"
    if rest and other:
        fig.add_bar(
            y=[other_label],
            x=[float(rest_total)],
            orientation="h",
            marker_color=OTHER_COLOR,
            customdata=[[format_money(rest_total, cur, code=True)]],
            text=[format_compact(rest_total, cur)],
            textposition="auto",
            hovertemplate="<b>%{y}</b><br>%{customdata[0]}<extra></extra>",
            showlegend=False,
            name="Other",
        )
    drawn = [v for _, v in top] + ([rest_total] if rest and other else [])
    what = f"Top {min(n, len(ranked))} payer accounts by net spend"
    fig.update_layout(
        template=TEMPLATE,
        title=title or f"{what} — {cur}, {schema.VIEW_LABELS[view]}",
        xaxis=_money_axis(
            _money_title("Net spend", cur, view),
            min(drawn, default=None),
            max(drawn, default=None),
        ),
        yaxis={
            "title": {"text": ""},
            "automargin": True,
            "categoryorder": "array",
            "categoryarray": ([other_label] if rest and other else []) + names,
        },
        height=max(360, 130 + 34 * len(drawn)),
        meta=_meta(
            "top_accounts",
            currency=cur,
            view=view,
            totals={labels[k[0]]: _dstr(v) for k, v in top},
            rest=_dstr(rest_total),
            rest_accounts=len(rest),
        ),
    )
    if not top:
        _empty(fig, "No invoices in this selection")
    return fig


def credit_memos(
    df: pd.DataFrame,
    *,
    view: str = "base",
    currency: str | None = None,
    accounts: Iterable[str] | None = None,
    periods: tuple[Any, Any] | None = None,
    title: str | None = None,
    top: int | None = COLOURED_ACCOUNTS,
    colors: dict[str, str] | None = None,
) -> go.Figure:
    """Credit memos per billing month, stacked by payer account, in one currency.

    Credit memos carry negative amounts, so the bars hang below zero.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries.
    view : {"base", "tax", "payment"}
        Currency view.
    currency : str, optional
        Required when the view holds several currencies (of the credit memos). When the
        selection has no credit memo at all and no currency is given, the figure says so.
    accounts : iterable of str, optional
        Only these account ids.
    periods : (start, end), optional
        Inclusive billing-period range.
    title : str, optional
        Replaces the default title.
    top : int or None
        Accounts drawn each as a series; the others are one "Other" series.
    colors : dict of str to str, optional
        Account id → colour (:func:`account_colors`); default: derived from ``df``.

    Returns
    -------
    plotly.graph_objects.Figure
        ``meta["invoicekit"]["totals"]`` holds each month's exact credit-memo total and
        ``["count"]`` the number of credit memos.

    Examples
    --------
    >>> fig = charts.credit_memos(df, currency="USD")  # doctest: +SKIP
    """
    schema.check_view(view)
    top = _check_top(top)
    if colors is None:
        colors = account_colors(df)
    sel = _filter(df, accounts=accounts, periods=periods)
    sel = sel.loc[(documents.kinds(sel) == documents.CREDIT_MEMO).to_numpy()]
    if sel.empty and currency is None:
        cur = "—"
    else:
        cur = _one_currency(sel, view, currency)
    rows = _rows(sel, view, cur)
    sums = _exact_sums(rows, ["billing_period", "account_id"], f"{view}_total")
    fig = go.Figure()
    month_totals = _stacked_bars(fig, sums, _account_labels(rows), cur, top=top, colors=colors)
    fig.update_layout(
        template=TEMPLATE,
        barmode="relative",
        title=title or f"Credit memos by billing month — {cur}, {schema.VIEW_LABELS[view]}",
        xaxis=_month_axis(list(month_totals)),
        yaxis=_money_axis(
            _money_title("Credit memos", cur, view),
            *_stack_bounds((m, v) for (m, _), v in sums.items()),
        ),
        meta=_meta(
            "credit_memos",
            currency=cur,
            view=view,
            count=len(rows),
            totals={m: _dstr(v) for m, v in month_totals.items()},
        ),
    )
    if not sums:
        _empty(fig, "No credit memos in this selection")
    return fig


# ----------------------------------------------------------------------------------------------
# counts and rates (no money summed)
# ----------------------------------------------------------------------------------------------


def currency_mix(
    df: pd.DataFrame,
    *,
    view: str = "payment",
    periods: tuple[Any, Any] | None = None,
    title: str | None = None,
) -> go.Figure:
    """How many invoices each currency carries per billing month (a count, not money).

    Amounts in different currencies are never added: the bars count invoices and credit
    memos; the hover shows each currency's own exact net total for that month.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries.
    view : {"base", "tax", "payment"}
        Currency view (the payment currency by default: what accounts payable pays in).
    periods : (start, end), optional
        Inclusive billing-period range.
    title : str, optional
        Replaces the default title.

    Returns
    -------
    plotly.graph_objects.Figure
        One stacked bar trace per currency; ``meta["invoicekit"]["counts"]`` maps
        ``"YYYY-MM"`` to ``{currency: count}``.

    Examples
    --------
    >>> fig = charts.currency_mix(df, view="payment")  # doctest: +SKIP
    """
    schema.check_view(view)
    sel = documents.spend(_filter(df, periods=periods))
    curs = currencies(sel, view)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for p, c in zip(sel["billing_period"], sel[f"{view}_currency"], strict=True):
        if c is None or c is pd.NA:
            continue
        counts[(month_str(p), str(c))] += 1
    sums = _exact_sums(
        sel.dropna(subset=[f"{view}_currency"]),
        ["billing_period", f"{view}_currency"],
        f"{view}_total",
    )
    months = span(k[0] for k in counts)
    fig = go.Figure()
    for c in curs:
        fig.add_bar(
            x=months,
            y=[counts.get((m, c), 0) for m in months],
            name=c,
            customdata=[[format_money(sums.get((m, c), Decimal(0)), c, code=True)] for m in months],
            hovertemplate=(
                f"<b>{c}</b><br>%{{x}}: %{{y}} invoices and credit memos"
                "<br>net %{customdata[0]}<extra></extra>"
            ),
        )
    fig.update_layout(
        template=TEMPLATE,
        barmode="stack",
        title=title
        or f"Currency mix — invoices per {schema.VIEW_LABELS[view]} (counts, never summed money)",
        xaxis=_month_axis(months),
        yaxis={"title": {"text": "Invoices and credit memos (count)"}, "tickformat": ",d"},
        meta=_meta(
            "currency_mix",
            view=view,
            currencies=curs,
            counts={m: {c: counts.get((m, c), 0) for c in curs} for m in months},
        ),
    )
    if not months:
        _empty(fig, "No invoices in this selection")
    return fig


#: The categories of :func:`completeness_heatmap`: (value, label, colour).
COMPLETENESS_CATEGORIES = (
    (0, "missing (no invoice)", "#c0392b"),
    (1, "expected (1 invoice)", "#dcebf7"),
    (2, "2 or more invoices (several AWS entities)", "#cde8d4"),
)


def completeness_heatmap(
    df: pd.DataFrame,
    *,
    start: Any = None,
    end: Any = None,
    accounts: Iterable[str] | dict[str, str] | None = None,
    title: str | None = None,
    max_rows: int = 40,
) -> go.Figure:
    """Which payer account (rows) has its invoice for which billing month (columns).

    The grid is categorical, not a scale: **missing** (no invoice: red), **expected** (one
    invoice: light) and **2 or more** (several AWS invoicing entities bill the account, a
    normal case: a calm blue), each cell labelled with its count.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries.
    start, end : str or pandas.Period, optional
        The requested billing-period range (inclusive); defaults to the range in ``df``.
        Pass the range you asked for: a month with no invoice at all must still show.
    accounts : iterable of str or dict of id to name, optional
        Every account that should have invoices (e.g. the fleet's), so that an account
        which returned nothing still gets a row of zeros; defaults to the accounts in ``df``.
    title : str, optional
        Replaces the default title.
    max_rows : int
        At most this many account rows (accounts with a missing month first); the title says
        how many are shown. ``meta["invoicekit"]["missing"]`` always lists every gap.

    Returns
    -------
    plotly.graph_objects.Figure
        A heatmap counting each cell's invoices and tax invoices (credit memos and payment
        receipts not counted, as in :func:`invoicekit.completeness_grid`);
        ``meta["invoicekit"]["missing"]`` lists ``[account_id, "YYYY-MM"]`` pairs with none,
        ``["counts"]`` the count of every shown cell (rows as ``["accounts"]``).

    Examples
    --------
    >>> fig = charts.completeness_heatmap(df, start="2026-01", end="2026-10")  # doctest: +SKIP
    >>> fig.layout.meta["invoicekit"]["missing"]  # doctest: +SKIP
    []
    """
    # an invoice, or a tax invoice restating one, is there (as reconcile.completeness_grid counts)
    inv = df.loc[documents.kinds(df).isin([documents.INVOICE, documents.TAX_INVOICE]).to_numpy()]
    if start is None:
        start = df["billing_period"].min() if len(df) else None
    if end is None:
        end = df["billing_period"].max() if len(df) else None
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        months: list[str] = []
    else:
        months = month_range(start, end)
    names = {
        str(a): n
        for a, n in zip(df["account_id"], df["account_name"], strict=True)
        if a is not None and a is not pd.NA
    }
    if accounts is None:
        ids = sorted(names)
    elif isinstance(accounts, dict):
        ids = sorted(str(a) for a in accounts)
        names.update({str(a): n for a, n in accounts.items() if n})
    else:
        ids = sorted(str(a) for a in accounts)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for a, p in zip(inv["account_id"], inv["billing_period"], strict=True):
        counts[(str(a), month_str(p))] += 1
    missing = [[a, m] for a in ids for m in months if counts.get((a, m), 0) == 0]
    gaps = {a for a, _ in missing}
    shown = [a for a in ids if a in gaps] + [a for a in ids if a not in gaps]
    shown = sorted(shown[: max(1, int(max_rows))], key=lambda a: (a not in gaps, a))
    cells = [[counts.get((a, m), 0) for m in months] for a in shown]
    z = [[min(v, 2) for v in row] for row in cells]
    ylabels = [_account_label(a, names.get(a)) for a in shown]
    n_cat = len(COMPLETENESS_CATEGORIES)
    scale = []
    for i, (_, _, colour) in enumerate(COMPLETENESS_CATEGORIES):
        scale += [[i / n_cat, colour], [(i + 1) / n_cat, colour]]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=months,
            y=ylabels,
            text=[[str(v) for v in row] for row in cells],
            texttemplate="%{text}",
            textfont={"size": 10},
            zmin=-0.5,
            zmax=n_cat - 0.5,
            colorscale=scale,
            xgap=2,
            ygap=2,
            colorbar={
                "title": {"text": ""},
                "tickvals": [v for v, _, _ in COMPLETENESS_CATEGORIES],
                "ticktext": [label for _, label, _ in COMPLETENESS_CATEGORIES],
                "len": min(1.0, max(0.3, 90 / (40 + 22 * max(1, len(shown))))),
                "yanchor": "top",
                "y": 1,
            },
            hovertemplate="%{y}<br>%{x}: %{text} invoice(s), tax invoices included<extra></extra>",
        )
    )
    more = (
        f"; {len(shown):,} of {len(ids):,} accounts shown, those with a gap first"
        if len(shown) < len(ids)
        else ""
    )
    fig.update_layout(
        template=TEMPLATE,
        title=title
        or (
            f"Completeness — invoices per account and billing month ({len(missing)} missing{more})"
        ),
        xaxis={**_month_axis(months), "side": "top", "title": {"text": ""}},
        yaxis={
            "title": {"text": ""},
            "autorange": "reversed",
            "automargin": True,
            "type": "category",
        },
        height=max(320, 150 + 22 * len(shown)),
        meta=_meta(
            "completeness_heatmap",
            missing=missing,
            months=months,
            accounts=shown,
            all_accounts=ids,
            counts=cells,
            categories=[label for _, label, _ in COMPLETENESS_CATEGORIES],
        ),
    )
    return fig


def exchange_rates(
    df: pd.DataFrame,
    *,
    view: str = "payment",
    periods: tuple[Any, Any] | None = None,
    title: str | None = None,
) -> go.Figure:
    """The exchange rates AWS applied, one panel per currency pair, by billing month.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries.
    view : {"base", "tax", "payment"}
        The converted view whose ``CurrencyExchangeDetails`` to show.
    periods : (start, end), optional
        Inclusive billing-period range.
    title : str, optional
        Replaces the default title.

    Returns
    -------
    plotly.graph_objects.Figure
        Per pair (``SRC→TGT``), the mean rate of the month's invoices with the lowest and
        highest as error bars; each panel's axis is titled ``"TGT per 1 SRC"``.
        ``meta["invoicekit"]["rates"]`` maps ``"SRC→TGT"`` to ``{month: [min, max]}`` as
        exact decimal strings.

    Examples
    --------
    >>> fig = charts.exchange_rates(df, view="payment")  # doctest: +SKIP
    """
    schema.check_view(view)
    sel = _filter(df, periods=periods)
    rate_col, src_col, tgt_col = f"{view}_fx_rate", f"{view}_fx_source", f"{view}_currency"
    sel = sel.loc[sel[rate_col].notna() & sel[src_col].notna()]
    by_pair: dict[str, dict[str, list[Decimal]]] = defaultdict(lambda: defaultdict(list))
    for p, s, t, r in zip(
        sel["billing_period"], sel[src_col], sel[tgt_col], sel[rate_col], strict=True
    ):
        by_pair[f"{s}→{t}"][month_str(p)].append(Decimal(r))
    pairs = sorted(by_pair)
    rows = max(1, len(pairs))
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=pairs or None
    )
    meta_rates: dict[str, dict[str, list[str]]] = {}
    for i, pair in enumerate(pairs, start=1):
        src, tgt = pair.split("→")
        months = sorted(by_pair[pair])
        lo = [min(by_pair[pair][m]) for m in months]
        hi = [max(by_pair[pair][m]) for m in months]
        with localcontext() as ctx:
            ctx.prec = 40
            mean = [sum(by_pair[pair][m]) / len(by_pair[pair][m]) for m in months]
        fig.add_scatter(
            x=months,
            y=[float(v) for v in mean],
            mode="lines+markers",
            name=pair,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [float(h - m) for h, m in zip(hi, mean, strict=True)],
                "arrayminus": [float(m - low) for m, low in zip(mean, lo, strict=True)],
            },
            customdata=[
                [_dstr(a), _dstr(b), len(by_pair[pair][m])]
                for a, b, m in zip(lo, hi, months, strict=True)
            ],
            hovertemplate=(
                f"<b>{pair}</b><br>%{{x}}: %{{customdata[0]}} – %{{customdata[1]}}"
                f" {tgt} per {src}<br>%{{customdata[2]}} document(s)<extra></extra>"
            ),
            row=i,
            col=1,
        )
        fig.update_yaxes(title_text=f"{tgt} per 1 {src}", row=i, col=1)
        meta_rates[pair] = {m: [_dstr(a), _dstr(b)] for m, a, b in zip(months, lo, hi, strict=True)}
    fig.update_xaxes(type="category")
    fig.update_xaxes(title_text="Billing period", row=rows, col=1)
    fig.update_layout(
        template=TEMPLATE,
        title=title or f"Exchange rates applied — {schema.VIEW_LABELS[view]} view",
        showlegend=False,
        height=max(360, 80 + 230 * rows),
        meta=_meta("exchange_rates", view=view, rates=meta_rates),
    )
    if not pairs:
        _empty(fig, f"No currency conversion in the {schema.VIEW_LABELS[view]} view")
    return fig


# ----------------------------------------------------------------------------------------------
# PNG export
# ----------------------------------------------------------------------------------------------


#: The colour of unallocated spend in :func:`chargeback_bars` (a finding: it stands out).
UNALLOCATED_COLOR = _INCREASE


def _chargeback_label(row: Any, several: set[str]) -> str:
    if str(row.status) == "split unit":
        return f"Unallocated: invoice unit {row.invoice_unit} (members in several business units)"
    if str(row.status) != "allocated":
        return "Unallocated: no mapping"
    if row.business_unit not in several:
        return str(row.business_unit)
    extra = [str(v) for v in (row.cost_center, row.gl_account) if v is not None and v == v and v]
    return " · ".join([str(row.business_unit), *extra])


def chargeback_bars(
    chargeback: pd.DataFrame, *, currency: str | None = None, title: str | None = None
) -> go.Figure:
    """One month's chargeback in one currency: a bar per business unit, unallocated in red.

    Parameters
    ----------
    chargeback : pandas.DataFrame
        The frame of :func:`invoicekit.business_units.chargeback` (one line per business unit,
        cost center, GL account and currency, then the unallocated lines).
    currency : str, optional
        Required when the chargeback holds several currencies (never summed across them).
    title : str, optional
        Replaces the default title.

    Returns
    -------
    plotly.graph_objects.Figure
        Horizontal bars, largest business unit on top, the unallocated lines at the bottom in
        :data:`UNALLOCATED_COLOR`; ``meta["invoicekit"]["totals"]`` maps each bar's label to
        its exact total, ``["unallocated"]`` the exact unallocated total, ``["payable_total"]``
        the month's payable total the bars add up to.

    Examples
    --------
    >>> fig = charts.chargeback_bars(cb, currency="EUR")  # doctest: +SKIP
    """
    curs = sorted({str(c) for c in chargeback["currency"]}) if len(chargeback) else []
    if currency is None:
        if len(curs) > 1:
            raise InvalidArgumentError(
                f"the chargeback holds {len(curs)} currencies ({', '.join(curs)}): pass "
                "currency=, or use chargeback_charts() for one chart per currency"
            )
        currency = curs[0] if curs else ""
    view = str(chargeback.attrs.get("view", "payment"))
    month = chargeback.attrs.get("month")
    rows = chargeback[chargeback["currency"] == currency] if len(chargeback) else chargeback
    allocated = rows[rows["status"] == "allocated"] if len(rows) else rows
    counts = allocated["business_unit"].value_counts() if len(allocated) else pd.Series(dtype=int)
    several = {str(k) for k, v in counts.items() if v > 1}
    bars: list[tuple[str, Decimal, bool]] = []
    for r in rows.itertuples():
        bars.append((_chargeback_label(r, several), Decimal(r.total), str(r.status) != "allocated"))
    ordered = sorted([b for b in bars if not b[2]], key=lambda b: (-b[1], b[0])) + [
        b for b in bars if b[2]
    ]
    ordered.reverse()  # plotly draws horizontal bars bottom-up
    fig = go.Figure()
    fig.add_bar(
        y=[b[0] for b in ordered],
        x=[float(b[1]) for b in ordered],
        orientation="h",
        marker_color=[UNALLOCATED_COLOR if b[2] else PALETTE[0] for b in ordered],
        customdata=[[format_money(b[1], currency, code=True)] for b in ordered],
        text=[format_compact(b[1], currency) for b in ordered],
        textposition="auto",
        hovertemplate="<b>%{y}</b><br>%{customdata[0]}<extra></extra>",
        showlegend=False,
        name="Charged back",
    )
    total = sum((b[1] for b in bars), Decimal(0))
    unallocated = sum((b[1] for b in bars if b[2]), Decimal(0))
    when = f" — {month_words(month)}" if month else ""
    fig.update_layout(
        template=TEMPLATE,
        title=title
        or f"Chargeback by business unit{when} — {currency}, {schema.VIEW_LABELS[view]}",
        xaxis=_money_axis(
            _money_title("Charged back", currency, view),
            min((b[1] for b in bars), default=None),
            max((b[1] for b in bars), default=None),
        ),
        yaxis={"title": {"text": ""}, "automargin": True},
        height=max(360, 130 + 34 * len(bars)),
        meta=_meta(
            "chargeback",
            currency=currency,
            view=view,
            month=month,
            totals={b[0]: _dstr(b[1]) for b in bars},
            unallocated=_dstr(unallocated),
            payable_total=_dstr(total),
        ),
    )
    if not bars:
        _empty(fig, "No payable invoice this month")
    return fig


def chargeback_charts(chargeback: pd.DataFrame) -> dict[str, go.Figure]:
    """One :func:`chargeback_bars` figure per currency of the chargeback, by currency code.

    Examples
    --------
    >>> figs = charts.chargeback_charts(cb)  # doctest: +SKIP
    >>> notebook.show_charts(figs)  # doctest: +SKIP
    """
    curs = sorted({str(c) for c in chargeback["currency"]}) if len(chargeback) else []
    return {c: chargeback_bars(chargeback, currency=c) for c in curs}


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome usable by kaleido: ``$BROWSER_PATH`` or one on ``PATH``.

    Returns
    -------
    str or None
        ``None`` when there is none (install Debian's: ``apt-get install chromium``).

    Examples
    --------
    >>> charts.find_chromium()  # doctest: +SKIP
    '/usr/bin/chromium'
    """
    env = os.environ.get("BROWSER_PATH")
    if env and os.access(env, os.X_OK):
        return env
    for name in _BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def save_png(
    fig: go.Figure,
    path: str | os.PathLike[str],
    *,
    width: int = _PNG_WIDTH_PX,
    height: int | None = None,
    scale: float = 1.0,
) -> Path:
    """Write ``fig`` as a PNG through kaleido and the system Chromium (offline).

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        The figure.
    path : str or os.PathLike
        Destination file; parent directories are created.
    width, height : int
        Pixels (height defaults to the figure's own, else 550).
    scale : float
        Resolution multiplier (2 for print).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InvoiceKitError
        When no Chromium is installed (the message says how to install one).

    Examples
    --------
    >>> charts.save_png(charts.spend_trend(df, currency="USD"), "out/usd.png")  # doctest: +SKIP
    PosixPath('out/usd.png')
    """
    browser = find_chromium()
    if browser is None:
        raise InvoiceKitError(
            "PNG export needs Chromium: install Debian's (apt-get install chromium) "
            "or set BROWSER_PATH to a Chrome/Chromium executable"
        )
    import kaleido  # lazy: only PNG export needs it

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    h = height or fig.layout.height or _PNG_HEIGHT_PX
    kaleido.write_fig_sync(
        fig,
        path=str(out),
        opts={"format": "png", "width": int(width), "height": int(h), "scale": float(scale)},
        kopts={"path": browser, "mathjax": False},  # MathJax would come from a CDN: offline
    )
    return out
