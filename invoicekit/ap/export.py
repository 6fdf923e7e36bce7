"""``export_ap``: one billing month's payable invoices, once, for an AP system to import.

The rules, in the order they apply (docs/ap.md):

1. **Scope**: the billing month asked (default: the last closed month at business now,
   :func:`invoicekit.months.last_closed_month`), or every month with ``all_months=True``.
2. **Payable only** (:func:`invoicekit.documents.is_payable`): invoices and credit memos;
   never a tax invoice (it restates a commercial invoice) nor a payment receipt.
3. **One version per invoice**: an invoice id with two different contents is refused (exit 2),
   naming it and what differs; an identical repeat is exported once.
4. **Never twice**: an invoice already in the ledger for this format is left out (and reported)
   unless ``reexport=True``.
5. **Not while an error is open**: the reconciliation checks run on the data (or ``findings``
   are given); an error finding on an invoice the export would write blocks it (exit 1),
   unless the finding is accepted (``accept``). The acceptance is recorded in the ledger.
6. **Write** the format's files atomically, then append one ledger row per invoice.

With a business-unit mapping (``business_units=``, :mod:`invoicekit.business_units`) every invoice
also carries its business unit, cost center and GL account, resolved as the chargeback does
(invoice unit > member account > payer); an invoice no mapping covers is exported with them
empty and listed in :attr:`APExport.unallocated`.
"""

from __future__ import annotations

import calendar
import hashlib
import os
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from invoicekit import clock, documents, months
from invoicekit._files import write_bytes
from invoicekit._money import format_money, quantize
from invoicekit.ap import formats as _formats
from invoicekit.ap.formats import AP_FORMATS, APInvoice
from invoicekit.ap.ledger import (
    LEDGER_NAME,
    append_ledger,
    read_acceptance,
    read_ledger,
    sha256_file,
)
from invoicekit.ap.mapping import APMapping, load_mapping
from invoicekit.errors import InvalidArgumentError

__all__ = ["APExport", "export_ap", "EXPORTED_COLUMNS", "SKIPPED_COLUMNS"]

#: Columns of :attr:`APExport.exported`.
EXPORTED_COLUMNS = [
    "invoice_id",
    "account_id",
    "billing_period",
    "kind",
    "currency",
    "amount",
    "target_id",
    "file",
]
#: Columns of :attr:`APExport.skipped`.
SKIPPED_COLUMNS = ["invoice_id", "account_id", "billing_period", "kind", "reason"]

#: ``reason`` values of :attr:`APExport.skipped`.
OTHER_MONTH = "other billing month"
NOT_PAYABLE = "not payable"
IDENTICAL_REPEAT = "identical repeat (exported once)"
ALREADY_EXPORTED = "already in the ledger"

_NEEDED = [
    "account_id",
    "invoice_id",
    "invoice_type",
    "billing_period",
    "issued_date",
    "due_date",
    "invoicing_entity",
    "purchase_order_number",
    "original_invoice_id",
    "commercial_invoice_id",
    *(f"{v}_{c}" for v in ("payment", "base") for c in ("currency", "total", "subtotal",
                                                        "discounts", "fees", "taxes")),
]  # fmt: skip

# Plain words for the checks that block, so a clerk reads what is wrong with the invoice.
_PLAIN = {
    "arithmetic_total": "its total is not the amount before tax plus tax",
    "arithmetic_before_tax": "its amount before tax is not charges + discounts + fees",
    "exchange": "its amounts in {currency} do not match the exchange rate it states",
    "duplicate_invoice": "AWS returned two different versions of it",
    "completeness": "the account has no invoice for the month",
}


