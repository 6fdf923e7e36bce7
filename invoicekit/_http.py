"""Fetch presigned document URLs safely: host allowlist, no redirects, validated PDF bodies.

Rules (see docs/readme_pdfs.md, "Security"):

- a document URL is fetched only over ``https`` from a host under ``amazonaws.com`` (default
  port), or from the exact scheme, host and port of the endpoint override the account's client
  was configured with (that is how the sandbox is reached; ``http`` only there);
- redirects are never followed (a 3xx is a failure);
- a body is accepted only when its length equals ``Content-Length`` (when sent), it starts with
  ``%PDF-`` and ``%%EOF`` appears near its end;
- the URL's query string (signature, security token) never appears in a message: every text
  this module produces names the URL through :func:`invoicekit._redact.redact_url`.

Retrying is the caller's decision: :class:`FetchError` says whether an error is ``expired``
(get a fresh URL), ``transient`` (try again after a pause) or ``fatal``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from invoicekit._files import new_temp_path
from invoicekit._redact import redact, redact_url

#: Bytes read from the socket (and written to the temp file) at a time.
CHUNK_BYTES = 64 * 1024
#: Refuse bodies larger than this (an invoice PDF is kilobytes; this bounds a hostile server).
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
PDF_MAGIC = b"%PDF-"
PDF_EOF = b"%%EOF"
#: ``%%EOF`` must appear within this many bytes of the end (trailing newlines, incremental saves).
PDF_EOF_WINDOW_BYTES = 1024

AWS_DOCUMENT_DOMAIN = "amazonaws.com"

EXPIRED = "expired"
TRANSIENT = "transient"
FATAL = "fatal"


class FetchError(Exception):
    """A document GET failed; ``kind`` is ``expired``, ``transient`` or ``fatal``.

    The message never contains the URL's query string.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(redact(reason))
        self.kind = kind
        self.reason = redact(reason)


@dataclass(frozen=True)
class Origin:
    """An exact ``scheme://host:port`` that document URLs may come from."""

    scheme: str
    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> Origin:
        """The origin of ``url`` with the scheme's default port filled in.

        Examples
        --------
        >>> Origin.from_url("http://127.0.0.1:8123")
        Origin(scheme='http', host='127.0.0.1', port=8123)
        """
        parts = urlsplit(url)
        scheme = (parts.scheme or "").lower()
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or (443 if scheme == "https" else 80)
        return cls(scheme, host, port)


def _is_aws_host(host: str) -> bool:
    if not host.endswith("." + AWS_DOCUMENT_DOMAIN):
        return False
    try:  # an IP literal is never "under amazonaws.com"
        ipaddress.ip_address(host)
        return False
    except ValueError:
        return True


def check_document_url(url: str, overrides: frozenset[Origin] | set[Origin] = frozenset()) -> None:
    """Refuse a document URL that does not come from AWS or a configured endpoint override.

    Parameters
    ----------
    url
        The presigned document URL from GetInvoicePDF.
    overrides
        Exact origins (scheme, host, port) of explicitly configured endpoints.

    Raises
    ------
    FetchError
        ``fatal``, naming the URL without its query string.

    Examples
    --------
    >>> check_document_url("https://invoices.s3.us-east-1.amazonaws.com/a.pdf?X-Amz-Signature=1")
    >>> check_document_url("http://evil.example/a.pdf")
    Traceback (most recent call last):
    ...
    invoicekit._http.FetchError: refused document URL http://evil.example/a.pdf: only https from hosts under amazonaws.com or the configured endpoint override may serve documents
    """
    malformed = FetchError(FATAL, f"refused malformed document URL {redact_url(str(url))}")
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise malformed
    try:
        parts = urlsplit(url)
        origin = Origin.from_url(url)
        # urllib3 parses the URL it connects to on its own: both parsers must agree on the
        # origin (a parser differential such as "https://evil\\@bucket.s3.amazonaws.com" differs).
        u3 = parse_url(url)
        u3_origin = Origin(
            (u3.scheme or "").lower(),
            (u3.host or "").lower().rstrip("."),
            u3.port or (443 if (u3.scheme or "").lower() == "https" else 80),
        )
    except (ValueError, LocationParseError):
        raise malformed from None
    if parts.username is not None or parts.password is not None or u3.auth:
        raise FetchError(FATAL, f"refused document URL with credentials {redact_url(url)}")
    if u3_origin != origin:
        raise malformed
    if origin in overrides:
        return
    if origin.scheme == "https" and origin.port == 443 and _is_aws_host(origin.host):
        return
    raise FetchError(
        FATAL,
        f"refused document URL {redact_url(url)}: only https from hosts under "
        f"{AWS_DOCUMENT_DOMAIN} or the configured endpoint override may serve documents",
    )


@dataclass(frozen=True)
class Fetched:
    """A validated document in a temporary file next to its final name."""

    temp_path: Path
    bytes: int
    sha256: str


