"""What changed in a closed month since its close: invoices added, removed, changed, cancelled.

Invoices change after a month is closed: AWS issues a late credit memo, a tax authority cancels
a tax invoice (``TaxAuthorityStatus`` CANCELLED), a supplemental document appears, an amount is
restated. :func:`diff_invoices` compares two invoice frames (pure); :func:`changes_since_close`
reads a close pack (``DIR/YYYY-MM/``: ``summaries.parquet``, ``archive/manifest.csv``,
``run.json``) and compares it with the month read again — through the fleet (ListInvoiceSummaries
for the month, GetInvoicePDF for the documents of every archived invoice) or from a local store
alone (:class:`invoicekit.store.Store` keeps every version of every invoice).

Money is compared exactly (``Decimal``: ``1.0`` equals ``1.00``) and shown with
:func:`invoicekit._money.format_money`; document words come from :mod:`invoicekit.documents`.

Examples
--------
>>> from invoicekit.changes import changes_since_close
>>> report = changes_since_close("close/2026-10", fleet="fleet.yml")  # doctest: +SKIP
>>> print("\\n".join(report.summary()))  # doctest: +SKIP
Credit memo 4312345678 (-1,200.00 USD) was issued on 2026-11-27 for account Payments ...
October 2026: 1 change since the close on 2026-11-12 09:00 UTC (1 added).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoicekit import documents, months
from invoicekit._money import format_money
from invoicekit._na import is_missing
from invoicekit.errors import InvalidArgumentError, InvoiceKitError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "CHANGES",
    "CHANGE_COLUMNS",
    "ChangeReport",
    "diff_invoices",
    "changes_since_close",
    "read_close_pack",
    "ClosePack",
]

#: The kinds of change, in the order a report lists them for one invoice.
CHANGES = ("added", "removed", "cancelled", "changed", "new_document")
#: Columns of :func:`diff_invoices` (and of ``invoicekit changes --output``), in order.
CHANGE_COLUMNS = [
    "change",
    "account_id",
    "account_name",
    "invoice_id",
    "kind",
    "billing_period",
    "field",
    "old",
    "new",
    "description",
]
#: Columns that are not compared: the account's name is the fleet file's label, not AWS data.
NOT_COMPARED = frozenset({"account_name"})
_CANCELLED = "CANCELLED"
#: An invoice with more changed fields than this gets one sentence in the summary.
_FIELDS_SPELLED_OUT = 2
_MONEY_SUFFIXES = ("_total", "_total_before_tax", "_subtotal", "_discounts", "_taxes", "_fees")
_VIEW_WORDS = {"base": "base", "tax": "tax-currency", "payment": "payment-currency"}
_COMPONENT_WORDS = {
    "total": "total",
    "total_before_tax": "total before tax",
    "subtotal": "subtotal",
    "discounts": "discounts",
    "taxes": "taxes",
    "fees": "fees",
    "currency": "currency",
    "fx_rate": "exchange rate",
    "fx_source": "exchange source currency",
}


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """Exact equality; two missing values are equal; decimals compare by value."""
    if is_missing(a) or is_missing(b):
        return is_missing(a) and is_missing(b)
    return bool(a == b)


def _plain(value: Any) -> str:
    """The exact value as text for the ``old``/``new`` columns ("" when missing)."""
    if is_missing(value):
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, datetime) or hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _money_column(col: str) -> str | None:
    """The view (``base``, ``tax``, ``payment``) of a money column, else ``None``."""
    view, _, rest = col.partition("_")
    return view if view in _VIEW_WORDS and "_" + rest in _MONEY_SUFFIXES else None


def _label(col: str) -> str:
    view, _, rest = col.partition("_")
    if view in _VIEW_WORDS and rest in _COMPONENT_WORDS:
        return f"{_VIEW_WORDS[view]} {_COMPONENT_WORDS[rest]}"
    return col.replace("_", " ")


def _shown(row: Mapping[str, Any], col: str, value: Any) -> str:
    """A value as a controller reads it: money through format_money with its currency."""
    if is_missing(value):
        return "(none)"
    view = _money_column(col)
    if view is not None:
        cur = row.get(f"{view}_currency")
        cur = None if is_missing(cur) else str(cur)
        return format_money(value, cur, code=True)
    if col in ("issued_date", "due_date") and hasattr(value, "date"):
        return value.date().isoformat()
    return _plain(value)


def _amount(row: Mapping[str, Any]) -> str:
    """``-1,200.00 USD``: the row's base total (payment view when no base total)."""
    for view in ("base", "payment"):
        total = row.get(f"{view}_total")
        if not is_missing(total):
            cur = row.get(f"{view}_currency")
            return format_money(total, None if is_missing(cur) else str(cur), code=True)
    return "no amount"


