"""The audit archive in S3: checksummed objects, Object Lock retention, a manifest object.

``download_invoice_pdfs(..., dest="s3://BUCKET/PREFIX")`` stores every document as the object
``PREFIX/<path>`` (the same naming template and sanitizing as a local archive), with

* a SHA-256 checksum computed while the document streamed from its presigned URL into a spool
  file (one document at a time per worker, 64 KiB in memory), sent as ``ChecksumSHA256`` with
  ``ChecksumAlgorithm=SHA256`` so that S3 verifies the body on upload and stores the checksum;
* the Object Lock asked (:func:`retention`: COMPLIANCE or GOVERNANCE until a date, a legal
  hold), optionally SSE-KMS;
* user metadata naming the document (account, invoice, period, type, id, sha256: nothing
  secret), so that a run killed before its manifest was written adopts what it stored.

Beside the documents: ``PREFIX/manifest.csv`` (:data:`~invoicekit.archive.manifest.
S3_MANIFEST_COLUMNS`: the local columns plus each object's version id and lock) and the private
catalogue ``PREFIX/.invoicekit/documents.csv``. A locked object is never overwritten: the
bucket is versioned, so a document stored again (its object was altered or deleted) becomes a
new version, and the manifest records that version.

A re-run decides "intact" without downloading anything: one listing of the prefix (the current
size and ETag of each key), then ``head_object(ChecksumMode="ENABLED")`` for every document whose
current object is not the one invoicekit put (its stored checksum against the manifest's
sha256). An object whose ETag and size are still those its put answered is the object whose
checksum S3 verified then; a HEAD per object would cost a request per document on every re-run.

:func:`verify_s3_archive` re-reads every object and re-hashes it (moto and other emulators
accept wrong checksums: the server alone is not trusted), checks the stored checksum, the size,
the lock still in force, and reports unexpected objects and completeness.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from invoicekit import _files, clock, documents
from invoicekit._http import PDF_EOF_WINDOW_BYTES, is_pdf
from invoicekit._redact import redact
from invoicekit.archive.manifest import (
    CATALOGUE_NAME,
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    S3_MANIFEST_COLUMNS,
    STATE_DIR,
    catalogue_text,
    manifest_text,
    parse_catalogue,
    parse_manifest,
)
from invoicekit.errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from invoicekit.archive.verify import VerifyReport
    from invoicekit.fleet import Fleet

__all__ = [
    "LOCK_MODES",
    "S3Location",
    "Retention",
    "retention",
    "is_s3_url",
    "archive_client",
    "check_bucket",
    "S3Store",
    "verify_s3_archive",
    "upload_tree",
    "verify_s3_pack",
]

log = logging.getLogger("invoicekit.archive")

#: Object Lock modes (``--object-lock-mode``).
LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")
#: Rewrite the manifest and catalogue objects at least this often while a run is going.
COMMIT_INTERVAL_S = 5.0
COMMIT_EVERY_DOCUMENTS = 500
#: Objects re-read at once by :func:`verify_s3_archive`.
VERIFY_WORKERS = 16
#: User metadata keys (``x-amz-meta-invoicekit-*``) every document object carries.
META_PREFIX = "invoicekit-"
_META_FIELDS = ("account_id", "invoice_id", "billing_period", "document_type", "document_id")
_READ_CHUNK_BYTES = 64 * 1024
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MAX_KEY_BYTES = 1024
#: The RAM disk spools documents only with at least this much free (else the temp directory).
_SPOOL_MIN_FREE_BYTES = 2 * 1024**3


def is_s3_url(value: object) -> bool:
    """Whether ``value`` names an S3 archive (``s3://BUCKET/PREFIX``).

    Examples
    --------
    >>> is_s3_url("s3://audit-archive/invoices"), is_s3_url("invoices/")
    (True, False)
    """
    return isinstance(value, str) and value.startswith("s3://")


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (``""`` or ending in ``/``).

    Examples
    --------
    >>> loc = S3Location.parse("s3://audit-archive/invoices/2026")
    >>> loc.bucket, loc.prefix, loc.key("2026-10/a.pdf"), str(loc)
    ('audit-archive', 'invoices/2026/', 'invoices/2026/2026-10/a.pdf', 's3://audit-archive/invoices/2026')
    """

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str, flag: str = "--dest") -> S3Location:
        """Parse ``s3://BUCKET[/PREFIX]``; a bad bucket name or prefix names ``flag``."""
        if not is_s3_url(url):
            raise InvalidArgumentError(f"{flag} {url!r} is not an s3://BUCKET/PREFIX URL")
        rest = url[len("s3://") :]
        bucket, _, prefix = rest.partition("/")
        if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
            raise InvalidArgumentError(
                f"{flag} {url!r}: {bucket!r} is not an S3 bucket name (3-63 lowercase letters, "
                "digits, dots and hyphens)"
            )
        parts = [p for p in prefix.split("/") if p]
        if any(p in (".", "..") for p in parts) or "\\" in prefix or "?" in prefix:
            raise InvalidArgumentError(
                f"{flag} {url!r}: the prefix must be plain key parts separated by '/'"
            )
        return cls(bucket, "".join(p + "/" for p in parts))

    def key(self, rel: str) -> str:
        """The object key of a path relative to the archive."""
        return self.prefix + rel

    def rel(self, key: str) -> str:
        """The path relative to the archive of an object key under the prefix."""
        return key[len(self.prefix) :]

    def url(self, rel: str = "") -> str:
        """``s3://bucket/prefix/rel``."""
        return f"s3://{self.bucket}/{self.prefix}{rel}"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def manifest_key(self) -> str:
        return self.key(MANIFEST_NAME)

    @property
    def catalogue_key(self) -> str:
        return self.key(f"{STATE_DIR}/{CATALOGUE_NAME}")


