"""The column contract: raw ``InvoiceSummary`` records → one typed row per invoice.

Pure functions, no I/O except the explicit CSV/parquet readers and writers. Column names are
defined here once (:data:`COLUMNS`); every other module imports them.

* money columns: ``pd.ArrowDtype(pa.decimal128(38, 10))`` — parsed exactly from the API's decimal
  strings, never through float; a value with more than 10 digits after the point is refused
  rather than rounded;
* exchange rates: ``pd.ArrowDtype(pa.decimal128(38, 12))``;
* strings: ``pd.ArrowDtype(pa.string())``;
* timestamps: ``datetime64[ns, UTC]`` (botocore returns local-time datetimes; the wire has epoch
  seconds — both are normalised to UTC);
* ``billing_period``: ``period[M]``; ``bill_source_accounts_count``: ``Int64``;
* ``bill_source_account``: the account ``BillSourceAccounts`` lists (AWS lists one; the first
  when a record lists more), a string; null when the record lists none.

Files written before ``bill_source_account`` existed (CSV, parquet, stores) still load: the
column is added as null right before ``bill_source_accounts_count``
(:data:`ADDED_COLUMNS`).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from itertools import repeat
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from invoicekit._money import MONEY_TYPE, RATE_TYPE
from invoicekit.errors import InvalidArgumentError

__all__ = [
    "COLUMNS",
    "ADDED_COLUMNS",
    "DTYPES",
    "VIEWS",
    "VIEW_LABELS",
    "COMPONENTS",
    "check_view",
    "VIEW_FIELDS",
    "COMPONENT_FIELDS",
    "MONEY_COLUMNS",
    "RATE_COLUMNS",
    "STRING_COLUMNS",
    "TIMESTAMP_COLUMNS",
    "LONG_COLUMNS",
    "MONEY_DTYPE",
    "RATE_DTYPE",
    "STRING_DTYPE",
    "TIMESTAMP_DTYPE",
    "PERIOD_DTYPE",
    "to_frame",
    "empty_frame",
    "long_form",
    "to_csv",
    "from_csv",
    "to_parquet",
    "from_parquet",
]

# --------------------------------------------------------------------------------------------
# Names: defined once.
# --------------------------------------------------------------------------------------------

#: The three currency views of an invoice, in column order.
VIEWS: tuple[str, ...] = ("base", "tax", "payment")
#: How each view is named in chart titles, labels and messages.
VIEW_LABELS: dict[str, str] = {
    "base": "base currency",
    "tax": "tax currency",
    "payment": "payment currency",
}
#: The money components of a view, in column order (and the ``component`` values of long form).
COMPONENTS: tuple[str, ...] = (
    "total",
    "total_before_tax",
    "subtotal",
    "discounts",
    "taxes",
    "fees",
)
#: view name → the InvoiceSummary member holding it.
VIEW_FIELDS: dict[str, str] = {
    "base": "BaseCurrencyAmount",
    "tax": "TaxCurrencyAmount",
    "payment": "PaymentCurrencyAmount",
}
#: component name → where it sits inside an ``InvoiceCurrencyAmount``.
COMPONENT_FIELDS: dict[str, str] = {
    "total": "TotalAmount",
    "total_before_tax": "TotalAmountBeforeTax",
    "subtotal": "AmountBreakdown.SubTotalAmount",
    "discounts": "AmountBreakdown.Discounts.TotalAmount",
    "taxes": "AmountBreakdown.Taxes.TotalAmount",
    "fees": "AmountBreakdown.Fees.TotalAmount",
}


def check_view(view: object, name: str = "view") -> str:
    """Return ``view`` if it is one of :data:`VIEWS`, else raise naming the argument and the fix.

    Parameters
    ----------
    view
        The view asked for.
    name
        The argument's name in the message (``"--view"`` for a CLI flag).

    Raises
    ------
    InvalidArgumentError
        ``view`` is not ``"base"``, ``"tax"`` or ``"payment"``.

    Examples
    --------
    >>> check_view("payment")
    'payment'
    >>> check_view("local")
    Traceback (most recent call last):
    ...
    invoicekit.errors.InvalidArgumentError: view='local' is not a currency view: use one of \
