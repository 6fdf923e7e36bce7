"""Hand-written inline SVG for the executive summary: light, offline, crisp in print.

One chart kind: monthly stacked bars of one currency (the top accounts and "Other"), each
month's total labelled above its bar (compact, :func:`invoicekit._money.format_compact`),
a legend of at most a dozen entries, horizontal month labels. Every rectangle carries its exact
amount (:func:`invoicekit._money.format_money`) as a tooltip. Private: the report calls it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from invoicekit._money import format_compact, format_money
from invoicekit.months import MONTH_ABBR

WIDTH_PX = 1000
_LEFT, _RIGHT_LEGEND, _TOP, _BOTTOM = 52, 250, 22, 34


@dataclass(frozen=True)
class Series:
    """One stacked series: its label, colour and exact amount per month (None: nothing)."""

    label: str
    color: str
    values: Sequence[Decimal | None]
    total: Decimal


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _f(x: float) -> str:
    return f"{x:.1f}"


def _short(label: str, limit: int = 34) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def stacked_bars(
    months: Sequence[str],
    series: Sequence[Series],
    currency: str,
    *,
    height: int = 230,
    label: str = "",
) -> str:
    """An ``<svg>`` of monthly stacked bars (negative amounts hang below zero)."""
    from invoicekit.charts import _nice_ticks, _tick_labels

    n = max(1, len(months))
    pos = [Decimal(0)] * n
    neg = [Decimal(0)] * n
    totals = [Decimal(0)] * n
    for s in series:
        for i, v in enumerate(s.values):
            if v is None:
                continue
            totals[i] += v
            if v >= 0:
                pos[i] += v
            else:
                neg[i] += v
    lo, hi = min(neg, default=Decimal(0)), max(pos, default=Decimal(0))
    ticks = _nice_ticks(lo, hi) if hi != lo else [Decimal(0), Decimal(1)]
    t_lo, t_hi = ticks[0], ticks[-1]
    plot_w = WIDTH_PX - _LEFT - _RIGHT_LEGEND
    plot_h = height - _TOP - _BOTTOM
    span_v = float(t_hi - t_lo) or 1.0

    def y(v: Decimal) -> float:
        return _TOP + plot_h * (1 - float(v - t_lo) / span_v)

    slot = plot_w / n
    bar_w = slot * 0.68
    out = [
        f'<svg class="ik-chart" viewBox="0 0 {WIDTH_PX} {height}" role="img" '
        f'aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg" '
        'font-family="Helvetica, Arial, sans-serif">'
    ]
    # grid and y ticks
    for t, text in zip(ticks, _tick_labels(ticks), strict=True):
        yy = y(t)
        stroke = "#888" if t == 0 else "#e3e6ea"
        out.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{_f(yy)}" y2="{_f(yy)}" '
            f'stroke="{stroke}" stroke-width="1"/>'
            f'<text x="{_LEFT - 6}" y="{_f(yy + 4)}" font-size="11" fill="#555" '
            f'text-anchor="end">{_e(text)}</text>'
        )
    out.append(f'<text x="4" y="{_TOP - 8}" font-size="11" fill="#555">{_e(currency)}</text>')
    # bars
    for i, m in enumerate(months):
        x = _LEFT + slot * i + (slot - bar_w) / 2
        up, down = Decimal(0), Decimal(0)
        for s in series:
            v = s.values[i] if i < len(s.values) else None
            if v is None or v == 0:
                continue
            if v > 0:
                y0, y1 = y(up + v), y(up)
                up += v
            else:
                y0, y1 = y(down), y(down + v)
                down += v
            out.append(
                f'<rect x="{_f(x)}" y="{_f(y0)}" width="{_f(bar_w)}" '
                f'height="{_f(max(0.5, y1 - y0))}" fill="{s.color}">'
                f"<title>{_e(s.label)}, {_e(m)}: {_e(format_money(v, currency, code=True))}"
                "</title></rect>"
            )
        cx = x + bar_w / 2
        out.append(
            f'<text x="{_f(cx)}" y="{_f(y(up) - 4)}" font-size="10.5" fill="#333" '
            f'text-anchor="middle">{_e(format_compact(totals[i]))}'
            f"<title>{_e(m)} total: {_e(format_money(totals[i], currency, code=True))}</title>"
            "</text>"
        )
        yy, mm = m[:4], int(m[5:7])
        out.append(
            f'<text x="{_f(cx)}" y="{_f(_TOP + plot_h + 14)}" font-size="11" fill="#444" '
            f'text-anchor="middle">{MONTH_ABBR[mm - 1]}</text>'
        )
        if i == 0 or mm == 1:
            out.append(
                f'<text x="{_f(cx)}" y="{_f(_TOP + plot_h + 27)}" font-size="10" '
                f'fill="#777" text-anchor="middle">{yy}</text>'
            )
    # legend: largest first, "Other" last
    lx = _LEFT + plot_w + 18
    row_h = min(17.0, (height - 8) / max(1, len(series)))
    for j, s in enumerate(series):
        ly = 8 + j * row_h
        out.append(
            f'<rect x="{lx}" y="{_f(ly)}" width="11" height="11" fill="{s.color}"/>'
            f'<text x="{lx + 16}" y="{_f(ly + 10)}" font-size="11" fill="#333">'
            f"{_e(_short(s.label))}<title>{_e(s.label)}: "
            f"{_e(format_money(s.total, currency, code=True))} over these months</title></text>"
        )
    out.append("</svg>")
    return "".join(out)
