"""The reconciliation checks: each one a pure function of the invoice DataFrame.

:func:`reconcile_invoices` runs every check of :data:`CHECKS` and returns the findings as one
DataFrame (:data:`FINDING_COLUMNS`). Money stays exact: the arithmetic runs on pyarrow decimal
arrays (or Python :class:`~decimal.Decimal` for the few rows that become findings), never on
floats, and no amount is ever added to an amount of another currency. Amounts in messages are
written by :func:`invoicekit._money.format_money` (half-up to the currency's minor unit, as
booked); the ``expected``/``actual``/``difference`` columns keep every digit.

Sign conventions (the sandbox follows them):

* discounts are reported **negative**, so ``total_before_tax = subtotal + discounts + fees``
  and ``total = total_before_tax + taxes``;
* credit memos carry negative amounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from invoicekit import documents
from invoicekit._money import MONEY_TYPE, format_money, minor_unit, quantize
from invoicekit._na import is_missing
from invoicekit.reconcile._arrow import (
    NAT,
    WIDE_MONEY,
    WIDE_RATE,
    ZERO,
    Columns,
    add,
    arrow,
    check_columns,
    invoice_counts,
    mask,
    minus,
    month_bounds,
    month_labels,
    month_ordinals,
    not_equal,
    periods_from_ordinals,
    required_columns,
)
from invoicekit.schema import COMPONENTS, VIEWS

__all__ = [
    "CHECKS",
    "FINDING_COLUMNS",
    "SEVERITIES",
    "Check",
    "Coverage",
    "coverage",
    "finding_ids",
    "reconcile_invoices",
]

#: Columns of the findings DataFrame returned by :func:`reconcile_invoices`, in order.
FINDING_COLUMNS = [
    "check",
    "severity",
    "account_id",
    "invoice_id",
    "billing_period",
    "view",
    "currency",
    "expected",
    "actual",
    "difference",
    "message",
    "finding_id",
]

#: Severities, most serious first. Only ``error`` makes ``invoicekit reconcile`` exit 1.
SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Check:
    """One reconciliation check: its stable name, severity and what it means."""

    name: str
    severity: str
    meaning: str


#: Every check :func:`reconcile_invoices` runs, by stable name, in report order. ``severity`` is the
#: usual one; ``credit_memo_net`` is raised to ``warning`` when an invoice is over-credited.
CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check(
            "arithmetic_total", "error", "total = total_before_tax + taxes, per invoice and view"
        ),
        Check(
            "arithmetic_before_tax",
            "error",
            "total_before_tax = subtotal + discounts + fees (discounts negative), per invoice and view",
        ),
        Check(
            "discount_sign",
            "warning",
            "a discount reported positive: the view balances only as subtotal - discounts + fees",
        ),
        Check(
            "exchange",
            "error",
            "each component of a converted view is within one minor unit of the source view x rate",
        ),
        Check(
            "completeness",
            "error",
            "an account x billing period without an INVOICE; with invoice units, each unit's "
            "invoice and the payer's default invoice are expected separately",
        ),
        Check("duplicate_invoice", "error", "one invoice id seen twice with different content"),
        Check(
            "credit_memo_original",
            "warning",
            "a credit memo's OriginalInvoiceId is not in the data",
        ),
        Check("credit_memo_net", "info", "net position of an invoice and its credit memos"),
        Check(
            "tax_invoice_commercial",
            "warning",
            "a tax invoice's CommercialInvoiceId is not in the data",
        ),
        Check("tax_authority_cancelled", "warning", "the tax authority status is CANCELLED"),
        Check("payment_currency_change", "info", "an account's payment currency changed"),
    )
}


_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_CHECK_RANK = {name: i for i, name in enumerate(CHECKS)}

_FINDINGS_SCHEMA = pa.schema(
    [
        ("check", pa.string()),
        ("severity", pa.string()),
        ("account_id", pa.string()),
        ("invoice_id", pa.string()),
        ("billing_period", pa.int64()),  # month ordinal; becomes period[M]
        ("view", pa.string()),
        ("currency", pa.string()),
        ("expected", MONEY_TYPE),
        ("actual", MONEY_TYPE),
        ("difference", MONEY_TYPE),
        ("message", pa.string()),
    ]
)


# --------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------


class _Findings:
    """Collects findings as arrow tables with :data:`_FINDINGS_SCHEMA`."""

    def __init__(self) -> None:
        self.parts: list[pa.Table] = []

    def add(self, check: str, severity: str | Sequence[str], **cols: Any) -> None:
        n = len(cols["message"])
        if n == 0:
            return
        arrays = []
        for field in _TABLE_SCHEMA:
            if field.name == "check":
                value: Any = check
            elif field.name == "severity":
                value = severity
            else:
                value = cols.get(field.name)
            arrays.append(_as_array(value, n, field.type))
        self.parts.append(pa.Table.from_arrays(arrays, schema=_TABLE_SCHEMA))

    def frame(self) -> pd.DataFrame:
        table = pa.concat_tables(self.parts) if self.parts else _TABLE_SCHEMA.empty_table()
        months = table.column("billing_period").to_numpy(zero_copy_only=False)
        months = np.where(pd.isna(months), NAT, months).astype(np.int64)
        table = table.drop_columns(["billing_period"])
        out = table.to_pandas(types_mapper=pd.ArrowDtype)
        out.insert(4, "billing_period", periods_from_ordinals(months))
        if len(out):
            out["_s"] = out["severity"].map(_SEVERITY_RANK).astype("int64")
            out["_c"] = out["check"].map(_CHECK_RANK).astype("int64")
            out = out.sort_values(
                ["_s", "_c", "account_id", "billing_period", "invoice_id", "view"],
                kind="stable",
                na_position="first",
            ).drop(columns=["_s", "_c"])
        out = out.reset_index(drop=True)
        out["finding_id"] = pd.array(finding_ids(out).tolist(), dtype=pd.ArrowDtype(pa.string()))
        return out[FINDING_COLUMNS]


#: Internal column of a finding's table: what makes its id unique beyond account and period
#: (the invoice unit of a per-unit completeness finding); not a column of the findings.
_ID_PART = "_id_part"
_TABLE_SCHEMA = _FINDINGS_SCHEMA.append(pa.field(_ID_PART, pa.string()))


def _as_array(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    if value is None:
        return pa.nulls(n, type_)
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        return value if value.type == type_ else value.cast(type_)
    if isinstance(value, np.ndarray):
        if type_ == pa.int64():
            return pa.array(value.astype(np.int64), mask=value == NAT, type=type_)
        return pa.array(value.tolist(), type=type_)
    if isinstance(value, (list, tuple)):
        return pa.array(list(value), type=type_)
    return pa.array([value] * n, type=type_)


def _arithmetic(cols: Columns, rows: np.ndarray, out: _Findings) -> None:
    account = cols.string("account_id")
    invoice = cols.string("invoice_id")
    months = cols.months()
    for v in VIEWS:
        currency = cols.string(f"{v}_currency")
        total = cols.money(f"{v}_total")
        before = cols.money(f"{v}_total_before_tax")
        subtotal = cols.money(f"{v}_subtotal")
        discounts = pc.fill_null(cols.money(f"{v}_discounts"), ZERO)
        taxes = pc.fill_null(cols.money(f"{v}_taxes"), ZERO)
        fees = pc.fill_null(cols.money(f"{v}_fees"), ZERO)
        present = rows & mask(pc.is_valid(currency))

        # total = total_before_tax + taxes
        expected_total = add(before, taxes)
        bad = present & mask(not_equal(total, expected_total))
        if bad.any():
            idx = np.flatnonzero(bad)
            exp = expected_total.take(idx).cast(MONEY_TYPE)
            act = total.take(idx)
            cur = currency.take(idx).to_pylist()
            e, a = exp.to_pylist(), act.to_pylist()
            out.add(
                "arithmetic_total",
                "error",
                account_id=account.take(idx),
                invoice_id=invoice.take(idx),
                billing_period=months[idx],
                view=v,
                currency=cur,
                expected=exp,
                actual=act,
                difference=minus(act, exp),
                message=[
                    f"{v} total {format_money(x, c, code=True)} is not total before tax + taxes "
                    f"= {format_money(y, c)}"
                    for x, y, c in zip(a, e, cur, strict=True)
                ],
            )

        # total_before_tax = subtotal + discounts + fees (discounts negative)
        expected_before = add(add(subtotal, discounts).cast(WIDE_MONEY), fees)
        bad = present & mask(not_equal(before, expected_before))
        if not bad.any():
            continue
        other = pc.add(
            pc.subtract(subtotal.cast(WIDE_MONEY), discounts.cast(WIDE_MONEY)),
            fees.cast(WIDE_MONEY),
        )
        other_balances = mask(pc.equal(before.cast(WIDE_MONEY), other)) & mask(
            pc.not_equal(discounts, ZERO)
        )
        for check, m in (
            ("discount_sign", bad & other_balances),
            ("arithmetic_before_tax", bad & ~other_balances),
        ):
            if not m.any():
                continue
            idx = np.flatnonzero(m)
            exp = expected_before.take(idx).cast(MONEY_TYPE)
            act = before.take(idx)
            cur = currency.take(idx).to_pylist()
            e, a = exp.to_pylist(), act.to_pylist()
            disc = discounts.take(idx).to_pylist()
            if check == "discount_sign":
                msgs = [
                    f"{v} discounts {format_money(d, c, code=True)} follow the other sign "
                    f"convention: total before tax {format_money(x, c)} balances only as "
                    "subtotal - discounts + fees; invoicekit expects discounts signed to add "
                    f"(expected {format_money(y, c)}); "
                    "flip this source's discount sign before summing discounts"
                    for x, y, d, c in zip(a, e, disc, cur, strict=True)
                ]
            else:
                msgs = [
                    f"{v} total before tax {format_money(x, c, code=True)} is not subtotal "
                    f"+ discounts + fees = {format_money(y, c)} (nor with the discount sign "
                    "flipped)"
                    for x, y, c in zip(a, e, cur, strict=True)
                ]
            out.add(
                check,
                CHECKS[check].severity,
                account_id=account.take(idx),
                invoice_id=invoice.take(idx),
                billing_period=months[idx],
                view=v,
                currency=cur,
                expected=exp,
                actual=act,
                difference=minus(act, exp),
                message=msgs,
            )


def _tolerance(currency: pa.Array, type_: pa.DataType) -> pa.Array:
    """One minor unit of each row's currency (JPY 1, USD 0.01, KWD 0.001) as ``type_``."""
    codes = pc.unique(currency).drop_null()
    units = pa.array([minor_unit(c) for c in codes.to_pylist()], type=pa.decimal128(20, 10))
    where = pc.index_in(currency, value_set=codes)
    return units.take(where).cast(type_)


