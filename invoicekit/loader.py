"""Load invoice summaries across payer accounts and months, concurrently and politely.

The range ``start``..``end`` (months, both inclusive) is split into API-legal windows: one
``Filter.BillingPeriod`` per billing month (the default), or with ``by="issued"`` one
``Filter.TimeInterval`` per calendar month of issue dates (UTC, StartDate inclusive, EndDate
exclusive — the API refuses intervals longer than a month). Every (account, window) pair is one
task; tasks run on a bounded thread pool, dispatched round-robin across accounts with at most
``per_account`` requests of one account in flight. Each account has its own boto3 client (from
:mod:`invoicekit._client`, botocore "standard" retries) and its own pacing: at most
``rate_per_account`` requests per second (bursts of 4), halved when the account is throttled
anyway and won back as answers succeed, so a throttled account slows down on its own and the
others keep going. Accounts are set up (session, credentials, client) by a few setup workers
while the others already send requests.

A failure of one account (access denied, no credentials, an unknown profile, throttling that
outlasts the retries) is collected — ``df.attrs["failures"]`` — and the other accounts' data is
kept.

Examples
--------
>>> import invoicekit as ik
>>> df = ik.read_invoice_summaries("fleet.yml", "2025-01", "2025-12")  # doctest: +SKIP
>>> df.attrs["failures"], df.attrs["api_calls"]  # doctest: +SKIP
([], 1200)
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from invoicekit import clock
from invoicekit.errors import (
    ConfigError,
    InvalidArgumentError,
    InvoiceKitError,
    translate_client_error,
)
from invoicekit.months import (
    BY_BILLING_PERIOD,
    Window,
    issued_windows,
    parse_month,
    split_windows,
)
from invoicekit.outcomes import WindowResult

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from invoicekit.fleet import Fleet, PayerAccount
    from invoicekit.store import Store

__all__ = [
    "Window",
    "split_windows",
    "issued_windows",
    "parse_month",
    "list_invoice_summaries",
    "read_invoice_summaries",
    "SummaryStream",
    "WindowResult",
]

log = logging.getLogger(__name__)

#: The page size asked of ListInvoiceSummaries (the API maximum).
MAX_RESULTS = 100
#: Thread pool size: enough requests in flight to hide ~100 ms of latency per call.
DEFAULT_MAX_WORKERS = 64
#: Requests of one account in flight at once (the rest of the pool serves other accounts).
DEFAULT_PER_ACCOUNT = 2
#: Requests per second sent to one account (``rate_per_account``): the sandbox's per-account
#: limit in issue 3's benchmark (5 requests/s, burst 5). ``None`` turns pacing off.
DEFAULT_RATE_PER_ACCOUNT = 5.0
#: Requests one account may send at once after a pause: one below the burst of 5 that the
#: limit allows, as headroom for requests that meet the server's bucket out of step.
BURST_PER_ACCOUNT = 4
#: Threads that set accounts up (session, credentials, client) while the others send requests.
SETUP_WORKERS = 4
#: The lowest pace a throttled account slows down to (requests/s).
MIN_RATE_PER_ACCOUNT = 0.5
#: botocore's retries after the first try, per request (``_client.MAX_ATTEMPTS`` when None).
MAX_ATTEMPTS: int | None = None
#: botocore retry mode of the loader's clients: the pacing here is the client-side rate limiter
#: (botocore's "adaptive" limiter can drop an account to 0.5 requests/s after one throttle).
RETRY_MODE = "standard"
_OPERATION = "ListInvoiceSummaries"
# (The month and window helpers live in invoicekit.months; the names above stay importable from
# here for callers of version 0.1.)
# Error codes that end an account's run: its other windows would fail the same way.
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "InternalServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "ValidationException",
    }
)
# Answers that mean "slow down" (the pacer halves the account's rate).
_THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
    }
)
# Failure codes that mean "the configuration is wrong", not "AWS said no".
CONFIG_CODES = frozenset({"NoCredentials", "PartialCredentials", "ProfileNotFound", "ConfigError"})


# --------------------------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------------------------


def resolve_fleet(fleet_or_accounts: Any) -> Fleet:
    """A :class:`~invoicekit.fleet.Fleet` from a Fleet, a fleet YAML path or account ids.

    Examples
    --------
    >>> fleet = resolve_fleet(["111111111111"])  # doctest: +SKIP
    """
    if hasattr(fleet_or_accounts, "accounts") and hasattr(fleet_or_accounts, "session_for"):
        return fleet_or_accounts  # a Fleet (or anything shaped like one)

    from invoicekit.fleet import Fleet, load_fleet

    if isinstance(fleet_or_accounts, str | os.PathLike):
        return load_fleet(fleet_or_accounts)
    if isinstance(fleet_or_accounts, Iterable) and not isinstance(fleet_or_accounts, Mapping):
        items = list(fleet_or_accounts)
        if not items:
            raise InvalidArgumentError("no accounts given: pass a fleet file or account ids")
        return Fleet.from_accounts(items)
    raise InvalidArgumentError(
        f"cannot load accounts from {type(fleet_or_accounts).__name__}: pass a Fleet, the path "
        "of a fleet YAML file, or a list of 12-digit account ids"
    )


# --------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------


class _Failed(Exception):
    """A window's fetch failed; carries the classified failure and the calls it cost."""

    def __init__(self, code: str, operation: str, message: str, fatal: bool, calls: int):
        super().__init__(message)
        self.code, self.operation, self.message = code, operation, message
        self.fatal, self.calls = fatal, calls


