"""Invoices tied out to their cost-and-usage lines, per invoice id (``invoicekit align``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoicekit import documents
from invoicekit._money import format_money, minor_unit
from invoicekit.costs import sql as _sql
from invoicekit.costs._engine import make_engine
from invoicekit.costs.read import CostExport, read_cost_export
from invoicekit.errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "align",
    "tie_out_lines",
    "unexplained_lines",
    "CATEGORIES",
    "ALIGN_COLUMNS",
    "EXPLAINED",
    "UNEXPLAINED",
]

#: category -> (explained?, what it means). ``None``: not checked (no export for that month).
CATEGORIES: dict[str, tuple[bool | None, str]] = {
    "unexplained": (False, "the lines and the invoice differ beyond rounding"),
    "lines_without_invoice": (False, "export lines billed to no invoice of the summaries"),
    "invoice_without_lines": (False, "an invoice the export holds no line of"),
    "matched": (True, "the lines add up to the invoice within rounding"),
    "tax_lines": (True, "the difference is the tax: the export's tax lines against the invoice's"),
    "credits_refunds": (True, "a refund billed in the export under the invoice it credits"),
    "not_yet_invoiced": (True, "lines of a month not invoiced yet (no invoice id until final)"),
    "no_export": (None, "the payer's export does not cover this month: not checked"),
}
EXPLAINED = tuple(k for k, (e, _) in CATEGORIES.items() if e)
UNEXPLAINED = tuple(k for k, (e, _) in CATEGORIES.items() if e is False)

ALIGN_COLUMNS = [
    "payer_account_id", "account_name", "billing_period", "invoice_id", "invoice_type",
    "category", "explained", "currency", "invoice_total", "lines_total", "difference", "lines",
    "invoice_taxes", "tax_lines_total", "related_invoice_id", "detail",
]  # fmt: skip
_MONEY = ("invoice_total", "lines_total", "difference", "invoice_taxes", "tax_lines_total")


def _months_of(summaries) -> list[str]:
    from invoicekit.months import month_str

    return sorted({month_str(p) for p in summaries["billing_period"].dropna()})


def invoice_table(summaries: pd.DataFrame, month: str | None = None):
    """The ``invoices`` input of the SQL: spend rows (invoices and credit memos), base view."""
    import pyarrow as pa

    from invoicekit.months import month_str

    spend = summaries[documents.is_spend(summaries)]
    rows: dict[str, list[Any]] = {k: [] for k in (
        "payer_account_id", "period_key", "invoice_id", "invoice_type", "original_invoice_id",
        "currency", "invoice_total", "invoice_taxes", "tolerance", "minor_unit")}  # fmt: skip
    for rec in spend[
        ["account_id", "billing_period", "invoice_id", "invoice_type", "original_invoice_id",
         "base_currency", "base_total", "base_taxes"]
    ].itertuples(index=False):  # fmt: skip
        period = month_str(rec.billing_period)
        if month is not None and period != month:
            continue
        cur = str(rec.base_currency)
        unit = minor_unit(cur)
        rows["payer_account_id"].append(str(rec.account_id))
        rows["period_key"].append(int(period[:4]) * 100 + int(period[5:]))
        rows["invoice_id"].append(str(rec.invoice_id))
        rows["invoice_type"].append(str(rec.invoice_type))
        orig = rec.original_invoice_id
        rows["original_invoice_id"].append(None if _missing(orig) else str(orig))
        rows["currency"].append(cur)
        rows["invoice_total"].append(_dec(rec.base_total))
        rows["invoice_taxes"].append(_dec(rec.base_taxes) or Decimal(0))
        rows["tolerance"].append(unit / 2)
        rows["minor_unit"].append(unit)
    money = pa.decimal128(28, 10)
    schema = pa.schema(
        [("payer_account_id", pa.string()), ("period_key", pa.int64()),
         ("invoice_id", pa.string()), ("invoice_type", pa.string()),
         ("original_invoice_id", pa.string()), ("currency", pa.string()),
         ("invoice_total", money), ("invoice_taxes", money), ("tolerance", money),
         ("minor_unit", money)]
    )  # fmt: skip
    return pa.table(rows, schema=schema)


def _missing(value) -> bool:
    from invoicekit._na import is_missing

    return is_missing(value) or value == ""


def _dec(value) -> Decimal | None:
    if _missing(value):
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def coverage_table(costs: CostExport):
    """The ``coverage`` input: payer-months the exports cover."""
    import pyarrow as pa

    pairs = costs.coverage()
    return pa.table(
        {
            "payer_account_id": [p for p, _ in pairs],
            "period_key": [int(m[:4]) * 100 + int(m[5:]) for _, m in pairs],
        },
        schema=pa.schema([("payer_account_id", pa.string()), ("period_key", pa.int64())]),
    )


def _as_costs(costs, *, format=None) -> CostExport:  # noqa: A002
    if isinstance(costs, CostExport):
        return costs
    return read_cost_export(costs, format=format)


def scope(summaries: pd.DataFrame, costs: CostExport, month: str | None) -> CostExport:
    """The export months a tie-out reads: ``month``, else from the summaries' first month on."""
    if month is not None:
        return costs.restricted([month])
    months = _months_of(summaries)
    if not months:
        return costs
    first = months[0]
    wanted = sorted({p for e in costs.exports for p in e.periods if p >= first})
    left = sorted({p for e in costs.exports for p in e.periods if p < first})
    narrowed = costs.restricted(wanted)
    if left:
        narrowed.notes.append(
            f"export months before the summaries' first month ({first}) left out: "
            f"{left[0]}..{left[-1]}"
        )
    return narrowed