@dataclass
class APExport:
    """What :func:`export_ap` did.

    Attributes
    ----------
    status : str
        ``"written"``, ``"nothing-new"`` (a header-only file was written: everything in scope
        is in the ledger already) or ``"blocked"`` (nothing written: open error findings).
    files : list of Path
        The files written (oracle-ap: both tables; xero: every numbered part).
    exported : pandas.DataFrame
        :data:`EXPORTED_COLUMNS`, one row per invoice written (``amount`` an exact Decimal,
        half-up to the minor unit, in the payment currency, else the base currency).
    skipped : pandas.DataFrame
        :data:`SKIPPED_COLUMNS`: the rows left out and why.
    blocking : pandas.DataFrame
        The error findings that blocked the export (empty unless ``status == "blocked"``).
    ledger : Path
        The ledger file.
    format, month : str
        The format, and the month label (``"2026-10"``, or ``"all"``).
    accepted : dict
        The accepted findings that applied to the exported invoices: ``{finding_id: by}``.
    """

    status: str
    format: str
    month: str
    ledger: Path
    output: Path
    files: list[Path] = field(default_factory=list)
    exported: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EXPORTED_COLUMNS))
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SKIPPED_COLUMNS))
    blocking: pd.DataFrame = field(default_factory=pd.DataFrame)
    accepted: dict[str, str] = field(default_factory=dict)
    exported_before: tuple[str, ...] = ()  # dates the ledger's rows in scope were exported
    unallocated: list[str] = field(default_factory=list)  # invoices no business unit covers
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 written or nothing new, 1 blocked."""
        return 1 if self.status == "blocked" else 0

    @property
    def month_label(self) -> str:
        """``"October 2026"``, ``"every month"``."""
        if self.month == "all":
            return "every month"
        year, mon = months.parse_month(self.month)
        return f"{calendar.month_name[mon]} {year}"

    def _counts(self, frame: pd.DataFrame) -> str:
        found = frame["kind"].value_counts() if len(frame) else pd.Series(dtype=int)
        kinds = (documents.INVOICE, documents.CREDIT_MEMO)
        return documents.describe({k: int(found.get(k, 0)) for k in kinds})

    def summary(self) -> list[str]:
        """The lines the CLI prints: what was written (or why nothing), what was left out.

        Examples
        --------
        ``Exported 12 invoices, 1 credit memo of October 2026 (oracle-ap) to ap/2026-10:
        net payable 1,234.56 USD, 980.00 EUR. Ledger: ap/ap-ledger.csv.``
        """
        ledger = str(self.ledger)
        if self.status == "blocked":
            n = len(self.blocking)
            lines = [
                f"Blocked: {documents.plural(n, 'error finding')} open for invoices this export "
                f"would include; nothing was written. A controller can accept a finding by its "
                f"id (--accept-findings FILE), or fix the data and export again."
            ]
            lines += [f"  {line}" for line in blocking_lines(self.blocking)]
            return lines
        already = self.skipped[self.skipped["reason"] == ALREADY_EXPORTED]
        if self.status == "nothing-new" and not len(already):
            return [
                f"nothing to export: the summaries hold no payable invoice of "
                f"{self.month_label}. Wrote a header-only file: "
                f"{', '.join(str(p) for p in self.files)}."
            ]
        if self.status == "nothing-new":
            when = _date_span(self.exported_before)
            scope = "of " + self.month if self.month != "all" else "in scope"
            what = self._counts(already)
            all_word = "all " if len(already) > 1 else ""
            return [
                f"Nothing new to export: {all_word}{what} {scope} "
                f"{'are' if len(already) > 1 else 'is'} already in the ledger {ledger}"
                f"{f' (exported {when})' if when else ''}; use --reexport to export them again. "
                f"Wrote a header-only file: {', '.join(str(p) for p in self.files)}."
            ]
        net = net_payable(self.exported)
        lines = [
            f"Exported {self._counts(self.exported)} of {self.month_label} ({self.format}) to "
            f"{self.output}: net payable {net}. Ledger: {ledger}."
        ]
        if len(already):
            lines.append(
                f"Left out {self._counts(already)} already in the ledger (use --reexport to "
                "export them again)."
            )
        if self.unallocated:
            shown = ", ".join(self.unallocated[:5]) + (", ..." if len(self.unallocated) > 5 else "")
            lines.append(
                f"{documents.plural(len(self.unallocated), 'invoice')} no business unit of the "
                f"mapping covers (exported without cost center): {shown}. Map them (see "
                "invoicekit chargeback) and export again with --reexport."
            )
        lines.extend(self.notes)
        if self.accepted:
            lines.append(
                "Accepted findings recorded in the ledger: "
                + ", ".join(f"{k} (by {v})" for k, v in sorted(self.accepted.items()))
                + "."
            )
        return lines


def _date_span(values: tuple[str, ...]) -> str:
    days = sorted({v[:10] for v in values if v})
    if not days:
        return ""
    return days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"


def net_payable(exported: pd.DataFrame) -> str:
    """``1,234.56 USD, 980.00 EUR``: the exported amounts summed per currency, never across."""
    sums: dict[str, Decimal] = {}
    for amount, currency in zip(exported["amount"], exported["currency"], strict=True):
        sums[currency] = sums.get(currency, Decimal(0)) + amount
    if not sums:
        return format_money(Decimal(0), None)
    return ", ".join(format_money(sums[c], c, code=True) for c in sorted(sums))


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def blocking_lines(blocking: pd.DataFrame) -> list[str]:
    """One plain line per blocking finding: the invoice, what is wrong, the finding id."""
    out = []
    for r in blocking.to_dict("records"):
        check = _text(r.get("check"))
        currency = _text(r.get("currency"))
        what = _PLAIN.get(check, "").format(currency=currency or "its currency")
        expected, actual = _text(r.get("expected")), _text(r.get("actual"))
        if what and check.startswith("arithmetic") and expected and actual:
            what += (
                f" ({format_money(Decimal(actual), currency, code=True)} stated, "
                f"{format_money(Decimal(expected), currency, code=True)} adds up)"
            )
        if not what:
            what = _text(r.get("message"))
        view = _text(r.get("view"))
        where = ", ".join(
            x
            for x in (
                f"account {_text(r.get('account_id'))}" if _text(r.get("account_id")) else "",
                _text(r.get("billing_period")),
                f"{view} currency view" if view else "",
            )
            if x
        )
        invoice = _text(r.get("invoice_id"))
        head = f"invoice {invoice}" if invoice else "an invoice"
        out.append(f"{head} ({where}): {what} [finding {_text(r.get('finding_id'))}]")
    return out


def _period_labels(series: pd.Series) -> np.ndarray:
    return np.asarray([months.month_str(v) for v in series.astype(object)], dtype=object)


def _content_keys(rows: pd.DataFrame) -> list[str]:
    """A fingerprint of each row's content (every column, nulls equal)."""
    keys = []
    for values in rows.astype(object).itertuples(index=False, name=None):
        text = "\x1f".join(_text(v) for v in values)
        keys.append(hashlib.sha256(text.encode("utf-8")).hexdigest())
    return keys


