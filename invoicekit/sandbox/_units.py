"""Invoice units and resource tags: the server's state, kept per payer, with its history.

Each unit is a history of configurations (``(epoch seconds, wire dict)``; ``None`` marks its
deletion), seeded from the organization model (:meth:`Organization.unit_histories`) and grown by
CreateInvoiceUnit / UpdateInvoiceUnit / DeleteInvoiceUnit. ``AsOf`` reads the configuration in force
at that moment, so a deleted unit is still visible as it was before its deletion. The sandbox's
invoices are never changed by these operations: AWS uses "the latest configuration at the end of
the month", so a change made today decides the invoices of the current month, which are not issued
yet (see ``docs/sandbox.md``, "Invoice units, profiles and procurement portals").

Time of a change: the sandbox's business clock, ``today`` at 12:00 UTC plus the seconds since the
server started (strictly increasing), so that changes always come after the model's history
whatever the wall clock says.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from invoicekit.sandbox._wire import ServiceError, validation_error

__all__ = ["UnitStore", "TagStore", "BusinessClock", "MAX_UNITS_PER_PAYER", "MAX_TAGS"]

#: Live invoice units a payer may have (a sandbox choice; AWS publishes no number).
MAX_UNITS_PER_PAYER = 500
#: Tags per resource (the model's ``ResourceTagList`` maximum).
MAX_TAGS = 200
#: Page size of ListInvoiceUnits without MaxResults (the model's maximum is 500).
DEFAULT_UNITS_PAGE = 100
#: A ClientToken is remembered this long (as the AWS idempotency window commonly is).
CLIENT_TOKEN_TTL_S = 8 * 3600
UNIT_ARN_PREFIX = "arn:aws:invoicing::"


class BusinessClock:
    """Moments of server-side changes: ``today`` 12:00 UTC plus seconds since start, increasing."""

    def __init__(self, today) -> None:
        self._base = datetime(today.year, today.month, today.day, 12, tzinfo=UTC).timestamp()
        self._started = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Epoch seconds (millisecond precision), never the same twice."""
        with self._lock:
            t = round(self._base + (time.monotonic() - self._started), 3)
            t = max(t, round(self._last + 0.001, 3))
            self._last = t
            return t


def _denied(principal, what: str, resource: str | None = None) -> ServiceError:
    extra = {"resourceName": resource} if resource else {}
    return ServiceError(
        "AccessDeniedException",
        f"User: {principal.arn} is not authorized to {what}",
        extra=extra,
    )


def arn_account(arn: str) -> str | None:
    """The 12-digit account of an ``arn:aws:invoicing::<account>:...`` ARN."""
    parts = arn.split(":")
    return parts[4] if len(parts) >= 6 and parts[4].isdigit() else None


class TagStore:
    """Tags of invoice units and procurement-portal preferences (``ResourceArn`` -> {key: value})."""

    def __init__(self) -> None:
        self._tags: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def ensure(self, arn: str, tags=()) -> None:
        with self._lock:
            self._tags.setdefault(arn, {}).update({t["Key"]: t["Value"] for t in tags})

    def drop(self, arn: str) -> None:
        with self._lock:
            self._tags.pop(arn, None)

    def known(self, arn: str) -> bool:
        return arn in self._tags

    def list(self, arn: str) -> list[dict]:
        with self._lock:
            return [{"Key": k, "Value": v} for k, v in sorted(self._tags[arn].items())]

    def tag(self, arn: str, tags: list[dict]) -> None:
        with self._lock:
            current = self._tags[arn]
            merged = {**current, **{t["Key"]: t["Value"] for t in tags}}
            if len(merged) > MAX_TAGS:
                raise ServiceError(
                    "ServiceQuotaExceededException",
                    f"A resource can have at most {MAX_TAGS} tags; this request would give it "
                    f"{len(merged)}",
                )
            current.clear()
            current.update(merged)

    def untag(self, arn: str, keys: list[str]) -> None:
        with self._lock:
            for k in keys:
                self._tags[arn].pop(k, None)


