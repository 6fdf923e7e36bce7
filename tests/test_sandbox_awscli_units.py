"""The unmodified AWS CLI over the sandbox's invoice-unit, profile, tag and procurement operations:
auto-pagination, ``--as-of`` across the model's mid-range move, validation errors and access
control, answered like the service (exit 255 with the error code on stderr)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from invoicekit.sandbox import start

AWS = str(Path(sys.executable).with_name("aws"))
TODAY = "2026-11-25"


@pytest.fixture(scope="module")
def sb():
    with start(accounts=3, months=24, today=TODAY) as handle:
        yield handle


def run(tmp_path: Path, account, *args: str, **extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        HOME=str(tmp_path),
        TZ="UTC",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_PAGER="",
    )
    if account is not None:
        env.update(
            AWS_ACCESS_KEY_ID=account.access_key_id,
            AWS_SECRET_ACCESS_KEY=account.secret_access_key,
        )
    env.update(extra)
    return subprocess.run(
        [AWS, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def invoicing(sb, tmp_path, account, *args: str) -> subprocess.CompletedProcess:
    return run(tmp_path, account, "invoicing", *args, "--endpoint-url", sb.endpoint_url)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def the_move(sb, payer: str):
    """A unit whose membership changes inside the covered range: (arn, moment, before, after)."""
    start_ts = datetime(*sb.org.periods[0], 1, tzinfo=UTC).timestamp()
    for arn, history in sb.org.unit_histories(payer).items():
        for (_, old), (t, new) in zip(history, history[1:], strict=False):
            if old and new and old["Rule"] != new["Rule"] and t > start_ts:
                return arn, t, old, new
    raise AssertionError("the model has no mid-range move")


def test_cli_lists_every_unit_across_pages_and_stops_at_max_items(sb, tmp_path):
    acct = sb.org.accounts[0]
    out = invoicing(sb, tmp_path, acct, "list-invoice-units", "--page-size", "1")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)["InvoiceUnits"]
    expected = sb.org.invoice_units(acct.account_id)
    assert [u["InvoiceUnitArn"] for u in got] == [u["InvoiceUnitArn"] for u in expected]
    assert [u["Rule"] for u in got] == [u["Rule"] for u in expected]
    out = invoicing(sb, tmp_path, acct, "list-invoice-units", "--max-items", "1")
    doc = json.loads(out.stdout)
    assert len(doc["InvoiceUnits"]) == 1 and doc["NextToken"]


def test_cli_as_of_gives_the_old_membership_before_the_move_and_the_new_after(sb, tmp_path):
    acct = sb.org.accounts[0]
    arn, moment, old, new = the_move(sb, acct.account_id)
    for when, cfg in ((moment - 3600, old), (moment + 3600, new)):
        out = invoicing(
            sb, tmp_path, acct, "get-invoice-unit", "--invoice-unit-arn", arn, "--as-of", iso(when)
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["Rule"]["LinkedAccounts"] == cfg["Rule"]["LinkedAccounts"]
    moved = sorted(set(old["Rule"]["LinkedAccounts"]) ^ set(new["Rule"]["LinkedAccounts"]))
    listed = []
    for when in (moment - 3600, moment + 3600):
        out = invoicing(
            sb, tmp_path, acct, "list-invoice-units", "--as-of", iso(when),
            "--filters", json.dumps({"Accounts": moved}),
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        listed.append([u["Name"] for u in json.loads(out.stdout)["InvoiceUnits"]])
    assert listed[0] != listed[1]


def test_cli_create_update_tag_delete(tmp_path):
    with start(accounts=3, months=3, today=TODAY) as sb:
        acct = sb.org.accounts[0]
        taken = {
            a for u in sb.org.invoice_units(acct.account_id) for a in u["Rule"]["LinkedAccounts"]
        }
        free = next(
            m.account_id for m in sb.org.members[acct.account_id][1:] if m.account_id not in taken
        )
        out = invoicing(
            sb, tmp_path, acct, "create-invoice-unit", "--name", "CLI unit",
            "--invoice-receiver", free, "--rule", f"LinkedAccounts={free}",
            "--resource-tags", "Key=team,Value=finops",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        arn = json.loads(out.stdout)["InvoiceUnitArn"]
        out = invoicing(
            sb, tmp_path, acct, "update-invoice-unit", "--invoice-unit-arn", arn,
            "--description", "updated by the CLI", "--tax-inheritance-disabled",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        unit = json.loads(
            invoicing(sb, tmp_path, acct, "get-invoice-unit", "--invoice-unit-arn", arn).stdout
        )
        assert unit["Description"] == "updated by the CLI" and unit["TaxInheritanceDisabled"]
        assert unit["Rule"]["LinkedAccounts"] == [free]
        out = invoicing(sb, tmp_path, acct, "list-tags-for-resource", "--resource-arn", arn)
        assert json.loads(out.stdout)["ResourceTags"] == [{"Key": "team", "Value": "finops"}]
        # The AWS CLI may send AsOf in whole seconds (botocore's legacy timestamp precision):
        # the delete comes more than a second after the update, so the next whole second after
        # the update's LastModified still sees the updated unit
        time.sleep(1.1)
        out = invoicing(sb, tmp_path, acct, "delete-invoice-unit", "--invoice-unit-arn", arn)
        assert out.returncode == 0, out.stderr
        out = invoicing(sb, tmp_path, acct, "get-invoice-unit", "--invoice-unit-arn", arn)
        assert out.returncode == 255 and "ResourceNotFoundException" in out.stderr
        out = invoicing(
            sb, tmp_path, acct, "get-invoice-unit", "--invoice-unit-arn", arn,
            "--as-of", str(math.ceil(unit["LastModified"])),  # epoch seconds
        )  # fmt: skip
        assert out.returncode == 0 and json.loads(out.stdout)["Name"] == "CLI unit"
        assert sb.stats()["requests"]["CreateInvoiceUnit"] == {acct.account_id: 1}


def test_cli_validation_errors_name_the_field(sb, tmp_path):
    acct = sb.org.accounts[0]
    out = invoicing(sb, tmp_path, acct, "list-invoice-units", "--max-results", "501")
    assert out.returncode == 255
    assert "ValidationException" in out.stderr and "MaxResults" in out.stderr
    out = invoicing(
        sb, tmp_path, acct, "create-invoice-unit", "--name", "x" * 51,
        "--invoice-receiver", acct.account_id, "--rule", "LinkedAccounts=[]",
    )  # fmt: skip
    assert out.returncode == 255
    assert "ValidationException" in out.stderr and "Name" in out.stderr


def test_cli_access_is_the_payers_own(sb, tmp_path):
    own, other = sb.org.accounts[0], sb.org.accounts[1]
    arn = sb.org.invoice_units(own.account_id)[0]["InvoiceUnitArn"]
    out = invoicing(sb, tmp_path, other, "get-invoice-unit", "--invoice-unit-arn", arn)
    assert out.returncode == 255 and "AccessDeniedException" in out.stderr
    out = invoicing(
        sb, tmp_path, other, "batch-get-invoice-profile", "--account-ids", own.account_id
    )
    assert out.returncode == 255 and "AccessDeniedException" in out.stderr


def test_cli_profiles_for_every_receiver(sb, tmp_path):
    acct = sb.org.accounts[0]
    receivers = sorted(
        {acct.account_id} | {u["InvoiceReceiver"] for u in sb.org.invoice_units(acct.account_id)}
    )
    out = invoicing(sb, tmp_path, acct, "batch-get-invoice-profile", "--account-ids", *receivers)
    assert out.returncode == 0, out.stderr
    profiles = json.loads(out.stdout)["Profiles"]
    assert profiles == [sb.org.invoice_profiles[a] for a in receivers]


def test_cli_with_the_written_config_reads_units_through_the_assumed_role(sb, tmp_path):
    doc = yaml.safe_load(sb.fleet_config.read_text())
    role_entry = next(a for a in doc["accounts"] if "role_arn" in a)
    out = run(
        tmp_path, None,
        "--profile", f"invoicekit-sandbox-{role_entry['id']}", "invoicing", "list-invoice-units",
        AWS_CONFIG_FILE=str(sb.fleet_config.parent / doc["aws_config_file"]),
        AWS_SHARED_CREDENTIALS_FILE=str(sb.fleet_config.parent / doc["aws_shared_credentials_file"]),
        AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = [u["InvoiceUnitArn"] for u in json.loads(out.stdout)["InvoiceUnits"]]
    assert got == [u["InvoiceUnitArn"] for u in sb.org.invoice_units(role_entry["id"])]


def test_cli_procurement_portal_preference(tmp_path):
    with start(accounts=2, months=1, today=TODAY) as sb:
        acct = sb.org.accounts[0]
        request = {
            "ProcurementPortalName": "COUPA",
            "BuyerDomain": "NetworkID",
            "BuyerIdentifier": "buyer-1",
            "SupplierDomain": "NetworkID",
            "SupplierIdentifier": "supplier-1",
            "EinvoiceDeliveryEnabled": False,
            "PurchaseOrderRetrievalEnabled": True,
            "Contacts": [{"Name": "AP team", "Email": "ap@example.com"}],
        }
        out = invoicing(
            sb, tmp_path, acct, "create-procurement-portal-preference",
            "--cli-input-json", json.dumps(request),
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        arn = json.loads(out.stdout)["ProcurementPortalPreferenceArn"]
        out = invoicing(sb, tmp_path, acct, "list-procurement-portal-preferences")
        listed = json.loads(out.stdout)["ProcurementPortalPreferences"]
        assert [p["ProcurementPortalPreferenceArn"] for p in listed] == [arn]
        assert listed[0]["PurchaseOrderRetrievalPreferenceStatus"] == "PENDING_VERIFICATION"
        missing = {k: v for k, v in request.items() if k != "Contacts"}
        out = invoicing(
            sb, tmp_path, acct, "put-procurement-portal-preference",
            "--cli-input-json", json.dumps({"ProcurementPortalPreferenceArn": arn, **{
                k: missing[k] for k in ("EinvoiceDeliveryEnabled", "PurchaseOrderRetrievalEnabled")
            }}),
        )  # fmt: skip
        assert out.returncode != 0 and "Contacts" in out.stderr
        created = datetime.fromtimestamp(listed[0]["CreateDate"], UTC)
        assert created - datetime(2026, 11, 25, 12, tzinfo=UTC) < timedelta(hours=1)
