"""The sandbox's synthetic organization: payer accounts, usage, invoices and documents.

Everything here is pure and deterministic by ``seed``: the same arguments give byte-identical
invoices (and, through :mod:`invoicekit.sandbox.documents`, byte-identical PDFs). The model is
built bottom-up so that every view agrees with every other:

1. a usage model (``line_items``: account, billing period, service, usage type, USD amount) with
   growth, seasonality (a retail Q4 peak) and a few spikes;
2. per account and billing month an ANNIVERSARY invoice whose base subtotal is the sum of that
   month's AWS line items, plus occasional Marketplace purchases and credit memos; a payer with
   invoice units gets one ANNIVERSARY invoice per unit as configured at the end of the month
   (its member accounts' line items) besides its default invoice (the accounts in no unit);
3. discounts (negative), fees and taxes computed in the base currency (USD), then the tax and
   payment views converted at the month's rate with largest-remainder rounding, so that each
   converted component is within one minor unit of ``base x rate`` and each view adds up exactly.

Money conventions (see ``docs/design.md``): discounts and credit memos are negative;
``total_before_tax = subtotal + discounts + fees``; ``total = total_before_tax + taxes``;
amounts are decimal strings with the currency's minor units (JPY has none).
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from invoicekit import clock
from invoicekit._money import minor_unit, quantize
from invoicekit.errors import InvalidArgumentError

__all__ = [
    "ENTITY_US",
    "ENTITY_EMEA",
    "ENTITY_JAPAN",
    "ENTITY_INDIA",
    "EXTERNAL_ID",
    "ROLE_NAME",
    "ANOMALY_CHECKS",
    "LATE_EVENT_CHANGES",
    "SandboxAccount",
    "MemberAccount",
    "Document",
    "Organization",
    "build_organization",
]

ENTITY_US = "Amazon Web Services, Inc."
ENTITY_EMEA = "Amazon Web Services EMEA SARL"
ENTITY_JAPAN = "Amazon Web Services Japan G.K."
ENTITY_INDIA = "Amazon Web Services India Private Limited"

#: External id every sandbox role requires (``sts:AssumeRole ExternalId``).
EXTERNAL_ID = "finops-sandbox"
#: Name of the role every sandbox payer account offers to the organization identity.
ROLE_NAME = "InvoiceReader"
#: Anomaly kind -> the reconciliation check that must find it (docs/design.md).
ANOMALY_CHECKS = {
    "missing_invoice": "completeness",
    "total_mismatch": "arithmetic_total",
    "fx_mismatch": "exchange",
    "orphan_credit_memo": "credit_memo_original",
    "duplicate_invoice_id": "duplicate_invoice",
}

#: Late event kind -> the change ``invoicekit changes`` reports for it (docs/sandbox.md).
LATE_EVENT_CHANGES = {
    "credit_memo": "added",
    "tax_cancelled": "cancelled",
    "supplemental_document": "new_document",
    "amount_restated": "changed",
    "payment_receipt": "new_document",
    "einvoice_delivered": "changed",
}

#: Days between an invoice's issue date and its due date.
PAYMENT_TERMS_DAYS = 30
BASE_CURRENCY = "USD"
_VIEW_KEYS = {
    "base": "BaseCurrencyAmount",
    "tax": "TaxCurrencyAmount",
    "payment": "PaymentCurrencyAmount",
}
_ACCOUNT_ID_BASE = 100_000_000_000
#: Days from an invoice's issue to its delivery on the e-invoicing network.
_EINVOICE_DELIVERY_DAYS = 30
#: Late events of billing month M happen from day 21 of M+1 to day 3 of M+2 (see docs).
_LATE_FIRST_DAY = 21
_LATE_LAST_DAY = 3
#: Planted late events, in the order each month draws them.
_LATE_KINDS = ("credit_memo", "tax_cancelled", "supplemental_document", "amount_restated")
#: Shares of the original subtotal a late credit memo refunds.
_LATE_SHARES = ("0.03", "0.05", "0.08")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxAccount:
    """One payer account of the sandbox organization.

    Examples
    --------
    >>> org = build_organization(accounts=2, months=1, today="2026-11-25")
    >>> org.accounts[0].account_id, org.accounts[0].name
    ('100000000001', 'Retail EU')
    """

    account_id: str
    name: str
    index: int
    access_key_id: str
    secret_access_key: str
    role_arn: str
    external_id: str
    invoicing_entity: str
    base_currency: str
    tax_currency: str
    payment_currency: str


@dataclass(frozen=True)
class Document:
    """A downloadable document: the invoice PDF itself or one supplemental document.

    ``document_type`` is ``"INVOICE"`` for the main PDF, else the model's
    ``SupplementalDocumentType`` (``PAYMENT_RECEIPT``, ``TAX_E_INVOICE``,
    ``GOVERNMENT_INVOICE``, ``SUPPLEMENT``).
    """

    document_id: str
    invoice_id: str
    account_id: str
    document_type: str


# --------------------------------------------------------------------------------------------
# Static catalogue: account profiles, taxes, services, exchange rates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    name: str
    entity: str
    tax_currency: str
    payment_currency: str
    taxes: tuple[tuple[str, str], ...]  # (description, rate as a fraction)
    region: str  # usage-type region prefix
    workload: str
    scale_usd: int  # typical monthly AWS spend
    edp_rate: str | None  # enterprise discount, a fraction
    country: str  # ISO country of the buyer (EMEA invoice numbers carry it)
    purchase_orders: bool
    marketplace: bool
    card_payer: bool  # pays by card: invoices get a PAYMENT_RECEIPT once paid
    # (currency, first period of payment_currency): paid in another currency before then
    previous_payment: tuple[str, tuple[int, int]] | None = None
    einvoicing: bool = False  # invoices delivered to a public e-invoicing network

    def payment_currency_in(self, period: tuple[int, int]) -> str:
        if self.previous_payment and period < self.previous_payment[1]:
            return self.previous_payment[0]
        return self.payment_currency


# fmt: off
_PROFILES: tuple[_Profile, ...] = (
    _Profile("Retail EU", ENTITY_EMEA, "EUR", "EUR", (("VAT DE 19%", "0.19"),), "EUC1",
             "retail", 184_000, "0.06", "DE", True, True, False),
    _Profile("Payments", ENTITY_US, "USD", "USD", (("US Sales Tax - WA", "0.1025"),), "USE1",
             "payments", 96_000, None, "US", True, False, False),
    _Profile("Data Platform", ENTITY_US, "USD", "USD", (("US Sales Tax - NY", "0.08875"),),
             "USE1", "data", 238_000, "0.08", "US", False, True, False),
    _Profile("Retail UK", ENTITY_EMEA, "GBP", "GBP", (("VAT GB 20%", "0.20"),), "EUW2",
             "retail", 121_000, "0.06", "GB", True, False, False),
    _Profile("Japan Commerce", ENTITY_JAPAN, "JPY", "JPY",
             (("Japanese Consumption Tax 10%", "0.10"),), "APN1", "retail", 64_000, None, "JP",
             False, True, True),
    _Profile("India Engineering", ENTITY_INDIA, "INR", "INR",
             (("CGST 9%", "0.09"), ("SGST 9%", "0.09")), "APS1", "general", 23_000, None, "IN",
             True, False, True),
    _Profile("Marketing Analytics", ENTITY_US, "USD", "USD", (("US Sales Tax - TX", "0.0825"),),
             "USE2", "data", 31_000, None, "US", False, True, True),
    _Profile("Machine Learning", ENTITY_US, "USD", "USD", (), "USW2", "ml", 142_000, "0.05",
             "US", False, True, False),
    _Profile("Logistics DE", ENTITY_EMEA, "EUR", "EUR", (("VAT DE 19%", "0.19"),), "EUC1",
             "general", 47_000, None, "DE", True, False, False),
    _Profile("Security", ENTITY_US, "USD", "USD", (("US Sales Tax - MA", "0.0625"),), "USE1",
             "payments", 18_000, None, "US", False, True, True),
    _Profile("Retail France", ENTITY_EMEA, "EUR", "EUR", (("VAT FR 20%", "0.20"),), "EUW3",
             "retail", 58_000, "0.04", "FR", False, False, False, ("USD", (2026, 1)), True),
    _Profile("Shared Services", ENTITY_EMEA, "EUR", "USD", (("VAT IE 23%", "0.23"),), "EUW1",
             "general", 39_000, None, "IE", True, False, True),
)
# fmt: on
# Names for accounts beyond the first twelve; their entity pattern cycles through _PROFILES.
_EXTRA_NAMES = (
    "Media Streaming",
    "Gaming",
    "Healthcare",
    "IoT Fleet",
    "Search",
    "Customer Support",
    "Finance Systems",
    "Mobile Apps",
    "Advertising",
    "Identity",
    "Research",
    "Edge Delivery",
)

# service, usage type (``{r}`` = region prefix), share of the workload's spend
_WORKLOADS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "retail": (
        ("Amazon Elastic Compute Cloud", "{r}-BoxUsage:m6i.2xlarge", 0.34),
        ("Amazon CloudFront", "{r}-DataTransfer-Out-Bytes", 0.12),
        ("Amazon Relational Database Service", "{r}-InstanceUsage:db.r6g.4xlarge", 0.16),
        ("Amazon DynamoDB", "{r}-ReadCapacityUnit-Hrs", 0.08),
        ("Amazon Simple Storage Service", "{r}-TimedStorage-ByteHrs", 0.09),
        ("Amazon ElastiCache", "{r}-NodeUsage:cache.r6g.xlarge", 0.05),
        ("AWS Data Transfer", "{r}-DataTransfer-Regional-Bytes", 0.06),
        ("Amazon CloudWatch", "{r}-CW:MetricMonitorUsage", 0.03),
        ("AWS Support (Business)", "Business-Support", 0.07),
    ),
    "payments": (
        ("Amazon Elastic Compute Cloud", "{r}-BoxUsage:c6i.4xlarge", 0.31),
        ("Amazon Aurora", "{r}-Aurora:ServerlessV2Usage", 0.22),
        ("Amazon DynamoDB", "{r}-WriteCapacityUnit-Hrs", 0.11),
        ("AWS Key Management Service", "{r}-KMS-Requests", 0.04),
        ("Amazon Virtual Private Cloud", "{r}-NatGateway-Hours", 0.06),
        ("Amazon CloudWatch", "{r}-CW:Requests", 0.05),
        ("AWS WAF", "{r}-WAF-Requests", 0.04),
        ("Amazon Simple Storage Service", "{r}-TimedStorage-ByteHrs", 0.07),
        ("AWS Support (Enterprise)", "Enterprise-Support", 0.10),
    ),
    "data": (
        ("Amazon Simple Storage Service", "{r}-TimedStorage-ByteHrs", 0.21),
        ("Amazon Redshift", "{r}-Node:ra3.4xlarge", 0.24),
        ("Amazon EMR", "{r}-BoxUsage:r6g.4xlarge", 0.17),
        ("AWS Glue", "{r}-ETL-DPU-Hour", 0.09),
        ("Amazon Athena", "{r}-DataScannedInTB", 0.07),
        ("Amazon Elastic Compute Cloud", "{r}-BoxUsage:m6g.2xlarge", 0.12),
        ("Amazon Kinesis", "{r}-ShardHour", 0.05),
        ("AWS Data Transfer", "{r}-DataTransfer-Out-Bytes", 0.05),
    ),
    "ml": (
        ("Amazon SageMaker", "{r}-Train:ml.p4d.24xlarge", 0.38),
        ("Amazon SageMaker", "{r}-Host:ml.g5.2xlarge", 0.14),
        ("Amazon Elastic Compute Cloud", "{r}-BoxUsage:p4d.24xlarge", 0.22),
        ("Amazon Simple Storage Service", "{r}-TimedStorage-ByteHrs", 0.12),
        ("Amazon Bedrock", "{r}-InputTokenCount", 0.09),
        ("Amazon Elastic File System", "{r}-TimedStorage-ByteHrs", 0.05),
    ),
    "general": (
        ("Amazon Elastic Compute Cloud", "{r}-BoxUsage:t3.large", 0.30),
        ("Amazon Elastic Kubernetes Service", "{r}-AmazonEKS-Hours:perCluster", 0.08),
        ("Amazon Relational Database Service", "{r}-InstanceUsage:db.m6g.large", 0.18),
        ("AWS Lambda", "{r}-Lambda-GB-Second", 0.10),
        ("Amazon Simple Storage Service", "{r}-TimedStorage-ByteHrs", 0.13),
        ("Amazon CloudWatch", "{r}-CW:MetricMonitorUsage", 0.07),
        ("Amazon Virtual Private Cloud", "{r}-NatGateway-Hours", 0.08),
        ("AWS Data Transfer", "{r}-DataTransfer-Out-Bytes", 0.06),
    ),
}

# Multiplier per calendar month (January = index 0).
_SEASONALITY = {
    "retail": (0.86, 0.84, 0.90, 0.92, 0.95, 0.94, 0.96, 0.98, 1.02, 1.12, 1.48, 1.62),
    "payments": (0.95, 0.93, 0.98, 0.98, 1.00, 1.00, 1.01, 1.01, 1.02, 1.05, 1.14, 1.22),
    "data": (1.05, 0.97, 1.02, 0.98, 0.99, 1.00, 0.96, 0.95, 1.01, 1.03, 1.02, 1.06),
    "ml": (1.00,) * 12,
    "general": (0.98, 0.97, 1.00, 1.00, 1.01, 0.99, 0.98, 0.98, 1.01, 1.02, 1.02, 1.04),
}

_MARKETPLACE_PRODUCTS = (
    ("Datadog Pro (annual subscription)", 18_000, 42_000),
    ("Snowflake Capacity (pre-purchase)", 25_000, 120_000),
    ("CrowdStrike Falcon Cloud Security", 9_000, 30_000),
    ("Confluent Cloud (annual commit)", 12_000, 60_000),
    ("MongoDB Atlas (pay as you go)", 1_500, 9_000),
    ("Palo Alto Networks VM-Series", 2_500, 14_000),
)

# USD -> currency, the anchor of each rate's monthly random walk; the rate's decimal places.
_FX_ANCHORS = {"EUR": (0.9213, 6), "GBP": (0.7891, 6), "JPY": (149.62, 4), "INR": (84.173, 4)}


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _fmt(amount: Decimal, currency: str) -> str:
    """Decimal string with the currency's minor units, never ``-0.00``."""
    q = quantize(amount, currency)
    if q == 0:
        q = abs(q)
    return format(q, "f")


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _period_str(period: tuple[int, int]) -> str:
    return f"{period[0]:04d}-{period[1]:02d}"


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    k = year * 12 + (month - 1) + n
    return k // 12, k % 12 + 1


