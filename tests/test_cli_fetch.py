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
        ("2025-13", "2025-12", "argument --from: '2025-13' is not a month"),
        ("Jan 2025", "2025-12", "argument --from: 'Jan 2025' is not a month"),
        ("2025-01", "2025-xx", "argument --to: '2025-xx' is not a month"),
        ("2025-06", "2025-01", "--to 2025-01 is before --from 2025-06"),
        ("2004-11", "2005-02", "argument --from: 2004-11 is before 2005-01"),
    ],
)
def test_bad_months_exit_2_with_one_line(tmp_path, capsys, start, end, fragment):
    out = tmp_path / "out.parquet"
    try:  # argparse rejects a malformed month itself (SystemExit); the loader rejects the order
        code = main(_fetch(tmp_path, "--from", start, "--to", end, "--output", str(out)))
    except SystemExit as exc:
        code = exc.code
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


# --------------------------------------------------------------------------------------------
# Against the sandbox
# --------------------------------------------------------------------------------------------

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from invoicekit import documents, schema  # noqa: E402
from invoicekit.cli import EXIT_OK, EXIT_PARTIAL  # noqa: E402


def _ids(org, months: set[tuple[int, int]], accounts=None) -> list[str]:
    return sorted(
        i["InvoiceId"]
        for i in org.invoices
        if (i["BillingPeriod"]["Year"], i["BillingPeriod"]["Month"]) in months
        and (accounts is None or i["AccountId"] in accounts)
    )


SEP_OCT = {(2026, 9), (2026, 10)}


def _requests(sb) -> int:
    """SDK operation calls the sandbox has answered (ListInvoiceSummaries, AssumeRole, ...)."""
    return sum(sum(per_account.values()) for per_account in sb.stats()["requests"].values())


def test_fetch_writes_parquet_and_prints_the_summary(sandbox, tmp_path, capsys):
    out = tmp_path / "invoices.parquet"
    before = _requests(sandbox)
    code = main(
        _fetch(tmp_path, "--from", "2026-09", "--to", "2026-10", "--output", str(out),
               config=str(sandbox.fleet_config))
    )  # fmt: skip
    stdout, stderr = capsys.readouterr()
    assert code == EXIT_OK, stderr
    df = schema.from_parquet(out)
    assert list(df.columns) == schema.COLUMNS
    assert sorted(df["invoice_id"]) == _ids(sandbox.org, SEP_OCT)
    n = len(sandbox.org.accounts)
    assert f"{n} accounts ({n} ok, 0 failed)" in stdout
    counts = documents.describe(documents.count(df))
    assert f"  loaded {len(df)} rows: {counts}\n  written to {out}\n" in stdout
    assert "invoices" in counts and "credit memo" in counts  # the vocabulary, not "invoices: N"
    # "API calls" are SDK operation calls: 2 months x n accounts, plus the role accounts' AssumeRole
    calls = _requests(sandbox) - before
    assert calls > 2 * n
    assert f"API calls: {calls} (windows queried: {2 * n}, from store: 0)" in stdout
    assert stderr == ""


def test_fetch_writes_csv_with_plain_decimals_and_utc(sandbox, tmp_path, capsys):
    out = tmp_path / "sub" / "invoices.csv"
    code = main(
        _fetch(tmp_path, "--from", "2026-10", "--to", "2026-10", "--output", str(out),
               config=str(sandbox.fleet_config))
    )  # fmt: skip
    assert code == EXIT_OK
    import csv
    import re

    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:3] == ["account_id", "account_name", "invoice_id"]
    for row in rows:
        assert re.fullmatch(r"-?\d+(\.\d+)?", row["base_total"]), row["base_total"]
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", row["issued_date"]
        )
    back = schema.from_csv(out)
    assert sorted(back["invoice_id"]) == _ids(sandbox.org, {(2026, 10)})


def test_fetch_partial_failure_keeps_other_accounts_and_exits_3(make_sandbox, tmp_path, capsys):
    sb = make_sandbox(accounts=4, months=3)
    denied = sb.org.accounts[1].account_id
    sb.deny(denied)
    out = tmp_path / "invoices.parquet"
    code = main(
        _fetch(tmp_path, "--from", "2026-09", "--to", "2026-10", "--output", str(out),
               config=str(sb.fleet_config))
    )  # fmt: skip
    stdout, stderr = capsys.readouterr()
    assert code == EXIT_PARTIAL
    others = {a.account_id for a in sb.org.accounts} - {denied}
    assert sorted(schema.from_parquet(out)["invoice_id"]) == _ids(sb.org, SEP_OCT, others)
    assert "4 accounts (3 ok, 1 failed)" in stdout
    failed_lines = [ln for ln in stdout.splitlines() if ln.strip().startswith("failed:")]
    assert len(failed_lines) == 1 and denied in failed_lines[0]
    assert "AccessDeniedException" in failed_lines[0]
    assert len(stderr.strip().splitlines()) == 1 and "1 of 4 accounts failed" in stderr


