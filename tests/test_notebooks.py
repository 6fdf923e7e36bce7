"""The notebooks show the right figures: run them and compare with figures computed here.

Each notebook runs headless (papermill, through :func:`invoicekit.notebook.execute`) on a small
sandbox with its parameters injected. The helpers of :mod:`invoicekit.notebook` display, next
to each table and chart, the exact figures they show as ``application/vnd.invoicekit.figures+
json``; these tests read them from the executed notebook and compare them with figures computed
independently from the synthetic organization itself (its wire records, summed here with
``Decimal``), not with the package's own totals.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from invoicekit import notebook, report
from invoicekit.sandbox.org import build_organization

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
TODAY = "2026-11-25"  # the sandbox's today: billing months up to 2026-10, none yet for 2026-11
SMALL = {"sandbox_accounts": 3, "sandbox_months": 4, "sandbox_today": TODAY}
FIGURES = notebook.FIGURES_MIME
WIDGET = "application/vnd.jupyter.widget-view+json"


def _run(name: str, tmp: Path, **params) -> dict:
    out = notebook.execute(
        NOTEBOOKS_DIR / f"{name}.ipynb", tmp / f"{name}.ipynb", {**SMALL, **params}, cwd=tmp
    )
    return json.loads(out.read_text(encoding="utf-8"))


def _outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def _figures(nb: dict, **match) -> list[dict]:
    found = [o["data"][FIGURES] for o in _outputs(nb) if FIGURES in o.get("data", {})]
    return [f for f in found if all(f.get(k) == v for k, v in match.items())]


def _printed(nb: dict) -> str:
    """What the notebook says: printed text and the plain text of displayed sentences."""
    said = []
    for o in _outputs(nb):
        if o.get("output_type") == "stream":
            said.append("".join(o.get("text", "")))
        elif o.get("output_type") == "display_data" and FIGURES not in o["data"]:
            said.append("".join(o["data"].get("text/plain", "")) + "\n")
    return "".join(said)


def _assert_reads_well(nb: dict) -> None:
    """No traceback, no warning on stderr, no raw Python value printed as a cell's result."""
    outputs = _outputs(nb)
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, [f"{o['ename']}: {o['evalue']}" for o in errors]
    stderr = [o for o in outputs if o.get("output_type") == "stream" and o["name"] == "stderr"]
    assert not stderr, ["".join(o["text"]) for o in stderr]
    raw = [
        o["data"].get("text/plain")
        for o in outputs
        if o.get("output_type") == "execute_result" and WIDGET not in o["data"]
    ]
    assert not raw, f"raw values printed: {raw}"  # dicts, Series, bools...
    for o in outputs:
        html = "".join(o.get("data", {}).get("text/html", ""))
        assert "<th></th>" not in html and 'class="row_heading' not in html, "row numbers shown"
    assert report.find_secrets(json.dumps(nb)) == []


# ----------------------------------------------------------------------------------------------
# what is true, computed from the organization's wire records
# ----------------------------------------------------------------------------------------------


def _org(**kw):
    return build_organization(
        accounts=SMALL["sandbox_accounts"], months=SMALL["sandbox_months"], today=TODAY, **kw
    )


def _period(inv: dict) -> str:
    p = inv["BillingPeriod"]
    return f"{p['Year']:04d}-{p['Month']:02d}"


def _is_spend(inv: dict) -> bool:
    """Invoices and credit memos; a tax invoice restates its commercial invoice."""
    return inv["InvoiceType"] in ("INVOICE", "CREDIT_MEMO") and not inv.get("CommercialInvoiceId")


def _base_totals(org) -> dict[str, dict[str, Decimal]]:
    """``{currency: {month: exact net spend}}`` in the base view."""
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for inv in org.invoices:
        if _is_spend(inv):
            amount = inv["BaseCurrencyAmount"]
            out[amount["CurrencyCode"]][_period(inv)] += Decimal(amount["TotalAmount"])
    return {c: dict(m) for c, m in out.items()}


def _as_decimals(figures: dict) -> dict[str, dict[str, Decimal]]:
    return {c: {m: Decimal(v) for m, v in by.items()} for c, by in figures.items()}


# ----------------------------------------------------------------------------------------------
# 01 spend trends
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spend_trends(tmp_path_factory):
    return _run("01_spend_trends", tmp_path_factory.mktemp("nb01"))


@pytest.mark.slow
def test_spend_trends_reads_well(spend_trends):
    _assert_reads_well(spend_trends)
    assert "from the offline sandbox." in _printed(spend_trends)