'base', 'tax', 'payment' (e.g. view='payment' for the currency AP pays in)
    """
    if isinstance(view, str) and view in VIEWS:
        return view
    flag = name.startswith("-")
    shown = f"{name} {view}" if flag else f"{name}={view!r}"
    choices = ", ".join(v if flag else repr(v) for v in VIEWS)
    example = f"{name} payment" if flag else f"{name}='payment'"
    raise InvalidArgumentError(
        f"{shown} is not a currency view: use one of {choices} "
        f"(e.g. {example} for the currency AP pays in)"
    )


_HEAD_COLUMNS: list[str] = [
    "account_id",
    "account_name",
    "invoice_id",
    "invoice_type",
    "bill_type",
    "invoice_frequency",
    "billing_period",
    "issued_date",
    "due_date",
    "invoicing_entity",
    "billing_entity",
    "receiver_role",
    "original_invoice_id",
    "commercial_invoice_id",
    "purchase_order_number",
    "einvoice_delivery_status",
    "tax_authority_status",
    "bill_source_account",
    "bill_source_accounts_count",
]
_VIEW_SUFFIXES: list[str] = ["currency", *COMPONENTS, "fx_rate", "fx_source"]

#: Every column of the invoice frame, in order. The contract between all parts of invoicekit.
COLUMNS: list[str] = _HEAD_COLUMNS + [f"{v}_{s}" for v in VIEWS for s in _VIEW_SUFFIXES]

#: Columns added to :data:`COLUMNS` after files were first written: a file without one is read
#: with the column null (inserted at its place). The store leaves a null one out of an
#: invoice's content digest, so an older version and a re-fetch that fills it in agree.
ADDED_COLUMNS: tuple[str, ...] = ("bill_source_account",)

#: Columns of :func:`long_form`.
LONG_COLUMNS: list[str] = [
    "invoice_id",
    "account_id",
    "billing_period",
    "invoice_type",
    "view",
    "component",
    "currency",
    "amount",
]

MONEY_DTYPE = pd.ArrowDtype(MONEY_TYPE)
RATE_DTYPE = pd.ArrowDtype(RATE_TYPE)
STRING_DTYPE = pd.ArrowDtype(pa.string())
TIMESTAMP_DTYPE = pd.DatetimeTZDtype(unit="ns", tz="UTC")
PERIOD_DTYPE = pd.PeriodDtype("M")
_INT_DTYPE = pd.Int64Dtype()

MONEY_COLUMNS: list[str] = [f"{v}_{c}" for v in VIEWS for c in COMPONENTS]
RATE_COLUMNS: list[str] = [f"{v}_fx_rate" for v in VIEWS]
TIMESTAMP_COLUMNS: list[str] = ["issued_date", "due_date"]
_SPECIAL = (
    set(MONEY_COLUMNS)
    | set(RATE_COLUMNS)
    | set(TIMESTAMP_COLUMNS)
    | {
        "billing_period",
        "bill_source_accounts_count",
    }
)
STRING_COLUMNS: list[str] = [c for c in COLUMNS if c not in _SPECIAL]


def _dtype_of(column: str) -> Any:
    if column in MONEY_COLUMNS:
        return MONEY_DTYPE
    if column in RATE_COLUMNS:
        return RATE_DTYPE
    if column in TIMESTAMP_COLUMNS:
        return TIMESTAMP_DTYPE
    if column == "billing_period":
        return PERIOD_DTYPE
    if column == "bill_source_accounts_count":
        return _INT_DTYPE
    return STRING_DTYPE


#: column → pandas dtype.
DTYPES: dict[str, Any] = {c: _dtype_of(c) for c in COLUMNS}

_NAT_ORDINAL = np.iinfo(np.int64).min

# --------------------------------------------------------------------------------------------
# Column builders (pyarrow arrays from Python lists).
# --------------------------------------------------------------------------------------------


def _where(record: Mapping[str, Any] | None) -> str:
    if not isinstance(record, Mapping):
        return "a record"
    inv = record.get("InvoiceId") or "?"
    acct = record.get("AccountId") or "?"
    return f"invoice {inv} (account {acct})"


def _decimal_array(
    values: Any, arrow_type: pa.Decimal128Type, column: str, records: list[Any] | None
) -> pa.Array:
    """Exact decimal strings → decimal128; refuses floats, junk and values that would round."""
    try:
        strings = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
        # Via decimal256 so that precision overflow raises instead of wrapping around.
        return strings.cast(pa.decimal256(76, arrow_type.scale)).cast(arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        pass
    if isinstance(values, pa.Array):
        values = values.to_pylist()
    # Slow path: clean what can be cleaned, name the first value that cannot.
    cleaned: list[str | None] = []
    for i, v in enumerate(values):
        record = records[i] if records is not None and i < len(records) else None
        if v is None or v == "":
            cleaned.append(None)
            continue
        if isinstance(v, bool) or isinstance(v, float):
            raise InvalidArgumentError(
                f"{_where(record)}: {column} is the {type(v).__name__} {v!r}; money must be a "
                "decimal string (as the API sends it), never a float"
            )
        if isinstance(v, (int, Decimal)):
            v = str(v)
        if not isinstance(v, str):
            raise InvalidArgumentError(
                f"{_where(record)}: {column} is {type(v).__name__} {v!r}, not a decimal string"
            )
        try:
            d = Decimal(v)
        except InvalidOperation:
            d = None
        if d is None or not d.is_finite():
            raise InvalidArgumentError(
                f"{_where(record)}: {column} = {v!r} is not a decimal amount"
            )
        exponent = d.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > arrow_type.scale:
            raise InvalidArgumentError(
                f"{_where(record)}: {column} = {v!r} has more than {arrow_type.scale} digits "
                "after the decimal point; invoicekit keeps amounts exact and will not round it"
            )
        if d.adjusted() >= arrow_type.precision - arrow_type.scale:
            raise InvalidArgumentError(
                f"{_where(record)}: {column} = {v!r} is too large for "
                f"decimal128({arrow_type.precision}, {arrow_type.scale})"
            )
        cleaned.append(format(d, "f"))
    strings = pa.array(cleaned, type=pa.string())
    return strings.cast(pa.decimal256(76, arrow_type.scale)).cast(arrow_type)


def _ns_from_value(value: Any, column: str, record: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgumentError(f"{_where(record)}: {column} = {value!r} is not a time")
        return round(value * 1_000_000) * 1000
    if isinstance(value, str):
        try:
            ts = pd.Timestamp(value)
        except ValueError as exc:
            raise InvalidArgumentError(
                f"{_where(record)}: {column} = {value!r} is not an ISO-8601 time or epoch seconds"
            ) from exc
        if ts.tzinfo is None:
            ts = ts.tz_localize("UTC")
        return int(ts.tz_convert("UTC").as_unit("ns").value)
    raise InvalidArgumentError(
        f"{_where(record)}: {column} is {type(value).__name__} {value!r}, not a time"
    )


def _timestamp_series_values(values: list[Any], column: str, records: list[Any]) -> pd.Series:
    """datetimes (any tz), epoch seconds or ISO strings → datetime64[ns, UTC]."""
    kinds = {type(v) for v in values}
    kinds.discard(type(None))
    if kinds and kinds <= {float, int}:
        arr = np.array([np.nan if v is None else v for v in values], dtype="float64")
        ns = np.round(arr * 1e6)
        mask = np.isnan(ns)
        ns_int = np.where(mask, 0, ns).astype("int64") * 1000
        ns_int[mask] = np.iinfo(np.int64).min
        return pd.Series(ns_int.view("datetime64[ns]")).dt.tz_localize("UTC")
    if kinds and all(issubclass(k, _dt.datetime) for k in kinds):
        try:
            arr = pa.array(values, type=pa.timestamp("us", tz="UTC"))
            return pd.Series(arr.cast(pa.timestamp("ns", tz="UTC")).to_pandas()).astype(
                TIMESTAMP_DTYPE
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            pass
    ns_list = [_ns_from_value(v, column, records[i]) for i, v in enumerate(values)]
    out = np.array([np.iinfo(np.int64).min if v is None else v for v in ns_list], dtype="int64")
    return pd.Series(out.view("datetime64[ns]")).dt.tz_localize("UTC")


def _string_array(values: Any) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _arrow_ext(arr: pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    return pd.arrays.ArrowExtensionArray(arr)


def empty_frame() -> pd.DataFrame:
    """An invoice frame with no rows and every column's dtype.

    Examples
    --------
    >>> from invoicekit.schema import COLUMNS, empty_frame
    >>> list(empty_frame().columns) == COLUMNS
    True
    """
    return to_frame([])


# --------------------------------------------------------------------------------------------
# Raw records → typed frame.
# --------------------------------------------------------------------------------------------


def to_frame(
    records: Iterable[Mapping[str, Any]],
    account_names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Turn raw ``InvoiceSummary`` records into the typed invoice frame (one row per record).

    Parameters
    ----------
    records : iterable of dict
        ``InvoiceSummary`` dicts as botocore returns them (timestamps as ``datetime`` in any
        time zone) or as they travel on the wire (timestamps as epoch seconds). Missing optional
        members become nulls; members this version does not know are ignored.
    account_names : mapping, optional
        ``AccountId`` → display name for the ``account_name`` column (null when absent).

    Returns
    -------
    pandas.DataFrame
        Columns exactly :data:`COLUMNS` with dtypes :data:`DTYPES`. An empty input gives an
        empty frame with the same columns and dtypes.

    Raises
    ------
    InvalidArgumentError
        An amount is not a decimal string, is a float, or has more digits after the point than
        the column keeps (it is refused, never rounded); a time or billing month is invalid.

    Examples
    --------
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame([{"AccountId": "111111111111", "InvoiceId": "E-1",
    ...                 "BillingPeriod": {"Month": 1, "Year": 2025},
    ...                 "BaseCurrencyAmount": {"CurrencyCode": "USD", "TotalAmount": "844.92"}}],
    ...              account_names={"111111111111": "Retail EU"})
    >>> df.loc[0, "base_total"]
    Decimal('844.9200000000')
    >>> str(df.loc[0, "billing_period"]), df.loc[0, "account_name"]
    ('2025-01', 'Retail EU')
    """
    recs = records if isinstance(records, list) else list(records)
    for r in recs:
        if type(r) is not dict:  # noqa: E721 - exact type: the fast paths need real dicts
            recs = [_as_dict(x) for x in recs]
            break
    raw = _extract_arrow(recs)
    if raw is None:  # unusual input (ints for strings, read-only mappings...): the slow path
        raw = _extract_python(recs)
    return _finish(raw, recs, account_names)


