"""invoicekit.documents: the kinds of rows, what counts as spend and payable, and their words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from invoicekit import documents
from invoicekit.documents import CREDIT_MEMO, INVOICE, PAYMENT_RECEIPT, TAX_INVOICE

ARROW_STR = pd.ArrowDtype(pa.string())


def frame(rows: list[tuple[str, str | None]], dtype=ARROW_STR, index=None) -> pd.DataFrame:
    """Rows of (invoice_type, commercial_invoice_id), typed as the loader types them."""
    return pd.DataFrame(
        {
            "invoice_type": pd.array([r[0] for r in rows], dtype=dtype),
            "commercial_invoice_id": pd.array([r[1] for r in rows], dtype=dtype),
        },
        index=index,
    )


MIXED = [
    ("INVOICE", None),
    ("CREDIT_MEMO", None),
    ("INVOICE", "INV-C-1"),  # a tax invoice restating a commercial invoice
    ("PAYMENT_RECEIPT", None),
    ("INVOICE", ""),  # an empty id is no commercial invoice id
    ("CREDIT_MEMO", "INV-C-2"),  # restating a credit memo is still a tax invoice
]
MIXED_KINDS = [INVOICE, CREDIT_MEMO, TAX_INVOICE, PAYMENT_RECEIPT, INVOICE, TAX_INVOICE]


def test_the_vocabulary():
    assert documents.KINDS == ("invoice", "credit memo", "tax invoice", "payment receipt")
    assert documents.SPEND_KINDS == {"invoice", "credit memo"}
    assert documents.PAYABLE_KINDS == {"invoice", "credit memo"}
    assert documents.MAIN_DOCUMENT == "INVOICE"
    assert documents.SUPPLEMENTAL_DOCUMENT == "supplemental document"


@pytest.mark.parametrize(
    ("invoice_type", "commercial_invoice_id", "kind"),
    [
        ("INVOICE", None, INVOICE),
        ("CREDIT_MEMO", None, CREDIT_MEMO),
        ("PAYMENT_RECEIPT", None, PAYMENT_RECEIPT),
        ("INVOICE", "INV-1", TAX_INVOICE),
        ("CREDIT_MEMO", "INV-1", TAX_INVOICE),
        ("INVOICE", "", INVOICE),
        ("CREDIT_MEMO", float("nan"), CREDIT_MEMO),
        ("SOMETHING_NEW", None, INVOICE),  # unknown types count as invoices
        (None, None, INVOICE),
    ],
)
def test_kind_of_one_row(invoice_type, commercial_invoice_id, kind):
    assert documents.kind_of(invoice_type, commercial_invoice_id) == kind


def test_kind_of_a_row_read_from_an_arrow_frame():
    row = frame([("INVOICE", None)]).iloc[0]
    assert row["commercial_invoice_id"] is pd.NA
    assert documents.kind_of(row["invoice_type"], row["commercial_invoice_id"]) == INVOICE


@pytest.mark.parametrize("dtype", [ARROW_STR, "string", object])
def test_kinds_of_a_frame_agree_with_kind_of(dtype):
    df = frame(MIXED, dtype=dtype, index=[10, 11, 12, 13, 14, 15])
    got = documents.kinds(df)
    assert got.tolist() == MIXED_KINDS
    assert got.index.equals(df.index)
    assert got.name == "kind"
    assert got.tolist() == [
        documents.kind_of(t, c if c else None) for t, c in MIXED
    ]  # one rule, row by row or vectorised


def test_kinds_without_the_commercial_invoice_column():
    df = pd.DataFrame({"invoice_type": ["INVOICE", "CREDIT_MEMO"]})
    assert documents.kinds(df).tolist() == [INVOICE, CREDIT_MEMO]


def test_kinds_with_a_missing_invoice_type():
    df = frame([("INVOICE", None), (None, None)])
    assert documents.kinds(df).tolist() == [INVOICE, INVOICE]


def test_spend_and_payable_masks():
    df = frame(MIXED)
    expected = np.array([True, True, False, False, True, False])
    np.testing.assert_array_equal(documents.is_spend(df), expected)
    np.testing.assert_array_equal(documents.is_payable(df), expected)
    assert documents.is_spend(df).dtype == bool


def test_spend_rows_with_and_without_credit_memos():
    df = frame(MIXED, index=list("abcdef"))
    assert documents.spend(df).index.tolist() == ["a", "b", "e"]
    assert documents.spend(df, credit_memos=False).index.tolist() == ["a", "e"]
    assert documents.payable(df).index.tolist() == ["a", "b", "e"]


def test_a_frame_that_is_all_spend_is_returned_as_is():
    df = frame([("INVOICE", None), ("CREDIT_MEMO", None)])
    assert documents.spend(df) is df
    assert documents.payable(df) is df


def test_tax_invoices_never_double_the_spend():
    # the tax invoice restates INV-C-1's amount; spend counts it once
    df = frame([("INVOICE", None), ("INVOICE", "INV-C-1")])
    df["amount"] = [100, 100]
    assert documents.spend(df)["amount"].sum() == 100


def test_count_has_every_kind_in_order():
    counts = documents.count(frame(MIXED))
    assert list(counts) == list(documents.KINDS)
    assert counts == {INVOICE: 2, CREDIT_MEMO: 1, TAX_INVOICE: 2, PAYMENT_RECEIPT: 1}
    assert all(type(n) is int for n in counts.values())
    empty = documents.count(frame(MIXED).iloc[:0])
    assert empty == dict.fromkeys(documents.KINDS, 0)


@pytest.mark.parametrize(
    ("n", "kind", "text"),
    [
        (0, INVOICE, "0 invoices"),
        (1, INVOICE, "1 invoice"),
        (2, INVOICE, "2 invoices"),
        (1, CREDIT_MEMO, "1 credit memo"),
        (1204, CREDIT_MEMO, "1,204 credit memos"),
        (3, TAX_INVOICE, "3 tax invoices"),
        (2, PAYMENT_RECEIPT, "2 payment receipts"),
        (2, documents.SUPPLEMENTAL_DOCUMENT, "2 supplemental documents"),
        (173, "document", "173 documents"),
        (1, "document", "1 document"),
    ],
)
def test_plural(n, kind, text):
    assert documents.plural(n, kind) == text


def test_describe_leaves_out_kinds_without_rows():
    counts = {INVOICE: 156, CREDIT_MEMO: 12, TAX_INVOICE: 0, PAYMENT_RECEIPT: 1}
    assert documents.describe(counts) == "156 invoices, 12 credit memos, 1 payment receipt"
    assert documents.describe({INVOICE: 1, CREDIT_MEMO: 0}, zeros=True) == (
        "1 invoice, 0 credit memos"
    )
    assert documents.describe(dict.fromkeys(documents.KINDS, 0)) == "0 invoices"


@pytest.mark.parametrize(
    ("document_type", "row_kind", "label"),
    [
        ("INVOICE", INVOICE, "invoice"),
        ("INVOICE", CREDIT_MEMO, "credit memo"),
        ("INVOICE", TAX_INVOICE, "tax invoice"),
        ("PAYMENT_RECEIPT", INVOICE, "payment receipt"),
        ("TAX_E_INVOICE", INVOICE, "tax e-invoice"),
        ("GOVERNMENT_INVOICE", INVOICE, "government invoice"),
        ("SUPPLEMENT", INVOICE, "supplement"),
        ("SOME_NEW_DOCUMENT", INVOICE, "some new document"),
    ],
)
def test_document_label(document_type, row_kind, label):
    assert documents.document_label(document_type, row_kind) == label


def test_sandbox_organization_counts_by_the_same_rule():
    """A real-shaped frame: the sandbox's wire invoices, kinds decided by the vocabulary."""
    from invoicekit.sandbox.org import build_organization

    org = build_organization(accounts=2, months=2, today="2026-11-25")
    rows = [(i["InvoiceType"], i.get("CommercialInvoiceId")) for i in org.invoices]
    df = frame(rows)
    counts = documents.count(df)
    assert sum(counts.values()) == len(org.invoices)
    assert counts[INVOICE] > 0
    by_row = [documents.kind_of(t, c) for t, c in rows]
    assert documents.kinds(df).tolist() == by_row