def test_fetch_store_second_run_makes_fewer_calls(make_sandbox, tmp_path, capsys):
    sb = make_sandbox(accounts=3, months=3)
    # business "now" 2026-11-25: 2026-08 and 2026-09 are settled, 2026-10 not (2026-12-16)
    args = ["--from", "2026-08", "--to", "2026-10", "--store", str(tmp_path / "store")]
    args += ["--now", "2026-11-25T12:00:00Z"]
    out = str(tmp_path / "a.parquet")
    assert main(_fetch(tmp_path, *args, "--output", out, config=str(sb.fleet_config))) == 0
    assert (
        f"API calls: {_requests(sb)} (windows queried: 9, from store: 0)" in capsys.readouterr().out
    )
    sb.reset_stats()
    assert main(_fetch(tmp_path, *args, "--output", out, config=str(sb.fleet_config))) == 0
    stdout = capsys.readouterr().out
    assert f"API calls: {_requests(sb)} (windows queried: 3, from store: 6)" in stdout
    assert sum(sb.stats()["requests"]["ListInvoiceSummaries"].values()) == 3
    sb.reset_stats()
    assert (
        main(_fetch(tmp_path, *args, "--refresh", "--output", out, config=str(sb.fleet_config)))
        == 0
    )
    assert f"API calls: {_requests(sb)} (windows queried: 9, " in capsys.readouterr().out
    assert sum(sb.stats()["requests"]["ListInvoiceSummaries"].values()) == 9
    raw = list((tmp_path / "store" / "raw").rglob("*.json"))
    assert len(raw) == 9


def _fleet_file(tmp_path: Path, sandbox, accounts: list[dict]) -> Path:
    base = yaml.safe_load(Path(sandbox.fleet_config).read_text())
    cfg_dir = Path(sandbox.fleet_config).parent
    doc = {
        "aws_config_file": str(cfg_dir / base["aws_config_file"]),
        "aws_shared_credentials_file": str(cfg_dir / base["aws_shared_credentials_file"]),
        "accounts": accounts,
    }
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_unknown_profile_exits_2(sandbox, tmp_path, capsys):
    first = sandbox.org.accounts[0].account_id
    cfg = _fleet_file(tmp_path, sandbox, [{"id": first, "profile": "no-such-profile"}])
    code = main(
        _fetch(tmp_path, "--from", "2026-10", "--to", "2026-10",
               "--output", str(tmp_path / "o.parquet"), config=str(cfg))
    )  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert "no-such-profile" in _one_line_error(capsys)
    assert not (tmp_path / "o.parquet").exists()


def test_invalid_fleet_file_exits_2_with_file_and_line(tmp_path, capsys):
    cfg = tmp_path / "fleet.yml"
    cfg.write_text('accounts:\n  - id: "111111111111"\n    profil: x\n')
    code = main(
        _fetch(tmp_path, "--from", "2026-10", "--to", "2026-10",
               "--output", str(tmp_path / "o.csv"), config=str(cfg))
    )  # fmt: skip
    assert code == EXIT_BAD_INPUT
    line = _one_line_error(capsys)
    assert "fleet.yml:3" in line and "profil" in line


def test_no_credentials_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    cfg = tmp_path / "fleet.yml"
    cfg.write_text('accounts:\n  - id: "111111111111"\n  - id: "222222222222"\n')
    code = main(
        _fetch(tmp_path, "--from", "2026-10", "--to", "2026-10",
               "--output", str(tmp_path / "o.csv"), config=str(cfg))
    )  # fmt: skip
    assert code == EXIT_BAD_INPUT
    line = _one_line_error(capsys)
    assert "no AWS credentials" in line and "111111111111" in line
    assert not (tmp_path / "o.csv").exists()


