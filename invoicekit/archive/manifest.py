"""The archive's record files: ``manifest.csv``, the document catalogue, the journal, the lock.

Nothing here talks to AWS. Layout of an archive ``dest``:

* ``manifest.csv`` (:data:`MANIFEST_COLUMNS`): one row per archived document with its size and
  sha256 — the archive's contract with auditors;
* ``.invoicekit/documents.csv`` (:data:`CATALOGUE_COLUMNS`, private): every document
  GetInvoicePDF listed per invoice, so that a re-run knows an invoice is complete without
  calling the API;
* ``.invoicekit/lock``: held by the one run writing to ``dest``.

While a run is going the manifest and the catalogue are append-only journals
(:class:`ArchiveJournal`: each batch appended and fsynced after the documents' directories
were fsynced); at the start and the end of every run they are rewritten sorted and
deduplicated through :mod:`invoicekit._files` (temp + rename). Readers tolerate a torn last
line, so a run killed with SIGKILL loses at most its last uncommitted batch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from invoicekit import _files
from invoicekit.archive.naming import inside_archive
from invoicekit.documents import MAIN_DOCUMENT
from invoicekit.errors import InvalidArgumentError

__all__ = [
    "MANIFEST_COLUMNS",
    "S3_MANIFEST_COLUMNS",
    "CATALOGUE_COLUMNS",
    "MANIFEST_NAME",
    "STATE_DIR",
    "CATALOGUE_NAME",
    "LOCK_NAME",
    "ManifestRead",
    "read_manifest",
    "parse_manifest",
    "manifest_text",
    "write_manifest",
    "read_catalogue",
    "parse_catalogue",
    "catalogue_text",
    "compact_catalogue",
    "ArchiveJournal",
    "archive_lock",
    "sha256_file",
    "is_intact",
]

#: Columns of ``manifest.csv``, in order (the archive's contract with auditors).
MANIFEST_COLUMNS = (
    "account_id",
    "invoice_id",
    "billing_period",
    "document_type",
    "document_id",
    "path",
    "bytes",
    "sha256",
    "downloaded_at",
)
#: Columns of the manifest of an S3 archive: the local ones, then each object's version id and
#: ETag as S3 answered the put, and the Object Lock it was put with (``object_lock_mode``
#: ``COMPLIANCE``/``GOVERNANCE`` or empty, ``retain_until`` ISO-8601 UTC or empty,
#: ``legal_hold`` ``ON`` or empty).
S3_MANIFEST_COLUMNS = (
    *MANIFEST_COLUMNS,
    "version_id",
    "etag",
    "object_lock_mode",
    "retain_until",
    "legal_hold",
)
#: Columns of the document catalogue: every document GetInvoicePDF listed for an invoice.
CATALOGUE_COLUMNS = ("account_id", "invoice_id", "document_type", "document_id", "listing")

MANIFEST_NAME = "manifest.csv"
#: Private state directory inside the archive (lock, catalogue); verify ignores it.
STATE_DIR = ".invoicekit"
CATALOGUE_NAME = "documents.csv"
LOCK_NAME = "lock"

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_READ_CHUNK_BYTES = 64 * 1024
#: Catalogue: ``{(account_id, invoice_id): [(document_type, document_id), ...]}``.
Catalogue = dict[tuple[str, str], list[tuple[str, str]]]


def sha256_file(path: Path) -> tuple[int, str, bytes, bytes]:
    """Return ``(size, sha256 hex, first 8 bytes, last 1024 bytes)`` of a file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.pdf"
    >>> _ = p.write_bytes(b"%PDF-1.4 %%EOF")
    >>> size, sha, head, tail = sha256_file(p)
    >>> size, sha[:12], head
    (14, '4657fadcc41d', b'%PDF-1.4')
    """
    h = hashlib.sha256()
    size = 0
    head = b""
    tail = b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_READ_CHUNK_BYTES)
            if not chunk:
                break
            if size == 0:
                head = chunk[:8]
            size += len(chunk)
            h.update(chunk)
            tail = (tail + chunk)[-1024:]
    return size, h.hexdigest(), head, tail


@dataclass
class ManifestRead:
    """What :func:`read_manifest` found: good rows (deduplicated) and the lines it dropped.

    ``bad_lines`` holds ``(line number, why)`` pairs.
    """

    rows: list[dict[str, str]]
    bad_lines: list[tuple[int, str]]


def _valid_row(row: Mapping[str, str]) -> str | None:
    """Why a manifest row is unusable, or None when it is fine."""
    for col in ("account_id", "invoice_id", "document_type", "document_id", "path"):
        if not row.get(col):
            return f"empty {col}"
    if not _SHA256_RE.fullmatch(row.get("sha256") or ""):
        return "sha256 is not 64 hex digits"
    b = row.get("bytes") or ""
    if not b.isdigit():
        return "bytes is not a whole number"
    return None


def read_manifest(path: Path, columns: tuple[str, ...] = MANIFEST_COLUMNS) -> ManifestRead:
    """Read ``manifest.csv`` tolerantly: dedupe by document (last row wins), drop torn lines.

    Raises
    ------
    InvalidArgumentError
        When the header is not the manifest's (this is not an invoicekit manifest).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "manifest.csv"
    >>> read_manifest(p).rows
    []
    """
    if not path.exists():
        return ManifestRead([], [])
    return parse_manifest(path.read_bytes(), str(path), columns)


def parse_manifest(
    data: bytes | str, source: str, columns: tuple[str, ...] = MANIFEST_COLUMNS
) -> ManifestRead:
    """Parse a manifest's text (``source`` names it in messages); see :func:`read_manifest`.

    Examples
    --------
    >>> text = ",".join(MANIFEST_COLUMNS) + "\\n1,E-1,2025-01,INVOICE,E-1,a.pdf,3," + "0" * 64 + ",\\n"
    >>> [r["invoice_id"] for r in parse_manifest(text, "manifest.csv").rows]
    ['E-1']
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    lines = text.splitlines(keepends=True)
    if not lines:
        return ManifestRead([], [])
    header = next(csv.reader([lines[0]]))
    if tuple(header) != tuple(columns):
        raise InvalidArgumentError(
            f"{source} is not an invoicekit manifest: columns {', '.join(header)}; expected "
            f"{', '.join(columns)} (move it away or choose another destination)"
        )
    by_key: dict[tuple[str, str, str], dict[str, str]] = {}
    bad: list[tuple[int, str]] = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.endswith("\n"):
            bad.append((lineno, "incomplete last line (interrupted write)"))
            continue
        try:
            fields = next(csv.reader([line]))
        except (csv.Error, StopIteration):
            bad.append((lineno, "unparsable line"))
            continue
        if len(fields) != len(columns):
            bad.append((lineno, f"{len(fields)} fields instead of {len(columns)}"))
            continue
        row = dict(zip(columns, fields, strict=True))
        why = _valid_row(row)
        if why:
            bad.append((lineno, why))
            continue
        by_key[(row["account_id"], row["invoice_id"], row["document_id"])] = row
    return ManifestRead(list(by_key.values()), bad)


