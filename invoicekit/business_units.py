"""Business units, cost centers and the chargeback of a billing month, per currency.

A **mapping** assigns invoice units, member accounts or whole payers to business units (with
an optional cost center and GL account). It comes from a CSV file, a fleet file's
``business_units:`` section or a DataFrame (:func:`read_business_units`); each row names one
key — ``invoice_unit`` (a unit's name or ARN), ``account_id`` (a member account, the bill
source account of an invoice) or ``payer_account_id`` — then ``business_unit`` (required),
``cost_center`` and ``gl_account`` (optional)::

    invoice_unit,account_id,payer_account_id,business_unit,cost_center,gl_account
    Retail EU,,,Retail,CC-100,6100
    ,200000000003,,Platform,CC-200,6120
    ,,100000000002,Corporate,CC-900,

**Precedence** (the most specific key wins): invoice unit > member (bill source) account >
payer. An invoice is tied to its unit with :func:`invoicekit.units.unit_of_invoice` (by
``bill_source_account`` membership as of the month's end). Whole invoices are charged; splitting
below the invoice is :func:`invoicekit.allocate`'s job.

**The chargeback** (:func:`chargeback`) charges every payable invoice of the month
(:func:`invoicekit.documents.is_payable`: invoices, and credit memos, which reduce) to the
business unit its most specific mapping names. Nothing is dropped: what no mapping covers is an
explicit ``unallocated`` line, and an invoice unit that is not mapped itself but whose member
accounts belong to different business units is put on its own ``unallocated`` line (status
``split unit``) that names the unit and the business units, rather than guessed. Per currency
the lines add up exactly to the payable total of the month — the figure the executive summary
shows (:func:`invoicekit.report.headlines`), checked on every call.

docs/chargeback.md is the reference.

Examples
--------
>>> import pandas as pd
>>> bu = read_business_units(pd.DataFrame({"payer_account_id": ["100000000001"],
...                                        "business_unit": ["Retail"]}))
>>> bu.for_payer("100000000001")["business_unit"], bu.for_account("999999999999")
('Retail', None)
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pandas as pd

from invoicekit import documents, months, schema
from invoicekit._money import format_money
from invoicekit._na import is_missing
from invoicekit.errors import InvalidArgumentError

__all__ = [
    "KEY_COLUMNS",
    "VALUE_COLUMNS",
    "MAPPING_COLUMNS",
    "UNALLOCATED",
    "ALLOCATED",
    "NO_MAPPING",
    "SPLIT_UNIT",
    "CHARGEBACK_COLUMNS",
    "ASSIGNMENT_COLUMNS",
    "BusinessUnits",
    "read_business_units",
    "normalize_entry",
    "invoice_business_units",
    "chargeback",
    "chargeback_lines",
]

#: The keys a mapping row may name (exactly one per row), most specific first: precedence.
KEY_COLUMNS: tuple[str, ...] = ("invoice_unit", "account_id", "payer_account_id")
#: What a row assigns: ``business_unit`` is required, the others optional.
VALUE_COLUMNS: tuple[str, ...] = ("business_unit", "cost_center", "gl_account")
#: Every column a mapping may have.
MAPPING_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, *VALUE_COLUMNS)
#: The business unit of what no mapping covers (a reserved name).
UNALLOCATED = "unallocated"
#: ``status`` of a chargeback line: charged to a business unit of the mapping.
ALLOCATED = "allocated"
#: ``status``: no mapping covers these invoices.
NO_MAPPING = "no mapping"
#: ``status``: an invoice unit that is not mapped, whose member accounts are mapped to
#: different business units (one line per unit: map the unit itself).
SPLIT_UNIT = "split unit"

#: Columns of :func:`chargeback`.
CHARGEBACK_COLUMNS: list[str] = [
    "billing_period",
    "view",
    "currency",
    "business_unit",
    "cost_center",
    "gl_account",
    "invoices",
    "credit_memos",
    "subtotal",
    "discounts",
    "fees",
    "taxes",
    "total",
    "status",
    "invoice_unit",
    "detail",
]
#: Columns of :func:`invoice_business_units` (one row per invoice).
ASSIGNMENT_COLUMNS: list[str] = [
    "invoice_id",
    "account_id",
    "bill_source_account",
    "invoice_unit_arn",
    "invoice_unit_name",
    "business_unit",
    "cost_center",
    "gl_account",
    "matched_by",
    "matched_key",
    "mapping_row",
    "status",
    "detail",
]

_COMPONENTS = ("subtotal", "discounts", "fees", "taxes", "total")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_UNIT_ARN_RE = re.compile(r"^arn:aws[a-z-]*:invoicing::\d{12}:invoice-unit/\S+$")
_EXPECTED = (
    "one of account_id, invoice_unit, payer_account_id, then business_unit "
    "(and optionally cost_center, gl_account)"
)


# ----------------------------------------------------------------------------------------------
# one mapping row
# ----------------------------------------------------------------------------------------------


class EntryProblem(InvalidArgumentError):
    """A bad mapping row; ``field`` names the column at fault (``None``: the row itself)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _text(value: Any) -> str:
    if is_missing(value):
        return ""
    return str(value).strip()


