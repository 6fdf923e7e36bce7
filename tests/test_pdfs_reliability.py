"""Reliability of the PDF archive against a faulty sandbox, and kill-and-resume with SIGKILL.

* With 20% throttling, 5% 500s, 2% dropped connections, 5% truncated bodies and 3-second URLs,
  the archive ends identical (same sha256 per document) to a fault-free run, ``verify`` finds
  nothing wrong, and no presigned secret or credential reaches logs, output or the manifest.
* A real ``python -m invoicekit download`` killed with SIGKILL mid-run leaves no partial file
  under a final name; the next run completes and ``invoicekit verify`` is clean.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from invoicekit import _files
from invoicekit._http import is_pdf
from invoicekit.archive import download_invoice_pdfs, read_manifest, verify_archive

TODAY = "2026-11-25"
FAULTS = {
    "throttle_rate": 0.20,
    "error_rate": 0.05,
    "drop_rate": 0.02,
    "truncate_rate": 0.05,
    # signed at a whole second, a URL lives 2 to 3 s: short enough to expire during a run's
    # retries, long enough that a fresh one is fetched in time whatever its signing second
    "url_lifetime_s": 3,
}
SIGNATURE = re.compile(r"X-Amz-Signature=(?!REDACTED)", re.IGNORECASE)
TOKEN_PARAM = re.compile(r"X-Amz-Security-Token=(?!REDACTED)", re.IGNORECASE)


def _archive(dest: Path) -> dict[tuple[str, str, str], str]:
    rows = read_manifest(dest / "manifest.csv").rows
    return {(r["account_id"], r["invoice_id"], r["document_id"]): r["sha256"] for r in rows}


def _secrets_of(sb) -> list[str]:
    """Every secret that could leak: account keys and secrets, document tokens and signatures."""
    from urllib.parse import parse_qs, urlsplit

    from invoicekit.fleet import load_fleet

    out = []
    for acct in sb.org.accounts:
        out += [acct.access_key_id, acct.secret_access_key]
    out.append(sb.org.org_secret_access_key)
    fleet = load_fleet(sb.fleet_config)
    acct = fleet.accounts[0]
    client = fleet.client(acct, "invoicing")
    inv = sb.org.invoices_for(acct.id)[-1]["InvoiceId"]
    for _ in range(10):  # the faulty sandbox may throttle this call too
        try:
            url = client.get_invoice_pdf(InvoiceId=inv)["InvoicePDF"]["DocumentUrl"]
            break
        except Exception:  # noqa: BLE001 - retried
            time.sleep(0.2)
    q = parse_qs(urlsplit(url).query)
    out += [q["X-Amz-Security-Token"][0], q["X-Amz-Signature"][0]]
    return [s for s in out if s]


def test_faulty_sandbox_gives_the_same_archive_as_a_clean_one(
    make_sandbox, tmp_path, caplog, capsys
):
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries

    clean = make_sandbox(accounts=4, months=4)
    faulty = make_sandbox(accounts=4, months=4, faults=FAULTS)
    clean_fleet = load_fleet(clean.fleet_config)
    df = read_invoice_summaries(clean_fleet, "2026-07", "2026-10", progress=False)

    ref = download_invoice_pdfs(df, tmp_path / "clean", fleet=clean_fleet, progress=False)
    assert set(ref["status"]) == {"downloaded"}

    # urllib3 logs request lines, botocore response bodies (with DocumentUrl) at DEBUG
    # and the assumed-role credentials (STS response, signed session-token header) there too
    for name in ("urllib3", "botocore.parsers", "botocore.endpoint", "botocore.auth", "invoicekit"):
        caplog.set_level(logging.DEBUG, logger=name)
    faulty_fleet = load_fleet(faulty.fleet_config)  # fresh sessions: roles assumed in the run
    got = download_invoice_pdfs(
        df, tmp_path / "faulty", fleet=faulty_fleet, progress=True, max_workers=8
    )
    assert set(got["status"]) == {"downloaded"}, got.loc[
        got["status"] != "downloaded", "error"
    ].tolist()
    assert _archive(tmp_path / "faulty") == _archive(tmp_path / "clean")
    assert len(_archive(tmp_path / "clean")) >= 20
    report = verify_archive(tmp_path / "faulty", summaries=df)
    assert report.ok, report.problems.to_dict("records")

    stats = faulty.stats()
    # the faults really happened
    assert stats["throttled"] > 0
    assert stats["errors"] + stats.get("dropped", 0) + stats.get("truncated", 0) > 0
    gets = sum(stats["requests"]["GetInvoicePDF"].values())
    assert gets > len(df)  # retries and/or fresh URLs

    # No secret anywhere: logs (DEBUG, including urllib3/botocore), output, manifest, result.
    out, err = capsys.readouterr()
    texts = [r.getMessage() for r in caplog.records] + [out, err]
    texts += [p.read_text(errors="replace") for p in (tmp_path / "faulty").rglob("*.csv")]
    texts.append(got.to_csv())
    assert any("/documents/" in t for t in texts[: len(caplog.records)])  # URLs were logged...
    blob = "\n".join(texts)
    assert not SIGNATURE.search(blob) and not TOKEN_PARAM.search(blob)  # ...without their query
    secrets = _secrets_of(faulty)
    for acct in faulty_fleet.accounts:
        creds = faulty_fleet.session_for(acct).get_credentials().get_frozen_credentials()
        secrets += [creds.access_key, creds.secret_key] + ([creds.token] if creds.token else [])
    assert any(len(s) > 100 for s in secrets)  # session tokens of assumed roles are included
    for secret in secrets:
        assert secret not in blob


def _pdf_files(dest: Path) -> list[Path]:
    return [p for p in dest.rglob("*") if p.is_file() and p.suffix == ".pdf"]


@pytest.mark.slow
def test_sigkill_mid_run_leaves_no_partial_file_and_the_next_run_completes(tmp_path):
    from invoicekit.sandbox import start
    from invoicekit.sandbox.org import build_organization

    dest = tmp_path / "archive"
    with start(in_process=False, accounts=3, months=6, today=TODAY, latency_ms=200) as sb:
        cmd = [sys.executable, "-m", "invoicekit", "download", "--config", str(sb.fleet_config),
               "--from", "2026-05", "--to", "2026-10", "--dest", str(dest), "--max-workers", "2",
               "--no-progress"]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                if len(read_manifest(dest / "manifest.csv").rows) >= 3:
                    break
                time.sleep(0.05)
            time.sleep(0.3)  # let it get into the middle of more documents
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the download finished before it was killed"

        # Every file under a final name is complete; partial ones only exist as temp files.
        killed = _pdf_files(dest)
        assert killed
        for p in killed:
            data = p.read_bytes()
            assert is_pdf(data[:8], data[-1024:]), p
        recorded = len(read_manifest(dest / "manifest.csv").rows)

        again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert re.search(r"already archived: (\d+)", again.stdout)
        assert int(re.search(r"already archived: (\d+)", again.stdout).group(1)) >= recorded
        assert not [p for p in dest.rglob("*") if _files.is_temp_name(p.name)]

        check = subprocess.run(
            [sys.executable, "-m", "invoicekit", "verify", str(dest), "--config",
             str(sb.fleet_config), "--from", "2026-05", "--to", "2026-10", "--no-progress"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
        assert "no problems" in check.stdout

    # The archive holds exactly the organization's documents, byte for byte.
    org = build_organization(seed=7, accounts=3, months=6, today=TODAY)
    rows = read_manifest(dest / "manifest.csv").rows
    periods = {f"2026-{m:02d}" for m in range(5, 11)}
    expected = {
        d.document_id
        for inv in org.invoices
        if f"{inv['BillingPeriod']['Year']:04d}-{inv['BillingPeriod']['Month']:02d}" in periods
        for d in org.documents_for(inv["InvoiceId"])
    }
    assert {r["document_id"] for r in rows} == expected
    for r in rows:
        assert (dest / r["path"]).read_bytes() == org.render_pdf(r["document_id"])
