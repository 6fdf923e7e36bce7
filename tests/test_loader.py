"""The loader: window splitting (pure, property-tested) and loading against the sandbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicekit.errors import InvalidArgumentError
from invoicekit.loader import (
    Window,
    issued_windows,
    list_invoice_summaries,
    parse_month,
    read_invoice_summaries,
    split_windows,
)

# --------------------------------------------------------------------------------------------
# Months and windows
# --------------------------------------------------------------------------------------------

months = st.tuples(st.integers(2005, 2050), st.integers(1, 12))


def _month_index(ym: tuple[int, int]) -> int:
    return ym[0] * 12 + ym[1] - 1


@pytest.mark.parametrize(
    "value",
    [
        "2025-03",
        " 2025-3 ",
        pd.Period("2025-03", freq="M"),
        date(2025, 3, 31),
        datetime(2025, 3, 1, 12, tzinfo=UTC),
        pd.Timestamp("2025-03-15"),
    ],
)
def test_parse_month_accepts_strings_periods_and_dates(value):
    assert parse_month(value) == (2025, 3)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2025-13", "is not a month"),
        ("March 2025", "is not a month"),
        ("2025/03", "is not a month"),
        ("", "is not a month"),
        (202503, "is not a month"),
        (None, "is not a month"),
        ("2004-12", "before 2005-01"),
        ("2051-01", "after 2050-12"),
    ],
)
def test_parse_month_refuses_with_the_fix(value, fragment):
    with pytest.raises(InvalidArgumentError, match=fragment) as info:
        parse_month(value, "start")
    msg = str(info.value)
    assert "\n" not in msg and "start=" in msg
    assert isinstance(info.value, ValueError)  # InvalidArgumentError is also a ValueError


def test_end_before_start_is_refused_with_one_line():
    with pytest.raises(InvalidArgumentError, match="end=2025-01 is before start=2025-03"):
        split_windows("2025-03", "2025-01")


def test_unknown_by_is_refused():
    with pytest.raises(InvalidArgumentError, match="by='invoice_date'"):
        split_windows("2025-01", "2025-02", by="invoice_date")


def test_billing_period_windows_are_one_filter_per_month():
    windows = split_windows("2024-11", "2025-02")
    assert [w.key for w in windows] == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert windows[1].api_filter() == {"BillingPeriod": {"Month": 12, "Year": 2024}}
    assert all(w.by == "billing_period" for w in windows)


def test_issued_windows_use_time_intervals_of_one_calendar_month():
    windows = split_windows("2025-01", "2025-03", by="issued")
    assert [w.key for w in windows] == ["2025-01", "2025-02", "2025-03"]
    feb = windows[1].api_filter()["TimeInterval"]
    assert feb == {
        "StartDate": datetime(2025, 2, 1, tzinfo=UTC),
        "EndDate": datetime(2025, 3, 1, tzinfo=UTC),  # exclusive
    }


@settings(max_examples=200, deadline=None)
@given(a=months, b=months, by=st.sampled_from(["billing_period", "issued"]))
def test_month_windows_cover_the_range_exactly(a, b, by):
    start, end = min(a, b), max(a, b)
    windows = split_windows(f"{start[0]}-{start[1]:02d}", f"{end[0]}-{end[1]:02d}", by=by)
    assert len(windows) == _month_index(end) - _month_index(start) + 1
    assert windows[0].start == datetime(start[0], start[1], 1, tzinfo=UTC)
    last = windows[-1]
    assert (last.start.year, last.start.month) == end
    for prev, nxt in zip(windows, windows[1:], strict=False):
        assert prev.end == nxt.start  # no gap, no overlap
    for w in windows:
        _assert_legal(w)


def _assert_legal(w: Window) -> None:
    assert w.start.tzinfo is not None and w.start.utcoffset() == timedelta(0)
    assert w.start < w.end
    f = w.api_filter()
    if w.by == "billing_period":
        bp = f["BillingPeriod"]
        assert 1 <= bp["Month"] <= 12 and 2005 <= bp["Year"] <= 2050
        assert set(f) == {"BillingPeriod"}
    else:
        ti = f["TimeInterval"]
        assert set(f) == {"TimeInterval"}
        # at most one calendar month: both ends within the start's month (end exclusive)
        s, e = ti["StartDate"], ti["EndDate"]
        first_of_next = datetime(s.year + s.month // 12, s.month % 12 + 1, 1, tzinfo=UTC)
        assert s < e <= first_of_next


instants = st.datetimes(
    min_value=datetime(2005, 1, 1), max_value=datetime(2050, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(a=instants, b=instants)
def test_issued_windows_of_any_interval_partition_it_into_legal_windows(a, b):
    start, end = min(a, b), max(a, b)
    windows = issued_windows(start, end)
    if start == end:
        assert windows == []
        return
    assert windows[0].start == start and windows[-1].end == end
    for prev, nxt in zip(windows, windows[1:], strict=False):
        assert prev.end == nxt.start
        assert nxt.start.day == 1 and nxt.start.hour == 0  # cuts only at month starts
    total = sum(((w.end - w.start) for w in windows), timedelta(0))
    assert total == end - start
    for w in windows:
        _assert_legal(w)


def test_issued_windows_take_naive_times_as_utc_and_convert_aware_ones():
    from zoneinfo import ZoneInfo

    naive = issued_windows(datetime(2025, 1, 31, 22), datetime(2025, 2, 1, 2))
    assert [(w.start.hour, w.end.hour) for w in naive] == [(22, 0), (0, 2)]
    berlin = datetime(2025, 2, 1, 0, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # 23:30 UTC Jan 31
    w = issued_windows(berlin, datetime(2025, 2, 1, 1, tzinfo=UTC))
    assert w[0].start == datetime(2025, 1, 31, 23, 30, tzinfo=UTC)
    assert len(w) == 2


def test_issued_windows_refuse_a_reversed_interval():
    with pytest.raises(InvalidArgumentError, match="swap"):
        issued_windows(date(2025, 2, 1), date(2025, 1, 1))


# --------------------------------------------------------------------------------------------
# Dispatch, pagination, failures and dedupe on recorded-style payloads (fake clients)
# --------------------------------------------------------------------------------------------

import threading  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402

from botocore.exceptions import ClientError, NoCredentialsError  # noqa: E402

from invoicekit import loader, schema  # noqa: E402
from invoicekit.errors import ConfigError  # noqa: E402


def _summary(account: str, invoice: str, year: int, month: int, total: str = "10.00") -> dict:
    return {
        "AccountId": account,
        "InvoiceId": invoice,
        "InvoiceType": "INVOICE",
        "BillingPeriod": {"Month": month, "Year": year},
        "IssuedDate": datetime(year, month, 28, tzinfo=UTC),
        "BaseCurrencyAmount": {"CurrencyCode": "USD", "TotalAmount": total},
    }


def _client_error(code: str, status: int, retries: int = 0) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} message"},
            "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": retries},
        },
        "ListInvoiceSummaries",
    )


class FakeClient:
    """Answers ListInvoiceSummaries from a dict {(year, month): [records]} with real paging."""

    def __init__(self, account, data, *, fail=None, delay=0.0, log=None):
        self.account, self.data, self.fail, self.delay = account, data, fail or {}, delay
        self.calls: list[dict] = [] if log is None else log
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self.meta = types.SimpleNamespace(
            events=types.SimpleNamespace(register=lambda *a, **k: None)
        )

    def list_invoice_summaries(self, **kw):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append(kw)
        try:
            if self.delay:
                time.sleep(self.delay)
            assert kw["Selector"] == {"ResourceType": "ACCOUNT_ID", "Value": self.account}
            bp = kw["Filter"]["BillingPeriod"]
            ym = (bp["Year"], bp["Month"])
            if ym in self.fail or "*" in self.fail:
                raise self.fail.get(ym) or self.fail["*"]
            rows = self.data.get(ym, [])
            start = int(kw.get("NextToken") or 0)
            page = rows[start : start + kw["MaxResults"]]
            out = {"InvoiceSummaries": page, "ResponseMetadata": {"RetryAttempts": 0}}
            if start + kw["MaxResults"] < len(rows):
                out["NextToken"] = str(start + kw["MaxResults"])
            return out
        finally:
            with self._lock:
                self.active -= 1


class FakeFleet:
    def __init__(self, clients: dict[str, FakeClient]):
        self.accounts = tuple(types.SimpleNamespace(id=a, name=f"Payer {a[-1]}") for a in clients)
        self.clients = clients

    def account(self, account):
        return account

    def session_for(self, account):
        return account.id


@pytest.fixture
def fake_clients(monkeypatch):
    def install(clients: dict[str, FakeClient]) -> FakeFleet:
        fleet = FakeFleet(clients)

        def make(access, capture, client="boto3"):
            c = clients[access.account.id]
            if isinstance(c, Exception):
                raise c
            return c

        monkeypatch.setattr(loader, "_make_client", make)
        return fleet

    return install


ACC = ["111111111111", "222222222222", "333333333333"]


def _data(account: str, n_per_month: int = 1) -> dict:
    return {
        (2025, m): [
            _summary(account, f"{account[-1]}-{m}-{i}", 2025, m) for i in range(n_per_month)
        ]
        for m in (1, 2, 3)
    }


def test_every_account_and_month_is_read_with_pagination(fake_clients):
    clients = {a: FakeClient(a, _data(a, n_per_month=5)) for a in ACC}
    fleet = fake_clients(clients)
    df = loader.read_invoice_summaries(fleet, "2025-01", "2025-03", max_results=2, progress=False)
    assert list(df.columns) == schema.COLUMNS
    assert len(df) == 3 * 3 * 5
    assert df.attrs["failures"] == []
    assert df.attrs["api_calls"] == 3 * 3 * 3  # 5 invoices in pages of 2: 3 calls per window
    assert sum(len(c.calls) for c in clients.values()) == 27
    assert set(df["account_name"]) == {"Payer 1", "Payer 2", "Payer 3"}
    assert all(c.calls[0]["MaxResults"] == 2 for c in clients.values())
    # sorted: account, billing period
    assert df["account_id"].tolist() == sorted(df["account_id"].tolist())


def test_a_denied_account_is_reported_and_the_others_are_kept(fake_clients):
    denied = ACC[1]
    clients = {a: FakeClient(a, _data(a)) for a in ACC}
    clients[denied].fail = {"*": _client_error("AccessDeniedException", 403)}
    fleet = fake_clients(clients)
    df = loader.read_invoice_summaries(fleet, "2025-01", "2025-03", per_account=1, progress=False)
    assert set(df["account_id"]) == {ACC[0], ACC[2]}
    assert len(df) == 6
    (failure,) = df.attrs["failures"]
    assert failure["account_id"] == denied and failure["account_name"] == "Payer 2"
    assert failure["code"] == "AccessDeniedException"
    assert failure["operation"] == "ListInvoiceSummaries"
    assert denied in failure["message"] and "\n" not in failure["message"]
    assert sorted(failure["windows"]) == ["2025-01", "2025-02", "2025-03"]
    assert len(clients[denied].calls) == 1  # the account's other months were not hammered


def test_throttling_that_outlasts_retries_fails_only_that_window(fake_clients):
    acct = ACC[0]
    clients = {acct: FakeClient(acct, _data(acct))}
    clients[acct].fail = {(2025, 2): _client_error("ThrottlingException", 429, retries=9)}
    df = loader.read_invoice_summaries(fake_clients(clients), "2025-01", "2025-03", progress=False)
    assert sorted(str(p) for p in df["billing_period"]) == ["2025-01", "2025-03"]
    (failure,) = df.attrs["failures"]
    assert failure["code"] == "ThrottlingException" and failure["windows"] == ["2025-02"]
    assert df.attrs["api_calls"] == 2 + 10  # the throttled call cost 10 attempts


def test_no_credentials_anywhere_is_a_config_error(fake_clients):
    clients = {a: FakeClient(a, _data(a)) for a in ACC}
    for c in clients.values():
        c.fail = {"*": NoCredentialsError()}
    with pytest.raises(ConfigError, match=r"no AWS credentials .*\(and 2 more accounts\)"):
        loader.read_invoice_summaries(fake_clients(clients), "2025-01", "2025-02", progress=False)


def test_a_config_error_for_one_account_is_a_per_account_failure(fake_clients):
    clients = {a: FakeClient(a, _data(a)) for a in ACC}
    clients[ACC[2]] = ConfigError("profile 'nope' not found")
    df = loader.read_invoice_summaries(fake_clients(clients), "2025-01", "2025-03", progress=False)
    assert set(df["account_id"]) == {ACC[0], ACC[1]}
    (failure,) = df.attrs["failures"]
    assert failure["code"] == "ConfigError" and "nope" in failure["message"]


def test_the_run_report_holds_typed_failures_and_the_attrs_view_keeps_the_old_keys(fake_clients):
    from invoicekit.outcomes import Failure, run_report

    clients = {a: FakeClient(a, _data(a)) for a in ACC}
    clients[ACC[1]].fail = {"*": _client_error("AccessDeniedException", 403)}
    clients[ACC[2]] = ConfigError("profile 'nope' not found")
    df = loader.read_invoice_summaries(
        fake_clients(clients), "2025-01", "2025-03", per_account=1, progress=False
    )
    report = run_report(df)
    assert report.operation == "load" and not report.ok
    assert report.failed_accounts == [ACC[1], ACC[2]]
    denied, config = sorted(report.failures, key=lambda f: f.account_id)
    assert isinstance(denied, Failure) and denied.code == "AccessDeniedException"
    assert not denied.config and denied.account_name == "Payer 2"
    assert config.code == "ConfigError" and config.config
    assert report.config_failures == [config]
    assert sorted(config.windows) == ["2025-01", "2025-02", "2025-03"]
    # 3 windows of the first account + the denied call; no role account, no AssumeRole
    assert report.api_calls == df.attrs["api_calls"] == 4
    assert report.extra["api_calls_by_operation"] == {"ListInvoiceSummaries": 4, "AssumeRole": 0}
    assert report.counts["invoice"] == len(df) == 3
    for key in ("windows_fetched", "windows_from_store", "elapsed_s"):
        assert df.attrs[key] == report.extra[key]
    assert report.extra["windows_fetched"] == 3 and report.extra["windows_from_store"] == 0
    assert report.elapsed_s == df.attrs["elapsed_s"] >= 0
    old_keys = {"account_id", "account_name", "operation", "code", "message", "windows"}
    assert all(old_keys <= set(f) for f in df.attrs["failures"])
    assert sorted(f["account_id"] for f in df.attrs["failures"]) == [ACC[1], ACC[2]]


def test_the_stream_reports_too(fake_clients):
    clients = {a: FakeClient(a, _data(a)) for a in ACC[:2]}
    clients[ACC[1]].fail = {(2025, 2): _client_error("ThrottlingException", 429, retries=2)}
    stream = loader.list_invoice_summaries(
        fake_clients(clients), "2025-01", "2025-02", per_account=1, progress=False
    )
    assert len(list(stream)) == 3
    report = stream.report
    assert report.operation == "load" and report.api_calls == stream.api_calls == 3 + 3
    (failure,) = report.failures
    assert failure.code == "ThrottlingException" and failure.windows == ("2025-02",)
    assert not failure.config
    assert stream.failures == [failure.as_dict()]


def test_unexpected_exceptions_are_not_swallowed(fake_clients):
    clients = {ACC[0]: FakeClient(ACC[0], _data(ACC[0]))}
    clients[ACC[0]].fail = {(2025, 1): KeyError("bug")}
    with pytest.raises(KeyError):
        loader.read_invoice_summaries(fake_clients(clients), "2025-01", "2025-02", progress=False)


def test_requests_per_account_in_flight_are_bounded(fake_clients):
    clients = {a: FakeClient(a, _data(a), delay=0.02) for a in ACC}
    fleet = fake_clients(clients)
    loader.read_invoice_summaries(
        fleet, "2025-01", "2025-03", per_account=1, max_workers=8, progress=False
    )
    assert max(c.max_active for c in clients.values()) == 1
    clients = {a: FakeClient(a, _data(a), delay=0.02) for a in ACC}
    fleet = fake_clients(clients)
    # without pacing (a discovering pacer starts at 2 requests/s with a burst of 1, which
    # would hold the account to one request in flight here)
    loader.read_invoice_summaries(
        fleet,
        "2025-01",
        "2025-03",
        per_account=3,
        max_workers=9,
        progress=False,
        rate_per_account=None,
    )
    assert max(c.max_active for c in clients.values()) == 3


def test_identical_repeats_are_dropped_and_differing_versions_kept_with_a_warning(fake_clients):
    a = ACC[0]
    same = _summary(a, "E-1", 2025, 1)
    data = {(2025, 1): [same, dict(same)], (2025, 2): [_summary(a, "E-2", 2025, 2)]}
    data[(2025, 2)].append(_summary(a, "E-1", 2025, 1, total="99.00"))  # same id, other content
    clients = {a: FakeClient(a, data)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = loader.read_invoice_summaries(
            fake_clients(clients), "2025-01", "2025-02", progress=False
        )
    assert sorted(df["invoice_id"]) == ["E-1", "E-1", "E-2"]
    assert sorted(str(t) for t in df.loc[df.invoice_id == "E-1", "base_total"]) == [
        "10.0000000000",
        "99.0000000000",
    ]
    assert any("E-1" in str(w.message) and "duplicate_invoice" in str(w.message) for w in caught)


def test_list_invoice_summaries_streams_raw_records_and_reports(fake_clients):
    clients = {a: FakeClient(a, _data(a, 2)) for a in ACC}
    clients[ACC[0]].fail = {"*": _client_error("AccessDeniedException", 403)}
    stream = loader.list_invoice_summaries(
        fake_clients(clients), "2025-01", "2025-03", per_account=1, progress=False
    )
    records = list(stream)
    assert len(records) == 2 * 3 * 2
    assert all(isinstance(r["IssuedDate"], datetime) for r in records)  # raw, as boto3 gives
    assert [f["account_id"] for f in stream.failures] == [ACC[0]]
    assert stream.api_calls == 6 + 1


def test_a_progress_bar_is_shown_unless_turned_off(fake_clients, capsys):
    clients = {a: FakeClient(a, _data(a)) for a in ACC}
    loader.read_invoice_summaries(fake_clients(clients), "2025-01", "2025-03", progress=True)
    assert "invoice summaries" in capsys.readouterr().err
    loader.read_invoice_summaries(fake_clients(clients), "2025-01", "2025-03", progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_workers": 0}, "max_workers"),
        ({"max_results": 101}, "max_results"),
        ({"per_account": 0}, "per_account"),
        ({"settle_days": -1, "store": "unused"}, "settle_days"),
    ],
)
def test_bad_options_are_refused(fake_clients, kwargs, fragment):
    fleet = fake_clients({ACC[0]: FakeClient(ACC[0], {})})
    with pytest.raises(InvalidArgumentError, match=fragment):
        loader.read_invoice_summaries(fleet, "2025-01", "2025-02", progress=False, **kwargs)


# --------------------------------------------------------------------------------------------
# Against the sandbox (real boto3, real wire protocol, profiles and assumed roles)
# --------------------------------------------------------------------------------------------

from invoicekit.fleet import load_fleet  # noqa: E402
from invoicekit.outcomes import run_report  # noqa: E402
from invoicekit.sandbox import Faults  # noqa: E402
from invoicekit.store import Store  # noqa: E402


def _expected_ids(org, start: tuple[int, int], end: tuple[int, int], accounts=None) -> list[str]:
    return sorted(
        inv["InvoiceId"]
        for inv in org.invoices
        if start <= (inv["BillingPeriod"]["Year"], inv["BillingPeriod"]["Month"]) <= end
        and (accounts is None or inv["AccountId"] in accounts)
    )


def _lis_calls(sb) -> int:
    return sum(sb.stats()["requests"].get("ListInvoiceSummaries", {}).values())


def _role_accounts(sb) -> int:
    """Accounts of the sandbox's fleet file reached through sts:AssumeRole."""
    return sum(1 for a in load_fleet(sb.fleet_config).accounts if a.role_arn)


