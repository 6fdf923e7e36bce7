"""Cost-and-usage exports (AWS Data Exports: CUR 2.0 and FOCUS 1.2) written from the sandbox model.

The exports are derived from the same :class:`~invoicekit.sandbox.org.Organization` as the
invoices, so a tie-out of the two must agree where AWS would:

* the usage lines of an invoice add up to its base subtotal, its ``EdpDiscount``/``Credit``
  lines to its discounts, ``Fee`` lines to its fees and ``Tax`` lines to its taxes, all in the
  base currency (USD). Amounts are ``double`` (as in the real exports) carrying 8 decimal places,
  more than the invoice: each invoice's lines differ from it by a few 1e-8 USD, well within
  rounding;
* the Savings Plans share of EC2 appears as ``SavingsPlanCoveredUsage`` (on-demand cost), its
  ``SavingsPlanNegation`` and the ``SavingsPlanRecurringFee`` that is billed;
* the current (open) month's lines carry no invoice id (``bill_invoice_id`` is blank until the
  bill is final); older snapshots of a ``CREATE_NEW`` export carry none either;
* one payer's tax lines are computed line by line and rounded to the cent each (the invoice
  rounds the tax of its total), so they differ from the invoice by a few cents;
* the refund of one credit memo is billed in the export under the invoice it credits.

Layout (per payer, one CUR 2.0 export ``cur2-<payer>`` and one FOCUS 1.2 export
``focus-<payer>``)::

    DIR/<payer>/<export>/data/BILLING_PERIOD=YYYY-MM/<export>-00001.snappy.parquet
    DIR/<payer>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json

FOCUS exports use the partition name ``billing_period=`` (as seen in the wild). One payer's
exports use ``CREATE_NEW`` delivery: every execution stays in its own folder
(``.../BILLING_PERIOD=YYYY-MM/<execution id>/...``) and only the latest one by time is current;
its execution ids are chosen so that sorting them picks the wrong one. The manifests' times are
their files' modification times (what ``aws s3 sync`` keeps). The manifests' ``dataFiles`` are
full S3 URIs in the bucket :data:`BUCKET`, as if the folder were ``aws s3 sync``-ed from it.

``anomalies=True`` plants misalignments, listed in ``DIR/exports.json`` (``anomalies``): a line
billed to no invoice, an invoice with no lines, and a difference beyond rounding.

Examples
--------
>>> from invoicekit.sandbox.org import build_organization
>>> org = build_organization(accounts=2, months=2, today="2026-11-25")
>>> info = write_exports(org, "/tmp/exports-doc")  # doctest: +SKIP
>>> [e["name"] for e in info["exports"]][:2]  # doctest: +SKIP
['cur2-100000000001', 'focus-100000000001']
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = [
    "BUCKET",
    "PART_LINES",
    "write_exports",
]

#: The bucket the manifests' ``dataFiles`` name (the written folder is a local copy of it).
BUCKET = "invoicekit-sandbox-exports"
#: Most lines in one data file (AWS splits large billing periods into parts too).
PART_LINES = 1_000_000
#: Line amounts are whole multiples of 1e-8 USD (more precision than the invoice's cents).
_SCALE = 10**8
_CENTS = 10**6  # 1e-8 units per cent
#: Region of the sandbox exports' ARNs.
_REGION = "us-east-1"
#: Payer (index in the organization, 1-based) whose exports use CREATE_NEW delivery.
CREATE_NEW_INDEX = 2
#: Payer whose tax lines are rounded line by line.
TAX_PER_LINE_INDEX = 4
#: Executions a CREATE_NEW export keeps per billing period (the last is current).
EXECUTIONS = 3
_NO_INVOICE = ""


def _schemas():
    import pyarrow as pa

    s, d, ts = pa.string(), pa.float64(), pa.timestamp("ms")
    m = pa.map_(pa.string(), pa.string())
    cur = pa.schema(
        [
            ("identity_line_item_id", s),
            ("identity_time_interval", s),
            ("bill_invoice_id", s),
            ("bill_invoicing_entity", s),
            ("bill_billing_entity", s),
            ("bill_bill_type", s),
            ("bill_payer_account_id", s),
            ("bill_payer_account_name", s),
            ("bill_billing_period_start_date", ts),
            ("bill_billing_period_end_date", ts),
            ("line_item_usage_account_id", s),
            ("line_item_usage_account_name", s),
            ("line_item_line_item_type", s),
            ("line_item_usage_start_date", ts),
            ("line_item_usage_end_date", ts),
            ("line_item_product_code", s),
            ("line_item_usage_type", s),
            ("line_item_operation", s),
            ("line_item_line_item_description", s),
            ("line_item_usage_amount", d),
            ("line_item_currency_code", s),
            ("line_item_unblended_cost", d),
            ("line_item_net_unblended_cost", d),
            ("line_item_blended_cost", d),
            ("pricing_public_on_demand_cost", d),
            ("resource_tags", m),
            ("cost_category", m),
        ]
    )
    focus = pa.schema(
        [
            ("AvailabilityZone", s),
            ("BilledCost", d),
            ("BillingAccountId", s),
            ("BillingAccountName", s),
            ("BillingAccountType", s),
            ("BillingCurrency", s),
            ("BillingPeriodEnd", ts),
            ("BillingPeriodStart", ts),
            ("ChargeCategory", s),
            ("ChargeClass", s),
            ("ChargeDescription", s),
            ("ChargeFrequency", s),
            ("ChargePeriodEnd", ts),
            ("ChargePeriodStart", ts),
            ("ConsumedQuantity", d),
            ("ContractedCost", d),
            ("EffectiveCost", d),
            ("InvoiceId", s),
            ("InvoiceIssuerName", s),
            ("ListCost", d),
            ("ProviderName", s),
            ("PublisherName", s),
            ("RegionId", s),
            ("ServiceName", s),
            ("SubAccountId", s),
            ("SubAccountName", s),
            ("SubAccountType", s),
            ("Tags", m),
            ("x_CostCategories", m),
            ("x_Operation", s),
            ("x_ServiceCode", s),
            ("x_UsageType", s),
        ]
    )
    return cur, focus


def __getattr__(name: str) -> Any:  # the Arrow schemas, made on first use (no pyarrow import)
    if name in ("CUR2_SCHEMA", "FOCUS12_SCHEMA"):
        cur, focus = _schemas()
        globals().update(CUR2_SCHEMA=cur, FOCUS12_SCHEMA=focus)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------
# The canonical lines: blocks of lines sharing every column but the amount
# --------------------------------------------------------------------------------------------

#: CUR 2.0 line item type -> (FOCUS ChargeCategory, ChargeFrequency)
_FOCUS_CHARGE = {
    "Usage": ("Usage", "Usage-Based"),
    "SavingsPlanCoveredUsage": ("Usage", "Usage-Based"),
    "SavingsPlanNegation": ("Usage", "Usage-Based"),
    "SavingsPlanRecurringFee": ("Purchase", "Recurring"),
    "EdpDiscount": ("Credit", "Usage-Based"),
    "Credit": ("Credit", "One-Time"),
    "Refund": ("Credit", "One-Time"),
    "Fee": ("Purchase", "One-Time"),
    "Tax": ("Tax", "One-Time"),
}
_BILL_TYPE = {"ANNIVERSARY": "Anniversary", "PURCHASE": "Purchase", "REFUND": "Refund"}
_BILLING_ENTITY = {"AWS": "AWS", "AWS_MARKETPLACE": "AWS Marketplace"}


@dataclass
class _Block:
    """Lines that share every column but their amount (``units``: 1e-8 USD each)."""

    payer: str
    usage_account: str
    period: tuple[int, int]
    invoice_id: str
    invoicing_entity: str
    billing_entity: str
    bill_type: str
    line_type: str
    product: str
    usage_type: str
    description: str
    units: Any  # numpy int64 array, one per line
    tag_codes: Any = None  # numpy int8: 0 the account's team, 1 untagged, 2 another team
    other_team: str = ""


@dataclass
class _Payer:
    account: Any
    index: int
    members: dict[str, tuple[str, dict[str, str]]]  # account id -> (name, attributes)
    blocks: dict[tuple[int, int], list[_Block]] = field(default_factory=dict)


def _digest(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _rng(seed: int, *parts: object):
    import numpy as np

    return np.random.default_rng(_digest(seed, "exports", *parts))


def _split_units(total: int, n: int, rng) -> Any:
    """``n`` integers adding up to ``total`` exactly (same sign as ``total``), near-even."""
    import numpy as np

    n = max(1, int(n))
    sign = -1 if total < 0 else 1
    mag = abs(int(total))
    if n == 1 or mag < n:
        out = np.zeros(n, dtype=np.int64)
        out[0] = mag
        return sign * out
    weights = rng.uniform(0.5, 1.5, n)
    raw = np.floor(weights / weights.sum() * mag).astype(np.int64)
    raw[: mag - int(raw.sum())] += 1  # the remainder, one unit each, to the first lines
    return sign * raw


def _split_exact(total: int, weights: Sequence[int]) -> list[int]:
    """Largest-remainder split of integer ``total`` in proportion to integer ``weights``."""
    from fractions import Fraction

    w_sum = sum(weights)
    if not weights:
        return []
    if w_sum == 0:
        return [total] + [0] * (len(weights) - 1)
    exact = [Fraction(total) * w / w_sum for w in weights]
    floors = [e.numerator // e.denominator for e in exact]
    k = total - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for j in range(k):
        floors[order[j % len(order)]] += 1
    return floors


def _units(amount: object) -> int:
    return int(Decimal(str(amount)) * _SCALE)


def _members_of(org, acct) -> dict[str, tuple[str, dict[str, str]]]:
    members = getattr(org, "members", None) or {}
    out = {}
    for m in members.get(acct.account_id, ()):
        out[m.account_id] = (m.name, dict(m.attributes))
    if acct.account_id not in out:
        out[acct.account_id] = (acct.name, {})
    return out


def _is_spend(inv: dict) -> bool:
    return inv.get("InvoiceType") in ("INVOICE", "CREDIT_MEMO") and not inv.get(
        "CommercialInvoiceId"
    )


def _period_of(inv: dict) -> tuple[int, int]:
    bp = inv["BillingPeriod"]
    return int(bp["Year"]), int(bp["Month"])


def _ptext(period: tuple[int, int]) -> str:
    return f"{period[0]:04d}-{period[1]:02d}"


def _period_key(text: str) -> tuple[int, int]:
    y, m = text.split("-")
    return int(y), int(m)


def _next(period: tuple[int, int]) -> tuple[int, int]:
    y, m = period
    return (y + 1, 1) if m == 12 else (y, m + 1)


class _Model:
    """The canonical line blocks of every payer and billing period, anomalies included."""

    def __init__(self, org, *, lines: int | None, anomalies: bool) -> None:
        self.org = org
        self.seed = org.seed
        self.target = lines
        self.payers: dict[str, _Payer] = {}
        self.anomalies: list[dict] = []
        self.notes: list[dict] = []
        by_invoice: dict[str, list[dict]] = {}
        for li in org.line_items:
            by_invoice.setdefault(li.get("invoice_id") or _NO_INVOICE, []).append(li)
        self.lines_of = by_invoice
        for acct in org.accounts:
            self.payers[acct.account_id] = _Payer(acct, acct.index, _members_of(org, acct))
        self.refund_moved: dict[str, str] = {}  # credit memo id -> original invoice id
        self._stream_key: tuple | None = None
        self._stream = None
        self._teams: dict[str, list[str]] = {}
        # usage blocks per payer and month (a Savings Plans item makes three): the ``lines``
        # target is spread over them
        self.items_per: dict[tuple[str, tuple[int, int]], int] = {}
        for inv in org.invoices:
            if _is_spend(inv):
                key = (inv["AccountId"], _period_of(inv))
                n = sum(3 if "ComputeSP" in li["usage_type"] else 1
                        for li in by_invoice.get(inv["InvoiceId"], []))  # fmt: skip
                self.items_per[key] = self.items_per.get(key, 0) + n
        self._pick_refund_moved()
        for inv in org.invoices:
            if _is_spend(inv) and inv["AccountId"] in self.payers:
                self._invoice_blocks(inv)
        self._uninvoiced_lines()
        self._open_month()
        if anomalies:
            self._plant()

    # -- helpers ---------------------------------------------------------------------------
    def _team(self, payer: _Payer, account: str) -> str:
        return payer.members.get(account, ("", {}))[1].get("team", "")

    def _sublines(self, n_items: int, fixed: int) -> int:
        """Lines per usage item: 3 by default, else what reaches the ``lines`` target over the
        ``n_items`` usage blocks of the payer's month."""
        if self.target is None:
            return 3
        return max(1, (self.target - fixed) // max(1, n_items))

    def _usage_block(self, payer, period, inv_id, entity, billing_entity, bill_type, li, n,
                     line_type="Usage", units=None, key=()) -> _Block:  # fmt: skip
        import numpy as np

        # one random stream per invoice (drawn in line-item order: deterministic by seed)
        stream = (payer.account.account_id, inv_id, period, "open" in key)
        if self._stream_key != stream:
            self._stream_key = stream
            self._stream = _rng(self.seed, "usage", *stream)
        rng = self._stream
        total = _units(li["amount_usd"]) if units is None else units
        parts = _split_units(total, n, rng)
        codes = (rng.random(len(parts)) * 10).astype(np.int8)  # 0-7 own team, 8 none, 9 other
        codes = np.where(codes < 8, 0, codes - 7).astype(np.int8)
        account = li.get("usage_account_id") or li["account_id"]
        teams = self._teams.get(payer.account.account_id)
        if teams is None:
            teams = sorted({a.get("team", "") for _, a in payer.members.values()} - {""})
            self._teams[payer.account.account_id] = teams
        mine = self._team(payer, account)
        others = [t for t in teams if t != mine] or [mine or "shared"]
        other = others[int(rng.integers(len(others)))]
        return _Block(
            payer.account.account_id, account, period, inv_id, entity, billing_entity,
            bill_type, line_type, li["service"], li["usage_type"],
            f"{li['service']} {li['usage_type']}", parts, codes, other,
        )  # fmt: skip

    def _tax_per_line(self, payer: _Payer) -> bool:
        """Whether ``payer``'s tax lines are rounded line by line (one payer with taxes)."""
        index = TAX_PER_LINE_INDEX if len(self.org.accounts) >= TAX_PER_LINE_INDEX else 1
        return payer.index == index

    def _pick_refund_moved(self) -> None:
        """The first credit memo of a payer that is neither the CREATE_NEW nor the per-line-tax
        one whose refund the export bills under its original invoice (a known way exports and
        invoices disagree on the id)."""
        ids = {i["InvoiceId"] for i in self.org.invoices}
        for inv in self.org.invoices:
            payer = self.payers.get(inv["AccountId"])
            if (
                payer is None
                or payer.index == CREATE_NEW_INDEX
                or self._tax_per_line(payer)
                or inv.get("InvoiceType") != "CREDIT_MEMO"
                or inv.get("OriginalInvoiceId") not in ids
                or not self.lines_of.get(inv["InvoiceId"])
            ):
                continue
            self.refund_moved[inv["InvoiceId"]] = inv["OriginalInvoiceId"]
            self.notes.append(
                {
                    "kind": "refund_under_original",
                    "category": "credits_refunds",
                    "payer_account_id": inv["AccountId"],
                    "invoice_id": inv["InvoiceId"],
                    "related_invoice_id": inv["OriginalInvoiceId"],
                    "billing_period": _ptext(_period_of(inv)),
                    "detail": f"the refund of credit memo {inv['InvoiceId']} is billed in "
                    f"the export under invoice {inv['OriginalInvoiceId']}",
                }
            )
            return

    def _invoice_blocks(self, inv: dict) -> None:
        payer = self.payers[inv["AccountId"]]
        period = _period_of(inv)
        inv_id = inv["InvoiceId"]
        export_id = self.refund_moved.get(inv_id, inv_id)
        entity = inv["Entity"]["InvoicingEntity"]
        billing_entity = _BILLING_ENTITY.get(inv["Entity"].get("BillingEntity", "AWS"), "AWS")
        bill_type = _BILL_TYPE.get(inv.get("BillType", "ANNIVERSARY"), "Anniversary")
        items = self.lines_of.get(inv_id, [])
        base = inv["BaseCurrencyAmount"]
        brk = base["AmountBreakdown"]
        blocks: list[_Block] = []
        usage_by_account: dict[str, int] = {}
        n = self._sublines(self.items_per.get((inv["AccountId"], period), len(items)), 12)
        for li in items:
            account = li.get("usage_account_id") or li["account_id"]
            amount = _units(li["amount_usd"])
            usage_by_account[account] = usage_by_account.get(account, 0) + amount
            line_type = "Refund" if li.get("line_item_type") == "Refund" else "Usage"
            args = (payer, period, export_id, entity, billing_entity, bill_type)
            if "ComputeSP" in li["usage_type"]:
                # Savings Plans: covered usage at on-demand cost, its negation, the fee billed
                on_demand = amount * 135 // 100
                blocks.append(self._usage_block(*args, li, n, "SavingsPlanCoveredUsage",
                                                on_demand, ("covered",)))  # fmt: skip
                blocks.append(self._usage_block(*args, li, n, "SavingsPlanNegation",
                                                -on_demand, ("negation",)))  # fmt: skip
                blocks.append(self._usage_block(*args, li, n, "SavingsPlanRecurringFee",
                                                amount, ("fee",)))  # fmt: skip
            else:
                blocks.append(self._usage_block(*args, li, n, line_type))
        accounts = sorted(usage_by_account)
        weights = [usage_by_account[a] for a in accounts]

        def spread(component: str, line_type: str, product: str, per_line_rate=None) -> None:
            for item in brk.get(component, {}).get("Breakdown", []):
                amount = _units(item["Amount"])
                if amount == 0:
                    continue
                if component == "Discounts" and item.get("Rate") is None:
                    line_type_here = "Credit"
                else:
                    line_type_here = line_type
                if component == "Fees" or not accounts:
                    shares = [(inv["AccountId"], amount)]
                    if component == "Fees":
                        fee_by_account[inv["AccountId"]] = (
                            fee_by_account.get(inv["AccountId"], 0) + amount
                        )
                elif per_line_rate is not None and item.get("Rate"):
                    # tax computed per account line and rounded to the cent each
                    rate = Decimal(item["Rate"])
                    shares = []
                    for a in tax_accounts():
                        cents = (Decimal(tax_base(a)) / _CENTS * rate).quantize(Decimal(1))
                        shares.append((a, int(cents) * _CENTS))
                else:
                    targets, split_w = accounts, weights
                    if component == "Taxes":  # tax is due on usage, discounts and fees
                        targets = tax_accounts()
                        split_w = [tax_base(a) for a in targets]
                    parts = _split_exact(amount, split_w)
                    shares = list(zip(targets, parts, strict=True))
                    if component == "Discounts":
                        for a, p in shares:
                            discount_by_account[a] = discount_by_account.get(a, 0) + p
                for a, p in shares:
                    if p == 0:
                        continue
                    import numpy as np

                    blocks.append(
                        _Block(
                            payer.account.account_id,
                            a,
                            period,
                            export_id,
                            entity,
                            billing_entity,
                            bill_type,
                            line_type_here,
                            product,
                            item.get("Description", component),
                            item.get("Description", ""),
                            np.array([p], dtype=np.int64),
                            np.zeros(1, dtype=np.int8),
                        )  # fmt: skip
                    )

        discount_by_account: dict[str, int] = {}
        fee_by_account: dict[str, int] = {}

        def tax_accounts() -> list[str]:
            return sorted(set(accounts) | set(fee_by_account))

        def tax_base(a: str) -> int:
            return (usage_by_account.get(a, 0) + discount_by_account.get(a, 0)
                    + fee_by_account.get(a, 0))  # fmt: skip

        spread("Discounts", "EdpDiscount", "AWS Discounts")
        spread("Fees", "Fee", "AWS Fees")
        if self._tax_per_line(payer):
            spread("Taxes", "Tax", "AWS Tax", per_line_rate=True)
        else:
            spread("Taxes", "Tax", "AWS Tax")
        # more precision than the invoice: a few 1e-8 USD over or under, never a cent
        if blocks:
            nudge = int(_rng(self.seed, "nudge", inv_id).integers(-400, 401))
            blocks[0].units = blocks[0].units.copy()
            blocks[0].units[0] += nudge
        payer.blocks.setdefault(period, []).extend(blocks)

    def _uninvoiced_lines(self) -> None:
        """Line items the model bills to no invoice yet (a closed month whose invoice is not
        issued): written without invoice id, as AWS does until the bill is final."""
        for li in self.lines_of.get(_NO_INVOICE, []):
            payer = self.payers.get(li["account_id"])
            if payer is None:
                continue
            period = _period_key(li["billing_period"])
            block = self._usage_block(
                payer, period, _NO_INVOICE, payer.account.invoicing_entity,
                _BILLING_ENTITY.get(li.get("billing_entity", "AWS"), "AWS"), "Anniversary",
                li, self._sublines(self.items_per.get((li["account_id"], period), 1), 0),
            )  # fmt: skip
            payer.blocks.setdefault(period, []).append(block)

    def _open_month(self) -> None:
        """Months without an invoice yet, from the payer's latest invoiced month's usage, with
        no invoice id: a closed month whose invoice is not issued (the first days of a month;
        in full) and the current month so far (pro rata)."""
        import calendar

        today: date = self.org.today
        current = (today.year, today.month)
        latest: dict[str, tuple[int, int]] = {}
        for inv in self.org.invoices:
            if inv.get("BillType") == "ANNIVERSARY" and inv.get("InvoiceType") == "INVOICE":
                p = _period_of(inv)
                latest[inv["AccountId"]] = max(latest.get(inv["AccountId"], p), p)
        for payer_id, base_period in latest.items():
            payer = self.payers.get(payer_id)
            if payer is None:
                continue
            todo: list[tuple[tuple[int, int], Decimal]] = []
            for p in self.org.periods:
                if tuple(p) > base_period and not payer.blocks.get(tuple(p)):
                    todo.append((tuple(p), Decimal(1)))
            if current > tuple(self.org.periods[-1]) and today.day > 1:
                days = calendar.monthrange(*current)[1]
                todo.append((current, Decimal(today.day - 1) / Decimal(days)))
            invoices = [
                inv for inv in self.org.invoices_for(payer_id)
                if _period_of(inv) == base_period and inv.get("BillType") == "ANNIVERSARY"
                and inv.get("InvoiceType") == "INVOICE"
            ]  # fmt: skip
            for period, fraction in todo:
                for inv in invoices:
                    items = self.lines_of.get(inv["InvoiceId"], [])
                    n = self._sublines(self.items_per.get((payer_id, base_period), len(items)), 0)
                    for li in items:
                        amount = (Decimal(li["amount_usd"]) * fraction).quantize(Decimal("0.01"))
                        if amount == 0:
                            continue
                        li2 = dict(li, amount_usd=format(amount, "f"))
                        block = self._usage_block(
                            payer, period, _NO_INVOICE, inv["Entity"]["InvoicingEntity"], "AWS",
                            "Anniversary", li2, n, key=("open",),
                        )  # fmt: skip
                        payer.blocks.setdefault(period, []).append(block)

    # -- anomalies ---------------------------------------------------------------------------
    def _plant(self) -> None:
        import numpy as np

        last = tuple(self.org.periods[-1])
        accts = list(self.payers.values())

        def record(kind, category, payer, inv_id, period, detail, amount=None):
            self.anomalies.append(
                {
                    "kind": kind,
                    "category": category,
                    "payer_account_id": payer,
                    "invoice_id": inv_id,
                    "billing_period": _ptext(period),
                    "amount": None if amount is None else format(amount, "f"),
                    "detail": detail,
                }
            )

        def anniversary(payer: _Payer, period) -> str | None:
            for inv in self.org.invoices_for(payer.account.account_id):
                if (
                    _period_of(inv) == period
                    and inv.get("BillType") == "ANNIVERSARY"
                    and inv.get("InvoiceType") == "INVOICE"
                    and inv["InvoiceId"] not in self.refund_moved.values()
                ):
                    return inv["InvoiceId"]
            return None

        # 1. a line billed to no invoice, in a closed month that has invoices
        p = accts[0]
        blocks = p.blocks.get(last, [])
        if blocks:
            src = blocks[0]
            units = np.array([1_234_500 * _CENTS], dtype=np.int64)  # 12,345.00 USD
            p.blocks[last].append(
                _Block(src.payer, src.usage_account, last, _NO_INVOICE, src.invoicing_entity,
                       "AWS", "Anniversary", "Usage", src.product, src.usage_type,
                       "Usage not attributed to any invoice", units, np.zeros(1, np.int8))
            )  # fmt: skip
            record("line_without_invoice", "lines_without_invoice", src.payer, None, last,
                   "a usage line of 12345.00 USD in a closed month carries no invoice id",
                   Decimal("12345.00"))  # fmt: skip
        # 2. an invoice with no lines (its lines left out of the export)
        q = accts[min(2, len(accts) - 1)]
        prev = tuple(self.org.periods[-2]) if len(self.org.periods) > 1 else last
        target = anniversary(q, prev)
        if target is not None:
            q.blocks[prev] = [b for b in q.blocks.get(prev, []) if b.invoice_id != target]
            record("invoice_without_lines", "invoice_without_lines", q.account.account_id,
                   target, prev, f"the export holds no line of invoice {target}")  # fmt: skip
        # 3. a difference beyond rounding: one extra line on an invoice
        r = accts[1 % len(accts)] if len(accts) > 1 else accts[0]
        target = anniversary(r, last)
        if target is not None:
            src = next(b for b in r.blocks[last] if b.invoice_id == target)
            extra = 8_765 * _CENTS  # 87.65 USD
            r.blocks[last].append(
                _Block(src.payer, src.usage_account, last, target, src.invoicing_entity,
                       src.billing_entity, src.bill_type, "Usage", src.product, src.usage_type,
                       "Usage billed twice", np.array([extra], dtype=np.int64),
                       np.zeros(1, np.int8))
            )  # fmt: skip
            record("difference_beyond_rounding", "unexplained", r.account.account_id, target,
                   last, f"invoice {target}'s lines exceed it by 87.65 USD",
                   Decimal("87.65"))  # fmt: skip


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _ts(period: tuple[int, int]) -> datetime:
    return datetime(period[0], period[1], 1)


def _columns(
    payer: _Payer,
    blocks: list[_Block],
    fmt: str,
    scale: Decimal | None,
    first_line: int = 0,
    id_prefix: str = "",
):
    """The Arrow table of ``blocks`` in ``fmt`` ("cur2" or "focus"); ``scale`` shrinks amounts
    (older snapshots of a CREATE_NEW export) and blanks invoice ids."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    sizes = np.array([len(b.units) for b in blocks], dtype=np.int64)
    idx = pa.array(np.repeat(np.arange(len(blocks), dtype=np.int32), sizes))
    n = int(sizes.sum())
    units = np.concatenate([b.units for b in blocks]) if blocks else np.zeros(0, np.int64)
    if scale is not None:
        units = (units.astype(np.float64) * float(scale)).round().astype(np.int64)
    cost = units.astype(np.float64) / _SCALE
    codes = np.concatenate([b.tag_codes for b in blocks]) if blocks else np.zeros(0, np.int8)

    bidx_np = idx.to_numpy()

    def per_block(values: list) -> pa.Array:
        # dictionary-encoded with one entry per distinct value, so Parquet stores low-cardinality
        # columns as RLE_DICTIONARY pages, as Parquet writers do by default (parquet-mr, Spark,
        # Arrow); a dictionary with an entry per block overflowed the 1 MB dictionary page and
        # fell back to PLAIN, which no real export would.
        # Readers see ``string``: the Arrow schema is not stored.
        uniq = sorted({v for v in values if v is not None})
        pos = {v: i for i, v in enumerate(uniq)}
        codes = np.array([pos.get(v, -1) for v in values] + [-1], dtype=np.int32)[bidx_np]
        return pa.DictionaryArray.from_arrays(
            pa.array(codes, mask=codes < 0), pa.array(uniq or [""], type=pa.string())
        )

    zeros = pa.array(np.zeros(n, np.int32))

    def const(text: str) -> pa.Array:
        return pa.DictionaryArray.from_arrays(zeros, pa.array([text], type=pa.string()))

    acct = per_block([b.usage_account for b in blocks])
    acct_name = per_block([payer.members.get(b.usage_account, ("", {}))[0] for b in blocks])
    inv = [None if (scale is not None or not b.invoice_id) else b.invoice_id for b in blocks]
    invoice = per_block(inv)
    start = pa.array([_ts(b.period) for b in blocks], pa.timestamp("ms")).take(idx)
    end = pa.array([_ts(_next(b.period)) for b in blocks], pa.timestamp("ms")).take(idx)
    attrs = [payer.members.get(b.usage_account, ("", {}))[1] for b in blocks]
    team_own = np.array([a.get("team") or "" for a in attrs] + [""], dtype=object)
    team_other = np.array([b.other_team for b in blocks] + [""], dtype=object)
    env = np.array([a.get("environment") or "" for a in attrs] + [""], dtype=object)
    cc = np.array([a.get("cost_center") or "" for a in attrs] + [""], dtype=object)
    bidx = idx.to_numpy()
    team_idx = np.where(codes == 2, 1, 0)
    team_all = pa.array(np.concatenate([team_own, team_other]), pa.string())
    team = team_all.take(pa.array(bidx + team_idx * (len(blocks) + 1)))
    team_np = team.to_numpy(zero_copy_only=False)
    tagged = (codes != 1) & (team_np != "")
    prefix = "user_" if fmt == "cur2" else "user:"
    keys_t = pa.array([f"{prefix}team", f"{prefix}environment", f"{prefix}cost_center"])
    n_tagged = int(tagged.sum())
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.where(tagged, 3, 0), out=offsets[1:])
    sel = np.nonzero(tagged)[0]
    tb = bidx[sel]
    items = np.empty(n_tagged * 3, dtype=object) if n_tagged else np.empty(0, dtype=object)
    if n_tagged:
        items[0::3] = team_np[sel]
        items[1::3] = env[tb]
        items[2::3] = cc[tb]
    keys = keys_t.take(pa.array(np.tile(np.arange(3, dtype=np.int32), n_tagged)))
    tags = pa.MapArray.from_arrays(pa.array(offsets), keys, pa.array(items, pa.string()))
    cc_has = cc[bidx] != ""
    cc_off = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(cc_has.astype(np.int32), out=cc_off[1:])
    cc_keys = pa.array(np.full(int(cc_has.sum()), "CostCenter", dtype=object), pa.string())
    cats = pa.MapArray.from_arrays(
        pa.array(cc_off), cc_keys, pa.array(cc[bidx][cc_has], pa.string())
    )
    line_type = per_block([b.line_type for b in blocks])
    product = per_block([b.product for b in blocks])
    usage_type = per_block([b.usage_type for b in blocks])
    desc = per_block([b.description for b in blocks])
    entity = per_block([b.invoicing_entity for b in blocks])
    payer_id = const(payer.account.account_id)
    payer_name = const(payer.account.name)
    usd = const("USD")
    qty = np.abs(cost) * 3.0
    line_no = pc.cast(pa.array(np.arange(first_line, first_line + n, dtype=np.int64)), pa.string())
    if fmt == "cur2":
        ids = pc.binary_join_element_wise(
            pa.array([f"{id_prefix or payer.account.account_id}-"]).take(zeros),
            line_no,
            "",
        )
        interval = per_block(
            [f"{_ts(b.period):%Y-%m-%dT%H:%M:%SZ}/{_ts(_next(b.period)):%Y-%m-%dT%H:%M:%SZ}"
             for b in blocks]
        )  # fmt: skip
        arrays = [
            ids, interval, invoice, entity,
            per_block([b.billing_entity for b in blocks]),
            per_block([b.bill_type for b in blocks]),
            payer_id, payer_name, start, end, acct, acct_name, line_type, start, end, product,
            usage_type, per_block(["RunInstances" if "BoxUsage" in b.usage_type else ""
                                   for b in blocks]),
            desc, pa.array(qty), usd, pa.array(cost), pa.array(cost), pa.array(cost),
            pa.array(np.where(cost > 0, cost, 0.0)), tags, cats,
        ]  # fmt: skip
        schema = _schemas()[0]
    else:
        cat = per_block([_FOCUS_CHARGE.get(b.line_type, ("Usage", "Usage-Based"))[0]
                         for b in blocks])  # fmt: skip
        freq = per_block([_FOCUS_CHARGE.get(b.line_type, ("Usage", "Usage-Based"))[1]
                          for b in blocks])  # fmt: skip
        nulls = pa.nulls(n, pa.string())
        arrays = [
            nulls, pa.array(cost), payer_id, payer_name,
            const("Management Account"),
            usd, end, start, cat, nulls, desc, freq, end, start, pa.array(qty),
            pa.array(cost), pa.array(cost), invoice, entity, pa.array(np.abs(cost)),
            const("AWS"),
            per_block(["AWS Marketplace" if b.billing_entity == "AWS Marketplace" else "AWS"
                       for b in blocks]),
            nulls, product, acct, acct_name,
            const("AWS Account"),
            tags, cats, nulls, product, usage_type,
        ]  # fmt: skip
        schema = _schemas()[1]
    return pa.Table.from_arrays(arrays, names=schema.names)


def _slices(blocks: list[_Block], max_lines: int) -> Iterable[list[_Block]]:
    """Groups of whole blocks (a big block is cut) of at most ``max_lines`` lines."""
    group: list[_Block] = []
    size = 0
    for b in blocks:
        start = 0
        while start < len(b.units):
            room = max_lines - size
            take = min(room, len(b.units) - start)
            if start == 0 and take == len(b.units):
                piece = b
            else:
                piece = _Block(**{**b.__dict__, "units": b.units[start : start + take],
                                  "tag_codes": b.tag_codes[start : start + take]})  # fmt: skip
            group.append(piece)
            size += take
            start += take
            if size >= max_lines:
                yield group
                group, size = [], 0
    if group:
        yield group


def _execution_ids(seed: int, payer: str, period: tuple[int, int], k: int) -> list[str]:
    """``k`` execution ids, oldest first, in *descending* sort order (sorting picks the oldest)."""
    ids = []
    for i in range(k):
        h = hashlib.sha256(f"{seed}:{payer}:{period}:{i}".encode()).hexdigest()
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}")
    return sorted(ids, reverse=True)


def write_exports(
    org,
    root: str | os.PathLike,
    *,
    lines: int | None = None,
    anomalies: bool = False,
    formats: Sequence[str] = ("cur2", "focus"),
    payers: Sequence[str] | None = None,
) -> dict:
    """Write a CUR 2.0 and a FOCUS 1.2 export per payer of ``org`` under ``root``.

    Parameters
    ----------
    org : Organization
        The sandbox organization (:func:`invoicekit.sandbox.org.build_organization`).
    root : path-like
        The folder to write (created); it reads as an ``aws s3 sync`` copy of :data:`BUCKET`.
    lines : int, optional
        About how many lines each export holds per billing month (benchmarks); default a few
        per usage item.
    anomalies : bool
        Plant misalignments (listed in the result and ``root/exports.json``).
    formats : sequence of {"cur2", "focus"}
        Which exports to write.
    payers : sequence of str, optional
        Only these payer account ids.

    Returns
    -------
    dict
        ``{"bucket", "root", "exports": [{"name", "payer_account_id", "format", "delivery",
        "path", "periods"}], "anomalies": [...], "notes": [...]}`` (also written to
        ``root/exports.json``).

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> org = build_organization(accounts=1, months=1, today="2026-11-25")
    >>> info = write_exports(org, "/tmp/ik-exports-example")  # doctest: +SKIP
    >>> info["exports"][0]["format"]  # doctest: +SKIP
    'cur2'
    """
    import pyarrow.parquet as pq

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    model = _Model(org, lines=lines, anomalies=anomalies)
    written = []
    for payer_id, payer in model.payers.items():
        if payers is not None and payer_id not in payers:
            continue
        create_new = payer.index == CREATE_NEW_INDEX
        for fmt in formats:
            name = f"{'cur2' if fmt == 'cur2' else 'focus'}-{payer_id}"
            part_key = "BILLING_PERIOD" if fmt == "cur2" else "billing_period"
            export_root = root / payer_id / name
            arn = (
                f"arn:aws:bcm-data-exports:{_REGION}:{payer_id}:export/{name}-"
                f"{hashlib.sha256(name.encode()).hexdigest()[:8]}"
            )
            schema = _schemas()[0 if fmt == "cur2" else 1]
            periods = sorted(payer.blocks)
            for period in periods:
                blocks = payer.blocks[period]
                ptext = _ptext(period)
                runs: list[tuple[str | None, Decimal | None]]
                if create_new:
                    ids = _execution_ids(org.seed, payer_id, period, EXECUTIONS)
                    scales = [Decimal("0.6"), Decimal("0.85"), None]
                    runs = list(zip(ids, scales, strict=True))
                else:
                    runs = [(None, None)]
                base_time = datetime(*_next(period), 3, 6, tzinfo=UTC).timestamp()
                for k, (exec_id, scale) in enumerate(runs):
                    sub = f"{part_key}={ptext}" + (f"/{exec_id}" if exec_id else "")
                    data_dir = export_root / "data" / sub
                    meta_dir = export_root / "metadata" / sub
                    data_dir.mkdir(parents=True, exist_ok=True)
                    meta_dir.mkdir(parents=True, exist_ok=True)
                    files = []
                    first_line = 0
                    for part, group in enumerate(_slices(blocks, PART_LINES), start=1):
                        fname = f"{name}-{part:05d}.snappy.parquet"
                        tbl = _columns(payer, group, fmt, scale, first_line,
                                       f"{payer_id}-{ptext}")  # fmt: skip
                        first_line += tbl.num_rows
                        pq.write_table(
                            tbl, data_dir / fname, compression="snappy", store_schema=False
                        )
                        files.append(data_dir / fname)
                    if not files:
                        tbl = _columns(payer, [], fmt, scale)
                        fname = f"{name}-00001.snappy.parquet"
                        pq.write_table(
                            tbl, data_dir / fname, compression="snappy", store_schema=False
                        )
                        files.append(data_dir / fname)
                    exec_id_text = (
                        exec_id
                        or hashlib.sha256(f"{org.seed}:{name}:{ptext}".encode()).hexdigest()[:32]
                    )
                    manifest = {
                        "executionId": exec_id_text,
                        "exportArn": arn,
                        "columns": [{"name": f.name, "type": _athena_type(f.type)} for f in schema],
                        "dataFiles": [
                            f"s3://{BUCKET}/{f.relative_to(root).as_posix()}" for f in files
                        ],
                        "additionalOutputFiles": [],
                    }
                    mpath = meta_dir / f"{name}-Manifest.json"
                    mpath.write_text(json.dumps(manifest, indent=2))
                    when = base_time + k * 5 * 86400  # each execution days after the last
                    for f in [*files, mpath]:
                        os.utime(f, (when, when))
            written.append(
                {
                    "name": name,
                    "payer_account_id": payer_id,
                    "format": fmt,
                    "delivery": "CREATE_NEW" if create_new else "OVERWRITE_REPORT",
                    "path": str(export_root.relative_to(root)),
                    "periods": [_ptext(p) for p in periods],
                }
            )
    info = {
        "bucket": BUCKET,
        "root": str(root),
        "exports": written,
        "anomalies": model.anomalies,
        "notes": model.notes,
    }
    (root / "exports.json").write_text(json.dumps(info, indent=2))
    return info


def _athena_type(t) -> str:
    import pyarrow as pa

    if pa.types.is_map(t):
        return "map<string,string>"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_floating(t):
        return "double"
    return "string"