def _who(row: Mapping[str, Any]) -> str:
    name = row.get("account_name")
    acct = row.get("account_id")
    return f"{name} ({acct})" if not is_missing(name) and str(name) else f"{acct}"


def _day(value: Any) -> str:
    return "an unknown date" if is_missing(value) else value.date().isoformat()


def _kind(row: Mapping[str, Any]) -> str:
    return documents.kind_of(row.get("invoice_type"), row.get("commercial_invoice_id"))


def _title(kind: str) -> str:
    return kind[:1].upper() + kind[1:]


def _period(row: Mapping[str, Any]) -> str:
    value = row.get("billing_period")
    return "" if is_missing(value) else str(value)


# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------


def _added(row: Mapping[str, Any]) -> str:
    kind = _kind(row)
    text = (
        f"{_title(kind)} {row['invoice_id']} ({_amount(row)}) was issued on "
        f"{_day(row.get('issued_date'))} for account {_who(row)}"
    )
    original = row.get("original_invoice_id")
    commercial = row.get("commercial_invoice_id")
    if not is_missing(original) and str(original):
        return f"{text}, against invoice {original}."
    if not is_missing(commercial) and str(commercial):
        return f"{text}, restating invoice {commercial}."
    return f"{text}, billing period {_period(row)}."


def _removed(row: Mapping[str, Any]) -> str:
    return (
        f"{_title(_kind(row))} {row['invoice_id']} ({_amount(row)}) of account {_who(row)} "
        f"is no longer returned by AWS for {_period(row)}."
    )


def _cancelled(row: Mapping[str, Any], old: Any) -> str:
    was = "" if is_missing(old) else f" (tax authority status {old} before)"
    return (
        f"{_title(_kind(row))} {row['invoice_id']} ({_amount(row)}) of account {_who(row)} "
        f"was cancelled by the tax authority{was}."
    )


def _changed(before: Mapping[str, Any], after: Mapping[str, Any], col: str) -> str:
    return (
        f"{_title(_kind(after))} {after['invoice_id']} of account {_who(after)}: "
        f"{_label(col)} changed from {_shown(before, col, before.get(col))} to "
        f"{_shown(after, col, after.get(col))}."
    )


def _new_document(row: Mapping[str, Any], document_type: str, document_id: str) -> str:
    label = documents.document_label(document_type, _kind(row))
    return (
        f"A new {label} ({document_id}) is listed for {_kind(row)} {row['invoice_id']} of "
        f"account {_who(row)}."
    )


# --------------------------------------------------------------------------------------------
# Diff
# --------------------------------------------------------------------------------------------


def _records(df: pd.DataFrame | None) -> list[dict]:
    if df is None or not len(df):
        return []
    return df.to_dict("records")


def _pair(before: list[dict], after: list[dict]) -> tuple[list, list, list]:
    """Match rows by invoice id: (pairs, removed, added); repeated ids pair equal rows first."""
    from invoicekit.store import content_digests

    def group(rows: list[dict]) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for r in rows:
            out.setdefault(str(r.get("invoice_id")), []).append(r)
        return out

    b, a = group(before), group(after)
    pairs, removed, added = [], [], []
    for iid in sorted(set(b) | set(a)):
        olds, news = b.get(iid, []), a.get(iid, [])
        if len(olds) > 1 or len(news) > 1:
            import pandas as pd

            def digests(rows: list[dict]) -> list[str]:
                return content_digests(pd.DataFrame(rows)) if rows else []

            od, nd = digests(olds), digests(news)
            left_o = list(range(len(olds)))
            left_n = list(range(len(news)))
            for i in list(left_o):
                for j in left_n:
                    if od[i] == nd[j]:
                        pairs.append((olds[i], news[j]))
                        left_o.remove(i)
                        left_n.remove(j)
                        break
            olds = [olds[i] for i in left_o]
            news = [news[j] for j in left_n]
        k = min(len(olds), len(news))
        pairs += list(zip(olds[:k], news[:k], strict=True))
        removed += olds[k:]
        added += news[k:]
    return pairs, removed, added