def _s3_error_code(body: bytes) -> str:
    text = body[:2048].decode("utf-8", errors="replace")
    start = text.find("<Code>")
    end = text.find("</Code>")
    if start >= 0 and end > start:
        return text[start + 6 : end].strip()[:64]
    return ""


class DocumentFetcher:
    """A keep-alive urllib3 pool that downloads documents into temporary files.

    Parameters
    ----------
    pool_size
        Connections kept per host (use the number of worker threads).

    Examples
    --------
    >>> fetcher = DocumentFetcher(pool_size=4)
    >>> fetcher.close()
    """

    def __init__(self, *, pool_size: int = 8) -> None:
        self._pool = urllib3.PoolManager(
            num_pools=16,
            maxsize=max(1, pool_size),
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
            headers={"Accept-Encoding": "identity", "User-Agent": "invoicekit"},
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()

    def fetch(
        self, url: str, directory: Path, overrides: frozenset[Origin] = frozenset()
    ) -> Fetched:
        """GET ``url`` into a new temporary file in ``directory`` (fsynced) and validate it.

        Raises
        ------
        FetchError
            ``expired`` (403, or S3's expired-token 400: get a fresh URL), ``transient``
            (connection trouble, 429/5xx, truncated or non-PDF body) or ``fatal``.
        """
        check_document_url(url, overrides)
        shown = redact_url(url)
        try:
            resp = self._pool.request(
                "GET", url, preload_content=False, redirect=False, retries=False
            )
        except urllib3.exceptions.HTTPError as exc:
            raise FetchError(TRANSIENT, f"GET {shown}: {type(exc).__name__}") from None
        try:
            return self._receive(resp, shown, directory)
        finally:
            resp.release_conn()

    def _receive(self, resp: urllib3.BaseHTTPResponse, shown: str, directory: Path) -> Fetched:
        status = resp.status
        if status != 200:
            body = b""
            try:
                body = resp.read(4096, decode_content=False) or b""
                resp.drain_conn()
            except urllib3.exceptions.HTTPError:
                resp.close()
            code = _s3_error_code(body)
            detail = f"GET {shown}: HTTP {status}" + (f" {code}" if code else "")
            if status == 403 or (
                status == 400 and code in {"ExpiredToken", "TokenRefreshRequired"}
            ):
                raise FetchError(EXPIRED, detail)
            if 300 <= status < 400:
                raise FetchError(FATAL, detail + " (redirects are not followed)")
            if status in (408, 429) or status >= 500:
                raise FetchError(TRANSIENT, detail)
            raise FetchError(FATAL, detail)
        length_header = resp.headers.get("Content-Length")
        expected: int | None = None
        if length_header is not None:
            try:
                expected = int(length_header)
            except ValueError:
                resp.close()
                raise FetchError(TRANSIENT, f"GET {shown}: bad Content-Length") from None
            if expected > MAX_DOCUMENT_BYTES:
                resp.close()
                raise FetchError(
                    FATAL, f"GET {shown}: document larger than {MAX_DOCUMENT_BYTES} bytes"
                )
        tmp = new_temp_path(directory)
        h = hashlib.sha256()
        size = 0
        head = b""
        tail = b""
        ok = False
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as fh:
                try:
                    for chunk in resp.stream(CHUNK_BYTES, decode_content=False):
                        if not chunk:
                            continue
                        if len(head) < len(PDF_MAGIC):
                            head = (head + chunk)[:8]
                        size += len(chunk)
                        if size > MAX_DOCUMENT_BYTES:
                            raise FetchError(
                                FATAL,
                                f"GET {shown}: document larger than {MAX_DOCUMENT_BYTES} bytes",
                            )
                        h.update(chunk)
                        tail = (tail + chunk)[-PDF_EOF_WINDOW_BYTES:]
                        fh.write(chunk)
                except urllib3.exceptions.HTTPError as exc:
                    resp.close()
                    raise FetchError(
                        TRANSIENT,
                        f"GET {shown}: connection broken after {size} bytes ({type(exc).__name__})",
                    ) from None
                if expected is not None and size != expected:
                    raise FetchError(
                        TRANSIENT, f"GET {shown}: truncated body ({size} of {expected} bytes)"
                    )
                if not head.startswith(PDF_MAGIC):
                    raise FetchError(
                        TRANSIENT, f"GET {shown}: body is not a PDF (no %PDF- signature)"
                    )
                if PDF_EOF not in tail:
                    raise FetchError(TRANSIENT, f"GET {shown}: truncated PDF (no %%EOF at the end)")
                fh.flush()
                os.fsync(fh.fileno())
            ok = True
            return Fetched(tmp, size, h.hexdigest())
        finally:
            if not ok:
                tmp.unlink(missing_ok=True)


def is_pdf(head: bytes, tail: bytes) -> bool:
    """Whether a body with these first and last bytes looks like a complete PDF.

    Examples
    --------
    >>> is_pdf(b"%PDF-1.4", b"...%%EOF\\n"), is_pdf(b"<Error>", b"")
    (True, False)
    """
    return head.startswith(PDF_MAGIC) and PDF_EOF in tail[-PDF_EOF_WINDOW_BYTES:]
