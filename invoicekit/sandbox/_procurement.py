"""Procurement-portal preferences (SAP Business Network, Coupa): state kept per account.

A preference says how AWS delivers e-invoices to, and retrieves purchase orders from, a buyer's
procurement portal. The sandbox keeps each account's preferences in memory with the model's
members, versions and statuses, and plays the one-time-passcode activation:

1. Create/Put: every enabled feature is ``PENDING_VERIFICATION``; ``Version`` starts at 1 and
   grows by one with every change.
2. SendProcurementPortalValidation: a six-digit code is "sent" to the contact (the sandbox shows it
   at ``GET /_sandbox/procurement-codes``; it is derived from the server's secret).
3. VerifyProcurementPortalValidation with that code: enabled features become ``VALIDATED``; a
   wrong code is a ``ValidationException`` (``reason=invalidInput``).
4. UpdateProcurementPortalPreferenceStatus: ``ACTIVE`` / ``TEST_INITIALIZED`` only once verified
   (else ``ConflictException``); a status for a disabled feature is a ``ConflictException``.

The shared secret is write-only: it is kept, never answered back, never logged.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import threading

from invoicekit.sandbox._units import arn_account, check_tags
from invoicekit.sandbox._wire import ServiceError, validation_error

__all__ = ["ProcurementStore", "PORTALS", "MAX_PREFERENCES"]

#: Preferences an account may have (a sandbox choice; AWS publishes no number).
MAX_PREFERENCES = 20
DEFAULT_PAGE = 100
_VERIFIED = {"VALIDATED", "TEST_INITIALIZED", "TEST_INITIALIZATION_FAILED", "TEST_FAILED",
             "ACTIVE", "SUSPENDED"}  # fmt: skip
_NEEDS_VERIFIED = {"ACTIVE", "TEST_INITIALIZED", "VALIDATED"}

#: The portals the service integrates with (ListProcurementPortals).
PORTALS = (
    {
        "PortalIdentifier": "sap-business-network",
        "PortalName": "SAP_BUSINESS_NETWORK",
        "PortalDisplayName": "SAP Business Network",
        "DefaultFeatureConfigurations": {
            "InvoiceConfiguration": {
                "DocumentTypes": ["AWS_CLOUD_INVOICE", "AWS_CLOUD_CREDIT_MEMO",
                                  "AWS_MARKETPLACE_INVOICE", "AWS_MARKETPLACE_CREDIT_MEMO"],
                "AttachmentTypes": ["INVOICE_PDF"],
            }
        },
    },
    {
        "PortalIdentifier": "coupa",
        "PortalName": "COUPA",
        "PortalDisplayName": "Coupa",
        "DefaultFeatureConfigurations": {
            "InvoiceConfiguration": {
                "DocumentTypes": ["AWS_CLOUD_INVOICE", "AWS_CLOUD_CREDIT_MEMO",
                                  "AWS_REQUEST_FOR_PAYMENT"],
                "AttachmentTypes": ["INVOICE_PDF", "RFP_PDF"],
            }
        },
    },
)  # fmt: skip

# The AWS sellers of record on each portal (ListProcurementPortalSuppliers).
_SELLERS = (
    ("Amazon Web Services, Inc.", "US"),
    ("Amazon Web Services EMEA SARL", "LU"),
    ("Amazon Web Services Japan G.K.", "JP"),
    ("Amazon Web Services India Private Limited", "IN"),
    ("Amazon Web Services Canada, Inc.", "CA"),
    ("Amazon Web Services Australia Pty Ltd", "AU"),
)


def _suppliers(portal: str) -> list[dict]:
    out = []
    for seller, country in _SELLERS:
        for env in ("PROD", "TEST"):
            n = int(hashlib.sha256(f"{portal}:{seller}:{env}".encode()).hexdigest()[:10], 16)
            prefix = "AN" if portal == "sap-business-network" else "CP"
            out.append(
                {
                    "SupplierIdentifier": f"{prefix}{n % 10**11:011d}"
                    + ("-T" if env == "TEST" else ""),
                    "SellerOfRecord": seller,
                    "CountryCode": country,
                    "Environment": env,
                }
            )
    return out


class ProcurementStore:
    """Every account's procurement-portal preferences (see the module docstring)."""

    def __init__(self, secret: bytes, tokens, tags, clock, units) -> None:
        self._secret = secret
        self.tokens = tokens
        self.tags = tags
        self.clock = clock
        self.units = units
        self._lock = threading.Lock()
        self._prefs: dict[str, dict[str, dict]] = {}  # account -> arn -> preference
        self._secrets: dict[str, str] = {}  # arn -> shared secret (write-only)
        self._codes: dict[str, str] = {}  # arn -> code sent and not yet verified
        self._sent = 0

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _account(principal) -> str:
        if principal.account_id is None:
            raise ServiceError(
                "AccessDeniedException",
                f"User: {principal.arn} is not authorized to manage procurement-portal "
                "preferences: use an account's credentials (profile or role)",
            )
        return principal.account_id

    def _find(self, principal, arn: str) -> tuple[str, dict]:
        account = self._account(principal)
        if arn_account(arn) != account:
            raise ServiceError(
                "AccessDeniedException",
                f"User: {principal.arn} is not authorized to access {arn}",
            )
        pref = self._prefs.get(account, {}).get(arn)
        if pref is None:
            raise ServiceError(
                "ResourceNotFoundException", f"Procurement portal preference {arn} was not found"
            )
        return account, pref

    def _check_selector(self, account: str, selector: dict | None) -> None:
        if not selector:
            return
        gone = [a for a in selector.get("InvoiceUnitArns") or () if not self.units.live(account, a)]
        if gone:
            raise validation_error(
                [("Selector.InvoiceUnitArns", f"Invoice unit {a} was not found") for a in gone],
                reason="invalidInput",
            )

    @staticmethod
    def _statuses(pref: dict) -> None:
        for feature, key in (
            ("EinvoiceDeliveryEnabled", "EinvoiceDeliveryPreferenceStatus"),
            ("PurchaseOrderRetrievalEnabled", "PurchaseOrderRetrievalPreferenceStatus"),
        ):
            if pref[feature]:
                pref[key] = "PENDING_VERIFICATION"
                pref[key + "Reason"] = "Waiting for the one-time passcode to be verified"
            else:
                pref.pop(key, None)
                pref.pop(key + "Reason", None)

    def _apply(self, pref: dict, body: dict) -> None:
        """Put's members onto ``pref`` (what Put does not carry is cleared, as a put does)."""
        for key in (
            "Selector",
            "ProcurementPortalInstanceEndpoint",
            "TestEnvPreference",
            "EinvoiceDeliveryPreference",
            "MarketplacePunchOutEnabled",
            "MarketplacePunchOutPreference",
        ):
            if body.get(key) is not None:
                pref[key] = copy.deepcopy(body[key])
            else:
                pref.pop(key, None)
        pref["EinvoiceDeliveryEnabled"] = body["EinvoiceDeliveryEnabled"]
        pref["PurchaseOrderRetrievalEnabled"] = body["PurchaseOrderRetrievalEnabled"]
        pref["Contacts"] = copy.deepcopy(body["Contacts"])
        if isinstance(pref.get("TestEnvPreference"), dict):
            pref["TestEnvPreference"].pop("ProcurementPortalSharedSecret", None)
        if pref["PurchaseOrderRetrievalEnabled"]:
            pref["PurchaseOrderRetrievalEndpoint"] = (
                f"https://procurement.invoicing.sandbox.invalid/{pref['ProcurementPortalName']}"
                f"/{pref['BuyerIdentifier']}/purchase-orders"
            )
        else:
            pref.pop("PurchaseOrderRetrievalEndpoint", None)
        if body["EinvoiceDeliveryEnabled"] and body.get("EinvoiceDeliveryPreference") is None:
            raise validation_error(
                [("EinvoiceDeliveryPreference", "Required when EinvoiceDeliveryEnabled is true")],
                reason="invalidInput",
            )

    @staticmethod
    def _summary(pref: dict) -> dict:
        keys = (
            "AwsAccountId", "ProcurementPortalPreferenceArn", "ProcurementPortalName",
            "BuyerDomain", "BuyerIdentifier", "SupplierDomain", "SupplierIdentifier", "Selector",
            "EinvoiceDeliveryEnabled", "PurchaseOrderRetrievalEnabled",
            "MarketplacePunchOutEnabled", "EinvoiceDeliveryPreferenceStatus",
            "EinvoiceDeliveryPreferenceStatusReason", "PurchaseOrderRetrievalPreferenceStatus",
            "PurchaseOrderRetrievalPreferenceStatusReason", "Version", "CreateDate",
            "LastUpdateDate",
        )  # fmt: skip
        return {k: copy.deepcopy(pref[k]) for k in keys if k in pref}

    def _page(self, items: list, body: dict, key: bytes) -> tuple[list, str | None]:
        offset = 0
        token = body.get("NextToken")
        if token:  # BasicStringWithoutSpace allows "", which means "from the start"
            offset = self.tokens.read_token(token, key)
            if not 0 <= offset <= len(items):
                raise self.tokens.invalid()
        size = body.get("MaxResults") or DEFAULT_PAGE
        nxt = self.tokens.make_token(offset + size, key) if offset + size < len(items) else None
        return items[offset : offset + size], nxt

    # -- operations ---------------------------------------------------------------------------
    def create(self, principal, body: dict) -> dict:
        account = self._account(principal)
        check_tags(body.get("ResourceTags"), "ResourceTags")
        with self._lock:
            mine = self._prefs.setdefault(account, {})
            for pref in mine.values():
                same = all(
                    pref[k] == body[k]
                    for k in ("ProcurementPortalName", "BuyerIdentifier", "SupplierIdentifier")
                )
                if same:
                    raise ServiceError(
                        "ConflictException",
                        "A procurement portal preference for this portal, buyer and supplier "
                        "already exists",
                        extra={
                            "resourceId": pref["ProcurementPortalPreferenceArn"],
                            "resourceType": "ProcurementPortalPreference",
                        },
                    )
            if len(mine) >= MAX_PREFERENCES:
                raise ServiceError(
                    "ServiceQuotaExceededException",
                    f"An account can have at most {MAX_PREFERENCES} procurement portal preferences",
                )
            self._check_selector(account, body.get("Selector"))
            now = self.clock.now()
            digest = hashlib.sha256(f"{account}:{now}:{len(mine)}".encode()).hexdigest()
            arn = f"arn:aws:invoicing::{account}:procurement-portal-preference/{digest[:20]}"
            pref = {
                "AwsAccountId": account,
                "ProcurementPortalPreferenceArn": arn,
                "ProcurementPortalName": body["ProcurementPortalName"],
                "BuyerDomain": body["BuyerDomain"],
                "BuyerIdentifier": body["BuyerIdentifier"],
                "SupplierDomain": body["SupplierDomain"],
                "SupplierIdentifier": body["SupplierIdentifier"],
                "Version": 1,
                "CreateDate": now,
                "LastUpdateDate": now,
            }
            self._apply(pref, body)
            self._statuses(pref)
            mine[arn] = pref
            if body.get("ProcurementPortalSharedSecret"):
                self._secrets[arn] = body["ProcurementPortalSharedSecret"]
        self.tags.ensure(arn, body.get("ResourceTags") or ())
        return {"ProcurementPortalPreferenceArn": arn}

    def get(self, principal, body: dict) -> dict:
        _, pref = self._find(principal, body["ProcurementPortalPreferenceArn"])
        with self._lock:
            return {"ProcurementPortalPreference": copy.deepcopy(pref)}

    def put(self, principal, body: dict) -> dict:
        arn = body["ProcurementPortalPreferenceArn"]
        account, pref = self._find(principal, arn)
        with self._lock:
            self._check_selector(account, body.get("Selector"))
            self._apply(pref, body)
            self._statuses(pref)
            pref["Version"] += 1
            pref["LastUpdateDate"] = self.clock.now()
            if body.get("ProcurementPortalSharedSecret"):
                self._secrets[arn] = body["ProcurementPortalSharedSecret"]
            self._codes.pop(arn, None)
        return {"ProcurementPortalPreferenceArn": arn}

    def delete(self, principal, body: dict) -> dict:
        arn = body["ProcurementPortalPreferenceArn"]
        account, _ = self._find(principal, arn)
        with self._lock:
            self._prefs[account].pop(arn, None)
            self._secrets.pop(arn, None)
            self._codes.pop(arn, None)
        self.tags.drop(arn)
        return {"ProcurementPortalPreferenceArn": arn}

    def list(self, principal, body: dict) -> dict:
        account = self._account(principal)
        with self._lock:
            items = [
                self._summary(p)
                for p in sorted(
                    self._prefs.get(account, {}).values(),
                    key=lambda p: (p["CreateDate"], p["ProcurementPortalPreferenceArn"]),
                )
            ]
        page, nxt = self._page(items, body, f"prefs:{account}".encode())
        out = {"ProcurementPortalPreferences": page}
        if nxt:
            out["NextToken"] = nxt
        return out

    def update_status(self, principal, body: dict) -> dict:
        arn = body["ProcurementPortalPreferenceArn"]
        _, pref = self._find(principal, arn)
        with self._lock:
            changes = []
            for feature, key in (
                ("EinvoiceDeliveryEnabled", "EinvoiceDeliveryPreferenceStatus"),
                ("PurchaseOrderRetrievalEnabled", "PurchaseOrderRetrievalPreferenceStatus"),
            ):
                status = body.get(key)
                if status is None:
                    continue
                if not pref[feature]:
                    raise ServiceError(
                        "ConflictException",
                        f"{key} cannot be set: {feature} is false",
                        extra={"resourceId": arn, "resourceType": "ProcurementPortalPreference"},
                    )
                current = pref.get(key)
                if status in _NEEDS_VERIFIED and current not in _VERIFIED:
                    raise ServiceError(
                        "ConflictException",
                        f"{key} cannot become {status} from {current}: verify the one-time "
                        "passcode first (SendProcurementPortalValidation, "
                        "VerifyProcurementPortalValidation)",
                        extra={"resourceId": arn, "resourceType": "ProcurementPortalPreference"},
                    )
                changes.append((key, status, body.get(key + "Reason")))
            for key, status, reason in changes:
                pref[key] = status
                if reason is not None:
                    pref[key + "Reason"] = reason
                else:
                    pref.pop(key + "Reason", None)
            if changes:
                pref["Version"] += 1
                pref["LastUpdateDate"] = self.clock.now()
        return {"ProcurementPortalPreferenceArn": arn}

    def send_validation(self, principal, body: dict) -> dict:
        arn = body["ProcurementPortalPreferenceArn"]
        _, pref = self._find(principal, arn)
        with self._lock:
            self._sent += 1
            mac = hmac.new(self._secret, f"otp:{arn}:{self._sent}".encode(), "sha256")
            self._codes[arn] = f"{int(mac.hexdigest()[:8], 16) % 1_000_000:06d}"
        return {"ProcurementPortalPreferenceArn": arn}

    def verify_validation(self, principal, body: dict) -> dict:
        arn = body["ProcurementPortalPreferenceArn"]
        _, pref = self._find(principal, arn)
        with self._lock:
            code = self._codes.get(arn)
            if code is None or not hmac.compare_digest(code, body["Code"]):
                raise validation_error(
                    [("Code", "The code is not the one sent last for this preference")],
                    reason="invalidInput",
                )
            del self._codes[arn]
            for feature, key in (
                ("EinvoiceDeliveryEnabled", "EinvoiceDeliveryPreferenceStatus"),
                ("PurchaseOrderRetrievalEnabled", "PurchaseOrderRetrievalPreferenceStatus"),
            ):
                if pref[feature] and pref.get(key) == "PENDING_VERIFICATION":
                    pref[key] = "VALIDATED"
                    pref[key + "Reason"] = "One-time passcode verified"
            pref["Version"] += 1
            pref["LastUpdateDate"] = self.clock.now()
        return {"ProcurementPortalPreferenceArn": arn}

    def codes(self) -> dict[str, str]:
        """The codes sent and not yet verified (admin endpoint; a sandbox stand-in for e-mail)."""
        with self._lock:
            return dict(self._codes)

    def has(self, arn: str) -> bool:
        account = arn_account(arn)
        return arn in self._prefs.get(account or "", {})

    # -- the portal catalogue -------------------------------------------------------------------
    def portals(self, principal, body: dict) -> dict:
        self._account(principal)
        page, nxt = self._page([copy.deepcopy(p) for p in PORTALS], body, b"portals")
        out = {"ProcurementPortals": page}
        if nxt:
            out["NextToken"] = nxt
        return out

    def suppliers(self, principal, body: dict) -> dict:
        self._account(principal)
        portal = body["PortalIdentifier"]
        if portal not in {p["PortalIdentifier"] for p in PORTALS}:
            raise ServiceError(
                "ResourceNotFoundException", f"Procurement portal {portal!r} was not found"
            )
        page, nxt = self._page(_suppliers(portal), body, f"suppliers:{portal}".encode())
        out = {"ProcurementPortalSuppliers": page}
        if nxt:
            out["NextToken"] = nxt
        return out
