"""The one test for a missing value, without importing pandas.

A value is missing when it is ``None``, ``pandas.NA``, ``pandas.NaT`` or a NaN (float or
Decimal). Tables, money formatting, file names, findings and change lists all ask here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["is_missing"]


def is_missing(value: Any) -> bool:
    """Whether ``value`` is None, pd.NA, pd.NaT or NaN.

    Examples
    --------
    >>> from decimal import Decimal
    >>> is_missing(None), is_missing(float("nan")), is_missing(Decimal("NaN")), is_missing("")
    (True, True, True, False)
    """
    # pd.NA first: its truth value is ambiguous, so `value != value` would raise
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # arrays and other values without one truth value
        return False