def align(
    summaries: pd.DataFrame,
    costs: CostExport | str | Any,
    *,
    month: str | None = None,
    engine: Any = "duckdb",
    format: str | None = None,  # noqa: A002
) -> pd.DataFrame:
    """Tie each invoice out to the sum of its cost-and-usage lines (base currency view).

    Parameters
    ----------
    summaries : DataFrame
        Invoice summaries (:func:`invoicekit.read_invoice_summaries` or a ``fetch`` file).
    costs : CostExport or path or s3 URI or list of them
        The exports (:func:`invoicekit.costs.read_cost_export`).
    month : "YYYY-MM", optional
        One billing month (default: every month of the summaries, and the months after them
        the exports hold, which are not invoiced yet).
    engine : {"duckdb", "spark"} or SparkSession
        Where the SQL runs (:mod:`invoicekit.costs.sql`, the same text on both).
    format : {"cur2", "focus"}, optional
        When ``costs`` is a path: only exports of this format.

    Returns
    -------
    DataFrame
        :data:`ALIGN_COLUMNS`, unexplained rows first; exact decimals; ``category`` one of
        :data:`CATEGORIES`, ``explained`` True/False (``<NA>`` for ``no_export``).
        ``attrs["notes"]``: what was left out and why.

    Examples
    --------
    >>> table = align(summaries, read_cost_export("exports/"))  # doctest: +SKIP
    >>> table["category"].value_counts()  # doctest: +SKIP
    """
    from invoicekit.months import parse_month

    if month is not None:
        y, m = parse_month(month, "month")
        month = f"{y:04d}-{m:02d}"
    costs = scope(summaries, _as_costs(costs, format=format), month)
    invoices = invoice_table(summaries, month)
    if not costs.exports:
        raise InvalidArgumentError(
            "--costs: the exports hold no billing month of the summaries"
            + (f" ({month})" if month else "")
            + "; check --month or point --costs at the right exports"
        )
    eng = make_engine(engine)
    try:
        views = eng.register_exports(costs)
        eng.register_table("invoices", invoices)
        eng.register_table("coverage", coverage_table(costs))
        result = eng.query(_sql.align_sql(views))
    finally:
        eng.close()
    names = _names(summaries)
    return _frame(result.to_pylist(), names, costs.notes)


def _names(summaries) -> dict[str, str]:
    out = {}
    if "account_name" in summaries:
        for a, n in (
            summaries[["account_id", "account_name"]].drop_duplicates().itertuples(index=False)
        ):
            if not _missing(n):
                out[str(a)] = str(n)
    return out


def _detail(r: dict) -> str:
    cur = r["currency"] or "USD"
    cat = r["category"]
    inv = r["invoice_id"] or "(no invoice id)"
    lines = r["lines"]
    if cat == "matched":
        return f"{lines} lines add up to {format_money(r['invoice_total'], cur, code=True)}"
    if cat == "tax_lines":
        return (
            f"differs by {format_money(r['difference'], cur, code=True)}: the invoice's tax "
            f"{format_money(r['invoice_taxes'], cur, code=True)}, the export's "
            f"{r['tax_lines']} tax lines {format_money(r['tax_lines_total'] or 0, cur, code=True)}"
        )
    if cat == "credits_refunds":
        return (
            f"differs by {format_money(r['difference'] or 0, cur, code=True)}: the refund of "
            f"credit memo/invoice {r['related_invoice_id']} is billed under one id in the export"
        )
    if cat == "not_yet_invoiced":
        return (
            f"{lines} lines ({format_money(r['lines_total'], 'USD', code=True)}) of a month "
            "not invoiced yet: AWS adds the invoice id when the bill is final"
        )
    if cat == "lines_without_invoice":
        what = "no invoice id" if not r["invoice_id"] else f"invoice id {inv} unknown"
        return (
            f"{lines} lines ({format_money(r['lines_total'], 'USD', code=True)}) with {what} "
            "in the summaries: ask AWS Support or fetch the missing invoice"
        )
    if cat == "invoice_without_lines":
        return (
            f"invoice {inv} ({format_money(r['invoice_total'], cur, code=True)}) has no line in "
            "the export: check the export's scope (accounts, billing month)"
        )
    if cat == "no_export":
        return "no export of this payer covers the month: not checked"
    return (
        f"the lines ({format_money(r['lines_total'] or 0, cur, code=True)}) differ from the "
        f"invoice ({format_money(r['invoice_total'], cur, code=True)}) by "
        f"{format_money(r['difference'], cur, code=True)}: beyond rounding, tax or credits"
    )


