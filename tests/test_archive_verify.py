"""invoicekit.archive.verify: what an archive holds, in the documents vocabulary."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from invoicekit import documents
from invoicekit.archive import (
    PROBLEM_COLUMNS,
    VerifyReport,
    verify_archive,
)
from invoicekit.archive.manifest import write_manifest
from invoicekit.errors import InvalidArgumentError


def _pdf(text: str) -> bytes:
    return b"%PDF-1.4\n% " + text.encode() + b"\n%%EOF\n"


def _archive(root, docs):
    """Write documents ``(invoice_id, document_type, document_id)`` and their manifest."""
    rows = []
    for inv, dtype, did in docs:
        rel = f"2026-10/1/{did}.pdf"
        data = _pdf(did)
        (root / "2026-10" / "1").mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        rows.append(
            {"account_id": "1", "invoice_id": inv, "billing_period": "2026-10",
             "document_type": dtype, "document_id": did, "path": rel, "bytes": str(len(data)),
             "sha256": hashlib.sha256(data).hexdigest(), "downloaded_at": "2026-11-01T00:00:00Z"}
        )  # fmt: skip
    write_manifest(root / "manifest.csv", rows)


def test_document_counts_name_main_documents_by_kind_and_supplements_together():
    frame = pd.DataFrame(
        {
            "document_type": ["INVOICE", "INVOICE", "TAX_E_INVOICE", "INVOICE", "SUPPLEMENT"],
            "kind": ["credit memo", "invoice", "tax e-invoice", "invoice", "supplement"],
        }
    )
    counts = documents.count_documents(frame)
    assert list(counts.items()) == [
        ("invoice", 2),
        ("credit memo", 1),
        ("supplemental document", 2),
    ]
    assert documents.describe_documents(counts) == (
        "5 documents: 2 invoices, 1 credit memo, 2 supplemental documents"
    )
    assert documents.count_documents(frame.drop(columns="kind")) == {
        "main document": 3,
        "supplemental document": 2,
    }


def test_verify_counts_checked_and_expected_documents_by_kind(tmp_path):
    _archive(
        tmp_path,
        [("E-1", "INVOICE", "E-1"), ("E-1", "SUPPLEMENT", "S-1"), ("C-1", "INVOICE", "C-1")],
    )
    summaries = pd.DataFrame(
        {
            "account_id": ["1", "1", "1"],
            "invoice_id": ["E-1", "C-1", "E-9"],
            "billing_period": ["2026-10", "2026-10", "2026-09"],
            "invoice_type": ["INVOICE", "CREDIT_MEMO", "INVOICE"],
        }
    )
    report = verify_archive(tmp_path, summaries=summaries, start="2026-10", end="2026-10")
    assert report.ok, report.problems
    assert report.counts == {"invoice": 1, "credit memo": 1, "supplemental document": 1}
    assert report.expected == {"invoice": 1, "credit memo": 1} and report.invoices_expected == 2
    assert report.summary() == (
        f"{tmp_path.resolve()}: 3 documents checked (1 invoice, 1 credit memo, 1 supplemental "
        "document); billing month 2026-10: 2 expected (1 invoice, 1 credit memo): no problems"
    )
    # the September invoice has no PDF: a no_document problem named by its kind
    full = verify_archive(tmp_path, summaries=summaries)
    assert "; all billing months of the summaries: 3 expected" in full.summary()
    wider = verify_archive(tmp_path, summaries=summaries, start="2026-09", end="2026-10")
    assert "; billing months 2026-09..2026-10: 3 expected" in wider.summary()
    missing = full.problems[full.problems["problem"] == "no_document"]
    assert list(missing["invoice_id"]) == ["E-9"]
    assert missing["detail"].iloc[0].startswith("invoice of the requested range")
    # without summaries the kinds are unknown: main documents
    assert verify_archive(tmp_path).counts == {"main document": 2, "supplemental document": 1}


def test_bad_months_name_the_argument(tmp_path):
    _archive(tmp_path, [("E-1", "INVOICE", "E-1")])
    with pytest.raises(InvalidArgumentError, match="start='2026-13' is not a month"):
        verify_archive(tmp_path, start="2026-13")
    with pytest.raises(InvalidArgumentError, match="after end"):
        verify_archive(tmp_path, start="2026-10", end="2026-01")


def test_an_empty_report_reads_plainly():
    report = VerifyReport(Path("a"), 0, pd.DataFrame(columns=PROBLEM_COLUMNS))
    assert report.ok and str(report) == "a: 0 documents checked: no problems"
