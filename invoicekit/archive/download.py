"""Batch-download invoice PDFs (and their supplemental documents) into an audit-ready archive.

:func:`download_invoice_pdfs` plans from the archive's own records first (manifest, catalogue,
file hashes: an archived, intact document is never asked for again), then runs the remaining
invoices in a bounded thread pool: one GetInvoicePDF per invoice, then a plain HTTPS GET per
document into a temporary file that is validated, fsynced and renamed (:mod:`invoicekit._http`).

Retries have one owner each:

* SDK calls (GetInvoicePDF, ListInvoiceSummaries): botocore, with the client from the shared
  access layer (:class:`invoicekit.access.AccountAccess`: adaptive mode, 10 retries). The
  downloader never loops around it.
* document GETs (plain HTTP, not botocore): :data:`MAX_FETCH_ATTEMPTS` attempts on transient
  failures (connection, 5xx, truncated or non-PDF body), with jittered back-off;
* an expired or rejected (403) document URL: a fresh GetInvoicePDF, at most
  :data:`MAX_URL_REFRESHES` per invoice.

The result is a frame of documents with a :class:`invoicekit.outcomes.RunReport` attached
(``invoicekit.run_report(result)``): ``api_calls`` counts the SDK requests really sent,
botocore's retries included (an event hook on ``before-send``), AssumeRole too (as the loader
counts them; ``extra["api_calls_by_operation"]`` splits them), and one
:class:`~invoicekit.outcomes.Failure` per document that failed.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoicekit import _files, clock, documents, months, outcomes
from invoicekit._client import CLIENTS, DEFAULT_CLIENT
from invoicekit._http import DocumentFetcher, FetchError, Origin
from invoicekit._redact import RedactingFilter, install_log_redaction, redact
from invoicekit.archive.manifest import (
    CATALOGUE_NAME,
    MANIFEST_NAME,
    STATE_DIR,
    ArchiveJournal,
    archive_lock,
    compact_catalogue,
    is_intact,
    read_catalogue,
    read_manifest,
    write_manifest,
)
from invoicekit.archive.naming import (
    DEFAULT_TEMPLATE,
    InvoiceFields,
    inside_archive,
    invoices_from_frame,
    render_path,
    supplemental_template_for,
    validate_template,
)
from invoicekit.errors import (
    CONFIG_CODES,
    ApiError,
    ConfigError,
    InvalidArgumentError,
    InvoiceKitError,
    translate_client_error,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from invoicekit.fleet import Fleet

__all__ = [
    "RESULT_COLUMNS",
    "DOWNLOADED",
    "SKIPPED",
    "FAILED",
    "DEFAULT_MAX_WORKERS",
    "MAX_FETCH_ATTEMPTS",
    "MAX_URL_REFRESHES",
    "download_invoice_pdfs",
    "protect_logs",
    "redact_log_text",
]

log = logging.getLogger("invoicekit.archive")

#: Columns of the frame :func:`download_invoice_pdfs` returns (one row per document).
#: ``kind`` says what the document is in :mod:`invoicekit.documents` words: its row's kind for
#: a main document (``invoice``, ``credit memo``, ``tax invoice``...), else the supplement's
#: label (``tax e-invoice``, ``payment receipt``...).
RESULT_COLUMNS = (
    "account_id",
    "invoice_id",
    "billing_period",
    "document_type",
    "document_id",
    "kind",
    "status",
    "path",
    "bytes",
    "sha256",
    "error",
)
DOWNLOADED, SKIPPED, FAILED = "downloaded", "skipped", "failed"

#: Attempts per document GET on transient failures (connection, 5xx, truncated, not a PDF).
MAX_FETCH_ATTEMPTS = 10
#: Fresh GetInvoicePDF calls per invoice after expired or rejected (403) document URLs.
MAX_URL_REFRESHES = 6
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 5.0
#: Commit the manifest at least this often while a run is going.
COMMIT_INTERVAL_S = 1.0
COMMIT_EVERY_DOCUMENTS = 200
DEFAULT_MAX_WORKERS = 64

#: ``operation`` of a failed document GET in a :class:`~invoicekit.outcomes.Failure`.
DOCUMENT_GET = "document GET"
_FETCH_CODES = {"expired": "ExpiredDocumentUrl", "transient": "DocumentUnavailable"}
_BOTOCORE_CODES = {
    "NoCredentialsError": "NoCredentials",
    "PartialCredentialsError": "PartialCredentials",
    "ProfileNotFound": "ProfileNotFound",
}
_COUNT_ID = "invoicekit.archive.count-requests"
_tls = threading.local()


def redact_log_text(text: str) -> str:
    """Redact presigned query strings, keys, STS XML secrets and session-token headers.

    Kept for callers of the earlier name; the patterns live in :func:`invoicekit._redact.redact`.

    Examples
    --------
    >>> redact_log_text("<SessionToken>IQoJb3JpZ2lu</SessionToken> x-amz-security-token:IQoJb3J")
    '<SessionToken>REDACTED</SessionToken> x-amz-security-token:REDACTED'
    """
    return redact(text)


def protect_logs() -> None:
    """Redact the loggers that may print presigned URLs or keys (urllib3, botocore at DEBUG).

    Delegates to :func:`invoicekit._redact.install_log_redaction` and covers the archive's own
    logger (``invoicekit.archive``). Idempotent.

    Examples
    --------
    >>> import logging
    >>> protect_logs()
    >>> rec = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1,
    ...                         '"GET /d.pdf?X-Amz-Signature=abc123 HTTP/1.1" 200', None, None)
    >>> _ = logging.getLogger("urllib3.connectionpool").filter(rec)
    >>> rec.getMessage()
    '"GET /d.pdf?X-Amz-Signature=REDACTED HTTP/1.1" 200'
    """
    install_log_redaction()
    if not any(isinstance(f, RedactingFilter) for f in log.filters):
        log.addFilter(RedactingFilter())


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2**attempt)))


# --------------------------------------------------------------------------------------------
# Accounts: the shared access layer, and counting the requests really sent.
# --------------------------------------------------------------------------------------------


def _count_request(**_: Any) -> None:
    """``before-send`` hook: one more SDK request (first try or botocore retry) for this thread."""
    out = getattr(_tls, "outcome", None)
    if out is not None:
        out.api_calls += 1


def _invoicing_client(access: Any, max_workers: int, client: str = DEFAULT_CLIENT) -> Any:
    """The account's invoicing client (a test seam).

    ``client="lean"``: :class:`invoicekit._lean.LeanClient` (signed JSON on one keep-alive
    connection per thread, ~3 ms of CPU less per call), unless a proxy is configured;
    ``"boto3"`` (or a proxy): the account's botocore client, with a pool as large as the run's.
    Both count every request sent (retries included) in the invoice's outcome.
    """
    if client == "lean":
        from invoicekit import _lean

        lean = _lean.client_for(access, on_send=_count_request, paced=False)
        if lean is not None:
            return lean
    made = access.client("invoicing", max_pool_connections=max(10, max_workers))
    name = made.meta.service_model.service_id.hyphenize()
    made.meta.events.register(f"before-send.{name}", _count_request, unique_id=_COUNT_ID)
    return made


class _SessionAccess:
    """The :class:`~invoicekit.access.AccountAccess` interface over one explicit session.

    For ``download_invoice_pdfs(ids, dest, session=...)`` and runs without a fleet (the
    default credential chain): every account uses the same session; the endpoint follows the
    standard AWS configuration.
    """

    endpoint_url = None

    def __init__(self, session: Any, account_id: str) -> None:
        self._session = session
        self.account_id = account_id

    def session(self) -> Any:
        return self._session

    def client(self, service: str = "invoicing", **opts: Any) -> Any:
        from invoicekit import _client

        opts = {k: v for k, v in opts.items() if v is not None and k != "paced"}
        return _client.client(self._session, service, account_id=self.account_id or None, **opts)


@dataclass
class _Prepared:
    client: Any = None
    origins: frozenset[Origin] = frozenset()
    error: str | None = None
    code: str = ""


class _Accounts:
    """Each account's client, made in the main thread before any worker starts."""

    def __init__(
        self, fleet: Fleet | None, session: Any, max_workers: int, client: str = DEFAULT_CLIENT
    ) -> None:
        self.fleet = fleet
        self.session = session
        self.max_workers = max_workers
        self.client = client
        self.prepared: dict[str, _Prepared] = {}
        self.names: dict[str, str] = dict(fleet.account_names) if fleet is not None else {}
        self._ids = list(fleet.account_ids) if fleet is not None else []
        self._default_chain = False
        self._missing_credentials = False

    def single_account_id(self) -> str | None:
        return self._ids[0] if len(self._ids) == 1 else None

    def _access(self, account_id: str) -> Any:
        if self.fleet is not None:
            from invoicekit.access import AccountAccess

            acct = account_id or self.single_account_id() or account_id
            return AccountAccess(self.fleet, acct)
        if self.session is None:
            import boto3

            self.session = boto3.Session()  # the default chain, shared by all accounts
            self._default_chain = True
        if self.session.get_credentials() is None:
            self._missing_credentials = True
            raise ConfigError(self._no_default_credentials_text([account_id]))
        return _SessionAccess(self.session, account_id)

    def _no_default_credentials_text(self, accounts: list[str]) -> str:
        named = [a for a in accounts if a]
        shown = ", ".join(named[:3]) or "the invoices"
        more = f" and {len(named) - 3} more" if len(named) > 3 else ""
        word = "accounts" if len(named) > 1 else "account"
        source = "the default credential chain" if self._default_chain else "the session given"
        return (
            f"no AWS credentials for {word} {shown}{more}: {source} found none — give the "
            "accounts a profile or role_arn in a fleet file (fleet=, or --config FLEET.yml), or "
            "configure default credentials (aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY)"
        )

    def prepare(self, account_id: str) -> None:
        if account_id in self.prepared:
            return
        try:
            client = _invoicing_client(self._access(account_id), self.max_workers, self.client)
        except InvoiceKitError as exc:
            code = "ConfigError" if isinstance(exc, ConfigError) else type(exc).__name__
            self.prepared[account_id] = _Prepared(error=str(exc), code=code)
            return
        except Exception as exc:  # botocore config/credential problems  # noqa: BLE001
            code = _BOTOCORE_CODES.get(type(exc).__name__, "ConfigError")
            self.prepared[account_id] = _Prepared(
                error=redact(f"cannot create a client for account {account_id}: {exc}"), code=code
            )
            return
        meta = getattr(client, "meta", None)
        endpoint = getattr(meta, "endpoint_url", None) or getattr(client, "endpoint_url", None)
        origins = frozenset([Origin.from_url(endpoint)] if endpoint else [])
        self.prepared[account_id] = _Prepared(client=client, origins=origins)

    def refuse_if_none_usable(self, accounts: list[str]) -> None:
        """Every account lacks usable configuration: bad input, refused before any request."""
        bad = [a for a in accounts if self.prepared[a].code in CONFIG_CODES]
        if not accounts or len(bad) < len(accounts):
            return
        first = self.prepared[bad[0]].error or ""
        if self._missing_credentials and len(bad) > 1:  # one session for all: name them at once
            raise ConfigError(self._no_default_credentials_text(bad))
        more = len(bad) - 1
        suffix = f" (and {more} more account{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(first + suffix)


