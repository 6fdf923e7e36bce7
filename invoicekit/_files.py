"""The one atomic file writer: temp file in the target's directory, fsync, rename, fsync dir.

A reader — or a run killed with SIGKILL — never sees a partial file under a final name. Every
file invoicekit writes for a user (store, reports, AP files, ledgers, manifests, documents) goes
through :func:`write_bytes`, :func:`write_text` or :func:`atomic_path`.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "is_temp_name",
    "new_temp_path",
    "fsync_dir",
    "write_bytes",
    "write_text",
    "atomic_path",
    "remove_stale_temp_files",
    "exclusive_lock",
]

TEMP_PREFIX = ".ik-"
TEMP_SUFFIX = ".part"
_TEMP_RE = re.compile(r"^\.ik-[0-9a-f]{16}\.part$")


def is_temp_name(name: str) -> bool:
    """Tell whether ``name`` is one of our temporary files.

    Examples
    --------
    >>> is_temp_name(".ik-0123456789abcdef.part"), is_temp_name("x.pdf")
    (True, False)
    """
    return bool(_TEMP_RE.fullmatch(name))


def new_temp_path(directory: Path) -> Path:
    """A fresh temporary file name inside ``directory`` (not created)."""
    return Path(directory) / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"


def fsync_dir(directory: Path) -> None:
    """fsync a directory so that renames inside it survive a power loss (no-op on Windows)."""
    if os.name == "nt":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike, *, mkdir: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed over it.

    For writers that want a file name (``df.to_parquet(tmp)``). On an exception the temporary
    file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(p) as tmp:
    ...     _ = tmp.write_text("hi")
    >>> p.read_text()
    'hi'
    """
    target = Path(path)
    if mkdir:
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temp_path(target.parent)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def write_bytes(path: str | os.PathLike, data: bytes, *, mkdir: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; return the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> write_bytes(p, b"hi").read_bytes()
    b'hi'
    """
    target = Path(path)
    with atomic_path(target, mkdir=mkdir) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    return target


def write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8 by default, ``\\n`` line ends); return it."""
    return write_bytes(path, text.encode(encoding))


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


@contextmanager
def exclusive_lock(path: Path, busy: str) -> Iterator[None]:
    """Hold an advisory exclusive lock on the file ``path`` (POSIX ``flock``, non-blocking).

    The one lock of invoicekit: a download run holds it on its archive, a close on its
    directory of packs. Where ``fcntl`` does not exist (Windows) nothing is locked.

    Raises
    ------
    invoicekit.errors.InvalidArgumentError
        ``busy`` (a sentence naming the other run and what to do) when another process holds
        the lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        yield
        return
    from invoicekit.errors import InvalidArgumentError

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidArgumentError(busy) from None
        yield
    finally:
        os.close(fd)
