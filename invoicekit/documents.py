"""The vocabulary of invoice documents, and what each counts as — defined once.

Every row of the invoice DataFrame is one of four *kinds*, decided from ``invoice_type`` and
``commercial_invoice_id`` alone:

============================  ==========================================  =======  =========
kind                          the row                                     spend?   payable?
============================  ==========================================  =======  =========
``invoice``                   ``InvoiceType`` INVOICE                     yes      yes
``credit memo``               ``InvoiceType`` CREDIT_MEMO (negative)      yes      yes (a credit)
``tax invoice``               has a ``CommercialInvoiceId``: it restates  no       no
                              a commercial invoice for a tax authority
``payment receipt``           ``InvoiceType`` PAYMENT_RECEIPT             no       no
============================  ==========================================  =======  =========

*Spend* is what was charged: invoices plus credit memos, never a tax invoice (its amounts are
the commercial invoice's again) nor a payment receipt (it records a payment). *Payable* is what
accounts payable books: the same documents, credit memos as credits against the invoice they
correct. Besides the rows, GetInvoicePDF lists for each row its *main document* (the PDF of the
row itself) and any number of *supplemental documents* (payment receipts, tax e-invoices,
government invoices, supplements).

Every count the CLI, the reports, the notebooks and the archive print says these words and uses
:func:`kinds`, :func:`is_spend` and :func:`is_payable`, so one run shows one number for one
thing.

Examples
--------
>>> from invoicekit import documents
>>> documents.kind_of("INVOICE", None), documents.kind_of("INVOICE", "INV-1")
('invoice', 'tax invoice')
>>> documents.plural(1, "credit memo"), documents.plural(3, "tax invoice")
('1 credit memo', '3 tax invoices')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from invoicekit._na import is_missing

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = [
    "INVOICE",
    "CREDIT_MEMO",
    "TAX_INVOICE",
    "PAYMENT_RECEIPT",
    "KINDS",
    "SPEND_KINDS",
    "PAYABLE_KINDS",
    "MAIN_DOCUMENT",
    "MAIN_DOCUMENT_LABEL",
    "SUPPLEMENTAL_DOCUMENT",
    "kind_of",
    "kinds",
    "is_spend",
    "is_payable",
    "spend",
    "payable",
    "count",
    "plural",
    "describe",
    "document_label",
    "count_documents",
    "describe_documents",
]

INVOICE = "invoice"
CREDIT_MEMO = "credit memo"
TAX_INVOICE = "tax invoice"
PAYMENT_RECEIPT = "payment receipt"
#: Every kind of row, in the order counts are shown.
KINDS = (INVOICE, CREDIT_MEMO, TAX_INVOICE, PAYMENT_RECEIPT)
SPEND_KINDS = frozenset({INVOICE, CREDIT_MEMO})
PAYABLE_KINDS = frozenset({INVOICE, CREDIT_MEMO})

#: ``document_type`` of a row's own PDF in GetInvoicePDF's answer and the archive manifest.
MAIN_DOCUMENT = "INVOICE"
#: What any other document of a row is called.
SUPPLEMENTAL_DOCUMENT = "supplemental document"
#: A row's own PDF when the row's kind is not known (an archive verified without summaries).
MAIN_DOCUMENT_LABEL = "main document"

_PLURALS = {
    INVOICE: "invoices",
    CREDIT_MEMO: "credit memos",
    TAX_INVOICE: "tax invoices",
    PAYMENT_RECEIPT: "payment receipts",
    SUPPLEMENTAL_DOCUMENT: "supplemental documents",
    "document": "documents",
    "main document": "main documents",
    "entry": "entries",
    "business unit": "business units",
    "invoice unit": "invoice units",
}
_BY_TYPE = {"INVOICE": INVOICE, "CREDIT_MEMO": CREDIT_MEMO, "PAYMENT_RECEIPT": PAYMENT_RECEIPT}
_SUPPLEMENT_LABELS = {
    "PAYMENT_RECEIPT": "payment receipt",
    "TAX_E_INVOICE": "tax e-invoice",
    "GOVERNMENT_INVOICE": "government invoice",
    "SUPPLEMENT": "supplement",
}


def _blank(value: Any) -> bool:
    return is_missing(value) or value == ""


def kind_of(invoice_type: Any, commercial_invoice_id: Any = None) -> str:
    """The kind of one row (see the module table). Unknown invoice types count as invoices."""
    if not _blank(commercial_invoice_id):
        return TAX_INVOICE
    return _BY_TYPE.get(str(invoice_type), INVOICE)


def kinds(df: pd.DataFrame) -> pd.Series:
    """The kind of every row of ``df`` (a string Series on ``df.index``)."""
    import numpy as np
    import pandas as pd

    itype = df["invoice_type"].astype(object).fillna("").to_numpy()  # a null type: an invoice
    out = np.full(len(df), INVOICE, dtype=object)
    out[itype == "CREDIT_MEMO"] = CREDIT_MEMO
    out[itype == "PAYMENT_RECEIPT"] = PAYMENT_RECEIPT
    if "commercial_invoice_id" in df.columns:
        out[_present(df["commercial_invoice_id"])] = TAX_INVOICE
    return pd.Series(out, index=df.index, dtype=object, name="kind")


def _present(series: pd.Series) -> np.ndarray:
    import numpy as np

    s = series.astype(object)
    return np.asarray(s.notna() & (s.fillna("") != ""), dtype=bool)


def is_spend(df: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows that are spend: invoices and credit memos."""
    import numpy as np

    return np.isin(kinds(df).to_numpy(), list(SPEND_KINDS))