@pytest.mark.slow
def test_spend_table_and_charts_equal_independent_totals(spend_trends):
    org = _org()
    expected = _base_totals(org)
    (table,) = _figures(spend_trends, table="spend_by_month")
    assert table["view"] == "base"
    assert _as_decimals(table["totals"]) == expected  # exact, to the last digit
    trends = {f["currency"]: f for f in _figures(spend_trends, chart="spend_trend")}
    assert set(trends) == set(expected)
    for currency, fig in trends.items():
        assert {m: Decimal(v) for m, v in fig["totals"].items()} == expected[currency]


# ----------------------------------------------------------------------------------------------
# 02 currency reconciliation, with planted problems
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reconciliation(tmp_path_factory):
    return _run(
        "02_currency_reconciliation", tmp_path_factory.mktemp("nb02"), sandbox_anomalies=True
    )


@pytest.mark.slow
def test_reconciliation_reads_well(reconciliation):
    _assert_reads_well(reconciliation)


@pytest.mark.slow
def test_every_planted_problem_is_listed_by_the_check_meant_to_find_it(reconciliation):
    planted = _org(anomalies=True).anomalies
    assert planted, "the sandbox planted nothing: the test would prove nothing"
    listed = [f for t in _figures(reconciliation, table="findings") for f in t["findings"]]
    found = {(f["check"], f["account_id"]) for f in listed}
    missed = [a for a in planted if (a["check"], a["account_id"]) not in found]
    assert not missed, missed
    errors = [f for f in listed if f["severity"] == "error"]
    assert "resolve them before closing the month" in _printed(reconciliation)
    assert errors


@pytest.mark.slow
def test_completeness_lists_exactly_the_missing_invoices(reconciliation):
    org = _org(anomalies=True)
    months = [f"{y:04d}-{m:02d}" for y, m in org.periods]
    has = {(i["AccountId"], _period(i)) for i in org.invoices if i["InvoiceType"] == "INVOICE"}
    expected = {
        (a.account_id, m) for a in org.accounts for m in months if (a.account_id, m) not in has
    }
    (grid,) = _figures(reconciliation, table="completeness")
    assert {tuple(x) for x in grid["missing"]} == expected
    assert expected, "an anomaly run has a missing invoice"


# ----------------------------------------------------------------------------------------------
# 03 archive
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_archive_notebook_downloads_every_invoice_and_a_rerun_costs_nothing(tmp_path):
    nb = _run("03_batch_download_pdfs", tmp_path, archive_dir=str(tmp_path / "archive"))
    _assert_reads_well(nb)
    org = _org()
    months = sorted({_period(i) for i in org.invoices})[-3:]  # the notebook's three months
    expected = {i["InvoiceId"] for i in org.invoices if _period(i) in months}
    first, again = _figures(nb, table="download")
    assert set(first["invoices"]) == expected
    assert first["status"].get("failed", 0) == 0
    assert again["api_calls"] == 0 and set(again["status"]) == {"skipped"}
    assert _figures(nb, table="archive_check")[0]["ok"] is True
    (blog,) = _figures(nb, table="blog_calls")
    assert blog["listed"] >= 1 and blog["link"].endswith(".pdf?REDACTED")
    manifest = (tmp_path / "archive" / "manifest.csv").read_text(encoding="utf-8")
    assert "X-Amz-" not in manifest


