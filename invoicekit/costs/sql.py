"""The one SQL definition of the tie-out and of the allocation weights (DuckDB, Spark, Athena).

Everything here is portable SQL (``CASE``, ``COALESCE``, ``SUM``, ``FULL OUTER JOIN``, map
subscripts, ``year()``/``month()``), so the same text runs on DuckDB (the default), Spark SQL
(``pyspark``: local, EMR, Glue, Databricks) and, with the tables named after yours, Athena.

Inputs (views the engine registers):

* ``export_<k>``: the current data files of export ``k`` (CUR 2.0 or FOCUS 1.2 columns);
* ``invoices``: one row per spend invoice (``payer_account_id``, ``period_key`` (YYYYMM),
  ``invoice_id``, ``invoice_type``, ``original_invoice_id``, ``currency``, ``invoice_total``,
  ``invoice_taxes``, ``tolerance`` (half a minor unit), ``minor_unit``);
* ``coverage``: the ``(payer_account_id, period_key)`` pairs the exports cover.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from invoicekit.errors import InvalidArgumentError

__all__ = [
    "cost_lines_sql", "align_sql", "weights_sql", "dimension_expression", "name_expression",
    "NAME_COLUMNS", "MONEY_SQL",
]  # fmt: skip

#: The exact type every line amount is cast to before it is summed (the exports carry doubles).
MONEY_SQL = "DECIMAL(28,10)"

_DISCOUNT_TYPES = (
    "EdpDiscount", "PrivateRateDiscount", "BundledDiscount", "Credit", "SppDiscount",
    "DistributorDiscount",
)  # fmt: skip

#: Canonical columns of ``cost_lines`` per format (SQL expressions over the export's columns).
_COLUMNS = {
    "cur2": {
        "payer_account_id": "bill_payer_account_id",
        "period_key": "(year(bill_billing_period_start_date) * 100 "
        "+ month(bill_billing_period_start_date))",
        "invoice_id": "COALESCE(bill_invoice_id, '')",
        "usage_account_id": "line_item_usage_account_id",
        "line_class": "CASE WHEN line_item_line_item_type = 'Tax' THEN 'tax' "
        "WHEN line_item_line_item_type = 'Fee' THEN 'fee' "
        "WHEN line_item_line_item_type IN ("
        + ", ".join(f"'{t}'" for t in _DISCOUNT_TYPES)
        + ") THEN 'discount' ELSE 'charge' END",
        "cost": "line_item_unblended_cost",
    },
    "focus": {
        "payer_account_id": "BillingAccountId",
        "period_key": "(year(BillingPeriodStart) * 100 + month(BillingPeriodStart))",
        "invoice_id": "COALESCE(InvoiceId, '')",
        "usage_account_id": "SubAccountId",
        "line_class": "CASE WHEN ChargeCategory = 'Tax' THEN 'tax' "
        "WHEN ChargeCategory = 'Credit' THEN 'discount' "
        "WHEN ChargeCategory = 'Purchase' AND ChargeFrequency = 'One-Time' THEN 'fee' "
        "ELSE 'charge' END",
        "cost": "BilledCost",
    },
}

#: The canonical columns the tie-out and the weights group by (``cost_lines`` carries these).
_LINE_KEYS = ("payer_account_id", "period_key", "invoice_id", "line_class")

#: The export columns those keys are computed from: the lines are first summed per distinct
#: combination of these (a few thousand groups for millions of lines), and the keys computed
#: on the sums, so no expression runs once per line.
_RAW_KEYS = {
    "cur2": ("bill_payer_account_id", "bill_billing_period_start_date", "bill_invoice_id",
             "line_item_line_item_type"),
    "focus": ("BillingAccountId", "BillingPeriodStart", "InvoiceId", "ChargeCategory",
              "ChargeFrequency"),
}  # fmt: skip

#: The column naming the usage account, per format (read only by ``by="linked_account"``).
NAME_COLUMNS = {"cur2": "line_item_usage_account_name", "focus": "SubAccountName"}

_KEY = re.compile(r"^[A-Za-z0-9_.:/+\-@= ]{1,128}$")

#: ``by`` dimensions and what they need of the export.
DIMENSIONS = ("linked_account", "tag:KEY", "cost_category:NAME", "business_unit")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def dimension_expression(fmt: str, by: str) -> str:
    """The SQL expression of dimension ``by`` over an export of format ``fmt``.

    ``tag:team`` is the user tag ``team``: CUR 2.0 keys it ``user_team`` in ``resource_tags``,
    FOCUS 1.2 ``user:team`` (or ``team``) in ``Tags``. Empty values are NULL (untagged).

    Examples
    --------
    >>> dimension_expression("cur2", "tag:team")
    "NULLIF(resource_tags['user_team'], '')"
    """
    if by in ("linked_account", "business_unit"):
        return _COLUMNS[fmt]["usage_account_id"]
    kind, _, key = by.partition(":")
    if kind not in ("tag", "cost_category") or not key or not _KEY.match(key):
        raise InvalidArgumentError(
            f"--by {by!r}: give linked_account, tag:KEY (e.g. tag:team), cost_category:NAME "
            "(e.g. cost_category:CostCenter) or business_unit"
        )
    if kind == "tag":
        if fmt == "cur2":
            return f"NULLIF(resource_tags[{_quoted('user_' + key)}], '')"
        return f"NULLIF(COALESCE(Tags[{_quoted('user:' + key)}], Tags[{_quoted(key)}]), '')"
    if fmt == "cur2":
        return f"NULLIF(cost_category[{_quoted(key)}], '')"
    return f"NULLIF(x_CostCategories[{_quoted(key)}], '')"


def name_expression(fmt: str, by: str, *, available: bool = True) -> str | None:
    """The SQL expression of the name of dimension ``by``'s value, or ``None`` (no name).

    Only ``linked_account`` values have one: the usage account's name the export carries
    (CUR 2.0 ``line_item_usage_account_name``, FOCUS 1.2 ``SubAccountName``); empty is NULL.
    ``available=False`` (the export has no such column) gives a NULL string.

    Examples
    --------
    >>> name_expression("focus", "linked_account")
    "NULLIF(SubAccountName, '')"
    >>> name_expression("cur2", "tag:team") is None
    True
    """
    if by != "linked_account":
        return None
    if not available:
        return "CAST(NULL AS STRING)"
    return f"NULLIF({NAME_COLUMNS[fmt]}, '')"


def cost_lines_sql(
    exports: Sequence[tuple[str, str]], *, by: str | None = None,
    unnamed: Iterable[str] = (),
) -> str:  # fmt: skip
    """``SELECT`` of the canonical line groups of every export: ``[(view name, format), ...]``.

    Columns: ``payer_account_id, period_key, invoice_id, line_class`` (:data:`_LINE_KEYS`),
    ``cost`` (the exact sum of the group's lines, each cast to :data:`MONEY_SQL`) and ``lines``
    (how many), plus ``dim`` when ``by`` is given, and ``dim_name`` when ``by`` is
    ``linked_account`` (:func:`name_expression`; the views in ``unnamed`` have no name column).
    A group is one distinct combination of the export columns the keys come from
    (:data:`_RAW_KEYS`, and the dimension): consumers sum ``cost`` and ``lines`` again.
    """
    if not exports:
        raise InvalidArgumentError("no cost-and-usage export to read: give --costs PATH")
    unnamed = set(unnamed)
    selects = []
    for view, fmt in exports:
        raw = list(_RAW_KEYS[fmt])
        inner = list(raw)
        outer = [f"{_COLUMNS[fmt][name]} AS {name}" for name in _LINE_KEYS]
        if by is not None:
            extra = [(dimension_expression(fmt, by), "dim")]
            named = name_expression(fmt, by, available=view not in unnamed)
            if named is not None:
                extra.append((named, "dim_name"))
            inner += [f"{expr} AS {alias}" for expr, alias in extra]
            raw += [expr for expr, _ in extra]
            outer += [alias for _, alias in extra]
        cost = f"SUM(CAST({_COLUMNS[fmt]['cost']} AS {MONEY_SQL})) AS cost"
        selects.append(
            f"SELECT {', '.join(outer)}, cost, lines FROM (\n"
            f"  SELECT {', '.join(inner)}, {cost}, COUNT(*) AS lines\n"
            f"  FROM {view}\n"
            f"  GROUP BY {', '.join(raw)}\n"
            f") {view}_groups"
        )
    return "\nUNION ALL\n".join(selects)


def align_sql(exports: Sequence[tuple[str, str]]) -> str:
    """The tie-out: per invoice id, the invoice (base view) against the sum of its lines.

    One row per invoice of ``invoices`` and per ``(payer, month, invoice id)`` of the lines
    that matches no invoice, with ``category``:

    ``no_export`` the payer-month is in no export; ``not_yet_invoiced`` lines without an
    invoice id in a month the payer has no invoice for yet; ``lines_without_invoice`` lines
    whose invoice id is blank (in an invoiced month) or unknown; ``credits_refunds`` a credit
    memo whose refund the export bills under its original invoice (both rows);
    ``invoice_without_lines``; ``matched`` within half a minor unit; ``tax_lines`` the
    difference is the tax: the export's tax lines (rounded line by line, or absent) against
    the invoice's; ``unexplained`` anything else.
    """
    diff = f"CAST(i.invoice_total AS {MONEY_SQL}) - CAST(COALESCE(l.lines_total, 0) AS {MONEY_SQL})"
    return f"""
WITH cost_lines AS (
{cost_lines_sql(exports)}
),
lines AS (
  SELECT payer_account_id, period_key, invoice_id,
         SUM(cost) AS lines_total,
         SUM(CASE WHEN line_class = 'tax' THEN cost ELSE 0 END) AS tax_lines_total,
         CAST(SUM(CASE WHEN line_class = 'tax' THEN lines ELSE 0 END) AS BIGINT) AS tax_lines,
         CAST(SUM(lines) AS BIGINT) AS lines
  FROM cost_lines
  GROUP BY payer_account_id, period_key, invoice_id
),
invoiced_months AS (
  SELECT DISTINCT payer_account_id, period_key FROM invoices
),
joined AS (
  SELECT
    COALESCE(i.payer_account_id, l.payer_account_id) AS payer_account_id,
    COALESCE(i.period_key, l.period_key) AS period_key,
    COALESCE(i.invoice_id, l.invoice_id) AS invoice_id,
    i.invoice_type, i.original_invoice_id, i.currency, i.invoice_total, i.invoice_taxes,
    i.tolerance, i.minor_unit,
    l.lines_total, l.tax_lines_total,
    COALESCE(l.tax_lines, 0) AS tax_lines,
    COALESCE(l.lines, 0) AS lines,
    CASE WHEN i.invoice_id IS NULL THEN 0 ELSE 1 END AS has_invoice,
    CASE WHEN i.invoice_id IS NULL THEN NULL ELSE {diff} END AS difference
  FROM invoices i
  FULL OUTER JOIN lines l
    ON i.invoice_id = l.invoice_id AND i.payer_account_id = l.payer_account_id
),
memo_pairs AS (
  SELECT m.invoice_id AS memo_id, o.invoice_id AS original_id
  FROM joined m
  JOIN joined o
    ON m.original_invoice_id = o.invoice_id AND m.payer_account_id = o.payer_account_id
  WHERE m.invoice_type = 'CREDIT_MEMO' AND m.lines = 0 AND o.lines > 0
    AND o.has_invoice = 1
    AND ABS(o.difference + CAST(m.invoice_total AS {MONEY_SQL})) <= o.tolerance
)
SELECT
  j.payer_account_id, j.period_key, j.invoice_id, j.invoice_type, j.currency,
  j.invoice_total, j.invoice_taxes, j.lines_total, j.tax_lines_total, j.tax_lines, j.lines,
  j.difference,
  COALESCE(pm.original_id, po.memo_id) AS related_invoice_id,
  CASE
    WHEN j.has_invoice = 1 AND c.payer_account_id IS NULL THEN 'no_export'
    WHEN j.has_invoice = 0 AND j.invoice_id = '' AND im.payer_account_id IS NULL
      THEN 'not_yet_invoiced'
    WHEN j.has_invoice = 0 THEN 'lines_without_invoice'
    WHEN pm.memo_id IS NOT NULL OR po.original_id IS NOT NULL THEN 'credits_refunds'
    WHEN j.lines = 0 THEN 'invoice_without_lines'
    WHEN ABS(j.difference) <= j.tolerance THEN 'matched'
    WHEN ABS(j.difference - (CAST(j.invoice_taxes AS {MONEY_SQL})
                             - CAST(COALESCE(j.tax_lines_total, 0) AS {MONEY_SQL})))
         <= j.tolerance
     AND (j.tax_lines = 0
          OR ABS(CAST(j.invoice_taxes AS {MONEY_SQL})
                 - CAST(COALESCE(j.tax_lines_total, 0) AS {MONEY_SQL}))
             <= j.tax_lines * j.minor_unit)
      THEN 'tax_lines'
    ELSE 'unexplained'
  END AS category
FROM joined j
LEFT JOIN coverage c
  ON c.payer_account_id = j.payer_account_id AND c.period_key = j.period_key
LEFT JOIN invoiced_months im
  ON im.payer_account_id = j.payer_account_id AND im.period_key = j.period_key
LEFT JOIN memo_pairs pm ON pm.memo_id = j.invoice_id
LEFT JOIN memo_pairs po ON po.original_id = j.invoice_id
"""


def weights_sql(exports: Sequence[tuple[str, str]], by: str, *,
                unnamed: Iterable[str] = ()) -> str:  # fmt: skip
    """Allocation weights: the lines' sum per payer, month, invoice id, class and dimension value.

    For ``by="linked_account"`` a column ``dim_name`` holds the account's name from the lines
    (``MAX`` of its non-empty names: one name even if the account was renamed in the month);
    the views listed in ``unnamed`` have no name column (NULL).
    """
    name = ", MAX(dim_name) AS dim_name" if name_expression("cur2", by) is not None else ""
    return f"""
WITH cost_lines AS (
{cost_lines_sql(exports, by=by, unnamed=unnamed)}
)
SELECT payer_account_id, period_key, invoice_id, line_class, dim, SUM(cost) AS amount,
       CAST(SUM(lines) AS BIGINT) AS lines{name}
FROM cost_lines
WHERE invoice_id <> ''
GROUP BY payer_account_id, period_key, invoice_id, line_class, dim
"""
