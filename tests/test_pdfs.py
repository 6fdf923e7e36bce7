"""The PDF archive: naming and sanitizing (property tests), the manifest, the document fetcher's
security rules (against a local HTTP server), and downloads against the sandbox."""

from __future__ import annotations

import csv
import hashlib
import http.server
import os
import re
import threading
import time
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicekit import _files
from invoicekit._http import EXPIRED, FATAL, TRANSIENT, DocumentFetcher, FetchError, Origin
from invoicekit.archive import (
    DEFAULT_TEMPLATE,
    MANIFEST_COLUMNS,
    MAX_PART_CHARS,
    RESULT_COLUMNS,
    TEMPLATE_FIELDS,
    download_invoice_pdfs,
    render_path,
    sanitize_value,
    supplemental_template_for,
    validate_template,
    verify_archive,
)
from invoicekit.archive import download as archive_download
from invoicekit.archive import manifest as archive_manifest
from invoicekit.errors import InvalidArgumentError

TODAY = "2026-11-25"
RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in [*"0123456789", "¹", "²", "³"]
}


def _pdf(text: str = "hello") -> bytes:
    return b"%PDF-1.4\n% " + text.encode() + b"\n" + b"x" * 200 + b"\n%%EOF\n"


# --------------------------------------------------------------------------------------------
# Naming: every rendered path is safe, whatever the API returns (property tests).
# --------------------------------------------------------------------------------------------


def _safe_part(part: str) -> bool:
    if part in ("", ".", "..") or part[0] in ". " or part[-1] in ". ":
        return False
    if len(part) > MAX_PART_CHARS or len(part.encode("utf-8")) > 2 * MAX_PART_CHARS:
        return False
    if any(c in '<>:"|?*/\\' or unicodedata.category(c)[0] == "C" for c in part):
        return False
    return part.split(".", 1)[0].upper() not in RESERVED


nasty_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "..",
            ".",
            "../../etc/x",
            "a/b",
            "CON",
            "nul.pdf",
            "\x00x",
            " lead",
            "trail. ",
            "COM1",
            "a\\b",
            "\n",
            "a\n",
            "x" * 400,
            "é" * 200,
            "\u202egpj.exe",
            "",
            "LPT¹",
            "aux.tar.gz",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(values=st.fixed_dictionaries({f: nasty_text for f in TEMPLATE_FIELDS}))
def test_rendered_paths_are_safe_on_every_os_and_stay_inside_dest(values):
    dest = Path("/archive/dest")
    templates = [
        DEFAULT_TEMPLATE,
        supplemental_template_for(DEFAULT_TEMPLATE),
        "{year}/{month}/{account_name}/{invoicing_entity}/{invoice_type}-{invoice_id}.pdf",
    ]
    for tpl in templates:
        rel = render_path(tpl, values)
        parts = rel.split("/")
        assert len(parts) == tpl.count("/") + 1  # no value added a directory level
        assert all(_safe_part(p) for p in parts), rel
        joined = os.path.normpath(os.path.join(dest, rel))
        assert joined.startswith(str(dest) + os.sep)


@settings(max_examples=300, deadline=None)
@given(a=nasty_text, b=nasty_text)
def test_distinct_invoice_ids_get_distinct_paths(a, b):
    fields = {"billing_period": "2025-01", "account_id": "111111111111"}
    pa_ = render_path(DEFAULT_TEMPLATE, {**fields, "invoice_id": a})
    pb = render_path(DEFAULT_TEMPLATE, {**fields, "invoice_id": b})
    if (a or "unknown") != (b or "unknown"):
        assert pa_ != pb


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,40}", fullmatch=True))
def test_ordinary_ids_are_kept_verbatim(invoice_id):
    assert sanitize_value(invoice_id) == invoice_id
    fields = {"billing_period": "2025-03", "account_id": "123456789012", "invoice_id": invoice_id}
    assert render_path(DEFAULT_TEMPLATE, fields) == f"2025-03/123456789012/{invoice_id}.pdf"