# --------------------------------------------------------------------------------------------
# Retention.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retention:
    """The Object Lock every document is put with.

    ``mode`` is ``COMPLIANCE`` or ``GOVERNANCE`` (with ``retain_until``, an aware UTC
    datetime), or ``None``; ``legal_hold`` puts a legal hold (no expiry) on each object.

    Examples
    --------
    >>> r = retention("COMPLIANCE", retain_days=10, now="2026-11-25")
    >>> r.put_args()["ObjectLockMode"], r.manifest_fields()["retain_until"]
    ('COMPLIANCE', '2026-12-05T00:00:00Z')
    """

    mode: str | None = None
    retain_until: datetime | None = None
    legal_hold: bool = False

    @property
    def active(self) -> bool:
        return bool(self.mode or self.legal_hold)

    def put_args(self) -> dict[str, Any]:
        """The ``put_object`` arguments of this lock."""
        out: dict[str, Any] = {}
        if self.mode:
            out["ObjectLockMode"] = self.mode
            out["ObjectLockRetainUntilDate"] = self.retain_until
        if self.legal_hold:
            out["ObjectLockLegalHoldStatus"] = "ON"
        return out

    def manifest_fields(self) -> dict[str, str]:
        """The manifest columns recording this lock."""
        return {
            "object_lock_mode": self.mode or "",
            "retain_until": clock.utc_iso(self.retain_until) if self.retain_until else "",
            "legal_hold": "ON" if self.legal_hold else "",
        }


_NO_RETENTION = Retention()


def retention(
    mode: str | None = None,
    *,
    retain_until: object = None,
    retain_days: int | None = None,
    legal_hold: bool = False,
    now: object = None,
) -> Retention | None:
    """Validate the Object Lock options; ``None`` when nothing is asked.

    ``retain_until`` is an ISO date or timestamp (a date means 00:00 UTC); ``retain_days``
    counts from business "now" (:func:`invoicekit.clock.now`, or ``now``). Messages name the
    CLI flags (``--object-lock-mode``, ``--retain-until``, ``--retain-days``).

    Raises
    ------
    InvalidArgumentError
        An unknown mode, a mode without a date (or a date without a mode), both dates, a date
        not in the future, a non-positive number of days.

    Examples
    --------
    >>> retention() is None
    True
    >>> retention("GOVERNANCE", retain_until="2030-01-01", now="2026-11-25").retain_until.year
    2030
    """
    if mode is None and retain_until is None and retain_days is None and not legal_hold:
        return None
    if mode is not None:
        mode = str(mode).upper()
        if mode not in LOCK_MODES:
            raise InvalidArgumentError(f"--object-lock-mode {mode!r}: use COMPLIANCE or GOVERNANCE")
    if retain_until is not None and retain_days is not None:
        raise InvalidArgumentError("give --retain-until or --retain-days, not both")
    if mode is None and (retain_until is not None or retain_days is not None):
        raise InvalidArgumentError(
            "--retain-until/--retain-days need --object-lock-mode COMPLIANCE or GOVERNANCE"
        )
    if mode is not None and retain_until is None and retain_days is None:
        raise InvalidArgumentError(
            f"--object-lock-mode {mode} needs --retain-until DATE or --retain-days N"
        )
    at = clock.parse(now, "--now") if now is not None else clock.now()
    until = None
    if retain_days is not None:
        if isinstance(retain_days, bool) or not isinstance(retain_days, int) or retain_days < 1:
            raise InvalidArgumentError(
                f"--retain-days must be a positive whole number of days, got {retain_days!r}"
            )
        until = at + timedelta(days=retain_days)
    elif retain_until is not None:
        until = clock.parse(retain_until, "--retain-until")
        if until <= at:
            raise InvalidArgumentError(
                f"--retain-until {clock.utc_iso(until)} is not after now ({clock.utc_iso(at)}): "
                "give a future date"
            )
    if until is not None:
        until = until.replace(microsecond=0)
    return Retention(mode=mode, retain_until=until, legal_hold=bool(legal_hold))


# --------------------------------------------------------------------------------------------
# The archive bucket's client.
# --------------------------------------------------------------------------------------------


def archive_client(
    fleet: Fleet | None = None, *, session: Any = None, max_pool_connections: int = 32
) -> Any:
    """The S3 client of the archive bucket, from the one client factory.

    Credentials and endpoint come from the fleet file's ``archive:`` section (``profile`` or
    ``role_arn`` + ``external_id``, ``region``, ``endpoint_url``) when it has one, else from
    ``session`` or the standard chain (``AWS_PROFILE``, ``AWS_ENDPOINT_URL_S3``...). The
    document download allowlist gains nothing from it.

    Examples
    --------
    >>> c = archive_client()                                      # doctest: +SKIP
    """
    return _archive_client_and_session(fleet, session, max_pool_connections)[0]