# ----------------------------------------------------------------------------------------------
# 04 the close runbook, and a month AWS has not invoiced yet
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def close_runbook(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nb04")
    return _run("04_month_end_close", tmp, close_dir=str(tmp / "closes"), later_days=30)


@pytest.mark.slow
def test_close_runbook_closes_the_last_closed_month(close_runbook):
    nb = close_runbook
    _assert_reads_well(nb)
    (close,) = _figures(nb, table="close")
    assert close["month"] == "2026-10" and close["status"] == "closed"
    pack = Path(close["pack"])
    assert (pack / "SHA256SUMS").is_file() and (pack / "executive_summary.html").is_file()
    org = _org()
    (table,) = _figures(nb, table="month_end")
    for account_id, rows in table["accounts"].items():
        base = sum(
            (
                Decimal(i["BaseCurrencyAmount"]["TotalAmount"])
                for i in org.invoices
                if i["AccountId"] == account_id and _period(i) == "2026-10" and _is_spend(i)
            ),
            Decimal(0),
        )
        assert sum(Decimal(r["net_base"]) for r in rows) == base, account_id


@pytest.mark.slow
def test_close_runbook_lists_the_late_changes_of_the_closed_month(close_runbook):
    """30 days after the close the sandbox's late events have happened: each one is listed."""
    nb = close_runbook
    before = {i["InvoiceId"]: i for i in _org().invoices if _period(i) == "2026-10"}
    later = build_organization(
        accounts=SMALL["sandbox_accounts"], months=SMALL["sandbox_months"] + 2, today="2026-12-25"
    )
    after = {i["InvoiceId"]: i for i in later.invoices if _period(i) == "2026-10"}
    added = set(after) - set(before)
    changed = {k for k in set(after) & set(before) if after[k] != before[k]}
    assert added or changed, "no late event in the sandbox: the test would prove nothing"
    (report,) = _figures(nb, table="changes")
    assert report["month"] == "2026-10" and report["ok"] is False
    listed = {(c["change"], c["invoice_id"]) for c in report["changes"]}
    assert {i for c, i in listed if c == "added"} == added
    assert changed <= {i for c, i in listed if c in ("changed", "cancelled")}


@pytest.mark.slow
def test_a_month_not_invoiced_yet_is_a_sentence_not_a_traceback(tmp_path):
    """On 25 November, November's invoices do not exist yet: that is normal, and said so."""
    nb = _run("04_month_end_close", tmp_path, end="2026-11", close_dir=str(tmp_path / "closes"))
    _assert_reads_well(nb)
    printed = _printed(nb)
    assert (
        "No invoice for November 2026 yet: AWS issues them in the first days of the month."
        in printed
    )
    assert _figures(nb, table="close") == []  # nothing was closed
    assert not (tmp_path / "closes" / "2026-11").exists()


# ----------------------------------------------------------------------------------------------
# the helpers, without a kernel
# ----------------------------------------------------------------------------------------------


def test_tables_have_human_headers_no_row_numbers_and_carry_exact_figures(monkeypatch):
    import pandas as pd

    shown = []
    monkeypatch.setattr(notebook, "_display", shown.append)
    notebook.show_table(
        pd.DataFrame({"account_name": ["Retail EU"], "net": ["1,234.50 EUR"]}),
        {"account_name": "Account", "net": "Net spend"},
        numeric=["net"],
        figures={"net": "1234.5"},
    )
    bundle = shown[0]._repr_mimebundle_()
    assert ">Account</th>" in bundle["text/html"] and "account_name" not in bundle["text/html"]
    assert ">0<" not in bundle["text/html"]  # no index column
    assert bundle[FIGURES] == {"net": "1234.5"}


def test_months_phrase():
    assert notebook.months_phrase("2026-01", "2026-03") == "January 2026 to March 2026"


def test_the_reading_checks_catch_what_notebooks_printed_before():
    """Positive control: a traceback, a raw dict and a table with row numbers are refused."""

    def nb(*outputs):
        return {"cells": [{"cell_type": "code", "outputs": list(outputs)}]}

    error = {"output_type": "error", "ename": "AssertionError", "evalue": "no invoice yet"}
    raw = {"output_type": "execute_result", "data": {"text/plain": "{'skipped': 57}"}}
    index = {
        "output_type": "display_data",
        "data": {"text/html": "<table><tr><th></th><th>total</th></tr></table>"},
    }
    warning = {"output_type": "stream", "name": "stderr", "text": "UserWarning: ..."}
    for bad in (error, raw, index, warning):
        with pytest.raises(AssertionError):
            _assert_reads_well(nb(bad))
    _assert_reads_well(nb({"output_type": "stream", "name": "stdout", "text": "A sentence.\n"}))


def test_the_runner_talks_to_its_kernel_over_private_unix_sockets_and_cleans_them_up(tmp_path):
    """No TCP port to lose to another process between picking it and binding it; nothing left."""
    import nbformat

    source = tmp_path / "probe.ipynb"
    probe = nbformat.v4.new_code_cell(
        "import json, os, stat\n"
        "from ipykernel import get_connection_file\n"
        "info = json.load(open(get_connection_file()))\n"
        "home = os.path.dirname(get_connection_file())\n"
        "print(info['transport'], info['ip'].startswith(home + os.sep),\n"
        "      oct(stat.S_IMODE(os.stat(home).st_mode) & 0o777), 'curve_publickey' in info, home)"
    )
    nbformat.write(nbformat.v4.new_notebook(cells=[probe]), source)
    out = notebook.execute(source, tmp_path / "out.ipynb", cwd=tmp_path)
    (output,) = json.loads(out.read_text(encoding="utf-8"))["cells"][0]["outputs"]
    *said, home = "".join(output["text"]).split()
    assert said == ["ipc", "True", "0o700", "True"]
    assert os.path.basename(home).startswith("invoicekit-kernel-") and not os.path.exists(home)
