"""Exact money: decimal types and ISO 4217 minor units. Never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

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
