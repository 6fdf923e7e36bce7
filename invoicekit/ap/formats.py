"""The AP file formats: column lists, the rules each target documents, and the writers.

Every writer takes the invoices to export (:class:`APInvoice`, amounts already half-up to the
currency's minor unit) and returns the files to write (:class:`APFile`: path, text, which
invoices it holds); :func:`invoicekit.ap.export_ap` writes them atomically and records them in
the ledger. The files are UTF-8 without BOM, ``\\n`` line ends, amounts as plain decimal
strings (``1234.50``, JPY ``1234``, KWD ``12.345``: never an exponent nor a thousands
separator). docs/ap.md lists every column and the source of every rule.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from invoicekit import documents
from invoicekit._money import format_money
from invoicekit.ap.mapping import Booking
from invoicekit.errors import InvalidArgumentError

__all__ = [
    "AP_FORMATS",
    "GENERIC_COLUMNS",
    "ORACLE_INVOICE_COLUMNS",
    "ORACLE_LINE_COLUMNS",
    "ORACLE_INVOICES_FILE",
    "ORACLE_LINES_FILE",
    "NETSUITE_COLUMNS",
    "NETSUITE_CREDIT_COLUMNS",
    "XERO_COLUMNS",
    "XERO_REQUIRED",
    "XERO_MAX_INVOICES",
    "ORACLE_LIMITS",
    "XERO_DEFAULT_TAX_TYPE",
    "GENERIC_BUSINESS_UNIT_COLUMNS",
    "ORACLE_LINE_BUSINESS_UNIT_COLUMNS",
    "NETSUITE_BUSINESS_UNIT_COLUMNS",
    "XERO_TRACKING_BUSINESS_UNIT",
    "XERO_TRACKING_COST_CENTER",
    "columns",
    "APInvoice",
    "APFile",
    "render",
    "output_is_directory",
]

#: The formats of :func:`invoicekit.ap.export_ap`.
AP_FORMATS: tuple[str, ...] = ("generic", "oracle-ap", "netsuite", "xero")

#: ``generic``: one row per invoice, snake_case, the payment-currency view (fallback base).
GENERIC_COLUMNS: list[str] = [
    "invoice_id",
    "type",
    "billing_period",
    "issued_date",
    "due_date",
    "supplier",
    "invoicing_entity",
    "billing_entity",
    "account_id",
    "account_name",
    "currency",
    "subtotal",
    "discounts",
    "fees",
    "tax",
    "total",
    "po_number",
    "original_invoice_id",
    "view",
    "gl_account",
    "tax_code",
]

#: ``oracle-ap``: Oracle Fusion Payables' ``AP_INVOICES_INTERFACE`` (one row per invoice).
ORACLE_INVOICE_COLUMNS: list[str] = [
    "INVOICE_ID",
    "INVOICE_NUM",
    "INVOICE_TYPE_LOOKUP_CODE",
    "INVOICE_DATE",
    "PO_NUMBER",
    "VENDOR_NAME",
    "VENDOR_SITE_CODE",
    "INVOICE_AMOUNT",
    "INVOICE_CURRENCY_CODE",
    "PAYMENT_CURRENCY_CODE",
    "DESCRIPTION",
    "SOURCE",
    "OPERATING_UNIT",
    "TERMS_DATE",
    "GL_DATE",
]
#: ``oracle-ap``: ``AP_INVOICE_LINES_INTERFACE`` (an ITEM and a TAX line per invoice).
ORACLE_LINE_COLUMNS: list[str] = [
    "INVOICE_ID",
    "LINE_NUMBER",
    "LINE_TYPE_LOOKUP_CODE",
    "AMOUNT",
    "ACCOUNTING_DATE",
    "DESCRIPTION",
    "DIST_CODE_CONCATENATED",
    "TAX_CLASSIFICATION_CODE",
    "TAX_RATE_CODE",
]
ORACLE_INVOICES_FILE = "AP_INVOICES_INTERFACE.csv"
ORACLE_LINES_FILE = "AP_INVOICE_LINES_INTERFACE.csv"
#: Column sizes of the Oracle Fusion tables (VARCHAR2 lengths; INVOICE_ID is NUMBER(18)).
#: A value longer than its column is refused (DESCRIPTION, free text, is shortened instead).
ORACLE_LIMITS: dict[str, int] = {
    "INVOICE_ID": 18,
    "INVOICE_NUM": 50,
    "PO_NUMBER": 30,
    "VENDOR_NAME": 240,
    "VENDOR_SITE_CODE": 240,
    "OPERATING_UNIT": 240,
    "DESCRIPTION": 240,
    "INVOICE_CURRENCY_CODE": 15,
}

#: ``netsuite``: the vendor bill CSV import, one row per expense line (header fields repeated).
NETSUITE_COLUMNS: list[str] = [
    "External ID",
    "Vendor",
    "Reference No.",
    "Date",
    "Due Date",
    "Currency",
    "Memo",
    "Account",
    "Amount",
    "Line Memo",
    "Tax Code",
]
#: ``netsuite``: credit memos go to the vendor credit import (a second file), with the bill
#: they credit.
NETSUITE_CREDIT_COLUMNS: list[str] = [*NETSUITE_COLUMNS, "Original Bill"]

#: ``xero``: the bills CSV template (``*`` marks the columns Xero requires).
XERO_COLUMNS: list[str] = [
    "*ContactName",
    "EmailAddress",
    "POAddressLine1",
    "POAddressLine2",
    "POAddressLine3",
    "POAddressLine4",
    "POCity",
    "PORegion",
    "POPostalCode",
    "POCountry",
    "*InvoiceNumber",
    "Reference",
    "*InvoiceDate",
    "*DueDate",
    "Total",
    "InventoryItemCode",
    "Description",
    "*Quantity",
    "*UnitAmount",
    "*AccountCode",
    "*TaxType",
    "TaxAmount",
    "TrackingName1",
    "TrackingOption1",
    "TrackingName2",
    "TrackingOption2",
    "Currency",
]
XERO_REQUIRED: list[str] = [c for c in XERO_COLUMNS if c.startswith("*")]
#: Xero imports at most 500 invoices (bills) from one file: more are split into numbered files.
XERO_MAX_INVOICES = 500
#: ``*TaxType`` when the mapping gives no tax code: a zero rate, so Xero adds no tax of its
#: own to AWS's (which is its own line).
XERO_DEFAULT_TAX_TYPE = "Tax Exempt"

# With a business-unit mapping (``export_ap(business_units=...)``, docs/chargeback.md) every
# invoice carries its business unit and cost center; without one the files are unchanged.
#: ``generic``: appended after :data:`GENERIC_COLUMNS` (``gl_account`` is the business unit's
#: when its mapping row gives one).
GENERIC_BUSINESS_UNIT_COLUMNS: list[str] = ["business_unit", "cost_center"]
#: ``oracle-ap``: appended to the lines table. Payables overlays ``COST_CENTER_SEGMENT`` on the
#: cost-center segment of the line's distribution account at import; ``DIST_CODE_CONCATENATED``
#: takes the business unit's ``gl_account`` (the full account combination) when given.
ORACLE_LINE_BUSINESS_UNIT_COLUMNS: list[str] = ["COST_CENTER_SEGMENT"]
#: ``netsuite``: appended to both imports: the line's department (the cost center) and class
#: (the business unit).
NETSUITE_BUSINESS_UNIT_COLUMNS: list[str] = ["Department", "Class"]
#: ``xero``: the tracking categories (``TrackingName1``/``TrackingOption1`` and
#: ``TrackingName2``/``TrackingOption2``) the business unit and the cost center go to; create
#: these two tracking categories in Xero, with the business units and cost centers as options.
XERO_TRACKING_BUSINESS_UNIT = "Business unit"
XERO_TRACKING_COST_CENTER = "Cost center"


@dataclass(frozen=True)
class APInvoice:
    """One payable document as the AP files write it (amounts half-up to the minor unit)."""

    invoice_id: str
    kind: str  # documents.INVOICE or documents.CREDIT_MEMO
    billing_period: str  # "YYYY-MM"
    issued: date | None
    due: date | None
    account_id: str
    account_name: str
    invoicing_entity: str
    billing_entity: str
    view: str  # "payment", or "base" when the invoice has no payment view
    currency: str
    subtotal: Decimal
    discounts: Decimal
    fees: Decimal
    taxes: Decimal
    total: Decimal
    po_number: str
    original_invoice_id: str
    booking: Booking
    target_id: int | None = None  # oracle-ap INVOICE_ID
    business_unit: str = ""  # the chargeback business unit (not oracle's OPERATING_UNIT)
    cost_center: str = ""

    @property
    def credit(self) -> bool:
        return self.kind == documents.CREDIT_MEMO

    @property
    def charges(self) -> Decimal:
        """The amount before tax: what the ITEM / expense line carries (total - taxes)."""
        return self.total - self.taxes

    def description(self, limit: int = 240) -> str:
        """``AWS invoice 123, account 1000..., billing period 2026-10`` (+ what it credits)."""
        text = (
            f"AWS {self.kind} {self.invoice_id}, account {self.account_id}"
            f"{f' ({self.account_name})' if self.account_name else ''}, "
            f"billing period {self.billing_period}"
        )
        if self.credit and self.original_invoice_id:
            text += f", credits invoice {self.original_invoice_id}"
        text += f", tax {format_money(self.taxes, self.currency, code=True)}"
        return text[:limit]


@dataclass(frozen=True)
class APFile:
    """One file to write: where, its text, and the invoices it holds (ledger ``file``)."""

    path: Path
    text: str
    invoice_ids: tuple[str, ...]
    records: bool = True  # False: a companion table (oracle-ap lines), not the ledger's file


def output_is_directory(fmt: str) -> bool:
    """Whether ``--output`` names a directory for ``fmt`` (oracle-ap's two tables)."""
    return fmt == "oracle-ap"


def _amount(value: Decimal) -> str:
    text = f"{value:f}"
    return text[1:] if text.startswith("-") and value == 0 else text


def _date(value: date | None, fmt: str) -> str:
    return "" if value is None else value.strftime(fmt)


def _csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _too_long(value: str, column: str, inv: APInvoice, fix: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"invoice {inv.invoice_id}: {column} {value!r} is {len(value)} characters, more than "
        f"the {ORACLE_LIMITS[column]} Oracle Payables accepts; {fix}"
    )


def columns(fmt: str, business_units: bool = False) -> dict[str, list[str]]:
    """The header of each file of ``fmt`` (``{"invoices": [...], ...}``), with or without the
    business-unit columns.

    Examples
    --------
    >>> columns("generic", business_units=True)["invoices"][-3:]
    ['tax_code', 'business_unit', 'cost_center']
    """
    extra = business_units
    if fmt == "generic":
        return {"invoices": GENERIC_COLUMNS + (GENERIC_BUSINESS_UNIT_COLUMNS if extra else [])}
    if fmt == "oracle-ap":
        lines = ORACLE_LINE_COLUMNS + (ORACLE_LINE_BUSINESS_UNIT_COLUMNS if extra else [])
        return {"invoices": ORACLE_INVOICE_COLUMNS, "lines": lines}
    if fmt == "netsuite":
        more = NETSUITE_BUSINESS_UNIT_COLUMNS if extra else []
        return {"bills": NETSUITE_COLUMNS + more, "credits": NETSUITE_CREDIT_COLUMNS + more}
    if fmt == "xero":
        return {"bills": XERO_COLUMNS}
    raise InvalidArgumentError(f"format={fmt!r} is not one of {', '.join(AP_FORMATS)}")


def _generic(
    invoices: Sequence[APInvoice], output: Path, source: str, bu: bool = False
) -> list[APFile]:
    rows = [
        [
            inv.invoice_id,
            "CREDIT" if inv.credit else "STANDARD",
            inv.billing_period,
            _date(inv.issued, "%Y-%m-%d"),
            _date(inv.due, "%Y-%m-%d"),
            inv.booking.supplier,
            inv.invoicing_entity,
            inv.billing_entity,
            inv.account_id,
            inv.account_name,
            inv.currency,
            _amount(inv.subtotal),
            _amount(inv.discounts),
            _amount(inv.fees),
            _amount(inv.taxes),
            _amount(inv.total),
            inv.po_number,
            inv.original_invoice_id,
            inv.view,
            inv.booking.gl_account,
            inv.booking.tax_code or "",
            *((inv.business_unit, inv.cost_center) if bu else ()),
        ]
        for inv in invoices
    ]
    ids = tuple(i.invoice_id for i in invoices)
    return [APFile(output, _csv(columns("generic", bu)["invoices"], rows), ids)]


def _oracle(
    invoices: Sequence[APInvoice], output: Path, source: str, bu: bool = False
) -> list[APFile]:
    headers, lines = [], []
    for inv in invoices:
        b = inv.booking
        if inv.target_id is None:  # pragma: no cover - export_ap always numbers them
            raise AssertionError("oracle-ap needs an INVOICE_ID per invoice")
        if len(str(inv.target_id)) > ORACLE_LIMITS["INVOICE_ID"]:
            raise InvalidArgumentError(
                f"INVOICE_ID {inv.target_id} has more than 18 digits (Oracle's NUMBER(18)): "
                "start the sequence lower with --invoice-id-start"
            )
        for column, value, fix in (
            ("INVOICE_NUM", inv.invoice_id, "this is not an AWS invoice id"),
            ("PO_NUMBER", inv.po_number, "shorten the purchase order number at AWS"),
            ("VENDOR_NAME", b.supplier, "map a shorter supplier name (--mapping)"),
            ("VENDOR_SITE_CODE", b.supplier_site or "", "use a shorter --supplier-site"),
            ("OPERATING_UNIT", b.business_unit or "", "use a shorter --business-unit"),
        ):
            if len(value) > ORACLE_LIMITS[column]:
                raise _too_long(value, column, inv, fix)
        issued = _date(inv.issued, "%Y/%m/%d")
        description = inv.description(ORACLE_LIMITS["DESCRIPTION"])
        headers.append(
            [
                str(inv.target_id),
                inv.invoice_id,
                "CREDIT" if inv.credit else "STANDARD",
                issued,
                inv.po_number,
                b.supplier,
                b.supplier_site or "",
                _amount(inv.total),
                inv.currency,
                inv.currency,
                description,
                source,
                b.business_unit or "",
                issued,
                issued,
            ]
        )
        for number, (kind, amount, account, what) in enumerate(
            (
                ("ITEM", inv.charges, b.gl_account, "charges before tax"),
                ("TAX", inv.taxes, b.tax_account, "tax"),
            ),
            start=1,
        ):
            lines.append(
                [
                    str(inv.target_id),
                    str(number),
                    kind,
                    _amount(amount),
                    issued,
                    f"AWS {inv.kind} {inv.invoice_id} {what}"[: ORACLE_LIMITS["DESCRIPTION"]],
                    account,
                    (b.tax_code or "") if kind == "ITEM" else "",
                    (b.tax_code or "") if kind == "TAX" else "",
                    *((inv.cost_center,) if bu else ()),
                ]
            )
    ids = tuple(i.invoice_id for i in invoices)
    return [
        APFile(output / ORACLE_INVOICES_FILE, _csv(ORACLE_INVOICE_COLUMNS, headers), ids),
        APFile(
            output / ORACLE_LINES_FILE,
            _csv(columns("oracle-ap", bu)["lines"], lines),
            ids,
            records=False,
        ),
    ]


def _netsuite_rows(inv: APInvoice, sign: int, credit: bool, bu: bool = False) -> list[list[str]]:
    b = inv.booking
    head = [
        inv.invoice_id,
        b.supplier,
        inv.invoice_id,
        _date(inv.issued, "%m/%d/%Y"),
        _date(inv.due, "%m/%d/%Y"),
        inv.currency,
        inv.description(),
    ]
    out = [
        [*head, b.gl_account, _amount(sign * inv.charges), "AWS charges before tax",
         b.tax_code or ""]
    ]  # fmt: skip
    if inv.taxes:
        out.append([*head, b.tax_account, _amount(sign * inv.taxes), "tax", b.tax_code or ""])
    if credit:
        out = [[*r, inv.original_invoice_id] for r in out]
    if bu:
        out = [[*r, inv.cost_center, inv.business_unit] for r in out]
    return out


def _netsuite_credits_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}-vendor-credits{output.suffix or '.csv'}")


