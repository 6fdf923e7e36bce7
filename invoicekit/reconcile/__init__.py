"""Month-end reconciliation of invoice summaries: findings, exact totals, the AP export.

Everything here is a pure function of the invoice DataFrame described in ``docs/design.md``
(one row per invoice, money as ``decimal128(38, 10)``). :func:`export_ap` is re-exported from
:mod:`invoicekit.ap` (the accounts-payable export, which writes files; docs/ap.md). The package is split by what each part owns:

* :mod:`invoicekit.reconcile.checks`: :func:`reconcile_invoices`, the :data:`CHECKS` it
  runs, :func:`coverage` (the months a run checks, and which the data does not hold);
* :mod:`invoicekit.reconcile.tables`: :func:`totals`, :func:`month_end_table`,
  :func:`completeness_grid`;
* :mod:`invoicekit.reconcile.ap`: a compatibility shim for :func:`invoicekit.ap.export_ap`.

What counts as spend or payable is :mod:`invoicekit.documents`; the views and components
are :mod:`invoicekit.schema`; months are :mod:`invoicekit.months`; amounts in messages are
:func:`invoicekit._money.format_money`.

``invoicekit.reconcile`` is an ordinary package (until 0.1 the module itself was callable as
``invoicekit.reconcile(df)``); the checks run with :func:`reconcile_invoices`.

Examples
--------
>>> from invoicekit.reconcile import reconcile_invoices, totals
>>> from invoicekit.sandbox.org import build_organization
>>> from invoicekit.schema import to_frame
>>> df = to_frame(build_organization(today="2026-11-25", anomalies=True).invoices)
>>> findings = reconcile_invoices(df)
>>> sorted(findings.loc[findings.severity == "error", "check"].unique())
['arithmetic_total', 'completeness', 'duplicate_invoice', 'exchange']
>>> list(totals(df, view="payment").columns[:4])
['billing_period', 'currency', 'invoices', 'credit_memos']
"""

from __future__ import annotations

import warnings
from typing import Any

from invoicekit.reconcile.ap import (
    AP_FORMATS,
    GENERIC_AP_COLUMNS,
    ORACLE_AP_COLUMNS,
    APExport,
    export_ap,
)
from invoicekit.reconcile.checks import (
    CHECKS,
    FINDING_COLUMNS,
    SEVERITIES,
    Check,
    Coverage,
    coverage,
    reconcile_invoices,
)
from invoicekit.reconcile.tables import completeness_grid, month_end_table, totals

__all__ = [
    "AP_FORMATS",
    "APExport",
    "CHECKS",
    "FINDING_COLUMNS",
    "GENERIC_AP_COLUMNS",
    "ORACLE_AP_COLUMNS",
    "SEVERITIES",
    "Check",
    "Coverage",
    "completeness_grid",
    "coverage",
    "export_ap",
    "month_end_table",
    "reconcile_invoices",
    "totals",
]


def __getattr__(name: str) -> Any:
    # Transitional: ``from invoicekit.reconcile import reconcile`` (0.1) still resolves, with
    # a DeprecationWarning, until every caller says reconcile_invoices. Not in __all__.
    if name == "reconcile":
        warnings.warn(
            "invoicekit.reconcile.reconcile is now invoicekit.reconcile.reconcile_invoices "
            "(also invoicekit.reconcile_invoices)",
            DeprecationWarning,
            stacklevel=2,
        )
        return reconcile_invoices
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
