"""The column contract: raw InvoiceSummary records → typed frame, long form, CSV and parquet.

The records below are written the way ListInvoiceSummaries returns them (on the wire: epoch
seconds, decimal strings); botocore's own parser turns them into what boto3 users hold
(local-time datetimes). Expected values are the input strings as ``Decimal``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
import zoneinfo
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from invoicekit import schema
from invoicekit.errors import InvalidArgumentError

# The contract list, typed out from docs/design.md (not derived from the code under test).
CONTRACT_COLUMNS = [
    "account_id", "account_name", "invoice_id", "invoice_type", "bill_type",
    "invoice_frequency", "billing_period", "issued_date", "due_date", "invoicing_entity",
    "billing_entity", "receiver_role", "original_invoice_id", "commercial_invoice_id",
    "purchase_order_number", "einvoice_delivery_status", "tax_authority_status",
    "bill_source_account", "bill_source_accounts_count",
    "base_currency", "base_total", "base_total_before_tax", "base_subtotal", "base_discounts",
    "base_taxes", "base_fees", "base_fx_rate", "base_fx_source",
    "tax_currency", "tax_total", "tax_total_before_tax", "tax_subtotal", "tax_discounts",
    "tax_taxes", "tax_fees", "tax_fx_rate", "tax_fx_source",
    "payment_currency", "payment_total", "payment_total_before_tax", "payment_subtotal",
    "payment_discounts", "payment_taxes", "payment_fees", "payment_fx_rate", "payment_fx_source",
]  # fmt: skip

MONEY = pd.ArrowDtype(pa.decimal128(38, 10))
RATE = pd.ArrowDtype(pa.decimal128(38, 12))
STRING = pd.ArrowDtype(pa.string())


def amount(currency, total, before_tax, subtotal, discounts, taxes, fees, fx=None):
    """An InvoiceCurrencyAmount as the API sends it (breakdown lists included)."""
    out = {
        "TotalAmount": total,
        "TotalAmountBeforeTax": before_tax,
        "CurrencyCode": currency,
        "AmountBreakdown": {
            "SubTotalAmount": subtotal,
            "Discounts": {
                "TotalAmount": discounts,
                "Breakdown": [{"Description": "Enterprise Discount Program", "Amount": discounts}],
            },
            "Taxes": {
                "TotalAmount": taxes,
                "Breakdown": [{"Description": "VAT", "Amount": taxes, "Rate": "0.19"}],
            },
            "Fees": {"TotalAmount": fees, "Breakdown": []},
        },
    }
    if fx:
        out["CurrencyExchangeDetails"] = {
            "SourceCurrencyCode": fx[0],
            "TargetCurrencyCode": currency,
            "Rate": fx[1],
        }
    return out


# Feb 2 2025 09:30:12.345 UTC, Mar 4 2025 09:30:12.345 UTC
ISSUED = 1738488612.345
DUE = 1741080612.345

USD_INVOICE = {
    "AccountId": "111111111111",
    "InvoiceId": "EUINGB25-123456",
    "IssuedDate": ISSUED,
    "DueDate": DUE,
    "BillSourceAccounts": ["111111111111", "111111111112"],
    "BillSourceAccountsTotalCount": 14,
    "ReceiverRole": "BUYER",
    "Entity": {"InvoicingEntity": "Amazon Web Services, Inc.", "BillingEntity": "AWS"},
    "BillingPeriod": {"Month": 1, "Year": 2025},
    "InvoiceFrequency": "RECURRING",
    "BillType": "ANNIVERSARY",
    "InvoiceType": "INVOICE",
    "PurchaseOrderNumber": "PO-7781",
    "BaseCurrencyAmount": amount("USD", "844.92", "710.00", "720.00", "-10.00", "134.92", "0.00"),
    "PaymentCurrencyAmount": amount(
        "USD", "844.92", "710.00", "720.00", "-10.00", "134.92", "0.00"
    ),
}

EUR_CONVERTED = {
    "AccountId": "222222222222",
    "InvoiceId": "EUINDE25-654321",
    "IssuedDate": ISSUED,
    "DueDate": DUE,
    "BillSourceAccountsTotalCount": 3,
    "ReceiverRole": "BUYER",
    "Entity": {"InvoicingEntity": "Amazon Web Services EMEA SARL", "BillingEntity": "AWS"},
    "BillingPeriod": {"Month": 1, "Year": 2025},
    "InvoiceFrequency": "RECURRING",
    "BillType": "ANNIVERSARY",
    "InvoiceType": "INVOICE",
    "EinvoiceDeliveryStatus": "DELIVERED",
    "BaseCurrencyAmount": amount(
        "USD", "336532.54", "282800.45", "301117.50", "-18317.05", "53732.09", "0.00"
    ),
    "TaxCurrencyAmount": amount(
        "EUR",
        "321143.58",
        "269868.55",
        "287348.00",
        "-17479.45",
        "51275.03",
        "0.00",
        fx=("USD", "0.954272"),
    ),
    "PaymentCurrencyAmount": amount(
        "EUR",
        "321650.40",
        "270294.45",
        "287801.48",
        "-17507.03",
        "51355.95",
        "0.00",
        fx=("USD", "0.955778"),
    ),
}

JPY_INVOICE = {
    "AccountId": "333333333333",
    "InvoiceId": "JPIN25-000042",
    "IssuedDate": ISSUED,
    "DueDate": DUE,
    "Entity": {"InvoicingEntity": "Amazon Web Services Japan G.K.", "BillingEntity": "AWS"},
    "BillingPeriod": {"Month": 1, "Year": 2025},
    "InvoiceType": "INVOICE",
    "BaseCurrencyAmount": amount("USD", "1100.00", "1000.00", "1000.00", "0.00", "100.00", "0"),
    "PaymentCurrencyAmount": amount(
        "JPY", "171600", "156000", "156000", "0", "15600", "0", fx=("USD", "156.000000000001")
    ),
}

CREDIT_MEMO = {
    "AccountId": "111111111111",
    "InvoiceId": "EUCMGB25-000777",
    "IssuedDate": ISSUED + 86400,
    "DueDate": ISSUED + 86400,
    "Entity": {"InvoicingEntity": "Amazon Web Services, Inc.", "BillingEntity": "AWS"},
    "BillingPeriod": {"Month": 1, "Year": 2025},
    "InvoiceFrequency": "ONE_TIME",
    "BillType": "REFUND",
    "InvoiceType": "CREDIT_MEMO",
    "OriginalInvoiceId": "EUINGB25-123456",
    "BaseCurrencyAmount": amount("USD", "-12.34", "-10.00", "-10.00", "0.00", "-2.34", "0.00"),
}

MARKETPLACE = {
    "AccountId": "111111111111",
    "InvoiceId": "MKT25-000123",
    "IssuedDate": ISSUED,
    "DueDate": DUE,
    "Entity": {"InvoicingEntity": "Amazon Web Services, Inc.", "BillingEntity": "AWS_MARKETPLACE"},
    "BillingPeriod": {"Month": 1, "Year": 2025},
    "InvoiceFrequency": "ONE_TIME",
    "BillType": "PURCHASE",
    "InvoiceType": "INVOICE",
    "ReceiverRole": "BUYER",
    "BaseCurrencyAmount": amount("USD", "4999.00", "4999.00", "4999.00", "0.00", "0.00", "0.00"),
}

TAX_INVOICE = {
    "AccountId": "444444444444",
    "InvoiceId": "INTX25-009911",
    "IssuedDate": ISSUED,
    "DueDate": DUE,
    "Entity": {"InvoicingEntity": "Amazon Web Services India Private Limited"},
    "BillingPeriod": {"Month": 1, "Year": 2025},
    "InvoiceType": "INVOICE",
    "CommercialInvoiceId": "INCOM25-009910",
    "TaxAuthorityStatus": "CANCELLED",
    "TaxCurrencyAmount": amount(
        "INR", "83420.18", "70695.07", "70695.07", "0.00", "12725.11", "0.00", fx=("USD", "83.42")
    ),
}

MINIMAL = {"AccountId": "555555555555", "InvoiceId": "MIN-1"}

FUTURE_FIELDS = {
    **copy.deepcopy(USD_INVOICE),
    "InvoiceId": "EUINGB25-999999",
    "CarbonFootprint": {"Kg": "12.5"},  # a member a newer API might add
    "BaseCurrencyAmount": {
        **amount("USD", "1.00", "1.00", "1.00", "0.00", "0.00", "0.00"),
        "RoundingAdjustment": "0.00",
    },
}

RECORDS = [
    USD_INVOICE,
    EUR_CONVERTED,
    JPY_INVOICE,
    CREDIT_MEMO,
    MARKETPLACE,
    TAX_INVOICE,
    MINIMAL,
    FUTURE_FIELDS,
]
NAMES = {"111111111111": "Retail EU", "222222222222": 'Zürich Ödön 東京, "Payments"'}


def utc(epoch: float) -> pd.Timestamp:
    return pd.Timestamp(round(epoch * 1_000_000), unit="us", tz="UTC")


def botocore_parsed(records: list[dict]) -> list[dict]:
    """The records as boto3 hands them out: botocore's JSON parser, local-time datetimes."""
    import botocore.parsers
    import botocore.session

    op = (
        botocore.session.get_session()
        .get_service_model("invoicing")
        .operation_model("ListInvoiceSummaries")
    )
    body = json.dumps({"InvoiceSummaries": records}).encode()
    parsed = botocore.parsers.create_parser("json").parse(
        {"body": body, "headers": {}, "status_code": 200}, op.output_shape
    )
    return parsed["InvoiceSummaries"]