# --------------------------------------------------------------------------------------------
# Where documents go: a local directory here, an S3 prefix in :mod:`invoicekit.archive.s3`.
# --------------------------------------------------------------------------------------------


class StorageError(Exception):
    """Storing a fetched document failed; ``code`` names why (never a presigned secret)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(redact(message))
        self.code = code


@dataclass
class Stored:
    """A document stored under its final name: size, sha256, extra manifest fields."""

    bytes: int
    sha256: str
    extra: dict[str, str] = field(default_factory=dict)
    dirs: set[Path] = field(default_factory=set)


def _object_meta(inv: InvoiceFields, doc: _Doc) -> dict[str, str]:
    """What a stored document is (ids only: nothing secret), for a store that keeps it."""
    return {
        "account_id": inv.account_id,
        "invoice_id": inv.invoice_id,
        "billing_period": inv.billing_period,
        "document_type": doc.document_type,
        "document_id": doc.document_id,
    }


class LocalStore:
    """The archive directory: files renamed into place, the manifest journalled beside them.

    The interface every store offers :func:`_download`: ``lock()``, ``open()`` (manifest rows
    by document and the catalogue), ``is_intact(row)``, ``check_path(rel)``, ``put(...)``,
    ``commit(rows, listings, dirs)`` and ``close(manifest)``.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.display = str(dest)
        self.commit_interval_s = COMMIT_INTERVAL_S
        self.commit_every_documents = COMMIT_EVERY_DOCUMENTS
        self.manifest_path = dest / MANIFEST_NAME
        self.catalogue_path = dest / STATE_DIR / CATALOGUE_NAME
        self.journal = ArchiveJournal(dest)

    def lock(self) -> Any:
        return archive_lock(self.dest)

    def open(self) -> tuple[dict[tuple[str, str, str], dict[str, str]], Any]:
        _files.remove_stale_temp_files(self.dest)
        read = read_manifest(self.manifest_path)
        if read.bad_lines:
            log.warning(
                "manifest: dropped %d unusable line(s) left by an interrupted run",
                len(read.bad_lines),
            )
        manifest = {(r["account_id"], r["invoice_id"], r["document_id"]): r for r in read.rows}
        catalogue = read_catalogue(self.catalogue_path)
        write_manifest(self.manifest_path, manifest.values())  # clean start: no torn tail
        compact_catalogue(self.catalogue_path, catalogue)
        return manifest, catalogue

    def is_intact(self, row: dict[str, str]) -> dict[str, str] | None:
        return row if is_intact(self.dest, row) else None

    def check_path(self, rel: str) -> None:
        inside_archive(self.dest, rel)

    def put(
        self, fetcher: DocumentFetcher, url: str, rel: str, origins: Any, meta: dict[str, str]
    ) -> Stored:
        final = inside_archive(self.dest, rel)
        final.parent.mkdir(parents=True, exist_ok=True)
        if not final.parent.resolve().is_relative_to(self.dest):
            raise InvalidArgumentError(f"refused path {rel}: it leaves the archive")
        got = fetcher.fetch(url, final.parent, origins)
        os.replace(got.temp_path, final)
        return Stored(got.bytes, got.sha256, dirs={final.parent})

    def commit(self, rows: list, listings: list, dirs: set[Path]) -> None:
        self.journal.commit(rows, listings, dirs)

    def close(self, manifest: dict[tuple[str, str, str], dict[str, str]]) -> None:
        write_manifest(self.manifest_path, manifest.values())
        compact_catalogue(self.catalogue_path, read_catalogue(self.catalogue_path))


