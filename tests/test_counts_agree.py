"""One run shows one number for one thing (issue 9's acceptance test).

Runs ``make demo``'s pipeline (``invoicekit demo`` on a small sandbox, the notebooks included)
and reads every printed count of invoices, credit memos and documents out of the CLI summary
(the demo's stdout), the executive summary HTML and the executed notebooks' outputs. Each count
must equal what :func:`invoicekit.documents.count` says of the summaries file, and what the
archive manifest lists for documents.

How a count is read: ``"156 invoices"``, ``"1 credit memo"``, ``"12 documents"`` (the words of
:mod:`invoicekit.documents`), ``"11 of 12 documents"`` (the whole is 12); in a table, a column
headed with such a word, summed per view (and per billing month when the table has one). A
line that names one billing month counts that month; a line that names an account, or says the
things counted are missing/failed/skipped/..., counts a part and is not compared.
"""

from __future__ import annotations

import csv
import html
import json
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from invoicekit import documents, schema

NOW = "2026-11-25"  # sandbox today: billing months 2026-08..2026-10
ACCOUNTS, MONTHS = 6, 3  # 6 accounts: invoices, a credit memo and tax invoices (Japan, India)

#: The nouns read, singular and plural, longest first (so "tax invoices" is not "invoices").
WORDS = {
    "supplemental documents": "supplemental document",
    "supplemental document": "supplemental document",
    "main documents": "main document",
    "main document": "main document",
    "payment receipts": documents.PAYMENT_RECEIPT,
    "payment receipt": documents.PAYMENT_RECEIPT,
    "tax invoices": documents.TAX_INVOICE,
    "tax invoice": documents.TAX_INVOICE,
    "credit memos": documents.CREDIT_MEMO,
    "credit memo": documents.CREDIT_MEMO,
    "invoices": documents.INVOICE,
    "invoice": documents.INVOICE,
    "documents": "document",
    "document": "document",
    "rows": "row",
    "row": "row",
}
_NUM = r"\d{1,3}(?:,\d{3})+|\d+"
_CLAIM = re.compile(
    rf"(?<![\w.,\-/])(?:(?P<part>{_NUM}) of )?(?P<n>{_NUM}) "
    rf"(?P<word>{'|'.join(re.escape(w) for w in WORDS)})(?![\w-])(?! units?\b)"
)  # "4 invoice units" counts units (groups of accounts AWS invoices separately), not invoices
_MONTH = re.compile(r"(?<![\w-])(20\d\d-\d\d)(?![\w-])")
#: Words after a count that make it a part of the whole (not compared).
_PART = re.compile(
    r"^\W*(?:\(s\)\s*)?(?:missing|failed|without|skipped|unexpected|corrupt|not\b|overdue|"
    r"unpaid|late|planted|outside|gone|with errors|to review|in error)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    source: str
    scope: str  # "all" or "YYYY-MM"
    kind: str  # a value of WORDS
    n: int
    context: str

    def __str__(self) -> str:
        where = "whole run" if self.scope == "all" else self.scope
        return f"{self.source} [{where}]: {self.n} {self.kind} in {self.context!r}"


# --------------------------------------------------------------------------------------------
# reading counts out of text and HTML
# --------------------------------------------------------------------------------------------

_BLOCK = {"p", "div", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6", "section", "table",
          "pre", "ul", "ol", "title", "caption", "thead", "tbody", "summary", "details"}  # fmt: skip


class _Text(HTMLParser):
    """Visible text as lines (cells joined by " | ") and every table as rows of cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._stack: list[list[list[str]]] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "table":
            self._stack.append([])
        elif tag == "tr" and self._stack:
            self._stack[-1].append([])
        elif tag in ("td", "th"):
            self.parts.append(" | ")
            if self._stack and self._stack[-1]:
                self._stack[-1][-1].append("")
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag == "table" and self._stack:
            self.tables.append(self._stack.pop())
        if tag in _BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")
        else:
            self.parts.append(" ")

    def handle_data(self, data):
        if self._skip:
            return
        self.parts.append(data)
        if self._stack and self._stack[-1] and self._stack[-1][-1]:
            self._stack[-1][-1][-1] += data

    def lines(self) -> list[str]:
        return [" ".join(x.split()) for x in "".join(self.parts).splitlines() if x.strip()]


def _html(text: str) -> _Text:
    parser = _Text()
    parser.feed(text)
    parser.close()
    return parser


def _names(df) -> list[str]:
    """Account ids and names: a line naming one counts that account's part."""
    names = set(df["account_id"].astype(str)) | set(df["account_name"].dropna().astype(str))
    return sorted(n for n in names if n)


_MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December"]  # fmt: skip
#: "October 2026", as the close and the notebooks write a month in words.
_MONTH_WORDS = re.compile(r"\b(" + "|".join(_MONTH_NAMES) + r") (20\d\d)\b")


def claims_in_lines(source: str, lines: list[str], accounts: list[str]) -> list[Claim]:
    """Every count of a documents word in ``lines`` that speaks of the run or of one month."""
    found = []
    for line in lines:
        line = html.unescape(line)
        if any(a in line for a in accounts):
            continue
        months = set(_MONTH.findall(line)) | {
            f"{y}-{_MONTH_NAMES.index(name) + 1:02d}" for name, y in _MONTH_WORDS.findall(line)
        }
        scope = months.pop() if len(months) == 1 else "all"
        for m in _CLAIM.finditer(line):
            if _PART.match(line[m.end() :]):
                continue
            n = int(m.group("n").replace(",", ""))
            context = line[max(0, m.start() - 40) : m.end() + 30]
            found.append(Claim(source, scope, WORDS[m.group("word")], n, context))
            if m.group("part") and int(m.group("part").replace(",", "")) > n:
                found.append(Claim(source, scope, "part larger than its whole", -1, context))
    return found


_MONTH_HEADERS = {"month", "billing month", "billing period", "period"}
_IGNORED_HEADERS = {"", "currency", "total", "net total", "net", "amount", "spend", "net spend",
                    "base total", "payment total", "tax total", "share", "%"}  # fmt: skip


def claims_in_tables(source: str, tables: list[list[list[str]]]) -> list[Claim]:
    """Tables with a column headed by a documents word: its sum per view (and month)."""
    found = []
    for rows in tables:
        rows = [r for r in rows if r]
        if len(rows) < 2:
            continue
        header = [" ".join(c.split()).lower().replace("_", " ") for c in rows[0]]
        counted = {i: WORDS[h] for i, h in enumerate(header) if h in WORDS}
        if not counted:
            continue
        view = [i for i, h in enumerate(header) if h == "view"]
        month = [i for i, h in enumerate(header) if h in _MONTH_HEADERS]
        other = set(range(len(header))) - set(counted) - set(view) - set(month)
        if any(header[i] not in _IGNORED_HEADERS for i in other):
            continue  # per account, per entity, ...: parts, not the whole
        sums: dict[tuple[str, str, str], int] = defaultdict(int)
        for r in rows[1:]:
            if len(r) != len(header):
                continue
            key_view = r[view[0]].strip() if view else ""
            scope = (_MONTH.findall(r[month[0]]) or ["?"])[0] if month else "all"
            for i, kind in counted.items():
                value = r[i].strip().replace(",", "")
                if value.isdigit():
                    sums[(key_view, scope, kind)] += int(value)
        for (key_view, scope, kind), n in sums.items():
            context = f"table {' | '.join(header)}" + (f", view {key_view}" if key_view else "")
            found.append(Claim(source, scope, kind, n, context))
    return found


def claims_in_html(source: str, text: str, accounts: list[str]) -> list[Claim]:
    parsed = _html(text)
    return claims_in_lines(source, parsed.lines(), accounts) + claims_in_tables(
        source, parsed.tables
    )


def claims_in_notebook(path: Path, accounts: list[str]) -> list[Claim]:
    """Counts in the outputs of an executed notebook (printed text, displayed HTML/tables)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            if out.get("output_type") == "stream":
                text = "".join(out.get("text", ""))
                found += claims_in_lines(path.name, text.splitlines(), accounts)
                continue
            data = out.get("data", {})
            if "text/html" in data:
                found += claims_in_html(path.name, "".join(data["text/html"]), accounts)
            elif "text/markdown" in data:
                found += claims_in_lines(
                    path.name, "".join(data["text/markdown"]).splitlines(), accounts
                )
            elif "text/plain" in data:
                found += claims_in_lines(
                    path.name, "".join(data["text/plain"]).splitlines(), accounts
                )
    return found


# --------------------------------------------------------------------------------------------
# what is true: the summaries file and the archive manifest
# --------------------------------------------------------------------------------------------


def truth(df, manifest: list[dict]) -> dict[str, dict[str, int]]:
    """``{scope: {kind: n}}`` for the whole run and every billing month."""
    months = sorted({str(p) for p in df["billing_period"].dropna()})
    out = {}
    for scope in ["all", *months]:
        rows = df if scope == "all" else df[df["billing_period"].astype(str) == scope]
        docs = manifest if scope == "all" else [m for m in manifest if m["billing_period"] == scope]
        main = sum(m["document_type"] == documents.MAIN_DOCUMENT for m in docs)
        out[scope] = {
            **documents.count(rows),
            "row": len(rows),
            "document": len(docs),
            "main document": main,
            "supplemental document": len(docs) - main,
        }
    return out


def disagreements(claims: list[Claim], true: dict[str, dict[str, int]]) -> list[str]:
    bad = []
    for c in claims:
        expected = true.get(c.scope, {}).get(c.kind)
        if expected != c.n:
            bad.append(f"{c}: the run has {expected}")
    return bad


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("counts")
    reports, workdir = base / "reports", base / "work"
    proc = subprocess.run(
        [sys.executable, "-m", "invoicekit", "--now", NOW, "demo", "--reports", str(reports),
         "--workdir", str(workdir), "--accounts", str(ACCOUNTS), "--months", str(MONTHS),
         "--skip-cli", "--jobs", "2"],
        capture_output=True, text=True, timeout=300, cwd=base, check=False,
    )  # fmt: skip
    df = schema.from_parquet(workdir / "invoices.parquet")
    with (workdir / "archive" / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        manifest = list(csv.DictReader(fh))
    return proc, reports, workdir, df, manifest


def test_the_demo_run_succeeds(demo):
    proc, *_ = demo
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_run_has_every_kind_to_count(demo):
    """The sandbox chosen holds invoices, a credit memo and tax invoices, each archived."""
    _, _, _, df, manifest = demo
    counts = documents.count(df)
    assert counts[documents.INVOICE] and counts[documents.CREDIT_MEMO]
    assert counts[documents.TAX_INVOICE]
    # the manifest holds each row's own PDF exactly once, kinds as in the summaries file
    main = [m for m in manifest if m["document_type"] == documents.MAIN_DOCUMENT]
    assert sorted(m["invoice_id"] for m in main) == sorted(df["invoice_id"])
    kind_of = dict(zip(df["invoice_id"], documents.kinds(df), strict=True))
    by_kind = defaultdict(int)
    for m in main:
        by_kind[kind_of[m["invoice_id"]]] += 1
    assert {k: by_kind.get(k, 0) for k in documents.KINDS} == counts


def test_cli_summary_counts_agree(demo):
    proc, _, _, df, manifest = demo
    claims = claims_in_lines("demo stdout", proc.stdout.splitlines(), _names(df))
    kinds = {c.kind for c in claims if c.scope == "all"}
    assert {documents.INVOICE, documents.CREDIT_MEMO, "document"} <= kinds, proc.stdout
    bad = disagreements(claims, truth(df, manifest))
    assert not bad, "\n".join(bad)


def test_executive_summary_counts_agree(demo):
    _, reports, _, df, manifest = demo
    text = (reports / "executive_summary.html").read_text(encoding="utf-8")
    claims = claims_in_html("executive_summary.html", text, _names(df))
    kinds = {c.kind for c in claims if c.scope == "all"}
    assert {documents.INVOICE, documents.CREDIT_MEMO} <= kinds, sorted(kinds)
    # the archive completeness speaks of the report month, the month closed
    month_kinds = {c.kind for c in claims if c.scope != "all"}
    assert "document" in month_kinds, sorted(month_kinds)
    bad = disagreements(claims, truth(df, manifest))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "stem",
    ["01_spend_trends", "02_currency_reconciliation", "03_batch_download_pdfs",
     "04_month_end_close", "05_chargeback_by_business_unit"],
)  # fmt: skip
def test_notebook_counts_agree(demo, stem):
    _, _, workdir, df, manifest = demo
    path = workdir / "executed" / f"{stem}.ipynb"
    assert path.is_file(), f"{stem} was not executed"
    claims = claims_in_notebook(path, _names(df))
    assert claims, f"{stem} prints no count of invoices, credit memos or documents"
    bad = disagreements(claims, truth(df, manifest))
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------------------------
# the reader itself (fast, no demo)
# --------------------------------------------------------------------------------------------


def test_the_reader_finds_counts_and_their_scope():
    lines = [
        "loaded 168 rows: 156 invoices, 12 credit memos, 3 tax invoices from 12 accounts",
        "2026-10: 14 documents (1 main document, 13 supplemental documents)",
        "Billing months 2026-08 to 2026-10 · 1,204 invoices",
        "170 of 173 documents have their PDF; 3 documents missing",
        "list-invoice-summaries for Acme: 3 invoice(s) issued in 2026-10",
        "generated 2026-11-25 · 7 payment receipts",
    ]
    got = [(c.scope, c.kind, c.n) for c in claims_in_lines("t", lines, ["Acme"])]
    assert got == [
        ("all", "row", 168),
        ("all", "invoice", 156),
        ("all", "credit memo", 12),
        ("all", "tax invoice", 3),
        ("2026-10", "document", 14),
        ("2026-10", "main document", 1),
        ("2026-10", "supplemental document", 13),
        ("all", "invoice", 1204),
        ("all", "document", 173),
        ("all", "payment receipt", 7),
    ]


def test_the_reader_sums_count_columns_per_view_and_month():
    page = """<div><span class='tile'><b>156</b>invoices</span><span><b>12</b>credit memos</span>
    </div><table><tr><th>View</th><th>Currency</th><th>Invoices</th><th>Credit memos</th>
    <th>Net total</th><th></th></tr>
    <tr><td>base currency</td><td>USD</td><td>150</td><td>10</td><td>1.00</td><td>USD</td></tr>
    <tr><td>base currency</td><td>EUR</td><td>6</td><td>2</td><td>1.00</td><td>EUR</td></tr>
    </table><table><tr><th>billing_period</th><th>currency</th><th>invoices</th></tr>
    <tr><td>2026-09</td><td>USD</td><td>5</td></tr><tr><td>2026-09</td><td>EUR</td><td>2</td></tr>
    </table><table><tr><th>Account</th><th>Invoices</th></tr><tr><td>a</td><td>9</td></tr>
    </table><script>var x = "99 invoices";</script>"""
    got = sorted((c.scope, c.kind, c.n) for c in claims_in_html("t", page, []))
    assert got == [
        ("2026-09", "invoice", 7),
        ("all", "credit memo", 12),
        ("all", "credit memo", 12),
        ("all", "invoice", 156),
        ("all", "invoice", 156),
    ]


def test_disagreements_name_the_source_and_the_true_number():
    true = {"all": {"invoice": 156, "document": 170}}
    claims = claims_in_lines("report", ["168 of 168 invoice documents · 170 documents"], [])
    assert disagreements(claims, true) == [
        "report [whole run]: 168 invoice in '168 of 168 invoice documents · 170 documents': "
        "the run has 156"
    ]