def test_supplemental_documents_sit_beside_the_invoice_with_type_and_id():
    tpl = supplemental_template_for(DEFAULT_TEMPLATE)
    fields = {
        "billing_period": "2025-03",
        "account_id": "1",
        "invoice_id": "E-1",
        "document_type": "TAX_E_INVOICE",
        "document_id": "E-1-SUPPLEMENT-1",
    }
    assert render_path(tpl, fields) == "2025-03/1/E-1__TAX_E_INVOICE__E-1-SUPPLEMENT-1.pdf"


def test_unknown_template_field_names_the_field_and_the_available_ones():
    with pytest.raises(InvalidArgumentError) as info:
        validate_template("{billing_period}/{payer}/{invoice_id}.pdf")
    msg = str(info.value)
    assert "{payer}" in msg
    assert all(f in msg for f in TEMPLATE_FIELDS)


@pytest.mark.parametrize(
    "template",
    [
        "/abs/{invoice_id}.pdf",
        "../{invoice_id}.pdf",
        "a/./{invoice_id}",
        "a//{invoice_id}",
        "{invoice_id!r}.pdf",
        "{invoice_id:>300}.pdf",
        "{invoice_id.__class__}",
        "a\\{invoice_id}",
        "{invoice_id}\x00.pdf",
        "",
        "{invoice_id",
    ],
)
def test_bad_templates_are_refused(template):
    with pytest.raises(InvalidArgumentError):
        validate_template(template)


# --------------------------------------------------------------------------------------------
# Manifest and atomic files.
# --------------------------------------------------------------------------------------------


def _row(i: int, **kw) -> dict[str, str]:
    row = {
        "account_id": "111111111111",
        "invoice_id": f"E-{i}",
        "billing_period": "2025-01",
        "document_type": "INVOICE",
        "document_id": f"E-{i}",
        "path": f"2025-01/E-{i}.pdf",
        "bytes": "10",
        "sha256": "a" * 64,
        "downloaded_at": "2026-01-01T00:00:00Z",
    }
    row.update(kw)
    return row


def test_manifest_round_trip_sorted_with_exact_columns(tmp_path):
    path = tmp_path / "manifest.csv"
    archive_manifest.write_manifest(path, [_row(2), _row(1)])
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == MANIFEST_COLUMNS
    assert [r[1] for r in rows[1:]] == ["E-1", "E-2"]
    assert archive_manifest.read_manifest(path).rows == [_row(1), _row(2)]


def test_manifest_reader_drops_a_torn_last_line_and_keeps_the_last_duplicate(tmp_path):
    path = tmp_path / "manifest.csv"
    archive_manifest.write_manifest(path, [_row(1)])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(",".join(_row(1, bytes="11").values()) + "\n")
        fh.write("111111111111,E-9,2025-01,INVOICE,E-9,2025-01/E-9.pdf,1")  # crash mid-line
    read = archive_manifest.read_manifest(path)
    assert [r["bytes"] for r in read.rows] == ["11"]
    assert read.bad_lines and "incomplete" in read.bad_lines[0][1]


def test_a_foreign_manifest_is_refused(tmp_path):
    (tmp_path / "manifest.csv").write_text("name,size\nx,1\n")
    with pytest.raises(InvalidArgumentError, match="not an invoicekit manifest"):
        archive_manifest.read_manifest(tmp_path / "manifest.csv")