def normalize_entry(entry: Mapping[str, Any]) -> dict[str, str | None]:
    """Validate one mapping row; return it with every :data:`MAPPING_COLUMNS` key.

    The rules: no unknown column; exactly one key of :data:`KEY_COLUMNS`; account ids are
    12-digit text (a spreadsheet that dropped a leading zero is named); an ``invoice_unit``
    that starts with ``arn:`` is an invoice unit ARN; ``business_unit`` is given and is not the
    reserved ``unallocated``; values are text (a number such as a GL account is read as text).

    Raises
    ------
    EntryProblem
        One line without the row's location (the caller adds file and row); ``.field`` is
        the column at fault.

    Examples
    --------
    >>> normalize_entry({"account_id": "200000000003", "business_unit": "Platform"})["key"]
    'account_id'
    >>> normalize_entry({"account_id": "20000000003", "business_unit": "Platform"})
    Traceback (most recent call last):
    ...
    invoicekit.business_units.EntryProblem: account_id '20000000003' is not 12 digits (a spreadsheet may have dropped a leading zero: format the column as text, e.g. 020000000003)
    """
    unknown = [k for k in entry if k not in MAPPING_COLUMNS]
    if unknown:
        raise EntryProblem(f"unknown column '{unknown[0]}' (expected {_EXPECTED})", unknown[0])
    out: dict[str, str | None] = {}
    for key in MAPPING_COLUMNS:
        value = entry.get(key)
        if is_missing(value) or (isinstance(value, str) and not value.strip()):
            out[key] = None
            continue
        if key in ("account_id", "payer_account_id") and not isinstance(value, str):
            raise EntryProblem(
                f'{key} {value!r} must be text: quote it, e.g. {key}: "{value}" (unquoted, '
                "a 12-digit id is read as a number and loses its leading zeros)",
                key,
            )
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise EntryProblem(f"{key} must be text (quote it), got {value!r}", key)
        out[key] = str(value).strip()
    keys = [k for k in KEY_COLUMNS if out[k]]
    if not keys:
        raise EntryProblem(
            "names no key: give one of account_id, invoice_unit (name or ARN), payer_account_id"
        )
    if len(keys) > 1:
        raise EntryProblem(
            f"names both {keys[0]} and {keys[1]}: one key per row (split it into two rows)",
            keys[1],
        )
    key = keys[0]
    value = out[key] or ""
    if key != "invoice_unit" and not _ACCOUNT_RE.match(value):
        hint = (
            f" (a spreadsheet may have dropped a leading zero: format the column as text, "
            f"e.g. {value.zfill(12)})"
            if value.isdigit() and len(value) < 12
            else " (12 digits, e.g. 111111111111)"
        )
        raise EntryProblem(f"{key} {value!r} is not 12 digits{hint}", key)
    if key == "invoice_unit" and value.startswith("arn:") and not _UNIT_ARN_RE.match(value):
        raise EntryProblem(
            f"invoice_unit {value!r} is not an invoice unit ARN (expected "
            "arn:aws:invoicing::<12-digit account>:invoice-unit/<id>, or the unit's name)",
            key,
        )
    if not out["business_unit"]:
        raise EntryProblem(
            "business_unit is empty: every row assigns a business unit", "business_unit"
        )
    if out["business_unit"].lower() == UNALLOCATED:
        raise EntryProblem(
            f"business_unit {out['business_unit']!r} is reserved for what no mapping covers: "
            "leave the row out instead",
            "business_unit",
        )
    out["key"] = key
    return out


def _assignment(entry: Mapping[str, Any]) -> tuple[str | None, ...]:
    return tuple(entry.get(k) for k in VALUE_COLUMNS)


def _describe(entry: Mapping[str, Any]) -> str:
    extra = ", ".join(f"{k} {entry[k]}" for k in ("cost_center", "gl_account") if entry.get(k))
    return f"{entry['business_unit']}" + (f" ({extra})" if extra else "")


