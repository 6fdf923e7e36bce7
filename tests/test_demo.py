"""``invoicekit demo`` end to end on a small sandbox: reports exist, hold charts, leak nothing."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from invoicekit import charts, documents, months, report, schema

NOTEBOOK_REPORTS = [
    "01_spend_trends.html",
    "02_currency_reconciliation.html",
    "03_batch_download_pdfs.html",
    "04_month_end_close.html",
]
_PLOTLY_JS_MARKER = 'data-invoicekit="plotly.js"'  # the one inline plotly.js tag


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    reports, workdir = base / "reports", base / "work"
    env = dict(os.environ)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoicekit",
            "demo",
            "--reports",
            str(reports),
            "--workdir",
            str(workdir),
            "--accounts",
            "3",
            "--months",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=base,
        check=False,
    )
    return proc, reports, workdir


@pytest.mark.slow
def test_demo_succeeds_and_says_where_everything_is(demo_run):
    proc, reports, workdir = demo_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Where everything is" in out
    assert str(reports / "executive_summary.html") in out
    # the blog's two calls ran through the real AWS CLI, with the URL redacted
    assert "$ aws invoicing list-invoice-summaries --selector ResourceType=ACCOUNT_ID" in out
    assert "$ aws invoicing get-invoice-pdf --invoice-id" in out
    assert ".pdf?REDACTED" in out
    assert report.find_secrets(out + proc.stderr) == []
    blog = json.loads((workdir / "blog" / "invoice_sample.json").read_text())
    assert blog["InvoicePDF"]["DocumentUrl"].endswith("?REDACTED")
    pdfs = list((workdir / "blog").glob("*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].read_bytes().startswith(b"%PDF-")


@pytest.mark.slow
def test_demo_is_quiet_and_speaks_in_sentences(demo_run):
    """No kernel warning, no raw dict or JSON: every line is a heading, a command or a sentence."""
    proc, _, _ = demo_run
    assert proc.returncode == 0
    assert "without encryption" not in proc.stderr and "WARNING" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr[-2000:]
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    raw = [line for line in lines if line[0] in "{}[]" or re.search(r"['\"]\w+['\"]: ", line)]
    assert not raw, raw
    body = [
        line
        for line in lines
        if not line.startswith(("== ", "$ aws "))  # step headings and the blog's commands
        and not re.match(r"^\w[\w ,()+-]+\s{2,}/", line)  # the "where everything is" table
        and not line.startswith("- ")  # the list of problems (none on a good run)
    ]
    # a sentence starts with a capital or a figure and has words: not "key=value", not a value
    not_sentences = [line for line in body if not re.match(r"^[A-Z0-9][^=]* \w", line)]
    assert not not_sentences, not_sentences


@pytest.mark.slow
def test_demo_writes_the_data_archive_and_a_close_pack_that_verifies(demo_run):
    proc, _, workdir = demo_run
    assert proc.returncode == 0
    assert (workdir / "invoices.parquet").is_file() and (workdir / "findings.csv").is_file()
    manifest = (workdir / "archive" / "manifest.csv").read_text(encoding="utf-8")
    assert manifest.startswith("account_id,invoice_id,billing_period")
    assert len(list((workdir / "archive").rglob("*.pdf"))) == manifest.count("\n") - 1
    packs = [p for p in (workdir / "closes").iterdir() if re.fullmatch(r"\d{4}-\d\d", p.name)]
    assert len(packs) == 1
    pack = packs[0]
    # the pack's SHA256SUMS, checked by the real sha256sum from inside the pack
    check = subprocess.run(
        ["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=pack, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    ap = list((pack / "ap").glob("ap_*_generic.csv"))
    assert len(ap) == 1
    header = ap[0].read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "invoice_id" in header and "account_id" in header
    # every invoice of the closed month that AP pays is in the AP file, once
    df = schema.from_parquet(pack / "summaries.parquet")
    month = df[df["billing_period"].astype(str) == pack.name]
    with ap[0].open(encoding="utf-8", newline="") as fh:
        exported = [r["invoice_id"] for r in csv.DictReader(fh)]
    assert sorted(exported) == sorted(documents.payable(month)["invoice_id"].astype(str))
    assert f"Closed {months.month_words(pack.name)}" in proc.stdout
    # the look 35 days later wrote what changed, one row per field
    changes = (workdir / "changes.csv").read_text(encoding="utf-8").splitlines()
    assert changes[0].startswith("change,")
    assert "changes since the close" in proc.stdout or "No change since the close" in proc.stdout


@pytest.mark.slow
def test_reports_embed_charts_offline_and_hold_no_secrets(demo_run):
    proc, reports, workdir = demo_run
    assert proc.returncode == 0
    from plotly.offline import get_plotlyjs

    bundle = len(get_plotlyjs())
    for name in [*NOTEBOOK_REPORTS, "executive_summary.html"]:
        text = (reports / name).read_text(encoding="utf-8")
        assert len(text) < bundle * 1.5, f"{name}: plotly.js embedded more than once?"
        assert report.find_secrets(text) == [], name
        # readable offline: no script from a CDN, plotly.js inline at most once
        assert not re.search(r"<script[^>]*\bsrc=[\"']?(?:https?:)?//", text), name
        assert text.count(_PLOTLY_JS_MARKER) <= 1, name
        assert "Traceback" not in text, name
    for name in NOTEBOOK_REPORTS:
        text = (reports / name).read_text(encoding="utf-8")
        assert "notebook.setup(" not in text, f"{name} shows its code cells"
        if name != "03_batch_download_pdfs.html":  # 03 is about files, it draws no chart
            assert text.count(_PLOTLY_JS_MARKER) == 1, name
            assert "Plotly.newPlot" in text, name
    # the executive summary's content is tested in tests/test_report.py
    # no secret anywhere in what the demo wrote
    from invoicekit.cli.demo import scan_for_secrets

    assert scan_for_secrets([reports, workdir]) == []


@pytest.mark.slow
def test_demo_exports_chart_pngs_when_chromium_is_present(demo_run):
    proc, reports, _ = demo_run
    assert proc.returncode == 0
    pngs = sorted((reports / "png").glob("*.png"))
    if charts.find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: apt-get install chromium")
        pytest.skip("no chromium: PNG export not exercised")
    assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_secret_scan_flags_a_leaked_url(tmp_path):
    from invoicekit.cli.demo import scan_for_secrets

    leak = tmp_path / "leak.html"
    leak.write_text("http://x/doc.pdf?X-Amz-Signature=" + "0f" * 32, encoding="utf-8")
    (tmp_path / "clean.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    found = scan_for_secrets([tmp_path])
    assert len(found) == 1 and "leak.html" in found[0]


@pytest.mark.parametrize("size", [["--accounts", "0"], ["--months", "0"], ["--jobs", "0"]])
def test_bad_sizes_are_refused_with_exit_2(tmp_path, capsys, size):
    from invoicekit.cli import main

    argv = ["demo", "--reports", str(tmp_path / "r"), "--workdir", str(tmp_path / "w"), *size]
    with pytest.raises(SystemExit) as exc:  # argparse refuses it, naming the flag
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument {size[0]}: " in err
    assert not Path(tmp_path / "w").exists()
