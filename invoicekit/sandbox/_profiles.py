"""BatchGetInvoiceProfile: the invoice profile (receiver name, address, tax id) per account.

A payer reads the profiles of the accounts of its own organization (itself and its member
accounts); any other account in the request answers ``AccessDeniedException`` naming it. The
profiles come from the organization model (:meth:`Organization.invoice_profile`); the address, the
e-mail and the tax registration number are sensitive in the model, so nothing here logs them.
"""

from __future__ import annotations

from invoicekit.sandbox._wire import ServiceError

__all__ = ["batch_get_invoice_profile"]


def batch_get_invoice_profile(org, principal, body: dict) -> dict:
    """The ``Profiles`` of ``body["AccountIds"]`` (validated), in request order, once each."""
    payer = principal.account_id
    if payer is None or payer not in org.members:
        raise ServiceError(
            "AccessDeniedException",
            f"User: {principal.arn} is not authorized to perform invoicing:BatchGetInvoiceProfile: "
            "use a payer (management) account's credentials",
        )
    mine = {m.account_id for m in org.members[payer]}
    wanted = list(dict.fromkeys(body["AccountIds"]))
    strangers = [a for a in wanted if a not in mine]
    if strangers:
        raise ServiceError(
            "AccessDeniedException",
            f"User: {principal.arn} is not authorized to read the invoice profile of account "
            f"{strangers[0]}: it is not a member of the caller's organization",
        )
    return {"Profiles": [org.invoice_profile(a) for a in wanted]}
