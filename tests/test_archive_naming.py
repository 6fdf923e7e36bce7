"""invoicekit.archive.naming: the invoices of a summaries frame and the paths they get."""

from __future__ import annotations

import pandas as pd
import pytest

from invoicekit.archive import naming
from invoicekit.errors import InvalidArgumentError


def test_invoices_from_frame_dedupes_versions_and_reads_every_month_form():
    df = pd.DataFrame(
        {
            "account_id": ["111111111111", "111111111111", "222222222222", "222222222222"],
            "invoice_id": ["E-1", "E-1", "E-2", "E-3"],
            "billing_period": pd.array(["2026-03", "2026-03", "2026-3-17", pd.NA], dtype=object),
            "invoice_type": ["INVOICE", "INVOICE", "CREDIT_MEMO", "INVOICE"],
            "commercial_invoice_id": [None, None, None, "E-1"],
            "account_name": [None, None, "Payments", None],
        }
    )
    got = naming.invoices_from_frame(df, {"111111111111": "Retail"})
    assert [(i.invoice_id, i.billing_period) for i in got] == [
        ("E-1", "2026-03"),
        ("E-2", "2026-03"),
        ("E-3", ""),
    ]
    assert [i.kind for i in got] == ["invoice", "credit memo", "tax invoice"]
    assert [i.account_name for i in got] == ["Retail", "Payments", ""]
    assert got[0].fields()["year"] == "2026" and got[1].fields()["month"] == "03"


def test_invoices_from_frame_takes_periods_as_pandas_periods():
    df = pd.DataFrame(
        {
            "account_id": ["1"],
            "invoice_id": ["E-1"],
            "billing_period": pd.PeriodIndex(["2025-12"], freq="M"),
        }
    )
    assert naming.invoices_from_frame(df)[0].billing_period == "2025-12"


def test_a_frame_without_the_identity_columns_is_refused_naming_them():
    with pytest.raises(InvalidArgumentError, match="lacks column.*billing_period"):
        naming.invoices_from_frame(pd.DataFrame({"account_id": ["1"], "invoice_id": ["E-1"]}))


def test_inside_archive_refuses_escapes_and_symlinks_out(tmp_path):
    root = (tmp_path / "archive").resolve()
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    assert naming.inside_archive(root, "2025-01/a.pdf") == root / "2025-01" / "a.pdf"
    for rel in ("../x.pdf", "link/x.pdf", "."):
        with pytest.raises(InvalidArgumentError, match="leaves the archive"):
            naming.inside_archive(root, rel)


def test_the_old_module_still_offers_the_archive():
    """``invoicekit.pdfs`` (0.1's import path) re-exports the package's objects."""
    from invoicekit import archive, pdfs

    assert set(pdfs.__all__) == set(archive.__all__)
    for name in ("download_invoice_pdfs", "verify_archive", "render_path", "FAILED"):
        assert getattr(pdfs, name) is getattr(archive, name)