def _list_calls(df) -> int:
    """ListInvoiceSummaries requests the run that made ``df`` sent (from its RunReport)."""
    return run_report(df).extra["api_calls_by_operation"]["ListInvoiceSummaries"]


def _assume_role_calls(sb) -> int:
    return sum(sb.stats()["requests"].get("AssumeRole", {}).values())


def test_sandbox_many_accounts_profiles_and_roles(sandbox):
    fleet = load_fleet(sandbox.fleet_config)
    assert any(a.role_arn for a in fleet.accounts) and any(a.profile for a in fleet.accounts)
    df = read_invoice_summaries(sandbox.fleet_config, "2026-06", "2026-08", progress=False)
    assert df.attrs["failures"] == []
    assert sorted(df["invoice_id"]) == _expected_ids(sandbox.org, (2026, 6), (2026, 8))
    assert set(df["account_id"]) == {a.account_id for a in sandbox.org.accounts}
    names = {a.id: a.name for a in fleet.accounts}
    assert all(names[r.account_id] == r.account_name for r in df.itertuples())
    # one page per account and month, and one AssumeRole per role account
    roles = sum(1 for a in fleet.accounts if a.role_arn)
    assert df.attrs["api_calls"] == len(fleet.accounts) * 3 + roles
    report = run_report(df)
    assert report.operation == "load" and report.ok
    assert report.extra["api_calls_by_operation"] == {
        "ListInvoiceSummaries": len(fleet.accounts) * 3,
        "AssumeRole": roles,
    }
    # exact decimals and UTC, straight from the wire
    assert isinstance(df["base_total"].dtype, pd.ArrowDtype)
    assert str(df["issued_date"].dt.tz) == "UTC"
    one = next(i for i in sandbox.org.invoices if i["InvoiceId"] == df["invoice_id"].iloc[0])
    assert str(df["base_total"].iloc[0]).rstrip("0") == one["BaseCurrencyAmount"][
        "TotalAmount"
    ].rstrip("0")
    assert sandbox.stats()["requests"]["AssumeRole"]  # role accounts really assumed a role


