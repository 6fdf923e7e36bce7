"""invoicekit._money: exact amounts, half-up to the minor unit, the table and the chart formats."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

from invoicekit import _money
from invoicekit._money import format_compact, format_money, minor_unit, minor_units, quantize

D = Decimal


@pytest.mark.parametrize(
    ("currency", "digits"),
    [("USD", 2), ("EUR", 2), ("INR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3),
     ("CLF", 4), ("jpy", 0), ("XYZ", 2)],
)  # fmt: skip
def test_minor_units_follow_iso_4217(currency, digits):
    assert minor_units(currency) == digits
    assert minor_unit(currency) == D(1).scaleb(-digits)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.125", "USD", "0.13"),  # half-up, as booked: never half-even's 0.12
        ("0.135", "USD", "0.14"),
        ("-0.125", "USD", "-0.13"),  # half away from zero for credits too
        ("0.124999", "USD", "0.12"),
        ("2.5", "JPY", "3"),
        ("-2.5", "JPY", "-3"),
        ("0.0005", "KWD", "0.001"),
    ],
)
def test_quantize_rounds_half_up_to_the_minor_unit(amount, currency, expected):
    got = quantize(D(amount), currency)
    assert str(got) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (D("0.125"), "USD", "0.13"),
        (D("0.115"), "USD", "0.12"),  # half-even would give 0.12 too; 0.125 is the telling case
        (D("1234567.891"), "EUR", "1,234,567.89"),
        (D("-1234.5"), "EUR", "-1,234.50"),
        (D("162341340.5"), "JPY", "162,341,341"),  # JPY has no decimals
        (D("1E+3"), "USD", "1,000.00"),  # exponent form is shown in full
        (D("12"), "USD", "12.00"),
        ("12.345", "USD", "12.35"),  # a decimal string
        (12, "USD", "12.00"),
        (D("0.0005"), "KWD", "0.001"),
        (D("1.5"), None, "1.5"),  # no currency: the exact value
    ],
)
def test_format_money(amount, currency, expected):
    assert format_money(amount, currency) == expected


def test_format_money_with_the_currency_code():
    assert format_money(D("-1234.5"), "EUR", code=True) == "-1,234.50 EUR"
    assert format_money(D("5"), None, code=True) == "5"


@pytest.mark.parametrize("amount", [D("-0.001"), D("-0.004"), D("-0"), D("-0.00")])
def test_format_money_never_shows_negative_zero(amount):
    assert format_money(amount, "USD") == "0.00"
    assert format_money(D("-0.4"), "JPY") == "0"


@pytest.mark.parametrize("amount", [None, D("NaN"), float("nan")])
def test_format_money_shows_a_dash_for_missing(amount):
    # a NaN float (what an object column holds for missing) is missing, not money as float
    assert format_money(amount, "USD") == "–"
    assert format_compact(amount, "USD") == "–"


def test_format_money_of_a_missing_arrow_decimal():
    s = pd.Series([D("0.125"), None], dtype=pd.ArrowDtype(pa.decimal128(38, 10)))
    assert [format_money(v, "USD") for v in s] == ["0.13", "–"]


def test_format_compact_of_pandas_na():
    assert format_compact(pd.NA, "USD") == "–"


def test_money_from_an_arrow_decimal_column_is_exact():
    s = pd.Series([D("0.125"), D("-0.125")], dtype=pd.ArrowDtype(_money.MONEY_TYPE))
    assert [format_money(v, "USD") for v in s] == ["0.13", "-0.13"]
    assert _money.MONEY_TYPE == pa.decimal128(38, 10)
    assert _money.RATE_TYPE == pa.decimal128(38, 12)


def test_floats_are_refused():
    with pytest.raises(TypeError, match="float"):
        format_money(0.1, "USD")
    with pytest.raises(TypeError, match="float"):
        format_compact(0.1, "USD")
    with pytest.raises(TypeError, match="float"):
        _money.to_decimal(0.1)


def test_to_decimal_is_exact():
    assert str(_money.to_decimal("1.10")) == "1.10"
    assert _money.to_decimal("") is None and _money.to_decimal(None) is None
    with pytest.raises(ValueError, match="not a decimal amount: 'abc'"):
        _money.to_decimal("abc")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (D("1943210.77"), "USD", "1.9M USD"),
        (D("162341340"), "JPY", "162M JPY"),
        (D("-45210"), "EUR", "-45k EUR"),
        (D("12.50"), "USD", "12.5 USD"),
        (D("0.10"), "USD", "0.1 USD"),
        (D("100"), "USD", "100 USD"),
        (D("0"), "USD", "0 USD"),
        (D("1250"), "USD", "1.3k USD"),  # half-up: 1.25k -> 1.3k
        (D("1.25E+6"), "USD", "1.3M USD"),
        (D("15000"), "USD", "15k USD"),
        (D("999499"), "USD", "999k USD"),
        (D("999500"), "USD", "1M USD"),  # rounds up into the next scale, not "1000k"
        (D("999960"), "USD", "1M USD"),
        (D("999.6E+9"), "USD", "1T USD"),
        (D("3.2E+12"), "USD", "3.2T USD"),
        (D("0.5"), "JPY", "1 JPY"),
        (D("12.345"), None, "12.345"),
    ],
)
def test_format_compact(amount, currency, expected):
    assert format_compact(amount, currency) == expected


def test_format_compact_digits():
    assert format_compact(D("1943210.77"), "USD", digits=3) == "1.94M USD"
    assert format_compact(D("162341340"), "JPY", digits=1) == "162M JPY"  # integer part stays


def test_format_compact_never_shows_negative_zero():
    assert format_compact(D("-0.001"), "USD") == "0 USD"


def test_format_compact_rounds_into_the_k_scale():
    assert format_compact(D("999.995"), "USD") == "1k USD"


def test_importing_money_does_not_import_pyarrow():
    code = "import sys, invoicekit._money as m; m.format_money(1, 'USD'); print('pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