def is_payable(df: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows accounts payable books: invoices and credit memos."""
    import numpy as np

    return np.isin(kinds(df).to_numpy(), list(PAYABLE_KINDS))


def spend(df: pd.DataFrame, *, credit_memos: bool = True) -> pd.DataFrame:
    """The spend rows of ``df`` (without credit memos when ``credit_memos=False``)."""
    mask = is_spend(df)
    if not credit_memos:
        mask &= kinds(df).to_numpy() != CREDIT_MEMO
    return df if mask.all() else df.loc[mask]


def payable(df: pd.DataFrame) -> pd.DataFrame:
    """The rows accounts payable books."""
    mask = is_payable(df)
    return df if mask.all() else df.loc[mask]


def count(df: pd.DataFrame) -> dict[str, int]:
    """Rows of each kind, every kind present as a key: ``{"invoice": 156, "credit memo": 12, ...}``."""
    found = kinds(df).value_counts()
    return {k: int(found.get(k, 0)) for k in KINDS}


def plural(n: int, kind: str) -> str:
    """``"1 invoice"``, ``"2 invoices"``, ``"1,204 credit memos"``."""
    word = kind if n == 1 else _PLURALS.get(kind, kind + "s")
    return f"{n:,} {word}"


def describe(counts: dict[str, int], *, zeros: bool = False) -> str:
    """``"156 invoices, 12 credit memos, 3 tax invoices"`` (kinds with no row left out)."""
    parts = [plural(n, k) for k, n in counts.items() if n or zeros]
    return ", ".join(parts) if parts else plural(0, INVOICE)


def document_label(document_type: Any, row_kind: str = INVOICE) -> str:
    """What a document is called: the row's kind for its main PDF, else the supplement's name.

    Examples
    --------
    >>> document_label("INVOICE", "credit memo"), document_label("TAX_E_INVOICE")
    ('credit memo', 'tax e-invoice')
    """
    if str(document_type) == MAIN_DOCUMENT:
        return row_kind
    return _SUPPLEMENT_LABELS.get(str(document_type), str(document_type).lower().replace("_", " "))


def count_documents(frame: pd.DataFrame) -> dict[str, int]:
    """Documents by kind: main documents by their row's kind, the others as supplemental.

    ``frame`` has ``document_type`` and, optionally, ``kind`` (a row's kind, as in the frame
    :func:`invoicekit.archive.download_invoice_pdfs` returns); main documents without a
    kind count as ``"main document"``. Keys follow :data:`KINDS`, zeros
    left out.

    Examples
    --------
    >>> import pandas as pd
    >>> docs = pd.DataFrame({"document_type": ["INVOICE", "INVOICE", "SUPPLEMENT"],
    ...                      "kind": ["invoice", "credit memo", "supplement"]})
    >>> count_documents(docs)
    {'invoice': 1, 'credit memo': 1, 'supplemental document': 1}
    """
    main = frame["document_type"].astype(object).to_numpy() == MAIN_DOCUMENT
    if "kind" in frame.columns:
        kinds = (
            frame["kind"]
            .astype(object)
            .where(frame["kind"].notna(), MAIN_DOCUMENT_LABEL)
            .to_numpy()
        )
    else:
        kinds = [MAIN_DOCUMENT_LABEL] * len(frame)
    found: dict[str, int] = {}
    for is_main, kind in zip(main, kinds, strict=True):
        key = kind if is_main else SUPPLEMENTAL_DOCUMENT
        found[key] = found.get(key, 0) + 1
    order = [*KINDS, MAIN_DOCUMENT_LABEL, SUPPLEMENTAL_DOCUMENT]
    ordered = {k: found.pop(k) for k in order if k in found}
    return {**ordered, **found}


def describe_documents(counts: Mapping[str, int]) -> str:
    """``"173 documents: 156 invoices, 12 credit memos, 5 supplemental documents"``.

    Examples
    --------
    >>> describe_documents({"invoice": 2, "supplemental document": 1})
    '3 documents: 2 invoices, 1 supplemental document'
    >>> describe_documents({})
    '0 documents'
    """
    total = sum(counts.values())
    head = plural(total, "document")
    return f"{head}: {describe(dict(counts))}" if total else head