# --------------------------------------------------------------------------------------------
# The run.
# --------------------------------------------------------------------------------------------


@dataclass
class _Doc:
    document_type: str
    document_id: str
    url: str | None


@dataclass
class _Outcome:
    invoice: InvoiceFields
    rows: list[dict[str, Any]] = field(default_factory=list)
    manifest_rows: list[dict[str, str]] = field(default_factory=list)
    listing: list[tuple[str, str]] | None = None
    dirs: set[Path] = field(default_factory=set)
    failures: list[outcomes.Failure] = field(default_factory=list)
    api_calls: int = 0


class _Run:
    def __init__(
        self,
        store: Any,
        *,
        accounts: _Accounts,
        template: str,
        supp_template: str,
        supplemental: bool,
        max_workers: int,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.template = template
        self.supp_template = supp_template
        self.supplemental = supplemental
        self.max_workers = max_workers
        self.fetcher = DocumentFetcher(pool_size=max_workers)
        self._lock = threading.Lock()
        #: Set when the run is interrupted: workers stop retrying and sleeping.
        self.stop = threading.Event()
        self._paths: dict[str, tuple[str, str, str]] = {}
        self.present: dict[tuple[str, str, str], dict[str, str]] = {}

    # -- paths -------------------------------------------------------------------------------
    def claim(self, rel: str, key: tuple[str, str, str]) -> str | None:
        """Reserve a relative path for a document; return the owner's key on a collision."""
        folded = rel.casefold()  # case-insensitive file systems (Windows, macOS) see one file
        with self._lock:
            owner = self._paths.setdefault(folded, key)
        return None if owner == key else f"{owner[1]}/{owner[2]}"

    def path_for(self, inv: InvoiceFields, doc: _Doc) -> str:
        fields = inv.fields()
        fields["document_type"] = doc.document_type
        fields["document_id"] = doc.document_id
        main = doc.document_type == documents.MAIN_DOCUMENT
        return render_path(self.template if main else self.supp_template, fields)

    # -- API: one attempt loop, botocore's ------------------------------------------------------
    def _call(self, inv: InvoiceFields, operation: str, fn: Any, **kwargs: Any) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        if self.stop.is_set():
            raise ApiError(
                f"{operation} for account {inv.account_id}: interrupted",
                operation=operation,
                account_id=inv.account_id,
                code="Interrupted",
            )
        try:
            return fn(**kwargs)
        except ClientError as exc:
            raise translate_client_error(
                exc, operation=operation, account_id=inv.account_id
            ) from exc
        except BotoCoreError as exc:
            name = type(exc).__name__
            raise ApiError(
                redact(
                    f"{operation} failed for account {inv.account_id}: {name}: {exc} "
                    "(fix: check the endpoint, network and credentials)"
                ),
                operation=operation,
                account_id=inv.account_id,
                code=_BOTOCORE_CODES.get(name, name),
            ) from None

    def _lookup(self, inv: InvoiceFields, client: Any) -> None:
        resp = self._call(
            inv,
            "ListInvoiceSummaries",
            client.list_invoice_summaries,
            Selector={"ResourceType": "INVOICE_ID", "Value": inv.invoice_id},
        )
        items = resp.get("InvoiceSummaries") or []
        if not items:
            raise ApiError(
                f"invoice {inv.invoice_id} was not found by ListInvoiceSummaries; check the id "
                "and the account whose credentials are used",
                operation="ListInvoiceSummaries",
                account_id=inv.account_id,
                code="InvoiceNotFound",
            )
        s = items[0]
        inv.account_id = str(s.get("AccountId") or inv.account_id)
        inv.billing_period = months.month_str(s.get("BillingPeriod")) or inv.billing_period
        inv.invoice_type = str(s.get("InvoiceType") or "")
        inv.commercial_invoice_id = str(s.get("CommercialInvoiceId") or "")
        inv.invoicing_entity = str((s.get("Entity") or {}).get("InvoicingEntity") or "")
        inv.account_name = inv.account_name or self.accounts.names.get(inv.account_id, "")
        inv.needs_lookup = False

    def _documents(self, inv: InvoiceFields, client: Any) -> list[_Doc]:
        resp = self._call(inv, "GetInvoicePDF", client.get_invoice_pdf, InvoiceId=inv.invoice_id)
        pdf = resp.get("InvoicePDF") or {}
        docs = [_Doc(documents.MAIN_DOCUMENT, inv.invoice_id, pdf.get("DocumentUrl"))]
        seen = {inv.invoice_id}
        for n, s in enumerate(pdf.get("SupplementalDocuments") or [], start=1):
            dtype = str(s.get("DocumentType") or "SUPPLEMENT")
            did = str(s.get("DocumentId") or f"{inv.invoice_id}-{dtype}-{n}")
            if did in seen:
                continue
            seen.add(did)
            docs.append(_Doc(dtype, did, s.get("DocumentUrl")))
        return docs

    # -- one invoice (in a worker thread) -----------------------------------------------------
    def process(self, inv: InvoiceFields) -> _Outcome:
        out = _Outcome(inv)
        _tls.outcome = out  # the before-send hook counts this thread's requests here
        try:
            return self._process(inv, out)
        except Exception as exc:  # a bug or an OS error must not stop the other invoices
            doc = _Doc(documents.MAIN_DOCUMENT, inv.invoice_id, None)
            self._fail(
                out, doc, f"unexpected {type(exc).__name__}: {redact(exc)}", code=type(exc).__name__
            )
            return out
        finally:
            _tls.outcome = None

    def _process(self, inv: InvoiceFields, out: _Outcome) -> _Outcome:
        main = _Doc(documents.MAIN_DOCUMENT, inv.invoice_id, None)
        prepared = self.accounts.prepared.get(inv.account_id) or _Prepared(
            error=f"no client for account {inv.account_id}", code="ConfigError"
        )
        if prepared.client is None:
            self._fail(out, main, prepared.error or "", code=prepared.code, operation="setup")
            return out
        client = prepared.client
        try:
            if inv.needs_lookup:
                self._lookup(inv, client)
            docs = self._documents(inv, client)
        except ApiError as exc:
            self._fail(out, main, str(exc), code=exc.code or "", operation=exc.operation or "")
            return out
        out.listing = [(d.document_type, d.document_id) for d in docs]
        refreshes = 0
        for i, doc in enumerate(docs):
            if doc.document_type != documents.MAIN_DOCUMENT and not self.supplemental:
                continue
            key = (inv.account_id, inv.invoice_id, doc.document_id)
            have = self.present.get(key)
            if have is not None:  # already archived and intact (an earlier partial run)
                out.rows.append(
                    self._row(inv, doc, SKIPPED, have["path"], int(have["bytes"]), have["sha256"])
                )
                continue
            try:
                rel = self.path_for(inv, doc)
                self.store.check_path(rel)
            except InvalidArgumentError as exc:
                self._fail(out, doc, str(exc), code="UnsafePath")
                continue
            owner = self.claim(rel, key)
            if owner is not None:
                self._fail(
                    out,
                    doc,
                    f"path {rel} is already used by {owner}; put {{document_id}} or "
                    "{invoice_id} in the naming template",
                    code="PathCollision",
                )
                continue
            transient = 0
            while True:
                if self.stop.is_set():
                    self._fail(
                        out,
                        doc,
                        "interrupted before this document was downloaded",
                        code="Interrupted",
                    )
                    break
                if not doc.url:
                    self._fail(
                        out,
                        doc,
                        f"GetInvoicePDF returned no URL for document {doc.document_id}",
                        code="NoDocumentUrl",
                        operation="GetInvoicePDF",
                    )
                    break
                try:
                    got = self.store.put(
                        self.fetcher, doc.url, rel, prepared.origins, _object_meta(inv, doc)
                    )
                except StorageError as exc:
                    self._fail(out, doc, str(exc), code=exc.code)
                    break
                except FetchError as exc:
                    if exc.kind == "expired" and refreshes < MAX_URL_REFRESHES:
                        refreshes += 1
                        log.debug(
                            "document URL refused (%s); asking GetInvoicePDF again", exc.reason
                        )
                        try:
                            fresh = {d.document_id: d.url for d in self._documents(inv, client)}
                        except ApiError as api_exc:
                            self._fail(
                                out,
                                doc,
                                str(api_exc),
                                code=api_exc.code or "",
                                operation="GetInvoicePDF",
                            )
                            break
                        for d in docs[i:]:
                            d.url = fresh.get(d.document_id, d.url)
                        continue
                    if exc.kind == "transient" and transient < MAX_FETCH_ATTEMPTS - 1:
                        transient += 1
                        log.debug("retrying document %s: %s", doc.document_id, exc.reason)
                        self.stop.wait(_backoff(transient))
                        continue
                    self._fail(
                        out, doc, exc.reason, code=_FETCH_CODES.get(exc.kind, "DocumentRefused")
                    )
                    break
                except (OSError, InvalidArgumentError) as exc:
                    self._fail(
                        out,
                        doc,
                        redact(f"cannot store document {doc.document_id}: {exc}"),
                        code="StorageError",
                    )
                    break
                out.dirs.update(got.dirs)
                out.rows.append(self._row(inv, doc, DOWNLOADED, rel, got.bytes, got.sha256))
                out.manifest_rows.append(
                    {
                        "account_id": inv.account_id,
                        "invoice_id": inv.invoice_id,
                        "billing_period": inv.billing_period,
                        "document_type": doc.document_type,
                        "document_id": doc.document_id,
                        "path": rel,
                        "bytes": str(got.bytes),
                        "sha256": got.sha256,
                        # evidence of when the file was really fetched: wall-clock time, not
                        # the business "now" a re-run of a past month-end may be pinned to
                        "downloaded_at": clock.utc_iso(clock.real_now()),
                        **got.extra,
                    }
                )
                break
        return out

    def _row(
        self,
        inv: InvoiceFields,
        doc: _Doc,
        status: str,
        path: str | None,
        size: int | None,
        sha: str | None,
        error: str | None = None,
    ) -> dict[str, Any]:
        return {
            "account_id": inv.account_id,
            "invoice_id": inv.invoice_id,
            "billing_period": inv.billing_period,
            "document_type": doc.document_type,
            "document_id": doc.document_id,
            "kind": documents.document_label(doc.document_type, inv.kind),
            "status": status,
            "path": path,
            "bytes": size,
            "sha256": sha,
            "error": error,
        }

    def _fail(
        self,
        out: _Outcome,
        doc: _Doc,
        reason: str,
        *,
        code: str,
        operation: str = DOCUMENT_GET,
    ) -> None:
        reason = redact(reason)
        inv = out.invoice
        log.warning("invoice %s document %s failed: %s", inv.invoice_id, doc.document_id, reason)
        out.rows.append(self._row(inv, doc, FAILED, None, None, None, reason))
        out.failures.append(
            outcomes.Failure(
                account_id=inv.account_id,
                operation=operation,
                code=code,
                message=reason,
                account_name=inv.account_name or None,
                invoice_id=inv.invoice_id,
                document_id=doc.document_id,
                config=code in CONFIG_CODES,
            )
        )


def download_invoice_pdfs(
    summaries_or_ids: pd.DataFrame | Iterable[str],
    dest: str | PathLike[str],
    *,
    fleet: Fleet | None = None,
    session: Any = None,
    template: str = DEFAULT_TEMPLATE,
    supplemental: bool = True,
    supplemental_template: str | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    progress: bool = True,
    refresh: bool = False,
    retention: Any = None,
    sse_kms_key_id: str | None = None,
    manifest_copy: str | PathLike[str] | None = None,
    s3_client: Any = None,
    client: str = DEFAULT_CLIENT,
) -> pd.DataFrame:
    """Download every invoice's PDF (and supplemental documents) into an audit-ready archive.

    Parameters
    ----------
    summaries_or_ids : DataFrame or iterable of str
        The frame from :func:`invoicekit.read_invoice_summaries` (needs ``account_id``,
        ``invoice_id``, ``billing_period``; ``account_name``, ``invoice_type`` and
        ``invoicing_entity`` feed the template when present), or invoice ids of one account
        (then ``session`` or a one-account ``fleet``; each id's period is looked up with
        ListInvoiceSummaries, unless the archive already holds it).
    dest : path or str
        The archive directory (created when missing; nothing is written outside it), or
        ``"s3://BUCKET/PREFIX"``: the documents and the manifest become objects under PREFIX,
        each put with a SHA-256 checksum S3 verifies (:mod:`invoicekit.archive.s3`), or an
        :class:`~invoicekit.archive.s3.S3Store` already made with ``S3Store.for_download``
        (its bucket checked: the CLI does so before listing any invoice).
    fleet : invoicekit.fleet.Fleet, optional
        Gives each invoice's account its own session and client
        (:class:`invoicekit.access.AccountAccess`: profile or role, the fleet's endpoint).
    session : boto3.Session, optional
        One session for every invoice (single account). Default: boto3's default chain.
    template : str
        Naming template relative to ``dest``, fields from
        :data:`~invoicekit.archive.naming.TEMPLATE_FIELDS`.
    supplemental : bool
        Also download supplemental documents (tax e-invoices, receipts...).
    supplemental_template : str, optional
        Template of supplemental documents; default
        :func:`~invoicekit.archive.naming.supplemental_template_for` of ``template``
        (``{invoice_id}__{document_type}__{document_id}.pdf`` beside the invoice).
    max_workers : int
        Invoices processed at once (and connections kept per host).
    progress : bool
        Show a progress bar (``tqdm.auto``: a widget in notebooks, text in a terminal).
    refresh : bool
        Call GetInvoicePDF again for every invoice, even complete ones, to pick up documents
        AWS added since the last run (e.g. a payment receipt); archived documents are still
        not downloaded again.
    retention : invoicekit.archive.s3.Retention, optional
        S3 only: Object Lock mode, retain-until date and legal hold of every document put
        (:func:`invoicekit.archive.s3.retention`). The bucket must have Object Lock and
        versioning, else :class:`~invoicekit.errors.InvalidArgumentError` before any request.
    sse_kms_key_id : str, optional
        S3 only: encrypt every object with this KMS key (SSE-KMS).
    manifest_copy : path, optional
        S3 only: also write the manifest to this local file.
    s3_client : botocore client, optional
        S3 only: the client of the archive bucket (default: the fleet's ``archive:`` section,
        else ``session``, else the standard chain and ``AWS_ENDPOINT_URL_S3``). A client given
        is used for every S3 request as it is (its configuration and hooks).
    client : {"lean", "boto3"}
        How requests are sent, as for :func:`invoicekit.read_invoice_summaries`: ``"lean"``
        (default) signs GetInvoicePDF and ListInvoiceSummaries itself and, into S3 without
        ``s3_client``, puts each document with one signed PUT
        (:class:`invoicekit._lean.LeanS3Put`); ``"boto3"`` sends everything through botocore
        (the reference path). Both give the same archive, manifest and counts.

    Returns
    -------
    pandas.DataFrame
        One row per document, columns :data:`RESULT_COLUMNS`; ``status`` is ``downloaded``,
        ``skipped`` (already archived with the manifest's hash: no API call) or ``failed``
        (``error`` says why; the other documents still download). A
        :class:`~invoicekit.outcomes.RunReport` is attached (``invoicekit.run_report(df)``):
        ``api_calls`` counts the SDK requests sent (GetInvoicePDF, ListInvoiceSummaries and the
        AssumeRole calls the run caused; botocore's retries included), ``failures`` one :class:`~invoicekit.outcomes.Failure` per failed
        document, ``counts`` the documents by kind and status. ``attrs["dest"]`` is the
        archive; ``attrs["api_calls"]`` and ``attrs["failures"]`` are the thin dict view.

    Raises
    ------
    InvalidArgumentError
        Bad template, bad input frame, ``dest`` not usable, two invoices mapped to one path,
        or another run writing to ``dest``.
    ConfigError
        No account that needs a request has usable credentials (refused before any request).

    Examples
    --------
    >>> import invoicekit
    >>> from invoicekit import sandbox
    >>> with sandbox.start(accounts=2, months=1, today="2026-11-25") as sb:   # doctest: +SKIP
    ...     fleet = invoicekit.load_fleet(sb.fleet_config)
    ...     df = invoicekit.read_invoice_summaries(fleet, start="2026-10", end="2026-10")
    ...     result = invoicekit.download_invoice_pdfs(df, "archive", fleet=fleet)
    >>> invoicekit.run_report(result).counts                                  # doctest: +SKIP
    """
    import pandas as pd

    protect_logs()
    validate_template(template)
    supp_tpl = supplemental_template or supplemental_template_for(template)
    validate_template(supp_tpl)
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise InvalidArgumentError(f"max_workers must be a positive integer, got {max_workers!r}")
    if fleet is not None and session is not None:
        raise InvalidArgumentError("pass either fleet= or session=, not both")
    if client not in CLIENTS:
        raise InvalidArgumentError(f"--client {client!r}: use one of {', '.join(CLIENTS)}")

    from invoicekit.archive import s3

    s3_options = retention is not None or sse_kms_key_id or manifest_copy or s3_client is not None
    if isinstance(dest, s3.S3Store):  # made (and its bucket checked) by the caller: the CLI
        if s3_options:
            raise InvalidArgumentError(
                "an S3Store destination carries its own retention, KMS key, manifest copy and "
                "client: give them to S3Store.for_download"
            )
        store: Any = dest
    elif s3.is_s3_url(dest):
        store = s3.S3Store.for_download(
            str(dest), fleet=fleet, retention=retention, manifest_copy=manifest_copy,
            sse_kms_key_id=sse_kms_key_id, max_workers=max_workers, client=s3_client,
            session=session, lean=client == "lean",
        )  # fmt: skip
    else:
        if s3_options:
            raise InvalidArgumentError(
                "retention, sse_kms_key_id, manifest_copy and s3_client apply to an S3 "
                "archive only: pass dest='s3://BUCKET/PREFIX'"
            )
        dest_path = Path(dest).expanduser()
        try:
            dest_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidArgumentError(
                f"cannot create the archive directory {dest_path}: {exc.strerror}"
            ) from None
        dest_path = dest_path.resolve()
        if not os.access(dest_path, os.W_OK):
            raise InvalidArgumentError(f"the archive directory {dest_path} is not writable")
        store = LocalStore(dest_path)

    accounts = _Accounts(fleet, session, max_workers, client)
    if isinstance(summaries_or_ids, pd.DataFrame):
        invoices = invoices_from_frame(summaries_or_ids, accounts.names)
    elif isinstance(summaries_or_ids, str | bytes):
        raise InvalidArgumentError("pass a list of invoice ids, not a single string")
    else:
        ids = [str(x) for x in summaries_or_ids]
        if fleet is not None and accounts.single_account_id() is None:
            raise InvalidArgumentError(
                "invoice ids need a single account: pass session= or a one-account fleet, or a "
                "summaries DataFrame with account_id for several accounts"
            )
        acct = accounts.single_account_id() or ""
        invoices = [
            InvoiceFields(
                account_id=acct,
                invoice_id=i,
                billing_period="",
                needs_lookup=True,
                account_name=accounts.names.get(acct, ""),
            )
            for i in dict.fromkeys(ids)
        ]

    started = time.monotonic()
    assumed_before = _assume_role_calls(accounts.fleet)
    with store.lock():
        result, report = _download(
            invoices,
            store,
            accounts,
            template,
            supp_tpl,
            supplemental,
            max_workers,
            progress,
            refresh,
        )
    # api_calls means SDK operation calls sent, as in the loader: AssumeRole included.
    invoicing = report.api_calls
    assume_role = _assume_role_calls(accounts.fleet) - assumed_before
    report.api_calls = invoicing + assume_role
    report.extra["api_calls_by_operation"] = {"invoicing": invoicing, "AssumeRole": assume_role}
    report.elapsed_s = round(time.monotonic() - started, 3)
    outcomes.attach(result, report)
    result.attrs["dest"] = store.display
    return result


def _assume_role_calls(fleet: Any) -> int:
    return int(getattr(fleet, "assume_role_calls", 0) or 0) if fleet is not None else 0


def _download(
    invoices: list[InvoiceFields],
    store: Any,
    accounts: _Accounts,
    template: str,
    supp_tpl: str,
    supplemental: bool,
    max_workers: int,
    progress: bool,
    refresh: bool = False,
) -> tuple[pd.DataFrame, outcomes.RunReport]:
    import pandas as pd

    manifest, catalogue = store.open()

    run = _Run(
        store,
        accounts=accounts,
        template=template,
        supp_template=supp_tpl,
        supplemental=supplemental,
        max_workers=max_workers,
    )
    for key, row in manifest.items():
        run.claim(row["path"], key)

    # Which invoices are complete already: decided from the catalogue, manifest and file hashes.
    by_invoice: dict[tuple[str, str], list[dict[str, str]]] = {}
    by_id: dict[str, list[tuple[str, str]]] = {}
    for (a, i, _d), row in manifest.items():
        by_invoice.setdefault((a, i), []).append(row)
    for a, i in [*catalogue, *by_invoice]:
        if (a, i) not in by_id.setdefault(i, []):
            by_id[i].append((a, i))
    rows: list[dict[str, Any]] = []
    todo: list[InvoiceFields] = []
    for inv in invoices:
        keys = [(inv.account_id, inv.invoice_id)]
        if inv.needs_lookup and not inv.account_id:
            keys = by_id.get(inv.invoice_id, [])
        complete = False
        for key in keys:
            # Archived and intact documents are never downloaded again, whatever happens next.
            ok = {
                r["document_id"]: good
                for r in by_invoice.get(key, [])
                if (good := store.is_intact(r)) is not None
            }
            for d, r in ok.items():
                run.present[(key[0], key[1], d)] = r
                manifest[(key[0], key[1], d)] = r  # a store may refresh a row (version id)
            listing = catalogue.get(key)
            if not listing:
                continue
            wanted = [(t, d) for t, d in listing if supplemental or t == documents.MAIN_DOCUMENT]
            if all(d in ok for _t, d in wanted) and not refresh:
                complete = True
                for t, d in wanted:
                    r = ok[d]
                    rows.append(
                        {
                            "account_id": key[0],
                            "invoice_id": key[1],
                            "billing_period": r["billing_period"],
                            "document_type": t,
                            "document_id": d,
                            "kind": documents.document_label(t, inv.kind),
                            "status": SKIPPED,
                            "path": r["path"],
                            "bytes": int(r["bytes"]),
                            "sha256": r["sha256"],
                            "error": None,
                        }
                    )
                break
        if not complete:
            todo.append(inv)

    # Main documents' paths are known now: two invoices on one path is a template mistake.
    for inv in todo:
        if inv.needs_lookup:
            continue
        rel = run.path_for(inv, _Doc(documents.MAIN_DOCUMENT, inv.invoice_id, None))
        owner = run.claim(rel, (inv.account_id, inv.invoice_id, inv.invoice_id))
        if owner is not None:
            raise InvalidArgumentError(
                f"the naming template {template!r} puts invoice {inv.invoice_id} and {owner} on "
                f"the same path {rel}; include {{invoice_id}} in it"
            )

    # Sessions and clients in this thread (creating them is not thread-safe), and no request
    # at all when not one account that needs one has usable credentials.
    needed = list(dict.fromkeys(inv.account_id for inv in todo))
    for acct in needed:
        accounts.prepare(acct)
    accounts.refuse_if_none_usable(needed)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(invoices), desc="invoice PDFs", unit="invoice")
        bar.update(len(invoices) - len(todo))

    pending_manifest: list[dict[str, str]] = []
    pending_listing: list[dict[str, str]] = []
    pending_dirs: set[Path] = set()
    report = outcomes.RunReport(operation="download")
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal last_commit
        store.commit(pending_manifest, pending_listing, pending_dirs)
        for r in pending_manifest:
            manifest[(r["account_id"], r["invoice_id"], r["document_id"])] = r
        pending_manifest.clear()
        pending_listing.clear()
        pending_dirs.clear()
        last_commit = time.monotonic()

    def absorb(out: _Outcome) -> None:
        report.api_calls += out.api_calls
        report.failures.extend(out.failures)
        rows.extend(out.rows)
        if out.listing is not None:
            token = secrets.token_hex(6)
            for t, d in out.listing:
                pending_listing.append(
                    {
                        "account_id": out.invoice.account_id,
                        "invoice_id": out.invoice.invoice_id,
                        "document_type": t,
                        "document_id": d,
                        "listing": token,
                    }
                )
        pending_manifest.extend(out.manifest_rows)
        pending_dirs.update(out.dirs)
        if bar is not None:
            bar.update(1)

    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="invoicekit-pdf")
    futures: set[Future] = set()
    try:
        queue = iter(todo)
        # Keep a bounded number of invoices in flight (memory stays flat for huge runs).
        for inv in queue:
            futures.add(pool.submit(run.process, inv))
            if len(futures) >= 2 * max_workers:
                break
        while futures:
            done, futures = wait(futures, timeout=COMMIT_INTERVAL_S, return_when=FIRST_COMPLETED)
            for fut in done:
                absorb(fut.result())
                nxt = next(queue, None)
                if nxt is not None:
                    futures.add(pool.submit(run.process, nxt))
            if pending_manifest or pending_listing:
                if (
                    time.monotonic() - last_commit >= store.commit_interval_s
                    or len(pending_manifest) >= store.commit_every_documents
                ):
                    commit()
    finally:
        # Interrupted (KeyboardInterrupt in a notebook): running invoices stop retrying, what
        # they stored is recorded.
        run.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        for fut in futures:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                absorb(fut.result())
        try:
            commit()
            store.close(manifest)
        finally:
            run.fetcher.close()
        if bar is not None:
            bar.close()

    result = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    result["bytes"] = result["bytes"].astype("Int64")
    status = result["status"].value_counts()
    report.counts = {
        **documents.count_documents(result),
        **{s: int(status.get(s, 0)) for s in (DOWNLOADED, SKIPPED, FAILED)},
    }
    return result, report
