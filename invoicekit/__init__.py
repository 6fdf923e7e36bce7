"""invoicekit: AWS invoices across payer accounts, as exact DataFrames and an audit-ready archive.

The public surface is imported lazily (PEP 562), so that ``invoicekit sandbox`` and other
light commands start without importing pandas.
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
    "COLUMNS": "invoicekit.schema",
    "to_frame": "invoicekit.schema",
    "long_form": "invoicekit.schema",
    "list_invoice_summaries": "invoicekit.loader",
    "read_invoice_summaries": "invoicekit.loader",
    "download_invoice_pdfs": "invoicekit.pdfs",
    "verify_archive": "invoicekit.pdfs",
    "totals": "invoicekit.reconcile",
    "month_end_table": "invoicekit.reconcile",
    "completeness_grid": "invoicekit.reconcile",
    "export_ap": "invoicekit.reconcile",
}

# `reconcile` is the callable module invoicekit.reconcile (see there), so it stays correct
# whether or not the submodule was imported first.
__all__ = sorted([*_EXPORTS, "reconcile", "sandbox", "charts", "widgets", "report", "__version__"])

_SUBMODULES = {
    "sandbox",
    "charts",
    "widgets",
    "schema",
    "errors",
    "fleet",
    "loader",
    "store",
    "pdfs",
    "reconcile",
    "report",
}


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


if TYPE_CHECKING:  # pragma: no cover
    from invoicekit.errors import *  # noqa: F403