def _refuse_conflicting_duplicates(rows: pd.DataFrame, keys: list[str]) -> None:
    frame = pd.DataFrame({"id": rows["invoice_id"].astype(object).to_numpy(), "key": keys})
    versions = frame.drop_duplicates().groupby("id")["key"].nunique()
    bad = sorted(versions[versions > 1].index)
    if not bad:
        return
    first = bad[0]
    same = rows[rows["invoice_id"].astype(object).to_numpy() == first].astype(object)
    differs = [c for c in same.columns if same[c].map(_text).nunique() > 1]
    others = f" (and {len(bad) - 1} more: {', '.join(bad[1:4])})" if len(bad) > 1 else ""
    raise InvalidArgumentError(
        f"invoice {first} appears in the summaries with different contents (they differ in "
        f"{', '.join(differs)}){others}: AP would book it twice; keep the right version "
        "(fetch the month again, or drop the wrong row) and export again"
    )


def _decimal(value: Any) -> Decimal:
    if value is None or value is pd.NA or (not isinstance(value, Decimal) and pd.isna(value)):
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _day(value: Any) -> Any:
    """The UTC date of a timestamp (``None`` when missing)."""
    if value is None or pd.isna(value):
        return None
    t = pd.Timestamp(value)
    return (t.tz_convert("UTC") if t.tzinfo else t).date()


