"""The loader: window splitting (pure, property-tested) and loading against the sandbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicekit.errors import InvalidArgumentError
from invoicekit.loader import Window, issued_windows, parse_month, split_windows

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
