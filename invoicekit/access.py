"""Per-account AWS access: the session, the clients and the pacing of one payer account.

The loader (:mod:`invoicekit.loader`) and the PDF downloader (:mod:`invoicekit.archive`) reach
an account the same way: :class:`AccountAccess` gives its session (profile, role or the default
chain, from :meth:`Fleet.session_for <invoicekit.fleet.Fleet.session_for>`; assumed-role
credentials refresh themselves), its endpoint override (the fleet file's ``endpoint_url``,
passed explicitly to the one client factory in :mod:`invoicekit._client`), and its clients.

With ``paced=True`` a client waits, before each request goes on the wire (first pages, later
pages and botocore's retries alike), for a token of the account's :class:`Pacer`: at most
``rate_per_account`` requests per second with bursts of ``burst``; a throttling answer halves
the rate and successful answers win it back. A throttled account thus slows down alone.

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
]

#: Requests one account may send at once after a pause (the pacer's bucket size).
DEFAULT_BURST = 4
#: The lowest pace a throttled account slows down to, and the lowest ``rate_per_account``.
MIN_RATE_PER_ACCOUNT = 0.5
#: The highest ``rate_per_account`` accepted (requests/s).
MAX_RATE_PER_ACCOUNT = 10_000
#: Share of the configured rate a successful answer wins back after throttling.
_RECOVERY = 0.05

_PACE_ID = "invoicekit.access.pace"
_NOTE_ID = "invoicekit.access.note-answer"
_tls = threading.local()


class Pacer:
    """One account's request pacing: a token bucket whose rate halves on throttling (AIMD).

    ``rate`` requests per second with bursts of ``burst``; a throttling answer halves the rate
    (not below :data:`MIN_RATE_PER_ACCOUNT`) and empties the bucket, every successful answer
    wins back 5 % of the configured rate. Tokens are taken when a request is really sent
    (botocore's ``before-send`` event), so the account's server-side quota sees at most
    ``burst + rate x t`` requests in any ``t`` seconds. Thread-safe.

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
    """

    __slots__ = ("max_rate", "rate", "burst", "tokens", "stamp", "pending", "_lock")

    def __init__(self, rate: float, burst: float = DEFAULT_BURST) -> None:
        self.max_rate = self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = self.burst
        self.stamp = time.monotonic()
        self.pending = 0
        self._lock = threading.Lock()

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
            self.rate = max(MIN_RATE_PER_ACCOUNT, self.rate / 2)
            self.tokens = min(self.tokens, 0.0)

    def succeeded(self) -> None:
        """A successful answer: win back part of the configured rate."""
        if self.rate < self.max_rate:
            with self._lock:
                self._refill()
                self.rate = min(self.max_rate, self.rate + _RECOVERY * self.max_rate)

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
