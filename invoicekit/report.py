"""HTML reports that open offline: the executive summary, and executed notebooks.

* :func:`executive_summary` writes one self-contained page (no script at all: charts are
  inline SVG, at most 1 MB, two printed pages) around the money: :func:`headlines` per
  currency, the trend, the top movers, the findings in plain sentences, the archive; with
  ``pdf=`` it is also printed through Chromium (:func:`print_pdf`).
* :func:`notebook_html` exports an executed notebook for readers: no code, no prompt, no
  traceback; its plotly charts draw from one ``plotly.js`` beside the reports (never a CDN).

Every text passes through :func:`invoicekit._redact.redact` before it is written, so that no
presigned URL's query string or credential can reach a report; :func:`find_secrets` is the
independent check tests and the demo run on every file written. See ``docs/reports.md``.

Examples
--------
>>> from invoicekit import report  # doctest: +SKIP
>>> report.executive_summary(df, findings=findings, archive="archive", month="2026-10",
...                          path="reports/executive_summary.html",
...                          pdf="reports/executive_summary.pdf")  # doctest: +SKIP
>>> report.notebook_html("executed/01_spend_trends.ipynb", "reports/01_spend_trends.html")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import html
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from invoicekit import _files, charts, clock, documents, schema
from invoicekit._money import format_compact, format_money
from invoicekit._redact import redact
from invoicekit.errors import InvalidArgumentError, InvoiceKitError
from invoicekit.months import (
    add_months,
    format_month,
    last_closed_month,
    month_range,
    month_str,
    parse_month,
    span,
)
from invoicekit.reconcile.explain import month_words

__all__ = [
    "PLOTLY_MIME",
    "WIDGET_MIME",
    "SECRET_PATTERNS",
    "find_secrets",
    "notebook_html",
    "notebooks_to_html",
    "archive_status",
    "archive_line",
    "Headline",
    "headlines",
    "executive_summary",
    "print_pdf",
    "PLOTLY_JS_NAME",
]

#: The MIME type plotly's ``plotly_mimetype`` renderer writes into notebooks.
PLOTLY_MIME = "application/vnd.plotly.v1+json"
#: The MIME type of an ipywidgets view (its state is not kept in an executed notebook).
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

#: What must never appear in a report, log or notebook output.
SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "presigned signature": re.compile(r"X-Amz-Signature=(?!REDACTED)[0-9a-fA-F]{8,}", re.I),
    "presigned security token": re.compile(
        r"X-Amz-Security-Token=(?!REDACTED)[^&\s\"'<>]{8,}", re.I
    ),
    "presigned credential": re.compile(r"X-Amz-Credential=(?!REDACTED)[^&\s\"'<>]{8,}", re.I),
    "access key id": re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    "secret access key": re.compile(
        r"(?:aws_secret_access_key|SecretAccessKey)[\"']?\s*[:=]\s*[\"']?(?!REDACTED)[A-Za-z0-9/+=]{16,}",
        re.I,
    ),
}

_EXTERNAL_SCRIPT = re.compile(
    r"<script[^>]*\bsrc=[\"'](?:https?:)?//[^\"']*[\"'][^>]*>\s*</script>", re.I
)
_MATHJAX_BLOCK = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S | re.I
)
_WIDGET_NOTE = (
    '<div class="ik-widget-note">Interactive control — open this notebook in JupyterLab '
    "(<code>make lab</code>) to use it; the static charts above and below show the same data."
    "</div>"
)


# ----------------------------------------------------------------------------------------------
# secrets
# ----------------------------------------------------------------------------------------------


def find_secrets(text: str) -> list[str]:
    """Names of the secret kinds found in ``text`` (empty when clean).

    Parameters
    ----------
    text : str
        Any text: a report, a notebook's JSON, a log.

    Returns
    -------
    list of str
        E.g. ``["presigned signature"]``.

    Examples
    --------
    >>> find_secrets("https://h/doc.pdf?X-Amz-Signature=" + "ab" * 32)
    ['presigned signature']
    >>> find_secrets("https://h/doc.pdf?REDACTED")
    []
    """
    return [name for name, pat in SECRET_PATTERNS.items() if pat.search(text)]


def _redact_data(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_data(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_data(v) for k, v in value.items()}
    return value


#: The one plotly.js file written beside the notebook reports (offline, never a CDN).
PLOTLY_JS_NAME = "plotly.js"


def _plotlyjs_tag(inline: bool = True) -> str:
    if not inline:
        return (
            f'<script type="text/javascript" src="{PLOTLY_JS_NAME}" charset="utf-8" '
            'data-invoicekit="plotly.js"></script>'
        )
    from plotly.offline import get_plotlyjs

    return f'<script type="text/javascript" data-invoicekit="plotly.js">{get_plotlyjs()}</script>'


def _shared_plotlyjs(directory: Path) -> Path:
    """Write ``plotly.js`` into ``directory`` unless the same bundle is already there."""
    from plotly.offline import get_plotlyjs

    target = directory / PLOTLY_JS_NAME
    bundle = get_plotlyjs()
    if not (target.is_file() and target.stat().st_size == len(bundle.encode("utf-8"))):
        _files.write_text(target, bundle)
    return target


def _write_clean(path: Path, body_html: str, plotly: bool, *, shared: bool = False) -> Path:
    """Insert plotly.js once (after the secret check of everything else) and write."""
    found = find_secrets(body_html)
    if found:  # pragma: no cover - redact() runs first; this is the belt to its braces
        raise RuntimeError(f"refusing to write {path}: it would contain a {found[0]}")
    if plotly:
        if shared:
            _shared_plotlyjs(path.parent)
        marker = "</head>"
        tag = _plotlyjs_tag(inline=not shared)
        body_html = (
            body_html.replace(marker, tag + marker, 1) if marker in body_html else tag + body_html
        )
    return _files.write_text(path, body_html)


# ----------------------------------------------------------------------------------------------
# executed notebooks
# ----------------------------------------------------------------------------------------------


def _figure_div(fig_json: Mapping[str, Any]) -> str:
    fig = go.Figure(fig_json)
    return pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        config={"responsive": True, "displaylogo": False},
    )


def _error_note(out: Mapping[str, Any]) -> dict:
    """An error output as one plain line (no traceback), for a report reader."""
    what = redact(f"{out.get('ename', 'Error')}: {out.get('evalue', '')}")
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {
            "text/html": '<div class="ik-widget-note">This step did not finish: '
            f"{html.escape(what)}</div>"
        },
    }


def _static_outputs(nb: Any, *, for_reader: bool = False) -> tuple[Any, int]:
    """Copy of ``nb`` with plotly outputs as HTML divs, widgets as a note, all text redacted.

    ``for_reader``: errors become one plain line (no traceback) and stderr is left out.
    """
    import nbformat

    nb = copy.deepcopy(nb)
    # Saved widget state (papermill keeps it; a FigureWidget's holds a whole plotly.js bundle)
    # would make nbconvert load the widget manager from a CDN: a report shows a note instead.
    nb.metadata.pop("widgets", None)
    figures = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        if for_reader:
            kept = []
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    kept.append(nbformat.from_dict(_error_note(out)))
                elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                    continue
                else:
                    kept.append(out)
            cell["outputs"] = kept
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                out["text"] = redact("".join(out.get("text", "")))
            elif out.get("output_type") == "error":
                out["evalue"] = redact(out.get("evalue", ""))
                out["traceback"] = [redact(t) for t in out.get("traceback", [])]
            data = out.get("data")
            if not data:
                continue
            if PLOTLY_MIME in data:
                data["text/html"] = _figure_div(data.pop(PLOTLY_MIME))
                data.pop("text/plain", None)
                figures += 1
            elif WIDGET_MIME in data:
                data.pop(WIDGET_MIME)
                data.pop("text/plain", None)
                data["text/html"] = _WIDGET_NOTE
            for key in list(data):
                if key.startswith("text/") or key in ("application/json",):
                    data[key] = _redact_data(data[key])
                elif key == "application/javascript":
                    data.pop(key)  # no executable output in a report
    return nb, figures


def notebook_html(
    ipynb: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    title: str | None = None,
    hide_code: bool = True,
    plotlyjs: str = "shared",
) -> Path:
    """Convert an executed notebook to an offline-readable HTML report, without its code.

    A report is for readers: by default it holds no input cell (no code, no prompt), no
    traceback (an error output becomes one plain line) and no stderr. Plotly outputs become
    charts drawn by one ``plotly.js`` written beside the reports (shared by every report of
    the directory, offline, never a CDN) or inlined; widget outputs a short note (their live
    state is not saved); external scripts (MathJax, require.js CDNs) are removed, and every
    output is redacted.

    Parameters
    ----------
    ipynb : str or os.PathLike
        The executed notebook (e.g. written by papermill).
    out : str or os.PathLike
        The HTML file to write.
    title : str, optional
        The page title (default: the notebook's file name).
    hide_code : bool
        Leave the code cells, tracebacks and stderr out (default). ``False`` keeps the code
        (a developer's view).
    plotlyjs : {"shared", "inline"}
        ``"shared"``: one ``plotly.js`` file beside ``out`` (written when missing);
        ``"inline"``: embedded in the file (one self-contained file, about 5 MB).

    Returns
    -------
    pathlib.Path
        ``out``.

    Examples
    --------
    >>> notebook_html("executed/01_spend_trends.ipynb", "reports/01_spend_trends.html")  # doctest: +SKIP
    PosixPath('reports/01_spend_trends.html')
    """
    import nbformat
    from nbconvert import HTMLExporter

    if plotlyjs not in ("shared", "inline"):
        raise InvalidArgumentError(f"plotlyjs must be 'shared' or 'inline', not {plotlyjs!r}")
    src = Path(ipynb)
    nb = nbformat.read(src, as_version=4)
    static, figures = _static_outputs(nb, for_reader=hide_code)
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = hide_code
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(
        static, resources={"metadata": {"name": title or src.stem}}
    )
    body = _MATHJAX_BLOCK.sub("", body)
    body = _EXTERNAL_SCRIPT.sub("", body)
    body = body.replace(
        "</head>",
        "<style>.ik-widget-note{font-size:12px;color:#666;border-left:3px solid #ccc;"
        "padding:4px 8px;margin:4px 0}</style></head>",
        1,
    )
    return _write_clean(Path(out), body, plotly=figures > 0, shared=plotlyjs == "shared")


def notebooks_to_html(
    executed: Iterable[str | os.PathLike[str]], reports_dir: str | os.PathLike[str]
) -> list[Path]:
    """:func:`notebook_html` for each executed notebook, into ``reports_dir/<stem>.html``.

    Parameters
    ----------
    executed : iterable of path
        Executed notebooks.
    reports_dir : str or os.PathLike
        Output directory.

    Returns
    -------
    list of pathlib.Path

    Examples
    --------
    >>> notebooks_to_html(sorted(Path("demo-output/executed").glob("*.ipynb")), "reports")  # doctest: +SKIP
    """
    out_dir = Path(reports_dir)
    return [notebook_html(p, out_dir / f"{Path(p).stem}.html") for p in executed]


# ----------------------------------------------------------------------------------------------
# executive summary
# ----------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(redact("" if value is None or value is pd.NA else str(value)))


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: set[int]) -> str:
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
            for i, v in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def archive_status(df: pd.DataFrame, archive: str | os.PathLike[str]) -> dict[str, Any]:
    """Completeness and integrity of a PDF archive for the invoices of ``df``.

    Runs :func:`invoicekit.verify_archive` (re-hashes every document against the manifest and
    lists the rows without their PDF) and counts the documents expected in the words of
    :mod:`invoicekit.documents`: each row's own PDF (an invoice, a credit memo, a tax
    invoice, a payment receipt) and every supplemental document the archive lists for them.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries that should all have a document.
    archive : str or os.PathLike
        The archive directory written by :func:`invoicekit.download_invoice_pdfs`.

    Returns
    -------
    dict
        ``documents_expected`` and ``documents_ok`` (with an intact PDF), ``document_counts``
        (the expected documents by kind, ``"supplemental document"`` included), ``invoices``
        (rows expected), ``with_pdf`` (rows with their own PDF), ``missing`` (invoice ids
        without it), ``documents`` (documents in the archive, all re-hashed), ``problems``
        (``{kind: count}``: no_document, missing, corrupt, unexpected files...), ``bytes``,
        ``ok``.

    Examples
    --------
    >>> st = archive_status(df, "demo-output/archive")  # doctest: +SKIP
    >>> st["documents_ok"] == st["documents_expected"], documents.describe(st["document_counts"])  # doctest: +SKIP
    (True, '156 invoices, 12 credit memos, 5 supplemental documents')
    """
    from invoicekit.archive import MANIFEST_NAME, read_manifest, verify_archive

    rows = df.dropna(subset=["invoice_id"]).drop_duplicates(["account_id", "invoice_id"])
    kinds = {
        (str(a), str(i)): k
        for a, i, k in zip(
            rows["account_id"], rows["invoice_id"], documents.kinds(rows), strict=True
        )
    }
    counts = {**documents.count(rows), documents.SUPPLEMENTAL_DOCUMENT: 0}
    root = Path(archive)
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        return {
            "documents_expected": len(kinds),
            "documents_ok": 0,
            "document_counts": counts,
            "invoices": len(kinds),
            "with_pdf": 0,
            "missing": sorted({i for _, i in kinds}),
            "documents": 0,
            "problems": {"no archive": 1},
            "bytes": 0,
            "ok": False,
        }
    rep = verify_archive(root, summaries=df)
    probs = rep.problems
    listed = read_manifest(manifest).rows
    supplemental = {
        (r["account_id"], r["invoice_id"], r["document_type"], r["document_id"])
        for r in listed
        if (r["account_id"], r["invoice_id"]) in kinds
        and r["document_type"] != documents.MAIN_DOCUMENT
    }
    counts[documents.SUPPLEMENTAL_DOCUMENT] = len(supplemental)
    without_pdf = {
        (str(a), str(i))
        for a, i, p in zip(probs["account_id"], probs["invoice_id"], probs["problem"], strict=True)
        if p == "no_document"
    }
    broken = {
        (str(a), str(i), str(t), str(d))
        for a, i, t, d, p in zip(
            probs["account_id"],
            probs["invoice_id"],
            probs["document_type"],
            probs["document_id"],
            probs["problem"],
            strict=True,
        )
        if p in ("missing", "corrupt")
    } & supplemental
    size = sum(int(r["bytes"]) for r in listed if (r.get("bytes") or "").isdigit())
    expected = len(kinds) + len(supplemental)
    return {
        "documents_expected": expected,
        "documents_ok": expected - len(without_pdf) - len(broken),
        "document_counts": counts,
        "invoices": len(kinds),
        "with_pdf": len(kinds) - len(without_pdf),
        "missing": sorted({i for _, i in without_pdf}),
        "documents": rep.checked,
        "problems": probs["problem"].value_counts().to_dict() if len(probs) else {},
        "bytes": size,
        "ok": rep.ok,
    }


def archive_line(status: Mapping[str, Any]) -> str:
    """The archive's completeness in one sentence, in :mod:`invoicekit.documents` words.

    Parameters
    ----------
    status : mapping
        :func:`archive_status`'s answer.

    Returns
    -------
    str
        E.g. ``"173 of 173 documents (156 invoices, 12 credit memos, 5 supplemental
        documents) have their PDF"``.

    Examples
    --------
    >>> archive_line({"documents_ok": 3, "documents_expected": 3,
    ...               "document_counts": {"invoice": 2, "credit memo": 1}})
    '3 of 3 documents (2 invoices, 1 credit memo) have their PDF'
    """
    expected = int(status.get("documents_expected", status.get("invoices", 0)))
    ok = int(status.get("documents_ok", status.get("with_pdf", 0)))
    counts = status.get("document_counts") or {}
    what = f" ({documents.describe(counts)})" if any(counts.values()) else ""
    verb = "has" if expected == 1 else "have"
    return f"{ok:,} of {documents.plural(expected, 'document')}{what} {verb} their PDF"


@dataclass(frozen=True)
class Headline:
    """The month's spend in one currency, against the month before and a year before.

    Every amount is exact (:class:`~decimal.Decimal`, spend as :func:`invoicekit.totals`
    counts it: invoices and credit memos netted). ``None`` means the data does not cover that
    month; ``Decimal(0)`` that it does and holds no spend in this currency. Percentages are
    ``change / earlier x 100`` rounded half-up to one decimal (``None`` when the earlier
    amount is missing or zero).
    """

    currency: str
    view: str
    month: str
    spend: Decimal
    previous_month: str
    previous: Decimal | None
    change: Decimal | None
    change_pct: Decimal | None
    year_ago_month: str
    year_ago: Decimal | None
    year_change: Decimal | None
    year_change_pct: Decimal | None
    total_12m: Decimal
    months_12m: tuple[str, ...]
    accounts: int

    def figure(self, amount: Decimal | None = None) -> str:
        """``"EUR 5.81M"``: a compact amount in CFO words (three significant digits)."""
        value = self.spend if amount is None else amount
        return f"{self.currency} {format_compact(value, digits=3)}"

    def sentence(self) -> str:
        """``"EUR 5.81M in October 2026, +4.2% on September; +11.0% on October 2025."``"""
        return (
            f"{self.figure()} in {month_words(self.month)}, "
            f"{_versus(self.change_pct, self.previous, self.previous_month, short=True)}; "
            f"{_versus(self.year_change_pct, self.year_ago, self.year_ago_month)}."
        )

    def total_sentence(self) -> str:
        """``"EUR 65.2M over the 12 months November 2025 to October 2026."``"""
        n = len(self.months_12m)
        what = "month" if n == 1 else f"{n} months"
        first, last = month_words(self.months_12m[0]), month_words(self.months_12m[-1])
        return f"{self.figure(self.total_12m)} over the {what} {first} to {last}."


def _pct_text(pct: Decimal | None) -> str:
    return "–" if pct is None else f"{pct:+f}%"


def _versus(pct: Decimal | None, earlier: Decimal | None, month: str, *, short=False) -> str:
    words = month_words(month)
    if short:
        words = words.split(" ")[0]
    if earlier is None:
        return f"no data for {month_words(month)}"
    if pct is None:
        return f"none in {words}"
    return f"{_pct_text(pct)} on {words}"


def _pct(change: Decimal, earlier: Decimal | None) -> Decimal | None:
    if earlier is None or earlier == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 40
        return (change * 100 / earlier).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _report_month(df: pd.DataFrame, month: Any) -> str:
    if month is not None:
        return format_month(*parse_month(month, "month"))
    closed = last_closed_month()
    held = [m for m in span(df["billing_period"])] if len(df) else []
    return min(closed, held[-1]) if held else closed


def _spend_sums(
    df: pd.DataFrame, view: str, months: Sequence[str]
) -> tuple[dict[tuple[str, str], Decimal], dict[tuple[str, str, str], Decimal], dict]:
    """Exact spend per (currency, month) and per (currency, month, account) in ``months``."""
    rows = documents.spend(df)
    cur_col, amount_col = f"{view}_currency", f"{view}_total"
    wanted = set(months)
    by_month: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    by_account: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    accounts: dict[str, set[str]] = defaultdict(set)
    with localcontext() as ctx:
        ctx.prec = 60
        for p, c, a, amount in zip(
            rows["billing_period"], rows[cur_col], rows["account_id"], rows[amount_col], strict=True
        ):
            m = month_str(p)
            if m not in wanted or c is None or c is pd.NA or amount is None or amount is pd.NA:
                continue
            by_month[(str(c), m)] += Decimal(amount)
            by_account[(str(c), m, str(a))] += Decimal(amount)
            accounts[str(c)].add(str(a))
    return dict(by_month), dict(by_account), accounts


def headlines(df: pd.DataFrame, month: Any = None, view: str = "payment") -> list[Headline]:
    """The executive summary's headline figures, one :class:`Headline` per currency.

    Pure and exact: the month's net spend per currency of ``view`` (never summed across
    currencies), the previous month and the change (amount and %), the same month a year
    earlier and the change, and the total of the 12 months ending with ``month``.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (ideally the month and the 12 before it).
    month : str or pandas.Period, optional
        The report month (``"YYYY-MM"``); default the last closed month
        (:func:`invoicekit.months.last_closed_month`), or the latest month of the data when
        that is earlier.
    view : {"payment", "base", "tax"}
        The currency view: ``payment`` (what accounts payable pays) by default.

    Returns
    -------
    list of Headline
        Currencies with spend in the 12 months, the one paid by most accounts first.

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame(build_organization(today="2026-11-25", months=14).invoices)
    >>> h = headlines(df, "2026-10", view="base")[0]
    >>> h.currency, h.month, h.previous_month, h.year_ago_month
    ('USD', '2026-10', '2026-09', '2025-10')
    >>> h.change == h.spend - h.previous
    True
    """
    view = schema.check_view(view) or view
    report_month = _report_month(df, month)
    y, m = parse_month(report_month, "month")
    prev = format_month(*add_months(y, m, -1))
    year_ago = format_month(*add_months(y, m, -12))
    window = tuple(month_range(format_month(*add_months(y, m, -11)), report_month))
    # the months the data holds a row of: a month never fetched is "no data", not zero spend
    held = {month_str(v) for v in df["billing_period"].dropna().unique()} - {""}
    window = tuple(w for w in window if w in held) or (report_month,)
    sums, _, accounts = _spend_sums(df, view, [*window, prev, year_ago])
    found = sorted({c for c, w in sums if w in window})
    found.sort(key=lambda c: (-len(accounts[c]), c))
    out = []
    for c in found:
        spend = sums.get((c, report_month), Decimal(0))
        p = sums.get((c, prev), Decimal(0)) if prev in held else None
        ya = sums.get((c, year_ago), Decimal(0)) if year_ago in held else None
        out.append(
            Headline(
                currency=c,
                view=view,
                month=report_month,
                spend=spend,
                previous_month=prev,
                previous=p,
                change=None if p is None else spend - p,
                change_pct=None if p is None else _pct(spend - p, p),
                year_ago_month=year_ago,
                year_ago=ya,
                year_change=None if ya is None else spend - ya,
                year_change_pct=None if ya is None else _pct(spend - ya, ya),
                total_12m=sum((sums.get((c, w), Decimal(0)) for w in window), Decimal(0)),
                months_12m=window,
                accounts=len(accounts[c]),
            )
        )
    return out


# ----------------------------------------------------------------------------------------------
# the executive summary page
# ----------------------------------------------------------------------------------------------

_TOP_DEFAULT = 8

_SUMMARY_CSS = """
*{box-sizing:border-box}
body{font-family:Helvetica,Arial,sans-serif;color:#1d2327;margin:0;background:#f3f4f6;font-size:14px}
main{max-width:1120px;margin:0 auto;padding:22px 28px;background:#fff}
h1{font-size:23px;margin:0 0 2px} h2{font-size:16px;margin:18px 0 6px;color:#1f4e79;
border-bottom:1px solid #dde3ea;padding-bottom:3px} h3{font-size:13px;margin:10px 0 2px;color:#333}
.sub{color:#555;font-size:12.5px;margin-bottom:10px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px}
.card{border:1px solid #dde3ea;border-radius:6px;padding:8px 11px;background:#fafbfc}
.card .big{font-size:22px;font-weight:bold;color:#10324f;white-space:nowrap}
.card .m{font-size:12px;color:#555} .card .l{font-size:12.5px;margin-top:2px}
.up{color:#a4331f} .down{color:#2b7a3d}
.status{display:flex;flex-wrap:wrap;gap:8px 24px;margin:10px 0 2px;font-size:13.5px}
.ok{color:#2e7d32;font-weight:bold} .bad{color:#c0392b;font-weight:bold} .warn{color:#a05f00;font-weight:bold}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{padding:3px 7px;border-bottom:1px solid #e6e9ed;text-align:left;vertical-align:top}
th{font-weight:600;color:#333;background:#f6f8fa}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.sw{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px;vertical-align:baseline}
.two{display:grid;grid-template-columns:1fr 1fr;gap:8px 20px}
.chart{break-inside:avoid;page-break-inside:avoid;margin-bottom:4px}
.chart svg{width:100%;height:auto;display:block}
.findings li{margin:0 0 5px} .findings .act{color:#555;font-size:12px;display:block}
.note{font-size:11.5px;color:#666;margin:4px 0}
section{break-inside:auto}
.keep{break-inside:avoid;page-break-inside:avoid}
@page{margin:11mm 10mm}
@media print{
 body{background:#fff;font-size:11px} main{max-width:none;padding:0}
 h1{font-size:18px} h2{font-size:13px;margin:9px 0 4px;break-after:avoid;page-break-after:avoid}
 h3{font-size:11px;margin:4px 0 0;break-after:avoid}
 .cards{grid-template-columns:repeat(auto-fill,minmax(120px,1fr));gap:6px}
 .card{padding:4px 7px} .card .big{font-size:16px} .card .l,.card .m{font-size:10px}
 table{font-size:10px} th,td{padding:1.5px 5px} .findings li{margin:0 0 2px}
 .findings .act{font-size:9.5px} .note{font-size:9.5px} .status{font-size:11px;margin:6px 0 0}
 tr,.card,.chart,li{break-inside:avoid;page-break-inside:avoid}
 a{color:inherit;text-decoration:none}
}
"""


def _sign_class(v: Decimal | None) -> str:
    if v is None or v == 0:
        return ""
    return "up" if v > 0 else "down"


def _change_money(v: Decimal | None, currency: str) -> str:
    if v is None:
        return "–"
    text = format_money(v, currency)
    return text if text.startswith("-") or v == 0 else "+" + text


def _swatch(color: str | None) -> str:
    if color is None:  # not among the largest of any chart: no colour of its own
        return '<span class="sw" style="border:1px solid #999"></span>'
    return f'<span class="sw" style="background:{color}"></span>'


def _card(h: Headline) -> str:
    cls = _sign_class(h.change)
    ycls = _sign_class(h.year_change)
    short_prev = month_words(h.previous_month).split(" ")[0]
    vs_prev = (
        f"<span class='{cls}'>{_e(_pct_text(h.change_pct))}</span> "
        f"({_e(_change_money(h.change, h.currency))}) on {_e(short_prev)}"
        if h.previous is not None and h.change_pct is not None
        else _e(_versus(h.change_pct, h.previous, h.previous_month, short=True))
    )
    vs_year = (
        f"<span class='{ycls}'>{_e(_pct_text(h.year_change_pct))}</span> on "
        f"{_e(month_words(h.year_ago_month))}"
        if h.year_ago is not None and h.year_change_pct is not None
        else _e(_versus(h.year_change_pct, h.year_ago, h.year_ago_month))
    )
    n = len(h.months_12m)
    return (
        f'<div class="card" data-currency="{_e(h.currency)}">'
        f'<div class="big">{_e(h.figure())}</div>'
        f'<div class="m">{_e(month_words(h.month))} · {h.accounts:,} payer '
        f"account{'s' if h.accounts != 1 else ''}</div>"
        f'<div class="l">{vs_prev}</div><div class="l">{vs_year}</div>'
        f'<div class="l">{_e(h.figure(h.total_12m))} over {n} month{"s" if n != 1 else ""}</div>'
        "</div>"
    )


def _totals_table(heads: Sequence[Headline]) -> str:
    if not heads:
        return "<p class='note'>No spend in these months.</p>"
    h0 = heads[0]
    headers = [
        "Currency",
        month_words(h0.month),
        month_words(h0.previous_month),
        "Change",
        "%",
        month_words(h0.year_ago_month),
        "Change",
        "%",
        f"{len(h0.months_12m)} months",
    ]
    rows = [
        [
            h.currency,
            format_money(h.spend, h.currency),
            format_money(h.previous, h.currency),
            _change_money(h.change, h.currency),
            _pct_text(h.change_pct),
            format_money(h.year_ago, h.currency),
            _change_money(h.year_change, h.currency),
            _pct_text(h.year_change_pct),
            format_money(h.total_12m, h.currency),
        ]
        for h in heads
    ]
    return _table(headers, rows, set(range(1, 9)))


def _movers(
    by_account: Mapping[tuple[str, str, str], Decimal],
    heads: Sequence[Headline],
    labels: Mapping[str, str],
    colors: Mapping[tuple[str, str], str],
    per_currency: int,
) -> tuple[list, list]:
    """(increases, decreases): rows of (currency, account, previous, current, change, pct)."""
    ups, downs = [], []
    for h in heads:
        if h.previous is None:
            continue
        accounts = {a for (c, _, a) in by_account if c == h.currency}
        moves = []
        for a in accounts:
            now = by_account.get((h.currency, h.month, a), Decimal(0))
            before = by_account.get((h.currency, h.previous_month, a), Decimal(0))
            if now != before:
                moves.append((now - before, a, before, now))
        moves.sort(key=lambda t: (-t[0], t[1]))
        ups += [(h.currency, *t) for t in moves[:per_currency] if t[0] > 0]
        downs += [(h.currency, *t) for t in sorted(moves, key=lambda t: (t[0], t[1]))
                  [:per_currency] if t[0] < 0]  # fmt: skip

    def row(r):
        cur, change, a, before, now = r
        pct = _pct(change, before)
        return (
            f"<tr><td>{_swatch(colors.get((cur, a)))}{_e(labels.get(a, a))}</td>"
            f'<td class="num">{_e(format_money(now, cur, code=True))}</td>'
            f'<td class="num {_sign_class(change)}">{_e(_change_money(change, cur))}</td>'
            f'<td class="num">{_e(_pct_text(pct) if pct is not None else "new")}</td></tr>'
        )

    return [row(r) for r in ups], [row(r) for r in downs]


def _movers_html(ups: list, downs: list, heads: Sequence[Headline]) -> str:
    if not heads or heads[0].previous is None:
        return "<p class='note'>No previous month in the data: no movers to show.</p>"
    h0 = heads[0]
    now_w = month_words(h0.month).split(" ")[0]
    prev_w = month_words(h0.previous_month).split(" ")[0]

    def table(title: str, rows: list) -> str:
        head = (
            f"<tr><th>Account</th><th class='num'>{_e(now_w)}</th>"
            f"<th class='num'>Change on {_e(prev_w)}</th><th class='num'>%</th></tr>"
        )
        body = "".join(rows) or "<tr><td colspan='4' class='note'>none</td></tr>"
        return f"<div><h3>{_e(title)}</h3><table><thead>{head}</thead><tbody>{body}</tbody></table></div>"

    return (
        "<div class='two keep'>"
        + table("Largest increases", ups)
        + table("Largest decreases", downs)
        + "</div>"
    )


def _findings_html(
    findings: pd.DataFrame, names: Mapping[str, str], limit: int
) -> tuple[str, int, int]:
    from invoicekit.reconcile.explain import explain_findings

    plain = explain_findings(findings, names)
    sev = plain["severity"].value_counts().to_dict() if len(plain) else {}
    errors, warnings, info = (int(sev.get(k, 0)) for k in ("error", "warning", "info"))
    if errors:
        status = f"<p class='bad'>{errors:,} reconciliation error{'s' if errors != 1 else ''}: resolve before closing the month</p>"
    elif warnings:
        status = f"<p class='warn'>no errors; {warnings:,} warning{'s' if warnings != 1 else ''} to review</p>"
    else:
        status = "<p class='ok'>all checks passed: no error, no warning</p>"
    serious = plain[plain["severity"].isin(["error", "warning"])]
    items = []
    for r in serious.head(limit).itertuples():
        tag = "bad" if r.severity == "error" else "warn"
        word = "Error" if r.severity == "error" else "Warning"
        items.append(
            f"<li><span class='{tag}'>{word}.</span> {_e(r.sentence)}"
            f"<span class='act'>What to do: {_e(r.action)}</span></li>"
        )
    more = len(serious) - len(items)
    tail = []
    if more > 0:
        tail.append(f"{more:,} more error{'s' if more != 1 else ''} or warnings")
    if info:
        tail.append(f"{info:,} for information (credit memos netted, payment currency changes)")
    note = (
        f"<p class='note'>{_e('; '.join(tail))}: every finding is in findings.csv "
        "(<code>invoicekit reconcile</code>).</p>"
        if tail
        else ""
    )
    body = f"<ul class='findings'>{''.join(items)}</ul>" if items else ""
    return status + body + note, errors, warnings


def _archive_html(df: pd.DataFrame, archive: Any, month: str = "") -> tuple[str, str]:
    """(section html, one status line) for the archive; ``month`` ("October 2026") names the
    scope of the counts when ``df`` holds one billing month."""
    if archive is None:
        return "<p class='note'>No PDF archive was checked in this run.</p>", "not checked"
    st = dict(archive) if isinstance(archive, Mapping) else archive_status(df, archive)
    other = {k: v for k, v in (st.get("problems") or {}).items() if k != "no_document"}
    complete = not st.get("missing") and not other
    cls = "ok" if complete else "bad"
    missing = list(st.get("missing") or [])
    problems = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(other.items()))
    expected = int(st.get("documents_expected", 0))
    ok = int(st.get("documents_ok", 0))
    short = f"<span class='{cls}'>{ok:,} of {expected:,} PDFs</span>"
    section = (
        f"<p><span class='{cls}'>{_e((month + ': ' if month else '') + archive_line(st))}</span>"
        + (f" · <span class='bad'>{_e(problems)}</span>" if problems else "")
        + f" · {int(st.get('bytes', 0)) / 1_048_576:.1f} MiB</p>"
        + (
            f"<p class='note'>Without their PDF: {_e(', '.join(missing[:12]))}"
            f"{' …' if len(missing) > 12 else ''}</p>"
            if missing
            else ""
        )
    )
    return section, short


def _trend_html(
    heads: Sequence[Headline],
    by_account: Mapping[tuple[str, str, str], Decimal],
    labels: Mapping[str, str],
    colors: Mapping[str, str],
    top: int,
    view: str,
    drawn: dict[tuple[str, str], str] | None = None,
) -> str:
    """The trend of every currency; ``drawn`` receives (currency, account) → colour drawn."""
    from invoicekit import _report_svg as svg

    drawn = {} if drawn is None else drawn
    parts = []
    height = 230 if len(heads) <= 2 else (180 if len(heads) <= 4 else 165)
    for h in heads:
        months = list(h.months_12m)
        per_account: dict[str, Decimal] = defaultdict(Decimal)
        for (c, _, a), v in by_account.items():
            if c == h.currency:
                per_account[a] += v
        ranked = [a for a, _ in sorted(per_account.items(), key=lambda kv: (-kv[1], kv[0]))]
        shown, rest = (ranked, []) if len(ranked) <= top + 1 else (ranked[:top], ranked[top:])
        free = [c for c in charts.PALETTE if c not in {colors.get(a) for a in shown}]
        series = []
        used: set[str] = set()
        for a in shown:
            col = colors.get(a)
            if col is None or col in used:
                col = free.pop(0) if free else charts.OTHER_COLOR
            used.add(col)
            drawn[(h.currency, a)] = col
            series.append(
                svg.Series(
                    labels.get(a, a),
                    col,
                    [by_account.get((h.currency, m, a)) for m in months],
                    per_account[a],
                )
            )
        if rest:
            rest_set = set(rest)
            vals = []
            for m in months:
                vs = [by_account.get((h.currency, m, a)) for a in rest_set]
                vs = [v for v in vs if v is not None]
                vals.append(sum(vs, Decimal(0)) if vs else None)
            series.append(
                svg.Series(
                    f"Other ({len(rest):,} accounts)",
                    charts.OTHER_COLOR,
                    vals,
                    sum((per_account[a] for a in rest), Decimal(0)),
                )
            )
        title = (
            f"{h.currency}: monthly net spend, {month_words(months[0])} to "
            f"{month_words(months[-1])}"
            + (f" — top {len(shown)} of {len(ranked):,} accounts and Other" if rest else "")
        )
        parts.append(
            f"<div class='chart' data-currency='{_e(h.currency)}' data-legend='{len(series)}'>"
            f"<h3>{_e(title)}</h3>"
            + svg.stacked_bars(months, series, h.currency, height=height, label=title)
            + "</div>"
        )
    return "".join(parts) or "<p class='note'>No spend in these months.</p>"


def _view_note(view: str, df: pd.DataFrame) -> str:
    base = ", ".join(charts.currencies(df, "base")) or "–"
    pay = ", ".join(charts.currencies(df, "payment")) or "–"
    if view == "payment":
        lead = f"Amounts are in the <b>payment currency</b> ({_e(pay)}): what accounts payable pays each AWS invoicing entity."
        other = f"The <b>base currency</b> ({_e(base)}) is what AWS prices in; <code>--view base</code> shows it."
    else:
        lead = f"Amounts are in the <b>{_e(schema.VIEW_LABELS[view])}</b> ({_e(', '.join(charts.currencies(df, view)) or '–')}): what AWS prices in."
        other = f"The <b>payment currency</b> ({_e(pay)}) is what accounts payable pays; <code>--view payment</code> shows it."
    return (
        f"<p class='note'>{lead} {other} Each currency is shown on its own and never added to "
        "another. Spend nets credit memos (negative) into invoices; tax invoices (they restate "
        "a commercial invoice) and payment receipts are not spend. Charts show compact "
        "figures (1.9M), tables the exact amounts as booked.</p>"
    )


def executive_summary(
    df: pd.DataFrame,
    *,
    path: str | os.PathLike[str] = "reports/executive_summary.html",
    findings: pd.DataFrame | None = None,
    archive: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    month: Any = None,
    view: str = "payment",
    pdf: str | os.PathLike[str] | None = None,
    title: str | None = None,
    source: str | None = None,
    top: int = _TOP_DEFAULT,
    colors: Mapping[str, str] | None = None,
    top_n: int | None = None,
) -> Path:
    """Write the executive summary: one self-contained HTML page (<= 1 MB), optionally a PDF.

    The first screen answers "what did we spend": one headline card per currency of ``view``
    (:func:`headlines`: the month, the change on the month before and on the same month a
    year earlier, the 12-month total), the open reconciliation errors and the archive's
    completeness. Then the trend of each currency over the 12 months (the ``top`` accounts
    and "Other", each month's total on its bar), the exact totals, the top movers (largest
    increases and decreases on the previous month) and the findings in plain sentences
    (:func:`invoicekit.reconcile.explain.explain_findings`), errors first, each with what to
    do. Charts are inline SVG (no script at all): the page opens offline and prints on at
    most two A4 or Letter pages.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (ideally the report month and the 12 before it).
    path : str or os.PathLike
        The HTML file to write.
    findings : pandas.DataFrame, optional
        :func:`invoicekit.reconcile_invoices` output; default: reconciled here over the 12
        months of the report.
    archive : path or dict, optional
        The PDF archive directory (read through its manifest) or an :func:`archive_status`
        dict; omitted → the page says no archive was checked.
    month : str, optional
        The report month (``"YYYY-MM"``); default as :func:`headlines`.
    view : {"payment", "base"}
        The currency view of every figure (explained once on the page).
    pdf : str or os.PathLike, optional
        Also print the page to this PDF through Chromium (:func:`print_pdf`).
    title : str, optional
        Page heading (default ``"AWS spend — <Month YYYY>"``).
    source : str, optional
        Where the data came from (the fleet file, "offline sandbox"...), shown under the title.
    top : int
        Accounts drawn each as a series in the trends (1 to 11; the others are "Other").
    colors : mapping, optional
        Account id → colour (:func:`invoicekit.charts.account_colors`); default derived from
        the report's months, the same way the charts derive it.
    top_n : int, optional
        Former name of ``top`` (0.1 callers).

    Returns
    -------
    pathlib.Path
        The HTML file written.

    Examples
    --------
    >>> executive_summary(df, findings=reconcile_invoices(df), archive="archive",
    ...                   path="reports/executive_summary.html", pdf="reports/summary.pdf")  # doctest: +SKIP
    PosixPath('reports/executive_summary.html')
    """
    from invoicekit.reconcile import reconcile_invoices

    view = "payment" if view is None else view
    schema.check_view(view)
    if top_n is not None:
        top = top_n
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= charts.LEGEND_MAX - 1:
        raise InvalidArgumentError(
            f"--top {top} is out of range: give 1 to {charts.LEGEND_MAX - 1} (the legend shows "
            "the top accounts and 'Other')"
        )
    heads = headlines(df, month, view)
    report_month = heads[0].month if heads else _report_month(df, month)
    window = list(heads[0].months_12m) if heads else [report_month]
    if findings is None:
        findings = (
            reconcile_invoices(df, start=window[0], end=report_month)
            if len(df)
            else (reconcile_invoices(df))
        )
    names = {
        str(a): str(n)
        for a, n in zip(df["account_id"], df["account_name"], strict=True)
        if not (n is None or n is pd.NA or (isinstance(n, float) and pd.isna(n)) or not n)
    }
    labels = {a: f"{n} ({a})" for a, n in names.items()}
    prev = heads[0].previous_month if heads else report_month
    _, by_account, _ = _spend_sums(df, view, [*window, prev])
    in_window = df[df["billing_period"].map(month_str).isin(window).to_numpy()] if len(df) else df
    if colors is None:
        colors = charts.account_colors(in_window, top=max(top, charts.COLOURED_ACCOUNTS))
    trend_by_account = {k: v for k, v in by_account.items() if k[1] in set(window)}
    per_currency = max(2, 6 // max(1, len(heads)))
    drawn: dict[tuple[str, str], str] = {}
    trend_html = _trend_html(heads, trend_by_account, labels, colors, top, view, drawn)
    ups, downs = _movers(by_account, heads, labels, drawn, per_currency)

    findings_html, errors, warnings = _findings_html(findings, names, limit=6)
    # the archive headline speaks of the report month, as every other headline does (a close
    # pack archives its month only; its summaries reach 12 months back for the comparisons)
    of_month = df[df["billing_period"].map(month_str).to_numpy() == report_month] if len(df) else df
    arch_html, arch_short = _archive_html(of_month, archive, month_words(report_month))
    months_all = span(df["billing_period"]) if len(df) else []
    counts = documents.count(df)
    generated = clock.now().strftime("%Y-%m-%d %H:%M UTC")  # business time: --now pins it
    heading = title or f"AWS spend — {month_words(report_month)}"
    data_line = (
        f"Data: billing months {months_all[0]} to {months_all[-1]}, "
        f"{documents.describe(counts)} from {documents.plural(df['account_id'].nunique(), 'payer account')}"
        if months_all
        else "Data: no invoice"
    )
    err_cls = "bad" if errors else ("warn" if warnings else "ok")
    err_text = (
        f"{errors:,} open reconciliation error{'s' if errors != 1 else ''}"
        if errors
        else ("no reconciliation error" + (f", {warnings:,} warnings" if warnings else ""))
    )
    cards = "".join(_card(h) for h in heads) or "<p class='note'>No spend in these months.</p>"
    view_label = schema.VIEW_LABELS[view]
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(heading)}</title><style>{_SUMMARY_CSS}</style></head>
<body><main>
<h1>{_e(heading)}</h1>
<div class="sub">Net spend per {_e(view_label)} for {_e(month_words(report_month))} ({
        report_month
    }) · generated {generated}{(" · source: " + _e(source)) if source else ""}</div>
<section class="keep" id="headlines"><div class="cards">{cards}</div>
<div class="status"><span class="{err_cls}">{_e(err_text)}</span>
<span>PDF archive: {arch_short}</span></div>
{_view_note(view, df)}</section>
<section id="trend"><h2>Monthly spend trend ({_e(view_label)})</h2>
{trend_html}</section>
<section id="movers"><h2>Top movers: {_e(month_words(report_month))} against {
        _e(month_words(prev))
    }</h2>
{_movers_html(ups, downs, heads)}</section>
<section id="totals" class="keep"><h2>Totals per currency (exact, {_e(view_label)})</h2>
{_totals_table(heads)}</section>
<section id="findings"><h2>Reconciliation status</h2>{findings_html}</section>
<section id="archive" class="keep"><h2>PDF archive completeness, {
        _e(month_words(report_month))
    }</h2>{arch_html}
<p class="note">{_e(data_line)}.</p></section>
</main></body></html>
"""
    out = _write_clean(Path(path), page, plotly=False)
    if pdf is not None:
        print_pdf(out, pdf)
    return out


def print_pdf(html_path: str | os.PathLike[str], pdf_path: str | os.PathLike[str]) -> Path:
    """Print an HTML file to PDF through Debian's Chromium (headless, offline).

    Parameters
    ----------
    html_path : str or os.PathLike
        The page (e.g. the executive summary).
    pdf_path : str or os.PathLike
        The PDF to write (atomically).

    Returns
    -------
    pathlib.Path
        ``pdf_path``.

    Raises
    ------
    InvalidArgumentError
        No Chromium (:func:`invoicekit.charts.find_chromium`): exit 2 in the CLI.
    InvoiceKitError
        Chromium failed to print (the HTML stays written): exit 3 in the CLI.

    Examples
    --------
    >>> print_pdf("reports/executive_summary.html", "reports/executive_summary.pdf")  # doctest: +SKIP
    """
    import subprocess
    import tempfile

    browser = charts.find_chromium()
    if browser is None:
        raise InvalidArgumentError(
            "--pdf needs Chromium: install Debian's (apt-get install chromium) or set "
            "BROWSER_PATH to a Chrome/Chromium executable"
        )
    src = Path(html_path).resolve()
    dest = Path(pdf_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ik-chromium-") as profile:
        tmp = Path(profile) / "out.pdf"
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={tmp}",
            src.as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InvoiceKitError(f"chromium could not print {src.name} to PDF: {exc}") from exc
        if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            tail = redact(
                (proc.stderr or "").strip().splitlines()[-1:]
                and proc.stderr.strip().splitlines()[-1]
            )
            raise InvoiceKitError(
                f"chromium could not print {src.name} to PDF: {tail or 'no output'}"
            )
        return _files.write_bytes(dest, tmp.read_bytes())
