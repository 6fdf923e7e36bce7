"""sts:AssumeRole and sts:GetCallerIdentity over the AWS query protocol (form POST, XML answer).

The XML is what botocore's query parser reads: ``<XResponse><XResult>...</XResult>
<ResponseMetadata><RequestId>`` for answers and ``<ErrorResponse><Error><Type><Code><Message>``
for errors.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from invoicekit.sandbox._auth import CredentialStore, Principal

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
#: AssumeRole's default session length when DurationSeconds is absent (as AWS).
DEFAULT_SESSION_S = 3600
_ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role/[\w+=,.@/-]{1,512}")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")


class StsError(Exception):
    """An STS error answer (query protocol XML)."""

    def __init__(self, code: str, message: str, status: int = 400, sender: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.sender = sender

    def body(self, request_id: str) -> bytes:
        kind = "Sender" if self.sender else "Receiver"
        return (
            f'<ErrorResponse xmlns="{STS_NS}">\n  <Error>\n    <Type>{kind}</Type>\n'
            f"    <Code>{escape(self.code)}</Code>\n    <Message>{escape(self.message)}</Message>\n"
            f"  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n"
        ).encode()


def parse_form(body: bytes) -> dict[str, str]:
    """The form-encoded parameters of a query-protocol request (first value of each)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise StsError("MalformedInput", "The request body is not UTF-8 form data.") from None
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _wrap(action: str, inner: str, request_id: str) -> bytes:
    return (
        f'<{action}Response xmlns="{STS_NS}">\n  <{action}Result>\n{inner}  </{action}Result>\n'
        f"  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n"
        f"  </ResponseMetadata>\n</{action}Response>\n"
    ).encode()


def get_caller_identity(principal: Principal, store: CredentialStore, request_id: str) -> bytes:
    """The GetCallerIdentity answer for ``principal``."""
    account = principal.account_id or store.org_account_id
    inner = (
        f"    <Arn>{escape(principal.arn)}</Arn>\n"
        f"    <UserId>{escape(principal.user_id)}</UserId>\n"
        f"    <Account>{account}</Account>\n"
    )
    return _wrap("GetCallerIdentity", inner, request_id)


def assume_role(
    params: dict[str, str],
    principal: Principal,
    org,
    store: CredentialStore,
    request_id: str,
    *,
    max_session_s: float | None = None,
) -> tuple[str, bytes]:
    """Answer AssumeRole; returns ``(account_id, xml)`` or raises :class:`StsError`.

    The caller must be the organization identity or the account itself; the role must be the
    account's reader role and the ExternalId must match. ``max_session_s`` caps the session
    length (so that a test can watch credentials refresh).
    """
    role_arn = params.get("RoleArn")
    session_name = params.get("RoleSessionName")
    if not role_arn:
        raise StsError(
            "ValidationError",
            "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: "
            "Member must not be null",
        )
    if not session_name:
        raise StsError(
            "ValidationError",
            "1 validation error detected: Value null at 'roleSessionName' failed to satisfy "
            "constraint: Member must not be null",
        )
    if not _SESSION_NAME.fullmatch(session_name):
        raise StsError(
            "ValidationError",
            f"1 validation error detected: Value '{session_name[:64]}' at 'roleSessionName' "
            "failed to satisfy constraint: Member must satisfy regular expression pattern: "
            "[\\w+=,.@-]*",
        )
    duration_s: float = DEFAULT_SESSION_S
    if params.get("DurationSeconds"):
        try:
            duration_s = int(params["DurationSeconds"])
        except ValueError:
            raise StsError(
                "ValidationError", "DurationSeconds must be an integer number of seconds."
            ) from None
        if not 900 <= duration_s <= 43200:
            raise StsError(
                "ValidationError",
                f"1 validation error detected: Value '{duration_s}' at 'durationSeconds' failed "
                "to satisfy constraint: Member must have value between 900 and 43200",
            )
    denied = StsError(
        "AccessDenied",
        f"User: {principal.arn} is not authorized to perform: sts:AssumeRole on resource: "
        f"{role_arn}",
        403,
    )
    m = _ROLE_ARN.fullmatch(role_arn)
    if not m:
        if len(role_arn) < 20 or not role_arn.startswith("arn:"):
            raise StsError(
                "ValidationError",
                f"{role_arn[:100]!r} is not a valid role ARN (arn:aws:iam::<account>:role/<name>).",
            )
        raise denied
    try:
        account = org.account(m.group(1))
    except KeyError:
        raise denied from None
    if role_arn != account.role_arn:
        raise denied
    if principal.kind != "org" and principal.account_id != account.account_id:
        raise denied
    if (params.get("ExternalId") or None) != (account.external_id or None):
        raise denied
    if max_session_s is not None:
        duration_s = min(duration_s, max_session_s)
    creds = store.issue(account.account_id, role_arn, session_name, duration_s)
    inner = (
        "    <AssumedRoleUser>\n"
        f"      <AssumedRoleId>{escape(creds['AssumedRoleId'])}</AssumedRoleId>\n"
        f"      <Arn>{escape(creds['Arn'])}</Arn>\n"
        "    </AssumedRoleUser>\n"
        "    <Credentials>\n"
        f"      <AccessKeyId>{creds['AccessKeyId']}</AccessKeyId>\n"
        f"      <SecretAccessKey>{escape(creds['SecretAccessKey'])}</SecretAccessKey>\n"
        f"      <SessionToken>{escape(creds['SessionToken'])}</SessionToken>\n"
        f"      <Expiration>{creds['Expiration']}</Expiration>\n"
        "    </Credentials>\n"
        "    <PackedPolicySize>0</PackedPolicySize>\n"
    )
    return account.account_id, _wrap("AssumeRole", inner, request_id)
