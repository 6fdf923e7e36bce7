"""Billing months and API query windows — the one definition invoicekit has of them.

A billing month is written ``"YYYY-MM"``. It *closes* when the next month begins (00:00 UTC);
the last closed month at business "now" (:mod:`invoicekit.clock`) is the default month of every
month-end command. ``ListInvoiceSummaries`` accepts one ``BillingPeriod`` (a month) or one
``TimeInterval`` of at most a month per request, so a range of months is split into
:class:`Window` objects (:func:`split_windows`).

Nothing here imports pandas at module level; the helpers that return pandas objects import it
when called.

Examples
--------
>>> from invoicekit import months
>>> months.parse_month("2025-3")
(2025, 3)
>>> months.month_range("2025-11", "2026-02")
['2025-11', '2025-12', '2026-01', '2026-02']
>>> months.last_closed_month("2026-11-05")
'2026-10'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from invoicekit import clock
from invoicekit.errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "FIRST_MONTH",
    "LAST_MONTH",
    "BY_BILLING_PERIOD",
    "BY_ISSUED",
    "Window",
    "parse_month",
    "month_str",
    "month_words",
    "MONTH_NAMES",
    "MONTH_ABBR",
    "format_month",
    "next_month",
    "add_months",
    "month_start",
    "month_range",
    "span",
    "as_period",
    "ordinal",
    "last_closed_month",
    "default_range",
    "split_windows",
    "issued_windows",
]

#: The Invoicing API's BillingPeriod range.
FIRST_MONTH = (2005, 1)
LAST_MONTH = (2050, 12)

BY_BILLING_PERIOD = "billing_period"
BY_ISSUED = "issued"
_BY = (BY_BILLING_PERIOD, BY_ISSUED)

_MONTH_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
_LEADING_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})")


def parse_month(value: object, name: str = "month") -> tuple[int, int]:
    """Parse a month given as ``"YYYY-MM"``, a ``pd.Period``, a ``date`` or a ``datetime``.

    Parameters
    ----------
    value
        The month. Objects with integer ``year`` and ``month`` attributes (``date``,
        ``datetime``, ``pd.Period``, ``pd.Timestamp``) give their month.
    name
        The argument's name, used in the error message (``"--from"`` for a CLI flag).

    Returns
    -------
    tuple[int, int]
        ``(year, month)``.

    Raises
    ------
    InvalidArgumentError
        The value is not a month, or lies outside 2005-01..2050-12 (the API's range).

    Examples
    --------
    >>> parse_month("2025-03")
    (2025, 3)
    >>> parse_month(date(2025, 3, 17))
    (2025, 3)
    """
    year = month = None
    if isinstance(value, str):
        m = _MONTH_RE.match(value)
        if m:
            year, month = int(m.group(1)), int(m.group(2))
    elif not isinstance(value, bool | int | float):
        y, mo = getattr(value, "year", None), getattr(value, "month", None)
        if isinstance(y, int) and isinstance(mo, int):
            year, month = y, mo
    flag = name.startswith("-")
    eq, q = (" ", "") if flag else ("=", "'")
    if year is None or month is None or not 1 <= month <= 12:
        shown = value if flag else repr(value)
        raise InvalidArgumentError(
            f"{name}{eq}{shown} is not a month: give it as 'YYYY-MM', e.g. {name}{eq}{q}2025-01{q}"
        )
    if (year, month) < FIRST_MONTH:
        raise InvalidArgumentError(
            f"{name}{eq}{year:04d}-{month:02d} is before 2005-01, the first billing period the AWS "
            f"Invoicing API knows: use {name}{eq}{q}2005-01{q} or later"
        )
    if (year, month) > LAST_MONTH:
        raise InvalidArgumentError(
            f"{name}{eq}{year:04d}-{month:02d} is after 2050-12, the last billing period the AWS "
            f"Invoicing API accepts: use {name}{eq}{q}2050-12{q} or earlier"
        )
    return year, month


def format_month(year: int, month: int) -> str:
    """``"YYYY-MM"``."""
    return f"{year:04d}-{month:02d}"


def month_str(value: Any) -> str:
    """Any month-like value as ``"YYYY-MM"``, tolerant: ``""`` for None/NA.

    Accepts what the parts of invoicekit meet: ``pd.Period``, ``date``/``datetime``/
    ``pd.Timestamp``, the wire's ``{"Year": .., "Month": ..}``, ``(year, month)`` and strings
    starting with ``YYYY-MM``. Anything else is returned as ``str(value)``.

    Examples
    --------
    >>> month_str({"Year": 2026, "Month": 3}), month_str("2026-03-17"), month_str(None)
    ('2026-03', '2026-03', '')
    """
    if value is None or type(value).__name__ in ("NAType", "NaTType") or value != value:
        return ""  # None, pd.NA, NaT, NaN
    if isinstance(value, tuple) and len(value) == 2:
        return format_month(int(value[0]), int(value[1]))
    if hasattr(value, "year") and hasattr(value, "month"):
        return format_month(int(value.year), int(value.month))
    if isinstance(value, Mapping):  # {"Year": .., "Month": ..} as on the wire
        return format_month(int(value.get("Year", 0)), int(value.get("Month", 0)))
    m = _LEADING_MONTH_RE.match(str(value))
    return format_month(int(m.group(1)), int(m.group(2))) if m else str(value)


#: Month names in English, January first: ``month_words`` and chart axes use them.
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
#: Three-letter month names for chart axes (``"Oct"``).
MONTH_ABBR = tuple(name[:3] for name in MONTH_NAMES)


def month_words(value: Any) -> str:
    """A billing month in words, as reports, the CLI and notebooks write it: ``"October 2026"``.

    Tolerant like :func:`month_str` (``""`` for None/NA; a value that is no month is returned
    as :func:`month_str` gives it).

    Examples
    --------
    >>> month_words("2026-10"), month_words({"Year": 2026, "Month": 1}), month_words(None)
    ('October 2026', 'January 2026', '')
    """
    m = month_str(value)
    if not _LEADING_MONTH_RE.match(m) or len(m) != 7:
        return m
    return f"{MONTH_NAMES[int(m[5:7]) - 1]} {m[:4]}"


def next_month(year: int, month: int) -> tuple[int, int]:
    """The month after ``(year, month)``."""
    return (year + 1, 1) if month == 12 else (year, month + 1)


def add_months(year: int, month: int, n: int) -> tuple[int, int]:
    """``(year, month)`` moved by ``n`` months (negative goes back)."""
    i = year * 12 + (month - 1) + n
    return i // 12, i % 12 + 1


def month_start(year: int, month: int) -> datetime:
    """The first instant of a billing month (UTC)."""
    return datetime(year, month, 1, tzinfo=UTC)


def month_range(
    start: object, end: object, *, names: tuple[str, str] = ("start", "end")
) -> list[str]:
    """Every month from ``start`` to ``end`` (both inclusive) as ``"YYYY-MM"``.

    Raises
    ------
    InvalidArgumentError
        A month does not parse, or ``end`` is before ``start``.
    """
    s, e = parse_month(start, names[0]), parse_month(end, names[1])
    if e < s:
        raise InvalidArgumentError(
            f"{names[1]} {format_month(*e)} is before {names[0]} {format_month(*s)}: "
            "give the earlier month first"
        )
    out, cur = [], s
    while cur <= e:
        out.append(format_month(*cur))
        cur = next_month(*cur)
    return out


def span(values: Any) -> list[str]:
    """Every month from the earliest to the latest of ``values`` (gaps filled); ``[]`` if none.

    Examples
    --------
    >>> span(["2026-03", "2026-01", None])
    ['2026-01', '2026-02', '2026-03']
    """
    found = [s for s in (month_str(v) for v in values) if s]
    if not found:
        return []
    return month_range(min(found), max(found))


def as_period(value: Any, name: str = "month") -> pd.Period:
    """A month as a monthly ``pd.Period`` (``"YYYY-MM"``, Period, date or timestamp)."""
    import pandas as pd

    if isinstance(value, pd.Period):
        return value.asfreq("M")
    return pd.Period(format_month(*parse_month(value, name)), freq="M")


def ordinal(value: Any, name: str = "month") -> int | None:
    """A month as pandas' monthly Period ordinal (months since 1970-01); ``None`` stays None."""
    if value is None:
        return None
    y, m = parse_month(value, name)
    return (y - 1970) * 12 + (m - 1)


def last_closed_month(now: object | None = None) -> str:
    """The last billing month that has ended at ``now`` (default: business now), ``"YYYY-MM"``.

    Examples
    --------
    >>> last_closed_month("2026-01-01T00:00:00Z")
    '2025-12'
    """
    t = clock.now() if now is None else clock.parse(now, "now")
    return format_month(*add_months(t.year, t.month, -1))


def default_range(months: int = 12, now: object | None = None) -> tuple[str, str]:
    """The ``months`` billing months up to the last closed one: ``(start, end)``."""
    if not isinstance(months, int) or isinstance(months, bool) or months < 1:
        raise InvalidArgumentError(f"months={months!r} must be a whole number >= 1, e.g. 12")
    end = parse_month(last_closed_month(now))
    return format_month(*add_months(*end, -(months - 1))), format_month(*end)


@dataclass(frozen=True, slots=True)
class Window:
    """One API-legal query window.

    ``start`` (inclusive) and ``end`` (exclusive) are UTC datetimes. For ``by="billing_period"``
    they are the first instants of the billing month and of the next month.

    Examples
    --------
    >>> w = split_windows("2025-01", "2025-01")[0]
    >>> w.key, w.api_filter()
    ('2025-01', {'BillingPeriod': {'Month': 1, 'Year': 2025}})
    """

    by: str
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        """A stable name: ``"2025-01"`` for a month, ``"2025-01-10_2025-02-01"`` otherwise."""
        s, e = self.start, self.end
        whole_month = (
            s.day == 1
            and s.time() == datetime.min.time()
            and (e.year, e.month) == next_month(s.year, s.month)
            and e.day == 1
            and e.time() == datetime.min.time()
        )
        if whole_month:
            return format_month(s.year, s.month)
        return f"{_iso(s)}_{_iso(e)}"

    def api_filter(self) -> dict[str, Any]:
        """The ``Filter`` of a ListInvoiceSummaries request for this window."""
        if self.by == BY_BILLING_PERIOD:
            return {"BillingPeriod": {"Month": self.start.month, "Year": self.start.year}}
        return {"TimeInterval": {"StartDate": self.start, "EndDate": self.end}}


def _iso(t: datetime) -> str:
    if t.time() == datetime.min.time():
        return t.strftime("%Y-%m-%d")
    return t.strftime("%Y-%m-%dT%H%M%S")


def _as_utc(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def issued_windows(start: datetime | date, end: datetime | date) -> list[Window]:
    """Split ``[start, end)`` into TimeInterval windows the API accepts.

    Every window lies within one calendar month (UTC), so it never exceeds the API's one-month
    limit; consecutive windows share their boundary (no gap, no overlap).

    Parameters
    ----------
    start, end
        Inclusive start and exclusive end; naive values are taken as UTC.

    Returns
    -------
    list[Window]
        Windows with ``by="issued"``, oldest first; empty when ``start == end``.

    Examples
    --------
    >>> [w.key for w in issued_windows(date(2025, 1, 15), date(2025, 3, 1))]
    ['2025-01-15_2025-02-01', '2025-02']
    """
    s, e = _as_utc(start), _as_utc(end)
    if e < s:
        raise InvalidArgumentError(
            f"end {e.isoformat()} is before start {s.isoformat()}: swap them"
        )
    out: list[Window] = []
    cur = s
    while cur < e:
        nxt = month_start(*next_month(cur.year, cur.month))
        stop = min(nxt, e)
        out.append(Window(BY_ISSUED, cur, stop))
        cur = stop
    return out


def split_windows(start: object, end: object, by: str = BY_BILLING_PERIOD) -> list[Window]:
    """Split the months ``start``..``end`` (both inclusive) into query windows.

    Parameters
    ----------
    start, end
        Months: ``"YYYY-MM"``, ``pd.Period``, ``date`` or ``datetime``.
    by
        ``"billing_period"`` (one BillingPeriod filter per month) or ``"issued"`` (one
        TimeInterval per calendar month of issue dates).

    Returns
    -------
    list[Window]
        One window per month, oldest first.

    Raises
    ------
    InvalidArgumentError
        A month does not parse, ``end`` is before ``start``, the range leaves 2005-01..2050-12,
        or ``by`` is unknown.

    Examples
    --------
    >>> [w.key for w in split_windows("2025-11", "2026-02")]
    ['2025-11', '2025-12', '2026-01', '2026-02']
    """
    if by not in _BY:
        raise InvalidArgumentError(
            f"by={by!r} is not known: use by='billing_period' or by='issued'"
        )
    s, e = parse_month(start, "start"), parse_month(end, "end")
    if e < s:
        raise InvalidArgumentError(
            f"end={format_month(*e)} is before start={format_month(*s)}: "
            "give the earlier month first"
        )
    if by == BY_ISSUED:
        return issued_windows(month_start(*s), month_start(*next_month(*e)))
    out = []
    cur = s
    while cur <= e:
        out.append(Window(BY_BILLING_PERIOD, month_start(*cur), month_start(*next_month(*cur))))
        cur = next_month(*cur)
    return out
