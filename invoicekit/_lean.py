"""The lean clients: the Invoicing API's JSON 1.0 read operations, and the S3 archive's
``PutObject``, without botocore's call stack.

A botocore call spends ~3 ms of CPU in this package's use (measured with py-spy, see
docs/loader.md): event hooks, parameter validation, endpoint rules, request preparation,
signing, response parsing against the model. For the two read operations the loader and the
downloader send, :class:`LeanClient` does the same work directly (and :class:`LeanS3Put` for
the documents the downloader puts into S3; see its docstring and docs/archive.md):

* **credentials**: the account's session credentials (``session.get_credentials()``: the
  standard chain, assumed roles and SSO refresh themselves); every request takes
  ``get_frozen_credentials()``, as botocore does, so a refresh happens in the same place;
* **signing**: SigV4 exactly as :class:`botocore.auth.SigV4Auth` computes it (signing name and
  region from the service model and the session; the test suite checks both give the same
  ``Authorization`` header), with the day's signing key cached;
* **endpoint**: the fleet file's ``endpoint_url``, else ``AWS_ENDPOINT_URL_INVOICING`` /
  ``AWS_ENDPOINT_URL`` / the profile's (:func:`invoicekit._botocore.configured_endpoint`), else
  the endpoint botocore resolves for the region (one botocore client per region, once);
* **HTTP**: keep-alive :mod:`http.client` connections, one per thread and endpoint, shared by
  every account (a connection carries no credentials: each request is signed on its own;
  about half the CPU per request of a urllib3 pool, measured); the session's CA bundle
  (``AWS_CA_BUNDLE``, the profile's ``ca_bundle``), else botocore's; redirects never followed;
* **parsing**: ``orjson`` when installed (else :mod:`json`); modeled members only, timestamps
  as timezone-aware datetimes, as boto3 returns them;
* **errors**: a non-200 answer becomes the :class:`botocore.exceptions.ClientError` botocore
  would raise (``Error.Code``/``Message``, modeled members, ``ResponseMetadata`` with
  ``RetryAttempts``), connection trouble the botocore exception it would raise; both then go
  through the one translation in :mod:`invoicekit.errors` (via the loader's classification);
* **retries**: botocore's "standard" policy (throttling, transient codes, 5xx, connection
  errors; truncated exponential back-off with jitter, 1 s base for throttling, 50 ms else) and
  the account's :class:`~invoicekit.access.Pacer` before every send and after every answer.

Nothing here logs a header, a body or a credential.

Examples
--------
>>> from invoicekit.fleet import Fleet
>>> from invoicekit.access import AccountAccess
>>> fleet = Fleet.from_accounts(["111111111111"], endpoint_url="http://127.0.0.1:9")
>>> c = client_for(AccountAccess(fleet, "111111111111"))  # doctest: +SKIP
>>> c.endpoint_url  # doctest: +SKIP
'http://127.0.0.1:9'
"""

from __future__ import annotations

import functools
import hmac
import json
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from hashlib import sha256
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from invoicekit import _botocore
from invoicekit.errors import RETRYABLE_CODES, THROTTLING_CODES

if TYPE_CHECKING:  # pragma: no cover
    from invoicekit.access import AccountAccess, Pacer

try:  # orjson parses the answers ~3x faster; json is the fallback
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads

    def _dumps(doc: Any) -> bytes:
        return orjson.dumps(doc)

except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

    def _dumps(doc: Any) -> bytes:
        return json.dumps(doc, separators=(",", ":")).encode()


__all__ = ["LeanClient", "client_for", "OPERATIONS"]

SERVICE = "invoicing"
#: The operations the lean path sends (everything else stays on boto3).
OPERATIONS = ("ListInvoiceSummaries", "GetInvoicePDF")
#: botocore's standard-mode back-off: base seconds for throttling / other errors, cap.
_THROTTLE_BASE_S = 1.0
_OTHER_BASE_S = 0.05
_MAX_BACKOFF_S = 20.0
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_CONTENT_TYPE = "application/x-amz-json-1.0"


