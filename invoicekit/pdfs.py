"""Batch-download invoice PDFs into an audit-ready archive, and verify such an archive.

The archive under ``dest``:

* one file per document, named by a template (default :data:`DEFAULT_TEMPLATE`; supplemental
  documents beside the invoice with their type and id in the name), every path part sanitized;
* ``manifest.csv`` (:data:`MANIFEST_COLUMNS`): one row per document with its size and sha256;
* ``.invoicekit/`` (private): the run lock and the catalogue of the documents GetInvoicePDF
  listed per invoice, so that re-runs know an invoice is complete without calling the API.

Guarantees: nothing is written outside ``dest``; a file under a final name is always complete
(temp file, fsync, rename, directory fsync); a re-run skips every document whose file still has
the manifest's hash and makes no API call for it; an expired or rejected document URL leads to a
fresh GetInvoicePDF call; presigned query strings and credentials never leave the process.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
import random
import re
import secrets
import string
import threading
import time
import unicodedata
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoicekit._atomic import (
    CATALOGUE_NAME,
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    STATE_DIR,
    ArchiveJournal,
    archive_lock,
    compact_catalogue,
    is_temp_name,
    read_catalogue,
    read_manifest,
    remove_stale_temp_files,
    sha256_file,
    write_manifest,
)
from invoicekit._http import DocumentFetcher, FetchError, Origin, is_pdf
from invoicekit._redact import install_log_redaction, redact
from invoicekit.errors import (
    ApiError,
    InvalidArgumentError,
    InvoiceKitError,
    translate_client_error,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "DEFAULT_TEMPLATE",
    "SUPPLEMENTAL_SUFFIX",
    "TEMPLATE_FIELDS",
    "MANIFEST_COLUMNS",
    "RESULT_COLUMNS",
    "PROBLEM_COLUMNS",
    "MAX_PART_CHARS",
    "download_invoice_pdfs",
    "verify_archive",
    "VerifyReport",
    "render_path",
    "supplemental_template_for",
    "sanitize_part",
    "sanitize_value",
    "validate_template",
    "protect_logs",
    "redact_log_text",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Naming: templates and sanitizing (pure).
# --------------------------------------------------------------------------------------------

#: Where an invoice's own PDF goes, relative to ``dest``.
DEFAULT_TEMPLATE = "{billing_period}/{account_id}/{invoice_id}.pdf"
#: Inserted before the template's ``.pdf`` to name a supplemental document beside its invoice.
SUPPLEMENTAL_SUFFIX = "__{document_type}__{document_id}"
#: The fields a template may use.
TEMPLATE_FIELDS = (
    "billing_period",
    "account_id",
    "account_name",
    "invoice_id",
    "invoice_type",
    "document_type",
    "document_id",
    "invoicing_entity",
    "year",
    "month",
)
#: Longest path part, in characters (and at most twice that in UTF-8 bytes).
MAX_PART_CHARS = 120
_MAX_PART_BYTES = 2 * MAX_PART_CHARS
_HASH_CHARS = 12
_HASH_MARK = "~"

_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"]
    + [f"{p}{n}" for p in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³", "0"]]
)
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*/\\')
_SIMPLE_EXT = re.compile(r"\.[A-Za-z0-9]{1,8}\Z")
_SAFE_ASCII = re.compile(r"^[A-Za-z0-9 !#$%&'()+,\-.;=@\[\]^_`{}~]*$")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]


def _bad_char(c: str) -> bool:
    if c in _WINDOWS_FORBIDDEN:
        return True
    cat = unicodedata.category(c)
    # control, format (bidi overrides), surrogates, private use, unassigned, line/para separators
    return cat[0] == "C" or cat in ("Zl", "Zp")


def sanitize_value(value: object) -> str:
    """Make one template field value safe to put inside a path part.

    Separators, control and format characters and Windows-forbidden characters become ``_``,
    the text is NFC-normalized; when anything changed, ``~`` and a 12-hex-digit hash of the
    original are appended, so distinct values stay distinct.

    Examples
    --------
    >>> sanitize_value("E-2025-0001")
    'E-2025-0001'
    >>> sanitize_value("../../etc/x")
    '_._.._etc_x~56da1a2ef2df'
    """
    text = "" if value is None else str(value)
    if _SAFE_ASCII.fullmatch(text) and text[:1] not in (".", " "):
        return text
    nfc = unicodedata.normalize("NFC", text)
    clean = "".join("_" if _bad_char(c) else c for c in nfc)
    if clean[:1] in (".", " "):  # a value often starts a path part: no hidden or blank names
        clean = "_" + clean[1:]
    if clean == text:
        return text
    return clean + _HASH_MARK + _short_hash(text)


def _reserved(part: str) -> bool:
    stem = part.split(".", 1)[0].rstrip(" ").upper()
    return stem in _WINDOWS_RESERVED


def _fits(part: str) -> bool:
    return (
        len(part) <= MAX_PART_CHARS
        and len(part.encode("utf-8", "surrogatepass")) <= _MAX_PART_BYTES
    )


def sanitize_part(part: str) -> str:
    """Make one path part (between separators) safe on POSIX and Windows.

    No empty part, no ``.``/``..``, no leading or trailing dots or spaces, no reserved Windows
    device names (``CON``, ``NUL``, ``COM1``...), at most :data:`MAX_PART_CHARS` characters.
    When anything changed, a hash of the original keeps distinct parts distinct; a simple
    extension such as ``.pdf`` is kept. Expects a part made of :func:`sanitize_value` output.

    Examples
    --------
    >>> sanitize_part("E-1.pdf")
    'E-1.pdf'
    >>> sanitize_part("CON.pdf")
    '_CON~9d22d0cc4985.pdf'
    >>> sanitize_part("..")
    '_~5ec1f7e700f3'
    """
    if (
        part
        and part[0] not in ". "
        and part[-1] not in ". "
        and not _reserved(part)
        and _fits(part)
    ):
        return part
    original = part
    p = "".join("_" if _bad_char(c) else c for c in part).strip(" .")
    m = _SIMPLE_EXT.search(p)
    ext = m.group(0) if m and m.start() > 0 else ""
    stem = p[: len(p) - len(ext)] if ext else p
    if not stem or _reserved(stem):
        stem = "_" + stem
    suffix = _HASH_MARK + _short_hash(original) + ext
    while stem and not _fits(stem + suffix):
        stem = stem[: max(0, min(len(stem) - 1, MAX_PART_CHARS - len(suffix)))]
    stem = stem or "_"
    return stem + suffix


def validate_template(template: str) -> tuple[str, ...]:
    """Check a naming template; return the fields it uses.

    Raises
    ------
    InvalidArgumentError
        For an unknown field (naming it and the available ones), a conversion or format spec,
        an absolute path, ``..`` or empty parts, or characters that are not allowed in names.

    Examples
    --------
    >>> validate_template("{billing_period}/{account_id}/{invoice_id}.pdf")
    ('billing_period', 'account_id', 'invoice_id')
    >>> validate_template("{period}/{invoice_id}.pdf")
    Traceback (most recent call last):
    ...
    invoicekit.errors.InvalidArgumentError: unknown field {period} in naming template '{period}/{invoice_id}.pdf'; available fields: billing_period, account_id, account_name, invoice_id, invoice_type, document_type, document_id, invoicing_entity, year, month
    """
    if not isinstance(template, str) or not template.strip():
        raise InvalidArgumentError(f"naming template must be a non-empty string, got {template!r}")
    fields: list[str] = []
    literal = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidArgumentError(
            f"naming template {template!r} does not parse: {exc} (write fields as {{name}})"
        ) from None
    for text, name, spec, conv in parsed:
        literal.append(text)
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            raise InvalidArgumentError(
                f"unknown field {{{name}}} in naming template {template!r}; available fields: "
                + ", ".join(TEMPLATE_FIELDS)
            )
        if spec or conv:
            raise InvalidArgumentError(
                f"naming template {template!r}: write {{{name}}} without a format spec or conversion"
            )
        if name not in fields:
            fields.append(name)
        literal.append("x")
    bad = sorted({c for c in "".join(literal) if c != "/" and _bad_char(c)})
    if bad:
        raise InvalidArgumentError(
            f"naming template {template!r} contains characters not allowed in file names: "
            f"{' '.join(repr(c) for c in bad)}"
        )
    parts = "".join(literal).split("/")
    if template.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidArgumentError(
            f"naming template {template!r} must be a relative path without empty, '.' or '..' parts"
        )
    return tuple(fields)


def supplemental_template_for(template: str) -> str:
    """The template of supplemental documents derived from an invoice template.

    Examples
    --------
    >>> supplemental_template_for("{billing_period}/{account_id}/{invoice_id}.pdf")
    '{billing_period}/{account_id}/{invoice_id}__{document_type}__{document_id}.pdf'
    """
    if template.lower().endswith(".pdf"):
        return template[:-4] + SUPPLEMENTAL_SUFFIX + template[-4:]
    return template + SUPPLEMENTAL_SUFFIX


def render_path(template: str, fields: Mapping[str, object]) -> str:
    """Render a template into a safe relative path (forward slashes).

    Every field value goes through :func:`sanitize_value` and every part through
    :func:`sanitize_part`; missing values render as ``unknown``.

    Examples
    --------
    >>> render_path(DEFAULT_TEMPLATE, {"billing_period": "2025-01", "account_id": "111111111111",
    ...                                "invoice_id": "E-1"})
    '2025-01/111111111111/E-1.pdf'
    >>> render_path(DEFAULT_TEMPLATE, {"billing_period": "2025-01", "account_id": "1",
    ...                                "invoice_id": "../../etc/passwd"})
    '2025-01/1/_._.._etc_passwd~3754d6cb3a38.pdf'
    """
    validate_template(template)
    values = {}
    for name in TEMPLATE_FIELDS:
        v = fields.get(name)
        values[name] = "unknown" if v is None or v == "" else sanitize_value(v)
    rendered = template.format(**values)
    return "/".join(sanitize_part(p) for p in rendered.split("/"))


def _inside(dest: Path, rel: str) -> Path:
    """``dest / rel`` resolved, refusing anything that would land outside ``dest``."""
    target = (dest / rel).resolve()
    if target == dest or not target.is_relative_to(dest):
        raise InvalidArgumentError(f"refused path {redact(rel)!r}: it leaves the archive {dest}")
    return target


# --------------------------------------------------------------------------------------------
# Input: summaries frame or invoice ids → planned invoices.
# --------------------------------------------------------------------------------------------

#: Columns of the frame :func:`download_invoice_pdfs` returns (one row per document).
RESULT_COLUMNS = (
    "account_id",
    "invoice_id",
    "billing_period",
    "document_type",
    "document_id",
    "status",
    "path",
    "bytes",
    "sha256",
    "error",
)
DOWNLOADED, SKIPPED, FAILED = "downloaded", "skipped", "failed"
INVOICE_DOCUMENT = "INVOICE"

_PERIOD_RE = re.compile(r"^(\d{4})-(\d{1,2})")


def _period_str(value: Any) -> str:
    if value is None:
        return ""
    try:
        import pandas as pd

        if value is pd.NaT or (not isinstance(value, str) and pd.isna(value)):
            return ""
    except (TypeError, ValueError):
        pass
    if hasattr(value, "year") and hasattr(value, "month"):
        return f"{int(value.year):04d}-{int(value.month):02d}"
    if isinstance(value, Mapping):  # {"Year": .., "Month": ..} as on the wire
        return f"{int(value.get('Year', 0)):04d}-{int(value.get('Month', 0)):02d}"
    m = _PERIOD_RE.match(str(value))
    return f"{m.group(1)}-{int(m.group(2)):02d}" if m else str(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    try:
        import pandas as pd

        if not isinstance(value, str) and pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


@dataclass
class _Invoice:
    account_id: str
    invoice_id: str
    billing_period: str
    account_name: str = ""
    invoice_type: str = ""
    invoicing_entity: str = ""
    needs_lookup: bool = False

    def fields(self) -> dict[str, str]:
        year, _, month = self.billing_period.partition("-")
        return {
            "billing_period": self.billing_period,
            "account_id": self.account_id,
            "account_name": self.account_name,
            "invoice_id": self.invoice_id,
            "invoice_type": self.invoice_type,
            "invoicing_entity": self.invoicing_entity,
            "year": year,
            "month": month,
        }


def _invoices_from_frame(df: pd.DataFrame, names: Mapping[str, str]) -> list[_Invoice]:
    missing = [c for c in ("account_id", "invoice_id", "billing_period") if c not in df.columns]
    if missing:
        raise InvalidArgumentError(
            f"summaries frame lacks column(s) {', '.join(missing)}; pass the DataFrame from "
            f"read_invoice_summaries (columns found: {', '.join(map(str, df.columns[:12]))})"
        )
    cols = {
        c: df[c].tolist() if c in df.columns else [None] * len(df)
        for c in (
            "account_id",
            "invoice_id",
            "billing_period",
            "account_name",
            "invoice_type",
            "invoicing_entity",
        )
    }
    out: list[_Invoice] = []
    seen: set[tuple[str, str]] = set()
    for i in range(len(df)):
        acct = _text(cols["account_id"][i])
        inv = _text(cols["invoice_id"][i])
        key = (acct, inv)
        if key in seen:
            continue  # duplicate versions of one invoice share its documents
        seen.add(key)
        out.append(
            _Invoice(
                account_id=acct,
                invoice_id=inv,
                billing_period=_period_str(cols["billing_period"][i]),
                account_name=_text(cols["account_name"][i]) or names.get(acct, ""),
                invoice_type=_text(cols["invoice_type"][i]),
                invoicing_entity=_text(cols["invoicing_entity"][i]),
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# The run.
# --------------------------------------------------------------------------------------------

#: GetInvoicePDF / lookup attempts on throttling, 5xx and connection errors (on top of botocore's).
MAX_API_ATTEMPTS = 4
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

_RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServerException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


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

    Delegates to :func:`invoicekit._redact.install_log_redaction`. Idempotent.

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


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2**attempt)))


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Doc:
    document_type: str
    document_id: str
    url: str | None


@dataclass
class _Outcome:
    invoice: _Invoice
    rows: list[dict[str, Any]] = field(default_factory=list)
    manifest_rows: list[dict[str, str]] = field(default_factory=list)
    listing: list[tuple[str, str]] | None = None
    dirs: set[Path] = field(default_factory=set)
    api_calls: int = 0


class _AccountAccess:
    """Clients per account (created in the main thread: boto3 sessions are not thread-safe)."""

    def __init__(self, fleet: Any, session: Any, max_workers: int) -> None:
        self.fleet = fleet
        self.session = session
        self.max_workers = max_workers
        self.clients: dict[str, Any] = {}
        self.origins: dict[str, frozenset[Origin]] = {}
        self.errors: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self._accounts: dict[str, Any] = {}
        if fleet is not None:
            for acct in getattr(fleet, "accounts", ()):
                self._accounts[str(acct.id)] = acct
                if getattr(acct, "name", None):
                    self.names[str(acct.id)] = str(acct.name)

    def single_account_id(self) -> str | None:
        if len(self._accounts) == 1:
            return next(iter(self._accounts))
        return None

    def prepare(self, account_id: str) -> None:
        if account_id in self.clients or account_id in self.errors:
            return
        try:
            if self.fleet is not None and self.session is None:
                acct = self._accounts.get(account_id)
                if acct is None and account_id == "" and len(self._accounts) == 1:
                    acct = next(iter(self._accounts.values()))
                if acct is None:
                    raise InvalidArgumentError(
                        f"account {account_id} is not in the fleet configuration; add it or "
                        "drop its invoices from the summaries"
                    )
                session = self.fleet.session_for(acct)
            else:
                if self.session is None:
                    import boto3

                    self.session = boto3.Session()  # the default chain, shared by all accounts
                session = self.session
            client = _make_client(session, account_id, self.max_workers)
        except InvoiceKitError as exc:
            self.errors[account_id] = str(exc)
            return
        except Exception as exc:  # botocore config/credential problems
            self.errors[account_id] = redact(
                f"cannot create a client for account {account_id}: {exc}"
            )
            return
        self.clients[account_id] = client
        endpoint = getattr(client.meta, "endpoint_url", None)
        self.origins[account_id] = frozenset([Origin.from_url(endpoint)] if endpoint else [])


def _make_client(session: Any, account_id: str, max_workers: int) -> Any:
    """The invoicing client from the project's one factory, with a pool as large as the run's."""
    from invoicekit import _client

    return _client.client(
        session,
        "invoicing",
        account_id=account_id or None,
        max_pool_connections=max(10, max_workers),
    )


class _Run:
    def __init__(
        self,
        dest: Path,
        *,
        access: _AccountAccess,
        template: str,
        supp_template: str,
        supplemental: bool,
        max_workers: int,
    ) -> None:
        self.dest = dest
        self.access = access
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

    def path_for(self, inv: _Invoice, doc: _Doc) -> str:
        fields = inv.fields()
        fields["document_type"] = doc.document_type
        fields["document_id"] = doc.document_id
        tpl = self.template if doc.document_type == INVOICE_DOCUMENT else self.supp_template
        return render_path(tpl, fields)

    # -- API ---------------------------------------------------------------------------------
    def _call(self, out: _Outcome, operation: str, fn: Any, **kwargs: Any) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        acct = out.invoice.account_id
        for attempt in range(MAX_API_ATTEMPTS):
            out.api_calls += 1
            try:
                return fn(**kwargs)
            except ClientError as exc:
                code = (exc.response.get("Error") or {}).get("Code", "")
                status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode", 0)
                retryable = code in _RETRYABLE_CODES or (status or 0) >= 500
                if not retryable or attempt == MAX_API_ATTEMPTS - 1:
                    raise translate_client_error(exc, operation=operation, account_id=acct) from exc
            except BotoCoreError as exc:
                name = type(exc).__name__
                transient = any(
                    k in name for k in ("Connection", "Timeout", "HTTPClient", "Endpoint")
                )
                if not transient or attempt == MAX_API_ATTEMPTS - 1:
                    raise ApiError(
                        redact(
                            f"{operation} failed for account {acct}: {name}: {exc} "
                            "(fix: check the endpoint, network and credentials)"
                        ),
                        operation=operation,
                        account_id=acct,
                        code=name,
                    ) from None
            if self.stop.wait(_backoff(attempt)):
                raise ApiError(
                    f"{operation} for account {acct}: interrupted",
                    operation=operation,
                    account_id=acct,
                    code="Interrupted",
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _lookup(self, out: _Outcome, client: Any) -> None:
        inv = out.invoice
        resp = self._call(
            out,
            "ListInvoiceSummaries",
            client.list_invoice_summaries,
            Selector={"ResourceType": "INVOICE_ID", "Value": inv.invoice_id},
        )
        items = resp.get("InvoiceSummaries") or []
        if not items:
            raise InvalidArgumentError(
                f"invoice {inv.invoice_id} was not found by ListInvoiceSummaries; check the id "
                "and the account whose credentials are used"
            )
        s = items[0]
        inv.account_id = str(s.get("AccountId") or inv.account_id)
        inv.billing_period = _period_str(s.get("BillingPeriod")) or inv.billing_period
        inv.invoice_type = str(s.get("InvoiceType") or "")
        inv.invoicing_entity = str((s.get("Entity") or {}).get("InvoicingEntity") or "")
        inv.account_name = inv.account_name or self.access.names.get(inv.account_id, "")
        inv.needs_lookup = False

    def _documents(self, out: _Outcome, client: Any) -> list[_Doc]:
        inv = out.invoice
        resp = self._call(out, "GetInvoicePDF", client.get_invoice_pdf, InvoiceId=inv.invoice_id)
        pdf = resp.get("InvoicePDF") or {}
        docs = [_Doc(INVOICE_DOCUMENT, inv.invoice_id, pdf.get("DocumentUrl"))]
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
    def process(self, inv: _Invoice) -> _Outcome:
        out = _Outcome(inv)
        try:
            return self._process(inv, out)
        except Exception as exc:  # a bug or an OS error must not stop the other invoices
            doc = _Doc(INVOICE_DOCUMENT, inv.invoice_id, None)
            self._fail(out, doc, f"unexpected {type(exc).__name__}: {redact(exc)}")
            return out

    def _process(self, inv: _Invoice, out: _Outcome) -> _Outcome:
        client = self.access.clients.get(inv.account_id)
        if client is None:
            reason = self.access.errors.get(
                inv.account_id, f"no client for account {inv.account_id}"
            )
            self._fail(out, _Doc(INVOICE_DOCUMENT, inv.invoice_id, None), reason)
            return out
        origins = self.access.origins.get(inv.account_id, frozenset())
        try:
            if inv.needs_lookup:
                self._lookup(out, client)
            docs = self._documents(out, client)
        except InvoiceKitError as exc:
            self._fail(out, _Doc(INVOICE_DOCUMENT, inv.invoice_id, None), str(exc))
            return out
        out.listing = [(d.document_type, d.document_id) for d in docs]
        refreshes = 0
        for i, doc in enumerate(docs):
            if doc.document_type != INVOICE_DOCUMENT and not self.supplemental:
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
                final = _inside(self.dest, rel)
            except InvalidArgumentError as exc:
                self._fail(out, doc, str(exc))
                continue
            owner = self.claim(rel, key)
            if owner is not None:
                self._fail(
                    out,
                    doc,
                    f"path {rel} is already used by {owner}; put {{document_id}} or "
                    "{invoice_id} in the naming template",
                )
                continue
            transient = 0
            while True:
                if self.stop.is_set():
                    self._fail(out, doc, "interrupted before this document was downloaded")
                    break
                if not doc.url:
                    self._fail(
                        out, doc, f"GetInvoicePDF returned no URL for document {doc.document_id}"
                    )
                    break
                try:
                    final.parent.mkdir(parents=True, exist_ok=True)
                    if not final.parent.resolve().is_relative_to(self.dest):
                        raise InvalidArgumentError(f"refused path {rel}: it leaves the archive")
                    got = self.fetcher.fetch(doc.url, final.parent, origins)
                    os.replace(got.temp_path, final)
                except FetchError as exc:
                    if exc.kind == "expired" and refreshes < MAX_URL_REFRESHES:
                        refreshes += 1
                        log.debug(
                            "document URL refused (%s); asking GetInvoicePDF again", exc.reason
                        )
                        try:
                            fresh = {d.document_id: d.url for d in self._documents(out, client)}
                        except InvoiceKitError as api_exc:
                            self._fail(out, doc, str(api_exc))
                            break
                        for d in docs[i:]:
                            d.url = fresh.get(d.document_id, d.url)
                        continue
                    if exc.kind == "transient" and transient < MAX_FETCH_ATTEMPTS - 1:
                        transient += 1
                        log.debug("retrying document %s: %s", doc.document_id, exc.reason)
                        self.stop.wait(_backoff(transient))
                        continue
                    self._fail(out, doc, exc.reason)
                    break
                except (OSError, InvalidArgumentError) as exc:
                    self._fail(out, doc, redact(f"cannot store document {doc.document_id}: {exc}"))
                    break
                out.dirs.add(final.parent)
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
                        "downloaded_at": _now_iso(),
                    }
                )
                break
        return out

    def _row(
        self,
        inv: _Invoice,
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
            "status": status,
            "path": path,
            "bytes": size,
            "sha256": sha,
            "error": error,
        }

    def _fail(self, out: _Outcome, doc: _Doc, reason: str) -> None:
        reason = redact_log_text(reason)
        log.warning(
            "invoice %s document %s failed: %s", out.invoice.invoice_id, doc.document_id, reason
        )
        out.rows.append(self._row(out.invoice, doc, FAILED, None, None, None, reason))


def _intact(dest: Path, row: Mapping[str, str]) -> bool:
    """Whether the manifest row's file exists inside dest with the recorded size and hash."""
    try:
        path = _inside(dest, row["path"])
        if not path.is_file() or path.stat().st_size != int(row["bytes"]):
            return False
        _size, sha, _head, _tail = sha256_file(path)
    except (OSError, InvalidArgumentError, ValueError):
        return False
    return sha == row["sha256"]


