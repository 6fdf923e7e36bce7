"""Exact money: decimal types and ISO 4217 minor units. Never floats."""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from invoicekit._na import is_missing

# The Arrow types are made on first use (PEP 562): the sandbox and the CLI use only the
# Decimal helpers below and should not pay for importing pyarrow.
#: MONEY_TYPE — Arrow type of every money column: 38 digits, 10 after the point.
#: RATE_TYPE — Arrow type of exchange rates: 38 digits, 12 after the point.
_ARROW_TYPES = {"MONEY_TYPE": (38, 10), "RATE_TYPE": (38, 12)}


def __getattr__(name: str) -> Any:
    if name in _ARROW_TYPES:
        import pyarrow as pa

        value = pa.decimal128(*_ARROW_TYPES[name])
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ISO 4217 minor units for currencies that differ from 2; everything else has 2.
_MINOR_UNITS = {
    "BHD": 3,
    "BIF": 0,
    "CLF": 4,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "UYW": 4,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}


def minor_units(currency: str) -> int:
    """Digits after the decimal point of ``currency`` (ISO 4217; 2 when not listed)."""
    return _MINOR_UNITS.get(str(currency).upper(), 2)


@functools.lru_cache(maxsize=512)
def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``: ``Decimal('0.01')`` for USD, ``Decimal('1')`` for JPY."""
    return Decimal(1).scaleb(-minor_units(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` half-up to ``currency``'s minor unit."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def to_decimal(value: object) -> Decimal | None:
    """Parse a decimal string exactly; ``None``/empty gives ``None``; floats are refused."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        raise TypeError("money must not travel as float; pass a decimal string")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc


def format_money(amount: Any, currency: str | None = None, *, code: bool = False) -> str:
    """An exact amount as booked: half-up to ``currency``'s minor unit, thousands separated.

    The one formatter of every table, finding, report and CLI line (charts label with
    :func:`format_compact`). ``None``/NA gives ``"–"``; a float is refused.

    Examples
    --------
    >>> format_money(Decimal("0.125"), "USD"), format_money(Decimal("-1234.5"), "EUR", code=True)
    ('0.13', '-1,234.50 EUR')
    >>> format_money(Decimal("162341340.5"), "JPY")
    '162,341,341'
    """
    if is_missing(amount):
        return "–"
    if isinstance(amount, float):
        raise TypeError("money must not travel as float; pass a Decimal or a decimal string")
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    if currency:
        value = quantize(value, currency)
    text = f"{value:,f}"
    if text.startswith("-") and value == 0:
        text = text[1:]
    return f"{text} {currency}" if code and currency else text


_COMPACT = ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"),
            (Decimal(10) ** 3, "k"))  # fmt: skip


def compact_scale(amount: Decimal) -> tuple[Decimal, str]:
    """The scale and suffix a compact figure of ``amount`` uses: ``(Decimal(10**6), "M")``.

    Examples
    --------
    >>> compact_scale(Decimal("-45210")), compact_scale(Decimal("12.5"))
    ((Decimal('1000'), 'k'), (Decimal('1'), ''))
    """
    mag = abs(amount)
    for scale, suffix in _COMPACT:
        if mag >= scale:
            return scale, suffix
    return Decimal(1), ""


def format_compact(amount: Any, currency: str | None = None, *, digits: int = 2) -> str:
    """A short figure for chart axes and labels: ``1.9M USD``, ``162M JPY``, ``-45k EUR``.

    ``digits`` significant digits (at least the integer part), rounded half-up; amounts below
    a thousand keep the currency's minor unit trimmed of zeros.

    Examples
    --------
    >>> format_compact(Decimal("1943210.77"), "USD"), format_compact(Decimal("162341340"), "JPY")
    ('1.9M USD', '162M JPY')
    >>> format_compact(Decimal("-45210"), "EUR"), format_compact(Decimal("12.50"), "USD")
    ('-45k EUR', '12.5 USD')
    """
    if is_missing(amount):
        return "–"
    if isinstance(amount, float):
        raise TypeError("money must not travel as float; pass a Decimal or a decimal string")
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    mag = abs(value)
    if currency:
        mag = quantize(mag, currency)  # 999.995 USD is 1,000.00: 1k USD
    sign = "-" if value < 0 and mag != 0 else ""
    for scale, suffix in _COMPACT:
        if mag >= scale:
            scaled = mag / scale
            places = max(0, digits - len(str(int(scaled))))
            text = f"{scaled.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
            if "." in text:  # 2.0M reads 2M
                text = text.rstrip("0").rstrip(".")
            if text.startswith("1000") and suffix != "T":  # 999.96k rounds up to the next scale
                i = [s for _, s in _COMPACT].index(suffix)
                text, suffix = "1", _COMPACT[i - 1][1]
            break
    else:
        text, suffix = f"{mag:f}", ""
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    out = f"{sign}{text}{suffix}"
    return f"{out} {currency}" if currency else out