def _frame(rows: list[dict], names: dict[str, str], notes: list[str]) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa

    from invoicekit._money import MONEY_TYPE

    out = []
    for r in rows:
        key = int(r["period_key"])
        r["billing_period"] = f"{key // 100:04d}-{key % 100:02d}"
        r["account_name"] = names.get(r["payer_account_id"])
        if r["invoice_total"] is not None and r["lines_total"] is not None:
            r["difference"] = Decimal(r["invoice_total"]) - Decimal(r["lines_total"])
        elif r["invoice_total"] is not None:
            r["difference"] = Decimal(r["invoice_total"])
        else:
            r["difference"] = None
        if r["category"] in ("lines_without_invoice", "not_yet_invoiced"):
            r["difference"] = None
        r["explained"] = CATEGORIES[r["category"]][0]
        r["detail"] = _detail(r)
        r["lines"] = int(r["lines"] or 0)
        out.append(r)
    rank = {k: i for i, k in enumerate(CATEGORIES)}
    out.sort(key=lambda r: (rank[r["category"]], r["payer_account_id"] or "",
                            r["billing_period"], r["invoice_id"] or ""))  # fmt: skip
    data: dict[str, Any] = {}
    for col in ALIGN_COLUMNS:
        values = [r.get(col) for r in out]
        if col in _MONEY:
            vals = [None if v is None else Decimal(v) for v in values]
            data[col] = pd.array(vals, dtype=pd.ArrowDtype(MONEY_TYPE))
        elif col == "lines":
            data[col] = pd.array(values, dtype="Int64")
        elif col == "explained":
            data[col] = pd.array(values, dtype="boolean")
        else:
            data[col] = pd.array(values, dtype=pd.ArrowDtype(pa.string()))
    frame = pd.DataFrame(data)
    frame.attrs["notes"] = list(notes)
    return frame


def tie_out_lines(table: pd.DataFrame, costs: CostExport, *, month: str | None = None) -> list[str]:
    """The tie-out in sentences: what was tied out, per category, and each unexplained row.

    The CLI (``invoicekit align``) and ``make demo`` print these lines; the categories keep
    their names (the ``category`` column of the table) with what each means.

    Examples
    --------
    >>> tie_out_lines(table, costs, month="2026-10")[0]  # doctest: +SKIP
    'Tied out 16 invoices and 1 credit memo of October 2026 to the cost-and-usage exports of 12 payer accounts: ...'
    """
    from invoicekit import documents, months

    kinds = {"INVOICE": documents.INVOICE, "CREDIT_MEMO": documents.CREDIT_MEMO}
    counts: dict[str, int] = {}
    for t in table["invoice_type"]:
        kind = kinds.get(str(t)) if isinstance(t, str) else None
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    without = int((table["category"] == "lines_without_invoice").sum())
    what = documents.describe(counts) if counts else "no invoice"
    scope = f" of {months.month_words(month)}" if month else ""
    by_cat = table["category"].value_counts().to_dict()
    parts = [f"{by_cat[c]:,} {c} ({meaning})" for c, (_, meaning) in CATEGORIES.items()
             if by_cat.get(c)]  # fmt: skip
    n_payers = len(costs.payers)
    lines = [
        f"Tied out {what}{scope} to the cost-and-usage exports of "
        f"{documents.plural(n_payers, 'payer account')}"
        + (
            f" (and {without:,} group{'s' if without != 1 else ''} of lines billed to no invoice)"
            if without
            else ""
        )  # fmt: skip
        + (": " + "; ".join(parts) if parts else "")
        + "."
    ]
    bad = table[table["explained"].eq(False).fillna(False)]
    if not len(bad):
        lines.append("Every difference is explained.")
    else:
        lines.append(
            f"{len(bad):,} {'is' if len(bad) == 1 else 'are'} not explained (listed first in "
            "the table):"
        )
    return lines


def unexplained_lines(table: pd.DataFrame, limit: int = 30) -> list[str]:
    """One sentence per unexplained row (at most ``limit``, then "... and N more")."""
    bad = table[table["explained"].eq(False).fillna(False)]
    out = []
    for row in bad.head(limit).itertuples(index=False):
        name = f" ({row.account_name})" if isinstance(row.account_name, str) else ""
        inv = f"invoice {row.invoice_id}" if isinstance(row.invoice_id, str) and row.invoice_id \
            else "no invoice id"  # fmt: skip
        out.append(f"  {row.category}: payer {row.payer_account_id}{name}, "
                   f"{row.billing_period}, {inv}: {row.detail}")  # fmt: skip
    if len(bad) > limit:
        out.append(f"  ... and {len(bad) - limit:,} more in the table")
    return out
