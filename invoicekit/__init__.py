"""invoicekit: AWS invoices across payer accounts, as exact DataFrames and an audit-ready archive.

The public surface is imported lazily (PEP 562), so that ``invoicekit sandbox`` and other
light commands start without importing pandas. The ``TYPE_CHECKING`` block at the end names
every export for type checkers and IDEs; ``tests/test_foundation.py`` keeps the two in step.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "InvoiceKitError": "invoicekit.errors",
    "InvalidArgumentError": "invoicekit.errors",
    "ConfigError": "invoicekit.errors",
    "ApiError": "invoicekit.errors",
    "ThrottledError": "invoicekit.errors",
    "DownloadError": "invoicekit.errors",
    "Fleet": "invoicekit.fleet",
    "PayerAccount": "invoicekit.fleet",
    "load_fleet": "invoicekit.fleet",
    "AccountAccess": "invoicekit.access",
    "COLUMNS": "invoicekit.schema",
    "to_frame": "invoicekit.schema",
    "long_form": "invoicekit.schema",
    "list_invoice_summaries": "invoicekit.loader",
    "read_invoice_summaries": "invoicekit.loader",
    "Store": "invoicekit.store",
    "RunReport": "invoicekit.outcomes",
    "Failure": "invoicekit.outcomes",
    "run_report": "invoicekit.outcomes",
    "download_invoice_pdfs": "invoicekit.archive",
    "verify_archive": "invoicekit.archive",
    "reconcile_invoices": "invoicekit.reconcile",
    "totals": "invoicekit.reconcile",
    "month_end_table": "invoicekit.reconcile",
    "completeness_grid": "invoicekit.reconcile",
    "explain_findings": "invoicekit.reconcile.explain",
    "export_ap": "invoicekit.ap",
    "APExport": "invoicekit.ap",
    "read_ledger": "invoicekit.ap",
    "read_acceptance": "invoicekit.ap",
    "close_month": "invoicekit.close",
    "CloseResult": "invoicekit.close",
    "verify_pack": "invoicekit.close",
    "diff_invoices": "invoicekit.changes",
    "changes_since_close": "invoicekit.changes",
    "ChangeReport": "invoicekit.changes",
    "read_invoice_units": "invoicekit.units",
    "read_invoice_profiles": "invoicekit.units",
    "unit_of_invoice": "invoicekit.units",
    "read_cost_export": "invoicekit.costs",
    "CostExport": "invoicekit.costs",
    "align": "invoicekit.costs",
    "allocate": "invoicekit.costs",
    "chargeback": "invoicekit.business_units",
    "read_business_units": "invoicekit.business_units",
    "BusinessUnits": "invoicekit.business_units",
    "executive_summary": "invoicekit.report",
    "headlines": "invoicekit.report",
    "Headline": "invoicekit.report",
    # the one money formatter and rounding rule, and URL redaction, for notebooks and scripts
    "format_money": "invoicekit._money",
    "format_compact": "invoicekit._money",
    "quantize": "invoicekit._money",
    "minor_unit": "invoicekit._money",
    "redact_url": "invoicekit._redact",
}

_SUBMODULES = {
    "access",
    "ap",
    "archive",
    "business_units",
    "changes",
    "charts",
    "clock",
    "close",
    "costs",
    "documents",
    "errors",
    "fleet",
    "loader",
    "months",
    "notebook",
    "outcomes",
    "reconcile",
    "report",
    "sandbox",
    "schema",
    "store",
    "units",
    "widgets",
}

# Literal, so that type checkers read it; tests/test_foundation.py keeps it equal to the two tables.
__all__ = [
    "APExport",
    "AccountAccess",
    "ApiError",
    "BusinessUnits",
    "COLUMNS",
    "ChangeReport",
    "CloseResult",
    "CostExport",
    "ConfigError",
    "DownloadError",
    "Failure",
    "Fleet",
    "Headline",
    "InvalidArgumentError",
    "InvoiceKitError",
    "PayerAccount",
    "RunReport",
    "Store",
    "ThrottledError",
    "__version__",
    "access",
    "align",
    "allocate",
    "ap",
    "archive",
    "business_units",
    "changes",
    "changes_since_close",
    "chargeback",
    "charts",
    "clock",
    "close",
    "close_month",
    "completeness_grid",
    "costs",
    "diff_invoices",
    "documents",
    "download_invoice_pdfs",
    "errors",
    "executive_summary",
    "explain_findings",
    "export_ap",
    "fleet",
    "format_compact",
    "format_money",
    "headlines",
    "list_invoice_summaries",
    "load_fleet",
    "loader",
    "long_form",
    "minor_unit",
    "month_end_table",
    "months",
    "notebook",
    "outcomes",
    "quantize",
    "read_acceptance",
    "read_invoice_summaries",
    "read_ledger",
    "reconcile",
    "read_business_units",
    "read_cost_export",
    "read_invoice_profiles",
    "read_invoice_units",
    "reconcile_invoices",
    "redact_url",
    "report",
    "run_report",
    "sandbox",
    "schema",
    "store",
    "to_frame",
    "totals",
    "unit_of_invoice",
    "units",
    "verify_archive",
    "verify_pack",
    "widgets",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"invoicekit.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'invoicekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - what type checkers and IDEs see
    from invoicekit import (
        access,
        ap,
        archive,
        business_units,
        changes,
        charts,
        clock,
        close,
        costs,
        documents,
        errors,
        fleet,
        loader,
        months,
        notebook,
        outcomes,
        reconcile,
        report,
        sandbox,
        schema,
        store,
        units,
        widgets,
    )
    from invoicekit._money import format_compact, format_money, minor_unit, quantize
    from invoicekit._redact import redact_url
    from invoicekit.access import AccountAccess
    from invoicekit.ap import APExport, export_ap, read_acceptance, read_ledger
    from invoicekit.archive import download_invoice_pdfs, verify_archive
    from invoicekit.business_units import BusinessUnits, chargeback, read_business_units
    from invoicekit.changes import ChangeReport, changes_since_close, diff_invoices
    from invoicekit.close import CloseResult, close_month, verify_pack
    from invoicekit.costs import CostExport, align, allocate, read_cost_export
    from invoicekit.errors import (
        ApiError,
        ConfigError,
        DownloadError,
        InvalidArgumentError,
        InvoiceKitError,
        ThrottledError,
    )
    from invoicekit.fleet import Fleet, PayerAccount, load_fleet
    from invoicekit.loader import list_invoice_summaries, read_invoice_summaries
    from invoicekit.outcomes import Failure, RunReport, run_report
    from invoicekit.reconcile import (
        completeness_grid,
        month_end_table,
        reconcile_invoices,
        totals,
    )
    from invoicekit.reconcile.explain import explain_findings
    from invoicekit.report import Headline, executive_summary, headlines
    from invoicekit.schema import COLUMNS, long_form, to_frame
    from invoicekit.store import Store
    from invoicekit.units import read_invoice_profiles, read_invoice_units, unit_of_invoice
