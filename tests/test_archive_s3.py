"""The audit archive in S3 (moto's S3 server on loopback, the sandbox for the documents).

Upload with checksums S3 stores, Object Lock retention read back with ``head_object``, a locked
version that cannot be deleted, the GOVERNANCE bypass header, a tampered newer version caught
by verify and repaired as a new version, buckets without Object Lock or versioning refused,
re-runs without a GetInvoicePDF call, and the fault run of the local archive ending with the
same checksums. Expected values come from the sandbox's organization (``render_pdf``), not from
what invoicekit wrote.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import timedelta

import pytest

from invoicekit import clock
from invoicekit.archive import download_invoice_pdfs, read_manifest, verify_archive
from invoicekit.archive.manifest import S3_MANIFEST_COLUMNS, parse_manifest
from invoicekit.archive.s3 import S3Location, retention
from invoicekit.errors import InvalidArgumentError

MONTH = "2026-10"
NOW = "2026-11-25T09:00:00Z"
#: S3 enforces a lock by its own clock, not the pinned business "now": far enough ahead.
FAR = "2099-12-31"


def _summaries(sb, start=MONTH, end=MONTH):
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries

    fleet = load_fleet(sb.fleet_config)
    return fleet, read_invoice_summaries(fleet, start, end, progress=False)


def _gets(sb) -> int:
    return sum(sb.stats()["requests"].get("GetInvoicePDF", {}).values())


def _manifest(client, bucket, prefix="inv/"):
    body = client.get_object(Bucket=bucket, Key=f"{prefix}manifest.csv")["Body"].read()
    return {
        (r["account_id"], r["invoice_id"], r["document_id"]): r
        for r in parse_manifest(body, "manifest.csv", S3_MANIFEST_COLUMNS).rows
    }


def _versions(client, bucket, prefix="inv/"):
    out: dict[str, list[str]] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for v in page.get("Versions", []):
            out.setdefault(v["Key"], []).append(v["VersionId"])
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture
def small(make_sandbox):
    sb = make_sandbox(accounts=2, months=2)
    fleet, df = _summaries(sb)
    return sb, fleet, df


def test_documents_are_put_with_checksums_and_the_lock_asked(small, s3_bucket, tmp_path):
    sb, fleet, df = small
    bucket, s3 = s3_bucket(object_lock=True)
    with clock.pinned(NOW):
        lock = retention("GOVERNANCE", retain_days=30, legal_hold=True)
        result = download_invoice_pdfs(
            df, f"s3://{bucket}/inv", fleet=fleet, progress=False, retention=lock,
            s3_client=s3, manifest_copy=tmp_path / "manifest-copy.csv",
        )  # fmt: skip
    assert set(result["status"]) == {"downloaded"}
    assert result.attrs["dest"] == f"s3://{bucket}/inv"
    manifest = _manifest(s3, bucket)
    expected_docs = {
        (inv["AccountId"], inv["InvoiceId"], d.document_id)
        for inv in sb.org.invoices
        if f"{inv['BillingPeriod']['Year']:04d}-{inv['BillingPeriod']['Month']:02d}" == MONTH
        for d in sb.org.documents_for(inv["InvoiceId"])
    }
    assert set(manifest) == expected_docs and len(expected_docs) >= 4
    until = clock.parse(NOW) + timedelta(days=30)
    for (_a, _i, doc_id), row in manifest.items():
        body = sb.org.render_pdf(doc_id)
        assert row["sha256"] == hashlib.sha256(body).hexdigest()
        assert int(row["bytes"]) == len(body)
        head = s3.head_object(Bucket=bucket, Key=f"inv/{row['path']}", ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == _b64(body)  # the checksum S3 stored = the manifest's
        assert head["VersionId"] == row["version_id"]
        assert head["ObjectLockMode"] == "GOVERNANCE" == row["object_lock_mode"]
        assert head["ObjectLockRetainUntilDate"] == until
        assert row["retain_until"] == clock.utc_iso(until)
        assert head["ObjectLockLegalHoldStatus"] == "ON" and row["legal_hold"] == "ON"
        assert head["Metadata"]["invoicekit-document-id"] == doc_id
        blob = repr(head["Metadata"])
        assert "X-Amz" not in blob and "Signature" not in blob and "?" not in blob
    # the same naming template as a local archive
    local = download_invoice_pdfs(df, tmp_path / "local", fleet=fleet, progress=False)
    assert sorted(local["path"]) == sorted(r["path"] for r in manifest.values())
    # the local copy of the manifest is the manifest object
    copy = read_manifest(tmp_path / "manifest-copy.csv", S3_MANIFEST_COLUMNS).rows
    assert {(r["account_id"], r["invoice_id"], r["document_id"]): r for r in copy} == manifest


def test_a_rerun_calls_no_api_and_adds_no_version(small, s3_bucket):
    sb, fleet, df = small
    bucket, s3 = s3_bucket(object_lock=True)
    with clock.pinned(NOW):
        lock = retention("COMPLIANCE", retain_until="2027-01-31")
        first = download_invoice_pdfs(df, f"s3://{bucket}/inv", fleet=fleet, progress=False,
                                      retention=lock, s3_client=s3)  # fmt: skip
        before = _versions(s3, bucket)
        sb.reset_stats()
        again = download_invoice_pdfs(df, f"s3://{bucket}/inv", fleet=fleet, progress=False,
                                      retention=lock, s3_client=s3)  # fmt: skip
    assert set(again["status"]) == {"skipped"} and len(again) == len(first)
    assert _gets(sb) == 0
    import invoicekit

    assert invoicekit.run_report(again).api_calls == 0
    assert _versions(s3, bucket) == before  # not even a new manifest version
    assert all(len(v) == 1 for k, v in before.items() if not k.endswith("manifest.csv"))


def test_a_locked_version_is_not_deleted_and_governance_yields_only_to_the_bypass_header(
    small, s3_bucket
):
    from botocore.exceptions import ClientError

    sb, fleet, df = small
    one = df[df["invoice_id"] == df["invoice_id"].iloc[0]]
    for mode in ("COMPLIANCE", "GOVERNANCE"):
        bucket, s3 = s3_bucket(object_lock=True)
        with clock.pinned(NOW):
            download_invoice_pdfs(one, f"s3://{bucket}/inv", fleet=fleet, progress=False,
                                  retention=retention(mode, retain_until=FAR), s3_client=s3,
                                  supplemental=False)  # fmt: skip
        row = next(iter(_manifest(s3, bucket).values()))
        key = f"inv/{row['path']}"
        with pytest.raises(ClientError) as info:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=row["version_id"])
        assert info.value.response["Error"]["Code"] == "AccessDenied"
        if mode == "GOVERNANCE":
            s3.delete_object(
                Bucket=bucket, Key=key, VersionId=row["version_id"], BypassGovernanceRetention=True
            )
            assert key not in _versions(s3, bucket)
        else:
            with pytest.raises(ClientError):
                s3.delete_object(
                    Bucket=bucket,
                    Key=key,
                    VersionId=row["version_id"],
                    BypassGovernanceRetention=True,
                )
            assert _versions(s3, bucket)[key] == [row["version_id"]]


def test_a_tampered_newer_version_is_caught_and_the_next_run_adds_a_good_version(small, s3_bucket):
    sb, fleet, df = small
    bucket, s3 = s3_bucket(object_lock=True)
    url = f"s3://{bucket}/inv"
    with clock.pinned(NOW):
        lock = retention("COMPLIANCE", retain_until=FAR)
        download_invoice_pdfs(df, url, fleet=fleet, progress=False, retention=lock, s3_client=s3)
        assert verify_archive(url, summaries=df, s3_client=s3).ok
        manifest = _manifest(s3, bucket)
        (acct, inv, doc), row = sorted(manifest.items())[0]
        key = f"inv/{row['path']}"
        forged = b"%PDF-1.7 forged invoice %%EOF\n"
        # a newer version with a checksum that matches its bytes, and one whose checksum lies
        s3.put_object(Bucket=bucket, Key=key, Body=forged, ChecksumAlgorithm="SHA256",
                      ChecksumSHA256=_b64(forged))  # fmt: skip
        report = verify_archive(url, summaries=df, s3_client=s3)
        assert not report.ok
        bad = report.problems[report.problems["problem"] == "corrupt"]
        assert list(bad["document_id"]) == [doc]
        assert "current version" in bad["detail"].iloc[0]
        # a main document altered leaves its invoice without an intact PDF (completeness)
        assert set(report.problems["problem"]) <= {"corrupt", "no_document"}
        # ... and with the manifest's checksum claimed (moto accepts it; verify re-hashes)
        s3.put_object(Bucket=bucket, Key=key, Body=forged, ChecksumAlgorithm="SHA256",
                      ChecksumSHA256=base64.b64encode(bytes.fromhex(row["sha256"])).decode())  # fmt: skip
        report = verify_archive(url, s3_client=s3)
        assert list(report.problems["problem"]) == ["corrupt"]

        sb.reset_stats()
        again = download_invoice_pdfs(df, url, fleet=fleet, progress=False, retention=lock,
                                      s3_client=s3)  # fmt: skip
    assert set(again.loc[again["document_id"] == doc, "status"]) == {"downloaded"}
    assert set(again.loc[again["document_id"] != doc, "status"]) == {"skipped"}
    assert _gets(sb) == 1  # only the tampered document's invoice was asked for again
    versions = _versions(s3, bucket)[key]
    assert len(versions) == 4 and row["version_id"] in versions  # nothing replaced silently
    now_row = _manifest(s3, bucket)[(acct, inv, doc)]
    head = s3.head_object(Bucket=bucket, Key=key)
    assert now_row["version_id"] == head["VersionId"] != row["version_id"]
    assert now_row["sha256"] == row["sha256"]
    with clock.pinned(NOW):
        assert verify_archive(url, summaries=df, s3_client=s3).ok


@pytest.mark.parametrize("versioning", [False, True])
def test_a_lock_asked_of_a_bucket_without_object_lock_is_refused_before_any_request(
    small, s3_bucket, versioning
):
    sb, fleet, df = small
    bucket, s3 = s3_bucket(object_lock=False, versioning=versioning)
    sb.reset_stats()
    with pytest.raises(InvalidArgumentError) as info:
        download_invoice_pdfs(df, f"s3://{bucket}/inv", fleet=fleet, progress=False,
                              retention=retention(legal_hold=True), s3_client=s3)  # fmt: skip
    message = str(info.value)
    assert "\n" not in message and "Object Lock" in message and bucket in message
    assert _gets(sb) == 0
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_retention_options_are_validated():
    with clock.pinned(NOW):
        with pytest.raises(
            InvalidArgumentError, match="needs --retain-until DATE or --retain-days N"
        ):
            retention("COMPLIANCE")
        with pytest.raises(InvalidArgumentError, match="--object-lock-mode"):
            retention(retain_days=3)
        with pytest.raises(InvalidArgumentError, match="not after now"):
            retention("GOVERNANCE", retain_until="2026-01-01")
        with pytest.raises(InvalidArgumentError, match="--object-lock-mode"):
            retention("FOREVER", retain_days=1)
        assert retention("compliance", retain_days=1).retain_until == clock.parse(
            "2026-11-26T09:00:00Z"
        )
    with pytest.raises(InvalidArgumentError, match="bucket name"):
        S3Location.parse("s3://Bad_Bucket/x")


def test_verify_reports_missing_unexpected_unlocked_and_incomplete(make_sandbox, s3_bucket):
    sb = make_sandbox(accounts=2, months=2)
    fleet, df = _summaries(sb, "2026-09", "2026-10")
    bucket, s3 = s3_bucket(object_lock=True)
    url = f"s3://{bucket}/inv"
    october = df[df["billing_period"].astype(str) == MONTH]
    with clock.pinned(NOW):
        download_invoice_pdfs(october, url, fleet=fleet, progress=False, s3_client=s3,
                              retention=retention(legal_hold=True))  # fmt: skip
    rows = sorted(_manifest(s3, bucket).values(), key=lambda r: r["path"])
    gone, unheld = rows[0], rows[1]
    s3.put_object_legal_hold(Bucket=bucket, Key=f"inv/{gone['path']}", LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=bucket, Key=f"inv/{gone['path']}")  # a delete marker on top
    s3.put_object_legal_hold(
        Bucket=bucket, Key=f"inv/{unheld['path']}", LegalHold={"Status": "OFF"}
    )
    s3.put_object(Bucket=bucket, Key="inv/2026-10/stray.pdf", Body=b"%PDF-1.4 %%EOF")
    with clock.pinned(NOW):
        report = verify_archive(url, summaries=df, s3_client=s3)
    found = {
        (p["problem"], p["path"] if isinstance(p["path"], str) else p["invoice_id"])
        for p in report.problems.to_dict("records")
    }
    assert ("missing", gone["path"]) in found
    assert ("unlocked", unheld["path"]) in found
    assert ("unexpected", "2026-10/stray.pdf") in found
    september = set(df.loc[df["billing_period"].astype(str) == "2026-09", "invoice_id"])
    assert {i for p, i in found if p == "no_document"} >= september
    assert report.invoices_expected == len(df)


@pytest.mark.slow
def test_the_fault_run_ends_with_the_same_checksums(make_sandbox, s3_bucket, caplog, capsys):
    from invoicekit.fleet import load_fleet
    from tests.test_pdfs_reliability import FAULTS, SIGNATURE, TOKEN_PARAM

    faulty = make_sandbox(accounts=4, months=4, faults=FAULTS)
    clean = make_sandbox(accounts=4, months=4)
    _f, df = _summaries(clean, "2026-07", "2026-10")
    bucket, s3 = s3_bucket(object_lock=True)
    for name in ("urllib3", "botocore.parsers", "botocore.endpoint", "invoicekit"):
        caplog.set_level(logging.DEBUG, logger=name)
    fleet = load_fleet(faulty.fleet_config)
    with clock.pinned(NOW):
        got = download_invoice_pdfs(df, f"s3://{bucket}/inv", fleet=fleet, progress=False,
                                    max_workers=8, s3_client=s3,
                                    retention=retention("GOVERNANCE", retain_until=FAR))  # fmt: skip
    assert set(got["status"]) == {"downloaded"}, got.loc[got["status"] != "downloaded", "error"]
    manifest = _manifest(s3, bucket)
    assert len(manifest) >= 20
    for (_a, _i, doc_id), row in manifest.items():
        assert row["sha256"] == hashlib.sha256(clean.org.render_pdf(doc_id)).hexdigest()
    stats = faulty.stats()
    assert stats["throttled"] > 0
    assert stats["errors"] + stats.get("dropped", 0) + stats.get("truncated", 0) > 0
    with clock.pinned(NOW):
        assert verify_archive(f"s3://{bucket}/inv", summaries=df, s3_client=s3).ok
    out, err = capsys.readouterr()
    blob = "\n".join([r.getMessage() for r in caplog.records] + [out, err, got.to_csv()])
    blob += s3.get_object(Bucket=bucket, Key="inv/manifest.csv")["Body"].read().decode()
    assert not SIGNATURE.search(blob) and not TOKEN_PARAM.search(blob)


def test_objects_stored_before_the_manifest_was_written_are_adopted(small, s3_bucket):
    sb, fleet, df = small
    bucket, s3 = s3_bucket(object_lock=True)
    url = f"s3://{bucket}/inv"
    with clock.pinned(NOW):
        first = download_invoice_pdfs(df, url, fleet=fleet, progress=False, s3_client=s3,
                                      retention=retention("GOVERNANCE", retain_until=FAR))  # fmt: skip
        before = _versions(s3, bucket)
        # as if the run had been killed before its first manifest commit
        s3.delete_object(Bucket=bucket, Key="inv/manifest.csv")
        sb.reset_stats()
        again = download_invoice_pdfs(df, url, fleet=fleet, progress=False, s3_client=s3)
    assert set(again["status"]) == {"skipped"} and len(again) == len(first)
    assert _gets(sb) == 0
    after = _versions(s3, bucket)
    assert {k: v for k, v in after.items() if k.endswith(".pdf")} == {
        k: v for k, v in before.items() if k.endswith(".pdf")
    }
    adopted = _manifest(s3, bucket)
    assert {r["sha256"] for r in adopted.values()} == set(first["sha256"])
    assert {r["object_lock_mode"] for r in adopted.values()} == {"GOVERNANCE"}


def test_a_close_pack_is_uploaded_locked_and_verified_in_the_bucket(s3_bucket, tmp_path):
    from invoicekit.close import upload_pack, verify_pack, write_sha256sums

    pack = tmp_path / "2026-10"
    (pack / "archive" / "2026-10").mkdir(parents=True)
    (pack / "run.json").write_text('{"format": "invoicekit-close-pack/1"}\n')
    (pack / "archive" / "2026-10" / "E-1.pdf").write_bytes(b"%PDF-1.4 one %%EOF\n")
    assert write_sha256sums(pack) == 2
    bucket, s3 = s3_bucket(object_lock=True)
    with clock.pinned(NOW):
        lock = retention("COMPLIANCE", retain_until=FAR)
        check = upload_pack(pack, f"s3://{bucket}/closes", retention=lock, s3_client=s3)
    assert check.ok and check.checked == 2 and str(check.path) == f"s3://{bucket}/closes/2026-10"
    for rel in ("run.json", "archive/2026-10/E-1.pdf", "SHA256SUMS"):
        head = s3.head_object(Bucket=bucket, Key=f"closes/2026-10/{rel}", ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == _b64((pack / rel).read_bytes())
        assert head["ObjectLockMode"] == "COMPLIANCE"
    before = _versions(s3, bucket, "closes/")
    upload_pack(pack, f"s3://{bucket}/closes", retention=lock, s3_client=s3)  # idempotent
    assert _versions(s3, bucket, "closes/") == before
    s3.put_object(Bucket=bucket, Key="closes/2026-10/run.json", Body=b"{}\n")
    altered = verify_pack(f"s3://{bucket}/closes/2026-10", s3_client=s3)
    assert not altered.ok and altered.changed == ["run.json"]
    with pytest.raises(InvalidArgumentError, match="Object Lock"):
        plain, _ = s3_bucket(object_lock=False)
        upload_pack(pack, f"s3://{plain}/closes", retention=lock, s3_client=s3)


def test_a_shortened_compliance_retention_is_reported_unlocked(small, s3_bucket):
    from datetime import UTC, datetime

    sb, fleet, df = small
    bucket, s3 = s3_bucket(object_lock=True)
    url = f"s3://{bucket}/inv"
    with clock.pinned(NOW):
        download_invoice_pdfs(df, url, fleet=fleet, progress=False, s3_client=s3,
                              retention=retention("COMPLIANCE", retain_until=FAR))  # fmt: skip
    row = sorted(_manifest(s3, bucket).values(), key=lambda r: r["path"])[0]
    # AWS refuses this in COMPLIANCE mode; moto accepts it, so verify must not rely on AWS
    s3.put_object_retention(
        Bucket=bucket,
        Key=f"inv/{row['path']}",
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": datetime(2098, 1, 1, tzinfo=UTC)},
    )
    with clock.pinned(NOW):
        report = verify_archive(url, s3_client=s3)
    assert list(report.problems["problem"]) == ["unlocked"]
    assert list(report.problems["path"]) == [row["path"]]
    assert "shortened" in report.problems["detail"].iloc[0]


def test_sse_kms_encrypts_every_object(small, s3_bucket, s3_server):
    import boto3

    sb, fleet, df = small
    bucket, s3 = s3_bucket(object_lock=True)
    kms = boto3.client("kms", endpoint_url=s3_server, region_name="us-east-1")
    key_id = kms.create_key(Description="invoice archive")["KeyMetadata"]["KeyId"]
    url = f"s3://{bucket}/inv"
    with clock.pinned(NOW):
        download_invoice_pdfs(df, url, fleet=fleet, progress=False, s3_client=s3,
                              sse_kms_key_id=key_id)  # fmt: skip
        sb.reset_stats()
        again = download_invoice_pdfs(df, url, fleet=fleet, progress=False, s3_client=s3,
                                      sse_kms_key_id=key_id)  # fmt: skip
    assert set(again["status"]) == {"skipped"} and _gets(sb) == 0
    for row in _manifest(s3, bucket).values():
        head = s3.head_object(Bucket=bucket, Key=f"inv/{row['path']}")
        assert head["ServerSideEncryption"] == "aws:kms"
        assert key_id in head["SSEKMSKeyId"]
    head = s3.head_object(Bucket=bucket, Key="inv/manifest.csv")
    assert head["ServerSideEncryption"] == "aws:kms"
    with clock.pinned(NOW):
        assert verify_archive(url, summaries=df, s3_client=s3).ok


def test_a_refused_put_fails_that_document_alone_and_the_next_run_completes(
    small, s3_bucket, s3_server
):
    import boto3
    from botocore.awsrequest import AWSResponse

    import invoicekit

    sb, fleet, df = small
    bucket, _shared = s3_bucket(object_lock=True)
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    target = df["invoice_id"].iloc[0]

    class _Raw:
        def stream(self, *args, **kwargs):
            yield b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"

    def deny(request, **_):
        if request.method == "PUT" and f"/{target}.pdf" in request.url:
            return AWSResponse(request.url, 403, {}, _Raw())
        return None

    s3.meta.events.register("before-send.s3.PutObject", deny)
    url = f"s3://{bucket}/inv"
    first = download_invoice_pdfs(df, url, fleet=fleet, progress=False, s3_client=s3)
    failed = first[first["status"] == "failed"]
    assert list(failed["document_id"]) == [target]
    assert "AccessDenied" in failed["error"].iloc[0] and f"{url}/" in failed["error"].iloc[0]
    assert "X-Amz" not in failed["error"].iloc[0]
    assert set(first.loc[first["status"] != "failed", "status"]) == {"downloaded"}
    report = invoicekit.run_report(first)
    assert [(f.document_id, f.code) for f in report.failures] == [(target, "AccessDenied")]
    assert target not in {k[2] for k in _manifest(s3, bucket)}  # the main document is not

    s3.meta.events.unregister("before-send.s3.PutObject", deny)
    sb.reset_stats()
    again = download_invoice_pdfs(df, url, fleet=fleet, progress=False, s3_client=s3)
    assert set(again.loc[again["document_id"] == target, "status"]) == {"downloaded"}
    assert (again["status"] == "skipped").sum() == len(again) - 1
    assert _gets(sb) == 1


def test_a_loopback_s3_server_that_cannot_start_says_why_and_how_to_fix_it(monkeypatch):
    from invoicekit.sandbox import s3

    monkeypatch.setattr(s3, "_SERVE", "raise SystemExit('No module named moto')")
    with pytest.raises(RuntimeError) as err:
        with s3.s3_server():
            pass  # pragma: no cover - never reached
    message = str(err.value)
    assert "did not start" in message and "No module named moto" in message
    assert "pip install 'moto[server]'" in message and "\n" not in message
