"""The CLI contract a scheduler relies on (issue 9, item 6).

Exit 70 and one line for an unexpected error (the traceback only with ``--debug``); ``--now``
before or after the command, for the command and its child processes; a fetch that finds no
invoice says so; option errors name the flag; ``--help`` does not import pandas; progress bars
only on a terminal unless ``--progress``.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys

import pytest

from invoicekit import clock, schema
from invoicekit.cli import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_SOFTWARE,
    build_parser,
    main,
    progress_enabled,
)

_SIGNATURE = "X-Amz-Signature=" + "0f" * 32
_FETCH = ["--config", "fleet.yml", "--from", "2026-10", "--to", "2026-10", "--output", "o.csv"]


def _exit_code(argv: list[str]) -> int:
    """``main(argv)``, with argparse's SystemExit turned into its code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _stderr_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# --------------------------------------------------------------------------------------------
# unexpected errors: 70, one line, the traceback only with --debug
# --------------------------------------------------------------------------------------------


def _crash(args: argparse.Namespace) -> int:
    raise KeyError(f"bucket\nhttps://example.com/x.pdf?{_SIGNATURE}")


def test_an_unexpected_error_exits_70_with_one_redacted_line(monkeypatch, capsys):
    monkeypatch.setattr("invoicekit.cli.fetch.run", _crash)
    code = main(["fetch", *_FETCH])
    assert code == EXIT_SOFTWARE == 70
    assert code != EXIT_PARTIAL
    lines = _stderr_lines(capsys)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("invoicekit: error: unexpected KeyError: ")
    assert line.endswith("(run again with --debug for a traceback)")
    assert "Traceback" not in line
    assert _SIGNATURE not in line and "?REDACTED" in line


def test_debug_shows_the_traceback_and_still_exits_70(monkeypatch, capsys):
    monkeypatch.setattr("invoicekit.cli.fetch.run", _crash)
    code = main(["--debug", "fetch", *_FETCH])
    assert code == EXIT_SOFTWARE
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "in _crash" in err  # the frame that raised
    assert _SIGNATURE not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("invoicekit: error: unexpected KeyError: ")
    assert "--debug" not in last


def test_the_process_exit_code_of_a_crash_is_70(tmp_path):
    script = (
        "import sys\n"
        "import invoicekit.cli.sandbox as cmd\n"
        "def boom(args):\n"
        "    raise ZeroDivisionError('division by zero')\n"
        "cmd.run = boom\n"
        "from invoicekit.cli import main\n"
        "sys.exit(main(['sandbox', '--accounts', '1']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == EXIT_SOFTWARE, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "unexpected ZeroDivisionError: division by zero" in proc.stderr


def test_a_reader_that_goes_away_ends_the_run_quietly(tmp_path):
    """``invoicekit ... | head``: the command stops at the closed pipe with 141 (128 + SIGPIPE),
    no 'unexpected BrokenPipeError' and no second complaint from Python at exit."""
    script = (
        "import sys\n"
        "import invoicekit.cli.sandbox as cmd\n"
        "def chatty(args):\n"
        "    for i in range(200000):\n"
        "        print('finding', i)\n"
        "    return 0\n"
        "cmd.run = chatty\n"
        "from invoicekit.cli import main\n"
        "sys.exit(main(['sandbox', '--accounts', '1']))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout.readline().startswith(b"finding 0")
    proc.stdout.close()  # the reader goes away, as head does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141, err
    assert err == b"", err


# --------------------------------------------------------------------------------------------
# --now: before or after the command; pins the run, exports INVOICEKIT_NOW, restores it
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--now", "2031-03-10T09:30:00Z", "fetch", *_FETCH],
        ["fetch", *_FETCH, "--now", "2031-03-10T09:30:00Z"],
        ["fetch", "--now", "2031-03-10T10:30:00+01:00", *_FETCH],
    ],
)
def test_now_before_or_after_the_command_pins_business_time(monkeypatch, argv):
    seen = {}

    def probe(args: argparse.Namespace) -> int:
        seen["now"] = clock.now()
        seen["env"] = os.environ.get(clock.ENV)
        return EXIT_OK

    monkeypatch.setattr("invoicekit.cli.fetch.run", probe)
    monkeypatch.delenv(clock.ENV, raising=False)
    assert main(argv) == EXIT_OK
    assert clock.utc_iso(seen["now"]) == "2031-03-10T09:30:00Z"
    assert seen["env"] == "2031-03-10T09:30:00Z"  # what child processes read
    assert clock.ENV not in os.environ  # restored after the run


