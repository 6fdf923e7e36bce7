"""Exact totals, the month-end table and the completeness grid: pure functions of the frame.

Which rows count is decided by :mod:`invoicekit.documents` (spend: invoices and credit memos;
never a tax invoice restating a commercial invoice, nor a payment receipt), and the counts
are its kinds. Sums run on pyarrow decimals, per currency, never across currencies.

The module is called ``tables`` (not ``totals``) so that the function
``invoicekit.reconcile.totals`` is never shadowed by a submodule of the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from invoicekit import documents, months
from invoicekit._money import MONEY_TYPE
from invoicekit.errors import InvalidArgumentError
from invoicekit.reconcile._arrow import (
    NAT,
    WIDE_MONEY,
    Columns,
    arrow,
    check_columns,
    invoice_counts,
    month_bounds,
    month_labels,
    month_ordinals,
    periods_from_ordinals,
)
from invoicekit.schema import COMPONENTS, check_view

__all__ = ["completeness_grid", "month_end_table", "totals"]

#: The two counts of every total: documents of each spend kind in the group.
_COUNTS = {"invoices": documents.INVOICE, "credit_memos": documents.CREDIT_MEMO}


def _group_sums(df: pd.DataFrame, keys: list[str], sums: dict[str, str]) -> pd.DataFrame:
    """Exact per-group sums with pyarrow, and the :data:`_COUNTS` of each group.

    ``keys`` may include ``billing_period``.
    """
    data: dict[str, pa.Array] = {}
    for k in keys:
        if k == "billing_period":
            m = month_ordinals(df[k])
            data[k] = pa.array(m, mask=m == NAT)
        else:
            data[k] = arrow(df[k])
    for out_name, col in sums.items():
        data[out_name] = arrow(df[col], MONEY_TYPE).cast(WIDE_MONEY)
    kinds = documents.kinds(df).to_numpy()
    for out_name, kind in _COUNTS.items():
        data[out_name] = pa.array((kinds == kind).astype(np.int64))
    table = pa.table(data)
    aggs = [(c, "sum") for c in sums] + [(c, "sum") for c in _COUNTS]
    grouped = table.group_by(keys, use_threads=False).aggregate(aggs)
    grouped = grouped.rename_columns([n.removesuffix("_sum") for n in grouped.column_names])
    for c in sums:
        grouped = grouped.set_column(
            grouped.schema.get_field_index(c), c, grouped.column(c).cast(MONEY_TYPE)
        )
    result = grouped.to_pandas(types_mapper=pd.ArrowDtype)
    if "billing_period" in keys:
        m = grouped.column("billing_period").to_numpy(zero_copy_only=False)
        m = np.where(pd.isna(m), NAT, m).astype(np.int64)
        result["billing_period"] = periods_from_ordinals(m)
    for c in _COUNTS:
        result[c] = result[c].astype("int64")
    result = result.sort_values(keys, kind="stable").reset_index(drop=True)
    return result[[*keys, *_COUNTS, *sums]]


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
        Net credit memos (negative amounts) into the sums; ``False`` sums invoices only.
        The rows summed are :func:`invoicekit.documents.spend`: payment receipts are never
        summed (they record payments, not charges), nor are tax invoices (rows with a
        ``commercial_invoice_id``: they restate the amounts of their commercial invoice, which
        is summed). ``invoices`` and ``credit_memos`` count the documents of those kinds.

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
    check_view(view)
    keys = [by] if isinstance(by, str) else list(by)
    currency_col = f"{view}_currency"
    if "currency" in keys:
        raise InvalidArgumentError(
            "by must not name 'currency': the view's currency is always a key"
        )
    check_columns(
        df,
        [*keys, "invoice_type", currency_col, *(f"{view}_{c}" for c in COMPONENTS)],
        "totals",
    )
    rows = documents.spend(df, credit_memos=net_credit_memos)
    rows = rows[rows[currency_col].notna()]
    frame = rows.rename(columns={currency_col: "currency"})
    return _group_sums(
        frame,
        [*keys, "currency"],
        {c: f"{view}_{c}" for c in COMPONENTS},
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
    month = months.ordinal(period, "period")
    if month is None:
        raise InvalidArgumentError("period=None: give the billing month, e.g. period='2026-10'")
    needed = [
        "account_id",
        "invoice_type",
        "billing_period",
        "base_currency",
        "base_total",
        "payment_currency",
        "payment_total",
    ]
    check_columns(df, needed, "month_end_table")
    ordinals = month_ordinals(df["billing_period"])
    names = (
        df[["account_id", "account_name"]].astype(object).drop_duplicates("account_id")
        if "account_name" in df.columns
        else pd.DataFrame(
            {"account_id": df["account_id"].astype(object).unique(), "account_name": None}
        )
    )
    sel = documents.spend(df.iloc[np.flatnonzero(ordinals == month)])
    keys = ["account_id", "base_currency", "payment_currency"]
    if len(sel):
        grouped = _group_sums(
            sel,
            keys,
            {"net_base": "base_total", "net_payment": "payment_total"},
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
        month labelled ``"YYYY-MM"`` (oldest first). A 0 is what
        :func:`~invoicekit.reconcile.reconcile_invoices` reports as a ``completeness`` error.
        A row whose ``invoice_type`` is INVOICE counts (so does a tax invoice restating one:
        its month has an INVOICE); credit memos and payment receipts do not.

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame(build_organization(today="2026-11-25", anomalies=True).invoices)
    >>> grid = completeness_grid(df, "2025-11", "2026-10")
    >>> grid.shape, int((grid == 0).sum().sum())
    ((12, 12), 1)
    """
    check_columns(df, ["account_id", "invoice_type", "billing_period"], "completeness_grid")
    lo, hi = month_bounds(start, end)
    cols = Columns(df)
    grid, accounts, lo0, hi0 = invoice_counts(cols, lo, hi)
    labels = month_labels(range(lo0, hi0 + 1))
    frame = pd.DataFrame(grid, index=pd.Index(accounts, name="account_id"), columns=labels)
    frame.columns.name = "billing_period"
    return frame.sort_index()