_tls = threading.local()
_CAPTURE_ID = "invoicekit.loader.capture-body"
_PACE_ID = "invoicekit.loader.pace"
_NOTE_ID = "invoicekit.loader.note-answer"


def _capture_body(http_response: Any = None, **_: Any) -> None:
    # after-call hook: runs in the calling thread, right after the response was parsed.
    _tls.body = getattr(http_response, "content", b"") or b""


def _classify(exc: BaseException, account_id: str, calls: int) -> _Failed:
    """Turn an exception from one window's fetch into a per-account failure record."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        op = getattr(exc, "operation_name", None) or _OPERATION
        err = translate_client_error(exc, operation=op, account_id=account_id)
        meta = exc.response.get("ResponseMetadata") or {}
        calls += 1 + int(meta.get("RetryAttempts") or 0) if op == _OPERATION else 0
        return _Failed(
            err.code or "ClientError", op, str(err), err.code not in _TRANSIENT_CODES, calls
        )
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        code = "NoCredentials" if isinstance(exc, bx.NoCredentialsError) else "PartialCredentials"
        return _Failed(
            code,
            _OPERATION,
            f"no AWS credentials for account {account_id}: give the account a profile or "
            "role_arn in the fleet file, or configure the default chain (aws configure, "
            "AWS_PROFILE, aws sso login)",
            True,
            calls,
        )
    if isinstance(exc, bx.ProfileNotFound):
        return _Failed(
            "ProfileNotFound",
            _OPERATION,
            f"account {account_id}: {exc} (fix: add the profile to the AWS config file or "
            "correct the fleet file)",
            True,
            calls,
        )
    if isinstance(exc, ConfigError):
        return _Failed("ConfigError", _OPERATION, f"account {account_id}: {exc}", True, calls)
    if isinstance(exc, InvoiceKitError):
        return _Failed(
            getattr(exc, "code", None) or type(exc).__name__, _OPERATION, str(exc), True, calls
        )
    if isinstance(exc, _TRANSIENT_BOTOCORE):
        # A dropped connection or a read timeout that outlasted botocore's retries: this
        # window failed, the account's other windows may well succeed.
        return _Failed(
            type(exc).__name__,
            _OPERATION,
            f"{_OPERATION} failed for account {account_id}: {exc} (fix: run again; the "
            "store re-queries only what is missing)",
            False,
            calls,
        )
    if isinstance(exc, bx.BotoCoreError):
        # Connection refused, unknown host, bad endpoint, ...: every window would fail.
        return _Failed(
            type(exc).__name__,
            _OPERATION,
            f"{_OPERATION} failed for account {account_id}: {exc} (fix: check the endpoint and "
            "the network, then run again)",
            True,
            calls,
        )
    raise exc


def _transient_botocore() -> tuple[type, ...]:
    from botocore import exceptions as bx

    return (bx.ConnectionClosedError, bx.ReadTimeoutError, bx.IncompleteReadError,
            bx.ResponseStreamingError)  # fmt: skip


_TRANSIENT_BOTOCORE = _transient_botocore()


def _fetch_window(
    client: Any, account_id: str, window: Window, max_results: int, capture: bool
) -> WindowResult:
    """All pages of one (account, window). Raises :class:`_Failed`."""
    kwargs: dict[str, Any] = {
        "Selector": {"ResourceType": "ACCOUNT_ID", "Value": account_id},
        "Filter": window.api_filter(),
        "MaxResults": max_results,
    }
    records: list[dict] = []
    pages: list[tuple[datetime, str, bytes]] = []
    calls = 0
    seen_tokens: set[str] = set()
    try:
        while True:
            resp = client.list_invoice_summaries(**kwargs)
            meta = resp.get("ResponseMetadata") or {}
            calls += 1 + int(meta.get("RetryAttempts") or 0)
            if capture:
                pages.append((clock.real_now(), meta.get("RequestId") or "", _tls.body))
            records.extend(resp.get("InvoiceSummaries") or ())
            token = resp.get("NextToken")
            if not token:
                break
            if token in seen_tokens:
                raise _Failed(
                    "RepeatedNextToken",
                    _OPERATION,
                    f"{_OPERATION} for account {account_id}, window {window.key} returned the "
                    "same NextToken twice (fix: report it; the results would never end)",
                    False,
                    calls,
                )
            seen_tokens.add(token)
            kwargs["NextToken"] = token
    except _Failed:
        raise
    except Exception as exc:
        raise _classify(exc, account_id, calls) from exc
    return WindowResult(account_id, window, records, clock.now(), calls, pages)


class _Pacer:
    """One account's request pacing: a token bucket whose rate halves on throttling (AIMD).

    ``rate`` requests per second with bursts of ``burst``; a throttling answer halves the rate
    (not below :data:`MIN_RATE_PER_ACCOUNT`) and empties the bucket, every successful answer
    wins back 5 % of the configured rate. Tokens are taken when a request is really sent
    (botocore's ``before-send`` event: first pages, later pages and retries alike), so the
    account's server-side quota sees at most ``burst + rate x t`` requests in any ``t``
    seconds. ``pending`` counts tasks handed to a worker that have not sent yet, so the
    dispatcher does not hand out more than the bucket holds. Thread-safe.
    """

    __slots__ = ("max_rate", "rate", "burst", "tokens", "stamp", "pending", "_lock")

    def __init__(self, rate: float, burst: int) -> None:
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
        with self._lock:
            self.pending += 1

    def cancel(self) -> None:
        """A dispatched task ended without sending anything."""
        with self._lock:
            self.pending -= 1

    def acquire(self, first: bool) -> float:
        """Take a token for a request about to be sent; the seconds to wait before sending."""
        with self._lock:
            if first:
                self.pending -= 1
            self._refill()
            self.tokens -= 1.0
            return -self.tokens / self.rate if self.tokens < 0 else 0.0

    def throttled(self) -> None:
        with self._lock:
            self._refill()
            self.rate = max(MIN_RATE_PER_ACCOUNT, self.rate / 2)
            self.tokens = min(self.tokens, 0.0)

    def succeeded(self) -> None:
        if self.rate < self.max_rate:
            with self._lock:
                self._refill()
                self.rate = min(self.max_rate, self.rate + 0.05 * self.max_rate)


def _pace_send(**_: Any) -> None:
    # before-send hook (the calling thread, right before the request goes on the wire).
    # Returns None: botocore sends the request.
    pacer = getattr(_tls, "pacer", None)
    if pacer is None:
        return
    first, _tls.first = _tls.first, False
    delay = pacer.acquire(first)
    if delay > 0:
        time.sleep(delay)


def _note_answer(response: Any = None, **_: Any) -> None:
    # needs-retry hook: every attempt's answer, before botocore decides to retry.
    pacer = getattr(_tls, "pacer", None)
    if pacer is None or not response:
        return
    error = (response[1] or {}).get("Error") or {}
    if error.get("Code") in _THROTTLING_CODES:
        pacer.throttled()
    elif not error:
        pacer.succeeded()


class _Account:
    """Per-account dispatch state (main thread) and its client, made once by a setup worker."""

    __slots__ = ("account", "windows", "in_flight", "queued", "dead", "pacer", "_client", "_error")

    def __init__(
        self, account: PayerAccount, windows: list[Window], pacer: _Pacer | None = None
    ) -> None:
        self.account = account
        self.windows = deque(windows)
        self.in_flight = 0
        self.queued = False
        self.dead = False
        self.pacer = pacer
        self._client: Any = None
        self._error: BaseException | None = None

    def set_up(self, fleet: Fleet, capture: bool) -> None:
        """Make the account's session and client (a setup worker); a failure is kept."""
        try:
            self._client = _make_client(fleet, self.account, capture)
        except Exception as exc:
            self._error = exc

    def client(self) -> Any:
        """The client, or the setup failure raised again (in the task that needs it)."""
        if self._error is not None:
            raise self._error
        return self._client


def _make_client(fleet: Fleet, account: PayerAccount, capture: bool) -> Any:
    # The factory applies the retry policy and caches the client per session; the loader's own
    # per-account pacing (_Pacer, via the two hooks) is the client-side rate limiter.
    from invoicekit import _client

    c = _client.client(
        fleet.session_for(account),
        "invoicing",
        account_id=account.id,
        max_attempts=MAX_ATTEMPTS,
        retry_mode=RETRY_MODE,
    )
    events = c.meta.events
    events.register(f"before-send.invoicing.{_OPERATION}", _pace_send, unique_id=_PACE_ID)
    events.register(f"needs-retry.invoicing.{_OPERATION}", _note_answer, unique_id=_NOTE_ID)
    if capture:
        c.meta.events.register(
            f"after-call.invoicing.{_OPERATION}", _capture_body, unique_id=_CAPTURE_ID
        )
    return c


class _Run:
    """Bookkeeping shared by the dispatcher and the caller: failures and API calls."""

    def __init__(self, fleet: Fleet) -> None:
        self.names = {a.id: a.name for a in fleet.accounts}
        self.api_calls = 0
        self.failures: list[dict] = []
        self._by_key: dict[tuple[str, str], dict] = {}
        self.windows_ok = 0

    def fail(self, account_id: str, f: _Failed, windows: list[str]) -> None:
        self.api_calls += f.calls
        key = (account_id, f.code)
        entry = self._by_key.get(key)
        if entry is None:
            entry = {
                "account_id": account_id,
                "account_name": self.names.get(account_id),
                "operation": f.operation,
                "code": f.code,
                "message": f.message,
                "windows": [],
            }
            self._by_key[key] = entry
            self.failures.append(entry)
            log.warning("%s", f.message)
        entry["windows"].extend(windows)

    @property
    def failed_accounts(self) -> set[str]:
        return {f["account_id"] for f in self.failures}


def _dispatch(
    fleet: Fleet,
    plan: Mapping[str, list[Window]],
    run: _Run,
    *,
    max_workers: int,
    per_account: int,
    max_results: int,
    progress: bool,
    capture: bool,
    rate_per_account: float | None = DEFAULT_RATE_PER_ACCOUNT,
) -> Iterator[WindowResult]:
    """Run every planned (account, window) task; yield results as they complete.

    Accounts take turns (round-robin), each with at most ``per_account`` tasks in flight and,
    with ``rate_per_account``, only when its pacer has a token for the task: an account that
    must wait sits in a timed queue instead of a worker thread, and the workers serve the
    accounts that can send now. An account's session and client are made by its first task,
    in a worker, so that setting up one account overlaps the others' requests.
    """

    def pacer() -> _Pacer | None:
        if rate_per_account is None:
            return None
        return _Pacer(rate_per_account, max(1.0, min(BURST_PER_ACCOUNT, rate_per_account - 1)))

    states = [_Account(a, list(plan[a.id]), pacer()) for a in fleet.accounts if plan.get(a.id)]
    total = sum(len(s.windows) for s in states)
    if total == 0:
        return
    bar = _progress_bar(total, progress)
    done: queue.SimpleQueue = queue.SimpleQueue()
    ready: deque[_Account] = deque()
    # accounts whose pacer has no token yet: (monotonic time it will, sequence, account)
    waiting: list[tuple[float, int, _Account]] = []
    seq = itertools.count()
    in_flight = 0
    workers = max(1, min(max_workers, total))
    # Accounts are set up (session, credentials, client: CPU under the GIL) one after the
    # other by a few setup workers, in fleet order, while the request workers already serve
    # the accounts that are ready. Setting up all of them at once would interleave their CPU
    # and leave every account waiting until nearly all are done.
    to_set_up: deque[_Account] = deque(states)
    setting_up = len(states)
    stop = threading.Event()
    setup_workers = min(SETUP_WORKERS, len(states))
    pool = ThreadPoolExecutor(
        max_workers=workers + setup_workers, thread_name_prefix="invoicekit-loader"
    )

    def set_up() -> None:
        while not stop.is_set():
            try:
                s = to_set_up.popleft()
            except IndexError:
                return
            s.set_up(fleet, capture)
            done.put((s, None, None))

    def task(state: _Account, window: Window) -> WindowResult:
        _tls.pacer, _tls.first = state.pacer, True
        try:
            try:
                client = state.client()
            except Exception as exc:
                raise _classify(exc, state.account.id, 0) from exc
            return _fetch_window(client, state.account.id, window, max_results, capture)
        finally:
            if state.pacer is not None and _tls.first:
                state.pacer.cancel()  # ended before sending anything
            _tls.pacer = None

    def fill() -> int:
        n = 0
        while ready and in_flight + n < workers:
            s = ready.popleft()
            s.queued = False
            if s.dead or not s.windows:
                continue
            if s.pacer is not None:
                wait = s.pacer.due_in()
                if wait > 0:
                    s.queued = True
                    heapq.heappush(waiting, (time.monotonic() + wait, next(seq), s))
                    continue
                s.pacer.dispatched()
            w = s.windows.popleft()
            s.in_flight += 1
            fut = pool.submit(task, s, w)
            fut.add_done_callback(lambda f, s=s, w=w: done.put((s, w, f)))
            n += 1
            if s.windows and s.in_flight < per_account:
                s.queued = True
                ready.append(s)
        return n

    def wake() -> None:
        now = time.monotonic()
        while waiting and waiting[0][0] <= now:
            ready.append(heapq.heappop(waiting)[2])

    try:
        for _ in range(setup_workers):
            pool.submit(set_up)
        while in_flight or waiting or setting_up:
            timeout = max(0.0, waiting[0][0] - time.monotonic()) if waiting else None
            try:
                s, w, fut = done.get(timeout=timeout)
            except queue.Empty:
                wake()
                in_flight += fill()
                continue
            if w is None:  # an account is set up (or failed to be: its first task says so)
                setting_up -= 1
                s.queued = True
                ready.append(s)
                in_flight += fill()
                continue
            in_flight -= 1
            s.in_flight -= 1
            fut: Future
            exc = fut.exception()
            if exc is None:
                result = fut.result()
                run.api_calls += result.api_calls
                run.windows_ok += 1
                bar.update(1)
                yield result
            elif isinstance(exc, _Failed):
                skipped: list[str] = []
                if exc.fatal and not s.dead:
                    s.dead = True
                    skipped = [x.key for x in s.windows]
                    bar.update(len(s.windows))
                    s.windows.clear()
                run.fail(s.account.id, exc, [w.key, *skipped])
                bar.update(1)
                bar.set_postfix(failed=len(run.failed_accounts), refresh=False)
            else:
                raise exc
            if s.windows and not s.dead and not s.queued and s.in_flight < per_account:
                s.queued = True
                ready.append(s)
            wake()
            in_flight += fill()
    finally:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        bar.close()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **_: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, progress: bool) -> Any:
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm  # lazy: a widget in notebooks, text in terminals

    return tqdm(total=total, unit="window", desc="invoice summaries", leave=False)