# Raw column keys: the InvoiceSummary path, e.g. "Entity.InvoicingEntity",
# "BaseCurrencyAmount.AmountBreakdown.Discounts.TotalAmount".
_STRING_FIELDS: dict[str, str] = {
    "account_id": "AccountId",
    "invoice_id": "InvoiceId",
    "invoice_type": "InvoiceType",
    "bill_type": "BillType",
    "invoice_frequency": "InvoiceFrequency",
    "invoicing_entity": "Entity.InvoicingEntity",
    "billing_entity": "Entity.BillingEntity",
    "receiver_role": "ReceiverRole",
    "original_invoice_id": "OriginalInvoiceId",
    "commercial_invoice_id": "CommercialInvoiceId",
    "purchase_order_number": "PurchaseOrderNumber",
    "einvoice_delivery_status": "EinvoiceDeliveryStatus",
    "tax_authority_status": "TaxAuthorityStatus",
}
_YEAR, _MONTH = "BillingPeriod.Year", "BillingPeriod.Month"
_COUNT = "BillSourceAccountsTotalCount"


def _view_paths(view: str) -> dict[str, str]:
    """column suffix → InvoiceSummary path for one view."""
    field = VIEW_FIELDS[view]
    paths = {"currency": f"{field}.CurrencyCode"}
    paths.update({c: f"{field}.{COMPONENT_FIELDS[c]}" for c in COMPONENTS})
    paths["fx_rate"] = f"{field}.CurrencyExchangeDetails.Rate"
    paths["fx_source"] = f"{field}.CurrencyExchangeDetails.SourceCurrencyCode"
    return paths


