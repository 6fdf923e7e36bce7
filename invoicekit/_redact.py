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

REDACTED = "REDACTED"


def redact_url(url: str) -> str:
    """Return ``url`` without its query string and fragment (where presigned secrets live)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(str(url))
    if not parts.query and not parts.fragment:
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) + "?" + REDACTED


def redact(text: object) -> str:
    """Remove presigned query strings, access keys and secrets from any text."""
    s = str(text)
    s = _URL_QUERY.sub(lambda m: m.group(1) + "?" + REDACTED, s)
    s = _PRESIGNED_PARAM.sub(lambda m: m.group(1) + REDACTED, s)
    s = _SECRET_ASSIGN.sub(lambda m: m.group(1) + REDACTED, s)
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


def install_log_redaction(logger_name: str = "invoicekit") -> None:
    """Attach :class:`RedactingFilter` to the package logger (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
