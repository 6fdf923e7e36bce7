"""Keep secrets inside the process.

A presigned URL's query string holds a signature and a security token; credentials are
credentials. Nothing that leaves invoicekit (log records, exception messages, manifests,
reports, notebook output) may contain either. Every such path calls :func:`redact`.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

# A URL with a query string: keep scheme, host and path, drop the query.
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]*")
# Presigned parameters that may appear outside a full URL (e.g. in a botocore message).
_PRESIGNED_PARAM = re.compile(
    r"(X-Amz-(?:Signature|Security-Token|Credential)=)[^&\s\"'<>]+", re.IGNORECASE
)
# Access key ids (AKIA/ASIA + 16) and 40-character secrets next to a key name.
_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
_SECRET_ASSIGN = re.compile(
    r"((?:aws_secret_access_key|SecretAccessKey|aws_session_token|SessionToken)"
    r"[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{16,}",
    re.IGNORECASE,
)

# Credentials in STS XML bodies and in signed headers, as botocore prints them at DEBUG level.
_XML_SECRET = re.compile(
    r"(<(?:SecretAccessKey|SessionToken|SecurityToken)>)[^<]*(</)", re.IGNORECASE
)
_HEADER_TOKEN = re.compile(
    r"(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^'\"\s,}&]+", re.IGNORECASE
)

REDACTED = "REDACTED"

#: InvoiceProfile members the Invoicing service model marks sensitive: receivers' addresses,
#: e-mails and tax registration numbers (tests/test_units.py checks this against the installed
#: botocore model). :func:`redact` masks their values in JSON and in Python reprs.
SENSITIVE_PROFILE_MEMBERS = ("ReceiverAddress", "ReceiverEmail", "TaxRegistrationNumber")
_PROFILE_KEY = r"""(["']?(?:""" + "|".join(SENSITIVE_PROFILE_MEMBERS) + r""")["']?\s*[:=]\s*)"""
_PROFILE_STRING = re.compile(_PROFILE_KEY + r"""(["'])(?:\\.|(?!\2).)*\2""")
_PROFILE_STRUCT = re.compile(_PROFILE_KEY + r"""\{[^{}]*\}""")

#: Loggers that print request lines, signed headers or response bodies at DEBUG level.
#: Logger filters apply only to records logged on that very logger, so each is named.
SECRET_BEARING_LOGGERS = (
    "invoicekit",
    "invoicekit.loader",
    "invoicekit.archive",
    "invoicekit.access",
    "invoicekit.store",
    "invoicekit.fleet",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.response",
    "urllib3.util.retry",
    "botocore.parsers",
    "botocore.endpoint",
    "botocore.httpsession",
    "botocore.awsrequest",
    "botocore.auth",
    "botocore.hooks",
    "botocore.retryhandler",
    "botocore.retries.standard",
    "botocore.retries.adaptive",
    "botocore.credentials",
    "botocore.utils",
)


def redact_url(url: str) -> str:
    """Return ``url`` without its query string and fragment (where presigned secrets live)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(str(url))
    if not parts.query and not parts.fragment:
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) + "?" + REDACTED


def redact_profile_members(text: str) -> str:
    """``text`` with the values of the sensitive InvoiceProfile members masked.

    Examples
    --------
    >>> redact_profile_members('{"AccountId":"1","TaxRegistrationNumber":"DE123456789"}')
    '{"AccountId":"1","TaxRegistrationNumber":"REDACTED"}'
    >>> redact_profile_members("'ReceiverAddress': {'City': 'Berlin'}, 'Issuer': 'AWS'")
    "'ReceiverAddress': {REDACTED}, 'Issuer': 'AWS'"
    """
    if "Receiver" not in text and "TaxRegistration" not in text:
        return text
    text = _PROFILE_STRUCT.sub(lambda m: m.group(1) + "{" + REDACTED + "}", text)
    return _PROFILE_STRING.sub(lambda m: m.group(1) + m.group(2) + REDACTED + m.group(2), text)


def redact(text: object) -> str:
    """Remove presigned query strings, access keys, secrets and the sensitive invoice-profile
    members (tax registration numbers, receivers' addresses and e-mails) from any text."""
    s = redact_profile_members(str(text))
    s = _URL_QUERY.sub(lambda m: m.group(1) + "?" + REDACTED, s)
    s = _PRESIGNED_PARAM.sub(lambda m: m.group(1) + REDACTED, s)
    s = _SECRET_ASSIGN.sub(lambda m: m.group(1) + REDACTED, s)
    s = _XML_SECRET.sub(lambda m: m.group(1) + REDACTED + m.group(2), s)
    s = _HEADER_TOKEN.sub(lambda m: m.group(1) + REDACTED, s)
    s = _ACCESS_KEY.sub(REDACTED, s)
    return s


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def install_log_redaction() -> None:
    """Redact every log record that could carry a secret (idempotent).

    Adds :class:`RedactingFilter` to the handlers of the root logger (which see the records of
    every logger that propagates, children included) and to each of
    :data:`SECRET_BEARING_LOGGERS` (for records that reach other handlers).
    """
    targets: list[logging.Filterer] = [logging.getLogger(n) for n in SECRET_BEARING_LOGGERS]
    targets += logging.getLogger().handlers
    for target in targets:
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