def test_no_credentials_for_one_account_is_bad_input_but_others_are_written(
    sandbox, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    good = sandbox.org.accounts[0].account_id
    cfg = _fleet_file(
        tmp_path,
        sandbox,
        [{"id": good, "profile": f"invoicekit-sandbox-{good}"}, {"id": "999999999999"}],
    )
    out = tmp_path / "o.parquet"
    code = main(
        _fetch(tmp_path, "--from", "2026-10", "--to", "2026-10", "--output", str(out),
               config=str(cfg))
    )  # fmt: skip
    assert code == EXIT_BAD_INPUT
    line = _one_line_error(capsys)
    assert "999999999999" in line and "no AWS credentials" in line
    assert sorted(schema.from_parquet(out)["invoice_id"]) == _ids(sandbox.org, {(2026, 10)}, {good})


def _console_script() -> str:
    script = Path(sys.executable).parent / "invoicekit"
    assert script.exists(), "the invoicekit console script is not installed in this venv"
    return str(script)


def test_console_script_fetch_end_to_end(sandbox, tmp_path):
    out = tmp_path / "invoices.csv"
    ok = subprocess.run(
        [_console_script(), "fetch", "--config", str(sandbox.fleet_config), "--from", "2026-10",
         "--to", "2026-10", "--output", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert ok.returncode == EXIT_OK, ok.stderr
    assert "0 failed" in ok.stdout
    assert sorted(schema.from_csv(out)["invoice_id"]) == _ids(sandbox.org, {(2026, 10)})
    bad = subprocess.run(
        [_console_script(), "fetch", "--config", str(sandbox.fleet_config), "--from", "2026-10",
         "--to", "2026-01", "--output", str(out)],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert bad.returncode == EXIT_BAD_INPUT
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "--to 2026-01 is before --from 2026-10" in bad.stderr


def test_an_output_that_is_a_directory_or_a_store_that_is_a_file_exits_2(sandbox, tmp_path, capsys):
    outdir = tmp_path / "out.parquet"
    outdir.mkdir()
    args = ["--from", "2026-10", "--to", "2026-10"]
    code = main(_fetch(tmp_path, *args, "--output", str(outdir), config=str(sandbox.fleet_config)))
    assert code == EXIT_BAD_INPUT
    assert "is a directory" in _one_line_error(capsys)
    store_file = tmp_path / "store"
    store_file.write_text("not a directory")
    code = main(
        _fetch(tmp_path, *args, "--output", str(tmp_path / "o.csv"), "--store", str(store_file),
               config=str(sandbox.fleet_config))
    )  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert "not a directory" in _one_line_error(capsys)
    assert not (tmp_path / "o.csv").exists()


def test_rate_per_account_paces_each_account(make_sandbox, tmp_path):
    """At 2 requests/s (burst 1) an account's 4 monthly calls need at least 3 x 0.5 s."""
    import time

    from invoicekit.cli import main

    sb = make_sandbox(accounts=2, months=4)
    out = tmp_path / "s.parquet"
    argv = ["fetch", "--config", str(sb.fleet_config), "--from", "2026-07", "--to", "2026-10",
            "--output", str(out), "--no-progress"]  # fmt: skip
    t0 = time.monotonic()
    assert main([*argv, "--rate-per-account", "2"]) == 0
    assert time.monotonic() - t0 >= 1.45  # pacing is a floor: load only makes it slower
    assert sum(sb.stats()["requests"]["ListInvoiceSummaries"].values()) == 8
    assert sb.stats()["throttled"] == 0
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--rate-per-account", "fast"])
    assert exc.value.code == 2


@pytest.mark.parametrize("client", ["lean", "boto3"])
def test_fetch_reports_the_throttled_answers_it_absorbed(make_sandbox, tmp_path, capsys, client):
    """A 2 requests/s limit the loader is not told of: throttled answers are retried and
    counted (the sandbox's own count of 429s), none fails a window, both clients agree."""
    sb = make_sandbox(accounts=2, months=4, rate_limit=2)
    out = tmp_path / f"{client}.parquet"
    code = main(
        ["fetch", "--config", str(sb.fleet_config), "--from", "2026-07", "--to", "2026-10",
         "--output", str(out), "--no-progress", "--client", client]
    )  # fmt: skip
    stdout, stderr = capsys.readouterr()
    assert code == EXIT_OK, stderr
    assert f"  throttled answers: {sb.stats()['throttled']} (" in stdout
    assert sorted(schema.from_parquet(out)["invoice_id"]) == sorted(
        i["InvoiceId"]
        for i in sb.org.invoices
        if (i["BillingPeriod"]["Year"], i["BillingPeriod"]["Month"])
        in {(2026, m) for m in (7, 8, 9, 10)}
    )


def test_fetch_refuses_an_unknown_client(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(_fetch(tmp_path, "--from", "2026-09", "--to", "2026-10", "--client", "curl"))
    assert exc.value.code == EXIT_BAD_INPUT
