"""The four AP formats against the rules their targets document (docs/ap.md): column names,
types, required fields, limits (Xero's 500 invoices per file, Oracle's column sizes), credit
memos referencing their original, Oracle's header = lines and its INVOICE_ID sequence.

Expected values are computed here with plain ``Decimal`` from hand-built rows.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest

from invoicekit import clock, schema
from invoicekit.ap import (
    GENERIC_COLUMNS,
    NETSUITE_COLUMNS,
    NETSUITE_CREDIT_COLUMNS,
    ORACLE_INVOICE_COLUMNS,
    ORACLE_LINE_COLUMNS,
    XERO_COLUMNS,
    export_ap,
    read_ledger,
)
from invoicekit.errors import InvalidArgumentError

D = Decimal
DIGITS = {"JPY": 0, "KWD": 3}


def q(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(D(1).scaleb(-DIGITS.get(currency, 2)), rounding=ROUND_HALF_UP)


def decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


@pytest.fixture(autouse=True)
def pinned_now():
    with clock.pinned("2026-11-05T08:00:00Z"):
        yield


def amounts(subtotal: str, discounts: str = "0", fees: str = "0", taxes: str = "0") -> dict:
    before = D(subtotal) + D(discounts) + D(fees)
    return {"subtotal": D(subtotal), "discounts": D(discounts), "fees": D(fees),
            "taxes": D(taxes), "total_before_tax": before, "total": before + D(taxes)}  # fmt: skip


def row(invoice_id: str, *, kind: str = "INVOICE", period: str = "2026-10", base=None,
        payment=None, payment_currency=None, entity="Amazon Web Services, Inc.", **extra) -> dict:  # fmt: skip
    start = pd.Timestamp(period + "-01", tz="UTC")
    r = {
        "account_id": "100000000001", "account_name": "Retail", "invoice_id": invoice_id,
        "invoice_type": kind, "billing_period": period,
        "issued_date": start + pd.DateOffset(months=1, days=1, hours=9),
        "due_date": start + pd.DateOffset(months=2, days=1, hours=9),
        "invoicing_entity": entity, "billing_entity": "AWS",
    }  # fmt: skip
    views = {"base": (base or amounts("100.00", "-10.00", "0", "18.00"), "USD")}
    if payment is not None:
        views["payment"] = (payment, payment_currency)
    for v, (values, currency) in views.items():
        r[f"{v}_currency"] = currency
        for c, a in values.items():
            r[f"{v}_{c}"] = a
    r.update(extra)
    return r


def frame(rows: list[dict]) -> pd.DataFrame:
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


USD = amounts("1234.50", "-0.50", "0", "246.80")  # total 1480.80
JPY = amounts("16500", "0", "0", "1500")  # total 18000 yen
KWD = amounts("30.712", "0", "0", "0")
CREDIT = amounts("-50.00", "0", "0", "-10.00")  # total -60.00


def month_rows() -> list[dict]:
    return [
        row("INV-USD", base=USD, purchase_order_number="PO-42"),
        row("INV-JPY", base=amounts("110.00", taxes="10.00"), payment=JPY,
            payment_currency="JPY", entity="Amazon Web Services Japan G.K."),
        row("INV-KWD", base=amounts("100.00"), payment=KWD, payment_currency="KWD",
            entity="Société Exemple"),
        row("CM-USD", kind="CREDIT_MEMO", base=CREDIT, original_invoice_id="INV-USD"),
        row("RCPT", kind="PAYMENT_RECEIPT", base=USD),
        row("TAX-USD", base=USD, commercial_invoice_id="INV-USD"),
        row("INV-SEP", period="2026-09", base=USD),
    ]  # fmt: skip


EXPECTED = {  # invoice id -> (total, taxes, currency), the payment view else the base view
    "INV-USD": (D("1480.80"), D("246.80"), "USD"),
    "INV-JPY": (D("18000"), D("1500"), "JPY"),
    "INV-KWD": (D("30.712"), D("0.000"), "KWD"),
    "CM-USD": (D("-60.00"), D("-10.00"), "USD"),
}


def read(path) -> tuple[list[str], list[dict]]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # UTF-8 without BOM
    assert b"\r\n" not in raw
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def plain_amount(text: str, currency: str) -> Decimal:
    """An amount is a plain decimal string with exactly the currency's minor digits."""
    assert re.fullmatch(r"-?\d+(\.\d+)?", text), text
    assert decimals(text) == DIGITS.get(currency, 2), (text, currency)
    return D(text)