def _doc_map(docs: Any) -> dict[str, dict[str, str]] | None:
    """``{invoice_id: {document_id: document_type}}`` from a frame or an iterable of dicts."""
    if docs is None:
        return None
    rows = docs.to_dict("records") if hasattr(docs, "to_dict") else list(docs)
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        iid, did = r.get("invoice_id"), r.get("document_id")
        if is_missing(iid) or is_missing(did) or not str(did):
            continue
        out.setdefault(str(iid), {})[str(did)] = str(r.get("document_type") or "")
    return out


def diff_invoices(
    before: pd.DataFrame,
    after: pd.DataFrame,
    *,
    documents_before: Any = None,
    documents_after: Any = None,
) -> pd.DataFrame:
    """Every difference between two invoice frames, one row per change (and per field).

    Parameters
    ----------
    before, after
        Invoice summaries (``schema.COLUMNS``), e.g. a close pack's and the month read again.
    documents_before, documents_after
        Optional document lists (frames or dicts with ``invoice_id``, ``document_id``,
        ``document_type``: an archive manifest, GetInvoicePDF listings). A document listed
        after but not before, on an invoice present in both, is a ``new_document``. Invoices
        missing from ``documents_before`` are not compared (they were not archived).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CHANGE_COLUMNS`. ``change`` is ``added``, ``removed``, ``changed``
        (one row per field, ``old``/``new`` the exact values as text), ``cancelled``
        (``tax_authority_status`` became CANCELLED) or ``new_document``; ``kind`` the
        document word (``invoice``, ``credit memo``, ``tax invoice``, ``payment receipt``);
        ``description`` one plain sentence. Sorted by account, invoice, change. Every schema
        column but ``account_name`` is compared; money exactly.

    Examples
    --------
    >>> from invoicekit import schema
    >>> one = {"AccountId": "100000000001", "InvoiceId": "E-1", "InvoiceType": "INVOICE",
    ...        "BillingPeriod": {"Year": 2026, "Month": 10},
    ...        "BaseCurrencyAmount": {"CurrencyCode": "USD", "TotalAmount": "10.00"}}
    >>> memo = {**one, "InvoiceId": "C-1", "InvoiceType": "CREDIT_MEMO", "OriginalInvoiceId": "E-1",
    ...         "BaseCurrencyAmount": {"CurrencyCode": "USD", "TotalAmount": "-1.00"}}
    >>> out = diff_invoices(schema.to_frame([one]), schema.to_frame([one, memo]))
    >>> out[["change", "invoice_id", "kind"]].values.tolist()
    [['added', 'C-1', 'credit memo']]
    """
    import pandas as pd

    from invoicekit import schema

    compared = [c for c in schema.COLUMNS if c not in NOT_COMPARED]
    pairs, removed, added = _pair(_records(before), _records(after))
    rows: list[dict] = []

    def emit(change: str, row: Mapping[str, Any], text: str, col=None, old="", new="") -> None:
        rows.append(
            {
                "change": change,
                "account_id": "" if is_missing(row.get("account_id")) else str(row["account_id"]),
                "account_name": None
                if is_missing(row.get("account_name"))
                else str(row["account_name"]),
                "invoice_id": str(row.get("invoice_id")),
                "kind": _kind(row),
                "billing_period": _period(row),
                "field": col,
                "old": old,
                "new": new,
                "description": text,
            }
        )

    for row in added:
        emit("added", row, _added(row))
    for row in removed:
        emit("removed", row, _removed(row))
    for old, new in pairs:
        for col in compared:
            if col not in old and col not in new:
                continue
            a, b = old.get(col), new.get(col)
            if _same(a, b):
                continue
            if col in schema.ADDED_COLUMNS and is_missing(a):
                continue  # a pack written before the column existed: not a change of the invoice
            if col == "tax_authority_status" and str(b).upper() == _CANCELLED:
                emit("cancelled", new, _cancelled(new, a), col, _plain(a), _plain(b))
            else:
                emit("changed", new, _changed(old, new, col), col, _plain(a), _plain(b))
    docs_b, docs_a = _doc_map(documents_before), _doc_map(documents_after)
    if docs_b is not None and docs_a is not None:
        for _, new in pairs:
            iid = str(new.get("invoice_id"))
            if iid not in docs_b or iid not in docs_a:
                continue
            for did, dtype in sorted(docs_a[iid].items()):
                if did not in docs_b[iid]:
                    emit("new_document", new, _new_document(new, dtype, did), "document_id",
                         "", did)  # fmt: skip
    order = {c: i for i, c in enumerate(CHANGES)}
    col_order = {c: i for i, c in enumerate(schema.COLUMNS)}
    rows.sort(
        key=lambda r: (
            r["account_id"],
            r["invoice_id"],
            order[r["change"]],
            col_order.get(r["field"] or "", len(col_order)),
            r["new"],
        )
    )
    out = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    for c in CHANGE_COLUMNS:
        out[c] = out[c].astype("string")
    return out


