"""The export ledger (what was sent to AP, so nothing is sent twice) and acceptance files.

The ledger is a CSV (UTF-8, ``\\n``), one row per invoice exported, with the columns of
:data:`LEDGER_COLUMNS`. :func:`append_ledger` rewrites it atomically
(:func:`invoicekit._files.write_bytes`): a killed run leaves the previous ledger whole. Rows
are never changed nor removed; columns a user added are kept.

An *acceptance file* lets a controller accept named findings so that an export they would
block goes ahead (:func:`read_acceptance`): either the findings CSV written by
``invoicekit reconcile --output`` with the ``accepted_by`` column filled in, or a text file of
finding ids, one per line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from invoicekit._files import write_bytes
from invoicekit.errors import InvalidArgumentError

__all__ = [
    "LEDGER_COLUMNS",
    "LEDGER_NAME",
    "read_ledger",
    "append_ledger",
    "read_acceptance",
    "sha256_file",
]

#: Default file name of the ledger (beside the AP output).
LEDGER_NAME = "ap-ledger.csv"

#: Columns of the ledger, in order. ``target_id`` is the id the AP system's import uses
#: (oracle-ap's ``INVOICE_ID``; empty for the other formats); ``content_sha256`` fingerprints
#: the invoice row as exported (a later, changed version of the invoice has another one).
LEDGER_COLUMNS: list[str] = [
    "invoice_id",
    "account_id",
    "billing_period",
    "kind",
    "amount",
    "currency",
    "format",
    "file",
    "file_sha256",
    "exported_at",
    "accepted_findings",
    "accepted_by",
    "target_id",
    "content_sha256",
]
_REQUIRED = ("invoice_id", "billing_period", "format", "exported_at")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_rows(path: Path, name: str) -> tuple[list[str], list[dict[str, str]]]:
    if not path.exists():
        return list(LEDGER_COLUMNS), []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"{name} {path}: cannot read the AP ledger ({exc})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    if not header and not text.strip():
        return list(LEDGER_COLUMNS), []
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise InvalidArgumentError(
            f"{name} {path}: not an AP ledger (no column {', '.join(missing)}); point "
            f"{name} at the ap-ledger.csv an earlier export wrote, or at a new file name"
        )
    rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    columns = list(LEDGER_COLUMNS) + [c for c in header if c not in LEDGER_COLUMNS]
    return columns, rows


def read_ledger(path: str | os.PathLike[str], *, name: str = "ledger") -> Any:
    """The ledger as a DataFrame of strings (:data:`LEDGER_COLUMNS`, plus any added column).

    A file that does not exist is an empty ledger.

    Parameters
    ----------
    path : str or path-like
        The ledger CSV.
    name : str
        How messages name it (``"--ledger"`` on the command line).

    Raises
    ------
    InvalidArgumentError
        The file is not a ledger (lacks ``invoice_id``, ``billing_period``, ``format`` or
        ``exported_at``) or cannot be read.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> read_ledger(pathlib.Path(tempfile.mkdtemp()) / "ap-ledger.csv").empty
    True
    """
    import pandas as pd

    columns, rows = _read_rows(Path(path), name)
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    return frame.fillna("")


def append_ledger(
    path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]], *, name: str = "ledger"
) -> Path:
    """Append ``rows`` to the ledger at ``path`` (created when missing), atomically.

    The file is rewritten whole through the atomic writer: the old rows as they were, then the
    new ones. Returns the path.
    """
    target = Path(path)
    columns, old = _read_rows(target, name)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(old)
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else str(row.get(c)) for c in columns})
    try:
        write_bytes(target, out.getvalue().encode("utf-8"), mkdir=False)
    except OSError as exc:
        raise InvalidArgumentError(
            f"{name} {target}: cannot write the AP ledger ({exc.strerror or exc}); "
            "check the directory exists and is writable"
        ) from exc
    return target


def read_acceptance(
    source: str | os.PathLike[str] | Mapping[str, str] | Iterable[str] | None,
    *,
    name: str = "accept",
) -> dict[str, str]:
    """The findings a controller accepted: ``{finding_id: who accepted it}``.

    Parameters
    ----------
    source
        * a findings CSV (``invoicekit reconcile --output``) with ``finding_id`` and
          ``accepted_by`` columns: the rows whose ``accepted_by`` is filled in;
        * a text file of finding ids, one per line (blank lines, ``#`` comment lines and `` # comments`` ignored):
          each is accepted "by" the file's name;
        * a mapping ``{finding_id: name}`` or an iterable of finding ids (accepted by
          ``"python"``); ``None`` accepts nothing.
    name : str
        How messages name it (``"--accept-findings"`` on the command line).

    Raises
    ------
    InvalidArgumentError
        The file is missing, or is a CSV without ``finding_id`` and ``accepted_by`` columns.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "accepted.csv"
    >>> _ = p.write_text("check,finding_id,accepted_by\\nexchange,exchange:EU-1:payment,J. Doe\\n"
    ...                  "exchange,exchange:EU-2:payment,\\n")
    >>> read_acceptance(p)
    {'exchange:EU-1:payment': 'J. Doe'}
    >>> read_acceptance(["completeness:100000000005:2026-09"])
    {'completeness:100000000005:2026-09': 'python'}
    """
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return {str(k).strip(): str(v or "python").strip() for k, v in source.items()}
    if not isinstance(source, str | os.PathLike):
        return {str(k).strip(): "python" for k in source if str(k).strip()}
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidArgumentError(
            f"{name} {path}: no such file (the findings CSV of `invoicekit reconcile --output` "
            "with accepted_by filled in, or a text file of finding ids, one per line)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"{name} {path}: cannot read it ({exc})") from None
    first = text.splitlines()[0] if text.strip() else ""
    if "," in first:  # a findings CSV (a list of ids has no comma, whatever its name)
        reader = csv.DictReader(io.StringIO(text, newline=""))
        fields = reader.fieldnames or []
        if "finding_id" not in fields or "accepted_by" not in fields:
            raise InvalidArgumentError(
                f"{name} {path}: a findings CSV needs finding_id and accepted_by columns "
                "(write it with `invoicekit reconcile --output FILE`, then fill in accepted_by)"
            )
        return {
            r["finding_id"].strip(): r["accepted_by"].strip()
            for r in reader
            if (r.get("finding_id") or "").strip() and (r.get("accepted_by") or "").strip()
        }
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        ident = line.split(" #", 1)[0].strip()  # ids may hold '#' (``...#2``), comments ' #'
        if ident:
            out[ident] = path.name
    return out
