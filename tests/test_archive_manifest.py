"""invoicekit.archive.manifest: the manifest, the catalogue, the journal and intact files."""

from __future__ import annotations

import hashlib

from invoicekit import _files
from invoicekit.archive import manifest


def _row(i: int, **kw) -> dict[str, str]:
    row = {
        "account_id": "111111111111",
        "invoice_id": "E-1",
        "billing_period": "2025-01",
        "document_type": "INVOICE",
        "document_id": f"E-{i}",
        "path": f"2025-01/E-{i}.pdf",
        "bytes": "10",
        "sha256": "a" * 64,
        "downloaded_at": "2026-01-01T00:00:00Z",
    }
    row.update(kw)
    return row


def test_the_main_document_sorts_before_its_supplements(tmp_path):
    path = tmp_path / manifest.MANIFEST_NAME
    manifest.write_manifest(path, [_row(0, document_type="SUPPLEMENT"), _row(9)])
    rows = manifest.read_manifest(path).rows
    assert [r["document_type"] for r in rows] == ["INVOICE", "SUPPLEMENT"]
    assert not [p for p in tmp_path.iterdir() if _files.is_temp_name(p.name)]


def test_the_journal_appends_and_the_newest_listing_of_an_invoice_wins(tmp_path):
    (tmp_path / manifest.STATE_DIR).mkdir()
    journal = manifest.ArchiveJournal(tmp_path)
    listing = [
        {"account_id": "1", "invoice_id": "E-1", "document_type": "INVOICE",
         "document_id": "E-1", "listing": "a"},
    ]  # fmt: skip
    journal.commit([_row(1)], listing, [tmp_path])
    newer = [dict(listing[0], listing="b"), dict(listing[0], document_id="S-1", listing="b",
                                                   document_type="SUPPLEMENT")]  # fmt: skip
    journal.commit([_row(2)], newer, [])
    cat_path = tmp_path / manifest.STATE_DIR / manifest.CATALOGUE_NAME
    with open(cat_path, "a", encoding="utf-8") as fh:
        fh.write("1,E-1,INVOICE,E-1,c")  # torn by a crash: not committed
    catalogue = manifest.read_catalogue(cat_path)
    assert catalogue == {("1", "E-1"): [("INVOICE", "E-1"), ("SUPPLEMENT", "S-1")]}
    text = (tmp_path / manifest.MANIFEST_NAME).read_text()
    assert text.count("account_id,invoice_id") == 1  # one header, two appended rows
    assert [r["document_id"] for r in manifest.read_manifest(tmp_path / "manifest.csv").rows] == [
        "E-1",
        "E-2",
    ]
    manifest.compact_catalogue(cat_path, catalogue)
    assert manifest.read_catalogue(cat_path) == catalogue


def test_is_intact_checks_size_and_hash_inside_the_archive(tmp_path):
    root = tmp_path.resolve()
    data = b"%PDF-1.4 x %%EOF"
    (root / "2025-01").mkdir()
    (root / "2025-01" / "E-1.pdf").write_bytes(data)
    good = _row(1, bytes=str(len(data)), sha256=hashlib.sha256(data).hexdigest())
    assert manifest.is_intact(root, good)
    assert not manifest.is_intact(root, {**good, "sha256": "b" * 64})
    assert not manifest.is_intact(root, {**good, "bytes": "3"})
    assert not manifest.is_intact(root, {**good, "path": "../E-1.pdf"})
    assert not manifest.is_intact(root, {**good, "path": "2025-01/missing.pdf"})
