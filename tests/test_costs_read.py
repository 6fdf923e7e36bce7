"""Finding the current files of Data Exports: manifests, CREATE_NEW, local copies, s3:// (issue 13)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from invoicekit import schema
from invoicekit.costs import align, read_cost_export
from invoicekit.errors import InvalidArgumentError
from invoicekit.sandbox.exports import CREATE_NEW_INDEX, EXECUTIONS, write_exports
from invoicekit.sandbox.org import build_organization

TODAY = "2026-11-25"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    org = build_organization(accounts=3, months=2, today=TODAY)
    root = tmp_path_factory.mktemp("exports")
    info = write_exports(org, root)
    return org, root, info, schema.to_frame(org.invoices)


def test_detects_formats_and_payers_from_the_manifests(case):
    org, root, info, _ = case
    both = read_cost_export(root)
    assert both.payers == sorted(a.account_id for a in org.accounts)
    assert {e.format for e in both.exports} == {"cur2"}  # CUR 2.0 preferred, FOCUS named
    assert any("FOCUS 1.2" in n for n in both.notes)
    focus = read_cost_export(root, format="focus")
    assert {e.format for e in focus.exports} == {"focus"}
    assert all(set(e.periods) == {"2026-09", "2026-10", "2026-11"} for e in focus.exports)


def test_only_the_latest_execution_by_time_counts(case):
    org, root, info, _ = case
    payer = org.accounts[CREATE_NEW_INDEX - 1].account_id
    export = next(e for e in read_cost_export(root).exports if e.payer_account_id == payer)
    assert export.superseded == (EXECUTIONS - 1) * len(export.periods)
    for period, files in export.periods.items():
        manifests = sorted(
            (Path(export.root) / "metadata" / f"BILLING_PERIOD={period}").glob("*/*.json")
        )
        latest = max(manifests, key=lambda p: p.stat().st_mtime)
        assert all(f"/{latest.parent.name}/" in f for f in files)
        assert latest.parent.name != max(m.parent.name for m in manifests)  # not by id


def test_local_copy_resolves_the_manifests_s3_uris(case, tmp_path):
    org, root, info, summaries = case
    payer = org.accounts[0].account_id
    copy = tmp_path / "synced" / "cur2"
    shutil.copytree(
        root / payer / f"cur2-{payer}", copy / f"cur2-{payer}", copy_function=shutil.copy2
    )
    costs = read_cost_export(copy / f"cur2-{payer}")
    assert costs.payers == [payer]
    assert all(str(copy) in f for fs in costs.exports[0].periods.values() for f in fs)
    table = align(summaries[summaries["account_id"] == payer], costs)
    assert set(table["category"]) <= {"matched", "tax_lines", "not_yet_invoiced", "credits_refunds"}


def test_two_exports_of_one_format_for_a_payer_are_refused(case, tmp_path):
    org, root, info, _ = case
    payer = org.accounts[0].account_id
    shutil.copytree(root / payer, tmp_path / "a")
    shutil.copytree(root / payer / f"cur2-{payer}", tmp_path / "b" / f"cur2-{payer}")
    with pytest.raises(InvalidArgumentError, match="twice"):
        read_cost_export([tmp_path / "a", tmp_path / "b"])


def test_s3_uri_against_the_local_s3_server(case, s3_server, s3_bucket):
    org, root, info, summaries = case
    bucket, client = s3_bucket()
    payer = org.accounts[CREATE_NEW_INDEX - 1].account_id
    export_dir = root / payer / f"cur2-{payer}"
    files = [p for p in export_dir.rglob("*") if p.is_file() and "BILLING_PERIOD=2026-10" in str(p)]
    # upload each period's executions oldest first: S3 LastModified decides the latest one
    files.sort(key=lambda p: (p.stat().st_mtime, p.suffix == ".json", str(p)))
    last = None
    for p in files:
        if last is not None and p.stat().st_mtime != last:
            time.sleep(1.05)  # LastModified has a resolution of a second
        last = p.stat().st_mtime
        client.upload_file(str(p), bucket, f"exports/{p.relative_to(root).as_posix()}")
    remote = read_cost_export(f"s3://{bucket}/exports", endpoint_url=s3_server, format="cur2")
    local = read_cost_export(export_dir, format="cur2", months=["2026-10"])
    assert remote.payers == [payer] and remote.filesystem is not None
    assert remote.exports[0].superseded == EXECUTIONS - 1
    mine = summaries[summaries["account_id"] == payer]
    a, b = align(mine, remote, month="2026-10"), align(mine, local, month="2026-10")
    assert set(a["category"]) == {"matched"}
    assert list(a["category"]) == list(b["category"])
    assert list(a["lines_total"]) == list(b["lines_total"])


def test_the_sandbox_exports_a_notebook_reads_go_when_the_sandbox_stops(monkeypatch):
    """present.cost_exports with no folder writes into the sandbox's own folder, not /tmp."""
    from types import SimpleNamespace

    from invoicekit import notebook
    from invoicekit.costs import present
    from invoicekit.sandbox import start

    monkeypatch.setattr(notebook, "say", lambda *a, **k: None)
    with start(accounts=2, months=2, today="2026-11-25") as sb:
        exports = present.cost_exports(SimpleNamespace(sandbox=sb))
        roots = {Path(e.root) for e in exports.exports}
        assert roots and all(sb.workdir in r.parents for r in roots)
        assert all(r.exists() for r in roots)
    assert not sb.workdir.exists() and not any(r.exists() for r in roots)