def _netsuite(
    invoices: Sequence[APInvoice], output: Path, source: str, bu: bool = False
) -> list[APFile]:
    bills = [i for i in invoices if not i.credit]
    credits = [i for i in invoices if i.credit]
    cols = columns("netsuite", bu)
    rows = [r for inv in bills for r in _netsuite_rows(inv, 1, False, bu)]
    files = [APFile(output, _csv(cols["bills"], rows), tuple(i.invoice_id for i in bills))]
    if credits:
        # A vendor credit's amounts are positive: the record itself is the credit.
        crows = [r for inv in credits for r in _netsuite_rows(inv, -1, True, bu)]
        files.append(
            APFile(
                _netsuite_credits_path(output),
                _csv(cols["credits"], crows),
                tuple(i.invoice_id for i in credits),
            )
        )
    return files


def _xero_rows(inv: APInvoice, bu: bool = False) -> list[list[str]]:
    b = inv.booking
    tax_type = b.tax_code or XERO_DEFAULT_TAX_TYPE
    issued = _date(inv.issued, "%d/%m/%Y")
    due = _date(inv.due, "%d/%m/%Y") or issued  # *DueDate is required
    reference = (
        f"credits {inv.original_invoice_id}"
        if inv.credit and inv.original_invoice_id
        else inv.po_number
    )

    def row(description: str, amount: Decimal, account: str) -> list[str]:
        values = dict.fromkeys(XERO_COLUMNS, "")
        values.update(
            {
                "*ContactName": b.supplier,
                "*InvoiceNumber": inv.invoice_id,
                "Reference": reference,
                "*InvoiceDate": issued,
                "*DueDate": due,
                "Description": description,
                "*Quantity": "1",
                "*UnitAmount": _amount(amount),
                "*AccountCode": account,
                "*TaxType": tax_type,
                "Currency": inv.currency,
            }
        )
        if bu and inv.business_unit:
            values.update(
                TrackingName1=XERO_TRACKING_BUSINESS_UNIT, TrackingOption1=inv.business_unit
            )
        if bu and inv.cost_center:
            values.update(TrackingName2=XERO_TRACKING_COST_CENTER, TrackingOption2=inv.cost_center)
        return [values[c] for c in XERO_COLUMNS]

    out = [row(inv.description(4000), inv.charges, b.gl_account)]
    if inv.taxes:
        out.append(row(f"Tax of AWS {inv.kind} {inv.invoice_id}", inv.taxes, b.tax_account))
    return out


