"""Invoices tied out to the cost-and-usage exports and allocated below the invoice.

* :func:`read_cost_export` finds the current files of CUR 2.0 and FOCUS 1.2 exports (local,
  an ``aws s3 sync`` copy, or ``s3://``) from their manifests;
* :func:`align` ties each invoice out to the sum of its lines, with a category that explains
  any difference;
* :func:`allocate` splits each invoice over member accounts, a tag, a cost category or business
  units, in every currency view, to the minor unit.

The work is one SQL definition (:mod:`invoicekit.costs.sql`) run on DuckDB by default or on
Spark SQL. See docs/costs.md.
"""

from __future__ import annotations

from invoicekit.costs.align import ALIGN_COLUMNS, CATEGORIES, align
from invoicekit.costs.allocate import ALLOCATION_COLUMNS, UNTAGGED, allocate
from invoicekit.costs.read import CostExport, ExportFiles, read_cost_export

__all__ = [
    "ALIGN_COLUMNS",
    "ALLOCATION_COLUMNS",
    "CATEGORIES",
    "UNTAGGED",
    "CostExport",
    "ExportFiles",
    "align",
    "allocate",
    "read_cost_export",
]
