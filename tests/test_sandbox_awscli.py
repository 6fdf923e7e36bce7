"""The unmodified AWS CLI runs the AWS blog's commands against the sandbox; the CLI sandbox
process starts, writes a working fleet config and stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError
from pypdf import PdfReader

from invoicekit.sandbox import Faults, start

AWS = str(Path(sys.executable).with_name("aws"))
TODAY = "2026-11-25"


@pytest.fixture(scope="module")
def sb():
    with start(accounts=4, months=3, today=TODAY) as handle:
        yield handle


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(tmp_path),  # the CLI's credential cache stays in the test's directory
        TZ="UTC",  # the CLI reads zone-less timestamps as local time
        AWS_DEFAULT_REGION="us-east-1",
        AWS_PAGER="",
    )
    env.update(extra)
    return env


def aws(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AWS, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def account_env(tmp_path: Path, account, **extra: str) -> dict[str, str]:
    return cli_env(
        tmp_path,
        AWS_ACCESS_KEY_ID=account.access_key_id,
        AWS_SECRET_ACCESS_KEY=account.secret_access_key,
        **extra,
    )


def issued_between(sb, account, start_dt: datetime, end_dt: datetime) -> list[str]:
    return [
        inv["InvoiceId"]
        for inv in sb.org.invoices_for(account.account_id)
        if start_dt.timestamp() <= inv["IssuedDate"] < end_dt.timestamp()
    ]


def test_blog_calls_with_endpoint_url_list_get_pdf_and_download(sb, tmp_path):
    account = sb.org.accounts[0]
    env = account_env(tmp_path, account)
    # the blog's first command, with --endpoint-url
    out = aws(
        env,
        "invoicing", "list-invoice-summaries", "--endpoint-url", sb.endpoint_url,
        "--selector", f"ResourceType=ACCOUNT_ID,Value={account.account_id}",
        "--filter", "TimeInterval={StartDate=2026-11-01T00:00:00, EndDate=2026-11-30T23:59:59}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summaries = json.loads(out.stdout)["InvoiceSummaries"]
    expected = issued_between(
        sb,
        account,
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
    )
    assert [s["InvoiceId"] for s in summaries] == expected and expected
    first = summaries[0]
    model = sb.org.invoices_by_id(first["InvoiceId"])[0]
    assert first["BaseCurrencyAmount"]["TotalAmount"] == model["BaseCurrencyAmount"]["TotalAmount"]
    assert first["AccountId"] == account.account_id
    # the blog's second command
    out = aws(
        env, "invoicing", "get-invoice-pdf", "--endpoint-url", sb.endpoint_url,
        "--invoice-id", first["InvoiceId"], "--output", "json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    pdf = json.loads(out.stdout)["InvoicePDF"]
    assert pdf["InvoiceId"] == first["InvoiceId"]
    assert isinstance(pdf["SupplementalDocuments"], list)
    with urllib.request.urlopen(pdf["DocumentUrl"], timeout=10) as resp:
        body = resp.read()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    assert first["InvoiceId"] in text


def test_cli_with_the_written_config_assumes_the_role_without_endpoint_flag(sb, tmp_path):
    doc = yaml.safe_load(sb.fleet_config.read_text())
    role_entry = next(a for a in doc["accounts"] if "role_arn" in a)
    env = cli_env(
        tmp_path,
        AWS_CONFIG_FILE=str(sb.fleet_config.parent / doc["aws_config_file"]),
        AWS_SHARED_CREDENTIALS_FILE=str(
            sb.fleet_config.parent / doc["aws_shared_credentials_file"]
        ),
    )
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(key, None)
    out = aws(
        env, "--profile", f"invoicekit-sandbox-{role_entry['id']}",
        "invoicing", "list-invoice-summaries",
        "--selector", f"ResourceType=ACCOUNT_ID,Value={role_entry['id']}",
        "--filter", "BillingPeriod={Month=10,Year=2026}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = [s["InvoiceId"] for s in json.loads(out.stdout)["InvoiceSummaries"]]
    expected = [
        i["InvoiceId"]
        for i in sb.org.invoices_for(role_entry["id"])
        if i["BillingPeriod"] == {"Month": 10, "Year": 2026}
    ]
    assert got == expected and got
    assert sb.stats()["requests"]["AssumeRole"].get(role_entry["id"], 0) >= 1


def test_cli_with_aws_endpoint_url_invoicing_and_modeled_errors(sb, tmp_path):
    account = sb.org.accounts[1]
    env = account_env(tmp_path, account, AWS_ENDPOINT_URL_INVOICING=sb.endpoint_url)
    out = aws(
        env, "invoicing", "list-invoice-summaries",
        "--selector", f"ResourceType=ACCOUNT_ID,Value={account.account_id}",
        "--filter", "BillingPeriod={Month=10,Year=2026}", "--query", "InvoiceSummaries[].InvoiceId",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)
    out = aws(
        env, "invoicing", "list-invoice-summaries",
        "--selector", f"ResourceType=ACCOUNT_ID,Value={account.account_id}",
        "--filter", "BillingPeriod={Month=13,Year=2026}",
    )  # fmt: skip
    assert out.returncode != 0
    assert "ValidationException" in out.stderr and "Filter.BillingPeriod.Month" in out.stderr
    other = sb.org.accounts[0].account_id
    out = aws(
        env, "invoicing", "list-invoice-summaries",
        "--selector", f"ResourceType=ACCOUNT_ID,Value={other}",
        "--filter", "BillingPeriod={Month=10,Year=2026}",
    )  # fmt: skip
    assert out.returncode != 0 and "AccessDeniedException" in out.stderr


# -- the `invoicekit sandbox` command ------------------------------------------------------------


def launch(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoicekit", "sandbox", "--port", "0", "--today", TODAY, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    first = proc.stdout.readline().strip()
    assert first.startswith("http://127.0.0.1:"), (first, proc.stderr.read() if proc.poll() else "")
    return proc, first


def stop(proc: subprocess.Popen, sig: int) -> tuple[int, str, str]:
    proc.send_signal(sig)
    proc.wait(timeout=20)  # the outputs are small: the pipes cannot fill up
    # read through the text buffers (communicate() would skip what readline() buffered)
    return proc.returncode, proc.stdout.read(), proc.stderr.read()


def test_cli_sandbox_write_config_works_with_boto3_and_sigterm_stops_it(tmp_path, monkeypatch):
    config = tmp_path / "sandbox" / "fleet.yaml"
    proc, endpoint = launch(
        tmp_path, "--accounts", "3", "--months", "2", "--write-config", str(config)
    )
    try:
        doc = yaml.safe_load(config.read_text())
        assert len(doc["accounts"]) == 3
        aws_config = config.parent / doc["aws_config_file"]
        assert f"endpoint_url = {endpoint}" in aws_config.read_text()
        monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
        monkeypatch.setenv(
            "AWS_SHARED_CREDENTIALS_FILE", str(config.parent / doc["aws_shared_credentials_file"])
        )
        for entry in doc["accounts"]:
            profile = entry.get("profile") or f"invoicekit-sandbox-{entry['id']}"
            client = boto3.Session(profile_name=profile).client("invoicing")
            resp = client.list_invoice_summaries(
                Selector={"ResourceType": "ACCOUNT_ID", "Value": entry["id"]},
                Filter={"BillingPeriod": {"Month": 10, "Year": 2026}},
            )
            assert resp["InvoiceSummaries"], entry
    finally:
        code, out, err = stop(proc, signal.SIGTERM)
    assert code == 0, err
    assert "100000000001" in out  # the account table followed the endpoint line
    assert "Traceback" not in err


def test_cli_sandbox_sigint_exits_zero_and_fault_flags_apply(tmp_path):
    proc, endpoint = launch(
        tmp_path, "--accounts", "1", "--months", "1", "--quiet",
        "--fault-throttle", "1", "--fault-operations", "ListInvoiceSummaries",
    )  # fmt: skip
    try:
        org = json.loads(urllib.request.urlopen(endpoint + "/_sandbox/org", timeout=10).read())
        acct = org["accounts"][0]
        client = boto3.client(
            "invoicing",
            endpoint_url=endpoint,
            aws_access_key_id=acct["access_key_id"],
            aws_secret_access_key=acct["secret_access_key"],
            config=Config(retries={"total_max_attempts": 1}),
        )
        with pytest.raises(client.exceptions.ThrottlingException):
            client.list_invoice_summaries(
                Selector={"ResourceType": "ACCOUNT_ID", "Value": acct["account_id"]},
                Filter={"BillingPeriod": {"Month": 10, "Year": 2026}},
            )
    finally:
        code, out, err = stop(proc, signal.SIGINT)
    assert code == 0, err
    assert out == ""  # --quiet: the endpoint line only (already read)


def test_cli_sandbox_bad_arguments_exit_2_with_one_line(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        for args in (
            ["--fault-throttle", "2"],
            ["--fault-operations", "AssumeRole"],
            ["--port", str(busy.getsockname()[1])],
        ):
            out = subprocess.run(
                [sys.executable, "-m", "invoicekit", "sandbox", "--accounts", "1", "--months", "1", *args],
                capture_output=True, text=True, timeout=60, cwd=tmp_path,
            )  # fmt: skip
            assert out.returncode == 2, (args, out.stderr)
            assert out.stderr.count("\n") == 1 and "invoicekit: error:" in out.stderr
            assert out.stdout == ""
    finally:
        busy.close()


def test_out_of_process_sandbox_handle(tmp_path):
    with start(
        accounts=2, months=1, today=TODAY, in_process=False, faults=Faults(url_lifetime_s=5)
    ) as sb:
        assert sb.org is None
        assert sb.admin("health")["accounts"] == 2
        config = yaml.safe_load(sb.fleet_config.read_text())
        org = sb.admin("org")
        acct = org["accounts"][0]
        client = boto3.client(
            "invoicing",
            endpoint_url=sb.endpoint_url,
            aws_access_key_id=acct["access_key_id"],
            aws_secret_access_key=acct["secret_access_key"],
            config=Config(retries={"total_max_attempts": 1}),
        )
        sel = {"ResourceType": "ACCOUNT_ID", "Value": acct["account_id"]}
        inv = client.list_invoice_summaries(
            Selector=sel, Filter={"BillingPeriod": {"Month": 10, "Year": 2026}}
        )
        pdf = client.get_invoice_pdf(InvoiceId=inv["InvoiceSummaries"][0]["InvoiceId"])
        assert "X-Amz-Expires=5&" in pdf["InvoicePDF"]["DocumentUrl"]
        assert sb.stats()["requests"]["ListInvoiceSummaries"] == {acct["account_id"]: 1}
        sb.deny(acct["account_id"])
        with pytest.raises(ClientError, match="AccessDenied"):
            client.list_invoice_summaries(
                Selector=sel, Filter={"BillingPeriod": {"Month": 10, "Year": 2026}}
            )
        sb.reset_stats()
        assert sb.stats()["requests"]["ListInvoiceSummaries"] == {}
        assert sb.anomalies() == []
        assert [a["id"] for a in config["accounts"]] == [a["account_id"] for a in org["accounts"]]
        process = sb._process
    assert process.poll() is not None  # stopped with the context
    assert not sb.fleet_config.exists()