def find_conflict(entries: Iterable[Mapping[str, Any]]) -> tuple[int, int] | None:
    """The first pair ``(i, j)`` of rows mapping one key to different assignments, if any.

    Rows repeating the same key with the same assignment are not a conflict.
    """
    seen: dict[tuple[str, str], int] = {}
    rows = list(entries)
    for j, e in enumerate(rows):
        k = (e["key"], e[e["key"]])
        if k in seen:
            i = seen[k]
            if _assignment(rows[i]) != _assignment(e):
                return i, j
        else:
            seen[k] = j
    return None


def conflict_message(first: Mapping[str, Any], second: Mapping[str, Any], first_at: str) -> str:
    """``invoice_unit 'Retail EU' is mapped twice: to Retail (row 2) and to Platform; ...``."""
    key = first["key"]
    return (
        f"{key} {first[key]!r} is mapped twice, to {_describe(first)} ({first_at}) and to "
        f"{_describe(second)}: keep one row"
    )


# ----------------------------------------------------------------------------------------------
# the mapping
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessUnits:
    """A validated business-unit mapping (build it with :func:`read_business_units`).

    Attributes
    ----------
    entries : tuple of dict
        One per row: :data:`MAPPING_COLUMNS`, ``key`` (which key the row names) and ``row``
        (where it came from: ``business_units.csv:4``, ``fleet.yml:12``, ``row 3``).
    source : str
        The file or object the mapping was read from (for messages).

    Examples
    --------
    >>> import pandas as pd
    >>> bu = read_business_units(pd.DataFrame({
    ...     "invoice_unit": ["Retail EU", None], "account_id": [None, "200000000003"],
    ...     "business_unit": ["Retail", "Platform"], "cost_center": ["CC-100", None]}))
    >>> bu.for_unit("Retail EU")["cost_center"], bu.for_account("200000000003")["business_unit"]
    ('CC-100', 'Platform')
    >>> bu.business_units
    ['Platform', 'Retail']
    """

    entries: tuple[dict[str, Any], ...]
    source: str = "mapping"
    _index: dict[tuple[str, str], dict[str, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for e in self.entries:
            self._index.setdefault((e["key"], e[e["key"]]), e)

    def _hit(self, key: str, value: Any) -> dict[str, Any] | None:
        text = _text(value)
        e = self._index.get((key, text)) if text else None
        if e is None:
            return None
        return {
            "business_unit": e["business_unit"],
            "cost_center": e.get("cost_center"),
            "gl_account": e.get("gl_account"),
            "matched_by": key,
            "key": text,
            "row": e.get("row"),
        }

    def for_unit(self, name_or_arn: Any, *, name: Any = None) -> dict[str, Any] | None:
        """The row of an invoice unit, by ARN or name (with ``name=``, the ARN first).

        Returns ``{business_unit, cost_center, gl_account, matched_by, key, row}`` or None.
        """
        return self._hit("invoice_unit", name_or_arn) or (
            self._hit("invoice_unit", name) if name is not None else None
        )

    def for_account(self, account_id: Any, payer_account_id: Any = None) -> dict[str, Any] | None:
        """The row of a member account; else (with ``payer_account_id``) its payer's row.

        A payer's own account is a member of its organization: ``for_account(payer)`` finds
        an ``account_id`` row for it, and ``for_account(payer, payer)`` falls back to the
        payer's row.
        """
        return self._hit("account_id", account_id) or (
            self._hit("payer_account_id", payer_account_id)
            if payer_account_id is not None
            else None
        )

    def for_payer(self, payer_account_id: Any) -> dict[str, Any] | None:
        """The ``payer_account_id`` row of a payer (everything billed to it), or None."""
        return self._hit("payer_account_id", payer_account_id)

    @property
    def has_unit_keys(self) -> bool:
        """Whether a row names an invoice unit (the chargeback then needs the units)."""
        return any(e["key"] == "invoice_unit" for e in self.entries)

    @property
    def business_units(self) -> list[str]:
        """The business units the mapping names, sorted."""
        return sorted({e["business_unit"] for e in self.entries})

    @property
    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame: :data:`MAPPING_COLUMNS` and ``row``."""
        cols = [*MAPPING_COLUMNS, "row"]
        return pd.DataFrame([{c: e.get(c) for c in cols} for e in self.entries], columns=cols)

    def __len__(self) -> int:
        return len(self.entries)


def _from_rows(
    rows: Iterable[tuple[Mapping[str, Any], str]], source: str, flag: str = ""
) -> BusinessUnits:
    """Validate rows (``(row, where)``); ``flag`` (``--mapping``) starts every message."""
    lead = f"{flag} " if flag.startswith("-") else ""
    entries: list[dict[str, Any]] = []
    for raw, where in rows:
        try:
            e = normalize_entry(raw)
        except EntryProblem as exc:
            raise InvalidArgumentError(f"{lead}{where}: {exc}") from None
        e["row"] = where
        entries.append(e)
    found = find_conflict(entries)
    if found is not None:
        i, j = found
        raise InvalidArgumentError(
            f"{lead}{entries[j]['row']}: "
            + conflict_message(entries[i], entries[j], entries[i]["row"])
        )
    unique: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for e in entries:  # an identical repeat is kept once
        k = (e["key"], e[e["key"]])
        if k not in seen:
            seen.add(k)
            unique.append(e)
    return BusinessUnits(tuple(unique), source)


def _check_columns(columns: Iterable[Any], where: str) -> list[str]:
    cols = [str(c).strip() for c in columns]
    unknown = [c for c in cols if c not in MAPPING_COLUMNS]
    if unknown:
        raise InvalidArgumentError(
            f"{where}: unknown column '{unknown[0]}' (expected {_EXPECTED}; it has "
            f"{', '.join(cols) or 'none'})"
        )
    if "business_unit" not in cols or not any(k in cols for k in KEY_COLUMNS):
        raise InvalidArgumentError(
            f"{where}: a business-unit mapping needs {_EXPECTED}; it has {', '.join(cols) or 'no column'}"
        )
    return cols


def _read_csv(path: Path, name: str) -> BusinessUnits:
    where = f"{name} {path}" if name else str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidArgumentError(
            f"{where}: no such file (a CSV with {_EXPECTED}; see docs/chargeback.md)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"{where}: cannot read it ({exc})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidArgumentError(
            f"{where}: the file is empty (expected a header: {_EXPECTED})"
        ) from None
    cols = _check_columns(header, where)
    rows = []
    for n, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue  # a blank line
        if len(values) > len(cols):
            raise InvalidArgumentError(
                f"{path}:{n}: {len(values)} values for {len(cols)} columns (quote a value "
                "holding a comma)"
            )
        rows.append((dict(zip(cols, values, strict=False)), f"{path}:{n}"))
    return _from_rows(rows, str(path), name)


def _from_fleet(fleet: Any, name: str = "") -> BusinessUnits:
    section = getattr(fleet, "business_units", None)
    path = getattr(fleet, "path", None) or "the fleet"
    if section is None:
        raise InvalidArgumentError(
            f"{path}: the fleet file has no business_units: section (add one, or pass a CSV "
            "mapping; see docs/chargeback.md)"
        )
    if isinstance(section, str | os.PathLike):
        return _read_csv(Path(section), name)
    rows = [(entry, f"{path}:{line}" if line else f"{path}: business_units[{i}]")
            for i, (entry, line) in enumerate(section)]  # fmt: skip
    return _from_rows(rows, str(path), name)


def read_business_units(source: Any, *, name: str = "mapping") -> BusinessUnits:
    """Read and validate a business-unit mapping.

    Parameters
    ----------
    source : path, Fleet, DataFrame, list of dict or BusinessUnits
        A CSV file (``.csv``); a fleet file (``.yml``/``.yaml``) or :class:`~invoicekit.Fleet`
        whose ``business_units:`` section is used; a DataFrame or a list of dicts with
        :data:`MAPPING_COLUMNS`; or a :class:`BusinessUnits` (returned as is).
    name : str
        How messages name the source (``"--mapping"`` on the command line).

    Returns
    -------
    BusinessUnits

    Raises
    ------
    InvalidArgumentError
        One line naming the file and row and the fix: an unknown column (the expected ones are
        listed), a row with no key or two keys, an account id that is not 12 digits, an empty
        business unit, a key mapped twice to different business units (both rows named).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "bu.csv"
    >>> _ = p.write_text("account_id,business_unit\\n200000000003,Platform\\n200000000003,Retail\\n")
    >>> read_business_units(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    invoicekit.errors.InvalidArgumentError: .../bu.csv:3: account_id '200000000003' is mapped twice, to Platform (.../bu.csv:2) and to Retail: keep one row
    """
    if isinstance(source, BusinessUnits):
        return source
    if source is None:
        raise InvalidArgumentError(
            f"{name}: no business-unit mapping given (a CSV file, a fleet file with a "
            "business_units: section, or a DataFrame)"
        )
    if isinstance(source, pd.DataFrame):
        _check_columns(source.columns, f"{name} (DataFrame)")
        rows = [
            ({str(k).strip(): v for k, v in r.items()}, f"{name} row {i + 1}")
            for i, r in enumerate(source.astype(object).to_dict("records"))
        ]
        return _from_rows(rows, f"{name} (DataFrame)")
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.suffix.lower() in (".yml", ".yaml"):
            from invoicekit.fleet import load_fleet

            return _from_fleet(load_fleet(path), name)
        return _read_csv(path, name)
    if hasattr(source, "accounts") and hasattr(source, "business_units"):
        return _from_fleet(source, name)
    if isinstance(source, Iterable) and not isinstance(source, Mapping):
        rows = []
        for i, r in enumerate(source):
            if not isinstance(r, Mapping):
                raise InvalidArgumentError(f"{name} row {i + 1}: expected a mapping, got {r!r}")
            rows.append((dict(r), f"{name} row {i + 1}"))
        return _from_rows(rows, name)
    raise InvalidArgumentError(
        f"{name}: expected a CSV path, a fleet (file), a DataFrame or a list of rows, got "
        f"{type(source).__name__}"
    )


# ----------------------------------------------------------------------------------------------
# invoices -> business units
# ----------------------------------------------------------------------------------------------


class _Units:
    """Members and names of invoice units, per billing month (cached)."""

    def __init__(self, units: pd.DataFrame | None) -> None:
        self.units = units
        self._cache: dict[str, tuple[dict[str, list[str]], dict[str, str]]] = {}

    def of(self, period: str) -> tuple[dict[str, list[str]], dict[str, str]]:
        if period not in self._cache:
            members: dict[str, list[str]] = defaultdict(list)
            names: dict[str, str] = {}
            if self.units is not None and len(self.units):
                from invoicekit.units import units_at_month_end

                snap = units_at_month_end(self.units, period)
                for arn, name, member in zip(
                    snap["invoice_unit_arn"].astype(object),
                    snap["invoice_unit_name"].astype(object),
                    snap["member_account_id"].astype(object),
                    strict=True,
                ):
                    arn = _text(arn)
                    if not arn:
                        continue
                    names.setdefault(arn, _text(name))
                    if _text(member) and _text(member) not in members[arn]:
                        members[arn].append(_text(member))
            self._cache[period] = (dict(members), names)
        return self._cache[period]


def _unit_arns(summaries: pd.DataFrame, units: pd.DataFrame | None) -> list[str]:
    if units is None or not len(summaries):
        return [""] * len(summaries)
    from invoicekit.units import unit_of_invoice

    found = unit_of_invoice(summaries, units)
    return [_text(v) for v in pd.Series(found).astype(object).to_numpy()]


def _who(account_id: str, payer: str) -> str:
    return "the payer" if account_id == payer else account_id


def invoice_business_units(
    summaries: pd.DataFrame, mapping: Any, *, units: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The business unit of every invoice row: one row per row of ``summaries`` (same index).

    The most specific mapping wins: the invoice's unit (:func:`invoicekit.units.unit_of_invoice`,
    by ARN, then by name), else — for a unit that is not mapped — its member accounts as of the
    month's end when they all resolve to one assignment (each member by its own row, else its
    payer's), else the invoice's bill source account's row, else its payer's row. A unit whose
    members resolve to different assignments gets status :data:`SPLIT_UNIT` (business unit
    :data:`UNALLOCATED`, the detail names them); nothing matched gives :data:`NO_MAPPING`.

    Parameters
    ----------
    summaries : pandas.DataFrame
        Invoice rows (``invoicekit.schema.COLUMNS``; ``bill_source_account`` may be missing in
        files written before it existed).
    mapping : BusinessUnits or anything :func:`read_business_units` reads
    units : pandas.DataFrame, optional
        :func:`invoicekit.read_invoice_units`' frame. Required when the mapping names invoice
        units.

    Returns
    -------
    pandas.DataFrame
        :data:`ASSIGNMENT_COLUMNS`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"invoice_id": ["I-1"], "account_id": ["100000000001"],
    ...                    "billing_period": [pd.Period("2026-10", "M")]})
    >>> invoice_business_units(df, [{"payer_account_id": "100000000001",
    ...                              "business_unit": "Retail"}])["business_unit"].tolist()
    ['Retail']
    """
    bu = read_business_units(mapping)
    if bu.has_unit_keys and units is None:
        rows = [e["row"] for e in bu.entries if e["key"] == "invoice_unit"]
        raise InvalidArgumentError(
            f"the mapping assigns invoice units ({', '.join(rows[:3])}"
            f"{', ...' if len(rows) > 3 else ''}) but no units were given: pass units= "
            "(--units FILE, written by `invoicekit units`)"
        )
    arns = _unit_arns(summaries, units)
    known = _Units(units)
    bsa_col = (
        summaries["bill_source_account"].astype(object).to_numpy()
        if "bill_source_account" in summaries.columns
        else [None] * len(summaries)
    )
    names_of: dict[str, str] = {}
    if "account_name" in summaries.columns:
        for a, n in zip(summaries["account_id"].astype(object), summaries["account_name"].astype(object), strict=True):  # fmt: skip
            if _text(n):
                names_of.setdefault(_text(a), _text(n))
    out = []
    for inv, payer, period, bsa, arn in zip(
        summaries["invoice_id"].astype(object).to_numpy(),
        summaries["account_id"].astype(object).to_numpy(),
        summaries["billing_period"].astype(object).to_numpy(),
        bsa_col,
        arns,
        strict=True,
    ):
        payer, bsa = _text(payer), _text(bsa)
        month = months.month_str(period)
        members, names = known.of(month) if arn else ({}, {})
        unit_name = names.get(arn, "") if arn else ""
        row: dict[str, Any] = {
            "invoice_id": _text(inv),
            "account_id": payer,
            "bill_source_account": bsa or None,
            "invoice_unit_arn": arn or None,
            "invoice_unit_name": unit_name or None,
            "business_unit": UNALLOCATED,
            "cost_center": None,
            "gl_account": None,
            "matched_by": None,
            "matched_key": None,
            "mapping_row": None,
            "status": NO_MAPPING,
            "detail": None,
        }
        hit = bu.for_unit(arn, name=unit_name or None) if arn else None
        if hit is None and arn:
            accounts = members.get(arn) or ([bsa] if bsa else [])
            resolved = {m: bu.for_account(m, payer) for m in accounts}
            kinds = {(_assignment(h) if h else None) for h in resolved.values()}
            if len(kinds) > 1:
                named = {h["business_unit"] for h in resolved.values() if h}
                plain = len(named) + (None in kinds) == len(kinds)  # names tell them apart
                groups: dict[str, list[str]] = defaultdict(list)
                for m, h in resolved.items():
                    what = (h["business_unit"] if plain else _describe(h)) if h else "none"
                    groups[what].append(_who(m, payer))
                spread = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(groups.items()))
                label = unit_name or arn
                rows_used = sorted({h["row"] for h in resolved.values() if h and h["row"]})
                row.update(
                    status=SPLIT_UNIT,
                    mapping_row=", ".join(rows_used) or None,
                    detail=(
                        f"invoice unit {label} is not mapped and its member accounts are in "
                        f"different business units ({spread}): map the unit itself "
                        f"(invoice_unit {label})"
                    ),
                )
                out.append(row)
                continue
            hits = [h for h in resolved.values() if h]
            if hits:
                hit = dict(hits[0])
                if len({(h["matched_by"], h["key"]) for h in hits}) > 1:
                    hit["matched_by"] = "member accounts"
                    hit["key"] = ", ".join(sorted({h["key"] for h in hits}))
                    hit["row"] = ", ".join(sorted({h["row"] for h in hits if h["row"]}))
        if hit is None and not arn:
            hit = bu.for_account(bsa, payer) if bsa else bu.for_payer(payer)
        if hit is None:
            who = f"payer {names_of[payer]} ({payer})" if names_of.get(payer) else f"payer {payer}"
            row["detail"] = f"invoice unit {unit_name or arn} of {who}" if arn else who
            out.append(row)
            continue
        row.update(
            business_unit=hit["business_unit"],
            cost_center=hit["cost_center"],
            gl_account=hit["gl_account"],
            matched_by=hit["matched_by"],
            matched_key=hit["key"],
            mapping_row=hit["row"],
            status=ALLOCATED,
        )
        out.append(row)
    frame = pd.DataFrame(out, columns=ASSIGNMENT_COLUMNS, index=summaries.index)
    return frame.astype(object).where(frame.notna(), None)


# ----------------------------------------------------------------------------------------------
# the chargeback
# ----------------------------------------------------------------------------------------------


def _month_of(summaries: pd.DataFrame, month: Any, view: str) -> str:
    if month is not None:
        return months.format_month(*months.parse_month(month, "month"))
    from invoicekit.report import headlines

    found = headlines(summaries, None, view)
    return found[0].month if found else months.last_closed_month()


def _payable_totals(summaries: pd.DataFrame, month: str, view: str) -> dict[str, Decimal]:
    """The payable total of the month per currency: the executive summary's own figure."""
    from invoicekit.report import headlines

    return {h.currency: h.spend for h in headlines(summaries, month, view)}


def _decimal(value: Any) -> Decimal:
    if is_missing(value):
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def chargeback(
    summaries: pd.DataFrame,
    mapping: Any,
    *,
    units: pd.DataFrame | None = None,
    month: Any = None,
    view: str = "payment",
) -> pd.DataFrame:
    """Charge one billing month back to business units: exact amounts per unit and currency.

    Parameters
    ----------
    summaries : pandas.DataFrame
        Invoice summaries (``invoicekit.schema.COLUMNS``); may hold many months.
    mapping : path, Fleet, DataFrame or BusinessUnits
        The business-unit mapping (:func:`read_business_units`).
    units : pandas.DataFrame, optional
        :func:`invoicekit.read_invoice_units`' frame (``invoicekit units --output``); needed
        when the mapping names invoice units, and to check that a unit's member accounts
        agree (without it an invoice is charged by its bill source account, then its payer).
    month : str or pandas.Period, optional
        The billing month ``"YYYY-MM"``; default the executive summary's month (the last
        closed month, or the latest month of the data when that is earlier).
    view : {"payment", "base", "tax"}
        The currency view: ``payment`` (what accounts payable pays) by default.

    Returns
    -------
    pandas.DataFrame
        :data:`CHARGEBACK_COLUMNS`: one line per business unit, cost center, GL account and
        currency (``status`` :data:`ALLOCATED`), then per currency the ``unallocated`` lines
        (``status`` :data:`NO_MAPPING`, and one :data:`SPLIT_UNIT` line per unit whose
        members disagree, ``detail`` saying what to map). Amounts are exact Decimals (as
        invoiced, not rounded); ``invoices`` and ``credit_memos`` count the documents.
        ``attrs``: ``month``, ``view``, ``payable_totals`` (``{currency: Decimal}``, the
        executive summary's figure the lines add up to), ``assignments`` (one row per invoice:
        :data:`ASSIGNMENT_COLUMNS` plus ``currency``, ``kind`` and ``total``) and ``notes``
        (mapping rows that charged nothing this month, in plain sentences).

    Raises
    ------
    InvalidArgumentError
        A bad mapping or month; unit keys without ``units``; a payable invoice without an
        amount in ``view`` (use ``view="base"``).

    Examples
    --------
    >>> from invoicekit.sandbox.org import build_organization
    >>> from invoicekit.schema import to_frame
    >>> org = build_organization(accounts=3, months=2, today="2026-11-25")
    >>> df = to_frame(org.invoices)
    >>> first = org.accounts[0].account_id
    >>> cb = chargeback(df, [{"payer_account_id": first, "business_unit": "Retail"}],
    ...                 month="2026-10")
    >>> sorted(set(cb["business_unit"]))
    ['Retail', 'unallocated']
    >>> all(cb[cb.currency == c]["total"].sum() == t for c, t in cb.attrs["payable_totals"].items())
    True
    """
    view = schema.check_view(view)
    bu = read_business_units(mapping)
    month = _month_of(summaries, month, view)
    period = months.as_period(month)
    in_month = (summaries["billing_period"] == period).to_numpy()
    payable = documents.is_payable(summaries)
    rows = summaries.loc[in_month & payable]
    kinds = documents.kinds(rows).to_numpy()
    cur_col = f"{view}_currency"
    currencies = [_text(c) for c in rows[cur_col].astype(object).to_numpy()]
    missing = [i for i, c in enumerate(currencies) if not c]
    if missing:
        inv = _text(rows["invoice_id"].iat[missing[0]])
        raise InvalidArgumentError(
            f"invoice {inv} of {months.month_words(month)} has no {schema.VIEW_LABELS[view]} "
            f"amount: use view='base' (--view base), or fetch it again"
        )
    assigned = invoice_business_units(rows, bu, units=units)
    sums: dict[tuple, dict[str, Any]] = {}
    with localcontext() as ctx:
        ctx.prec = 60
        values = {c: rows[f"{view}_{c}"].astype(object).to_numpy() for c in _COMPONENTS}
        for i, a in enumerate(assigned.to_dict("records")):
            status = a["status"]
            detail_key = a["detail"] if status == SPLIT_UNIT else None
            key = (
                currencies[i],
                status != ALLOCATED,
                status,
                a["business_unit"],
                a["cost_center"] or "",
                a["gl_account"] or "",
                detail_key or "",
            )
            line = sums.get(key)
            if line is None:
                line = sums[key] = {
                    "currency": currencies[i],
                    "business_unit": a["business_unit"],
                    "cost_center": a["cost_center"],
                    "gl_account": a["gl_account"],
                    "status": status,
                    "invoice_unit": (a["invoice_unit_name"] or a["invoice_unit_arn"])
                    if status == SPLIT_UNIT
                    else None,
                    "detail": detail_key,
                    "uncovered": [],
                    "invoices": 0,
                    "credit_memos": 0,
                    **{c: Decimal(0) for c in _COMPONENTS},
                }
            for c in _COMPONENTS:
                line[c] += _decimal(values[c][i])
            if kinds[i] == documents.CREDIT_MEMO:
                line["credit_memos"] += 1
            else:
                line["invoices"] += 1
            if status == NO_MAPPING:
                line["uncovered"].append((a["detail"], kinds[i]))
    lines = []
    for key in sorted(sums):
        line = sums[key]
        if line["status"] == NO_MAPPING:
            counted: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for what, kind in line["uncovered"]:
                counted[what][kind] += 1
            line["detail"] = "no mapping covers " + "; ".join(
                f"{what}: {documents.describe(dict(counted[what]))}" for what in sorted(counted)
            )
        lines.append({"billing_period": month, "view": view, **line})
    frame = pd.DataFrame(lines, columns=CHARGEBACK_COLUMNS)
    for c in _COMPONENTS:
        frame[c] = pd.array(list(frame[c]), dtype=schema.MONEY_DTYPE)
    for c in ("invoices", "credit_memos"):
        frame[c] = frame[c].astype("Int64")
    expected = _payable_totals(summaries, month, view)
    got: dict[str, Decimal] = defaultdict(Decimal)
    for c, t in zip(frame["currency"], frame["total"], strict=True):
        got[c] += t
    for c in sorted(set(expected) | set(got)):
        if expected.get(c, Decimal(0)) != got.get(c, Decimal(0)):  # a bug, never a finding
            raise RuntimeError(
                f"chargeback of {month} in {c} is {got.get(c, 0)}, not the payable total "
                f"{expected.get(c, 0)} of the executive summary"
            )
    detail = assigned.copy()
    detail["currency"] = currencies
    detail["kind"] = kinds
    detail["total"] = list(values["total"]) if len(rows) else []
    frame.attrs.update(
        month=month,
        view=view,
        payable_totals={c: expected.get(c, Decimal(0)) for c in sorted(got)},
        assignments=detail.reset_index(drop=True),
        notes=_notes(bu, assigned, month),
    )
    return frame


def _notes(bu: BusinessUnits, assigned: pd.DataFrame, month: str) -> list[str]:
    """Mapping rows no invoice of the month was charged by, in plain sentences."""
    used: set[str] = set()
    for rows in assigned["mapping_row"].dropna():
        used.update(r.strip() for r in str(rows).split(","))
    out = []
    for e in bu.entries:
        if e.get("row") in used:
            continue
        key = e["key"]
        why = {
            "account_id": "no invoice of the month has it as its bill source account or as a "
            "member of its unit (whole invoices are charged: map its unit, or split below the "
            "invoice with invoicekit allocate)",
            "invoice_unit": "no invoice of the month belongs to that unit",
            "payer_account_id": "every invoice of that payer was charged by a more specific row, "
            "or it has none this month",
        }[key]
        out.append(
            f"{e['row']}: {key} {e[key]} → {e['business_unit']} charged nothing in "
            f"{months.month_words(month)}: {why}."
        )
    return out


def chargeback_lines(frame: pd.DataFrame) -> list[str]:
    """Per currency: ``EUR: 3 business units + unallocated = 1,234.56 EUR, the payable total
    of October 2026``.

    Examples
    --------
    >>> import pandas as pd
    >>> from decimal import Decimal
    >>> f = pd.DataFrame({"currency": ["EUR", "EUR"], "business_unit": ["Retail", "unallocated"],
    ...                   "status": ["allocated", "no mapping"],
    ...                   "total": [Decimal("1000"), Decimal("234.56")]})
    >>> f.attrs["month"] = "2026-10"
    >>> chargeback_lines(f)
    ['EUR: 1 business unit + unallocated = 1,234.56 EUR, the payable total of October 2026']
    """
    month = frame.attrs.get("month")
    out = []
    for c in sorted(set(frame["currency"])):
        sel = frame[frame["currency"] == c]
        allocated = sel[sel["status"] == ALLOCATED]
        n = allocated["business_unit"].nunique()
        total = sum((Decimal(t) for t in sel["total"]), Decimal(0))
        parts = [documents.plural(n, "business unit")] if n else []
        if (sel["status"] != ALLOCATED).any():
            parts.append(UNALLOCATED)
        of = f", the payable total of {months.month_words(month)}" if month else ""
        out.append(f"{c}: {' + '.join(parts)} = {format_money(total, c, code=True)}{of}")
    return out
