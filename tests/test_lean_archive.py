"""The downloader's lean path (invoicekit._lean: LeanClient for GetInvoicePDF, LeanS3Put for the
S3 archive) against botocore's, which stays the reference (``client="boto3"``).

The lean PUT is signed exactly as botocore's S3 signer signs it, stores in moto's S3 server the
same objects (checksum, lock, legal hold, metadata, content type) as ``put_object``, retries what
botocore retries, raises botocore's errors, hands a redirected bucket back to botocore, and is
only used on a client invoicekit makes (a client given is used as it is).
"""

from __future__ import annotations

import hashlib
import threading
from collections import namedtuple
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from invoicekit import _lean, clock, run_report
from invoicekit.archive import download_invoice_pdfs
from invoicekit.archive.manifest import S3_MANIFEST_COLUMNS, parse_manifest
from invoicekit.archive.s3 import retention

MONTH = "2026-10"
NOW = "2026-11-25T09:00:00Z"
FAR = "2099-12-31"
#: a template that puts a space and parentheses in keys (the account name)
TEMPLATE = "{billing_period}/{account_name} ({account_id})/{invoice_id}.pdf"
Creds = namedtuple("Creds", "access_key secret_key token")


class _Creds:
    def get_frozen_credentials(self):
        return Creds("AKIAEXAMPLEEXAMPLE00", "c2VjcmV0LXNlY3JldA", "session/token==")


class _Session:
    def get_credentials(self):
        return _Creds()


def _summaries(sb):
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries

    fleet = load_fleet(sb.fleet_config)
    return fleet, read_invoice_summaries(fleet, MONTH, MONTH, progress=False)


def _b64(data: bytes) -> str:
    """The SHA-256 of ``data`` as S3 shows a stored checksum (base64)."""
    import base64

    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _manifest(s3, bucket, prefix):
    body = s3.get_object(Bucket=bucket, Key=f"{prefix}/manifest.csv")["Body"].read()
    rows = parse_manifest(body, "manifest.csv", S3_MANIFEST_COLUMNS).rows
    return {(r["account_id"], r["invoice_id"], r["document_id"]): r for r in rows}


# -- signing ------------------------------------------------------------------------------------


def test_the_put_signature_is_botocores_s3_signature(monkeypatch) -> None:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    now = datetime(2026, 11, 25, 10, 30, 15, tzinfo=UTC)
    creds = ReadOnlyCredentials("ASIAEXAMPLEEXAMPLE01", "c2VjcmV0LXNlY3JldA", "session/token==")
    body = b"%PDF-1.4 a document %%EOF"
    sha = hashlib.sha256(body).hexdigest()
    raw_path = "/bucket/2026-10/Retail EU (100000000001)/INV~1+x.pdf"
    put = _lean.LeanS3Put(_Creds(), url="http://127.0.0.1:9000/bucket/", region="eu-west-1",
                          ca_bundle=None)  # fmt: skip
    headers = put._headers({
        "ContentType": "application/pdf",
        "Metadata": {"invoicekit-document-id": "INV-1"},
        "ChecksumAlgorithm": "SHA256",
        "ChecksumSHA256": "abc=",
        "ObjectLockMode": "GOVERNANCE",
        "ObjectLockRetainUntilDate": datetime(2099, 12, 31, tzinfo=UTC),
        "ObjectLockLegalHoldStatus": "ON",
    })  # fmt: skip
    assert headers["x-amz-object-lock-retain-until-date"] == "2099-12-31T00:00:00Z"
    headers["Content-Length"] = str(len(body))
    ours = _lean.sign_v4(creds, region="eu-west-1", service="s3", host="127.0.0.1:9000",
                         path=raw_path, body=b"", headers=headers | {"x-amz-content-sha256": sha},
                         now=now, method="PUT", payload_hash=sha)  # fmt: skip
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now.replace(tzinfo=None))
    from urllib.parse import quote

    url = "http://127.0.0.1:9000" + quote(raw_path, safe="/~")
    request = AWSRequest(method="PUT", url=url, data=body, headers=dict(headers))
    botocore.auth.S3SigV4Auth(creds, "s3", "eu-west-1").add_auth(request)
    assert request.headers["X-Amz-Content-SHA256"] == sha  # botocore hashed the body itself
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Security-Token"] == request.headers["X-Amz-Security-Token"]


def test_the_bucket_layout_and_region_come_from_botocores_request() -> None:
    scope = "AWS4-HMAC-SHA256 Credential=AKID/20261201/{}/s3/aws4_request, SignedHeaders=host"
    virtual = _lean.LeanS3Put.from_request(
        _Session(), "https://my-bucket.s3.eu-central-1.amazonaws.com/", scope.format("eu-central-1")
    )
    assert repr(virtual) == "LeanS3Put(https://my-bucket.s3.eu-central-1.amazonaws.com/)"
    assert virtual.region == "eu-central-1"
    path_style = _lean.LeanS3Put.from_request(
        _Session(), "http://127.0.0.1:9000/my-bucket", scope.format("us-east-1")
    )
    assert repr(path_style) == "LeanS3Put(http://127.0.0.1:9000/my-bucket/)"
    # nothing to learn from: botocore's path is used
    assert _lean.LeanS3Put.from_request(_Session(), "http://127.0.0.1:9000/b", None) is None
    assert _lean.LeanS3Put.from_request(_Session(), None, scope.format("us-east-1")) is None
    sigv2 = "AWS AKID:signature"
    assert _lean.LeanS3Put.from_request(_Session(), "http://127.0.0.1:9000/b", sigv2) is None