# --------------------------------------------------------------------------------------------
# Close packs
# --------------------------------------------------------------------------------------------


@dataclass
class ClosePack:
    """What :func:`read_close_pack` found in ``DIR/YYYY-MM/``."""

    path: Path
    month: str
    closed_at: datetime | None
    summaries: pd.DataFrame
    documents: pd.DataFrame | None  # the archive manifest (invoice_id, document_id, ...)


def _pack_month(path: Path, run: Mapping[str, Any]) -> str:
    from invoicekit.months import month_str, parse_month

    asked = run.get("asked") if isinstance(run.get("asked"), Mapping) else {}
    for value in (run.get("month"), asked.get("month"), path.name.split(".")[0]):
        if value:
            try:
                return month_str(parse_month(value, "--close"))
            except InvalidArgumentError:
                continue
    raise InvalidArgumentError(
        f"--close {path}: no billing month in run.json nor in the directory name: give the "
        "pack directory DIR/YYYY-MM written by `invoicekit close`"
    )


def _pack_time(run: Mapping[str, Any]) -> datetime | None:
    from invoicekit import clock

    asked = run.get("asked") if isinstance(run.get("asked"), Mapping) else {}
    for value in (
        run.get("closed_at"),
        run.get("finished_at"),
        run.get("ended_at"),
        asked.get("now"),
        run.get("now"),
    ):
        if value:
            try:
                return clock.parse(value, "closed_at")
            except InvalidArgumentError:
                continue
    return None


