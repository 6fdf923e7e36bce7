"""AWS JSON 1.0 error shapes of the sandbox (what botocore's JSON parser reads)."""

from __future__ import annotations

import json

#: Smithy namespace of the modeled Invoicing errors (botocore reads the code after ``#``).
INVOICING_NS = "com.amazonaws.invoicing"
#: Namespace of the protocol-level errors every AWS JSON service answers (coral).
CORAL_NS = "com.amazon.coral.service"

#: Modeled errors and their HTTP statuses (Smithy ``@httpError``).
MODELED_STATUS = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ServiceQuotaExceededException": 402,
    "ThrottlingException": 429,
    "InternalServerException": 500,
}


class ServiceError(Exception):
    """An error answer of the JSON protocol.

    Parameters
    ----------
    code : str
        The error name, e.g. ``"ValidationException"``.
    message : str
        The human-readable ``message``.
    status : int or None
        HTTP status; defaults to the model's for modeled errors, else 400.
    extra : dict or None
        Further modeled members (``reason``, ``fieldList``, ``retryAfterSeconds``, ...).
    """

    def __init__(
        self, code: str, message: str, status: int | None = None, extra: dict | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else MODELED_STATUS.get(code, 400)
        self.extra = extra or {}

    @property
    def namespace(self) -> str:
        return INVOICING_NS if self.code in MODELED_STATUS else CORAL_NS

    def body(self) -> bytes:
        """The JSON body: ``__type``, ``message`` and the modeled members."""
        doc = {"__type": f"{self.namespace}#{self.code}", "message": self.message}
        doc.update(self.extra)
        return json.dumps(doc, separators=(",", ":")).encode()


def validation_error(fields: list[tuple[str, str]], reason: str = "fieldValidationFailed"):
    """A ``ValidationException`` naming each ``(field, message)`` in ``fieldList``."""
    n = len(fields)
    detail = "; ".join(
        f"Value at '{name}' failed to satisfy constraint: {msg}" for name, msg in fields
    )
    message = f"{n} validation error{'s' if n != 1 else ''} detected: {detail}"
    return ServiceError(
        "ValidationException",
        message,
        extra={"reason": reason, "fieldList": [{"name": k, "message": v} for k, v in fields]},
    )
