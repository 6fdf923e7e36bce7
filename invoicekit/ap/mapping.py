"""Which supplier, GL account and tax code each AWS invoicing entity is booked to.

AWS invoices come from several *invoicing entities* (``Amazon Web Services, Inc.``, ``Amazon
Web Services EMEA SARL``, ``Amazon Web Services Japan G.K.``...). An AP system knows each as a
supplier (vendor) with a site, books the charges to an expense account and the tax with a tax
code. The mapping says so, per invoicing entity, from a small file or the fleet file's ``ap:``
section; what it does not say falls back to the defaults of :data:`DEFAULTS`.

A mapping file is YAML (a mapping of invoicing entity to its keys; ``"*"`` for every entity)::

    "*":
      gl_account: "6100"
    "Amazon Web Services EMEA SARL":
      supplier: AWS EMEA SARL
      supplier_site: LU-MAIN
      tax_code: "Reverse Charge"

or CSV, with an ``invoicing_entity`` column and any of :data:`MAPPING_KEYS`::

    invoicing_entity,supplier,gl_account,tax_code
    *,,6100,
    Amazon Web Services EMEA SARL,AWS EMEA SARL,,Reverse Charge

Pure apart from reading that file; no pandas.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoicekit.errors import InvalidArgumentError

__all__ = ["MAPPING_KEYS", "DEFAULTS", "ANY_ENTITY", "Booking", "APMapping", "load_mapping"]

#: Keys of one invoicing entity's entry.
MAPPING_KEYS: tuple[str, ...] = (
    "supplier",
    "gl_account",
    "tax_account",
    "tax_code",
    "supplier_site",
    "business_unit",
)
#: The entry that applies to every invoicing entity (under its own entry).
ANY_ENTITY = "*"
#: What applies when neither the options, the entity's entry, ``"*"`` nor the fleet file say.
#: ``supplier`` ``None`` means the invoicing entity's own name; ``tax_account`` ``None`` means
#: the ``gl_account`` (the tax is booked with the charges); ``tax_code`` ``None`` means the
#: format's own default (empty, but ``Tax Exempt`` for xero, whose TaxType is required).
DEFAULTS: dict[str, str | None] = {
    "supplier": None,
    "gl_account": "6100",
    "tax_account": None,
    "tax_code": None,
    "supplier_site": None,
    "business_unit": None,
}


@dataclass(frozen=True)
class Booking:
    """How one invoice is booked: the resolved mapping of its invoicing entity."""

    supplier: str
    gl_account: str
    tax_account: str
    tax_code: str | None
    supplier_site: str | None
    business_unit: str | None


def _clean(value: Any, where: str, key: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidArgumentError(f"{where}: {key} must be a text value (quote it), got {value!r}")
    text = str(value).strip()
    return text or None


def _entries(raw: Any, where: str) -> dict[str, dict[str, str | None]]:
    """Validate ``{entity: {key: value}}`` (as read from YAML or given in Python)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidArgumentError(
            f"{where}: expected a mapping of invoicing entity to its keys "
            f"({', '.join(MAPPING_KEYS)}), got {type(raw).__name__}"
        )
    out: dict[str, dict[str, str | None]] = {}
    for entity, entry in raw.items():
        if not isinstance(entity, str) or not entity.strip():
            raise InvalidArgumentError(
                f"{where}: {entity!r} is not an invoicing entity name (write it as text, e.g. "
                '"Amazon Web Services, Inc.", or "*" for every entity)'
            )
        if not isinstance(entry, Mapping):
            raise InvalidArgumentError(
                f"{where}: the entry of {entity!r} must be a mapping of "
                f"{', '.join(MAPPING_KEYS)}, got {entry!r}"
            )
        unknown = [k for k in entry if k not in MAPPING_KEYS]
        if unknown:
            raise InvalidArgumentError(
                f"{where}: {entity!r}: unknown key '{unknown[0]}' "
                f"(known keys: {', '.join(MAPPING_KEYS)})"
            )
        out[entity.strip()] = {k: _clean(v, f"{where}: {entity!r}", k) for k, v in entry.items()}
    return out