def _wire_error(exc: BaseException, url: str) -> BaseException:
    """The botocore exception for a request that got no answer (both lean clients)."""
    from botocore import exceptions as bx

    if isinstance(exc, _ConnectFailed):
        return bx.EndpointConnectionError(endpoint_url=url, error=str(exc))
    if isinstance(exc, _ReadTimedOut):
        return bx.ReadTimeoutError(endpoint_url=url, error=str(exc))
    return bx.ConnectionClosedError(endpoint_url=url, error=_name(exc))


def _response_metadata(rh: Any, status: int, attempt: int) -> dict[str, Any]:
    """botocore's ``ResponseMetadata`` of an answer (JSON 1.0 or S3 request id)."""
    request_id = (
        rh.get("x-amzn-RequestId") or rh.get("x-amzn-requestid") or rh.get("x-amz-request-id") or ""
    )
    return {
        "RequestId": request_id,
        "HTTPStatusCode": status,
        "HTTPHeaders": {k.lower(): v for k, v in rh.items()},
        "RetryAttempts": attempt,
    }


def _retry_or_raise(error: BaseException, attempt: int, max_attempts: int,
                    throttled: bool) -> None:  # fmt: skip
    """After a failed attempt: raise ``error`` when the attempts are spent (marked as
    botocore marks it), else sleep botocore's standard-mode jittered back-off."""
    from botocore import exceptions as bx

    if attempt >= max_attempts:
        if isinstance(error, bx.ClientError):
            error.response.setdefault("ResponseMetadata", {})["MaxAttemptsReached"] = True
        raise error
    base = _THROTTLE_BASE_S if throttled else _OTHER_BASE_S
    time.sleep(random.random() * min(base * 2**attempt, _MAX_BACKOFF_S))  # noqa: S311


_lock = threading.Lock()
_wires: dict[tuple, Any] = {}
_default_endpoints: dict[str, str] = {}


class _Model:
    """What the lean path needs from the service model (loaded once per process)."""

    def __init__(self, service_model: Any) -> None:
        self.signing_name = service_model.signing_name or SERVICE
        self.target_prefix = service_model.metadata.get("targetPrefix", "Invoicing")
        self.members: dict[str, frozenset[str]] = {}
        self.timestamps: dict[str, tuple[str, ...]] = {}
        self.lists: dict[str, str] = {}
        self.errors: dict[str, frozenset[str]] = {}
        for op in OPERATIONS:
            om = service_model.operation_model(op)
            out = om.output_shape
            self.members[op] = frozenset(out.members)
            # the list of records and its members, for ListInvoiceSummaries
            for name, shape in out.members.items():
                if shape.type_name == "list" and shape.member.type_name == "structure":
                    self.lists[op] = name
                    rec = shape.member
                    self.members[op + ".item"] = frozenset(rec.members)
                    self.timestamps[op + ".item"] = tuple(
                        k for k, v in rec.members.items() if v.type_name == "timestamp"
                    )
            self.timestamps[op] = tuple(
                k for k, v in out.members.items() if v.type_name == "timestamp"
            )
            for err in om.error_shapes:
                self.errors[err.name] = frozenset(err.members)


_model: _Model | None = None


def _model_for(session: Any) -> _Model:
    global _model
    if _model is None:
        bs = _botocore.botocore_session(session)
        with _lock:
            if _model is None:
                _model = _Model(bs.get_service_model(SERVICE))
    return _model


class _ConnectFailed(Exception):
    """No connection could be made (refused, unknown host, connect timeout)."""


class _ReadTimedOut(Exception):
    """The answer did not come within the read timeout."""