@pytest.mark.parametrize(
    "argv",
    [
        ["--now", "yesterday", "fetch", *_FETCH],
        ["fetch", *_FETCH, "--now", "2026-13-45"],
        ["--now", "2026-11-05", "demo", "--now", "soon"],
    ],
)
def test_a_bad_now_is_one_line_naming_now_and_exit_2(monkeypatch, capsys, argv):
    monkeypatch.setattr("invoicekit.cli.fetch.run", _crash)  # never reached
    assert _exit_code(argv) == EXIT_BAD_INPUT
    lines = _stderr_lines(capsys)
    assert len(lines) == 1, lines
    assert lines[0].startswith("invoicekit: error: --now ")
    assert "ISO date or timestamp" in lines[0]


def test_fetch_decides_settled_months_by_now_in_either_position(make_sandbox, tmp_path, capsys):
    sb = make_sandbox(accounts=2, months=3)
    args = ["--config", str(sb.fleet_config), "--from", "2026-08", "--to", "2026-10"]
    args += ["--store", str(tmp_path / "store"), "--output", str(tmp_path / "s.parquet")]
    assert main(["--now", "2026-11-25", "fetch", *args]) == EXIT_OK
    assert "(windows queried: 6, from store: 0)" in capsys.readouterr().out
    # 2026-11-25: 2026-08 and 2026-09 are settled (45 days), 2026-10 is not
    assert main(["--now", "2026-11-25", "fetch", *args]) == EXIT_OK
    assert "(windows queried: 2, from store: 4)" in capsys.readouterr().out
    # a year later 2026-10's stored copy (taken before it settled) is queried once more ...
    assert main(["fetch", *args, "--now", "2027-11-25"]) == EXIT_OK
    assert "(windows queried: 2, from store: 4)" in capsys.readouterr().out
    # ... and then every month is settled: nothing is queried
    assert main(["fetch", *args, "--now", "2027-11-25"]) == EXIT_OK
    assert "(windows queried: 0, from store: 6)" in capsys.readouterr().out