@pytest.fixture
def frame() -> pd.DataFrame:
    return schema.to_frame(RECORDS, account_names=NAMES)


@pytest.fixture
def new_york_local_time():
    """Run botocore's parser as on an analyst's laptop in New York (tzlocal != UTC)."""
    old = time.tzname
    import os

    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()
    assert time.tzname == old


# ------------------------------------------------------------------------------------------------


def test_columns_are_exactly_the_contract() -> None:
    assert schema.COLUMNS == CONTRACT_COLUMNS
    assert list(schema.DTYPES) == CONTRACT_COLUMNS
    assert schema.LONG_COLUMNS == [
        "invoice_id", "account_id", "billing_period", "invoice_type",
        "view", "component", "currency", "amount",
    ]  # fmt: skip


def test_frame_has_contract_columns_and_dtypes(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == CONTRACT_COLUMNS
    assert len(frame) == len(RECORDS)
    for col in CONTRACT_COLUMNS:
        dtype = frame[col].dtype
        if col.endswith("_fx_rate"):
            assert dtype == RATE, col
        elif col.split("_", 1)[1] in ("total", "total_before_tax", "subtotal", "discounts",
                                      "taxes", "fees") and col.split("_", 1)[0] in (
            "base", "tax", "payment"
        ):  # fmt: skip
            assert dtype == MONEY, col
        elif col in ("issued_date", "due_date"):
            assert dtype == pd.DatetimeTZDtype("ns", "UTC"), col
        elif col == "billing_period":
            assert dtype == pd.PeriodDtype("M")
        elif col == "bill_source_accounts_count":
            assert dtype == pd.Int64Dtype()
        else:
            assert dtype == STRING, col
    assert not any(frame[c].dtype == "float64" or frame[c].dtype == object for c in frame)


def test_usd_invoice_values_are_exact(frame: pd.DataFrame) -> None:
    row = frame.iloc[0]
    assert row["account_id"] == "111111111111"
    assert row["account_name"] == "Retail EU"
    assert row["invoice_id"] == "EUINGB25-123456"
    assert row["billing_period"] == pd.Period("2025-01", "M")
    assert row["issued_date"] == pd.Timestamp("2025-02-02T09:30:12.345Z")
    assert row["due_date"] == utc(DUE)
    assert row["invoicing_entity"] == "Amazon Web Services, Inc."
    assert row["billing_entity"] == "AWS"
    assert row["receiver_role"] == "BUYER"
    assert row["purchase_order_number"] == "PO-7781"
    assert row["bill_source_accounts_count"] == 14  # the total count, not the list length
    expected = {
        "total": "844.92", "total_before_tax": "710.00", "subtotal": "720.00",
        "discounts": "-10.00", "taxes": "134.92", "fees": "0.00",
    }  # fmt: skip
    for comp, text in expected.items():
        assert row[f"base_{comp}"] == Decimal(text)
        assert row[f"payment_{comp}"] == Decimal(text)
        assert pd.isna(row[f"tax_{comp}"])
    assert row["base_currency"] == "USD"
    assert pd.isna(row["base_fx_rate"]) and pd.isna(row["base_fx_source"])
    assert pd.isna(row["tax_currency"])


def test_converted_views_carry_rate_and_source(frame: pd.DataFrame) -> None:
    row = frame.iloc[1]
    assert row["account_name"] == NAMES["222222222222"]
    assert (row["tax_currency"], row["payment_currency"]) == ("EUR", "EUR")
    assert row["tax_fx_rate"] == Decimal("0.954272")
    assert row["payment_fx_rate"] == Decimal("0.955778")
    assert (row["tax_fx_source"], row["payment_fx_source"]) == ("USD", "USD")
    assert row["payment_total"] == Decimal("321650.40")
    assert row["tax_discounts"] == Decimal("-17479.45")
    assert row["einvoice_delivery_status"] == "DELIVERED"
    # The contract's arithmetic holds exactly on the parsed decimals.
    for v in ("base", "tax", "payment"):
        assert row[f"{v}_total"] == row[f"{v}_total_before_tax"] + row[f"{v}_taxes"]
        assert row[f"{v}_total_before_tax"] == (
            row[f"{v}_subtotal"] + row[f"{v}_discounts"] + row[f"{v}_fees"]
        )


def test_jpy_credit_memo_marketplace_and_tax_invoice(frame: pd.DataFrame) -> None:
    jpy, memo, mkt, tax = (frame.iloc[i] for i in (2, 3, 4, 5))
    assert jpy["payment_currency"] == "JPY"
    assert jpy["payment_total"] == Decimal("171600")
    assert jpy["payment_fx_rate"] == Decimal("156.000000000001")  # 12 places kept
    assert pd.isna(jpy["account_name"])  # not in the mapping
    assert memo["invoice_type"] == "CREDIT_MEMO"
    assert memo["bill_type"] == "REFUND"
    assert memo["original_invoice_id"] == "EUINGB25-123456"
    assert memo["base_total"] == Decimal("-12.34")
    assert memo["issued_date"] == utc(ISSUED + 86400)
    assert mkt["billing_entity"] == "AWS_MARKETPLACE"
    assert (mkt["invoice_frequency"], mkt["bill_type"]) == ("ONE_TIME", "PURCHASE")
    assert tax["commercial_invoice_id"] == "INCOM25-009910"
    assert tax["tax_authority_status"] == "CANCELLED"
    assert tax["tax_currency"] == "INR" and tax["tax_total"] == Decimal("83420.18")
    assert pd.isna(tax["base_total"]) and pd.isna(tax["billing_entity"])


def test_missing_optional_fields_become_nulls(frame: pd.DataFrame) -> None:
    row = frame.iloc[6]
    assert (row["account_id"], row["invoice_id"]) == ("555555555555", "MIN-1")
    others = [c for c in CONTRACT_COLUMNS if c not in ("account_id", "invoice_id")]
    assert all(pd.isna(row[c]) for c in others)


def test_unknown_future_fields_are_ignored(frame: pd.DataFrame) -> None:
    row = frame.iloc[7]
    assert row["invoice_id"] == "EUINGB25-999999"
    assert row["base_total"] == Decimal("1.00")
    assert list(frame.columns) == CONTRACT_COLUMNS


def test_botocore_parsed_records_in_a_local_time_zone_give_the_same_frame(
    new_york_local_time,
) -> None:
    parsed = botocore_parsed(RECORDS)
    issued = parsed[0]["IssuedDate"]
    assert isinstance(issued, dt.datetime) and issued.utcoffset() == dt.timedelta(hours=-5)
    from_boto = schema.to_frame(parsed, account_names=NAMES)
    from_wire = schema.to_frame(RECORDS, account_names=NAMES)
    pd.testing.assert_frame_equal(from_boto, from_wire)
    assert from_boto.loc[0, "issued_date"] == pd.Timestamp("2025-02-02T09:30:12.345Z")


def test_datetimes_in_any_zone_are_normalised_to_utc() -> None:
    tokyo = dt.datetime(2025, 2, 3, 9, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Tokyo"))
    naive_utc = dt.datetime(2025, 2, 3, 0, 0)
    df = schema.to_frame(
        [
            {"InvoiceId": "A", "IssuedDate": tokyo, "DueDate": "2025-02-03T01:00:00+01:00"},
            {"InvoiceId": "B", "IssuedDate": naive_utc, "DueDate": 1738540800},
        ]
    )
    midnight = pd.Timestamp("2025-02-03T00:00:00Z")
    assert list(df["issued_date"]) == [midnight, midnight]
    assert list(df["due_date"]) == [midnight, midnight]
    assert str(df["issued_date"].dt.tz) == "UTC"


def test_account_names_fill_account_name() -> None:
    df = schema.to_frame([USD_INVOICE, EUR_CONVERTED])
    assert df["account_name"].isna().all()
    df = schema.to_frame(iter([USD_INVOICE]), account_names={"111111111111": "Retail EU"})
    assert df.loc[0, "account_name"] == "Retail EU"


def test_empty_input_gives_empty_typed_frame(frame: pd.DataFrame) -> None:
    empty = schema.to_frame([])
    assert list(empty.columns) == CONTRACT_COLUMNS
    assert len(empty) == 0
    pd.testing.assert_series_equal(empty.dtypes, frame.dtypes)
    long = schema.long_form(empty)
    assert list(long.columns) == schema.LONG_COLUMNS and len(long) == 0
    assert long["amount"].dtype == MONEY


# ------------------------------------------------------------------------------------------------
# Exactness: never round silently, never go through float.
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["0.0000000001", "-0.0000000001", "9999999999999999999999999999.9999999999", "1E+3", "12"],
)
def test_amounts_up_to_the_scale_are_kept_exactly(text: str) -> None:
    df = schema.to_frame([{"InvoiceId": "X", "BaseCurrencyAmount": {"TotalAmount": text}}])
    assert df.loc[0, "base_total"] == Decimal(text)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("0.00000000001", "more than 10 digits after the decimal point"),
        ("844.925000000001", "more than 10 digits after the decimal point"),
        ("99999999999999999999999999999.5", "too large"),
        ("12,50", "not a decimal amount"),
        ("NaN", "not a decimal amount"),
        (844.92, "never a float"),
    ],
)
def test_amounts_that_cannot_be_kept_exactly_are_refused(value: object, fragment: str) -> None:
    record = {
        "AccountId": "111111111111",
        "InvoiceId": "EUINGB25-1",
        "BaseCurrencyAmount": {"CurrencyCode": "USD", "TotalAmount": "1.00"},
        "PaymentCurrencyAmount": {"TotalAmount": value},
    }
    with pytest.raises(InvalidArgumentError) as info:
        schema.to_frame([USD_INVOICE, record])
    msg = str(info.value)
    assert fragment in msg
    assert "EUINGB25-1" in msg and "PaymentCurrencyAmount.TotalAmount" in msg