def read_close_pack(pack_dir: str | os.PathLike) -> ClosePack:
    """Read a close pack: month and close time (``run.json``), summaries, archive manifest.

    Raises
    ------
    InvalidArgumentError
        Not a directory, or no ``summaries.parquet``, or a ``run.json`` that is not JSON.

    Examples
    --------
    >>> pack = read_close_pack("close/2026-10")  # doctest: +SKIP
    >>> pack.month, pack.closed_at  # doctest: +SKIP
    ('2026-10', datetime.datetime(2026, 11, 12, 9, 0, tzinfo=datetime.timezone.utc))
    """
    import pandas as pd

    from invoicekit import schema
    from invoicekit.archive.manifest import MANIFEST_NAME, read_manifest

    path = Path(pack_dir).expanduser()
    if not path.is_dir():
        raise InvalidArgumentError(
            f"--close {path} is not a directory: give a close pack DIR/YYYY-MM written by "
            "`invoicekit close`"
        )
    run: dict = {}
    run_file = path / "run.json"
    if run_file.exists():
        try:
            run = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidArgumentError(
                f"--close {path}: run.json is not readable JSON ({exc}): write the pack again "
                "with `invoicekit close`"
            ) from None
        if not isinstance(run, dict):
            run = {}
    summaries_file = path / "summaries.parquet"
    if not summaries_file.exists():
        raise InvalidArgumentError(
            f"--close {path}: no summaries.parquet in the pack: give a close pack DIR/YYYY-MM "
            "written by `invoicekit close`"
        )
    try:
        summaries = schema.from_parquet(summaries_file)
    except Exception as exc:  # noqa: BLE001 - any unreadable parquet is bad input
        raise InvalidArgumentError(
            f"--close {path}: summaries.parquet is not readable ({type(exc).__name__}): write "
            "the pack again with `invoicekit close`"
        ) from None
    docs = None
    manifest = path / "archive" / MANIFEST_NAME
    manifest_json = path / "archive" / "manifest.json"
    if manifest.exists():
        docs = pd.DataFrame(read_manifest(manifest).rows)
    elif manifest_json.exists():
        data = json.loads(manifest_json.read_text(encoding="utf-8"))
        rows = data.get("documents", data) if isinstance(data, dict) else data
        docs = pd.DataFrame(list(rows))
    return ClosePack(path, _pack_month(path, run), _pack_time(run), summaries, docs)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


@dataclass
class ChangeReport:
    """The outcome of :func:`changes_since_close`.

    ``changes`` (:data:`CHANGE_COLUMNS`), ``month`` (``YYYY-MM``), ``since`` (the close time
    compared against), ``source`` (``"fleet"`` or ``"store"``), ``failures`` (accounts that
    could not be read: ``{account_id, account_name, message}``; their invoices are left out of
    the comparison), ``documents_compared`` (whether supplemental documents were compared).
    ``ok`` is true when the comparison is complete and nothing changed.
    """

    changes: pd.DataFrame
    month: str
    since: datetime | None = None
    source: str = "fleet"
    failures: list[dict] = field(default_factory=list)
    documents_compared: bool = False

    @property
    def complete(self) -> bool:
        """Every account was read."""
        return not self.failures

    @property
    def ok(self) -> bool:
        """Complete and nothing changed."""
        return self.complete and not len(self.changes)

    @property
    def exit_code(self) -> int:
        """0 nothing changed, 1 something changed, 3 partial (an account failed)."""
        from invoicekit.cli import EXIT_FINDINGS, EXIT_OK, EXIT_PARTIAL

        if self.failures:
            return EXIT_PARTIAL
        return EXIT_FINDINGS if len(self.changes) else EXIT_OK

    def counts(self) -> dict[str, int]:
        """Changes by kind of change (``changed`` counts invoices, not fields)."""
        out: dict[str, int] = {}
        for change in CHANGES:
            sub = self.changes[self.changes["change"] == change]
            n = sub["invoice_id"].nunique() if change == "changed" else len(sub)
            if n:
                out[change] = int(n)
        return out

    def sentences(self) -> list[str]:
        """One sentence per change; an invoice with many changed fields gets one sentence.

        The sentence of its first changed field (in schema order: the base total first)
        says how many other fields changed; every field stays in :attr:`changes`.
        """
        out: list[str] = []
        rows = self.changes.to_dict("records")
        k = 0
        while k < len(rows):
            r = rows[k]
            if r["change"] != "changed":
                out.append(str(r["description"]))
                k += 1
                continue
            j = k
            while (
                j < len(rows)
                and rows[j]["change"] == "changed"
                and rows[j]["invoice_id"] == r["invoice_id"]
                and rows[j]["account_id"] == r["account_id"]
            ):
                j += 1
            n = j - k
            if n <= _FIELDS_SPELLED_OUT:
                out += [str(x["description"]) for x in rows[k:j]]
            else:
                first = str(r["description"]).rstrip(".")
                others = n - 1
                out.append(f"{first}; {others} other amounts and fields changed with it.")
            k = j
        return out

    def summary(self) -> list[str]:
        """One sentence per change, one per failed account, and a summary line."""
        lines = self.sentences()
        for f in self.failures:
            who = (
                f"{f['account_name']} ({f['account_id']})"
                if f.get("account_name")
                else f["account_id"]
            )
            lines.append(f"Account {who} could not be read: {f['message']}")
        since = (
            f" since the close on {self.since.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            if self.since
            else ""
        )
        counts = self.counts()
        n = sum(counts.values())
        words = {"new_document": "new document", "changed": "changed"}
        parts = []
        for change, k in counts.items():
            if change == "new_document":
                parts.append(f"{k} new document{'s' if k != 1 else ''}")
            elif change == "changed":
                fields = int((self.changes["change"] == "changed").sum())
                parts.append(f"{k} changed ({fields} field{'s' if fields != 1 else ''})")
            else:
                parts.append(f"{k} {words.get(change, change)}")
        head = f"{months.month_words(self.month)}: " + (
            f"{n} change{'s' if n != 1 else ''}{since} ({', '.join(parts)})"
            if n
            else f"nothing changed{since}"
        )
        if not self.documents_compared:
            head += "; documents not compared"
        if self.failures:
            k = len(self.failures)
            head += f"; {k} account{'s' if k != 1 else ''} could not be read (partial)"
        return [*lines, head + "."]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _in_month(df: pd.DataFrame, month: str) -> pd.DataFrame:
    from invoicekit.months import as_period

    if not len(df):
        return df
    mask = (df["billing_period"] == as_period(month, "--month")).fillna(False)
    return df[mask.to_numpy(dtype=bool)].reset_index(drop=True)