def _archive_client_and_session(
    fleet: Fleet | None, session: Any, max_pool_connections: int
) -> tuple[Any, Any]:
    """:func:`archive_client`, and the session it was made from (the lean PUT signs with it)."""
    from invoicekit import _client

    endpoint = None
    if fleet is not None and getattr(fleet, "archive", None):
        session = fleet.archive_session()
        endpoint = fleet.archive.get("endpoint_url")
    if session is None:
        import boto3

        session = boto3.Session()
    client = _client.client(
        session, "s3", endpoint_url=endpoint, max_pool_connections=max(10, max_pool_connections)
    )
    return client, session


def _code(exc: Exception) -> str:
    resp = getattr(exc, "response", None) or {}
    return str((resp.get("Error") or {}).get("Code") or type(exc).__name__)


def _status(exc: Exception) -> int:
    resp = getattr(exc, "response", None) or {}
    return int((resp.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)


def _s3_text(exc: Exception) -> str:
    resp = getattr(exc, "response", None) or {}
    err = resp.get("Error") or {}
    if err:
        return redact(f"{err.get('Code', '')}: {err.get('Message', '')}".strip(": "))
    return redact(f"{type(exc).__name__}: {exc}")


def check_bucket(
    client: Any, loc: S3Location, wanted: Retention | None, flag: str = "--dest"
) -> dict[str, bool]:
    """Check the bucket is reachable, and has Object Lock and versioning when a lock is asked.

    Returns ``{"versioning": bool, "object_lock": bool}``.

    Raises
    ------
    InvalidArgumentError
        One line: no such bucket, no access, or (a lock asked) no Object Lock / versioning.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=loc.bucket)
    except ClientError as exc:
        status = _status(exc)
        why = "does not exist" if status == 404 else f"is not usable ({_s3_text(exc) or status})"
        raise InvalidArgumentError(
            f"{flag} {loc}: bucket {loc.bucket} {why}; check the name, the region and the "
            "archive credentials (fleet file archive: section, or the standard AWS chain)"
        ) from None
    except BotoCoreError as exc:
        raise InvalidArgumentError(
            redact(f"{flag} {loc}: cannot reach the archive bucket: {type(exc).__name__}: {exc}")
        ) from None
    try:  # without s3:GetBucketVersioning: unknown, taken as off (refused only if a lock is asked)
        versioning = client.get_bucket_versioning(Bucket=loc.bucket).get("Status") == "Enabled"
    except (ClientError, BotoCoreError):
        versioning = False
    object_lock = False
    try:
        conf = client.get_object_lock_configuration(Bucket=loc.bucket)
        object_lock = (conf.get("ObjectLockConfiguration") or {}).get(
            "ObjectLockEnabled"
        ) == "Enabled"
    except (ClientError, BotoCoreError):
        object_lock = False
    if wanted is not None and wanted.active:
        flag = "--object-lock-mode" if wanted.mode else "--legal-hold"
        if not object_lock:
            raise InvalidArgumentError(
                f"{flag}: bucket {loc.bucket} has no Object Lock, so nothing can be locked; "
                "use a bucket created with Object Lock enabled, or drop the retention options"
            )
        if not versioning:
            raise InvalidArgumentError(
                f"{flag}: bucket {loc.bucket} has versioning off, so a changed document would "
                "replace the stored one; enable versioning on it, or drop the retention options"
            )
    return {"versioning": versioning, "object_lock": object_lock}


def _b64(sha_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(sha_hex)).decode("ascii")


def _hex(sha_b64: str | None) -> str | None:
    if not sha_b64:
        return None
    try:
        raw = base64.b64decode(sha_b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _meta_value(text: str) -> str:
    """Metadata is sent as HTTP headers: ASCII only (percent-encoded otherwise)."""
    return quote(text, safe=" -_.:~/+=@,()")


def _object_metadata(meta: Mapping[str, str], sha256: str) -> dict[str, str]:
    out = {
        META_PREFIX + k.replace("_", "-"): _meta_value(str(meta.get(k, ""))) for k in _META_FIELDS
    }
    out[META_PREFIX + "sha256"] = sha256
    return out


def _row_from_metadata(
    rel: str, head: Mapping[str, Any], downloaded_at: str
) -> dict[str, str] | None:
    md = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
    values = {k: unquote(md.get(META_PREFIX + k.replace("_", "-"), "")) for k in _META_FIELDS}
    sha = _hex(head.get("ChecksumSHA256"))
    if not all(values[k] for k in ("account_id", "invoice_id", "document_id")) or sha is None:
        return None
    if md.get(META_PREFIX + "sha256") not in (None, sha):
        return None  # the stored checksum is not the one invoicekit put
    return {
        **values,
        "path": rel,
        "bytes": str(int(head.get("ContentLength") or 0)),
        "sha256": sha,
        "downloaded_at": downloaded_at,
        **_lock_fields(head),
    }


def _lock_fields(resp: Mapping[str, Any]) -> dict[str, str]:
    until = resp.get("ObjectLockRetainUntilDate")
    return {
        "version_id": str(resp.get("VersionId") or ""),
        "etag": _etag(resp.get("ETag")),
        "object_lock_mode": str(resp.get("ObjectLockMode") or ""),
        "retain_until": clock.utc_iso(until) if isinstance(until, datetime) else "",
        "legal_hold": "ON" if resp.get("ObjectLockLegalHoldStatus") == "ON" else "",
    }


def _spool_root() -> str | None:
    """Where documents wait for their put: a RAM disk when there is one (``/dev/shm``).

    A spool file needs no durability (the object in S3 is what is kept), and on a disk each
    document's fsync would cost more than its upload. At most one document per worker waits.
    """
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
    except (OSError, AttributeError):  # no RAM disk (or not POSIX)
        return None
    # a container's small /dev/shm (64 MiB) could not hold a large document: the disk then
    roomy = st.f_bavail * st.f_frsize >= _SPOOL_MIN_FREE_BYTES
    return shm if roomy and os.access(shm, os.W_OK) else None


def _etag(value: object) -> str:
    return str(value or "").strip('"')


def _lock_file(loc: S3Location, endpoint: str | None) -> Path:
    digest = hashlib.sha256(f"{endpoint or ''}|{loc.bucket}|{loc.prefix}".encode()).hexdigest()
    d = Path(tempfile.gettempdir()) / "invoicekit-s3-locks"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{digest[:32]}.lock"


# --------------------------------------------------------------------------------------------
# The store download_invoice_pdfs writes through.
# --------------------------------------------------------------------------------------------


@dataclass
class _Current:
    size: int
    etag: str


_HEAD_BUCKET_EVENT = "before-send.s3.HeadBucket"
_PROBE_ID = "invoicekit-lean-s3-probe"


def _noting(seen: dict[str, Any]) -> Any:
    """A before-send handler keeping the URL and Authorization of the last request (in memory
    only: read by :meth:`invoicekit._lean.LeanS3Put.from_request`, never logged)."""

    def note(request: Any, **_: Any) -> None:
        seen["url"] = request.url
        seen["auth"] = request.headers.get("Authorization")

    return note


class S3Store:
    """An S3 prefix as the destination of :func:`~invoicekit.archive.download_invoice_pdfs`.

    Built by :meth:`for_download`, which checks the bucket before any invoicing request. One
    run at a time per bucket and prefix on this machine (a lock file in the temp directory;
    runs on other machines are not excluded).
    """

    columns = S3_MANIFEST_COLUMNS
    commit_interval_s = COMMIT_INTERVAL_S
    commit_every_documents = COMMIT_EVERY_DOCUMENTS

    def __init__(
        self,
        client: Any,
        loc: S3Location,
        *,
        retention: Retention | None = None,
        sse_kms_key_id: str | None = None,
        manifest_copy: str | PathLike[str] | None = None,
        max_workers: int = 32,
        bucket_info: Mapping[str, bool] | None = None,
        lean_put: Any = None,
    ) -> None:
        self.client = client
        self.lean_put = lean_put  # invoicekit._lean.LeanS3Put, or None: boto3 puts
        self.loc = loc
        self.display = str(loc)
        self.retention = retention or _NO_RETENTION
        self.sse_kms_key_id = sse_kms_key_id
        self.manifest_copy = Path(manifest_copy).expanduser() if manifest_copy else None
        self.max_workers = max_workers
        self.versioning = bool((bucket_info or {}).get("versioning"))
        self._spool: Path | None = None
        self._stored_manifest: str | None = None
        self._rows: dict[tuple[str, str, str], dict[str, str]] = {}
        self._catalogue: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._intact: dict[tuple[str, str, str], dict[str, str] | None] = {}
        self._catalogue_dirty = False

    @classmethod
    def for_download(
        cls,
        url: str,
        *,
        fleet: Fleet | None = None,
        retention: Retention | None = None,
        sse_kms_key_id: str | None = None,
        manifest_copy: str | PathLike[str] | None = None,
        max_workers: int = 32,
        client: Any = None,
        session: Any = None,
        lean: bool = True,
    ) -> S3Store:
        """Parse ``url``, make the client, check the bucket (lock and versioning if asked).

        Documents are put by the lean signed PUT (:class:`invoicekit._lean.LeanS3Put`) when
        ``lean`` and the client is made here; a ``client`` given is used for every request."""
        loc = S3Location.parse(url, "--dest")
        if retention is not None and not isinstance(retention, Retention):
            raise InvalidArgumentError(
                "retention= takes invoicekit.archive.s3.retention(mode, retain_until=... or "
                "retain_days=..., legal_hold=...)"
            )
        if sse_kms_key_id is not None and not str(sse_kms_key_id).strip():
            raise InvalidArgumentError("--sse-kms-key-id must be a KMS key id, ARN or alias")
        probe = False
        if client is None:
            client, session = _archive_client_and_session(fleet, session, max_workers)
            probe = lean  # the lean PUT only on a client made here (a given one is used as is)
        seen: dict[str, Any] = {}
        if probe:  # botocore's HeadBucket says where the bucket's keys go, and the region
            client.meta.events.register(_HEAD_BUCKET_EVENT, _noting(seen), unique_id=_PROBE_ID)
        try:
            info = check_bucket(client, loc, retention)
        finally:
            if probe:
                client.meta.events.unregister(_HEAD_BUCKET_EVENT, unique_id=_PROBE_ID)
        lean_put = None
        if probe:
            from invoicekit import _lean

            lean_put = _lean.LeanS3Put.from_request(session, seen.get("url"), seen.get("auth"))
        return cls(
            client,
            loc,
            retention=retention,
            sse_kms_key_id=sse_kms_key_id,
            manifest_copy=manifest_copy,
            max_workers=max_workers,
            bucket_info=info,
            lean_put=lean_put,
        )

    # -- the run's frame ------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        endpoint = getattr(self.client.meta, "endpoint_url", None)
        with _files.exclusive_lock(
            _lock_file(self.loc, endpoint),
            f"another invoicekit download is writing to {self.loc}; wait for it to finish",
        ):
            self._spool = Path(tempfile.mkdtemp(prefix="invoicekit-s3-", dir=_spool_root()))
            try:
                yield
            finally:
                shutil.rmtree(self._spool, ignore_errors=True)
                self._spool = None

    def _get_text(self, key: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.loc.bucket, Key=key)["Body"]
            return body.read().decode("utf-8", errors="replace")
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise InvalidArgumentError(
                f"--dest {self.loc}: cannot read {self.loc.url(self.loc.rel(key))}: {_s3_text(exc)}"
            ) from None

    def _put_text(self, key: str, text: str, *, locked: bool = False) -> None:
        data = text.encode("utf-8")
        sha = hashlib.sha256(data).hexdigest()
        args = self._object_args(sha) | {"ContentType": "text/csv; charset=utf-8"}
        if locked:
            args |= self.retention.put_args()
        self.client.put_object(Bucket=self.loc.bucket, Key=key, Body=data, **args)

    def _object_args(self, sha: str) -> dict[str, Any]:
        args: dict[str, Any] = {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": _b64(sha)}
        if self.sse_kms_key_id:
            args["ServerSideEncryption"] = "aws:kms"
            args["SSEKMSKeyId"] = self.sse_kms_key_id
        return args

    def _list(self, prefix: str, delimiter: str | None = None) -> tuple[dict, list[str]]:
        kwargs: dict[str, Any] = {"Bucket": self.loc.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        found: dict[str, _Current] = {}
        subs: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
            for o in page.get("Contents") or []:
                found[o["Key"]] = _Current(int(o.get("Size") or 0), _etag(o.get("ETag")))
            subs += [c["Prefix"] for c in page.get("CommonPrefixes") or []]
        return found, subs

    def _listing(self) -> dict[str, _Current]:
        """The current object of every key under the prefix: size and ETag (no download).

        One listing of the prefix's first level, then each sub-prefix (a billing period with
        the default template) listed in parallel: listings are sequential pages otherwise.
        """
        top, subs = self._list(self.loc.prefix, "/")
        subs = [p for p in subs if p != self.loc.key(STATE_DIR + "/")]
        if subs:
            with ThreadPoolExecutor(max_workers=min(16, len(subs))) as pool:
                for found, _ in pool.map(self._list, subs):
                    top.update(found)
        return top

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.loc.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if _status(exc) == 404 or _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise

    def open(self) -> tuple[dict[tuple[str, str, str], dict[str, str]], Any]:
        text = self._get_text(self.loc.manifest_key)
        self._stored_manifest = text
        rows: dict[tuple[str, str, str], dict[str, str]] = {}
        if text:
            read = parse_manifest(text, self.loc.url(MANIFEST_NAME), S3_MANIFEST_COLUMNS)
            if read.bad_lines:
                log.warning(
                    "manifest: dropped %d unusable line(s) of %s",
                    len(read.bad_lines),
                    self.loc.url(MANIFEST_NAME),
                )
            rows = {(r["account_id"], r["invoice_id"], r["document_id"]): r for r in read.rows}
        cat_text = self._get_text(self.loc.catalogue_key)
        catalogue = parse_catalogue(cat_text) if cat_text else {}

        current = self._listing()
        by_path = {r["path"]: k for k, r in rows.items()}
        need_head: list[tuple[str, tuple[str, str, str] | None]] = []
        for k, r in rows.items():
            cur = current.get(self.loc.key(r["path"]))
            if cur is None:
                self._intact[k] = None
            elif cur.etag and cur.etag == r.get("etag") and cur.size == int(r["bytes"]):
                # the object invoicekit put (S3 verified its checksum then): its ETag and size
                # are the put's; any other object at the key is judged by its stored checksum
                self._intact[k] = r
            else:
                need_head.append((self.loc.key(r["path"]), k))
        state = (self.loc.manifest_key, self.loc.catalogue_key)
        for key in current:
            rel = self.loc.rel(key)
            if key in state or rel.startswith(STATE_DIR + "/") or rel in by_path:
                continue
            need_head.append((key, None))  # stored by a run killed before its manifest commit

        def head(item: tuple[str, tuple[str, str, str] | None]) -> tuple[Any, Any, Any]:
            return item[0], item[1], self._head(item[0])

        now_iso = clock.utc_iso(clock.real_now())
        if need_head:
            with ThreadPoolExecutor(max_workers=min(32, self.max_workers)) as pool:
                heads = list(pool.map(head, need_head))
        else:
            heads = []
        for key, k, h in heads:
            if k is not None:
                r = rows[k]
                sha = _hex(h.get("ChecksumSHA256")) if h else None
                if (
                    h is not None
                    and sha == r["sha256"]
                    and int(h.get("ContentLength") or -1) == int(r["bytes"])
                ):
                    fresh = {
                        **r,
                        "version_id": str(h.get("VersionId") or ""),
                        "etag": _etag(h.get("ETag")),
                    }
                    self._intact[k] = fresh
                else:
                    self._intact[k] = None
            elif h is not None:
                adopted = _row_from_metadata(self.loc.rel(key), h, now_iso)
                if adopted is not None:
                    ak = (adopted["account_id"], adopted["invoice_id"], adopted["document_id"])
                    if ak not in rows:
                        rows[ak] = adopted
                        self._intact[ak] = adopted
        self._rows = dict(rows)
        self._catalogue = dict(catalogue)
        return rows, catalogue

    def is_intact(self, row: dict[str, str]) -> dict[str, str] | None:
        return self._intact.get((row["account_id"], row["invoice_id"], row["document_id"]))

    def check_path(self, rel: str) -> None:
        parts = rel.split("/")
        if rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts):
            raise InvalidArgumentError(f"refused path {redact(rel)!r}: not a clean relative key")
        if parts[0] == STATE_DIR or rel == MANIFEST_NAME:
            raise InvalidArgumentError(f"refused path {redact(rel)!r}: reserved for invoicekit")
        if len(self.loc.key(rel).encode("utf-8")) > _MAX_KEY_BYTES:
            raise InvalidArgumentError(
                f"refused path {redact(rel)!r}: the object key would exceed {_MAX_KEY_BYTES} bytes"
            )

    def put(self, fetcher: Any, url: str, rel: str, origins: Any, meta: Mapping[str, str]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        from invoicekit.archive.download import StorageError, Stored

        self.check_path(rel)
        assert self._spool is not None, "put outside lock()"
        got = fetcher.fetch(url, self._spool, origins)  # validated, hashed, in a spool file
        key = self.loc.key(rel)
        args = {
            "ContentType": "application/pdf",
            "Metadata": _object_metadata(meta, got.sha256),
            **self._object_args(got.sha256),
            **self.retention.put_args(),
        }
        try:
            resp = self._put_file(key, got, args)
        except ClientError as exc:
            raise StorageError(
                _code(exc),
                f"cannot store document {meta.get('document_id')} as {self.loc.url(rel)}: "
                f"{_s3_text(exc)}",
            ) from None
        except BotoCoreError as exc:
            raise StorageError(
                type(exc).__name__,
                f"cannot store document {meta.get('document_id')} as {self.loc.url(rel)}: "
                f"{type(exc).__name__}: {exc}",
            ) from None
        finally:
            Path(got.temp_path).unlink(missing_ok=True)
        echoed = resp.get("ChecksumSHA256")
        if echoed and _hex(echoed) != got.sha256:
            raise StorageError(
                "ChecksumMismatch",
                f"S3 stored {self.loc.url(rel)} with another checksum than the document's",
            )
        extra = {
            "version_id": str(resp.get("VersionId") or ""),
            "etag": _etag(resp.get("ETag")),
            **self.retention.manifest_fields(),
        }
        return Stored(got.bytes, got.sha256, extra=extra)

    def _put_file(self, key: str, got: Any, args: dict[str, Any]) -> dict[str, Any]:
        """Put the fetched document: the lean signed PUT, else (or after a redirect) boto3."""
        lean = self.lean_put
        if lean is not None:
            from invoicekit._lean import UseBotocore

            try:
                return lean.put(key, got.temp_path, got.bytes, got.sha256, **args)
            except UseBotocore as exc:  # botocore follows region redirects: leave it the bucket
                log.debug("the lean S3 put was redirected (%s): boto3 puts from now on", exc)
                self.lean_put = None
        with open(got.temp_path, "rb") as body:
            return self.client.put_object(
                Bucket=self.loc.bucket, Key=key, Body=body, ContentLength=got.bytes, **args
            )

    def commit(self, rows: list, listings: list, dirs: Any) -> None:
        if not rows and not listings:
            return
        if listings:
            fresh: dict[tuple[str, str], list[tuple[str, str]]] = {}
            for item in listings:
                fresh.setdefault((item["account_id"], item["invoice_id"]), []).append(
                    (item["document_type"], item["document_id"])
                )
            self._catalogue.update(fresh)
            self._catalogue_dirty = True
            self._put_text(self.loc.catalogue_key, catalogue_text(self._catalogue))
            self._catalogue_dirty = False
        for r in rows:
            self._rows[(r["account_id"], r["invoice_id"], r["document_id"])] = r
        if rows:
            text = manifest_text(self._rows.values(), S3_MANIFEST_COLUMNS)
            self._put_text(self.loc.manifest_key, text)
            self._stored_manifest = text

    def close(self, manifest: dict[tuple[str, str, str], dict[str, str]]) -> None:
        text = manifest_text(manifest.values(), S3_MANIFEST_COLUMNS)
        if text != self._stored_manifest:
            # the run's final manifest carries the run's lock (intermediate ones do not)
            self._put_text(self.loc.manifest_key, text, locked=self.retention.active)
            self._stored_manifest = text
        if self.manifest_copy is not None:
            _files.write_text(self.manifest_copy, text)


# --------------------------------------------------------------------------------------------
# Verify.
# --------------------------------------------------------------------------------------------


def _read_object(
    client: Any, bucket: str, key: str
) -> tuple[dict[str, Any], int, str, bytes, bytes]:
    """GET an object (its current version) and hash it while streaming."""
    resp = client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    h = hashlib.sha256()
    size = 0
    head = b""
    tail = b""
    body = resp["Body"]
    try:
        # botocore validates the stored checksum itself when it can; read raw bytes here
        for chunk in iter(lambda: body.read(_READ_CHUNK_BYTES), b""):
            if size == 0:
                head = chunk[:8]
            size += len(chunk)
            h.update(chunk)
            tail = (tail + chunk)[-PDF_EOF_WINDOW_BYTES:]
    finally:
        body.close()
    return resp, size, h.hexdigest(), head, tail


def verify_s3_archive(
    url: str,
    *,
    summaries: pd.DataFrame | None = None,
    start: str | None = None,
    end: str | None = None,
    fleet: Fleet | None = None,
    client: Any = None,
    max_workers: int = VERIFY_WORKERS,
) -> VerifyReport:
    """Verify an S3 archive: re-read and re-hash every object against the manifest.

    For every manifest entry the object's current version is read in full and hashed (the
    server's word alone is not trusted), and its stored SHA-256 checksum, size and PDF shape are
    compared with the manifest; a lock the manifest records must still be in force (mode as
    put, retain-until not earlier than recorded and after business "now", legal hold still on).
    Objects under the prefix the manifest does not list are ``unexpected``; with ``summaries``
    every invoice of ``start``..``end`` without an intact PDF is ``no_document``.

    Returns
    -------
    VerifyReport
        ``problem`` is one of ``missing``, ``corrupt``, ``unexpected``, ``manifest``,
        ``no_document`` or ``unlocked``.

    Raises
    ------
    InvalidArgumentError
        Bad URL, unreachable bucket, no ``manifest.csv`` under the prefix, a bad month.

    Examples
    --------
    >>> report = verify_s3_archive("s3://audit-archive/invoices")   # doctest: +SKIP
    >>> report.ok, report.summary()                                 # doctest: +SKIP
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from invoicekit.archive import verify as _verify

    loc = S3Location.parse(url, "DIR")
    lo, hi = _verify._bounds(start, end)
    if client is None:
        client = archive_client(fleet, max_pool_connections=max_workers)
    check_bucket(client, loc, None, "DIR")
    try:
        resp = client.get_object(Bucket=loc.bucket, Key=loc.manifest_key)
        text = resp["Body"].read()
    except ClientError as exc:
        if _code(exc) in ("NoSuchKey", "404", "NotFound"):
            raise InvalidArgumentError(
                f"{loc} has no {MANIFEST_NAME}: not an invoicekit archive"
            ) from None
        raise InvalidArgumentError(
            f"cannot read {loc.url(MANIFEST_NAME)}: {_s3_text(exc)}"
        ) from None
    first = text.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    columns = MANIFEST_COLUMNS if first == ",".join(MANIFEST_COLUMNS) else S3_MANIFEST_COLUMNS
    read = parse_manifest(text, loc.url(MANIFEST_NAME), columns)
    problems = _verify._Problems()
    for lineno, why in read.bad_lines:
        problems.add("manifest", None, f"{MANIFEST_NAME} line {lineno}: {why}", path=MANIFEST_NAME)

    now = clock.now()
    good_invoices: set[tuple[str, str]] = set()
    lock = threading.Lock()

    def check(row: dict[str, str]) -> None:
        rel = row["path"]
        found: list[tuple[str, str]] = []
        try:
            S3Store.check_path(_PathCheck(loc), rel)
        except InvalidArgumentError:
            found.append(("manifest", "path is not a clean relative key inside the archive"))
        else:
            try:
                resp, size, sha, head, tail = _read_object(client, loc.bucket, loc.key(rel))
            except ClientError as exc:
                if _status(exc) == 404 or _code(exc) in ("NoSuchKey", "NotFound"):
                    found.append(("missing", "object listed in the manifest is not in the bucket"))
                else:
                    found.append(("corrupt", f"cannot read: {_s3_text(exc)}"))
                resp = None
            except (BotoCoreError, OSError) as exc:
                found.append(("corrupt", f"cannot read: {type(exc).__name__}"))
                resp = None
            if resp is not None:
                found += _object_findings(row, resp, size, sha, head, tail, now)
        with lock:
            for problem, detail in found:
                problems.add(problem, row, detail)
            if not found and row["document_type"] == documents.MAIN_DOCUMENT:
                good_invoices.add((row["account_id"], row["invoice_id"]))

    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        list(pool.map(check, read.rows))

    known = {loc.key(r["path"]) for r in read.rows}
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=loc.prefix)
    for page in pages:
        for obj in page.get("Contents") or []:
            key = obj["Key"]
            rel = loc.rel(key)
            if key in known or rel == MANIFEST_NAME or rel.startswith(STATE_DIR + "/"):
                continue
            problems.add("unexpected", None, "object not in the manifest", path=rel)

    return _verify._finish(str(loc), read.rows, problems, summaries, lo, hi, good_invoices)


