"""The organization model's member accounts, invoice units and invoice profiles (pure, no server).

Expectations are recomputed here from the model's own unit histories and line items: a month's
invoices must follow the units as configured at the end of that month, to the cent.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pypdf
import pytest

from invoicekit.sandbox.org import ENTITY_EMEA, ENTITY_INDIA, ENTITY_JAPAN, build_organization

TODAY = "2026-11-25"


@pytest.fixture(scope="module")
def org():
    return build_organization(seed=7, today=TODAY)


def _period(inv: dict) -> tuple[int, int]:
    return inv["BillingPeriod"]["Year"], inv["BillingPeriod"]["Month"]


def _month_end(period: tuple[int, int]) -> datetime:
    y, m = period
    first_next = datetime(y + m // 12, m % 12 + 1, 1, tzinfo=UTC)
    return first_next - timedelta(microseconds=1)


def _config_at(history, moment: float):
    """Independent reading of a unit history: the configuration in force at ``moment``."""
    state = None
    for t, cfg in history:
        if t <= moment:
            state = cfg
    return state


def _monthly(org, payer: str, period) -> list[dict]:
    return [
        i
        for i in org.invoices_for(payer)
        if i["BillType"] == "ANNIVERSARY"
        and "CommercialInvoiceId" not in i
        and _period(i) == period
    ]


def test_members_are_named_tagged_and_list_the_payer_first(org):
    assert set(org.members) == {a.account_id for a in org.accounts}
    seen = set()
    for acct in org.accounts:
        members = org.members[acct.account_id]
        assert members[0].account_id == acct.account_id and members[0].name == acct.name
        assert len(members) >= 4
        for m in members:
            assert m.payer_account_id == acct.account_id
            assert re.fullmatch(r"\d{12}", m.account_id)
            assert {"team", "environment", "cost_center", "application"} <= set(m.attributes)
            assert m.account_id not in seen, "a member belongs to one organization"
            seen.add(m.account_id)
        assert len({m.name for m in members}) == len(members)
    again = build_organization(seed=7, today=TODAY)
    assert again.members == org.members
    other = build_organization(seed=8, today=TODAY)
    assert other.members != org.members


def test_the_default_org_has_units_an_eur_payer_a_move_a_creation_and_a_deletion(org):
    start = datetime(*org.periods[0], 1, tzinfo=UTC).timestamp()
    end = _month_end(org.periods[-1]).timestamp()
    with_units = [a for a in org.accounts if org.unit_histories(a.account_id)]
    assert len(with_units) >= 2
    assert any(a.payment_currency == "EUR" for a in with_units)
    moved = created = deleted = False
    for acct in with_units:
        histories = org.unit_histories(acct.account_id)
        for history in histories.values():
            t0 = history[0][0]
            created |= start < t0 < end
            deleted |= any(cfg is None and start < t < end for t, cfg in history)
        # an account in one unit at some moment of the range and in another at a later one
        moments = sorted({t for h in histories.values() for t, _ in h if start < t < end})
        for a, b in zip(moments, moments[1:], strict=False):
            before = {
                x: arn
                for arn, h in histories.items()
                if (c := _config_at(h, a))
                for x in c["Rule"]["LinkedAccounts"]
            }
            after = {
                x: arn
                for arn, h in histories.items()
                if (c := _config_at(h, b))
                for x in c["Rule"]["LinkedAccounts"]
            }
            moved |= any(x in after and after[x] != arn for x, arn in before.items())
    assert moved and created and deleted


def test_invoice_units_as_of_shows_the_membership_of_that_moment_deleted_units_included(org):
    for acct in org.accounts:
        histories = org.unit_histories(acct.account_id)
        for history in histories.values():
            for k, (t, cfg) in enumerate(history):
                arn = (cfg or history[k - 1][1])["InvoiceUnitArn"]
                just_after = {u["InvoiceUnitArn"]: u for u in org.invoice_units(acct.account_id, t)}
                just_before = {
                    u["InvoiceUnitArn"]: u for u in org.invoice_units(acct.account_id, t - 0.5)
                }
                if cfg is None:  # deleted at t: visible just before, gone just after
                    assert arn in just_before and arn not in just_after
                else:
                    assert just_after[arn] == cfg and cfg["LastModified"] == t
                    if k:
                        assert just_before[arn] == history[k - 1][1]
                    else:
                        assert arn not in just_before
        now = {u["InvoiceUnitArn"] for u in org.invoice_units(acct.account_id)}
        assert now == {arn for arn, h in histories.items() if h[-1][1] is not None}
        assert org.invoice_units(acct.account_id, datetime(2000, 1, 1, tzinfo=UTC)) == []


def test_each_month_has_one_invoice_per_unit_at_month_end_plus_the_default_one(org):
    for acct in org.accounts:
        payer = acct.account_id
        members = [m.account_id for m in org.members[payer]]
        histories = org.unit_histories(payer)
        for period in org.periods:
            moment = _month_end(period).timestamp()
            units = {
                arn: c for arn, h in histories.items() if (c := _config_at(h, moment)) is not None
            }
            invoices = _monthly(org, payer, period)
            by_unit = {org.unit_of_invoice(i["InvoiceId"]): i for i in invoices}
            assert len(by_unit) == len(invoices) == 1 + len(units)
            assert set(by_unit) == {None, *units}
            in_unit = {a for u in units.values() for a in u["Rule"]["LinkedAccounts"]}
            default = by_unit[None]
            assert default["AccountId"] == payer
            assert default["BillSourceAccounts"] == [payer]
            assert org.receiver_of(default["InvoiceId"]) == payer
            if histories:
                assert default["BillSourceAccountsTotalCount"] == len(
                    [a for a in members if a not in in_unit]
                )
            for arn, cfg in units.items():
                inv = by_unit[arn]
                linked = cfg["Rule"]["LinkedAccounts"]
                assert inv["AccountId"] == payer
                assert inv["BillSourceAccounts"] == [sorted(linked)[0]]
                assert inv["BillSourceAccountsTotalCount"] == len(linked)
                assert org.receiver_of(inv["InvoiceId"]) == cfg["InvoiceReceiver"]
                assert inv["PaymentCurrencyAmount"]["CurrencyCode"] == acct.payment_currency


def test_line_items_of_each_unit_invoice_are_its_accounts_usage_to_the_cent(org):
    lines = defaultdict(list)
    for li in org.line_items:
        lines[li["invoice_id"]].append(li)
    checked = 0
    for acct in org.accounts:
        for period in org.periods:
            units = org.units_at_month_end(acct.account_id, period)
            linked = {u["InvoiceUnitArn"]: set(u["Rule"]["LinkedAccounts"]) for u in units}
            for inv in _monthly(org, acct.account_id, period):
                arn = org.unit_of_invoice(inv["InvoiceId"])
                items = lines[inv["InvoiceId"]]
                total = sum((Decimal(li["amount_usd"]) for li in items), Decimal(0))
                sub = Decimal(inv["BaseCurrencyAmount"]["AmountBreakdown"]["SubTotalAmount"])
                assert total == sub, inv["InvoiceId"]
                accounts = {li["usage_account_id"] for li in items}
                if arn is not None:
                    assert accounts <= linked[arn] and total > 0
                    checked += 1
                else:
                    assert not accounts & set().union(*linked.values())
    assert checked > 24


def test_a_month_of_unit_invoices_does_not_depend_on_today(org):
    later = build_organization(seed=7, today="2027-02-10")
    common = set(org.periods) & set(later.periods)
    assert len(common) >= 20
    for acct in org.accounts:
        for period in common:
            mine = {
                org.unit_of_invoice(i["InvoiceId"]): i
                for i in _monthly(org, acct.account_id, period)
                if org.unit_of_invoice(i["InvoiceId"])
            }
            theirs = {
                later.unit_of_invoice(i["InvoiceId"]): i
                for i in _monthly(later, acct.account_id, period)
                if later.unit_of_invoice(i["InvoiceId"])
            }
            assert mine == theirs


def test_every_receiver_has_an_entity_appropriate_profile(org):
    receivers = {a.account_id for a in org.accounts}
    for acct in org.accounts:
        for history in org.unit_histories(acct.account_id).values():
            receivers |= {c["InvoiceReceiver"] for _, c in history if c is not None}
    assert receivers <= set(org.invoice_profiles)
    payer_of = {m.account_id: p for p, ms in org.members.items() for m in ms}
    patterns = {
        "DE": r"DE\d{9}",
        "FR": r"FR\d{11}",
        "GB": r"GB\d{9}",
        "IE": r"IE\d{7}[A-Z]",
    }
    for account_id in receivers:
        prof = org.invoice_profiles[account_id]
        payer = org.account(payer_of[account_id])
        assert prof["AccountId"] == account_id
        assert prof["Issuer"] == payer.invoicing_entity
        addr = prof["ReceiverAddress"]
        assert addr["CompanyName"] == prof["ReceiverName"]
        assert addr["City"] and addr["PostalCode"] and addr["AddressLine1"]
        assert "@" in prof["ReceiverEmail"]
        tax = prof["TaxRegistrationNumber"]
        if payer.invoicing_entity == ENTITY_EMEA:
            assert re.fullmatch(patterns[addr["CountryCode"]], tax)
        elif payer.invoicing_entity == ENTITY_INDIA:
            assert re.fullmatch(r"\d{2}[A-Z]{5}\d{4}[A-Z]1Z\d", tax)
        elif payer.invoicing_entity == ENTITY_JAPAN:
            assert re.fullmatch(r"T\d{13}", tax)
        else:
            assert re.fullmatch(r"\d{2}-\d{7}", tax) and addr["CountryCode"] == "US"
    # any member has a profile too (a unit created later may make it a receiver)
    member = org.members[org.accounts[1].account_id][-1]
    assert org.invoice_profile(member.account_id)["AccountId"] == member.account_id


def test_a_unit_invoice_pdf_is_billed_to_its_receiver_and_shows_no_sensitive_member(org):
    unit_invoices = [i for i in org.invoices if org.unit_of_invoice(i["InvoiceId"])]
    inv = unit_invoices[0]
    receiver = org.receiver_of(inv["InvoiceId"])
    prof = org.invoice_profiles[receiver]
    pdf = org.render_pdf(org.documents_for(inv["InvoiceId"])[0].document_id)
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert prof["ReceiverName"] in text and receiver in text
    assert prof["TaxRegistrationNumber"] not in text
    assert prof["ReceiverAddress"]["AddressLine1"] not in text
    payer_prof = org.invoice_profiles[inv["AccountId"]]
    default = next(
        i
        for i in org.invoices_for(inv["AccountId"])
        if i["BillType"] == "ANNIVERSARY" and org.unit_of_invoice(i["InvoiceId"]) is None
    )
    pdf = org.render_pdf(default["InvoiceId"])
    assert payer_prof["ReceiverName"] in pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_small_and_large_organizations_build_with_or_without_units():
    tiny = build_organization(accounts=2, months=1, today=TODAY)
    assert tiny.invoice_units("100000000002") == []
    big = build_organization(accounts=30, months=3, today=TODAY)
    with_units = [a for a in big.accounts if big.unit_histories(a.account_id)]
    assert len(with_units) >= 4
    ids = [i["InvoiceId"] for i in big.invoices]
    assert len(ids) == len(set(ids))