def _without(df: pd.DataFrame | None, accounts: set[str]) -> pd.DataFrame | None:
    if df is None or not accounts or not len(df) or "account_id" not in df:
        return df
    keep = ~df["account_id"].astype("string").isin(accounts).fillna(False)
    return df[keep.to_numpy(dtype=bool)].reset_index(drop=True)


def _listed_documents(fleet: Any, invoices: Iterable[tuple[str, str]]) -> tuple[list, list]:
    """GetInvoicePDF for each (account, invoice): (document rows, failures)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from invoicekit.errors import translate_client_error

    rows: list[dict] = []
    failures: list[dict] = []
    failed: set[str] = set()
    names = {a.id: a.name for a in fleet.accounts}
    for account_id, invoice_id in invoices:
        if account_id in failed:
            continue
        try:
            client = fleet.client(account_id, "invoicing")
            pdf = client.get_invoice_pdf(InvoiceId=invoice_id)["InvoicePDF"]
        except ClientError as exc:
            err = translate_client_error(exc, operation="GetInvoicePDF", account_id=account_id)
            failed.add(account_id)
            failures.append(
                {"account_id": account_id, "account_name": names.get(account_id),
                 "message": str(err)}
            )  # fmt: skip
            continue
        except (BotoCoreError, InvoiceKitError) as exc:
            failed.add(account_id)
            failures.append(
                {"account_id": account_id, "account_name": names.get(account_id),
                 "message": f"GetInvoicePDF failed: {exc}"}
            )  # fmt: skip
            continue
        rows.append(
            {"invoice_id": invoice_id, "document_id": invoice_id, "document_type": "INVOICE"}
        )
        for doc in pdf.get("SupplementalDocuments") or []:
            rows.append(
                {
                    "invoice_id": invoice_id,
                    "document_id": doc.get("DocumentId"),
                    "document_type": doc.get("DocumentType"),
                }
            )
    return rows, failures


def changes_since_close(
    pack_dir: str | os.PathLike | None,
    *,
    fleet: Any = None,
    store: Any = None,
    month: object = None,
    since: object = None,
    progress: bool = False,
) -> ChangeReport:
    """What changed in a closed month since its close pack was written.

    Parameters
    ----------
    pack_dir
        The close pack ``DIR/YYYY-MM`` (``summaries.parquet``, ``archive/manifest.csv``,
        ``run.json`` with the month and the close time). ``None`` with ``store``: compare the
        store as of ``since`` with the store now.
    fleet
        A :class:`~invoicekit.fleet.Fleet` or fleet YAML path: the month is read again
        (ListInvoiceSummaries) and every archived invoice's documents listed (GetInvoicePDF).
        With ``store`` too, the fresh retrieval is saved in the store (a new version of what
        changed).
    store
        A :class:`~invoicekit.store.Store` or directory. Without ``fleet`` the store alone is
        the "after" side: its current invoices (documents are not compared).
    month, since
        Without a pack: the billing month and the moment to compare against (ISO timestamp);
        with a pack they default to its month and close time.

    Returns
    -------
    ChangeReport

    Raises
    ------
    InvalidArgumentError
        No pack and no ``store``/``month``/``since``; a bad pack; neither fleet nor store.

    Examples
    --------
    >>> report = changes_since_close("close/2026-10", fleet="fleet.yml")  # doctest: +SKIP
    >>> report.exit_code, report.counts()  # doctest: +SKIP
    (1, {'added': 1, 'cancelled': 1, 'new_document': 1})
    """
    from invoicekit import clock
    from invoicekit.months import month_str, parse_month
    from invoicekit.store import Store

    st = None
    if store is not None:
        st = store if isinstance(store, Store) else Store(store)
    pack = read_close_pack(pack_dir) if pack_dir is not None else None
    if pack is not None:
        the_month = pack.month if month is None else month_str(parse_month(month, "--month"))
        when = pack.closed_at if since is None else clock.parse(since, "--since")
        before = _in_month(pack.summaries, the_month)
        docs_before = pack.documents
    else:
        if st is None or month is None or since is None:
            raise InvalidArgumentError(
                "without --close, give --store DIR --month YYYY-MM --since TIMESTAMP (the "
                "store is compared as of --since with the store now)"
            )
        the_month = month_str(parse_month(month, "--month"))
        when = clock.parse(since, "--since")
        before = _in_month(st.as_of(when), the_month)
        docs_before = None
    if fleet is None and st is None:
        raise InvalidArgumentError(
            "nothing to compare the close with: give --config FLEET.yml (read the month again) "
            "or --store DIR (the local store's current invoices)"
        )

    failures: list[dict] = []
    docs_after = None
    if fleet is not None:
        from invoicekit.loader import read_invoice_summaries, resolve_fleet
        from invoicekit.outcomes import run_report

        fl = resolve_fleet(fleet)
        after = read_invoice_summaries(
            fl, the_month, the_month, store=st, refresh=st is not None, progress=progress
        )
        report = run_report(after)
        seen: set[str] = set()
        for f in report.failures if report is not None else []:
            if f.account_id in seen:
                continue
            seen.add(f.account_id)
            failures.append(
                {"account_id": f.account_id, "account_name": f.account_name, "message": f.message}
            )
        after = _in_month(after, the_month)
        if docs_before is not None and len(docs_before):
            archived = set(docs_before["invoice_id"].astype(str))
            both = set(before["invoice_id"].astype(str)) & set(after["invoice_id"].astype(str))
            wanted = sorted(
                {
                    (str(r["account_id"]), str(r["invoice_id"]))
                    for r in after[["account_id", "invoice_id"]].to_dict("records")
                    if str(r["invoice_id"]) in both & archived and str(r["account_id"]) not in seen
                }
            )
            rows, doc_failures = _listed_documents(fl, wanted)
            for f in doc_failures:
                if f["account_id"] not in seen:
                    seen.add(f["account_id"])
                    failures.append(f)
            import pandas as pd

            docs_after = pd.DataFrame(rows, columns=["invoice_id", "document_id", "document_type"])
        source = "fleet"
    else:
        after = _in_month(st.load(), the_month)
        source = "store"
    failed = {f["account_id"] for f in failures}
    before, after = _without(before, failed), _without(after, failed)
    if docs_before is not None and docs_after is not None:
        docs_before = _without(docs_before, failed)
    changes = diff_invoices(before, after, documents_before=docs_before, documents_after=docs_after)
    return ChangeReport(
        changes=changes,
        month=the_month,
        since=when,
        source=source,
        failures=failures,
        documents_compared=docs_after is not None,
    )
