"""Request validation driven by the botocore ``invoicing`` service model.

botocore checks only required members, types and minimums on the client side; a server must check
the rest: maximum lengths and sizes, ranges, enums and patterns. :func:`validate` walks an
operation's input shape and answers as the service does: a wrong JSON type is a
``SerializationException``; any other broken constraint is a ``ValidationException`` with
``reason=fieldValidationFailed`` and one ``fieldList`` entry per field (``Rule.LinkedAccounts[2]``
names a list item). Patterns are matched whole (``fullmatch``); the model's one Java-only pattern
(``InvoiceUnitName``: letters, digits, separators, ``-`` and ``_``, no leading or trailing space) is
checked by hand. Messages never repeat a value (some members are sensitive).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata

from invoicekit.sandbox._wire import ServiceError, validation_error

__all__ = ["model", "validate", "operation_names"]


@functools.lru_cache(maxsize=1)
def model():
    """The botocore service model of ``invoicing`` (loaded once)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("invoicing")


def operation_names() -> tuple[str, ...]:
    """Every operation of the model, sorted."""
    return tuple(sorted(model().operation_names))


def _ser(where: str, want: str) -> ServiceError:
    return ServiceError(
        "SerializationException", f"Cannot deserialize '{where}': expected {want}", 400
    )


def _name_ok(value: str) -> bool:
    """``(?! )[\\p{L}\\p{N}\\p{Z}-_]*(?<! )`` without the third-party ``regex`` module."""
    if value.startswith(" ") or value.endswith(" "):
        return False
    return all(c in "-_" or unicodedata.category(c)[0] in "LNZ" for c in value)


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str):
    if "\\p{" in pattern:
        return _name_ok
    rx = re.compile(pattern)
    return lambda v: rx.fullmatch(v) is not None


def _check(shape, value, where: str, errors: list[tuple[str, str]]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            raise _ser(where or "request", "a structure")
        for req in shape.required_members:
            if value.get(req) is None:
                errors.append((f"{where}.{req}" if where else req, "Member must not be null"))
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], f"{where}.{name}" if where else name, errors)
        return
    if kind == "list":
        if not isinstance(value, list):
            raise _ser(where, "a list")
        if "min" in meta and len(value) < meta["min"]:
            errors.append(
                (where, f"Member must have length greater than or equal to {meta['min']}")
            )
        if "max" in meta and len(value) > meta["max"]:
            errors.append((where, f"Member must have length less than or equal to {meta['max']}"))
        for i, item in enumerate(value):
            if item is None:
                errors.append((f"{where}[{i}]", "Member must not be null"))
            else:
                _check(shape.member, item, f"{where}[{i}]", errors)
        return
    if kind == "string":
        if not isinstance(value, str):
            raise _ser(where, "a string")
        if "min" in meta and len(value) < meta["min"]:
            errors.append(
                (where, f"Member must have length greater than or equal to {meta['min']}")
            )
            return
        if "max" in meta and len(value) > meta["max"]:
            errors.append((where, f"Member must have length less than or equal to {meta['max']}"))
            return
        enum = shape.enum
        if enum and value not in enum:
            errors.append((where, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
        elif "pattern" in meta and not _compiled(meta["pattern"])(value):
            errors.append(
                (where, f"Member must satisfy regular expression pattern: {meta['pattern']}")
            )
        return
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _ser(where, "an integer")
        if "min" in meta and value < meta["min"]:
            errors.append((where, f"Member must have value greater than or equal to {meta['min']}"))
        if "max" in meta and value > meta["max"]:
            errors.append((where, f"Member must have value less than or equal to {meta['max']}"))
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _ser(where, "a boolean")
        return
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _ser(where, "a timestamp (epoch seconds)")
        if not math.isfinite(value) or abs(value) > 32503680000:
            raise _ser(where, "a timestamp (epoch seconds) between years 1000 and 3000")
        return


def validate(operation: str, body: dict) -> dict:
    """Check ``body`` against ``operation``'s input shape; returns ``body`` unchanged.

    Raises
    ------
    ServiceError
        ``SerializationException`` (wrong JSON type) or ``ValidationException``
        (``fieldValidationFailed`` with a ``fieldList``).

    Examples
    --------
    >>> validate("GetInvoiceUnit", {"InvoiceUnitArn": "arn:aws:invoicing::100000000001:invoice-unit/ab12cd34"})
    {'InvoiceUnitArn': 'arn:aws:invoicing::100000000001:invoice-unit/ab12cd34'}
    >>> try:
    ...     validate("ListInvoiceUnits", {"MaxResults": 501})
    ... except ServiceError as err:
    ...     err.extra["fieldList"]
    [{'name': 'MaxResults', 'message': 'Member must have value less than or equal to 500'}]
    """
    shape = model().operation_model(operation).input_shape
    errors: list[tuple[str, str]] = []
    _check(shape, body, "", errors)
    if errors:
        raise validation_error(errors)
    return body
