"""The executive summary: money as booked, business time, one count for one thing.

Expected figures are computed here from the raw wire records (or the sandbox's own
organization), never with the report's helpers.
"""

from __future__ import annotations

import re

import pytest

from invoicekit import clock, documents, report
from invoicekit.schema import to_frame


def _view(currency: str, total: str) -> dict:
    return {
        "CurrencyCode": currency,
        "TotalAmount": total,
        "TotalAmountBeforeTax": total,
        "AmountBreakdown": {
            "SubTotalAmount": total,
            "Discounts": {"TotalAmount": "0.00"},
            "Taxes": {"TotalAmount": "0.00"},
            "Fees": {"TotalAmount": "0.00"},
        },
    }


def _inv(inv_id: str, total: str, *, kind: str = "INVOICE", month: int = 10) -> dict:
    return {
        "AccountId": "111111111111",
        "InvoiceId": inv_id,
        "InvoiceType": kind,
        "BillingPeriod": {"Month": month, "Year": 2026},
        "IssuedDate": 1.7e9,
        "Entity": {"InvoicingEntity": "Amazon Web Services, Inc.", "BillingEntity": "AWS"},
        "BaseCurrencyAmount": _view("USD", total),
        "TaxCurrencyAmount": _view("USD", total),
        "PaymentCurrencyAmount": _view("USD", total),
    }


def _cells(html_text: str, view: str) -> list[list[str]]:
    """The totals table's rows of ``view``: [currency, invoices, credit memos, net total]."""
    row = re.compile(
        rf"<tr><td>{view} currency</td><td>(\w+)</td><td class=\"num\">([^<]*)</td>"
        r"<td class=\"num\">([^<]*)</td><td class=\"num\">([^<]*)</td>"
    )
    return [list(m) for m in row.findall(html_text)]


def _tile(html_text: str, kind: str) -> str | None:
    """The figure of the tile labelled ``kind`` (singular for one, plural otherwise)."""
    m = re.search(rf"<span class='tile'><b>([^<]*)</b>{re.escape(kind)}s?</span>", html_text)
    return m.group(1) if m else None


def test_report_shows_money_half_up_as_booked_and_generated_at_business_time(tmp_path):
    df = to_frame([_inv("H-1", "0.125"), _inv("H-2", "1000.005", month=11)])
    with clock.pinned("2031-02-03T04:05:06Z"):
        path = report.executive_summary(df, path=tmp_path / "summary.html")
    text = path.read_text(encoding="utf-8")
    # 0.125 + 1000.005 = 1000.13 exactly; alone, 0.125 books as 0.13 (half-up), never 0.12
    assert _cells(text, "base") == [["USD", "2", "0", "1,000.13"]]
    one = report.executive_summary(df.iloc[:1], path=tmp_path / "one.html").read_text("utf-8")
    assert _cells(one, "base") == [["USD", "1", "0", "0.13"]]
    assert _cells(one, "payment") == [["USD", "1", "0", "0.13"]]
    assert "generated 2031-02-03 04:05 UTC" in text  # from invoicekit.clock, not the wall clock
    assert not list(tmp_path.glob(".ik-*"))  # written atomically: no temp file left behind


def test_the_report_counts_every_kind_of_row_in_the_documents_vocabulary():
    df = to_frame(
        [
            _inv("I-1", "10.00"),
            _inv("I-2", "20.00"),
            _inv("C-1", "-5.00", kind="CREDIT_MEMO"),
            {**_inv("T-1", "10.00"), "CommercialInvoiceId": "I-1"},
            _inv("R-1", "25.00", kind="PAYMENT_RECEIPT"),
        ]
    )
    assert documents.count(df) == {
        "invoice": 2,
        "credit memo": 1,
        "tax invoice": 1,
        "payment receipt": 1,
    }


def test_archive_line_reads_as_one_sentence():
    st = {
        "documents_ok": 172,
        "documents_expected": 173,
        "document_counts": {"invoice": 156, "credit memo": 12, "supplemental document": 5},
    }
    assert report.archive_line(st) == (
        "172 of 173 documents (156 invoices, 12 credit memos, 5 supplemental documents)"
        " have their PDF"
    )


@pytest.mark.slow
def test_tiles_totals_table_and_archive_line_count_the_same_documents(make_sandbox, tmp_path):
    """One run, one number for one thing: the tile, the totals table and the archive agree."""
    from invoicekit.archive import download_invoice_pdfs
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries

    sb = make_sandbox(accounts=6, months=3)
    first, last = (f"{y:04d}-{m:02d}" for y, m in (sb.org.periods[0], sb.org.periods[-1]))
    df = read_invoice_summaries(sb.fleet_config, first, last, progress=False)
    archive = tmp_path / "archive"
    download_invoice_pdfs(df, archive, fleet=load_fleet(sb.fleet_config), progress=False)

    # independently, from the sandbox's own records
    raw = [r for a in sb.org.accounts for r in sb.org.invoices_for(a.account_id)]
    want = {
        "invoice": sum(
            r["InvoiceType"] == "INVOICE" and not r.get("CommercialInvoiceId") for r in raw
        ),
        "credit memo": sum(
            r["InvoiceType"] == "CREDIT_MEMO" and not r.get("CommercialInvoiceId") for r in raw
        ),
        "tax invoice": sum(bool(r.get("CommercialInvoiceId")) for r in raw),
        "payment receipt": 0,
    }
    supplements = sum(len(sb.org.documents_for(r["InvoiceId"])) - 1 for r in raw)
    assert want["invoice"] and want["credit memo"] and want["tax invoice"] and supplements
    assert documents.count(df) == want

    st = report.archive_status(df, archive)
    assert st["document_counts"] == {**want, "supplemental document": supplements}
    expected = len(raw) + supplements
    assert st["documents_ok"] == st["documents_expected"] == expected and st["ok"]

    text = report.executive_summary(df, archive=archive, path=tmp_path / "s.html").read_text(
        encoding="utf-8"
    )
    assert _tile(text, "invoice") == str(want["invoice"])
    assert _tile(text, "credit memo") == str(want["credit memo"])
    assert _tile(text, "tax invoice") == str(want["tax invoice"])
    assert _tile(text, "payment receipt") is None  # a kind with no row gets no tile
    for view in ("base", "payment"):
        rows = _cells(text, view)
        assert sum(int(r[1]) for r in rows) == want["invoice"], view
        assert sum(int(r[2]) for r in rows) == want["credit memo"], view
    described = (
        f"{want['invoice']} invoices, {want['credit memo']} credit memo"
        f"{'s' if want['credit memo'] != 1 else ''}, {want['tax invoice']} tax invoices, "
        f"{supplements} supplemental documents"
    )
    assert f"{expected} of {expected} documents ({described}) have their PDF" in text
