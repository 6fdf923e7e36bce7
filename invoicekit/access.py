"""Per-account AWS access: the session, the clients and the pacing of one payer account.

The loader (:mod:`invoicekit.loader`) and the PDF downloader (:mod:`invoicekit.archive`) reach
an account the same way: :class:`AccountAccess` gives its session (profile, role or the default
chain, from :meth:`Fleet.session_for <invoicekit.fleet.Fleet.session_for>`; assumed-role
credentials refresh themselves), its endpoint override (the fleet file's ``endpoint_url``,
passed explicitly to the one client factory in :mod:`invoicekit._client`), and its clients.

With ``paced=True`` a client waits, before each request goes on the wire (first pages, later
pages and botocore's retries alike), for a token of the account's :class:`Pacer`: at most
``rate_per_account`` requests per second with bursts of ``burst``; a throttling answer halves
the rate and successful answers win it back. A throttled account thus slows down alone. The
loader makes its pacers discover each account's limit below that rate
(``Pacer(rate, burst, start=...)``, see :class:`Pacer`).

Examples
--------
>>> from invoicekit.access import AccountAccess
>>> from invoicekit.fleet import Fleet
>>> fleet = Fleet.from_accounts(["111111111111"], endpoint_url="http://127.0.0.1:9")
>>> access = AccountAccess(fleet, "111111111111", rate_per_account=5)
>>> access.endpoint_url
'http://127.0.0.1:9'
>>> access.client().meta.endpoint_url
'http://127.0.0.1:9'
>>> access.client() is fleet.client("111111111111")
True
>>> access.client(paced=True) is access.client(paced=True)
True
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from invoicekit import _botocore
from invoicekit.errors import THROTTLING_CODES, InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    from invoicekit.fleet import Fleet, PayerAccount

__all__ = [
    "AccountAccess",
    "Pacer",
    "DEFAULT_BURST",
    "MIN_RATE_PER_ACCOUNT",
    "MAX_RATE_PER_ACCOUNT",
    "SLOW_START_GAIN",
    "SAFE_SHARE",
]

#: Requests one account may send at once after a pause (the pacer's bucket size).
DEFAULT_BURST = 4
#: The lowest pace a throttled account slows down to, and the lowest ``rate_per_account``.
MIN_RATE_PER_ACCOUNT = 0.5
#: The highest ``rate_per_account`` accepted (requests/s).
MAX_RATE_PER_ACCOUNT = 10_000
#: Share of the configured rate a successful answer wins back after throttling.
_RECOVERY = 0.05
#: Limit discovery: how much each success raises the rate until the first throttle.
SLOW_START_GAIN = 0.5
#: Limit discovery: the share of the rate an account was throttled at that is safe to start at.
SAFE_SHARE = 0.85
#: Limit discovery: successful answers kept, and over how many seconds, to tell the rate the
#: server accepted when a throttle comes.
_ACCEPTED_SAMPLE = 32
_ACCEPTED_WINDOW_S = 2.0

_PACE_ID = "invoicekit.access.pace"
_NOTE_ID = "invoicekit.access.note-answer"
_tls = threading.local()


class Pacer:
    """One account's request pacing: a token bucket whose rate adapts to throttling (AIMD).

    ``rate`` requests per second with bursts of ``burst``; a throttling answer halves the rate
    (not below :data:`MIN_RATE_PER_ACCOUNT`) and empties the bucket, every successful answer
    wins back 5 % of the configured rate. Tokens are taken when a request is really sent
    (botocore's ``before-send`` event, or the lean client right before it sends), so the
    account's server-side quota sees at most ``burst + rate x t`` requests in any ``t`` seconds.
    Thread-safe.

    **Limit discovery** (``start=`` given): ``rate`` is then only the ceiling and the pacer
    starts at ``start``. Until the first throttle every success raises the rate by
    :data:`SLOW_START_GAIN` (multiplicative, like TCP's slow start); a throttle remembers the
    rate it happened at (:attr:`limit`), halves the rate (once per ``1/rate`` seconds: the
    answers of requests already in flight do not halve it again) and from then on each success
    adds 5 % of :attr:`limit` (additive increase). The bucket's size follows the rate
    (``rate - 1``, from 1 to ``burst``), so a slow account never bursts beyond what a server
    bucket of its size holds. :meth:`learned` is what the run found out.

    A dispatcher that hands tasks to worker threads (the loader) can reserve a token per task
    with :meth:`dispatched` and run the task inside :meth:`task`: :meth:`due_in` then counts
    the tasks handed out that have not sent yet, so no more are handed out than the bucket
    holds.

    Examples
    --------
    >>> from invoicekit.access import Pacer
    >>> p = Pacer(2.0, 2)
    >>> p.acquire(), p.acquire(), p.acquire() > 0
    (0.0, 0.0, True)
    >>> p.throttled(); p.rate
    1.0
    >>> d = Pacer(100.0, 4, start=2.0)   # discover the limit, at most 100 requests/s
    >>> d.succeeded(); d.rate
    3.0
    >>> d.throttled(); d.limit, d.rate, d.throttles
    (3.0, 1.5, 1)
    """

    __slots__ = (
        "max_rate", "rate", "burst", "tokens", "stamp", "pending", "_lock",
        "max_burst", "discover", "limit", "throttles", "successes", "_cut_at", "_answers",
        "limit_found", "_first_ok", "_last_ok",
    )  # fmt: skip

    def __init__(
        self,
        rate: float,
        burst: float = DEFAULT_BURST,
        *,
        start: float | None = None,
        limit: float | None = None,
    ) -> None:
        self.max_rate = float(rate)
        self.max_burst = float(burst)
        self.discover = start is not None
        self.limit: float | None = None
        self.limit_found = False  # the limit came from this account's own throttles
        self.throttles = 0
        self.successes = 0
        self._cut_at = -1e9
        self._answers: deque[float] = deque(maxlen=_ACCEPTED_SAMPLE)
        self._first_ok = self._last_ok = 0.0
        if self.discover:
            self.rate = min(self.max_rate, max(MIN_RATE_PER_ACCOUNT, float(start)))
            if limit is not None:
                self.limit = min(self.max_rate, max(MIN_RATE_PER_ACCOUNT, float(limit)))
                self.limit_found = True
            self.burst = self._burst_for(self.rate)
        else:
            self.rate = self.max_rate
            self.burst = self.max_burst
        self.tokens = self.burst
        self.stamp = time.monotonic()
        self.pending = 0
        self._lock = threading.Lock()

    def _burst_for(self, rate: float) -> float:
        return max(1.0, min(self.max_burst, rate - 1.0))

    def _set_rate(self, rate: float) -> None:
        self.rate = rate
        if self.discover:
            self.burst = self._burst_for(rate)
            self.tokens = min(self.tokens, self.burst)

    def restart(
        self,
        start: float,
        limit: float | None = None,
        *,
        fill: bool = False,
        found: bool = True,
    ) -> None:
        """Go on at ``start`` requests/s (and a known ``limit``), e.g. the run's prior.

        ``fill``: the account has not sent yet; its bucket starts full at the new size.
        ``found=False``: ``limit`` is another account's (the run's prior), a guess to grow
        from gently, not this account's finding (:meth:`learned` does not report it).
        """
        with self._lock:
            self._refill()
            self.discover = True
            if limit is not None:
                self.limit = min(self.max_rate, max(MIN_RATE_PER_ACCOUNT, float(limit)))
                self.limit_found = found
            self._set_rate(min(self.max_rate, max(MIN_RATE_PER_ACCOUNT, float(start))))
            self.tokens = self.burst if fill else min(self.tokens, self.burst)

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def due_in(self) -> float:
        """Seconds until a newly dispatched task could send without waiting (0: now)."""
        with self._lock:
            self._refill()
            missing = self.pending + 1 - self.tokens
            return missing / self.rate if missing > 1e-9 else 0.0

    def dispatched(self) -> None:
        """A task was handed to a worker (its first send is counted as pending until then)."""
        with self._lock:
            self.pending += 1

    def cancel(self) -> None:
        """A dispatched task ended without sending anything."""
        with self._lock:
            self.pending -= 1

    @contextlib.contextmanager
    def task(self) -> Iterator[None]:
        """Run a dispatched task in this thread: its first send settles the reservation."""
        previous = getattr(_tls, "reserved", None)
        _tls.reserved = self
        try:
            yield
        finally:
            if getattr(_tls, "reserved", None) is self:
                self.cancel()  # ended before sending anything
            _tls.reserved = previous

    def acquire(self, first: bool = False) -> float:
        """Take a token for a request about to be sent; the seconds to wait before sending.

        ``first``: the request is a dispatched task's first send (its reservation ends).
        """
        with self._lock:
            if first:
                self.pending -= 1
            self._refill()
            self.tokens -= 1.0
            return -self.tokens / self.rate if self.tokens < 0 else 0.0

    def wait(self) -> None:
        """Take a token and sleep until the request may be sent (the ``before-send`` hook)."""
        first = getattr(_tls, "reserved", None) is self
        if first:
            _tls.reserved = None
        delay = self.acquire(first)
        if delay > 0:
            time.sleep(delay)

    def throttled(self) -> None:
        """A throttling answer: halve the rate and empty the bucket."""
        with self._lock:
            self._refill()
            self.throttles += 1
            if self.discover:
                now = time.monotonic()
                if now - self._cut_at < 1.0 / self.rate:
                    return  # an answer to a request sent before the last cut
                self._cut_at = now
                # the limit is at most the rate sent at, and at most the rate the server
                # accepted just before (a bucket lets a burst through faster than its rate)
                found = min(self.rate, self._accepted_rate(now))
                if self.limit is not None and self.limit_found:
                    found = min(self.limit, found)
                self.limit, self.limit_found = found, True
                self._answers.clear()
                self._set_rate(max(MIN_RATE_PER_ACCOUNT, min(self.rate, self.limit) / 2))
            else:
                self._set_rate(max(MIN_RATE_PER_ACCOUNT, self.rate / 2))
            self.tokens = min(self.tokens, 0.0)

    def _accepted_rate(self, now: float) -> float:
        """Successful answers per second over the last :data:`_ACCEPTED_WINDOW_S` (inf when
        too few to tell)."""
        recent = [t for t in self._answers if now - t <= _ACCEPTED_WINDOW_S]
        if len(recent) < 3:
            return float("inf")
        return max(MIN_RATE_PER_ACCOUNT, (len(recent) - 1) / max(now - recent[0], 1e-3))

    def succeeded(self) -> None:
        """A successful answer: win back part of the configured (or discovered) rate."""
        self.successes += 1
        if self.discover:
            now = time.monotonic()
            self._answers.append(now)
            if self.successes == 1:
                self._first_ok = now
            self._last_ok = now
        if self.rate >= self.max_rate:
            return
        with self._lock:
            self._refill()
            if not self.discover:
                self.rate = min(self.max_rate, self.rate + _RECOVERY * self.max_rate)
            elif self.limit is None:
                self._set_rate(min(self.max_rate, self.rate * (1.0 + SLOW_START_GAIN)))
            else:
                self._set_rate(min(self.max_rate, self.rate + _RECOVERY * self.limit))

    def learned(self) -> tuple[float, float | None]:
        """``(rate, limit)``: a safe starting rate for the next run, and the rate at which
        the account was throttled (``None``: never throttled, up to the rate reached).

        Examples
        --------
        >>> p = Pacer(100.0, start=4.0); p.throttled(); p.learned()
        (2.0, 4.0)
        """
        with self._lock:
            if self.limit is None or not self.limit_found:
                return round(self.rate, 3), None
            safe = min(self.rate, SAFE_SHARE * self.limit)
            span = self._last_ok - self._first_ok
            if self.successes >= 3 and span > 0:
                # never more than the account was seen to be allowed over the whole run
                safe = min(safe, (self.successes - 1) / span)
            return round(max(MIN_RATE_PER_ACCOUNT, safe), 3), round(self.limit, 3)

    def note(self, response: Any) -> None:
        """Feed one attempt's answer (botocore's ``needs-retry`` ``response``) to the pacer."""
        code = _botocore.answer_error_code(response)
        if code is None:
            return  # a connection error: no answer to learn from
        if code in THROTTLING_CODES:
            self.throttled()
        elif not code:
            self.succeeded()


def check_rate(rate: float | None, name: str = "rate_per_account") -> float | None:
    """Validate a requests-per-second rate (``None``: no pacing); ``name`` is used in messages.

    Examples
    --------
    >>> check_rate(5)
    5.0
    >>> check_rate(0.1, "--rate-per-account")
    Traceback (most recent call last):
    ...
    invoicekit.errors.InvalidArgumentError: --rate-per-account=0.1 must be a number of requests per second from 0.5 to 10000 (or None: no pacing), e.g. --rate-per-account=5
    """
    if rate is None:
        return None
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not MIN_RATE_PER_ACCOUNT <= rate <= MAX_RATE_PER_ACCOUNT
    ):
        raise InvalidArgumentError(
            f"{name}={rate!r} must be a number of requests per second from "
            f"{MIN_RATE_PER_ACCOUNT} to {MAX_RATE_PER_ACCOUNT} (or None: no pacing), "
            f"e.g. {name}=5"
        )
    return float(rate)


def _event_name(client: Any) -> str:
    return client.meta.service_model.service_id.hyphenize()


class AccountAccess:
    """How invoicekit reaches one payer account: session, endpoint, clients, pacing.

    Parameters
    ----------
    fleet : Fleet
        The fleet the account belongs to (sessions are cached there, one per account).
    account : str or PayerAccount
        The account (its 12-digit id, or the fleet's :class:`PayerAccount`).
    rate_per_account : float, optional
        Requests per second for clients made with ``paced=True`` (``None``: no pacing; such
        clients are then the plain ones).
    burst : int
        Requests a paced client may send at once after a pause.

    Attributes
    ----------
    account : PayerAccount
    fleet : Fleet
    pacer : Pacer or None
        The account's pacer (``None`` without ``rate_per_account``), shared by every paced
        client of this object.

    Examples
    --------
    >>> from invoicekit.access import AccountAccess
    >>> from invoicekit.fleet import Fleet
    >>> fleet = Fleet.from_accounts([{"id": "111111111111", "name": "Retail EU"}])
    >>> a = AccountAccess(fleet, "111111111111")
    >>> a.account.label, a.endpoint_url, a.pacer
    ('111111111111 (Retail EU)', None, None)
    """

    def __init__(
        self,
        fleet: Fleet,
        account: str | PayerAccount,
        *,
        rate_per_account: float | None = None,
        burst: int = DEFAULT_BURST,
    ) -> None:
        rate = check_rate(rate_per_account)
        if isinstance(burst, bool) or not isinstance(burst, int | float) or burst < 1:
            raise InvalidArgumentError(f"burst={burst!r} must be a number >= 1, e.g. burst=4")
        self.fleet = fleet
        self.account: PayerAccount = fleet.account(account)
        self.pacer: Pacer | None = None if rate is None else Pacer(rate, burst)

    def __repr__(self) -> str:
        return f"AccountAccess({self.account.label})"

    @property
    def endpoint_url(self) -> str | None:
        """The account's explicit endpoint override (fleet file ``endpoint_url``), else None.

        ``None`` leaves the endpoint to the standard AWS configuration
        (``AWS_ENDPOINT_URL_<SERVICE>``, a profile's ``endpoint_url``), else AWS itself; see
        :meth:`Fleet.endpoint_url_for <invoicekit.fleet.Fleet.endpoint_url_for>` for the URL
        that is finally used.
        """
        return self.fleet.endpoint_override(self.account)

    def session(self) -> Any:
        """The account's ``boto3.Session`` (cached by the fleet; raises ``ConfigError``)."""
        return self.fleet.session_for(self.account)

    def client(
        self,
        service: str = "invoicing",
        *,
        max_pool_connections: int | None = None,
        retry_mode: str | None = None,
        max_attempts: int | None = None,
        paced: bool = False,
    ) -> Any:
        """The account's (cached) client for ``service``, made by the one factory.

        Parameters
        ----------
        service : str
            ``"invoicing"``, ``"sts"``, ...
        max_pool_connections : int, optional
            HTTP connection pool size (factory default when None).
        retry_mode, max_attempts : optional
            botocore retry mode and retries after the first try (factory defaults when None;
            a caller that paces its requests usually asks for ``retry_mode="standard"``).
        paced : bool
            Make every request of the client wait on :attr:`pacer` and halve its rate on
            throttling answers. Paced clients are not the factory's shared ones; the fleet
            keeps one per account, service and options (a second run reuses it, with the
            newest pacer); without a pacer ``paced`` is ignored.

        Returns
        -------
        botocore.client.BaseClient
            Thread-safe; the same object for the same arguments.

        Raises
        ------
        ConfigError
            The account's credentials or configuration cannot be used.
        """
        opts: dict[str, Any] = {"retry_mode": retry_mode, "max_attempts": max_attempts}
        if max_pool_connections is not None:
            opts["max_pool_connections"] = max_pool_connections
        if not paced or self.pacer is None:
            return self.fleet.client(self.account, service, **opts)
        # Paced clients are kept on the fleet, one per (account, service, options), so a second
        # run on the same Fleet reuses it (making a client costs ~10 ms of CPU); they are not
        # the factory's shared clients, whose callers must not be paced. The client's hooks
        # follow the slot, which holds the pacer of the latest AccountAccess that asked for
        # it: runs on one Fleet at the same time share the account's pacing, as they share
        # its quota.
        key = (self.account.id, service, max_pool_connections, retry_mode, max_attempts)
        cache = self.fleet._paced_clients  # noqa: SLF001 - storage this module owns
        with self.fleet._lock:  # noqa: SLF001
            entry = cache.get(key)
        if entry is None:
            from invoicekit import _client  # lazy: botocore loads on first use

            made = _client.new_client(
                self.session(),
                service,
                account_id=self.account.id,
                endpoint_url=self.endpoint_url,
                **opts,
            )
            slot = _PacerSlot()
            _register_pacing(made, slot)
            with self.fleet._lock:  # noqa: SLF001
                entry = cache.setdefault(key, (made, slot))
        client, slot = entry
        slot.pacer = self.pacer
        return client


class _PacerSlot:
    """The pacer a paced client's hooks consult (swapped by :meth:`AccountAccess.client`)."""

    __slots__ = ("pacer",)

    def __init__(self) -> None:
        self.pacer: Pacer | None = None


def _register_pacing(client: Any, slot: _PacerSlot) -> None:
    def pace(**_: Any) -> None:
        # before-send: the calling thread, right before the request goes on the wire.
        # Returning None lets botocore send it.
        pacer = slot.pacer
        if pacer is not None:
            pacer.wait()

    def note(response: Any = None, **_: Any) -> None:
        # needs-retry: every attempt's answer, before botocore decides to retry.
        pacer = slot.pacer
        if pacer is not None:
            pacer.note(response)

    name = _event_name(client)
    client.meta.events.register(f"before-send.{name}", pace, unique_id=_PACE_ID)
    client.meta.events.register(f"needs-retry.{name}", note, unique_id=_NOTE_ID)
