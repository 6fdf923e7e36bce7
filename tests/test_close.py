"""``invoicekit close``: one command, one pack, resumable, idempotent, versioned on reopen.

What a controller and a scheduler rely on:

- the pack holds every part of the month-end and ``sha256sum -c SHA256SUMS`` run inside it
  verifies every file (the real coreutils tool);
- a run killed with SIGKILL continues from the last completed step, without asking the API
  again for what was done, and the pack appears only when complete;
- a second run on a closed pack changes nothing (same bytes, same mtimes, no API call), and a
  pack whose files no longer verify is refused, never overwritten;
- ``--reopen`` keeps the earlier pack as ``.v1`` (then ``.v2``);
- open error findings block the AP export (exit 1) with the pack still written; bad input is
  exit 2 with one line.

Sandboxes are small (3-4 accounts, 3 months) and the lookback is short, to stay fast.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from invoicekit import clock
from invoicekit.cli import main
from invoicekit.close import close_month, verify_pack

NOW = "2026-11-25"
MONTH = "2026-10"
SMALL = {"accounts": 3, "months": 3, "today": NOW}


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoicekit", "--now", NOW, "close", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _calls(sb, operation: str | None = None) -> int:
    requests = sb.stats()["requests"]
    # every API operation the server counts (invoicing, STS); document downloads are not calls
    ops = [operation] if operation else [op for op in requests if op != "Document"]
    return sum(sum(requests.get(op, {}).values()) for op in ops)


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: (sha256, mtime_ns)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = (
                hashlib.sha256(p.read_bytes()).hexdigest(),
                p.stat().st_mtime_ns,
            )
    return out


def _month_invoices(sb, month: str) -> list[dict]:
    y, m = (int(x) for x in month.split("-"))
    return [
        inv
        for inv in sb.org.invoices
        if inv["BillingPeriod"]["Year"] == y and inv["BillingPeriod"]["Month"] == m
    ]


def _sha256sum_check(pack: Path) -> subprocess.CompletedProcess:
    tool = shutil.which("sha256sum")
    assert tool, "coreutils sha256sum is needed to check the pack the way an auditor does"
    return subprocess.run(
        [tool, "-c", "SHA256SUMS"], cwd=pack, capture_output=True, text=True, check=False
    )


# --------------------------------------------------------------------------------------------
# The pack
# --------------------------------------------------------------------------------------------


def test_close_pack_holds_the_month_and_sha256sum_verifies_it(make_sandbox, tmp_path):
    sb = make_sandbox(**SMALL)
    dest = tmp_path / "closes"
    before = _calls(sb)
    proc = _cli(
        "--config", str(sb.fleet_config), "--month", MONTH, "--dest", str(dest),
        "--lookback", "1", "--no-progress",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    pack = dest / MONTH
    assert not (dest / f"{MONTH}.partial").exists()

    # the layout of docs/close.md
    for name in ("summaries.parquet", "findings.csv", "executive_summary.html", "run.json"):
        assert (pack / name).is_file(), name
    assert (pack / "archive" / "manifest.csv").is_file()
    assert any((pack / "ap").iterdir())

    # sha256sum -c, run inside the pack, checks every file but SHA256SUMS itself
    check = _sha256sum_check(pack)
    assert check.returncode == 0, check.stdout + check.stderr
    every = {p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()} - {
        "SHA256SUMS"
    }
    checked = {line.rsplit(": ", 1)[0] for line in check.stdout.splitlines()}
    assert checked == every

    # the month's invoices, from the sandbox's own model
    from invoicekit import schema

    df = schema.from_parquet(pack / "summaries.parquet")
    in_month = df[df["billing_period"].astype(str) == MONTH]
    expected_ids = {inv["InvoiceId"] for inv in _month_invoices(sb, MONTH)}
    assert set(in_month["invoice_id"]) == expected_ids
    assert set(df["billing_period"].astype(str)) <= {"2026-09", MONTH}  # --lookback 1

    # every document of those invoices is archived with the sandbox's bytes
    import csv

    rows = list(csv.DictReader((pack / "archive" / "manifest.csv").open(encoding="utf-8")))
    wanted = {d.document_id for i in expected_ids for d in sb.org.documents_for(i)}
    assert {r["document_id"] for r in rows} == wanted
    for r in rows:
        data = (pack / "archive" / r["path"]).read_bytes()
        assert (
            hashlib.sha256(data).hexdigest()
            == hashlib.sha256(sb.org.render_pdf(r["document_id"])).hexdigest()
        )

    # run.json: what was asked, done, what it cost (as the server counted it), versions
    run = json.loads((pack / "run.json").read_text())
    assert run["status"] == "closed" and run["exit_code"] == 0
    assert run["asked"]["month"] == MONTH and run["asked"]["formats"] == ["generic"]
    assert run["asked"]["now"].startswith(NOW)
    assert list(run["steps"]) == ["fetch", "reconcile", "archive", "ap", "summary"]
    assert all(s["elapsed_s"] >= 0 and s["finished_at"] for s in run["steps"].values())
    assert run["api_calls"]["total"] == _calls(sb) - before
    assert set(run["versions"]) >= {"invoicekit", "boto3", "botocore", "pandas", "python"}
    assert run["failures"] == []

    # one sentence per step, then the verdict
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith(f"Fetched {len(expected_ids)} invoice")
    assert "October 2026" in lines[0] and "API call" in lines[0]
    assert lines[-1].startswith("Closed October 2026")


def test_second_run_changes_nothing_and_a_tampered_pack_is_refused(make_sandbox, tmp_path):
    sb = make_sandbox(**SMALL)
    dest = tmp_path / "closes"
    args = ("--config", str(sb.fleet_config), "--month", MONTH, "--dest", str(dest),
            "--lookback", "1", "--no-progress")  # fmt: skip
    assert _cli(*args).returncode == 0
    pack = dest / MONTH
    files = _snapshot(pack)
    calls = _calls(sb)

    again = _cli(*args)
    assert again.returncode == 0, again.stderr
    out = again.stdout.strip()
    assert out.startswith("October 2026 is already closed:") and "--reopen" in out
    assert f"{len(files) - 1} files verified" in out  # every file but SHA256SUMS
    assert _snapshot(pack) == files  # same bytes, same mtimes
    assert _calls(sb) == calls  # no API call
    assert not (dest / f"{MONTH}.partial").exists()

    # a file altered after the close: reported, exit 2, one line, nothing overwritten
    findings = pack / "findings.csv"
    findings.write_text(findings.read_text() + "tampered\n")
    altered = _snapshot(pack)
    refused = _cli(*args)
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "findings.csv" in refused.stderr and "--reopen" in refused.stderr
    assert _snapshot(pack) == altered
    assert _sha256sum_check(pack).returncode != 0


# --------------------------------------------------------------------------------------------
# Resume after SIGKILL
# --------------------------------------------------------------------------------------------


def test_a_sigkilled_close_resumes_without_asking_the_api_again(make_sandbox, tmp_path):
    # latency keeps the run busy after the fetch, so the kill lands between steps
    sb = make_sandbox(**SMALL, latency_ms=150)
    dest = tmp_path / "closes"
    args = ("--config", str(sb.fleet_config), "--month", MONTH, "--dest", str(dest),
            "--lookback", "1", "--no-progress")  # fmt: skip
    state = dest / f"{MONTH}.partial" / "state.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoicekit", "--now", NOW, "close", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                steps = json.loads(state.read_text()).get("steps", {})
            except (OSError, ValueError):
                steps = {}
            if steps.get("fetch", {}).get("done"):
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the close ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (dest / MONTH).exists()  # no pack before it is complete
    listed = _calls(sb, "ListInvoiceSummaries")
    assert listed > 0

    resumed = _cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("Resuming the close of October 2026")
    assert "done by an earlier run, kept" in resumed.stdout
    assert _calls(sb, "ListInvoiceSummaries") == listed  # the fetch was not repeated
    pack = dest / MONTH
    assert _sha256sum_check(pack).returncode == 0
    assert not (dest / f"{MONTH}.partial").exists()
    run = json.loads((pack / "run.json").read_text())
    assert [a["attempt"] for a in run["attempts"]] == [1, 2]
    assert run["steps"]["fetch"]["attempt"] == 1
    assert "fetch" in run["attempts"][1]["steps_kept"]
    # the archive is complete: every document of the month's invoices
    ids = {inv["InvoiceId"] for inv in _month_invoices(sb, MONTH)}
    wanted = {d.document_id for i in ids for d in sb.org.documents_for(i)}
    manifest = (pack / "archive" / "manifest.csv").read_text()
    assert all(doc in manifest for doc in wanted)


# --------------------------------------------------------------------------------------------
# Reopen, blocked, partial
# --------------------------------------------------------------------------------------------


def test_reopen_keeps_the_earlier_pack_as_numbered_versions(make_sandbox, tmp_path):
    sb = make_sandbox(**SMALL)
    dest = tmp_path / "closes"
    with clock.pinned(NOW):
        first = close_month(sb.fleet_config, MONTH, dest, lookback=1)
        assert first.exit_code == 0 and first.changed
        original = _snapshot(first.pack)
        documents_got = _calls(sb, "Document")

        second = close_month(sb.fleet_config, MONTH, dest, lookback=1, reopen=True)
        assert second.status == "closed" and second.previous == dest / f"{MONTH}.v1"
        kept = dest / f"{MONTH}.v1"
        assert _snapshot(kept) == original  # the earlier pack, untouched, under its version
        assert verify_pack(kept).ok and verify_pack(second.pack).ok
        assert second.run["previous"]["kept_as"] == str(kept)
        # the archive was seeded from the earlier pack: no document downloaded again
        assert _calls(sb, "Document") == documents_got

        third = close_month(sb.fleet_config, MONTH, dest, lookback=1, reopen=True)
        assert third.previous == dest / f"{MONTH}.v2"
        assert sorted(p.name for p in dest.iterdir() if p.name.startswith(MONTH)) == [
            MONTH,
            f"{MONTH}.v1",
            f"{MONTH}.v2",
        ]
    # nothing was booked twice, and every ledger row names a file that has its recorded hash
    rows = _ledger_rows(dest)
    assert len({r["invoice_id"] for r in rows}) == len(rows) > 0
    assert {r["file"].split("/")[0] for r in rows} == {f"{MONTH}.v1"}  # the first close's file
    for r in rows:
        assert hashlib.sha256((dest / r["file"]).read_bytes()).hexdigest() == r["file_sha256"]


def _ledger_rows(dest: Path) -> list[dict]:
    import csv

    with (dest / "ap-ledger.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_close_killed_while_moving_the_pack_into_place_finishes_without_api_calls(
    make_sandbox, tmp_path, monkeypatch
):
    from invoicekit import close as close_module

    sb = make_sandbox(**SMALL)
    dest = tmp_path / "closes"
    with clock.pinned(NOW):
        first = close_month(sb.fleet_config, MONTH, dest, lookback=1)
        original = _snapshot(first.pack)
        real = close_module._Close.move_into_place

        def die(self):
            raise KeyboardInterrupt  # stands for SIGKILL after the staged pack was complete

        monkeypatch.setattr(close_module._Close, "move_into_place", die)
        with pytest.raises(KeyboardInterrupt):
            close_month(sb.fleet_config, MONTH, dest, lookback=1, reopen=True)
        monkeypatch.setattr(close_module._Close, "move_into_place", real)
        assert _snapshot(first.pack) == original  # the closed month is still the first pack
        calls = _calls(sb)

        done = close_month(sb.fleet_config, MONTH, dest, lookback=1)  # no --reopen needed
    assert done.changed and done.previous == dest / f"{MONTH}.v1"
    assert _calls(sb) == calls
    assert _snapshot(dest / f"{MONTH}.v1") == original
    assert verify_pack(done.pack).ok and not (dest / f"{MONTH}.partial").exists()


def test_an_account_that_fails_makes_the_close_partial_and_a_rerun_completes_it(
    make_sandbox, tmp_path
):
    sb = make_sandbox(**SMALL)
    denied = sb.org.accounts[0].account_id
    sb.deny(denied)
    dest = tmp_path / "closes"
    with clock.pinned(NOW):
        result = close_month(sb.fleet_config, MONTH, dest, lookback=1)
        assert result.status == "partial" and result.exit_code == 3
        assert verify_pack(result.pack).ok
        missing = result.run["missing"]["accounts"]
        assert [m["account_id"] for m in missing] == [denied]
        assert MONTH in missing[0]["months"]

        sb.deny(denied, False)
        again = close_month(sb.fleet_config, MONTH, dest, lookback=1)
        assert again.status == "closed" and again.exit_code == 0
        assert again.previous == dest / f"{MONTH}.v1"
        assert json.loads((dest / f"{MONTH}.v1" / "run.json").read_text())["status"] == "partial"


def _error_month(sb) -> str:
    """The latest month holding a planted anomaly that an error check finds."""
    from invoicekit.reconcile import CHECKS

    errors = {name for name, c in CHECKS.items() if c.severity == "error"}
    return max(
        a["billing_period"]
        for a in sb.anomalies()
        if a["check"] in errors and a["invoice_id"]  # a finding on an invoice AP would pay
    )


def test_error_findings_block_the_ap_export_and_the_pack_says_so(make_sandbox, tmp_path):
    sb = make_sandbox(accounts=4, months=3, today=NOW, anomalies=True)
    month = _error_month(sb)
    dest = tmp_path / "closes"
    proc = _cli(
        "--config", str(sb.fleet_config), "--month", month, "--dest", str(dest),
        "--lookback", "1", "--no-progress",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    pack = dest / month
    assert _sha256sum_check(pack).returncode == 0  # the pack is written all the same
    run = json.loads((pack / "run.json").read_text())
    assert run["status"] == "blocked" and run["blocked"] and run["blocked_by"]
    assert "blocked" in proc.stdout
    assert "blocking:" in proc.stdout

    # nothing of the month went to AP, and the live ledger holds no invoice of it
    ledger = dest / "ap-ledger.csv"
    assert not ledger.exists() or month not in ledger.read_text()

    # a second run without an acceptance changes nothing and still says blocked
    files = _snapshot(pack)
    again = _cli(
        "--config", str(sb.fleet_config), "--month", month, "--dest", str(dest),
        "--lookback", "1", "--no-progress",
    )  # fmt: skip
    assert again.returncode == 1 and "--accept-findings" in again.stdout
    assert _snapshot(pack) == files

    # the controller accepts the error findings in the pack's findings.csv: the month closes,
    # the blocked pack is kept as .v1 and the ledger records who accepted what
    import csv

    with (pack / "findings.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        if row["severity"] == "error":
            row["accepted_by"] = "J. Controller"
    accepted = tmp_path / "accepted.csv"
    with accepted.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    closed = _cli(
        "--config", str(sb.fleet_config), "--month", month, "--dest", str(dest),
        "--lookback", "1", "--no-progress", "--accept-findings", str(accepted),
    )  # fmt: skip
    assert closed.returncode == 0, closed.stdout + closed.stderr
    assert json.loads((pack / "run.json").read_text())["status"] == "closed"
    assert json.loads((dest / f"{month}.v1" / "run.json").read_text())["status"] == "blocked"
    assert (pack / "accepted_findings.csv").read_bytes() == accepted.read_bytes()
    with ledger.open(encoding="utf-8", newline="") as fh:
        booked = [r for r in csv.DictReader(fh) if r["billing_period"] == month]
    assert booked and any(r["accepted_by"] == "J. Controller" for r in booked)
    assert all(r["file"].startswith(f"{month}/ap/") for r in booked)


def test_a_month_aws_has_not_invoiced_everywhere_is_blocked_until_accepted(make_sandbox, tmp_path):
    """On 2 December half of November's invoices are out: the close says which accounts have
    none and is not closed (exit 1); the invoices that are there still go to AP once."""
    from invoicekit.sandbox.org import build_organization

    early = "2026-12-02"
    sb = make_sandbox(accounts=6, months=3, today=early)
    org = build_organization(accounts=6, months=3, today=early)
    month = "2026-11"
    out = [i for i in org.invoices if i["BillingPeriod"] == {"Year": 2026, "Month": 11}]
    # one monthly invoice per invoice unit (as configured at the month's end) and the payer's
    # default invoice are expected: (payer, unit ARN or None) of each one not issued yet
    missing = set()
    for a in org.accounts:
        units = org.units_at_month_end(a.account_id, (2026, 11))
        wanted = {u["InvoiceUnitArn"] for u in units if u["Rule"].get("LinkedAccounts")} | {None}
        have = {
            org.unit_of_invoice(i["InvoiceId"])
            for i in out
            if i["AccountId"] == a.account_id and i["BillType"] == "ANNIVERSARY"
            and i["InvoiceType"] == "INVOICE" and "CommercialInvoiceId" not in i
        }  # fmt: skip
        missing |= {(a.account_id, arn) for arn in wanted - have}
    without = sorted({payer for payer, _ in missing})
    assert out and without  # some accounts invoiced, some not yet
    dest = tmp_path / "closes"
    with clock.pinned(f"{early}T12:00:00Z"):
        result = close_month(sb.fleet_config, month, dest, lookback=1)
    assert (result.status, result.exit_code) == ("blocked", 1)
    blocked_by = result.run["blocked_by"]
    assert len(blocked_by) == len(missing)
    assert sorted({f["finding_id"].split(":")[1] for f in blocked_by}) == without
    assert all(f"blocking: {f['finding_id']}" in "\n".join(result.lines) for f in blocked_by)
    payable = {i["InvoiceId"] for i in out if i["InvoiceType"] == "INVOICE" and
               "CommercialInvoiceId" not in i}  # fmt: skip
    assert {r["invoice_id"] for r in _ledger_rows(dest)} == payable

    # the controller accepts the missing invoices (ids, one per line): the month closes and
    # nothing is exported twice
    accepted = tmp_path / "accepted.txt"
    accepted.write_text("".join(f"{f['finding_id']}\n" for f in blocked_by), encoding="utf-8")
    with clock.pinned(f"{early}T13:00:00Z"):
        again = close_month(sb.fleet_config, month, dest, lookback=1, accept=accepted)
    assert (again.status, again.exit_code) == ("closed", 0), again.lines
    assert sorted(r["invoice_id"] for r in _ledger_rows(dest)) == sorted(payable)


def test_an_interrupted_ap_export_is_redone_from_the_ledger_as_it_was(
    make_sandbox, tmp_path, monkeypatch
):
    """Killed after the AP export wrote the live ledger but before the step was recorded: the
    next run puts the ledger back and exports again, so the pack's AP file is not empty."""
    import csv

    from invoicekit import close as close_module

    sb = make_sandbox(**SMALL)
    dest = tmp_path / "closes"
    real = close_module._export_ap

    def export_then_die(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt  # stands for SIGKILL: nothing after this runs

    monkeypatch.setattr(close_module, "_export_ap", export_then_die)
    with clock.pinned(NOW), pytest.raises(KeyboardInterrupt):
        close_month(sb.fleet_config, MONTH, dest, lookback=1)
    assert (dest / "ap-ledger.csv").is_file()  # the interrupted export wrote the ledger
    monkeypatch.setattr(close_module, "_export_ap", real)

    with clock.pinned(NOW):
        result = close_month(sb.fleet_config, MONTH, dest, lookback=1)
    assert result.exit_code == 0
    assert result.run["steps"]["ap"]["ledger_restored_after_interruption"] is True
    ap_file = result.pack / "ap" / f"ap_{MONTH}_generic.csv"
    with ap_file.open(encoding="utf-8", newline="") as fh:
        exported = list(csv.DictReader(fh))
    payable = {
        inv["InvoiceId"]
        for inv in _month_invoices(sb, MONTH)
        if inv.get("InvoiceType") in ("INVOICE", "CREDIT_MEMO")
        and "CommercialInvoiceId" not in inv  # a tax invoice restates its commercial one
    }
    assert len(exported) == len(payable)
    with (dest / "ap-ledger.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["invoice_id"] for r in rows) == sorted(payable)  # each exactly once
    assert {r["file"] for r in rows} == {f"{MONTH}/ap/{ap_file.name}"}
    digest = hashlib.sha256(ap_file.read_bytes()).hexdigest()
    assert {r["file_sha256"] for r in rows} == {digest}
    assert (result.pack / "ap" / "ap-ledger.csv").read_bytes() == (
        dest / "ap-ledger.csv"
    ).read_bytes()


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["close", "--config", "fleet.yml", "--month", "2026-13", "--dest", "d"], "--month"),
        (["close", "--month", MONTH, "--dest", "d"], "--config"),
        (["close", "--config", "nowhere.yml", "--month", MONTH, "--dest", "d"], "--config"),
        (["close", "--config", "FLEET", "--month", "2026-11", "--dest", "d"], "--month"),
        (
            ["close", "--config", "FLEET", "--month", MONTH, "--dest", "d", "--lookback", "x"],
            "--lookback",
        ),  # fmt: skip
    ],
)
def test_bad_input_is_exit_2_with_one_line(argv, flag, tmp_path, capsys, monkeypatch):
    fleet = tmp_path / "fleet.yml"
    fleet.write_text('accounts:\n  - id: "111111111111"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    argv = [str(fleet) if a == "FLEET" else a for a in argv]
    try:
        code = main(["--now", NOW, *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and flag in err[0]
    assert not (tmp_path / "d" / MONTH).exists()


def test_a_month_that_has_not_ended_is_refused_before_any_request(make_sandbox, tmp_path):
    sb = make_sandbox(**SMALL)
    with clock.pinned(NOW), pytest.raises(Exception, match="--month 2026-11 has not ended"):
        close_month(sb.fleet_config, "2026-11", tmp_path / "closes")
    assert _calls(sb) == 0
