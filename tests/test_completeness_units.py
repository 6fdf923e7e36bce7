"""Completeness per invoice unit: one invoice per unit and month, named when missing (issue 12).

Pure tests on small organizations. The expectations come from the organization model itself
(``Organization.units_at_month_end`` and ``Organization.unit_of_invoice``), never from the code
under test; the units frame is built from the model's wire-shaped units, one snapshot per month
end, as ``read_invoice_units(..., months=...)`` would fetch it.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from invoicekit import schema
from invoicekit.reconcile import reconcile_invoices
from invoicekit.reconcile.explain import explain_findings
from invoicekit.sandbox.org import build_organization
from invoicekit.units import month_end, unit_of_invoice, unit_rows, units_frame

TODAY = "2026-11-25"


def _months(org) -> list[str]:
    return [f"{y:04d}-{m:02d}" for y, m in org.periods]


def _units_at_month_ends(org) -> pd.DataFrame:
    rows = []
    for a in org.accounts:
        for month in _months(org):
            t = month_end(month)
            rows += unit_rows(a.account_id, org.invoice_units(a.account_id, t.to_pydatetime()), t,
                              a.name)  # fmt: skip
    return units_frame(rows)


def _units_now(org) -> pd.DataFrame:
    now = pd.Timestamp(TODAY, tz="UTC")
    return units_frame(
        [r for a in org.accounts for r in unit_rows(a.account_id, org.invoice_units(a.account_id),
                                                    now, a.name)]
    )  # fmt: skip


@pytest.fixture(scope="module")
def org():
    return build_organization(accounts=3, months=24, today=TODAY)


@pytest.fixture(scope="module")
def frame(org) -> pd.DataFrame:
    return schema.to_frame(org.invoices, account_names={a.account_id: a.name for a in org.accounts})


@pytest.fixture(scope="module")
def units(org) -> pd.DataFrame:
    return _units_at_month_ends(org)


def _completeness(findings: pd.DataFrame) -> pd.DataFrame:
    return findings[findings["check"] == "completeness"].reset_index(drop=True)


def _unit_invoices(org, frame: pd.DataFrame) -> pd.DataFrame:
    """The monthly invoices of units, with the model's own unit of each."""
    monthly = frame[(frame["invoice_type"] == "INVOICE") & (frame["bill_type"] == "ANNIVERSARY")]
    arn = monthly["invoice_id"].map(org.unit_of_invoice)
    return monthly.assign(unit=arn)[arn.notna().to_numpy(dtype=bool)]


def _unit_name(org, payer: str, month: str, arn: str) -> str:
    (unit,) = [
        u for u in org.units_at_month_end(payer, _period(month)) if u["InvoiceUnitArn"] == arn
    ]
    return unit["Name"]


def _period(month: str) -> tuple[int, int]:
    y, m = month.split("-")
    return int(y), int(m)


# --------------------------------------------------------------------------------------------


def test_the_small_org_has_units_that_change_so_the_tests_mean_something(org, frame):
    payers = [a.account_id for a in org.accounts if org.invoice_units(a.account_id)]
    assert len(payers) >= 2
    seen_sets = set()
    for month in _months(org):
        for p in payers:
            seen_sets.add(tuple(sorted(
                (u["Name"], tuple(u["Rule"]["LinkedAccounts"]))
                for u in org.units_at_month_end(p, _period(month))
            )))  # fmt: skip
    assert len(seen_sets) > len(payers), "some payer's units change within the range"
    assert frame["bill_source_account"].notna().all()


def test_a_complete_org_has_no_completeness_finding_with_units(frame, units):
    assert _completeness(reconcile_invoices(frame, units=units)).empty
    assert _completeness(reconcile_invoices(frame)).empty


def test_unit_of_invoice_follows_the_units_as_configured_at_each_month_end(org, frame, units):
    monthly = frame[(frame["invoice_type"] == "INVOICE") & (frame["bill_type"] == "ANNIVERSARY")]
    got = unit_of_invoice(monthly, units)
    assert got.index.equals(monthly.index)
    expected = monthly["invoice_id"].map(org.unit_of_invoice)
    assert [None if pd.isna(v) else v for v in got.tolist()] == [
        None if pd.isna(v) else v for v in expected.tolist()
    ]
    assert got.notna().sum() > 0 and got.isna().sum() > 0  # units' and default invoices