def _records(
    rows: pd.DataFrame,
    kinds: np.ndarray,
    mapping: APMapping,
    charged: pd.DataFrame | None = None,
) -> list[APInvoice]:
    out = []
    charges = charged.to_dict("records") if charged is not None else [None] * len(rows)
    for r, kind, c in zip(rows.to_dict("records"), kinds, charges, strict=True):
        view = "payment" if _text(r.get("payment_currency")) else "base"
        currency = _text(r.get(f"{view}_currency"))
        if not currency:
            raise InvalidArgumentError(
                f"invoice {_text(r['invoice_id'])} has neither a payment nor a base currency: "
                "fetch it again"
            )

        def q(component: str, r: dict = r, view: str = view, currency: str = currency) -> Decimal:
            return quantize(_decimal(r.get(f"{view}_{component}")), currency)

        entity = _text(r.get("invoicing_entity"))
        booking = mapping.booking(entity)
        business_unit = cost_center = ""
        if c is not None and c["status"] == "allocated":
            business_unit, cost_center = c["business_unit"] or "", c["cost_center"] or ""
            if c["gl_account"]:  # the business unit's account; tax follows unless mapped apart
                tax = mapping.value(entity, "tax_account") or c["gl_account"]
                booking = replace(booking, gl_account=c["gl_account"], tax_account=tax)

        out.append(
            APInvoice(
                invoice_id=_text(r["invoice_id"]),
                kind=kind,
                billing_period=months.month_str(r["billing_period"]),
                issued=_day(r.get("issued_date")),
                due=_day(r.get("due_date")),
                account_id=_text(r.get("account_id")),
                account_name=_text(r.get("account_name")),
                invoicing_entity=_text(r.get("invoicing_entity")),
                billing_entity=_text(r.get("billing_entity")),
                view=view,
                currency=currency,
                subtotal=q("subtotal"),
                discounts=q("discounts"),
                fees=q("fees"),
                taxes=q("taxes"),
                total=q("total"),
                po_number=_text(r.get("purchase_order_number")),
                original_invoice_id=_text(r.get("original_invoice_id")),
                booking=booking,
                business_unit=business_unit,
                cost_center=cost_center,
            )
        )
    return out


def _month_scope(month: Any, all_months: bool) -> str:
    if all_months:
        if month is not None:
            raise InvalidArgumentError(
                "give either month or all_months=True (--month or --all), not both"
            )
        return "all"
    if month is None:
        return months.last_closed_month(clock.now())
    return months.format_month(*months.parse_month(month, "month"))


def _oracle_start(ledger: pd.DataFrame, start: int | None) -> int:
    used = [
        int(v)
        for v, f in zip(ledger["target_id"], ledger["format"], strict=True)
        if f == "oracle-ap" and str(v).strip().isdigit()
    ]
    last = max(used, default=0)
    if start is None:
        return last + 1
    if isinstance(start, bool) or not isinstance(start, int) or start < 1:
        raise InvalidArgumentError(
            f"invoice_id_start={start!r} is not a positive whole number (e.g. 1000)"
        )
    if start <= last:
        raise InvalidArgumentError(
            f"invoice_id_start={start}: INVOICE_ID up to {last} is already used in the ledger; "
            f"start at {last + 1} or more, or leave it out to continue the sequence"
        )
    return start


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:  # pragma: no cover - another drive (Windows)
        return str(path)


