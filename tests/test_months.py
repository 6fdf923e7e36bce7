"""invoicekit.months: billing months, ranges, the last closed month and API query windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd
import pytest

from invoicekit import clock, months
from invoicekit.errors import InvalidArgumentError
from invoicekit.months import Window


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03", (2025, 3)),
        ("2025-3", (2025, 3)),
        (" 2025-12 ", (2025, 12)),
        (date(2025, 3, 17), (2025, 3)),
        (datetime(2025, 3, 31, 23, 59, tzinfo=UTC), (2025, 3)),
        (pd.Period("2025-03", freq="M"), (2025, 3)),
        (pd.Period("2025-03-17", freq="D"), (2025, 3)),
        (pd.Timestamp("2025-03-17"), (2025, 3)),
        ("2005-01", (2005, 1)),
        ("2050-12", (2050, 12)),
    ],
)
def test_parse_month_accepts_month_like_values(value, expected):
    assert months.parse_month(value) == expected


@pytest.mark.parametrize(
    "value", ["2025-13", "2025-00", "2025/03", "March 2025", "", 202503, 2025.3, True, None]
)
def test_parse_month_refuses_what_is_not_a_month(value):
    with pytest.raises(InvalidArgumentError, match="is not a month: give it as 'YYYY-MM'"):
        months.parse_month(value)


def test_a_month_error_names_the_cli_flag_in_flag_style():
    with pytest.raises(InvalidArgumentError) as err:
        months.parse_month("2025-13", "--from")
    assert (
        str(err.value) == "--from 2025-13 is not a month: give it as 'YYYY-MM', e.g. --from 2025-01"
    )


def test_a_month_error_names_the_python_argument_in_keyword_style():
    with pytest.raises(InvalidArgumentError) as err:
        months.parse_month("x", "start")
    assert str(err.value) == "start='x' is not a month: give it as 'YYYY-MM', e.g. start='2025-01'"


@pytest.mark.parametrize(
    ("value", "needle"),
    [("2004-12", "before 2005-01"), ("2051-01", "after 2050-12")],
)
def test_months_outside_the_api_range_are_refused_with_the_limit(value, needle):
    with pytest.raises(InvalidArgumentError, match=needle) as err:
        months.parse_month(value, "--to")
    assert str(err.value).startswith(f"--to {value} is ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Year": 2026, "Month": 3}, "2026-03"),
        ((2026, 3), "2026-03"),
        ("2026-03-17T10:00:00Z", "2026-03"),
        ("2026-3", "2026-03"),
        (pd.Period("2026-03", freq="M"), "2026-03"),
        (date(2026, 3, 1), "2026-03"),
        (None, ""),
        (float("nan"), ""),
        (pd.NaT, ""),
        ("n/a", "n/a"),
    ],
)
def test_month_str_is_tolerant(value, expected):
    assert months.month_str(value) == expected


def test_format_month_pads():
    assert months.format_month(987, 1) == "0987-01"
    assert months.format_month(2026, 11) == "2026-11"


@pytest.mark.parametrize(
    ("ym", "n", "expected"),
    [
        ((2025, 12), 1, (2026, 1)),
        ((2026, 1), -1, (2025, 12)),
        ((2026, 1), -13, (2024, 12)),
        ((2025, 6), 30, (2027, 12)),
        ((2025, 6), 0, (2025, 6)),
    ],
)
def test_add_months_crosses_years(ym, n, expected):
    assert months.add_months(*ym, n) == expected


def test_next_month_wraps_december():
    assert months.next_month(2025, 12) == (2026, 1)
    assert months.next_month(2025, 1) == (2025, 2)


def test_month_start_is_the_first_utc_instant():
    assert months.month_start(2026, 2) == datetime(2026, 2, 1, tzinfo=UTC)


def test_month_range_across_years_is_inclusive_and_gapless():
    assert months.month_range("2024-11", "2026-02") == [
        "2024-11",
        "2024-12",
        "2025-01",
        "2025-02",
        "2025-03",
        "2025-04",
        "2025-05",
        "2025-06",
        "2025-07",
        "2025-08",
        "2025-09",
        "2025-10",
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]
    assert months.month_range("2026-02", "2026-02") == ["2026-02"]


def test_month_range_refuses_a_reversed_range_naming_both_ends():
    with pytest.raises(InvalidArgumentError) as err:
        months.month_range("2026-02", "2025-12", names=("--from", "--to"))
    assert str(err.value) == "--to 2025-12 is before --from 2026-02: give the earlier month first"


def test_month_str_of_pandas_na_is_blank():
    assert months.month_str(pd.NA) == ""


def test_span_ignores_pandas_na():
    assert months.span(["2026-01", pd.NA]) == ["2026-01"]


def test_span_fills_gaps_and_ignores_blanks():
    assert months.span(["2026-02", None, "2025-11", float("nan"), pd.NaT, "2025-11"]) == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]
    assert months.span([None, ""]) == []
    assert months.span([]) == []


def test_as_period_and_ordinal_agree_with_pandas():
    p = months.as_period("2026-03")
    assert p == pd.Period("2026-03", freq="M")
    assert months.as_period(pd.Period("2026-03-17", freq="D")) == p
    assert months.ordinal("2026-03") == p.ordinal
    assert months.ordinal("2005-01") == pd.Period("2005-01", freq="M").ordinal
    assert months.ordinal(None) is None
    with pytest.raises(InvalidArgumentError, match="^--month x is not a month"):
        months.as_period("x", "--month")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-01-01T00:00:00Z", "2025-12"),  # the first instant of January closes December
        ("2025-12-31T23:59:59Z", "2025-11"),  # December is not closed until it ends
        ("2026-01-01T00:30:00+01:00", "2025-11"),  # 23:30 UTC on Dec 31: December still open
        ("2026-03-01", "2026-02"),
        (date(2026, 11, 5), "2026-10"),
    ],
)
def test_last_closed_month(now, expected):
    assert months.last_closed_month(now) == expected


def test_last_closed_month_defaults_to_business_now(monkeypatch):
    monkeypatch.delenv(clock.ENV, raising=False)
    with clock.pinned("2026-01-01T00:00:00Z"):
        assert months.last_closed_month() == "2025-12"
        assert months.default_range() == ("2025-01", "2025-12")
    monkeypatch.setenv(clock.ENV, "2028-03-10")
    assert months.last_closed_month() == "2028-02"


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, ("2025-12", "2025-12")), (3, ("2025-10", "2025-12")), (24, ("2024-01", "2025-12"))],
)
def test_default_range_ends_with_the_last_closed_month(n, expected):
    assert months.default_range(n, now="2026-01-15") == expected


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "12"])
def test_default_range_refuses_a_bad_month_count(n):
    with pytest.raises(InvalidArgumentError, match="whole number >= 1"):
        months.default_range(n, now="2026-01-15")


def test_split_windows_by_billing_period_across_a_year_end():
    windows = months.split_windows("2025-11", "2026-02")
    assert [w.key for w in windows] == ["2025-11", "2025-12", "2026-01", "2026-02"]
    dec = windows[1]
    assert dec.by == months.BY_BILLING_PERIOD
    assert (dec.start, dec.end) == (
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert dec.api_filter() == {"BillingPeriod": {"Month": 12, "Year": 2025}}
    for a, b in zip(windows, windows[1:], strict=False):
        assert a.end == b.start


def test_split_windows_by_issued_uses_time_intervals():
    windows = months.split_windows("2025-12", "2026-01", by=months.BY_ISSUED)
    assert [w.key for w in windows] == ["2025-12", "2026-01"]
    assert windows[0].api_filter() == {
        "TimeInterval": {
            "StartDate": datetime(2025, 12, 1, tzinfo=UTC),
            "EndDate": datetime(2026, 1, 1, tzinfo=UTC),
        }
    }


def test_split_windows_refuses_unknown_by_and_reversed_ranges():
    with pytest.raises(InvalidArgumentError, match="by='billing_period' or by='issued'"):
        months.split_windows("2025-01", "2025-02", by="month")
    with pytest.raises(InvalidArgumentError, match="end=2025-01 is before start=2025-02"):
        months.split_windows("2025-02", "2025-01")


def test_issued_windows_stay_within_calendar_months_without_gaps():
    start = datetime(2025, 11, 15, 6, 30, tzinfo=UTC)
    end = datetime(2026, 2, 10, tzinfo=UTC)
    windows = months.issued_windows(start, end)
    assert [w.key for w in windows] == [
        "2025-11-15T063000_2025-12-01",
        "2025-12",
        "2026-01",
        "2026-02-01_2026-02-10",
    ]
    assert windows[0].start == start and windows[-1].end == end
    for a, b in zip(windows, windows[1:], strict=False):
        assert a.end == b.start
    for w in windows:
        assert w.end - w.start <= timedelta(days=31)
        assert (w.end - timedelta(microseconds=1)).month == w.start.month


def test_issued_windows_take_naive_and_offset_values_as_utc():
    naive = months.issued_windows(datetime(2026, 1, 31, 23), datetime(2026, 2, 1, 1))
    assert [(w.start.isoformat(), w.end.isoformat()) for w in naive] == [
        ("2026-01-31T23:00:00+00:00", "2026-02-01T00:00:00+00:00"),
        ("2026-02-01T00:00:00+00:00", "2026-02-01T01:00:00+00:00"),
    ]
    plus2 = timezone(timedelta(hours=2))
    w = months.issued_windows(datetime(2026, 2, 1, 1, tzinfo=plus2), date(2026, 2, 2))
    assert w[0].start == datetime(2026, 1, 31, 23, tzinfo=UTC)  # still January in UTC
    assert [x.key for x in w] == ["2026-01-31T230000_2026-02-01", "2026-02-01_2026-02-02"]
    assert months.issued_windows(date(2026, 1, 1), date(2026, 1, 1)) == []
    with pytest.raises(InvalidArgumentError, match="swap them"):
        months.issued_windows(date(2026, 2, 1), date(2026, 1, 1))


def test_window_is_frozen_and_hashable():
    w = Window(months.BY_BILLING_PERIOD, months.month_start(2026, 1), months.month_start(2026, 2))
    assert {w: 1}[Window(months.BY_BILLING_PERIOD, w.start, w.end)] == 1
    with pytest.raises(AttributeError):
        w.by = "issued"  # type: ignore[misc]
