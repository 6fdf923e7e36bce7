"""Invoice units and invoice profiles of a fleet, and which unit each invoice bills.

An **invoice unit** (AWS Invoice Configuration) groups member accounts of a payer's
organization; each unit has an invoice receiver and gets its own invoice every month, and the
payer's accounts in no unit share the payer's *default* invoice. A month's invoices follow the
units as configured at the end of that month. An **invoice profile** is what an invoice is
issued to: the receiver's legal name, address, e-mail, tax registration.

* :func:`read_invoice_units` — ``ListInvoiceUnits`` of every payer (one call per payer and
  snapshot, plus pages of up to 500 units): one row per unit x member account
  (:data:`UNIT_COLUMNS`), optionally as of one or several moments (``AsOf``) — e.g. the end of
  every month of a range (``months=``), which is what :func:`unit_of_invoice` and the
  completeness check need to be exact;
* :func:`read_invoice_profiles` — ``BatchGetInvoiceProfile`` (account ids in batches of the
  model's maximum) for the payer and its units' receivers: one row per receiver
  (:data:`PROFILE_COLUMNS`). The model's *sensitive* members (``ReceiverAddress``,
  ``ReceiverEmail``, ``TaxRegistrationNumber``) are masked unless ``reveal=True``; they never
  appear in logs, messages, reprs or progress lines, and the CLI never writes them to a file;
* :func:`unit_of_invoice` — each invoice row's unit (its ``bill_source_account``'s unit as
  configured at the end of its billing month), ``<NA>`` for the payer's default invoice;
* :func:`units_at_month_end` — the configuration of each payer's units that decides a month.

Both readers work like the summaries loader: a bounded thread pool (one task per payer; a
payer's calls go one after the other, paced by its :class:`~invoicekit.access.AccountAccess`),
a failure of one payer (access denied, no credentials, throttling that outlasted the retries)
is recorded as a :class:`~invoicekit.outcomes.Failure` in the attached
:class:`~invoicekit.outcomes.RunReport` (``invoicekit.run_report(df)``; the dicts in
``df.attrs["failures"]``) and the other payers' rows are kept; an optional tqdm progress bar.

Examples
--------
>>> import invoicekit as ik
>>> units = ik.read_invoice_units("fleet.yml", months=("2025-12", "2026-11"))  # doctest: +SKIP
>>> df = ik.read_invoice_summaries("fleet.yml", "2025-12", "2026-11")  # doctest: +SKIP
>>> df["invoice_unit_arn"] = ik.unit_of_invoice(df, units)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from invoicekit import clock, errors
from invoicekit._progress import progress_bar
from invoicekit._redact import REDACTED, install_log_redaction, redact
from invoicekit.errors import ConfigError, InvalidArgumentError, InvoiceKitError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from invoicekit.fleet import Fleet, PayerAccount

__all__ = [
    "UNIT_COLUMNS",
    "PROFILE_COLUMNS",
    "SENSITIVE_PROFILE_COLUMNS",
    "MAX_RESULTS",
    "DEFAULT_RATE_PER_ACCOUNT",
    "read_invoice_units",
    "read_invoice_profiles",
    "unit_of_invoice",
    "units_at_month_end",
    "configurations",
    "UnitAtMonthEnd",
    "month_end",
    "month_ends",
    "mask_sensitive",
    "units_frame",
    "unit_rows",
    "profiles_frame",
    "write_frame",
    "load_units",
    "load_profiles",
    "FILE_FORMATS",
]

log = logging.getLogger(__name__)

#: Columns of :func:`read_invoice_units`, in order.
UNIT_COLUMNS: list[str] = [
    "payer_account_id",
    "payer_account_name",
    "invoice_unit_arn",
    "invoice_unit_name",
    "description",
    "invoice_receiver",
    "tax_inheritance_disabled",
    "member_account_id",
    "last_modified",
    "as_of",
]

#: Columns of :func:`read_invoice_profiles`, in order, and the profile member each comes from.
_PROFILE_FIELDS: dict[str, str] = {
    "payer_account_id": "",
    "payer_account_name": "",
    "account_id": "AccountId",
    "receiver_name": "ReceiverName",
    "issuer": "Issuer",
    "receiver_email": "ReceiverEmail",
    "company_name": "ReceiverAddress.CompanyName",
    "address_line1": "ReceiverAddress.AddressLine1",
    "address_line2": "ReceiverAddress.AddressLine2",
    "address_line3": "ReceiverAddress.AddressLine3",
    "district_or_county": "ReceiverAddress.DistrictOrCounty",
    "city": "ReceiverAddress.City",
    "state_or_region": "ReceiverAddress.StateOrRegion",
    "postal_code": "ReceiverAddress.PostalCode",
    "country_code": "ReceiverAddress.CountryCode",
    "tax_registration_number": "TaxRegistrationNumber",
}
PROFILE_COLUMNS: list[str] = list(_PROFILE_FIELDS)
#: Profile columns from members the service model marks sensitive (``ReceiverAddress``,
#: ``ReceiverEmail``, ``TaxRegistrationNumber``): masked unless ``reveal=True``.
SENSITIVE_PROFILE_COLUMNS: tuple[str, ...] = (
    "receiver_email",
    "company_name",
    "address_line1",
    "address_line2",
    "address_line3",
    "district_or_county",
    "city",
    "state_or_region",
    "postal_code",
    "country_code",
    "tax_registration_number",
)
#: What a masked sensitive value reads (a missing one stays null).
MASK = REDACTED

#: Page size asked of ListInvoiceUnits (the model's maximum).
MAX_RESULTS = 500
#: Requests per second sent to one payer (as the summaries loader); ``None``: no pacing.
DEFAULT_RATE_PER_ACCOUNT = 5.0
#: Thread pool size when neither ``max_workers`` nor the fleet's ``max_concurrency`` says.
DEFAULT_MAX_WORKERS = 16
_BURST = 4
_RETRY_MODE = "standard"
_LIST = "ListInvoiceUnits"
_PROFILES = "BatchGetInvoiceProfile"


# --------------------------------------------------------------------------------------------
# Moments
# --------------------------------------------------------------------------------------------


def month_end(month: object) -> pd.Timestamp:
    """The last instant of a billing month (UTC): the moment whose units decide its invoices.

    Examples
    --------
    >>> month_end("2026-10")
    Timestamp('2026-10-31 23:59:59.999999+0000', tz='UTC')
    """
    import pandas as pd

    from invoicekit import months

    y, m = months.next_month(*months.parse_month(month, "month"))
    return pd.Timestamp(months.month_start(y, m) - timedelta(microseconds=1))


def month_ends(start: object, end: object) -> list[pd.Timestamp]:
    """:func:`month_end` of every month of ``start..end`` (both inclusive).

    Examples
    --------
    >>> [t.date().isoformat() for t in month_ends("2026-01", "2026-03")]
    ['2026-01-31', '2026-02-28', '2026-03-31']
    """
    from invoicekit import months

    return [month_end(p) for p in months.month_range(start, end)]


def _moment(value: object, name: str) -> pd.Timestamp:
    """An ``as_of`` value as a UTC timestamp; a date (or ``YYYY-MM-DD``) means its last instant."""
    import pandas as pd

    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            pass
    if isinstance(value, date) and not isinstance(value, datetime):
        start = datetime(value.year, value.month, value.day, tzinfo=UTC)
        return pd.Timestamp(start + timedelta(days=1) - timedelta(microseconds=1))
    return pd.Timestamp(clock.parse(value, name))


def _moments(as_of: object, months: object) -> list[pd.Timestamp | None]:
    """The snapshots to fetch: ``None`` is "now" (no ``AsOf``)."""
    if months is not None and as_of is not None:
        raise InvalidArgumentError(
            "give as_of or months, not both: months=('2025-12', '2026-11') fetches the units "
            "as of the end of each month"
        )
    if months is not None:
        if isinstance(months, str) or not isinstance(months, Sequence) or len(months) != 2:
            raise InvalidArgumentError(
                f"months={months!r} must be (first, last), e.g. months=('2025-12', '2026-11')"
            )
        now = clock.now()
        out: list[pd.Timestamp | None] = []
        for t in month_ends(months[0], months[1]):
            # a month that has not ended yet: its units are the current ones
            out.append(t if t < now else None)
        return list(dict.fromkeys(out))
    if as_of is None:
        return [None]
    if isinstance(as_of, str | date | datetime) or not isinstance(as_of, Iterable):
        return [_moment(as_of, "as_of")]
    values = [_moment(v, "as_of") for v in as_of]
    if not values:
        raise InvalidArgumentError("as_of is empty: give a date, a timestamp or a list of them")
    return list(dict.fromkeys(values))


# --------------------------------------------------------------------------------------------
# Fleet, failures, the run
# --------------------------------------------------------------------------------------------


def _fleet(fleet_or_accounts: Any) -> Fleet:
    if hasattr(fleet_or_accounts, "accounts") and hasattr(fleet_or_accounts, "session_for"):
        return fleet_or_accounts
    from invoicekit.fleet import Fleet, load_fleet

    if isinstance(fleet_or_accounts, str | os.PathLike):
        return load_fleet(fleet_or_accounts)
    if isinstance(fleet_or_accounts, Iterable) and not isinstance(fleet_or_accounts, Mapping):
        items = list(fleet_or_accounts)
        if items:
            return Fleet.from_accounts(items)
    raise InvalidArgumentError(
        f"cannot load accounts from {type(fleet_or_accounts).__name__}: pass a Fleet, the path "
        "of a fleet YAML file, or a list of 12-digit account ids"
    )


def _workers(fleet: Fleet, max_workers: int | None, tasks: int) -> int:
    if max_workers is None:
        max_workers = getattr(fleet, "max_concurrency", None) or DEFAULT_MAX_WORKERS
    if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
        raise InvalidArgumentError(
            f"max_workers={max_workers!r} is not a positive integer: use e.g. max_workers=8"
        )
    return max(1, min(max_workers, tasks))


class _PayerFailed(Exception):
    """One payer's task failed: the classified failure (code, operation, one-line message)."""

    def __init__(self, code: str, operation: str, message: str) -> None:
        super().__init__(message)
        self.code, self.operation, self.message = code, operation, message