def _sort_key(row: Mapping[str, str]) -> tuple:
    return (
        row.get("billing_period", ""),
        row["account_id"],
        row["invoice_id"],
        row["document_type"] != MAIN_DOCUMENT,
        row["document_id"],
    )


def _csv_text(columns: Iterable[str], rows: Iterable[Mapping[str, str]], header: bool) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = list(columns)
    if header:
        w.writerow(cols)
    for r in rows:
        w.writerow([r.get(c, "") for c in cols])
    return buf.getvalue()


def manifest_text(
    rows: Iterable[Mapping[str, str]], columns: tuple[str, ...] = MANIFEST_COLUMNS
) -> str:
    """The manifest's text: header, then the rows sorted by period, account, invoice, document.

    Examples
    --------
    >>> manifest_text([]).startswith("account_id,invoice_id,billing_period")
    True
    """
    return _csv_text(columns, sorted(rows, key=_sort_key), header=True)


def write_manifest(
    path: Path, rows: Iterable[Mapping[str, str]], columns: tuple[str, ...] = MANIFEST_COLUMNS
) -> None:
    """Rewrite the whole manifest atomically, sorted by period, account, invoice, document.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "manifest.csv"
    >>> write_manifest(p, [])
    >>> p.read_text().startswith("account_id,invoice_id,billing_period")
    True
    """
    _files.write_text(path, manifest_text(rows, columns))