# --------------------------------------------------------------------------------------------
# generic
# --------------------------------------------------------------------------------------------


def test_generic_columns_types_and_the_payment_view(tmp_path):
    result = export_ap(frame(month_rows()), tmp_path / "ap.csv")
    header, rows = read(tmp_path / "ap.csv")
    assert header == GENERIC_COLUMNS == [
        "invoice_id", "type", "billing_period", "issued_date", "due_date", "supplier",
        "invoicing_entity", "billing_entity", "account_id", "account_name", "currency",
        "subtotal", "discounts", "fees", "tax", "total", "po_number", "original_invoice_id",
        "view", "gl_account", "tax_code",
    ]  # fmt: skip
    by_id = {r["invoice_id"]: r for r in rows}
    assert set(by_id) == set(EXPECTED)  # October, payable only
    for invoice_id, (total, tax, currency) in EXPECTED.items():
        r = by_id[invoice_id]
        assert r["currency"] == currency
        assert plain_amount(r["total"], currency) == total
        assert plain_amount(r["tax"], currency) == tax
        parts = sum(plain_amount(r[c], currency) for c in ("subtotal", "discounts", "fees", "tax"))
        assert parts == total
        datetime.strptime(r["issued_date"], "%Y-%m-%d")
        datetime.strptime(r["due_date"], "%Y-%m-%d")
        for required in ("invoice_id", "type", "billing_period", "supplier", "currency", "total"):
            assert r[required], (invoice_id, required)
    assert by_id["INV-JPY"]["view"] == "payment" and by_id["INV-USD"]["view"] == "base"
    assert by_id["INV-USD"]["po_number"] == "PO-42"
    assert by_id["INV-KWD"]["supplier"] == "Société Exemple"  # UTF-8 kept
    assert by_id["INV-USD"]["type"] == "STANDARD"
    cm = by_id["CM-USD"]  # a credit, referencing the invoice it corrects
    assert (cm["type"], cm["original_invoice_id"]) == ("CREDIT", "INV-USD")
    assert D(cm["total"]) < 0
    assert result.summary()[0].startswith("Exported 3 invoices, 1 credit memo of October 2026")
    assert "net payable 18,000 JPY, 30.712 KWD, 1,420.80 USD." in result.summary()[0]


# --------------------------------------------------------------------------------------------
# oracle-ap
# --------------------------------------------------------------------------------------------


def test_oracle_writes_both_tables_and_each_header_equals_its_lines(tmp_path):
    out = tmp_path / "oracle"
    result = export_ap(frame(month_rows()), out, "oracle-ap", supplier_site="AWS-MAIN",
                       business_unit="US1 Business Unit", source="AWS")  # fmt: skip
    assert [p.name for p in result.files] == [
        "AP_INVOICES_INTERFACE.csv", "AP_INVOICE_LINES_INTERFACE.csv"
    ]  # fmt: skip
    header_cols, headers = read(out / "AP_INVOICES_INTERFACE.csv")
    line_cols, lines = read(out / "AP_INVOICE_LINES_INTERFACE.csv")
    assert header_cols == ORACLE_INVOICE_COLUMNS and line_cols == ORACLE_LINE_COLUMNS
    for column in ("INVOICE_ID", "INVOICE_NUM", "INVOICE_AMOUNT", "INVOICE_CURRENCY_CODE",
                   "INVOICE_TYPE_LOOKUP_CODE", "VENDOR_NAME", "SOURCE"):  # fmt: skip
        assert all(h[column] for h in headers), column
    assert {h["INVOICE_NUM"] for h in headers} == set(EXPECTED)
    ids = [int(h["INVOICE_ID"]) for h in headers]
    assert ids == list(range(1, len(headers) + 1))  # a new ledger starts at 1
    for h in headers:
        total, tax, currency = EXPECTED[h["INVOICE_NUM"]]
        assert plain_amount(h["INVOICE_AMOUNT"], currency) == total
        assert h["INVOICE_CURRENCY_CODE"] == h["PAYMENT_CURRENCY_CODE"] == currency
        assert (h["VENDOR_SITE_CODE"], h["OPERATING_UNIT"], h["SOURCE"]) == (
            "AWS-MAIN", "US1 Business Unit", "AWS"
        )  # fmt: skip
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2}", h["INVOICE_DATE"])  # Oracle's YYYY/MM/DD
        assert len(h["DESCRIPTION"]) <= 240 and len(h["INVOICE_NUM"]) <= 50
        mine = [ln for ln in lines if ln["INVOICE_ID"] == h["INVOICE_ID"]]
        assert [ln["LINE_TYPE_LOOKUP_CODE"] for ln in mine] == ["ITEM", "TAX"]
        assert [int(ln["LINE_NUMBER"]) for ln in mine] == [1, 2]  # positive, unique
        assert sum(plain_amount(ln["AMOUNT"], currency) for ln in mine) == total
        assert plain_amount(mine[1]["AMOUNT"], currency) == tax
        credit = h["INVOICE_NUM"] == "CM-USD"
        assert h["INVOICE_TYPE_LOOKUP_CODE"] == ("CREDIT" if credit else "STANDARD")
        assert (D(h["INVOICE_AMOUNT"]) < 0) == credit  # standard positive, credit negative
    cm = next(h for h in headers if h["INVOICE_NUM"] == "CM-USD")
    assert "credits invoice INV-USD" in cm["DESCRIPTION"]


