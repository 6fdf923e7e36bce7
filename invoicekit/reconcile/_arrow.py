"""Private helpers shared by the checks, the tables and the AP export.

Columns become pyarrow arrays once (:class:`Columns`), billing months become pandas' monthly
``Period`` ordinals (vectorised, for whole columns), and money arithmetic runs on wide decimal
types so that no sum or product overflows. Scalar months go through :mod:`invoicekit.months`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from invoicekit import documents, months
from invoicekit._money import MONEY_TYPE, RATE_TYPE
from invoicekit.errors import InvalidArgumentError
from invoicekit.schema import COMPONENTS, VIEWS

#: pandas' ordinal of a missing Period.
NAT = np.iinfo(np.int64).min
ZERO = pa.scalar(Decimal(0), MONEY_TYPE)
# Working types: wide enough that sums and products of money and rates never overflow.
WIDE_MONEY = pa.decimal256(34, 10)
WIDE_RATE = pa.decimal256(28, 12)
#: ``invoice_type`` of a row that is an INVOICE (the completeness check's unit).
INVOICE_TYPE = "INVOICE"


def required_columns() -> list[str]:
    """Columns :func:`~invoicekit.reconcile.reconcile_invoices` reads."""
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


def check_columns(df: pd.DataFrame, needed: Iterable[str], what: str) -> None:
    """Raise :class:`InvalidArgumentError` naming the missing columns and the fix."""
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


def arrow(series: pd.Series, type_: pa.DataType | None = None) -> pa.Array:
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


def month_ordinals(series: pd.Series) -> np.ndarray:
    """A billing-period column as int64 month ordinals (pandas' ``Period``), NaT as :data:`NAT`."""
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


def periods_from_ordinals(ordinals: np.ndarray) -> pd.arrays.PeriodArray:
    """Month ordinals back to a ``period[M]`` array (:data:`NAT` becomes NaT)."""
    return pd.arrays.PeriodArray(np.asarray(ordinals, dtype=np.int64), dtype=pd.PeriodDtype("M"))


def month_labels(ordinals: Iterable[int]) -> list[str]:
    """Month ordinals as ``"YYYY-MM"`` labels."""
    return [months.format_month(*months.add_months(1970, 1, int(o))) for o in ordinals]


def month_bounds(start: Any, end: Any) -> tuple[int | None, int | None]:
    """``start``/``end`` (``"YYYY-MM"``, Period, date or None) as month ordinals, in order."""
    lo, hi = months.ordinal(start, "start"), months.ordinal(end, "end")
    if lo is not None and hi is not None and lo > hi:
        first, last = month_labels([lo, hi])
        raise InvalidArgumentError(
            f"end={last} is before start={first}: give the earlier month first"
        )
    return lo, hi


def mask(arr: pa.Array) -> np.ndarray:
    """Boolean pyarrow array → numpy bool (null counts as False)."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def add(a: pa.Array, b: pa.Array) -> pa.Array:
    """``a + b`` of money arrays in the wide type."""
    return pc.add(a.cast(WIDE_MONEY), b.cast(WIDE_MONEY))


def not_equal(a: pa.Array, b: pa.Array) -> pa.Array:
    """``a != b`` of money arrays (compared in the wide type)."""
    return pc.not_equal(a.cast(WIDE_MONEY), b.cast(WIDE_MONEY))


def minus(a: pa.Array, b: pa.Array) -> pa.Array:
    """``a - b`` of two money arrays, exact, as :data:`MONEY_TYPE`."""
    return pc.subtract(a.cast(WIDE_MONEY), b.cast(WIDE_MONEY)).cast(MONEY_TYPE)


class Columns:
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
        """Billing periods as month ordinals."""
        if "__months" not in self._cache:
            self._cache["__months"] = month_ordinals(self.df["billing_period"])
        return self._cache["__months"]

    def kinds(self) -> np.ndarray:
        """Each row's kind in the words of :mod:`invoicekit.documents`."""
        if "__kinds" not in self._cache:
            self._cache["__kinds"] = documents.kinds(self.df).to_numpy()
        return self._cache["__kinds"]

    def _get(self, name: str, type_: pa.DataType) -> pa.Array:
        if name not in self._cache:
            self._cache[name] = arrow(self.df[name], type_)
        return self._cache[name]


def invoice_counts(
    cols: Columns, lo: int | None, hi: int | None
) -> tuple[np.ndarray, list[str], int, int]:
    """INVOICE counts as an accounts x months matrix over the range (or the data's span).

    Returns the matrix, the accounts (in order of first appearance) and the first and last
    month ordinal of its columns (``0, -1`` when there is no month at all).
    """
    ordinals = cols.months()
    codes, uniques = pd.factorize(pd.Series(cols.string("account_id").to_pylist(), dtype=object))
    accounts = [str(u) for u in uniques]
    valid = ordinals != NAT
    if lo is None:
        lo = int(ordinals[valid].min()) if valid.any() else None
    if hi is None:
        hi = int(ordinals[valid].max()) if valid.any() else None
    if lo is None or hi is None:
        return np.zeros((len(accounts), 0), dtype=np.int64), accounts, 0, -1
    is_invoice = mask(pc.equal(cols.string("invoice_type"), INVOICE_TYPE))
    take = is_invoice & valid & (ordinals >= lo) & (ordinals <= hi) & (codes >= 0)
    grid = np.zeros((len(accounts), hi - lo + 1), dtype=np.int64)
    np.add.at(grid, (codes[take], ordinals[take] - lo), 1)
    return grid, accounts, lo, hi
