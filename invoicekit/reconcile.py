"""Month-end reconciliation of invoice summaries: findings, exact totals, AP export.

Everything here is a pure function of the invoice DataFrame described in ``docs/design.md``
(one row per invoice, money as ``decimal128(38, 10)``), apart from :func:`export_ap`, which
writes a CSV file. Money stays exact end to end: the arithmetic runs on pyarrow decimal
arrays (or Python :class:`~decimal.Decimal` for the few rows that become findings), never on
floats, and no amount is ever added to an amount of another currency.

Sign conventions (the sandbox follows them):

* discounts are reported **negative**, so ``total_before_tax = subtotal + discounts + fees``
  and ``total = total_before_tax + taxes``;
* credit memos carry negative amounts.
"""

from __future__ import annotations

import csv
import functools
import os
import sys
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from invoicekit._money import MONEY_TYPE, RATE_TYPE, minor_unit, quantize
from invoicekit.errors import InvalidArgumentError

__all__ = [
    "CHECKS",
    "FINDING_COLUMNS",
    "GENERIC_AP_COLUMNS",
    "ORACLE_AP_COLUMNS",
    "SEVERITIES",
    "completeness_grid",
    "export_ap",
    "month_end_table",
    "reconcile",
    "totals",
]

VIEWS = ("base", "tax", "payment")
COMPONENTS = ("total", "total_before_tax", "subtotal", "discounts", "taxes", "fees")

#: Columns of the findings DataFrame returned by :func:`reconcile`, in order.
FINDING_COLUMNS = [
    "check",
    "severity",
    "account_id",
    "invoice_id",
    "billing_period",
    "view",
    "currency",
    "expected",
    "actual",
    "difference",
    "message",
]

#: Severities, most serious first. Only ``error`` makes ``invoicekit reconcile`` exit 1.
SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Check:
    """One reconciliation check: its stable name, severity and what it means."""

    name: str
    severity: str
    meaning: str


#: Every check :func:`reconcile` runs, by stable name, in report order. ``severity`` is the
#: usual one; ``credit_memo_net`` is raised to ``warning`` when an invoice is over-credited.
CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check(
            "arithmetic_total", "error", "total = total_before_tax + taxes, per invoice and view"
        ),
        Check(
            "arithmetic_before_tax",
            "error",
            "total_before_tax = subtotal + discounts + fees (discounts negative), per invoice and view",
        ),
        Check(
            "discount_sign",
            "warning",
            "a discount reported positive: the view balances only as subtotal - discounts + fees",
        ),
        Check(
            "exchange",
            "error",
            "each component of a converted view is within one minor unit of the source view x rate",
        ),
        Check("completeness", "error", "an account x billing period without an INVOICE"),
        Check("duplicate_invoice", "error", "one invoice id seen twice with different content"),
        Check(
            "credit_memo_original",
            "warning",
            "a credit memo's OriginalInvoiceId is not in the data",
        ),
        Check("credit_memo_net", "info", "net position of an invoice and its credit memos"),
        Check(
            "tax_invoice_commercial",
            "warning",
            "a tax invoice's CommercialInvoiceId is not in the data",
        ),
        Check("tax_authority_cancelled", "warning", "the tax authority status is CANCELLED"),
        Check("payment_currency_change", "info", "an account's payment currency changed"),
    )
}

_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_CHECK_RANK = {name: i for i, name in enumerate(CHECKS)}
_NAT = np.iinfo(np.int64).min  # pandas' ordinal for a missing Period
_ZERO = pa.scalar(Decimal(0), MONEY_TYPE)
# Working types: wide enough that sums and products of money and rates never overflow.
_WIDE_MONEY = pa.decimal256(34, 10)
_WIDE_RATE = pa.decimal256(28, 12)

_FINDINGS_SCHEMA = pa.schema(
    [
        ("check", pa.string()),
        ("severity", pa.string()),
        ("account_id", pa.string()),
        ("invoice_id", pa.string()),
        ("billing_period", pa.int64()),  # month ordinal; becomes period[M]
        ("view", pa.string()),
        ("currency", pa.string()),
        ("expected", MONEY_TYPE),
        ("actual", MONEY_TYPE),
        ("difference", MONEY_TYPE),
        ("message", pa.string()),
    ]
)


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


def _required_columns() -> list[str]:
    cols = ["account_id", "invoice_id", "invoice_type", "billing_period"]
    cols += ["original_invoice_id", "commercial_invoice_id", "tax_authority_status"]
    for v in VIEWS:
        cols += [
            f"{v}_currency",
            *(f"{v}_{c}" for c in COMPONENTS),
            f"{v}_fx_rate",
            f"{v}_fx_source",
        ]
    return cols