def _exchange(cols: Columns, rows: np.ndarray, out: _Findings) -> None:
    account = cols.string("account_id")
    invoice = cols.string("invoice_id")
    months = cols.months()
    base_currency = cols.string("base_currency")
    for v in VIEWS:
        rate = cols.rate(f"{v}_fx_rate")
        target = cols.string(f"{v}_currency")
        source_code = pc.coalesce(cols.string(f"{v}_fx_source"), base_currency)
        todo = rows & mask(pc.is_valid(rate)) & mask(pc.is_valid(target))
        for s in (x for x in VIEWS if x != v):
            pair = todo & mask(pc.equal(cols.string(f"{s}_currency"), source_code))
            todo &= ~pair
            if pair.any():
                _exchange_pair(cols, v, s, np.flatnonzero(pair), out, account, invoice, months)
        # A stated source currency that no other view carries cannot be verified.
        unverifiable = todo & mask(pc.not_equal(source_code, target))
        if unverifiable.any():
            idx = np.flatnonzero(unverifiable)
            src = source_code.take(idx).to_pylist()
            cur = target.take(idx).to_pylist()
            out.add(
                "exchange",
                "warning",
                account_id=account.take(idx),
                invoice_id=invoice.take(idx),
                billing_period=months[idx],
                view=v,
                currency=cur,
                message=[
                    f"{v} view ({c}) was converted from {sc}, but no view of this invoice is in "
                    f"{sc}: the conversion cannot be verified"
                    for sc, c in zip(src, cur, strict=True)
                ],
            )


