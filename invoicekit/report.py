"""HTML reports that open offline: executed notebooks, and a one-page executive summary.

Both kinds of file are self-contained: plotly.js is embedded **once per file** (never loaded
from a CDN), no other external script is referenced, and every text passes through
:func:`invoicekit._redact.redact` before it is written, so that no presigned URL's query string
or credential can reach a report. :func:`find_secrets` is the independent check tests and the
demo run on every file written.

Examples
--------
>>> from invoicekit import report  # doctest: +SKIP
>>> report.notebook_html("executed/01_spend_trends.ipynb", "reports/01_spend_trends.html")  # doctest: +SKIP
>>> report.executive_summary(df, findings=findings, archive="archive",
...                          path="reports/executive_summary.html")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import html
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from invoicekit import _files, charts, clock, documents
from invoicekit._money import format_money
from invoicekit._redact import redact
from invoicekit.months import span

__all__ = [
    "PLOTLY_MIME",
    "WIDGET_MIME",
    "SECRET_PATTERNS",
    "find_secrets",
    "notebook_html",
    "notebooks_to_html",
    "archive_status",
    "archive_line",
    "executive_summary",
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
_SUMMARY_CSS = """
body{font-family:Helvetica,Arial,sans-serif;color:#222;margin:0;background:#f5f6f8}
main{max-width:1180px;margin:0 auto;padding:18px 22px;background:#fff}
h1{font-size:22px;margin:4px 0 2px} h2{font-size:16px;margin:14px 0 6px;color:#1f4e79}
.sub{color:#555;font-size:13px;margin-bottom:8px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:10px 22px}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:3px 8px;border-bottom:1px solid #e3e6ea;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;font-family:Menlo,Consolas,monospace}
.ok{color:#2e7d32;font-weight:bold} .bad{color:#c0392b;font-weight:bold} .warn{color:#b26a00;font-weight:bold}
.tile{display:inline-block;padding:6px 12px;margin:0 8px 6px 0;border-radius:4px;background:#eef3f8;font-size:13px}
.tile b{font-size:17px;display:block}
.note{font-size:12px;color:#666}
"""


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


def _plotlyjs_tag() -> str:
    from plotly.offline import get_plotlyjs

    return f'<script type="text/javascript" data-invoicekit="plotly.js">{get_plotlyjs()}</script>'


def _write_clean(path: Path, body_html: str, plotly: bool) -> Path:
    """Insert plotly.js once (after the secret check of everything else) and write."""
    found = find_secrets(body_html)
    if found:  # pragma: no cover - redact() runs first; this is the belt to its braces
        raise RuntimeError(f"refusing to write {path}: it would contain a {found[0]}")
    if plotly:
        marker = "</head>"
        tag = _plotlyjs_tag()
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


def _static_outputs(nb: Any) -> tuple[Any, int]:
    """Copy of ``nb`` with plotly outputs as HTML divs, widgets as a note, all text redacted."""
    nb = copy.deepcopy(nb)
    # Saved widget state (papermill keeps it; a FigureWidget's holds a whole plotly.js bundle)
    # would make nbconvert load the widget manager from a CDN: a report shows a note instead.
    nb.metadata.pop("widgets", None)
    figures = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
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
    hide_code: bool = False,
) -> Path:
    """Convert an executed notebook to one self-contained, offline-readable HTML file.

    Plotly outputs become embedded charts (plotly.js inline once per file), widget outputs a
    short note (their live state is not saved), external scripts (MathJax, require.js CDNs)
    are removed, and every output is redacted.

    Parameters
    ----------
    ipynb : str or os.PathLike
        The executed notebook (e.g. written by papermill).
    out : str or os.PathLike
        The HTML file to write.
    title : str, optional
        The page title (default: the notebook's file name).
    hide_code : bool
        Leave the code cells out (for readers who only want the results).

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

    src = Path(ipynb)
    nb = nbformat.read(src, as_version=4)
    static, figures = _static_outputs(nb)
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
    return _write_clean(Path(out), body, plotly=figures > 0)


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


def _fig_html(fig: go.Figure, height: int = 300) -> str:
    fig = go.Figure(fig)
    fig.update_layout(
        height=height,
        margin={"t": 40, "b": 40, "l": 60, "r": 10},
        title={"font": {"size": 13}},
        legend={"font": {"size": 10}},
    )
    return pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        config={"displaylogo": False, "responsive": True},
    )


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


def executive_summary(
    df: pd.DataFrame,
    *,
    findings: pd.DataFrame | None = None,
    archive: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    path: str | os.PathLike[str] = "reports/executive_summary.html",
    title: str = "AWS invoices — executive summary",
    source: str | None = None,
    view: str = "base",
    top_n: int = 5,
) -> Path:
    """Write the one-page executive summary: totals, trend, top accounts, checks, archive.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (:func:`invoicekit.read_invoice_summaries`).
    findings : pandas.DataFrame, optional
        :func:`invoicekit.reconcile_invoices` output; computed here when omitted.
    archive : path or dict, optional
        The PDF archive directory (read through its manifest) or an
        :func:`archive_status`-like dict; omitted → the section says no archive was checked.
    path : str or os.PathLike
        The HTML file to write.
    title : str
        Page heading.
    source : str, optional
        Where the data came from (e.g. ``"offline sandbox"`` or the fleet file), shown under
        the title.
    view : {"base", "payment"}
        The currency view for the trend and top-account charts.
    top_n : int
        Accounts in the top-accounts chart.

    Returns
    -------
    pathlib.Path
        The written file (self-contained: plotly.js inline once, no CDN).

    Examples
    --------
    >>> executive_summary(df, findings=reconcile_invoices(df), archive="archive",
    ...                   path="reports/executive_summary.html")  # doctest: +SKIP
    """
    from invoicekit.reconcile import reconcile_invoices, totals

    if findings is None:
        findings = reconcile_invoices(df)
    months = span(df["billing_period"])
    first, last = (months[0], months[-1]) if months else ("–", "–")
    generated = clock.now().strftime("%Y-%m-%d %H:%M UTC")  # business time: --now pins it
    n_accounts = df["account_id"].nunique()
    counts = documents.count(df)
    kind = documents.kinds(df)

    # totals per currency, base and payment view, exact; counted in the documents' words
    total_rows = []
    for v in ("base", "payment"):
        t = totals(df, by=[], view=v) if len(df) else None
        if t is None:
            continue
        for _, r in t.iterrows():
            in_currency = kind[(df[f"{v}_currency"] == r["currency"]).fillna(False).to_numpy()]
            total_rows.append(
                [
                    f"{v} currency",
                    r["currency"],
                    int((in_currency == documents.INVOICE).sum()),
                    int((in_currency == documents.CREDIT_MEMO).sum()),
                    format_money(r["total"], r["currency"]),
                    r["currency"],
                ]
            )
    totals_html = _table(
        ["View", "Currency", "Invoices", "Credit memos", "Net total", ""], total_rows, {2, 3, 4}
    )

    # charts: one per currency, never mixed
    trend_html = (
        "".join(
            _fig_html(fig, 280)
            for fig in charts.by_currency(charts.spend_trend, df, view=view).values()
        )
        or "<p class='note'>No invoices.</p>"
    )
    top_html = "".join(
        _fig_html(fig, max(240, 70 + 30 * top_n))
        for fig in charts.by_currency(charts.top_accounts, df, view=view, n=top_n).values()
    )

    # reconciliation status
    sev = findings["severity"].value_counts() if len(findings) else pd.Series(dtype=int)
    errors, warnings = int(sev.get("error", 0)), int(sev.get("warning", 0))
    status_cls = "bad" if errors else ("warn" if warnings else "ok")
    status_txt = (
        f"{errors} error(s) — resolve before closing the month"
        if errors
        else (f"no errors; {warnings} warning(s) to review" if warnings else "all checks passed")
    )
    by_check = (
        findings.groupby(["check", "severity"])
        .size()
        .reset_index(name="n")
        .sort_values(["severity", "check"])
        if len(findings)
        else pd.DataFrame(columns=["check", "severity", "n"])
    )
    checks_html = _table(
        ["Check", "Severity", "Findings"],
        ([r["check"], r["severity"], int(r["n"])] for _, r in by_check.iterrows()),
        {2},
    )
    worst = findings[findings["severity"] == "error"].head(8) if len(findings) else findings
    worst_html = (
        _table(
            ["Check", "Account", "Invoice", "Month", "What"],
            (
                [r["check"], r["account_id"], r["invoice_id"], r["billing_period"], r["message"]]
                for _, r in worst.iterrows()
            ),
            set(),
        )
        if len(worst)
        else ""
    )

    # archive completeness
    if archive is None:
        arch_html = "<p class='note'>No PDF archive was checked in this run.</p>"
    else:
        st = dict(archive) if isinstance(archive, Mapping) else archive_status(df, archive)
        other = {k: v for k, v in (st.get("problems") or {}).items() if k != "no_document"}
        complete = not st.get("missing") and not other
        cls = "ok" if complete else "bad"
        missing = list(st.get("missing") or [])
        problems = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(other.items()))
        arch_html = (
            f"<p><span class='{cls}'>{_e(archive_line(st))}</span>"
            + (f" · <span class='bad'>{_e(problems)}</span>" if problems else "")
            + f" · {int(st.get('bytes', 0)) / 1_048_576:.1f} MiB"
            + (
                f" · <span class='bad'>{st['files_missing']} file(s) gone from disk</span>"
                if st.get("files_missing")
                else ""
            )
            + "</p>"
            + (
                f"<p class='note'>Missing: {_e(', '.join(missing[:20]))}"
                f"{' …' if len(missing) > 20 else ''}</p>"
                if missing
                else ""
            )
        )

    tiles = (
        "".join(
            f"<span class='tile'><b>{_e(v)}</b>{_e(k)}</span>"
            for k, v in [
                ("payer accounts", n_accounts),
                *(
                    (documents.plural(n, k).split(" ", 1)[1], f"{n:,}")
                    for k, n in counts.items()
                    if n or k in documents.SPEND_KINDS
                ),
                ("billing months", f"{first} → {last}"),
            ]
        )
        + f"<span class='tile'><b class='{status_cls}'>{errors}</b>reconciliation errors</span>"
    )

    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_SUMMARY_CSS}</style></head>
<body><main>
<h1>{_e(title)}</h1>
<div class="sub">Billing months {first} to {last} · generated {generated}{
        (" · source: " + _e(source)) if source else ""
    } · amounts exact, never summed across currencies</div>
<div>{tiles}</div>
<div class="grid">
<section><h2>Totals per currency</h2>{totals_html}
<p class="note">{_e(documents.describe(counts))} · net = invoices plus credit memos
(negative); tax invoices (they restate a commercial invoice) and payment receipts excluded.</p>
<h2>Reconciliation status</h2><p class="{status_cls}">{_e(status_txt)}</p>{checks_html}{worst_html}
<h2>PDF archive completeness</h2>{arch_html}</section>
<section><h2>Monthly spend trend ({_e(view)} currency view)</h2>{trend_html}</section>
</div>
<h2>Top accounts ({_e(view)} currency view)</h2><div class="grid">{top_html}</div>
</main></body></html>
"""
    return _write_clean(Path(path), page, plotly=True)