def test_a_missing_unit_invoice_is_named_and_another_units_invoice_does_not_hide_it(
    org, frame, units
):
    unit_invoices = _unit_invoices(org, frame)
    victim = unit_invoices.iloc[len(unit_invoices) // 2]
    payer, month = victim["account_id"], str(victim["billing_period"])
    dropped = frame[frame["invoice_id"] != victim["invoice_id"]]
    # the payer still has other invoices that month: the account-level rule sees nothing
    assert (dropped[(dropped.account_id == payer) & (dropped.billing_period.astype(str) == month)]
            .invoice_type.eq("INVOICE").any())  # fmt: skip
    assert _completeness(reconcile_invoices(dropped)).empty

    found = _completeness(reconcile_invoices(dropped, units=units))
    assert len(found) == 1
    f = found.iloc[0]
    unit = _unit_name(org, payer, month, victim["unit"])
    payer_name = org.account(payer).name
    assert f["message"].startswith(f"{payer_name}: no invoice for invoice unit '{unit}' in {month}")
    assert f["account_id"] == payer and str(f["billing_period"]) == month
    assert f["severity"] == "error" and pd.isna(f["invoice_id"])
    assert f["finding_id"] == f"completeness:{payer}:{month}:{victim['unit'].rsplit(':', 1)[-1]}"
    sentence = explain_findings(found, {payer: payer_name}).iloc[0]["sentence"]
    assert f"'{unit}'" in sentence and payer_name in sentence


def test_a_missing_default_invoice_is_reported_apart_from_the_units(org, frame, units):
    monthly = frame[(frame["invoice_type"] == "INVOICE") & (frame["bill_type"] == "ANNIVERSARY")]
    payers = {a.account_id for a in org.accounts if org.invoice_units(a.account_id)}
    default = monthly[monthly["account_id"].isin(payers)
                      & monthly["invoice_id"].map(org.unit_of_invoice).isna()]  # fmt: skip
    victim = default.iloc[0]
    dropped = frame[frame["invoice_id"] != victim["invoice_id"]]
    found = _completeness(reconcile_invoices(dropped, units=units))
    assert len(found) == 1
    assert "no invoice for the accounts in no invoice unit" in found.iloc[0]["message"]
    assert found.iloc[0]["finding_id"] == (
        f"completeness:{victim['account_id']}:{victim['billing_period']}"
    )


def test_a_unit_is_expected_exactly_in_the_months_it_existed_at_the_month_end(org, frame, units):
    unit_invoices = _unit_invoices(org, frame)
    # the unit with the fewest months: created (or deleted) inside the range
    months_of = unit_invoices.groupby("unit")["billing_period"].nunique()
    arn = months_of.idxmin()
    assert months_of[arn] < len(_months(org))
    payer = unit_invoices.loc[unit_invoices["unit"] == arn, "account_id"].iloc[0]
    expected_months = sorted(
        m for m in _months(org)
        if any(u["InvoiceUnitArn"] == arn and u["Rule"]["LinkedAccounts"]
               for u in org.units_at_month_end(payer, _period(m)))
    )  # fmt: skip
    dropped = frame[~frame["invoice_id"].isin(unit_invoices.loc[unit_invoices.unit == arn,
                                                                "invoice_id"])]  # fmt: skip
    found = _completeness(reconcile_invoices(dropped, units=units))
    assert sorted(found["billing_period"].astype(str)) == expected_months
    assert found["finding_id"].is_unique
    unit_name = re.escape(_unit_name(org, payer, expected_months[0], arn))
    assert found["message"].str.contains(f"invoice unit '{unit_name}'").all()


def test_the_range_limits_the_months_checked(org, frame, units):
    unit_invoices = _unit_invoices(org, frame)
    victim = unit_invoices.iloc[0]
    month = str(victim["billing_period"])
    dropped = frame[frame["invoice_id"] != victim["invoice_id"]]
    assert len(_completeness(reconcile_invoices(dropped, units=units, start=month, end=month))) == 1
    later = str(pd.Period(month, "M") + 1)
    assert _completeness(reconcile_invoices(dropped, units=units, start=later)).empty


def test_a_single_snapshot_of_now_calls_nothing_missing_on_complete_data(org, frame):
    now = _units_now(org)
    assert _completeness(reconcile_invoices(frame, units=now)).empty
    # and still finds a missing invoice of a unit unchanged since before that month
    unit_invoices = _unit_invoices(org, frame)
    settled = unit_invoices[[
        all(pd.Timestamp(u["LastModified"], unit="s", tz="UTC") <= month_end(str(p))
            for u in org.invoice_units(a) if u["InvoiceUnitArn"] == arn)
        for a, p, arn in zip(unit_invoices.account_id, unit_invoices.billing_period,
                             unit_invoices.unit, strict=True)
    ]]  # fmt: skip
    victim = settled.iloc[-1]
    found = _completeness(reconcile_invoices(frame[frame.invoice_id != victim.invoice_id],
                                             units=now))  # fmt: skip
    assert len(found) == 1 and str(found.iloc[0]["billing_period"]) == str(victim.billing_period)


def test_without_bill_source_accounts_the_account_level_rule_applies(org, frame, units):
    old = frame.assign(bill_source_account=pd.array([None] * len(frame), dtype=schema.STRING_DTYPE))
    victim = _unit_invoices(org, frame).iloc[0]
    partly = old[old["invoice_id"] != victim["invoice_id"]]
    assert _completeness(reconcile_invoices(partly, units=units)).empty  # cannot tell units apart
    month = str(victim["billing_period"])
    none = old[~((old.account_id == victim.account_id) & (old.billing_period.astype(str) == month))]
    found = _completeness(reconcile_invoices(none, units=units))
    assert len(found) == 1 and found.iloc[0]["message"].startswith("no INVOICE for account")


def test_planted_missing_invoices_are_still_found_with_units():
    org = build_organization(accounts=3, months=24, today=TODAY, anomalies=True)
    frame = schema.to_frame(org.invoices)
    units = _units_at_month_ends(org)
    planted = {(a["account_id"], a["billing_period"]) for a in org.anomalies
               if a["kind"] == "missing_invoice"}  # fmt: skip
    assert planted
    found = _completeness(reconcile_invoices(frame, units=units))
    got = set(zip(found["account_id"], found["billing_period"].astype(str), strict=True))
    assert planted <= got
    # every finding is of a planted account-month (nothing else is incomplete)
    assert got == planted


def test_without_units_the_findings_are_unchanged(org, frame, units):
    victim = frame[frame["invoice_type"] == "INVOICE"]
    month = str(victim.iloc[0]["billing_period"])
    account = victim.iloc[0]["account_id"]
    gone = frame[~((frame.account_id == account) & (frame.billing_period.astype(str) == month))]
    plain = reconcile_invoices(gone)
    pd.testing.assert_frame_equal(plain, reconcile_invoices(gone, units=None))
    assert len(_completeness(plain)) == 1


def test_units_must_be_a_units_frame(frame):
    from invoicekit.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="read_invoice_units"):
        reconcile_invoices(frame, units=pd.DataFrame({"x": [1]}))


def test_a_units_table_read_as_text_without_as_of_is_one_snapshot_of_now(org, frame):
    """A units file read by another reader (strings, no ``as_of``) ties invoices the same way."""
    now = _units_now(org)
    text = now.drop(columns=["as_of"]).astype(object)
    text["last_modified"] = [t.isoformat() for t in now["last_modified"]]
    typed = unit_of_invoice(frame, now).astype(object).tolist()
    assert unit_of_invoice(frame, text).astype(object).tolist() == typed
    assert _completeness(reconcile_invoices(frame, units=text)).empty
