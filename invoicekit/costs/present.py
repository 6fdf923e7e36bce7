"""What notebook 06 shows: the tie-out and the allocations, in sentences, tables and charts.

Each table and chart carries its exact figures as :data:`invoicekit.notebook.FIGURES_MIME`
(through :func:`invoicekit.notebook.show_table` / :func:`~invoicekit.notebook.show_charts`),
so tests compare them with figures computed independently.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from invoicekit._money import format_compact, format_money
from invoicekit.costs.read import CostExport, read_cost_export

__all__ = [
    "CATEGORY_WORDS",
    "allocation_charts",
    "allocation_totals",
    "cost_exports",
    "last_invoiced_month",
    "dimension_words",
    "months_words",
    "show_allocation",
    "show_tie_out",
    "value_labels",
]

#: How a category reads in a table for finance readers.
CATEGORY_WORDS = {
    "unexplained": "Unexplained difference",
    "lines_without_invoice": "Cost billed to no invoice",
    "invoice_without_lines": "Invoice with no cost lines",
    "matched": "Matches",
    "tax_lines": "Tax rounding / tax not in the export",
    "credits_refunds": "Refund recorded under the original invoice",
    "not_yet_invoiced": "Not invoiced yet",
    "no_export": "No export for this month",
}


def cost_exports(
    ctx: Any, path: Any = None, *, folder: str | os.PathLike | None = None,
    anomalies: bool = False,
) -> CostExport:  # fmt: skip
    """The exports a notebook reads: ``path`` when given, else the sandbox's, written to
    ``folder`` (default a new folder in the sandbox's own, removed when the sandbox stops; a
    CUR 2.0 and a FOCUS 1.2 export per payer, CUR 2.0 is read)."""
    from invoicekit import notebook

    if path is None:
        if getattr(ctx, "sandbox", None) is None or getattr(ctx.sandbox, "org", None) is None:
            raise ValueError("give the cost-and-usage exports' folder or s3:// URI (costs=...)")
        from invoicekit.sandbox.exports import write_exports

        if folder is None:  # the sandbox's own folder: the exports go when the sandbox does
            import tempfile

            folder = tempfile.mkdtemp(prefix="cost-exports-", dir=ctx.sandbox.workdir)
        write_exports(ctx.sandbox.org, folder, anomalies=anomalies)
        path = folder
    exports = read_cost_export(path)
    n_months = len({m for _, m in exports.coverage()})
    notebook.say(
        f"Read {len(exports.exports)} cost-and-usage exports covering {len(exports.payers)} "
        f"payer accounts and {n_months} billing months"
        + (
            f" ({exports.exports[0].format.upper().replace('CUR2', 'CUR 2.0')})."
            if exports.exports
            else "."
        )
    )
    for e in exports.exports:
        if e.superseded:
            notebook.say(
                f"The export of {e.payer_account_id} keeps every snapshot (create-new delivery): "
                f"{e.superseded} older snapshots were left out so that nothing is counted twice."
            )
    return exports


def last_invoiced_month(summaries) -> str | None:
    """The latest billing month ``summaries`` hold an invoice or credit memo of ("YYYY-MM")."""
    from invoicekit import documents
    from invoicekit.months import month_str

    spend = summaries[documents.is_spend(summaries)]
    if spend.empty:
        return None
    return max(month_str(p) for p in spend["billing_period"].dropna())


def show_tie_out(tie, *, limit: int | None = 40) -> None:
    """The tie-out: a sentence per kind of outcome, then the table, unexplained rows first.

    ``limit`` rows are shown and the rest counted ("… and N more rows"), but never fewer than
    the unexplained rows: every one of them is listed, before the explained ones.
    """
    import pandas as pd

    from invoicekit import notebook

    counts = tie["category"].value_counts().to_dict()
    invoices = int(tie["invoice_type"].notna().sum())
    unexplained = tie["explained"].eq(False).fillna(False).astype(bool)
    tie = pd.concat([tie[unexplained], tie[~unexplained]])  # stable: align's order within
    bad = tie[tie["explained"].eq(False).fillna(False).astype(bool)]
    if limit is not None:
        limit = max(limit, len(bad))
    notebook.say(
        f"{invoices} invoices were compared with their cost-and-usage lines: "
        f"{counts.get('matched', 0)} match to the cent, "
        f"{sum(counts.get(k, 0) for k in ('tax_lines', 'credits_refunds'))} differ for a known "
        f"reason (tax rounding, refunds), {counts.get('no_export', 0)} have no export."
    )
    if len(bad):
        notebook.say(
            f"{len(bad)} differences are not explained: they are listed first and need a look "
            "(ask AWS Support with the invoice id, or check the export's scope)."
        )
    else:
        notebook.say("Every difference is explained.")
    rows = []
    for r in tie.itertuples(index=False):
        cur = r.currency if isinstance(r.currency, str) else "USD"
        rows.append(
            {
                "account": r.account_name
                if isinstance(r.account_name, str)
                else r.payer_account_id,
                "month": r.billing_period,
                "invoice": r.invoice_id or "(none)",
                "outcome": CATEGORY_WORDS[r.category],
                "invoice_total": format_money(r.invoice_total, cur)
                if not pd.isna(r.invoice_total)
                else "–",
                "lines_total": format_money(r.lines_total, cur)
                if not pd.isna(r.lines_total)
                else "–",
                "difference": format_money(r.difference, cur) if not pd.isna(r.difference) else "–",
                "currency": cur,
            }
        )
    figures = {
        "table": "tie_out",
        "counts": {k: int(v) for k, v in counts.items()},
        "unexplained": [
            {"invoice_id": r.invoice_id, "category": r.category,
             "difference": None if pd.isna(r.difference) else str(r.difference)}
            for r in bad.itertuples(index=False)
        ],
    }  # fmt: skip
    notebook.show_table(
        pd.DataFrame(rows),
        {"account": "Account", "month": "Month", "invoice": "Invoice", "outcome": "Outcome",
         "invoice_total": "Invoice total", "lines_total": "Cost lines", "difference": "Difference",
         "currency": "Currency"},
        numeric=("invoice_total", "lines_total", "difference"),
        figures=figures,
        caption="Invoices against their cost-and-usage lines (base currency)",
        limit=limit,
    )  # fmt: skip


def allocation_totals(alloc, view: str = "payment") -> dict[str, dict[str, Decimal]]:
    """``{currency: {value: total}}`` of one view, largest first."""
    out: dict[str, dict[str, Decimal]] = {}
    part = alloc[alloc["view"] == view]
    for cur, value, total in zip(part["currency"], part["value"], part["total"], strict=True):
        per = out.setdefault(cur, {})
        per[value] = per.get(value, Decimal(0)) + total
    return {
        c: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for c, v in sorted(out.items())
    }


def value_labels(alloc) -> dict[str, str]:
    """``{value: "Name (id)"}`` for the values of an allocation that carry a name.

    The names are the allocation's ``value_name`` column (member accounts' names from the
    export lines); values without one (tags, placeholders) are left out, so
    ``labels.get(value, value)`` reads every value.

    Examples
    --------
    >>> import pandas as pd
    >>> value_labels(pd.DataFrame({"value": ["111122223333", "(no account)"],
    ...                            "value_name": ["Retail EU", None]}))
    {'111122223333': 'Retail EU (111122223333)'}
    """
    import pandas as pd

    if "value_name" not in getattr(alloc, "columns", ()):
        return {}
    out: dict[str, str] = {}
    for value, name in zip(alloc["value"], alloc["value_name"], strict=True):
        if isinstance(name, str) and name and not pd.isna(value):
            out[str(value)] = f"{name} ({value})"
    return out


def dimension_words(by: str) -> str:
    """What a dimension is called in a sentence: ``"member account"``, ``"team"``...

    Examples
    --------
    >>> dimension_words("linked_account"), dimension_words("tag:team")
    ('member account', 'team')
    """
    if by == "linked_account":
        return "member account"
    if by == "business_unit":
        return "business unit"
    return by.split(":", 1)[-1].replace("_", " ")


def months_words(alloc) -> str:
    """The billing months of an allocation in words: ``"October 2026"`` (or a range)."""
    from invoicekit.months import month_words

    periods = sorted({str(p) for p in alloc["billing_period"].dropna()}) if len(alloc) else []
    if not periods:
        return ""
    if len(periods) == 1:
        return month_words(periods[0])
    return f"{month_words(periods[0])} to {month_words(periods[-1])}"


def _title(by: str, alloc, cur: str | None, view: str) -> str:
    from invoicekit.schema import VIEW_LABELS

    when = months_words(alloc)
    head = f"Cost by {dimension_words(by)}" + (f" — {when}" if when else "")
    label = VIEW_LABELS.get(view, f"{view} view")
    return f"{head}, {cur} ({label})" if cur else f"{head} ({label})"


def show_allocation(alloc, *, view: str = "payment", names: dict[str, str] | None = None,
                    limit: int | None = 25) -> None:  # fmt: skip
    """The month's allocation per value and currency, with each value's share of the total.

    ``names`` maps a value to what the table shows (e.g. :func:`value_labels`: member accounts
    as "Name (id)"); other values show as they are.
    """
    import pandas as pd

    from invoicekit import documents, notebook
    from invoicekit.schema import VIEW_LABELS

    by = alloc["dimension"].iloc[0] if len(alloc) else "?"
    totals = allocation_totals(alloc, view)
    rows = []
    for cur, per in totals.items():
        grand = sum(per.values(), Decimal(0))
        for value, total in per.items():
            share = (total / grand * 100) if grand else Decimal(0)
            rows.append(
                {
                    "value": (names or {}).get(value, value),
                    "currency": cur,
                    "total": format_money(total, cur),
                    "share": f"{share.quantize(Decimal('0.1'))} %",
                }
            )
    kinds = {"INVOICE": documents.INVOICE, "CREDIT_MEMO": documents.CREDIT_MEMO}
    counts: dict[str, int] = {}
    for t in alloc.drop_duplicates("invoice_id")["invoice_type"] if len(alloc) else ():
        kind = kinds.get(t) if isinstance(t, str) else None
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    when = months_words(alloc)
    sentence = (
        f"The {documents.describe(counts)}{' of ' + when if when else ''} split by "
        f"{dimension_words(by)}, in the {VIEW_LABELS.get(view, view)}: each one's parts add "
        "up to it to the cent"
    )
    if by.startswith(("tag:", "cost_category:")):
        sentence += "; cost without the tag is its own line, (untagged)"
    notebook.say(sentence + ".")
    words = dimension_words(by)
    notebook.show_table(
        pd.DataFrame(rows),
        {"value": words[:1].upper() + words[1:], "currency": "Currency", "total": "Total",
         "share": "Share"},
        numeric=("total", "share"),
        figures={"table": "allocation", "dimension": by, "view": view,
                 "totals": {c: {v: str(t) for v, t in per.items()} for c, per in totals.items()}},
        caption=_title(by, alloc, None, view),
        limit=limit,
    )  # fmt: skip


def allocation_charts(alloc, *, view: str = "payment", names: dict[str, str] | None = None,
                      top: int = 12) -> dict[str, Any]:  # fmt: skip
    """One horizontal bar chart per currency: the allocation's largest values (``top``) and
    "Other", labelled with compact figures; exact totals in the figure's meta.

    ``names`` maps a value to its label (e.g. :func:`value_labels`); the title says it in
    plain words: "Cost by member account — October 2026, EUR (payment currency)".
    """
    import plotly.graph_objects as go

    by = alloc["dimension"].iloc[0] if len(alloc) else ""
    out = {}
    for cur, per in allocation_totals(alloc, view).items():
        items = list(per.items())
        shown = items[:top]
        rest = sum((t for _, t in items[top:]), Decimal(0))
        if items[top:]:
            shown.append(("Other", rest))
        labels = [(names or {}).get(v, v) for v, _ in shown][::-1]
        values = [float(t) for _, t in shown][::-1]  # plotly needs numbers; labels are exact
        text = [format_compact(t, cur) for _, t in shown][::-1]
        fig = go.Figure(go.Bar(x=values, y=labels, orientation="h", text=text,
                               textposition="auto", marker_color="#3b6ea5"))  # fmt: skip
        fig.update_layout(
            title=_title(by, alloc, cur, view),
            xaxis_title=cur, height=120 + 28 * len(shown),
            margin={"l": 20, "r": 20, "t": 50, "b": 40}, yaxis={"automargin": True},
            meta={"invoicekit": {"chart": "allocation", "totals": {v: str(t) for v, t in per.items()}}},
        )  # fmt: skip
        out[cur] = fig
    return out
