"""The PDF archive: invoice PDFs named, downloaded, recorded and verified.

An archive is a directory ``dest`` holding one file per document (named by a template),
``manifest.csv`` (size and sha256 of every document) and a private ``.invoicekit/`` state
directory. The package has one module per concern:

============================  ===============================================================
:mod:`~.naming`               naming templates, sanitizing, the path of every document
:mod:`~.manifest`             the manifest and document catalogue files, the journal, the lock
:mod:`~.download`             :func:`download_invoice_pdfs` (GetInvoicePDF, document GETs)
:mod:`~.verify`               :func:`verify_archive` (re-hash, completeness), document counts
:mod:`~.s3`                   the archive in S3: checksummed objects, Object Lock, verify there
============================  ===============================================================

Guarantees: nothing is written outside ``dest``; a file under a final name is always complete
(temp file, fsync, rename, directory fsync: :mod:`invoicekit._files`); a re-run skips every
document whose file still has the manifest's hash and makes no API call for it; an expired or
rejected document URL leads to a fresh GetInvoicePDF call; presigned query strings and
credentials never leave the process.

Examples
--------
>>> from invoicekit import archive
>>> archive.render_path(archive.DEFAULT_TEMPLATE, {"billing_period": "2025-01",
...                     "account_id": "111111111111", "invoice_id": "E-1"})
'2025-01/111111111111/E-1.pdf'
"""

from __future__ import annotations

from invoicekit.archive.download import (
    DEFAULT_MAX_WORKERS,
    DOWNLOADED,
    FAILED,
    MAX_FETCH_ATTEMPTS,
    MAX_URL_REFRESHES,
    RESULT_COLUMNS,
    SKIPPED,
    download_invoice_pdfs,
    protect_logs,
    redact_log_text,
)
from invoicekit.archive.manifest import (
    CATALOGUE_COLUMNS,
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    S3_MANIFEST_COLUMNS,
    ManifestRead,
    read_manifest,
)
from invoicekit.archive.naming import (
    DEFAULT_TEMPLATE,
    MAX_PART_CHARS,
    SUPPLEMENTAL_SUFFIX,
    TEMPLATE_FIELDS,
    render_path,
    sanitize_part,
    sanitize_value,
    supplemental_template_for,
    validate_template,
)
from invoicekit.archive.s3 import (
    LOCK_MODES,
    Retention,
    retention,
    verify_s3_archive,
)
from invoicekit.archive.verify import (
    PROBLEM_COLUMNS,
    PROBLEMS,
    VerifyReport,
    verify_archive,
)

__all__ = [
    # download
    "download_invoice_pdfs",
    "RESULT_COLUMNS",
    "DOWNLOADED",
    "SKIPPED",
    "FAILED",
    "DEFAULT_MAX_WORKERS",
    "MAX_FETCH_ATTEMPTS",
    "MAX_URL_REFRESHES",
    "protect_logs",
    "redact_log_text",
    # verify
    "verify_archive",
    "VerifyReport",
    "PROBLEM_COLUMNS",
    "PROBLEMS",
    # naming
    "DEFAULT_TEMPLATE",
    "SUPPLEMENTAL_SUFFIX",
    "TEMPLATE_FIELDS",
    "MAX_PART_CHARS",
    "render_path",
    "supplemental_template_for",
    "sanitize_part",
    "sanitize_value",
    "validate_template",
    # S3 with Object Lock
    "LOCK_MODES",
    "Retention",
    "retention",
    "verify_s3_archive",
    "S3_MANIFEST_COLUMNS",
    # manifest
    "MANIFEST_COLUMNS",
    "CATALOGUE_COLUMNS",
    "MANIFEST_NAME",
    "ManifestRead",
    "read_manifest",
]
