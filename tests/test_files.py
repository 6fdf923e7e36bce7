"""invoicekit._files: the one atomic writer — a final name never holds a partial file."""

from __future__ import annotations

import os
import stat

import pytest

from invoicekit import _files
from invoicekit._files import atomic_path, is_temp_name, write_bytes, write_text


def listing(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_write_bytes_creates_parents_and_returns_the_path(tmp_path):
    target = tmp_path / "a" / "b" / "doc.pdf"
    assert write_bytes(target, b"%PDF-1.7") == target
    assert target.read_bytes() == b"%PDF-1.7"
    assert listing(target.parent) == ["doc.pdf"]


def test_write_bytes_replaces_an_existing_file(tmp_path):
    target = tmp_path / "x.txt"
    target.write_bytes(b"old and longer")
    write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert listing(tmp_path) == ["x.txt"]


def test_write_text_is_utf8_with_newlines_kept(tmp_path):
    target = tmp_path / "r.md"
    write_text(target, "¥162M\nline two\r\n")
    assert target.read_bytes() == "¥162M\nline two\r\n".encode()
    write_text(target, "é", encoding="latin-1")
    assert target.read_bytes() == b"\xe9"


def test_written_files_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        target = write_bytes(tmp_path / "m.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_without_mkdir_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_bytes(tmp_path / "missing" / "x", b"1", mkdir=False)
    assert listing(tmp_path) == []


def test_a_failing_writer_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "store.parquet"
    target.write_bytes(b"complete old file")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a fi")
        assert target.read_bytes() == b"complete old file"  # readers still see the old one
        raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"complete old file"
    assert listing(tmp_path) == ["store.parquet"]


def test_an_interrupt_leaves_no_temp_either(tmp_path):
    target = tmp_path / "new.csv"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("a,b\n")
        raise KeyboardInterrupt
    assert listing(tmp_path) == []


def test_a_failing_rename_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "ledger.csv"
    target.write_text("old")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_files.os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_text(target, "new")
    assert target.read_text() == "old"
    assert listing(tmp_path) == ["ledger.csv"]


def test_a_failing_write_leaves_no_temp(tmp_path, monkeypatch):
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            self.fh.write(data[:3])
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(_files.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space left"):
        write_bytes(tmp_path / "doc.pdf", b"%PDF-1.7 ...")
    assert listing(tmp_path) == []


def test_writing_over_a_directory_fails_without_a_temp(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        write_bytes(tmp_path / "dir", b"x")
    assert listing(tmp_path) == ["dir"]


def test_atomic_path_yields_a_temp_in_the_target_directory(tmp_path):
    target = tmp_path / "sub" / "t.parquet"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent  # same file system: the rename is atomic
        assert is_temp_name(tmp.name)
        tmp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    assert not tmp.exists()


def test_temp_names():
    a = _files.new_temp_path(os.sep)
    b = _files.new_temp_path(os.sep)
    assert a != b
    assert is_temp_name(a.name) and is_temp_name(b.name)
    assert a.name.startswith(_files.TEMP_PREFIX) and a.name.endswith(_files.TEMP_SUFFIX)
    for name in ["x.pdf", ".ik-0123.part", ".ik-0123456789abcdeg.part", "a.ik-0123456789abcdef.part",
                 ".ik-0123456789abcdef.part.pdf", ".ik-0123456789ABCDEF.part"]:  # fmt: skip
        assert not is_temp_name(name), name


def test_remove_stale_temp_files_removes_only_ours(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    stale = [
        tmp_path / ".ik-0123456789abcdef.part",
        tmp_path / "a" / "b" / ".ik-fedcba9876543210.part",
    ]
    keep = [tmp_path / "a" / "invoice.pdf", tmp_path / ".ik-notours.part", tmp_path / "x.part"]
    for p in stale + keep:
        p.write_bytes(b"x")
    assert _files.remove_stale_temp_files(tmp_path) == 2
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)
    assert _files.remove_stale_temp_files(tmp_path) == 0


def test_fsync_dir_accepts_a_directory(tmp_path):
    _files.fsync_dir(tmp_path)
    with pytest.raises(FileNotFoundError):
        _files.fsync_dir(tmp_path / "missing")