def _check_columns(df: pd.DataFrame, needed: Iterable[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InvalidArgumentError(
            f"{what} needs a pandas DataFrame of invoice summaries, got {type(df).__name__}"
        )
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InvalidArgumentError(
            f"{what}: the DataFrame lacks column(s) {', '.join(missing)}; "
            "load it with invoicekit.read_invoice_summaries or schema.from_parquet/from_csv"
        )


def _arrow(series: pd.Series, type_: pa.DataType | None = None) -> pa.Array:
    """The column as one pyarrow array (zero-copy for ArrowDtype columns), cast to ``type_``."""
    arr = pa.array(series, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if type_ is not None and arr.type != type_:
        try:
            arr = arr.cast(type_)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidArgumentError(
                f"column {series.name!r} cannot be read as {type_}: {exc}"
            ) from exc
    return arr


def _month_ordinals(series: pd.Series) -> np.ndarray:
    """Billing periods as int64 month ordinals (pandas' ``Period`` ordinals), NaT as ``_NAT``."""
    if isinstance(series.dtype, pd.PeriodDtype):
        if series.dtype != pd.PeriodDtype("M"):
            series = series.dt.asfreq("M")
        return np.asarray(series.array.asi8, dtype=np.int64)
    values = series.astype(object).where(series.notna(), None)
    try:
        return np.asarray(pd.PeriodIndex(list(values), freq="M").asi8, dtype=np.int64)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(
            f"column {series.name!r} does not hold billing months (YYYY-MM): {exc}"
        ) from exc


def _periods_from_ordinals(ordinals: np.ndarray) -> pd.arrays.PeriodArray:
    return pd.arrays.PeriodArray(np.asarray(ordinals, dtype=np.int64), dtype=pd.PeriodDtype("M"))


def _month(value: Any, name: str) -> int | None:
    """``value`` (``"YYYY-MM"``, Period, date) as a month ordinal; ``None`` stays ``None``."""
    if value is None:
        return None
    try:
        period = value.asfreq("M") if isinstance(value, pd.Period) else pd.Period(value, freq="M")
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(
            f"{name}={value!r} is not a month; use YYYY-MM (e.g. 2026-10)"
        ) from exc
    if period is pd.NaT or pd.isna(period):
        raise InvalidArgumentError(f"{name}={value!r} is not a month; use YYYY-MM (e.g. 2026-10)")
    return int(period.ordinal)


def _range(start: Any, end: Any) -> tuple[int | None, int | None]:
    lo, hi = _month(start, "start"), _month(end, "end")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidArgumentError(f"start {start} is after end {end}; swap them")
    return lo, hi


class _Columns:
    """Lazily converted arrow columns of one DataFrame (each converted once)."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.n = len(df)
        self._cache: dict[str, Any] = {}

    def money(self, name: str) -> pa.Array:
        return self._get(name, MONEY_TYPE)

    def rate(self, name: str) -> pa.Array:
        return self._get(name, RATE_TYPE)

    def string(self, name: str) -> pa.Array:
        if name not in self.df.columns:
            return pa.nulls(self.n, pa.string())
        return self._get(name, pa.string())

    def months(self) -> np.ndarray:
        if "__months" not in self._cache:
            self._cache["__months"] = _month_ordinals(self.df["billing_period"])
        return self._cache["__months"]

    def _get(self, name: str, type_: pa.DataType) -> pa.Array:
        if name not in self._cache:
            self._cache[name] = _arrow(self.df[name], type_)
        return self._cache[name]


# --------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------


class _Findings:
    """Collects findings as arrow tables with :data:`_FINDINGS_SCHEMA`."""

    def __init__(self) -> None:
        self.parts: list[pa.Table] = []

    def add(self, check: str, severity: str | Sequence[str], **cols: Any) -> None:
        n = len(cols["message"])
        if n == 0:
            return
        arrays = []
        for field in _FINDINGS_SCHEMA:
            if field.name == "check":
                value: Any = check
            elif field.name == "severity":
                value = severity
            else:
                value = cols.get(field.name)
            arrays.append(_as_array(value, n, field.type))
        self.parts.append(pa.Table.from_arrays(arrays, schema=_FINDINGS_SCHEMA))

    def frame(self) -> pd.DataFrame:
        table = pa.concat_tables(self.parts) if self.parts else _FINDINGS_SCHEMA.empty_table()
        months = table.column("billing_period").to_numpy(zero_copy_only=False)
        months = np.where(pd.isna(months), _NAT, months).astype(np.int64)
        table = table.drop_columns(["billing_period"])
        out = table.to_pandas(types_mapper=pd.ArrowDtype)
        out.insert(4, "billing_period", _periods_from_ordinals(months))
        if len(out):
            out["_s"] = out["severity"].map(_SEVERITY_RANK).astype("int64")
            out["_c"] = out["check"].map(_CHECK_RANK).astype("int64")
            out = out.sort_values(
                ["_s", "_c", "account_id", "billing_period", "invoice_id", "view"],
                kind="stable",
                na_position="first",
            ).drop(columns=["_s", "_c"])
        return out.reset_index(drop=True)[FINDING_COLUMNS]


def _as_array(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    if value is None:
        return pa.nulls(n, type_)
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        return value if value.type == type_ else value.cast(type_)
    if isinstance(value, np.ndarray):
        if type_ == pa.int64():
            return pa.array(value.astype(np.int64), mask=value == _NAT, type=type_)
        return pa.array(value.tolist(), type=type_)
    if isinstance(value, (list, tuple)):
        return pa.array(list(value), type=type_)
    return pa.array([value] * n, type=type_)


@functools.lru_cache(maxsize=256)
def _unit(currency: str) -> Decimal:
    return minor_unit(currency)


def _fmt(amount: Decimal | None, currency: str | None) -> str:
    """Readable amount: the currency's minor units, more digits only when they matter."""
    if amount is None:
        return "n/a"
    if currency:
        q = amount.quantize(_unit(currency), rounding=ROUND_HALF_UP)
        if q == amount:
            return f"{q:f}"
    return f"{amount.normalize():f}"


def _minus(a: pa.Array, b: pa.Array) -> pa.Array:
    """``a - b`` of two money arrays, exact, as :data:`MONEY_TYPE`."""
    return pc.subtract(a.cast(_WIDE_MONEY), b.cast(_WIDE_MONEY)).cast(MONEY_TYPE)


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _add(a: pa.Array, b: pa.Array) -> pa.Array:
    return pc.add(a.cast(_WIDE_MONEY), b.cast(_WIDE_MONEY))


def _ne(a: pa.Array, b: pa.Array) -> pa.Array:
    return pc.not_equal(a.cast(_WIDE_MONEY), b.cast(_WIDE_MONEY))


def _mask(arr: pa.Array) -> np.ndarray:
    """Boolean pyarrow array → numpy bool (null counts as False)."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _arithmetic(cols: _Columns, rows: np.ndarray, out: _Findings) -> None:
    account = cols.string("account_id")
    invoice = cols.string("invoice_id")
    months = cols.months()
    for v in VIEWS:
        currency = cols.string(f"{v}_currency")
        total = cols.money(f"{v}_total")
        before = cols.money(f"{v}_total_before_tax")
        subtotal = cols.money(f"{v}_subtotal")
        discounts = pc.fill_null(cols.money(f"{v}_discounts"), _ZERO)
        taxes = pc.fill_null(cols.money(f"{v}_taxes"), _ZERO)
        fees = pc.fill_null(cols.money(f"{v}_fees"), _ZERO)
        present = rows & _mask(pc.is_valid(currency))

        # total = total_before_tax + taxes
        expected_total = _add(before, taxes)
        bad = present & _mask(_ne(total, expected_total))
        if bad.any():
            idx = np.flatnonzero(bad)
            exp = expected_total.take(idx).cast(MONEY_TYPE)
            act = total.take(idx)
            cur = currency.take(idx).to_pylist()
            e, a = exp.to_pylist(), act.to_pylist()
            out.add(
                "arithmetic_total",
                "error",
                account_id=account.take(idx),
                invoice_id=invoice.take(idx),
                billing_period=months[idx],
                view=v,
                currency=cur,
                expected=exp,
                actual=act,
                difference=_minus(act, exp),
                message=[
                    f"{v} total {_fmt(x, c)} {c} is not total before tax + taxes = {_fmt(y, c)}"
                    for x, y, c in zip(a, e, cur, strict=True)
                ],
            )

        # total_before_tax = subtotal + discounts + fees (discounts negative)
        expected_before = _add(_add(subtotal, discounts).cast(_WIDE_MONEY), fees)
        bad = present & _mask(_ne(before, expected_before))
        if not bad.any():
            continue
        other = pc.add(
            pc.subtract(subtotal.cast(_WIDE_MONEY), discounts.cast(_WIDE_MONEY)),
            fees.cast(_WIDE_MONEY),
        )
        other_balances = _mask(pc.equal(before.cast(_WIDE_MONEY), other)) & _mask(
            pc.not_equal(discounts, _ZERO)
        )
        for check, m in (
            ("discount_sign", bad & other_balances),
            ("arithmetic_before_tax", bad & ~other_balances),
        ):
            if not m.any():
                continue
            idx = np.flatnonzero(m)
            exp = expected_before.take(idx).cast(MONEY_TYPE)
            act = before.take(idx)
            cur = currency.take(idx).to_pylist()
            e, a = exp.to_pylist(), act.to_pylist()
            disc = discounts.take(idx).to_pylist()
            if check == "discount_sign":
                msgs = [
                    f"{v} discounts {_fmt(d, c)} {c} follow the other sign convention: total "
                    f"before tax {_fmt(x, c)} balances only as subtotal - discounts + fees; "
                    f"invoicekit expects discounts signed to add (expected {_fmt(y, c)}); "
                    "flip this source's discount sign before summing discounts"
                    for x, y, d, c in zip(a, e, disc, cur, strict=True)
                ]
            else:
                msgs = [
                    f"{v} total before tax {_fmt(x, c)} {c} is not subtotal + discounts + fees "
                    f"= {_fmt(y, c)} (nor with the discount sign flipped)"
                    for x, y, c in zip(a, e, cur, strict=True)
                ]
            out.add(
                check,
                CHECKS[check].severity,
                account_id=account.take(idx),
                invoice_id=invoice.take(idx),
                billing_period=months[idx],
                view=v,
                currency=cur,
                expected=exp,
                actual=act,
                difference=_minus(act, exp),
                message=msgs,
            )


def _tolerance(currency: pa.Array, type_: pa.DataType) -> pa.Array:
    """One minor unit of each row's currency (JPY 1, USD 0.01, KWD 0.001) as ``type_``."""
    codes = pc.unique(currency).drop_null()
    units = pa.array([minor_unit(c) for c in codes.to_pylist()], type=pa.decimal128(20, 10))
    where = pc.index_in(currency, value_set=codes)
    return units.take(where).cast(type_)


def _exchange(cols: _Columns, rows: np.ndarray, out: _Findings) -> None:
    account = cols.string("account_id")
    invoice = cols.string("invoice_id")
    months = cols.months()
    base_currency = cols.string("base_currency")
    for v in VIEWS:
        rate = cols.rate(f"{v}_fx_rate")
        target = cols.string(f"{v}_currency")
        source_code = pc.coalesce(cols.string(f"{v}_fx_source"), base_currency)
        todo = rows & _mask(pc.is_valid(rate)) & _mask(pc.is_valid(target))
        for s in (x for x in VIEWS if x != v):
            pair = todo & _mask(pc.equal(cols.string(f"{s}_currency"), source_code))
            todo &= ~pair
            if pair.any():
                _exchange_pair(cols, v, s, np.flatnonzero(pair), out, account, invoice, months)
        # A stated source currency that no other view carries cannot be verified.
        unverifiable = todo & _mask(pc.not_equal(source_code, target))
        if unverifiable.any():
            idx = np.flatnonzero(unverifiable)
            src = source_code.take(idx).to_pylist()
            cur = target.take(idx).to_pylist()
            out.add(
                "exchange",
                "warning",
                account_id=account.take(idx),
                invoice_id=invoice.take(idx),
                billing_period=months[idx],
                view=v,
                currency=cur,
                message=[
                    f"{v} view ({c}) was converted from {sc}, but no view of this invoice is in "
                    f"{sc}: the conversion cannot be verified"
                    for sc, c in zip(src, cur, strict=True)
                ],
            )


def _exchange_pair(
    cols: _Columns,
    v: str,
    s: str,
    idx: np.ndarray,
    out: _Findings,
    account: pa.Array,
    invoice: pa.Array,
    months: np.ndarray,
) -> None:
    rate = cols.rate(f"{v}_fx_rate").take(idx).cast(_WIDE_RATE)
    target = cols.string(f"{v}_currency").take(idx)
    tolerance = None
    exact: dict[str, pa.Array] = {}
    actual: dict[str, pa.Array] = {}
    failing: dict[str, np.ndarray] = {}
    for c in COMPONENTS:
        src = pc.fill_null(cols.money(f"{s}_{c}").take(idx), _ZERO).cast(_WIDE_MONEY)
        tgt = pc.fill_null(cols.money(f"{v}_{c}").take(idx), _ZERO)
        product = pc.multiply(src, rate)
        diff = pc.abs(pc.subtract(tgt.cast(_WIDE_MONEY), product))
        if tolerance is None:
            tolerance = _tolerance(target, diff.type)
        failing[c] = _mask(pc.greater(diff, tolerance))
        exact[c], actual[c] = product, tgt
    any_fail = np.logical_or.reduce([failing[c] for c in COMPONENTS])
    if not any_fail.any():
        return
    sub = np.flatnonzero(any_fail)
    cur = target.take(sub).to_pylist()
    src_cur = cols.string(f"{s}_currency").take(idx[sub]).to_pylist()
    rates = rate.take(sub).to_pylist()
    exp_l, act_l, msg_l = [], [], []
    table = {
        c: (exact[c].take(sub).to_pylist(), actual[c].take(sub).to_pylist()) for c in COMPONENTS
    }
    for j, i in enumerate(sub):
        bad = [c for c in COMPONENTS if failing[c][i]]
        parts = []
        for c in bad:
            e = quantize(table[c][0][j], cur[j])
            parts.append(f"{c} {_fmt(table[c][1][j], cur[j])} vs {_fmt(e, cur[j])}")
        first = bad[0]
        e = quantize(table[first][0][j], cur[j])
        a = table[first][1][j]
        exp_l.append(e)
        act_l.append(a)
        msg_l.append(
            f"{v} view ({cur[j]}) differs from {s} view ({src_cur[j]}) x {rates[j].normalize():f} "
            f"by more than one minor unit ({minor_unit(cur[j])} {cur[j]}): " + "; ".join(parts)
        )
    out.add(
        "exchange",
        "error",
        account_id=account.take(idx[sub]),
        invoice_id=invoice.take(idx[sub]),
        billing_period=months[idx[sub]],
        view=v,
        currency=cur,
        expected=exp_l,
        actual=act_l,
        difference=[a - e for a, e in zip(act_l, exp_l, strict=True)],
        message=msg_l,
    )


def _account_codes(cols: _Columns) -> tuple[np.ndarray, list[str]]:
    codes, uniques = pd.factorize(pd.Series(cols.string("account_id").to_pylist(), dtype=object))
    return codes, [str(u) for u in uniques]


def _invoice_counts(
    cols: _Columns, lo: int | None, hi: int | None
) -> tuple[np.ndarray, list[str], int, int]:
    """INVOICE counts as an accounts x months matrix over the range (or the data's span)."""
    months = cols.months()
    codes, accounts = _account_codes(cols)
    valid = months != _NAT
    if lo is None:
        lo = int(months[valid].min()) if valid.any() else None
    if hi is None:
        hi = int(months[valid].max()) if valid.any() else None
    if lo is None or hi is None:
        return np.zeros((len(accounts), 0), dtype=np.int64), accounts, 0, -1
    is_invoice = _mask(pc.equal(cols.string("invoice_type"), "INVOICE"))
    take = is_invoice & valid & (months >= lo) & (months <= hi) & (codes >= 0)
    grid = np.zeros((len(accounts), hi - lo + 1), dtype=np.int64)
    np.add.at(grid, (codes[take], months[take] - lo), 1)
    return grid, accounts, lo, hi


def _completeness(cols: _Columns, lo: int | None, hi: int | None, out: _Findings) -> None:
    grid, accounts, lo0, _hi0 = _invoice_counts(cols, lo, hi)
    a_idx, m_idx = np.nonzero(grid == 0)
    if len(a_idx) == 0:
        return
    names = (
        dict(
            zip(
                cols.string("account_id").to_pylist(),
                cols.string("account_name").to_pylist(),
                strict=True,
            )
        )
        if "account_name" in cols.df.columns
        else {}
    )
    months = (m_idx + lo0).astype(np.int64)
    acc = [accounts[i] for i in a_idx]
    labels = [str(p) for p in _periods_from_ordinals(months)]
    out.add(
        "completeness",
        "error",
        account_id=acc,
        billing_period=months,
        message=[
            f"no INVOICE for account {a}{f' ({names[a]})' if names.get(a) else ''} "
            f"for billing period {p}: fetch it again or ask AWS"
            for a, p in zip(acc, labels, strict=True)
        ],
    )


def _duplicates(df: pd.DataFrame, cols: _Columns, rows: np.ndarray, out: _Findings) -> None:
    ids = pd.Series(cols.string("invoice_id").to_pylist(), dtype=object)
    dup = ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy()
    if not dup.any():
        return
    # Identical repeats are one version; an id checked here has a version in the range.
    distinct = df.iloc[np.flatnonzero(dup)].drop_duplicates()
    key = distinct["invoice_id"].astype(object).to_numpy()
    checked = set(ids[rows & dup].tolist())
    counts = pd.Series(key).map(pd.Series(key).value_counts()).to_numpy()
    keep = (counts > 1) & np.fromiter((k in checked for k in key), bool, len(key))
    if not keep.any():
        return
    versions = distinct.iloc[np.flatnonzero(keep)]
    codes, uniques = pd.factorize(versions["invoice_id"].astype(object), sort=True)
    positions = pd.Series(np.arange(len(versions))).groupby(codes)
    first = positions.min().to_numpy()
    last = positions.max().to_numpy()
    size = positions.size().to_numpy()
    # Which columns differ between the versions of each id (nulls compare equal).
    text = versions.astype(str).where(versions.notna(), "\x00null")
    differs = (text.groupby(codes).nunique() > 1).to_numpy()
    names = np.asarray(versions.columns, dtype=object)
    total = _arrow(versions["base_total"], MONEY_TYPE)
    e = total.take(first).to_pylist()
    a = total.take(last).to_pylist()
    out.add(
        "duplicate_invoice",
        "error",
        account_id=_arrow(versions["account_id"], pa.string()).take(first),
        invoice_id=[str(u) for u in uniques],
        billing_period=_month_ordinals(versions["billing_period"])[first],
        view="base",
        currency=_arrow(versions["base_currency"], pa.string()).take(first),
        expected=e,
        actual=a,
        difference=[None if x is None or y is None else y - x for x, y in zip(e, a, strict=True)],
        message=[
            f"invoice {u} appears in {n} versions that differ in "
            f"{', '.join(names[row])}: keep the right one before booking"
            for u, n, row in zip(uniques, size, differs, strict=True)
        ],
    )


def _references(cols: _Columns, rows: np.ndarray, out: _Findings) -> None:
    """credit_memo_original, credit_memo_net, tax_invoice_commercial, tax_authority_cancelled."""
    account = cols.string("account_id")
    invoice = cols.string("invoice_id")
    months = cols.months()
    known = pc.unique(invoice).drop_null()
    kind = cols.string("invoice_type")
    is_cm = rows & _mask(pc.equal(kind, "CREDIT_MEMO"))

    original = cols.string("original_invoice_id")
    resolves = _mask(pc.is_in(original, value_set=known))
    orphan = is_cm & ~resolves
    if orphan.any():
        idx = np.flatnonzero(orphan)
        orig = original.take(idx).to_pylist()
        cur = cols.string("base_currency").take(idx)
        out.add(
            "credit_memo_original",
            "warning",
            account_id=account.take(idx),
            invoice_id=invoice.take(idx),
            billing_period=months[idx],
            view="base",
            currency=cur,
            actual=cols.money("base_total").take(idx),
            message=[
                "credit memo without OriginalInvoiceId: find the invoice it adjusts"
                if o is None
                else f"credit memo adjusts invoice {o}, which is not in this data: load its "
                "billing period (or its payer account) to match it"
                for o in orig
            ],
        )
    _credit_memo_net(cols, is_cm & resolves, out)

    commercial = cols.string("commercial_invoice_id")
    unresolved = (
        rows & _mask(pc.is_valid(commercial)) & ~_mask(pc.is_in(commercial, value_set=known))
    )
    if unresolved.any():
        idx = np.flatnonzero(unresolved)
        out.add(
            "tax_invoice_commercial",
            "warning",
            account_id=account.take(idx),
            invoice_id=invoice.take(idx),
            billing_period=months[idx],
            message=[
                f"tax invoice belongs to commercial invoice {c}, which is not in this data: "
                "load it before booking the tax invoice"
                for c in commercial.take(idx).to_pylist()
            ],
        )

    cancelled = rows & _mask(
        pc.equal(pc.utf8_upper(cols.string("tax_authority_status")), "CANCELLED")
    )
    if cancelled.any():
        idx = np.flatnonzero(cancelled)
        out.add(
            "tax_authority_cancelled",
            "warning",
            account_id=account.take(idx),
            invoice_id=invoice.take(idx),
            billing_period=months[idx],
            view="base",
            currency=cols.string("base_currency").take(idx),
            actual=cols.money("base_total").take(idx),
            message=[
                f"the tax authority cancelled {kind_} {i}: do not book or pay it; "
                "expect a replacement document from AWS"
                for kind_, i in zip(
                    kind.take(idx).to_pylist(), invoice.take(idx).to_pylist(), strict=True
                )
            ],
        )


def _credit_memo_net(cols: _Columns, credit_memos: np.ndarray, out: _Findings) -> None:
    if not credit_memos.any():
        return
    idx = np.flatnonzero(credit_memos)
    cms = pa.table(
        {
            "original": cols.string("original_invoice_id").take(idx),
            "currency": cols.string("base_currency").take(idx),
            "amount": cols.money("base_total").take(idx).cast(_WIDE_MONEY),
        }
    )
    credited = cms.group_by(["original", "currency"]).aggregate(
        [("amount", "sum"), ("amount", "count")]
    )
    # The original invoice: the first row carrying its id.
    ids = cols.string("invoice_id")
    originals = pa.table(
        {
            "original": ids,
            "o_account": cols.string("account_id"),
            "o_month": pa.array(cols.months(), mask=cols.months() == _NAT),
            "o_currency": cols.string("base_currency"),
            "o_total": cols.money("base_total"),
            "o_row": pa.array(np.arange(cols.n)),
        }
    )
    first = originals.group_by("original").aggregate([("o_row", "min")])
    first_rows = first.column("o_row_min").to_numpy()
    originals = originals.take(first_rows)
    joined = credited.join(originals, "original", join_type="left outer").sort_by("original")
    acc, inv, mon, cur, exp, act, diff, msg, sev = [], [], [], [], [], [], [], [], []
    for r in joined.to_pylist():
        c = r["currency"]
        credit = r["amount_sum"]
        same = r["o_currency"] == c and r["o_total"] is not None
        original_total = r["o_total"] if same else None
        net = original_total + credit if same else None
        over = net is not None and net < 0
        acc.append(r["o_account"])
        inv.append(r["original"])
        mon.append(_NAT if r["o_month"] is None else r["o_month"])
        cur.append(c)
        exp.append(original_total)
        act.append(net)
        diff.append(credit)
        sev.append("warning" if over else "info")
        n = r["amount_count"]
        if same:
            text = (
                f"invoice {r['original']} {_fmt(original_total, c)} {c} with {n} credit memo(s) "
                f"{_fmt(credit, c)}: net {_fmt(net, c)} {c}"
            )
            if over:
                text += " - credited more than invoiced: check with AWS"
        else:
            text = (
                f"invoice {r['original']} (in {r['o_currency']}) has {n} credit memo(s) in {c} "
                f"totalling {_fmt(credit, c)} {c}: net position not computed across currencies"
            )
        msg.append(text)
    out.add(
        "credit_memo_net",
        sev,
        account_id=acc,
        invoice_id=inv,
        billing_period=np.asarray(mon, dtype=np.int64),
        view="base",
        currency=cur,
        expected=exp,
        actual=act,
        difference=diff,
        message=msg,
    )


def _payment_currency_change(cols: _Columns, rows: np.ndarray, out: _Findings) -> None:
    invoices = rows & _mask(pc.equal(cols.string("invoice_type"), "INVOICE"))
    currency = cols.string("payment_currency")
    invoices &= _mask(pc.is_valid(currency))
    if not invoices.any():
        return
    idx = np.flatnonzero(invoices & (cols.months() != _NAT))
    if len(idx) == 0:
        return
    table = pa.table(
        {
            "account": cols.string("account_id").take(idx),
            "month": pa.array(cols.months()[idx]),
            "currency": currency.take(idx),
            "invoice": cols.string("invoice_id").take(idx),
        }
    ).sort_by(
        [
            ("account", "ascending"),
            ("month", "ascending"),
            ("currency", "ascending"),
            ("invoice", "ascending"),
        ]
    )
    # Sorted input and a single thread: each month's distinct currencies come out sorted.
    per_month = (
        table.group_by(["account", "month"], use_threads=False)
        .aggregate([("currency", "distinct"), ("invoice", "first")])
        .sort_by([("account", "ascending"), ("month", "ascending")])
    )
    accounts = per_month.column("account").to_numpy(zero_copy_only=False)
    sets = pc.binary_join(per_month.column("currency_distinct"), "/").to_numpy(zero_copy_only=False)
    change = np.zeros(len(accounts), dtype=bool)
    change[1:] = (accounts[1:] == accounts[:-1]) & (sets[1:] != sets[:-1])
    if not change.any():
        return
    at = np.flatnonzero(change)
    prev = sets[at - 1].tolist()
    new = sets[at].tolist()
    changed = {
        "account": accounts[at].tolist(),
        "invoice": per_month.column("invoice_first").take(at).to_pylist(),
        "month": per_month.column("month").take(at).to_numpy(),
    }
    out.add(
        "payment_currency_change",
        "info",
        account_id=changed["account"],
        invoice_id=changed["invoice"],
        billing_period=changed["month"].astype(np.int64),
        view="payment",
        currency=new,
        message=[
            f"payment currency changed from {p} to {c}: check the bank details AP pays to"
            for p, c in zip(prev, new, strict=True)
        ],
    )


def reconcile(df: pd.DataFrame, *, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Check invoice summaries the way a month-end close needs them checked.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries with the columns of ``invoicekit.schema.COLUMNS``.
    start, end : str or pandas.Period, optional
        First and last billing month to reconcile (``"YYYY-MM"``, inclusive). Default: the
        data's own span. Invoices outside the range are not checked, but they still resolve
        references (a credit memo's original invoice may be older).

    Returns
    -------
    pandas.DataFrame
        One row per finding with the columns :data:`FINDING_COLUMNS`: ``check`` (a stable name
        of :data:`CHECKS`), ``severity`` (``error``, ``warning`` or ``info``), ``account_id``,
        ``invoice_id``, ``billing_period`` (``period[M]``), ``view`` (``base``, ``tax``,
        ``payment``), ``currency``, exact decimal ``expected``, ``actual`` and ``difference``
        (``actual - expected``), and a one-line ``message`` saying what to do. Sorted by
        severity, check, account, period, invoice. Empty when everything reconciles.

    Raises
    ------
    InvalidArgumentError
        A required column is missing, or ``start``/``end`` is not a month.

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame(build_organization(today="2026-11-25", anomalies=True).invoices)
    >>> findings = reconcile(df)
    >>> sorted(findings.loc[findings.severity == "error", "check"].unique())
    ['arithmetic_total', 'completeness', 'duplicate_invoice', 'exchange']
    >>> october = reconcile(df, start="2026-10", end="2026-10")
    >>> bool((october.billing_period.dropna().astype(str) <= "2026-10").all())
    True
    """
    _check_columns(df, _required_columns(), "reconcile")
    lo, hi = _range(start, end)
    cols = _Columns(df)
    months = cols.months()
    rows = np.ones(cols.n, dtype=bool)
    if lo is not None:
        rows &= (months != _NAT) & (months >= lo)
    if hi is not None:
        rows &= (months != _NAT) & (months <= hi)
    out = _Findings()
    if cols.n:
        _arithmetic(cols, rows, out)
        _exchange(cols, rows, out)
        _completeness(cols, lo, hi, out)
        _duplicates(df, cols, rows, out)
        _references(cols, rows, out)
        _payment_currency_change(cols, rows, out)
    return out.frame()


# --------------------------------------------------------------------------------------------
# Totals
# --------------------------------------------------------------------------------------------

_TOTAL_COMPONENTS = COMPONENTS


def _group_sums(
    df: pd.DataFrame, keys: list[str], sums: dict[str, str], counts: dict[str, tuple[str, str]]
) -> pd.DataFrame:
    """Exact per-group sums with pyarrow; ``keys`` may include ``billing_period``."""
    data: dict[str, pa.Array] = {}
    for k in keys:
        if k == "billing_period":
            m = _month_ordinals(df[k])
            data[k] = pa.array(m, mask=m == _NAT)
        else:
            data[k] = _arrow(df[k])
    for out_name, col in sums.items():
        data[out_name] = _arrow(df[col], MONEY_TYPE).cast(_WIDE_MONEY)
    kind = _arrow(df["invoice_type"], pa.string())
    for out_name, (_, value) in counts.items():
        data[out_name] = pc.cast(pc.fill_null(pc.equal(kind, value), False), pa.int64())
    table = pa.table(data)
    aggs = [(c, "sum") for c in sums] + [(c, "sum") for c in counts]
    grouped = table.group_by(keys, use_threads=False).aggregate(aggs)
    grouped = grouped.rename_columns([n.removesuffix("_sum") for n in grouped.column_names])
    for c in sums:
        grouped = grouped.set_column(
            grouped.schema.get_field_index(c), c, grouped.column(c).cast(MONEY_TYPE)
        )
    result = grouped.to_pandas(types_mapper=pd.ArrowDtype)
    if "billing_period" in keys:
        m = grouped.column("billing_period").to_numpy(zero_copy_only=False)
        m = np.where(pd.isna(m), _NAT, m).astype(np.int64)
        result["billing_period"] = _periods_from_ordinals(m)
    for c in counts:
        result[c] = result[c].astype("int64")
    result = result.sort_values(keys, kind="stable").reset_index(drop=True)
    return result[[*keys, *counts, *sums]]


def _billable(df: pd.DataFrame, net_credit_memos: bool) -> pd.DataFrame:
    """Rows that are charges: no payment receipts, no tax invoices restating a commercial one."""
    kind = _arrow(df["invoice_type"], pa.string())
    keep = ~_mask(pc.equal(kind, "PAYMENT_RECEIPT"))
    if "commercial_invoice_id" in df.columns:
        keep &= ~_mask(pc.is_valid(_arrow(df["commercial_invoice_id"], pa.string())))
    if not net_credit_memos:
        keep &= ~_mask(pc.equal(kind, "CREDIT_MEMO"))
    return df if keep.all() else df.iloc[np.flatnonzero(keep)]


def totals(
    df: pd.DataFrame,
    by: Sequence[str] | str = ("billing_period",),
    view: str = "base",
    net_credit_memos: bool = True,
) -> pd.DataFrame:
    """Exact sums per currency, grouped by ``by`` — never across currencies.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (``invoicekit.schema.COLUMNS``).
    by : list of str, default ``["billing_period"]``
        Grouping columns, e.g. ``["billing_period", "account_id"]`` or ``["invoicing_entity"]``.
        The view's currency is always added as the last key, ``currency``.
    view : {"base", "tax", "payment"}, default "base"
        Which currency view to sum. Invoices without that view (no currency) are left out.
    net_credit_memos : bool, default True
        Net credit memos (negative amounts) into the sums; ``False`` sums INVOICE rows only.
        PAYMENT_RECEIPT rows are never summed (they record payments, not charges), nor are
        tax invoices (rows with a ``commercial_invoice_id``: they restate the amounts of their
        commercial invoice, which is summed).

    Returns
    -------
    pandas.DataFrame
        ``*by, currency, invoices, credit_memos, total, total_before_tax, subtotal, discounts,
        taxes, fees``; amounts are exact ``decimal128(38, 10)``.

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame(build_organization(today="2026-11-25", anomalies=True).invoices)
    >>> t = totals(df, by=["billing_period"], view="payment")
    >>> sorted(t.loc[t.billing_period == "2026-10", "currency"])  # one row per currency
    ['EUR', 'GBP', 'INR', 'JPY', 'USD']
    >>> t["total"].dtype
    decimal128(38, 10)[pyarrow]
    """
    if view not in VIEWS:
        raise InvalidArgumentError(f"view={view!r} is not one of {', '.join(VIEWS)}")
    keys = [by] if isinstance(by, str) else list(by)
    currency_col = f"{view}_currency"
    if "currency" in keys:
        raise InvalidArgumentError(
            "by must not name 'currency': the view's currency is always a key"
        )
    _check_columns(
        df,
        [*keys, "invoice_type", currency_col, *(f"{view}_{c}" for c in _TOTAL_COMPONENTS)],
        "totals",
    )
    rows = _billable(df, net_credit_memos)
    rows = rows[rows[currency_col].notna()]
    frame = rows.rename(columns={currency_col: "currency"})
    return _group_sums(
        frame,
        [*keys, "currency"],
        {c: f"{view}_{c}" for c in _TOTAL_COMPONENTS},
        {"invoices": ("invoice_type", "INVOICE"), "credit_memos": ("invoice_type", "CREDIT_MEMO")},
    )


def month_end_table(df: pd.DataFrame, period: Any) -> pd.DataFrame:
    """Per payer account, one billing month: invoices, credit memos and the net amounts.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (``invoicekit.schema.COLUMNS``).
    period : str or pandas.Period
        The billing month, ``"YYYY-MM"``.

    Returns
    -------
    pandas.DataFrame
        ``account_id, account_name, invoices, credit_memos, base_currency, net_base,
        payment_currency, net_payment``: the net is invoices plus credit memos (negative), in
        the base view and in the payment view, each with its currency. An account billed in two
        currencies in that month gets one row per currency pair. Accounts of the data without
        any invoice in that month appear with zero counts and empty amounts.

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame(build_organization(today="2026-11-25", anomalies=True).invoices)
    >>> table = month_end_table(df, "2026-10")
    >>> list(table.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['account_id', 'account_name', 'invoices', 'credit_memos', 'base_currency', 'net_base',
     'payment_currency', 'net_payment']
    >>> len(table) == df["account_id"].nunique()
    True
    """
    month = _month(period, "period")
    needed = [
        "account_id",
        "invoice_type",
        "billing_period",
        "base_currency",
        "base_total",
        "payment_currency",
        "payment_total",
    ]
    _check_columns(df, needed, "month_end_table")
    months = _month_ordinals(df["billing_period"])
    names = (
        df[["account_id", "account_name"]].astype(object).drop_duplicates("account_id")
        if "account_name" in df.columns
        else pd.DataFrame(
            {"account_id": df["account_id"].astype(object).unique(), "account_name": None}
        )
    )
    sel = _billable(df.iloc[np.flatnonzero(months == month)], True)
    keys = ["account_id", "base_currency", "payment_currency"]
    if len(sel):
        grouped = _group_sums(
            sel,
            keys,
            {"net_base": "base_total", "net_payment": "payment_total"},
            {
                "invoices": ("invoice_type", "INVOICE"),
                "credit_memos": ("invoice_type", "CREDIT_MEMO"),
            },
        )
        grouped["account_id"] = grouped["account_id"].astype(object)
    else:
        grouped = pd.DataFrame(
            columns=[*keys, "invoices", "credit_memos", "net_base", "net_payment"]
        )
    table = names.merge(grouped, on="account_id", how="left")
    table["invoices"] = table["invoices"].fillna(0).astype("int64")
    table["credit_memos"] = table["credit_memos"].fillna(0).astype("int64")
    string = pd.ArrowDtype(pa.string())
    money = pd.ArrowDtype(MONEY_TYPE)
    for c in ("account_id", "account_name", "base_currency", "payment_currency"):
        table[c] = table[c].astype(object).where(table[c].notna(), None).astype(string)
    for c in ("net_base", "net_payment"):
        table[c] = pd.array(
            [None if pd.isna(x) else x for x in table[c].astype(object)], dtype=money
        )
    columns = [
        "account_id",
        "account_name",
        "invoices",
        "credit_memos",
        "base_currency",
        "net_base",
        "payment_currency",
        "net_payment",
    ]
    return (
        table[columns]
        .sort_values(["account_id", "base_currency"], kind="stable")
        .reset_index(drop=True)
    )


def completeness_grid(df: pd.DataFrame, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Count INVOICEs per account and billing month, for a heatmap (0 = missing).

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (``invoicekit.schema.COLUMNS``).
    start, end : str or pandas.Period, optional
        First and last month (``"YYYY-MM"``); default the data's own span.

    Returns
    -------
    pandas.DataFrame
        Index ``account_id`` (every account of the data, sorted), one ``int64`` column per
        month labelled ``"YYYY-MM"`` (oldest first). A 0 is what ``reconcile`` reports as a
        ``completeness`` error.

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame(build_organization(today="2026-11-25", anomalies=True).invoices)
    >>> grid = completeness_grid(df, "2026-01", "2026-10")
    >>> grid.shape, int((grid == 0).sum().sum())
    ((12, 10), 1)
    """
    _check_columns(df, ["account_id", "invoice_type", "billing_period"], "completeness_grid")
    lo, hi = _range(start, end)
    cols = _Columns(df)
    grid, accounts, lo0, hi0 = _invoice_counts(cols, lo, hi)
    labels = [str(p) for p in _periods_from_ordinals(np.arange(lo0, hi0 + 1, dtype=np.int64))]
    frame = pd.DataFrame(grid, index=pd.Index(accounts, name="account_id"), columns=labels)
    frame.columns.name = "billing_period"
    return frame.sort_index()


# --------------------------------------------------------------------------------------------
# Accounts-payable export
# --------------------------------------------------------------------------------------------

#: Header of ``export_ap(format="generic")`` (snake_case).
GENERIC_AP_COLUMNS = [
    "invoice_number",
    "supplier",
    "invoice_date",
    "due_date",
    "currency",
    "amount",
    "tax_amount",
    "po_number",
    "type",
    "account",
]

#: Header of ``export_ap(format="oracle-ap")``: column names of Oracle Payables'
#: ``AP_INVOICES_INTERFACE`` open interface table.
ORACLE_AP_COLUMNS = [
    "INVOICE_ID",
    "INVOICE_NUM",
    "INVOICE_TYPE_LOOKUP_CODE",
    "INVOICE_DATE",
    "VENDOR_NAME",
    "INVOICE_AMOUNT",
    "INVOICE_CURRENCY_CODE",
    "PAYMENT_CURRENCY_CODE",
    "TERMS_DATE",
    "GL_DATE",
    "DESCRIPTION",
    "PO_NUMBER",
    "SOURCE",
]

_AP_FORMATS = ("generic", "oracle-ap")


def _plain(amount: Decimal | None, currency: str | None) -> str:
    """Plain decimal string in the currency's minor units (half-up), never an exponent."""
    if amount is None or currency is None:
        return ""
    return f"{quantize(amount, currency):f}"


def _dates(series: pd.Series, fmt: str) -> list[str]:
    values = pd.to_datetime(series, utc=True, errors="coerce")
    return ["" if pd.isna(v) else v.strftime(fmt) for v in values]


def export_ap(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    format: str = "generic",
    *,
    source: str = "INVOICEKIT",
) -> pd.DataFrame:
    """Write invoices and credit memos as a CSV for accounts payable.

    Amounts and currency are the **payment** view (what AP pays); invoices without a payment
    view fall back to the base view. PAYMENT_RECEIPT rows and tax invoices (rows with a
    ``commercial_invoice_id``, restating their commercial invoice) are not exported, so nothing
    is paid twice. The file is UTF-8 without BOM, ``\\n`` line ends, amounts as plain decimal strings in the currency's minor
    units (``1234.50``, JPY ``1234``, KWD ``12.345``).

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (``invoicekit.schema.COLUMNS``).
    path : str or os.PathLike
        The CSV file to write.
    format : {"generic", "oracle-ap"}
        ``generic``: :data:`GENERIC_AP_COLUMNS` (dates ``YYYY-MM-DD``, type ``STANDARD`` or
        ``CREDIT``). ``oracle-ap``: :data:`ORACLE_AP_COLUMNS`, the column names of Oracle
        Payables' ``AP_INVOICES_INTERFACE`` (dates ``YYYY/MM/DD``; ``INVOICE_ID`` a sequence
        1..n for this file).
    source : str, default "INVOICEKIT"
        The ``SOURCE`` value of the oracle-ap format (must exist as a Payables source).

    Returns
    -------
    pandas.DataFrame
        The rows written, as strings, in file order (by invoice date, then invoice number).

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame(build_organization(today="2026-11-25", anomalies=True).invoices)
    >>> rows = export_ap(df, "/tmp/ap.csv", format="oracle-ap")
    >>> rows.iloc[0][["INVOICE_TYPE_LOOKUP_CODE", "INVOICE_CURRENCY_CODE"]].tolist()
    ['STANDARD', 'USD']
    """
    if format not in _AP_FORMATS:
        raise InvalidArgumentError(f"format={format!r} is not one of {', '.join(_AP_FORMATS)}")
    needed = [
        "account_id",
        "invoice_id",
        "invoice_type",
        "billing_period",
        "issued_date",
        "due_date",
        "invoicing_entity",
        "purchase_order_number",
        "payment_currency",
        "payment_total",
        "payment_taxes",
        "base_currency",
        "base_total",
        "base_taxes",
    ]
    _check_columns(df, needed, "export_ap")
    rows = _billable(df, True)
    rows = rows.sort_values(["issued_date", "invoice_id"], kind="stable", na_position="last")

    pay_cur = _arrow(rows["payment_currency"], pa.string())
    use_pay = _mask(pc.is_valid(pay_cur))
    currency = pc.if_else(use_pay, pay_cur, _arrow(rows["base_currency"], pa.string())).to_pylist()
    amount = pc.if_else(
        use_pay, _arrow(rows["payment_total"], MONEY_TYPE), _arrow(rows["base_total"], MONEY_TYPE)
    ).to_pylist()
    tax = pc.if_else(
        use_pay,
        pc.fill_null(_arrow(rows["payment_taxes"], MONEY_TYPE), _ZERO),
        pc.fill_null(_arrow(rows["base_taxes"], MONEY_TYPE), _ZERO),
    ).to_pylist()
    types = [
        "CREDIT" if k == "CREDIT_MEMO" else "STANDARD"
        for k in _arrow(rows["invoice_type"]).to_pylist()
    ]
    numbers = [x or "" for x in _arrow(rows["invoice_id"], pa.string()).to_pylist()]
    supplier = [x or "" for x in _arrow(rows["invoicing_entity"], pa.string()).to_pylist()]
    po = [x or "" for x in _arrow(rows["purchase_order_number"], pa.string()).to_pylist()]
    account = [x or "" for x in _arrow(rows["account_id"], pa.string()).to_pylist()]
    amounts = [_plain(a, c) for a, c in zip(amount, currency, strict=True)]
    taxes = [_plain(t, c) for t, c in zip(tax, currency, strict=True)]
    currency = [c or "" for c in currency]

    if format == "generic":
        issued = _dates(rows["issued_date"], "%Y-%m-%d")
        due = _dates(rows["due_date"], "%Y-%m-%d")
        records = list(
            zip(
                numbers,
                supplier,
                issued,
                due,
                currency,
                amounts,
                taxes,
                po,
                types,
                account,
                strict=True,
            )
        )
        header = GENERIC_AP_COLUMNS
    else:
        issued = _dates(rows["issued_date"], "%Y/%m/%d")
        due = _dates(rows["due_date"], "%Y-%m-%d")
        periods = [str(p) for p in _periods_from_ordinals(_month_ordinals(rows["billing_period"]))]
        descriptions = [
            (
                f"AWS {'credit memo' if t == 'CREDIT' else 'invoice'} {n}, account {a}, "
                f"billing period {p}, tax {x} {c}" + (f", due {d}" if d else "")
            )[:240]
            for n, a, p, x, c, d, t in zip(
                numbers, account, periods, taxes, currency, due, types, strict=True
            )
        ]
        records = [
            (str(i + 1), n, t, d, s, amt, c, c, d, d, desc, p, source)
            for i, (n, t, d, s, amt, c, desc, p) in enumerate(
                zip(
                    numbers,
                    types,
                    issued,
                    supplier,
                    amounts,
                    currency,
                    descriptions,
                    po,
                    strict=True,
                )
            )
        ]
        header = ORACLE_AP_COLUMNS
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(records)
    return pd.DataFrame(records, columns=header, dtype=object)


class _CallableModule(types.ModuleType):
    """``invoicekit.reconcile`` is both this module and the :func:`reconcile` function.

    Importing a submodule binds its name on the package, which would shadow the function
    ``invoicekit.reconcile`` the moment any code imports ``invoicekit.reconcile``; calling the
    module keeps ``invoicekit.reconcile(df)`` working however the package was imported.
    """

    def __call__(self, df: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
        return reconcile(df, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