def _parse_today(today: date | datetime | str | None) -> date:
    if today is None:  # business today: --now / INVOICEKIT_NOW, else the real UTC date
        return clock.today()
    if isinstance(today, datetime):
        return today.astimezone(UTC).date() if today.tzinfo else today.date()
    if isinstance(today, date):
        return today
    try:
        return date.fromisoformat(str(today))
    except ValueError as exc:
        raise InvalidArgumentError(
            f"today={today!r} is not a date; pass YYYY-MM-DD, e.g. today='2026-11-25'"
        ) from exc


def _rng(seed: int, *parts: object) -> random.Random:
    """An independent, reproducible stream for one part of the model."""
    return random.Random(":".join(["invoicekit-sandbox", str(seed), *map(str, parts)]))


def _digest_int(*parts: object) -> int:
    text = ":".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


def _secret(seed: int, who: str) -> str:
    raw = hashlib.sha256(f"invoicekit-sandbox-secret:{seed}:{who}".encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    n = int.from_bytes(raw, "big")
    out = []
    for _ in range(40):
        n, r = divmod(n, 64)
        out.append(alphabet[r])
    return "".join(out)


def _epoch(moment: datetime) -> float:
    """Epoch seconds with millisecond precision, as the API sends them."""
    millis = (moment - _EPOCH) // timedelta(milliseconds=1)
    return millis / 1000


def _split(target: Decimal, exact: Sequence[Decimal], unit: Decimal) -> list[Decimal]:
    """Largest-remainder rounding: amounts summing exactly to ``target``, each near ``exact``."""
    floors = [(x / unit).to_integral_value(rounding=ROUND_FLOOR) for x in exact]
    fracs = [x / unit - f for x, f in zip(exact, floors, strict=True)]
    k = int((target / unit) - sum(floors, Decimal(0)))
    n = len(exact)
    if n == 0:
        return []
    units = list(floors)
    if k >= 0:
        order = sorted(range(n), key=lambda i: (-fracs[i], i))
        for j in range(k):
            units[order[j % n]] += 1
    else:
        order = sorted(range(n), key=lambda i: (fracs[i], i))
        for j in range(-k):
            units[order[j % n]] -= 1
    return [u * unit for u in units]


# --------------------------------------------------------------------------------------------
# Currency views
# --------------------------------------------------------------------------------------------

_Item = tuple[str, Decimal, str | None]  # description, base amount (USD), rate or None


@dataclass(frozen=True)
class _Amounts:
    """An invoice's amounts in the base currency (USD), exact to the cent."""

    subtotal: Decimal
    discounts: tuple[_Item, ...] = ()
    fees: tuple[_Item, ...] = ()
    taxes: tuple[_Item, ...] = ()

    @property
    def discount_total(self) -> Decimal:
        return sum((a for _, a, _ in self.discounts), Decimal(0))

    @property
    def fee_total(self) -> Decimal:
        return sum((a for _, a, _ in self.fees), Decimal(0))

    @property
    def tax_total(self) -> Decimal:
        return sum((a for _, a, _ in self.taxes), Decimal(0))

    @property
    def before_tax(self) -> Decimal:
        return self.subtotal + self.discount_total + self.fee_total

    @property
    def total(self) -> Decimal:
        return self.before_tax + self.tax_total


def _breakdown(total: Decimal, items: Sequence[tuple[str, Decimal, str | None]], cur: str) -> dict:
    rows = []
    for desc, amount, rate in items:
        row = {"Description": desc, "Amount": _fmt(amount, cur)}
        if rate is not None:
            row["Rate"] = rate
        rows.append(row)
    return {"TotalAmount": _fmt(total, cur), "Breakdown": rows}


def _view_dict(
    cur: str,
    subtotal: Decimal,
    discounts: Sequence[tuple[str, Decimal, str | None]],
    fees: Sequence[tuple[str, Decimal, str | None]],
    taxes: Sequence[tuple[str, Decimal, str | None]],
    disc_total: Decimal,
    fee_total: Decimal,
    tax_total: Decimal,
    exchange: tuple[str, str, str] | None = None,
) -> dict:
    before_tax = subtotal + disc_total + fee_total
    view = {
        "TotalAmount": _fmt(before_tax + tax_total, cur),
        "TotalAmountBeforeTax": _fmt(before_tax, cur),
        "CurrencyCode": cur,
        "AmountBreakdown": {
            "SubTotalAmount": _fmt(subtotal, cur),
            "Discounts": _breakdown(disc_total, discounts, cur),
            "Taxes": _breakdown(tax_total, taxes, cur),
            "Fees": _breakdown(fee_total, fees, cur),
        },
    }
    if exchange is not None:
        view["CurrencyExchangeDetails"] = {
            "SourceCurrencyCode": exchange[0],
            "TargetCurrencyCode": exchange[1],
            "Rate": exchange[2],
        }
    return view


def _base_view(a: _Amounts) -> dict:
    return _view_dict(
        BASE_CURRENCY,
        a.subtotal,
        a.discounts,
        a.fees,
        a.taxes,
        a.discount_total,
        a.fee_total,
        a.tax_total,
    )


def _converted_view(a: _Amounts, cur: str, rate: str, *, apply_rate: str | None = None) -> dict:
    """``a`` converted to ``cur``; ``apply_rate`` (anomalies only) converts at another rate."""
    r = Decimal(apply_rate or rate)
    unit = minor_unit(cur)
    total = quantize(a.total * r, cur)
    before_tax = quantize(a.before_tax * r, cur)
    tax_total = total - before_tax
    sub, disc, fee = _split(
        before_tax, [a.subtotal * r, a.discount_total * r, a.fee_total * r], unit
    )

    def items(target: Decimal, base_items: Sequence[_Item]) -> list[_Item]:
        amounts = _split(target, [amt * r for _, amt, _ in base_items], unit)
        return [(d, x, rt) for (d, _, rt), x in zip(base_items, amounts, strict=True)]

    return _view_dict(
        cur,
        sub,
        items(disc, a.discounts),
        items(fee, a.fees),
        items(tax_total, a.taxes),
        disc,
        fee,
        tax_total,
        exchange=(BASE_CURRENCY, cur, rate),
    )


# --------------------------------------------------------------------------------------------
# Member accounts, invoice units and invoice profiles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberAccount:
    """One member (linked) account of a payer's organization; the payer lists itself first.

    ``attributes`` are cost-allocation-style tags (``team``, ``environment``, ``cost_center``,
    ``application``), deterministic by seed.

    Examples
    --------
    >>> org = build_organization(accounts=1, months=1, today="2026-11-25")
    >>> first = org.members["100000000001"][0]
    >>> first.account_id == first.payer_account_id == "100000000001"
    True
    >>> sorted(first.attributes)
    ['application', 'cost_center', 'environment', 'team']
    """

    account_id: str
    name: str
    payer_account_id: str
    attributes: dict[str, str] = field(hash=False)


#: Region of the invoice-unit ARNs (the service is global; its ARNs carry no region).
UNIT_ARN_PREFIX = "arn:aws:invoicing::"
#: Permanent units of a unit plan exist from this moment on (before any default range).
_UNITS_SINCE = datetime(2023, 3, 14, 9, 30, tzinfo=UTC)
#: Payer profiles (position in ``_PROFILES``) with invoice units, and their plan.
_UNIT_PLANS = {0: "retail", 2: "data"}
_MEMBER_ROLES = (
    ("Production", "production"),
    ("Staging", "staging"),
    ("Development", "development"),
    ("Analytics", "production"),
    ("Shared Tools", "production"),
    ("Sandbox", "sandbox"),
    ("Security Tooling", "production"),
    ("Batch", "production"),
    ("Edge", "production"),
    ("Disaster Recovery", "production"),
)
_TEAMS = ("platform", "checkout", "catalog", "growth", "data", "ml", "ops", "finance-it")
_APPLICATIONS = ("storefront", "fulfilment", "payments-api", "lakehouse", "search", "crm", "bi")


def _member_accounts(
    seed: int, acct: SandboxAccount, profile: _Profile, linked: Sequence[str]
) -> tuple[MemberAccount, ...]:
    """The payer (first) and its linked accounts, named and tagged from their own stream."""
    rng = _rng(seed, "members", acct.index)
    roles = list(_MEMBER_ROLES)
    rng.shuffle(roles)
    out = [
        MemberAccount(
            acct.account_id,
            acct.name,
            acct.account_id,
            {
                "team": "cloud-platform",
                "environment": "management",
                "cost_center": f"CC-{1000 + acct.index * 10}",
                "application": "billing",
            },
        )
    ]
    for k, account_id in enumerate(linked):
        if account_id == acct.account_id:
            continue
        role, env = roles[(k - 1) % len(roles)]
        cycle = (k - 1) // len(roles)
        name = f"{acct.name} {role}" + (f" {cycle + 1}" if cycle else "")
        out.append(
            MemberAccount(
                account_id,
                name,
                acct.account_id,
                {
                    "team": rng.choice(_TEAMS),
                    "environment": env,
                    "cost_center": f"CC-{1000 + acct.index * 10 + rng.randint(1, 9)}",
                    "application": rng.choice(_APPLICATIONS),
                },
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class _UnitConfig:
    """One configuration of an invoice unit (what GetInvoiceUnit shows from ``since`` on)."""

    arn: str
    name: str
    description: str
    receiver: str
    tax_inheritance_disabled: bool
    linked: tuple[str, ...]  # sorted

    def wire(self, since: datetime) -> dict:
        return {
            "InvoiceUnitArn": self.arn,
            "InvoiceReceiver": self.receiver,
            "Name": self.name,
            "Description": self.description,
            "TaxInheritanceDisabled": self.tax_inheritance_disabled,
            "Rule": {"LinkedAccounts": list(self.linked)},
            "LastModified": _epoch(since),
        }


#: One unit's history: (moment, configuration or ``None`` for its deletion), oldest first.
_History = list[tuple[datetime, "_UnitConfig | None"]]


def _unit_arn(seed: int, payer: str, key: str) -> str:
    return (
        f"{UNIT_ARN_PREFIX}{payer}:invoice-unit/{_digest_int(seed, 'unit', payer, key) % 16**8:08x}"
    )


def _unit_histories(
    seed: int, payer: SandboxAccount, plan: str, members: Sequence[MemberAccount], years: range
) -> dict[str, _History]:
    """Every unit of ``payer`` with its configurations, a function of the calendar alone.

    ``retail``: units "Storefront" and "Fulfilment" (since ``_UNITS_SINCE``); each year the
    fulfilment unit's peak-capacity account moves into Storefront on 10 October and back on
    20 January. ``data``: unit "Analytics" (since ``_UNITS_SINCE``) and a yearly "Research
    <year>" unit created on 8 June and deleted on 3 March of the next year; two accounts of the
    payer's default invoice belong to it while it exists.
    """
    ids = [m.account_id for m in members[1:]]
    n = len(ids)
    a = max(1, n // 3)
    out: dict[str, _History] = {}
    first_year = max(years.start, _UNITS_SINCE.year)
    short = payer.name
    if plan == "retail":
        storefront = ids[:a]
        fulfil = ids[a : a + 2 + max(0, (n - a - 2) // 2)]
        mover = fulfil[-1]
        s_arn = _unit_arn(seed, payer.account_id, "storefront")
        f_arn = _unit_arn(seed, payer.account_id, "fulfilment")

        def s_cfg(with_mover: bool) -> _UnitConfig:
            linked = tuple(sorted(storefront + ([mover] if with_mover else [])))
            return _UnitConfig(
                s_arn, f"{short} Storefront", "Web shop, catalogue and checkout accounts",
                storefront[0], False, linked,
            )  # fmt: skip

        def f_cfg(with_mover: bool) -> _UnitConfig:
            linked = tuple(sorted([x for x in fulfil if with_mover or x != mover]))
            return _UnitConfig(
                f_arn, f"{short} Fulfilment", "Warehouses, logistics and peak capacity",
                fulfil[0], True, linked,
            )  # fmt: skip

        s_hist: _History = [(_UNITS_SINCE, s_cfg(False))]
        f_hist: _History = [(_UNITS_SINCE + timedelta(minutes=7), f_cfg(True))]
        for y in range(first_year, years.stop):
            peak = datetime(y, 10, 10, 8, 15, tzinfo=UTC)
            back = datetime(y + 1, 1, 20, 8, 15, tzinfo=UTC)
            s_hist += [(peak, s_cfg(True)), (back, s_cfg(False))]
            f_hist += [(peak - timedelta(minutes=1), f_cfg(False)), (back, f_cfg(True))]
        out[s_arn] = s_hist
        out[f_arn] = f_hist
    elif plan == "data":
        analytics = ids[:a]
        project = ids[a : a + 2]
        x_arn = _unit_arn(seed, payer.account_id, "analytics")
        out[x_arn] = [
            (
                _UNITS_SINCE,
                _UnitConfig(
                    x_arn, f"{short} Analytics", "Lakehouse and BI accounts", analytics[0],
                    False, tuple(sorted(analytics)),
                ),
            )
        ]  # fmt: skip
        for y in range(first_year, years.stop):
            arn = _unit_arn(seed, payer.account_id, f"research-{y}")
            cfg = _UnitConfig(
                arn, f"{short} Research {y}", f"Research programme {y} (one season)",
                project[0], False, tuple(sorted(project)),
            )  # fmt: skip
            out[arn] = [
                (datetime(y, 6, 8, 10, 0, tzinfo=UTC), cfg),
                (datetime(y + 1, 3, 3, 16, 0, tzinfo=UTC), None),
            ]
    return out


def _state_at(history: _History, moment: datetime) -> tuple[datetime, _UnitConfig] | None:
    """The configuration in force at ``moment`` (``None``: not created yet, or deleted)."""
    current = None
    for since, cfg in history:
        if since > moment:
            break
        current = None if cfg is None else (since, cfg)
    return current


def _month_end(period: tuple[int, int]) -> datetime:
    """The first instant after ``period`` (its configuration "at the end of the month")."""
    y, m = _add_months(*period, 1)
    return datetime(y, m, 1, tzinfo=UTC) - timedelta(microseconds=1)


# Addresses per buyer country: (city, state or region, postal code, street).
_ADDRESSES = {
    "DE": (("Berlin", "Berlin", "10117", "Friedrichstrasse"), ("Munich", "Bavaria", "80331",
           "Kaufingerstrasse"), ("Hamburg", "Hamburg", "20095", "Moenckebergstrasse")),
    "GB": (("London", "England", "EC2V 7HH", "Gresham Street"), ("Manchester", "England",
           "M1 1AD", "Piccadilly")),
    "FR": (("Paris", "Ile-de-France", "75002", "Rue du Quatre-Septembre"), ("Lyon",
           "Auvergne-Rhone-Alpes", "69002", "Rue de la Republique")),
    "IE": (("Dublin", "Leinster", "D02 X285", "Sir John Rogerson's Quay"),),
    "JP": (("Tokyo", "Tokyo", "141-0021", "Kamiosaki"), ("Osaka", "Osaka", "530-0001",
           "Umeda")),
    "IN": (("Mumbai", "Maharashtra", "400051", "Bandra Kurla Complex"), ("Bengaluru",
           "Karnataka", "560103", "Outer Ring Road")),
    "US": (("Seattle", "WA", "98109", "Terry Avenue North"), ("New York", "NY", "10001",
           "West 34th Street"), ("Austin", "TX", "78701", "Congress Avenue"), ("Boston", "MA",
           "02110", "Atlantic Avenue")),
}  # fmt: skip
_LEGAL_SUFFIX = {"DE": "GmbH", "GB": "Ltd", "FR": "SAS", "IE": "Limited", "JP": "K.K.",
                 "IN": "Private Limited", "US": "Inc."}  # fmt: skip
_GST_STATES = {"Maharashtra": "27", "Karnataka": "29"}


def _tax_registration(rng: random.Random, country: str, state: str) -> str:
    """An entity-appropriate tax id: EU VAT, UK VAT, Japanese T-number, Indian GSTIN, US EIN."""
    digits = lambda k: "".join(str(rng.randrange(10)) for _ in range(k))  # noqa: E731
    letters = lambda k: "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(k))  # noqa: E731
    if country == "DE":
        return "DE" + digits(9)
    if country == "GB":
        return "GB" + digits(9)
    if country == "FR":
        return "FR" + digits(2) + digits(9)
    if country == "IE":
        return "IE" + digits(7) + letters(1)
    if country == "JP":
        return "T" + digits(13)
    if country == "IN":
        return f"{_GST_STATES.get(state, '27')}{letters(5)}{digits(4)}{letters(1)}1Z{digits(1)}"
    return f"{digits(2)}-{digits(7)}"


def _invoice_profile(
    seed: int, account_id: str, legal_name: str, profile: _Profile, slug: str
) -> dict:
    """BatchGetInvoiceProfile's ``Profiles`` item for one receiver account."""
    rng = _rng(seed, "invoice-profile", account_id)
    country = profile.country
    city, state, postal, street = rng.choice(_ADDRESSES.get(country, _ADDRESSES["US"]))
    company = f"{legal_name} {_LEGAL_SUFFIX.get(country, 'Inc.')}"
    return {
        "AccountId": account_id,
        "ReceiverName": company,
        "ReceiverAddress": {
            "AddressLine1": f"{rng.randint(1, 480)} {street}",
            "AddressLine2": f"Floor {rng.randint(1, 30)}",
            "City": city,
            "StateOrRegion": state,
            "CountryCode": country,
            "CompanyName": company,
            "PostalCode": postal,
        },
        "ReceiverEmail": f"ap-invoices@{slug}.example.com",
        "Issuer": profile.entity,
        "TaxRegistrationNumber": _tax_registration(rng, country, state),
    }


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _as_moment(value) -> datetime | None:
    """``as_of`` as an aware UTC datetime (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidArgumentError(f"as_of={value!r} is not a time; pass a datetime or a date")
    if isinstance(value, int | float):
        return _EPOCH + timedelta(seconds=float(value))
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        return _as_moment(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError as exc:
        raise InvalidArgumentError(
            f"as_of={value!r} is not a time; pass an ISO date or timestamp, e.g. '2026-06-30'"
        ) from exc


# --------------------------------------------------------------------------------------------
# Organization
# --------------------------------------------------------------------------------------------


class Organization:
    """The sandbox's synthetic AWS organization (see ``docs/design.md``, "Organization model").

    Build it with :func:`build_organization`. ``invoices`` holds InvoiceSummary dicts exactly as
    they travel on the wire; treat them as read-only (copy before changing one).

    Examples
    --------
    >>> org = build_organization(accounts=3, months=2, today="2026-11-25")
    >>> org.periods
    [(2026, 9), (2026, 10)]
    >>> inv = org.invoices_for("100000000002")[0]
    >>> inv["BaseCurrencyAmount"]["CurrencyCode"]
    'USD'
    """

    seed: int
    today: date
    periods: list[tuple[int, int]]
    accounts: tuple[SandboxAccount, ...]
    org_access_key_id: str
    org_secret_access_key: str
    invoices: tuple[dict, ...]
    line_items: tuple[dict, ...]
    anomalies: tuple[dict, ...]
    late_events: tuple[dict, ...]
    #: payer -> its member accounts, the payer first
    members: dict[str, tuple[MemberAccount, ...]]
    #: receiver account -> BatchGetInvoiceProfile ``Profiles`` item (payers and unit receivers)
    invoice_profiles: dict[str, dict]

    def __init__(
        self,
        *,
        seed: int,
        today: date,
        periods: list[tuple[int, int]],
        accounts: tuple[SandboxAccount, ...],
        org_access_key_id: str,
        org_secret_access_key: str,
        invoices: Iterable[dict],
        line_items: Iterable[dict],
        documents: dict[str, list[Document]],
        anomalies: Iterable[dict] = (),
        late_events: Iterable[dict] = (),
        members: dict[str, tuple[MemberAccount, ...]] | None = None,
        unit_histories: dict[str, dict[str, _History]] | None = None,
        invoice_profiles: dict[str, dict] | None = None,
        receivers: dict[str, str] | None = None,
        units_of_invoices: dict[str, str] | None = None,
    ) -> None:
        self.seed = seed
        self.today = today
        self.periods = periods
        self.accounts = accounts
        self.org_access_key_id = org_access_key_id
        self.org_secret_access_key = org_secret_access_key
        self.invoices = tuple(
            sorted(invoices, key=lambda i: (i["AccountId"], i["IssuedDate"], i["InvoiceId"]))
        )
        self.line_items = tuple(line_items)
        self.anomalies = tuple(anomalies)
        self.late_events = tuple(
            sorted(
                late_events, key=lambda e: (e["date"], e["kind"], e["account_id"], e["invoice_id"])
            )
        )
        self._accounts = {a.account_id: a for a in accounts}
        self._keys = {a.access_key_id: a for a in accounts}
        self._by_account: dict[str, list[dict]] = {a.account_id: [] for a in accounts}
        self._by_id: dict[str, list[dict]] = {}
        for inv in self.invoices:
            self._by_account.setdefault(inv["AccountId"], []).append(inv)
            self._by_id.setdefault(inv["InvoiceId"], []).append(inv)
        self._documents_for = {k: list(v) for k, v in documents.items() if k in self._by_id}
        self._documents = {d.document_id: d for docs in self._documents_for.values() for d in docs}
        self._pdf_cache: dict[str, bytes] = {}
        self.members: dict[str, tuple[MemberAccount, ...]] = dict(members or {})
        self._unit_histories = {k: dict(v) for k, v in (unit_histories or {}).items()}
        self.invoice_profiles: dict[str, dict] = dict(invoice_profiles or {})
        self._receivers = dict(receivers or {})
        self._unit_of_invoice = dict(units_of_invoices or {})
        self._member_of = {m.account_id: m for ms in self.members.values() for m in ms}

    # -- look-ups -----------------------------------------------------------------------------

    def account(self, account_id: str) -> SandboxAccount:
        """The account with ``account_id``; ``KeyError`` when unknown."""
        return self._accounts[str(account_id)]

    def account_for_key(self, access_key_id: str) -> SandboxAccount | None:
        """The account whose own access key is ``access_key_id`` (``None``: not an account key)."""
        return self._keys.get(access_key_id)

    def invoices_for(self, account_id: str) -> list[dict]:
        """Every invoice of ``account_id``, ordered by issued date then invoice id."""
        return list(self._by_account.get(str(account_id), ()))

    def invoices_by_id(self, invoice_id: str) -> list[dict]:
        """Invoices with ``invoice_id``: one, none, or two for a planted duplicate."""
        return list(self._by_id.get(invoice_id, ()))

    def documents_for(self, invoice_id: str) -> list[Document]:
        """The documents of ``invoice_id``: the invoice PDF first, then supplemental documents."""
        return list(self._documents_for.get(invoice_id, ()))

    def document(self, document_id: str) -> Document:
        """The document with ``document_id``; ``KeyError`` when unknown."""
        return self._documents[document_id]

    @property
    def documents(self) -> tuple[Document, ...]:
        """Every document, in invoice order."""
        return tuple(self._documents.values())

    # -- members, invoice units, profiles -----------------------------------------------------

    def member(self, account_id: str) -> MemberAccount:
        """The member account ``account_id`` (payers included); ``KeyError`` when unknown."""
        return self._member_of[str(account_id)]

    def unit_histories(self, payer_account_id: str) -> dict[str, list[tuple[float, dict | None]]]:
        """Every invoice unit of a payer: ARN -> [(epoch seconds, wire dict or None)], oldest first.

        ``None`` marks the unit's deletion. Only what happened before ``today`` is listed.

        Examples
        --------
        >>> org = build_organization(accounts=3, months=24, today="2026-11-25")
        >>> hist = org.unit_histories("100000000001")
        >>> len(hist)
        2
        """
        out = {}
        for arn, history in self._unit_histories.get(str(payer_account_id), {}).items():
            out[arn] = [(_epoch(t), None if c is None else c.wire(t)) for t, c in history]
        return out

    def invoice_units(self, payer_account_id: str, as_of=None) -> list[dict]:
        """The payer's invoice units as GetInvoiceUnit shows them at ``as_of`` (default: now).

        ``as_of`` is a timezone-aware ``datetime`` (naive: UTC), a ``date`` (its start) or epoch
        seconds; "now" is the end of the history (everything before ``today``). A unit deleted
        after ``as_of`` is listed as it was; one created after it is not. Ordered by name.

        Examples
        --------
        >>> org = build_organization(accounts=3, months=24, today="2026-11-25")
        >>> [u["Name"] for u in org.invoice_units("100000000001")]
        ['Retail EU Fulfilment', 'Retail EU Storefront']
        """
        moment = _as_moment(as_of)
        out = []
        for history in self._unit_histories.get(str(payer_account_id), {}).values():
            state = _state_at(history, moment) if moment is not None else None
            if moment is None and history[-1][1] is not None:
                state = history[-1]
            if state is not None:
                out.append(state[1].wire(state[0]))
        return sorted(out, key=lambda u: (u["Name"], u["InvoiceUnitArn"]))

    def units_at_month_end(self, payer_account_id: str, period: tuple[int, int]) -> list[dict]:
        """The units whose configuration at the end of ``period`` decides its invoices."""
        return self.invoice_units(payer_account_id, _month_end(period))

    def invoice_profile(self, account_id: str) -> dict:
        """The invoice profile of a member account (every receiver's is in ``invoice_profiles``).

        A member that receives no invoice gets one derived the same way (deterministic by seed),
        so that a unit created later with it as receiver has a profile. ``KeyError`` when the
        account is no member of any payer.

        Examples
        --------
        >>> org = build_organization(accounts=1, months=1, today="2026-11-25")
        >>> org.invoice_profile("100000000001")["Issuer"]
        'Amazon Web Services EMEA SARL'
        """
        account_id = str(account_id)
        found = self.invoice_profiles.get(account_id)
        if found is not None:
            return copy.deepcopy(found)
        member = self._member_of[account_id]
        payer = self.account(member.payer_account_id)
        profile, _ = _profile_for(payer.index)
        return _invoice_profile(self.seed, account_id, member.name, profile, _slug(member.name))

    def receiver_of(self, invoice_id: str) -> str | None:
        """The account an invoice is issued to (a unit's receiver, else its payer)."""
        found = self._by_id.get(invoice_id)
        if not found:
            return None
        return self._receivers.get(invoice_id, found[0]["AccountId"])

    def unit_of_invoice(self, invoice_id: str) -> str | None:
        """The ARN of the invoice unit an invoice bills (``None``: the payer's default invoice)."""
        return self._unit_of_invoice.get(invoice_id)

    # -- rendering ----------------------------------------------------------------------------

    def render_pdf(self, document_id: str) -> bytes:
        """The one-page PDF of ``document_id`` (deterministic bytes, cached).

        Examples
        --------
        >>> org = build_organization(accounts=1, months=1, today="2026-11-25")
        >>> doc = org.documents_for(org.invoices[0]["InvoiceId"])[0]
        >>> org.render_pdf(doc.document_id)[:5]
        b'%PDF-'
        """
        cached = self._pdf_cache.get(document_id)
        if cached is not None:
            return cached
        from invoicekit.sandbox.documents import render_document

        doc = self.document(document_id)
        invoice = self._by_id[doc.invoice_id][0]
        receiver = self.receiver_of(doc.invoice_id) or doc.account_id
        data = render_document(
            doc, invoice, self.account(doc.account_id), self.invoice_profiles.get(receiver)
        )
        self._pdf_cache[document_id] = data
        return data

    # -- derived views ------------------------------------------------------------------------

    def cost_and_usage(self) -> list[dict]:
        """A cost-and-usage (CUR 2.0 style) view of ``line_items``: one row per line item.

        The rows of one invoice add up to its base subtotal (``line_item_unblended_cost`` in
        USD, a decimal string), so a CUR-based report and the invoices agree to the cent.

        Examples
        --------
        >>> org = build_organization(accounts=1, months=1, today="2026-11-25")
        >>> row = org.cost_and_usage()[0]
        >>> row["bill_payer_account_id"], row["bill_billing_period_start_date"]
        ('100000000001', '2026-10-01T00:00:00Z')
        """
        return [
            {
                "bill_payer_account_id": li["account_id"],
                "line_item_usage_account_id": li["usage_account_id"],
                "bill_invoice_id": li["invoice_id"],
                "bill_billing_entity": li["billing_entity"],
                "bill_billing_period_start_date": f"{li['billing_period']}-01T00:00:00Z",
                "line_item_line_item_type": li["line_item_type"],
                "line_item_product_code": li["service"],
                "line_item_usage_type": li["usage_type"],
                "line_item_currency_code": BASE_CURRENCY,
                "line_item_unblended_cost": li["amount_usd"],
            }
            for li in self.line_items
        ]

    # -- admin --------------------------------------------------------------------------------

    def admin_view(self) -> dict:
        """JSON-able description of the organization for ``GET /_sandbox/org``.

        The credentials listed are fake: they only mean something to the sandbox.

        Examples
        --------
        >>> org = build_organization(accounts=2, months=1, today="2026-11-25")
        >>> [a["account_id"] for a in org.admin_view()["accounts"]]
        ['100000000001', '100000000002']
        """
        counts: dict[str, int] = {}
        for inv in self.invoices:
            counts[inv["AccountId"]] = counts.get(inv["AccountId"], 0) + 1
        return {
            "seed": self.seed,
            "today": self.today.isoformat(),
            "periods": [_period_str(p) for p in self.periods],
            "base_currency": BASE_CURRENCY,
            "organization": {
                "access_key_id": self.org_access_key_id,
                "secret_access_key": self.org_secret_access_key,
                "can_assume": [a.role_arn for a in self.accounts],
            },
            "accounts": [
                {
                    "account_id": a.account_id,
                    "name": a.name,
                    "index": a.index,
                    "invoicing_entity": a.invoicing_entity,
                    "base_currency": a.base_currency,
                    "tax_currency": a.tax_currency,
                    "payment_currency": a.payment_currency,
                    "access_key_id": a.access_key_id,
                    "secret_access_key": a.secret_access_key,
                    "role_arn": a.role_arn,
                    "external_id": a.external_id,
                    "invoices": counts.get(a.account_id, 0),
                    "members": [
                        {"account_id": m.account_id, "name": m.name, **m.attributes}
                        for m in self.members.get(a.account_id, ())
                    ],
                    "invoice_units": self.invoice_units(a.account_id),
                }
                for a in self.accounts
            ],
            "invoices": len(self.invoices),
            "documents": len(self._documents),
            "line_items": len(self.line_items),
            "anomalies": len(self.anomalies),
            "late_events": [dict(e) for e in self.late_events],
        }

    def __repr__(self) -> str:
        return (
            f"Organization(seed={self.seed}, accounts={len(self.accounts)}, "
            f"periods={_period_str(self.periods[0])}..{_period_str(self.periods[-1])}, "
            f"invoices={len(self.invoices)}, anomalies={len(self.anomalies)})"
        )


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def _profile_for(index: int) -> tuple[_Profile, str]:
    """Profile and display name of account ``index`` (1-based)."""
    base = _PROFILES[(index - 1) % len(_PROFILES)]
    if index <= len(_PROFILES):
        return base, base.name
    extra = index - len(_PROFILES) - 1
    name = _EXTRA_NAMES[extra % len(_EXTRA_NAMES)]
    cycle = extra // len(_EXTRA_NAMES)
    return base, name if cycle == 0 else f"{name} {cycle + 1}"


def _make_accounts(seed: int, n: int) -> tuple[tuple[SandboxAccount, _Profile], ...]:
    out = []
    for index in range(1, n + 1):
        profile, name = _profile_for(index)
        account_id = f"{_ACCOUNT_ID_BASE + index:012d}"
        out.append(
            (
                SandboxAccount(
                    account_id=account_id,
                    name=name,
                    index=index,
                    access_key_id=f"AKIASANDBOX{index:09d}",
                    secret_access_key=_secret(seed, account_id),
                    role_arn=f"arn:aws:iam::{account_id}:role/{ROLE_NAME}",
                    external_id=EXTERNAL_ID,
                    invoicing_entity=profile.entity,
                    base_currency=BASE_CURRENCY,
                    tax_currency=profile.tax_currency,
                    payment_currency=profile.payment_currency,
                ),
                profile,
            )
        )
    return tuple(out)


def _fx_rates(seed: int, periods: list[tuple[int, int]]) -> dict[tuple[str, tuple[int, int]], str]:
    """Monthly USD->X rates: deterministic, realistic and a function of the month alone.

    Key ``(currency, period)`` is the rate AWS applies to the payment view; ``("tax:" +
    currency, period)`` the (slightly different) rate of the tax authority's reference. Each
    month's rate depends on the seed and that month only (two slow waves plus a monthly
    wobble around the anchor), never on which months the organization covers: a month's
    invoices do not change when ``today`` moves on.
    """
    rates: dict[tuple[str, tuple[int, int]], str] = {}
    for cur, (anchor, places) in _FX_ANCHORS.items():
        wave = _rng(seed, "fx", cur)
        bias = wave.uniform(-0.03, 0.03)
        waves = [
            (wave.uniform(0.02, 0.05), wave.uniform(14, 40), wave.uniform(0, 2 * math.pi))
            for _ in range(2)
        ]
        for period in periods:
            t = period[0] * 12 + period[1] - 1
            rng = _rng(seed, "fx", cur, _period_str(period))
            drift = bias + sum(a * math.sin(2 * math.pi * t / p + ph) for a, p, ph in waves)
            level = anchor * (1 + drift + rng.gauss(0, 0.008))
            level = min(max(level, anchor * 0.85), anchor * 1.15)
            tax_level = level * (1 + rng.uniform(-0.004, 0.004))
            rates[(cur, period)] = f"{level:.{places}f}"
            rates[("tax:" + cur, period)] = f"{tax_level:.{places}f}"
    return rates


class _Builder:
    def __init__(self, seed: int, today: date, periods: list[tuple[int, int]], n_accounts: int):
        self.seed = seed
        self.today = today
        self.periods = periods
        self.accounts = _make_accounts(seed, n_accounts)
        self.rates = _fx_rates(seed, periods)
        self.invoices: list[dict] = []
        self.amounts: dict[int, _Amounts] = {}  # id(invoice dict) -> base amounts
        self.line_items: list[dict] = []
        self.documents: dict[str, list[Document]] = {}
        self._ids: set[str] = set()
        self.events: list[dict] = []  # late events that happened (before today)
        self.anniversary: dict[tuple[str, tuple[int, int]], dict] = {}
        self.tax_invoice_of: dict[str, dict] = {}  # commercial invoice id -> its tax invoice
        self.members: dict[str, tuple[MemberAccount, ...]] = {}
        self.unit_histories: dict[str, dict[str, _History]] = {}
        self.profiles: dict[str, dict] = {}
        self.receivers: dict[str, str] = {}  # invoice id -> receiver (unit invoices only)
        self.unit_of_invoice: dict[str, str] = {}  # invoice id -> invoice unit ARN

    # -- ids ----------------------------------------------------------------------------------

    def new_id(self, profile: _Profile, kind: str, *key: object) -> str:
        """A realistic, unique invoice id, deterministic from ``key``."""
        salt = 0
        while True:
            n = _digest_int(self.seed, kind, *key, salt)
            year = key[1][0] if len(key) > 1 and isinstance(key[1], tuple) else 2026
            yy = year % 100
            if profile.entity == ENTITY_EMEA:
                prefix = "EUCM" if kind.endswith("credit") else "EUIN"  # credit, late-credit
                inv_id = f"{prefix}{profile.country}{yy:02d}-{n % 1_000_000:06d}"
            elif kind == "tax":
                inv_id = f"AISPL{yy:02d}{yy + 1:02d}MH{n % 1_000_000:06d}"
            else:
                inv_id = str(1_000_000_000 + n % 9_000_000_000)
            if inv_id not in self._ids:
                self._ids.add(inv_id)
                return inv_id
            salt += 1

    # -- invoices -----------------------------------------------------------------------------

    def issue_moment(
        self, rng: random.Random, period: tuple[int, int], lo: int, hi: int
    ) -> datetime:
        y, m = _add_months(*period, 1)
        day = rng.randint(lo, hi)
        moment = datetime(
            y,
            m,
            day,
            rng.randint(5, 19),
            rng.randint(0, 59),
            rng.randint(0, 59),
            rng.randint(0, 999) * 1000,
            tzinfo=UTC,
        )
        return self.clamp(moment, rng)

    def clamp(self, moment: datetime, rng: random.Random) -> datetime:
        """The moment a document is issued, whatever ``today`` is.

        A document whose moment has not happened yet is not listed at all (AWS lists an invoice
        once it is issued): :meth:`drop_unissued` leaves it out. The draw below is made so that
        the stream of a month's random numbers stays what it was when this moved such moments
        before "today" (a month's data does not depend on ``today``).
        """
        rng.randint(1, 240)
        return moment

    def drop_unissued(self) -> None:
        """Leave out every invoice not issued by ``today`` (with its documents, lines, events).

        "Issued" is the rule of :meth:`happened`: its day is before ``today``. In the first days
        of a month, the invoices of the month before are therefore not listed yet, as on AWS;
        moving ``today`` forward adds them with the issue dates they always had.
        """
        gone = {
            i["InvoiceId"]
            for i in self.invoices
            if not self.happened(datetime.fromtimestamp(i["IssuedDate"], UTC))
        }
        if not gone:
            return
        self.invoices = [i for i in self.invoices if i["InvoiceId"] not in gone]
        self.line_items = [li for li in self.line_items if li.get("invoice_id") not in gone]
        for inv_id in gone:
            self.documents.pop(inv_id, None)
        self.events = [e for e in self.events if e["invoice_id"] not in gone]
        self.anniversary = {k: v for k, v in self.anniversary.items() if v["InvoiceId"] not in gone}
        self.tax_invoice_of = {
            k: v
            for k, v in self.tax_invoice_of.items()
            if k not in gone and v["InvoiceId"] not in gone
        }

    def add_invoice(
        self,
        acct: SandboxAccount,
        profile: _Profile,
        period: tuple[int, int],
        inv_id: str,
        issued: datetime,
        amounts: _Amounts,
        *,
        billing_entity: str = "AWS",
        frequency: str = "RECURRING",
        bill_type: str = "ANNIVERSARY",
        invoice_type: str = "INVOICE",
        sources: Sequence[str] = (),
        purchase_order: str | None = None,
        original_id: str | None = None,
        commercial_id: str | None = None,
        tax_authority: bool = False,
        einvoice: str | None = None,
        supplements: Sequence[str] = (),
    ) -> dict:
        inv: dict = {
            "AccountId": acct.account_id,
            "InvoiceId": inv_id,
            "IssuedDate": _epoch(issued),
            "DueDate": _epoch(issued + timedelta(days=PAYMENT_TERMS_DAYS)),
        }
        if sources:
            # as AWS documents: only a single bill source account is listed, with the count
            inv["BillSourceAccounts"] = [sources[0]]
            inv["BillSourceAccountsTotalCount"] = len(sources)
        inv["ReceiverRole"] = "BUYER"
        inv["Entity"] = {"InvoicingEntity": profile.entity, "BillingEntity": billing_entity}
        inv["BillingPeriod"] = {"Month": period[1], "Year": period[0]}
        inv["InvoiceFrequency"] = frequency
        inv["BillType"] = bill_type
        inv["InvoiceType"] = invoice_type
        if commercial_id:
            inv["CommercialInvoiceId"] = commercial_id
        if original_id:
            inv["OriginalInvoiceId"] = original_id
        if purchase_order:
            inv["PurchaseOrderNumber"] = purchase_order
        if tax_authority:
            inv["EinvoiceDeliveryStatus"] = "DELIVERED"
            inv["TaxAuthorityStatus"] = "ISSUED"
        elif einvoice:
            inv["EinvoiceDeliveryStatus"] = einvoice
        self.set_views(inv, amounts, profile, period)
        self.invoices.append(inv)
        self.amounts[id(inv)] = amounts
        docs = [Document(inv_id, inv_id, acct.account_id, "INVOICE")]
        for k, doc_type in enumerate(supplements, start=1):
            docs.append(Document(f"{inv_id}-SUPPLEMENT-{k}", inv_id, acct.account_id, doc_type))
        self.documents[inv_id] = docs
        return inv

    def set_views(
        self,
        inv: dict,
        amounts: _Amounts,
        profile: _Profile,
        period: tuple[int, int],
        *,
        payment_rate_applied: str | None = None,
    ) -> None:
        inv["BaseCurrencyAmount"] = _base_view(amounts)
        if profile.tax_currency == BASE_CURRENCY:
            inv["TaxCurrencyAmount"] = _base_view(amounts)
        else:
            rate = self.rates[("tax:" + profile.tax_currency, period)]
            inv["TaxCurrencyAmount"] = _converted_view(amounts, profile.tax_currency, rate)
        pay = profile.payment_currency_in(period)
        if pay == BASE_CURRENCY:
            inv["PaymentCurrencyAmount"] = _base_view(amounts)
        else:
            rate = self.rates[(pay, period)]
            inv["PaymentCurrencyAmount"] = _converted_view(
                amounts, pay, rate, apply_rate=payment_rate_applied
            )

    # -- usage --------------------------------------------------------------------------------

    def build(self) -> None:
        for acct, profile in self.accounts:
            self.build_account(acct, profile)

    def build_account(self, acct: SandboxAccount, profile: _Profile) -> None:
        arng = _rng(self.seed, "account", acct.index)
        scale = profile.scale_usd * arng.uniform(0.75, 1.3)
        growth = arng.uniform(0.004, 0.028)
        linked = sorted(
            {f"{arng.randrange(10**11, 10**12):012d}" for _ in range(arng.randint(3, 9))}
        )
        linked = [acct.account_id, *linked]
        members = _member_accounts(self.seed, acct, profile, linked)
        self.members[acct.account_id] = members
        plan = _UNIT_PLANS.get((acct.index - 1) % len(_PROFILES)) if len(members) >= 4 else None
        histories: dict[str, _History] = {}
        if plan is not None:
            years = range(self.periods[0][0] - 1, max(self.today.year, self.periods[-1][0]) + 2)
            histories = {
                arn: [(t, c) for t, c in h if self.happened(t)]
                for arn, h in _unit_histories(self.seed, acct, plan, members, years).items()
            }
            histories = {arn: h for arn, h in histories.items() if h}
        self.unit_histories[acct.account_id] = histories
        self.profiles[acct.account_id] = _invoice_profile(
            self.seed, acct.account_id, acct.name, profile, _slug(acct.name)
        )
        for history in histories.values():
            for _, cfg in history:
                if cfg is not None and cfg.receiver not in self.profiles:
                    legal = self.member_name(cfg.receiver, members, cfg.name)
                    self.profiles[cfg.receiver] = _invoice_profile(
                        self.seed, cfg.receiver, legal, profile, _slug(cfg.name)
                    )
        weights = self.usage_weights(acct, members)
        po_base = arng.randrange(4_500_000_000, 4_599_999_999) if profile.purchase_orders else None
        workload = _WORKLOADS[profile.workload]
        season = _SEASONALITY[profile.workload]
        for period in self.periods:
            rng = _rng(self.seed, "usage", acct.index, _period_str(period))
            t = (period[0] - 2025) * 12 + period[1] - 1
            level = scale * (1 + growth) ** t * season[period[1] - 1]
            spike_service = rng.randrange(len(workload)) if rng.random() < 0.05 else None
            spike = rng.uniform(1.8, 3.2)
            inv_id = self.new_id(profile, "invoice", acct.index, period)
            items: list[tuple[str, str, Decimal]] = []
            for k, (service, usage, share) in enumerate(workload):
                # random draws are floats; each is rounded once to whole cents below and all
                # money arithmetic from there on is Decimal
                amount = level * share * rng.uniform(0.93, 1.07)
                if k == spike_service:
                    amount *= spike
                usage_type = usage.format(r=profile.region)
                value = Decimal(f"{amount:.2f}")
                if service == "Amazon Elastic Compute Cloud":
                    # on-demand plus a Savings Plans covered share, as in a CUR
                    sp = Decimal(f"{amount * rng.uniform(0.35, 0.55):.2f}")
                    items.append((service, usage_type, value - sp))
                    items.append((service, f"{profile.region}-ComputeSP:1yrNoUpfront", sp))
                else:
                    items.append((service, usage_type, value))
            # the month's invoices: one per invoice unit as configured at the month's end, and
            # the payer's default invoice for every account in no unit
            units = [
                _state_at(h, _month_end(period)) for h in histories.values()
            ]  # fmt: skip
            units = sorted((u[1] for u in units if u is not None), key=lambda c: c.arn)
            in_unit = {a: u for u in units for a in u.linked}
            default_accounts = [m.account_id for m in members if m.account_id not in in_unit]
            discounts: list[_Item] = []
            promo = rng.random() < 0.08
            promo_value = Decimal(rng.choice((250, 500, 1000, 2500))) if promo else None
            fees: list[_Item] = []
            if rng.random() < 0.04:
                fees.append(("Late payment charge", Decimal(rng.choice((25, 40, 75))), None))
            issued = self.issue_moment(rng, period, 1, 3)
            due = issued + timedelta(days=PAYMENT_TERMS_DAYS)
            paid = profile.card_payer and due.date() < self.today
            po = None
            if po_base is not None and rng.random() < 0.9:
                po = f"PO-{po_base + period[0] % 100:010d}"
            drawn_sources = linked[: rng.randint(2, len(linked))]
            if histories:  # every member has usage; the default invoice bills those in no unit
                usage_accounts = [m.account_id for m in members]
                sources = default_accounts
            else:  # the accounts with usage this month, the payer first
                usage_accounts = sources = drawn_sources
            lines = self.usage_lines(acct, period, items, usage_accounts, weights)
            groups = [(None, inv_id, sources)]
            for unit in units:
                unit_id = self.new_id(profile, "invoice", acct.index, period, unit.arn)
                groups.append((unit, unit_id, list(unit.linked)))
            for unit, group_id, group_sources in groups:
                members_in = set(group_sources)
                mine = [li for li in lines if li[0] in members_in]
                subtotal = sum((li[3] for li in mine), Decimal(0))
                for usage_account, service, usage_type, value in mine:
                    self.line_items.append(
                        {
                            "account_id": acct.account_id,
                            "usage_account_id": usage_account,
                            "billing_period": _period_str(period),
                            "billing_entity": "AWS",
                            "invoice_id": group_id,
                            "line_item_type": "Usage",
                            "service": service,
                            "usage_type": usage_type,
                            "amount_usd": format(value, "f"),
                        }
                    )
                discounts = []
                if profile.edp_rate:
                    amt = -quantize(subtotal * Decimal(profile.edp_rate), "USD")
                    discounts.append(("Enterprise Discount Program", amt, profile.edp_rate))
                if unit is None and promo_value is not None:
                    credit = min(promo_value, subtotal / 10)
                    discounts.append(("Promotional credit", -quantize(credit, "USD"), None))
                amounts = self.taxed(subtotal, discounts, fees if unit is None else [], profile)
                when = issued
                if unit is not None:
                    urng = _rng(
                        self.seed, "unit-invoice", acct.index, _period_str(period), unit.arn
                    )
                    when = issued + timedelta(seconds=urng.randint(30, 600))
                self.month_invoice(
                    acct, profile, period, group_id, when, amounts, group_sources, po, paid, unit
                )
            inv = self.anniversary[(acct.account_id, period)]
            if profile.entity == ENTITY_INDIA:
                tax_id = self.new_id(profile, "tax", acct.index, period)
                self.tax_invoice_of[inv_id] = self.add_invoice(
                    acct,
                    profile,
                    period,
                    tax_id,
                    issued + timedelta(seconds=rng.randint(60, 900)),
                    self.amounts[id(inv)],
                    sources=sources,
                    purchase_order=po,
                    commercial_id=inv_id,
                    tax_authority=True,
                    supplements=("TAX_E_INVOICE", "GOVERNMENT_INVOICE"),
                )
            if profile.marketplace and rng.random() < 0.18:
                self.marketplace(acct, profile, period, rng, linked, po)
            if rng.random() < 0.06:  # an SLA credit for the month, issued with its invoice
                later = timedelta(hours=rng.randint(2, 40))
                self.credit_memo(
                    acct, profile, period, rng, inv, issued=self.clamp(issued + later, rng)
                )

    @staticmethod
    def member_name(account_id: str, members: Sequence[MemberAccount], fallback: str) -> str:
        for m in members:
            if m.account_id == account_id:
                return m.name
        return fallback

    def usage_weights(
        self, acct: SandboxAccount, members: Sequence[MemberAccount]
    ) -> dict[str, float]:
        """Each member's share of the payer's usage (the management account a small one)."""
        rng = _rng(self.seed, "member-usage", acct.index)
        return {
            m.account_id: (0.15 if m.account_id == acct.account_id else rng.uniform(0.4, 2.5))
            for m in members
        }

    def usage_lines(
        self,
        acct: SandboxAccount,
        period: tuple[int, int],
        items: Sequence[tuple[str, str, Decimal]],
        accounts: Sequence[str],
        weights: dict[str, float],
    ) -> list[tuple[str, str, str, Decimal]]:
        """Each line item split across the usage accounts, to the cent (largest remainder)."""
        rng = _rng(self.seed, "usage-split", acct.index, _period_str(period))
        cent = Decimal("0.01")
        out = []
        for service, usage_type, value in items:
            w = [Decimal(f"{weights[a] * rng.uniform(0.6, 1.4):.6f}") for a in accounts]
            total = sum(w, Decimal(0))
            parts = _split(value, [value * x / total for x in w], cent)
            for account, part in zip(accounts, parts, strict=True):
                if part != 0:
                    out.append((account, service, usage_type, part))
        return out

    def month_invoice(
        self,
        acct: SandboxAccount,
        profile: _Profile,
        period: tuple[int, int],
        inv_id: str,
        issued: datetime,
        amounts: _Amounts,
        sources: Sequence[str],
        po: str | None,
        paid: bool,
        unit: _UnitConfig | None,
    ) -> dict:
        """One ANNIVERSARY invoice of a month (the default one, or an invoice unit's)."""
        due = issued + timedelta(days=PAYMENT_TERMS_DAYS)
        einvoice = None
        delivered_on = issued.date() + timedelta(days=_EINVOICE_DELIVERY_DAYS - 1)
        if profile.einvoicing:  # the latest ones may not have reached the network yet
            recent = issued.date() > self.today - timedelta(days=_EINVOICE_DELIVERY_DAYS)
            einvoice = "NOT_DELIVERED" if recent else "DELIVERED"
        # a card payer's receipt appears once the card is charged, on the due date
        inv = self.add_invoice(
            acct,
            profile,
            period,
            inv_id,
            issued,
            amounts,
            sources=sources,
            purchase_order=po,
            einvoice=einvoice,
            supplements=["PAYMENT_RECEIPT"] if paid else [],
        )
        if unit is None:
            self.anniversary[(acct.account_id, period)] = inv
        else:
            self.receivers[inv_id] = unit.receiver
            self.unit_of_invoice[inv_id] = unit.arn
        if paid:
            self.event(
                "payment_receipt",
                inv,
                due,
                f"payment receipt {inv_id}-SUPPLEMENT-1 for invoice {inv_id} (card charged "
                "on the due date)",
                document_id=f"{inv_id}-SUPPLEMENT-1",
            )
        if einvoice == "DELIVERED":
            self.event(
                "einvoice_delivered",
                inv,
                datetime(*delivered_on.timetuple()[:3], 12, tzinfo=UTC),
                f"invoice {inv_id} delivered to the e-invoicing network "
                "(EinvoiceDeliveryStatus NOT_DELIVERED -> DELIVERED)",
            )
        return inv

    def taxed(
        self,
        subtotal: Decimal,
        discounts: Sequence[_Item],
        fees: Sequence[_Item],
        profile: _Profile,
    ) -> _Amounts:
        before_tax = (
            subtotal
            + sum((a for _, a, _ in discounts), Decimal(0))
            + sum((a for _, a, _ in fees), Decimal(0))
        )
        taxes = tuple(
            (desc, quantize(before_tax * Decimal(rate), "USD"), rate)
            for desc, rate in profile.taxes
        )
        return _Amounts(subtotal, tuple(discounts), tuple(fees), taxes)

    def marketplace(
        self,
        acct: SandboxAccount,
        profile: _Profile,
        period: tuple[int, int],
        rng: random.Random,
        linked: Sequence[str],
        po: str | None,
    ) -> None:
        product, lo, hi = rng.choice(_MARKETPLACE_PRODUCTS)
        subtotal = Decimal(f"{rng.uniform(lo, hi):.2f}")
        inv_id = self.new_id(profile, "marketplace", acct.index, period)
        amounts = self.taxed(subtotal, (), (), profile)
        # a purchase is invoiced when it is made, inside the billing month
        issued = self.issue_moment(rng, _add_months(*period, -1), 4, 26)
        buyer = rng.choice(list(linked))
        self.line_items.append(
            {
                "account_id": acct.account_id,
                "usage_account_id": buyer,
                "billing_period": _period_str(period),
                "billing_entity": "AWS_MARKETPLACE",
                "invoice_id": inv_id,
                "line_item_type": "Usage",
                "service": "AWS Marketplace",
                "usage_type": product,
                "amount_usd": format(subtotal, "f"),
            }
        )
        self.add_invoice(
            acct,
            profile,
            period,
            inv_id,
            issued,
            amounts,
            billing_entity="AWS_MARKETPLACE",
            frequency="ONE_TIME",
            bill_type="PURCHASE",
            sources=[buyer],
            purchase_order=po,
            supplements=("SUPPLEMENT",),
        )

    def credit_memo(
        self,
        acct: SandboxAccount,
        profile: _Profile,
        period: tuple[int, int],
        rng: random.Random,
        original: dict,
        *,
        issued: datetime,
        original_id: str | None = None,
        shares: Sequence[str] = ("0.02", "0.05", "0.10", "0.25"),
        kind: str = "credit",
    ) -> dict:
        orig_amounts = self.amounts[id(original)]
        share = Decimal(rng.choice(tuple(shares)))
        subtotal = -quantize(orig_amounts.subtotal * share, "USD")
        inv_id = self.new_id(profile, kind, acct.index, period, original["InvoiceId"])
        amounts = self.taxed(subtotal, (), (), profile)
        orig_period = (original["BillingPeriod"]["Year"], original["BillingPeriod"]["Month"])
        self.line_items.append(
            {
                "account_id": acct.account_id,
                "usage_account_id": original.get("BillSourceAccounts", [acct.account_id])[0],
                "billing_period": _period_str(period),
                "billing_entity": "AWS",
                "invoice_id": inv_id,
                "line_item_type": "Refund",
                "service": "AWS Service Credit",
                "usage_type": f"SLA credit for {_period_str(orig_period)}",
                "amount_usd": format(subtotal, "f"),
            }
        )
        return self.add_invoice(
            acct,
            profile,
            period,
            inv_id,
            issued,
            amounts,
            frequency="ONE_TIME",
            bill_type="REFUND",
            invoice_type="CREDIT_MEMO",
            sources=original.get("BillSourceAccounts", [acct.account_id])[:1],
            original_id=original_id or original["InvoiceId"],
        )

    # -- late events --------------------------------------------------------------------------

    def event(
        self,
        kind: str,
        inv: dict,
        when: datetime,
        detail: str,
        *,
        invoice_id: str | None = None,
        related: str | None = None,
        document_id: str | None = None,
    ) -> None:
        """Record a late event that happened (its day is before ``today``)."""
        bp = inv["BillingPeriod"]
        self.events.append(
            {
                "kind": kind,
                "change": LATE_EVENT_CHANGES[kind],
                "account_id": inv["AccountId"],
                "invoice_id": invoice_id or inv["InvoiceId"],
                "related_invoice_id": related,
                "document_id": document_id,
                "billing_period": f"{bp['Year']:04d}-{bp['Month']:02d}",
                "date": _iso_z(when),
                "detail": detail,
            }
        )

    def happened(self, moment: datetime) -> bool:
        """Whether something dated ``moment`` is visible: its day is before ``today``."""
        return moment.date() < self.today

    def late_moment(self, rng: random.Random, period: tuple[int, int]) -> datetime:
        """A business-hours moment from day 21 of the month after ``period`` to day 3 after."""
        start = datetime(*_add_months(*period, 1), _LATE_FIRST_DAY, tzinfo=UTC)
        end = datetime(*_add_months(*period, 2), _LATE_LAST_DAY + 1, tzinfo=UTC)
        day = start + timedelta(days=rng.randrange((end - start).days))
        return day.replace(
            hour=rng.randint(5, 19), minute=rng.randint(0, 59), second=rng.randint(0, 59)
        )

    def late_events(self, untouchable: set[str]) -> None:
        """Issue the late events of every month whose moment is before ``today``.

        Per billing month (deterministic by seed and month, whatever ``today`` is): one late
        credit memo, one cancelled tax invoice (accounts invoiced by AWS India), one new
        supplemental document and one restated amount, each on one account picked from those
        it fits, different accounts where the fleet allows. ``untouchable``: invoice ids a
        planted anomaly changed (left alone so that each anomaly stays what its record says).
        """
        present = {id(i) for i in self.invoices}
        for period in self.periods:
            order = list(self.accounts)
            _rng(self.seed, "late", _period_str(period)).shuffle(order)
            used: set[str] = set()

            for kind in _LATE_KINDS:
                rng = _rng(self.seed, "late", _period_str(period), kind)
                when = self.late_moment(rng, period)
                picked = self.late_target(kind, period, order, used, present, untouchable)
                if picked is None or not self.happened(when):
                    continue
                acct, profile, inv = picked
                getattr(self, "late_" + kind)(acct, profile, period, rng, inv, when)

    def late_target(
        self,
        kind: str,
        period: tuple[int, int],
        order: list[tuple[SandboxAccount, _Profile]],
        used: set[str],
        present: set[int],
        untouchable: set[str],
    ) -> tuple[SandboxAccount, _Profile, dict] | None:
        """The first account of ``order`` an event of ``kind`` fits, preferring unused ones."""
        ok = []
        for acct, profile in order:
            inv = self.anniversary.get((acct.account_id, period))
            if inv is None or id(inv) not in present or inv["InvoiceId"] in untouchable:
                continue
            india = profile.entity == ENTITY_INDIA
            if kind == "tax_cancelled":
                tax = self.tax_invoice_of.get(inv["InvoiceId"])
                fits = india and tax is not None and tax["InvoiceId"] not in untouchable
            elif kind == "credit_memo":
                fits = not india
            else:  # supplemental_document, amount_restated: not on invoices paid by card
                fits = not india and not profile.card_payer
            if fits:
                ok.append((acct, profile, inv))
        fresh = [t for t in ok if t[0].account_id not in used]
        pick = (fresh or ok or [None])[0]
        if pick is not None:
            used.add(pick[0].account_id)
        return pick

    def late_credit_memo(self, acct, profile, period, rng, inv, when) -> None:
        memo = self.credit_memo(
            acct, profile, period, rng, inv, issued=when, shares=_LATE_SHARES, kind="late-credit"
        )
        total = memo["BaseCurrencyAmount"]["TotalAmount"]
        self.event(
            "credit_memo",
            memo,
            when,
            f"credit memo {memo['InvoiceId']} ({total} USD) against invoice {inv['InvoiceId']}",
            related=inv["InvoiceId"],
        )

    def late_tax_cancelled(self, acct, profile, period, rng, inv, when) -> None:
        tax = self.tax_invoice_of[inv["InvoiceId"]]
        tax["TaxAuthorityStatus"] = "CANCELLED"
        self.event(
            "tax_cancelled",
            tax,
            when,
            f"tax invoice {tax['InvoiceId']} cancelled by the tax authority "
            "(TaxAuthorityStatus ISSUED -> CANCELLED)",
            related=inv["InvoiceId"],
        )

    def late_supplemental_document(self, acct, profile, period, rng, inv, when) -> None:
        docs = self.documents[inv["InvoiceId"]]
        doc = Document(
            f"{inv['InvoiceId']}-SUPPLEMENT-{len(docs)}", inv["InvoiceId"], acct.account_id,
            "SUPPLEMENT",
        )  # fmt: skip
        docs.append(doc)
        self.event(
            "supplemental_document",
            inv,
            when,
            f"supplemental document {doc.document_id} (SUPPLEMENT) added to invoice "
            f"{inv['InvoiceId']}",
            document_id=doc.document_id,
        )

    def late_amount_restated(self, acct, profile, period, rng, inv, when) -> None:
        old = self.amounts[id(inv)]
        before = inv["BaseCurrencyAmount"]["TotalAmount"]
        sign = 1 if rng.random() < 0.7 else -1
        delta = sign * quantize(old.subtotal * Decimal(f"{rng.uniform(0.004, 0.03):.4f}"), "USD")
        subtotal = old.subtotal + delta
        discounts = tuple(
            (d, -quantize(subtotal * Decimal(r), "USD"), r) if r else (d, a, r)
            for d, a, r in old.discounts
        )
        amounts = self.taxed(subtotal, discounts, old.fees, profile)
        self.set_views(inv, amounts, profile, period)
        self.amounts[id(inv)] = amounts
        self.line_items.append(
            {
                "account_id": acct.account_id,
                "usage_account_id": inv.get("BillSourceAccounts", [acct.account_id])[0],
                "billing_period": _period_str(period),
                "billing_entity": "AWS",
                "invoice_id": inv["InvoiceId"],
                "line_item_type": "Usage",
                "service": "AWS Billing Adjustment",
                "usage_type": f"Usage correction for {_period_str(period)}",
                "amount_usd": format(delta, "f"),
            }
        )
        self.event(
            "amount_restated",
            inv,
            when,
            f"invoice {inv['InvoiceId']} restated: base TotalAmount {before} -> "
            f"{inv['BaseCurrencyAmount']['TotalAmount']} USD",
        )

    # -- anomalies ----------------------------------------------------------------------------

    def plant_anomalies(self) -> list[dict]:
        """Plant each anomaly kind in its own calendar months, whatever ``today`` is.

        Kind ``k`` goes to the months whose ordinal modulo ``m`` (12, or the number of months
        when fewer) is the kind's seed-drawn residue: two months of 24, one of 12. In each of
        those months the candidate with the smallest digest (seed, kind, invoice id) is taken,
        so a month's anomalies stay the same when ``today`` moves the window on.
        """
        cycle = min(12, len(self.periods))
        residues = list(range(cycle))
        _rng(self.seed, "anomaly-months", cycle).shuffle(residues)
        months_of = {
            kind: {p for p in self.periods if (p[0] * 12 + p[1] - 1) % cycle == residues[k % cycle]}
            for k, kind in enumerate(ANOMALY_CHECKS)
        }
        profiles = {a.account_id: p for a, p in self.accounts}
        accts = {a.account_id: a for a, _ in self.accounts}
        referenced = {i["OriginalInvoiceId"] for i in self.invoices if "OriginalInvoiceId" in i} | {
            i["CommercialInvoiceId"] for i in self.invoices if "CommercialInvoiceId" in i
        }
        used_cells: set[tuple[str, int, int]] = set()
        records: list[dict] = []

        def cell(inv: dict) -> tuple[str, int, int]:
            bp = inv["BillingPeriod"]
            return inv["AccountId"], bp["Year"], bp["Month"]

        def record(kind: str, inv: dict, view: str | None, detail: str, invoice_id=None) -> None:
            bp = inv["BillingPeriod"]
            records.append(
                {
                    "kind": kind,
                    "check": ANOMALY_CHECKS[kind],
                    "account_id": inv["AccountId"],
                    "invoice_id": invoice_id,
                    "billing_period": f"{bp['Year']:04d}-{bp['Month']:02d}",
                    "view": view,
                    "detail": detail,
                }
            )

        def candidates(kind: str, pred) -> list[dict]:
            """The first fitting invoice of each of ``kind``'s months."""
            picked = []
            for period in sorted(months_of[kind]):
                fits = [
                    i
                    for i in self.invoices
                    if i["BillType"] == "ANNIVERSARY"
                    and "CommercialInvoiceId" not in i
                    and (i["BillingPeriod"]["Year"], i["BillingPeriod"]["Month"]) == period
                    and i["InvoiceId"] not in referenced
                    and cell(i) not in used_cells
                    and profiles[i["AccountId"]].entity != ENTITY_INDIA
                    and pred(i)
                ]
                fits.sort(key=lambda i: _digest_int(self.seed, "anomaly", kind, i["InvoiceId"]))
                picked += fits[:1]
            return picked

        def rng_for(kind: str, inv: dict) -> random.Random:
            return _rng(self.seed, "anomaly", kind, inv["InvoiceId"])

        def big(inv: dict) -> bool:
            return Decimal(inv["BaseCurrencyAmount"]["TotalAmount"]) > 1000

        # missing_invoice: every INVOICE of an account-month disappears
        def withheld(inv: dict) -> list[dict]:
            c = cell(inv)
            return [i for i in self.invoices if cell(i) == c and i["InvoiceType"] == "INVOICE"]

        def unreferenced_cell(inv: dict) -> bool:
            return not any(g["InvoiceId"] in referenced for g in withheld(inv))

        for inv in candidates("missing_invoice", unreferenced_cell):
            c = cell(inv)
            gone = withheld(inv)
            used_cells.add(c)
            for g in gone:
                self.invoices.remove(g)
                self.documents.pop(g["InvoiceId"], None)
            record(
                "missing_invoice",
                inv,
                None,
                f"no INVOICE for {c[0]} in {c[1]:04d}-{c[2]:02d}: "
                f"{', '.join(g['InvoiceId'] for g in gone)} withheld",
            )

        # total_mismatch: TotalAmount of one view off by a little, on an all-USD invoice (no
        # view is converted from it, so only the arithmetic check can see the difference)
        def unconverted(inv: dict) -> bool:
            return big(inv) and not any(
                "CurrencyExchangeDetails" in inv[k]
                for k in ("TaxCurrencyAmount", "PaymentCurrencyAmount")
            )

        for inv in candidates("total_mismatch", unconverted):
            rng = rng_for("total_mismatch", inv)
            used_cells.add(cell(inv))
            name = rng.choice(("base", "tax", "payment"))
            view = inv[_VIEW_KEYS[name]]
            cur = view["CurrencyCode"]
            before = Decimal(view["TotalAmountBeforeTax"])
            taxes = Decimal(view["AmountBreakdown"]["Taxes"]["TotalAmount"])
            delta = Decimal(rng.choice(("0.01", "0.10", "1.00", "-0.05", "12.34")))
            view["TotalAmount"] = _fmt(before + taxes + delta, cur)
            record(
                "total_mismatch",
                inv,
                name,
                f"{name} TotalAmount {view['TotalAmount']} {cur} != TotalAmountBeforeTax "
                f"{before} + Taxes {taxes} (off by {delta})",
                inv["InvoiceId"],
            )

        # fx_mismatch: payment view converted at another rate than the one it states
        for inv in candidates(
            "fx_mismatch",
            lambda i: big(i) and "CurrencyExchangeDetails" in i["PaymentCurrencyAmount"],
        ):
            used_cells.add(cell(inv))
            profile = profiles[inv["AccountId"]]
            bp = inv["BillingPeriod"]
            period = (bp["Year"], bp["Month"])
            pay = profile.payment_currency_in(period)
            stated = self.rates[(pay, period)]
            places = _FX_ANCHORS[pay][1]
            wrong = f"{Decimal(stated) * Decimal('1.0175'):.{places}f}"
            self.set_views(inv, self.amounts[id(inv)], profile, period, payment_rate_applied=wrong)
            record(
                "fx_mismatch",
                inv,
                "payment",
                f"payment view states Rate {stated} but its amounts were converted at {wrong}",
                inv["InvoiceId"],
            )

        # orphan_credit_memo: OriginalInvoiceId names an invoice that does not exist
        for inv in candidates("orphan_credit_memo", big):
            rng = rng_for("orphan_credit_memo", inv)
            used_cells.add(cell(inv))
            profile = profiles[inv["AccountId"]]
            bp = inv["BillingPeriod"]
            period = (bp["Year"], bp["Month"])
            ghost = self.new_id(profile, "ghost", accts[inv["AccountId"]].index, period)
            memo = self.credit_memo(
                accts[inv["AccountId"]],
                profile,
                period,
                rng,
                inv,
                issued=self.issue_moment(rng, _add_months(*period, -1), 4, 26),
                original_id=ghost,
            )
            record(
                "orphan_credit_memo",
                memo,
                None,
                f"credit memo {memo['InvoiceId']} refers to unknown invoice {ghost}",
                memo["InvoiceId"],
            )

        # duplicate_invoice_id: the same InvoiceId again, re-issued with other amounts
        for inv in candidates("duplicate_invoice_id", big):
            used_cells.add(cell(inv))
            profile = profiles[inv["AccountId"]]
            bp = inv["BillingPeriod"]
            period = (bp["Year"], bp["Month"])
            dup = copy.deepcopy(inv)
            old = self.amounts[id(inv)]
            bump = quantize(old.subtotal * Decimal("0.03"), "USD") + Decimal("0.01")
            discounts = tuple(
                (d, -quantize((old.subtotal + bump) * Decimal(r), "USD"), r) if r else (d, a, r)
                for d, a, r in old.discounts
            )
            amounts = self.taxed(old.subtotal + bump, discounts, old.fees, profile)
            dup["IssuedDate"] = round(inv["IssuedDate"] + 3600.0, 3)
            dup["DueDate"] = round(inv["DueDate"] + 3600.0, 3)
            self.set_views(dup, amounts, profile, period)
            self.invoices.append(dup)
            self.amounts[id(dup)] = amounts
            record(
                "duplicate_invoice_id",
                inv,
                None,
                f"{inv['InvoiceId']} returned twice: TotalAmount "
                f"{inv['BaseCurrencyAmount']['TotalAmount']} and "
                f"{dup['BaseCurrencyAmount']['TotalAmount']} USD",
                inv["InvoiceId"],
            )
        return records


def _periods(today: date, months: int) -> list[tuple[int, int]]:
    last = _add_months(today.year, today.month, -1)
    return [_add_months(*last, -k) for k in range(months - 1, -1, -1)]


def build_organization(
    *,
    seed: int = 7,
    accounts: int = 12,
    months: int = 24,
    today: date | datetime | str | None = None,
    anomalies: bool = False,
) -> Organization:
    """Build the sandbox's synthetic organization, deterministic by ``seed``.

    Parameters
    ----------
    seed
        Same seed and arguments give byte-identical invoices and documents.
    accounts
        Number of payer accounts (ids ``100000000001`` upwards).
    months
        Number of billing months, ending with the last closed month before ``today``.
    today
        "Now" as a ``date`` or ``YYYY-MM-DD`` string; default business today
        (:func:`invoicekit.clock.today`: ``INVOICEKIT_NOW`` if set, else the real UTC date).
    anomalies
        Plant the known reconciliation problems listed in ``Organization.anomalies``; without
        them the organization is consistent to the cent.

    Returns
    -------
    Organization

    Examples
    --------
    >>> org = build_organization(seed=7, accounts=12, months=24, today="2026-11-25")
    >>> org.periods[0], org.periods[-1]
    ((2024, 11), (2026, 10))
    >>> len(org.accounts)
    12
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgumentError(f"seed={seed!r} must be an integer, e.g. seed=7")
    if isinstance(accounts, bool) or not isinstance(accounts, int) or not 1 <= accounts <= 9999:
        raise InvalidArgumentError(f"accounts={accounts!r} must be an integer from 1 to 9999")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 240:
        raise InvalidArgumentError(f"months={months!r} must be an integer from 1 to 240")
    day = _parse_today(today)
    periods = _periods(day, months)
    builder = _Builder(seed, day, periods, accounts)
    builder.build()
    builder.drop_unissued()
    planted = builder.plant_anomalies() if anomalies else []
    builder.late_events({r["invoice_id"] for r in planted if r["invoice_id"]})
    present = {i["InvoiceId"] for i in builder.invoices}
    return Organization(
        seed=seed,
        today=day,
        periods=periods,
        accounts=tuple(a for a, _ in builder.accounts),
        org_access_key_id="AKIASANDBOX000000000",
        org_secret_access_key=_secret(seed, "organization"),
        invoices=builder.invoices,
        line_items=builder.line_items,
        documents=builder.documents,
        anomalies=planted,
        late_events=[e for e in builder.events if e["invoice_id"] in present],
        members=builder.members,
        unit_histories=builder.unit_histories,
        invoice_profiles=builder.profiles,
        receivers=builder.receivers,
        units_of_invoices=builder.unit_of_invoice,
    )
