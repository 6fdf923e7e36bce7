"""ListInvoiceSummaries and GetInvoicePDF request checks, filtering and opaque pagination.

botocore validates only required members, types and minimums; everything else (ranges, enums,
patterns, the time-filter rules of the service) is checked here and answered as AWS does: a
``ValidationException`` with ``reason`` and a ``fieldList`` naming each field.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from invoicekit.sandbox._wire import ServiceError, validation_error

#: Page size when the request has no MaxResults (the model's maximum, as many AWS list APIs do).
DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 100
#: A NextToken older than this is answered with ``reason=expiredNextToken``.
NEXT_TOKEN_LIFETIME_S = 24 * 3600
#: ReceiverRole data starts here (service documentation); earlier periods are refused.
RECEIVER_ROLE_FLOOR = datetime(2025, 6, 1, tzinfo=UTC)
#: With ReceiverRole a TimeInterval may span up to five years.
RECEIVER_ROLE_MAX_DAYS = 5 * 365 + 2

RESOURCE_TYPES = ("ACCOUNT_ID", "INVOICE_ID")
RECEIVER_ROLES = ("SELLER", "RESELLER", "BUYER")
_MAX_STRING = 1024
_ACCOUNT_ID = re.compile(r"\d{12}")


def _ser(message: str) -> ServiceError:
    return ServiceError("SerializationException", message, 400)


def _expect(value, types, where: str):
    """Type check of one member: a wrong JSON type cannot be deserialized (as in AWS)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, types):
        want = {dict: "structure", str: "string", int: "integer"}.get(types, "number")
        if isinstance(types, tuple):
            want = "timestamp (epoch seconds)"
        raise _ser(f"Cannot deserialize '{where}': expected a {want}")
    return value


def _epoch(value, where: str) -> float | None:
    value = _expect(value, (int, float), where)
    if value is None:
        return None
    if value != value or abs(value) > 32503680000:  # NaN or beyond year 3000
        raise _ser(f"Cannot deserialize '{where}': timestamp out of range")
    return float(value)


def _string_checks(value: str, name: str, errors: list, *, no_newline: bool = False) -> None:
    if len(value) > _MAX_STRING:
        errors.append((name, "Member must have length less than or equal to 1024"))
    elif no_newline and ("\n" in value or "\r" in value):
        errors.append((name, "Member must satisfy regular expression pattern: .*"))


@dataclass(frozen=True)
class Query:
    """A validated ListInvoiceSummaries request."""

    resource_type: str
    value: str
    start: float | None
    end: float | None
    period: tuple[int, int] | None
    entity: str | None
    role: str | None
    max_results: int
    next_token: str | None

    def key(self, account_id: str | None) -> bytes:
        """What a NextToken is bound to: the query (without page size) and the caller."""
        doc = [
            self.resource_type,
            self.value,
            self.start,
            self.end,
            self.period,
            self.entity,
            self.role,
            account_id,
        ]
        return json.dumps(doc).encode()