class _Wire:
    """Keep-alive HTTP(S) connections to one endpoint, one per thread (shared by accounts).

    A connection carries no credentials (each request is signed on its own). A kept connection
    is checked before reuse (an idle socket that is readable was closed by the server) and
    replaced; a failure once the request is sent goes to the caller (the retry policy counts
    it as an attempt).
    """

    def __init__(self, scheme: str, host: str, port: int | None, ca_bundle: str | None) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self.ca_bundle = ca_bundle
        self._local = threading.local()
        self._context: Any = None

    def _connect(self) -> Any:
        import http.client

        from invoicekit import _client

        if self.scheme == "https":
            if self._context is None:
                import ssl

                from botocore.httpsession import get_cert_path

                self._context = ssl.create_default_context(
                    cafile=self.ca_bundle or get_cert_path(True)
                )
            conn: Any = http.client.HTTPSConnection(
                self.host, self.port, timeout=_client.CONNECT_TIMEOUT_S, context=self._context
            )
        else:
            conn = http.client.HTTPConnection(
                self.host, self.port, timeout=_client.CONNECT_TIMEOUT_S
            )
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise _ConnectFailed(_name(exc)) from None
        conn.sock.settimeout(_client.READ_TIMEOUT_S)
        return conn

    def post(self, path: str, body: bytes, headers: dict) -> tuple[int, bytes, Any]:
        """``(status, body, headers)`` of one POST (see :meth:`send`)."""
        return self.send("POST", path, body, headers)

    def send(self, method: str, path: str, body: Any, headers: dict) -> tuple[int, bytes, Any]:
        """``(status, body, headers)`` of one request; raises :class:`_ConnectFailed`,
        :class:`_ReadTimedOut` or ``OSError`` / ``http.client.HTTPException`` (dropped).

        ``body``: bytes, or a binary file object streamed in blocks (give Content-Length)."""
        import http.client

        conn = getattr(self._local, "conn", None)
        if conn is not None and _closed_by_peer(conn.sock):
            conn.close()  # the server closed the idle connection: never send on it
            conn = None
        if conn is None:
            conn = self._local.conn = self._connect()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except TimeoutError as exc:
            conn.close()
            self._local.conn = None
            raise _ReadTimedOut(_name(exc)) from None
        except (OSError, http.client.HTTPException):
            conn.close()
            self._local.conn = None
            raise
        if resp.will_close:
            conn.close()
            self._local.conn = None
        return resp.status, data, resp.headers


def _closed_by_peer(sock: Any) -> bool:
    """An idle keep-alive socket that is readable has been closed (or is broken)."""
    import select

    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _wire_for(scheme: str, host: str, port: int | None, ca_bundle: str | None) -> _Wire:
    key = (scheme, host, port, ca_bundle)
    wire = _wires.get(key)
    if wire is None:
        with _lock:
            wire = _wires.setdefault(key, _Wire(scheme, host, port, ca_bundle))
    return wire


def _default_endpoint(session: Any, region: str) -> str:
    """The endpoint botocore resolves for the service in ``region`` (made once per region)."""
    url = _default_endpoints.get(region)
    if url is None:
        from invoicekit import _client

        made = _client.new_client(
            session,
            SERVICE,
            aws_access_key_id="AKIAEXAMPLEEXAMPLE00",  # resolves the endpoint, never sends
            aws_secret_access_key="unused",
        )
        url = made.meta.endpoint_url
        _default_endpoints[region] = url
    return url


def _region_of(session: Any) -> str:
    from invoicekit import _client

    region = getattr(session, "region_name", None)
    if region is None and hasattr(session, "get_config_variable"):
        region = session.get_config_variable("region")
    return region or _client.DEFAULT_REGION


def _ca_bundle(session: Any) -> str | None:
    """The CA bundle the session's configuration names (``AWS_CA_BUNDLE``, ``ca_bundle``)."""
    try:
        return _botocore.botocore_session(session).get_config_variable("ca_bundle") or None
    except (TypeError, AttributeError):  # not a boto3/botocore session (a test double)
        return None