def _exchange_pair(
    cols: Columns,
    v: str,
    s: str,
    idx: np.ndarray,
    out: _Findings,
    account: pa.Array,
    invoice: pa.Array,
    months: np.ndarray,
) -> None:
    rate = cols.rate(f"{v}_fx_rate").take(idx).cast(WIDE_RATE)
    target = cols.string(f"{v}_currency").take(idx)
    tolerance = None
    exact: dict[str, pa.Array] = {}
    actual: dict[str, pa.Array] = {}
    failing: dict[str, np.ndarray] = {}
    for c in COMPONENTS:
        src = pc.fill_null(cols.money(f"{s}_{c}").take(idx), ZERO).cast(WIDE_MONEY)
        tgt = pc.fill_null(cols.money(f"{v}_{c}").take(idx), ZERO)
        product = pc.multiply(src, rate)
        diff = pc.abs(pc.subtract(tgt.cast(WIDE_MONEY), product))
        if tolerance is None:
            tolerance = _tolerance(target, diff.type)
        failing[c] = mask(pc.greater(diff, tolerance))
        exact[c], actual[c] = product, tgt
    any_fail = np.logical_or.reduce([failing[c] for c in COMPONENTS])
    if not any_fail.any():
        return
    sub = np.flatnonzero(any_fail)
    cur = target.take(sub).to_pylist()
    src_cur = cols.string(f"{s}_currency").take(idx[sub]).to_pylist()
    rates = rate.take(sub).to_pylist()
    exp_l, act_l, msg_l = [], [], []
    table = {
        c: (exact[c].take(sub).to_pylist(), actual[c].take(sub).to_pylist()) for c in COMPONENTS
    }
    for j, i in enumerate(sub):
        bad = [c for c in COMPONENTS if failing[c][i]]
        parts = []
        for c in bad:
            e = quantize(table[c][0][j], cur[j])
            parts.append(f"{c} {format_money(table[c][1][j], cur[j])} vs {format_money(e, cur[j])}")
        first = bad[0]
        e = quantize(table[first][0][j], cur[j])
        a = table[first][1][j]
        exp_l.append(e)
        act_l.append(a)
        msg_l.append(
            f"{v} view ({cur[j]}) differs from {s} view ({src_cur[j]}) x {rates[j].normalize():f} "
            f"by more than one minor unit ({format_money(minor_unit(cur[j]), cur[j], code=True)}): "
            + "; ".join(parts)
        )
    out.add(
        "exchange",
        "error",
        account_id=account.take(idx[sub]),
        invoice_id=invoice.take(idx[sub]),
        billing_period=months[idx[sub]],
        view=v,
        currency=cur,
        expected=exp_l,
        actual=act_l,
        difference=[a - e for a, e in zip(act_l, exp_l, strict=True)],
        message=msg_l,
    )


