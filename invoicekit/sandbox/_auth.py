"""Who is calling: access key → principal, SigV4 verification, temporary (assumed-role) keys.

The signature is recomputed with ``botocore.auth.SigV4Auth`` over the request as received (only
the headers the client listed in ``SignedHeaders``), so any client that signs like the AWS SDKs
passes and a tampered request does not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

#: Allowed clock skew between the client's X-Amz-Date and the server (AWS allows 15 minutes).
MAX_CLOCK_SKEW_S = 15 * 60

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-fA-F]{64})\s*$"
)


class AuthError(Exception):
    """An authentication failure: ``code`` and ``status`` as AWS would answer."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Principal:
    """The authenticated caller.

    ``account_id`` is the account whose invoices the caller may read (``None`` for the
    organization identity, which may only assume roles). ``kind`` is ``"account"``, ``"role"``
    (assumed-role temporary credentials) or ``"org"``.
    """

    kind: str
    account_id: str | None
    access_key_id: str
    arn: str
    user_id: str


#: Key of the temporary credentials. Deliberately the same for every sandbox (any seed, any
#: restart): the AWS CLI caches assumed-role credentials in ~/.aws/cli/cache, and a restarted
#: sandbox must still accept them until they expire. They are fake and only open the sandbox.
_TEMP_KEY = b"invoicekit-sandbox-sts-temporary-credentials-v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CredentialStore:
    """Maps access keys to principals; issues temporary credentials for sts:AssumeRole.

    Temporary credentials are stateless: the session token carries the account, role, session
    name and expiry under an HMAC, and the access key and secret are derived from the token.
    """

    def __init__(self, org, secret: bytes, org_account_id: str) -> None:
        self._org = org
        self._secret = secret
        self.org_account_id = org_account_id
        self._lock = threading.Lock()
        self._counter = 0

    @staticmethod
    def _derive(token: str) -> tuple[str, str]:
        digest = hmac.new(_TEMP_KEY, b"key:" + token.encode(), "sha256").digest()
        key = "ASIA" + base64.b32encode(digest[:10]).decode()[:16]
        secret = base64.b64encode(
            hmac.new(_TEMP_KEY, b"secret:" + key.encode(), "sha256").digest()
        ).decode()[:40]
        return key, secret

    # -- lookup -------------------------------------------------------------------------------
    def lookup(self, access_key_id: str, session_token: str | None) -> tuple[Principal, str]:
        """Return ``(principal, secret)`` for a key, or raise :class:`AuthError`."""
        org = self._org
        if access_key_id == org.org_access_key_id:
            p = Principal(
                "org",
                None,
                access_key_id,
                f"arn:aws:iam::{self.org_account_id}:user/invoicekit-sandbox-org",
                "AIDASANDBOXORG000000",
            )
            return p, org.org_secret_access_key
        account = org.account_for_key(access_key_id)
        if account is not None:
            p = Principal(
                "account",
                account.account_id,
                access_key_id,
                f"arn:aws:iam::{account.account_id}:user/invoicekit-sandbox",
                f"AIDA{account.account_id}",
            )
            return p, account.secret_access_key
        invalid = AuthError(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
        if not access_key_id.startswith("ASIA") or not session_token:
            raise invalid
        try:
            body_b64, sig_b64 = session_token[len(_TOKEN_PREFIX) :].split(".")
            if not session_token.startswith(_TOKEN_PREFIX):
                raise ValueError
            body = _unb64(body_b64)
            expected = hmac.new(_TEMP_KEY, body, "sha256").digest()
            if not hmac.compare_digest(_unb64(sig_b64), expected):
                raise ValueError
            account_id, role_arn, session_name, expires, _nonce = body.decode().split("|")
            expires_at = float(expires)
        except (ValueError, UnicodeError):
            raise invalid from None
        key, secret = self._derive(session_token)
        if key != access_key_id:
            raise invalid
        try:
            org.account(account_id)
        except KeyError:
            raise invalid from None
        if time.time() >= expires_at:
            raise AuthError(
                "ExpiredTokenException",
                "The security token included in the request is expired",
            )
        role_name = role_arn.rsplit("/", 1)[-1]
        principal = Principal(
            "role",
            account_id,
            access_key_id,
            f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}",
            f"{_role_id(role_arn)}:{session_name}",
        )
        return principal, secret

    # -- sts:AssumeRole -----------------------------------------------------------------------
    def issue(self, account_id: str, role_arn: str, session_name: str, duration_s: float) -> dict:
        """Create temporary credentials for ``account_id``; returns the STS fields."""
        with self._lock:
            self._counter += 1
            n = self._counter
        nonce = hmac.new(self._secret, f"{n}-{time.time()}".encode(), "sha256").hexdigest()[:16]
        expires_at = math.ceil(time.time() + duration_s)  # never shorter than asked
        body = f"{account_id}|{role_arn}|{session_name}|{expires_at}|{nonce}".encode()
        token = (
            _TOKEN_PREFIX + _b64(body) + "." + _b64(hmac.new(_TEMP_KEY, body, "sha256").digest())
        )
        key, secret = self._derive(token)
        role_name = role_arn.rsplit("/", 1)[-1]
        user_id = f"{_role_id(role_arn)}:{session_name}"
        return {
            "AccessKeyId": key,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "AssumedRoleId": user_id,
            "Arn": f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}",
        }


