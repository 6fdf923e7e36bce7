"""Compatibility shim: the AP export moved to :mod:`invoicekit.ap` (docs/ap.md).

``from invoicekit.reconcile import export_ap`` and ``invoicekit.reconcile.ap.export_ap`` keep
working and are :func:`invoicekit.ap.export_ap` (which now exports one billing month, keeps a
ledger and returns an :class:`invoicekit.ap.APExport`).
"""

from __future__ import annotations

from invoicekit.ap import AP_FORMATS, APExport, export_ap
from invoicekit.ap.formats import GENERIC_COLUMNS as GENERIC_AP_COLUMNS
from invoicekit.ap.formats import ORACLE_INVOICE_COLUMNS as ORACLE_AP_COLUMNS

__all__ = ["AP_FORMATS", "APExport", "GENERIC_AP_COLUMNS", "ORACLE_AP_COLUMNS", "export_ap"]
