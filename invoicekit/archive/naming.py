"""Naming the archive's files: templates, sanitizing, and the paths documents get.

Pure functions, no I/O beyond resolving a path. A *template* such as :data:`DEFAULT_TEMPLATE`
names an invoice's own PDF relative to the archive; supplemental documents sit beside it with
their type and id in the name (:func:`supplemental_template_for`). Every field value and every
path part is sanitized, so whatever an API answer holds, the path is safe on POSIX and Windows
and stays inside the archive (:func:`inside_archive`).

Examples
--------
>>> from invoicekit.archive import naming
>>> naming.render_path(naming.DEFAULT_TEMPLATE,
...                    {"billing_period": "2025-01", "account_id": "111111111111",
...                     "invoice_id": "E-1"})
'2025-01/111111111111/E-1.pdf'
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoicekit import documents, months
from invoicekit._na import is_missing
from invoicekit._redact import redact
from invoicekit.errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "DEFAULT_TEMPLATE",
    "SUPPLEMENTAL_SUFFIX",
    "TEMPLATE_FIELDS",
    "MAX_PART_CHARS",
    "InvoiceFields",
    "invoices_from_frame",
    "sanitize_value",
    "sanitize_part",
    "validate_template",
    "supplemental_template_for",
    "render_path",
    "inside_archive",
]

#: Where an invoice's own PDF goes, relative to ``dest``.
DEFAULT_TEMPLATE = "{billing_period}/{account_id}/{invoice_id}.pdf"
#: Inserted before the template's ``.pdf`` to name a supplemental document beside its invoice.
SUPPLEMENTAL_SUFFIX = "__{document_type}__{document_id}"
#: The fields a template may use.
TEMPLATE_FIELDS = (
    "billing_period",
    "account_id",
    "account_name",
    "invoice_id",
    "invoice_type",
    "document_type",
    "document_id",
    "invoicing_entity",
    "year",
    "month",
)
#: Longest path part, in characters (and at most twice that in UTF-8 bytes).
MAX_PART_CHARS = 120
_MAX_PART_BYTES = 2 * MAX_PART_CHARS
_HASH_CHARS = 12
_HASH_MARK = "~"

_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"]
    + [f"{p}{n}" for p in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³", "0"]]
)
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*/\\')
_SIMPLE_EXT = re.compile(r"\.[A-Za-z0-9]{1,8}\Z")
_SAFE_ASCII = re.compile(r"^[A-Za-z0-9 !#$%&'()+,\-.;=@\[\]^_`{}~]*$")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]


def _bad_char(c: str) -> bool:
    if c in _WINDOWS_FORBIDDEN:
        return True
    cat = unicodedata.category(c)
    # control, format (bidi overrides), surrogates, private use, unassigned, line/para separators
    return cat[0] == "C" or cat in ("Zl", "Zp")


def sanitize_value(value: object) -> str:
    """Make one template field value safe to put inside a path part.

    Separators, control and format characters and Windows-forbidden characters become ``_``,
    the text is NFC-normalized; when anything changed, ``~`` and a 12-hex-digit hash of the
    original are appended, so distinct values stay distinct.

    Examples
    --------
    >>> sanitize_value("E-2025-0001")
    'E-2025-0001'
    >>> sanitize_value("../../etc/x")
    '_._.._etc_x~56da1a2ef2df'
    """
    text = "" if value is None else str(value)
    if _SAFE_ASCII.fullmatch(text) and text[:1] not in (".", " "):
        return text
    nfc = unicodedata.normalize("NFC", text)
    clean = "".join("_" if _bad_char(c) else c for c in nfc)
    if clean[:1] in (".", " "):  # a value often starts a path part: no hidden or blank names
        clean = "_" + clean[1:]
    if clean == text:
        return text
    return clean + _HASH_MARK + _short_hash(text)


def _reserved(part: str) -> bool:
    stem = part.split(".", 1)[0].rstrip(" ").upper()
    return stem in _WINDOWS_RESERVED


def _fits(part: str) -> bool:
    return (
        len(part) <= MAX_PART_CHARS
        and len(part.encode("utf-8", "surrogatepass")) <= _MAX_PART_BYTES
    )


def sanitize_part(part: str) -> str:
    """Make one path part (between separators) safe on POSIX and Windows.

    No empty part, no ``.``/``..``, no leading or trailing dots or spaces, no reserved Windows
    device names (``CON``, ``NUL``, ``COM1``...), at most :data:`MAX_PART_CHARS` characters.
    When anything changed, a hash of the original keeps distinct parts distinct; a simple
    extension such as ``.pdf`` is kept. Expects a part made of :func:`sanitize_value` output.

    Examples
    --------
    >>> sanitize_part("E-1.pdf")
    'E-1.pdf'
    >>> sanitize_part("CON.pdf")
    '_CON~9d22d0cc4985.pdf'
    >>> sanitize_part("..")
    '_~5ec1f7e700f3'
    """
    if (
        part
        and part[0] not in ". "
        and part[-1] not in ". "
        and not _reserved(part)
        and _fits(part)
    ):
        return part
    original = part
    p = "".join("_" if _bad_char(c) else c for c in part).strip(" .")
    m = _SIMPLE_EXT.search(p)
    ext = m.group(0) if m and m.start() > 0 else ""
    stem = p[: len(p) - len(ext)] if ext else p
    if not stem or _reserved(stem):
        stem = "_" + stem
    suffix = _HASH_MARK + _short_hash(original) + ext
    while stem and not _fits(stem + suffix):
        stem = stem[: max(0, min(len(stem) - 1, MAX_PART_CHARS - len(suffix)))]
    stem = stem or "_"
    return stem + suffix


def validate_template(template: str) -> tuple[str, ...]:
    """Check a naming template; return the fields it uses.

    Raises
    ------
    InvalidArgumentError
        For an unknown field (naming it and the available ones), a conversion or format spec,
        an absolute path, ``..`` or empty parts, or characters that are not allowed in names.

    Examples
    --------
    >>> validate_template("{billing_period}/{account_id}/{invoice_id}.pdf")
    ('billing_period', 'account_id', 'invoice_id')
    >>> validate_template("{period}/{invoice_id}.pdf")
    Traceback (most recent call last):
    ...
    invoicekit.errors.InvalidArgumentError: unknown field {period} in naming template '{period}/{invoice_id}.pdf'; available fields: billing_period, account_id, account_name, invoice_id, invoice_type, document_type, document_id, invoicing_entity, year, month
    """
    if not isinstance(template, str) or not template.strip():
        raise InvalidArgumentError(f"naming template must be a non-empty string, got {template!r}")
    fields: list[str] = []
    literal = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidArgumentError(
            f"naming template {template!r} does not parse: {exc} (write fields as {{name}})"
        ) from None
    for text, name, spec, conv in parsed:
        literal.append(text)
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            raise InvalidArgumentError(
                f"unknown field {{{name}}} in naming template {template!r}; available fields: "
                + ", ".join(TEMPLATE_FIELDS)
            )
        if spec or conv:
            raise InvalidArgumentError(
                f"naming template {template!r}: write {{{name}}} without a format spec or conversion"
            )
        if name not in fields:
            fields.append(name)
        literal.append("x")
    bad = sorted({c for c in "".join(literal) if c != "/" and _bad_char(c)})
    if bad:
        raise InvalidArgumentError(
            f"naming template {template!r} contains characters not allowed in file names: "
            f"{' '.join(repr(c) for c in bad)}"
        )
    parts = "".join(literal).split("/")
    if template.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidArgumentError(
            f"naming template {template!r} must be a relative path without empty, '.' or '..' parts"
        )
    return tuple(fields)


def supplemental_template_for(template: str) -> str:
    """The template of supplemental documents derived from an invoice template.

    Examples
    --------
    >>> supplemental_template_for("{billing_period}/{account_id}/{invoice_id}.pdf")
    '{billing_period}/{account_id}/{invoice_id}__{document_type}__{document_id}.pdf'
    """
    if template.lower().endswith(".pdf"):
        return template[:-4] + SUPPLEMENTAL_SUFFIX + template[-4:]
    return template + SUPPLEMENTAL_SUFFIX


def render_path(template: str, fields: Mapping[str, object]) -> str:
    """Render a template into a safe relative path (forward slashes).

    Every field value goes through :func:`sanitize_value` and every part through
    :func:`sanitize_part`; missing values render as ``unknown``.

    Examples
    --------
    >>> render_path(DEFAULT_TEMPLATE, {"billing_period": "2025-01", "account_id": "111111111111",
    ...                                "invoice_id": "E-1"})
    '2025-01/111111111111/E-1.pdf'
    >>> render_path(DEFAULT_TEMPLATE, {"billing_period": "2025-01", "account_id": "1",
    ...                                "invoice_id": "../../etc/passwd"})
    '2025-01/1/_._.._etc_passwd~3754d6cb3a38.pdf'
    """
    validate_template(template)
    values = {}
    for name in TEMPLATE_FIELDS:
        v = fields.get(name)
        values[name] = "unknown" if v is None or v == "" else sanitize_value(v)
    rendered = template.format(**values)
    return "/".join(sanitize_part(p) for p in rendered.split("/"))


def inside_archive(dest: Path, rel: str) -> Path:
    """``dest / rel`` resolved, refusing anything that would land outside ``dest``.

    ``dest`` must be resolved already. Symlinks are followed, so a link inside the archive
    cannot redirect a write (or a read by :func:`~invoicekit.archive.verify_archive`) outside.

    Raises
    ------
    InvalidArgumentError
        The path leaves ``dest`` (or is ``dest`` itself).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp()).resolve()
    >>> inside_archive(root, "2025-01/E-1.pdf") == root / "2025-01" / "E-1.pdf"
    True
    """
    target = (dest / rel).resolve()
    if target == dest or not target.is_relative_to(dest):
        raise InvalidArgumentError(f"refused path {redact(rel)!r}: it leaves the archive {dest}")
    return target


# --------------------------------------------------------------------------------------------
# The invoices to archive, with the fields their paths are rendered from.
# --------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if is_missing(value) else str(value)


@dataclass
class InvoiceFields:
    """One invoice to archive: its identity and the fields a template may use.

    ``needs_lookup`` marks an invoice given by id alone (its account, period and type come
    from ListInvoiceSummaries when it is downloaded). ``kind`` is its
    :mod:`invoicekit.documents` kind (``"invoice"``, ``"credit memo"``, ``"tax invoice"`` ...).

    Examples
    --------
    >>> inv = InvoiceFields("111111111111", "E-1", "2025-03", invoice_type="CREDIT_MEMO")
    >>> inv.kind, inv.fields()["month"]
    ('credit memo', '03')
    """

    account_id: str
    invoice_id: str
    billing_period: str
    account_name: str = ""
    invoice_type: str = ""
    invoicing_entity: str = ""
    commercial_invoice_id: str = ""
    needs_lookup: bool = False

    @property
    def kind(self) -> str:
        """The row's kind in :mod:`invoicekit.documents` words."""
        return documents.kind_of(self.invoice_type, self.commercial_invoice_id)

    def fields(self) -> dict[str, str]:
        """The template fields of this invoice (without ``document_type``/``document_id``)."""
        year, _, month = self.billing_period.partition("-")
        return {
            "billing_period": self.billing_period,
            "account_id": self.account_id,
            "account_name": self.account_name,
            "invoice_id": self.invoice_id,
            "invoice_type": self.invoice_type,
            "invoicing_entity": self.invoicing_entity,
            "year": year,
            "month": month,
        }