def _proxied(url: str) -> bool:
    import urllib.request

    proxies = urllib.request.getproxies()
    scheme = urlsplit(url).scheme
    if scheme not in proxies:
        return False
    return not urllib.request.proxy_bypass(urlsplit(url).hostname or "")


@functools.cache
def _user_agent() -> str:
    import botocore

    from invoicekit import _client

    return f"Boto3-lean botocore/{botocore.__version__} {_client.user_agent()}"


def _to_wire(value: Any) -> Any:
    """Request parameters as JSON 1.0 wants them (timestamps as epoch seconds)."""
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_wire(v) for v in value]
    if isinstance(value, datetime):
        ts = (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        return int(ts) if ts == int(ts) else ts
    return value


def _timestamp(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    from botocore.utils import parse_timestamp

    return parse_timestamp(value)


class LeanClient:
    """One account's lean Invoicing client (thread-safe; see the module docstring).

    Parameters
    ----------
    session : boto3.Session
        The account's session (credentials, region, configured endpoints).
    account_id : str
        For messages only.
    endpoint_url : str, optional
        An explicit endpoint (the fleet file's); else the configured or the AWS endpoint.
    pacer : Pacer, optional
        Waited on before every send, fed every answer.
    max_attempts : int, optional
        Retries after the first try (default :data:`invoicekit._client.MAX_ATTEMPTS`).
    on_body : callable, optional
        Called with every successful answer's raw body (the store keeps it as evidence).
    on_send : callable, optional
        Called (no arguments) before every request goes on the wire, retries included (the
        downloader counts its requests so).
    """

    def __init__(
        self,
        session: Any,
        *,
        account_id: str | None = None,
        endpoint_url: str | None = None,
        pacer: Pacer | None = None,
        max_attempts: int | None = None,
        on_body: Callable[[bytes], None] | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> None:
        from invoicekit import _client

        self.session = session
        self.on_send = on_send
        self.account_id = account_id
        self.region = _region_of(session)
        url = endpoint_url or _botocore.configured_endpoint(session, SERVICE)
        if not url:
            url = _default_endpoint(session, self.region)
        if "://" not in url:
            url = "https://" + url
        self.endpoint_url = url.rstrip("/")
        parts = urlsplit(self.endpoint_url)
        self._path = (parts.path or "") + "/"
        self._host = _host_of(parts)
        self._wire = _wire_for(parts.scheme, parts.hostname or "", parts.port, _ca_bundle(session))
        self._url = self.endpoint_url + "/"
        self._model = _model_for(session)
        self._credentials = session.get_credentials()
        self.pacer = pacer
        self.max_attempts = _client.MAX_ATTEMPTS if max_attempts is None else int(max_attempts)
        self.on_body = on_body

    def __repr__(self) -> str:
        return f"LeanClient({self.account_id}, {self.endpoint_url})"

    # -- the operations ------------------------------------------------------------------------

    def list_invoice_summaries(self, **params: Any) -> dict:
        """``ListInvoiceSummaries``: the answer as boto3 returns it (modeled members only)."""
        return self._call("ListInvoiceSummaries", params)

    def get_invoice_pdf(self, **params: Any) -> dict:
        """``GetInvoicePDF``: the answer as boto3 returns it."""
        return self._call("GetInvoicePDF", params)

    # -- the wire ------------------------------------------------------------------------------

    def _signed_headers(self, operation: str, body: bytes) -> dict:
        from botocore.exceptions import NoCredentialsError

        creds = self._credentials
        if creds is None:
            raise NoCredentialsError()
        frozen = creds.get_frozen_credentials()  # refreshes (locked) when due, as botocore
        headers = {
            "Content-Type": _CONTENT_TYPE,
            "X-Amz-Target": f"{self._model.target_prefix}.{operation}",
            "User-Agent": _user_agent(),
        }
        return sign_v4(
            frozen,
            region=self.region,
            service=self._model.signing_name,
            host=self._host,
            path=self._path,
            body=body,
            headers=headers,
            now=_utcnow(),
        )

    def _call(self, operation: str, params: dict) -> dict:
        import http.client

        from botocore import exceptions as bx

        body = _dumps(_to_wire(params))
        attempt = 0
        while True:
            if self.pacer is not None:
                self.pacer.wait()
            headers = self._signed_headers(operation, body)
            if self.on_send is not None:
                self.on_send()
            throttled = False
            try:
                status, data, rh = self._wire.post(self._path, body, headers)
            except (_ConnectFailed, _ReadTimedOut, OSError, http.client.HTTPException) as exc:
                error: BaseException = _wire_error(exc, self._url)
            else:
                if status == 200:
                    if self.pacer is not None:
                        self.pacer.succeeded()
                    return self._parsed(operation, data, rh, status, attempt)
                response = self._error_response(operation, data, rh, status, attempt)
                code = response["Error"]["Code"]
                throttled = code in THROTTLING_CODES
                if self.pacer is not None and throttled:
                    self.pacer.throttled()
                error = bx.ClientError(response, operation)
                if not (code in RETRYABLE_CODES or status in _RETRY_STATUSES):
                    raise error
            _retry_or_raise(error, attempt, self.max_attempts, throttled)
            attempt += 1

    def _parsed(self, operation: str, data: bytes, rh: Any, status: int, attempt: int) -> dict:
        if self.on_body is not None:
            self.on_body(data)
        doc = _loads(data) if data else {}
        model = self._model
        members = model.members[operation]
        out = {k: v for k, v in doc.items() if k in members}
        for key in model.timestamps[operation]:
            if key in out:
                out[key] = _timestamp(out[key])
        list_key = model.lists.get(operation)
        if list_key and list_key in out:
            item_members = model.members[operation + ".item"]
            stamps = model.timestamps[operation + ".item"]
            records = []
            for rec in out[list_key]:
                if not item_members.issuperset(rec):
                    rec = {k: v for k, v in rec.items() if k in item_members}
                for key in stamps:
                    value = rec.get(key)
                    if value is not None:
                        rec[key] = _timestamp(value)
                records.append(rec)
            out[list_key] = records
        out["ResponseMetadata"] = _response_metadata(rh, status, attempt)
        return out

    def _error_response(
        self, operation: str, data: bytes, rh: Any, status: int, attempt: int
    ) -> dict:
        """The error answer in botocore's ``ClientError.response`` shape."""
        try:
            doc = _loads(data) if data else {}
        except ValueError:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        code = doc.get("__type") or rh.get("x-amzn-ErrorType") or ""
        code = code.split("#")[-1].split(":")[0] if code else str(status)
        message = doc.get("message", doc.get("Message", ""))
        response: dict[str, Any] = {
            "Error": {"Message": message, "Code": code},
            "ResponseMetadata": _response_metadata(rh, status, attempt),
        }
        for member in self._model.errors.get(code, ()):
            if member in doc and member not in ("message", "Message"):
                response[member] = doc[member]
        return response


# --------------------------------------------------------------------------------------------
# SigV4 (the algorithm of botocore.auth.SigV4Auth, for one POST; tests/test_lean_client.py
# checks that both give the same Authorization header, and the sandbox verifies it)
# --------------------------------------------------------------------------------------------

_SIGV4 = "AWS4-HMAC-SHA256"
_UNSIGNED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)  # fmt: skip  (botocore.auth.SIGNED_HEADERS_BLACKLIST; checked by tests/test_lean_client.py)


def _utcnow() -> datetime:
    from invoicekit import clock

    return clock.real_now()  # protocol time (the signature's), not business time


def _host_of(parts: Any) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


@functools.lru_cache(maxsize=1024)
def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), day.encode(), sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), sha256).digest()
    return key


