"""Each invoice split over a dimension below it, in every currency view, to the minor unit.

Rule (docs/costs.md, "Allocation"): each component of an invoice is split in proportion to the
export lines of its own kind — the subtotal over the charge lines (usage, Savings Plans,
refunds, Marketplace), the discounts over the discount and credit lines, the fees over the fee
lines, the taxes over the tax lines — falling back to all the invoice's non-tax lines when a
kind has no line (or its lines sum to zero). The same shares apply to the base, tax and payment
views (each view's own amounts, converted by AWS at the invoice's rate, are split; nothing is
converted again). Largest-remainder rounding in each view's minor unit makes every invoice's
allocations add up to it exactly; a row's total is the sum of its components.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from invoicekit import documents
from invoicekit._money import minor_unit
from invoicekit.costs import sql as _sql
from invoicekit.costs._engine import make_engine
from invoicekit.costs.align import _as_costs, _dec, _missing, _names, scope
from invoicekit.errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["allocate", "ALLOCATION_COLUMNS", "UNTAGGED", "NO_LINES", "NO_ACCOUNT", "NO_UNIT"]

#: The value of lines without the tag or cost category: kept as its own line, never dropped.
UNTAGGED = "(untagged)"
#: The value of an invoice the export holds no line of (all of it, unallocated).
NO_LINES = "(no export lines)"
#: The value of lines without a usage account.
NO_ACCOUNT = "(no account)"
#: The value of accounts no business-unit mapping covers.
NO_UNIT = "(unallocated)"
#: The value holding an invoice's own arithmetic difference (total != its components).
ARITHMETIC = "(invoice arithmetic difference)"

COMPONENTS = ("subtotal", "discounts", "fees", "taxes")
_CLASS_OF = {"subtotal": "charge", "discounts": "discount", "fees": "fee", "taxes": "tax"}

ALLOCATION_COLUMNS = [
    "payer_account_id", "account_name", "billing_period", "invoice_id", "invoice_type", "view",
    "currency", "dimension", "value", "value_name", "subtotal", "discounts", "fees", "taxes",
    "total", "lines",
]  # fmt: skip


def _check_by(by: str) -> str:
    if not isinstance(by, str):
        raise InvalidArgumentError("--by: give linked_account, tag:KEY, cost_category:NAME "
                                   "or business_unit")  # fmt: skip
    if by in ("linked_account", "business_unit"):
        return by
    _sql.dimension_expression("cur2", by)  # validates tag:KEY / cost_category:NAME
    return by


def largest_remainder(amount: Decimal, weights: list[Fraction], unit: Decimal) -> list[Decimal]:
    """Split ``amount`` in proportion to ``weights`` into multiples of ``unit`` adding up to it.

    Exact shares are floored to ``unit`` and the units left over go, one each, to the largest
    remainders (ties: first listed). Weights may be negative (refund lines); they must not sum
    to zero.

    Examples
    --------
    >>> largest_remainder(Decimal("100.00"), [Fraction(1), Fraction(1), Fraction(1)],
    ...                   Decimal("0.01"))
    [Decimal('33.34'), Decimal('33.33'), Decimal('33.33')]
    """
    total_w = sum(weights, Fraction(0))
    if total_w == 0:
        raise ValueError("weights sum to zero")
    units_total = Fraction(amount) / Fraction(unit)
    exact = [units_total * w / total_w for w in weights]
    floors = [e.numerator // e.denominator for e in exact]
    left = units_total - sum(floors)
    k = int(left)  # 0 <= k < len(weights) + 1
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    out = [Fraction(f) for f in floors]
    for j in range(k):
        out[order[j % len(order)]] += 1
    rest = left - k  # only when ``amount`` is not a whole number of units
    if rest:
        out[order[0]] += rest
    return [Decimal(o.numerator) / Decimal(o.denominator) * unit for o in out]


def _label_mapper(by: str, business_units) -> Any:
    if by == "business_unit":
        if business_units is None:
            raise InvalidArgumentError(
                "--by business_unit needs a mapping: pass --business-units FILE (CSV with "
                "account_id, business_unit) or business_units=..."
            )
        from invoicekit.business_units import read_business_units

        bu = business_units
        if not hasattr(bu, "for_account"):
            bu = read_business_units(business_units)

        def label(value, payer=None):
            if _missing(value):
                return NO_UNIT
            hit = bu.for_account(str(value), payer)
            return str(hit["business_unit"]) if hit and hit.get("business_unit") else NO_UNIT

        return label
    missing = NO_ACCOUNT if by == "linked_account" else UNTAGGED
    return lambda value, payer=None: missing if _missing(value) else str(value)


def allocate(
    summaries: pd.DataFrame,
    costs: Any,
    *,
    by: str = "linked_account",
    month: str | None = None,
    engine: Any = "duckdb",
    business_units: Any = None,
    format: str | None = None,  # noqa: A002
) -> pd.DataFrame:
    """Split each invoice over ``by`` in proportion to its export lines, in every view.

    Parameters
    ----------
    summaries : DataFrame
        Invoice summaries (a ``fetch`` file).
    costs : CostExport or path or s3 URI or list of them
        The exports (:func:`invoicekit.costs.read_cost_export`).
    by : str
        ``linked_account`` (the usage account), ``tag:KEY`` (the user tag ``KEY``),
        ``cost_category:NAME`` or ``business_unit`` (usage accounts mapped by
        ``business_units``, :func:`invoicekit.business_units.read_business_units`).
    month : "YYYY-MM", optional
        One billing month (default: every month of the summaries the exports cover).
    engine : {"duckdb", "spark"} or SparkSession
    business_units : mapping source, optional
        For ``by="business_unit"``: a CSV path, a DataFrame or a ``BusinessUnits``.
    format : {"cur2", "focus"}, optional

    Returns
    -------
    DataFrame
        :data:`ALLOCATION_COLUMNS`: one row per invoice, view and value; exact decimals; for
        every invoice and view the rows add up to the invoice's subtotal, discounts, fees,
        taxes and total exactly. Lines without the tag are the value :data:`UNTAGGED`.
        ``value_name`` is the member account's name from the export lines for
        ``by="linked_account"`` (CUR 2.0 ``line_item_usage_account_name``, FOCUS 1.2
        ``SubAccountName``; null when the export has no name), null for the other dimensions.
        ``attrs["notes"]`` says what was left out (payer-months without an export).

    Examples
    --------
    >>> split = allocate(summaries, "exports/", by="tag:team")  # doctest: +SKIP
    >>> split.groupby(["invoice_id", "view"])["total"].sum()  # doctest: +SKIP
    """
    import pandas as pd
    import pyarrow as pa

    from invoicekit._money import MONEY_TYPE
    from invoicekit.months import month_str, parse_month

    by = _check_by(by)
    if month is not None:
        y, m = parse_month(month, "month")
        month = f"{y:04d}-{m:02d}"
    label = _label_mapper(by, business_units)
    costs = scope(summaries, _as_costs(costs, format=format), month)
    if not costs.exports:
        raise InvalidArgumentError(
            "--costs: the exports hold no billing month of the summaries; check --month"
        )
    eng = make_engine(engine)
    try:
        views = eng.register_exports(costs)
        unnamed = _unnamed(costs, views) if by == "linked_account" else ()
        result = eng.query(_sql.weights_sql(views, by, unnamed=unnamed))
    finally:
        eng.close()
    weights: dict[tuple[str, str], dict[str, dict[str, Fraction]]] = {}
    counts: dict[tuple[str, str], dict[str, int]] = {}
    value_names: dict[str, str] = {}
    for r in result.to_pylist():
        key = (r["payer_account_id"], r["invoice_id"])
        value = label(r["dim"], r["payer_account_id"])
        name = r.get("dim_name")
        if not _missing(name) and not _missing(r["dim"]):
            # the same choice as the SQL's MAX, across the invoices
            value_names[value] = max(value_names.get(value, ""), str(name))
        per_class = weights.setdefault(key, {}).setdefault(r["line_class"], {})
        per_class[value] = per_class.get(value, Fraction(0)) + Fraction(r["amount"])
        c = counts.setdefault(key, {})
        c[value] = c.get(value, 0) + int(r["lines"])
    covered = set(costs.coverage())
    notes = list(costs.notes)
    spend = summaries[documents.is_spend(summaries)]
    names = _names(summaries)
    rows: list[dict] = []
    skipped = 0
    for rec in spend.to_dict("records"):
        period = month_str(rec["billing_period"])
        if month is not None and period != month:
            continue
        payer = str(rec["account_id"])
        if (payer, period) not in covered:
            skipped += 1
            continue
        key = (payer, str(rec["invoice_id"]))
        classes = weights.get(key, {})
        shares = {comp: _shares(classes, _CLASS_OF[comp]) for comp in COMPONENTS}
        values = sorted({v for s in shares.values() for v in s})
        for view in ("base", "tax", "payment"):
            cur = rec.get(f"{view}_currency")
            if _missing(cur):
                continue
            cur = str(cur)
            unit = minor_unit(cur)
            alloc = {v: dict.fromkeys(COMPONENTS, Decimal(0)) for v in values}
            for comp in COMPONENTS:
                amount = _dec(rec.get(f"{view}_{comp}")) or Decimal(0)
                if amount == 0:
                    continue
                share = shares[comp]
                names_ = sorted(share)
                parts = largest_remainder(amount, [share[v] for v in names_], unit)
                for v, p in zip(names_, parts, strict=True):
                    alloc[v][comp] += p
            total = _dec(rec.get(f"{view}_total")) or Decimal(0)
            parts_sum = sum((sum(a.values(), Decimal(0)) for a in alloc.values()), Decimal(0))
            if total != parts_sum:
                alloc[ARITHMETIC] = dict.fromkeys(COMPONENTS, Decimal(0))
            for v, a in alloc.items():
                row_total = sum(a.values(), Decimal(0))
                if v == ARITHMETIC:
                    row_total = total - parts_sum
                rows.append(
                    {
                        "payer_account_id": payer,
                        "account_name": names.get(payer),
                        "billing_period": period,
                        "invoice_id": str(rec["invoice_id"]),
                        "invoice_type": str(rec["invoice_type"]),
                        "view": view,
                        "currency": cur,
                        "dimension": by,
                        "value": v,
                        "value_name": value_names.get(v),
                        **a,
                        "total": row_total,
                        "lines": counts.get(key, {}).get(v, 0),
                    }
                )
    if skipped:
        notes.append(f"{skipped} invoices of payer-months no export covers were not allocated")
    data: dict[str, Any] = {}
    for col in ALLOCATION_COLUMNS:
        values_ = [r[col] for r in rows]
        if col in (*COMPONENTS, "total"):
            data[col] = pd.array(values_, dtype=pd.ArrowDtype(MONEY_TYPE))
        elif col == "lines":
            data[col] = pd.array(values_, dtype="Int64")
        else:
            data[col] = pd.array(values_, dtype=pd.ArrowDtype(pa.string()))
    frame = pd.DataFrame(data)
    frame.attrs["notes"] = notes
    return frame


def _unnamed(costs, views: list[tuple[str, str]]) -> list[str]:
    """The views whose export has no account-name column (checked on its first data file)."""
    import pyarrow.parquet as pq

    out = []
    for (view, fmt), export in zip(views, costs.exports, strict=True):
        files = [f for period in sorted(export.periods) for f in export.periods[period]]
        if not files:
            continue
        if costs.filesystem is not None:
            with costs.filesystem.open_input_file(files[0]) as fh:
                names = pq.read_schema(fh).names
        else:
            names = pq.read_schema(files[0]).names
        if _sql.NAME_COLUMNS[fmt] not in names:
            out.append(view)
    return out


def _shares(classes: dict[str, dict[str, Fraction]], cls: str) -> dict[str, Fraction]:
    """The weights of one component: its class's lines, else all non-tax lines, else all."""
    own = classes.get(cls, {})
    if own and sum(own.values(), Fraction(0)) != 0:
        return {v: w for v, w in own.items() if w != 0} or own
    merged: dict[str, Fraction] = {}
    for c, per in classes.items():
        if c == "tax":
            continue
        for v, w in per.items():
            merged[v] = merged.get(v, Fraction(0)) + w
    if merged and sum(merged.values(), Fraction(0)) != 0:
        return {v: w for v, w in merged.items() if w != 0}
    every: dict[str, Fraction] = {}
    for per in classes.values():
        for v, w in per.items():
            every[v] = every.get(v, Fraction(0)) + w
    if every and sum(every.values(), Fraction(0)) != 0:
        return {v: w for v, w in every.items() if w != 0}
    return {NO_LINES: Fraction(1)}