_FRAME_COLUMNS = (
    "account_id",
    "invoice_id",
    "billing_period",
    "account_name",
    "invoice_type",
    "invoicing_entity",
    "commercial_invoice_id",
)


def invoices_from_frame(
    df: pd.DataFrame, names: Mapping[str, str] | None = None
) -> list[InvoiceFields]:
    """The invoices of a summaries frame, one per ``(account_id, invoice_id)``, in frame order.

    Duplicate versions of one invoice share its documents, so they are archived once.
    ``names`` fills ``account_name`` where the frame has none (``{account id: name}``).

    Raises
    ------
    InvalidArgumentError
        The frame lacks ``account_id``, ``invoice_id`` or ``billing_period``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"account_id": ["1", "1"], "invoice_id": ["E-1", "E-1"],
    ...                    "billing_period": [pd.Period("2025-03", "M")] * 2})
    >>> [(i.invoice_id, i.billing_period) for i in invoices_from_frame(df)]
    [('E-1', '2025-03')]
    """
    names = names or {}
    missing = [c for c in ("account_id", "invoice_id", "billing_period") if c not in df.columns]
    if missing:
        raise InvalidArgumentError(
            f"summaries frame lacks column(s) {', '.join(missing)}; pass the DataFrame from "
            f"read_invoice_summaries (columns found: {', '.join(map(str, df.columns[:12]))})"
        )
    cols = {c: df[c].tolist() if c in df.columns else [None] * len(df) for c in _FRAME_COLUMNS}
    out: list[InvoiceFields] = []
    seen: set[tuple[str, str]] = set()
    for i in range(len(df)):
        acct = _text(cols["account_id"][i])
        inv = _text(cols["invoice_id"][i])
        if (acct, inv) in seen:
            continue
        seen.add((acct, inv))
        out.append(
            InvoiceFields(
                account_id=acct,
                invoice_id=inv,
                billing_period=(
                    ""
                    if is_missing(period := cols["billing_period"][i])
                    else months.month_str(period)
                ),
                account_name=_text(cols["account_name"][i]) or names.get(acct, ""),
                invoice_type=_text(cols["invoice_type"][i]),
                invoicing_entity=_text(cols["invoicing_entity"][i]),
                commercial_invoice_id=_text(cols["commercial_invoice_id"][i]),
            )
        )
    return out
