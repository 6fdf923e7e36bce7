"""Notebook helpers: one setup call, plain sentences, friendly tables, machine-readable figures.

The notebooks under ``notebooks/`` are read by finance people, often as HTML reports without
their code. They hold prose, parameters and calls to the public functions of this module:

* :func:`setup` starts the offline sandbox when no fleet file is given, loads the invoice
  summaries, reconciles them and returns a :class:`Context` (the fleet, the frame, the months,
  the findings). It prints one sentence, never a dict.
* Normal situations are sentences, not tracebacks: a month AWS has not invoiced yet prints
  ``"No invoice for December 2026 yet: AWS issues them in the first days of the month."``.
* Tables have human headers and no row numbers; amounts go through
  :func:`invoicekit._money.format_money` (exact, as booked).
* Each table and chart shown by a helper also carries the exact figures it shows as a
  machine-readable MIME bundle, :data:`FIGURES_MIME` (decimals as strings), which
  ``tests/test_notebooks.py`` reads from the executed notebook and compares with figures it
  computes independently. Reports and JupyterLab render the HTML and ignore the bundle.

Examples
--------
>>> from invoicekit import notebook  # doctest: +SKIP
>>> ctx = notebook.setup(start="2026-01", end="2026-10", sandbox_today="2026-11-25")  # doctest: +SKIP
Loaded 62 invoices and 3 credit memos of 6 payer accounts for January 2026 to October 2026 from the offline sandbox.
>>> notebook.spend_by_month(ctx)  # doctest: +SKIP
>>> ctx.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import html
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from invoicekit import clock, documents, months
from invoicekit._money import format_money, minor_unit, quantize
from invoicekit._redact import redact

__all__ = [
    "FIGURES_MIME",
    "Context",
    "setup",
    "say",
    "months_phrase",
    "show_table",
    "show_charts",
    "spend_by_month",
    "findings_overview",
    "findings_table",
    "base_against_payment",
    "totals_per_currency",
    "completeness",
    "month_status",
    "month_end",
    "download_summary",
    "archive_check",
    "blog_calls",
    "save_charts",
    "execute",
    "close_month",
    "changes_since_close",
    "invoice_units",
    "business_units",
    "chargeback",
]

#: The MIME type of the exact figures a helper displays next to its HTML (decimals as strings).
FIGURES_MIME = "application/vnd.invoicekit.figures+json"

_SEVERITY_WORDS = {"error": "Error", "warning": "Warning", "info": "Info"}
_VIEW_WORDS = {
    "base": "base currency (what AWS prices in)",
    "tax": "tax currency",
    "payment": "payment currency (what you pay in)",
}

# ----------------------------------------------------------------------------------------------
# words
# ----------------------------------------------------------------------------------------------


def months_phrase(first: Any, last: Any) -> str:
    """``"January 2026 to October 2026"``, or one month's name when both are the same.

    Examples
    --------
    >>> months_phrase("2026-01", "2026-03"), months_phrase("2026-03", "2026-03")
    ('January 2026 to March 2026', 'March 2026')
    """
    a, b = months.month_words(first), months.month_words(last)
    return a if a == b else f"{a} to {b}"


def _and(parts: Sequence[str]) -> str:
    parts = list(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _counts(df: pd.DataFrame) -> str:
    counts = documents.count(df)
    return _and([documents.plural(n, k) for k, n in counts.items() if n]) or "no invoice"


def say(text: str) -> None:
    """Say one plain sentence (redacted), the way every helper of this module speaks.

    In a notebook it is displayed as a paragraph of prose (HTML, with the same text as plain
    text); elsewhere it is printed.

    Examples
    --------
    >>> say("The archive is complete.")
    The archive is complete.
    """
    text = redact(str(text))
    if _in_kernel():
        _display(_Shown(f'<p style="margin:4px 0">{html.escape(text)}</p>', text, None))
    else:
        print(text)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with every notebook kernel
        return False
    return getattr(get_ipython(), "kernel", None) is not None


# ----------------------------------------------------------------------------------------------
# display: HTML for people, exact figures for tests
# ----------------------------------------------------------------------------------------------


class _Shown:
    """A display object: HTML, plain text, and the exact figures as :data:`FIGURES_MIME`."""

    def __init__(self, html_text: str, plain: str, figures: Mapping[str, Any] | None) -> None:
        self.html, self.plain, self.figures = html_text, plain, figures

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/html": self.html, "text/plain": self.plain}
        if self.figures is not None:
            bundle[FIGURES_MIME] = dict(self.figures)
        return bundle

    def __repr__(self) -> str:  # what a terminal shows
        return self.plain


def _display(obj: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with every notebook kernel
        print(obj)
        return
    display(obj)


_TABLE_CSS = (
    "<style>table.ik{border-collapse:collapse;font-size:13px;margin:4px 0 10px}"
    "table.ik th,table.ik td{padding:3px 10px;border-bottom:1px solid #e3e6ea;text-align:left}"
    "table.ik th{background:#f3f5f8}"
    "table.ik td.num,table.ik th.num{text-align:right;font-variant-numeric:tabular-nums}"
    "table.ik caption{text-align:left;font-weight:bold;padding:2px 0 4px}</style>"
)


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return redact(str(value))


def show_table(
    frame: pd.DataFrame,
    headers: Mapping[str, str] | None = None,
    *,
    numeric: Iterable[str] = (),
    figures: Mapping[str, Any] | None = None,
    caption: str | None = None,
    empty: str = "Nothing to show.",
    limit: int | None = None,
) -> None:
    """Display a table with human headers and no row numbers.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows, already formatted for reading (amounts through ``format_money``).
    headers : mapping, optional
        Column -> header; only these columns are shown, in this order (default: every column,
        its name with underscores as spaces, capitalised).
    numeric : iterable of str
        Columns aligned right (amounts, counts).
    figures : mapping, optional
        Exact figures to carry as :data:`FIGURES_MIME` next to the HTML.
    caption : str, optional
        A title above the table.
    empty : str
        The sentence printed instead of an empty table.
    limit : int, optional
        Show at most this many rows, and say how many were left out.

    Examples
    --------
    >>> import pandas as pd
    >>> show_table(pd.DataFrame({"account_name": ["Retail EU"]}), {"account_name": "Account"})  # doctest: +SKIP
    """
    if headers is None:
        headers = {c: str(c).replace("_", " ").capitalize() for c in frame.columns}
    cols = [c for c in headers if c in frame.columns]
    num = set(numeric)
    if frame.empty:
        _display(_Shown(f"<p>{html.escape(empty)}</p>", empty, figures))
        return
    shown = frame if limit is None else frame.head(limit)
    head = "".join(
        f'<th class="num" style="text-align:right">{html.escape(headers[c])}</th>'
        if c in num
        else f'<th style="text-align:left">{html.escape(headers[c])}</th>'
        for c in cols
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num" style="text-align:right">{html.escape(_cell(v))}</td>'
            if c in num
            else f'<td style="text-align:left">{html.escape(_cell(v))}</td>'
            for c, v in zip(cols, row, strict=True)
        )
        + "</tr>"
        for row in shown[cols].itertuples(index=False, name=None)
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    more = ""
    if limit is not None and len(frame) > limit:
        more = f"<p>… and {len(frame) - limit:,} more rows.</p>"
    table = f'{_TABLE_CSS}<table class="ik">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'
    plain_rows = [" | ".join(headers[c] for c in cols)] + [
        " | ".join(_cell(v) for v in row) for row in shown[cols].itertuples(index=False, name=None)
    ]
    _display(_Shown(table, "\n".join(plain_rows), figures))


def _exact(amount: Any) -> str:
    """An exact decimal as a plain string (no exponent, trailing zeros dropped)."""
    d = Decimal(amount)
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "") else text


# ----------------------------------------------------------------------------------------------
# setup
# ----------------------------------------------------------------------------------------------


@dataclass
class Context:
    """What :func:`setup` loaded: the fleet, the invoices, the months and the findings.

    Attributes
    ----------
    fleet : invoicekit.Fleet
        The payer accounts read.
    fleet_config : str
        The fleet file's path (the sandbox's own file when the sandbox was started).
    frame : pandas.DataFrame
        One row per invoice (``invoicekit.schema.COLUMNS``), exact decimals.
    start, end : str
        The billing months shown (``YYYY-MM``); ``end`` is the last month AWS has invoiced
        when the asked end month has no invoice yet (see ``not_yet``).
    months : list of str
        Every billing month from ``start`` to ``end``.
    asked_end : str
        The end month asked for.
    not_yet : list of str
        Months at the end of the asked range that AWS has not invoiced yet.
    findings : pandas.DataFrame
        :func:`invoicekit.reconcile_invoices` of ``frame`` for ``start`` to ``end``.
    view : str
        The currency view of the charts (``base`` or ``payment``).
    sandbox : invoicekit.sandbox.Sandbox or None
        The offline sandbox this notebook started (stop it with :meth:`stop`).
    failures : pandas.DataFrame
        The accounts that could not be read (account, name, code, message).
    """

    fleet: Any
    fleet_config: str
    frame: pd.DataFrame
    start: str
    end: str
    months: list[str]
    asked_end: str
    not_yet: list[str]
    findings: pd.DataFrame
    view: str = "base"
    sandbox: Any = None
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)
    now: Any = None

    @property
    def df(self) -> pd.DataFrame:
        """The invoices (an alias of :attr:`frame`)."""
        return self.frame

    @property
    def source(self) -> str:
        """``"the offline sandbox"`` or the fleet file's path."""
        return "the offline sandbox" if self.sandbox is not None else str(self.fleet_config)

    def month(self, month: Any = None) -> pd.DataFrame:
        """The invoices of one billing month (default: :attr:`end`)."""
        period = months.as_period(month or self.end)
        return self.frame[self.frame["billing_period"] == period]

    def credit_memos(self) -> pd.DataFrame:
        """The credit memos among the invoices (refunds and corrections, negative amounts)."""
        return self.frame[(documents.kinds(self.frame) == documents.CREDIT_MEMO).to_numpy()]

    def has_invoices(self, month: Any = None) -> bool:
        """Whether AWS has invoiced ``month`` (default: :attr:`end`) for any account."""
        return bool(len(self.month(month)))

    def account_names(self) -> dict[str, str]:
        """``{account id: name}`` of the fleet's accounts."""
        return {a.id: (a.name or a.id) for a in self.fleet.accounts}

    def stop(self) -> None:
        """Stop the offline sandbox this notebook started (nothing to do on a real fleet)."""
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _range(
    start: Any, end: Any, n_months: int, now: Any
) -> tuple[str, str]:  # the months asked for
    if end is None:
        default_start, end_text = months.default_range(n_months, now=now)
    else:
        y, m = months.parse_month(end, "end")
        end_text = months.format_month(y, m)
        default_start = months.format_month(*months.add_months(y, m, -(n_months - 1)))
    start_text = (
        months.format_month(*months.parse_month(start, "start")) if start else default_start
    )
    months.month_range(start_text, end_text)  # refuses an end before the start, naming both
    return start_text, end_text


