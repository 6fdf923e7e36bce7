"""The exceptions invoicekit raises, and the one place botocore errors become them."""

from __future__ import annotations

from typing import Any

from invoicekit._redact import redact

__all__ = [
    "InvoiceKitError",
    "InvalidArgumentError",
    "ConfigError",
    "ApiError",
    "ThrottledError",
    "DownloadError",
    "translate_client_error",
]


class InvoiceKitError(Exception):
    """Base class: catch this to handle every invoicekit failure."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self)


class InvalidArgumentError(InvoiceKitError, ValueError):
    """An argument is wrong: the message names it and the fix."""


class ConfigError(InvoiceKitError):
    """A fleet file, profile or credential problem (``path`` and ``line`` when known)."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class ApiError(InvoiceKitError):
    """An AWS API call failed after retries."""

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        account_id: str | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.account_id = account_id
        self.code = code
        self.request_id = request_id


class ThrottledError(ApiError):
    """Throttling outlasted every retry for an account."""


class DownloadError(InvoiceKitError):
    """A document could not be downloaded or stored (the URL's query is never included)."""

    def __init__(
        self,
        message: str,
        *,
        invoice_id: str | None = None,
        document_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.invoice_id = invoice_id
        self.document_id = document_id
        self.reason = reason


#: Error codes that mean "slow down": botocore retries them, the loader's pacer halves the
#: account's rate, and an error with one of them that outlasted the retries is a ThrottledError.
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
    }
)
#: Error codes of a failure that may pass if the request is sent again later (server side).
TRANSIENT_CODES = frozenset(
    {
        "InternalServerException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
#: Both: what outlasted botocore's retries but is worth another run.
RETRYABLE_CODES = THROTTLING_CODES | TRANSIENT_CODES
#: Failure codes that mean "the configuration is wrong", not "AWS said no".
CONFIG_CODES = frozenset({"NoCredentials", "PartialCredentials", "ProfileNotFound", "ConfigError"})


_FIXES = {
    "AccessDeniedException": "grant invoicing:{op} to this account's credentials or role",
    "UnrecognizedClientException": "check the account's credentials (profile or role)",
    "InvalidClientTokenId": "check the account's access key",
    "ExpiredTokenException": "refresh the session (aws sso login, or new credentials)",
    "ThrottlingException": "lower --max-concurrency or retry later",
    "ValidationException": "correct the request parameters named above",
    "ResourceNotFoundException": "check the invoice id and the account that owns it",
    "InternalServerException": "retry later",
}


def translate_client_error(
    exc: Any, *, operation: str | None = None, account_id: str | None = None
) -> ApiError:
    """Build an :class:`ApiError` from a botocore ``ClientError`` (caller raises it ``from exc``)."""
    response = getattr(exc, "response", {}) or {}
    err = response.get("Error", {}) or {}
    code = err.get("Code") or type(exc).__name__
    text = err.get("Message") or str(exc)
    op = operation or getattr(exc, "operation_name", None)
    request_id = (response.get("ResponseMetadata") or {}).get("RequestId")
    fix = _FIXES.get(code, "see the message above").format(op=op or "the operation")
    who = f"account {account_id}" if account_id else "the account"
    cls = ThrottledError if code in THROTTLING_CODES else ApiError
    return cls(
        f"{op or 'AWS call'} failed for {who}: {code}: {text} (fix: {fix})",
        operation=op,
        account_id=account_id,
        code=code,
        request_id=request_id,
    )
