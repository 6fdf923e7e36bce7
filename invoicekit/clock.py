"""Business time: the one place invoicekit asks what time it is.

Every decision that depends on "now" — which billing months are settled, the default range,
the last closed month, the sandbox's default "today", the "generated at" line of a report —
asks :func:`now` (or :func:`today`). It answers, in this order:

1. a time pinned in this process with :func:`set_now` or :func:`pinned` (the CLI's ``--now``);
2. the environment variable ``INVOICEKIT_NOW`` (ISO date or timestamp), which every child
   process inherits — notebooks, papermill runs, the sandbox's server process — so a past
   month-end can be re-run exactly;
3. the wall clock.

Protocol time (SigV4 signing dates, credential and presigned-URL expiry, pagination tokens,
elapsed-time measurements) is *not* business time and keeps reading the real clock where the
protocol code needs it. ``tests/test_clock.py`` fails when other package code reads the wall
clock.

Examples
--------
>>> from invoicekit import clock
>>> with clock.pinned("2026-11-05"):
...     clock.today().isoformat()
'2026-11-05'
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from invoicekit.errors import InvalidArgumentError

__all__ = [
    "ENV",
    "now",
    "today",
    "parse",
    "set_now",
    "pinned",
    "pinned_for_run",
    "utc_iso",
    "real_now",
]

#: The environment variable that sets business "now" for every process.
ENV = "INVOICEKIT_NOW"

_pinned: datetime | None = None


def parse(value: object, name: str = "--now") -> datetime:
    """An ISO date or timestamp (or a ``date``/``datetime``) as an aware UTC ``datetime``.

    A date means its first instant (00:00 UTC); a naive timestamp is taken as UTC.

    Raises
    ------
    InvalidArgumentError
        The value is not an ISO date or timestamp; the message names ``name``.

    Examples
    --------
    >>> parse("2026-11-05").isoformat()
    '2026-11-05T00:00:00+00:00'
    >>> parse("2026-11-05T13:30:00+01:00").isoformat()
    '2026-11-05T12:30:00+00:00'
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidArgumentError(
                f"{name} {text!r} is not an ISO date or timestamp: give e.g. {name} 2026-11-05 "
                "or 2026-11-05T09:00:00Z"
            ) from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise InvalidArgumentError(f"{name} {value!r} is not a date or timestamp: give e.g. 2026-11-05")


def now() -> datetime:
    """Business "now" as an aware UTC datetime (pinned, else ``INVOICEKIT_NOW``, else real)."""
    if _pinned is not None:
        return _pinned
    env = os.environ.get(ENV, "").strip()
    if env:
        return parse(env, ENV)
    return real_now()


def today() -> date:
    """Business "today" (UTC) — the date of :func:`now`."""
    return now().date()


def set_now(value: object | None, *, export: bool = True) -> datetime | None:
    """Pin business "now" for this process (``None`` unpins); return the pinned value.

    With ``export=True`` (the default) ``INVOICEKIT_NOW`` is set too, so child processes
    started from here (papermill, the sandbox server) agree with this one.
    """
    global _pinned
    _pinned = None if value is None else parse(value)
    if export:
        if _pinned is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = utc_iso(_pinned)
    return _pinned


@contextmanager
def pinned(value: object) -> Iterator[datetime]:
    """Pin business "now" inside a ``with`` block (this process only), then restore it."""
    global _pinned
    before = _pinned
    _pinned = parse(value)
    try:
        yield _pinned
    finally:
        _pinned = before


@contextmanager
def pinned_for_run(value: object) -> Iterator[datetime]:
    """Pin business "now" and export it in ``INVOICEKIT_NOW`` for child processes, then restore
    both (what the CLI's ``--now`` does around a command)."""
    before_env = os.environ.get(ENV)
    before = _pinned
    pinned_at = set_now(value)
    try:
        yield pinned_at
    finally:
        set_now(before, export=False)
        if before_env is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before_env


def utc_iso(t: datetime) -> str:
    """``2026-11-05T09:00:00Z`` (seconds; UTC)."""
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def real_now() -> datetime:
    """The wall clock (UTC) — for protocol and evidence time only, never a business decision.

    What it is for: the time a raw API response page was received (audit evidence beside its
    request id). Signing dates and expiry use botocore's and the sandbox's own clocks.
    """
    return datetime.now(UTC)
