"""The sandbox speaks AWS Invoicing (JSON 1.0), STS and presigned documents as boto3 expects.

A small organization (4 accounts x 4 months) keeps these tests fast; the checks compare what
the wire returns with the organization model it serves.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import logging
import re
import socket
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from pypdf import PdfReader

from invoicekit.sandbox import start

TODAY = "2026-11-25"
NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture(scope="module")
def sb():
    with start(accounts=4, months=4, today=TODAY) as handle:
        yield handle


def client_for(sb, account, service: str = "invoicing", config: Config = NO_RETRY):
    return boto3.client(
        service,
        endpoint_url=sb.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=account.access_key_id,
        aws_secret_access_key=account.secret_access_key,
        config=config,
    )


def org_client(sb, service: str = "sts"):
    return boto3.client(
        service,
        endpoint_url=sb.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=sb.org.org_access_key_id,
        aws_secret_access_key=sb.org.org_secret_access_key,
        config=NO_RETRY,
    )


def raw_call(
    sb,
    body: bytes,
    *,
    target: str | None = "Invoicing.ListInvoiceSummaries",
    key: str | None = None,
    secret: str | None = None,
    token: str | None = None,
    service: str = "invoicing",
    content_type: str = "application/x-amz-json-1.0",
    sign: bool = True,
    body_after_signing: bytes | None = None,
):
    """POST a hand-made request (signed like botocore) and return (status, headers, body)."""
    headers = {"Content-Type": content_type}
    if target is not None:
        headers["X-Amz-Target"] = target
    request = AWSRequest(method="POST", url=sb.endpoint_url + "/", data=body, headers=headers)
    if sign:
        SigV4Auth(Credentials(key, secret, token), service, "us-east-1").add_auth(request)
    sent = dict(request.prepare().headers)
    payload = body if body_after_signing is None else body_after_signing
    sent["Content-Length"] = str(len(payload))
    parts = urlsplit(sb.endpoint_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", "/", body=payload, headers=sent)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def account_raw(sb, account, body: dict | bytes, **kw):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw_call(sb, data, key=account.access_key_id, secret=account.secret_access_key, **kw)


def by_period(sb, account, year: int, month: int) -> list[str]:
    return [
        inv["InvoiceId"]
        for inv in sb.org.invoices_for(account.account_id)
        if (inv["BillingPeriod"]["Year"], inv["BillingPeriod"]["Month"]) == (year, month)
    ]


# -- a walker over botocore's output shapes ------------------------------------------------------


def shape_problems(shape, value, path: str = "") -> list[str]:
    """Every way ``value`` (raw wire JSON) departs from the botocore ``shape``."""
    problems: list[str] = []
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object for {shape.name}"]
        for name in getattr(shape, "required_members", []):
            if name not in value:
                problems.append(f"{path}.{name}: required member missing")
        for name, member_value in value.items():
            if name not in shape.members:
                problems.append(f"{path}.{name}: not a member of {shape.name}")
            else:
                problems += shape_problems(shape.members[name], member_value, f"{path}.{name}")
    elif t == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        for i, item in enumerate(value):
            problems += shape_problems(shape.member, item, f"{path}[{i}]")
    elif t == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {type(value).__name__}"]
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in {shape.enum}")
        if "min" in meta and len(value) < meta["min"]:
            problems.append(f"{path}: shorter than {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: longer than {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {meta['pattern']}")
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected an integer, got {value!r}"]
        if "min" in meta and value < meta["min"]:
            problems.append(f"{path}: below {meta['min']}")
        if "max" in meta and value > meta["max"]:
            problems.append(f"{path}: above {meta['max']}")
    elif t == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{path}: expected epoch seconds, got {value!r}")
    else:
        problems.append(f"{path}: unexpected shape type {t}")
    return problems


@pytest.fixture(scope="module")
def model():
    return botocore.session.get_session().get_service_model("invoicing")


# -- ListInvoiceSummaries --------------------------------------------------------------------------


def test_paginator_returns_every_invoice_of_each_account_across_pages(sb):
    for account in sb.org.accounts:
        client = client_for(sb, account)
        paginator = client.get_paginator("list_invoice_summaries")
        for year, month in sb.org.periods:
            pages = list(
                paginator.paginate(
                    Selector={"ResourceType": "ACCOUNT_ID", "Value": account.account_id},
                    Filter={"BillingPeriod": {"Year": year, "Month": month}},
                    PaginationConfig={"PageSize": 1},
                )
            )
            got = [i["InvoiceId"] for p in pages for i in p["InvoiceSummaries"]]
            expected = by_period(sb, account, year, month)
            assert got == expected, (account.account_id, year, month)
            assert expected, "every account has an invoice every month (anomalies off)"
            assert len(pages) == max(1, len(expected))  # one invoice per page, no empty tail
            assert all(len(p["InvoiceSummaries"]) <= 1 for p in pages)


def test_list_wire_json_matches_the_botocore_output_shape_for_every_invoice(sb, model):
    shape = model.operation_model("ListInvoiceSummaries").output_shape
    seen = 0
    for account in sb.org.accounts:
        for year, month in sb.org.periods:
            status, headers, body = account_raw(
                sb,
                account,
                {
                    "Selector": {"ResourceType": "ACCOUNT_ID", "Value": account.account_id},
                    "Filter": {"BillingPeriod": {"Year": year, "Month": month}},
                },
            )
            assert status == 200
            assert headers["Content-Type"] == "application/x-amz-json-1.0"
            doc = json.loads(body)
            assert shape_problems(shape, doc) == []
            seen += len(doc["InvoiceSummaries"])
            for inv in doc["InvoiceSummaries"]:
                # epoch-number timestamps and decimal-string money, as on the AWS wire
                assert isinstance(inv["IssuedDate"], int | float)
                assert isinstance(inv["BaseCurrencyAmount"]["TotalAmount"], str)
                assert re.fullmatch(r"-?\d+(\.\d+)?", inv["BaseCurrencyAmount"]["TotalAmount"])
    assert seen == len(sb.org.invoices)


def test_parsed_response_equals_the_organization_model(sb):
    account = sb.org.accounts[0]
    year, month = sb.org.periods[-1]
    resp = client_for(sb, account).list_invoice_summaries(
        Selector={"ResourceType": "ACCOUNT_ID", "Value": account.account_id},
        Filter={"BillingPeriod": {"Year": year, "Month": month}},
    )
    first = resp["InvoiceSummaries"][0]
    model_inv = sb.org.invoices_by_id(first["InvoiceId"])[0]
    assert first["BaseCurrencyAmount"] == model_inv["BaseCurrencyAmount"]
    assert first["PaymentCurrencyAmount"] == model_inv["PaymentCurrencyAmount"]
    assert first["IssuedDate"] == datetime.fromtimestamp(model_inv["IssuedDate"], UTC)
    assert re.fullmatch(r"[0-9a-f-]{36}", resp["ResponseMetadata"]["RequestId"])
    assert "NextToken" not in resp


def test_time_interval_filters_on_issued_date_billing_period_on_billing_month(sb):
    account = sb.org.accounts[1]
    client = client_for(sb, account)
    start_dt, end_dt = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    resp = client.list_invoice_summaries(
        Selector={"ResourceType": "ACCOUNT_ID", "Value": account.account_id},
        Filter={"TimeInterval": {"StartDate": start_dt, "EndDate": end_dt}},
    )
    got = [i["InvoiceId"] for i in resp["InvoiceSummaries"]]
    expected = [
        i["InvoiceId"]
        for i in sb.org.invoices_for(account.account_id)
        if start_dt.timestamp() <= i["IssuedDate"] < end_dt.timestamp()
    ]
    assert got == expected and got
    # the October bill is issued in November: TimeInterval and BillingPeriod differ
    periods = {
        (i["BillingPeriod"]["Year"], i["BillingPeriod"]["Month"]) for i in resp["InvoiceSummaries"]
    }
    assert (2026, 10) in periods
    assert all(start_dt <= i["IssuedDate"] < end_dt for i in resp["InvoiceSummaries"])


def test_end_date_is_exclusive_and_start_date_inclusive(sb):
    account = sb.org.accounts[0]
    inv = sb.org.invoices_for(account.account_id)[-1]
    issued = inv["IssuedDate"]
    client = client_for(sb, account)
    sel = {"ResourceType": "ACCOUNT_ID", "Value": account.account_id}
    at = datetime.fromtimestamp(issued, UTC)
    hit = client.list_invoice_summaries(
        Selector=sel, Filter={"TimeInterval": {"StartDate": at, "EndDate": at + timedelta(days=1)}}
    )
    assert inv["InvoiceId"] in [i["InvoiceId"] for i in hit["InvoiceSummaries"]]
    miss = client.list_invoice_summaries(
        Selector=sel, Filter={"TimeInterval": {"StartDate": at - timedelta(days=10), "EndDate": at}}
    )
    assert inv["InvoiceId"] not in [i["InvoiceId"] for i in miss["InvoiceSummaries"]]


def test_invoice_id_selector_entity_and_receiver_role_filters(sb):
    account = sb.org.accounts[0]
    client = client_for(sb, account)
    inv = sb.org.invoices_for(account.account_id)[0]
    resp = client.list_invoice_summaries(
        Selector={"ResourceType": "INVOICE_ID", "Value": inv["InvoiceId"]}
    )
    assert [i["InvoiceId"] for i in resp["InvoiceSummaries"]] == [inv["InvoiceId"]]
    year, month = sb.org.periods[-1]
    sel = {"ResourceType": "ACCOUNT_ID", "Value": account.account_id}
    period = {"Year": year, "Month": month}
    entity = inv["Entity"]["InvoicingEntity"]
    same = client.list_invoice_summaries(
        Selector=sel, Filter={"BillingPeriod": period, "InvoicingEntity": entity}
    )["InvoiceSummaries"]
    assert same and all(i["Entity"]["InvoicingEntity"] == entity for i in same)
    other = client.list_invoice_summaries(
        Selector=sel, Filter={"BillingPeriod": period, "InvoicingEntity": "No Such Entity"}
    )["InvoiceSummaries"]
    assert other == []
    role = inv["ReceiverRole"]
    with_role = client.list_invoice_summaries(
        Selector=sel, Filter={"BillingPeriod": period, "ReceiverRole": role}
    )["InvoiceSummaries"]
    assert [i["InvoiceId"] for i in with_role] == by_period(sb, account, year, month)
    other_role = "SELLER" if role != "SELLER" else "RESELLER"
    assert (
        client.list_invoice_summaries(
            Selector=sel, Filter={"BillingPeriod": period, "ReceiverRole": other_role}
        )["InvoiceSummaries"]
        == []
    )


# -- validation: ValidationException with reason and fieldList ----------------------------------

ACCT = "100000000001"
SEL = {"ResourceType": "ACCOUNT_ID", "Value": ACCT}
OCT = {"BillingPeriod": {"Year": 2026, "Month": 10}}


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"Selector": SEL, "Filter": OCT, "MaxResults": 1000}, "MaxResults"),
        ({"Selector": SEL, "Filter": OCT, "MaxResults": 0}, "MaxResults"),
        (
            {"Selector": SEL, "Filter": {"BillingPeriod": {"Year": 2026, "Month": 13}}},
            "Filter.BillingPeriod.Month",
        ),
        (
            {"Selector": SEL, "Filter": {"BillingPeriod": {"Year": 2004, "Month": 1}}},
            "Filter.BillingPeriod.Year",
        ),
        (
            {"Selector": SEL, "Filter": {"BillingPeriod": {"Year": 2051, "Month": 1}}},
            "Filter.BillingPeriod.Year",
        ),
        (
            {"Selector": {"ResourceType": "ACCOUNT", "Value": ACCT}, "Filter": OCT},
            "Selector.ResourceType",
        ),
        (
            {"Selector": {"ResourceType": "ACCOUNT_ID", "Value": "1234"}, "Filter": OCT},
            "Selector.Value",
        ),
        (
            {"Selector": {"ResourceType": "ACCOUNT_ID", "Value": "x" * 2000}, "Filter": OCT},
            "Selector.Value",
        ),
        ({"Selector": {"ResourceType": "INVOICE_ID", "Value": "x" * 2000}}, "Selector.Value"),
        ({"Selector": {"ResourceType": "INVOICE_ID", "Value": ""}}, "Selector.Value"),
        ({"Selector": SEL, "Filter": {**OCT, "ReceiverRole": "OWNER"}}, "Filter.ReceiverRole"),
        (
            {"Selector": SEL, "Filter": {**OCT, "InvoicingEntity": "e" * 1100}},
            "Filter.InvoicingEntity",
        ),
        ({"Selector": SEL}, "Filter"),
        ({"Selector": SEL, "Filter": {"InvoicingEntity": "Amazon Web Services, Inc."}}, "Filter"),
        ({"Filter": OCT}, "Selector"),
        ({"Selector": {"ResourceType": "ACCOUNT_ID"}, "Filter": OCT}, "Selector.Value"),
        (
            {"Selector": SEL, "Filter": {"BillingPeriod": {"Year": 2026}}},
            "Filter.BillingPeriod.Month",
        ),
        (
            {"Selector": SEL, "Filter": {"TimeInterval": {"StartDate": _ts("2026-10-01")}}},
            "Filter.TimeInterval.EndDate",
        ),
        # end before / equal to start
        (
            {
                "Selector": SEL,
                "Filter": {
                    "TimeInterval": {"StartDate": _ts("2026-10-10"), "EndDate": _ts("2026-10-01")}
                },
            },
            "Filter.TimeInterval.EndDate",
        ),
        (
            {
                "Selector": SEL,
                "Filter": {
                    "TimeInterval": {"StartDate": _ts("2026-10-10"), "EndDate": _ts("2026-10-10")}
                },
            },
            "Filter.TimeInterval.EndDate",
        ),
        # more than the days of the start month without ReceiverRole (February: 28)
        (
            {
                "Selector": SEL,
                "Filter": {
                    "TimeInterval": {"StartDate": _ts("2026-02-01"), "EndDate": _ts("2026-03-02")}
                },
            },
            "Filter.TimeInterval",
        ),
        (
            {
                "Selector": SEL,
                "Filter": {
                    "TimeInterval": {"StartDate": _ts("2026-01-01"), "EndDate": _ts("2026-03-01")}
                },
            },
            "Filter.TimeInterval",
        ),
        # with ReceiverRole: not before 2025-06-01, at most 5 years
        (
            {
                "Selector": SEL,
                "Filter": {
                    "ReceiverRole": "BUYER",
                    "TimeInterval": {"StartDate": _ts("2025-05-01"), "EndDate": _ts("2025-07-01")},
                },
            },
            "Filter.TimeInterval.StartDate",
        ),
        (
            {
                "Selector": SEL,
                "Filter": {
                    "ReceiverRole": "BUYER",
                    "TimeInterval": {"StartDate": _ts("2025-06-01"), "EndDate": _ts("2031-06-02")},
                },
            },
            "Filter.TimeInterval",
        ),
        (
            {
                "Selector": SEL,
                "Filter": {"ReceiverRole": "BUYER", "BillingPeriod": {"Year": 2025, "Month": 5}},
            },
            "Filter.BillingPeriod",
        ),
    ],
)
def test_invalid_requests_get_validation_exception_naming_the_field(sb, body, field):
    account = sb.org.accounts[0]
    status, headers, raw = account_raw(sb, account, body)
    assert status == 400, raw
    doc = json.loads(raw)
    assert doc["__type"] == "com.amazonaws.invoicing#ValidationException"
    assert headers["x-amzn-ErrorType"] == "ValidationException"
    assert headers["x-amzn-RequestId"]
    assert doc["reason"] == "fieldValidationFailed"
    assert field in [f["name"] for f in doc["fieldList"]], doc
    assert doc["message"]


def test_windows_the_service_accepts_are_accepted(sb):
    client = client_for(sb, sb.org.accounts[0])
    ok = [
        {"TimeInterval": {"StartDate": datetime(2026, 2, 1), "EndDate": datetime(2026, 3, 1)}},
        {"TimeInterval": {"StartDate": datetime(2026, 10, 1), "EndDate": datetime(2026, 11, 1)}},
        {
            "ReceiverRole": "BUYER",
            "TimeInterval": {"StartDate": datetime(2025, 6, 1), "EndDate": datetime(2026, 12, 1)},
        },
        {"BillingPeriod": {"Year": 2005, "Month": 1}},
    ]
    for filt in ok:
        resp = client.list_invoice_summaries(Selector=SEL, Filter=filt)
        assert isinstance(resp["InvoiceSummaries"], list)
    year_span = client.list_invoice_summaries(Selector=SEL, Filter=ok[2])["InvoiceSummaries"]
    assert len(year_span) == len(sb.org.invoices_for(ACCT))


def test_validation_exception_is_the_modeled_class_with_reason_and_field_list(sb):
    client = client_for(sb, sb.org.accounts[0])
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.list_invoice_summaries(Selector=SEL, Filter=OCT, MaxResults=1000)
    err = info.value.response
    assert err["Error"]["Code"] == "ValidationException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["reason"] == "fieldValidationFailed"
    assert err["fieldList"][0]["name"] == "MaxResults"
    with pytest.raises(client.exceptions.ValidationException, match="cannot both be null"):
        client.list_invoice_summaries(Selector=SEL)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"Selector": "ACCOUNT_ID"}',
        b'{"Selector": {"ResourceType": 5}}',
        b'{"Selector": {"ResourceType": "ACCOUNT_ID", "Value": "100000000001"}, "MaxResults": "ten"}',
        b'{"Selector": {"ResourceType": "ACCOUNT_ID", "Value": "100000000001"}, "Filter": {"TimeInterval": {"StartDate": "yesterday", "EndDate": 1}}}',
        b"\xff\xfe",
    ],
)
def test_malformed_bodies_get_serialization_exception(sb, body):
    status, headers, raw = account_raw(sb, sb.org.accounts[0], body)
    assert status == 400
    assert json.loads(raw)["__type"].endswith("#SerializationException")
    assert headers["x-amzn-ErrorType"] == "SerializationException"


def test_unknown_operation_and_missing_target(sb):
    account = sb.org.accounts[0]
    for target in ("Invoicing.DeleteEverything", "Other.ListInvoiceSummaries", None):
        status, _, raw = account_raw(sb, account, b"{}", target=target)
        assert status == 400
        assert json.loads(raw)["__type"].endswith("#UnknownOperationException")


def test_next_token_is_opaque_bound_to_the_query_and_refuses_tampering(sb):
    account = sb.org.accounts[0]
    client = client_for(sb, account)
    year, month = sb.org.periods[-1]
    filt = {
        "ReceiverRole": "BUYER",
        "TimeInterval": {"StartDate": datetime(2025, 6, 1), "EndDate": datetime(2026, 12, 1)},
    }
    first = client.list_invoice_summaries(Selector=SEL, Filter=filt, MaxResults=1)
    token = first["NextToken"]
    assert account.account_id not in token and "offset" not in token
    second = client.list_invoice_summaries(Selector=SEL, Filter=filt, MaxResults=1, NextToken=token)
    assert second["InvoiceSummaries"][0]["InvoiceId"] != first["InvoiceSummaries"][0]["InvoiceId"]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad, kwargs in [
        (tampered, {"Filter": filt}),
        ("not-a-token", {"Filter": filt}),
        (token, {"Filter": {"BillingPeriod": {"Year": year, "Month": month}}}),  # other query
    ]:
        with pytest.raises(client.exceptions.ValidationException) as info:
            client.list_invoice_summaries(Selector=SEL, MaxResults=1, NextToken=bad, **kwargs)
        assert info.value.response["reason"] == "invalidNextToken"


# -- authentication and access ------------------------------------------------------------------


def test_unknown_key_is_unrecognized_and_wrong_secret_is_an_invalid_signature(sb):
    # conftest's fake default credentials mean nothing to the sandbox
    fake = boto3.client("invoicing", endpoint_url=sb.endpoint_url, config=NO_RETRY)
    with pytest.raises(ClientError) as info:
        fake.list_invoice_summaries(Selector=SEL, Filter=OCT)
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    account = sb.org.accounts[0]
    wrong = boto3.client(
        "invoicing",
        endpoint_url=sb.endpoint_url,
        aws_access_key_id=account.access_key_id,
        aws_secret_access_key="x" * 40,
        config=NO_RETRY,
    )
    with pytest.raises(ClientError) as info:
        wrong.list_invoice_summaries(Selector=SEL, Filter=OCT)
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_body_changed_after_signing_fails_the_signature_check(sb):
    account = sb.org.accounts[0]
    body = json.dumps({"Selector": SEL, "Filter": OCT}).encode()
    changed = body.replace(b"10", b"11")
    status, _, raw = account_raw(sb, account, body, body_after_signing=changed)
    assert status == 403
    assert json.loads(raw)["__type"].endswith("#InvalidSignatureException")
    status, _, raw = account_raw(sb, account, body, sign=False)
    assert status in (400, 403)
    assert json.loads(raw)["__type"].endswith("#MissingAuthenticationTokenException")
    status, _, raw = account_raw(sb, account, body, service="s3")  # scoped to the wrong service
    assert status == 403 and b"InvalidSignatureException" in raw


def test_an_account_reads_only_its_own_invoices(sb):
    a, b = sb.org.accounts[0], sb.org.accounts[1]
    client = client_for(sb, a)
    b_invoice = sb.org.invoices_for(b.account_id)[0]["InvoiceId"]
    with pytest.raises(client.exceptions.AccessDeniedException) as info:
        client.list_invoice_summaries(
            Selector={"ResourceType": "ACCOUNT_ID", "Value": b.account_id}, Filter=OCT
        )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.list_invoice_summaries(Selector={"ResourceType": "INVOICE_ID", "Value": b_invoice})
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.get_invoice_pdf(InvoiceId=b_invoice)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as info:
        client.get_invoice_pdf(InvoiceId="NO-SUCH-INVOICE")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.list_invoice_summaries(Selector={"ResourceType": "INVOICE_ID", "Value": "NOPE-1"})
    # the organization identity may assume roles, not read invoices itself
    org_invoicing = org_client(sb, "invoicing")
    with pytest.raises(org_invoicing.exceptions.AccessDeniedException):
        org_invoicing.list_invoice_summaries(Selector=SEL, Filter=OCT)


def test_deny_makes_one_accounts_credentials_get_access_denied(make_sandbox):
    sb = make_sandbox(accounts=3, months=2, deny_accounts=["100000000002"])
    denied, allowed = sb.org.accounts[1], sb.org.accounts[0]
    year, month = sb.org.periods[-1]
    f = {"BillingPeriod": {"Year": year, "Month": month}}
    c = client_for(sb, denied)
    with pytest.raises(c.exceptions.AccessDeniedException):
        c.list_invoice_summaries(
            Selector={"ResourceType": "ACCOUNT_ID", "Value": denied.account_id}, Filter=f
        )
    assert client_for(sb, allowed).list_invoice_summaries(
        Selector={"ResourceType": "ACCOUNT_ID", "Value": allowed.account_id}, Filter=f
    )["InvoiceSummaries"]
    sb.deny(denied.account_id, False)
    assert c.list_invoice_summaries(
        Selector={"ResourceType": "ACCOUNT_ID", "Value": denied.account_id}, Filter=f
    )["InvoiceSummaries"]
    sb.deny(allowed.account_id)
    with pytest.raises(ClientError, match="AccessDenied"):
        client_for(sb, allowed).get_invoice_pdf(
            InvoiceId=sb.org.invoices_for(allowed.account_id)[0]["InvoiceId"]
        )


# -- STS ------------------------------------------------------------------------------------------


def test_assume_role_with_the_external_id_reads_that_accounts_invoices(sb):
    sts = org_client(sb)
    assert sts.get_caller_identity()["Account"] == "100000000000"  # the org identity, index 0
    target = sb.org.accounts[2]
    resp = sts.assume_role(
        RoleArn=target.role_arn, RoleSessionName="finops", ExternalId=target.external_id
    )
    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    remaining = (creds["Expiration"] - datetime.now(UTC)).total_seconds()
    assert 3500 < remaining <= 3601  # default one hour (rounded up to the second)
    assert resp["AssumedRoleUser"]["Arn"].endswith(
        f":{target.account_id}:assumed-role/InvoiceReader/finops"
    )
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    who = session.client("sts", endpoint_url=sb.endpoint_url).get_caller_identity()
    assert who["Account"] == target.account_id
    client = session.client("invoicing", endpoint_url=sb.endpoint_url, config=NO_RETRY)
    year, month = sb.org.periods[-1]
    got = client.list_invoice_summaries(
        Selector={"ResourceType": "ACCOUNT_ID", "Value": target.account_id},
        Filter={"BillingPeriod": {"Year": year, "Month": month}},
    )["InvoiceSummaries"]
    assert [i["InvoiceId"] for i in got] == by_period(sb, target, year, month)
    with pytest.raises(client.exceptions.AccessDeniedException):  # still only that account
        client.list_invoice_summaries(Selector=SEL, Filter=OCT)
    # the session token is part of the credentials: without it the key is unknown
    bare = boto3.client(
        "invoicing",
        endpoint_url=sb.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        config=NO_RETRY,
    )
    with pytest.raises(ClientError, match="UnrecognizedClientException"):
        bare.list_invoice_summaries(Selector=SEL, Filter=OCT)


def test_assume_role_refuses_a_wrong_external_id_an_unknown_role_and_other_accounts(sb):
    sts = org_client(sb)
    target = sb.org.accounts[2]
    for kwargs in [
        {"RoleArn": target.role_arn, "ExternalId": "wrong"},
        {"RoleArn": target.role_arn},
        {
            "RoleArn": "arn:aws:iam::123456789012:role/InvoiceReader",
            "ExternalId": target.external_id,
        },
        {
            "RoleArn": f"arn:aws:iam::{target.account_id}:role/Admin",
            "ExternalId": target.external_id,
        },
    ]:
        with pytest.raises(ClientError) as info:
            sts.assume_role(RoleSessionName="finops", **kwargs)
        err = info.value.response
        assert err["Error"]["Code"] == "AccessDenied", kwargs
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert err["ResponseMetadata"]["RequestId"]
    # an account's own keys cannot assume another account's role
    other = client_for(sb, sb.org.accounts[0], "sts")
    with pytest.raises(ClientError, match="AccessDenied"):
        other.assume_role(
            RoleArn=target.role_arn, RoleSessionName="x1", ExternalId=target.external_id
        )
    with pytest.raises(ClientError) as info:
        sts.assume_role(
            RoleArn=target.role_arn,
            RoleSessionName="x1",
            ExternalId=target.external_id,
            DurationSeconds=50000,
        )
    assert info.value.response["Error"]["Code"] == "ValidationError"
    fake = boto3.client("sts", endpoint_url=sb.endpoint_url, config=NO_RETRY)
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        fake.get_caller_identity()


def test_expired_role_credentials_get_expired_token(make_sandbox):
    sb = make_sandbox(accounts=2, months=1, role_session_max_s=1)
    target = sb.org.accounts[1]
    creds = org_client(sb).assume_role(
        RoleArn=target.role_arn,
        RoleSessionName="short",
        ExternalId=target.external_id,
        DurationSeconds=900,
    )["Credentials"]
    remaining = (creds["Expiration"] - datetime.now(UTC)).total_seconds()
    assert remaining <= 2.0  # capped from 900 s
    time.sleep(max(0.0, remaining) + 0.1)
    client = boto3.client(
        "invoicing",
        endpoint_url=sb.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=NO_RETRY,
    )
    with pytest.raises(ClientError) as info:
        client.list_invoice_summaries(
            Selector={"ResourceType": "ACCOUNT_ID", "Value": target.account_id}, Filter=OCT
        )
    assert info.value.response["Error"]["Code"] == "ExpiredTokenException"


def test_fleet_config_reaches_every_account_through_profiles_and_roles(sb, monkeypatch):
    import yaml

    path = sb.fleet_config
    doc = yaml.safe_load(path.read_text())
    assert [a["id"] for a in doc["accounts"]] == [a.account_id for a in sb.org.accounts]
    assert any("role_arn" in a for a in doc["accounts"]) and any(
        "profile" in a for a in doc["accounts"]
    )
    config = path.parent / doc["aws_config_file"]
    creds = path.parent / doc["aws_shared_credentials_file"]
    assert f"endpoint_url = {sb.endpoint_url}" in config.read_text()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    for entry in doc["accounts"]:
        if "profile" in entry:
            session = boto3.Session(profile_name=entry["profile"])
        else:  # what the fleet loader does: the source profile assumes the role
            source = boto3.Session(profile_name=entry["source_profile"])
            c = source.client("sts").assume_role(
                RoleArn=entry["role_arn"], RoleSessionName="fleet", ExternalId=entry["external_id"]
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=c["AccessKeyId"],
                aws_secret_access_key=c["SecretAccessKey"],
                aws_session_token=c["SessionToken"],
                region_name="us-east-1",
            )
        client = session.client("invoicing", endpoint_url=sb.endpoint_url)
        resp = client.list_invoice_summaries(
            Selector={"ResourceType": "ACCOUNT_ID", "Value": entry["id"]}, Filter=OCT
        )
        assert resp["InvoiceSummaries"], entry
    # the AWS-config profile of a role account assumes the role by itself (endpoint included)
    role_entry = next(a for a in doc["accounts"] if "role_arn" in a)
    session = boto3.Session(profile_name=f"invoicekit-sandbox-{role_entry['id']}")
    assert session.client("sts").get_caller_identity()["Account"] == role_entry["id"]


# -- documents --------------------------------------------------------------------------------------


def test_get_invoice_pdf_urls_serve_pdfs_that_contain_their_invoice_id(sb, model):
    account = sb.org.accounts[0]
    client = client_for(sb, account)
    shape = model.operation_model("GetInvoicePDF").output_shape
    with_supplement = [
        i["InvoiceId"]
        for i in sb.org.invoices_for(account.account_id)
        if len(sb.org.documents_for(i["InvoiceId"])) > 1
    ]
    invoice_ids = [sb.org.invoices_for(account.account_id)[0]["InvoiceId"], *with_supplement[:1]]
    for invoice_id in invoice_ids:
        before = time.time()
        pdf = client.get_invoice_pdf(InvoiceId=invoice_id)["InvoicePDF"]
        assert pdf["InvoiceId"] == invoice_id
        lifetime = pdf["DocumentUrlExpirationDate"].timestamp() - before
        assert 898 <= lifetime <= 901
        url = pdf["DocumentUrl"]
        assert url.startswith(sb.endpoint_url + "/documents/")
        for param in (
            "X-Amz-Expires=900",
            "X-Amz-Signature=",
            "X-Amz-Security-Token=",
            "X-Amz-Credential=",
        ):
            assert param in url
        docs = sb.org.documents_for(invoice_id)
        supplemental = pdf["SupplementalDocuments"]
        assert [(d["DocumentId"], d["DocumentType"]) for d in supplemental] == [
            (d.document_id, d.document_type) for d in docs[1:]
        ]
        for document_url, document in [(url, docs[0])] + [
            (d["DocumentUrl"], docs[1 + i]) for i, d in enumerate(supplemental)
        ]:
            with urllib.request.urlopen(document_url, timeout=10) as resp:
                body = resp.read()
                assert resp.headers["Content-Type"] == "application/pdf"
                assert int(resp.headers["Content-Length"]) == len(body)
            assert body == sb.org.render_pdf(document.document_id)
            text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
            assert invoice_id in text
    # the raw wire answer matches the output shape too
    status, _, raw = account_raw(
        sb, account, {"InvoiceId": invoice_ids[0]}, target="Invoicing.GetInvoicePDF"
    )
    assert status == 200 and shape_problems(shape, json.loads(raw)) == []
    assert with_supplement, "the organization has supplemental documents"


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_tampered_document_urls_get_an_s3_style_403(sb):
    account = sb.org.accounts[0]
    invoices = sb.org.invoices_for(account.account_id)
    client = client_for(sb, account)
    url = client.get_invoice_pdf(InvoiceId=invoices[0]["InvoiceId"])["InvoicePDF"]["DocumentUrl"]
    other = client.get_invoice_pdf(InvoiceId=invoices[1]["InvoiceId"])["InvoicePDF"]["DocumentUrl"]
    sig = re.search(r"X-Amz-Signature=([0-9a-f]{64})", url).group(1)
    flipped = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    swapped = other.split("?")[0] + "?" + url.split("?")[1]  # a signature for another document
    longer = re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=99999", url)
    unsigned = url.split("?")[0]
    for bad in (flipped, swapped, longer, unsigned):
        status, body = _fetch(bad)
        assert status == 403, bad
        assert body.startswith(b"<?xml") and b"<Error><Code>" in body
        assert b"%PDF" not in body


def test_expired_document_urls_get_request_has_expired(make_sandbox):
    # URLs are signed at whole seconds (X-Amz-Date), so a 2 s URL lives 1-2 s: waiting for the
    # URL's own X-Amz-Date + X-Amz-Expires makes the first fetch certainly late and leaves a
    # fresh URL at least a second, whatever the signing second was.
    from urllib.parse import parse_qs, urlsplit

    sb = make_sandbox(accounts=1, months=1, url_lifetime_s=2)
    account = sb.org.accounts[0]
    client = client_for(sb, account)
    pdf = client.get_invoice_pdf(InvoiceId=sb.org.invoices[0]["InvoiceId"])["InvoicePDF"]
    assert "X-Amz-Expires=2&" in pdf["DocumentUrl"]
    q = parse_qs(urlsplit(pdf["DocumentUrl"]).query)
    signed = datetime.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expires_at = signed.timestamp() + int(q["X-Amz-Expires"][0])
    deadline = time.monotonic() + 5
    while time.time() < expires_at + 0.05:  # protocol time: the URL's own expiry
        assert time.monotonic() < deadline, "the URL did not expire within its lifetime"
        time.sleep(0.05)
    status, body = _fetch(pdf["DocumentUrl"])
    assert status == 403
    assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in body
    # a fresh GetInvoicePDF call is the remedy
    fresh = client.get_invoice_pdf(InvoiceId=sb.org.invoices[0]["InvoiceId"])["InvoicePDF"]
    assert _fetch(fresh["DocumentUrl"])[0] == 200


# -- admin, stats, lifecycle, secrets ------------------------------------------------------------


def test_admin_endpoints_and_stats(make_sandbox):
    sb = make_sandbox(accounts=2, months=2, anomalies=True)
    health = sb.admin("health")
    assert health["status"] == "ok" and health["accounts"] == 2
    org = sb.admin("org")
    assert [a["account_id"] for a in org["accounts"]] == [a.account_id for a in sb.org.accounts]
    assert org["accounts"][0]["role_arn"] and org["accounts"][0]["access_key_id"]
    anomalies = sb.admin("anomalies")
    assert anomalies == sb.anomalies() and anomalies
    assert {"kind", "check", "account_id", "billing_period"} <= set(anomalies[0])
    a = sb.org.accounts[0]
    client = client_for(sb, a)
    year, month = sb.org.periods[-1]
    sel = {"ResourceType": "ACCOUNT_ID", "Value": a.account_id}
    for _ in range(3):
        client.list_invoice_summaries(
            Selector=sel, Filter={"BillingPeriod": {"Year": year, "Month": month}}
        )
    with pytest.raises(client.exceptions.ValidationException):
        client.list_invoice_summaries(Selector=sel, MaxResults=500, Filter=OCT)
    pdf = client.get_invoice_pdf(InvoiceId=sb.org.invoices_for(a.account_id)[0]["InvoiceId"])
    status, body = _fetch(pdf["InvoicePDF"]["DocumentUrl"])
    assert status == 200
    stats = sb.stats()
    assert stats == sb.admin("stats")
    assert stats["requests"]["ListInvoiceSummaries"] == {a.account_id: 4}
    assert stats["requests"]["GetInvoicePDF"] == {a.account_id: 1}
    assert stats["requests"]["Document"] == {a.account_id: 1}
    assert stats["errors"] == 1 and stats["throttled"] == 0
    assert stats["bytes_served"] > len(body)
    sb.reset_stats()
    after = sb.stats()
    assert after["requests"]["ListInvoiceSummaries"] == {} and after["bytes_served"] == 0
    with pytest.raises(urllib.error.HTTPError) as info:
        sb.admin("nothing-here")
    assert info.value.code == 404


def test_keep_alive_connection_serves_many_requests_and_stop_closes_the_port(make_sandbox):
    sb = make_sandbox(accounts=1, months=1)
    parts = urlsplit(sb.endpoint_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    for _ in range(5):  # one TCP connection, several requests
        conn.request("GET", "/_sandbox/health")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.headers["x-amzn-RequestId"]
        resp.read()
    assert conn.sock is not None
    sb.stop()
    sb.stop()  # idempotent
    with pytest.raises(OSError):
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    assert not sb.fleet_config.exists()


def test_access_log_is_redacted(make_sandbox, caplog):
    sb = make_sandbox(accounts=1, months=1, access_log=True)
    account = sb.org.accounts[0]
    client = client_for(sb, account)
    with caplog.at_level(logging.INFO, logger="invoicekit.sandbox"):
        url = client.get_invoice_pdf(InvoiceId=sb.org.invoices[0]["InvoiceId"])["InvoicePDF"][
            "DocumentUrl"
        ]
        assert _fetch(url)[0] == 200
        assert _fetch(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))[0] == 403
        # the server thread logs a request after answering it: wait (bounded) for the last
        # lines, at the INFO level still (leaving at_level drops what is logged afterwards)
        deadline = time.monotonic() + 10
        while True:
            logged = "\n".join(r.getMessage() for r in caplog.records)
            if logged.count("/documents/") >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert "/documents/" in logged  # the access log is on
    signature = re.search(r"X-Amz-Signature=([0-9a-f]{64})", url).group(1)
    token = re.search(r"X-Amz-Security-Token=([^&]+)", url).group(1)
    assert signature not in logged and token not in logged
    assert account.access_key_id not in logged and account.secret_access_key not in logged


def test_same_seed_same_answers_and_document_bytes(make_sandbox):
    one = make_sandbox(accounts=2, months=2, seed=11)
    two = make_sandbox(accounts=2, months=2, seed=11)
    three = make_sandbox(accounts=2, months=2, seed=12)
    year, month = one.org.periods[-1]
    bodies, digests = [], []
    for sb in (one, two, three):
        account = sb.org.accounts[0]
        status, _, raw = account_raw(
            sb,
            account,
            {
                "Selector": {"ResourceType": "ACCOUNT_ID", "Value": account.account_id},
                "Filter": {"BillingPeriod": {"Year": year, "Month": month}},
            },
        )
        assert status == 200
        bodies.append(raw)
        invoice_id = json.loads(raw)["InvoiceSummaries"][0]["InvoiceId"]
        url = client_for(sb, account).get_invoice_pdf(InvoiceId=invoice_id)["InvoicePDF"][
            "DocumentUrl"
        ]
        digests.append(hashlib.sha256(_fetch(url)[1]).hexdigest())
    assert bodies[0] == bodies[1] and digests[0] == digests[1]
    assert bodies[0] != bodies[2]


def _raw_exchange(sb, data: bytes, wait_s: float = 5.0) -> bytes:
    parts = urlsplit(sb.endpoint_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=wait_s) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_broken_http_gets_an_answer_not_a_hang(sb, monkeypatch):
    import invoicekit.sandbox.server as server

    monkeypatch.setattr(server, "BODY_TIMEOUT_S", 0.3)
    head = (
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
        "X-Amz-Target: Invoicing.ListInvoiceSummaries\r\n"
    )
    # a body that never arrives in full; an absurd length; a request line that is not HTTP
    short = _raw_exchange(sb, (head + "Content-Length: 100\r\n\r\n{}").encode())
    huge = _raw_exchange(sb, (head + "Content-Length: 999999999\r\n\r\n").encode())
    garbage = _raw_exchange(sb, b"\x16\x03\x01 hello\r\n\r\n")
    for answer in (short, huge):
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
        assert b"SerializationException" in answer and b"Connection: close" in answer
    assert b"400" in garbage  # the stdlib's error page (answered as HTTP/0.9), then closed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "InvoiceId"),
        ({"InvoiceId": ""}, "InvoiceId"),
        ({"InvoiceId": "9" * 1100}, "InvoiceId"),
        ({"InvoiceId": "12\n34"}, "InvoiceId"),
    ],
)
def test_get_invoice_pdf_validation(sb, body, field):
    status, _, raw = account_raw(sb, sb.org.accounts[0], body, target="Invoicing.GetInvoicePDF")
    assert status == 400
    doc = json.loads(raw)
    assert doc["__type"] == "com.amazonaws.invoicing#ValidationException"
    assert [f["name"] for f in doc["fieldList"]] == [field]


def test_role_credentials_refresh_through_a_profile_when_sessions_are_short(
    make_sandbox, monkeypatch
):
    sb = make_sandbox(accounts=2, months=1, role_session_max_s=2)
    import yaml

    doc = yaml.safe_load(sb.fleet_config.read_text())
    monkeypatch.setenv("AWS_CONFIG_FILE", str(sb.fleet_config.parent / doc["aws_config_file"]))
    monkeypatch.setenv(
        "AWS_SHARED_CREDENTIALS_FILE",
        str(sb.fleet_config.parent / doc["aws_shared_credentials_file"]),
    )
    target = sb.org.accounts[1]
    client = boto3.Session(profile_name=f"invoicekit-sandbox-{target.account_id}").client(
        "invoicing"
    )
    sel = {"ResourceType": "ACCOUNT_ID", "Value": target.account_id}
    year, month = sb.org.periods[-1]
    for _ in range(2):
        # credentials shorter than botocore's refresh window are refreshed before each use
        assert client.list_invoice_summaries(
            Selector=sel, Filter={"BillingPeriod": {"Year": year, "Month": month}}
        )["InvoiceSummaries"]
    assert sb.stats()["requests"]["AssumeRole"][target.account_id] >= 2


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ("Action=Nope&Version=2011-06-15", b"<Code>InvalidAction</Code>"),
        (
            "Action=AssumeRole&Version=2011-06-15&RoleSessionName=ab",
            b"<Code>ValidationError</Code>",
        ),
        (
            "Action=AssumeRole&Version=2011-06-15&RoleArn=nonsense&RoleSessionName=ab",
            b"<Code>ValidationError</Code>",
        ),
        (
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::100000000002:role/InvoiceReader",
            b"<Code>ValidationError</Code>",
        ),
        (
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::100000000002:role/InvoiceReader&RoleSessionName=a%20b",
            b"<Code>ValidationError</Code>",
        ),
        (
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::100000000002:role/InvoiceReader&RoleSessionName=ab&DurationSeconds=soon",
            b"<Code>ValidationError</Code>",
        ),
    ],
)
def test_sts_errors_are_query_protocol_xml(sb, form, code):
    status, headers, raw = raw_call(
        sb,
        form.encode(),
        target=None,
        key=sb.org.org_access_key_id,
        secret=sb.org.org_secret_access_key,
        service="sts",
        content_type="application/x-www-form-urlencoded; charset=utf-8",
    )
    assert status == 400
    assert raw.startswith(b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">')
    assert code in raw and b"<Type>Sender</Type>" in raw
    assert headers["x-amzn-RequestId"].encode() in raw