def check_tags(tags: list[dict] | None, field: str) -> None:
    """Service rules beyond the model: unique keys, no ``aws:`` prefix."""
    if not tags:
        return
    errors = []
    seen = set()
    for i, t in enumerate(tags):
        key = t["Key"]
        if key.lower().startswith("aws:"):
            errors.append((f"{field}[{i}].Key", "Tag keys starting with 'aws:' are reserved"))
        if key in seen:
            errors.append((f"{field}[{i}].Key", "Tag keys must be unique within a request"))
        seen.add(key)
    if errors:
        raise validation_error(errors)


class UnitStore:
    """Every payer's invoice units, their history and their tags.

    Parameters
    ----------
    org : Organization
        Seeds the histories (:meth:`Organization.unit_histories`) and says who is a member of
        which payer's organization (:attr:`Organization.members`).
    tokens : object
        Issues and reads signed NextTokens (``make_token(offset, key)``, ``read_token``).
    tags : TagStore
        Shared with the procurement-portal preferences.
    clock : BusinessClock
    """

    def __init__(self, org, tokens, tags: TagStore, clock: BusinessClock) -> None:
        self.org = org
        self.tokens = tokens
        self.tags = tags
        self.clock = clock
        self._lock = threading.Lock()
        self._hist: dict[str, dict[str, list[tuple[float, dict | None]]]] = {}
        for acct in org.accounts:
            hist = org.unit_histories(acct.account_id)
            self._hist[acct.account_id] = hist
            for arn in hist:
                self.tags.ensure(arn)
        self._members = {p: {m.account_id for m in ms} for p, ms in org.members.items()}
        self._tokens_seen: dict[tuple[str, str, str], tuple[float, str, str]] = {}

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _at(history, moment: float | None):
        """The wire dict in force at ``moment`` (``None``: latest), or ``None``.

        ``moment`` is read to the millisecond (half a millisecond of tolerance): an ``AsOf``
        echoing a ``LastModified`` through a client's float/datetime round trip shows that
        configuration. Changes are at least a millisecond apart (:class:`BusinessClock`).
        """
        current = None
        for t, cfg in history:
            if moment is not None and t > moment + 0.0005:
                break
            current = cfg
        return current

    def _payer(self, principal) -> str:
        if principal.account_id is None or principal.account_id not in self._hist:
            raise _denied(
                principal,
                "manage invoice units: only a payer (management) account has invoice units; "
                "use that account's credentials (profile or role)",
            )
        return principal.account_id

    def _owned(self, principal, arn: str) -> tuple[str, list]:
        payer = self._payer(principal)
        owner = arn_account(arn)
        if owner != payer:
            raise _denied(principal, f"access invoice unit {arn}", arn)
        history = self._hist[payer].get(arn)
        if history is None:
            raise ServiceError(
                "ResourceNotFoundException", f"Invoice unit {arn} was not found",
                extra={"resourceName": arn},
            )  # fmt: skip
        return payer, history

    def _not_found(self, arn: str, when: str = "") -> ServiceError:
        return ServiceError(
            "ResourceNotFoundException",
            f"Invoice unit {arn} was not found{when}",
            extra={"resourceName": arn},
        )

    def _idempotent(self, principal, op: str, body: dict, run: Callable[[], dict]) -> dict:
        token = body.get("ClientToken")
        if token is None:
            return run()
        fingerprint = hashlib.sha256(
            repr(sorted((k, repr(v)) for k, v in body.items() if k != "ClientToken")).encode()
        ).hexdigest()
        key = (principal.account_id or "", op, token)
        now = time.monotonic()
        with self._lock:
            seen = self._tokens_seen.get(key)
        if seen and now - seen[0] < CLIENT_TOKEN_TTL_S:
            if seen[1] != fingerprint:
                raise validation_error(
                    [("ClientToken", "ClientToken was already used with different parameters")],
                    reason="invalidInput",
                )
            return {"InvoiceUnitArn": seen[2]}
        out = run()
        with self._lock:
            self._tokens_seen[key] = (now, fingerprint, out["InvoiceUnitArn"])
        return out

    def _check_rule(
        self, payer: str, rule: dict, field: str, exclude_arn: str | None, receiver: str | None
    ) -> tuple[list[str], list[str]]:
        linked = list(dict.fromkeys(rule.get("LinkedAccounts") or []))
        sources = list(dict.fromkeys(rule.get("BillSourceAccounts") or []))
        if linked and sources:
            raise validation_error(
                [(f"{field}", "LinkedAccounts and BillSourceAccounts cannot both be set")],
                reason="mutualExclusionError",
            )
        members = self._members.get(payer, set())
        strangers = [a for a in linked if a not in members]
        if strangers:
            raise validation_error(
                [
                    (f"{field}.LinkedAccounts", f"Account {a} is not a member of the organization")
                    for a in strangers
                ],
                reason="nonMemberPresent",
            )
        inside = [a for a in sources if a in members]
        if inside:
            raise validation_error(
                [
                    (
                        f"{field}.BillSourceAccounts",
                        f"Account {a} is a member of the organization; use LinkedAccounts",
                    )
                    for a in inside
                ],
                reason="accountMembershipError",
            )
        if receiver is not None and receiver not in members:
            raise validation_error(
                [("InvoiceReceiver", f"Account {receiver} is not a member of the organization")],
                reason="nonMemberPresent",
            )
        taken = {}
        for arn, history in self._hist[payer].items():
            cfg = self._at(history, None)
            if cfg is None or arn == exclude_arn:
                continue
            for a in cfg["Rule"].get("LinkedAccounts", []) + cfg["Rule"].get(
                "BillSourceAccounts", []
            ):
                taken[a] = cfg["Name"]
        clash = [a for a in linked + sources if a in taken]
        if clash:
            raise validation_error(
                [
                    (field, f"Account {a} already belongs to invoice unit {taken[a]!r}")
                    for a in clash
                ],
                reason="accountMembershipError",
            )
        return linked, sources

    # -- operations ---------------------------------------------------------------------------
    def get(self, principal, body: dict) -> dict:
        arn = body["InvoiceUnitArn"]
        _, history = self._owned(principal, arn)
        as_of = body.get("AsOf")
        with self._lock:
            cfg = self._at(history, as_of)
        if cfg is None:
            when = " at the requested AsOf" if as_of is not None else " (it was deleted)"
            raise self._not_found(arn, when)
        return copy.deepcopy(cfg)

    def list(self, principal, body: dict) -> dict:
        payer = self._payer(principal)
        filters = body.get("Filters") or {}
        as_of = body.get("AsOf")
        names = set(filters.get("Names") or ())
        receivers = set(filters.get("InvoiceReceivers") or ())
        accounts = set(filters.get("Accounts") or ())
        sources = set(filters.get("BillSourceAccounts") or ())
        out = []
        with self._lock:
            for history in self._hist[payer].values():
                cfg = self._at(history, as_of)
                if cfg is None:
                    continue
                rule = cfg["Rule"]
                if names and cfg["Name"] not in names:
                    continue
                if receivers and cfg["InvoiceReceiver"] not in receivers:
                    continue
                if accounts and not accounts & set(rule.get("LinkedAccounts", ())):
                    continue
                if sources and not sources & set(rule.get("BillSourceAccounts", ())):
                    continue
                out.append(copy.deepcopy(cfg))
        out.sort(key=lambda u: (u["Name"], u["InvoiceUnitArn"]))
        key = repr(
            (payer, sorted(names), sorted(receivers), sorted(accounts), sorted(sources), as_of)
        ).encode()
        offset = 0
        if body.get("NextToken") is not None:
            offset = self.tokens.read_token(body["NextToken"], key)
            if not 0 <= offset <= len(out):
                raise self.tokens.invalid()
        size = body.get("MaxResults") or DEFAULT_UNITS_PAGE
        page = {"InvoiceUnits": out[offset : offset + size]}
        if offset + size < len(out):
            page["NextToken"] = self.tokens.make_token(offset + size, key)
        return page

    def create(self, principal, body: dict) -> dict:
        payer = self._payer(principal)
        check_tags(body.get("ResourceTags"), "ResourceTags")

        def run() -> dict:
            with self._lock:
                live = {
                    self._at(h, None)["Name"]: arn
                    for arn, h in self._hist[payer].items()
                    if self._at(h, None) is not None
                }
                if body["Name"] in live:
                    raise validation_error(
                        [("Name", f"An invoice unit named {body['Name']!r} already exists")],
                        reason="duplicateInvoiceUnit",
                    )
                if len(live) >= MAX_UNITS_PER_PAYER:
                    raise validation_error(
                        [("Name", f"A payer can have at most {MAX_UNITS_PER_PAYER} invoice units")],
                        reason="maxInvoiceUnitsExceeded",
                    )
                linked, sources = self._check_rule(
                    payer, body["Rule"], "Rule", None, body["InvoiceReceiver"]
                )
                now = self.clock.now()
                digest = hashlib.sha256(f"{payer}:{body['Name']}:{now}".encode()).hexdigest()
                arn = f"{UNIT_ARN_PREFIX}{payer}:invoice-unit/{digest[:8]}"
                while arn in self._hist[payer]:
                    digest = hashlib.sha256(digest.encode()).hexdigest()
                    arn = f"{UNIT_ARN_PREFIX}{payer}:invoice-unit/{digest[:8]}"
                rule = {"LinkedAccounts": sorted(linked)}
                if sources:
                    rule["BillSourceAccounts"] = sorted(sources)
                cfg = {
                    "InvoiceUnitArn": arn,
                    "InvoiceReceiver": body["InvoiceReceiver"],
                    "Name": body["Name"],
                    "Description": body.get("Description", ""),
                    "TaxInheritanceDisabled": bool(body.get("TaxInheritanceDisabled", False)),
                    "Rule": rule,
                    "LastModified": now,
                }
                self._hist[payer][arn] = [(now, cfg)]
            self.tags.ensure(arn, body.get("ResourceTags") or ())
            return {"InvoiceUnitArn": arn}

        return self._idempotent(principal, "CreateInvoiceUnit", body, run)

    def update(self, principal, body: dict) -> dict:
        arn = body["InvoiceUnitArn"]
        payer, history = self._owned(principal, arn)

        def run() -> dict:
            with self._lock:
                cfg = self._at(history, None)
                if cfg is None:
                    raise self._not_found(arn, " (it was deleted)")
                new = copy.deepcopy(cfg)
                if "Description" in body and body["Description"] is not None:
                    new["Description"] = body["Description"]
                if body.get("TaxInheritanceDisabled") is not None:
                    new["TaxInheritanceDisabled"] = body["TaxInheritanceDisabled"]
                if body.get("Rule") is not None:
                    linked, sources = self._check_rule(payer, body["Rule"], "Rule", arn, None)
                    new["Rule"] = {"LinkedAccounts": sorted(linked)}
                    if sources:
                        new["Rule"]["BillSourceAccounts"] = sorted(sources)
                now = self.clock.now()
                new["LastModified"] = now
                history.append((now, new))
            return {"InvoiceUnitArn": arn}

        return self._idempotent(principal, "UpdateInvoiceUnit", body, run)

    def delete(self, principal, body: dict) -> dict:
        arn = body["InvoiceUnitArn"]
        _, history = self._owned(principal, arn)

        def run() -> dict:
            with self._lock:
                if self._at(history, None) is None:
                    raise self._not_found(arn, " (it was deleted)")
                history.append((self.clock.now(), None))
            self.tags.drop(arn)
            return {"InvoiceUnitArn": arn}

        return self._idempotent(principal, "DeleteInvoiceUnit", body, run)

    def live(self, payer: str, arn: str) -> bool:
        """Whether ``arn`` is one of ``payer``'s units and not deleted."""
        history = self._hist.get(payer, {}).get(arn)
        return history is not None and self._at(history, None) is not None
