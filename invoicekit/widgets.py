"""Notebook controls: account and period pickers that redraw the charts, a PDF download panel.

Built on ipywidgets; the chart is a :class:`plotly.graph_objects.FigureWidget` (which needs
``anywidget``), so a picker change redraws it in place. Every control is an ordinary widget
attribute, so the same code is driven from Python (tests, scripts) or by a person in
JupyterLab.

Examples
--------
Displaying an explorer renders its pickers and its chart:

>>> from invoicekit.widgets import SpendExplorer, DownloadPanel  # doctest: +SKIP
>>> explorer = SpendExplorer(df, view="payment")  # doctest: +SKIP
>>> explorer  # doctest: +SKIP
>>> explorer.account_picker.value = ("100000000001",)  # doctest: +SKIP
>>> DownloadPanel(df, "archive", fleet="fleet.yml")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd
import plotly.graph_objects as go

from invoicekit import charts, documents, outcomes, schema
from invoicekit._redact import redact
from invoicekit.errors import InvalidArgumentError, InvoiceKitError
from invoicekit.months import span

__all__ = [
    "CHARTS",
    "account_picker",
    "period_picker",
    "SpendExplorer",
    "DownloadPanel",
]

#: The charts :class:`SpendExplorer` can draw: key → (label, function, extra keyword arguments).
CHARTS: dict[str, tuple[str, Callable[..., go.Figure], dict[str, Any]]] = {
    "trend_account": ("Monthly spend by account", charts.spend_trend, {"by": "account"}),
    "trend_entity": ("Monthly spend by invoicing entity", charts.spend_trend, {"by": "entity"}),
    "mom": ("Month-over-month change", charts.month_over_month, {}),
    "top": ("Top accounts", charts.top_accounts, {"n": 10}),
    "credit": ("Credit memos", charts.credit_memos, {}),
}


def _label(account_id: Any, name: Any) -> str:
    if name is None or name is pd.NA or not str(name):
        return str(account_id)
    return f"{name} ({account_id})"


def account_picker(
    df: pd.DataFrame, *, description: str = "Accounts", rows: int = 6
) -> w.SelectMultiple:
    """A multi-select of the payer accounts in ``df`` (all selected), labelled ``Name (id)``.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries.
    description : str
        The label shown beside the control.
    rows : int
        Visible rows.

    Returns
    -------
    ipywidgets.SelectMultiple
        ``.value`` is a tuple of account ids.

    Examples
    --------
    >>> picker = account_picker(df)  # doctest: +SKIP
    >>> picker.value = ("100000000001",)  # doctest: +SKIP
    """
    pairs = (
        df[["account_id", "account_name"]]
        .dropna(subset=["account_id"])
        .drop_duplicates("account_id")
        .sort_values("account_id")
    )
    options = [
        (_label(a, n), str(a))
        for a, n in zip(pairs["account_id"], pairs["account_name"], strict=True)
    ]
    return w.SelectMultiple(
        options=options,
        value=tuple(v for _, v in options),
        description=description,
        rows=min(rows, max(2, len(options))),
        layout=w.Layout(width="360px"),
    )


def period_picker(df: pd.DataFrame, *, description: str = "Months") -> w.SelectionRangeSlider:
    """A range slider over the billing months of ``df`` (whole range selected).

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries.
    description : str
        The label shown beside the control.

    Returns
    -------
    ipywidgets.SelectionRangeSlider
        ``.value`` is ``(first, last)`` as ``"YYYY-MM"`` strings, both included.

    Examples
    --------
    >>> period_picker(df).value  # doctest: +SKIP
    ('2025-11', '2026-10')
    """
    months = span(df["billing_period"]) or ["—"]
    return w.SelectionRangeSlider(
        options=months,
        index=(0, len(months) - 1),
        description=description,
        continuous_update=False,
        layout=w.Layout(width="520px"),
    )


class SpendExplorer(w.VBox):
    """Pickers (chart, view, currency, accounts, months) above a live plotly chart.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (:func:`invoicekit.read_invoice_summaries`).
    view : {"base", "payment", "tax"}
        The initial currency view.
    currency : str, optional
        The initial currency (default: the first of the view).
    chart : str
        The initial chart, a key of :data:`CHARTS`.

    Attributes
    ----------
    figure : plotly.graph_objects.FigureWidget
        The chart; redrawn on every picker change.
    account_picker, period_picker, view_picker, currency_picker, chart_picker : ipywidgets.Widget
        The controls; set their ``.value`` from Python to drive the explorer.
    message : ipywidgets.HTML
        Says why nothing is drawn (for example an empty selection).

    Examples
    --------
    >>> ex = SpendExplorer(df, view="payment", currency="EUR")  # doctest: +SKIP
    >>> ex.period_picker.value = ("2026-01", "2026-06")  # doctest: +SKIP
    >>> charts.figure_totals(ex.figure)  # doctest: +SKIP
    """

    def __init__(
        self,
        df: pd.DataFrame,
        *,
        view: str = "base",
        currency: str | None = None,
        chart: str = "trend_account",
    ) -> None:
        if chart not in CHARTS:
            raise InvalidArgumentError(f"chart must be one of {', '.join(CHARTS)}, not {chart!r}")
        schema.check_view(view)
        self.df = df
        #: Account id → colour, from the whole frame: an account keeps its colour whatever
        #: the selection (:func:`invoicekit.charts.account_colors`).
        self.colors = charts.account_colors(df)
        self.chart_picker = w.Dropdown(
            options=[(label, key) for key, (label, _, _) in CHARTS.items()],
            value=chart,
            description="Chart",
        )
        self.view_picker = w.ToggleButtons(
            options=[("Base currency", "base"), ("Payment currency", "payment")]
            + ([("Tax currency", "tax")] if view == "tax" else []),
            value=view,
            description="View",
        )
        curs = charts.currencies(df, view)
        self.currency_picker = w.Dropdown(
            options=curs,
            value=(currency if currency in curs else (curs[0] if curs else None)),
            description="Currency",
        )
        self.account_picker = account_picker(df)
        self.period_picker = period_picker(df)
        self.message = w.HTML()
        self.figure = go.FigureWidget()
        self._redrawing = False
        self.redraw()
        for control in (self.chart_picker, self.currency_picker, self.period_picker):
            control.observe(self._on_change, names="value")
        for control in (self.view_picker, self.account_picker):
            control.observe(self._on_scope, names="value")
        super().__init__(
            children=[
                w.HBox([self.chart_picker, self.view_picker]),
                w.HBox([self.currency_picker, self.period_picker]),
                self.account_picker,
                self.message,
                self.figure,
            ]
        )

    # -- events ---------------------------------------------------------------------------------

    def _selected(self) -> pd.DataFrame:
        accounts = list(self.account_picker.value)
        return self.df.loc[self.df["account_id"].isin(accounts).fillna(False).astype(bool)]

    def _on_scope(self, _change: dict) -> None:
        """View or accounts changed: offer the currencies of the selection, then redraw once."""
        curs = charts.currencies(self._selected(), self.view_picker.value)
        keep = self.currency_picker.value if self.currency_picker.value in curs else None
        self._redrawing = True
        try:
            self.currency_picker.options = curs
            self.currency_picker.value = keep or (curs[0] if curs else None)
        finally:
            self._redrawing = False
        self.redraw()

    def _on_change(self, _change: dict) -> None:
        if not self._redrawing:
            self.redraw()

    # -- drawing --------------------------------------------------------------------------------

    def build_figure(self) -> go.Figure:
        """The figure for the current picker values (a plain ``go.Figure``).

        Returns
        -------
        plotly.graph_objects.Figure

        Raises
        ------
        InvalidArgumentError
            The selection is empty or holds no amount in the chosen currency.
        """
        _, func, extra = CHARTS[self.chart_picker.value]
        accounts = tuple(self.account_picker.value)
        if not accounts:
            raise InvalidArgumentError("no account selected: pick at least one account")
        if self.currency_picker.value is None:
            raise InvalidArgumentError("no currency in this view")
        first, last = self.period_picker.value
        kwargs: dict[str, Any] = dict(extra)
        kwargs.update(
            view=self.view_picker.value, currency=self.currency_picker.value, periods=(first, last)
        )
        if func in (charts.spend_trend, charts.top_accounts, charts.credit_memos):
            kwargs["colors"] = self.colors
        if func is charts.top_accounts:
            df = self.df.loc[self.df["account_id"].isin(list(accounts)).fillna(False)]
        else:
            df = self.df
            kwargs["accounts"] = accounts
        return func(df, **kwargs)

    def redraw(self) -> None:
        """Rebuild the chart from the current picker values (called on every change)."""
        try:
            fig = self.build_figure()
            self.message.value = ""
        except InvoiceKitError as exc:
            fig = go.Figure(layout={"template": charts.TEMPLATE})
            self.message.value = f"<b>Nothing to draw:</b> {exc}"
        with self.figure.batch_update():
            self.figure.data = []
            self.figure.layout = {}
            self.figure.add_traces(list(fig.data))
            self.figure.update_layout(fig.layout.to_plotly_json())


class DownloadPanel(w.VBox):
    """A button that downloads the invoice PDFs of ``df`` into ``dest``, with a progress bar.

    Runs :func:`invoicekit.download_invoice_pdfs` in steps of whole accounts (about ten steps,
    each still concurrent inside), on a background thread so the notebook stays responsive;
    the bar advances per step, and the summary and any failures (redacted: never a presigned
    URL's query string) appear below it. Re-running skips what is already archived.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries whose documents to download.
    dest : str or os.PathLike
        Archive directory.
    fleet : str, os.PathLike or invoicekit.Fleet, optional
        The fleet (or the path of its YAML file) giving each account its credentials.
    steps : int
        About how many steps the download is split into (the bar's resolution).
    **download_kwargs
        More keyword arguments for :func:`invoicekit.download_invoice_pdfs` (``template``,
        ``supplemental``, ``max_workers``).

    Attributes
    ----------
    button : ipywidgets.Button
    progress : ipywidgets.IntProgress
        ``max`` is the number of invoices; ``value`` the invoices done.
    status : ipywidgets.HTML
    result : pandas.DataFrame or None
        One row per document (the downloader's result, steps concatenated), once finished.

    Examples
    --------
    Display the panel and click "Download invoice PDFs", or call ``run()`` from code (it
    blocks until done):

    >>> panel = DownloadPanel(df, "archive", fleet=sb.fleet_config)  # doctest: +SKIP
    >>> panel  # doctest: +SKIP
    >>> result = panel.run()  # doctest: +SKIP
    >>> result["status"].value_counts()  # doctest: +SKIP
    """

    def __init__(
        self,
        df: pd.DataFrame,
        dest: str | os.PathLike[str],
        *,
        fleet: Any = None,
        steps: int = 10,
        **download_kwargs: Any,
    ) -> None:
        self.df = df
        self.dest = Path(dest)
        self.fleet = fleet
        self.steps = max(1, int(steps))
        self.download_kwargs = download_kwargs
        self.result: pd.DataFrame | None = None
        self.error: BaseException | None = None
        n = int(df["invoice_id"].nunique()) if len(df) else 0
        self.button = w.Button(
            description="Download invoice PDFs",
            button_style="primary",
            icon="download",
            layout=w.Layout(width="220px"),
        )
        self.progress = w.IntProgress(
            value=0,
            min=0,
            max=max(n, 1),
            description=f"0 / {n}",
            bar_style="info",
            layout=w.Layout(width="520px"),
        )
        what = documents.describe(documents.count(df.drop_duplicates(["account_id", "invoice_id"])))
        self.status = w.HTML(f"{_escape(what)} → <code>{_escape(str(self.dest))}</code>")
        self.button.on_click(lambda _b: self.start())
        self._thread: threading.Thread | None = None
        super().__init__(children=[w.HBox([self.button, self.progress]), self.status])

    def start(self) -> threading.Thread:
        """Start the download on a background thread (what the button does)."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._thread = threading.Thread(target=self._run_quietly, name="ik-download", daemon=True)
        self._thread.start()
        return self._thread

    def _run_quietly(self) -> None:
        try:
            self.run()
        except Exception:  # noqa: BLE001 - already shown in the panel (redacted)
            pass

    def _advance(self, n: int) -> None:
        self.progress.value = min(self.progress.max, self.progress.value + n)
        self.progress.description = f"{self.progress.value} / {self.progress.max}"

    def run(self) -> pd.DataFrame:
        """Download now, in this thread, updating the bar; returns one row per document.

        Returns
        -------
        pandas.DataFrame
            The downloader's result (``status`` downloaded / skipped / failed per document),
            with the steps' :class:`~invoicekit.outcomes.RunReport` merged into one
            (``invoicekit.outcomes.run_report(result)``; ``attrs["api_calls"]`` and
            ``attrs["failures"]`` are its thin view).
        """
        from invoicekit import archive

        self.button.disabled = True
        self.progress.value = 0
        self.progress.description = f"0 / {self.progress.max}"
        self.progress.bar_style = "info"
        self.status.value = "Downloading…"
        self.error = None
        try:
            fleet = self.fleet
            if isinstance(fleet, str | os.PathLike):
                from invoicekit.fleet import load_fleet

                fleet = load_fleet(fleet)
            parts = []
            for chunk in _account_chunks(self.df, self.steps):
                kwargs = {"progress": False, **self.download_kwargs}
                parts.append(archive.download_invoice_pdfs(chunk, self.dest, fleet=fleet, **kwargs))
                self._advance(int(chunk["invoice_id"].nunique()))
            self.result = _combine(parts)
            failed = (
                self.result[self.result["status"] == archive.FAILED] if len(self.result) else []
            )
            self.progress.value = self.progress.max
            self.progress.description = f"{self.progress.max} / {self.progress.max}"
            self.progress.bar_style = "warning" if len(failed) else "success"
            self.status.value = _summary_html(self.result, self.dest, _row_kinds(self.df))
        except Exception as exc:  # shown in the panel, redacted; re-raised for code callers
            self.error = exc
            self.progress.bar_style = "danger"
            self.status.value = f"<b>Download failed:</b> {_escape(redact(exc))}"
            raise
        finally:
            self.button.disabled = False
        return self.result


# ----------------------------------------------------------------------------------------------
# download helpers
# ----------------------------------------------------------------------------------------------


def _escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _account_chunks(df: pd.DataFrame, steps: int) -> list[pd.DataFrame]:
    """Split ``df`` into about ``steps`` parts of whole accounts (one session per account)."""
    if df.empty:
        return []
    per_account = df.groupby("account_id", sort=True, observed=True).size()
    target = max(1, -(-int(per_account.sum()) // steps))
    groups: list[list[str]] = [[]]
    size = 0
    for account, n in per_account.items():
        if size >= target:
            groups.append([])
            size = 0
        groups[-1].append(str(account))
        size += int(n)
    ids = df["account_id"].astype(str)
    return [df.loc[ids.isin(g).to_numpy()] for g in groups if g]


def _combine(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The steps' results as one frame, their run reports merged into one."""
    if not parts:
        from invoicekit import archive

        return outcomes.attach(
            pd.DataFrame(columns=list(archive.RESULT_COLUMNS)), outcomes.RunReport("download")
        )
    out = pd.concat(parts, ignore_index=True)
    reports = [outcomes.run_report(p) for p in parts]
    if all(r is not None for r in reports):
        merged = outcomes.RunReport("download")
        for r in reports:
            merged.merge(r)
        return outcomes.attach(out, merged)
    out.attrs = {  # a downloader without typed outcomes: its attrs, summed
        "api_calls": sum(int(p.attrs.get("api_calls", 0)) for p in parts),
        "failures": [f for p in parts for f in p.attrs.get("failures", [])],
    }
    return out


def _api_calls(result: pd.DataFrame) -> int:
    rep = outcomes.run_report(result)
    return rep.api_calls if rep is not None else int(result.attrs.get("api_calls", 0))


def _row_kinds(df: pd.DataFrame) -> dict[tuple[str, str], str]:
    """``(account_id, invoice_id)`` → the row's kind (:func:`invoicekit.documents.kinds`)."""
    return {
        (str(a), str(i)): k
        for a, i, k in zip(df["account_id"], df["invoice_id"], documents.kinds(df), strict=True)
    }


def _failure_item(row: Any, row_kinds: dict[tuple[str, str], str]) -> str:
    """One failed document as a list item: invoice id, what the document is, the error."""
    kind = row_kinds.get((str(row.account_id), str(row.invoice_id)), documents.INVOICE)
    label = documents.document_label(row.document_type, kind)
    return f"<li>{_escape(row.invoice_id)} {_escape(label)}: {_escape(redact(row.error))}</li>"


def _summary_html(
    result: pd.DataFrame, dest: Path, row_kinds: dict[tuple[str, str], str] | None = None
) -> str:
    counts = result["status"].value_counts().to_dict() if len(result) else {}
    parts = [
        f"Archive <code>{_escape(str(dest))}</code>",
        f"{counts.get('downloaded', 0)} downloaded",
        f"{counts.get('skipped', 0)} already archived (no API call)",
        f"{_api_calls(result)} API calls",
    ]
    failed = result[result["status"] == "failed"] if len(result) else result
    if len(failed):
        items = "".join(_failure_item(r, row_kinds or {}) for r in failed.head(20).itertuples())
        parts.append(
            f"<b>{len(failed)} failed</b> — click again to retry only those:<ul>{items}</ul>"
        )
    else:
        parts.append("<b>no failures</b>")
    return " · ".join(parts)