def _dedupe_records(records: Iterable[dict], seen: dict[str, list[dict]]) -> Iterator[dict]:
    """Drop identical repeats of an invoice; keep (and warn about) differing versions."""
    for r in records:
        inv = r.get("InvoiceId")
        if inv is None:
            yield r
            continue
        versions = seen.get(inv)
        if versions is None:
            seen[inv] = [r]
            yield r
        elif any(v == r for v in versions):
            continue
        else:
            versions.append(r)
            warnings.warn(
                f"invoice {inv} was returned with different content ({len(versions)} versions); "
                "every version is kept so that reconcile reports it as duplicate_invoice",
                stacklevel=3,
            )
            yield r


def _options(fleet: Fleet, max_workers: int | None) -> int:
    if max_workers is None:
        max_workers = getattr(fleet, "max_concurrency", None) or DEFAULT_MAX_WORKERS
    if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
        raise InvalidArgumentError(
            f"max_workers={max_workers!r} is not a positive integer: use e.g. max_workers=32"
        )
    return max_workers


def _check_rate(rate: float | None) -> None:
    if rate is None:
        return
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not MIN_RATE_PER_ACCOUNT <= rate <= 10_000
    ):
        raise InvalidArgumentError(
            f"rate_per_account={rate!r} must be a number of requests per second from "
            f"{MIN_RATE_PER_ACCOUNT} to 10000 (or None: no pacing), e.g. rate_per_account=5"
        )


