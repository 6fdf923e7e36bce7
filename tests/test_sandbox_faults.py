"""Sandbox faults behave as configured: rate limit, throttles, 500s, drops, truncation, latency.

Random faults are deterministic by seed for a given request order, so the same run meets the
same faults; counts are checked against binomial bounds.
"""

from __future__ import annotations

import http.client
import math
import threading
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, HTTPClientError

from invoicekit.sandbox import Faults, start

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


def client_for(sb, account, config: Config = NO_RETRY):
    return boto3.client(
        "invoicing",
        endpoint_url=sb.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=account.access_key_id,
        aws_secret_access_key=account.secret_access_key,
        config=config,
    )


def list_kwargs(sb, account) -> dict:
    year, month = sb.org.periods[-1]
    return {
        "Selector": {"ResourceType": "ACCOUNT_ID", "Value": account.account_id},
        "Filter": {"BillingPeriod": {"Year": year, "Month": month}},
    }


def outcomes(sb, n: int) -> list[str]:
    """Codes of ``n`` sequential ListInvoiceSummaries calls ("ok" or the error code)."""
    account = sb.org.accounts[0]
    client = client_for(sb, account)
    kwargs = list_kwargs(sb, account)
    codes = []
    for _ in range(n):
        try:
            client.list_invoice_summaries(**kwargs)
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    return codes