class _PathCheck:
    """Just enough of an :class:`S3Store` for :meth:`S3Store.check_path`."""

    def __init__(self, loc: S3Location) -> None:
        self.loc = loc


def _object_findings(
    row: Mapping[str, str],
    resp: Mapping[str, Any],
    size: int,
    sha: str,
    head: bytes,
    tail: bytes,
    now: datetime,
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    version = str(resp.get("VersionId") or "")
    recorded_version = row.get("version_id") or ""
    which = (
        f" (current version {version}, the manifest's is {recorded_version})"
        if recorded_version and version and version != recorded_version
        else ""
    )
    stored = _hex(resp.get("ChecksumSHA256"))
    if size != int(row["bytes"]):
        out.append(("corrupt", f"size {size} bytes, manifest says {row['bytes']}{which}"))
    elif sha != row["sha256"]:
        out.append(("corrupt", f"sha256 of the stored bytes differs from the manifest{which}"))
    elif stored is None:
        out.append(("corrupt", "stored without a SHA-256 checksum"))
    elif stored != row["sha256"]:
        out.append(("corrupt", "the SHA-256 checksum S3 stored differs from the manifest"))
    elif not is_pdf(head, tail):
        out.append(("corrupt", "not a complete PDF (no %PDF- signature or %%EOF)"))
    if out:
        return out
    mode = row.get("object_lock_mode") or ""
    if mode:
        got_mode = str(resp.get("ObjectLockMode") or "")
        until = resp.get("ObjectLockRetainUntilDate")
        recorded = (
            clock.parse(row["retain_until"], "retain_until") if row.get("retain_until") else None
        )
        if got_mode != mode or not isinstance(until, datetime):
            out.append(("unlocked", f"put with {mode} retention, now {got_mode or 'none'}"))
        elif recorded is not None and until < recorded:
            out.append(
                (
                    "unlocked",
                    f"retention shortened to {clock.utc_iso(until)} (put until "
                    f"{clock.utc_iso(recorded)})",
                )
            )
        elif until <= now:
            out.append(("unlocked", f"{mode} retention ended on {clock.utc_iso(until)}"))
    if row.get("legal_hold") == "ON" and resp.get("ObjectLockLegalHoldStatus") != "ON":
        out.append(("unlocked", "put with a legal hold, which has been removed"))
    return out


# --------------------------------------------------------------------------------------------
# Close packs in the bucket.
# --------------------------------------------------------------------------------------------


def upload_tree(
    root: str | PathLike[str],
    url: str,
    *,
    retention: Retention | None = None,
    sse_kms_key_id: str | None = None,
    fleet: Fleet | None = None,
    client: Any = None,
) -> list[dict[str, str]]:
    """Put every file under ``root`` as ``PREFIX/<relative path>``, checksummed and locked.

    Used for a close pack (``invoicekit close --upload s3://...``). A file whose object is
    already stored with the same SHA-256 checksum and size is not put again (no new version);
    any other is put as a new version (a locked one is never overwritten). Returns one dict per
    file: ``path``, ``sha256``, ``version_id``, ``status`` (``uploaded`` or ``skipped``).

    Raises
    ------
    InvalidArgumentError
        Bad URL, unusable bucket, or a lock asked of a bucket without Object Lock/versioning.

    Examples
    --------
    >>> upload_tree("closes/2026-10", "s3://audit-archive/closes/2026-10")  # doctest: +SKIP
    """
    from botocore.exceptions import BotoCoreError, ClientError

    loc = S3Location.parse(url, "--upload")
    if client is None:
        client = archive_client(fleet)
    info = check_bucket(client, loc, retention, "--upload")
    store = S3Store(client, loc, retention=retention, sse_kms_key_id=sse_kms_key_id,
                    bucket_info=info)  # fmt: skip
    base = Path(root)
    out = []
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = path.relative_to(base).as_posix()
        size, sha = 0, hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_READ_CHUNK_BYTES), b""):
                sha.update(chunk)
                size += len(chunk)
        digest = sha.hexdigest()
        try:
            head = store._head(loc.key(rel))
            if (
                head is not None
                and _hex(head.get("ChecksumSHA256")) == digest
                and int(head.get("ContentLength") or -1) == size
            ):
                out.append({"path": rel, "sha256": digest, "status": "skipped",
                            "version_id": str(head.get("VersionId") or "")})  # fmt: skip
                continue
            with open(path, "rb") as fh:
                resp = client.put_object(
                    Bucket=loc.bucket,
                    Key=loc.key(rel),
                    Body=fh,
                    ContentLength=size,
                    **store._object_args(digest),
                    **store.retention.put_args(),
                )
        except (ClientError, BotoCoreError) as exc:
            raise InvalidArgumentError(
                f"--upload: cannot store {loc.url(rel)}: {_s3_text(exc)}"
            ) from None
        out.append({"path": rel, "sha256": digest, "status": "uploaded",
                    "version_id": str(resp.get("VersionId") or "")})  # fmt: skip
    return out


