"""The AP export carries each invoice's business unit, cost center and GL account (issue 12).

From the same mapping as the chargeback (``export_ap(business_units=...)``, the fleet file's
``business_units:`` section): generic ``business_unit``/``cost_center``, Oracle's
``COST_CENTER_SEGMENT`` and ``DIST_CODE_CONCATENATED``, NetSuite's ``Department``/``Class``,
Xero's tracking categories. Without a mapping every file is as before. Expectations are written
here from the hand-built rows and the documented precedence (unit > member account > payer).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from invoicekit import clock, schema
from invoicekit.ap import (
    GENERIC_COLUMNS,
    NETSUITE_COLUMNS,
    NETSUITE_CREDIT_COLUMNS,
    ORACLE_LINE_COLUMNS,
    ORACLE_LINES_FILE,
    export_ap,
)
from invoicekit.ap.formats import (
    GENERIC_BUSINESS_UNIT_COLUMNS,
    NETSUITE_BUSINESS_UNIT_COLUMNS,
    ORACLE_LINE_BUSINESS_UNIT_COLUMNS,
    XERO_TRACKING_BUSINESS_UNIT,
    XERO_TRACKING_COST_CENTER,
)
from invoicekit.errors import InvalidArgumentError

D = Decimal
PAYER, OTHER_PAYER = "100000000001", "100000000002"
MEMBER, UNIT_MEMBER = "200000000003", "200000000004"
UNIT_ARN = f"arn:aws:invoicing::{PAYER}:invoice-unit/0000abcd"


@pytest.fixture(autouse=True)
def pinned_now():
    with clock.pinned("2026-11-05T08:00:00Z"):
        yield


def _row(invoice_id, account, source, *, kind="INVOICE", total="118.00", taxes="18.00", **kw):
    start = pd.Timestamp("2026-10-01", tz="UTC")
    before = D(total) - D(taxes)
    r = {
        "account_id": account, "account_name": "Retail", "invoice_id": invoice_id,
        "invoice_type": kind, "billing_period": "2026-10", "bill_source_account": source,
        "issued_date": start + pd.DateOffset(months=1, days=1, hours=9),
        "due_date": start + pd.DateOffset(months=2, days=1, hours=9),
        "invoicing_entity": "Amazon Web Services, Inc.", "billing_entity": "AWS",
        "base_currency": "USD", "base_subtotal": before, "base_discounts": D(0),
        "base_fees": D(0), "base_taxes": D(taxes), "base_total_before_tax": before,
        "base_total": D(total),
    }  # fmt: skip
    r.update(kw)
    return r


def _frame(rows):
    data = {}
    for col in schema.COLUMNS:
        values = [r.get(col) for r in rows]
        if col == "billing_period":
            data[col] = pd.PeriodIndex(values, freq="M")
        elif col in ("issued_date", "due_date"):
            data[col] = pd.to_datetime(values, utc=True)
        else:
            data[col] = pd.array(values, dtype=schema.DTYPES[col])
    return pd.DataFrame(data)


def _month():
    return _frame(
        [
            _row("INV-MEMBER", PAYER, MEMBER),  # the member account's row
            _row("INV-PAYER", PAYER, PAYER),  # the payer's default invoice: the payer's row
            _row("INV-UNIT", PAYER, UNIT_MEMBER),  # a unit's invoice: the unit's row
            _row("INV-OTHER", OTHER_PAYER, OTHER_PAYER),  # no row: unallocated
            _row("CM-MEMBER", PAYER, MEMBER, kind="CREDIT_MEMO", total="-11.80", taxes="-1.80",
                 original_invoice_id="INV-MEMBER"),
        ]
    )  # fmt: skip


MAPPING = [
    {"account_id": MEMBER, "business_unit": "Platform", "cost_center": "CC-2", "gl_account": "6120"},
    {"payer_account_id": PAYER, "business_unit": "Retail", "cost_center": "CC-1"},
    {"invoice_unit": "Checkout", "business_unit": "Digital", "cost_center": "CC-3",
     "gl_account": "6130"},
]  # fmt: skip
#: invoice -> (business unit, cost center, GL account of the charges) by the precedence
EXPECTED = {
    "INV-MEMBER": ("Platform", "CC-2", "6120"),
    "CM-MEMBER": ("Platform", "CC-2", "6120"),
    "INV-PAYER": ("Retail", "CC-1", "6100"),  # no gl_account in its row: the entity's default
    "INV-UNIT": ("Digital", "CC-3", "6130"),
    "INV-OTHER": ("", "", "6100"),
}


def _units():
    frame = pd.DataFrame(
        {
            "payer_account_id": [PAYER],
            "payer_account_name": ["Retail"],
            "invoice_unit_arn": [UNIT_ARN],
            "invoice_unit_name": ["Checkout"],
            "description": [""],
            "invoice_receiver": [UNIT_MEMBER],
            "tax_inheritance_disabled": [False],
            "member_account_id": [UNIT_MEMBER],
            "last_modified": [pd.Timestamp("2025-01-01", tz="UTC")],
            "as_of": [pd.Timestamp("2026-10-31 23:59:59.999999", tz="UTC")],
        }
    )
    return frame


def _read(path):
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _export(tmp_path, fmt, out, **kw):
    return export_ap(
        _month(), tmp_path / out, fmt, month="2026-10", business_units=MAPPING, units=_units(), **kw
    )


def test_generic_carries_business_unit_cost_center_and_gl_account(tmp_path):
    result = _export(tmp_path, "generic", "ap.csv")
    header, rows = _read(tmp_path / "ap.csv")
    assert header == GENERIC_COLUMNS + GENERIC_BUSINESS_UNIT_COLUMNS
    got = {r["invoice_id"]: (r["business_unit"], r["cost_center"], r["gl_account"]) for r in rows}
    assert got == EXPECTED
    assert result.unallocated == ["INV-OTHER"]
    assert any("INV-OTHER" in line and "business unit" in line for line in result.summary())


def test_oracle_lines_carry_the_cost_center_segment_and_the_business_units_account(tmp_path):
    _export(tmp_path, "oracle-ap", "ap", mapping={"*": {"tax_account": "2200"}})
    header, lines = _read(tmp_path / "ap" / ORACLE_LINES_FILE)
    assert header == ORACLE_LINE_COLUMNS + ORACLE_LINE_BUSINESS_UNIT_COLUMNS
    _, invoices = _read(tmp_path / "ap" / "AP_INVOICES_INTERFACE.csv")
    number = {r["INVOICE_ID"]: r["INVOICE_NUM"] for r in invoices}
    for line in lines:
        bu, cc, gl = EXPECTED[number[line["INVOICE_ID"]]]
        assert line["COST_CENTER_SEGMENT"] == cc
        # the charges go to the business unit's account, the tax to the mapped tax account
        expected = gl if line["LINE_TYPE_LOOKUP_CODE"] == "ITEM" else "2200"
        assert line["DIST_CODE_CONCATENATED"] == expected


def test_the_tax_follows_the_business_units_account_unless_mapped_apart(tmp_path):
    _export(tmp_path, "oracle-ap", "ap")
    _, lines = _read(tmp_path / "ap" / ORACLE_LINES_FILE)
    _, invoices = _read(tmp_path / "ap" / "AP_INVOICES_INTERFACE.csv")
    number = {r["INVOICE_ID"]: r["INVOICE_NUM"] for r in invoices}
    for line in lines:
        assert line["DIST_CODE_CONCATENATED"] == EXPECTED[number[line["INVOICE_ID"]]][2]


def test_netsuite_department_is_the_cost_center_and_class_the_business_unit(tmp_path):
    _export(tmp_path, "netsuite", "bills.csv")
    header, bills = _read(tmp_path / "bills.csv")
    cheader, credits = _read(tmp_path / "bills-vendor-credits.csv")
    assert header == NETSUITE_COLUMNS + NETSUITE_BUSINESS_UNIT_COLUMNS
    assert cheader == NETSUITE_CREDIT_COLUMNS + NETSUITE_BUSINESS_UNIT_COLUMNS
    for r in bills + credits:
        bu, cc, gl = EXPECTED[r["External ID"]]
        assert (r["Class"], r["Department"]) == (bu, cc)
        assert r["Account"] == gl
    assert {r["External ID"] for r in credits} == {"CM-MEMBER"}


def test_xero_tracking_categories_carry_business_unit_and_cost_center(tmp_path):
    _export(tmp_path, "xero", "bills.csv")
    _, rows = _read(tmp_path / "bills.csv")
    for r in rows:
        bu, cc, gl = EXPECTED[r["*InvoiceNumber"]]
        assert r["TrackingOption1"] == bu and r["TrackingOption2"] == cc
        assert r["TrackingName1"] == (XERO_TRACKING_BUSINESS_UNIT if bu else "")
        assert r["TrackingName2"] == (XERO_TRACKING_COST_CENTER if cc else "")
        assert r["*AccountCode"] == gl


@pytest.mark.parametrize(
    ("fmt", "out", "file", "columns"),
    [
        ("generic", "ap.csv", "ap.csv", GENERIC_COLUMNS),
        ("oracle-ap", "ap", f"ap/{ORACLE_LINES_FILE}", ORACLE_LINE_COLUMNS),
        ("netsuite", "bills.csv", "bills.csv", NETSUITE_COLUMNS),
    ],
)
def test_without_a_mapping_the_files_keep_their_columns(tmp_path, fmt, out, file, columns):
    export_ap(_month(), tmp_path / out, fmt, month="2026-10")
    assert _read(tmp_path / file)[0] == columns


def test_the_fleet_files_section_is_used_when_no_mapping_is_passed(tmp_path):
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(
        f'accounts:\n  - id: "{PAYER}"\nbusiness_units:\n'
        f'  - payer_account_id: "{PAYER}"\n    business_unit: Retail\n    cost_center: CC-1\n',
        encoding="utf-8",
    )
    export_ap(_month(), tmp_path / "ap.csv", month="2026-10", fleet=fleet)
    _, rows = _read(tmp_path / "ap.csv")
    got = {r["invoice_id"]: r["cost_center"] for r in rows}
    assert got == {"INV-MEMBER": "CC-1", "CM-MEMBER": "CC-1", "INV-PAYER": "CC-1",
                   "INV-UNIT": "CC-1", "INV-OTHER": ""}  # fmt: skip


def test_unit_rows_need_the_units(tmp_path):
    with pytest.raises(InvalidArgumentError, match="units"):
        export_ap(_month(), tmp_path / "ap.csv", month="2026-10", business_units=MAPPING)
    assert not (tmp_path / "ap.csv").exists()


def test_a_bad_mapping_is_refused_before_anything_is_written(tmp_path):
    bad = [{"account_id": "12345", "business_unit": "X"}]
    with pytest.raises(InvalidArgumentError, match="not 12 digits"):
        export_ap(_month(), tmp_path / "ap.csv", month="2026-10", business_units=bad)
    assert not (tmp_path / "ap.csv").exists()


@pytest.mark.slow
def test_the_close_exports_with_the_fleet_files_business_units(make_sandbox, tmp_path):
    """`invoicekit close` passes the fleet's section; unit rows read the units from the fleet."""
    from invoicekit.close import close_month

    sb = make_sandbox(accounts=2, months=2)
    retail = sb.org.accounts[0].account_id
    end = pd.Timestamp("2026-10-31 23:59:59.999999", tz="UTC").to_pydatetime()
    storefront = next(u for u in sb.org.invoice_units(retail, end) if "Storefront" in u["Name"])
    config = Path(sb.fleet_config)
    fleet = config.with_name("fleet-with-business-units.yml")
    fleet.write_text(
        config.read_text(encoding="utf-8")
        + f"business_units:\n  - invoice_unit: {storefront['Name']}\n"
        "    business_unit: Digital\n    cost_center: CC-S\n"
        f'  - payer_account_id: "{retail}"\n    business_unit: Retail\n    cost_center: CC-R\n',
        encoding="utf-8",
    )
    with clock.pinned("2026-11-25T12:00:00Z"):
        result = close_month(fleet, "2026-10", tmp_path / "closes", lookback=0)
    ap_dir = tmp_path / "closes" / "2026-10" / "ap"
    (ap_file,) = [p for p in ap_dir.glob("*.csv") if p.name != "ap-ledger.csv"]
    header, rows = _read(ap_file)
    assert header[-2:] == GENERIC_BUSINESS_UNIT_COLUMNS
    expected = {}
    for inv in sb.org.invoices:
        p = inv["BillingPeriod"]
        if (p["Year"], p["Month"]) != (2026, 10) or inv["InvoiceType"] == "PAYMENT_RECEIPT":
            continue
        if inv.get("CommercialInvoiceId"):
            continue
        source = inv["BillSourceAccounts"][0]
        if source in storefront["Rule"]["LinkedAccounts"]:
            expected[inv["InvoiceId"]] = "CC-S"
        else:
            expected[inv["InvoiceId"]] = "CC-R" if inv["AccountId"] == retail else ""
    assert {r["invoice_id"]: r["cost_center"] for r in rows} == expected
    assert "CC-S" in expected.values() and "" in expected.values()
    assert result.status == "closed", result.lines