def _completeness(
    cols: Columns,
    lo: int | None,
    hi: int | None,
    out: _Findings,
    units: pd.DataFrame | None = None,
) -> None:
    checked, unit_findings = _unit_payers(cols, units, lo, hi)
    if unit_findings:
        acc_u, months_u, messages_u, parts_u = (list(x) for x in zip(*unit_findings, strict=True))
        out.add(
            "completeness",
            "error",
            account_id=acc_u,
            billing_period=np.asarray(months_u, dtype=np.int64),
            message=messages_u,
            **{_ID_PART: parts_u},
        )
    grid, accounts, lo0, _hi0 = invoice_counts(cols, lo, hi)
    for a, payer in enumerate(accounts):
        for month in checked.get(payer, ()):
            grid[a, month - lo0] = 1  # checked per invoice unit above
    a_idx, m_idx = np.nonzero(grid == 0)
    if len(a_idx) == 0:
        return
    names = (
        dict(
            zip(
                cols.string("account_id").to_pylist(),
                cols.string("account_name").to_pylist(),
                strict=True,
            )
        )
        if "account_name" in cols.df.columns
        else {}
    )
    months = (m_idx + lo0).astype(np.int64)
    acc = [accounts[i] for i in a_idx]
    labels = month_labels(months)
    # A month without any row at all is not in the data: say so rather than "missing".
    held = cols.months()
    held = np.unique(held[held != NAT])
    absent = ~np.isin(months, held)
    span = "..".join(month_labels([held.min(), held.max()])) if len(held) else ""
    messages = []
    for a, p, out_of_data in zip(acc, labels, absent, strict=True):
        who = f"account {a}{f' ({names[a]})' if names.get(a) else ''}"
        if out_of_data:
            where = f"it holds {span}" if span else "it holds no billing month"
            messages.append(
                f"no INVOICE for {who} for billing period {p}: the data has no row of {p} at all "
                f"({where}); load {p} before checking it"
            )
        else:
            messages.append(
                f"no INVOICE for {who} for billing period {p}: fetch it again or ask AWS"
            )
    out.add("completeness", "error", account_id=acc, billing_period=months, message=messages)


def _unit_payers(
    cols: Columns, units: pd.DataFrame | None, lo: int | None, hi: int | None
) -> tuple[dict[str, set[int]], list[tuple[str, int, str, str | None]]]:
    """The payers whose completeness is checked per invoice unit, and the per-unit findings.

    Returns ``(checked, findings)``: ``checked`` maps each payer account checked per unit to
    the months so checked (the account-level rule skips those), ``findings`` holds the per-unit
    completeness findings as ``(account, month ordinal, message, id part)``.

    The rule: for a payer with invoice units, every month of the range expects one monthly
    INVOICE (``bill_type`` ANNIVERSARY, or unknown) per unit that had a member at the end of
    the month, as configured then (:func:`invoicekit.units.configurations`; a unit created or
    changed after the month's end, without a snapshot of the month's end, is not expected),
    and one default invoice for the payer's accounts in no unit (unless the payer itself is in
    a unit). An INVOICE counts for the unit its ``bill_source_account`` was in
    (:func:`invoicekit.units.unit_of_invoice`). A payer-month with an INVOICE that names no
    bill source account (a file written before ``bill_source_account`` existed) is left to the
    account-level rule, as is a payer none of whose rows names one, and the months the data
    holds no row of ("not in the data").
    """
    from invoicekit.units import _check_units, configurations, unit_of_invoice

    if units is None:
        return {}, []
    _check_units(units, "reconcile_invoices")
    if not len(units) or "bill_source_account" not in cols.df.columns:
        return {}, []
    payers_with_units = set(units["payer_account_id"].dropna().astype(str))
    accounts = cols.string("account_id").to_pylist()
    ordinals = cols.months()
    valid = ordinals != NAT
    if not valid.any():
        return {}, []
    lo = int(ordinals[valid].min()) if lo is None else lo
    hi = int(ordinals[valid].max()) if hi is None else hi
    held = set(np.unique(ordinals[valid]).tolist())
    is_invoice = mask(pc.equal(cols.string("invoice_type"), "INVOICE"))
    monthly = ~mask(pc.not_equal(cols.string("bill_type"), "ANNIVERSARY"))  # or unknown
    of_unit_payer = np.fromiter((a in payers_with_units for a in accounts), bool, len(accounts))
    rows = np.flatnonzero(
        is_invoice & monthly & valid & (ordinals >= lo) & (ordinals <= hi) & of_unit_payer
    )
    if not len(rows) and not of_unit_payer.any():
        return {}, []
    arns = unit_of_invoice(cols.df.iloc[rows], units).astype(object).tolist() if len(rows) else []
    sources = cols.string("bill_source_account").to_pylist()
    seen: dict[tuple[str, int], set[str | None]] = {}
    unknown: set[tuple[str, int]] = set()
    for r, arn in zip(rows.tolist(), arns, strict=True):
        key = (accounts[r], int(ordinals[r]))
        if sources[r] is None:
            unknown.add(key)
        seen.setdefault(key, set()).add(None if is_missing(arn) else str(arn))
    names = (
        dict(zip(accounts, cols.string("account_name").to_pylist(), strict=True))
        if "account_name" in cols.df.columns
        else {}
    )
    # a payer none of whose rows names a bill source account (a file written before the
    # column existed): its invoices cannot be told apart by unit
    named = {a for a, src in zip(accounts, sources, strict=True) if src is not None}
    present = sorted({a for a in accounts if a in payers_with_units and a in named})
    months_checked = [m for m in range(lo, hi + 1) if m in held]
    labels = dict(zip(months_checked, month_labels(months_checked), strict=True))
    configs = configurations(units, labels.values())
    checked: dict[str, set[int]] = {}
    findings: list[tuple[str, int, str, str | None]] = []
    for month in months_checked:
        label = labels[month]
        by_payer: dict[str, list] = {}
        for u in configs[label]:
            if u.member_account_id is not None:
                by_payer.setdefault(u.payer_account_id, []).append(u)
        for payer in present:
            if (payer, month) in unknown:
                continue
            checked.setdefault(payer, set()).add(month)
            got = seen.get((payer, month), set())
            who = names.get(payer) or f"account {payer}"
            mine = by_payer.get(payer, [])
            expected: dict[str, str] = {}
            for u in mine:
                if u.settled:
                    expected.setdefault(
                        u.invoice_unit_arn, u.invoice_unit_name or u.invoice_unit_arn
                    )
            for arn, unit in sorted(expected.items(), key=lambda kv: (kv[1], kv[0])):
                if arn not in got:
                    findings.append((
                        payer, month,
                        f"{who}: no invoice for invoice unit '{unit}' in {label}: fetch it "
                        "again or ask AWS",
                        arn.rsplit(":", 1)[-1],
                    ))  # fmt: skip
            payer_in_unit = any(u.member_account_id == payer for u in mine)
            if not payer_in_unit and None not in got:
                findings.append((
                    payer, month,
                    f"{who}: no invoice for the accounts in no invoice unit (the payer's own "
                    f"invoice) in {label}: fetch it again or ask AWS",
                    None,
                ))  # fmt: skip
    return checked, findings


