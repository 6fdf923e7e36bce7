"""Reconciliation findings in plain sentences, with the account's name and what to do.

:func:`explain_findings` turns the findings of :func:`invoicekit.reconcile_invoices` (one
line of log-like text each) into sentences a controller or a CFO reads: the account by name
and id, the billing month in words, the amounts as booked
(:func:`invoicekit._money.format_money`), and the action that resolves the finding. The
executive summary and the notebooks show these sentences; ``findings.csv`` keeps the exact
columns.

Examples
--------
>>> from invoicekit.reconcile import reconcile_invoices
>>> from invoicekit.reconcile.explain import explain_findings
>>> from invoicekit.sandbox.org import build_organization
>>> from invoicekit.schema import to_frame
>>> df = to_frame(build_organization(today="2026-11-25", anomalies=True).invoices)
>>> plain = explain_findings(reconcile_invoices(df), accounts=df)
>>> list(plain.columns[:5])
['severity', 'account', 'invoice', 'sentence', 'action']
>>> plain.iloc[0]["severity"]
'error'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from invoicekit._money import format_money
from invoicekit._na import is_missing
from invoicekit.months import month_str, month_words

__all__ = ["EXPLAIN_COLUMNS", "explain_findings", "month_words"]

#: Columns of :func:`explain_findings`'s frame, in order.
EXPLAIN_COLUMNS = [
    "severity",
    "account",
    "invoice",
    "sentence",
    "action",
    "check",
    "account_id",
    "billing_period",
    "finding_id",
]

_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
_VIEW_WORDS = {"base": "base currency", "payment": "payment currency", "tax": "tax currency"}
_ADJUSTS = re.compile(r"adjusts invoice (\S+), which")
_COMMERCIAL = re.compile(r"commercial invoice (\S+), which")
_CHANGED = re.compile(r"changed from (\S+) to (\S+):")
_CONVERTED = re.compile(r"converted from (\S+),")
_CANCELLED = re.compile(r"cancelled (invoice|credit memo|tax invoice|payment receipt) ")
_RATE = re.compile(r" x (\d[\d.]*) by more")


def _names(accounts: Any) -> dict[str, str]:
    """Account id → name from a mapping, a frame with account_id/account_name, or a Fleet."""
    if accounts is None:
        return {}
    if isinstance(accounts, pd.DataFrame):
        if not {"account_id", "account_name"} <= set(accounts.columns):
            return {}
        pairs = accounts[["account_id", "account_name"]].dropna().drop_duplicates("account_id")
        return {
            str(a): str(n) for a, n in zip(pairs["account_id"], pairs["account_name"], strict=True)
        }
    if isinstance(accounts, Mapping):
        return {str(k): str(v) for k, v in accounts.items() if not is_missing(v) and v}
    listed = getattr(accounts, "accounts", accounts)  # a Fleet, or PayerAccounts
    out = {}
    for a in listed:
        account_id = getattr(a, "id", None) or getattr(a, "account_id", None)
        name = getattr(a, "name", None)
        if account_id and name:
            out[str(account_id)] = str(name)
    return out


def _money(amount: Any, currency: Any) -> str:
    if is_missing(amount):
        return "–"
    return format_money(amount, None if is_missing(currency) else str(currency), code=True)


#: A completeness finding of one invoice unit names it: ``no invoice for invoice unit 'X' in``.
_UNIT_MESSAGE = re.compile(r"no invoice for invoice unit '(.*)' in \d{4}-\d{2}")


def _explain(f: Mapping[str, Any], who: str) -> tuple[str, str]:
    """(sentence, action) for one finding."""
    check, sev = str(f["check"]), str(f["severity"])
    inv = "" if is_missing(f.get("invoice_id")) else str(f["invoice_id"])
    month = month_words(f.get("billing_period"))
    cur = f.get("currency")
    view = _VIEW_WORDS.get(str(f.get("view")), str(f.get("view") or ""))
    exp, act, diff = f.get("expected"), f.get("actual"), f.get("difference")
    msg = str(f.get("message") or "")
    of = f"{who}, {month}" if month else who
    if check == "completeness":
        unit = _UNIT_MESSAGE.search(msg)
        if unit:
            return (
                f"No invoice for the invoice unit '{unit.group(1)}' of {who} for {month}.",
                f"Fetch {month} again; if it is still missing, ask AWS Support for the unit's "
                "invoice.",
            )
        if "the accounts in no invoice unit" in msg:
            return (
                f"No invoice for the accounts of {who} that are in no invoice unit for {month}.",
                f"Fetch {month} again; if it is still missing, ask AWS Support for the invoice.",
            )
        if "has no row of" in msg:
            return (
                f"No invoice for {who} for {month}: the data does not cover {month} at all.",
                f"Load {month} (fetch it) before closing it.",
            )
        return (
            f"No invoice for {who} for {month}.",
            f"Fetch {month} again; if it is still missing, ask AWS Support for the invoice.",
        )
    if check == "arithmetic_total":
        return (
            f"Invoice {inv} ({of}) does not add up: its {view} total {_money(act, cur)} is "
            f"not the amount before tax plus taxes ({_money(exp, cur)}), "
            f"{_money(diff, cur)} apart.",
            "Do not book it: ask AWS for a corrected invoice.",
        )
    if check == "arithmetic_before_tax":
        return (
            f"Invoice {inv} ({of}) does not add up: its {view} amount before tax "
            f"{_money(act, cur)} is not subtotal, discounts and fees "
            f"({_money(exp, cur)}), {_money(diff, cur)} apart.",
            "Do not book it: ask AWS for a corrected invoice.",
        )
    if check == "discount_sign":
        return (
            f"Invoice {inv} ({of}) reports its discount as a positive amount; it balances "
            "only with the other sign convention.",
            "Flip this source's discount sign before adding discounts up.",
        )
    if check == "exchange":
        if sev == "error":
            rate = _RATE.search(msg)
            at = f" at the stated rate {rate.group(1)}" if rate else ""
            return (
                f"Invoice {inv} ({of}): the {view} amounts do not match the converted "
                f"amounts{at}; the total is {_money(act, cur)} where the conversion gives "
                f"{_money(exp, cur)}.",
                "Ask AWS which amount is right before paying it.",
            )
        src = _CONVERTED.search(msg)
        return (
            f"Invoice {inv} ({of}): the {view} amounts were converted"
            f"{' from ' + src.group(1) if src else ''}, but no other amount of the invoice is "
            "in that currency, so the conversion cannot be checked.",
            "Nothing to correct; check the rate on the PDF if the amount looks wrong.",
        )
    if check == "duplicate_invoice":
        if not is_missing(exp) and not is_missing(act) and exp != act:
            what = f" (totals {_money(exp, cur)} and {_money(act, cur)})"
        else:
            what = ""
        return (
            f"Invoice {inv} ({of}) was received twice with different contents{what}.",
            "Keep the right version (usually the latest) before booking; fetch it again to "
            "confirm.",
        )
    if check == "credit_memo_original":
        orig = _ADJUSTS.search(msg)
        if orig is None:
            return (
                f"Credit memo {inv} ({of}) names no invoice it adjusts.",
                "Find the invoice it credits (ask AWS) before booking it.",
            )
        return (
            f"Credit memo {inv} ({of}) adjusts invoice {orig.group(1)}, which is not in this data.",
            f"Load the billing month of invoice {orig.group(1)} to match the credit memo.",
        )
    if check == "credit_memo_net":
        if sev == "warning":
            return (
                f"Invoice {inv} ({of}) is credited more than invoiced: "
                f"{_money(exp, cur)} with credit memos of {_money(diff, cur)}, net "
                f"{_money(act, cur)}.",
                "Check the credit memos with AWS before booking them.",
            )
        if is_missing(act):
            return (
                f"Invoice {inv} ({of}) has credit memos in another currency ({_money(diff, cur)}).",
                "For information: net it by hand in the invoice's currency.",
            )
        return (
            f"Invoice {inv} ({of}) {_money(exp, cur)} has credit memos of "
            f"{_money(diff, cur)}: net {_money(act, cur)}.",
            "For information: book the credit memos against this invoice.",
        )
    if check == "tax_invoice_commercial":
        com = _COMMERCIAL.search(msg)
        ref = com.group(1) if com else "its commercial invoice"
        return (
            f"Tax invoice {inv} ({of}) restates commercial invoice {ref}, which is not in this "
            "data.",
            "Load the commercial invoice's billing month before booking the tax invoice.",
        )
    if check == "tax_authority_cancelled":
        kind = _CANCELLED.search(msg)
        return (
            f"The tax authority cancelled {kind.group(1) if kind else 'document'} {inv} ({of}).",
            "Do not book or pay it; expect a replacement document from AWS.",
        )
    if check == "payment_currency_change":
        ch = _CHANGED.search(msg)
        old, new = (ch.group(1), ch.group(2)) if ch else ("another currency", str(cur))
        return (
            f"{who} pays in {new} instead of {old} from {month}.",
            "Check the bank details accounts payable pays to.",
        )
    return (f"{of}: {msg}" if msg else of, "")


def explain_findings(findings: pd.DataFrame, accounts: Any = None) -> pd.DataFrame:
    """The findings as plain sentences: errors first, each with what to do.

    Parameters
    ----------
    findings : pandas.DataFrame
        :func:`invoicekit.reconcile_invoices` output (``finding_id`` kept when present).
    accounts : mapping, DataFrame or Fleet, optional
        Where account names come from: ``{account_id: name}``, the invoice summaries
        (``account_id``/``account_name`` columns) or an :class:`invoicekit.Fleet`. Without
        it the accounts are named by id.

    Returns
    -------
    pandas.DataFrame
        :data:`EXPLAIN_COLUMNS`: ``severity``, ``account`` ("Retail EU (100000000001)"),
        ``invoice`` (id or ""), ``sentence`` (one plain sentence: what is wrong, with amounts
        as booked and the month in words), ``action`` (what resolves it), then ``check``,
        ``account_id``, ``billing_period`` (``"YYYY-MM"``) and ``finding_id`` (or "").
        Sorted errors, warnings, info; within a severity in the findings' order.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame([{"check": "completeness", "severity": "error",
    ...     "account_id": "100000000001", "invoice_id": None, "billing_period": "2026-10",
    ...     "view": None, "currency": None, "expected": None, "actual": None,
    ...     "difference": None, "message": "no INVOICE for account 100000000001 ..."}])
    >>> row = explain_findings(f, {"100000000001": "Retail EU"}).iloc[0]
    >>> row["sentence"]
    'No invoice for Retail EU (100000000001) for October 2026.'
    >>> row["action"]
    'Fetch October 2026 again; if it is still missing, ask AWS Support for the invoice.'
    """
    names = _names(accounts)
    rows = []
    records = findings.to_dict("records") if len(findings) else []
    for order, f in enumerate(records):
        account_id = "" if is_missing(f.get("account_id")) else str(f["account_id"])
        name = names.get(account_id)
        who = f"{name} ({account_id})" if name else (f"account {account_id}" or "an account")
        label = f"{name} ({account_id})" if name else account_id
        sentence, action = _explain(f, who)
        rows.append(
            {
                "severity": str(f.get("severity")),
                "account": label,
                "invoice": "" if is_missing(f.get("invoice_id")) else str(f["invoice_id"]),
                "sentence": sentence,
                "action": action,
                "check": str(f.get("check")),
                "account_id": account_id,
                "billing_period": month_str(f.get("billing_period")),
                "finding_id": "" if is_missing(f.get("finding_id")) else str(f.get("finding_id")),
                "_rank": (_SEVERITY_RANK.get(str(f.get("severity")), 3), order),
            }
        )
    rows.sort(key=lambda r: r["_rank"])
    out = pd.DataFrame(rows, columns=[*EXPLAIN_COLUMNS, "_rank"]).drop(columns="_rank")
    return out.reset_index(drop=True)