def _classify(exc: BaseException, account_id: str, operation: str) -> _PayerFailed:
    """An exception of one payer's calls as a failure record (messages are redacted)."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        err = errors.translate_client_error(exc, operation=operation, account_id=account_id)
        return _PayerFailed(err.code or "ClientError", err.operation or operation, str(err))
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        code = "NoCredentials" if isinstance(exc, bx.NoCredentialsError) else "PartialCredentials"
        return _PayerFailed(
            code,
            operation,
            f"no AWS credentials for account {account_id}: give the account a profile or "
            "role_arn in the fleet file, or configure the default chain (aws configure, "
            "AWS_PROFILE, aws sso login)",
        )
    if isinstance(exc, bx.ProfileNotFound):
        return _PayerFailed(
            "ProfileNotFound",
            operation,
            redact(
                f"account {account_id}: {exc} (fix: add the profile to the AWS config file or "
                "correct the fleet file)"
            ),
        )
    if isinstance(exc, ConfigError):
        return _PayerFailed("ConfigError", operation, f"account {account_id}: {exc}")
    if isinstance(exc, InvoiceKitError):
        return _PayerFailed(getattr(exc, "code", None) or type(exc).__name__, operation, str(exc))
    if isinstance(exc, bx.BotoCoreError):
        return _PayerFailed(
            type(exc).__name__,
            operation,
            redact(
                f"{operation} failed for account {account_id}: {exc} (fix: check the endpoint "
                "and the network, then run again)"
            ),
        )
    raise exc


@dataclass
class _Outcome:
    """What one payer's task produced (rows, calls) or how it failed."""

    account: PayerAccount
    rows: list[dict] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    failure: _PayerFailed | None = None
    left: list[str] = field(default_factory=list)  # snapshots not loaded (ISO) after a failure
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, operation: str, response: Mapping[str, Any] | None) -> None:
        meta = (response or {}).get("ResponseMetadata") or {}
        self.calls[operation] = (
            self.calls.get(operation, 0) + 1 + int(meta.get("RetryAttempts") or 0)
        )