def test_oracle_invoice_id_continues_across_runs_and_can_start_at_n(tmp_path):
    df = frame(month_rows())
    first = export_ap(df, tmp_path / "sep", "oracle-ap", month="2026-09")
    assert list(first.exported["target_id"]) == [1]
    second = export_ap(df, tmp_path / "oct", "oracle-ap", month="2026-10")
    assert sorted(second.exported["target_id"]) == [2, 3, 4, 5]
    ledger = read_ledger(tmp_path / "ap-ledger.csv")
    assert sorted(int(t) for t in ledger["target_id"]) == [1, 2, 3, 4, 5]
    _, headers = read(tmp_path / "oct" / "AP_INVOICES_INTERFACE.csv")
    assert sorted(int(h["INVOICE_ID"]) for h in headers) == [2, 3, 4, 5]
    # a chosen start must not reuse an id the ledger has
    with pytest.raises(InvalidArgumentError, match="up to 5 is already used"):
        export_ap(df, tmp_path / "again", "oracle-ap", reexport=True, invoice_id_start=5)
    third = export_ap(df, tmp_path / "again", "oracle-ap", reexport=True, invoice_id_start=1000)
    assert sorted(third.exported["target_id"]) == [1000, 1001, 1002, 1003]


def test_oracle_refuses_values_longer_than_its_columns(tmp_path):
    rows = [row("INV-1", purchase_order_number="P" * 31)]
    with pytest.raises(InvalidArgumentError, match="PO_NUMBER .* more than the 30"):
        export_ap(frame(rows), tmp_path / "o", "oracle-ap")
    with pytest.raises(InvalidArgumentError, match="VENDOR_SITE_CODE"):
        export_ap(frame([row("INV-1")]), tmp_path / "o", "oracle-ap", supplier_site="S" * 241)
    with pytest.raises(InvalidArgumentError, match="directory"):
        (tmp_path / "file").write_text("x")
        export_ap(frame([row("INV-1")]), tmp_path / "file", "oracle-ap")


# --------------------------------------------------------------------------------------------
# netsuite
# --------------------------------------------------------------------------------------------


def test_netsuite_vendor_bills_and_vendor_credits(tmp_path):
    out = tmp_path / "bills.csv"
    result = export_ap(frame(month_rows()), out, "netsuite", mapping={"*": {"gl_account": "6150"}})
    header, rows = read(out)
    assert header == NETSUITE_COLUMNS == [
        "External ID", "Vendor", "Reference No.", "Date", "Due Date", "Currency", "Memo",
        "Account", "Amount", "Line Memo", "Tax Code",
    ]  # fmt: skip
    bills = {}
    for r in rows:  # one row per expense line; every line carries the bill's unique id
        for required in ("External ID", "Vendor", "Date", "Currency", "Account", "Amount"):
            assert r[required], required
        datetime.strptime(r["Date"], "%m/%d/%Y")
        assert r["Account"] == "6150"
        bills.setdefault(r["External ID"], []).append(r)
    assert set(bills) == {"INV-USD", "INV-JPY", "INV-KWD"}
    for ext, lines in bills.items():
        total, tax, currency = EXPECTED[ext]
        assert sum(plain_amount(ln["Amount"], currency) for ln in lines) == total
        assert len(lines) == (2 if tax else 1)  # the tax is its own expense line
        assert lines[0]["Reference No."] == ext
    credit_path = tmp_path / "bills-vendor-credits.csv"
    assert result.files == [out, credit_path]
    cheader, credits = read(credit_path)
    assert cheader == NETSUITE_CREDIT_COLUMNS
    assert {c["External ID"] for c in credits} == {"CM-USD"}
    assert {c["Original Bill"] for c in credits} == {"INV-USD"}
    # a vendor credit's amounts are positive: the record itself is the credit
    assert sum(plain_amount(c["Amount"], "USD") for c in credits) == -EXPECTED["CM-USD"][0]
    ledger = read_ledger(tmp_path / "ap-ledger.csv").set_index("invoice_id")
    assert ledger.loc["CM-USD", "file"] == "bills-vendor-credits.csv"
    assert ledger.loc["INV-USD", "file"] == "bills.csv"