def test_atomic_write_leaves_no_temp_file(tmp_path):
    _files.write_bytes(tmp_path / "a.bin", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
    stale = _files.new_temp_path(tmp_path)
    stale.write_bytes(b"partial")
    assert _files.remove_stale_temp_files(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_a_second_run_on_the_same_archive_is_refused_while_one_holds_it(tmp_path):
    with archive_manifest.archive_lock(tmp_path):
        with pytest.raises(InvalidArgumentError, match="another invoicekit download"):
            with archive_manifest.archive_lock(tmp_path):
                pass


# --------------------------------------------------------------------------------------------
# The fetcher: host allowlist, no redirects, validated bodies (local HTTP server).
# --------------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: list[str] = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802
        type(self).hits.append(self.path)
        path = self.path.split("?")[0]
        body = _pdf(path)
        if path == "/ok.pdf":
            self._send(200, body)
        elif path == "/truncated.pdf":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        elif path == "/noeof.pdf":
            self._send(200, body.replace(b"%%EOF", b"%%EOX"))
        elif path == "/html.pdf":
            self._send(200, b"<html>login</html>")
        elif path == "/expired.pdf":
            self._send(
                403,
                b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
            )
        elif path == "/busy.pdf":
            self._send(503, b"<Error><Code>SlowDown</Code></Error>")
        elif path == "/redirect.pdf":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/ok.pdf?x=1")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def local_server():
    _Handler.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_fetcher_validates_bodies_and_classifies_failures(local_server, tmp_path):
    origin = frozenset([Origin.from_url(local_server)])
    fetcher = DocumentFetcher(pool_size=2)
    got = fetcher.fetch(f"{local_server}/ok.pdf?X-Amz-Signature=abc", tmp_path, origin)
    assert got.temp_path.parent == tmp_path and got.temp_path.read_bytes() == _pdf("/ok.pdf")
    assert got.sha256 == hashlib.sha256(_pdf("/ok.pdf")).hexdigest()
    expected = {
        "/truncated.pdf": TRANSIENT,
        "/noeof.pdf": TRANSIENT,
        "/html.pdf": TRANSIENT,
        "/busy.pdf": TRANSIENT,
        "/expired.pdf": EXPIRED,
        "/missing.pdf": FATAL,
        "/redirect.pdf": FATAL,
    }
    for path, kind in expected.items():
        with pytest.raises(FetchError) as info:
            fetcher.fetch(
                f"{local_server}{path}?X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok",
                tmp_path,
                origin,
            )
        assert info.value.kind == kind, path
        assert "deadbeef" not in str(info.value) and "tok" not in str(info.value)
    # the redirect was not followed, and no failed body was left behind
    assert not any(h.startswith("/ok.pdf?x=1") for h in _Handler.hits)
    assert [p.name for p in tmp_path.iterdir()] == [got.temp_path.name]
    fetcher.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://bucket.s3.amazonaws.com/a.pdf",  # http to AWS
        "https://amazonaws.com.evil.example/a.pdf",  # look-alike
        "https://evilamazonaws.com/a.pdf",
        "https://bucket.s3.amazonaws.com:8443/a.pdf",  # other port
        "https://user:pw@bucket.s3.amazonaws.com/a.pdf",
        "file:///etc/passwd",
        "https://127.0.0.1/a.pdf",
        "https://evil.example\\@bucket.s3.amazonaws.com/a.pdf",  # parsers disagree on the host
        "https://bucket.s3.amazonaws.com/a b.pdf",
        "https://bucket.s3.amazonaws.com\n.evil.example/a.pdf",
    ],
)
def test_fetcher_refuses_hosts_outside_the_allowlist_without_connecting(
    url, local_server, tmp_path
):
    origin = frozenset([Origin.from_url(local_server)])
    with pytest.raises(FetchError) as info:
        DocumentFetcher().fetch(url + "?X-Amz-Signature=s3cr3t", tmp_path, origin)
    assert info.value.kind == FATAL and "s3cr3t" not in str(info.value)
    assert _Handler.hits == []


def test_only_the_exact_override_origin_is_allowed_for_http(local_server, tmp_path):
    port = int(local_server.rsplit(":", 1)[1])
    other = frozenset([Origin("http", "127.0.0.1", port + 1)])
    with pytest.raises(FetchError, match="refused document URL"):
        DocumentFetcher().fetch(f"{local_server}/ok.pdf", tmp_path, other)
    assert _Handler.hits == []


# --------------------------------------------------------------------------------------------
# Downloads against the sandbox.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_org():
    """A 3-account x 2-month sandbox and its invoice frame (read once per module)."""
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries
    from invoicekit.sandbox import start

    with start(accounts=3, months=2, today=TODAY) as sb:
        fleet = load_fleet(sb.fleet_config)
        df = read_invoice_summaries(fleet, "2026-09", "2026-10", progress=False)
        assert len(df) >= 5
        yield sb, fleet, df


def _gets(sb) -> int:
    return sum(sb.stats()["requests"].get("GetInvoicePDF", {}).values())