def test_rate_with_more_than_12_places_is_refused() -> None:
    record = copy.deepcopy(EUR_CONVERTED)
    record["TaxCurrencyAmount"]["CurrencyExchangeDetails"]["Rate"] = "0.9542720000001"
    with pytest.raises(InvalidArgumentError, match="more than 12 digits"):
        schema.to_frame([record])


def test_bad_billing_month_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="BillingPeriod"):
        schema.to_frame([{"InvoiceId": "X", "BillingPeriod": {"Month": 13, "Year": 2025}}])


# ------------------------------------------------------------------------------------------------
# Long form.
# ------------------------------------------------------------------------------------------------


def test_long_form_rows(frame: pd.DataFrame) -> None:
    long = schema.long_form(frame)
    assert list(long.columns) == schema.LONG_COLUMNS
    assert long["amount"].dtype == MONEY
    assert long["billing_period"].dtype == pd.PeriodDtype("M")
    for col in ("invoice_id", "account_id", "invoice_type", "view", "component", "currency"):
        assert long[col].dtype == STRING, col
    assert long["amount"].notna().all()
    money_cells = sum(int(frame[f"{v}_{c}"].notna().sum())
                      for v in schema.VIEWS for c in schema.COMPONENTS)  # fmt: skip
    assert len(long) == money_cells

    usd = long[long["invoice_id"] == "EUINGB25-123456"]
    assert list(usd["view"]) == ["base"] * 6 + ["payment"] * 6
    assert list(usd["component"]) == [
        "total", "total_before_tax", "subtotal", "discounts", "taxes", "fees",
    ] * 2  # fmt: skip
    assert list(usd["amount"][:6]) == [Decimal(t) for t in
                                       ("844.92", "710.00", "720.00", "-10.00", "134.92", "0.00")]  # fmt: skip
    assert set(usd["account_id"]) == {"111111111111"}
    assert set(usd["billing_period"]) == {pd.Period("2025-01", "M")}

    eur = long[(long["invoice_id"] == "EUINDE25-654321") & (long["component"] == "total")]
    assert dict(zip(eur["view"], eur["currency"], strict=True)) == {
        "base": "USD", "tax": "EUR", "payment": "EUR",
    }  # fmt: skip
    assert dict(zip(eur["view"], eur["amount"], strict=True))["payment"] == Decimal("321650.40")

    assert "MIN-1" not in set(long["invoice_id"])  # only nulls: no rows
    # totals per currency agree between the wide and the long form
    wide = frame.groupby("payment_currency")["payment_total"].sum()
    pay = long[(long["view"] == "payment") & (long["component"] == "total")]
    assert pay.groupby("currency")["amount"].sum().to_dict() == wide.to_dict()


