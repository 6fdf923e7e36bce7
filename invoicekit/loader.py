"""Load invoice summaries across payer accounts and months, concurrently and politely.

The range ``start``..``end`` (months, both inclusive) is split into API-legal windows: one
``Filter.BillingPeriod`` per billing month (the default), or with ``by="issued"`` one
``Filter.TimeInterval`` per calendar month of issue dates (UTC, StartDate inclusive, EndDate
exclusive — the API refuses intervals longer than a month). Every (account, window) pair is one
task; tasks run on a bounded thread pool, dispatched round-robin across accounts with at most
``per_account`` requests of one account in flight. Each account is reached through its
:class:`~invoicekit.access.AccountAccess` (session, endpoint, pacer) with the lean client
(:mod:`invoicekit._lean`, the default) or a paced boto3 client (``client="boto3"``, the
reference path), both with botocore's "standard" retry policy. Each account's request rate is
discovered below the ceiling ``rate_per_account`` (AIMD: it speeds up while answers succeed and
is cut on a throttle), the run shares what it learns with the accounts that start later, and a
store remembers it for the next run (:mod:`invoicekit._rates`); a throttled account slows down
on its own and the others keep going. Accounts are set up (session, credentials, client) by a
few setup workers while the others already send requests.

A failure of one account (access denied, no credentials, an unknown profile, throttling that
outlasts the retries) is collected as a typed :class:`~invoicekit.outcomes.Failure` in the
run's :class:`~invoicekit.outcomes.RunReport` (``invoicekit.run_report(df)``; the thin view
``df.attrs["failures"]`` keeps the dicts of version 0.1), and the other accounts' data is kept.

Examples
--------
>>> import invoicekit as ik
>>> df = ik.read_invoice_summaries("fleet.yml", "2025-01", "2025-12")  # doctest: +SKIP
>>> report = ik.run_report(df)  # doctest: +SKIP
>>> report.failures, report.api_calls  # doctest: +SKIP
([], 1200)
"""

from __future__ import annotations

import contextlib
import functools
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

from invoicekit import _botocore, clock, errors
from invoicekit._client import CLIENTS, DEFAULT_CLIENT
from invoicekit._progress import progress_bar
from invoicekit.access import MIN_RATE_PER_ACCOUNT, AccountAccess, Pacer, check_rate
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
from invoicekit.outcomes import Failure, RunReport, WindowResult, attach

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
    "CONFIG_CODES",
    "MIN_RATE_PER_ACCOUNT",
]

log = logging.getLogger(__name__)

#: The page size asked of ListInvoiceSummaries (the API maximum).
MAX_RESULTS = 100
#: Thread pool size: enough requests in flight to hide ~100 ms of latency per call.
DEFAULT_MAX_WORKERS = 64
#: Large fleets get more: :data:`WORKERS_PER_ACCOUNT` per account, up to this many threads
#: (1,000 accounts at 5 requests/s with 100 ms answers need ~500 requests in flight).
MAX_AUTO_WORKERS = 256
WORKERS_PER_ACCOUNT = 2
#: Requests of one account in flight at once (the rest of the pool serves other accounts).
DEFAULT_PER_ACCOUNT = 2
#: The most requests per second sent to one account (``rate_per_account``, a ceiling): each
#: account's own limit is discovered below it (see :class:`invoicekit.access.Pacer` and
#: :mod:`invoicekit._rates`). ``None`` turns pacing off.
DEFAULT_RATE_PER_ACCOUNT = 100.0
#: The most requests of one account in flight when its discovered rate needs more than
#: ``per_account`` to hide the latency (rate x seconds per answer).
MAX_PER_ACCOUNT = 16
#: Requests one account may send at once after a pause: one below the burst of 5 that the
#: limit allows, as headroom for requests that meet the server's bucket out of step.
BURST_PER_ACCOUNT = 4
#: Threads that set accounts up (session, credentials, client) while the others send requests.
SETUP_WORKERS = 4
# MIN_RATE_PER_ACCOUNT (the lowest pace a throttled account slows down to) comes from
# invoicekit.access and stays importable from here.
#: botocore's retries after the first try, per request (``_client.MAX_ATTEMPTS`` when None).
MAX_ATTEMPTS: int | None = None
#: botocore retry mode of the loader's clients: the pacing here is the client-side rate limiter
#: (botocore's "adaptive" limiter can drop an account to 0.5 requests/s after one throttle).
RETRY_MODE = "standard"
_OPERATION = "ListInvoiceSummaries"
# (The month and window helpers live in invoicekit.months; the names above stay importable from
# here for callers of version 0.1.)
#: Failure codes that mean "the configuration is wrong" (``errors.CONFIG_CODES``; the name stays
#: importable from here).
CONFIG_CODES = errors.CONFIG_CODES
# Failure codes after which the account's other windows may still succeed (the rest end the
# account's run: its other windows would fail the same way). Throttling and server errors that
# outlasted botocore's retries, and a window the API refused (ValidationException: that window's
# filter, not the account).
_WINDOW_ONLY_CODES = errors.RETRYABLE_CODES | {"ValidationException"}


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