def test_download_archives_every_document_with_manifest_and_real_pdfs(small_org, tmp_path):
    import pypdf

    sb, fleet, df = small_org
    result = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    assert tuple(result.columns) == RESULT_COLUMNS
    assert set(result["status"]) == {"downloaded"}
    expected_docs = {
        (inv, d.document_id) for inv in df["invoice_id"] for d in sb.org.documents_for(inv)
    }
    assert set(zip(result["invoice_id"], result["document_id"], strict=True)) == expected_docs
    assert "SUPPLEMENT" in set(result["document_type"]) or len(expected_docs) == len(df)

    with open(tmp_path / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == MANIFEST_COLUMNS
    assert len(rows) == len(expected_docs)
    for r in rows:
        data = (tmp_path / r["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r["sha256"] and len(data) == int(r["bytes"])
        assert data == sb.org.render_pdf(r["document_id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["downloaded_at"])
        if r["document_type"] == "INVOICE":
            assert r["path"] == f"{r['billing_period']}/{r['account_id']}/{r['invoice_id']}.pdf"
        else:
            assert r["path"].endswith(f"__{r['document_type']}__{r['document_id']}.pdf")
    first = next(r for r in rows if r["document_type"] == "INVOICE")
    text = pypdf.PdfReader(tmp_path / first["path"]).pages[0].extract_text()
    assert first["invoice_id"] in text
    assert verify_archive(tmp_path, summaries=df).ok


def test_rerun_skips_everything_without_any_api_call(small_org, tmp_path):
    sb, fleet, df = small_org
    download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    before = _gets(sb)
    again = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    assert set(again["status"]) == {"skipped"}
    assert again.attrs["api_calls"] == 0 and _gets(sb) == before


def test_altered_file_is_reported_by_verify_and_fetched_again(small_org, tmp_path):
    sb, fleet, df = small_org
    first = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    victim = first[first["document_type"] == "INVOICE"].iloc[0]
    (tmp_path / victim["path"]).write_bytes(_pdf("forged"))
    (tmp_path / "stray.pdf").write_bytes(_pdf("stray"))
    report = verify_archive(tmp_path)
    assert not report.ok
    assert set(report.problems["problem"]) == {"corrupt", "unexpected"}
    assert report.problems.set_index("problem").loc["corrupt", "path"] == victim["path"]

    before = _gets(sb)
    again = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    redone = again[again["status"] == "downloaded"]
    assert list(redone["invoice_id"].unique()) == [victim["invoice_id"]]
    assert _gets(sb) == before + 1
    assert (tmp_path / victim["path"]).read_bytes() == sb.org.render_pdf(victim["document_id"])


def test_supplemental_documents_can_be_added_later_with_calls_only_where_they_exist(
    small_org, tmp_path
):
    sb, fleet, df = small_org
    plain = download_invoice_pdfs(df, tmp_path, fleet=fleet, supplemental=False, progress=False)
    assert set(plain["document_type"]) == {"INVOICE"}
    with_supp = {i for i in df["invoice_id"] if len(sb.org.documents_for(i)) > 1}
    full = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    assert full.attrs["api_calls"] == len(with_supp)
    assert set(full.loc[full["status"] == "downloaded", "document_type"]) <= {
        "SUPPLEMENT",
        "TAX_E_INVOICE",
        "GOVERNMENT_INVOICE",
        "PAYMENT_RECEIPT",
    }
    assert verify_archive(tmp_path, summaries=df).ok


def test_invoice_ids_of_one_account_are_looked_up_for_their_period(small_org, tmp_path):
    from invoicekit.fleet import Fleet

    sb, fleet, df = small_org
    acct = fleet.accounts[0]
    one = Fleet(
        accounts=(acct,), config_file=fleet.config_file, credentials_file=fleet.credentials_file
    )
    ids = list(df.loc[df["account_id"] == acct.id, "invoice_id"])
    result = download_invoice_pdfs(ids, tmp_path, fleet=one, progress=False)
    main = result[result["document_type"] == "INVOICE"].set_index("invoice_id")
    for _, inv in df[df["account_id"] == acct.id].iterrows():
        assert (
            main.loc[inv["invoice_id"], "path"]
            == f"{inv['billing_period']}/{acct.id}/{inv['invoice_id']}.pdf"
        )
    again = download_invoice_pdfs(ids, tmp_path, fleet=one, progress=False)
    assert set(again["status"]) == {"skipped"} and again.attrs["api_calls"] == 0


def test_custom_template_fields(small_org, tmp_path):
    sb, fleet, df = small_org
    tpl = "{year}/{month}/{account_name}/{invoice_type}_{invoice_id}.pdf"
    result = download_invoice_pdfs(
        df.head(2), tmp_path, fleet=fleet, template=tpl, supplemental=False, progress=False
    )
    row = df.iloc[0]
    name = sanitize_value(row["account_name"])
    y, m = str(row["billing_period"]).split("-")
    assert (tmp_path / y / m / name / f"{row['invoice_type']}_{row['invoice_id']}.pdf").is_file()
    assert set(result["status"]) == {"downloaded"}


def test_a_template_that_maps_two_invoices_to_one_path_is_refused_before_any_call(
    small_org, tmp_path
):
    sb, fleet, df = small_org
    before = _gets(sb)
    with pytest.raises(InvalidArgumentError, match="same path"):
        download_invoice_pdfs(
            df, tmp_path, fleet=fleet, template="{account_id}.pdf", progress=False
        )
    assert _gets(sb) == before


def test_a_denied_account_fails_alone(small_org, tmp_path):
    sb, fleet, df = small_org
    denied = fleet.accounts[1].id
    sb.deny(denied)
    try:
        result = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    finally:
        sb.deny(denied, False)
    failed = result[result["status"] == "failed"]
    assert set(failed["account_id"]) == {denied}
    assert failed["error"].str.contains("AccessDenied").all()
    assert set(result.loc[result["account_id"] != denied, "status"]) == {"downloaded"}
    assert {f["account_id"] for f in result.attrs["failures"]} == {denied}
    # the next run retries only the failed account
    again = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    assert set(again.loc[again["account_id"] == denied, "status"]) == {"downloaded"}
    assert set(again.loc[again["account_id"] != denied, "status"]) == {"skipped"}


class _StaleFirstClient:
    """Wraps a client: the first GetInvoicePDF answer per invoice is one that has expired."""

    def __init__(self, real, stale):
        self._real, self._stale = real, stale

    def __getattr__(self, name):  # the rest (endpoint, meta) is the real client's
        return getattr(self._real, name)

    def get_invoice_pdf(self, InvoiceId):  # noqa: N803 (botocore keyword)
        if InvoiceId in self._stale:
            return self._stale.pop(InvoiceId)
        return self._real.get_invoice_pdf(InvoiceId=InvoiceId)


#: Lifetime of the sandbox's document URLs in the expiry test. A URL is signed at a whole
#: second (the sandbox truncates), so it lives between URL_LIFETIME_S - 1 and URL_LIFETIME_S
#: seconds: long enough for a fresh URL to be fetched before it expires, whatever the second.
URL_LIFETIME_S = 4


def _expiry_of(url: str) -> float:
    """When the sandbox starts refusing a document URL (epoch seconds), from its query."""
    import calendar
    from urllib.parse import parse_qs, urlsplit

    q = parse_qs(urlsplit(url).query)
    signed = calendar.timegm(time.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"))
    return signed + int(q["X-Amz-Expires"][0])


def _wait_until_expired(answers) -> None:
    """Wait (bounded by the URL lifetime) until every URL of the GetInvoicePDF answers expired."""
    urls = [a["InvoicePDF"]["DocumentUrl"] for a in answers]
    urls += [
        d["DocumentUrl"] for a in answers for d in a["InvoicePDF"].get("SupplementalDocuments", [])
    ]
    expires = max(_expiry_of(u) for u in urls)
    deadline = time.monotonic() + URL_LIFETIME_S + 2
    while time.time() < expires + 0.05:  # protocol time: the sandbox checks the real clock
        assert time.monotonic() < deadline, "the URLs outlived their X-Amz-Expires"
        time.sleep(0.05)


def test_an_expired_url_leads_to_a_fresh_get_invoice_pdf_not_a_failure(
    make_sandbox, tmp_path, monkeypatch
):
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries

    sb = make_sandbox(accounts=1, months=1, url_lifetime_s=URL_LIFETIME_S)
    fleet = load_fleet(sb.fleet_config)
    df = read_invoice_summaries(fleet, "2026-10", "2026-10", progress=False)
    acct = fleet.accounts[0]
    real = fleet.client(acct, "invoicing")
    stale = {i: real.get_invoice_pdf(InvoiceId=i) for i in df["invoice_id"]}
    _wait_until_expired(stale.values())
    real_client = archive_download._invoicing_client
    monkeypatch.setattr(
        archive_download,
        "_invoicing_client",
        lambda access, workers, client: _StaleFirstClient(
            real_client(access, workers, client), stale
        ),
    )
    before = _gets(sb)
    result = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    assert set(result["status"]) == {"downloaded"}, result["error"].tolist()
    assert not stale  # every stale answer was used...
    assert sb.stats()["requests"]["Document"]  # ...refused by the sandbox...
    assert _gets(sb) == before + len(df)  # ...and followed by exactly one fresh call each
    assert result.attrs["api_calls"] == len(df)  # requests sent (the stale ones were not)


class _DoctoredClient:
    """Returns GetInvoicePDF answers with hostile ids (and real, valid document URLs)."""

    def __init__(self, real, real_invoice, supplemental_ids, bad_url=None):
        self._real = real
        self._real_invoice, self._ids, self._bad_url = real_invoice, supplemental_ids, bad_url

    def __getattr__(self, name):  # the rest (endpoint, meta) is the real client's
        return getattr(self._real, name)

    def get_invoice_pdf(self, InvoiceId):  # noqa: N803
        pdf = self._real.get_invoice_pdf(InvoiceId=self._real_invoice)["InvoicePDF"]
        url = self._bad_url or pdf["DocumentUrl"]
        return {
            "InvoicePDF": {
                "InvoiceId": InvoiceId,
                "DocumentUrl": url,
                "SupplementalDocuments": [
                    {"DocumentType": t, "DocumentId": i, "DocumentUrl": url} for t, i in self._ids
                ],
            }
        }


HOSTILE = ["../../etc/x", "a/b", "CON", "\x00x", "..", "/abs", "..\\..\\win", "nul.pdf"]


def test_hostile_ids_from_a_doctored_response_write_nothing_outside_dest(
    small_org, tmp_path, monkeypatch
):
    sb, fleet, df = small_org
    acct = df["account_id"].iloc[0]
    real_invoice = df.loc[df["account_id"] == acct, "invoice_id"].iloc[0]
    real_make = archive_download._invoicing_client
    supp = [("../../../../tmp", "../../../escape"), ("a/../../b", "CON"), ("X", "\x00y/../z")]
    monkeypatch.setattr(
        archive_download,
        "_invoicing_client",
        lambda a, w, c: _DoctoredClient(real_make(a, w, c), real_invoice, supp),
    )
    dest = tmp_path / "dest"
    outside_before = {p for p in tmp_path.rglob("*")}
    frame = pd.DataFrame(
        {
            "account_id": [acct] * len(HOSTILE) + ["../../.."],
            "invoice_id": HOSTILE + ["E-ok"],
            "billing_period": [
                "../..",
                "2025-01",
                "2025-01/../..",
                "CON",
                "2025-01",
                "..",
                "aux",
                "x",
            ]
            + ["2025-01"],
        }
    )
    result = download_invoice_pdfs(frame, dest, fleet=fleet, progress=False)
    outside_after = {p for p in tmp_path.rglob("*") if not p.is_relative_to(dest)}
    assert outside_after == outside_before
    good = result[result["status"] == "downloaded"]
    # a supplemental id equal to its invoice's own id ("CON") is the same document: kept once
    assert len(good) == sum(1 + sum(d != inv for _t, d in supp) for inv in HOSTILE)
    dest_r = dest.resolve()
    for rel in good["path"]:
        p = (dest / rel).resolve()
        assert p.is_relative_to(dest_r) and p.is_file()
        assert all(_safe_part(part) for part in rel.split("/"))
    assert verify_archive(dest).ok
    # the account missing from the fleet fails alone
    assert result.loc[result["invoice_id"] == "E-ok", "status"].tolist() == ["failed"]


def test_document_urls_on_other_hosts_are_refused(small_org, tmp_path, monkeypatch, local_server):
    sb, fleet, df = small_org
    real_make = archive_download._invoicing_client
    bad = f"{local_server}/ok.pdf?X-Amz-Signature=feedface"
    monkeypatch.setattr(
        archive_download,
        "_invoicing_client",
        lambda a, w, c: _DoctoredClient(
            real_make(a, w, c), df["invoice_id"].iloc[0], [], bad_url=bad
        ),
    )
    result = download_invoice_pdfs(df.head(2), tmp_path, fleet=fleet, progress=False)
    assert set(result["status"]) == {"failed"}
    assert result["error"].str.contains("refused document URL").all()
    assert not result["error"].str.contains("feedface").any()
    assert _Handler.hits == []
    assert not list(tmp_path.rglob("*.pdf"))


def test_a_torn_manifest_and_temp_leftovers_of_a_crash_are_repaired_by_the_next_run(
    small_org, tmp_path
):
    sb, fleet, df = small_org
    first = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    with open(tmp_path / "manifest.csv", "a", encoding="utf-8") as fh:
        fh.write("100000000001,E-torn,2026-10,INVOICE,E-torn,2026-10/1")  # killed mid-write
    leftover = (tmp_path / first["path"].iloc[0]).with_name(".ik-00112233aabbccdd.part")
    leftover.write_bytes(b"%PDF-1.4 half")
    assert {"manifest", "unexpected"} <= set(verify_archive(tmp_path).problems["problem"])
    again = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    assert set(again["status"]) == {"skipped"} and again.attrs["api_calls"] == 0
    assert not leftover.exists()
    assert archive_manifest.read_manifest(tmp_path / "manifest.csv").bad_lines == []
    assert verify_archive(tmp_path, summaries=df).ok


def test_invoice_ids_with_one_session(small_org, tmp_path):
    sb, fleet, df = small_org
    acct = fleet.accounts[-1].id
    ids = list(df.loc[df["account_id"] == acct, "invoice_id"])
    result = download_invoice_pdfs(ids, tmp_path, session=fleet.session_for(acct), progress=False)
    assert set(result["status"]) == {"downloaded"} and set(result["account_id"]) == {acct}
    with pytest.raises(InvalidArgumentError, match="single account"):
        download_invoice_pdfs(ids, tmp_path / "x", fleet=fleet, progress=False)


def test_verify_never_reads_outside_the_archive_for_a_doctored_manifest(tmp_path):
    outside = tmp_path / "secret.pdf"
    outside.write_bytes(_pdf("outside"))
    dest = tmp_path / "archive"
    dest.mkdir()
    sha = hashlib.sha256(outside.read_bytes()).hexdigest()
    archive_manifest.write_manifest(
        dest / "manifest.csv",
        [
            _row(1, path="../secret.pdf", sha256=sha, bytes=str(outside.stat().st_size)),
            _row(2, path="/etc/passwd"),
        ],
    )
    report = verify_archive(dest)
    assert sorted(report.problems["problem"]) == ["manifest", "manifest"]
    assert report.problems["detail"].str.contains("inside the archive|leaves").all()


def test_a_symlink_inside_dest_cannot_redirect_writes_outside(small_org, tmp_path):
    sb, fleet, df = small_org
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    period = str(df["billing_period"].iloc[0])
    (dest / period).symlink_to(outside, target_is_directory=True)
    result = download_invoice_pdfs(df, dest, fleet=fleet, progress=False)
    assert list(outside.iterdir()) == []
    hit = result[result["billing_period"] == period]
    assert (
        set(hit["status"]) == {"failed"} and hit["error"].str.contains("leaves the archive").all()
    )
    assert set(result.loc[result["billing_period"] != period, "status"]) == {"downloaded"}


def test_refresh_asks_again_for_new_documents_but_downloads_nothing_archived(small_org, tmp_path):
    sb, fleet, df = small_org
    download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    before = _gets(sb)
    again = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False, refresh=True)
    assert set(again["status"]) == {"skipped"}
    assert again.attrs["api_calls"] == len(df) and _gets(sb) == before + len(df)
