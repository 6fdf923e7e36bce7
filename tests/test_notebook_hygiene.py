"""Notebooks are stored clean, parametrised for papermill, and never leak secrets when run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from invoicekit import report
from invoicekit._redact import redact

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = [
    "01_spend_trends.ipynb",
    "02_currency_reconciliation.ipynb",
    "03_batch_download_pdfs.ipynb",
    "04_month_end_close.ipynb",
    "05_chargeback_by_business_unit.ipynb",
    "06_invoice_vs_cost_and_usage.ipynb",
]


def test_the_companion_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs_or_execution_counts(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: clear them"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state"
    assert "papermill" not in nb.metadata, f"{path.name} is an executed copy"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_papermill_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []), "first code cell must be tagged"
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    # one parameter switches from the sandbox to a real fleet
    assert re.search(r"^fleet_config = None\b", first.source, re.M)
    assert "sandbox" in first.source and "fleet.yml" in first.source
    # the parameters cell is plain assignments papermill can override
    for line in first.source.splitlines():
        assert not line or line.startswith("#") or re.match(r"^[a-z_]+ = ", line), line


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_written_for_finance_readers_without_asserts(path):
    """Prose, parameters and calls to public helpers; the checks live in tests/test_notebooks.py."""
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(markdown) >= 4
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    asserts = [s for s in code if re.search(r"^\s*assert\b", s, re.M)]
    assert not asserts, f"{path.name}: asserts belong in tests/test_notebooks.py: {asserts}"
    joined = "\n".join(code)
    assert ".show()" not in joined  # figures are displayed, charts never call show()
    assert "print(" not in joined and "display(" not in joined, "use the notebook helpers"
    assert "tempfile" not in joined and "/tmp" not in joined, "no temporary paths"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    # one public setup call replaces the setup cell copied into every notebook
    assert joined.count("notebook.setup(") == 1
    # the sandbox started by the setup is stopped at the end
    assert "ctx.stop()" in nb.cells[-1].source


def test_hygiene_patterns_catch_the_old_notebook_code():
    """Positive control: the checks above would refuse the cells notebooks held before."""
    old = 'assert len(month) > 0, f"no invoice for {close} yet"'
    assert re.search(r"^\s*assert\b", old, re.M)
    assert re.findall(
        r"(?:from|import)\s+(invoicekit(?:\.\w+)*\._\w+)", "from invoicekit._money import x"
    )


#: What a notebook must take from the core instead of writing again (issue 9).
RULE_COPIES = {
    "the spend rule: use invoicekit.documents (spend, is_spend, kinds)": re.compile(
        r"invoice_type\"\]\s*(?:==|!=|\.isin)|commercial_invoice_id\"\]\.isna"
    ),
    "the wall clock: use invoicekit.months.default_range or invoicekit.clock": re.compile(
        r"date\.today\(|datetime\.now\(|Timestamp\.now\(|Timestamp\.today\(|time\.time\("
    ),
    "a money format of its own: use format_money": re.compile(r":,\.(?:\d+|\{[^}]*\})f\}"),
    "the callable module invoicekit.reconcile(df): use reconcile_invoices": re.compile(
        r"(?<![\w.])reconcile\(|import reconcile\b|ik\.reconcile\("
    ),
}
CORE_NOTEBOOKS = [
    "01_spend_trends.ipynb",
    "02_currency_reconciliation.ipynb",
    "03_batch_download_pdfs.ipynb",
    "04_month_end_close.ipynb",
    "05_chargeback_by_business_unit.ipynb",
    "06_invoice_vs_cost_and_usage.ipynb",
]


@pytest.mark.parametrize("name", CORE_NOTEBOOKS)
def test_notebooks_use_the_core_rules_instead_of_copies(name):
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    copies = [what for what, pattern in RULE_COPIES.items() if pattern.search(code)]
    assert copies == [], f"{name} copies {copies}"
    assert "notebook.setup(" in code  # default months from business time, in one place


def test_rule_copy_patterns_catch_the_old_notebook_code():
    """Positive control: each pattern matches the code notebooks held before issue 9."""
    old = {
        "spend": 'df["invoice_type"].isin(["INVOICE", "CREDIT_MEMO"]) & df["commercial_invoice_id"].isna()',
        "clock": "today = pd.Timestamp(dt.date.today())",
        "money": 'f"{paid:,.{minor_units(r.payment_currency)}f} {r.payment_currency}"',
        "reconcile": "findings = reconcile(df, start=start, end=end)",
    }
    for (_, pattern), sample in zip(RULE_COPIES.items(), old.values(), strict=True):
        assert pattern.search(sample), sample
    assert not any(p.search("reconcile_invoices(df)") for p in RULE_COPIES.values())


def test_secret_scanner_catches_a_real_presigned_url(sandbox):
    """Positive control: the scan below would see a leaked sandbox URL or key."""
    from invoicekit.fleet import load_fleet

    fleet = load_fleet(sandbox.fleet_config)
    account = fleet.accounts[0]
    client = fleet.session_for(account).client("invoicing")
    invoice = sandbox.org.invoices_for(account.id)[-1]["InvoiceId"]
    url = client.get_invoice_pdf(InvoiceId=invoice)["InvoicePDF"]["DocumentUrl"]
    assert "presigned signature" in report.find_secrets(url)
    assert report.find_secrets(redact(url)) == []
    key = sandbox.org.account(account.id).access_key_id
    assert "access key id" in report.find_secrets(f"key={key}")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["03_batch_download_pdfs", "04_month_end_close"])
def test_executed_notebooks_and_their_reports_hold_no_secrets(name, tmp_path):
    """Run the notebooks that handle presigned URLs; scan the executed copy and its HTML."""
    from invoicekit.notebook import execute

    executed = tmp_path / f"{name}.ipynb"
    execute(
        NOTEBOOKS_DIR / f"{name}.ipynb",
        executed,
        {
            "sandbox_accounts": 3,
            "sandbox_months": 3,
            "archive_dir": str(tmp_path / "archive"),
            "close_dir": str(tmp_path / "closes"),
            "later_days": 0,
        },
        cwd=tmp_path,
    )
    text = executed.read_text(encoding="utf-8")
    assert report.find_secrets(text) == []
    nb = json.loads(text)
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    if name.startswith("03"):
        # the blog's two calls ran and the link was shown only redacted
        assert "?REDACTED" in text and "get-invoice-pdf for invoice" in text
    html = report.notebook_html(executed, tmp_path / f"{name}.html")
    html_text = html.read_text(encoding="utf-8")
    assert report.find_secrets(html_text) == []
    assert not re.search(r"<script[^>]*\bsrc=[\"']?(?:https?:)?//", html_text), "no CDN"


@pytest.mark.parametrize("name", CORE_NOTEBOOKS)
def test_notebooks_import_only_the_public_surface(name):
    """Finance readers see every import: a notebook uses public names, never invoicekit._x."""
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    private = re.findall(r"(?:from|import)\s+(invoicekit(?:\.\w+)*\._\w+)", code)
    assert not private, f"{name} imports private modules: {private}"