# ------------------------------------------------------------------------------------------------
# CSV and parquet round trips.
# ------------------------------------------------------------------------------------------------


def tricky_frame() -> pd.DataFrame:
    tiny = copy.deepcopy(USD_INVOICE)
    tiny["InvoiceId"] = "TINY-1"
    tiny["PurchaseOrderNumber"] = "NA"  # a real PO number, not a null
    tiny["BaseCurrencyAmount"]["AmountBreakdown"]["Fees"]["TotalAmount"] = "0.0000000001"
    tiny["PaymentCurrencyAmount"]["TotalAmount"] = "-0.0000001"
    multi_line = copy.deepcopy(MARKETPLACE)
    multi_line["PurchaseOrderNumber"] = 'line one\nline "two", three'
    return schema.to_frame([*RECORDS, tiny, multi_line], account_names=NAMES)


def test_csv_round_trip_is_exact(tmp_path: Path) -> None:
    df = tricky_frame()
    path = tmp_path / "invoices.csv"
    schema.to_csv(df, path)
    back = schema.from_csv(path)
    pd.testing.assert_frame_equal(back, df)

    text = path.read_bytes().decode("utf-8")  # UTF-8, names intact
    assert "Zürich Ödön 東京" in text
    header = text.splitlines()[0].replace('"', "").split(",")
    assert header == CONTRACT_COLUMNS
    assert "844.92" in text and "-10" in text and "0.0000000001" in text and "-0.0000001" in text
    assert "E-" not in text and "e-" not in text  # no exponent notation anywhere
    assert "2025-02-02T09:30:12.345" in text and "Z" in text
    assert '"2025-01"' in text or ",2025-01," in text
    assert back.loc[len(df) - 2, "purchase_order_number"] == "NA"


