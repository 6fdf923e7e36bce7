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
* ``billing_period``: ``period[M]``; ``bill_source_accounts_count``: ``Int64``.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
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
    "DTYPES",
    "VIEWS",
    "COMPONENTS",
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
    "bill_source_accounts_count",
]
_VIEW_SUFFIXES: list[str] = ["currency", *COMPONENTS, "fx_rate", "fx_source"]

#: Every column of the invoice frame, in order. The contract between all parts of invoicekit.
COLUMNS: list[str] = _HEAD_COLUMNS + [f"{v}_{s}" for v in VIEWS for s in _VIEW_SUFFIXES]

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
_EMPTY: Mapping[str, Any] = {}

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
    values: list[Any], arrow_type: pa.Decimal128Type, column: str, records: list[Any] | None
) -> pa.Array:
    """Exact decimal strings → decimal128; refuses floats, junk and values that would round."""
    try:
        strings = pa.array(values, type=pa.string())
        # Via decimal256 so that precision overflow raises instead of wrapping around.
        return strings.cast(pa.decimal256(76, arrow_type.scale)).cast(arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        pass
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


def _string_array(values: list[Any]) -> pa.Array:
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
    names = account_names or _EMPTY
    get_name = names.get
    empty = _EMPTY

    account_id: list[Any] = []
    account_name: list[Any] = []
    invoice_id: list[Any] = []
    invoice_type: list[Any] = []
    bill_type: list[Any] = []
    invoice_frequency: list[Any] = []
    year: list[Any] = []
    month: list[Any] = []
    issued: list[Any] = []
    due: list[Any] = []
    inv_entity: list[Any] = []
    bill_entity: list[Any] = []
    receiver_role: list[Any] = []
    original_id: list[Any] = []
    commercial_id: list[Any] = []
    po_number: list[Any] = []
    einvoice: list[Any] = []
    tax_auth: list[Any] = []
    src_count: list[Any] = []
    # one list per (view, suffix)
    view_cols: dict[str, list[list[Any]]] = {v: [[] for _ in _VIEW_SUFFIXES] for v in VIEWS}
    view_keys = [(VIEW_FIELDS[v], view_cols[v]) for v in VIEWS]

    for r in recs:
        if not isinstance(r, Mapping):
            raise InvalidArgumentError(
                f"an InvoiceSummary must be a dict, got {type(r).__name__}; pass the "
                "'InvoiceSummaries' items of ListInvoiceSummaries"
            )
        g = r.get
        acct = g("AccountId")
        account_id.append(acct)
        account_name.append(get_name(acct) if acct is not None else None)
        invoice_id.append(g("InvoiceId"))
        invoice_type.append(g("InvoiceType"))
        bill_type.append(g("BillType"))
        invoice_frequency.append(g("InvoiceFrequency"))
        bp = g("BillingPeriod") or empty
        year.append(bp.get("Year"))
        month.append(bp.get("Month"))
        issued.append(g("IssuedDate"))
        due.append(g("DueDate"))
        ent = g("Entity") or empty
        inv_entity.append(ent.get("InvoicingEntity"))
        bill_entity.append(ent.get("BillingEntity"))
        receiver_role.append(g("ReceiverRole"))
        original_id.append(g("OriginalInvoiceId"))
        commercial_id.append(g("CommercialInvoiceId"))
        po_number.append(g("PurchaseOrderNumber"))
        einvoice.append(g("EinvoiceDeliveryStatus"))
        tax_auth.append(g("TaxAuthorityStatus"))
        count = g("BillSourceAccountsTotalCount")
        if count is None:
            src = g("BillSourceAccounts")
            count = len(src) if src is not None else None
        src_count.append(count)
        for key, (cur, tot, tbt, sub, dis, tax, fee, rate, source) in view_keys:
            a = g(key) or empty
            cur.append(a.get("CurrencyCode"))
            tot.append(a.get("TotalAmount"))
            tbt.append(a.get("TotalAmountBeforeTax"))
            br = a.get("AmountBreakdown") or empty
            sub.append(br.get("SubTotalAmount"))
            d = br.get("Discounts")
            dis.append(d.get("TotalAmount") if d else None)
            t = br.get("Taxes")
            tax.append(t.get("TotalAmount") if t else None)
            f = br.get("Fees")
            fee.append(f.get("TotalAmount") if f else None)
            fx = a.get("CurrencyExchangeDetails")
            if fx:
                rate.append(fx.get("Rate"))
                source.append(fx.get("SourceCurrencyCode"))
            else:
                rate.append(None)
                source.append(None)

    data: dict[str, Any] = {}
    s = _string_array
    data["account_id"] = _arrow_ext(s(account_id))
    data["account_name"] = _arrow_ext(s(account_name))
    data["invoice_id"] = _arrow_ext(s(invoice_id))
    data["invoice_type"] = _arrow_ext(s(invoice_type))
    data["bill_type"] = _arrow_ext(s(bill_type))
    data["invoice_frequency"] = _arrow_ext(s(invoice_frequency))
    data["billing_period"] = _periods(year, month, recs)
    data["issued_date"] = _timestamp_series_values(issued, "IssuedDate", recs).array
    data["due_date"] = _timestamp_series_values(due, "DueDate", recs).array
    data["invoicing_entity"] = _arrow_ext(s(inv_entity))
    data["billing_entity"] = _arrow_ext(s(bill_entity))
    data["receiver_role"] = _arrow_ext(s(receiver_role))
    data["original_invoice_id"] = _arrow_ext(s(original_id))
    data["commercial_invoice_id"] = _arrow_ext(s(commercial_id))
    data["purchase_order_number"] = _arrow_ext(s(po_number))
    data["einvoice_delivery_status"] = _arrow_ext(s(einvoice))
    data["tax_authority_status"] = _arrow_ext(s(tax_auth))
    data["bill_source_accounts_count"] = _int_array(src_count, recs)
    for v in VIEWS:
        cols = view_cols[v]
        field = VIEW_FIELDS[v]
        for suffix, values in zip(_VIEW_SUFFIXES, cols, strict=True):
            name = f"{v}_{suffix}"
            if suffix in ("currency", "fx_source"):
                data[name] = _arrow_ext(s(values))
            elif suffix == "fx_rate":
                where = f"{field}.CurrencyExchangeDetails.Rate"
                data[name] = _arrow_ext(_decimal_array(values, RATE_TYPE, where, recs))
            else:
                where = f"{field}.{COMPONENT_FIELDS[suffix]}"
                data[name] = _arrow_ext(_decimal_array(values, MONEY_TYPE, where, recs))
    return pd.DataFrame(data, columns=COLUMNS)


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


def _periods(year: list[Any], month: list[Any], records: list[Any]) -> pd.arrays.PeriodArray:
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


def _from_table(table: pa.Table) -> pd.DataFrame:
    """Arrow table (text from CSV, or typed from parquet) → frame with :data:`DTYPES`."""
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
    >>> to_csv(df, "/tmp/invoices.csv")
    >>> from_csv("/tmp/invoices.csv").equals(df)
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
    >>> from invoicekit.schema import DTYPES, from_csv, to_csv, to_frame
    >>> to_csv(to_frame([{"InvoiceId": "E-1", "BaseCurrencyAmount": {"TotalAmount": "1.5"}}]),
    ...        "/tmp/invoices.csv")
    >>> df = from_csv("/tmp/invoices.csv")
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
    >>> to_parquet(df, "/tmp/invoices.parquet")
    >>> str(from_parquet("/tmp/invoices.parquet").loc[0, "billing_period"])
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
    >>> to_parquet(to_frame([{"InvoiceId": "E-1"}]), "/tmp/invoices.parquet")
    >>> from_parquet("/tmp/invoices.parquet")["billing_period"].dtype == PERIOD_DTYPE
    True
    """
    import pyarrow.parquet as pq

    return _from_table(pq.read_table(str(path)))