def _capture_body(http_response: Any = None, **_: Any) -> None:
    # after-call hook: runs in the calling thread, right after the response was parsed.
    _tls.body = _botocore.response_body(http_response)


def _keep_body(body: bytes) -> None:
    # the lean client's answer body (the same bytes botocore's after-call hook sees)
    _tls.body = body


def _classify(exc: BaseException, account_id: str, calls: int) -> _Failed:
    """Turn an exception from one window's fetch into a per-account failure record."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        op = getattr(exc, "operation_name", None) or _OPERATION
        err = translate_client_error(exc, operation=op, account_id=account_id)
        meta = exc.response.get("ResponseMetadata") or {}
        calls += 1 + int(meta.get("RetryAttempts") or 0) if op == _OPERATION else 0
        return _Failed(
            err.code or "ClientError", op, str(err), err.code not in _WINDOW_ONLY_CODES, calls
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
    if isinstance(exc, _transient_botocore()):
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


@functools.cache
def _transient_botocore() -> tuple[type, ...]:
    # botocore loads on first use, not when the loader is imported (``invoicekit --help``)
    from botocore import exceptions as bx

    return (bx.ConnectionClosedError, bx.ReadTimeoutError, bx.IncompleteReadError,
            bx.ResponseStreamingError)  # fmt: skip


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


class _Account:
    """Per-account dispatch state (main thread) and its client, made once by a setup worker."""

    __slots__ = (
        "access", "account", "windows", "in_flight", "queued", "dead", "pacer", "_client", "_error",
        "started", "recorded", "answer_s", "adopt",
    )  # fmt: skip

    def __init__(self, access: AccountAccess, windows: list[Window]) -> None:
        self.access = access
        self.account: PayerAccount = access.account
        self.windows = deque(windows)
        self.in_flight = 0
        self.queued = False
        self.dead = False
        self.pacer = access.pacer
        self._client: Any = None
        self._error: BaseException | None = None
        self.started = False
        # takes the run's prior while it has found no limit of its own: the prior taken last
        # (None: none yet), or False (the account starts from its remembered rate)
        self.adopt: Any = False
        self.recorded = False
        self.answer_s = 0.0  # seconds per answer (moving average), sizes the in-flight cap

    def cap(self, per_account: int) -> int:
        """Requests of this account allowed in flight: enough to reach its pacer's rate."""
        if self.pacer is None or not self.answer_s:
            return per_account
        need = int(self.pacer.rate * self.answer_s) + 1
        return max(per_account, min(MAX_PER_ACCOUNT, need))

    def set_up(self, capture: bool, client: str = "boto3") -> None:
        """Make the account's session and client (a setup worker); a failure is kept."""
        try:
            self._client = _make_client(self.access, capture, client)
        except Exception as exc:
            self._error = exc

    def client(self) -> Any:
        """The client, or the setup failure raised again (in the task that needs it)."""
        if self._error is not None:
            raise self._error
        return self._client


def _make_client(access: AccountAccess, capture: bool, client: str = "boto3") -> Any:
    if client == "lean":
        from invoicekit import _lean

        lean = _lean.client_for(
            access, max_attempts=MAX_ATTEMPTS, on_body=_keep_body if capture else None
        )
        if lean is not None:
            return lean  # else a proxy is configured: botocore's path honours it
    # The account's paced client (botocore "standard" retries): its pacer is the client-side
    # rate limiter. Without a rate it is the account's plain client from the factory.
    c = access.client("invoicing", retry_mode=RETRY_MODE, max_attempts=MAX_ATTEMPTS, paced=True)
    if capture:
        c.meta.events.register(
            f"after-call.invoicing.{_OPERATION}", _capture_body, unique_id=_CAPTURE_ID
        )
    return c