def _duplicates(df: pd.DataFrame, cols: Columns, rows: np.ndarray, out: _Findings) -> None:
    ids = pd.Series(cols.string("invoice_id").to_pylist(), dtype=object)
    dup = ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy()
    if not dup.any():
        return
    # Identical repeats are one version; an id checked here has a version in the range.
    distinct = df.iloc[np.flatnonzero(dup)].drop_duplicates()
    key = distinct["invoice_id"].astype(object).to_numpy()
    checked = set(ids[rows & dup].tolist())
    counts = pd.Series(key).map(pd.Series(key).value_counts()).to_numpy()
    keep = (counts > 1) & np.fromiter((k in checked for k in key), bool, len(key))
    if not keep.any():
        return
    versions = distinct.iloc[np.flatnonzero(keep)]
    codes, uniques = pd.factorize(versions["invoice_id"].astype(object), sort=True)
    positions = pd.Series(np.arange(len(versions))).groupby(codes)
    first = positions.min().to_numpy()
    last = positions.max().to_numpy()
    size = positions.size().to_numpy()
    # Which columns differ between the versions of each id (nulls compare equal).
    text = versions.astype(str).where(versions.notna(), "\x00null")
    differs = (text.groupby(codes).nunique() > 1).to_numpy()
    names = np.asarray(versions.columns, dtype=object)
    total = arrow(versions["base_total"], MONEY_TYPE)
    e = total.take(first).to_pylist()
    a = total.take(last).to_pylist()
    out.add(
        "duplicate_invoice",
        "error",
        account_id=arrow(versions["account_id"], pa.string()).take(first),
        invoice_id=[str(u) for u in uniques],
        billing_period=month_ordinals(versions["billing_period"])[first],
        view="base",
        currency=arrow(versions["base_currency"], pa.string()).take(first),
        expected=e,
        actual=a,
        difference=[None if x is None or y is None else y - x for x, y in zip(e, a, strict=True)],
        message=[
            f"invoice {u} appears in {n} versions that differ in "
            f"{', '.join(names[row])}: keep the right one before booking"
            for u, n, row in zip(uniques, size, differs, strict=True)
        ],
    )