def sign_v4(
    credentials: Any,
    *,
    region: str,
    service: str,
    host: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    now: datetime,
    method: str = "POST",
    payload_hash: str | None = None,
) -> dict[str, str]:
    """The headers of a SigV4-signed request, as :class:`botocore.auth.SigV4Auth` signs them.

    ``headers`` plus Host, X-Amz-Date, X-Amz-Security-Token (with a session token) and
    Authorization. ``credentials``: botocore's frozen credentials (``access_key``,
    ``secret_key``, ``token``). A day's signing key is cached (four HMACs saved per request).
    ``path`` is the raw path: it is URI-encoded once here (as S3 wants it; the JSON endpoints'
    path is ``/``), and must be sent encoded the same way. ``payload_hash``: the body's SHA-256
    in hex when already known (S3's ``x-amz-content-sha256``), else computed from ``body``.

    Examples
    --------
    >>> from collections import namedtuple
    >>> from datetime import UTC, datetime
    >>> C = namedtuple("C", "access_key secret_key token")
    >>> h = sign_v4(C("AKIDEXAMPLE", "secret", None), region="us-east-1", service="invoicing",
    ...             host="127.0.0.1:9", path="/", body=b"{}", headers={},
    ...             now=datetime(2026, 1, 2, tzinfo=UTC))
    >>> h["Authorization"].split(", ")[1]
    'SignedHeaders=host;x-amz-date'
    """
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    out = dict(headers)
    out["X-Amz-Date"] = amz_date
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token
    lower = {k.lower(): " ".join(str(v).split()) for k, v in out.items()}
    lower["host"] = host
    signed = sorted(k for k in lower if k not in _UNSIGNED_HEADERS)
    signed_list = ";".join(signed)
    canonical = "\n".join(
        (
            method,
            quote(path, safe="/~"),
            "",
            "".join(f"{k}:{lower[k]}\n" for k in signed),
            signed_list,
            payload_hash or sha256(body).hexdigest(),
        )
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = f"{_SIGV4}\n{amz_date}\n{scope}\n{sha256(canonical.encode()).hexdigest()}"
    key = _signing_key(credentials.secret_key, day, region, service)
    signature = hmac.new(key, to_sign.encode(), sha256).hexdigest()
    out["Host"] = host
    out["Authorization"] = (
        f"{_SIGV4} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_list}, Signature={signature}"
    )
    return out


def _name(exc: BaseException) -> str:
    # the exception's type and text without any URL query (none is ever sent; belt and braces)
    from invoicekit._redact import redact

    return redact(f"{type(exc).__name__}: {exc}")


def client_for(
    access: AccountAccess | Any,
    *,
    max_attempts: int | None = None,
    on_body: Callable[[bytes], None] | None = None,
    on_send: Callable[[], None] | None = None,
    paced: bool = True,
) -> LeanClient | Any:
    """The lean client of one account (its endpoint, session credentials and, if ``paced``,
    its pacer): an :class:`~invoicekit.access.AccountAccess`, or any object with ``session()``,
    ``endpoint_url`` and ``account_id`` (the downloader's one-session access).

    ``None`` when an HTTP(S) proxy is configured for the endpoint: the caller then uses the
    account's boto3 client (botocore honours proxies; the lean path does not).
    """
    session = access.session()
    account = getattr(access, "account", None)  # an AccountAccess; else one session's access
    client = LeanClient(
        session,
        account_id=account.id if account is not None else getattr(access, "account_id", None),
        endpoint_url=access.endpoint_url,
        pacer=getattr(access, "pacer", None) if paced else None,
        max_attempts=max_attempts,
        on_body=on_body,
        on_send=on_send,
    )
    if _proxied(client.endpoint_url):
        return None
    return client


# --------------------------------------------------------------------------------------------
# S3 PutObject (the audit archive's documents)
# --------------------------------------------------------------------------------------------

#: ``put_object`` arguments and the request headers they become (botocore's S3 model).
_PUT_HEADERS = {
    "ContentType": "Content-Type",
    "ChecksumAlgorithm": "x-amz-sdk-checksum-algorithm",
    "ChecksumSHA256": "x-amz-checksum-sha256",
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
    "ObjectLockMode": "x-amz-object-lock-mode",
    "ObjectLockRetainUntilDate": "x-amz-object-lock-retain-until-date",
    "ObjectLockLegalHoldStatus": "x-amz-object-lock-legal-hold",
}
#: Answers that mean "ask botocore": the bucket is in another region or moved (botocore's S3
#: region redirector follows them; the lean path does not).
_S3_REDIRECT_STATUSES = frozenset({301, 307, 308})
_S3_REDIRECT_CODES = frozenset({
    "PermanentRedirect", "TemporaryRedirect", "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
})  # fmt: skip
_S3_RETRY_CODES = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"})


class UseBotocore(Exception):
    """The lean S3 path cannot serve this bucket (a redirect): use the boto3 client."""


class LeanS3Put:
    """``PutObject`` of one bucket without botocore's call stack (~4 ms of CPU saved per put).

    Built from a request botocore sent to the bucket (:meth:`from_request`: where a key goes
    and the signing region) and the session the client was made from, which signs
    (refreshable credentials, as botocore). Every request
    is SigV4-signed with the body's SHA-256 as ``x-amz-content-sha256`` (the document's hash,
    already computed, so nothing is read twice) and carries ``x-amz-checksum-sha256``, which S3
    verifies. Retries follow botocore's standard policy (5xx, throttling, ``SlowDown``,
    dropped connections); an answer botocore would follow (a region redirect) raises
    :class:`UseBotocore`. Errors are the :class:`botocore.exceptions.ClientError` (or
    connection error) botocore would raise, for the one translation.

    Examples
    --------
    >>> put = LeanS3Put.from_request(session, url, authorization)  # doctest: +SKIP
    >>> put.put("prefix/doc.pdf", "/tmp/doc.pdf", 1234, sha_hex, ContentType="application/pdf")
    ... # doctest: +SKIP
    """

    def __init__(self, credentials: Any, *, url: str, region: str, ca_bundle: str | None,
                 max_attempts: int | None = None) -> None:  # fmt: skip
        from invoicekit import _client

        parts = urlsplit(url)
        self._credentials = credentials
        self.region = region
        self._scheme = parts.scheme
        self._prefix = parts.path  # "/BUCKET/" (path style) or "/" (virtual-hosted)
        self._host = _host_of(parts)
        self._wire = _wire_for(parts.scheme, parts.hostname or "", parts.port, ca_bundle)
        self.max_attempts = _client.MAX_ATTEMPTS if max_attempts is None else int(max_attempts)

    def __repr__(self) -> str:
        return f"LeanS3Put({self._scheme}://{self._host}{self._prefix})"

    @classmethod
    def from_request(
        cls, session: Any, url: str | None, authorization: str | None
    ) -> LeanS3Put | None:
        """The lean putter of a bucket, from a request botocore sent to it (its ``HeadBucket``:
        the URL gives the host and the path style, the SigV4 scope of its ``Authorization`` the
        signing region, after any region redirect). ``None`` when it cannot be used: no
        credentials, no SigV4 request seen, a proxy, an endpoint that is not HTTP(S).

        Examples
        --------
        >>> from collections import namedtuple
        >>> S = namedtuple("S", "get_credentials")
        >>> put = LeanS3Put.from_request(
        ...     S(lambda: "creds"), "http://127.0.0.1:9000/my-bucket",
        ...     "AWS4-HMAC-SHA256 Credential=AKID/20261201/eu-west-1/s3/aws4_request, ...")
        >>> put, put.region
        (LeanS3Put(http://127.0.0.1:9000/my-bucket/), 'eu-west-1')
        """
        import re

        credentials = session.get_credentials() if session is not None else None
        scope = re.search(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/s3/aws4_request",
                          str(authorization or ""))  # fmt: skip
        if credentials is None or not url or scope is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or _proxied(url):
            return None
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        base = f"{parts.scheme}://{parts.netloc}{path}"
        return cls(credentials, url=base, region=scope.group(1), ca_bundle=_ca_bundle(session))

    def put(self, key: str, path: str, size: int, sha256_hex: str, **args: Any) -> dict:
        """Put the file at ``path`` (``size`` bytes, SHA-256 ``sha256_hex``) as ``key``.

        ``args``: the ``put_object`` arguments of :data:`_PUT_HEADERS` and ``Metadata``.
        Returns what boto3 returns that the archive reads: ``ETag``, ``VersionId``,
        ``ChecksumSHA256``, ``ResponseMetadata``.
        """
        import http.client

        from botocore import exceptions as bx

        headers = self._headers(args)
        headers["Content-Length"] = str(size)
        headers["x-amz-content-sha256"] = sha256_hex
        raw_path = self._prefix + key
        wire_path = quote(raw_path, safe="/~")
        url = f"{self._scheme}://{self._host}{wire_path}"
        attempt = 0
        while True:
            frozen = self._credentials.get_frozen_credentials()
            signed = sign_v4(frozen, region=self.region, service="s3", host=self._host,
                             path=raw_path, body=b"", headers=headers, now=_utcnow(),
                             method="PUT", payload_hash=sha256_hex)  # fmt: skip
            throttled = False
            try:
                with open(path, "rb") as body:
                    status, data, rh = self._wire.send("PUT", wire_path, body, signed)
            except (_ConnectFailed, _ReadTimedOut, OSError, http.client.HTTPException) as exc:
                error: BaseException = _wire_error(exc, url)
            else:
                meta = _response_metadata(rh, status, attempt)
                if status == 200:
                    return {
                        "ETag": rh.get("ETag") or "",
                        "VersionId": rh.get("x-amz-version-id"),
                        "ChecksumSHA256": rh.get("x-amz-checksum-sha256"),
                        "ResponseMetadata": meta,
                    }
                code, message = _s3_error(data, status)
                if status in _S3_REDIRECT_STATUSES or code in _S3_REDIRECT_CODES:
                    raise UseBotocore(code)
                error = bx.ClientError({"Error": {"Code": code, "Message": message},
                                        "ResponseMetadata": meta}, "PutObject")  # fmt: skip
                throttled = code in THROTTLING_CODES or code == "SlowDown"
                if not (throttled or code in _S3_RETRY_CODES or code in RETRYABLE_CODES
                        or status in _RETRY_STATUSES):  # fmt: skip
                    raise error
            _retry_or_raise(error, attempt, self.max_attempts, throttled)
            attempt += 1

    def _headers(self, args: dict[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {"User-Agent": _user_agent()}
        for name, value in args.items():
            if value is None:
                continue
            if name == "Metadata":
                out.update({f"x-amz-meta-{k}": str(v) for k, v in value.items()})
                continue
            header = _PUT_HEADERS.get(name)
            if header is None:
                raise TypeError(f"LeanS3Put.put: unsupported argument {name}")
            if isinstance(value, datetime):  # S3 header timestamps: ISO 8601, UTC
                value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            out[header] = str(value)
        return out


def _s3_error(data: bytes, status: int) -> tuple[str, str]:
    """``(Code, Message)`` of an S3 XML error body (the status when there is none)."""
    import xml.etree.ElementTree as ET  # noqa: N817

    try:
        root = ET.fromstring(data) if data else None  # noqa: S314 - the archive's own endpoint
    except ET.ParseError:
        root = None
    if root is None:
        return str(status), ""
    return (root.findtext("Code") or str(status)), (root.findtext("Message") or "")