class _Run:
    """Bookkeeping shared by the dispatcher and the caller: failures and API calls.

    ``api_calls`` counts ListInvoiceSummaries requests (botocore's retries included, from each
    answer's ``RetryAttempts``); :meth:`report` adds the ``AssumeRole`` requests the fleet sent
    meanwhile (the role accounts' first credentials, and refreshes during a long run).
    """

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.names = {a.id: a.name for a in fleet.accounts}
        self.api_calls = 0
        self.failures: list[dict] = []
        self._by_key: dict[tuple[str, str], dict] = {}
        self.windows_ok = 0
        self.throttled = 0  # throttling answers absorbed (every attempt, retries included)
        self.client = "boto3"
        self._assume_role_at_start = self._assume_role_total()

    def _assume_role_total(self) -> int:
        return int(getattr(self.fleet, "assume_role_calls", 0) or 0)

    @property
    def assume_role_calls(self) -> int:
        """AssumeRole requests sent since the run started (by this fleet)."""
        return max(0, self._assume_role_total() - self._assume_role_at_start)

    def report(self, *, elapsed_s: float = 0.0, **extra: Any) -> RunReport:
        """The run's :class:`RunReport` as of now (``operation="load"``)."""
        assume_role = self.assume_role_calls
        failures = [
            Failure(
                account_id=f["account_id"],
                operation=f["operation"],
                code=f["code"],
                message=f["message"],
                account_name=f["account_name"],
                windows=tuple(f["windows"]),
                config=f["code"] in CONFIG_CODES,
            )
            for f in self.failures
        ]
        return RunReport(
            operation="load",
            api_calls=self.api_calls + assume_role,
            failures=failures,
            elapsed_s=elapsed_s,
            extra={
                "api_calls_by_operation": {_OPERATION: self.api_calls, "AssumeRole": assume_role},
                "windows_fetched": self.windows_ok,
                "throttled": self.throttled,
                "client": self.client,
                **extra,
            },
        )

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
    rates: Any = None,
    client: str = "boto3",
) -> Iterator[WindowResult]:
    """Run every planned (account, window) task; yield results as they complete.

    Accounts take turns (round-robin), each with at most ``per_account`` tasks in flight and,
    with ``rate_per_account``, only when its pacer has a token for the task: an account that
    must wait sits in a timed queue instead of a worker thread, and the workers serve the
    accounts that can send now. An account's session and client are made by its first task,
    in a worker, so that setting up one account overlaps the others' requests.

    With ``rates`` (a :class:`invoicekit._rates.RunRates`) every account discovers its limit
    below ``rate_per_account``: it starts at what ``rates`` knows (remembered, or the run's
    prior) and its findings go back to ``rates`` as soon as it is throttled and at the end.
    """
    from invoicekit._rates import RunRates

    if rate_per_account is not None and rates is None:
        rates = RunRates()
    burst = (
        BURST_PER_ACCOUNT
        if rate_per_account is None
        else max(1.0, min(BURST_PER_ACCOUNT, rate_per_account - 1))
    )
    states = [
        _Account(
            AccountAccess(fleet, a, rate_per_account=rate_per_account, burst=burst),
            list(plan[a.id]),
        )
        for a in fleet.accounts
        if plan.get(a.id)
    ]
    if rate_per_account is not None:
        for s in states:  # discovery mode; the start is set at the account's first task
            s.access.pacer = s.pacer = Pacer(rate_per_account, BURST_PER_ACCOUNT, start=1.0)
    run.client = client
    total = sum(len(s.windows) for s in states)
    if total == 0:
        return
    bar = progress_bar(total, progress, desc="invoice summaries", unit="window")
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
            s.set_up(capture, client)
            done.put((s, None, None))

    def task(state: _Account, window: Window) -> WindowResult:
        # the task's first send settles the token reserved for it by dispatched()
        with state.pacer.task() if state.pacer is not None else contextlib.nullcontext():
            try:
                client = state.client()
            except Exception as exc:
                raise _classify(exc, state.account.id, 0) from exc
            return _fetch_window(client, state.account.id, window, max_results, capture)

    def fill() -> int:
        n = 0
        while ready and in_flight + n < workers:
            s = ready.popleft()
            s.queued = False
            if s.dead or not s.windows:
                continue
            if s.pacer is not None:
                if not s.started:
                    s.started = True
                    s.adopt = False if rates.remembers(s.account.id) else None
                    s.pacer.restart(*rates.start_for(s.account.id), fill=True)
                elif (
                    s.adopt is not False
                    and not s.pacer.limit_found
                    and rates.prior
                    and rates.prior != s.adopt
                ):
                    # still speeding up while other accounts already found the run's limit:
                    # go on from there (accounts of one organisation usually share a quota;
                    # an account allowed more creeps up from there, one allowed less is cut)
                    s.adopt = rates.prior
                    s.pacer.restart(*rates.prior, found=False)
                wait = s.pacer.due_in()
                if wait > 0:
                    s.queued = True
                    heapq.heappush(waiting, (time.monotonic() + wait, next(seq), s))
                    continue
                s.pacer.dispatched()
            w = s.windows.popleft()
            s.in_flight += 1
            fut = pool.submit(task, s, w)
            sent_at = time.monotonic()
            fut.add_done_callback(lambda f, s=s, w=w, t=sent_at: done.put((s, w, f, t)))
            n += 1
            if s.windows and s.in_flight < s.cap(per_account):
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
                s, w, fut, *sent_at = done.get(timeout=timeout)
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
            if s.pacer is not None and not s.recorded and s.pacer.limit_found:
                s.recorded = True  # a limit found: the run's prior for accounts yet to start
                rates.record(s.account.id, *s.pacer.learned())
            if exc is None:
                result = fut.result()
                if result.api_calls:
                    took = (time.monotonic() - sent_at[0]) / result.api_calls
                    s.answer_s = took if not s.answer_s else 0.7 * s.answer_s + 0.3 * took
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
            if s.windows and not s.dead and not s.queued and s.in_flight < s.cap(per_account):
                s.queued = True
                ready.append(s)
            wake()
            in_flight += fill()
    finally:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        bar.close()
        for s in states:
            if s.pacer is not None:
                run.throttled += s.pacer.throttles
                if s.started and s.pacer.successes:
                    rates.record(s.account.id, *s.pacer.learned())
        if rates is not None:
            rates.save()


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
        max_workers = getattr(fleet, "max_concurrency", None) or max(
            DEFAULT_MAX_WORKERS,
            min(MAX_AUTO_WORKERS, WORKERS_PER_ACCOUNT * len(getattr(fleet, "accounts", ()))),
        )
    if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
        raise InvalidArgumentError(
            f"max_workers={max_workers!r} is not a positive integer: use e.g. max_workers=32"
        )
    return max_workers