def _check_int(name: str, value: int, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidArgumentError(f"{name}={value!r} must be an integer from {lo} to {hi}")
    return value


class SummaryStream:
    """An iterator of raw InvoiceSummary records that also reports how the run went.

    ``failures`` (list of dicts: ``account_id, account_name, operation, code, message,
    windows``) and ``api_calls`` (ListInvoiceSummaries requests sent, retries included) are
    complete once the iteration ends.

    Examples
    --------
    >>> stream = list_invoice_summaries(["111111111111"], "2025-01", "2025-03")  # doctest: +SKIP
    >>> records = list(stream); stream.failures  # doctest: +SKIP
    []
    """

    def __init__(self, results: Iterator[WindowResult], run: _Run) -> None:
        self._run = run
        self._seen: dict[str, list[dict]] = {}
        self._it = _dedupe_records((r for res in results for r in res.records), self._seen)

    def __iter__(self) -> SummaryStream:
        return self

    def __next__(self) -> dict:
        return next(self._it)

    def close(self) -> None:
        """Stop early: requests not yet sent are cancelled."""
        self._it.close()

    @property
    def failures(self) -> list[dict]:
        return self._run.failures

    @property
    def api_calls(self) -> int:
        return self._run.api_calls


def list_invoice_summaries(
    fleet_or_accounts: Any,
    start: object = "2025-01",
    end: object = "2025-12",
    *,
    by: str = BY_BILLING_PERIOD,
    max_workers: int | None = None,
    per_account: int = DEFAULT_PER_ACCOUNT,
    max_results: int = MAX_RESULTS,
    progress: bool = True,
    rate_per_account: float | None = DEFAULT_RATE_PER_ACCOUNT,
) -> SummaryStream:
    """Yield the raw InvoiceSummary records of every account and month, as boto3 returns them.

    Parameters
    ----------
    fleet_or_accounts
        A :class:`~invoicekit.fleet.Fleet`, the path of a fleet YAML file, or a list of account
        ids (each queried with the default boto3 credential chain).
    start, end
        First and last month, both inclusive: ``"YYYY-MM"``, ``pd.Period`` or ``date``.
    by
        ``"billing_period"`` (default) or ``"issued"`` (windows over the issued date).
    max_workers
        Thread pool size (default: the fleet's ``max_concurrency``, else 64).
    per_account
        Requests of one account in flight at once.
    max_results
        Page size (1..100).
    progress
        Show a tqdm progress bar (a widget in notebooks).
    rate_per_account
        Requests per second sent to one account (default 5, bursts of up to 4); an account
        that is throttled anyway halves its own rate and wins it back as answers succeed.
        ``None``: no pacing (botocore's retries alone absorb throttling).

    Returns
    -------
    SummaryStream
        An iterator of dicts; ``.failures`` and ``.api_calls`` once exhausted. Identical
        repeats of an invoice are dropped.

    Examples
    --------
    >>> stream = list_invoice_summaries("fleet.yml", "2025-01", "2025-03")  # doctest: +SKIP
    >>> sum(1 for _ in stream), stream.api_calls  # doctest: +SKIP
    (36, 36)
    """
    windows = split_windows(start, end, by)
    _check_int("max_results", max_results, 1, 100)
    _check_int("per_account", per_account, 1, 1000)
    _check_rate(rate_per_account)
    fleet = resolve_fleet(fleet_or_accounts)
    workers = _options(fleet, max_workers)
    run = _Run(fleet)
    plan = {a.id: windows for a in fleet.accounts}
    results = _dispatch(
        fleet,
        plan,
        run,
        max_workers=workers,
        per_account=per_account,
        max_results=max_results,
        progress=progress,
        capture=False,
        rate_per_account=rate_per_account,
    )
    return SummaryStream(results, run)


def read_invoice_summaries(
    fleet_or_accounts: Any,
    start: object = "2025-01",
    end: object = "2025-12",
    *,
    by: str = BY_BILLING_PERIOD,
    store: str | os.PathLike | Store | None = None,
    refresh: bool = False,
    settle_days: int | None = None,
    now: datetime | date | str | None = None,
    max_workers: int | None = None,
    per_account: int = DEFAULT_PER_ACCOUNT,
    max_results: int = MAX_RESULTS,
    progress: bool = True,
    rate_per_account: float | None = DEFAULT_RATE_PER_ACCOUNT,
) -> pd.DataFrame:
    """Load the invoices of every account and month into one typed DataFrame.

    One row per invoice with the columns of :data:`invoicekit.schema.COLUMNS` (exact decimals,
    UTC timestamps, ``billing_period`` a monthly period), sorted by account, billing period,
    issued date and invoice id.

    Parameters
    ----------
    fleet_or_accounts, start, end, by, max_workers, per_account, max_results, progress, \
rate_per_account
        As for :func:`list_invoice_summaries`.
    store
        A local store directory (or :class:`~invoicekit.store.Store`): raw responses are kept
        as audit evidence and settled windows already stored are not queried again.
    refresh
        Query every window even when the store holds a settled copy.
    settle_days
        Days after a window's end after which it is settled (default 45).
    now
        The current time for the settle decision (default: now, UTC).

    Returns
    -------
    pandas.DataFrame
        ``df.attrs["failures"]``: one dict per failed account and error (``account_id,
        account_name, operation, code, message, windows``); ``df.attrs["api_calls"]``:
        ListInvoiceSummaries requests made in this call (retries included; stored windows cost
        none); ``df.attrs["windows_from_store"]``: windows served from the store.

    Raises
    ------
    InvalidArgumentError
        Bad months or options.
    ConfigError
        The fleet file is invalid, or every account failed for a configuration reason (no
        credentials, unknown profile) so nothing could be loaded.

    Examples
    --------
    >>> df = read_invoice_summaries("fleet.yml", "2025-01", "2025-12",
    ...                             store="invoice-store")  # doctest: +SKIP
    >>> df.groupby("base_currency")["base_total"].sum()  # doctest: +SKIP
    """
    from invoicekit import schema
    from invoicekit.store import DEFAULT_SETTLE_DAYS, Store

    windows = split_windows(start, end, by)
    _check_int("max_results", max_results, 1, 100)
    _check_int("per_account", per_account, 1, 1000)
    _check_rate(rate_per_account)
    fleet = resolve_fleet(fleet_or_accounts)
    workers = _options(fleet, max_workers)
    st: Store | None = None
    if store is not None:
        days = DEFAULT_SETTLE_DAYS if settle_days is None else settle_days
        _check_int("settle_days", days, 0, 100_000)
        if isinstance(store, Store):
            st = store
            if settle_days is not None:
                st.settle_days = days
        else:
            st = Store(store, settle_days=days)
    account_ids = [a.id for a in fleet.accounts]
    if st is not None:
        plan = st.windows_to_fetch(account_ids, windows, refresh=refresh, now=now)
    else:
        plan = {a: list(windows) for a in account_ids}
    run = _Run(fleet)
    t0 = time.perf_counter()
    results = list(
        _dispatch(
            fleet,
            plan,
            run,
            max_workers=workers,
            per_account=per_account,
            max_results=max_results,
            progress=progress,
            capture=st is not None,
            rate_per_account=rate_per_account,
        )
    )
    elapsed = time.perf_counter() - t0
    _raise_if_nothing_could_run(run, plan, results)

    seen: dict[str, list[dict]] = {}
    fresh: list[dict] = []
    window_of_row: list[str] = []
    for res in results:
        key = f"{res.window.by}/{res.account_id}/{res.window.key}"
        for record in _dedupe_records(res.records, seen):
            fresh.append(record)
            window_of_row.append(key)
    frame = schema.to_frame(fresh, account_names=run.names)
    if len(frame) != len(fresh):  # pragma: no cover - schema contract: one row per record
        raise RuntimeError("schema.to_frame must return one row per record")
    from_store = 0
    if st is not None:
        st.save(results, frame, window_of_row=window_of_row, account_names=run.names)
        served = {a: [w for w in windows if w not in set(plan.get(a, ()))] for a in account_ids}
        from_store = sum(len(ws) for ws in served.values())
        stored = st.load_windows(served, account_names=run.names)
        if len(stored):
            frame = _combine(stored, frame)
    frame = _sort(frame)
    frame.attrs["failures"] = run.failures
    frame.attrs["api_calls"] = run.api_calls
    frame.attrs["windows_fetched"] = run.windows_ok
    frame.attrs["windows_from_store"] = from_store
    frame.attrs["elapsed_s"] = round(elapsed, 3)
    return frame


def _raise_if_nothing_could_run(run: _Run, plan: Mapping[str, list], results: list) -> None:
    """Every planned account failed for a configuration reason: that is bad input, not data."""
    attempted = {a for a, ws in plan.items() if ws}
    if not attempted or results or not run.failures:
        return
    if run.failed_accounts >= attempted and all(f["code"] in CONFIG_CODES for f in run.failures):
        order = {account: i for i, account in enumerate(plan)}  # fleet order, not finish order
        first = min(run.failures, key=lambda f: order.get(f["account_id"], len(order)))["message"]
        more = len(run.failed_accounts) - 1
        suffix = f" (and {more} more account{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(first + suffix)


def _combine(stored: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    if not len(fresh):
        return stored
    frame = pd.concat([stored, fresh[stored.columns]], ignore_index=True)
    ids = frame["invoice_id"]
    repeated = ids.duplicated(keep=False) & ids.notna()
    if repeated.any():
        sub = frame[repeated]
        drop = sub.index[sub.astype(str).duplicated()]
        if len(drop):
            frame = frame.drop(index=drop).reset_index(drop=True)
    return frame


def _sort(frame: pd.DataFrame) -> pd.DataFrame:
    if not len(frame):
        return frame
    keys = [c for c in ("account_id", "billing_period", "issued_date", "invoice_id") if c in frame]
    return frame.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)