def parse_list_request(body: dict) -> Query:
    """Validate a ListInvoiceSummaries request body.

    Raises
    ------
    ServiceError
        ``SerializationException`` for wrong JSON types, ``ValidationException`` with
        ``reason=fieldValidationFailed`` and a ``fieldList`` for everything else.
    """
    errors: list[tuple[str, str]] = []
    selector = _expect(body.get("Selector"), dict, "Selector")
    filt = _expect(body.get("Filter"), dict, "Filter") or {}
    max_results = _expect(body.get("MaxResults"), int, "MaxResults")
    token = _expect(body.get("NextToken"), str, "NextToken")

    rtype = value = None
    if selector is None:
        errors.append(("Selector", "Member must not be null"))
    else:
        rtype = _expect(selector.get("ResourceType"), str, "Selector.ResourceType")
        value = _expect(selector.get("Value"), str, "Selector.Value")
        if rtype is None:
            errors.append(("Selector.ResourceType", "Member must not be null"))
        elif rtype not in RESOURCE_TYPES:
            errors.append(
                (
                    "Selector.ResourceType",
                    f"Member must satisfy enum value set: [{', '.join(RESOURCE_TYPES)}]",
                )
            )
        if value is None:
            errors.append(("Selector.Value", "Member must not be null"))
        else:
            _string_checks(value, "Selector.Value", errors, no_newline=True)
            if (
                rtype == "ACCOUNT_ID"
                and len(value) <= _MAX_STRING
                and not _ACCOUNT_ID.fullmatch(value)
            ):
                errors.append(
                    ("Selector.Value", "An ACCOUNT_ID selector needs a 12-digit AWS account id")
                )
            if rtype == "INVOICE_ID" and value == "":
                errors.append(
                    ("Selector.Value", "Member must have length greater than or equal to 1")
                )

    if max_results is not None and not 1 <= max_results <= MAX_RESULTS_LIMIT:
        bound = "greater than or equal to 1" if max_results < 1 else "less than or equal to 100"
        errors.append(("MaxResults", f"Member must have value {bound}"))
    if token is not None and token == "":
        errors.append(("NextToken", "Member must have length greater than or equal to 1"))

    start = end = None
    interval = _expect(filt.get("TimeInterval"), dict, "Filter.TimeInterval")
    if interval is not None:
        start = _epoch(interval.get("StartDate"), "Filter.TimeInterval.StartDate")
        end = _epoch(interval.get("EndDate"), "Filter.TimeInterval.EndDate")
        if start is None:
            errors.append(("Filter.TimeInterval.StartDate", "Member must not be null"))
        if end is None:
            errors.append(("Filter.TimeInterval.EndDate", "Member must not be null"))
    period = None
    billing = _expect(filt.get("BillingPeriod"), dict, "Filter.BillingPeriod")
    if billing is not None:
        month = _expect(billing.get("Month"), int, "Filter.BillingPeriod.Month")
        year = _expect(billing.get("Year"), int, "Filter.BillingPeriod.Year")
        if month is None:
            errors.append(("Filter.BillingPeriod.Month", "Member must not be null"))
        elif not 1 <= month <= 12:
            bound = "greater than or equal to 1" if month < 1 else "less than or equal to 12"
            errors.append(("Filter.BillingPeriod.Month", f"Member must have value {bound}"))
        if year is None:
            errors.append(("Filter.BillingPeriod.Year", "Member must not be null"))
        elif not 2005 <= year <= 2050:
            bound = "greater than or equal to 2005" if year < 2005 else "less than or equal to 2050"
            errors.append(("Filter.BillingPeriod.Year", f"Member must have value {bound}"))
        if month is not None and year is not None:
            period = (year, month)
    entity = _expect(filt.get("InvoicingEntity"), str, "Filter.InvoicingEntity")
    if entity is not None:
        _string_checks(entity, "Filter.InvoicingEntity", errors)
    role = _expect(filt.get("ReceiverRole"), str, "Filter.ReceiverRole")
    if role is not None and role not in RECEIVER_ROLES:
        errors.append(
            (
                "Filter.ReceiverRole",
                f"Member must satisfy enum value set: [{', '.join(RECEIVER_ROLES)}]",
            )
        )
    if errors:
        raise validation_error(errors)

    # Rules of the service (beyond the model's constraints).
    if rtype == "ACCOUNT_ID" and interval is None and billing is None:
        raise validation_error([("Filter", "BillingPeriod and TimePeriod cannot both be null")])
    if interval is not None:
        if end <= start:
            raise validation_error(
                [("Filter.TimeInterval.EndDate", "EndDate must be after StartDate")]
            )
        start_dt = datetime.fromtimestamp(start, UTC)
        days = (end - start) / 86400.0
        if role is None:
            month_days = calendar.monthrange(start_dt.year, start_dt.month)[1]
            if days > month_days:
                raise validation_error(
                    [
                        (
                            "Filter.TimeInterval",
                            f"TimeInterval can span at most one month ({month_days} days from "
                            "StartDate) unless ReceiverRole is set",
                        )
                    ]
                )
        else:
            if start_dt < RECEIVER_ROLE_FLOOR:
                raise validation_error(
                    [
                        (
                            "Filter.TimeInterval.StartDate",
                            "With ReceiverRole, data is available starting 2025-06-01",
                        )
                    ]
                )
            if days > RECEIVER_ROLE_MAX_DAYS:
                raise validation_error(
                    [
                        (
                            "Filter.TimeInterval",
                            "With ReceiverRole, TimeInterval spans at most 5 years",
                        )
                    ]
                )
    if role is not None and period is not None and period < (2025, 6):
        raise validation_error(
            [
                (
                    "Filter.BillingPeriod",
                    "With ReceiverRole, data is available starting 2025-06-01",
                )
            ]
        )
    return Query(
        resource_type=rtype,
        value=value,
        start=start,
        end=end,
        period=period,
        entity=entity,
        role=role,
        max_results=max_results or DEFAULT_MAX_RESULTS,
        next_token=token,
    )


def parse_pdf_request(body: dict) -> str:
    """Validate a GetInvoicePDF request body and return its InvoiceId."""
    invoice_id = _expect(body.get("InvoiceId"), str, "InvoiceId")
    if invoice_id is None:
        raise validation_error([("InvoiceId", "Member must not be null")])
    errors: list = []
    _string_checks(invoice_id, "InvoiceId", errors, no_newline=True)
    if not errors and invoice_id == "":
        errors.append(("InvoiceId", "Member must have length greater than or equal to 1"))
    if errors:
        raise validation_error(errors)
    return invoice_id


