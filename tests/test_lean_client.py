"""The lean client (invoicekit._lean) against the boto3 reference path, on the same sandbox.

Both paths must give the same frames, the same failure reports (a denied account, a request the
API refuses), refresh assumed-role credentials during a run, honour endpoint overrides, and
never put a secret in a log line or an error.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from datetime import UTC, datetime

import pandas as pd
import pytest

from invoicekit import _lean, run_report
from invoicekit.fleet import Fleet, load_fleet
from invoicekit.loader import read_invoice_summaries

START, END = "2026-05", "2026-10"


def _read(sb, client: str, **kw) -> pd.DataFrame:
    kw.setdefault("progress", False)
    return read_invoice_summaries(load_fleet(sb.fleet_config), START, END, client=client, **kw)


def _failures(df: pd.DataFrame) -> list[dict]:
    return sorted(
        ({k: v for k, v in f.items()} for f in df.attrs["failures"]),
        key=lambda f: (f["account_id"], f["code"]),
    )


@pytest.mark.filterwarnings("ignore:invoice .* different content")
def test_lean_and_boto3_give_identical_frames_and_calls(make_sandbox) -> None:
    sb = make_sandbox(accounts=4, months=6, anomalies=True)
    # small pages: every window needs several pages (NextToken) on both paths
    ref = _read(sb, "boto3", max_results=1)
    lean = _read(sb, "lean", max_results=1)
    pd.testing.assert_frame_equal(ref, lean)
    # the same invoices as the sandbox's organization holds for these months
    months = {f"2026-{m:02d}" for m in range(5, 11)}
    expected = {
        i["InvoiceId"]
        for i in sb.org.invoices
        if f"{i['BillingPeriod']['Year']:04d}-{i['BillingPeriod']['Month']:02d}" in months
    }
    assert set(lean["invoice_id"]) == expected
    assert lean.attrs["api_calls"] == ref.attrs["api_calls"] > 4 * 6
    assert run_report(lean).extra["client"] == "lean"
    assert run_report(ref).extra["client"] == "boto3"


def test_lean_and_boto3_report_a_denied_account_identically(make_sandbox) -> None:
    sb = make_sandbox(accounts=3, months=6)
    denied = sb.org.accounts[1].account_id
    sb.deny(denied)
    ref, lean = _read(sb, "boto3"), _read(sb, "lean")
    pd.testing.assert_frame_equal(ref, lean)
    assert denied not in set(lean["account_id"])
    assert _failures(lean) == _failures(ref)
    (failure,) = _failures(lean)
    assert failure["account_id"] == denied and failure["code"] == "AccessDeniedException"


def test_lean_and_boto3_report_a_refused_request_identically(make_sandbox, monkeypatch) -> None:
    from invoicekit.months import Window

    sb = make_sandbox(accounts=2, months=3)

    def inverted(self):  # EndDate before StartDate: the API answers ValidationException
        return {"TimeInterval": {"StartDate": datetime(2026, 9, 1, tzinfo=UTC),
                                 "EndDate": datetime(2026, 8, 1, tzinfo=UTC)}}  # fmt: skip

    monkeypatch.setattr(Window, "api_filter", inverted)
    ref, lean = _read(sb, "boto3"), _read(sb, "lean")
    assert len(ref) == len(lean) == 0
    assert _failures(lean) == _failures(ref)
    assert {f["code"] for f in _failures(lean)} == {"ValidationException"}
    # a refused window costs one call, no retry, on both paths
    assert lean.attrs["api_calls"] == ref.attrs["api_calls"]


def test_the_signature_is_botocores(monkeypatch) -> None:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    now = datetime(2026, 11, 25, 10, 30, 15, tzinfo=UTC)
    creds = ReadOnlyCredentials("ASIAEXAMPLEEXAMPLE01", "c2VjcmV0LXNlY3JldA", "session/token==")
    body = b'{"Selector":{"ResourceType":"ACCOUNT_ID","Value":"111111111111"}}'
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "Invoicing.ListInvoiceSummaries",
        "User-Agent": "test",
    }
    ours = _lean.sign_v4(
        creds, region="us-east-1", service="invoicing", host="127.0.0.1:8123", path="/",
        body=body, headers=headers, now=now,
    )  # fmt: skip
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now.replace(tzinfo=None))
    request = AWSRequest(method="POST", url="http://127.0.0.1:8123/", data=body, headers=headers)
    botocore.auth.SigV4Auth(creds, "invoicing", "us-east-1").add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Security-Token"] == request.headers["X-Amz-Security-Token"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
    # the headers left unsigned are botocore's
    assert frozenset(botocore.auth.SIGNED_HEADERS_BLACKLIST) == _lean._UNSIGNED_HEADERS


def test_the_lean_client_follows_the_standard_endpoint_override(make_sandbox, monkeypatch) -> None:
    sb = make_sandbox(accounts=1, months=2)
    acct = sb.org.accounts[0]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", acct.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", acct.secret_access_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL_INVOICING", sb.endpoint_url)
    fleet = Fleet.from_accounts([acct.account_id])  # no endpoint_url in the fleet
    df = read_invoice_summaries(fleet, "2026-09", "2026-10", client="lean", progress=False)
    assert not df.attrs["failures"] and len(df)
    assert sb.stats()["requests"]["ListInvoiceSummaries"] == {acct.account_id: 2}


@pytest.mark.slow
@pytest.mark.parametrize("client", ["lean", "boto3"])
def test_credentials_refresh_during_a_long_run(make_sandbox, client) -> None:
    # role sessions of at most 2 s (3 s with the sandbox's rounding); paced at 1.5 requests/s,
    # the role account's 6 windows take > 3 s, so its credentials must be renewed mid-run
    sb = make_sandbox(accounts=2, months=6, role_session_max_s=2)
    fleet = load_fleet(sb.fleet_config)
    role = next(a for a in fleet if a.role_arn)
    df = read_invoice_summaries(
        fleet, START, END, client=client, rate_per_account=1.5, per_account=1, progress=False
    )
    assert not df.attrs["failures"]
    assert set(df["account_id"]) == {a.id for a in fleet}
    assert sb.stats()["requests"]["AssumeRole"][role.id] >= 2  # renewed, no ExpiredToken
    assert sb.stats()["errors"] == 0


def test_no_secret_in_logs_or_errors_on_the_lean_path(make_sandbox, caplog) -> None:
    sb = make_sandbox(accounts=3, months=2)
    denied = sb.org.accounts[2].account_id
    sb.deny(denied)
    caplog.set_level(logging.DEBUG)
    df = _read(sb, "lean")
    assert [f["account_id"] for f in df.attrs["failures"]] == [denied]
    secrets = {sb.org.org_secret_access_key} | {a.secret_access_key for a in sb.org.accounts}
    # botocore's own DEBUG lines (the STS answer it logs) are botocore's; everything the
    # loader and the lean client log or raise is checked
    ours = [r for r in caplog.records if not r.name.startswith("botocore")]
    text = "\n".join(r.getMessage() for r in ours) + repr(df.attrs["failures"])
    for secret in secrets:
        assert secret not in text
    assert "X-Amz-Security-Token" not in text and "Signature=" not in text


def test_connection_errors_are_botocores_after_the_retries(monkeypatch) -> None:
    from botocore.exceptions import EndpointConnectionError

    monkeypatch.setattr(_lean.time, "sleep", lambda s: None)
    Creds = namedtuple("Creds", "access_key secret_key token")

    class Session:
        region_name = "us-east-1"

        def get_credentials(self):
            class C:
                def get_frozen_credentials(self):
                    return Creds("AKIAEXAMPLEEXAMPLE00", "secret", None)

            return C()

    import boto3

    monkeypatch.setattr(_lean, "_model_for", lambda s: _lean._Model(
        boto3.Session(region_name="us-east-1").client(
            "invoicing", aws_access_key_id="a", aws_secret_access_key="b"
        ).meta.service_model))  # fmt: skip
    client = _lean.LeanClient(Session(), endpoint_url="http://127.0.0.1:9", max_attempts=2)
    with pytest.raises(EndpointConnectionError) as info:
        client.list_invoice_summaries(Selector={"ResourceType": "ACCOUNT_ID", "Value": "1"})
    assert "secret" not in str(info.value)
