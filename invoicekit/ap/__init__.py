"""The accounts-payable export: one billing month's payable invoices, once, safely importable.

:func:`export_ap` writes the payable documents (invoices, and credit memos as credits
referencing the invoice they correct) of one billing month for an AP system — ``generic``,
``oracle-ap`` (Oracle Fusion Payables' two open-interface tables), ``netsuite`` (vendor bill
CSV import) or ``xero`` (bills CSV) — records every exported invoice in an export ledger so
no invoice is ever sent twice, and refuses while reconciliation error findings are open on the
invoices it would write (a controller may accept them by finding id). docs/ap.md is the
reference: every column, the rules each target documents, the ledger, exit codes.

* :mod:`invoicekit.ap.export`: :func:`export_ap`, :class:`APExport`;
* :mod:`invoicekit.ap.formats`: column lists and writers (:data:`AP_FORMATS`);
* :mod:`invoicekit.ap.ledger`: :func:`read_ledger`, :func:`append_ledger`,
  :func:`read_acceptance`;
* :mod:`invoicekit.ap.mapping`: supplier, GL account and tax code per invoicing entity;
* ``business_units=``: each invoice's business unit, cost center and GL account from the
  chargeback's mapping (:mod:`invoicekit.business_units`, docs/chargeback.md).

Examples
--------
>>> import pathlib, tempfile
>>> from invoicekit.ap import export_ap
>>> from invoicekit.sandbox.org import build_organization
>>> from invoicekit.schema import to_frame
>>> df = to_frame(build_organization(accounts=2, months=2, today="2026-11-05").invoices)
>>> result = export_ap(df, pathlib.Path(tempfile.mkdtemp()) / "ap", "oracle-ap", month="2026-10")
>>> [p.name for p in result.files], result.exit_code
(['AP_INVOICES_INTERFACE.csv', 'AP_INVOICE_LINES_INTERFACE.csv'], 0)
"""

from __future__ import annotations

from invoicekit.ap.export import APExport, export_ap
from invoicekit.ap.formats import (
    AP_FORMATS,
    GENERIC_BUSINESS_UNIT_COLUMNS,
    GENERIC_COLUMNS,
    NETSUITE_BUSINESS_UNIT_COLUMNS,
    NETSUITE_COLUMNS,
    NETSUITE_CREDIT_COLUMNS,
    ORACLE_INVOICE_COLUMNS,
    ORACLE_INVOICES_FILE,
    ORACLE_LINE_BUSINESS_UNIT_COLUMNS,
    ORACLE_LINE_COLUMNS,
    ORACLE_LINES_FILE,
    XERO_COLUMNS,
    XERO_MAX_INVOICES,
)
from invoicekit.ap.ledger import LEDGER_COLUMNS, append_ledger, read_acceptance, read_ledger
from invoicekit.ap.mapping import MAPPING_KEYS, APMapping, load_mapping

__all__ = [
    "AP_FORMATS",
    "APExport",
    "APMapping",
    "GENERIC_BUSINESS_UNIT_COLUMNS",
    "GENERIC_COLUMNS",
    "LEDGER_COLUMNS",
    "MAPPING_KEYS",
    "NETSUITE_BUSINESS_UNIT_COLUMNS",
    "NETSUITE_COLUMNS",
    "NETSUITE_CREDIT_COLUMNS",
    "ORACLE_INVOICES_FILE",
    "ORACLE_INVOICE_COLUMNS",
    "ORACLE_LINE_BUSINESS_UNIT_COLUMNS",
    "ORACLE_LINES_FILE",
    "ORACLE_LINE_COLUMNS",
    "XERO_COLUMNS",
    "XERO_MAX_INVOICES",
    "append_ledger",
    "export_ap",
    "load_mapping",
    "read_acceptance",
    "read_ledger",
]
