"""``invoicekit fetch``: every error path gives one line and exit 2; partial failure exit 3."""

from __future__ import annotations

import pytest

from invoicekit.cli import EXIT_BAD_INPUT, main


def _fetch(tmp_path, *extra: str, config: str | None = None) -> list[str]:
    cfg = config if config is not None else str(tmp_path / "missing.yml")
    return ["fetch", "--config", cfg, "--no-progress", *extra]


def _one_line_error(capsys) -> str:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("invoicekit: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("start", "end", "fragment"),
    [
        ("2025-13", "2025-12", "start='2025-13' is not a month"),
        ("Jan 2025", "2025-12", "is not a month"),
        ("2025-01", "2025-xx", "end='2025-xx' is not a month"),
        ("2025-06", "2025-01", "end=2025-01 is before start=2025-06"),
        ("2004-11", "2005-02", "before 2005-01"),
    ],
)
def test_bad_months_exit_2_with_one_line(tmp_path, capsys, start, end, fragment):
    out = tmp_path / "out.parquet"
    code = main(_fetch(tmp_path, "--from", start, "--to", end, "--output", str(out)))
    assert code == EXIT_BAD_INPUT
    assert fragment in _one_line_error(capsys)
    assert not out.exists()


def test_unknown_output_extension_exits_2(tmp_path, capsys):
    code = main(
        _fetch(
            tmp_path, "--from", "2025-01", "--to", "2025-02", "--output", str(tmp_path / "x.xlsx")
        )
    )
    assert code == EXIT_BAD_INPUT
    line = _one_line_error(capsys)
    assert "'.xlsx'" in line and "FILE.parquet or FILE.csv" in line


def test_missing_config_file_exits_2(tmp_path, capsys):
    code = main(
        _fetch(
            tmp_path, "--from", "2025-01", "--to", "2025-02", "--output", str(tmp_path / "o.csv")
        )
    )
    assert code == EXIT_BAD_INPUT
    assert "missing.yml not found" in _one_line_error(capsys)


@pytest.mark.parametrize(
    "args",
    [
        ["--from", "2025-01", "--to", "2025-02"],  # no --output
        ["--from", "2025-01", "--to", "2025-02", "--output", "o.csv", "--max-workers", "0"],
        ["--from", "2025-01", "--to", "2025-02", "--output", "o.csv", "--by", "invoice"],
    ],
)
def test_bad_options_exit_2(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as info:
        main(_fetch(tmp_path, *args))
    assert info.value.code == EXIT_BAD_INPUT
    _one_line_error(capsys)