_TOKEN_PREFIX = "IQoJb3JpZ2luX2VjE"


def _role_id(role_arn: str) -> str:
    return "AROA" + base64.b32encode(hashlib.sha256(role_arn.encode()).digest()).decode()[:17]


def verify_sigv4(
    store: CredentialStore,
    *,
    method: str,
    path: str,
    query: str,
    headers,
    body: bytes,
    service: str,
) -> Principal:
    """Authenticate a SigV4-signed request and return its principal.

    Raises
    ------
    AuthError
        ``MissingAuthenticationTokenException`` (no Authorization header),
        ``IncompleteSignatureException`` (malformed), ``UnrecognizedClientException``
        (unknown key), ``InvalidSignatureException`` (wrong signature, wrong service, clock
        skew), ``ExpiredTokenException`` (expired temporary credentials).
    """
    auth = headers.get("Authorization")
    if not auth:
        raise AuthError(
            "MissingAuthenticationTokenException", "Request is missing Authentication Token"
        )
    m = _AUTH_RE.match(auth.strip())
    if not m:
        raise AuthError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
            "parameters with the AWS4-HMAC-SHA256 algorithm.",
        )
    cred = m.group("cred").split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise AuthError("IncompleteSignatureException", "Credential scope is malformed.")
    access_key, date, region, scope_service, _ = cred
    principal, secret = store.lookup(access_key, headers.get("X-Amz-Security-Token"))
    if scope_service != service:
        raise AuthError(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{service}'.",
            403,
        )
    amz_date = headers.get("X-Amz-Date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AuthError(
            "IncompleteSignatureException", "X-Amz-Date header is missing or malformed."
        ) from None
    if amz_date[:8] != date:
        raise AuthError(
            "InvalidSignatureException", "Date in Credential scope does not match X-Amz-Date.", 403
        )
    if abs(signed_at.timestamp() - time.time()) > MAX_CLOCK_SKEW_S:
        raise AuthError(
            "InvalidSignatureException",
            "Signature expired: the request's X-Amz-Date is more than 15 minutes from the "
            "server time.",
            403,
        )
    signed_names = m.group("signed").split(";")
    if "host" not in signed_names:
        raise AuthError("InvalidSignatureException", "'Host' must be a signed header.", 403)
    expected = _signature(
        secret=secret,
        token=headers.get("X-Amz-Security-Token"),
        access_key=access_key,
        method=method,
        path=path,
        query=query,
        headers=headers,
        signed_names=signed_names,
        body=body,
        amz_date=amz_date,
        region=region,
        service=service,
    )
    if not hmac.compare_digest(expected, m.group("sig").lower()):
        raise AuthError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
            403,
        )
    return principal


def _signature(
    *,
    secret: str,
    token: str | None,
    access_key: str,
    method: str,
    path: str,
    query: str,
    headers,
    signed_names: list[str],
    body: bytes,
    amz_date: str,
    region: str,
    service: str,
) -> str:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed = {}
    for name in signed_names:
        values = headers.get_all(name) if hasattr(headers, "get_all") else None
        if not values:
            value = headers.get(name)
            values = [] if value is None else [value]
        signed[name] = ",".join(values)
    host = signed.get("host", "")
    url = f"http://{host}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, headers=signed, data=body)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret, token), service, region)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)