def _client(fleet: Fleet, account: PayerAccount, rate_per_account: float | None) -> Any:
    from invoicekit.access import AccountAccess, check_rate

    rate = check_rate(rate_per_account)
    burst = _BURST if rate is None else max(1.0, min(_BURST, rate - 1))
    access = AccountAccess(fleet, account, rate_per_account=rate, burst=burst)
    return access.client("invoicing", retry_mode=_RETRY_MODE, paced=True)


def _run(
    fleet: Fleet,
    task: Any,
    *,
    operation: str,
    max_workers: int | None,
    progress: bool,
    desc: str,
) -> tuple[list[_Outcome], Any]:
    """Run ``task(account, outcome)`` for every payer on a bounded pool; the run's report."""
    from invoicekit.outcomes import Failure, RunReport

    accounts = list(fleet.accounts)
    workers = _workers(fleet, max_workers, len(accounts))
    assume_before = int(getattr(fleet, "assume_role_calls", 0) or 0)
    t0 = time.perf_counter()
    bar = progress_bar(len(accounts), progress, desc=desc, unit="account")
    outcomes: dict[str, _Outcome] = {}

    def one(account: PayerAccount) -> _Outcome:
        out = _Outcome(account)
        try:
            task(account, out)
        except _PayerFailed as exc:
            out.failure = exc
        except Exception as exc:  # classified here; a bug is raised again
            out.failure = _classify(exc, account.id, out.extra.get("operation", operation))
        return out

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="invoicekit-units") as pool:
            futures = [pool.submit(one, a) for a in accounts]
            for fut in as_completed(futures):
                out = fut.result()  # re-raises a bug of a worker
                outcomes[out.account.id] = out
                if out.failure is not None:
                    log.warning("%s", out.failure.message)
                bar.update(1)
                failed = sum(o.failure is not None for o in outcomes.values())
                if failed:
                    bar.set_postfix(failed=failed, refresh=False)
    finally:
        bar.close()
    ordered = [outcomes[a.id] for a in accounts]
    calls: dict[str, int] = {}
    for o in ordered:
        for op, n in o.calls.items():
            calls[op] = calls.get(op, 0) + n
    assume = max(0, int(getattr(fleet, "assume_role_calls", 0) or 0) - assume_before)
    calls["AssumeRole"] = assume
    failures = [
        Failure(
            account_id=o.account.id,
            operation=o.failure.operation,
            code=o.failure.code,
            message=o.failure.message,
            account_name=o.account.name,
            windows=tuple(o.left),
            config=o.failure.code in errors.CONFIG_CODES,
        )
        for o in ordered
        if o.failure is not None
    ]
    report = RunReport(
        operation=operation,
        api_calls=sum(calls.values()),
        failures=failures,
        elapsed_s=round(time.perf_counter() - t0, 3),
        extra={"api_calls_by_operation": calls},
    )
    if failures and len(failures) == len(accounts) and all(f.config for f in failures):
        more = len(failures) - 1
        raise ConfigError(
            failures[0].message + (f" (and {more} more account{'s' if more > 1 else ''})"
                                   if more else "")
        )  # fmt: skip
    return ordered, report


# --------------------------------------------------------------------------------------------
# Invoice units
# --------------------------------------------------------------------------------------------


def _list_units(client: Any, out: _Outcome, as_of: pd.Timestamp | None) -> list[dict]:
    """Every page of ListInvoiceUnits for one payer and moment."""
    kwargs: dict[str, Any] = {"MaxResults": MAX_RESULTS}
    if as_of is not None:
        kwargs["AsOf"] = as_of.to_pydatetime()
    units: list[dict] = []
    seen: set[str] = set()
    while True:
        try:
            resp = client.list_invoice_units(**kwargs)
        except Exception as exc:
            out.count(_LIST, getattr(exc, "response", None))
            raise
        out.count(_LIST, resp)
        units.extend(resp.get("InvoiceUnits") or ())
        token = resp.get("NextToken")
        if not token:
            return units
        if token in seen:
            raise _PayerFailed(
                "RepeatedNextToken",
                _LIST,
                f"{_LIST} for account {out.account.id} returned the same NextToken twice "
                "(fix: report it; the results would never end)",
            )
        seen.add(token)
        kwargs["NextToken"] = token


def unit_rows(
    payer_account_id: str,
    units: Iterable[Mapping[str, Any]],
    as_of: object,
    payer_account_name: str | None = None,
) -> list[dict[str, Any]]:
    """``InvoiceUnit`` records (ListInvoiceUnits / GetInvoiceUnit shape) of one payer → rows
    for :func:`units_frame`: one per unit x ``Rule.LinkedAccounts`` member (one with a null
    member for a unit without members).

    Examples
    --------
    >>> rows = unit_rows("111111111111", [{"InvoiceUnitArn": "arn:aws:invoicing::111111111111:"
    ...     "invoice-unit/abcd1234", "Name": "Ops", "Rule": {"LinkedAccounts": ["2" * 12]}}],
    ...     as_of="2026-11-30")
    >>> units_frame(rows)[["invoice_unit_name", "member_account_id"]].values.tolist()
    [['Ops', '222222222222']]
    """
    moment = as_of if as_of is None or isinstance(as_of, int | float) else _moment(as_of, "as_of")
    rows = []
    for u in units:
        rule = u.get("Rule") or {}
        members = list(rule.get("LinkedAccounts") or ()) or [None]
        base = {
            "payer_account_id": payer_account_id,
            "payer_account_name": payer_account_name,
            "invoice_unit_arn": u.get("InvoiceUnitArn"),
            "invoice_unit_name": u.get("Name"),
            "description": u.get("Description"),
            "invoice_receiver": u.get("InvoiceReceiver"),
            "tax_inheritance_disabled": u.get("TaxInheritanceDisabled"),
            "last_modified": u.get("LastModified"),
            "as_of": moment,
        }
        for m in members:
            rows.append({**base, "member_account_id": m})
    return rows


