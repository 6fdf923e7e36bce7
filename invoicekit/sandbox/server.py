"""The sandbox HTTP server: AWS JSON 1.0 (Invoicing), STS query protocol, documents, faults, admin.

One :class:`SandboxServer` answers on one loopback port:

- ``POST /`` with ``X-Amz-Target: Invoicing.<Operation>`` for every operation of the botocore
  ``invoicing`` model (SigV4-verified; an account reads only its own invoices, a payer manages
  only its own invoice units, profiles and procurement-portal preferences),
- ``POST /`` form-encoded ``Action=AssumeRole`` / ``GetCallerIdentity`` (STS),
- ``GET /documents/<document>.pdf?X-Amz-...`` presigned-style document downloads,
- ``GET /_sandbox/health|org|stats|anomalies|config|procurement-codes`` and
  ``POST /_sandbox/reset-stats|deny``.

The server is built for speed so that it is never a benchmark's bottleneck: HTTP/1.1
keep-alive, ``TCP_NODELAY``, each response written with one ``send``, invoice JSON precomputed,
and latency slept in the request's own thread so concurrent requests wait in parallel.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from invoicekit._redact import redact
from invoicekit.sandbox._auth import AuthError, CredentialStore, Principal, verify_sigv4
from invoicekit.sandbox._faults import Decision, FaultEngine, Faults
from invoicekit.sandbox._listing import InvoiceIndex, parse_list_request, parse_pdf_request
from invoicekit.sandbox._model import validate
from invoicekit.sandbox._procurement import ProcurementStore
from invoicekit.sandbox._profiles import batch_get_invoice_profile
from invoicekit.sandbox._sts import StsError, assume_role, get_caller_identity, parse_form
from invoicekit.sandbox._units import BusinessClock, TagStore, UnitStore, check_tags
from invoicekit.sandbox._wire import ServiceError

logger = logging.getLogger("invoicekit.sandbox")

#: Default lifetime of document URLs (the AWS blog shows X-Amz-Expires=900).
URL_LIFETIME_S = 900
#: Largest request body accepted (the real requests are a few hundred bytes).
MAX_BODY_BYTES = 1 << 20
#: An idle keep-alive connection is closed after this many seconds.
IDLE_TIMEOUT_S = 120
#: A request body must arrive within this many seconds of its headers.
BODY_TIMEOUT_S = 10
#: ``retryAfterSeconds`` of injected InternalServerExceptions.
RETRY_AFTER_S = 1
#: Account id of the organization identity (the principal allowed to assume every role).
ORG_ACCOUNT_ID = "100000000000"  # index 0, like its key AKIASANDBOX000000000

#: Every operation of the botocore ``invoicing`` model (botocore 1.44: 21).
OPERATIONS = (
    "ListInvoiceSummaries",
    "GetInvoicePDF",
    "ListInvoiceUnits",
    "GetInvoiceUnit",
    "CreateInvoiceUnit",
    "UpdateInvoiceUnit",
    "DeleteInvoiceUnit",
    "BatchGetInvoiceProfile",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "CreateProcurementPortalPreference",
    "GetProcurementPortalPreference",
    "PutProcurementPortalPreference",
    "DeleteProcurementPortalPreference",
    "ListProcurementPortalPreferences",
    "UpdateProcurementPortalPreferenceStatus",
    "SendProcurementPortalValidation",
    "VerifyProcurementPortalValidation",
    "ListProcurementPortals",
    "ListProcurementPortalSuppliers",
)
_STATS_OPERATIONS = (*OPERATIONS, "AssumeRole", "Document")


class _Dropped(Exception):
    """Close the connection without answering (the drop fault)."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 512
    allow_reuse_address = True

    def __init__(self, address, handler, sandbox: SandboxServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sandbox = sandbox
        super().__init__(address, handler)

    def handle_error(self, request, client_address) -> None:  # quiet, redacted
        logger.debug("sandbox: connection error from %s", client_address, exc_info=True)


class SandboxServer:
    """The sandbox's state and HTTP server (start with :meth:`start`, stop with :meth:`stop`).

    Parameters
    ----------
    org : invoicekit.sandbox.org.Organization
        The synthetic organization to serve.
    host, port : str, int
        Where to listen (``port=0``: a free port).
    seed : int
        Seeds the fault generator and the document-URL signing key.
    latency_ms, jitter_ms : float
        Added to every AWS-facing request (invoicing, STS, documents): ``latency_ms`` plus a
        uniform ``[0, jitter_ms)``, slept in the request's own thread.
    rate_limit : float, mapping, sequence or None
        Per-account token bucket (requests per second, burst ``max(1, rate)``) on the
        invoicing operations; an empty bucket answers ``ThrottlingException`` (429). One rate
        for every account, ``{account_id: rate}`` (others unlimited), or a spread of rates
        assigned by account index, cycling (``[1, 5, 50]``); see
        :func:`~invoicekit.sandbox._faults.rate_limits`.
    faults : Faults or None
        Random faults (see :class:`~invoicekit.sandbox._faults.Faults`).
    url_lifetime_s : int
        Lifetime of document URLs (``faults.url_lifetime_s`` overrides it).
    deny_accounts : iterable of str
        Accounts whose credentials get ``AccessDeniedException`` on the invoicing operations.
    role_session_max_s : float or None
        Caps the lifetime of AssumeRole credentials (to exercise credential refresh).
    access_log : bool
        Log one redacted line per request to the ``invoicekit.sandbox`` logger (INFO).
    """

    def __init__(
        self,
        org,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 7,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        rate_limit: float | dict | list | tuple | str | None = None,
        faults: Faults | None = None,
        url_lifetime_s: int = URL_LIFETIME_S,
        deny_accounts=(),
        role_session_max_s: float | None = None,
        access_log: bool = False,
    ) -> None:
        from invoicekit.sandbox import documents  # noqa: F401 - the PDF renderer, loaded now
        from invoicekit.sandbox._faults import rate_limits  # per-account limits (H4)

        # (fpdf2's font tables take ~0.6 s to import: once at start, not in a first request)
        buckets = rate_limits(rate_limit, [a.account_id for a in org.accounts])
        if not url_lifetime_s >= 1:
            raise ValueError(f"url_lifetime_s must be at least 1 second, got {url_lifetime_s!r}")
        if role_session_max_s is not None and not role_session_max_s > 0:
            raise ValueError(f"role_session_max_s must be > 0, got {role_session_max_s!r}")
        self.org = org
        self.seed = seed
        self.faults = faults or Faults()
        self.engine = FaultEngine(
            seed=seed, latency_ms=latency_ms, jitter_ms=jitter_ms, faults=self.faults
        )
        self.rate_limit = list(rate_limit) if isinstance(rate_limit, tuple) else rate_limit
        self.buckets = buckets
        self.url_lifetime_s = int(self.faults.url_lifetime_s or url_lifetime_s)
        self.role_session_max_s = role_session_max_s
        self.access_log = access_log
        self._secret = hashlib.sha256(f"invoicekit-sandbox-server-{seed}".encode()).digest()
        self.credentials = CredentialStore(org, self._secret, ORG_ACCOUNT_ID)
        self.index = InvoiceIndex(org.invoices, self._secret)
        self.business_clock = BusinessClock(org.today)
        self.tags = TagStore()
        self.units = UnitStore(org, self.index, self.tags, self.business_clock)
        self.procurement = ProcurementStore(
            self._secret, self.index, self.tags, self.business_clock, self.units
        )
        self._denied: set[str] = {str(a) for a in deny_accounts}
        self._stats_lock = threading.Lock()
        self._stats = self._empty_stats()
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conns_lock = threading.Lock()
        self._started = time.time()
        self._httpd = _HTTPServer((host, port), _Handler, self)
        bound_host, bound_port = self._httpd.server_address[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.endpoint_url = f"http://{shown}:{bound_port}"
        self.port = bound_port
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        """Serve on a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"invoicekit-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called from another thread."""
        self._httpd.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        """Stop serving, close every open connection and join the server thread (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown() if self._thread is not None else None
        self._httpd.server_close()
        with self._conns_lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)
        # handler threads end once their connection is shut (or their latency sleep is over)
        deadline = time.monotonic() + 5.0
        for _, thread in conns:
            if thread is not threading.current_thread():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- admin state --------------------------------------------------------------------------
    @staticmethod
    def _empty_stats() -> dict:
        return {
            "requests": {op: {} for op in _STATS_OPERATIONS},
            "throttled": 0,
            "errors": 0,
            "dropped": 0,
            "truncated": 0,
            "bytes_served": 0,
        }

    def stats(self) -> dict:
        """A copy of the request statistics (format of the design contract, plus drop counts)."""
        with self._stats_lock:
            return json.loads(json.dumps(self._stats))

    def reset_stats(self) -> None:
        """Zero every counter."""
        with self._stats_lock:
            self._stats = self._empty_stats()

    def deny(self, account_id: str, denied: bool = True) -> None:
        """Make ``account_id``'s credentials get AccessDeniedException (or lift it)."""
        if denied:
            self._denied.add(str(account_id))
        else:
            self._denied.discard(str(account_id))

    @property
    def denied_accounts(self) -> list[str]:
        return sorted(self._denied)

    def config(self) -> dict:
        """The running configuration (admin ``config`` endpoint)."""
        return {
            "endpoint_url": self.endpoint_url,
            "seed": self.seed,
            "latency_ms": self.engine.latency_ms,
            "jitter_ms": self.engine.jitter_ms,
            "rate_limit": self.rate_limit,
            "faults": self.faults.as_dict(),
            "url_lifetime_s": self.url_lifetime_s,
            "deny_accounts": self.denied_accounts,
            "role_session_max_s": self.role_session_max_s,
        }

    def _count(self, operation: str | None, account: str | None, **counters: int) -> None:
        with self._stats_lock:
            if operation is not None:
                per = self._stats["requests"].setdefault(operation, {})
                key = account or "unknown"
                per[key] = per.get(key, 0) + 1
            for name, n in counters.items():
                if n:
                    self._stats[name] = self._stats.get(name, 0) + n

    # -- documents ----------------------------------------------------------------------------
    def _doc_credential(self, account_id: str, day: str) -> tuple[str, str]:
        digest = hmac.new(self._secret, f"doc-key-{account_id}".encode(), "sha256").hexdigest()
        key = "ASIA" + digest[:16].upper()
        token = hmac.new(self._secret, f"doc-token-{account_id}-{day}".encode(), "sha256")
        return f"{key}/{day}/us-east-1/s3/aws4_request", "FwoGZXIvYXdzE" + token.hexdigest()

    def _doc_signature(
        self, document_id: str, amz_date: str, expires: str, credential: str, token: str
    ) -> str:
        msg = "\n".join(["GET", document_id, amz_date, expires, credential, token])
        return hmac.new(self._secret, msg.encode(), "sha256").hexdigest()

    def document_url(self, base: str, document_id: str, account_id: str, now: float) -> tuple:
        """A presigned-style URL for a document and its expiry (epoch seconds)."""
        signed_at = int(now)
        amz_date = datetime.fromtimestamp(signed_at, UTC).strftime("%Y%m%dT%H%M%SZ")
        expires = str(self.url_lifetime_s)
        credential, token = self._doc_credential(account_id, amz_date[:8])
        signature = self._doc_signature(document_id, amz_date, expires, credential, token)
        query = (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={quote(credential, safe='')}"
            f"&X-Amz-Date={amz_date}"
            f"&X-Amz-Expires={expires}"
            "&X-Amz-SignedHeaders=host"
            f"&X-Amz-Security-Token={quote(token, safe='')}"
            f"&X-Amz-Signature={signature}"
        )
        url = f"{base}/documents/{quote(document_id, safe='')}.pdf?{query}"
        return url, float(signed_at + self.url_lifetime_s)

    def check_document_query(self, document_id: str, query: str, now: float) -> str | None:
        """``None`` when the URL is valid, else the S3 error (code, message) as a tuple."""
        params = parse_qs(query, keep_blank_values=True)
        needed = (
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Security-Token",
            "X-Amz-Signature",
        )
        if any(len(params.get(k, [])) != 1 for k in needed):
            return (
                "AccessDenied",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                "X-Amz-Expires parameters.",
            )
        p = {k: params[k][0] for k in needed}
        expected = self._doc_signature(
            document_id,
            p["X-Amz-Date"],
            p["X-Amz-Expires"],
            p["X-Amz-Credential"],
            p["X-Amz-Security-Token"],
        )
        if p["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256" or not hmac.compare_digest(
            expected, p["X-Amz-Signature"]
        ):
            return (
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        try:
            signed_at = datetime.strptime(p["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            lifetime = int(p["X-Amz-Expires"])
        except ValueError:
            return ("AccessDenied", "X-Amz-Date or X-Amz-Expires is malformed.")
        if now >= signed_at.timestamp() + lifetime:
            return ("AccessDenied", "Request has expired")
        return None


def _s3_error(code: str, message: str, request_id: str, **extra: str) -> bytes:
    parts = [f"<Code>{escape(code)}</Code>", f"<Message>{escape(message)}</Message>"]
    parts += [f"<{k}>{escape(v)}</{k}>" for k, v in extra.items()]
    parts += [f"<RequestId>{request_id}</RequestId>", f"<HostId>{request_id}</HostId>"]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
    ).encode()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "invoicekit-sandbox"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    server: _HTTPServer

    # -- connection ---------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        sb = self.server.sandbox
        with sb._conns_lock:
            sb._conns[self.connection] = threading.current_thread()

    def finish(self) -> None:
        sb = self.server.sandbox
        with sb._conns_lock:
            sb._conns.pop(self.connection, None)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        if self.server.sandbox.access_log:
            logger.info("sandbox: %s", redact(format % args))

    def log_request(self, code="-", size="-") -> None:
        if self.server.sandbox.access_log:
            logger.info("sandbox: %s %s %s", redact(self.requestline), code, size)

    # -- writing ------------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        request_id: str,
        extra: list[tuple[str, str]] | None = None,
        *,
        send_bytes: int | None = None,
    ) -> None:
        """Status line, headers and body in one ``send`` (no Nagle / delayed-ACK stall)."""
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"HTTP/1.1 {status} {phrase}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            f"x-amzn-RequestId: {request_id}",
            f"Date: {formatdate(usegmt=True)}",
        ]
        for k, v in extra or ():
            lines.append(f"{k}: {v}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        payload = body if send_bytes is None else body[:send_bytes]
        self.wfile.write(head + payload)
        self.log_request(status, len(payload))

    def _send_json(self, status: int, body: bytes, request_id: str, extra=None) -> None:
        self._send(status, body, "application/x-amz-json-1.0", request_id, extra)

    def _send_service_error(self, err: ServiceError, request_id: str) -> None:
        self._send_json(err.status, err.body(), request_id, [("x-amzn-ErrorType", err.code)])

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.log_request("drop", 0)

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                return None
            return b""
        try:
            n = int(length)
        except ValueError:
            self.close_connection = True
            return None
        if n < 0 or n > MAX_BODY_BYTES:
            self.close_connection = True
            return None
        if not n:
            return b""
        # a client announcing more bytes than it sends must not hold a thread for long
        self.connection.settimeout(BODY_TIMEOUT_S)
        try:
            data = self.rfile.read(n)
        except OSError:  # includes TimeoutError
            data = b""
        finally:
            try:
                self.connection.settimeout(self.timeout)
            except OSError:
                pass
        if len(data) != n:
            self.close_connection = True
            return None
        return data

    # -- dispatch -----------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        request_id = str(uuid.uuid4())
        sb = self.server.sandbox
        body = self._read_body()
        parts = urlsplit(self.path)
        if body is None:
            sb._count(None, None, errors=1)
            err = ServiceError(
                "SerializationException",
                "The request body must be complete and have a Content-Length of at most "
                f"{MAX_BODY_BYTES} bytes",
            )
            return self._send_service_error(err, request_id)
        if parts.path.startswith("/_sandbox/"):
            return self._admin("POST", parts.path, body, request_id)
        target = self.headers.get("X-Amz-Target")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if target is None and ctype == "application/x-www-form-urlencoded":
            return self._sts(parts, body, request_id)
        return self._invoicing(parts, target, body, request_id)

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        request_id = str(uuid.uuid4())
        parts = urlsplit(self.path)
        if parts.path.startswith("/_sandbox/"):
            return self._admin("GET", parts.path, b"", request_id)
        if parts.path.startswith("/documents/"):
            return self._document(parts, request_id)
        body = _s3_error("NoSuchKey", "The specified key does not exist.", request_id)
        self.server.sandbox._count(None, None, errors=1)
        self._send(404, body, "application/xml", request_id)

    def _sleep(self, decision: Decision) -> None:
        if decision.delay_s > 0:
            time.sleep(decision.delay_s)

    # -- AWS JSON 1.0 (Invoicing) -------------------------------------------------------------
    def _invoicing(self, parts, target: str | None, body: bytes, request_id: str) -> None:
        sb = self.server.sandbox
        operation = None
        try:
            try:
                principal = verify_sigv4(
                    sb.credentials,
                    method="POST",
                    path=parts.path or "/",
                    query=parts.query,
                    headers=self.headers,
                    body=body,
                    service="invoicing",
                )
            except AuthError as exc:
                raise ServiceError(exc.code, exc.message, exc.status) from None
            prefix, _, name = (target or "").partition(".")
            if prefix != "Invoicing" or name not in OPERATIONS:
                raise ServiceError(
                    "UnknownOperationException",
                    f"Unknown operation {target!r}: the sandbox answers the "
                    f"{len(OPERATIONS)} operations of the botocore invoicing model",
                )
            operation = name
            account = principal.account_id or "org"
            sb._count(operation, account)
            decision = sb.engine.decide(operation)
            self._sleep(decision)
            if decision.drop:
                sb._count(None, None, dropped=1)
                return self._drop()
            if sb.buckets is not None and not sb.buckets.allow(account):
                raise ServiceError("ThrottlingException", "Rate exceeded")
            if decision.throttle:
                raise ServiceError("ThrottlingException", "Rate exceeded")
            if decision.error:
                raise ServiceError(
                    "InternalServerException",
                    "An internal error occurred (injected by the sandbox). Retry the request.",
                    extra={"retryAfterSeconds": RETRY_AFTER_S},
                )
            try:
                doc = json.loads(body) if body else {}
            except (ValueError, UnicodeDecodeError):
                raise ServiceError(
                    "SerializationException", "Start of structure or map found where not expected."
                ) from None
            if not isinstance(doc, dict):
                raise ServiceError(
                    "SerializationException", "The request body must be a JSON object."
                )
            if principal.account_id in sb._denied:
                raise ServiceError(
                    "AccessDeniedException",
                    f"User: {principal.arn} is not authorized to perform: invoicing:{operation} "
                    "(access denied by the sandbox's deny list)",
                )
            if operation == "ListInvoiceSummaries":
                out = self._list(doc, principal)
            elif operation == "GetInvoicePDF":
                out = self._get_pdf(doc, principal)
            else:
                out = self._operation(operation, validate(operation, doc), principal)
        except ServiceError as err:
            if err.code == "ThrottlingException":
                sb._count(None, None, throttled=1, bytes_served=len(err.body()))
            else:
                sb._count(None, None, errors=1, bytes_served=len(err.body()))
            return self._send_service_error(err, request_id)
        except Exception:  # never a hang: a bug answers 500 and is logged (redacted)
            logger.exception("sandbox: internal error in %s", operation)
            err = ServiceError(
                "InternalServerException",
                "The sandbox failed to process the request.",
                extra={"retryAfterSeconds": RETRY_AFTER_S},
            )
            sb._count(None, None, errors=1)
            return self._send_service_error(err, request_id)
        sb._count(None, None, bytes_served=len(out))
        self._send_json(200, out, request_id)

    def _list(self, doc: dict, principal: Principal) -> bytes:
        sb = self.server.sandbox
        q = parse_list_request(doc)
        if q.resource_type == "ACCOUNT_ID":
            if q.value != principal.account_id:
                raise ServiceError(
                    "AccessDeniedException",
                    f"User: {principal.arn} is not authorized to list the invoices of account "
                    f"{q.value}: use that account's credentials (profile or role)",
                )
        else:
            found = sb.index.by_id.get(q.value)
            if not found:
                raise ServiceError("ResourceNotFoundException", f"Invoice {q.value} was not found")
            if not any(e.account_id == principal.account_id for e in found):
                raise ServiceError(
                    "AccessDeniedException",
                    f"User: {principal.arn} is not authorized to read invoice {q.value}",
                )
        entries = [e for e in sb.index.select(q) if e.account_id == principal.account_id]
        return sb.index.page(entries, q, q.key(principal.account_id))

    def _operation(self, operation: str, doc: dict, principal: Principal) -> bytes:
        """Invoice units, profiles, tags and procurement-portal preferences."""
        sb = self.server.sandbox
        units, prefs = sb.units, sb.procurement
        handlers = {
            "ListInvoiceUnits": units.list,
            "GetInvoiceUnit": units.get,
            "CreateInvoiceUnit": units.create,
            "UpdateInvoiceUnit": units.update,
            "DeleteInvoiceUnit": units.delete,
            "CreateProcurementPortalPreference": prefs.create,
            "GetProcurementPortalPreference": prefs.get,
            "PutProcurementPortalPreference": prefs.put,
            "DeleteProcurementPortalPreference": prefs.delete,
            "ListProcurementPortalPreferences": prefs.list,
            "UpdateProcurementPortalPreferenceStatus": prefs.update_status,
            "SendProcurementPortalValidation": prefs.send_validation,
            "VerifyProcurementPortalValidation": prefs.verify_validation,
            "ListProcurementPortals": prefs.portals,
            "ListProcurementPortalSuppliers": prefs.suppliers,
        }
        if operation == "BatchGetInvoiceProfile":
            out = batch_get_invoice_profile(sb.org, principal, doc)
        elif operation in ("TagResource", "UntagResource", "ListTagsForResource"):
            out = self._tags(operation, doc, principal)
        else:
            out = handlers[operation](principal, doc)
        return json.dumps(out, separators=(",", ":")).encode()

    def _tags(self, operation: str, doc: dict, principal: Principal) -> dict:
        sb = self.server.sandbox
        arn = doc["ResourceArn"]
        owner = arn.split(":")[4] if arn.count(":") >= 5 else None
        if principal.account_id is None or owner != principal.account_id:
            raise ServiceError(
                "AccessDeniedException",
                f"User: {principal.arn} is not authorized to perform invoicing:{operation} on "
                f"{arn}",
            )
        live = sb.units.live(owner, arn) if ":invoice-unit/" in arn else sb.procurement.has(arn)
        if not live or not sb.tags.known(arn):
            raise ServiceError("ResourceNotFoundException", f"Resource {arn} was not found")
        if operation == "ListTagsForResource":
            return {"ResourceTags": sb.tags.list(arn)}
        if operation == "TagResource":
            check_tags(doc["ResourceTags"], "ResourceTags")
            sb.tags.tag(arn, doc["ResourceTags"])
        else:
            sb.tags.untag(arn, doc["ResourceTagKeys"])
        return {}

    def _base_url(self) -> str:
        sb = self.server.sandbox
        host = self.headers.get("Host", "")
        if host and all(c.isalnum() or c in ".-:[]" for c in host):
            return f"http://{host}"
        return sb.endpoint_url

    def _get_pdf(self, doc: dict, principal: Principal) -> bytes:
        sb = self.server.sandbox
        invoice_id = parse_pdf_request(doc)
        found = sb.index.by_id.get(invoice_id)
        if not found:
            raise ServiceError("ResourceNotFoundException", f"Invoice {invoice_id} was not found")
        if not any(e.account_id == principal.account_id for e in found):
            raise ServiceError(
                "AccessDeniedException",
                f"User: {principal.arn} is not authorized to read invoice {invoice_id}",
            )
        docs = sb.org.documents_for(invoice_id)
        if not docs:
            raise ServiceError("ResourceNotFoundException", f"Invoice {invoice_id} has no document")
        base = self._base_url()
        now = time.time()
        main_url, expires = sb.document_url(base, docs[0].document_id, principal.account_id, now)
        supplemental = []
        for d in docs[1:]:
            url, exp = sb.document_url(base, d.document_id, principal.account_id, now)
            supplemental.append(
                {
                    "DocumentType": d.document_type,
                    "DocumentId": d.document_id,
                    "DocumentUrl": url,
                    "DocumentUrlExpirationDate": exp,
                }
            )
        out = {
            "InvoicePDF": {
                "InvoiceId": invoice_id,
                "DocumentUrl": main_url,
                "DocumentUrlExpirationDate": expires,
                "SupplementalDocuments": supplemental,
            }
        }
        return json.dumps(out, separators=(",", ":")).encode()

    # -- STS (query protocol) -----------------------------------------------------------------
    def _sts(self, parts, body: bytes, request_id: str) -> None:
        sb = self.server.sandbox
        xml = "text/xml"
        try:
            params = parse_form(body)
            action = params.get("Action")
            try:
                principal = verify_sigv4(
                    sb.credentials,
                    method="POST",
                    path=parts.path or "/",
                    query=parts.query,
                    headers=self.headers,
                    body=body,
                    service="sts",
                )
            except AuthError as exc:
                code = {
                    "UnrecognizedClientException": "InvalidClientTokenId",
                    "ExpiredTokenException": "ExpiredToken",
                    "InvalidSignatureException": "SignatureDoesNotMatch",
                    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
                    "IncompleteSignatureException": "IncompleteSignature",
                }.get(exc.code, exc.code)
                status = 403 if code in ("InvalidClientTokenId", "SignatureDoesNotMatch") else 400
                raise StsError(code, exc.message, status) from None
            self._sleep(Decision(delay_s=sb.engine.sts_delay()))
            if action == "GetCallerIdentity":
                sb._count("GetCallerIdentity", principal.account_id or "org")
                out = get_caller_identity(principal, sb.credentials, request_id)
            elif action == "AssumeRole":
                account, out = self._assume(params, principal, request_id)
            else:
                raise StsError(
                    "InvalidAction", f"Could not find operation {action!r} for version 2011-06-15"
                )
        except StsError as err:
            payload = err.body(request_id)
            sb._count(None, None, errors=1, bytes_served=len(payload))
            return self._send(err.status, payload, xml, request_id)
        sb._count(None, None, bytes_served=len(out))
        self._send(200, out, xml, request_id)

    def _assume(self, params: dict, principal: Principal, request_id: str) -> tuple[str, bytes]:
        sb = self.server.sandbox
        arn = params.get("RoleArn") or ""
        target = arn.split(":")[4] if arn.count(":") >= 5 else "unknown"
        sb._count("AssumeRole", target)
        return assume_role(
            params,
            principal,
            sb.org,
            sb.credentials,
            request_id,
            max_session_s=sb.role_session_max_s,
        )

    # -- documents ----------------------------------------------------------------------------
    def _document(self, parts, request_id: str) -> None:
        sb = self.server.sandbox
        xml = "application/xml"
        s3_headers = [("x-amz-request-id", request_id)]
        name = unquote(parts.path[len("/documents/") :])
        document_id = name[:-4] if name.endswith(".pdf") else name
        decision = sb.engine.decide("Document")
        self._sleep(decision)
        if decision.drop:
            sb._count("Document", self._doc_account(document_id), dropped=1)
            return self._drop()
        problem = sb.check_document_query(document_id, parts.query, time.time())
        if problem is not None:
            code, message = problem
            extra = {}
            if message == "Request has expired":
                q = parse_qs(parts.query)
                extra = {
                    "X-Amz-Expires": q.get("X-Amz-Expires", [""])[0],
                    "ServerTime": _iso(time.time()),
                }
            body = _s3_error(code, message, request_id, **extra)
            sb._count("Document", self._doc_account(document_id), errors=1, bytes_served=len(body))
            return self._send(403, body, xml, request_id, s3_headers)
        try:
            doc = sb.org.document(document_id)
        except KeyError:
            body = _s3_error("NoSuchKey", "The specified key does not exist.", request_id)
            sb._count("Document", None, errors=1, bytes_served=len(body))
            return self._send(404, body, xml, request_id, s3_headers)
        if decision.throttle:
            body = _s3_error("SlowDown", "Please reduce your request rate.", request_id)
            sb._count("Document", doc.account_id, throttled=1, bytes_served=len(body))
            return self._send(503, body, xml, request_id, s3_headers)
        if decision.error:
            body = _s3_error("InternalError", "We encountered an internal error.", request_id)
            sb._count("Document", doc.account_id, errors=1, bytes_served=len(body))
            return self._send(500, body, xml, request_id, s3_headers)
        try:
            pdf = sb.org.render_pdf(document_id)
        except Exception:
            logger.exception("sandbox: rendering %s failed", document_id)
            body = _s3_error("InternalError", "We encountered an internal error.", request_id)
            sb._count("Document", doc.account_id, errors=1, bytes_served=len(body))
            return self._send(500, body, xml, request_id, s3_headers)
        etag = hashlib.md5(pdf, usedforsecurity=False).hexdigest()
        headers = s3_headers + [
            ("ETag", f'"{etag}"'),
            ("Content-Disposition", f'inline; filename="{quote(document_id, safe="")}.pdf"'),
        ]
        if decision.truncate:
            cut = max(1, len(pdf) // 2)
            self.close_connection = True
            sb._count("Document", doc.account_id, truncated=1, bytes_served=cut)
            self._send(200, pdf, "application/pdf", request_id, headers, send_bytes=cut)
            return self._drop()
        sb._count("Document", doc.account_id, bytes_served=len(pdf))
        self._send(200, pdf, "application/pdf", request_id, headers)

    def _doc_account(self, document_id: str) -> str | None:
        try:
            return self.server.sandbox.org.document(document_id).account_id
        except KeyError:
            return None

    # -- admin ----------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, body: bytes, request_id: str) -> None:
        sb = self.server.sandbox
        name = path[len("/_sandbox/") :].strip("/")
        status, out = 200, None
        if method == "GET" and name == "health":
            out = {
                "status": "ok",
                "endpoint_url": sb.endpoint_url,
                "accounts": len(sb.org.accounts),
                "invoices": len(sb.org.invoices),
                "seed": sb.org.seed,
                "today": sb.org.today.isoformat(),
                "uptime_s": round(time.time() - sb._started, 3),
            }
        elif method == "GET" and name == "org":
            out = dict(sb.org.admin_view())
            out.setdefault("endpoint_url", sb.endpoint_url)
        elif method == "GET" and name == "stats":
            out = sb.stats()
        elif method == "GET" and name == "anomalies":
            out = list(sb.org.anomalies)
        elif method == "GET" and name == "config":
            out = sb.config()
        elif method == "GET" and name == "procurement-codes":
            out = sb.procurement.codes()
        elif method == "POST" and name == "reset-stats":
            sb.reset_stats()
            out = {"reset": True}
        elif method == "POST" and name == "deny":
            try:
                req = json.loads(body or b"{}")
                account = str(req["account_id"])
                denied = bool(req.get("denied", True))
            except (ValueError, KeyError, TypeError):
                status, out = 400, {"error": 'body must be {"account_id": "...", "denied": true}'}
            else:
                sb.deny(account, denied)
                out = {"deny_accounts": sb.denied_accounts}
        else:
            status = 404
            out = {
                "error": f"no admin endpoint {method} {path}",
                "endpoints": [
                    "GET /_sandbox/health",
                    "GET /_sandbox/org",
                    "GET /_sandbox/stats",
                    "GET /_sandbox/anomalies",
                    "GET /_sandbox/config",
                    "GET /_sandbox/procurement-codes",
                    "POST /_sandbox/reset-stats",
                    "POST /_sandbox/deny",
                ],
            }
        payload = json.dumps(out, indent=1, default=str).encode()
        self._send(status, payload, "application/json", request_id)