def _references(cols: Columns, rows: np.ndarray, out: _Findings) -> None:
    """credit_memo_original, credit_memo_net, tax_invoice_commercial, tax_authority_cancelled."""
    account = cols.string("account_id")
    invoice = cols.string("invoice_id")
    months = cols.months()
    known = pc.unique(invoice).drop_null()
    is_cm = rows & (cols.kinds() == documents.CREDIT_MEMO)

    original = cols.string("original_invoice_id")
    resolves = mask(pc.is_in(original, value_set=known))
    orphan = is_cm & ~resolves
    if orphan.any():
        idx = np.flatnonzero(orphan)
        orig = original.take(idx).to_pylist()
        cur = cols.string("base_currency").take(idx)
        out.add(
            "credit_memo_original",
            "warning",
            account_id=account.take(idx),
            invoice_id=invoice.take(idx),
            billing_period=months[idx],
            view="base",
            currency=cur,
            actual=cols.money("base_total").take(idx),
            message=[
                "credit memo without OriginalInvoiceId: find the invoice it adjusts"
                if o is None
                else f"credit memo adjusts invoice {o}, which is not in this data: load its "
                "billing period (or its payer account) to match it"
                for o in orig
            ],
        )
    _credit_memo_net(cols, is_cm & resolves, out)

    commercial = cols.string("commercial_invoice_id")
    unresolved = rows & mask(pc.is_valid(commercial)) & ~mask(pc.is_in(commercial, value_set=known))
    if unresolved.any():
        idx = np.flatnonzero(unresolved)
        out.add(
            "tax_invoice_commercial",
            "warning",
            account_id=account.take(idx),
            invoice_id=invoice.take(idx),
            billing_period=months[idx],
            message=[
                f"tax invoice belongs to commercial invoice {c}, which is not in this data: "
                "load it before booking the tax invoice"
                for c in commercial.take(idx).to_pylist()
            ],
        )

    cancelled = rows & mask(
        pc.equal(pc.utf8_upper(cols.string("tax_authority_status")), "CANCELLED")
    )
    if cancelled.any():
        idx = np.flatnonzero(cancelled)
        out.add(
            "tax_authority_cancelled",
            "warning",
            account_id=account.take(idx),
            invoice_id=invoice.take(idx),
            billing_period=months[idx],
            view="base",
            currency=cols.string("base_currency").take(idx),
            actual=cols.money("base_total").take(idx),
            message=[
                f"the tax authority cancelled {kind_} {i}: do not book or pay it; "
                "expect a replacement document from AWS"
                for kind_, i in zip(
                    cols.kinds()[idx].tolist(), invoice.take(idx).to_pylist(), strict=True
                )
            ],
        )


def _credit_memo_net(cols: Columns, credit_memos: np.ndarray, out: _Findings) -> None:
    if not credit_memos.any():
        return
    idx = np.flatnonzero(credit_memos)
    cms = pa.table(
        {
            "original": cols.string("original_invoice_id").take(idx),
            "currency": cols.string("base_currency").take(idx),
            "amount": cols.money("base_total").take(idx).cast(WIDE_MONEY),
        }
    )
    credited = cms.group_by(["original", "currency"]).aggregate(
        [("amount", "sum"), ("amount", "count")]
    )
    # The original invoice: the first row carrying its id.
    ids = cols.string("invoice_id")
    originals = pa.table(
        {
            "original": ids,
            "o_account": cols.string("account_id"),
            "o_month": pa.array(cols.months(), mask=cols.months() == NAT),
            "o_currency": cols.string("base_currency"),
            "o_total": cols.money("base_total"),
            "o_row": pa.array(np.arange(cols.n)),
        }
    )
    first = originals.group_by("original").aggregate([("o_row", "min")])
    first_rows = first.column("o_row_min").to_numpy()
    originals = originals.take(first_rows)
    joined = credited.join(originals, "original", join_type="left outer").sort_by("original")
    acc, inv, mon, cur, exp, act, diff, msg, sev = [], [], [], [], [], [], [], [], []
    for r in joined.to_pylist():
        c = r["currency"]
        credit = r["amount_sum"]
        same = r["o_currency"] == c and r["o_total"] is not None
        original_total = r["o_total"] if same else None
        net = original_total + credit if same else None
        over = net is not None and net < 0
        acc.append(r["o_account"])
        inv.append(r["original"])
        mon.append(NAT if r["o_month"] is None else r["o_month"])
        cur.append(c)
        exp.append(original_total)
        act.append(net)
        diff.append(credit)
        sev.append("warning" if over else "info")
        n = r["amount_count"]
        if same:
            text = (
                f"invoice {r['original']} {format_money(original_total, c, code=True)} with "
                f"{documents.plural(n, documents.CREDIT_MEMO)} "
                f"{format_money(credit, c, code=True)}: net {format_money(net, c, code=True)}"
            )
            if over:
                text += " - credited more than invoiced: check with AWS"
        else:
            text = (
                f"invoice {r['original']} (in {r['o_currency']}) has "
                f"{documents.plural(n, documents.CREDIT_MEMO)} in {c} totalling "
                f"{format_money(credit, c, code=True)}: net position not computed across currencies"
            )
        msg.append(text)
    out.add(
        "credit_memo_net",
        sev,
        account_id=acc,
        invoice_id=inv,
        billing_period=np.asarray(mon, dtype=np.int64),
        view="base",
        currency=cur,
        expected=exp,
        actual=act,
        difference=diff,
        message=msg,
    )