def _utc(values: list[Any]) -> pd.Series:
    import pandas as pd

    from invoicekit.schema import TIMESTAMP_DTYPE

    out = []
    for v in values:
        if v is None:
            out.append(pd.NaT)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out.append(pd.Timestamp(v, unit="s", tz="UTC"))
        else:
            t = pd.Timestamp(v)
            out.append(t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC"))
    return pd.Series(pd.DatetimeIndex(out, tz="UTC") if out else [], dtype=TIMESTAMP_DTYPE)


def units_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Unit rows (dicts keyed by :data:`UNIT_COLUMNS`) → the typed units frame, sorted.

    Strings are ``pd.ArrowDtype(pa.string())``, ``tax_inheritance_disabled`` is ``boolean``,
    ``last_modified`` and ``as_of`` are ``datetime64[ns, UTC]`` (epoch seconds, ISO strings
    and datetimes in any zone are accepted).

    Examples
    --------
    >>> df = units_frame([{"payer_account_id": "111111111111", "invoice_unit_name": "Ops",
    ...                    "tax_inheritance_disabled": False, "last_modified": 1.7e9,
    ...                    "as_of": "2026-11-30T23:59:59Z"}])
    >>> list(df.columns) == UNIT_COLUMNS, str(df.loc[0, "last_modified"].year)
    (True, '2023')
    """
    import pandas as pd

    from invoicekit.schema import STRING_DTYPE

    data: dict[str, Any] = {}
    for c in UNIT_COLUMNS:
        values = [r.get(c) for r in rows]
        if c in ("last_modified", "as_of"):
            data[c] = _utc(values).array
        elif c == "tax_inheritance_disabled":
            data[c] = pd.array([None if v is None else bool(v) for v in values], dtype="boolean")
        else:
            data[c] = pd.array([None if v is None else str(v) for v in values], dtype=STRING_DTYPE)
    df = pd.DataFrame(data, columns=UNIT_COLUMNS)
    if len(df):
        df = df.sort_values(
            ["payer_account_id", "as_of", "invoice_unit_name", "invoice_unit_arn",
             "member_account_id"],
            kind="stable",
            na_position="last",
        ).reset_index(drop=True)  # fmt: skip
    return df


def read_invoice_units(
    fleet: Any,
    as_of: object = None,
    *,
    months: Sequence[object] | None = None,
    max_workers: int | None = None,
    progress: bool = False,
    rate_per_account: float | None = DEFAULT_RATE_PER_ACCOUNT,
) -> pd.DataFrame:
    """The invoice units of every payer of a fleet: one row per unit x member account.

    Parameters
    ----------
    fleet
        A :class:`~invoicekit.fleet.Fleet`, the path of a fleet YAML file, or account ids.
    as_of : date, datetime, str or list of them, optional
        The moment(s) to describe (``ListInvoiceUnits`` ``AsOf``: the units as they were then,
        units deleted since included). A date (or ``"YYYY-MM-DD"``) means the end of that day,
        UTC. Several moments give one snapshot each, told apart by ``as_of``. Default: now.
    months : (first, last), optional
        Instead of ``as_of``: one snapshot at the end of each month of ``first..last`` (a
        month not ended yet: now) — what :func:`unit_of_invoice` and
        ``reconcile_invoices(..., units=...)`` need to follow units that changed.
    max_workers
        Payers queried at once (default: the fleet's ``max_concurrency``, else 16).
    progress
        Show a tqdm progress bar (one step per payer).
    rate_per_account
        Requests per second to one payer (default 5; ``None``: no pacing).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`UNIT_COLUMNS`: ``payer_account_id``, ``payer_account_name`` (fleet
        file), ``invoice_unit_arn``, ``invoice_unit_name``, ``description``,
        ``invoice_receiver``, ``tax_inheritance_disabled`` (boolean), ``member_account_id``
        (null for a unit without members), ``last_modified`` and ``as_of`` (UTC; ``as_of`` is
        the moment asked, or the business time of the fetch). A payer without units has no
        row. With a :class:`~invoicekit.outcomes.RunReport` (``operation="units"``) attached:
        ``invoicekit.run_report(df)`` (``failures``, ``api_calls``, ``counts``: ``invoice
        unit`` — distinct units — and ``payer``); ``df.attrs["failures"]`` holds the failures
        as dicts (``account_id, account_name, operation, code, message, windows`` — the
        snapshots not loaded — ``config``).

    Raises
    ------
    InvalidArgumentError
        Bad ``as_of``/``months``/options.
    ConfigError
        The fleet file is invalid, or every payer failed for a configuration reason.

    Examples
    --------
    >>> units = read_invoice_units("fleet.yml", as_of="2026-11-30")  # doctest: +SKIP
    >>> units.groupby("invoice_unit_name")["member_account_id"].count()  # doctest: +SKIP
    """
    from invoicekit.access import check_rate
    from invoicekit.outcomes import attach

    moments = _moments(as_of, months)
    check_rate(rate_per_account)
    fl = _fleet(fleet)

    def task(account: PayerAccount, out: _Outcome) -> None:
        out.extra["operation"] = _LIST
        client = _client(fl, account, rate_per_account)
        for i, moment in enumerate(moments):
            try:
                units = _list_units(client, out, moment)
            except Exception:
                out.left = [_iso(m) for m in moments[i:]]
                raise
            stamp = moment if moment is not None else _now()
            out.rows.extend(unit_rows(account.id, units, stamp, account.name))

    outcomes, report = _run(
        fl, task, operation="units", max_workers=max_workers, progress=progress,
        desc="invoice units",
    )  # fmt: skip
    df = units_frame([r for o in outcomes for r in o.rows])
    report.counts = {
        "invoice unit": int(df["invoice_unit_arn"].nunique()),
        "payer": int(df["payer_account_id"].nunique()),
    }
    report.extra["snapshots"] = [_iso(m) for m in moments]
    return attach(df, report)


def _now() -> pd.Timestamp:
    import pandas as pd

    return pd.Timestamp(clock.now())


def _iso(moment: pd.Timestamp | None) -> str:
    return "now" if moment is None else clock.utc_iso(moment.to_pydatetime())


# --------------------------------------------------------------------------------------------
# Invoice profiles
# --------------------------------------------------------------------------------------------


@functools.cache
def _batch_size() -> int:
    """The most account ids one BatchGetInvoiceProfile call takes (the model's maximum)."""
    try:
        import botocore.session

        model = botocore.session.get_session().get_service_model("invoicing")
        shape = model.operation_model(_PROFILES).input_shape.members["AccountIds"]
        return int(shape.metadata.get("max") or 1000)
    except Exception:  # pragma: no cover - an older botocore without the operation
        return 1000


@functools.cache
def sensitive_members() -> frozenset[str]:
    """The InvoiceProfile members the service model marks sensitive (their own or their shape).

    Examples
    --------
    >>> sorted(sensitive_members())
    ['ReceiverAddress', 'ReceiverEmail', 'TaxRegistrationNumber']
    """
    import botocore.session

    model = botocore.session.get_session().get_service_model("invoicing")
    profile = model.shape_for("InvoiceProfile")
    return frozenset(
        name for name, shape in profile.members.items() if shape.metadata.get("sensitive")
    )


def mask_sensitive(profiles: pd.DataFrame) -> pd.DataFrame:
    """A copy of a profiles frame whose sensitive columns read :data:`MASK` (nulls stay null).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"account_id": ["1"], "tax_registration_number": ["DE123456789"]})
    >>> mask_sensitive(df)["tax_registration_number"].tolist()
    ['REDACTED']
    """
    out = profiles.copy()
    for c in SENSITIVE_PROFILE_COLUMNS:
        if c in out.columns:
            s = out[c]
            out[c] = s.where(s.isna(), MASK)
    return out


def _profile_row(payer: PayerAccount, profile: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"payer_account_id": payer.id, "payer_account_name": payer.name}
    address = profile.get("ReceiverAddress") or {}
    for col, path in _PROFILE_FIELDS.items():
        if not path:
            continue
        if path.startswith("ReceiverAddress."):
            row[col] = address.get(path.split(".", 1)[1])
        else:
            row[col] = profile.get(path)
    return row


def profiles_frame(rows: list[dict[str, Any]], *, reveal: bool = False) -> pd.DataFrame:
    """Profile rows (dicts keyed by :data:`PROFILE_COLUMNS`) → the typed profiles frame.

    Every column is ``pd.ArrowDtype(pa.string())``; one row per (payer, account), sorted.
    Sensitive columns are masked unless ``reveal``.

    Examples
    --------
    >>> df = profiles_frame([{"account_id": "111111111111", "receiver_name": "Acme",
    ...                       "tax_registration_number": "DE123456789"}])
    >>> df.loc[0, "receiver_name"], df.loc[0, "tax_registration_number"]
    ('Acme', 'REDACTED')
    """
    import pandas as pd

    from invoicekit.schema import STRING_DTYPE

    data = {
        c: pd.array([None if r.get(c) is None else str(r.get(c)) for r in rows], dtype=STRING_DTYPE)
        for c in PROFILE_COLUMNS
    }
    df = pd.DataFrame(data, columns=PROFILE_COLUMNS)
    if len(df):
        df = df.drop_duplicates(["payer_account_id", "account_id"], keep="last")
        df = df.sort_values(["payer_account_id", "account_id"], kind="stable").reset_index(
            drop=True
        )
    return df if reveal else mask_sensitive(df)


def _asked_accounts(
    account: PayerAccount,
    account_ids: Mapping[str, Iterable[str]] | Iterable[str] | None,
    units: pd.DataFrame | None,
) -> list[str] | None:
    """The accounts whose profiles one payer is asked for (None: the payer and its receivers,
    from a live ListInvoiceUnits)."""
    if account_ids is not None:
        if isinstance(account_ids, Mapping):
            ids = account_ids.get(account.id) or ()
        else:
            ids = account_ids
        return list(dict.fromkeys(str(i) for i in ids))
    if units is None:
        return None
    mine = units[(units["payer_account_id"] == account.id).fillna(False).to_numpy(dtype=bool)]
    receivers = [r for r in mine["invoice_receiver"].dropna().astype(str).tolist()]
    return list(dict.fromkeys([account.id, *receivers]))


def read_invoice_profiles(
    fleet: Any,
    account_ids: Mapping[str, Iterable[str]] | Iterable[str] | None = None,
    *,
    units: pd.DataFrame | None = None,
    reveal: bool = False,
    max_workers: int | None = None,
    progress: bool = False,
    rate_per_account: float | None = DEFAULT_RATE_PER_ACCOUNT,
) -> pd.DataFrame:
    """The invoice profiles of the receivers of every payer: one row per receiver account.

    Parameters
    ----------
    fleet
        A :class:`~invoicekit.fleet.Fleet`, the path of a fleet YAML file, or account ids.
    account_ids : mapping or list, optional
        The accounts to describe: ``{payer id: [account ids]}``, or one list that every payer
        is asked for (a payer may describe only accounts of its own organization: AWS refuses
        the whole request otherwise). Default: each payer itself and the receivers of its
        invoice units (from ``units``, else from a ``ListInvoiceUnits`` call per payer, as of
        now).
    units : pandas.DataFrame, optional
        A frame of :func:`read_invoice_units` whose receivers to describe.
    reveal : bool
        Keep the values of the model's sensitive members (address, e-mail, tax registration
        number) in the frame. Default ``False``: they read ``"REDACTED"`` (null when absent).
        Even revealed they never appear in logs, messages or progress; do not write or print
        such a frame where others read it.
    max_workers, progress, rate_per_account
        As for :func:`read_invoice_units`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PROFILE_COLUMNS` (strings): ``payer_account_id``,
        ``payer_account_name``, ``account_id``, ``receiver_name``, ``issuer``,
        ``receiver_email``, the address (``company_name``, ``address_line1..3``,
        ``district_or_county``, ``city``, ``state_or_region``, ``postal_code``,
        ``country_code``) and ``tax_registration_number``. Account ids are sent in batches of
        the model's maximum per call. A :class:`~invoicekit.outcomes.RunReport`
        (``operation="profiles"``) is attached as for :func:`read_invoice_units`;
        ``extra["not_found"]`` lists asked accounts the answer did not describe.

    Examples
    --------
    >>> profiles = read_invoice_profiles("fleet.yml")  # doctest: +SKIP
    >>> profiles[["account_id", "receiver_name", "issuer"]]  # doctest: +SKIP
    """
    from invoicekit.access import check_rate
    from invoicekit.outcomes import attach

    check_rate(rate_per_account)
    if units is not None and "invoice_receiver" not in getattr(units, "columns", ()):
        raise InvalidArgumentError(
            "units must be a frame of read_invoice_units (it has no invoice_receiver column)"
        )
    fl = _fleet(fleet)
    size = _batch_size()
    install_log_redaction()  # botocore prints response bodies (tax ids) at DEBUG level

    def task(account: PayerAccount, out: _Outcome) -> None:
        asked = _asked_accounts(account, account_ids, units)
        out.extra["operation"] = _PROFILES if asked is not None else _LIST
        client = _client(fl, account, rate_per_account)
        if asked is None:
            listed = _list_units(client, out, None)
            receivers = [u.get("InvoiceReceiver") for u in listed if u.get("InvoiceReceiver")]
            asked = list(dict.fromkeys([account.id, *receivers]))
        out.extra["operation"] = _PROFILES
        got: set[str] = set()
        for i in range(0, len(asked), size):
            batch = asked[i : i + size]
            try:
                resp = client.batch_get_invoice_profile(AccountIds=batch)
            except Exception as exc:
                out.count(_PROFILES, getattr(exc, "response", None))
                raise
            out.count(_PROFILES, resp)
            for p in resp.get("Profiles") or ():
                out.rows.append(_profile_row(account, p))
                got.add(str(p.get("AccountId")))
        out.extra["not_found"] = [a for a in asked if a not in got]

    outcomes, report = _run(
        fl, task, operation="profiles", max_workers=max_workers, progress=progress,
        desc="invoice profiles",
    )  # fmt: skip
    df = profiles_frame([r for o in outcomes for r in o.rows], reveal=reveal)
    report.counts = {"profile": len(df), "payer": int(df["payer_account_id"].nunique())}
    report.extra["not_found"] = {
        o.account.id: o.extra["not_found"] for o in outcomes if o.extra.get("not_found")
    }
    report.extra["revealed"] = bool(reveal)
    return attach(df, report)


# --------------------------------------------------------------------------------------------
# Invoices and units (pure)
# --------------------------------------------------------------------------------------------


def _check_units(units: Any, what: str) -> None:
    import pandas as pd

    needed = ["payer_account_id", "invoice_unit_arn", "member_account_id"]
    if not isinstance(units, pd.DataFrame) or any(c not in units.columns for c in needed):
        raise InvalidArgumentError(
            f"{what}: units must be a frame of invoicekit.read_invoice_units "
            f"(columns {', '.join(needed)}, ...)"
        )


@dataclass(frozen=True)
class UnitAtMonthEnd:
    """One member of one unit as configured at a month's end (see :func:`configurations`)."""

    payer_account_id: str
    invoice_unit_arn: str
    invoice_unit_name: str | None
    member_account_id: str | None
    settled: bool


def _as_of_times(units: pd.DataFrame) -> list[pd.Timestamp]:
    """Each row's ``as_of``; a frame without it (or a null one) describes "now": the latest."""
    import pandas as pd

    latest = pd.Timestamp.max.tz_localize("UTC")
    if "as_of" not in units.columns:
        return [latest] * len(units)
    times = pd.to_datetime(units["as_of"], utc=True)
    return [latest if pd.isna(t) else t for t in times]


def _snapshot_rows(units: pd.DataFrame) -> dict[str, list[tuple[pd.Timestamp, list[dict]]]]:
    """payer → [(as_of, rows of that snapshot)], oldest first (rows as plain dicts)."""
    import pandas as pd

    cols = ["payer_account_id", "invoice_unit_arn", "invoice_unit_name", "member_account_id",
            "last_modified"]  # fmt: skip
    present = [c for c in cols if c in units.columns]
    by_payer: dict[str, dict[Any, list[dict]]] = {}
    records = units[present].to_dict("records")
    for r, t in zip(records, _as_of_times(units), strict=True):
        payer = r.get("payer_account_id")
        if not isinstance(payer, str):
            continue
        modified = r.get("last_modified")
        if isinstance(modified, str):  # a units file read as text
            t_mod = pd.Timestamp(modified)
            r["last_modified"] = t_mod.tz_localize("UTC") if t_mod.tzinfo is None else t_mod
        by_payer.setdefault(payer, {}).setdefault(t, []).append(r)
    return {p: sorted(snaps.items(), key=lambda kv: kv[0]) for p, snaps in by_payer.items()}


def configurations(
    units: pd.DataFrame, months: Iterable[object]
) -> dict[str, list[UnitAtMonthEnd]]:
    """For each month, every payer's unit members as configured at the month's end.

    The rule (also :func:`units_at_month_end`, :func:`unit_of_invoice` and completeness per
    unit): per payer, the snapshot used is the first one taken at or after the month's end;
    when every snapshot is older (the month has not ended, or was fetched before it ended), the
    latest one. A member is ``settled`` when its unit's ``last_modified`` is not after the
    month's end: the row certainly shows the unit as configured then. A unit created or
    changed after the month's end is not settled (it may not have existed, or looked
    different). One snapshot per month end (``read_invoice_units(..., months=...)``) makes
    every row of every month settled.

    Returns
    -------
    dict
        ``"YYYY-MM"`` → list of :class:`UnitAtMonthEnd`.
    """
    import bisect

    import pandas as pd

    from invoicekit.months import month_str

    _check_units(units, "configurations")
    snaps = _snapshot_rows(units)
    out: dict[str, list[UnitAtMonthEnd]] = {}
    for month in months:
        label = month_str(month)
        end = month_end(label)
        rows: list[UnitAtMonthEnd] = []
        for payer, series in snaps.items():
            times = [t for t, _ in series]
            i = bisect.bisect_left(times, end)
            _, chosen = series[i] if i < len(series) else series[-1]
            for r in chosen:
                arn = r.get("invoice_unit_arn")
                if not isinstance(arn, str):
                    continue
                modified = r.get("last_modified")
                settled = modified is None or pd.isna(modified) or modified <= end
                member = r.get("member_account_id")
                name = r.get("invoice_unit_name")
                rows.append(
                    UnitAtMonthEnd(
                        payer,
                        arn,
                        name if isinstance(name, str) else None,
                        member if isinstance(member, str) else None,
                        bool(settled),
                    )
                )
        out[label] = rows
    return out


def units_at_month_end(units: pd.DataFrame, month: object) -> pd.DataFrame:
    """The unit rows that describe each payer's units at the end of ``month``.

    The rows of the snapshot :func:`configurations` chooses for each payer, with a column
    ``settled``: true where the row certainly shows the unit as configured at the month's end.

    Examples
    --------
    >>> units = units_frame([{"payer_account_id": "1", "invoice_unit_arn": "arn:u",
    ...     "member_account_id": "2", "last_modified": "2026-10-10T08:15:00Z",
    ...     "as_of": "2026-11-30T23:59:59Z"}])
    >>> units_at_month_end(units, "2026-09")["settled"].tolist()
    [False]
    """
    import numpy as np
    import pandas as pd

    _check_units(units, "units_at_month_end")
    end = month_end(month)
    if not len(units):
        return units.assign(settled=np.zeros(0, dtype=bool))
    chosen = []
    for payer, series in _snapshot_rows(units).items():
        after = [t for t, _ in series if t >= end]
        chosen.append((payer, min(after) if after else series[-1][0]))
    wanted = set(chosen)
    payers = units["payer_account_id"].astype(object).tolist()
    keep = np.fromiter(
        ((p, t) in wanted for p, t in zip(payers, _as_of_times(units), strict=True)),
        bool,
        len(units),
    )
    rows = units[keep]
    if "last_modified" in rows.columns:
        modified = pd.to_datetime(rows["last_modified"], utc=True)
        settled = (modified.isna() | (modified <= end)).to_numpy(dtype=bool)
    else:
        settled = np.ones(len(rows), dtype=bool)
    return rows.assign(settled=settled).reset_index(drop=True)


def unit_of_invoice(summaries: pd.DataFrame, units: pd.DataFrame) -> pd.Series:
    """Which invoice unit each invoice row bills: the unit its ``bill_source_account`` was in.

    The unit is looked up among the payer's units as configured at the end of the invoice's
    billing month (:func:`configurations`); an invoice whose bill source account is in no unit
    then — the payer's default invoice — or that names none gets ``<NA>``.

    Parameters
    ----------
    summaries : pandas.DataFrame
        Invoice summaries (``schema.COLUMNS``; needs ``account_id``, ``billing_period`` and
        ``bill_source_account``).
    units : pandas.DataFrame
        A frame of :func:`read_invoice_units` (exact across changes with one snapshot per
        month end: ``months=(first, last)``).

    Returns
    -------
    pandas.Series
        ``invoice_unit_arn`` per row of ``summaries`` (same index), string dtype.

    Examples
    --------
    >>> import pandas as pd
    >>> from invoicekit import schema
    >>> df = schema.to_frame([
    ...     {"AccountId": "100000000001", "InvoiceId": "E-1", "BillSourceAccounts": ["100000000001"],
    ...      "BillingPeriod": {"Year": 2026, "Month": 10}},
    ...     {"AccountId": "100000000001", "InvoiceId": "E-2", "BillSourceAccounts": ["200000000002"],
    ...      "BillingPeriod": {"Year": 2026, "Month": 10}}])
    >>> units = units_frame([{"payer_account_id": "100000000001", "invoice_unit_arn": "arn:unit/a",
    ...     "member_account_id": "200000000002", "as_of": "2026-11-30T00:00:00Z"}])
    >>> unit_of_invoice(df, units).tolist()
    [<NA>, 'arn:unit/a']
    """
    import pandas as pd

    from invoicekit.reconcile._arrow import NAT, check_columns, month_labels, month_ordinals
    from invoicekit.schema import STRING_DTYPE

    check_columns(summaries, ["account_id", "billing_period", "bill_source_account"],
                  "unit_of_invoice")  # fmt: skip
    _check_units(units, "unit_of_invoice")
    n = len(summaries)
    result: list[Any] = [None] * n
    if n and len(units):
        accounts = summaries["account_id"].astype(object).tolist()
        sources = summaries["bill_source_account"].astype(object).tolist()
        ordinals = month_ordinals(summaries["billing_period"]).tolist()
        wanted = sorted({o for o in ordinals if o != NAT})
        labels = dict(zip(wanted, month_labels(wanted), strict=True))
        configs = configurations(units, labels.values())
        lookup = {
            o: {(u.payer_account_id, u.member_account_id): u.invoice_unit_arn
                for u in configs[labels[o]] if u.member_account_id is not None}
            for o in wanted
        }  # fmt: skip
        for i, (acct, src, o) in enumerate(zip(accounts, sources, ordinals, strict=True)):
            if o == NAT or not isinstance(src, str) or not isinstance(acct, str):
                continue
            result[i] = lookup[o].get((acct, src))
    return pd.Series(
        pd.array(result, dtype=STRING_DTYPE), index=summaries.index, name="invoice_unit_arn"
    )


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

#: File extension → format of :func:`write_frame` and the loaders.
FILE_FORMATS = {".parquet": "parquet", ".csv": "csv"}


def _file_format(path: str | os.PathLike, name: str) -> str:
    from pathlib import Path

    fmt = FILE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidArgumentError(
            f"{name} {path}: unknown extension {Path(path).suffix or '(none)'!r}: "
            "use FILE.parquet or FILE.csv"
        )
    return fmt


def write_frame(df: pd.DataFrame, path: str | os.PathLike, *, name: str = "path") -> None:
    """Write a units or profiles frame to CSV or parquet (by extension), atomically.

    CSV: UTF-8, timestamps ISO-8601 UTC with ``Z``, booleans ``true``/``false``, nulls empty.
    A profiles frame is written with its sensitive columns masked, whatever it holds.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> df = units_frame([{"payer_account_id": "111111111111", "invoice_unit_name": "Ops",
    ...                    "tax_inheritance_disabled": True, "as_of": "2026-11-30T23:59:59Z"}])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "units.csv"
    >>> write_frame(df, path)
    >>> load_units(path).equals(df)
    True
    """
    import pyarrow as pa

    from invoicekit import _files

    fmt = _file_format(path, name)
    df = mask_sensitive(df) if "tax_registration_number" in df.columns else df.copy()
    df.attrs = {}  # the run report stays in memory
    table = pa.Table.from_pandas(df, preserve_index=False)
    with _files.atomic_path(path) as tmp:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, str(tmp))
        else:
            import pyarrow.compute as pc
            import pyarrow.csv as pacsv

            cols = []
            for col in table.columns:
                if pa.types.is_timestamp(col.type):
                    cols.append(_iso_strings(col))
                elif pa.types.is_boolean(col.type):
                    cols.append(pc.if_else(col, "true", "false"))
                else:
                    cols.append(col.cast(pa.string()))
            text = pa.table(cols, names=table.column_names)
            pacsv.write_csv(
                text, str(tmp), write_options=pacsv.WriteOptions(quoting_style="needed")
            )


def _iso_strings(col: Any) -> Any:
    """UTC times as ISO-8601 with ``Z``, in the coarsest unit that loses nothing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = col.cast(pa.timestamp("ns", tz="UTC"))
    for unit in ("s", "ms", "us", "ns"):
        try:
            col = col.cast(pa.timestamp(unit, tz="UTC"))  # safe: raises if a fraction is lost
            break
        except pa.ArrowInvalid:
            continue
    return pc.strftime(col, format="%Y-%m-%dT%H:%M:%SZ")


def _read_table(path: str | os.PathLike, name: str) -> Any:
    from pathlib import Path

    import pyarrow as pa

    p = Path(path)
    if not p.is_file():
        raise InvalidArgumentError(
            f"{name} {path}: no such file (write it with `invoicekit units`)"
        )
    try:
        with open(p, "rb") as fh:
            magic = fh.read(4)
        if magic == b"PAR1" or p.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(str(p))
        import pyarrow.csv as pacsv

        with open(p, "rb") as fh:
            header = fh.readline().decode("utf-8-sig").strip()
        names = [h.strip('"') for h in header.split(",")] if header else []
        return pacsv.read_csv(
            str(p),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
    except Exception as exc:  # arrow and unicode errors: a file we cannot read
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidArgumentError(
            f"{name} {path}: cannot read it ({reason}); pass the .parquet or .csv written by "
            "`invoicekit units`"
        ) from None


def load_units(path: str | os.PathLike, *, name: str = "--units") -> pd.DataFrame:
    """Read a units file written by ``invoicekit units --output`` (CSV or parquet), typed.

    Raises
    ------
    InvalidArgumentError
        The file is missing, unreadable or not a units file (``name`` names the flag).
    """
    table = _read_table(path, name)
    missing = [c for c in UNIT_COLUMNS if c not in table.column_names]
    if missing:
        raise InvalidArgumentError(
            f"{name} {path}: not an invoice-units file (no column {', '.join(missing)}); "
            "write it with `invoicekit units --output FILE`"
        )
    rows = table.select(UNIT_COLUMNS).to_pylist()
    for r in rows:
        flag = r.get("tax_inheritance_disabled")
        if isinstance(flag, str):
            r["tax_inheritance_disabled"] = {"true": True, "false": False}.get(flag.lower())
    return units_frame(rows)


def load_profiles(path: str | os.PathLike, *, name: str = "--profiles") -> pd.DataFrame:
    """Read a profiles file written by ``invoicekit units --profiles`` (masked), typed."""
    table = _read_table(path, name)
    missing = [c for c in PROFILE_COLUMNS if c not in table.column_names]
    if missing:
        raise InvalidArgumentError(
            f"{name} {path}: not an invoice-profiles file (no column {', '.join(missing)}); "
            "write it with `invoicekit units --profiles FILE`"
        )
    return profiles_frame(table.select(PROFILE_COLUMNS).to_pylist(), reveal=True)