def _not_yet(frame: pd.DataFrame, asked: list[str], now: Any) -> list[str]:
    """Trailing months of ``asked`` without any invoice that AWS may not have issued yet."""
    present = (
        {months.month_str(p) for p in frame["billing_period"].unique()} if len(frame) else set()
    )
    last_closed = months.last_closed_month(now)
    pending: list[str] = []
    for m in reversed(asked):
        if m in present or m < last_closed:
            break
        pending.insert(0, m)
    return pending


def _failures(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame.attrs.get("failures") or []
    cols = ["account_id", "account_name", "code", "message"]
    failed = pd.DataFrame(rows)
    return failed.reindex(columns=cols) if len(failed) else pd.DataFrame(columns=cols)


def setup(
    config: str | os.PathLike[str] | None = None,
    start: Any = None,
    end: Any = None,
    *,
    months_shown: int = 12,
    view: str = "base",
    sandbox_accounts: int = 12,
    sandbox_months: int = 12,
    sandbox_today: Any = None,
    sandbox_anomalies: bool = False,
    store: str | os.PathLike[str] | None = None,
) -> Context:
    """Load the invoices a notebook works on, from your fleet or from the offline sandbox.

    Parameters
    ----------
    config : str or os.PathLike, optional
        Your fleet file (``fleet.yml``). ``None`` starts the offline sandbox inside this
        process: synthetic payer accounts over the same wire protocol as AWS.
    start, end : str, optional
        First and last billing month (``"YYYY-MM"``). Default: the ``months_shown`` months up
        to the last closed month at business now (the sandbox's today when it runs), or up to
        ``end`` when given.
    months_shown : int
        How many months the default range holds.
    view : {"base", "payment"}
        The currency view of the charts and tables.
    sandbox_accounts, sandbox_months, sandbox_today, sandbox_anomalies
        The sandbox's size, its today (``None``: business today, like ``make demo``) and whether
        it plants known problems. Ignored with ``config``.
    store : str or os.PathLike, optional
        A local store directory (raw responses kept as evidence; settled months not fetched
        again).

    Returns
    -------
    Context
        The fleet, the invoices, the months and the findings. Months at the end of the range
        that AWS has not invoiced yet are left out with a sentence saying so.

    Examples
    --------
    >>> ctx = setup(sandbox_accounts=3, sandbox_today="2026-11-25")  # doctest: +SKIP
    Loaded 33 invoices and 2 credit memos of 3 payer accounts for November 2025 to October 2026 from the offline sandbox.
    >>> ctx.end, len(ctx.months)  # doctest: +SKIP
    ('2026-10', 12)
    >>> ctx.stop()  # doctest: +SKIP
    """
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries
    from invoicekit.reconcile import reconcile_invoices
    from invoicekit.schema import check_view

    check_view(view)
    sandbox = None
    if config is None:
        from invoicekit.sandbox import start as start_sandbox

        sandbox = start_sandbox(
            accounts=sandbox_accounts,
            months=sandbox_months,
            today=sandbox_today,
            anomalies=sandbox_anomalies,
        )
        config = sandbox.fleet_config
        now: Any = sandbox.org.today.isoformat()
    else:
        now = clock.now()
    try:
        first, asked_end = _range(start, end, months_shown, now)
        if sandbox is not None and start is None:  # the sandbox holds sandbox_months months
            oldest = months.format_month(*sandbox.org.periods[0])
            first = min(max(first, oldest), asked_end)
        fleet = load_fleet(config)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            frame = read_invoice_summaries(fleet, first, asked_end, store=store, progress=False)
    except BaseException:
        if sandbox is not None:
            sandbox.stop()
        raise
    asked = months.month_range(first, asked_end)
    pending = _not_yet(frame, asked, now)
    shown = asked[: len(asked) - len(pending)]
    last = shown[-1] if shown else asked_end
    findings = reconcile_invoices(frame, start=first, end=last) if shown else _no_findings()
    ctx = Context(
        fleet=fleet,
        fleet_config=str(config),
        frame=frame,
        start=first,
        end=last,
        months=shown,
        asked_end=asked_end,
        not_yet=pending,
        findings=findings,
        view=view,
        sandbox=sandbox,
        failures=_failures(frame),
        now=now,
    )
    n_accounts = frame["account_id"].nunique() if len(frame) else 0
    if shown:
        say(
            f"Loaded {_counts(frame)} of {documents.plural(n_accounts, 'payer account')} for "
            f"{months_phrase(first, last)} from {ctx.source}."
        )
    if pending:
        say(
            f"No invoice for {months_phrase(pending[0], pending[-1])} yet: AWS issues them in the "
            "first days of the month."
        )
    duplicates = [w for w in caught if "different content" in str(w.message)]
    if duplicates:
        say(
            f"{documents.plural(len(duplicates), 'invoice')} came back from AWS with two "
            "different contents: every version is kept and listed among the findings as a "
            "duplicate invoice."
        )
    for w in caught:
        if w not in duplicates:
            say(str(w.message))
    if len(ctx.failures):
        say(
            f"{documents.plural(len(ctx.failures), 'payer account')} could not be read; fix "
            "their access and run the notebook again (the others are loaded):"
        )
        show_table(
            ctx.failures,
            {
                "account_id": "Account",
                "account_name": "Name",
                "code": "Error",
                "message": "What happened",
            },
        )
    return ctx


def _no_findings() -> pd.DataFrame:
    from invoicekit.reconcile import FINDING_COLUMNS

    return pd.DataFrame(columns=FINDING_COLUMNS)


# ----------------------------------------------------------------------------------------------
# spend
# ----------------------------------------------------------------------------------------------


def spend_by_month(ctx: Context, view: str | None = None) -> None:
    """The exact net spend per billing month, one column per currency of the view.

    Net spend is invoices plus credit memos (:func:`invoicekit.documents.spend`); currencies
    are never added together.

    Examples
    --------
    >>> spend_by_month(ctx)  # doctest: +SKIP
    """
    from invoicekit.reconcile import totals

    view = view or ctx.view
    if not len(ctx.frame):
        say("No invoice to total for these months.")
        return
    monthly = totals(ctx.frame, by=["billing_period"], view=view)
    exact: dict[str, dict[str, str]] = {}
    for r in monthly.itertuples():
        exact.setdefault(r.currency, {})[months.month_str(r.billing_period)] = _exact(r.total)
    currencies = sorted(exact)
    rows = [
        {
            "month": months.month_words(m),
            **{
                c: format_money(Decimal(exact[c][m]), c) if m in exact[c] else ""
                for c in currencies
            },
        }
        for m in ctx.months
    ]
    show_table(
        pd.DataFrame(rows),
        {"month": "Billing month", **{c: f"Net spend ({c})" for c in currencies}},
        numeric=currencies,
        figures={"table": "spend_by_month", "view": view, "totals": exact},
        caption=f"Net spend per month, {_VIEW_WORDS.get(view, view)}",
    )


def show_charts(figures: Mapping[str, Any] | Any, *, empty: str = "Nothing to chart.") -> None:
    """Display one chart per currency (``{currency: figure}``, as ``charts.by_currency`` returns).

    Each chart is followed by its exact totals as :data:`FIGURES_MIME` (no visible output).

    Examples
    --------
    >>> from invoicekit import charts
    >>> show_charts(charts.by_currency(charts.spend_trend, ctx.frame, view="base"))  # doctest: +SKIP
    """
    if not isinstance(figures, Mapping):
        figures = {"": figures}
    if not figures:
        say(empty)
        return
    for currency, fig in figures.items():
        _display(fig)
        meta = ((fig.layout.meta or {}) if hasattr(fig, "layout") else {}).get("invoicekit", {})
        exact = {str(k): str(v) for k, v in (meta.get("totals") or {}).items()}
        _display(
            _Shown(
                "",
                "",
                {"chart": meta.get("chart", ""), "currency": currency, "totals": exact},
            )
        )


# ----------------------------------------------------------------------------------------------
# findings
# ----------------------------------------------------------------------------------------------


def _explain(findings: pd.DataFrame, accounts: Mapping[str, str] | None) -> pd.DataFrame | None:
    try:
        from invoicekit.reconcile.explain import explain_findings
    except ImportError:
        return None
    return explain_findings(findings, accounts=accounts)


def findings_overview(ctx: Context, month: Any = None) -> None:
    """Say, in one sentence, whether the months reconcile (errors, warnings, info notes).

    Examples
    --------
    >>> findings_overview(ctx)  # doctest: +SKIP
    No errors: every invoice adds up, the currencies agree with the stated rates and every account has its invoice for every month (6 info notes).
    """
    if month is not None and not ctx.has_invoices(month):
        month_status(ctx, month)
        return
    findings = _findings_of(ctx, month)
    counts = {s: int((findings["severity"] == s).sum()) for s in ("error", "warning", "info")}
    where = months.month_words(month) if month else months_phrase(ctx.start, ctx.end)
    if not ctx.months:
        say("Nothing to reconcile yet.")
        return
    extra = []
    if counts["warning"]:
        extra.append(documents.plural(counts["warning"], "warning"))
    if counts["info"]:
        extra.append(f"{counts['info']:,} info note{'' if counts['info'] == 1 else 's'}")
    tail = f" ({_and(extra)})" if extra else ""
    if counts["error"]:
        say(
            f"{documents.plural(counts['error'], 'error')} in {where}: resolve them before "
            f"closing the month{tail}."
        )
    else:
        say(
            f"No errors in {where}: every invoice adds up, the currencies agree with the stated "
            f"rates and every account has its invoice for every month{tail}."
        )


def _findings_of(ctx: Context, month: Any) -> pd.DataFrame:
    findings = ctx.findings
    if month is not None and len(findings):
        findings = findings[findings["billing_period"] == months.as_period(month)]
    return findings


def findings_table(
    ctx: Context, *, severity: str | Sequence[str] | None = None, month: Any = None, limit: int = 50
) -> None:
    """The findings in plain sentences, errors first, with account names.

    Parameters
    ----------
    ctx : Context
    severity : str or sequence of str, optional
        Only these severities (``"error"``, ``"warning"``, ``"info"``).
    month : str, optional
        Only this billing month.
    limit : int
        At most this many rows (the count of the others is said).

    Examples
    --------
    >>> findings_table(ctx, severity="error")  # doctest: +SKIP
    """
    if month is not None and not ctx.has_invoices(month):
        return  # findings_overview says why
    findings = _findings_of(ctx, month)
    if severity is not None:
        wanted = [severity] if isinstance(severity, str) else list(severity)
        findings = findings[findings["severity"].isin(wanted)]
    figures = {
        "table": "findings",
        "counts": {s: int((findings["severity"] == s).sum()) for s in ("error", "warning", "info")},
        "findings": [
            {
                "check": _cell(r.check),
                "severity": _cell(r.severity),
                "account_id": _cell(r.account_id),
                "invoice_id": _cell(r.invoice_id),
                "billing_period": months.month_str(r.billing_period),
            }
            for r in findings.itertuples()
        ],
    }
    if not len(findings):
        show_table(findings, {}, figures=figures, empty="No finding to list.")
        return
    accounts = ctx.account_names()
    explained = _explain(findings, accounts)
    if explained is not None:
        shown = explained.assign(
            severity=[_SEVERITY_WORDS.get(str(v), str(v)) for v in explained["severity"]]
        )
        show_table(
            shown,
            {
                "severity": "Severity",
                "account": "Account",
                "invoice": "Invoice",
                "sentence": "What we found",
                "action": "What to do",
            },
            figures=figures,
            limit=limit,
        )
        return
    from invoicekit.reconcile import CHECKS

    rows = pd.DataFrame(
        {
            "severity": [_SEVERITY_WORDS.get(s, s) for s in findings["severity"]],
            "check": [CHECKS[c].meaning if c in CHECKS else c for c in findings["check"]],
            "account": [
                accounts.get(a, a) if isinstance(a, str) else "" for a in findings["account_id"]
            ],
            "month": [
                months.month_words(p) if months.month_str(p) else ""
                for p in findings["billing_period"]
            ],
            "invoice": findings["invoice_id"].fillna("").astype(str).tolist(),
            "message": findings["message"].astype(str).tolist(),
        }
    )
    show_table(
        rows,
        {
            "severity": "Severity",
            "account": "Account",
            "month": "Billing month",
            "invoice": "Invoice",
            "message": "What it means and what to do",
        },
        figures=figures,
        limit=limit,
    )


# ----------------------------------------------------------------------------------------------
# currencies
# ----------------------------------------------------------------------------------------------


def base_against_payment(ctx: Context, *, limit: int = 24) -> None:
    """Per converted invoice: base total, the stated rate, payment total and the difference.

    AWS converts each component separately and rounds, so the payment total may differ from
    base total × rate by a few minor units; the ``exchange`` check flags anything beyond one
    minor unit per component. Says the largest difference in a sentence.

    Examples
    --------
    >>> base_against_payment(ctx)  # doctest: +SKIP
    """
    spend = documents.spend(ctx.frame)
    converted = spend[spend["payment_fx_rate"].notna()] if len(spend) else spend
    rows, exact = [], {}
    worst = Decimal(0)
    for r in converted.itertuples():
        base, rate, paid = (
            Decimal(r.base_total),
            Decimal(r.payment_fx_rate),
            Decimal(r.payment_total),
        )
        difference = paid - quantize(base * rate, r.payment_currency)
        units = abs(difference / minor_unit(r.payment_currency))
        worst = max(worst, units)
        exact[str(r.invoice_id)] = _exact(difference)
        rows.append(
            {
                "account": r.account_name or r.account_id,
                "month": months.month_words(r.billing_period),
                "invoice": r.invoice_id,
                "base": format_money(base, r.base_currency, code=True),
                "rate": format(rate.normalize(), "f"),
                "payment": format_money(paid, r.payment_currency, code=True),
                "difference": format_money(difference, r.payment_currency, code=True),
            }
        )
    if not rows:
        say("No invoice of these months is converted to another payment currency.")
        return
    if worst <= 4:  # four components, each rounded once
        why = "a few are expected: AWS rounds each component separately"
    else:
        why = "more than rounding explains: see the exchange findings"
    say(
        f"Invoices converted to another payment currency: {len(rows):,}; the largest difference "
        f"against base × rate is {_exact(worst)} minor unit{'' if worst == 1 else 's'} ({why})."
    )
    show_table(
        pd.DataFrame(rows),
        {
            "account": "Account",
            "month": "Billing month",
            "invoice": "Invoice",
            "base": "Base total",
            "rate": "Rate",
            "payment": "Payment total",
            "difference": "Payment − base × rate",
        },
        numeric=("base", "rate", "payment", "difference"),
        figures={"table": "base_against_payment", "differences": exact},
        limit=limit,
    )


def totals_per_currency(ctx: Context) -> None:
    """Exact totals and taxes per view and currency, side by side, never added together.

    Examples
    --------
    >>> totals_per_currency(ctx)  # doctest: +SKIP
    """
    from invoicekit.reconcile import totals

    rows, exact = [], {}
    for view in ("base", "tax", "payment"):
        for r in totals(ctx.frame, by=[], view=view).itertuples():
            exact.setdefault(view, {})[r.currency] = {
                "total": _exact(r.total),
                "taxes": _exact(r.taxes),
            }
            rows.append(
                {
                    "view": _VIEW_WORDS[view].split(" (")[0].capitalize(),
                    "currency": r.currency,
                    "invoices": f"{int(r.invoices):,}",
                    "credit_memos": f"{int(r.credit_memos):,}",
                    "total": format_money(r.total, r.currency),
                    "taxes": format_money(r.taxes, r.currency),
                }
            )
    show_table(
        pd.DataFrame(rows),
        {
            "view": "View",
            "currency": "Currency",
            "invoices": "Invoices",
            "credit_memos": "Credit memos",
            "total": "Net total",
            "taxes": "Taxes",
        },
        numeric=("invoices", "credit_memos", "total", "taxes"),
        figures={"table": "totals_per_currency", "totals": exact},
        empty="No invoice to total for these months.",
    )


def completeness(ctx: Context) -> None:
    """Say whether every account has its invoice for every month, and list the gaps.

    Examples
    --------
    >>> completeness(ctx)  # doctest: +SKIP
    Every payer account has its invoice for every month from November 2025 to October 2026.
    """
    from invoicekit.reconcile import completeness_grid

    if not ctx.months:
        say("No month to check yet.")
        return
    grid = completeness_grid(ctx.frame, ctx.start, ctx.end)
    names = ctx.account_names()
    missing = [(a, m) for a in grid.index for m in grid.columns if grid.loc[a, m] == 0]
    figures = {"table": "completeness", "missing": [[str(a), str(m)] for a, m in missing]}
    if not missing:
        say(
            f"Every payer account has its invoice for every month from "
            f"{months_phrase(ctx.start, ctx.end)}."
        )
        _display(_Shown("", "", figures))
        return
    say(
        f"{documents.plural(len(missing), 'month')} without an invoice: check the account was "
        "active, then fetch again later or ask AWS Support."
    )
    show_table(
        pd.DataFrame(
            [
                {"account": names.get(str(a), str(a)), "month": months.month_words(m)}
                for a, m in missing
            ]
        ),
        {"account": "Account", "month": "Billing month without an invoice"},
        figures=figures,
    )


# ----------------------------------------------------------------------------------------------
# month-end
# ----------------------------------------------------------------------------------------------


def month_status(ctx: Context, month: Any = None) -> None:
    """Say what AWS has invoiced for ``month`` (default: the asked end month).

    :meth:`Context.has_invoices` answers the same question for code.

    Examples
    --------
    >>> month_status(ctx, "2026-12")  # doctest: +SKIP
    No invoice for December 2026 yet: AWS issues them in the first days of the month.
    """
    m = months.format_month(*months.parse_month(month or ctx.asked_end, "month"))
    rows = ctx.month(m)
    if not len(rows):
        if m in ctx.not_yet or m >= months.last_closed_month(ctx.now):
            say(
                f"No invoice for {months.month_words(m)} yet: AWS issues them in the first days of the month."
            )
        else:
            say(
                f"No invoice for {months.month_words(m)}: check the accounts were active, fetch again or "
                "ask AWS Support."
            )
        return
    say(
        f"{months.month_words(m)} ({m}): {_counts(rows)} from "
        f"{documents.plural(rows['account_id'].nunique(), 'payer account')}."
    )


def month_end(ctx: Context, month: Any = None) -> None:
    """Per payer account for one month: invoices, credit memos, net in base and payment currency.

    Examples
    --------
    >>> month_end(ctx, "2026-10")  # doctest: +SKIP
    """
    from invoicekit.reconcile import month_end_table

    m = months.format_month(*months.parse_month(month or ctx.end, "month"))
    if not ctx.has_invoices(m):
        month_status(ctx, m)
        return
    table = month_end_table(ctx.frame, m)
    exact = {}
    rows = []
    for r in table.itertuples():
        exact.setdefault(str(r.account_id), []).append(
            {
                "base_currency": r.base_currency,
                "net_base": _exact(r.net_base),
                "payment_currency": r.payment_currency,
                "net_payment": _exact(r.net_payment),
            }
        )
        rows.append(
            {
                "account": r.account_name or r.account_id,
                "invoices": f"{int(r.invoices):,}",
                "credit_memos": f"{int(r.credit_memos):,}",
                "net_base": format_money(r.net_base, r.base_currency, code=True),
                "net_payment": format_money(r.net_payment, r.payment_currency, code=True),
            }
        )
    show_table(
        pd.DataFrame(rows),
        {
            "account": "Account",
            "invoices": "Invoices",
            "credit_memos": "Credit memos",
            "net_base": "Net, base currency",
            "net_payment": "Net, payment currency",
        },
        numeric=("invoices", "credit_memos", "net_base", "net_payment"),
        figures={"table": "month_end", "month": m, "accounts": exact},
        caption=f"{months.month_words(m)} per payer account",
    )


# ----------------------------------------------------------------------------------------------
# archive
# ----------------------------------------------------------------------------------------------


def download_summary(result: pd.DataFrame, *, again: bool = False) -> None:
    """Say what a download did (documents by kind and by outcome) and list failed documents.

    Examples
    --------
    >>> download_summary(panel.run())  # doctest: +SKIP
    259 documents: 156 invoices, 5 credit memos, 12 tax invoices, 86 supplemental documents — 259 downloaded, 0 API calls saved.
    """
    status = result["status"].value_counts().to_dict() if len(result) else {}
    words = {"downloaded": "downloaded", "skipped": "already archived", "failed": "failed"}
    done = (
        _and([f"{status[s]:,} {w}" for s, w in words.items() if status.get(s)]) or "nothing to do"
    )
    calls = int(result.attrs.get("api_calls", 0) or 0)
    lead = "Run again: " if again else ""
    say(
        f"{lead}{documents.describe_documents(documents.count_documents(result))}; {done}, "
        f"{documents.plural(calls, 'API call')}."
    )
    figures = {
        "table": "download",
        "status": {str(k): int(v) for k, v in status.items()},
        "api_calls": calls,
        "invoices": sorted(
            set(
                result.loc[result["document_type"] == documents.MAIN_DOCUMENT, "invoice_id"].astype(
                    str
                )
            )
        )
        if len(result)
        else [],
    }
    failed = result[result["status"] == "failed"] if len(result) else result
    if len(failed):
        say("Some documents failed: run this step again to retry them (the others are kept).")
        show_table(
            failed,
            {
                "account_id": "Account",
                "invoice_id": "Invoice",
                "document_type": "Document",
                "error": "What happened",
            },
            figures=figures,
        )
    else:
        _display(_Shown("", "", figures))


def archive_check(
    archive: str | os.PathLike[str],
    summaries: pd.DataFrame,
    *,
    start: Any = None,
    end: Any = None,
    preview: int = 10,
) -> None:
    """Verify an archive (fingerprints, missing PDFs), say the result and list any problem.

    Examples
    --------
    >>> archive_check("archive", ctx.frame)  # doctest: +SKIP
    """
    from invoicekit.archive import verify_archive

    check = verify_archive(archive, summaries=summaries, start=start, end=end)
    say(check.summary())
    figures = {"table": "archive_check", "ok": bool(check.ok)}
    if not check.ok:
        say(
            "Fix what is listed before the archive goes to the auditors: usually by downloading again."
        )
        problems = check.problems
        show_table(problems, None, figures=figures)
    else:
        _display(_Shown("", "", figures))
    manifest_path = Path(archive) / "manifest.csv"
    if preview and manifest_path.is_file():
        manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
        show_table(
            manifest,
            {
                "billing_period": "Billing month",
                "account_id": "Account",
                "invoice_id": "Invoice",
                "document_type": "Document",
                "path": "File",
                "sha256": "SHA-256 fingerprint",
            },
            caption=f"The manifest (first {min(preview, len(manifest))} of {len(manifest):,} documents)",
            limit=preview,
        )


# ----------------------------------------------------------------------------------------------
# the AWS blog's two calls, and pictures
# ----------------------------------------------------------------------------------------------


def blog_calls(ctx: Context, month: Any = None) -> None:
    """The AWS blog's two calls for the first payer account, through boto3, link redacted.

    ``list-invoice-summaries`` lists the invoices issued in ``month`` (default: the month after
    :attr:`Context.end`, when AWS issues the invoices of ``end``); ``get-invoice-pdf`` returns
    a short-lived link to the first one's PDF. The link's query string is a secret: it is
    shown as ``?REDACTED``.

    Examples
    --------
    >>> blog_calls(ctx)  # doctest: +SKIP
    list-invoice-summaries for 100000000001 (Retail EU): 2 invoices issued in November 2026.
    """
    from invoicekit._redact import redact_url

    account = ctx.fleet.accounts[0]
    client = ctx.fleet.client(account, "invoicing")
    if month is None:
        y, m = months.next_month(*months.parse_month(ctx.end, "end"))
    else:
        y, m = months.parse_month(month, "month")
    first, last = months.month_start(y, m), months.month_start(*months.next_month(y, m))
    listed = client.list_invoice_summaries(
        Selector={"ResourceType": "ACCOUNT_ID", "Value": account.id},
        Filter={"TimeInterval": {"StartDate": first, "EndDate": last}},
    )["InvoiceSummaries"]
    issued = months.month_words(months.format_month(y, m))
    say(
        f"list-invoice-summaries for {account.label}: "
        f"{documents.plural(len(listed), 'invoice')} issued in {issued}."
    )
    figures: dict[str, Any] = {"table": "blog_calls", "listed": len(listed), "link": ""}
    if listed:
        pdf = client.get_invoice_pdf(InvoiceId=listed[0]["InvoiceId"])["InvoicePDF"]
        link = redact_url(pdf["DocumentUrl"])
        expires = pd.Timestamp(pdf["DocumentUrlExpirationDate"]).tz_convert("UTC")
        say(
            f"get-invoice-pdf for invoice {pdf['InvoiceId']}: a link valid until "
            f"{expires:%Y-%m-%d %H:%M} UTC, shown without its secret part: {link}"
        )
        figures["link"] = link
    _display(_Shown("", "", figures))


def save_charts(
    figures: Mapping[str, Any], folder: str | os.PathLike[str] | None, name: str
) -> None:
    """Save each chart of ``{currency: figure}`` as ``folder/<name>_<currency>.png``.

    Needs Chromium (Debian: ``apt-get install chromium``); says so instead of failing when it
    is missing, and does nothing when ``folder`` is None.

    Examples
    --------
    >>> save_charts(charts.by_currency(charts.spend_trend, ctx.frame), "png", "spend_trend")  # doctest: +SKIP
    Saved 2 charts as PNG files in png.
    """
    from invoicekit import charts

    if folder is None:
        return
    if not charts.find_chromium():
        say("Chromium is not installed, so no PNG was saved: apt-get install chromium.")
        return
    saved = [
        charts.save_png(fig, Path(folder) / f"{name}_{currency}.png")
        for currency, fig in figures.items()
    ]
    say(f"Saved {documents.plural(len(saved), 'chart')} as PNG files in {folder}.")


# ----------------------------------------------------------------------------------------------
# running notebooks headless
# ----------------------------------------------------------------------------------------------


def execute(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout_s: int | None = 600,
) -> Path:
    """Run a notebook headless with papermill, over a private, encrypted kernel connection.

    The kernel talks to papermill over Unix sockets in a directory of its own (mode 0700),
    not TCP ports: jupyter_client picks TCP ports by binding port 0 and letting it go, and
    another process on the machine can take one before the kernel binds it (the kernel's
    heartbeat then fails with "Address already in use"). The kernel is also started with
    CurveZMQ keys provisioned by the kernel manager (``transport_encryption="auto"``: the
    ipykernel kernelspec declares support), so it neither sends code and outputs in plain
    text nor warns that it does. When
    the run is over the kernel is asked to shut down without the SIGINT jupyter_client sends
    first (meant for a busy kernel: papermill's is idle by then, and an interrupt landing while
    it finishes its last message logs ``KeyboardInterrupt caught in kernel``).

    Parameters
    ----------
    source, output : str or os.PathLike
        The notebook to run and the executed copy to write.
    parameters : mapping, optional
        Values injected after the ``parameters`` cell.
    cwd : str or os.PathLike, optional
        The kernel's working directory (default: ``output``'s directory).
    timeout_s : int, optional
        Longest a cell may run.

    Returns
    -------
    pathlib.Path
        ``output``.

    Raises
    ------
    papermill.PapermillExecutionError
        A cell raised; the executed copy up to that cell is still written.

    Examples
    --------
    >>> execute("notebooks/01_spend_trends.ipynb", "out/01.ipynb", {"end": "2026-10"})  # doctest: +SKIP
    PosixPath('out/01.ipynb')
    """
    import logging

    import papermill
    from traitlets.config import Config

    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("papermill").setLevel(logging.ERROR)  # its parameter notes are noise
    papermill.execute_notebook(
        str(source),
        str(out),
        parameters=dict(parameters or {}),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
        cwd=str(cwd or out.parent),
        execution_timeout=timeout_s,
        config=Config({"KernelManager": {"transport_encryption": "auto"}}),
        kernel_manager_class=_kernel_manager_class(),
    )
    return out


_UNIX_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS


def _kernel_manager_class() -> type:
    """An async kernel manager over Unix sockets that does not interrupt a kernel it is shutting down.

    Each manager makes a private directory in the temporary directory (Unix socket paths are
    limited to about 100 bytes; with a longer one, or off POSIX, it keeps TCP) for its
    connection file, so the sockets' paths are absolute and the same for
    papermill and for the kernel, whose working directory differs; the directory goes with
    the kernel's other resources.
    """
    import shutil
    import tempfile

    from jupyter_client.manager import AsyncKernelManager

    class _RunnerKernelManager(AsyncKernelManager):
        _socket_dir: str | None = None

        async def _async_pre_start_kernel(self, **kw: Any) -> Any:
            if self._socket_dir is None and os.name == "posix":  # a restart keeps its sockets
                home = tempfile.mkdtemp(prefix="invoicekit-kernel-")
                if len(os.path.join(home, "kernel-ipc-99").encode()) > _UNIX_SOCKET_PATH_MAX:
                    os.rmdir(home)  # a very long TMPDIR: TCP, as jupyter_client does by default
                else:
                    self._socket_dir = home
                    self.transport = "ipc"
                    self.connection_file = os.path.join(home, "kernel.json")
                    self.ip = os.path.join(home, "kernel-ipc")
            return await super()._async_pre_start_kernel(**kw)

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart and self._socket_dir is not None:
                shutil.rmtree(self._socket_dir, ignore_errors=True)
                self._socket_dir = None

        async def _async_interrupt_kernel(self) -> None:
            if getattr(self, "shutting_down", False):
                return  # the run is over: the shutdown request alone stops the kernel
            await super()._async_interrupt_kernel()

    return _RunnerKernelManager


# ----------------------------------------------------------------------------------------------
# the month-end close runbook (notebook 04)
# ----------------------------------------------------------------------------------------------

_PACK_WORDS = {
    "summaries.parquet": "the invoice summaries fetched for the close",
    "findings.csv": "the reconciliation findings (fill in accepted_by to accept one)",
    "accepted_findings.csv": "the findings a controller accepted",
    "ap": "the accounts-payable file(s) and a snapshot of the AP ledger",
    "archive": "the month's PDFs and their manifest (SHA-256 per document)",
    "executive_summary.html": "the executive summary: open it in any browser",
    "executive_summary.pdf": "the executive summary, printed",
    "run.json": "what was asked and done: steps, API calls, failures, timings, versions",
    "SHA256SUMS": "fingerprints of every file: sha256sum -c SHA256SUMS inside the pack",
}


_CHANGE_WORDS = {
    "added": "Added",
    "removed": "Removed",
    "changed": "Changed",
    "cancelled": "Cancelled",
    "new_document": "New document",
}


def _business_time(ctx: Context) -> Any:
    """Business "now" of the notebook: the sandbox's today when it runs, else unchanged."""
    if ctx.sandbox is None:
        return contextlib.nullcontext()
    return clock.pinned(ctx.sandbox.org.today.isoformat())


def close_month(
    ctx: Context,
    dest: str | os.PathLike[str],
    *,
    month: Any = None,
    formats: str | Sequence[str] = "generic",
    reopen: bool = False,
) -> Any:
    """Close a billing month with :func:`invoicekit.close.close_month`, in sentences.

    Says each step's line, the outcome (closed, blocked by error findings, partial) and what
    to do next, and lists the pack's files. A month AWS has not invoiced yet is a sentence,
    not an error; so is a month that cannot be closed yet.

    Parameters
    ----------
    ctx : Context
    dest : str or os.PathLike
        The folder of close packs (the pack is ``dest/YYYY-MM``).
    month : str, optional
        The month to close (default: the asked end month of :func:`setup`).
    formats : str or sequence of str
        AP formats, e.g. ``"generic"`` or ``"generic,oracle-ap"``.
    reopen : bool
        Close an already closed month again, keeping the earlier pack as ``YYYY-MM.v1``.

    Returns
    -------
    invoicekit.close.CloseResult or None
        None when nothing could be closed (the sentence says why).

    Examples
    --------
    >>> close = close_month(ctx, "month-end")  # doctest: +SKIP
    """
    from invoicekit import close as close_module
    from invoicekit.errors import InvoiceKitError

    m = months.format_month(*months.parse_month(month or ctx.asked_end, "month"))
    if not ctx.has_invoices(m):
        month_status(ctx, m)
        say(
            f"Nothing to close for {months.month_words(m)} yet: run this notebook again once it is invoiced."
        )
        return None
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    try:
        with _business_time(ctx):
            result = close_module.close_month(
                ctx.fleet, m, dest, formats=tuple(formats), reopen=reopen
            )
    except InvoiceKitError as exc:
        say(f"{months.month_words(m)} could not be closed: {exc}")
        return None
    for line in result.lines:
        say(line.strip())
    if not result.changed:
        say(
            f"{months.month_words(m)} was already closed and its pack still verifies: nothing was "
            "changed (reopen=True closes it again, keeping this pack as a version)."
        )
    elif result.status == close_module.CLOSED:
        say(f"{months.month_words(m)} is closed: the pack is {result.pack}.")
    elif result.status == close_module.BLOCKED:
        say(
            f"{months.month_words(m)} is blocked by error findings: resolve them (see below) or accept "
            "them in findings.csv, then close again with reopen=True."
        )
    else:
        say(
            f"{months.month_words(m)} is partly closed: some accounts or documents failed; fix their "
            "access and run the close again (what is done is kept)."
        )
    pack = Path(result.pack)
    rows = []
    for name, words in _PACK_WORDS.items():
        path = pack / name
        if path.exists():
            size = (
                sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
                if path.is_dir()
                else path.stat().st_size
            )
            rows.append(
                {"file": name + ("/" if path.is_dir() else ""), "what": words, "size": _size(size)}
            )
    show_table(
        pd.DataFrame(rows),
        {"file": "In the pack", "what": "What it is", "size": "Size"},
        numeric=("size",),
        figures={
            "table": "close",
            "month": m,
            "status": result.status,
            "pack": str(pack),
            "exit_code": int(result.exit_code),
        },
        caption=f"The close pack of {months.month_words(m)}",
    )
    return result


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


def changes_since_close(ctx: Context, close: Any, *, later_days: int = 0) -> None:
    """What changed in a closed month since its close, as sentences and a table.

    On a real fleet the month is read again now. On the sandbox, ``later_days`` > 0 reads it
    from a second sandbox whose today is that many days later, where the late events of
    earlier months (a credit memo, a cancelled tax invoice, a new document) have happened.

    Parameters
    ----------
    ctx : Context
    close : invoicekit.close.CloseResult or path or None
        What :func:`close_month` returned (or the pack's path); None says there is nothing to
        compare yet.
    later_days : int
        Sandbox only: how many days after its today to look again (0: today).

    Examples
    --------
    >>> changes_since_close(ctx, close, later_days=30)  # doctest: +SKIP
    """
    import datetime as dt

    if close is None:
        say("Nothing to compare yet: the month is not closed.")
        return
    try:
        from invoicekit import changes as changes_module
    except ImportError:  # pragma: no cover - until `invoicekit changes` ships
        say("This version of invoicekit cannot list changes since a close yet.")
        return
    pack = Path(getattr(close, "pack", close))
    later = None
    fleet = ctx.fleet
    when: Any = contextlib.nullcontext()
    if ctx.sandbox is not None and later_days:
        from invoicekit.fleet import load_fleet
        from invoicekit.sandbox import start as start_sandbox

        today = ctx.sandbox.org.today + dt.timedelta(days=int(later_days))
        org = ctx.sandbox.org
        later = start_sandbox(
            accounts=len(org.accounts), months=len(org.periods) + 2, today=today.isoformat()
        )
        fleet = load_fleet(later.fleet_config)
        when = clock.pinned(today.isoformat())
        say(f"Looking again on {today:%d %B %Y}, {later_days} days after the close.")
    try:
        with when:
            report = changes_module.changes_since_close(pack, fleet=fleet)
    finally:
        if later is not None:
            later.stop()
    table = report.changes
    described = set(report.sentences())  # the table below lists those, one row each
    for line in report.summary():
        if line not in described:
            say(line)
    if not report.ok:
        say(
            "Book what changed in the next period, or close the month again with reopen=True "
            "to replace the pack (the earlier one is kept as a version)."
        )
    figures = {
        "table": "changes",
        "month": str(getattr(report, "month", "")),
        "ok": bool(report.ok),
        "changes": [
            {"change": _cell(r.change), "invoice_id": _cell(r.invoice_id), "field": _cell(r.field)}
            for r in table.itertuples()
        ]
        if len(table)
        else [],
    }
    if len(table):
        table = table.assign(change=[_CHANGE_WORDS.get(str(c), str(c)) for c in table["change"]])
    show_table(
        table,
        {
            "change": "Change",
            "account_name": "Account",
            "invoice_id": "Invoice",
            "description": "What changed",
        },
        figures=figures,
        empty="The close pack still stands: there is nothing to book.",
        limit=30,
    )


# ----------------------------------------------------------------------------------------------
# invoice units, business units, chargeback (notebook 05)
# ----------------------------------------------------------------------------------------------


def _warn(text: str) -> None:
    """A sentence that must be seen (unallocated spend): bold red in a notebook."""
    text = redact(str(text))
    if _in_kernel():
        style = "margin:4px 0;color:#c0392b;font-weight:bold"
        _display(_Shown(f'<p style="{style}">{html.escape(text)}</p>', text, None))
    else:
        print(text)


def invoice_units(ctx: Context, month: Any = None) -> pd.DataFrame:
    """Read the fleet's invoice units as of the end of ``month`` and show them with their members.

    Returns the units frame (:func:`invoicekit.read_invoice_units`) for :func:`chargeback`.

    Examples
    --------
    >>> units = invoice_units(ctx)  # doctest: +SKIP
    """
    from invoicekit.units import read_invoice_units

    m = months.format_month(*months.parse_month(month or ctx.end, "month"))
    units = read_invoice_units(ctx.fleet, months=(m, m), progress=False)
    for f in units.attrs.get("failures") or []:
        say(
            f"The invoice units of {f.get('account_name') or f.get('account_id')} could not be "
            f"read ({f.get('code')}): its invoices are charged by account and payer only."
        )
    names = ctx.account_names()
    listed: dict[str, dict[str, Any]] = {}
    for r in units.itertuples():
        arn = _cell(r.invoice_unit_arn)
        if not arn:
            continue
        entry = listed.setdefault(
            arn,
            {
                "payer": names.get(str(r.payer_account_id), str(r.payer_account_id)),
                "payer_account_id": str(r.payer_account_id),
                "name": _cell(r.invoice_unit_name),
                "receiver": _cell(r.invoice_receiver),
                "members": [],
            },
        )
        member = _cell(r.member_account_id)
        if member and member not in entry["members"]:
            entry["members"].append(member)
    figures = {"table": "invoice_units", "month": m, "units": listed}
    if not listed:
        say(
            f"No payer account uses invoice units at the end of {months.month_words(m)}: each "
            "payer receives one invoice a month for all its accounts."
        )
        _display(_Shown("", "", figures))
        return units
    payers = {e["payer_account_id"] for e in listed.values()}
    say(
        f"At the end of {months.month_words(m)}, {documents.plural(len(payers), 'payer account')} "
        f"split their bill into {documents.plural(len(listed), 'invoice unit')}: each unit "
        "receives its own invoice; the payer's other accounts share its default invoice."
    )
    rows = [
        {
            "payer": e["payer"],
            "unit": e["name"],
            "receiver": e["receiver"],
            "count": f"{len(e['members']):,}",
            "members": ", ".join(e["members"]),
        }
        for e in sorted(listed.values(), key=lambda e: (e["payer"], e["name"]))
    ]
    show_table(
        pd.DataFrame(rows),
        {
            "payer": "Payer account",
            "unit": "Invoice unit",
            "receiver": "Invoice receiver",
            "count": "Accounts",
            "members": "Member accounts",
        },
        numeric=("count",),
        figures=figures,
        caption=f"Invoice units at the end of {months.month_words(m)}",
    )
    return units


def _mapping_target(row: Any, names: Mapping[str, str]) -> str:
    if _cell(row.invoice_unit):
        return f"invoice unit {row.invoice_unit}"
    if _cell(row.account_id):
        return f"member account {row.account_id}"
    payer = str(row.payer_account_id)
    return f"payer {names.get(payer, payer)} ({payer})" if payer in names else f"payer {payer}"


def business_units(mapping: Any, ctx: Context | None = None) -> Any:
    """Read a business-unit mapping (a CSV, a fleet file, a DataFrame) and show what it assigns.

    Returns the :class:`invoicekit.business_units.BusinessUnits` for :func:`chargeback`.

    Examples
    --------
    >>> bu = business_units("business_units.csv", ctx)  # doctest: +SKIP
    """
    from invoicekit.business_units import read_business_units

    bu = read_business_units(mapping)
    names = ctx.account_names() if ctx is not None else {}
    frame = bu.frame
    rows = [
        {
            "what": _mapping_target(r, names),
            "business_unit": r.business_unit,
            "cost_center": _cell(r.cost_center),
            "gl_account": _cell(r.gl_account),
        }
        for r in frame.itertuples()
    ]
    say(
        f"The mapping has {documents.plural(len(bu), 'entry')} assigning invoice units, accounts "
        f"and payers to {documents.plural(len(bu.business_units), 'business unit')}. The most "
        "specific row wins: an invoice unit, then a member account, then the payer."
    )
    show_table(
        pd.DataFrame(rows),
        {
            "what": "Assigns",
            "business_unit": "Business unit",
            "cost_center": "Cost center",
            "gl_account": "GL account",
        },
        figures={"table": "business_units", "rows": len(bu)},
        empty="The mapping is empty: everything will be unallocated.",
    )
    return bu


def chargeback(
    ctx: Context, mapping: Any, units: pd.DataFrame | None = None, month: Any = None
) -> pd.DataFrame:
    """The month's chargeback per business unit and currency, unallocated spend highlighted.

    Shows one table per currency (never added together), says per currency how the business
    units and the unallocated spend add up to the month's payable total, and says what to map
    for each unallocated line. Returns the frame of :func:`invoicekit.business_units.chargeback`
    (for :func:`invoicekit.charts.chargeback_charts`).

    Examples
    --------
    >>> cb = chargeback(ctx, bu, units)  # doctest: +SKIP
    """
    from invoicekit.business_units import ALLOCATED, SPLIT_UNIT, chargeback_lines
    from invoicekit.business_units import chargeback as _chargeback

    m = months.format_month(*months.parse_month(month or ctx.end, "month"))
    view = ctx.view
    frame = _chargeback(ctx.frame, mapping, units=units, month=m, view=view)
    exact_lines = [
        {
            "business_unit": str(r.business_unit),
            "cost_center": _cell(r.cost_center),
            "gl_account": _cell(r.gl_account),
            "currency": str(r.currency),
            "status": str(r.status),
            "invoice_unit": _cell(r.invoice_unit),
            "invoices": int(r.invoices),
            "credit_memos": int(r.credit_memos),
            **{
                c: _exact(getattr(r, c))
                for c in ("subtotal", "discounts", "fees", "taxes", "total")
            },
        }
        for r in frame.itertuples()
    ]
    figures = {
        "table": "chargeback",
        "month": m,
        "view": view,
        "lines": exact_lines,
        "payable_totals": {c: _exact(t) for c, t in frame.attrs["payable_totals"].items()},
    }
    if not len(frame):
        month_status(ctx, m)
        _display(_Shown("", "", figures))
        return frame
    for line in chargeback_lines(frame):
        say(line + ".")
    rows = []
    for r in frame.itertuples():
        label = str(r.business_unit)
        if r.status == SPLIT_UNIT:
            label = f"Unallocated: invoice unit {r.invoice_unit}"
        elif r.status != ALLOCATED:
            label = "Unallocated: no mapping"
        rows.append(
            {
                "business_unit": label,
                "cost_center": _cell(r.cost_center),
                "gl_account": _cell(r.gl_account),
                "currency": r.currency,
                "invoices": f"{int(r.invoices):,}",
                "credit_memos": f"{int(r.credit_memos):,}",
                "before_tax": format_money(r.subtotal + r.discounts + r.fees, r.currency),
                "taxes": format_money(r.taxes, r.currency),
                "total": format_money(r.total, r.currency),
            }
        )  # fmt: skip
    show_table(
        pd.DataFrame(rows),
        {
            "business_unit": "Business unit",
            "cost_center": "Cost center",
            "gl_account": "GL account",
            "currency": "Currency",
            "invoices": "Invoices",
            "credit_memos": "Credit memos",
            "before_tax": "Before tax",
            "taxes": "Tax",
            "total": "Total charged back",
        },
        numeric=("invoices", "credit_memos", "before_tax", "taxes", "total"),
        figures=figures,
        caption=f"Chargeback of {months.month_words(m)} ({_VIEW_WORDS[view]})",
    )
    unallocated = frame[frame["status"] != ALLOCATED]
    if not len(unallocated):
        say("Every payable invoice of the month is charged to a business unit.")
    for r in unallocated.itertuples():
        amount = format_money(r.total, r.currency, code=True)
        if r.status == SPLIT_UNIT:
            _warn(
                f"Unallocated, {amount}: the invoice unit {r.invoice_unit} is not in the mapping "
                "and its member accounts belong to different business units. Add the unit "
                "itself to the mapping (an invoice_unit row) so its invoice is charged whole, "
                "or split it below the invoice with invoicekit allocate."
            )
        else:
            what = str(r.detail).removeprefix("no mapping covers ")
            _warn(
                f"Unallocated, {amount}: no row of the mapping covers {what}. Add a row for the "
                "payer, its accounts or its invoice units."
            )
    for note in frame.attrs.get("notes", []):
        say(note)
    return frame
