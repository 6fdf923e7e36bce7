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
    "export_ap": "invoicekit.reconcile",
    # the one money formatter and rounding rule, and URL redaction, for notebooks and scripts
    "format_money": "invoicekit._money",
    "format_compact": "invoicekit._money",
    "quantize": "invoicekit._money",
    "minor_unit": "invoicekit._money",
    "redact_url": "invoicekit._redact",
}

_SUBMODULES = {
    "access",
    "archive",
    "charts",
    "clock",
    "documents",
    "errors",
    "fleet",
    "loader",
    "months",
    "outcomes",
    "reconcile",
    "report",
    "sandbox",
    "schema",
    "store",
    "widgets",
}

# Literal, so that type checkers read it; tests/test_foundation.py keeps it equal to the two tables.
__all__ = [
    "AccountAccess",
    "ApiError",
    "COLUMNS",
    "ConfigError",
    "DownloadError",
    "Failure",
    "Fleet",
    "InvalidArgumentError",
    "InvoiceKitError",
    "PayerAccount",
    "RunReport",
    "Store",
    "ThrottledError",
    "__version__",
    "access",
    "archive",
    "charts",
    "clock",
    "completeness_grid",
    "documents",
    "download_invoice_pdfs",
    "errors",
    "export_ap",
    "fleet",
    "format_compact",
    "format_money",
    "list_invoice_summaries",
    "load_fleet",
    "loader",
    "long_form",
    "minor_unit",
    "month_end_table",
    "months",
    "outcomes",
    "quantize",
    "read_invoice_summaries",
    "reconcile",
    "reconcile_invoices",
    "redact_url",
    "report",
    "run_report",
    "sandbox",
    "schema",
    "store",
    "to_frame",
    "totals",
    "verify_archive",
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
        archive,
        charts,
        clock,
        documents,
        errors,
        fleet,
        loader,
        months,
        outcomes,
        reconcile,
        report,
        sandbox,
        schema,
        store,
        widgets,
    )
    from invoicekit._money import format_compact, format_money, minor_unit, quantize
    from invoicekit._redact import redact_url
    from invoicekit.access import AccountAccess
    from invoicekit.archive import download_invoice_pdfs, verify_archive
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
        export_ap,
        month_end_table,
        reconcile_invoices,
        totals,
    )
    from invoicekit.schema import COLUMNS, long_form, to_frame
    from invoicekit.store import Store
