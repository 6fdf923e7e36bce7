"""One-page PDFs of sandbox invoices and their supplemental documents.

Pure: an invoice dict (InvoiceSummary as on the wire) in, PDF bytes out. The bytes are
deterministic — the creation date is the invoice's issue date and the PDF file id is derived
from the content — so that two downloads of the same document have the same sha256.
Only core fonts (Helvetica) are used, so every text is Latin-1. Text is placed with fpdf2's
``text()`` at computed positions rather than with ``cell()``: a page renders in well under a
millisecond, so serving thousands of documents never makes the sandbox the bottleneck.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fpdf import FPDF

if TYPE_CHECKING:  # pragma: no cover
    from invoicekit.sandbox.org import Document, SandboxAccount

__all__ = ["render_document", "render_invoice_pdf", "render_supplement_pdf"]

_VIEWS = (
    ("BaseCurrencyAmount", "Base currency"),
    ("TaxCurrencyAmount", "Tax currency"),
    ("PaymentCurrencyAmount", "Payment currency"),
)
_SUPPLEMENT_TITLES = {
    "PAYMENT_RECEIPT": "Payment receipt",
    "TAX_E_INVOICE": "Tax e-invoice",
    "GOVERNMENT_INVOICE": "Government invoice",
    "SUPPLEMENT": "Supplement",
}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# A4 portrait, millimetres
_LEFT_MM = 18.0
_RIGHT_MM = 192.0
_LABEL_MM = 48.0  # width of the label column of the field list
_AMOUNT_LABEL_MM = 40.0  # width of the label column of the amount table
_MAX_BREAKDOWN_LINES = 12


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _day(epoch: float) -> str:
    return _utc(epoch).strftime("%Y-%m-%d")


def _latin1(text: object) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


class _Page:
    """A one-page PDF with a text cursor: fixed layout, no automatic page breaks."""

    def __init__(self, invoice: dict, title: str) -> None:
        pdf = FPDF(orientation="P", unit="mm", format="A4")
        pdf.set_creation_date(_utc(invoice["IssuedDate"]).replace(microsecond=0))
        pdf.set_title(_latin1(title))
        pdf.set_author("invoicekit sandbox")
        pdf.set_creator("invoicekit sandbox")
        pdf.set_auto_page_break(False)
        pdf.add_page()
        self.pdf = pdf
        self.y = 24.0
        self._font: tuple[str, float] | None = None

    def font(self, style: str = "", size: float = 9) -> None:
        if self._font != (style, size):
            self.pdf.set_font("Helvetica", style, size)
            self._font = (style, size)

    def at(self, x: float, text: str, *, align: str = "L") -> None:
        text = _latin1(text)
        if align == "R":
            x -= self.pdf.get_string_width(text)
        self.pdf.text(x, self.y, text)

    def line(self, text: str, *, style: str = "", size: float = 9, step: float = 5.5) -> None:
        self.font(style, size)
        self.at(_LEFT_MM, text)
        self.y += step

    def field(self, label: str, value: str) -> None:
        self.font("B")
        self.at(_LEFT_MM, label)
        self.font("")
        self.at(_LEFT_MM + _LABEL_MM, value)
        self.y += 5.5

    def rule(self, offset: float = -3.8) -> None:
        self.pdf.line(_LEFT_MM, self.y + offset, _RIGHT_MM, self.y + offset)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _header(page: _Page, title: str, invoice: dict) -> None:
    entity = invoice.get("Entity") or {}
    page.line(title, style="B", size=18, step=7)
    page.line(entity.get("InvoicingEntity", ""), size=10, step=5)
    page.pdf.set_text_color(110, 110, 110)
    page.line("SANDBOX DOCUMENT - not a real AWS invoice", size=8, step=9)
    page.pdf.set_text_color(0, 0, 0)


def _period(invoice: dict) -> str:
    bp = invoice.get("BillingPeriod") or {}
    if not bp:
        return ""
    return f"{_MONTHS[bp['Month'] - 1]} {bp['Year']} ({bp['Year']:04d}-{bp['Month']:02d})"


def _identity_rows(
    invoice: dict, account: SandboxAccount, profile: dict | None = None
) -> list[tuple[str, str]]:
    entity = invoice.get("Entity") or {}
    rows = [
        ("Invoice ID", invoice["InvoiceId"]),
        ("Invoice type", invoice.get("InvoiceType", "")),
        ("Bill type", f"{invoice.get('BillType', '')} / {invoice.get('InvoiceFrequency', '')}"),
        ("Billing entity", entity.get("BillingEntity", "")),
        ("Account", f"{account.account_id} - {account.name}"),
    ]
    if profile:  # the receiver's name only: its address and tax id are sensitive in the model
        rows.append(("Bill to", f"{profile.get('ReceiverName', '')} ({profile['AccountId']})"))
    rows += [
        ("Billing period", _period(invoice)),
        ("Issued", _day(invoice["IssuedDate"])),
        ("Due", _day(invoice["DueDate"])),
    ]
    for key, label in (
        ("PurchaseOrderNumber", "Purchase order"),
        ("OriginalInvoiceId", "Original invoice"),
        ("CommercialInvoiceId", "Commercial invoice"),
        ("TaxAuthorityStatus", "Tax authority status"),
        ("EinvoiceDeliveryStatus", "E-invoice delivery"),
    ):
        if invoice.get(key):
            rows.append((label, invoice[key]))
    return rows


def _component(view: dict, part: str) -> str:
    breakdown = view.get("AmountBreakdown") or {}
    if part == "SubTotalAmount":
        return breakdown.get(part, "")
    if part in ("Discounts", "Fees", "Taxes"):
        return (breakdown.get(part) or {}).get("TotalAmount", "")
    return view.get(part, "")


def _amount_table(page: _Page, invoice: dict) -> None:
    views = [(label, invoice[key]) for key, label in _VIEWS if invoice.get(key)]
    if not views:
        return
    width = (_RIGHT_MM - _LEFT_MM - _AMOUNT_LABEL_MM) / len(views)
    right_edges = [_LEFT_MM + _AMOUNT_LABEL_MM + width * (k + 1) - 1 for k in range(len(views))]
    page.pdf.set_fill_color(235, 238, 242)
    page.pdf.rect(_LEFT_MM, page.y - 4.8, _RIGHT_MM - _LEFT_MM, 7, style="F")
    page.font("B")
    page.at(_LEFT_MM + 1, "Amounts")
    for (label, view), edge in zip(views, right_edges, strict=True):
        page.at(edge, f"{label} ({view.get('CurrencyCode', '')})", align="R")
    page.y += 7
    lines = (
        ("Subtotal", "SubTotalAmount", ""),
        ("Discounts", "Discounts", ""),
        ("Fees", "Fees", ""),
        ("Total before tax", "TotalAmountBeforeTax", "B"),
        ("Taxes", "Taxes", ""),
        ("Total", "TotalAmount", "B"),
    )
    for label, part, style in lines:
        if part == "TotalAmount":
            page.rule()
        page.font(style)
        page.at(_LEFT_MM + 1, label)
        for (_, view), edge in zip(views, right_edges, strict=True):
            page.at(edge, f"{_component(view, part)} {view.get('CurrencyCode', '')}", align="R")
        page.y += 6
    page.y += 1
    for label, view in views:
        fx = view.get("CurrencyExchangeDetails")
        if fx:
            page.line(
                f"{label}: exchange rate 1 {fx.get('SourceCurrencyCode', '')} = "
                f"{fx.get('Rate', '')} {fx.get('TargetCurrencyCode', '')}",
                size=8,
                step=4.5,
            )


def _breakdown_lines(page: _Page, invoice: dict) -> None:
    base = invoice.get("BaseCurrencyAmount") or {}
    cur = base.get("CurrencyCode", "")
    breakdown = base.get("AmountBreakdown") or {}
    rows = []
    for part, kind in (("Discounts", "Discount"), ("Fees", "Fee"), ("Taxes", "Tax")):
        for item in (breakdown.get(part) or {}).get("Breakdown") or []:
            rate = f" at {item['Rate']}" if item.get("Rate") else ""
            rows.append((kind, f"{item.get('Description', '')}{rate}", item.get("Amount", "")))
    if not rows:
        return
    page.y += 3
    page.line("Breakdown (base currency)", style="B", step=6)
    page.font("")
    for kind, desc, amount in rows[:_MAX_BREAKDOWN_LINES]:
        page.at(_LEFT_MM, kind)
        page.at(_LEFT_MM + 24, desc)
        page.at(_RIGHT_MM - 1, f"{amount} {cur}", align="R")
        page.y += 5


def _fields(page: _Page, rows: Sequence[tuple[str, str]]) -> None:
    for label, value in rows:
        page.field(label, value)
    page.y += 5


def render_invoice_pdf(
    invoice: dict, account: SandboxAccount, profile: dict | None = None
) -> bytes:
    """Render the main PDF of ``invoice`` (an InvoiceSummary dict) for ``account``.

    Parameters
    ----------
    invoice
        InvoiceSummary as on the wire (epoch-second dates, decimal-string amounts).
    account
        The payer account the invoice belongs to (its name is printed).
    profile
        The invoice profile of the invoice's receiver (BatchGetInvoiceProfile's item): its
        ``ReceiverName`` and account are printed as "Bill to".

    Returns
    -------
    bytes
        A one-page PDF; the same input always gives the same bytes.

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> org = build_organization(accounts=1, months=1, today="2026-11-25")
    >>> inv = org.invoices[0]
    >>> render_invoice_pdf(inv, org.account(inv["AccountId"]))[:5]
    b'%PDF-'
    """
    if invoice.get("InvoiceType") == "CREDIT_MEMO":
        title = "Credit Memo"
    elif invoice.get("CommercialInvoiceId"):
        title = "Tax Invoice"
    else:
        title = "Invoice"
    page = _Page(invoice, f"{title} {invoice['InvoiceId']}")
    _header(page, title, invoice)
    _fields(page, _identity_rows(invoice, account, profile))
    _amount_table(page, invoice)
    _breakdown_lines(page, invoice)
    return page.output()


def render_supplement_pdf(
    invoice: dict,
    account: SandboxAccount,
    document_id: str,
    document_type: str,
    profile: dict | None = None,
) -> bytes:
    """Render a supplemental document: its own page naming its type and its invoice.

    Parameters
    ----------
    invoice
        The InvoiceSummary the document belongs to.
    account
        The payer account of the invoice.
    document_id, document_type
        The supplemental document's id (``<invoice>-SUPPLEMENT-<n>``) and type
        (``PAYMENT_RECEIPT``, ``TAX_E_INVOICE``, ``GOVERNMENT_INVOICE``, ``SUPPLEMENT``).
    profile
        The receiver's invoice profile ("Bill to"), as for :func:`render_invoice_pdf`.

    Returns
    -------
    bytes
        A one-page PDF; the same input always gives the same bytes.

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> org = build_organization(accounts=1, months=1, today="2026-11-25")
    >>> inv = org.invoices[0]
    >>> pdf = render_supplement_pdf(
    ...     inv, org.account(inv["AccountId"]), inv["InvoiceId"] + "-SUPPLEMENT-1", "SUPPLEMENT"
    ... )
    >>> pdf[:5]
    b'%PDF-'
    """
    title = _SUPPLEMENT_TITLES.get(document_type, document_type.replace("_", " ").title())
    page = _Page(invoice, f"{title} {document_id}")
    _header(page, title, invoice)
    rows = [
        ("Document ID", document_id),
        ("Document type", document_type),
        ("Belongs to invoice", invoice["InvoiceId"]),
        *(r for r in _identity_rows(invoice, account, profile) if r[0] != "Invoice ID"),
    ]
    _fields(page, rows)
    pay = invoice.get("PaymentCurrencyAmount") or invoice.get("BaseCurrencyAmount") or {}
    if document_type == "PAYMENT_RECEIPT":
        text = (
            f"Payment of {pay.get('TotalAmount', '')} {pay.get('CurrencyCode', '')} received "
            f"for invoice {invoice['InvoiceId']}. Thank you."
        )
    elif document_type in ("TAX_E_INVOICE", "GOVERNMENT_INVOICE"):
        text = (
            f"Registered with the tax authority for invoice {invoice['InvoiceId']} "
            f"(commercial invoice {invoice.get('CommercialInvoiceId', '-')})."
        )
    else:
        text = f"Order details and terms for invoice {invoice['InvoiceId']}."
    page.line(text, size=10, step=9)
    _amount_table(page, invoice)
    return page.output()


def render_document(
    document: Document, invoice: dict, account: SandboxAccount, profile: dict | None = None
) -> bytes:
    """Render ``document`` of ``invoice``: the invoice itself or a supplemental document.

    Parameters
    ----------
    document
        The :class:`~invoicekit.sandbox.org.Document` to render.
    invoice
        The InvoiceSummary it belongs to.
    account
        The payer account of the invoice.
    profile
        The invoice profile of the invoice's receiver, printed as "Bill to" (optional).

    Returns
    -------
    bytes
        A one-page PDF.

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> org = build_organization(accounts=1, months=1, today="2026-11-25")
    >>> doc = org.documents[0]
    >>> inv = org.invoices_by_id(doc.invoice_id)[0]
    >>> render_document(doc, inv, org.account(doc.account_id))[:5]
    b'%PDF-'
    """
    if document.document_type == "INVOICE":
        return render_invoice_pdf(invoice, account, profile)
    return render_supplement_pdf(
        invoice, account, document.document_id, document.document_type, profile
    )