def test_sandbox_denied_account_is_reported_and_others_kept(make_sandbox):
    sb = make_sandbox(accounts=4, months=3)
    denied = sb.org.accounts[2].account_id
    sb.deny(denied)
    df = read_invoice_summaries(sb.fleet_config, "2026-08", "2026-10", progress=False)
    others = {a.account_id for a in sb.org.accounts} - {denied}
    assert sorted(df["invoice_id"]) == _expected_ids(sb.org, (2026, 8), (2026, 10), others)
    (failure,) = df.attrs["failures"]
    assert failure["account_id"] == denied and failure["code"] == "AccessDeniedException"
    assert failure["account_name"] == sb.org.accounts[2].name
    assert "invoicing:ListInvoiceSummaries" in failure["message"]  # names the fix


@pytest.fixture
def no_backoff_sleep(monkeypatch):
    """botocore's exponential back-off without its sleeps: retry behaviour, not wall time."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.0)


def test_sandbox_throttling_and_server_errors_are_survived(make_sandbox, no_backoff_sleep):
    sb = make_sandbox(
        accounts=3,
        months=3,
        faults=Faults(
            throttle_rate=0.25,
            error_rate=0.15,
            drop_rate=0.1,
            operations=["ListInvoiceSummaries"],
        ),
    )
    df = read_invoice_summaries(sb.fleet_config, "2026-08", "2026-10", progress=False)
    assert df.attrs["failures"] == []
    assert sorted(df["invoice_id"]) == _expected_ids(sb.org, (2026, 8), (2026, 10))
    stats = sb.stats()
    # the faults really happened
    assert stats["throttled"] > 0 and stats["errors"] > 0 and stats["dropped"] > 0
    # retries are counted
    assert df.attrs["api_calls"] == _lis_calls(sb) + _assume_role_calls(sb) > 9


def test_sandbox_throttle_storm_becomes_a_per_account_failure(
    make_sandbox, monkeypatch, no_backoff_sleep
):
    from invoicekit import _client

    # Two attempts instead of ten and no client-side bucket waits: the same failure path,
    # without a minute of botocore's adaptive back-off.
    monkeypatch.setattr(_client, "MAX_ATTEMPTS", 2)
    from botocore.retries import bucket

    monkeypatch.setattr(bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)
    sb = make_sandbox(
        accounts=2, months=2, faults=Faults(throttle_rate=1.0, operations=["ListInvoiceSummaries"])
    )
    df = read_invoice_summaries(
        sb.fleet_config, "2026-10", "2026-10", progress=False, per_account=1
    )
    assert len(df) == 0
    assert sorted(f["account_id"] for f in df.attrs["failures"]) == [
        a.account_id for a in sb.org.accounts
    ]
    assert {f["code"] for f in df.attrs["failures"]} == {"ThrottlingException"}


def test_sandbox_pagination_small_pages_give_the_same_invoices(sandbox):
    big = read_invoice_summaries(sandbox.fleet_config, "2026-09", "2026-10", progress=False)
    small = read_invoice_summaries(
        sandbox.fleet_config, "2026-09", "2026-10", max_results=1, progress=False
    )
    pd.testing.assert_frame_equal(big, small)
    assert small.attrs["api_calls"] > big.attrs["api_calls"]
    # with one invoice per page, every window costs one call per invoice (at least one)
    per_window = small.groupby(["account_id", "billing_period"]).size()
    assert _list_calls(small) == int(per_window.clip(lower=1).sum()) + (
        2 * len(sandbox.org.accounts) - len(per_window)
    )
    # and api_calls adds the role accounts' AssumeRole (each run loads the fleet afresh)
    roles = _role_accounts(sandbox)
    assert small.attrs["api_calls"] == _list_calls(small) + roles


def test_sandbox_issued_windows_select_by_issue_date(sandbox):
    df = read_invoice_summaries(
        sandbox.fleet_config, "2026-09", "2026-10", by="issued", progress=False
    )
    lo, hi = pd.Timestamp("2026-09-01", tz="UTC"), pd.Timestamp("2026-11-01", tz="UTC")
    assert len(df) and df["issued_date"].between(lo, hi, inclusive="left").all()
    expected = sorted(
        i["InvoiceId"]
        for i in sandbox.org.invoices
        if lo.timestamp() <= i["IssuedDate"] < hi.timestamp()
    )
    assert sorted(df["invoice_id"]) == expected


def test_sandbox_incremental_store_queries_only_unsettled_months(make_sandbox, tmp_path):
    from invoicekit import clock

    sb = make_sandbox(accounts=3, months=4)  # today 2026-11-25
    store = tmp_path / "store"
    with clock.pinned("2026-11-25T12:00:00Z"):  # 2026-10 settles on 2026-12-16, not yet
        _incremental_runs(sb, store)


def _incremental_runs(sb, store):
    first = read_invoice_summaries(
        sb.fleet_config, "2026-07", "2026-10", store=store, progress=False
    )
    assert _list_calls(first) == _lis_calls(sb) == 12
    assert first.attrs["api_calls"] == 12 + _assume_role_calls(sb)
    sb.reset_stats()
    second = read_invoice_summaries(
        sb.fleet_config, "2026-07", "2026-10", store=store, progress=False
    )
    assert _lis_calls(sb) == _list_calls(second) == 3  # only October, per account
    assert second.attrs["api_calls"] == 3 + _assume_role_calls(sb)
    assert second.attrs["windows_from_store"] == 9
    pd.testing.assert_frame_equal(first, second)
    assert sb.stats()["requests"]["ListInvoiceSummaries"].keys() == {
        a.account_id for a in sb.org.accounts
    }
    sb.reset_stats()
    again = read_invoice_summaries(
        sb.fleet_config, "2026-07", "2026-10", store=store, refresh=True, progress=False
    )
    assert _lis_calls(sb) == _list_calls(again) == 12
    assert again.attrs["api_calls"] == 12 + _assume_role_calls(sb)
    pd.testing.assert_frame_equal(first, again)
    assert len(Store(store).load()) == len(first)


def test_sandbox_list_invoice_summaries_yields_raw_records(sandbox):
    stream = list_invoice_summaries(sandbox.fleet_config, "2026-10", "2026-10", progress=False)
    records = list(stream)
    roles = _role_accounts(sandbox)
    assert stream.failures == [] and stream.api_calls == len(sandbox.org.accounts) + roles
    assert stream.report.extra["api_calls_by_operation"]["ListInvoiceSummaries"] == len(
        sandbox.org.accounts
    )
    assert sorted(r["InvoiceId"] for r in records) == _expected_ids(
        sandbox.org, (2026, 10), (2026, 10)
    )
    assert all(isinstance(r["BaseCurrencyAmount"]["TotalAmount"], str) for r in records)


def test_sandbox_account_ids_use_the_default_credential_chain(sandbox, monkeypatch):
    acct = sandbox.org.accounts[0]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", acct.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", acct.secret_access_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL_INVOICING", sandbox.endpoint_url)
    df = read_invoice_summaries([acct.account_id], "2026-10", "2026-10", progress=False)
    assert df.attrs["failures"] == []
    assert sorted(df["invoice_id"]) == _expected_ids(
        sandbox.org, (2026, 10), (2026, 10), {acct.account_id}
    )


def test_a_dropped_connection_fails_one_window_an_unreachable_endpoint_the_account(fake_clients):
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

    a, b = ACC[0], ACC[1]
    clients = {a: FakeClient(a, _data(a)), b: FakeClient(b, _data(b))}
    clients[a].fail = {(2025, 2): ConnectionClosedError(endpoint_url="http://x")}
    clients[b].fail = {"*": EndpointConnectionError(endpoint_url="http://x")}
    df = read_invoice_summaries(
        fake_clients(clients), "2025-01", "2025-03", per_account=1, progress=False
    )
    assert set(df["account_id"]) == {a} and len(df) == 2
    by_account = {f["account_id"]: f for f in df.attrs["failures"]}
    assert by_account[a]["code"] == "ConnectionClosedError"
    assert by_account[a]["windows"] == ["2025-02"]
    assert by_account[b]["code"] == "EndpointConnectionError"
    assert sorted(by_account[b]["windows"]) == ["2025-01", "2025-02", "2025-03"]
    assert len(clients[b].calls) == 1