# --------------------------------------------------------------------------------------------
# xero
# --------------------------------------------------------------------------------------------


def _xero_invoices(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["*InvoiceNumber"], []).append(r)
    return out


def test_xero_bills_columns_required_fields_and_totals(tmp_path):
    out = tmp_path / "bills.csv"
    export_ap(frame(month_rows()), out, "xero")
    header, rows = read(out)
    assert header == XERO_COLUMNS
    required = [c for c in header if c.startswith("*")]
    assert required == ["*ContactName", "*InvoiceNumber", "*InvoiceDate", "*DueDate",
                        "*Quantity", "*UnitAmount", "*AccountCode", "*TaxType"]  # fmt: skip
    for r in rows:
        assert all(r[c] for c in required)
        datetime.strptime(r["*InvoiceDate"], "%d/%m/%Y")
        datetime.strptime(r["*DueDate"], "%d/%m/%Y")
        assert r["*Quantity"] == "1" and r["*TaxType"] == "Tax Exempt"  # the documented default
    invoices = _xero_invoices(rows)
    assert set(invoices) == set(EXPECTED)
    for number, lines in invoices.items():
        total, _tax, currency = EXPECTED[number]
        assert {ln["Currency"] for ln in lines} == {currency}
        line_sum = sum(D(ln["*Quantity"]) * plain_amount(ln["*UnitAmount"], currency)
                       for ln in lines)  # fmt: skip
        assert line_sum == total
    assert {ln["Reference"] for ln in invoices["CM-USD"]} == {"credits INV-USD"}


def test_xero_splits_more_than_500_invoices_into_numbered_files(tmp_path):
    n = 1201
    rows = [row(f"INV-{i:05d}", base=amounts("10.00", taxes="1.00")) for i in range(n)]
    result = export_ap(frame(rows), tmp_path / "bills.csv", "xero")
    assert [p.name for p in result.files] == ["bills-1.csv", "bills-2.csv", "bills-3.csv"]
    assert not (tmp_path / "bills.csv").exists()
    seen: dict[str, str] = {}
    for path in result.files:
        header, lines = read(path)
        assert header == XERO_COLUMNS
        invoices = _xero_invoices(lines)
        assert len(invoices) <= 500  # Xero's limit per file
        for number, its_lines in invoices.items():
            assert number not in seen  # an invoice's lines all sit in one file
            seen[number] = path.name
            assert len(its_lines) == 2
    assert len(seen) == n
    ledger = read_ledger(tmp_path / "ap-ledger.csv").set_index("invoice_id")
    assert all(ledger.loc[k, "file"] == v for k, v in seen.items())


# --------------------------------------------------------------------------------------------
# Every format: header-only when nothing is new, the same invoices
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name", "header"),
    [
        ("generic", "ap.csv", GENERIC_COLUMNS),
        ("oracle-ap", "oracle", ORACLE_INVOICE_COLUMNS),
        ("netsuite", "bills.csv", NETSUITE_COLUMNS),
        ("xero", "bills.csv", XERO_COLUMNS),
    ],
)
def test_every_format_exports_the_payable_invoices_once(tmp_path, fmt, name, header):
    df = frame(month_rows())
    first = export_ap(df, tmp_path / name, fmt)
    assert set(first.exported["invoice_id"]) == set(EXPECTED)
    again = export_ap(df, tmp_path / name, fmt)
    assert again.status == "nothing-new"
    main = again.files[0]
    assert main.read_text(encoding="utf-8").splitlines() == [",".join(header)]