def _payment_currency_change(cols: Columns, rows: np.ndarray, out: _Findings) -> None:
    invoices = rows & (cols.kinds() == documents.INVOICE)
    currency = cols.string("payment_currency")
    invoices &= mask(pc.is_valid(currency))
    if not invoices.any():
        return
    idx = np.flatnonzero(invoices & (cols.months() != NAT))
    if len(idx) == 0:
        return
    table = pa.table(
        {
            "account": cols.string("account_id").take(idx),
            "month": pa.array(cols.months()[idx]),
            "currency": currency.take(idx),
            "invoice": cols.string("invoice_id").take(idx),
        }
    ).sort_by(
        [
            ("account", "ascending"),
            ("month", "ascending"),
            ("currency", "ascending"),
            ("invoice", "ascending"),
        ]
    )
    # Sorted input and a single thread: each month's distinct currencies come out sorted.
    per_month = (
        table.group_by(["account", "month"], use_threads=False)
        .aggregate([("currency", "distinct"), ("invoice", "first")])
        .sort_by([("account", "ascending"), ("month", "ascending")])
    )
    accounts = per_month.column("account").to_numpy(zero_copy_only=False)
    sets = pc.binary_join(per_month.column("currency_distinct"), "/").to_numpy(zero_copy_only=False)
    change = np.zeros(len(accounts), dtype=bool)
    change[1:] = (accounts[1:] == accounts[:-1]) & (sets[1:] != sets[:-1])
    if not change.any():
        return
    at = np.flatnonzero(change)
    prev = sets[at - 1].tolist()
    new = sets[at].tolist()
    changed = {
        "account": accounts[at].tolist(),
        "invoice": per_month.column("invoice_first").take(at).to_pylist(),
        "month": per_month.column("month").take(at).to_numpy(),
    }
    out.add(
        "payment_currency_change",
        "info",
        account_id=changed["account"],
        invoice_id=changed["invoice"],
        billing_period=changed["month"].astype(np.int64),
        view="payment",
        currency=new,
        message=[
            f"payment currency changed from {p} to {c}: check the bank details AP pays to"
            for p, c in zip(prev, new, strict=True)
        ],
    )


def _part(value: Any) -> str:
    if type(value) is str:  # the common case, first
        return value
    return "" if is_missing(value) else str(value)


def finding_ids(findings: pd.DataFrame) -> pd.Series:
    """The stable id of every finding: ``check:invoice:view`` (``check:account:period`` without
    an invoice), e.g. ``exchange:EUINDE26-704673:payment`` or ``completeness:100000000005:2026-09``.

    Deterministic: the same data gives the same ids, run after run, so a controller can accept
    a finding by its id (``invoicekit export-ap --accept-findings``). A completeness finding of
    an invoice unit adds the unit's resource id
    (``completeness:100000000003:2026-09:invoice-unit/1a2b3c4d``). A finding without a view
    is ``check:invoice`` (``tax_invoice_commercial:IN-1``); should two findings of one frame
    share an id (a credit memo net position in two currencies), the later ones get ``#2``,
    ``#3``... in the frame's order.

    Parameters
    ----------
    findings : pandas.DataFrame
        Findings with ``check``, ``account_id``, ``invoice_id``, ``billing_period``, ``view``.

    Returns
    -------
    pandas.Series
        One string per row, on ``findings.index``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"check": ["exchange", "completeness"], "account_id": ["1", "2"],
    ...                   "invoice_id": ["EU-7", None], "billing_period": ["2026-09", "2026-10"],
    ...                   "view": ["payment", None]})
    >>> finding_ids(f).tolist()
    ['exchange:EU-7:payment', 'completeness:2:2026-10']
    """
    ids: list[str] = []
    seen: dict[str, int] = {}
    extra = (
        findings[_ID_PART].astype(object)
        if _ID_PART in findings.columns
        else pd.Series([None] * len(findings), index=findings.index, dtype=object)
    )
    rows = zip(
        findings["check"].astype(object),
        findings["account_id"].astype(object),
        findings["invoice_id"].astype(object),
        findings["billing_period"].astype(object),
        findings["view"].astype(object),
        extra,
        strict=True,
    )
    for check, account, invoice, period, view_, part in rows:
        invoice, view_ = _part(invoice), _part(view_)
        if invoice:
            key = f"{_part(check)}:{invoice}:{view_}" if view_ else f"{_part(check)}:{invoice}"
        else:
            key = f"{_part(check)}:{_part(account)}:{_part(period)}"
            if _part(part):
                key += f":{_part(part)}"
        n = seen.get(key, 0) + 1
        seen[key] = n
        ids.append(key if n == 1 else f"{key}#{n}")
    return pd.Series(ids, index=findings.index, dtype=object, name="finding_id")