@dataclass(frozen=True)
class _Entry:
    account_id: str
    invoice_id: str
    issued: float
    period: tuple[int, int]
    entity: str | None
    role: str | None
    fragment: bytes


class InvoiceIndex:
    """The organization's invoices with their JSON precomputed, so a 100-item page is a join."""

    def __init__(self, invoices, secret: bytes) -> None:
        self._secret = secret
        self.by_account: dict[str, list[_Entry]] = {}
        self.by_id: dict[str, list[_Entry]] = {}
        for inv in invoices:
            bp = inv.get("BillingPeriod") or {}
            entry = _Entry(
                account_id=inv.get("AccountId", ""),
                invoice_id=inv.get("InvoiceId", ""),
                issued=float(inv.get("IssuedDate", 0.0)),
                period=(int(bp.get("Year", 0)), int(bp.get("Month", 0))),
                entity=(inv.get("Entity") or {}).get("InvoicingEntity"),
                role=inv.get("ReceiverRole"),
                fragment=json.dumps(inv, separators=(",", ":")).encode(),
            )
            self.by_account.setdefault(entry.account_id, []).append(entry)
            self.by_id.setdefault(entry.invoice_id, []).append(entry)

    # -- pagination ---------------------------------------------------------------------------
    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]

    def make_token(self, offset: int, key: bytes) -> str:
        qhash = hashlib.sha256(key).hexdigest()[:16]
        payload = f"v1:{offset}:{int(time.time())}:{qhash}".encode()
        return base64.urlsafe_b64encode(payload + b"|" + self._sign(payload)).decode()

    @staticmethod
    def invalid() -> ServiceError:
        """The answer to a NextToken that was not issued for the request."""
        return ServiceError(
            "ValidationException",
            "The NextToken is invalid for this request. Start again without a NextToken.",
            extra={
                "reason": "invalidNextToken",
                "fieldList": [{"name": "NextToken", "message": "Invalid NextToken"}],
            },
        )

    def read_token(self, token: str, key: bytes) -> int:
        """Offset of a NextToken issued for this query, or a ValidationException."""
        invalid = self.invalid()
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
            payload, sig = raw[:-17], raw[-16:]
            if raw[-17:-16] != b"|" or not hmac.compare_digest(sig, self._sign(payload)):
                raise invalid
            version, offset, issued, qhash = payload.decode().split(":")
            if version != "v1" or qhash != hashlib.sha256(key).hexdigest()[:16]:
                raise invalid
            offset_i, issued_i = int(offset), int(issued)
        except ServiceError:
            raise
        except (ValueError, UnicodeError):
            raise invalid from None
        if time.time() - issued_i > NEXT_TOKEN_LIFETIME_S:
            raise ServiceError(
                "ValidationException",
                "The NextToken has expired. Start again without a NextToken.",
                extra={
                    "reason": "expiredNextToken",
                    "fieldList": [{"name": "NextToken", "message": "Expired NextToken"}],
                },
            )
        return offset_i

    # -- queries ------------------------------------------------------------------------------
    def select(self, q: Query) -> list[_Entry]:
        """The entries a validated query selects (access is checked by the caller)."""
        if q.resource_type == "ACCOUNT_ID":
            entries = self.by_account.get(q.value, [])
        else:
            entries = self.by_id.get(q.value, [])
        out = []
        for e in entries:
            if q.start is not None and not q.start <= e.issued < q.end:
                continue
            if q.period is not None and e.period != q.period:
                continue
            if q.entity is not None and e.entity != q.entity:
                continue
            if q.role is not None and e.role != q.role:
                continue
            out.append(e)
        return out

    def page(self, entries: list[_Entry], q: Query, key: bytes) -> bytes:
        """One page of results as the response body bytes."""
        offset = self.read_token(q.next_token, key) if q.next_token is not None else 0
        if offset < 0 or offset > len(entries):
            raise ServiceError(
                "ValidationException",
                "The NextToken is invalid for this request. Start again without a NextToken.",
                extra={
                    "reason": "invalidNextToken",
                    "fieldList": [{"name": "NextToken", "message": "Invalid NextToken"}],
                },
            )
        chunk = entries[offset : offset + q.max_results]
        body = b'{"InvoiceSummaries":[' + b",".join(e.fragment for e in chunk) + b"]"
        nxt = offset + len(chunk)
        if nxt < len(entries):
            body += b',"NextToken":' + json.dumps(self.make_token(nxt, key)).encode()
        return body + b"}"