def within_binomial(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    sd = math.sqrt(n * p * (1 - p))
    return abs(count - n * p) <= sigmas * sd + 1


def test_rate_limit_is_a_per_account_token_bucket(make_sandbox):
    sb = make_sandbox(accounts=2, months=1, rate_limit=5)
    a, b = sb.org.accounts
    results = {}
    t0 = time.monotonic()
    for account in (a, b):
        client = client_for(sb, account)
        kwargs = list_kwargs(sb, account)
        codes = []
        for _ in range(12):
            try:
                client.list_invoice_summaries(**kwargs)
                codes.append("ok")
            except client.exceptions.ThrottlingException as exc:
                assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
                codes.append("throttled")
        results[account.account_id] = codes
    elapsed = time.monotonic() - t0
    refill = math.ceil(elapsed * 5) + 1  # tokens that may have come back meanwhile
    for codes in results.values():
        ok = codes.count("ok")
        assert codes[:5] == ["ok"] * 5  # a full bucket of 5 per account (burst = rate)
        assert 5 <= ok <= 5 + refill
        assert "throttled" in codes
    throttled = sum(c.count("throttled") for c in results.values())
    assert sb.stats()["throttled"] == throttled
    time.sleep(0.45)  # ~2 tokens come back
    client = client_for(sb, a)
    client.list_invoice_summaries(**list_kwargs(sb, a))


def test_throttle_fault_rate_is_honoured_and_deterministic_by_seed(make_sandbox):
    n, p = 150, 0.3
    first = outcomes(make_sandbox(accounts=1, months=1, seed=3, faults=Faults(throttle_rate=p)), n)
    again = outcomes(make_sandbox(accounts=1, months=1, seed=3, faults=Faults(throttle_rate=p)), n)
    other = outcomes(make_sandbox(accounts=1, months=1, seed=4, faults=Faults(throttle_rate=p)), n)
    assert set(first) == {"ok", "ThrottlingException"}
    assert within_binomial(first.count("ThrottlingException"), n, p)
    assert first == again
    assert first != other


def test_error_fault_is_internal_server_exception_that_botocore_retries(make_sandbox):
    sb = make_sandbox(accounts=1, months=1, faults=Faults(error_rate=1.0))
    account = sb.org.accounts[0]
    client = client_for(sb, account)
    with pytest.raises(client.exceptions.InternalServerException) as info:
        client.list_invoice_summaries(**list_kwargs(sb, account))
    err = info.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert err["retryAfterSeconds"] == 1
    sb.reset_stats()
    retrying = client_for(
        sb, account, Config(retries={"mode": "standard", "total_max_attempts": 3})
    )
    with pytest.raises(retrying.exceptions.InternalServerException):
        retrying.get_invoice_pdf(InvoiceId=sb.org.invoices[0]["InvoiceId"])
    stats = sb.stats()
    assert stats["requests"]["GetInvoicePDF"] == {account.account_id: 3}  # 5xx is retried
    assert stats["errors"] == 3


def test_error_fraction_within_bounds(make_sandbox):
    n, p = 120, 0.25
    codes = outcomes(make_sandbox(accounts=1, months=1, faults=Faults(error_rate=p)), n)
    assert within_binomial(codes.count("InternalServerException"), n, p)


def test_drop_fault_closes_the_connection_without_an_answer(make_sandbox):
    sb = make_sandbox(accounts=1, months=1, faults=Faults(drop_rate=1.0))
    account = sb.org.accounts[0]
    client = client_for(sb, account)
    with pytest.raises((ConnectionClosedError, HTTPClientError)):
        client.list_invoice_summaries(**list_kwargs(sb, account))
    assert sb.stats()["dropped"] == 1


def test_truncate_fault_cuts_document_bodies_short(make_sandbox):
    sb = make_sandbox(
        accounts=1, months=1, faults=Faults(truncate_rate=1.0, operations=["Document"])
    )
    account = sb.org.accounts[0]
    invoice_id = sb.org.invoices[0]["InvoiceId"]
    url = client_for(sb, account).get_invoice_pdf(InvoiceId=invoice_id)["InvoicePDF"]["DocumentUrl"]
    full = sb.org.render_pdf(sb.org.documents_for(invoice_id)[0].document_id)
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert int(resp.headers["Content-Length"]) == len(full)
        with pytest.raises(http.client.IncompleteRead) as info:
            resp.read()
    assert 0 < len(info.value.partial) < len(full)
    assert full.startswith(info.value.partial)
    assert sb.stats()["truncated"] == 1


def test_faults_apply_only_to_the_listed_operations(make_sandbox):
    sb = make_sandbox(
        accounts=1, months=1, faults=Faults(error_rate=1.0, operations=["GetInvoicePDF"])
    )
    account = sb.org.accounts[0]
    client = client_for(sb, account)
    for _ in range(5):
        assert client.list_invoice_summaries(**list_kwargs(sb, account))["InvoiceSummaries"]
    with pytest.raises(client.exceptions.InternalServerException):
        client.get_invoice_pdf(InvoiceId=sb.org.invoices[0]["InvoiceId"])


def test_short_url_lifetime_fault(make_sandbox):
    sb = make_sandbox(accounts=1, months=1, faults=Faults(url_lifetime_s=2))
    account = sb.org.accounts[0]
    before = time.time()
    pdf = client_for(sb, account).get_invoice_pdf(InvoiceId=sb.org.invoices[0]["InvoiceId"])
    doc = pdf["InvoicePDF"]
    assert "X-Amz-Expires=2&" in doc["DocumentUrl"]
    assert doc["DocumentUrlExpirationDate"].timestamp() - before <= 2.01


def test_latency_is_added_and_concurrent_requests_wait_in_parallel(make_sandbox):
    latency_s = 0.25
    sb = make_sandbox(accounts=1, months=1, latency_ms=latency_s * 1000)
    account = sb.org.accounts[0]
    client = client_for(
        sb, account, Config(retries={"total_max_attempts": 1}, max_pool_connections=8)
    )
    kwargs = list_kwargs(sb, account)
    t0 = time.perf_counter()
    client.list_invoice_summaries(**kwargs)
    assert time.perf_counter() - t0 >= latency_s
    threads = [
        threading.Thread(target=client.list_invoice_summaries, kwargs=kwargs) for _ in range(8)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    assert wall >= latency_s
    assert wall < 8 * latency_s * 0.6  # not one after another (sequential would be 2 s)
    assert sum(sb.stats()["requests"]["ListInvoiceSummaries"].values()) == 9


def test_bad_fault_settings_are_refused():
    with pytest.raises(ValueError, match="throttle_rate"):
        Faults(throttle_rate=1.5)
    with pytest.raises(ValueError, match="operations"):
        Faults(operations=["AssumeRole"])
    with pytest.raises(ValueError, match="rate_limit"):
        start(accounts=1, months=1, today="2026-11-25", rate_limit=0)


def test_concurrent_clients_under_faults_get_consistent_answers_and_stats(make_sandbox):
    faults = Faults(throttle_rate=0.1, error_rate=0.1, drop_rate=0.05)
    sb = make_sandbox(accounts=4, months=2, faults=faults)
    per_thread, threads_n = 15, 16
    tally: dict[str, int] = {}
    lock = threading.Lock()
    expected_ids = {
        a.account_id: [
            i["InvoiceId"]
            for i in sb.org.invoices_for(a.account_id)
            if (i["BillingPeriod"]["Year"], i["BillingPeriod"]["Month"]) == sb.org.periods[-1]
        ]
        for a in sb.org.accounts
    }

    def work(account) -> None:
        client = client_for(sb, account)
        kwargs = list_kwargs(sb, account)
        for _ in range(per_thread):
            try:
                got = client.list_invoice_summaries(**kwargs)["InvoiceSummaries"]
                assert [i["InvoiceId"] for i in got] == expected_ids[account.account_id]
                code = "ok"
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
            except (ConnectionClosedError, HTTPClientError):
                code = "dropped"
            with lock:
                tally[code] = tally.get(code, 0) + 1

    threads = [
        threading.Thread(target=work, args=(sb.org.accounts[i % 4],)) for i in range(threads_n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    total = per_thread * threads_n
    assert sum(tally.values()) == total  # every call answered or dropped: no hang, no lost call
    assert set(tally) <= {"ok", "ThrottlingException", "InternalServerException", "dropped"}
    stats = sb.stats()
    assert sum(stats["requests"]["ListInvoiceSummaries"].values()) == total
    assert stats["throttled"] == tally.get("ThrottlingException", 0)
    assert stats["errors"] == tally.get("InternalServerException", 0)
    assert stats["dropped"] == tally.get("dropped", 0)
    assert within_binomial(tally.get("dropped", 0), total, 0.05)
    assert sb.admin("health")["status"] == "ok"


@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        (Faults(throttle_rate=1.0, operations=["Document"]), 503, b"<Code>SlowDown</Code>"),
        (Faults(error_rate=1.0, operations=["Document"]), 500, b"<Code>InternalError</Code>"),
    ],
)
def test_document_faults_answer_like_s3(make_sandbox, faults, status, code):
    import urllib.error

    sb = make_sandbox(accounts=1, months=1, faults=faults)
    account = sb.org.accounts[0]
    pdf = client_for(sb, account).get_invoice_pdf(InvoiceId=sb.org.invoices[0]["InvoiceId"])
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(pdf["InvoicePDF"]["DocumentUrl"], timeout=10)
    assert info.value.code == status
    assert code in info.value.read()
    stats = sb.stats()
    assert stats["requests"]["Document"] == {account.account_id: 1}
    assert (stats["throttled"], stats["errors"]) == ((1, 0) if status == 503 else (0, 1))


def test_per_account_rate_limits_spread_by_index_or_mapped(make_sandbox):
    from invoicekit.sandbox._faults import parse_rate_limit, rate_limits

    sb = make_sandbox(accounts=3, months=1, rate_limit=[1, 50])
    ids = [a.account_id for a in sb.org.accounts]
    bucket = rate_limits([1, 50], ids)
    assert [bucket.rate_for(a) for a in ids] == [1.0, 50.0, 1.0]  # cycling by account index
    assert _admin_config(sb)["rate_limit"] == [1, 50]
    # on the wire: the 1 request/s account is throttled on its second quick call, the
    # 50 requests/s account is not
    codes = {}
    for account in sb.org.accounts[:2]:
        client = client_for(sb, account)
        kwargs = list_kwargs(sb, account)
        got = []
        for _ in range(3):
            try:
                client.list_invoice_summaries(**kwargs)
                got.append("ok")
            except client.exceptions.ThrottlingException:
                got.append("throttled")
        codes[account.account_id] = got
    assert codes[ids[0]][:2] == ["ok", "throttled"]
    assert codes[ids[1]] == ["ok"] * 3
    # a mapping limits the accounts it names; the command line takes all three forms
    mapped = rate_limits({ids[0]: 2}, ids)
    assert mapped.rate_for(ids[0]) == 2.0 and mapped.rate_for(ids[1]) is None
    assert parse_rate_limit("5") == 5.0
    assert parse_rate_limit("1,5,50") == (1.0, 5.0, 50.0)
    assert parse_rate_limit(f"{ids[0]}=2") == {ids[0]: 2.0}
    for bad in ("0", "fast", "1,x", f"{ids[0]}=2,5"):
        with pytest.raises(ValueError, match="rate limit"):
            parse_rate_limit(bad)


def _admin_config(sb) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(sb.endpoint_url + "/_sandbox/config") as resp:  # noqa: S310
        return json.load(resp)


def test_a_child_sandbox_takes_a_spread_of_limits():
    with start(
        accounts=2, months=1, today="2026-11-25", rate_limit=[1, 50], in_process=False
    ) as sb:
        assert _admin_config(sb)["rate_limit"] == [1.0, 50.0]