def xero_part_path(output: Path, number: int) -> Path:
    """``bills.csv`` → ``bills-2.csv``: the numbered files of a split xero export."""
    return output.with_name(f"{output.stem}-{number}{output.suffix or '.csv'}")


def _xero(
    invoices: Sequence[APInvoice], output: Path, source: str, bu: bool = False
) -> list[APFile]:
    chunks = [
        list(invoices[i : i + XERO_MAX_INVOICES])
        for i in range(0, len(invoices), XERO_MAX_INVOICES)
    ] or [[]]
    files = []
    for n, chunk in enumerate(chunks, start=1):
        path = output if len(chunks) == 1 else xero_part_path(output, n)
        rows = [r for inv in chunk for r in _xero_rows(inv, bu)]
        files.append(APFile(path, _csv(XERO_COLUMNS, rows), tuple(i.invoice_id for i in chunk)))
    return files


_WRITERS: dict[str, Callable[[Sequence[APInvoice], Path, str, bool], list[APFile]]] = {
    "generic": _generic,
    "oracle-ap": _oracle,
    "netsuite": _netsuite,
    "xero": _xero,
}


def render(
    fmt: str,
    invoices: Sequence[APInvoice],
    output: Path,
    *,
    source: str = "INVOICEKIT",
    business_units: bool = False,
) -> list[APFile]:
    """The files of ``fmt`` for ``invoices`` (header-only when there is none).

    ``business_units=True`` adds each invoice's business unit and cost center (the columns of
    :func:`columns`; xero: its tracking categories).

    Examples
    --------
    >>> from pathlib import Path
    >>> [f.path.name for f in render("oracle-ap", [], Path("ap"))]
    ['AP_INVOICES_INTERFACE.csv', 'AP_INVOICE_LINES_INTERFACE.csv']
    >>> render("xero", [], Path("bills.csv"))[0].text.startswith("*ContactName,")
    True
    """
    if fmt not in _WRITERS:
        raise InvalidArgumentError(f"format={fmt!r} is not one of {', '.join(AP_FORMATS)}")
    return _WRITERS[fmt](invoices, output, source, business_units)