# -- against a scripted server --------------------------------------------------------------------


class _Scripted(ThreadingHTTPServer):
    """Answers each PUT with the next scripted (status, headers, body); records the requests."""

    daemon_threads = True

    def __init__(self, answers):
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.answers = list(answers)
        self.requests: list[dict] = []


class _ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers),
                                     "body": body})  # fmt: skip
        status, headers, data = self.server.answers.pop(0)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted():
    servers = []

    def _make(*answers):
        server = _Scripted(answers)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        url = f"http://127.0.0.1:{server.server_address[1]}/bucket/"
        return server, _lean.LeanS3Put(_Creds(), url=url, region="us-east-1", ca_bundle=None)

    yield _make
    for server in servers:
        server.shutdown()
        server.server_close()


def _error(code: str, message: str = "no") -> bytes:
    return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


def _doc(tmp_path):
    body = b"%PDF-1.4 the document %%EOF\n"
    path = tmp_path / "doc.pdf"
    path.write_bytes(body)
    return str(path), len(body), hashlib.sha256(body).hexdigest(), body


def test_a_put_retries_slow_down_then_returns_what_boto3_returns(scripted, tmp_path, monkeypatch):
    monkeypatch.setattr(_lean.time, "sleep", lambda s: None)
    ok = {"ETag": '"etag-1"', "x-amz-version-id": "v1", "x-amz-checksum-sha256": "c2hh"}
    server, put = scripted((503, {}, _error("SlowDown")), (500, {}, b""), (200, ok, b""))
    path, size, sha, body = _doc(tmp_path)
    resp = put.put("inv/Retail EU/doc.pdf", path, size, sha, ContentType="application/pdf",
                   Metadata={"invoicekit-sha256": sha})  # fmt: skip
    assert (resp["ETag"], resp["VersionId"], resp["ChecksumSHA256"]) == ('"etag-1"', "v1", "c2hh")
    assert resp["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(server.requests) == 3
    last = server.requests[-1]
    assert last["path"] == "/bucket/inv/Retail%20EU/doc.pdf"
    assert last["body"] == body  # the whole file, sent again on each attempt
    assert last["headers"]["x-amz-content-sha256"] == sha
    assert last["headers"]["x-amz-meta-invoicekit-sha256"] == sha
    assert last["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIA")


def test_a_put_still_slowed_down_after_the_retries_is_marked_as_botocore_marks_it(
    scripted, tmp_path, monkeypatch
):
    from botocore.exceptions import ClientError

    monkeypatch.setattr(_lean.time, "sleep", lambda s: None)
    server, put = scripted(*[(503, {}, _error("SlowDown"))] * 3)
    put.max_attempts = 2
    path, size, sha, _ = _doc(tmp_path)
    with pytest.raises(ClientError) as err:
        put.put("inv/doc.pdf", path, size, sha)
    meta = err.value.response["ResponseMetadata"]
    assert err.value.response["Error"]["Code"] == "SlowDown"
    assert meta["MaxAttemptsReached"] is True and meta["RetryAttempts"] == 2
    assert len(server.requests) == 3  # the first try and two retries


def test_a_refusal_is_botocores_client_error_and_is_not_retried(scripted, tmp_path):
    from botocore.exceptions import ClientError

    server, put = scripted((403, {}, _error("AccessDenied", "Access Denied")))
    path, size, sha, _ = _doc(tmp_path)
    with pytest.raises(ClientError) as info:
        put.put("inv/doc.pdf", path, size, sha)
    assert info.value.response["Error"] == {"Code": "AccessDenied", "Message": "Access Denied"}
    assert info.value.operation_name == "PutObject" and len(server.requests) == 1
    assert "c2VjcmV0" not in str(info.value)  # no secret in the error


def test_a_redirect_hands_the_bucket_to_botocore(scripted, tmp_path):
    _, put = scripted((301, {}, _error("PermanentRedirect")))
    path, size, sha, _ = _doc(tmp_path)
    with pytest.raises(_lean.UseBotocore):
        put.put("inv/doc.pdf", path, size, sha)


def test_an_unreachable_endpoint_is_botocores_error_after_the_retries(tmp_path, monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    monkeypatch.setattr(_lean.time, "sleep", lambda s: None)
    put = _lean.LeanS3Put(_Creds(), url="http://127.0.0.1:9/bucket/", region="us-east-1",
                          ca_bundle=None, max_attempts=1)  # fmt: skip
    path, size, sha, _ = _doc(tmp_path)
    with pytest.raises(EndpointConnectionError):
        put.put("inv/doc.pdf", path, size, sha)


# -- into moto's S3 server ------------------------------------------------------------------------


def test_lean_and_boto3_store_the_same_objects(make_sandbox, s3_server, s3_bucket, monkeypatch,
                                               counted_puts):  # fmt: skip
    sb = make_sandbox(accounts=2, months=2)
    fleet, df = _summaries(sb)
    bucket, s3 = s3_bucket(object_lock=True)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    with clock.pinned(NOW):
        lock = retention("GOVERNANCE", retain_until=FAR, legal_hold=True)
        lean = download_invoice_pdfs(df, f"s3://{bucket}/lean", fleet=fleet, progress=False,
                                     retention=lock, template=TEMPLATE)  # fmt: skip
        ref = download_invoice_pdfs(df, f"s3://{bucket}/ref", fleet=fleet, progress=False,
                                    retention=lock, template=TEMPLATE, client="boto3")  # fmt: skip
    assert set(lean["status"]) == {"downloaded"} == set(ref["status"])
    assert sorted(counted_puts) == sorted(f"lean/{p}" for p in lean["path"])  # all lean...
    assert any(" " in k and "(" in k for k in counted_puts)  # ...keys with a space included
    assert run_report(lean).api_calls == run_report(ref).api_calls > 0
    lean_rows, ref_rows = _manifest(s3, bucket, "lean"), _manifest(s3, bucket, "ref")
    assert lean_rows.keys() == ref_rows.keys()
    kept = ("path", "bytes", "sha256", "object_lock_mode", "retain_until", "legal_hold")
    for key, row in lean_rows.items():
        assert {k: row[k] for k in kept} == {k: ref_rows[key][k] for k in kept}
        heads = [s3.head_object(Bucket=bucket, Key=f"{p}/{row['path']}", ChecksumMode="ENABLED")
                 for p in ("lean", "ref")]  # fmt: skip
        for head in heads:  # the manifest's version is the object's, and so is its ETag
            assert head["ChecksumSHA256"] == _b64(sb.org.render_pdf(key[2]))
        assert heads[0]["VersionId"] == row["version_id"]
        assert heads[0]["ETag"].strip('"') == row["etag"]
        same = ("ContentType", "ContentLength", "ChecksumSHA256", "ObjectLockMode",
                "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus", "Metadata")  # fmt: skip
        assert {k: heads[0].get(k) for k in same} == {k: heads[1].get(k) for k in same}


def test_a_client_given_is_used_as_it_is(make_sandbox, s3_bucket, counted_puts):
    sb = make_sandbox(accounts=1, months=1)
    fleet, df = _summaries(sb)
    bucket, s3 = s3_bucket()
    sent = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(1))
    try:
        result = download_invoice_pdfs(df, f"s3://{bucket}/given", fleet=fleet, progress=False,
                                       s3_client=s3)  # fmt: skip
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject")
    assert set(result["status"]) == {"downloaded"}
    assert counted_puts == [] and len(sent) >= len(result)  # documents (and the manifest)


def test_a_redirected_lean_put_is_sent_again_by_botocore(make_sandbox, s3_bucket, scripted,
                                                         tmp_path):  # fmt: skip
    from invoicekit.archive.s3 import S3Location, S3Store

    bucket, s3 = s3_bucket()
    _, lean = scripted((301, {}, _error("PermanentRedirect")))
    store = S3Store(s3, S3Location.parse(f"s3://{bucket}/x"), lean_put=lean)
    path, size, sha, body = _doc(tmp_path)
    Got = namedtuple("Got", "temp_path bytes sha256")
    resp = store._put_file("x/doc.pdf", Got(path, size, sha), {"ContentType": "application/pdf"})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200 and store.lean_put is None
    assert s3.get_object(Bucket=bucket, Key="x/doc.pdf")["Body"].read() == body


# -- GetInvoicePDF -----------------------------------------------------------------------------


def test_lean_and_boto3_give_the_same_local_archive(make_sandbox, tmp_path):
    sb = make_sandbox(accounts=2, months=2)
    fleet, df = _summaries(sb)
    runs = {}
    for client in ("lean", "boto3"):
        sb.reset_stats()
        result = download_invoice_pdfs(df, tmp_path / client, fleet=fleet, progress=False,
                                       client=client)  # fmt: skip
        runs[client] = (result, sb.stats()["requests"].get("GetInvoicePDF", {}))
    (lean, lean_gets), (ref, ref_gets) = runs["lean"], runs["boto3"]
    cols = ["account_id", "invoice_id", "document_id", "status", "path", "bytes", "sha256"]
    assert (
        lean[cols].sort_values("path").values.tolist()
        == ref[cols].sort_values("path").values.tolist()
    )
    assert run_report(lean).api_calls == run_report(ref).api_calls == len(df)
    assert sum(lean_gets.values()) == sum(ref_gets.values()) == len(df)


def test_an_unknown_client_is_refused_naming_the_flag(tmp_path):
    from invoicekit.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="--client 'curl': use one of lean, boto3"):
        download_invoice_pdfs(["INV-1"], tmp_path, client="curl")