def test_csv_writes_plain_decimal_strings(tmp_path: Path) -> None:
    df = schema.to_frame([USD_INVOICE, CREDIT_MEMO])
    path = tmp_path / "x.csv"
    schema.to_csv(df, path)
    import csv

    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert rows[0]["base_total"] == "844.92"
    assert rows[0]["base_discounts"] == "-10"
    assert rows[1]["base_total"] == "-12.34"
    assert rows[0]["issued_date"] == "2025-02-02T09:30:12.345Z"
    assert rows[1]["issued_date"].startswith("2025-02-03T09:30:12.345")
    assert rows[0]["billing_period"] == "2025-01"
    assert rows[0]["tax_total"] == ""  # null
    for r in rows:
        for col in schema.MONEY_COLUMNS:
            if r[col]:
                assert Decimal(r[col]) == df.loc[rows.index(r), col]


def test_csv_round_trip_of_whole_seconds_and_empty(tmp_path: Path) -> None:
    df = schema.to_frame([{**USD_INVOICE, "IssuedDate": 1738540800, "DueDate": 1741132800}])
    schema.to_csv(df, tmp_path / "a.csv")
    assert "2025-02-03T00:00:00Z" in (tmp_path / "a.csv").read_text()
    pd.testing.assert_frame_equal(schema.from_csv(tmp_path / "a.csv"), df)
    empty = schema.to_frame([])
    schema.to_csv(empty, tmp_path / "e.csv")
    pd.testing.assert_frame_equal(schema.from_csv(tmp_path / "e.csv"), empty)


