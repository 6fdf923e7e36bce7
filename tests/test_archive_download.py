"""invoicekit.archive.download: one retry loop (botocore's), typed outcomes, refusal without
credentials, and counts in the documents vocabulary (against the sandbox)."""

from __future__ import annotations

import pytest

from invoicekit import documents, outcomes
from invoicekit.archive import (
    DOWNLOADED,
    FAILED,
    download_invoice_pdfs,
)
from invoicekit.errors import ConfigError

MONTH = "2026-10"


def _gets(sb) -> dict[str, int]:
    return dict(sb.stats()["requests"].get("GetInvoicePDF", {}))


def _summaries(sb):
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries

    fleet = load_fleet(sb.fleet_config)
    return fleet, read_invoice_summaries(fleet, MONTH, MONTH, progress=False)


def test_a_throttled_get_invoice_pdf_is_retried_by_botocore_alone(
    make_sandbox, tmp_path, monkeypatch
):
    from invoicekit import _client
    from invoicekit.sandbox import Faults

    sb = make_sandbox(
        accounts=1, months=1, faults=Faults(throttle_rate=1.0, operations=["GetInvoicePDF"])
    )
    fleet, df = _summaries(sb)
    monkeypatch.setattr(_client, "MAX_ATTEMPTS", 2)  # botocore: 1 try + 2 retries
    result = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False, max_workers=2)

    sent = sum(_gets(sb).values())
    # exactly botocore's attempts per invoice: no downloader loop on top (was 4 x botocore's)
    assert sent == 3 * len(df)
    report = outcomes.run_report(result)
    assert report.operation == "download" and report.api_calls == sent  # retries counted
    assert result.attrs["api_calls"] == sent
    assert set(result["status"]) == {FAILED}
    assert {(f.invoice_id, f.document_id) for f in report.failures} == set(
        zip(df["invoice_id"], df["invoice_id"], strict=True)
    )
    assert {f.code for f in report.failures} == {"ThrottlingException"}
    assert {f.operation for f in report.failures} == {"GetInvoicePDF"}
    assert not any(f.config for f in report.failures)
    assert result.attrs["failures"] == [f.as_dict() for f in report.failures]


def test_run_report_counts_documents_by_kind_and_status(make_sandbox, tmp_path):
    sb = make_sandbox(accounts=3, months=2)
    fleet, df = _summaries(sb)
    result = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    report = outcomes.run_report(result)
    assert report.ok and report.failures == [] and result.attrs["dest"] == str(tmp_path.resolve())
    assert report.api_calls == len(df) == sum(_gets(sb).values())

    main = result[result["document_type"] == documents.MAIN_DOCUMENT]
    expected_kinds = documents.count(df)
    assert {k: int((main["kind"] == k).sum()) for k in documents.KINDS} == expected_kinds
    supplements = int((result["document_type"] != documents.MAIN_DOCUMENT).sum())
    counts = documents.count_documents(result)
    assert counts == {
        **{k: n for k, n in expected_kinds.items() if n},
        **({documents.SUPPLEMENTAL_DOCUMENT: supplements} if supplements else {}),
    }
    assert report.counts == {**counts, DOWNLOADED: len(result), "skipped": 0, FAILED: 0}
    assert documents.describe_documents(counts).startswith(f"{len(result)} documents: ")

    again = download_invoice_pdfs(df, tmp_path, fleet=fleet, progress=False)
    assert outcomes.run_report(again).counts["skipped"] == len(result)
    assert documents.count_documents(again) == counts  # skipped documents keep their kind


def _fleet_without_credentials(tmp_path, account_ids, endpoint):
    import yaml

    (tmp_path / "aws-config").write_text(
        f"[profile empty]\nregion = us-east-1\nendpoint_url = {endpoint}\n"
    )
    (tmp_path / "aws-credentials").write_text("")
    path = tmp_path / "fleet.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "aws_config_file": "aws-config",
                "aws_shared_credentials_file": "aws-credentials",
                "accounts": [{"id": a, "profile": "empty"} for a in account_ids],
            }
        )
    )
    return path


def test_no_usable_credentials_are_refused_before_any_request(make_sandbox, tmp_path, monkeypatch):
    import boto3

    from invoicekit.fleet import load_fleet

    sb = make_sandbox(accounts=2, months=1)
    _, df = _summaries(sb)
    accounts = sorted(set(df["account_id"]))
    before = _gets(sb)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_INVOICING", sb.endpoint_url)

    fleet = load_fleet(_fleet_without_credentials(tmp_path, accounts, sb.endpoint_url))
    with pytest.raises(ConfigError) as info:
        download_invoice_pdfs(df, tmp_path / "a", fleet=fleet, progress=False)
    message = str(info.value)
    assert accounts[0] in message and "profile 'empty'" in message and "\n" not in message
    assert "1 more account" in message

    with pytest.raises(ConfigError) as info:  # the default chain, one session for all
        download_invoice_pdfs(df, tmp_path / "b", session=boto3.Session(), progress=False)
    assert all(a in str(info.value) for a in accounts) and "fleet" in str(info.value)
    assert _gets(sb) == before  # not one request


def test_an_account_without_credentials_fails_alone_with_a_config_failure(make_sandbox, tmp_path):
    from invoicekit.fleet import Fleet, load_fleet

    sb = make_sandbox(accounts=2, months=1)
    fleet, df = _summaries(sb)
    good = fleet.accounts[0]
    bad_path = _fleet_without_credentials(tmp_path, [fleet.accounts[1].id], sb.endpoint_url)
    bad = load_fleet(bad_path).accounts[0]
    mixed = Fleet(
        accounts=(good, bad),
        config_file=fleet.config_file,
        credentials_file=fleet.credentials_file,
    )
    result = download_invoice_pdfs(df, tmp_path / "a", fleet=mixed, progress=False)
    report = outcomes.run_report(result)
    assert {f.account_id for f in report.failures} == {bad.id}
    assert all(f.config and f.operation == "setup" for f in report.failures)
    assert set(result.loc[result["account_id"] == good.id, "status"]) == {DOWNLOADED}