def test_demo_takes_its_dates_from_business_now(tmp_path, monkeypatch, capsys):
    """No --today: the sandbox's today is business today; the months closed end before it."""
    monkeypatch.setenv(clock.ENV, "2031-03-10T08:00:00Z")
    code = main(
        ["demo", "--reports", str(tmp_path / "r"), "--workdir", str(tmp_path / "w"),
         "--accounts", "1", "--months", "2", "--skip-cli", "--skip-notebooks"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == EXIT_OK, out + err
    assert "its today is 2031-03-10" in out
    assert "billing months 2031-01 to 2031-02" in out
    assert "Close February 2031" in out
    assert (tmp_path / "w" / "closes" / "2031-02" / "ap" / "ap_2031-02_generic.csv").is_file()
    df = schema.from_parquet(tmp_path / "w" / "invoices.parquet")
    assert {str(p) for p in df["billing_period"].unique()} == {"2031-01", "2031-02"}


def test_demo_now_flag_sets_the_sandbox_today(tmp_path, monkeypatch):
    seen = {}

    class Stop(Exception):
        pass

    def fake_start(**kwargs):
        seen.update(kwargs, env=os.environ.get(clock.ENV))
        raise Stop

    monkeypatch.setattr("invoicekit.sandbox.start", fake_start)
    monkeypatch.delenv(clock.ENV, raising=False)
    argv = ["demo", "--reports", str(tmp_path / "r"), "--workdir", str(tmp_path / "w")]
    assert main(["--now", "2030-01-02T03:04:05Z", *argv, "--months", "3"]) == EXIT_SOFTWARE
    assert seen["today"] == "2030-01-02" and seen["months"] == 3
    assert seen["env"] == "2030-01-02T03:04:05Z"
    # --today alone pins business now to that day, for the notebooks and the sandbox alike
    assert main([*argv, "--today", "2029-07-15"]) == EXIT_SOFTWARE
    assert seen["today"] == "2029-07-15" and seen["env"] == "2029-07-15T00:00:00Z"
    assert clock.ENV not in os.environ


def test_a_sandbox_child_process_inherits_business_now(monkeypatch):
    from invoicekit.sandbox import start

    monkeypatch.delenv(clock.ENV, raising=False)
    with clock.pinned_for_run("2031-03-10"):
        sb = start(accounts=1, months=2, in_process=False)
    try:
        org = sb.admin("/_sandbox/org")
    finally:
        sb.stop()
    assert org["today"] == "2031-03-10"
    assert clock.ENV not in os.environ


def test_the_sandbox_command_defaults_today_to_business_today(monkeypatch):
    seen = {}

    class Stop(Exception):
        pass

    def fake_build(**kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr("invoicekit.sandbox.org.build_organization", fake_build)
    assert main(["--now", "2031-03-10T23:59:00Z", "sandbox", "--months", "3"]) == EXIT_SOFTWARE
    assert seen["today"] == "2031-03-10" and seen["months"] == 3
    assert main(["sandbox", "--today", "2027-02-01"]) == EXIT_SOFTWARE
    assert seen["today"] == "2027-02-01"


# --------------------------------------------------------------------------------------------
# a fetch that finds nothing says so
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_fetch_that_finds_no_invoice_warns_and_writes_an_empty_file(
    sandbox, tmp_path, capsys, suffix
):
    out = tmp_path / f"none{suffix}"
    n = len(sandbox.org.accounts)
    code = main(
        ["fetch", "--config", str(sandbox.fleet_config), "--from", "2026-12", "--to", "2026-12",
         "--output", str(out)]
    )  # fmt: skip
    stdout, stderr = capsys.readouterr()
    assert code == EXIT_OK
    assert stderr.splitlines() == [
        f"invoicekit: warning: no invoice found for 2026-12..2026-12 in {n} accounts"
    ]
    assert "loaded 0 rows\n" in stdout
    df = schema.from_parquet(out) if suffix == ".parquet" else schema.from_csv(out)
    assert len(df) == 0 and list(df.columns) == schema.COLUMNS


# --------------------------------------------------------------------------------------------
# option errors name the flag, never a Python parameter
# --------------------------------------------------------------------------------------------

_PYTHON_NAME = re.compile(r"\b[a-z]+_[a-z_]+=|\bFaults\.")


@pytest.mark.parametrize(
    ("command", "flag", "value"),
    [
        ("fetch", "--rate-per-account", "0.3"),
        ("fetch", "--rate-per-account", "-1"),
        ("fetch", "--rate-per-account", "fast"),
        ("fetch", "--rate-per-account", "nan"),
        ("fetch", "--rate-per-account", "20000"),
        ("fetch", "--settle-days", "-1"),
        ("fetch", "--settle-days", "1000000"),
        ("fetch", "--max-workers", "0"),
        ("fetch", "--by", "invoice"),
        ("fetch", "--from", "2025-13"),
        ("demo", "--accounts", "0"),
        ("demo", "--months", "0"),
        ("demo", "--months", "241"),
        ("demo", "--today", "2026-02-30"),
        ("demo", "--jobs", "0"),
        ("sandbox", "--accounts", "0"),
        ("sandbox", "--accounts", "many"),
        ("sandbox", "--months", "500"),
        ("sandbox", "--today", "tomorrow"),
        ("sandbox", "--url-lifetime", "0.5"),
        ("sandbox", "--fault-operations", "ListInvoices"),
        ("sandbox", "--fault-throttle", "2"),
        ("sandbox", "--rate-limit", "0"),
        ("sandbox", "--port", "70000"),
    ],
)
def test_option_errors_name_the_flag(capsys, command, flag, value):
    base = {"fetch": _FETCH, "demo": [], "sandbox": []}[command]
    code = _exit_code([command, *base, flag, value])
    assert code == EXIT_BAD_INPUT
    lines = _stderr_lines(capsys)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"invoicekit: error: argument {flag}: ")
    assert not _PYTHON_NAME.search(lines[0]), lines[0]


def test_rate_per_account_zero_turns_pacing_off_and_the_bounds_are_accepted():
    parser = build_parser(only="fetch")
    for text, expected in [("0", 0.0), ("0.5", 0.5), ("2", 2.0), ("10000", 10_000.0)]:
        args = parser.parse_args(["fetch", *_FETCH, "--rate-per-account", text])
        assert args.rate_per_account == expected


# --------------------------------------------------------------------------------------------
# --help is cheap
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [[], ["fetch"], ["download"], ["verify"], ["reconcile"], ["export-ap"], ["demo"], ["sandbox"]],
)
def test_help_does_not_import_pandas(command):
    script = (
        "import sys, invoicekit.cli\n"
        "try:\n"
        f"    invoicekit.cli.main({command!r} + ['--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = [m for m in ('pandas', 'numpy', 'pyarrow') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage: invoicekit" in proc.stdout
    if not command:  # every command is listed, none of their modules imported
        for name in ("fetch", "download", "verify", "reconcile", "export-ap", "demo", "sandbox"):
            assert name in proc.stdout


# --------------------------------------------------------------------------------------------
# progress bars: only on a terminal, unless --progress / --no-progress say otherwise
# --------------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("flag", "stream", "expected"),
    [
        (None, io.StringIO(), False),  # a cron log
        (None, _Terminal(), True),
        (True, io.StringIO(), True),  # --progress forces
        (False, _Terminal(), False),  # --no-progress
    ],
)
def test_progress_enabled(flag, stream, expected):
    assert progress_enabled(argparse.Namespace(progress=flag), stream) is expected


def test_progress_enabled_without_the_option_or_with_a_closed_stream():
    closed = io.StringIO()
    closed.close()
    assert progress_enabled(argparse.Namespace(), closed) is False
    assert progress_enabled(argparse.Namespace(), _Terminal()) is True


def test_fetch_draws_a_bar_only_when_asked_or_on_a_terminal(sandbox, tmp_path, capsys):
    argv = ["fetch", "--config", str(sandbox.fleet_config), "--from", "2026-10", "--to",
            "2026-10", "--output", str(tmp_path / "p.csv")]  # fmt: skip
    assert main(argv) == EXIT_OK  # stderr is not a terminal here
    assert capsys.readouterr().err == ""
    assert main([*argv, "--progress"]) == EXIT_OK
    assert "invoice summaries" in capsys.readouterr().err  # tqdm's bar, on stderr
    assert main([*argv, "--no-progress"]) == EXIT_OK
    assert capsys.readouterr().err == ""


def test_a_warning_on_the_command_line_is_one_plain_line(make_sandbox, tmp_path):
    """The loader's warning about a re-issued invoice id reads as one line, without Python's
    file:line and category; the data is written all the same (exit 0)."""
    sb = make_sandbox(accounts=8, months=12, anomalies=True)
    dup = next(a for a in sb.anomalies() if a["check"] == "duplicate_invoice")
    proc = subprocess.run(
        [sys.executable, "-m", "invoicekit", "--now", "2026-11-25", "fetch", "--config",
         str(sb.fleet_config), "--from", dup["billing_period"], "--to", dup["billing_period"],
         "--output", str(tmp_path / "s.parquet"), "--no-progress"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == EXIT_OK, proc.stderr
    lines = proc.stderr.splitlines()
    assert [line for line in lines if dup["invoice_id"] in line] == [
        line for line in lines if line.startswith("invoicekit: warning: ")
    ]
    assert len(lines) == 1 and "UserWarning" not in proc.stderr, proc.stderr