def export_ap(
    df: pd.DataFrame,
    output: str | os.PathLike[str],
    format: str = "generic",
    *,
    month: Any = None,
    all_months: bool = False,
    ledger: str | os.PathLike[str] | None = None,
    reexport: bool = False,
    findings: pd.DataFrame | None = None,
    accept: Any = None,
    invoice_id_start: int | None = None,
    mapping: Any = None,
    fleet: Any = None,
    supplier_site: str | None = None,
    business_unit: str | None = None,
    source: str | None = None,
    business_units: Any = None,
    units: pd.DataFrame | None = None,
) -> APExport:
    """Export one billing month's payable invoices for accounts payable, never twice.

    Parameters
    ----------
    df : pandas.DataFrame
        Invoice summaries (``invoicekit.schema.COLUMNS``); may hold many months.
    output : str or path-like
        The file to write (generic, netsuite, xero) or the directory (oracle-ap: it receives
        ``AP_INVOICES_INTERFACE.csv`` and ``AP_INVOICE_LINES_INTERFACE.csv``; created if
        missing). xero writes ``NAME-1.csv``, ``NAME-2.csv``... beside ``output`` when more
        than 500 invoices; netsuite writes credit memos to ``NAME-vendor-credits.csv``.
    format : {"generic", "oracle-ap", "netsuite", "xero"}
        The target (docs/ap.md lists every column).
    month : str or pandas.Period, optional
        The billing month ``"YYYY-MM"``; default the last closed month at business now.
    all_months : bool
        Export every month of ``df`` (on purpose only; not with ``month``).
    ledger : path, optional
        The export ledger; default ``ap-ledger.csv`` beside ``output``.
    reexport : bool
        Export invoices already in the ledger again.
    findings : pandas.DataFrame, optional
        Findings of :func:`invoicekit.reconcile_invoices` to check against; default: the
        checks run on ``df`` for the month(s) exported.
    accept : path, mapping or iterable of str, optional
        Accepted findings (:func:`invoicekit.ap.read_acceptance`).
    invoice_id_start : int, optional
        oracle-ap: the first ``INVOICE_ID``; default: one more than the ledger's last.
    mapping : path or mapping, optional
        Supplier, GL account and tax code per invoicing entity (YAML/CSV file or entries;
        :mod:`invoicekit.ap.mapping`); default the fleet file's ``ap: mapping``.
    fleet : Fleet or path, optional
        A fleet (or fleet file) whose ``ap:`` section gives supplier site, business unit,
        source and mapping.
    supplier_site, business_unit : str, optional
        oracle-ap ``VENDOR_SITE_CODE`` / ``OPERATING_UNIT`` for every invoice (win over the
        mapping and the fleet file).
    source : str, optional
        oracle-ap ``SOURCE`` (a Payables source you defined); default the fleet file's
        ``ap: source``, else ``"INVOICEKIT"``.
    business_units : path, Fleet, DataFrame or BusinessUnits, optional
        The business-unit mapping of :func:`invoicekit.business_units.read_business_units`
        (default: the ``business_units:`` section of ``fleet``, if it has one). Each invoice
        carries its business unit and cost center (generic ``business_unit``,
        ``cost_center``; oracle-ap ``COST_CENTER_SEGMENT``; netsuite ``Department``,
        ``Class``; xero tracking categories) and the business unit's ``gl_account`` when its
        row gives one; see docs/chargeback.md.
    units : pandas.DataFrame, optional
        :func:`invoicekit.read_invoice_units`' frame, for mappings that name invoice units;
        default: read from the fleet (``business_units`` or ``fleet``) as of each exported
        month's end when the mapping needs them.

    Returns
    -------
    APExport
        ``status`` written / nothing-new / blocked, the files, what was exported and skipped.

    Raises
    ------
    InvalidArgumentError
        Unknown format, a month that does not parse, an invoice id with two contents, a bad
        mapping, ledger or acceptance file, an ``invoice_id_start`` the ledger already used.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> df = to_frame(build_organization(accounts=3, months=3, today="2026-11-05").invoices)
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> result = export_ap(df, out / "ap.csv", month="2026-10")
    >>> result.status, sorted(set(result.exported["billing_period"]))
    ('written', ['2026-10'])
    >>> export_ap(df, out / "ap.csv", month="2026-10").status  # the ledger remembers
    'nothing-new'
    """
    from invoicekit.reconcile._arrow import check_columns

    if format not in AP_FORMATS:
        raise InvalidArgumentError(
            f"format={format!r} is not one of {', '.join(AP_FORMATS)} (see docs/ap.md)"
        )
    check_columns(df, _NEEDED, "export_ap")
    scope = _month_scope(month, all_months)
    output = Path(output)
    ledger_path = Path(ledger) if ledger is not None else output.parent / LEDGER_NAME
    fleet_ap = _fleet_ap(fleet)
    source = source or fleet_ap.get("source") or "INVOICEKIT"
    maps = load_mapping(
        mapping, fleet_ap=fleet_ap, supplier_site=supplier_site, business_unit=business_unit
    )
    charge_map = _business_units(business_units, fleet)
    accepted_all = read_acceptance(accept)
    book = read_ledger(ledger_path)

    kinds = documents.kinds(df).to_numpy()
    labels = _period_labels(df["billing_period"])
    in_scope = np.ones(len(df), bool) if scope == "all" else labels == scope
    payable = documents.is_payable(df)
    skipped: list[dict[str, Any]] = []

    def skip(mask_: np.ndarray, reason: Any) -> None:
        for i in np.flatnonzero(mask_):
            skipped.append(
                {
                    "invoice_id": _text(df["invoice_id"].iat[i]),
                    "account_id": _text(df["account_id"].iat[i]),
                    "billing_period": labels[i],
                    "kind": kinds[i],
                    "reason": reason if isinstance(reason, str) else reason(i),
                }
            )

    skip(~in_scope, OTHER_MONTH)
    skip(in_scope & ~payable, lambda i: f"{NOT_PAYABLE} ({kinds[i]})")
    take = np.flatnonzero(in_scope & payable)
    rows = df.iloc[take]
    row_kinds = kinds[take]
    keys = _content_keys(rows)
    _refuse_conflicting_duplicates(rows, keys)
    first = ~pd.Series(keys).duplicated().to_numpy()
    if not first.all():
        for i in np.flatnonzero(~first):
            skipped.append(
                {
                    "invoice_id": _text(rows["invoice_id"].iat[i]),
                    "account_id": _text(rows["account_id"].iat[i]),
                    "billing_period": labels[take[i]],
                    "kind": row_kinds[i],
                    "reason": IDENTICAL_REPEAT,
                }
            )
        rows, row_kinds, keys = rows.iloc[first], row_kinds[first], list(np.asarray(keys)[first])
        take = take[first]

    mine = book[book["format"] == format]
    done = dict(zip(mine["invoice_id"], mine["exported_at"], strict=True))
    ids = rows["invoice_id"].astype(object).map(_text).to_numpy()
    before = np.asarray([i in done for i in ids], dtype=bool)
    exported_before: tuple[str, ...] = ()
    if before.any() and not reexport:
        for i in np.flatnonzero(before):
            skipped.append(
                {
                    "invoice_id": ids[i],
                    "account_id": _text(rows["account_id"].iat[i]),
                    "billing_period": labels[take[i]],
                    "kind": row_kinds[i],
                    "reason": ALREADY_EXPORTED,
                }
            )
        exported_before = tuple(done[i] for i in ids[before])
        keep = ~before
        rows, row_kinds = rows.iloc[keep], row_kinds[keep]
        keys, ids = list(np.asarray(keys, dtype=object)[keep]), ids[keep]
    skipped_frame = pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)
    result = APExport(
        status="written",
        format=format,
        month=scope,
        ledger=ledger_path,
        output=output,
        skipped=skipped_frame,
        exported_before=exported_before,
    )

    # Open error findings on what would be exported block it (unless accepted).
    accepted_here: dict[str, str] = {}
    if len(rows):
        if findings is None:
            from invoicekit.reconcile import reconcile_invoices

            span = (None, None) if scope == "all" else (scope, scope)
            findings = reconcile_invoices(df, start=span[0], end=span[1])
        found = _with_ids(findings)
        errors = found[
            (found["severity"].astype(object) == "error")
            & found["invoice_id"].astype(object).map(_text).isin(set(ids))
        ]
        fid = errors["finding_id"].astype(object).map(_text)
        accepted_mask = fid.isin(set(accepted_all)).to_numpy()
        accepted_here = {f: accepted_all[f] for f in fid[accepted_mask]}
        blocking = errors[~accepted_mask].reset_index(drop=True)
        if len(blocking):
            result.status = "blocked"
            result.blocking = blocking
            return result
    result.accepted = accepted_here
    by_invoice: dict[str, list[str]] = {}
    if accepted_here:
        acc = errors[accepted_mask]
        for inv, f in zip(acc["invoice_id"].astype(object).map(_text), fid[accepted_mask],
                          strict=True):  # fmt: skip
            by_invoice.setdefault(inv, []).append(f)

    # Build the invoices, in file order: by invoice date, then id.
    charged = None
    if charge_map is not None:
        from invoicekit.business_units import invoice_business_units

        if units is None and charge_map[0].has_unit_keys and len(rows):
            units, result.notes = _read_units(charge_map[1], rows)
        charged = invoice_business_units(rows, charge_map[0], units=units)
        result.unallocated = [
            i for i, st in zip(charged["invoice_id"], charged["status"], strict=True)
            if st != "allocated"
        ]  # fmt: skip
    records = _records(rows, row_kinds, maps, charged)
    records.sort(key=lambda r: (r.issued is None, r.issued or 0, r.invoice_id))
    if format == "oracle-ap":
        start = _oracle_start(book, invoice_id_start)
        records = [_with_target(r, start + n) for n, r in enumerate(records)]
    elif invoice_id_start is not None:
        raise InvalidArgumentError(
            f"invoice_id_start is for format oracle-ap (INVOICE_ID), not {format}"
        )
    if _formats.output_is_directory(format):
        _ensure_dir(output)
    files = _formats.render(
        format, records, output, source=source, business_units=charge_map is not None
    )
    for f in files:
        try:
            write_bytes(f.path, f.text.encode("utf-8"), mkdir=False)
        except OSError as exc:
            raise InvalidArgumentError(
                f"output {f.path}: cannot write it ({exc.strerror or exc}); "
                "check the directory exists and is writable"
            ) from exc
    result.files = [f.path for f in files]
    if not records:
        result.status = "nothing-new"
        return result

    now = clock.utc_iso(clock.now())
    file_of: dict[str, tuple[str, str]] = {}
    for f in files:
        if not f.records:
            continue
        digest = sha256_file(f.path)
        for inv in f.invoice_ids:
            file_of[inv] = (_relative(f.path, ledger_path.parent), digest)
    key_of = dict(zip(ids, keys, strict=True))
    ledger_rows = []
    for r in records:
        name, digest = file_of[r.invoice_id]
        accepted_ids = sorted(by_invoice.get(r.invoice_id, []))
        ledger_rows.append(
            {
                "invoice_id": r.invoice_id,
                "account_id": r.account_id,
                "billing_period": r.billing_period,
                "kind": r.kind,
                "amount": f"{r.total:f}",
                "currency": r.currency,
                "format": format,
                "file": name,
                "file_sha256": digest,
                "exported_at": now,
                "accepted_findings": ";".join(accepted_ids),
                "accepted_by": ";".join(accepted_here[a] for a in accepted_ids),
                "target_id": "" if r.target_id is None else str(r.target_id),
                "content_sha256": key_of[r.invoice_id],
            }
        )
    append_ledger(ledger_path, ledger_rows)
    result.exported = pd.DataFrame(
        [
            {
                "invoice_id": r.invoice_id,
                "account_id": r.account_id,
                "billing_period": r.billing_period,
                "kind": r.kind,
                "currency": r.currency,
                "amount": r.total,
                "target_id": r.target_id,
                "file": file_of[r.invoice_id][0],
            }
            for r in records
        ],
        columns=EXPORTED_COLUMNS,
    )
    return result