def _check_rate(rate: float | None) -> None:
    check_rate(rate)


def _check_client(client: str) -> None:
    if client not in CLIENTS:
        raise InvalidArgumentError(
            f"client={client!r} is not a loader client: use one of {', '.join(CLIENTS)}"
        )


def _check_int(name: str, value: int, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidArgumentError(f"{name}={value!r} must be an integer from {lo} to {hi}")
    return value


class SummaryStream:
    """An iterator of raw InvoiceSummary records that also reports how the run went.

    ``report`` (a :class:`~invoicekit.outcomes.RunReport`: typed failures, ``api_calls`` — SDK
    operation calls sent: ListInvoiceSummaries, retries included, and any AssumeRole the run
    caused) and its thin views ``failures`` (dicts with ``account_id, account_name,
    operation, code, message, windows``) and ``api_calls`` are complete once the iteration ends.

    Examples
    --------
    >>> stream = list_invoice_summaries(["111111111111"], "2025-01", "2025-03")  # doctest: +SKIP
    >>> records = list(stream); stream.report.failures  # doctest: +SKIP
    []
    """

    def __init__(self, results: Iterator[WindowResult], run: _Run) -> None:
        self._run = run
        self._seen: dict[str, list[dict]] = {}
        self._t0 = time.perf_counter()
        self._elapsed: float | None = None
        self._it = _dedupe_records(self._timed(results), self._seen)

    def _timed(self, results: Iterator[WindowResult]) -> Iterator[dict]:
        try:
            for res in results:
                yield from res.records
        finally:
            self._elapsed = time.perf_counter() - self._t0

    def __iter__(self) -> SummaryStream:
        return self

    def __next__(self) -> dict:
        return next(self._it)

    def close(self) -> None:
        """Stop early: requests not yet sent are cancelled."""
        self._it.close()

    @property
    def report(self) -> RunReport:
        """The run's :class:`~invoicekit.outcomes.RunReport` (so far, until exhausted)."""
        elapsed = self._elapsed if self._elapsed is not None else time.perf_counter() - self._t0
        return self._run.report(elapsed_s=round(elapsed, 3))

    @property
    def failures(self) -> list[dict]:
        """The failures as dicts (the thin view of ``report.failures``)."""
        return [f.as_dict() for f in self.report.failures]

    @property
    def api_calls(self) -> int:
        """SDK operation calls sent (``report.api_calls``)."""
        return self.report.api_calls


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
    client: str = DEFAULT_CLIENT,
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
        The most requests per second sent to one account (default 100, bursts of up to 4).
        Below it each account's limit is discovered: it starts at what the run knows (2/s
        when nothing is known yet), speeds up while answers succeed, halves on a throttling
        answer and creeps back (AIMD); accounts that start later begin at the run's prior.
        ``None``: no pacing (the retries alone absorb throttling).
    client
        ``"lean"`` (default: JSON 1.0 over a pooled connection, signed with botocore's SigV4
        and the session's refreshing credentials) or ``"boto3"`` (the reference path); both
        give the same records, failures and retries.

    Returns
    -------
    SummaryStream
        An iterator of dicts; ``.report`` (and its views ``.failures``, ``.api_calls``) once
        exhausted. Identical repeats of an invoice are dropped.

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
    _check_client(client)
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
        client=client,
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
    client: str = DEFAULT_CLIENT,
) -> pd.DataFrame:
    """Load the invoices of every account and month into one typed DataFrame.

    One row per invoice with the columns of :data:`invoicekit.schema.COLUMNS` (exact decimals,
    UTC timestamps, ``billing_period`` a monthly period), sorted by account, billing period,
    issued date and invoice id.

    Parameters
    ----------
    fleet_or_accounts, start, end, by, max_workers, per_account, max_results, progress, \
rate_per_account, client
        As for :func:`list_invoice_summaries`.
    store
        A local store directory (or :class:`~invoicekit.store.Store`): raw responses are kept
        as audit evidence and settled windows already stored are not queried again. The
        rates learned per account are remembered there (``rates.json``) and the next run
        starts each account at its own.
    refresh
        Query every window even when the store holds a settled copy.
    settle_days
        Days after a window's end after which it is settled (default 45).
    now
        The current time for the settle decision (default: now, UTC).

    Returns
    -------
    pandas.DataFrame
        With a :class:`~invoicekit.outcomes.RunReport` (``operation="load"``) attached:
        ``invoicekit.run_report(df)``. Its ``failures`` are typed
        :class:`~invoicekit.outcomes.Failure` records, one per failed account and error
        (``config=True`` for configuration causes: no credentials, unknown profile);
        ``api_calls`` counts the SDK operation calls this call sent: ListInvoiceSummaries
        (retries included; stored windows cost none) and the AssumeRole requests of role
        accounts (``extra["api_calls_by_operation"]`` splits them); ``counts`` the rows of
        each document kind; ``extra`` also holds ``windows_fetched``, ``windows_from_store``
        and ``elapsed_s``. The thin view in ``df.attrs`` keeps version 0.1's keys:
        ``failures`` (dicts with ``account_id, account_name, operation, code, message,
        windows``), ``api_calls``, ``windows_fetched``, ``windows_from_store``, ``elapsed_s``.

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
    from invoicekit import documents, schema
    from invoicekit.store import DEFAULT_SETTLE_DAYS, Store

    windows = split_windows(start, end, by)
    _check_int("max_results", max_results, 1, 100)
    _check_int("per_account", per_account, 1, 1000)
    _check_rate(rate_per_account)
    _check_client(client)
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
    rates = None
    if rate_per_account is not None:
        from invoicekit._rates import RateMemory, RunRates

        rates = RunRates(RateMemory(st.path) if st is not None else None)
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
            rates=rates,
            client=client,
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
    report = run.report(elapsed_s=round(elapsed, 3), windows_from_store=from_store)
    report.extra["elapsed_s"] = report.elapsed_s
    report.counts = documents.count(frame)
    attach(frame, report)
    for key in ("windows_fetched", "windows_from_store", "elapsed_s"):
        frame.attrs[key] = report.extra[key]
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