_VIEW_PATHS: dict[str, dict[str, str]] = {v: _view_paths(v) for v in VIEWS}
_ALL_PATHS: list[str] = [
    *_STRING_FIELDS.values(),
    _YEAR,
    _MONTH,
    _COUNT,
    *(p for v in VIEWS for p in _VIEW_PATHS[v].values()),
]


def _struct_type(paths: list[str]) -> pa.StructType:
    """The Arrow struct holding exactly ``paths`` (everything else in a record is ignored)."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        leaf = parts[-1]
        node[leaf] = pa.int64() if path in (_YEAR, _MONTH, _COUNT) else pa.string()

    def build(node: dict[str, Any]) -> pa.StructType:
        return pa.struct([(k, build(v) if isinstance(v, dict) else v) for k, v in node.items()])

    return build(tree)


_RECORD_TYPE = _struct_type(_ALL_PATHS)


def _extract_arrow(recs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Every needed member as an Arrow array, converted row-wise in C++ (one pass).

    Returns ``None`` when a value does not have the API's type (e.g. an int amount), so that
    the Python path can clean it or name it in an error.
    """
    try:
        struct = pa.array(recs, type=_RECORD_TYPE)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return None
    out: dict[str, Any] = {}

    def walk(arr: pa.StructArray, prefix: str) -> None:
        # flatten() folds the parent's nulls into the children (a null Entity → null names)
        for f, child in zip(arr.type, arr.flatten(), strict=True):
            name = f"{prefix}{f.name}"
            if pa.types.is_struct(f.type):
                walk(child, name + ".")
            else:
                out[name] = child

    walk(struct, "")
    return out


