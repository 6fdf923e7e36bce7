"""``invoicekit download --dest s3://...`` and ``invoicekit verify s3://...``: the archive
bucket reached through the fleet file's ``archive:`` section, exit codes (0, 1, 2), and a run
killed with SIGKILL that the next run completes without a duplicate version."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from invoicekit.cli import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, main

TODAY = "2026-11-25"
NOW = "2026-11-25T09:00:00Z"
RANGE = ["--from", "2026-09", "--to", "2026-10"]


def _fleet_with_archive(sb, tmp_path: Path, endpoint: str) -> Path:
    """The sandbox's fleet file plus an ``archive:`` section pointing at the S3 server."""
    src = Path(sb.fleet_config)
    data = yaml.safe_load(src.read_text())
    for key in ("aws_config_file", "aws_shared_credentials_file"):
        if key in data:
            data[key] = str((src.parent / data[key]).resolve())
    data["archive"] = {"endpoint_url": endpoint, "region": "us-east-1"}
    path = tmp_path / "fleet-s3.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _gets(sb) -> int:
    return sum(sb.stats()["requests"].get("GetInvoicePDF", {}).values())


def _versions(client, bucket: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            out[v["Key"]] = out.get(v["Key"], 0) + 1
    return out


def _expected_documents(org, months: set[str]) -> set[str]:
    return {
        d.document_id
        for inv in org.invoices
        if f"{inv['BillingPeriod']['Year']:04d}-{inv['BillingPeriod']['Month']:02d}" in months
        for d in org.documents_for(inv["InvoiceId"])
    }


@pytest.mark.parametrize("client", ["lean", "boto3"])
def test_download_into_a_locked_bucket_then_verify(
    make_sandbox, s3_server, s3_bucket, tmp_path, capsys, counted_puts, client
):
    from invoicekit.archive.manifest import S3_MANIFEST_COLUMNS, read_manifest

    sb = make_sandbox(accounts=2, months=2)
    fleet = _fleet_with_archive(sb, tmp_path, s3_server)
    bucket, s3 = s3_bucket(object_lock=True)
    dest = f"s3://{bucket}/archive/invoices"
    copy = tmp_path / "manifest.csv"
    args = ["--now", NOW, "download", "--config", str(fleet), *RANGE, "--dest", dest,
            "--object-lock-mode", "governance", "--retain-until", "2099-01-01", "--legal-hold",
            "--manifest-copy", str(copy), "--client", client, "--no-progress"]  # fmt: skip
    code, out, err = _run(capsys, *args)
    assert code == EXIT_OK, out + err
    expected = _expected_documents(sb.org, {"2026-09", "2026-10"})
    assert f"downloaded: {len(expected)}, already archived: 0, failed: 0" in out
    assert len(counted_puts) == (len(expected) if client == "lean" else 0)  # --client decides
    assert dest in out
    rows = read_manifest(copy, S3_MANIFEST_COLUMNS).rows
    assert {r["document_id"] for r in rows} == expected
    assert {r["object_lock_mode"] for r in rows} == {"GOVERNANCE"}
    head = s3.head_object(Bucket=bucket, Key=f"archive/invoices/{rows[0]['path']}")
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockLegalHoldStatus"] == "ON"

    sb.reset_stats()
    code, out, err = _run(capsys, *args)
    assert code == EXIT_OK, out + err
    assert f"downloaded: 0, already archived: {len(expected)}, failed: 0" in out
    assert "API calls: 0" in out and _gets(sb) == 0

    code, out, err = _run(capsys, "--now", NOW, "verify", dest, "--config", str(fleet), *RANGE,
                          "--no-progress")  # fmt: skip
    assert code == EXIT_OK, out + err
    assert "no problems" in out

    # a document altered in place (a newer version): verify finds it, exit 1
    s3.put_object(Bucket=bucket, Key=f"archive/invoices/{rows[0]['path']}",
                  Body=b"%PDF-1.4 altered %%EOF\n")  # fmt: skip
    code, out, err = _run(capsys, "--now", NOW, "verify", dest, "--config", str(fleet),
                          "--no-progress")  # fmt: skip
    assert code == EXIT_FINDINGS
    assert re.search(rf"^corrupt: {re.escape(rows[0]['path'])} ", out, re.MULTILINE)


def test_a_lock_on_a_plain_bucket_is_refused_in_one_line(
    make_sandbox, s3_server, s3_bucket, tmp_path, capsys
):
    sb = make_sandbox(accounts=1, months=1)
    fleet = _fleet_with_archive(sb, tmp_path, s3_server)
    bucket, s3 = s3_bucket(object_lock=False, versioning=True)
    sb.reset_stats()
    code, out, err = _run(capsys, "download", "--config", str(fleet), "--from", "2026-10", "--to",
                          "2026-10", "--dest", f"s3://{bucket}/x", "--object-lock-mode",
                          "COMPLIANCE", "--retain-days", "30", "--no-progress")  # fmt: skip
    assert code == EXIT_BAD_INPUT
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--object-lock-mode" in lines[0] and "Object Lock" in lines[0]
    assert _gets(sb) == 0 and s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_s3_options_need_an_s3_destination(tmp_path, capsys):
    code, out, err = _run(capsys, "download", "--summaries", str(tmp_path / "none.parquet"),
                          "--dest", str(tmp_path / "a"), "--legal-hold")  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert "--legal-hold applies to an S3 destination only" in err


@pytest.mark.slow
def test_a_killed_run_resumes_without_duplicate_versions(s3_server, s3_bucket, tmp_path):
    from invoicekit.sandbox import start
    from invoicekit.sandbox.org import build_organization

    bucket, s3 = s3_bucket(object_lock=True)
    dest = f"s3://{bucket}/inv"
    with start(in_process=False, accounts=3, months=6, today=TODAY, latency_ms=200) as sb:
        fleet = _fleet_with_archive(sb, tmp_path, s3_server)
        cmd = [sys.executable, "-m", "invoicekit", "--now", NOW, "download", "--config",
               str(fleet), "--from", "2026-05", "--to", "2026-10", "--dest", dest,
               "--object-lock-mode", "COMPLIANCE", "--retain-until", "2099-01-01",
               "--max-workers", "2", "--no-progress"]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                if s3.list_objects_v2(Bucket=bucket, Prefix="inv/2026").get("KeyCount", 0) >= 3:
                    break
                time.sleep(0.05)
            time.sleep(0.3)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the download finished before it was killed"
        stored = s3.list_objects_v2(Bucket=bucket, Prefix="inv/2026").get("KeyCount", 0)
        assert stored >= 3

        again = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        assert again.returncode == 0, again.stdout + again.stderr
        skipped = int(re.search(r"already archived: (\d+)", again.stdout).group(1))
        assert skipped >= stored  # what the killed run stored was adopted, not put again

        check = subprocess.run(
            [sys.executable, "-m", "invoicekit", "--now", NOW, "verify", dest, "--config",
             str(fleet), "--from", "2026-05", "--to", "2026-10", "--no-progress"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr

    org = build_organization(seed=7, accounts=3, months=6, today=TODAY)
    expected = _expected_documents(org, {f"2026-{m:02d}" for m in range(5, 11)})
    versions = _versions(s3, bucket)
    documents = {k: n for k, n in versions.items() if k.endswith(".pdf")}
    assert len(documents) == len(expected)
    assert set(documents.values()) == {1}  # no document was put twice


def test_the_fleet_archive_section_is_validated_and_reaches_the_bucket(
    make_sandbox, s3_server, s3_bucket, tmp_path
):
    from invoicekit.archive.download import _Accounts
    from invoicekit.archive.s3 import archive_client
    from invoicekit.errors import ConfigError
    from invoicekit.fleet import load_fleet

    bad = tmp_path / "bad.yml"
    bad.write_text('accounts:\n  - id: "111111111111"\narchive:\n  endpont_url: http://x:1\n')
    with pytest.raises(ConfigError) as info:
        load_fleet(bad)
    assert "archive: unknown key 'endpont_url'" in str(info.value) and info.value.line == 4
    bad.write_text('accounts:\n  - id: "111111111111"\narchive:\n  external_id: abc\n')
    with pytest.raises(ConfigError, match="only used with 'role_arn'"):
        load_fleet(bad)

    # a role for the bucket, assumed through the archive endpoint's STS (moto answers it)
    sb = make_sandbox(accounts=1, months=1)
    path = _fleet_with_archive(sb, tmp_path, s3_server)
    data = yaml.safe_load(path.read_text())
    data["archive"]["role_arn"] = "arn:aws:iam::999999999999:role/InvoiceArchiveWriter"
    data["archive"]["external_id"] = "finops-archive"
    path.write_text(yaml.safe_dump(data))
    fleet = load_fleet(path)
    assert fleet.archive["role_arn"].endswith("InvoiceArchiveWriter")
    bucket, _s3 = s3_bucket(object_lock=True)
    client = archive_client(fleet)
    assert client.meta.endpoint_url == s3_server
    assert client.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    creds = fleet.archive_session().get_credentials().get_frozen_credentials()
    assert creds.token  # assumed-role credentials, not the environment's keys
    assert creds.access_key != os.environ["AWS_ACCESS_KEY_ID"]

    # the archive's endpoint never joins the document download allowlist
    accounts = _Accounts(fleet, None, 4)
    acct = fleet.account_ids[0]
    accounts.prepare(acct)
    origins = {f"{o.scheme}://{o.host}:{o.port}" for o in accounts.prepared[acct].origins}
    assert s3_server not in origins
    from invoicekit._http import FetchError, check_document_url

    with pytest.raises(FetchError):
        check_document_url(f"{s3_server}/{bucket}/a.pdf", accounts.prepared[acct].origins)


def test_close_uploads_the_pack_to_the_bucket(make_sandbox, s3_server, s3_bucket, tmp_path, capsys):
    from invoicekit.close import verify_pack

    sb = make_sandbox(accounts=2, months=2)
    fleet = _fleet_with_archive(sb, tmp_path, s3_server)
    bucket, s3 = s3_bucket(object_lock=True)
    code, out, err = _run(capsys, "--now", NOW, "close", "--config", str(fleet), "--month",
                          "2026-10", "--dest", str(tmp_path / "closes"), "--lookback", "1",
                          "--upload", f"s3://{bucket}/closes", "--object-lock-mode",
                          "COMPLIANCE", "--retain-until", "2099-01-01", "--no-progress")  # fmt: skip
    import json

    from invoicekit.close import EXIT_CODES

    status = json.loads((tmp_path / "closes" / "2026-10" / "run.json").read_text())["status"]
    assert code == EXIT_CODES[status], out + err  # the close's own code: the upload verified
    assert f"Uploaded the pack to s3://{bucket}/closes/2026-10:" in out
    check = verify_pack(f"s3://{bucket}/closes/2026-10", s3_client=s3)
    local = verify_pack(tmp_path / "closes" / "2026-10")
    assert check.ok and local.ok and check.checked == local.checked > 3
    head = s3.head_object(Bucket=bucket, Key="closes/2026-10/run.json")
    assert head["ObjectLockMode"] == "COMPLIANCE"


def test_without_an_archive_section_the_standard_chain_and_endpoint_apply(
    s3_server, s3_bucket, monkeypatch
):
    from invoicekit.archive.s3 import archive_client
    from invoicekit.fleet import Fleet

    bucket, _ = s3_bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    for client in (archive_client(), archive_client(Fleet.from_accounts(["111111111111"]))):
        assert client.meta.endpoint_url == s3_server
        assert client.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_verify_of_a_missing_bucket_or_manifest_is_bad_input(
    s3_server, s3_bucket, monkeypatch, capsys
):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    bucket, _ = s3_bucket()
    code, out, err = _run(capsys, "verify", f"s3://{bucket}/nothing-here", "--no-progress")
    assert code == EXIT_BAD_INPUT
    assert "has no manifest.csv: not an invoicekit archive" in err
    code, out, err = _run(capsys, "verify", f"s3://{bucket}-absent/x", "--no-progress")
    assert code == EXIT_BAD_INPUT
    assert len(err.strip().splitlines()) == 1 and "does not exist" in err