def read_catalogue(path: Path) -> Catalogue:
    """``{(account_id, invoice_id): [(document_type, document_id), ...]}`` (last listing wins).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> read_catalogue(pathlib.Path(tempfile.mkdtemp()) / "documents.csv")
    {}
    """
    if not path.exists():
        return {}
    return parse_catalogue(path.read_bytes())


def parse_catalogue(data: bytes | str) -> Catalogue:
    """Parse a catalogue's text (see :func:`read_catalogue`); torn lines are skipped.

    Examples
    --------
    >>> parse_catalogue(catalogue_text({("1", "E-1"): [("INVOICE", "E-1")]}))
    {('1', 'E-1'): [('INVOICE', 'E-1')]}
    """
    out: Catalogue = {}
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    lines = text.splitlines(keepends=True)
    if not lines or tuple(next(csv.reader([lines[0]]), [])) != CATALOGUE_COLUMNS:
        return out
    token_of: dict[tuple[str, str], str] = {}
    for line in lines[1:]:
        if not line.endswith("\n"):
            continue  # torn by a crash: that listing was not committed
        fields = next(csv.reader([line]), [])
        if len(fields) != len(CATALOGUE_COLUMNS):
            continue
        acct, inv, dtype, did, token = fields
        key = (acct, inv)
        if token_of.get(key) != token:  # a newer listing of this invoice replaces the older
            token_of[key] = token
            out[key] = []
        out[key].append((dtype, did))
    return out


def catalogue_text(listing: Catalogue) -> str:
    """The catalogue's text with one listing per invoice (sorted)."""
    rows = [
        {"account_id": a, "invoice_id": i, "document_type": t, "document_id": d, "listing": str(n)}
        for n, ((a, i), docs) in enumerate(sorted(listing.items()))
        for t, d in docs
    ]
    return _csv_text(CATALOGUE_COLUMNS, rows, header=True)


def compact_catalogue(path: Path, listing: Catalogue) -> None:
    """Rewrite the catalogue atomically with one listing per invoice."""
    _files.write_text(path, catalogue_text(listing))


class ArchiveJournal:
    """Append-only journal of the manifest and catalogue while a run is going.

    ``commit(rows, listings, dirs)`` first fsyncs the documents' directories (so the renames are
    durable), then appends and fsyncs the catalogue and the manifest. A crash loses at most the
    uncommitted batch; those documents are downloaded again by the next run.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.manifest_path = dest / MANIFEST_NAME
        self.catalogue_path = dest / STATE_DIR / CATALOGUE_NAME

    def _append(self, path: Path, columns: tuple[str, ...], rows: list[Mapping[str, str]]) -> None:
        new = not path.exists() or path.stat().st_size == 0
        text = _csv_text(columns, rows, header=new)
        with open(path, "ab") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())

    def commit(
        self,
        manifest_rows: list[Mapping[str, str]],
        listings: list[Mapping[str, str]],
        dirs: Iterable[Path],
    ) -> None:
        """Make one batch durable: directories, then catalogue, then manifest."""
        for d in set(dirs):
            _files.fsync_dir(d)
        if listings:
            self._append(self.catalogue_path, CATALOGUE_COLUMNS, listings)
        if manifest_rows:
            self._append(self.manifest_path, MANIFEST_COLUMNS, manifest_rows)


@contextmanager
def archive_lock(dest: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``dest`` for one download run (POSIX ``flock``).

    Raises
    ------
    InvalidArgumentError
        When another run holds the lock.
    """
    state = dest / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    with _files.exclusive_lock(
        state / LOCK_NAME,
        f"another invoicekit download is writing to {dest}; wait for it to finish",
    ):
        yield


def is_intact(dest: Path, row: Mapping[str, str]) -> bool:
    """Whether a manifest row's file exists inside ``dest`` with the recorded size and hash."""
    try:
        path = inside_archive(dest, row["path"])
        if not path.is_file() or path.stat().st_size != int(row["bytes"]):
            return False
        _size, sha, _head, _tail = sha256_file(path)
    except (OSError, InvalidArgumentError, ValueError):
        return False
    return sha == row["sha256"]