def _extract_python(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """The same columns as :func:`_extract_arrow`, as Python lists (accepts any Mapping)."""
    n = len(recs)
    empty: dict[str, Any] = {}
    get = dict.get
    cache: dict[str, list[Any]] = {"": recs}

    def node(path: str) -> list[Any]:
        # the list of sub-mappings at ``path`` (empty mapping when absent or null)
        if path in cache:
            return cache[path]
        parent, _, key = path.rpartition(".")
        rows = node(parent)
        try:
            vals = list(map(get, rows, repeat(key, n), repeat(empty, n)))
        except TypeError:  # a nested Mapping that is not a dict
            vals = [r.get(key, empty) for r in rows]
        if None in vals:
            vals = [empty if x is None else x for x in vals]
        cache[path] = vals
        return vals

    out: dict[str, Any] = {}
    for path in _ALL_PATHS:
        parent, _, key = path.rpartition(".")
        rows = node(parent)
        try:
            out[path] = list(map(get, rows, repeat(key, n)))
        except TypeError:
            out[path] = [r.get(key) for r in rows]
    return out


def _finish(
    raw: dict[str, Any], recs: list[dict[str, Any]], account_names: Mapping[str, str] | None
) -> pd.DataFrame:
    """Raw member columns (Arrow arrays or lists) → the typed frame."""
    n = len(recs)
    s = _string_array
    data: dict[str, Any] = {}
    for column, path in _STRING_FIELDS.items():
        data[column] = _arrow_ext(s(raw[path]))
    data["account_name"] = _arrow_ext(_names(data["account_id"], account_names, n))
    data["billing_period"] = _periods(raw[_YEAR], raw[_MONTH], recs)
    data["issued_date"] = _timestamps(_member(recs, "IssuedDate"), "IssuedDate", recs)
    data["due_date"] = _timestamps(_member(recs, "DueDate"), "DueDate", recs)
    data["bill_source_account"] = _arrow_ext(_first_sources(recs))
    data["bill_source_accounts_count"] = _counts(raw[_COUNT], recs)
    for v in VIEWS:
        paths = _VIEW_PATHS[v]
        data[f"{v}_currency"] = _arrow_ext(s(raw[paths["currency"]]))
        for comp in COMPONENTS:
            data[f"{v}_{comp}"] = _arrow_ext(
                _decimal_array(raw[paths[comp]], MONEY_TYPE, paths[comp], recs)
            )
        data[f"{v}_fx_rate"] = _arrow_ext(
            _decimal_array(raw[paths["fx_rate"]], RATE_TYPE, paths["fx_rate"], recs)
        )
        data[f"{v}_fx_source"] = _arrow_ext(s(raw[paths["fx_source"]]))
    return pd.DataFrame(data, columns=COLUMNS)


def _member(recs: list[dict[str, Any]], key: str) -> list[Any]:
    try:
        return list(map(dict.get, recs, repeat(key, len(recs))))
    except TypeError:
        return [r.get(key) for r in recs]


def _first_sources(recs: list[dict[str, Any]]) -> pa.Array:
    """The account ``BillSourceAccounts`` lists (the first one), else null."""
    lists = _member(recs, "BillSourceAccounts")
    values = [
        None if not v else (v[0] if isinstance(v[0], str) else str(v[0]))
        if isinstance(v, list | tuple) else str(v)
        for v in lists
    ]  # fmt: skip
    return pa.array(values, type=pa.string())


def _names(
    account_ids: pd.api.extensions.ExtensionArray, names: Mapping[str, str] | None, n: int
) -> pa.Array:
    if not names:
        return pa.nulls(n, pa.string())
    keys = pa.array(list(names.keys()), type=pa.string())
    values = pa.array([None if v is None else str(v) for v in names.values()], type=pa.string())
    ids = _combined(account_ids._pa_array)  # noqa: SLF001 - the array we just built
    return values.take(pc.index_in(ids, value_set=keys))


def _counts(values: Any, recs: list[dict[str, Any]]) -> pd.api.extensions.ExtensionArray:
    """BillSourceAccountsTotalCount, else the length of BillSourceAccounts, else null."""
    if isinstance(values, pa.Array):
        if values.null_count:
            values = values.to_pylist()
        else:
            return pd.arrays.IntegerArray(
                values.to_numpy().astype("int64"), np.zeros(len(values), dtype=bool)
            )
    if None in values:
        values = [
            c if c is not None else (len(r["BillSourceAccounts"]) if r.get("BillSourceAccounts")
                                     is not None else None)
            for c, r in zip(values, recs, strict=True)
        ]  # fmt: skip
    return _int_array(values, recs)


def _as_dict(record: Any) -> dict[str, Any]:
    if isinstance(record, dict):
        return record
    if isinstance(record, Mapping):
        return {k: _as_dict(v) if isinstance(v, Mapping) else v for k, v in record.items()}
    raise InvalidArgumentError(
        f"an InvoiceSummary must be a dict, got {type(record).__name__}; pass the "
        "'InvoiceSummaries' items of ListInvoiceSummaries"
    )


def _timestamps(values: list[Any], column: str, records: list[Any]) -> Any:
    return _timestamp_series_values(values, column, records).array


def _int_array(values: list[Any], records: list[Any]) -> pd.api.extensions.ExtensionArray:
    try:
        return pd.array(values, dtype=_INT_DTYPE)
    except (TypeError, ValueError):
        for i, v in enumerate(values):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise InvalidArgumentError(
                    f"{_where(records[i])}: BillSourceAccountsTotalCount = {v!r} is not an integer"
                ) from None
        raise


def _periods(year: Any, month: Any, records: list[Any]) -> pd.arrays.PeriodArray:
    if isinstance(year, pa.Array) and isinstance(month, pa.Array):
        valid = pc.and_(year.is_valid(), month.is_valid())
        y = year.fill_null(1970).to_numpy().astype("int64")
        m = month.fill_null(1).to_numpy().astype("int64")
        ok = valid.to_numpy(zero_copy_only=False)
        if not ((m >= 1) & (m <= 12))[ok].all():
            year, month = year.to_pylist(), month.to_pylist()  # name the bad one below
        else:
            ordinals = np.where(ok, (y - 1970) * 12 + (m - 1), _NAT_ORDINAL)
            return pd.PeriodIndex.from_ordinals(ordinals, freq="M").array
    if isinstance(year, pa.Array):
        year = year.to_pylist()
    if isinstance(month, pa.Array):
        month = month.to_pylist()
    ordinals = np.empty(len(year), dtype="int64")
    for i, (y, m) in enumerate(zip(year, month, strict=True)):
        if y is None or m is None:
            ordinals[i] = _NAT_ORDINAL
            continue
        if (
            isinstance(y, bool)
            or isinstance(m, bool)
            or not isinstance(y, int)
            or not isinstance(m, int)
            or not 1 <= m <= 12
        ):
            raise InvalidArgumentError(
                f"{_where(records[i])}: BillingPeriod {{Year: {y!r}, Month: {m!r}}} is not a "
                "billing month (Month 1..12, integers)"
            )
        ordinals[i] = (y - 1970) * 12 + (m - 1)
    return pd.PeriodIndex.from_ordinals(ordinals, freq="M").array


# --------------------------------------------------------------------------------------------
# Long form.
# --------------------------------------------------------------------------------------------


def long_form(df: pd.DataFrame) -> pd.DataFrame:
    """One row per invoice × view × component with a non-null amount.

    Parameters
    ----------
    df : pandas.DataFrame
        An invoice frame (:func:`to_frame` or the loader's result).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LONG_COLUMNS`: ``invoice_id, account_id, billing_period, invoice_type,
        view, component, currency, amount``. ``view`` is one of :data:`VIEWS`, ``component`` one
        of :data:`COMPONENTS`, ``currency`` the view's currency and ``amount`` stays an exact
        decimal. Rows follow the invoice order, then view, then component. Null amounts are
        dropped.

    Examples
    --------
    >>> from invoicekit.schema import to_frame, long_form
    >>> df = to_frame([{"InvoiceId": "E-1", "BaseCurrencyAmount": {
    ...     "CurrencyCode": "USD", "TotalAmount": "10.00", "TotalAmountBeforeTax": "9.00"}}])
    >>> long_form(df)[["view", "component", "amount"]].to_dict("records")[0]
    {'view': 'base', 'component': 'total', 'amount': Decimal('10.0000000000')}
    """
    missing = [
        c
        for c in ["invoice_id", "account_id", "billing_period", "invoice_type"]
        + [f"{v}_{c}" for v in VIEWS for c in ("currency", *COMPONENTS)]
        if c not in df.columns
    ]
    if missing:
        raise InvalidArgumentError(
            f"long_form needs an invoice frame (schema.COLUMNS); missing columns: {missing}"
        )
    n = len(df)
    if n == 0:
        return pd.DataFrame(
            {
                c: pd.Series(
                    [],
                    dtype=PERIOD_DTYPE
                    if c == "billing_period"
                    else MONEY_DTYPE
                    if c == "amount"
                    else STRING_DTYPE,
                )
                for c in LONG_COLUMNS
            }
        )
    n_blocks = len(VIEWS) * len(COMPONENTS)
    amount_chunks: list[pa.Array] = []
    currency_chunks: list[pa.Array] = []
    for v in VIEWS:
        cur = _combined(_as_arrow(df[f"{v}_currency"], pa.string()))
        for c in COMPONENTS:
            amount_chunks.append(_combined(_as_arrow(df[f"{v}_{c}"], MONEY_TYPE)))
            currency_chunks.append(cur)
    amount = pa.concat_arrays(amount_chunks)
    currency = pa.concat_arrays(currency_chunks)
    # Block b (view x component), row i sits at b*n + i; emit in (row, view, component) order.
    order = np.arange(n * n_blocks, dtype="int64").reshape(n_blocks, n).T.ravel()
    valid = amount.is_valid().to_numpy(zero_copy_only=False)
    order = order[valid[order]]
    row, block = order % n, order // n
    take = pa.array(order)
    rows = pa.array(row)
    view_names = pa.array([v for v in VIEWS for _ in COMPONENTS], type=pa.string())
    comp_names = pa.array([c for _ in VIEWS for c in COMPONENTS], type=pa.string())
    blocks = pa.array(block)

    def strings(col: str) -> Any:
        return _arrow_ext(_combined(_as_arrow(df[col], pa.string())).take(rows))

    return pd.DataFrame(
        {
            "invoice_id": strings("invoice_id"),
            "account_id": strings("account_id"),
            "billing_period": df["billing_period"].astype(PERIOD_DTYPE).array.take(row),
            "invoice_type": strings("invoice_type"),
            "view": _arrow_ext(view_names.take(blocks)),
            "component": _arrow_ext(comp_names.take(blocks)),
            "currency": _arrow_ext(currency.take(take)),
            "amount": _arrow_ext(amount.take(take)),
        },
        columns=LONG_COLUMNS,
    )


def _combined(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks else pa.array([], type=arr.type)
    return arr


def _as_arrow(series: pd.Series, arrow_type: pa.DataType) -> pa.Array | pa.ChunkedArray:
    arr = series.array
    if isinstance(arr, pd.arrays.ArrowExtensionArray):
        data = arr._pa_array  # noqa: SLF001 - zero-copy access to the backing array
        return data if data.type == arrow_type else data.cast(arrow_type)
    return pa.array(series.astype(object).where(series.notna(), None).tolist(), type=arrow_type)


# --------------------------------------------------------------------------------------------
# CSV and parquet.
# --------------------------------------------------------------------------------------------


def _decimal_strings(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """decimal128 → plain decimal strings (no exponent, no trailing zeros): '844.92', '-10'."""
    arr = _combined(arr)
    text = arr.cast(pa.string())
    # Arrow writes tiny values in scientific notation ('1E-10'); format those in Python.
    sci = pc.match_substring(text, "E").to_numpy(zero_copy_only=False)
    sci = np.where(pd.isna(sci), False, sci).astype(bool)
    if sci.any():
        values = text.to_pylist()
        decimals = arr.to_pylist()
        for i in np.flatnonzero(sci):
            values[i] = format(decimals[i], "f")
        text = pa.array(values, type=pa.string())
    text = pc.replace_substring_regex(text, r"(\.\d*?)0+$", r"\1")
    text = pc.replace_substring_regex(text, r"\.$", "")
    text = pc.replace_substring_regex(text, r"^-0$", "0")
    return text


def _timestamp_strings(series: pd.Series) -> pa.Array:
    """UTC timestamps → ISO-8601 with 'Z', in the coarsest unit that loses nothing.

    ``2025-02-03T00:00:00Z``, ``2025-02-02T09:30:12.345Z``, ``...12.345678Z``.
    """
    ts = pa.Array.from_pandas(series.astype(TIMESTAMP_DTYPE))
    for unit in ("s", "ms", "us"):
        try:
            ts = ts.cast(pa.timestamp(unit, tz="UTC"))  # safe: raises if a fraction is lost
            break
        except pa.ArrowInvalid:
            continue
    # %S prints the seconds with the unit's fraction digits
    return pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ")


def _period_strings(series: pd.Series) -> pa.Array:
    periods = series.astype(PERIOD_DTYPE).array
    ordinals = periods.asi8
    mask = ordinals == _NAT_ORDINAL
    years = 1970 + np.floor_divide(ordinals, 12)
    months = np.mod(ordinals, 12) + 1
    values = [
        None if m else f"{y:04d}-{mo:02d}"
        for y, mo, m in zip(years.tolist(), months.tolist(), mask.tolist(), strict=True)
    ]
    return pa.array(values, type=pa.string())


def _to_text_table(df: pd.DataFrame) -> pa.Table:
    """Every column as text, the way :func:`to_csv` writes it."""
    arrays = []
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.PeriodDtype):
            arr: Any = _period_strings(s)
        elif isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_decimal(s.dtype.pyarrow_dtype):
            arr = _decimal_strings(_as_arrow(s, s.dtype.pyarrow_dtype))
        elif isinstance(s.dtype, pd.DatetimeTZDtype):
            arr = _timestamp_strings(s)
        elif isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_string(s.dtype.pyarrow_dtype):
            arr = _as_arrow(s, pa.string())
        else:
            values = s.astype(object).tolist()
            arr = pa.array([None if pd.isna(v) else str(v) for v in values], type=pa.string())
        arrays.append(_combined(arr))
    return pa.table(arrays, names=[str(c) for c in df.columns])


def _with_added_columns(table: pa.Table) -> pa.Table:
    """An invoice table written before :data:`ADDED_COLUMNS` existed gains them, null."""
    names = table.column_names
    if "invoice_id" not in names:
        return table
    for column in ADDED_COLUMNS:
        if column in names:
            continue
        at = COLUMNS.index(column)
        # before the first later contract column the file has (else at the end)
        later = [names.index(c) for c in COLUMNS[at + 1 :] if c in names]
        pos = min(later) if later else len(names)
        table = table.add_column(pos, column, pa.nulls(table.num_rows, pa.string()))
        names = table.column_names
    return table


def _from_table(table: pa.Table) -> pd.DataFrame:
    """Arrow table (text from CSV, or typed from parquet) → frame with :data:`DTYPES`."""
    table = _with_added_columns(table)
    data: dict[str, Any] = {}
    for name in table.column_names:
        col = table.column(name)
        dtype = DTYPES.get(name)
        if dtype is None:
            data[name] = col.to_pandas()
            continue
        if dtype is PERIOD_DTYPE:
            text = col.cast(pa.string()).to_pylist()
            data[name] = (
                pd.PeriodIndex([pd.NaT if v is None else v for v in text], freq="M").array
                if text
                else pd.array([], dtype=PERIOD_DTYPE)
            )
        elif dtype is TIMESTAMP_DTYPE:
            if pa.types.is_timestamp(col.type):
                data[name] = pd.Series(col.to_pandas()).astype(TIMESTAMP_DTYPE).array
            else:
                data[name] = (
                    pd.to_datetime(
                        pd.Series(col.to_pylist(), dtype=object), utc=True, format="ISO8601"
                    )
                    .astype(TIMESTAMP_DTYPE)
                    .array
                )
        elif dtype is _INT_DTYPE:
            data[name] = pd.array(col.cast(pa.int64()).to_pylist(), dtype=_INT_DTYPE)
        elif isinstance(dtype, pd.ArrowDtype) and pa.types.is_decimal(dtype.pyarrow_dtype):
            target = dtype.pyarrow_dtype
            if pa.types.is_decimal(col.type):
                data[name] = _arrow_ext(col.cast(target))
            else:
                data[name] = _arrow_ext(
                    _decimal_array(col.cast(pa.string()).to_pylist(), target, name, None)
                    if col.null_count < len(col)
                    else pa.nulls(len(col), target)
                )
        else:
            data[name] = _arrow_ext(col.cast(pa.string()))
    return pd.DataFrame(data, columns=table.column_names)


def to_csv(df: pd.DataFrame, path: str | PathLike[str]) -> None:
    """Write an invoice frame as UTF-8 CSV that round-trips exactly through :func:`from_csv`.

    Amounts are plain decimal strings (``844.92``, ``-10``; never an exponent, never via float),
    timestamps ISO-8601 UTC (``2025-02-03T00:00:00Z``), ``billing_period`` ``YYYY-MM``; nulls
    are empty fields.

    Examples
    --------
    >>> from invoicekit.schema import to_frame, to_csv, from_csv
    >>> df = to_frame([{"InvoiceId": "E-1", "IssuedDate": 1738540800.0}])
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "invoices.csv"
    >>> to_csv(df, path)
    >>> from_csv(path).equals(df)
    True
    """
    import pyarrow.csv as pacsv

    table = _to_text_table(df)
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    pacsv.write_csv(table, str(path), write_options=options)


def from_csv(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a CSV written by :func:`to_csv` (or by hand) back into the typed invoice frame.

    Columns named in :data:`COLUMNS` get their :data:`DTYPES`; other columns stay strings.
    Empty fields are nulls. Amounts must be plain decimal strings.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from invoicekit.schema import DTYPES, from_csv, to_csv, to_frame
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "invoices.csv"
    >>> to_csv(to_frame([{"InvoiceId": "E-1", "BaseCurrencyAmount": {"TotalAmount": "1.5"}}]),
    ...        path)
    >>> df = from_csv(path)
    >>> df["base_total"].dtype == DTYPES["base_total"]
    True
    """
    import pyarrow.csv as pacsv

    with open(path, "rb") as fh:
        header = fh.readline().decode("utf-8-sig").rstrip("\r\n")
    names = next(iter(_csv_header(header)), [])
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=True,
    )
    table = pacsv.read_csv(str(path), convert_options=convert)
    return _from_table(table)


def _csv_header(line: str) -> list[list[str]]:
    import csv

    return list(csv.reader([line]))


def to_parquet(df: pd.DataFrame, path: str | PathLike[str]) -> None:
    """Write an invoice frame to parquet; :func:`from_parquet` restores every dtype.

    ``billing_period`` is stored as the string ``YYYY-MM`` (parquet has no period type);
    money stays decimal128, timestamps stay UTC.

    Examples
    --------
    >>> from invoicekit.schema import to_frame, to_parquet, from_parquet
    >>> df = to_frame([{"InvoiceId": "E-1", "BillingPeriod": {"Year": 2025, "Month": 1}}])
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "invoices.parquet"
    >>> to_parquet(df, path)
    >>> str(from_parquet(path).loc[0, "billing_period"])
    '2025-01'
    """
    import pyarrow.parquet as pq

    table = _to_parquet_table(df)
    pq.write_table(table, str(path))


def _to_parquet_table(df: pd.DataFrame) -> pa.Table:
    arrays = []
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.PeriodDtype):
            arr: Any = _period_strings(s)
        elif isinstance(s.dtype, pd.ArrowDtype):
            arr = _as_arrow(s, s.dtype.pyarrow_dtype)
        elif isinstance(s.dtype, pd.DatetimeTZDtype):
            arr = pa.Array.from_pandas(s.astype(TIMESTAMP_DTYPE))
        else:
            arr = pa.Array.from_pandas(s)
        arrays.append(arr)
    return pa.table(arrays, names=[str(c) for c in df.columns])


def from_parquet(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a parquet file written by :func:`to_parquet` into the typed invoice frame.

    Examples
    --------
    >>> from invoicekit.schema import PERIOD_DTYPE, from_parquet, to_frame, to_parquet
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "invoices.parquet"
    >>> to_parquet(to_frame([{"InvoiceId": "E-1"}]), path)
    >>> from_parquet(path)["billing_period"].dtype == PERIOD_DTYPE
    True
    """
    import pyarrow.parquet as pq

    return _from_table(pq.read_table(str(path)))
