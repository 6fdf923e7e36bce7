"""One-page PDFs of sandbox invoices and their supplemental documents.

Pure: an invoice dict (InvoiceSummary as on the wire) in, PDF bytes out. The bytes are
deterministic — the creation date is the invoice's issue date and the PDF file id is derived
from the content — so that two downloads of the same document have the same sha256.
Only core fonts (Helvetica) are used: every text is Latin-1.
"""

from __future__ import annotations

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


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _day(epoch: float) -> str:
    return _utc(epoch).strftime("%Y-%m-%d")


def _latin1(text: str) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def _new_pdf(invoice: dict, title: str) -> FPDF:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(_utc(invoice["IssuedDate"]).replace(microsecond=0))
    pdf.set_title(_latin1(title))
    pdf.set_author("invoicekit sandbox")
    pdf.set_creator("invoicekit sandbox")
    pdf.set_auto_page_break(False)
    pdf.set_margins(18, 16, 18)
    pdf.add_page()
    return pdf


def _header(pdf: FPDF, title: str, invoice: dict, account: SandboxAccount) -> None:
    entity = invoice.get("Entity", {})
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 5, _latin1(entity.get("InvoicingEntity", "")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(110, 110, 110)
    pdf.cell(0, 5, "SANDBOX DOCUMENT - not a real AWS invoice", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(4)


def _field_rows(pdf: FPDF, rows: list[tuple[str, str]]) -> None:
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(48, 5.5, _latin1(label))
        pdf.set_font("Helvetica", "", 9)
        pdf.cell(0, 5.5, _latin1(value), new_x="LMARGIN", new_y="NEXT")


def _period(invoice: dict) -> str:
    bp = invoice.get("BillingPeriod") or {}
    if not bp:
        return ""
    return f"{_MONTHS[bp['Month'] - 1]} {bp['Year']} ({bp['Year']:04d}-{bp['Month']:02d})"


def _identity_rows(invoice: dict, account: SandboxAccount) -> list[tuple[str, str]]:
    entity = invoice.get("Entity", {})
    rows = [
        ("Invoice ID", invoice["InvoiceId"]),
        ("Invoice type", invoice.get("InvoiceType", "")),
        ("Bill type", f"{invoice.get('BillType', '')} / {invoice.get('InvoiceFrequency', '')}"),
        ("Billing entity", entity.get("BillingEntity", "")),
        ("Account", f"{account.account_id} - {account.name}"),
        ("Billing period", _period(invoice)),
        ("Issued", _day(invoice["IssuedDate"])),
        ("Due", _day(invoice["DueDate"])),
    ]
    for key, label in (
        ("PurchaseOrderNumber", "Purchase order"),
        ("OriginalInvoiceId", "Original invoice"),
        ("CommercialInvoiceId", "Commercial invoice"),
        ("TaxAuthorityStatus", "Tax authority status"),
    ):
        if invoice.get(key):
            rows.append((label, invoice[key]))
    return rows


def _amount_table(pdf: FPDF, invoice: dict) -> None:
    views = [(label, invoice[key]) for key, label in _VIEWS if invoice.get(key)]
    col = (174 - 40) / max(len(views), 1)
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_fill_color(235, 238, 242)
    pdf.cell(40, 7, "Amounts", border="B", fill=True)
    for i, (label, view) in enumerate(views):
        last = i == len(views) - 1
        pdf.cell(
            col,
            7,
            f"{label} ({view.get('CurrencyCode', '')})",
            border="B",
            align="R",
            fill=True,
            new_x="LMARGIN" if last else "RIGHT",
            new_y="NEXT" if last else "TOP",
        )

    def value(view: dict, part: str) -> str:
        breakdown = view.get("AmountBreakdown", {})
        if part == "subtotal":
            return breakdown.get("SubTotalAmount", "")
        if part in ("Discounts", "Fees", "Taxes"):
            return breakdown.get(part, {}).get("TotalAmount", "")
        return view.get(part, "")

    lines = (
        ("Subtotal", "subtotal", ""),
        ("Discounts", "Discounts", ""),
        ("Fees", "Fees", ""),
        ("Total before tax", "TotalAmountBeforeTax", "B"),
        ("Taxes", "Taxes", ""),
        ("Total", "TotalAmount", "B"),
    )
    for label, part, style in lines:
        pdf.set_font("Helvetica", style, 9)
        pdf.cell(40, 6, label, border="T" if part == "TotalAmount" else 0)
        for i, (_, view) in enumerate(views):
            last = i == len(views) - 1
            text = f"{value(view, part)} {view.get('CurrencyCode', '')}"
            pdf.cell(
                col,
                6,
                text,
                align="R",
                border="T" if part == "TotalAmount" else 0,
                new_x="LMARGIN" if last else "RIGHT",
                new_y="NEXT" if last else "TOP",
            )
    pdf.set_font("Helvetica", "", 8)
    pdf.ln(2)
    for label, view in views:
        fx = view.get("CurrencyExchangeDetails")
        if fx:
            pdf.cell(
                0,
                4.5,
                f"{label}: exchange rate 1 {fx['SourceCurrencyCode']} = "
                f"{fx['Rate']} {fx['TargetCurrencyCode']}",
                new_x="LMARGIN",
                new_y="NEXT",
            )


def _breakdown_lines(pdf: FPDF, invoice: dict) -> None:
    base = invoice.get("BaseCurrencyAmount") or {}
    cur = base.get("CurrencyCode", "")
    breakdown = base.get("AmountBreakdown", {})
    rows = []
    for part in ("Discounts", "Fees", "Taxes"):
        for item in breakdown.get(part, {}).get("Breakdown", []) or []:
            rate = f" at {item['Rate']}" if item.get("Rate") else ""
            rows.append(
                (
                    part[:-1] if part != "Taxes" else "Tax",
                    f"{item.get('Description', '')}{rate}",
                    f"{item.get('Amount', '')} {cur}",
                )
            )
    if not rows:
        return
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 6, "Breakdown (base currency)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for kind, desc, amount in rows[:10]:
        pdf.cell(24, 5, kind)
        pdf.cell(110, 5, _latin1(desc))
        pdf.cell(0, 5, amount, align="R", new_x="LMARGIN", new_y="NEXT")


def render_invoice_pdf(invoice: dict, account: SandboxAccount) -> bytes:
    """Render the main PDF of ``invoice`` (an InvoiceSummary dict) for ``account``.

    Parameters
    ----------
    invoice
        InvoiceSummary as on the wire (epoch-second dates, decimal-string amounts).
    account
        The payer account the invoice belongs to (its name is printed).

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
    kind = invoice.get("InvoiceType", "INVOICE")
    if kind == "CREDIT_MEMO":
        title = "Credit Memo"
    elif invoice.get("CommercialInvoiceId"):
        title = "Tax Invoice"
    else:
        title = "Invoice"
    pdf = _new_pdf(invoice, f"{title} {invoice['InvoiceId']}")
    _header(pdf, title, invoice, account)
    _field_rows(pdf, _identity_rows(invoice, account))
    pdf.ln(4)
    _amount_table(pdf, invoice)
    _breakdown_lines(pdf, invoice)
    return bytes(pdf.output())


def render_supplement_pdf(
    invoice: dict, account: SandboxAccount, document_id: str, document_type: str
) -> bytes:
    """Render a supplemental document (its own page naming its type and its invoice).

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> org = build_organization(accounts=1, months=1, today="2026-11-25")
    >>> inv = org.invoices[0]
    >>> pdf = render_supplement_pdf(inv, org.account(inv["AccountId"]),
    ...                             inv["InvoiceId"] + "-SUPPLEMENT-1", "SUPPLEMENT")
    >>> pdf[:5]
    b'%PDF-'
    """
    title = _SUPPLEMENT_TITLES.get(document_type, document_type.replace("_", " ").title())
    pdf = _new_pdf(invoice, f"{title} {document_id}")
    _header(pdf, title, invoice, account)
    rows = [
        ("Document ID", document_id),
        ("Document type", document_type),
        ("Belongs to invoice", invoice["InvoiceId"]),
        *(r for r in _identity_rows(invoice, account) if r[0] != "Invoice ID"),
    ]
    _field_rows(pdf, rows)
    pdf.ln(4)
    pay = invoice.get("PaymentCurrencyAmount") or invoice.get("BaseCurrencyAmount") or {}
    pdf.set_font("Helvetica", "", 10)
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
        text = f"Additional details for invoice {invoice['InvoiceId']}."
    pdf.multi_cell(0, 5.5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    _amount_table(pdf, invoice)
    return bytes(pdf.output())


def render_document(document: Document, invoice: dict, account: SandboxAccount) -> bytes:
    """Render ``document`` of ``invoice``: the invoice itself or a supplemental document.

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
        return render_invoice_pdf(invoice, account)
    return render_supplement_pdf(invoice, account, document.document_id, document.document_type)