def verify_s3_pack(url: str, *, fleet: Fleet | None = None, client: Any = None) -> Any:
    """Check a close pack stored under ``url`` against its ``SHA256SUMS`` (bytes re-hashed).

    Every listed object is read and hashed; its stored SHA-256 checksum must agree too.
    Returns an :class:`invoicekit.close.PackCheck` (``path`` is the ``s3://`` URL).

    Examples
    --------
    >>> verify_s3_pack("s3://audit-archive/closes/2026-10").summary()   # doctest: +SKIP
    '14 files verified'
    """
    from botocore.exceptions import ClientError

    from invoicekit import close

    loc = S3Location.parse(url, "PACK")
    if client is None:
        client = archive_client(fleet)
    check_bucket(client, loc, None, "PACK")
    check = close.PackCheck(str(loc))  # type: ignore[arg-type]
    try:
        sums = client.get_object(Bucket=loc.bucket, Key=loc.key(close.SUMS_NAME))["Body"].read()
    except ClientError:
        check.error = f"{loc} has no {close.SUMS_NAME}"
        return check
    listed: set[str] = set()
    for n, line in enumerate(sums.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parsed = close._parse_sums_line(line)
        if parsed is None:
            check.error = f"{loc.url(close.SUMS_NAME)} line {n} is not a sha256sum line"
            return check
        sha, rel = parsed
        listed.add(rel)
        check.checked += 1
        try:
            resp, _size, got, _h, _t = _read_object(client, loc.bucket, loc.key(rel))
        except ClientError:
            check.missing.append(rel)
            continue
        stored = _hex(resp.get("ChecksumSHA256"))
        if got != sha or stored != sha:
            check.changed.append(rel)
    present: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=loc.bucket, Prefix=loc.prefix
    ):
        present |= {loc.rel(o["Key"]) for o in page.get("Contents") or []}
    check.unlisted = sorted(present - listed - {close.SUMS_NAME})
    return check