def test_parquet_round_trip_keeps_every_dtype(tmp_path: Path) -> None:
    df = tricky_frame()
    path = tmp_path / "invoices.parquet"
    schema.to_parquet(df, path)
    back = schema.from_parquet(path)
    pd.testing.assert_frame_equal(back, df)
    stored = pq.read_schema(path)
    assert stored.field("billing_period").type == pa.string()
    assert stored.field("base_total").type == pa.decimal128(38, 10)
    assert pq.read_table(path, columns=["billing_period"]).column(0)[0].as_py() == "2025-01"
    empty = schema.to_frame([])
    schema.to_parquet(empty, tmp_path / "e.parquet")
    pd.testing.assert_frame_equal(schema.from_parquet(tmp_path / "e.parquet"), empty)


def test_explicit_nulls_and_read_only_mappings_are_accepted() -> None:
    from types import MappingProxyType

    record = {
        "AccountId": "111111111111",
        "InvoiceId": "NULLS-1",
        "Entity": None,
        "BillingPeriod": None,
        "BaseCurrencyAmount": {"CurrencyCode": "USD", "TotalAmount": "5.00",
                               "AmountBreakdown": None, "CurrencyExchangeDetails": None},
    }  # fmt: skip
    frozen = MappingProxyType(
        {"InvoiceId": "RO-1", "BaseCurrencyAmount": MappingProxyType({"TotalAmount": "7.50"})}
    )
    df = schema.to_frame([record, frozen])
    assert list(df["invoice_id"]) == ["NULLS-1", "RO-1"]
    assert list(df["base_total"]) == [Decimal("5.00"), Decimal("7.50")]
    assert df.loc[0, ["invoicing_entity", "base_subtotal", "base_fx_rate"]].isna().all()
    assert pd.isna(df.loc[0, "billing_period"])