def _with_target(r: APInvoice, target: int) -> APInvoice:
    from dataclasses import replace

    return replace(r, target_id=target)


def _ensure_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise InvalidArgumentError(
            f"output {path}: oracle-ap writes two tables into a directory, and this is a file; "
            "give a directory (it is created if missing)"
        )
    try:
        path.mkdir(parents=False, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(
            f"output {path}: cannot create the directory ({exc.strerror or exc}); "
            "check its parent exists"
        ) from exc


def _with_ids(findings: pd.DataFrame) -> pd.DataFrame:
    needed = ("check", "severity", "invoice_id")
    missing = [c for c in needed if c not in findings.columns]
    if missing:
        raise InvalidArgumentError(
            f"findings lack column(s) {', '.join(missing)}: pass the frame of "
            "reconcile_invoices() or the CSV of `invoicekit reconcile --output`"
        )
    if "finding_id" in findings.columns:
        return findings
    from invoicekit.reconcile.checks import finding_ids

    out = findings.copy()
    for c in ("account_id", "billing_period", "view"):
        if c not in out.columns:
            out[c] = None
    out["finding_id"] = finding_ids(out)
    return out


def _business_units(source: Any, fleet: Any) -> tuple[Any, Any] | None:
    """``(BusinessUnits, the fleet to read units from or None)``, or None without a mapping."""
    from invoicekit.business_units import read_business_units

    if isinstance(fleet, str | os.PathLike):
        from invoicekit.fleet import load_fleet

        fleet = load_fleet(fleet)
    if source is None:
        if fleet is None or getattr(fleet, "business_units", None) is None:
            return None
        source = fleet
    holder = source if hasattr(source, "accounts") else fleet
    return read_business_units(source, name="business_units"), holder


def _read_units(fleet: Any, rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The invoice units as of the end of each month of ``rows``, read from ``fleet``."""
    if fleet is None or not hasattr(fleet, "accounts"):
        raise InvalidArgumentError(
            "business_units names invoice units, but no units were given: pass units= "
            "(--units FILE, written by `invoicekit units`) or a fleet to read them from"
        )
    from invoicekit.units import read_invoice_units

    labels = sorted({months.month_str(p) for p in rows["billing_period"].astype(object)})
    frame = read_invoice_units(fleet, months=(labels[0], labels[-1]))
    notes = [
        f"The invoice units of account {f.get('account_id')} could not be read "
        f"({f.get('code')}): its invoices were charged by bill source account or payer."
        for f in frame.attrs.get("failures") or []
    ]
    return frame, notes


def _fleet_ap(fleet: Any) -> dict[str, Any]:
    if fleet is None:
        return {}
    if isinstance(fleet, str | os.PathLike):
        from invoicekit.fleet import load_fleet

        fleet = load_fleet(fleet)
    return dict(getattr(fleet, "ap", None) or {})
