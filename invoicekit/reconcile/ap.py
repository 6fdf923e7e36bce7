"""The accounts-payable export: payable documents as a CSV an AP system imports.

Which rows are exported is :func:`invoicekit.documents.is_payable` (invoices and credit
memos; never a tax invoice restating a commercial invoice, nor a payment receipt), so nothing
is paid twice. Amounts are written half-up to the currency's minor unit
(:func:`invoicekit._money.quantize`), as plain decimal strings; amounts in free text use
:func:`invoicekit._money.format_money`.
"""

from __future__ import annotations

import csv
import io
import os
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from invoicekit import documents
from invoicekit._files import write_bytes
from invoicekit._money import MONEY_TYPE, format_money, quantize
from invoicekit.errors import InvalidArgumentError
from invoicekit.reconcile._arrow import (
    ZERO,
    arrow,
    check_columns,
    mask,
    month_labels,
    month_ordinals,
)

__all__ = ["AP_FORMATS", "GENERIC_AP_COLUMNS", "ORACLE_AP_COLUMNS", "export_ap"]

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

#: The formats of :func:`export_ap`.
AP_FORMATS = ("generic", "oracle-ap")


def _plain(amount: Decimal | None, currency: str | None) -> str:
    """A CSV amount: plain decimal string in the currency's minor units (half-up), never an
    exponent nor a thousands separator (AP imports parse it as a number)."""
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
    """Write the payable documents (invoices and credit memos) as a CSV for accounts payable.

    The rows are :func:`invoicekit.documents.is_payable`: payment receipts and tax invoices
    (rows with a ``commercial_invoice_id``, restating their commercial invoice) are not
    exported, so nothing is paid twice. Amounts and currency are the **payment** view (what AP
    pays); invoices without a payment view fall back to the base view. The file is UTF-8
    without BOM, ``\\n`` line ends, amounts as plain decimal strings rounded half-up to the
    currency's minor unit (``1234.50``, JPY ``1234``, KWD ``12.345``). It is written
    atomically: a failed run leaves no partial file.

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
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ap.csv"
    >>> rows = export_ap(df, path, format="oracle-ap")
    >>> rows.iloc[0][["INVOICE_TYPE_LOOKUP_CODE", "INVOICE_CURRENCY_CODE"]].tolist()
    ['STANDARD', 'USD']
    """
    if format not in AP_FORMATS:
        raise InvalidArgumentError(f"format={format!r} is not one of {', '.join(AP_FORMATS)}")
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
    check_columns(df, needed, "export_ap")
    rows = df.iloc[np.flatnonzero(documents.is_payable(df))]
    rows = rows.sort_values(["issued_date", "invoice_id"], kind="stable", na_position="last")

    pay_cur = arrow(rows["payment_currency"], pa.string())
    use_pay = mask(pc.is_valid(pay_cur))
    currency = pc.if_else(use_pay, pay_cur, arrow(rows["base_currency"], pa.string())).to_pylist()
    amount = pc.if_else(
        use_pay, arrow(rows["payment_total"], MONEY_TYPE), arrow(rows["base_total"], MONEY_TYPE)
    ).to_pylist()
    tax = pc.if_else(
        use_pay,
        pc.fill_null(arrow(rows["payment_taxes"], MONEY_TYPE), ZERO),
        pc.fill_null(arrow(rows["base_taxes"], MONEY_TYPE), ZERO),
    ).to_pylist()
    kinds = documents.kinds(rows).tolist()
    types = ["CREDIT" if k == documents.CREDIT_MEMO else "STANDARD" for k in kinds]
    numbers = [x or "" for x in arrow(rows["invoice_id"], pa.string()).to_pylist()]
    supplier = [x or "" for x in arrow(rows["invoicing_entity"], pa.string()).to_pylist()]
    po = [x or "" for x in arrow(rows["purchase_order_number"], pa.string()).to_pylist()]
    account = [x or "" for x in arrow(rows["account_id"], pa.string()).to_pylist()]
    amounts = [_plain(a, c) for a, c in zip(amount, currency, strict=True)]
    taxes = [_plain(t, c) for t, c in zip(tax, currency, strict=True)]
    tax_text = [format_money(t, c, code=True) for t, c in zip(tax, currency, strict=True)]
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
        periods = month_labels(month_ordinals(rows["billing_period"]))
        descriptions = [
            (
                f"AWS {k} {n}, account {a}, billing period {p}, tax {x}"
                + (f", due {d}" if d else "")
            )[:240]
            for n, a, p, x, d, k in zip(
                numbers, account, periods, tax_text, due, kinds, strict=True
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
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records)
    # All or nothing: AP never imports half a file. The directory must exist.
    write_bytes(path, text.getvalue().encode("utf-8"), mkdir=False)
    return pd.DataFrame(records, columns=header, dtype=object)