def _read_file(path: Path, name: str) -> dict[str, dict[str, str | None]]:
    where = f"{name} {path}"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidArgumentError(
            f"{where}: no such file (a YAML or CSV mapping of invoicing entity to supplier, "
            "gl_account, tax_code; see docs/ap.md)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"{where}: cannot read it ({exc})") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        fields = [f.strip() for f in reader.fieldnames or []]
        if "invoicing_entity" not in fields:
            raise InvalidArgumentError(
                f"{where}: a CSV mapping needs an invoicing_entity column "
                f"(and any of {', '.join(MAPPING_KEYS)}); it has {', '.join(fields) or 'none'}"
            )
        unknown = [f for f in fields if f not in ("invoicing_entity", *MAPPING_KEYS)]
        if unknown:
            raise InvalidArgumentError(
                f"{where}: unknown column '{unknown[0]}' "
                f"(known: invoicing_entity, {', '.join(MAPPING_KEYS)})"
            )
        raw: dict[str, dict[str, Any]] = {}
        for n, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            entity = row.pop("invoicing_entity", "")
            if not entity:
                raise InvalidArgumentError(f"{where}:{n}: empty invoicing_entity (use * for all)")
            if entity in raw:
                raise InvalidArgumentError(f"{where}:{n}: {entity!r} is listed twice")
            raw[entity] = {k: v for k, v in row.items() if v}
        return _entries(raw, where)
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise InvalidArgumentError(f"{where}{at}: YAML syntax error ({exc})") from None
    return _entries(data, where)


class APMapping:
    """The resolved mapping: what every invoicing entity is booked to.

    Parameters
    ----------
    entries : mapping, optional
        ``{invoicing entity: {key: value}}`` (keys of :data:`MAPPING_KEYS`; ``"*"`` for all).
    overrides : mapping, optional
        Values that win over every entry (the CLI's ``--supplier-site``, ``--business-unit``).
    fallback : mapping, optional
        Values used when no entry says (the fleet file's ``ap:`` ``supplier_site`` and
        ``business_unit``), before :data:`DEFAULTS`.

    Examples
    --------
    >>> m = APMapping({"*": {"gl_account": "6200"}, "AWS EMEA": {"supplier": "AWS-EU"}})
    >>> b = m.booking("AWS EMEA")
    >>> b.supplier, b.gl_account, b.tax_account
    ('AWS-EU', '6200', '6200')
    >>> m.booking("Amazon Web Services, Inc.").supplier
    'Amazon Web Services, Inc.'
    """

    def __init__(
        self,
        entries: Mapping[str, Mapping[str, str | None]] | None = None,
        *,
        overrides: Mapping[str, str | None] | None = None,
        fallback: Mapping[str, str | None] | None = None,
    ) -> None:
        self.entries = _entries(entries, "mapping") if entries else {}
        self.overrides = {k: v for k, v in (overrides or {}).items() if v}
        self.fallback = {k: v for k, v in (fallback or {}).items() if v}

    def value(self, entity: str, key: str) -> str | None:
        """One key for ``entity``: option, entity entry, ``"*"``, fleet ``ap:``, default."""
        for layer in (
            self.overrides,
            self.entries.get(entity, {}),
            self.entries.get(ANY_ENTITY, {}),
            self.fallback,
        ):
            if layer.get(key):
                return layer[key]
        return DEFAULTS[key]

    def booking(self, entity: str | None) -> Booking:
        """The :class:`Booking` of invoices from ``entity``."""
        name = entity or ""
        gl = self.value(name, "gl_account") or ""
        return Booking(
            supplier=self.value(name, "supplier") or name,
            gl_account=gl,
            tax_account=self.value(name, "tax_account") or gl,
            tax_code=self.value(name, "tax_code"),
            supplier_site=self.value(name, "supplier_site"),
            business_unit=self.value(name, "business_unit"),
        )


def load_mapping(
    mapping: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    fleet_ap: Mapping[str, Any] | None = None,
    supplier_site: str | None = None,
    business_unit: str | None = None,
    name: str = "mapping",
) -> APMapping:
    """Build the :class:`APMapping` of an export.

    Parameters
    ----------
    mapping : path or mapping, optional
        A YAML/CSV mapping file, or the entries themselves. Default: the fleet file's
        ``ap: mapping`` (inline entries or a file path), else no entries (defaults only).
    fleet_ap : mapping, optional
        The fleet file's ``ap:`` section (:attr:`invoicekit.fleet.Fleet.ap`).
    supplier_site, business_unit : str, optional
        Options that win over every entry.
    name : str
        How messages name the mapping (``"--mapping"`` on the command line).

    Raises
    ------
    InvalidArgumentError
        The file is missing or unreadable, or an entry has an unknown key.

    Examples
    --------
    >>> load_mapping({"*": {"tax_code": "EXEMPT"}}, supplier_site="MAIN").booking("X").supplier_site
    'MAIN'
    """
    fleet_ap = dict(fleet_ap or {})
    entries: Mapping[str, Any] | None
    if mapping is None:
        mapping = fleet_ap.get("mapping")
        name = "fleet file ap: mapping"
    if mapping is None:
        entries = None
    elif isinstance(mapping, Mapping):
        entries = _entries(mapping, name)
    else:
        entries = _read_file(Path(mapping), name)
    fallback = {k: fleet_ap.get(k) for k in ("supplier_site", "business_unit")}
    overrides = {"supplier_site": supplier_site, "business_unit": business_unit}
    return APMapping(entries, overrides=overrides, fallback=fallback)
