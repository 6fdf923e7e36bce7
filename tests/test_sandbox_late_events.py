"""The sandbox's late events: credit memos, cancellations, documents and restatements that
appear after a month is closed, deterministically by seed and only once their day has come.

Pure tests (no server): each property is recomputed here from the organizations' wire data.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import botocore
import pytest

from invoicekit.sandbox.org import LATE_EVENT_CHANGES, build_organization

PLANTED = ("credit_memo", "tax_cancelled", "supplemental_document", "amount_restated")
TODAY = "2026-12-15"


@pytest.fixture(scope="module")
def org():
    return build_organization(seed=7, today=TODAY)


def _period(inv: dict) -> tuple[int, int]:
    return inv["BillingPeriod"]["Year"], inv["BillingPeriod"]["Month"]


def _month(p: tuple[int, int]) -> str:
    return f"{p[0]:04d}-{p[1]:02d}"


def _add(p: tuple[int, int], n: int) -> tuple[int, int]:
    k = p[0] * 12 + p[1] - 1 + n
    return k // 12, k % 12 + 1


def _when(event: dict) -> datetime:
    return datetime.fromisoformat(event["date"].replace("Z", "+00:00"))


def test_late_events_are_deterministic_by_seed(org):
    again = build_organization(seed=7, today=TODAY)
    assert again.late_events == org.late_events and org.late_events
    assert json.dumps(again.invoices) == json.dumps(org.invoices)
    other = build_organization(seed=8, today=TODAY)
    assert [e["invoice_id"] for e in other.late_events] != [
        e["invoice_id"] for e in org.late_events
    ]
    view = json.loads(json.dumps(org.admin_view()))
    assert view["late_events"] == [dict(e) for e in org.late_events]


def test_every_planted_kind_happens_once_a_month_after_any_close_from_day_5_to_20(org):
    finished = [p for p in org.periods if date(*_add(p, 2), 4) <= org.today]
    assert len(finished) >= 20
    by_month = defaultdict(list)
    for e in org.late_events:
        if e["kind"] in PLANTED:
            by_month[e["billing_period"]].append(e)
    for p in finished:
        events = by_month[_month(p)]
        assert sorted(e["kind"] for e in events) == sorted(PLANTED), _month(p)
        y, m = _add(p, 1)
        for close_day in (5, 20):
            closed = datetime(y, m, close_day, 23, 59, tzinfo=UTC)
            for e in events:
                # after any close from the 5th to the 20th, and seen 30 days after any of them
                assert closed < _when(e), (e, closed)
                assert _when(e).date() < (closed + timedelta(days=30)).date(), (e, closed)
    # a few accounts each month, not everywhere: each kind on one account, several over time
    for kind in PLANTED:
        accounts = {e["account_id"] for e in org.late_events if e["kind"] == kind}
        if kind == "tax_cancelled":  # only accounts invoiced by AWS India have tax invoices
            india = {a.account_id for a in org.accounts if "India" in a.invoicing_entity}
            assert accounts == india
        else:
            assert 1 < len(accounts) < len(org.accounts), kind


def test_each_event_is_in_the_data_the_way_its_record_says(org):
    by_id = defaultdict(list)
    for inv in org.invoices:
        by_id[inv["InvoiceId"]].append(inv)
    items = defaultdict(list)
    for li in org.line_items:
        items[li["invoice_id"]].append(li)
    for e in org.late_events:
        assert e["change"] == LATE_EVENT_CHANGES[e["kind"]]
        (inv,) = by_id[e["invoice_id"]]
        assert inv["AccountId"] == e["account_id"] and _month(_period(inv)) == e["billing_period"]
        assert _when(e).date() < org.today
        if e["kind"] == "credit_memo":
            (original,) = by_id[e["related_invoice_id"]]
            assert inv["InvoiceType"] == "CREDIT_MEMO"
            assert inv["OriginalInvoiceId"] == original["InvoiceId"]
            assert original["BillType"] == "ANNIVERSARY" and _period(original) == _period(inv)
            assert inv["IssuedDate"] == _when(e).timestamp()
            assert Decimal(inv["BaseCurrencyAmount"]["TotalAmount"]) < 0
        elif e["kind"] == "tax_cancelled":
            assert inv["TaxAuthorityStatus"] == "CANCELLED"
            assert inv["CommercialInvoiceId"] == e["related_invoice_id"]
        elif e["kind"] in ("supplemental_document", "payment_receipt"):
            docs = {d.document_id: d.document_type for d in org.documents_for(inv["InvoiceId"])}
            expected = "SUPPLEMENT" if e["kind"] == "supplemental_document" else "PAYMENT_RECEIPT"
            assert docs[e["document_id"]] == expected
            assert org.render_pdf(e["document_id"]).startswith(b"%PDF-")
        elif e["kind"] == "amount_restated":
            sub = Decimal(inv["BaseCurrencyAmount"]["AmountBreakdown"]["SubTotalAmount"])
            assert sum(Decimal(li["amount_usd"]) for li in items[inv["InvoiceId"]]) == sub
            assert any(li["service"] == "AWS Billing Adjustment" for li in items[inv["InvoiceId"]])
        elif e["kind"] == "einvoice_delivered":
            assert inv["EinvoiceDeliveryStatus"] == "DELIVERED"


def test_cancelled_is_a_tax_authority_status_of_the_botocore_model():
    path = Path(botocore.__file__).parent / "data" / "invoicing"
    (model,) = list(path.glob("*/service-2.json*"))
    raw = gzip.open(model).read() if model.suffix == ".gz" else model.read_bytes()
    assert "CANCELLED" in json.loads(raw)["shapes"]["TaxAuthorityStatus"]["enum"]


def test_nothing_of_an_event_is_visible_before_its_day():
    late = build_organization(seed=7, accounts=12, months=3, today=TODAY)
    for e in [x for x in late.late_events if x["kind"] in PLANTED][:8]:
        day = _when(e).date()
        before = build_organization(seed=7, accounts=12, months=3, today=day)
        after = build_organization(seed=7, accounts=12, months=3, today=day + timedelta(days=1))
        assert e not in before.late_events and e in after.late_events
        if e["kind"] == "credit_memo":
            assert before.invoices_by_id(e["invoice_id"]) == []
            assert after.invoices_by_id(e["invoice_id"])
        elif e["kind"] == "tax_cancelled":
            assert before.invoices_by_id(e["invoice_id"])[0]["TaxAuthorityStatus"] == "ISSUED"
        elif e["kind"] == "supplemental_document":
            ids = [d.document_id for d in before.documents_for(e["invoice_id"])]
            assert e["document_id"] not in ids
        elif e["kind"] == "amount_restated":
            (old,) = before.invoices_by_id(e["invoice_id"])
            (new,) = after.invoices_by_id(e["invoice_id"])
            assert old["BaseCurrencyAmount"] != new["BaseCurrencyAmount"]
            assert old["IssuedDate"] == new["IssuedDate"]


@pytest.mark.parametrize("anomalies", [False, True])
def test_a_month_does_not_change_when_today_moves_except_by_its_late_events(anomalies):
    t1 = date(2026, 11, 10)
    t2 = t1 + timedelta(days=40)
    a = build_organization(seed=7, months=6, today=t1, anomalies=anomalies)
    b = build_organization(seed=7, months=6, today=t2, anomalies=anomalies)
    common = set(a.periods) & set(b.periods)
    assert len(common) == 5
    between = [e for e in b.late_events if t1 <= _when(e).date() < t2]
    assert {e["kind"] for e in between} >= set(PLANTED)
    kept = {_month(p) for p in common}
    assert not [e for e in a.late_events if e["billing_period"] in kept and e not in b.late_events]
    touched = {e["invoice_id"] for e in between}

    def month_data(o):
        inv = {
            i["InvoiceId"]: json.dumps(i, sort_keys=True)
            for i in o.invoices
            if _period(i) in common and i["InvoiceId"] not in touched
        }
        docs = {k: o.documents_for(k) for k in inv}
        lines = sorted(
            json.dumps(li, sort_keys=True) for li in o.line_items if li["invoice_id"] in inv
        )
        anomalies = [
            r for r in o.anomalies if tuple(map(int, r["billing_period"].split("-"))) in common
        ]
        return inv, docs, lines, anomalies

    assert month_data(a) == month_data(b)
    # and the only invoices that appeared are the late credit memos
    new_ids = {i["InvoiceId"] for i in b.invoices if _period(i) in common} - {
        i["InvoiceId"] for i in a.invoices
    }
    assert new_ids == {e["invoice_id"] for e in between if e["kind"] == "credit_memo"}
    if anomalies:
        assert month_data(a)[3], "some anomalies are planted in the months both cover"