def test_records_must_be_mappings() -> None:
    with pytest.raises(InvalidArgumentError, match="must be a dict"):
        schema.to_frame([USD_INVOICE, ["not", "a", "record"]])


def test_long_form_of_a_filtered_concatenated_frame(frame: pd.DataFrame) -> None:
    # loader and store results are concatenations (chunked arrow columns) and get filtered
    part = pd.concat([frame.iloc[5:], frame.iloc[:3]])
    part = part[part["invoice_id"] != "MIN-1"]
    long = schema.long_form(part)
    everything = schema.long_form(frame)
    ids = list(part["invoice_id"])
    expected = pd.concat(
        [everything[everything["invoice_id"] == i] for i in ids], ignore_index=True
    )
    pd.testing.assert_frame_equal(long, expected)


def test_integer_amounts_take_the_careful_path_and_give_the_same_frame(
    frame: pd.DataFrame,
) -> None:
    # An int where the API sends a string sends every record through the Python path
    # (slower, cleans what it can); the frame must be identical to the fast path's.
    records = copy.deepcopy(RECORDS)
    records[2]["PaymentCurrencyAmount"]["TotalAmount"] = 171600
    records[2]["PaymentCurrencyAmount"]["AmountBreakdown"]["Taxes"]["TotalAmount"] = Decimal(
        "15600"
    )
    pd.testing.assert_frame_equal(schema.to_frame(records, account_names=NAMES), frame)