def download_invoice_pdfs(
    summaries_or_ids: pd.DataFrame | Iterable[str],
    dest: str | PathLike[str],
    *,
    fleet: Any = None,
    session: Any = None,
    template: str = DEFAULT_TEMPLATE,
    supplemental: bool = True,
    supplemental_template: str | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    progress: bool = True,
    refresh: bool = False,
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
    dest : path
        The archive directory (created when missing). Nothing is written outside it.
    fleet : invoicekit.fleet.Fleet, optional
        Gives each invoice's account its own session (``fleet.session_for``).
    session : boto3.Session, optional
        One session for every invoice (single account). Default: boto3's default chain.
    template : str
        Naming template relative to ``dest``, fields from :data:`TEMPLATE_FIELDS`.
    supplemental : bool
        Also download supplemental documents (tax e-invoices, receipts...).
    supplemental_template : str, optional
        Template of supplemental documents; default :func:`supplemental_template_for` of
        ``template`` (``{invoice_id}__{document_type}__{document_id}.pdf`` beside the invoice).
    max_workers : int
        Invoices processed at once (and connections kept per host).
    progress : bool
        Show a progress bar (``tqdm.auto``: a widget in notebooks, text in a terminal).
    refresh : bool
        Call GetInvoicePDF again for every invoice, even complete ones, to pick up documents
        AWS added since the last run (e.g. a payment receipt); archived documents are still
        not downloaded again.

    Returns
    -------
    pandas.DataFrame
        One row per document, columns :data:`RESULT_COLUMNS`; ``status`` is ``downloaded``,
        ``skipped`` (already archived with the manifest's hash: no API call) or ``failed``
        (``error`` says why; the other documents still download). ``attrs["api_calls"]``
        counts GetInvoicePDF/ListInvoiceSummaries calls, ``attrs["failures"]`` lists failures.

    Raises
    ------
    InvalidArgumentError
        Bad template, bad input frame, ``dest`` not usable, two invoices mapped to one path,
        or another run writing to ``dest``.

    Examples
    --------
    >>> import invoicekit
    >>> from invoicekit import sandbox
    >>> with sandbox.start(accounts=2, months=1, today="2026-11-25") as sb:   # doctest: +SKIP
    ...     fleet = invoicekit.load_fleet(sb.fleet_config)
    ...     df = invoicekit.read_invoice_summaries(fleet, start="2026-10", end="2026-10")
    ...     result = invoicekit.download_invoice_pdfs(df, "archive", fleet=fleet)
    >>> result["status"].value_counts()                                       # doctest: +SKIP
    """
    import pandas as pd

    protect_logs()
    validate_template(template)
    supp_tpl = supplemental_template or supplemental_template_for(template)
    validate_template(supp_tpl)
    if not isinstance(max_workers, int) or max_workers < 1:
        raise InvalidArgumentError(f"max_workers must be a positive integer, got {max_workers!r}")
    if fleet is not None and session is not None:
        raise InvalidArgumentError("pass either fleet= or session=, not both")

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

    access = _AccountAccess(fleet, session, max_workers)
    if isinstance(summaries_or_ids, pd.DataFrame):
        invoices = _invoices_from_frame(summaries_or_ids, access.names)
    elif isinstance(summaries_or_ids, str | bytes):
        raise InvalidArgumentError("pass a list of invoice ids, not a single string")
    else:
        ids = [str(x) for x in summaries_or_ids]
        if fleet is not None and access.single_account_id() is None:
            raise InvalidArgumentError(
                "invoice ids need a single account: pass session= or a one-account fleet, or a "
                "summaries DataFrame with account_id for several accounts"
            )
        acct = access.single_account_id() or ""
        invoices = [
            _Invoice(
                account_id=acct,
                invoice_id=i,
                billing_period="",
                needs_lookup=True,
                account_name=access.names.get(acct, ""),
            )
            for i in dict.fromkeys(ids)
        ]

    with archive_lock(dest_path):
        return _download(
            invoices,
            dest_path,
            access,
            template,
            supp_tpl,
            supplemental,
            max_workers,
            progress,
            refresh,
        )


def _download(
    invoices: list[_Invoice],
    dest: Path,
    access: _AccountAccess,
    template: str,
    supp_tpl: str,
    supplemental: bool,
    max_workers: int,
    progress: bool,
    refresh: bool = False,
) -> pd.DataFrame:
    import pandas as pd

    remove_stale_temp_files(dest)
    manifest_path = dest / MANIFEST_NAME
    catalogue_path = dest / STATE_DIR / CATALOGUE_NAME
    read = read_manifest(manifest_path)
    if read.bad_lines:
        log.warning(
            "manifest: dropped %d unusable line(s) left by an interrupted run", len(read.bad_lines)
        )
    manifest = {(r["account_id"], r["invoice_id"], r["document_id"]): r for r in read.rows}
    catalogue = read_catalogue(catalogue_path)
    write_manifest(manifest_path, manifest.values())  # clean start: no torn tail to append to
    compact_catalogue(catalogue_path, catalogue)

    run = _Run(
        dest,
        access=access,
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
    todo: list[_Invoice] = []
    for inv in invoices:
        keys = [(inv.account_id, inv.invoice_id)]
        if inv.needs_lookup and not inv.account_id:
            keys = by_id.get(inv.invoice_id, [])
        complete = False
        for key in keys:
            # Archived and intact documents are never downloaded again, whatever happens next.
            ok = {r["document_id"]: r for r in by_invoice.get(key, []) if _intact(dest, r)}
            for d, r in ok.items():
                run.present[(key[0], key[1], d)] = r
            listing = catalogue.get(key)
            if not listing:
                continue
            wanted = [(t, d) for t, d in listing if supplemental or t == INVOICE_DOCUMENT]
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
        rel = run.path_for(inv, _Doc(INVOICE_DOCUMENT, inv.invoice_id, None))
        owner = run.claim(rel, (inv.account_id, inv.invoice_id, inv.invoice_id))
        if owner is not None:
            raise InvalidArgumentError(
                f"the naming template {template!r} puts invoice {inv.invoice_id} and {owner} on "
                f"the same path {rel}; include {{invoice_id}} in it"
            )

    for acct in dict.fromkeys(inv.account_id for inv in todo):
        access.prepare(acct)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(invoices), desc="invoice PDFs", unit="invoice")
        bar.update(len(invoices) - len(todo))

    journal = ArchiveJournal(dest)
    pending_manifest: list[dict[str, str]] = []
    pending_listing: list[dict[str, str]] = []
    pending_dirs: set[Path] = set()
    api_calls = 0
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal last_commit
        journal.commit(pending_manifest, pending_listing, pending_dirs)
        for r in pending_manifest:
            manifest[(r["account_id"], r["invoice_id"], r["document_id"])] = r
        pending_manifest.clear()
        pending_listing.clear()
        pending_dirs.clear()
        last_commit = time.monotonic()

    def absorb(out: _Outcome) -> None:
        nonlocal api_calls
        api_calls += out.api_calls
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
                    time.monotonic() - last_commit >= COMMIT_INTERVAL_S
                    or len(pending_manifest) >= COMMIT_EVERY_DOCUMENTS
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
        commit()
        write_manifest(manifest_path, manifest.values())
        compact_catalogue(catalogue_path, read_catalogue(catalogue_path))
        run.fetcher.close()
        if bar is not None:
            bar.close()

    result = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    result["bytes"] = result["bytes"].astype("Int64")
    failures = [
        {
            "account_id": r["account_id"],
            "invoice_id": r["invoice_id"],
            "document_id": r["document_id"],
            "message": r["error"],
        }
        for r in rows
        if r["status"] == FAILED
    ]
    result.attrs["api_calls"] = api_calls
    result.attrs["failures"] = failures
    result.attrs["dest"] = str(dest)
    return result


# --------------------------------------------------------------------------------------------
# Verify.
# --------------------------------------------------------------------------------------------

#: Columns of :attr:`VerifyReport.problems`.
PROBLEM_COLUMNS = (
    "problem",
    "path",
    "account_id",
    "invoice_id",
    "billing_period",
    "document_type",
    "document_id",
    "detail",
)


@dataclass
class VerifyReport:
    """What :func:`verify_archive` found.

    Attributes
    ----------
    dest : pathlib.Path
    checked : int
        Documents in the manifest that were re-hashed.
    problems : pandas.DataFrame
        One row per problem (:data:`PROBLEM_COLUMNS`); ``problem`` is ``missing``, ``corrupt``,
        ``unexpected``, ``manifest`` (an unusable manifest line) or ``no_document`` (an invoice
        of the requested range without its PDF).
    invoices_expected : int
        Invoices of the requested range (0 without summaries).

    Examples
    --------
    >>> import pandas as pd, pathlib
    >>> report = VerifyReport(pathlib.Path("archive"), 3, pd.DataFrame(columns=PROBLEM_COLUMNS))
    >>> report.ok, report.summary()
    (True, 'archive: 3 documents checked: no problems')
    """

    dest: Path
    checked: int
    problems: pd.DataFrame
    invoices_expected: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return len(self.problems) == 0

    def summary(self) -> str:
        """One line: documents checked and problems by kind."""
        counts = self.problems["problem"].value_counts().to_dict() if len(self.problems) else {}
        tail = (
            "no problems"
            if not counts
            else ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        )
        extra = f", {self.invoices_expected} invoices expected" if self.invoices_expected else ""
        return f"{self.dest}: {self.checked} documents checked{extra}: {tail}"

    def __str__(self) -> str:
        return self.summary()


def verify_archive(
    dest: str | PathLike[str],
    *,
    summaries: pd.DataFrame | None = None,
    start: str | None = None,
    end: str | None = None,
) -> VerifyReport:
    """Re-hash an archive against its manifest; report missing, corrupt and unexpected files.

    Parameters
    ----------
    dest : path
        The archive directory written by :func:`download_invoice_pdfs`.
    summaries : DataFrame, optional
        Invoices that should be archived (``account_id``, ``invoice_id``, ``billing_period``):
        each one without its PDF in the archive is a ``no_document`` problem (completeness).
    start, end : str, optional
        ``YYYY-MM`` billing periods (inclusive) restricting ``summaries``.

    Returns
    -------
    VerifyReport
        ``report.ok`` is True when nothing is wrong.

    Raises
    ------
    InvalidArgumentError
        ``dest`` is not a directory, has no ``manifest.csv``, or a period does not parse.

    Examples
    --------
    >>> report = invoicekit.verify_archive("archive")          # doctest: +SKIP
    >>> report.ok, report.summary()                           # doctest: +SKIP
    """
    import pandas as pd

    root = Path(dest).expanduser()
    if not root.is_dir():
        raise InvalidArgumentError(
            f"{root} is not a directory (pass the archive written by download)"
        )
    root = root.resolve()
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        raise InvalidArgumentError(f"{root} has no {MANIFEST_NAME}: not an invoicekit archive")
    lo = _parse_period(start, "start") if start else None
    hi = _parse_period(end, "end") if end else None
    if lo and hi and lo > hi:
        raise InvalidArgumentError(f"start {start} is after end {end}")

    read = read_manifest(manifest_path)
    problems: list[dict[str, Any]] = []

    def add(
        problem: str, row: Mapping[str, Any] | None, detail: str, path: str | None = None
    ) -> None:
        row = row or {}
        problems.append(
            {
                "problem": problem,
                "path": path if path is not None else row.get("path"),
                "account_id": row.get("account_id"),
                "invoice_id": row.get("invoice_id"),
                "billing_period": row.get("billing_period"),
                "document_type": row.get("document_type"),
                "document_id": row.get("document_id"),
                "detail": redact(detail),
            }
        )

    for lineno, why in read.bad_lines:
        add("manifest", None, f"{MANIFEST_NAME} line {lineno}: {why}", path=MANIFEST_NAME)

    known: set[str] = set()
    good_invoices: set[tuple[str, str]] = set()
    for row in read.rows:
        rel = row["path"]
        if "\\" in rel or rel.startswith("/") or any(p in ("", ".", "..") for p in rel.split("/")):
            add("manifest", row, "path is not a clean relative path inside the archive")
            continue
        try:
            path = _inside(root, rel)
        except InvalidArgumentError:
            add("manifest", row, "path leaves the archive")
            continue
        known.add(path.relative_to(root).as_posix())
        if not path.is_file():
            add("missing", row, "file listed in the manifest is not in the archive")
            continue
        try:
            size, sha, head, tail = sha256_file(path)
        except OSError as exc:
            add("corrupt", row, f"cannot read: {exc.strerror}")
            continue
        if size != int(row["bytes"]):
            add("corrupt", row, f"size {size} bytes, manifest says {row['bytes']}")
        elif sha != row["sha256"]:
            add("corrupt", row, "sha256 differs from the manifest (file altered)")
        elif not is_pdf(head, tail):
            add("corrupt", row, "not a complete PDF (no %PDF- signature or %%EOF)")
        elif row["document_type"] == INVOICE_DOCUMENT:
            good_invoices.add((row["account_id"], row["invoice_id"]))

    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if d != STATE_DIR]
        for name in filenames:
            rel = (here / name).relative_to(root).as_posix()
            if here == root and name == MANIFEST_NAME:
                continue
            if rel in known:
                continue
            if is_temp_name(name):
                add(
                    "unexpected",
                    None,
                    "partial download left by an interrupted run (the next download removes it)",
                    path=rel,
                )
            else:
                add("unexpected", None, "file not in the manifest", path=rel)

    expected = 0
    if summaries is not None:
        for inv in _invoices_from_frame(summaries, {}):
            if lo and inv.billing_period < lo or hi and inv.billing_period > hi:
                continue
            expected += 1
            if (inv.account_id, inv.invoice_id) not in good_invoices:
                add(
                    "no_document",
                    {
                        "account_id": inv.account_id,
                        "invoice_id": inv.invoice_id,
                        "billing_period": inv.billing_period,
                        "document_type": INVOICE_DOCUMENT,
                        "document_id": inv.invoice_id,
                    },
                    "invoice of the requested range has no intact PDF in the archive",
                    path=None,
                )

    frame = pd.DataFrame(problems, columns=list(PROBLEM_COLUMNS))
    return VerifyReport(
        dest=root, checked=len(read.rows), problems=frame, invoices_expected=expected
    )


def _parse_period(text: str, what: str) -> str:
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", str(text).strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise InvalidArgumentError(f"{what} period {text!r} is not YYYY-MM (e.g. 2025-01)")
    return f"{m.group(1)}-{int(m.group(2)):02d}"
