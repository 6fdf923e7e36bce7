"""``invoicekit download`` and ``invoicekit verify``: outputs and exit codes (0, 1, 2, 3)."""

from __future__ import annotations

import csv
import re

import pytest

from invoicekit import documents
from invoicekit.cli import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, EXIT_PARTIAL, main

TODAY = "2026-11-25"
RANGE = ["--from", "2026-09", "--to", "2026-10"]


@pytest.fixture(scope="module")
def sb():
    from invoicekit.sandbox import start

    with start(accounts=3, months=2, today=TODAY) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def summaries_file(sb, tmp_path_factory):
    from invoicekit import schema
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries

    df = read_invoice_summaries(load_fleet(sb.fleet_config), "2026-09", "2026-10", progress=False)
    path = tmp_path_factory.mktemp("summaries") / "invoices.parquet"
    schema.to_parquet(df, path)
    return path, df


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_download_then_rerun_then_verify(sb, tmp_path, capsys):
    dest = tmp_path / "archive"
    code, out, err = _run(
        capsys,
        "download",
        "--config",
        str(sb.fleet_config),
        *RANGE,
        "--dest",
        str(dest),
        "--no-progress",
    )
    assert code == EXIT_OK, err
    n = int(re.search(r"downloaded: (\d+)", out).group(1))
    assert n > 0 and "failed: 0" in out
    with open(dest / "manifest.csv", newline="", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == n

    code, out, _ = _run(
        capsys,
        "download",
        "--config",
        str(sb.fleet_config),
        *RANGE,
        "--dest",
        str(dest),
        "--no-progress",
    )
    assert code == EXIT_OK
    assert f"already archived: {n}" in out and "API calls: 0" in out

    code, out, _ = _run(
        capsys, "verify", str(dest), "--config", str(sb.fleet_config), *RANGE, "--no-progress"
    )
    assert code == EXIT_OK and "no problems" in out


def test_download_from_a_summaries_file_with_a_custom_template(
    sb, summaries_file, tmp_path, capsys
):
    path, df = summaries_file
    dest = tmp_path / "archive"
    code, out, err = _run(
        capsys,
        "download",
        "--config",
        str(sb.fleet_config),
        "--summaries",
        str(path),
        "--from",
        "2026-10",
        "--to",
        "2026-10",
        "--dest",
        str(dest),
        "--template",
        "{account_id}/{year}-{month}/{invoice_id}.pdf",
        "--no-supplemental",
        "--no-progress",
    )
    assert code == EXIT_OK, err
    october = df[df["billing_period"].astype(str) == "2026-10"]
    # the rows listed and the documents archived, in the documents vocabulary
    assert f"download: {documents.describe(documents.count(october))} listed" in out
    main = documents.count(october)
    assert f"{len(october)} documents: {documents.describe(main)}" in out
    for _, r in october.iterrows():
        assert (dest / r["account_id"] / "2026-10" / f"{r['invoice_id']}.pdf").is_file()
    assert not list(dest.glob("2026-09*")) and not list(dest.rglob("*__*"))


def test_verify_reports_corrupt_missing_unexpected_and_incomplete(
    sb, summaries_file, tmp_path, capsys
):
    path, df = summaries_file
    dest = tmp_path / "archive"
    assert (
        _run(
            capsys,
            "download",
            "--config",
            str(sb.fleet_config),
            "--summaries",
            str(path),
            "--dest",
            str(dest),
            "--no-supplemental",
            "--no-progress",
        )[0]
        == EXIT_OK
    )
    with open(dest / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    (dest / rows[0]["path"]).write_bytes(b"%PDF-1.4 forged %%EOF")
    (dest / rows[1]["path"]).unlink()
    (dest / "notes.txt").write_text("hi")
    (dest / rows[2]["path"]).with_name(".ik-0123456789abcdef.part").write_bytes(b"%PDF-")
    code, out, _ = _run(capsys, "verify", str(dest), "--summaries", str(path))
    assert code == EXIT_FINDINGS
    assert f"corrupt: {rows[0]['path']}" in out
    assert f"missing: {rows[1]['path']}" in out
    assert "unexpected: notes.txt" in out and "interrupted run" in out
    # completeness: the corrupt and the missing invoice have no intact PDF
    assert out.count("no_document:") == 2
    assert "1 corrupt" in out and "1 missing" in out and "2 unexpected" in out


def test_a_denied_account_gives_exit_3_and_the_others_are_archived(
    sb, summaries_file, tmp_path, capsys
):
    path, df = summaries_file
    denied = sorted(set(df["account_id"]))[0]
    sb.deny(denied)
    try:
        code, out, err = _run(
            capsys,
            "download",
            "--config",
            str(sb.fleet_config),
            "--summaries",
            str(path),
            "--dest",
            str(tmp_path / "a"),
            "--no-progress",
        )
    finally:
        sb.deny(denied, False)
    assert code == EXIT_PARTIAL
    assert f"failed: account {denied}" in out and "AccessDenied" in out
    assert "invoicekit: error:" in err and "run the same command again" in err
    others = df[df["account_id"] != denied]
    assert all(
        (
            tmp_path / "a" / str(r["billing_period"]) / r["account_id"] / f"{r['invoice_id']}.pdf"
        ).is_file()
        for _, r in others.iterrows()
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["download", "--dest", "D"], "--config"),
        (["download", "--config", "missing.yml", *RANGE, "--dest", "D"], "not found"),
        (["download", "--summaries", "nope.parquet", "--dest", "D"], "no such file"),
        (
            ["download", "--summaries", "{summaries}", "--from", "2026-13", "--dest", "D"],
            "not a month",
        ),
        (
            ["download", "--summaries", "{summaries}", "--dest", "D", "--template", "{payer}.pdf"],
            "unknown field {payer}",
        ),
        (
            [
                "download",
                "--summaries",
                "{summaries}",
                "--dest",
                "D",
                "--template",
                "../{invoice_id}.pdf",
            ],
            "relative path",
        ),
        (
            ["download", "--summaries", "{summaries}", "--dest", "D", "--max-workers", "0"],
            "positive",
        ),
        (["verify", "no-such-dir"], "not a directory"),
        (["verify", "{empty}"], "no manifest.csv"),
        (["verify", "{empty}", "--from", "2026-01"], "--summaries"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv, message, summaries_file, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    argv = [
        a.replace("{summaries}", str(summaries_file[0])).replace("{empty}", str(tmp_path / "empty"))
        for a in argv
    ]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "D").exists()


def test_help_documents_the_default_template(capsys):
    with pytest.raises(SystemExit):
        main(["download", "--help"])
    assert "{billing_period}/{account_id}/{invoice_id}.pdf" in capsys.readouterr().out


def test_debug_logs_of_a_real_run_carry_no_secret(sb, tmp_path):
    """``--debug`` turns on urllib3/botocore DEBUG logs: request lines, STS bodies, headers."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "invoicekit", "--debug", "download", "--config",
         str(sb.fleet_config), "--from", "2026-10", "--to", "2026-10", "--dest",
         str(tmp_path / "a"), "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    logs = proc.stdout + proc.stderr
    assert "/documents/" in logs and "AssumeRole" in logs  # the lines that could leak are there
    values = re.findall(r"X-Amz-(?:Signature|Security-Token|Credential)=([^&\s\"']*)", logs, re.I)
    values += re.findall(r"x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?([^'\"\s,}&]*)", logs, re.I)
    values += re.findall(r"<(?:SecretAccessKey|SessionToken)>([^<]*)<", logs)
    assert values and set(values) == {"REDACTED"}
    for acct in sb.org.accounts:
        assert acct.secret_access_key not in logs and acct.access_key_id not in logs
    assert sb.org.org_secret_access_key not in logs


@pytest.mark.parametrize("with_fleet", [False, True], ids=["default-chain", "profile"])
def test_download_without_usable_credentials_is_refused_before_any_request(
    with_fleet, sb, summaries_file, tmp_path, capsys, monkeypatch
):
    path, df = summaries_file
    accounts = sorted(set(df["account_id"]))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_INVOICING", sb.endpoint_url)  # a request would show
    argv = ["download", "--summaries", str(path), "--dest", str(tmp_path / "a"), "--no-progress"]
    if with_fleet:
        (tmp_path / "aws-config").write_text("[profile empty]\nregion = us-east-1\n")
        (tmp_path / "aws-credentials").write_text("")
        fleet = tmp_path / "fleet.yml"
        fleet.write_text(
            "aws_config_file: aws-config\naws_shared_credentials_file: aws-credentials\n"
            "accounts:\n" + "".join(f"  - {{id: '{a}', profile: empty}}\n" for a in accounts)
        )
        argv += ["--config", str(fleet)]
    before = sum(sb.stats()["requests"].get("GetInvoicePDF", {}).values())
    code, out, err = _run(capsys, *argv)
    assert code == EXIT_BAD_INPUT
    assert err.count("\n") == 1 and "no AWS credentials" in err and accounts[0] in err
    if with_fleet:  # the first account's profile, and how many more
        assert "profile 'empty'" in err and f"{len(accounts) - 1} more account" in err
    else:  # one session for all: every account named, and the flag that fixes it
        assert all(a in err for a in accounts) and "--config FLEET.yml" in err
    assert "failed:" not in out  # not one failure per invoice
    assert sum(sb.stats()["requests"].get("GetInvoicePDF", {}).values()) == before