def reconcile_invoices(
    df: pd.DataFrame, *, start: Any = None, end: Any = None, units: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Check invoice summaries the way a month-end close needs them checked.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries with the columns of ``invoicekit.schema.COLUMNS``.
    start, end : str or pandas.Period, optional
        First and last billing month to reconcile (``"YYYY-MM"``, inclusive). Default: the
        data's own span. Invoices outside the range are not checked, but they still resolve
        references (a credit memo's original invoice may be older). A month of the range
        that the data holds no row of is reported per account as ``completeness``, with a
        message saying the month is not in the data (:func:`coverage` lists those months).
    units : pandas.DataFrame, optional
        The invoice units (:func:`invoicekit.read_invoice_units`; exact across changes with
        one snapshot per month end, ``months=(start, end)``). A payer with units is then
        complete in a month only with an INVOICE for each unit that had members at the
        month's end and its default invoice (accounts in no unit); a missing one is named:
        ``Data Platform: no invoice for invoice unit 'Analytics' in 2026-09``. Without
        ``units`` (default) nothing is fetched and every account needs one INVOICE a month.

    Returns
    -------
    pandas.DataFrame
        One row per finding with the columns :data:`FINDING_COLUMNS`: ``check`` (a stable name
        of :data:`CHECKS`), ``severity`` (``error``, ``warning`` or ``info``), ``account_id``,
        ``invoice_id``, ``billing_period`` (``period[M]``), ``view`` (``base``, ``tax``,
        ``payment``), ``currency``, exact decimal ``expected``, ``actual`` and ``difference``
        (``actual - expected``), a one-line ``message`` saying what to do, and a stable
        ``finding_id`` (:func:`finding_ids`). Sorted by severity, check, account, period,
        invoice. Empty when everything reconciles.

    Raises
    ------
    InvalidArgumentError
        A required column is missing, ``start``/``end`` is not a month, or ``end`` is before
        ``start``.

    Notes
    -----
    Until invoicekit 0.1 this was called as the module itself, ``invoicekit.reconcile(df)``;
    the package :mod:`invoicekit.reconcile` is now an ordinary package and this function its
    entry point.

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame(build_organization(today="2026-11-25", anomalies=True).invoices)
    >>> findings = reconcile_invoices(df)
    >>> sorted(findings.loc[findings.severity == "error", "check"].unique())
    ['arithmetic_total', 'completeness', 'duplicate_invoice', 'exchange']
    >>> october = reconcile_invoices(df, start="2026-10", end="2026-10")
    >>> bool((october.billing_period.dropna().astype(str) <= "2026-10").all())
    True
    """
    check_columns(df, required_columns(), "reconcile_invoices")
    lo, hi = month_bounds(start, end)
    cols = Columns(df)
    months = cols.months()
    rows = np.ones(cols.n, dtype=bool)
    if lo is not None:
        rows &= (months != NAT) & (months >= lo)
    if hi is not None:
        rows &= (months != NAT) & (months <= hi)
    out = _Findings()
    if cols.n:
        _arithmetic(cols, rows, out)
        _exchange(cols, rows, out)
        _completeness(cols, lo, hi, out, units)
        _duplicates(df, cols, rows, out)
        _references(cols, rows, out)
        _payment_currency_change(cols, rows, out)
    return out.frame()


@dataclass(frozen=True)
class Coverage:
    """What a reconciliation over a range of months checks, and what the data holds of it.

    Attributes
    ----------
    start, end : str or None
        First and last billing month checked (``"YYYY-MM"``); ``None`` when there is neither
        a range nor a billing month in the data.
    months : tuple of str
        Every billing month of ``start..end``.
    absent : tuple of str
        The months of ``months`` the data holds no row of (neither invoice nor any other
        document): not in the data, rather than missing invoices.
    data_start, data_end : str or None
        The data's own first and last billing month.
    accounts : int
        Accounts of the data (each is checked for completeness in every month).
    counts : dict of str to int
        Rows of each kind (:data:`invoicekit.documents.KINDS`) within ``start..end``.
    """

    start: str | None
    end: str | None
    months: tuple[str, ...]
    absent: tuple[str, ...]
    data_start: str | None
    data_end: str | None
    accounts: int
    counts: dict[str, int]

    def describe(self) -> str:
        """``"2026-01..2026-10 (10 billing months, 12 accounts)"``."""
        if self.start is None:
            return f"no billing month ({documents.plural(self.accounts, 'account')})"
        n = len(self.months)
        what = f"{n} billing month" if n == 1 else f"{n:,} billing months"
        accounts = documents.plural(self.accounts, "account")
        return f"{self.start}..{self.end} ({what}, {accounts})"


def coverage(df: pd.DataFrame, start: Any = None, end: Any = None) -> Coverage:
    """The months :func:`reconcile_invoices` checks for ``start``/``end``, and what ``df`` holds.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (needs ``account_id``, ``invoice_type``, ``billing_period``).
    start, end : str or pandas.Period, optional
        As for :func:`reconcile_invoices`; default the data's own span.

    Returns
    -------
    Coverage

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame(build_organization(today="2026-11-25", months=10).invoices)
    >>> c = coverage(df, "2026-01", "2026-12")
    >>> c.describe(), c.absent
    ('2026-01..2026-12 (12 billing months, 12 accounts)', ('2026-11', '2026-12'))
    """
    check_columns(df, ["account_id", "invoice_type", "billing_period"], "coverage")
    lo, hi = month_bounds(start, end)
    ordinals = month_ordinals(df["billing_period"])
    held = np.unique(ordinals[ordinals != NAT])
    data_lo = int(held.min()) if len(held) else None
    data_hi = int(held.max()) if len(held) else None
    lo = data_lo if lo is None else lo
    hi = data_hi if hi is None else hi
    accounts = int(df["account_id"].nunique())
    if lo is None or hi is None:
        counts = {k: 0 for k in documents.KINDS}
        return Coverage(None, None, (), (), None, None, accounts, counts)
    rng = np.arange(min(lo, hi), max(lo, hi) + 1, dtype=np.int64)
    inside = (ordinals != NAT) & (ordinals >= rng[0]) & (ordinals <= rng[-1])
    first, last = month_labels([rng[0], rng[-1]])
    return Coverage(
        start=first,
        end=last,
        months=tuple(month_labels(rng)),
        absent=tuple(month_labels(rng[~np.isin(rng, held)])),
        data_start=None if data_lo is None else month_labels([data_lo])[0],
        data_end=None if data_hi is None else month_labels([data_hi])[0],
        accounts=accounts,
        counts=documents.count(df.iloc[np.flatnonzero(inside)]),
    )
