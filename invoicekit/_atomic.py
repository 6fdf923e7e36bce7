"""Crash-safe files for the PDF archive: atomic writes, the manifest and the document catalogue.

Nothing here talks to AWS. A document is first written to a temporary file in its final
directory (``.ik-<random>.part``), flushed and fsynced, then renamed over its final name, so a
reader (or a run killed with SIGKILL) never sees a partial file under a final name. The
manifest is an append-only CSV journal while a run is going (each batch appended and fsynced
after the documents' directories were fsynced) and is rewritten sorted and deduplicated through
temp + rename at the start and end of every run; readers tolerate a torn last line.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from invoicekit.errors import InvalidArgumentError

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
#: Columns of the document catalogue: every document GetInvoicePDF listed for an invoice.
CATALOGUE_COLUMNS = ("account_id", "invoice_id", "document_type", "document_id", "listing")

MANIFEST_NAME = "manifest.csv"
#: Private state directory inside the archive (lock, catalogue); verify ignores it.
STATE_DIR = ".invoicekit"
CATALOGUE_NAME = "documents.csv"
LOCK_NAME = "lock"

TEMP_PREFIX = ".ik-"
TEMP_SUFFIX = ".part"
_TEMP_RE = re.compile(r"^\.ik-[0-9a-f]{16}\.part$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

CHUNK_BYTES = 64 * 1024


def is_temp_name(name: str) -> bool:
    """Tell whether ``name`` is one of our temporary download files.

    Examples
    --------
    >>> is_temp_name(".ik-0123456789abcdef.part"), is_temp_name("x.pdf")
    (True, False)
    """
    return bool(_TEMP_RE.fullmatch(name))


def new_temp_path(directory: Path) -> Path:
    """A fresh temporary file name inside ``directory`` (not created)."""
    return directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"


def fsync_dir(directory: Path) -> None:
    """fsync a directory so that renames inside it survive a power loss (no-op on Windows)."""
    if os.name == "nt":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through temp + fsync + rename + directory fsync.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_bytes_atomic(p, b"hi"); p.read_bytes()
    b'hi'
    """
    tmp = new_temp_path(path.parent)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_stale_temp_files(dest: Path) -> int:
    """Delete temporary files an interrupted run left under ``dest``; return how many."""
    removed = 0
    for root, _dirs, files in os.walk(dest):
        for name in files:
            if is_temp_name(name):
                try:
                    os.unlink(os.path.join(root, name))
                    removed += 1
                except FileNotFoundError:  # pragma: no cover - raced with another cleaner
                    pass
    return removed


def sha256_file(path: Path) -> tuple[int, str, bytes, bytes]:
    """Return ``(size, sha256 hex, first 8 bytes, last 1024 bytes)`` of a file."""
    import hashlib

    h = hashlib.sha256()
    size = 0
    head = b""
    tail = b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK_BYTES)
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
    """What :func:`read_manifest` found: good rows (deduplicated) and the lines it dropped."""

    rows: list[dict[str, str]]
    bad_lines: list[tuple[int, str]]  # (line number, why)


def _valid_row(row: dict[str, str]) -> str | None:
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


def read_manifest(path: Path) -> ManifestRead:
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
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    if not lines:
        return ManifestRead([], [])
    header = next(csv.reader([lines[0]]))
    if tuple(header) != MANIFEST_COLUMNS:
        raise InvalidArgumentError(
            f"{path} is not an invoicekit manifest: columns {', '.join(header)}; expected "
            f"{', '.join(MANIFEST_COLUMNS)} (move it away or choose another destination)"
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
        if len(fields) != len(MANIFEST_COLUMNS):
            bad.append((lineno, f"{len(fields)} fields instead of {len(MANIFEST_COLUMNS)}"))
            continue
        row = dict(zip(MANIFEST_COLUMNS, fields, strict=True))
        why = _valid_row(row)
        if why:
            bad.append((lineno, why))
            continue
        by_key[(row["account_id"], row["invoice_id"], row["document_id"])] = row
    return ManifestRead(list(by_key.values()), bad)


def _sort_key(row: dict[str, str]) -> tuple:
    return (
        row.get("billing_period", ""),
        row["account_id"],
        row["invoice_id"],
        row["document_type"] != "INVOICE",
        row["document_id"],
    )


def _csv_text(columns: Iterable[str], rows: Iterable[dict[str, str]], header: bool) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = list(columns)
    if header:
        w.writerow(cols)
    for r in rows:
        w.writerow([r.get(c, "") for c in cols])
    return buf.getvalue()


def write_manifest(path: Path, rows: Iterable[dict[str, str]]) -> None:
    """Rewrite the whole manifest atomically, sorted by period, account, invoice, document."""
    ordered = sorted(rows, key=_sort_key)
    write_bytes_atomic(path, _csv_text(MANIFEST_COLUMNS, ordered, header=True).encode("utf-8"))


def read_catalogue(path: Path) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """``{(account_id, invoice_id): [(document_type, document_id), ...]}`` (last listing wins).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> read_catalogue(pathlib.Path(tempfile.mkdtemp()) / "documents.csv")
    {}
    """
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    if not path.exists():
        return out
    text = path.read_bytes().decode("utf-8", errors="replace")
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

    def _append(self, path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
        new = not path.exists() or path.stat().st_size == 0
        text = _csv_text(columns, rows, header=new)
        with open(path, "ab") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())

    def commit(
        self,
        manifest_rows: list[dict[str, str]],
        listings: list[dict[str, str]],
        dirs: Iterable[Path],
    ) -> None:
        for d in set(dirs):
            fsync_dir(d)
        if listings:
            self._append(self.catalogue_path, CATALOGUE_COLUMNS, listings)
        if manifest_rows:
            self._append(self.manifest_path, MANIFEST_COLUMNS, manifest_rows)


def compact_catalogue(path: Path, listing: dict[tuple[str, str], list[tuple[str, str]]]) -> None:
    """Rewrite the catalogue atomically with one listing per invoice."""
    rows = [
        {"account_id": a, "invoice_id": i, "document_type": t, "document_id": d, "listing": str(n)}
        for n, ((a, i), docs) in enumerate(sorted(listing.items()))
        for t, d in docs
    ]
    write_bytes_atomic(path, _csv_text(CATALOGUE_COLUMNS, rows, header=True).encode("utf-8"))


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
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        yield
        return
    fd = os.open(state / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidArgumentError(
                f"another invoicekit download is writing to {dest}; wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)