def test_docstring_examples_run() -> None:
    import doctest

    result = doctest.testmod(schema, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10 and result.failed == 0


def test_views_and_their_labels_are_defined_once() -> None:
    assert schema.VIEWS == ("base", "tax", "payment")
    assert schema.VIEW_LABELS == {
        "base": "base currency",
        "tax": "tax currency",
        "payment": "payment currency",
    }
    assert list(schema.VIEW_LABELS) == list(schema.VIEWS) == list(schema.VIEW_FIELDS)
    assert schema.COMPONENTS == (
        "total", "total_before_tax", "subtotal", "discounts", "taxes", "fees",
    )  # fmt: skip


@pytest.mark.parametrize("view", ["base", "tax", "payment"])
def test_check_view_returns_a_known_view(view: str) -> None:
    assert schema.check_view(view) == view


@pytest.mark.parametrize(
    ("view", "name", "message"),
    [
        ("local", "view", "view='local' is not a currency view: use one of 'base', 'tax', "
                          "'payment' (e.g. view='payment' for the currency AP pays in)"),
        ("Base", "view", "view='Base' is not a currency view"),
        (None, "view", "view=None is not a currency view"),
        ("local", "--view", "--view local is not a currency view: use one of base, tax, "
                            "payment (e.g. --view payment for the currency AP pays in)"),
    ],
)  # fmt: skip
def test_check_view_names_the_argument_and_the_fix(view: object, name: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        schema.check_view(view, name)
    assert str(exc.value).startswith(message)
    assert isinstance(exc.value, ValueError)


# -- bill_source_account -------------------------------------------------------------------------


def test_bill_source_account_is_the_listed_account_and_null_when_none_is_listed(
    frame: pd.DataFrame,
) -> None:
    by_id = frame.set_index("invoice_id")["bill_source_account"]
    assert by_id["EUINGB25-123456"] == USD_INVOICE["BillSourceAccounts"][0]
    assert pd.isna(by_id["EUINDE25-654321"])  # a count but no list
    assert pd.isna(by_id["MIN-1"])
    one = schema.to_frame([{**MINIMAL, "BillSourceAccounts": ["123456789012"]},
                           {**MINIMAL, "BillSourceAccounts": []}])  # fmt: skip
    assert one["bill_source_account"].tolist()[0] == "123456789012"
    assert pd.isna(one["bill_source_account"].tolist()[1])
    assert one["bill_source_accounts_count"].tolist() == [1, 0]


def test_bill_source_account_through_botocore_and_both_file_formats(tmp_path: Path) -> None:
    df = schema.to_frame(botocore_parsed([USD_INVOICE, MINIMAL]))
    assert df["bill_source_account"].tolist()[0] == "111111111111"
    schema.to_csv(df, tmp_path / "a.csv")
    schema.to_parquet(df, tmp_path / "a.parquet")
    pd.testing.assert_frame_equal(schema.from_csv(tmp_path / "a.csv"), df)
    pd.testing.assert_frame_equal(schema.from_parquet(tmp_path / "a.parquet"), df)


def _without_bill_source_account(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["bill_source_account"])


def test_files_written_before_bill_source_account_load_with_it_null(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    old = _without_bill_source_account(frame)
    schema.to_csv(old, tmp_path / "old.csv")
    schema.to_parquet(old, tmp_path / "old.parquet")
    for back in (
        schema.from_csv(tmp_path / "old.csv"),
        schema.from_parquet(tmp_path / "old.parquet"),
    ):
        assert list(back.columns) == CONTRACT_COLUMNS
        assert back["bill_source_account"].dtype == STRING
        assert back["bill_source_account"].isna().all()
        pd.testing.assert_frame_equal(_without_bill_source_account(back), old)


def test_an_old_file_with_extra_columns_gains_the_column_before_the_count(tmp_path: Path) -> None:
    old = _without_bill_source_account(schema.to_frame([USD_INVOICE]))
    old["store_window"] = "2025-01"
    schema.to_parquet(old, tmp_path / "old.parquet")
    back = schema.from_parquet(tmp_path / "old.parquet")
    cols = list(back.columns)
    assert cols.index("bill_source_account") + 1 == cols.index("bill_source_accounts_count")
    assert cols[-1] == "store_window"


def test_a_table_that_is_not_an_invoice_frame_is_left_alone(tmp_path: Path) -> None:
    pd.DataFrame({"account_id": ["111111111111"], "business_unit": ["Retail"]}).to_csv(
        tmp_path / "other.csv", index=False
    )
    assert list(schema.from_csv(tmp_path / "other.csv").columns) == ["account_id", "business_unit"]
