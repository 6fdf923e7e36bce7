"""``invoicekit reconcile``: output files and exit codes 0/1/2 (export-ap: test_cli_export_ap.py)."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from invoicekit import documents, schema
from invoicekit.cli import main
from invoicekit.reconcile import FINDING_COLUMNS
from invoicekit.sandbox.org import build_organization


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Summaries of a clean and of an anomalous organization, as parquet and CSV."""
    d = tmp_path_factory.mktemp("summaries")
    clean = schema.to_frame(build_organization(seed=7, today="2026-11-25").invoices)
    org = build_organization(seed=7, today="2026-11-25", anomalies=True)
    planted = schema.to_frame(org.invoices)
    schema.to_parquet(clean, d / "clean.parquet")
    schema.to_parquet(planted, d / "planted.parquet")
    schema.to_csv(planted, d / "planted.csv")
    return {
        "dir": d,
        "anomalies": org.anomalies,
        "clean_counts": documents.count(clean),
        "clean_accounts": clean["account_id"].nunique(),
        "clean_span": (str(clean["billing_period"].min()), str(clean["billing_period"].max())),
    }


def test_clean_summaries_exit_0(files, capsys):
    assert main(["reconcile", "--summaries", str(files["dir"] / "clean.parquet")]) == 0
    out = capsys.readouterr().out
    assert "no error findings" in out
    # the counts are the documents' words, one number per kind
    counts = {k: n for k, n in files["clean_counts"].items() if n}
    assert f"reconciled {documents.describe(counts)}: " in out
    first, last = files["clean_span"]
    assert out.splitlines()[0] == (
        f"checked {first}..{last} (24 billing months, {files['clean_accounts']} accounts)"
    )
    assert "not in the summaries file" not in out


def test_error_findings_exit_1_print_the_summary_and_write_the_csv(files, capsys, tmp_path):
    output = tmp_path / "findings.csv"
    code = main(
        ["reconcile", "--summaries", str(files["dir"] / "planted.parquet"), "--output", str(output)]
    )
    assert code == 1
    out = capsys.readouterr().out
    for line in ("arithmetic_total", "exchange", "completeness", "duplicate_invoice"):
        assert line in out
    # every planted invoice-level anomaly is listed among the error findings printed
    for a in files["anomalies"]:
        if a["invoice_id"] and a["check"] != "credit_memo_original":
            assert a["invoice_id"] in out
    raw = output.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    with open(output, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [dict(zip(header, r, strict=True)) for r in reader]
    # every finding's stable id, and the column a controller fills in to accept it
    assert header == [*FINDING_COLUMNS, "accepted_by"]
    assert all(r["finding_id"] for r in rows) and not any(r["accepted_by"] for r in rows)
    assert len({r["finding_id"] for r in rows}) == len(rows)
    mismatch = [r for r in rows if r["check"] == "arithmetic_total"]
    assert mismatch
    for r in mismatch:
        # plain decimal strings that add up exactly: difference = actual - expected
        assert "E" not in r["difference"].upper()
        assert Decimal(r["actual"]) - Decimal(r["expected"]) == Decimal(r["difference"])


def test_csv_summaries_and_a_month_range(files, tmp_path):
    output = tmp_path / "range.csv"
    missing = [a for a in files["anomalies"] if a["kind"] == "missing_invoice"][0]
    month = missing["billing_period"]
    code = main(
        ["reconcile", "--summaries", str(files["dir"] / "planted.csv"),
         "--from", month, "--to", month, "--output", str(output)]
    )  # fmt: skip
    assert code == 1
    with open(output, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["billing_period"] for r in rows if r["check"] == "completeness"} == {month}
    assert any(
        r["check"] == "completeness" and r["account_id"] == missing["account_id"] for r in rows
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--summaries", "{dir}/does-not-exist.parquet"],
        ["--summaries", "{dir}/garbage.parquet"],
        ["--summaries", "{dir}/clean.parquet", "--from", "2026-13"],
        ["--summaries", "{dir}/clean.parquet", "--from", "2026-10", "--to", "2026-01"],
        ["--from", "2026-01"],  # --summaries is required
    ],
)
def test_bad_input_exits_2_with_one_line(files, capsys, args):
    (files["dir"] / "garbage.parquet").write_bytes(b"PAR1 not really parquet")
    argv = ["reconcile", *(a.format(dir=files["dir"]) for a in args)]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("invoicekit: error:")
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_range_beyond_the_file_is_reported_as_not_in_it_not_as_missing_invoices(
    files, capsys, tmp_path
):
    # the file holds 2024-11..2026-10; ask for the whole of 2026
    output = tmp_path / "findings.csv"
    code = main(
        ["reconcile", "--summaries", str(files["dir"] / "clean.parquet"),
         "--from", "2026-01", "--to", "2026-12", "--output", str(output)]
    )  # fmt: skip
    out = capsys.readouterr().out
    lines = out.splitlines()
    accounts = files["clean_accounts"]
    assert lines[0] == f"checked 2026-01..2026-12 (12 billing months, {accounts} accounts)"
    assert lines[1].startswith(
        "2026-11..2026-12: not in the summaries file (it holds 2024-11..2026-10)"
    )
    assert "invoicekit fetch --from 2026-11 --to 2026-12" in lines[1]
    # completeness of those months cannot be confirmed: exit 1, said once, not per account
    assert code == 1
    assert f"completeness: {2 * accounts} account-month(s) of 2026-11..2026-12" in out
    assert "no INVOICE for account" not in out
    # the findings file keeps one row per account and month, and says why
    with open(output, encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["check"] == "completeness"]
    assert sorted({r["billing_period"] for r in rows}) == ["2026-11", "2026-12"]
    assert len(rows) == 2 * accounts
    assert all("has no row of" in r["message"] for r in rows)


def test_a_range_inside_the_file_counts_only_its_months(files, capsys):
    assert main(
        ["reconcile", "--summaries", str(files["dir"] / "clean.parquet"),
         "--from", "2026-10", "--to", "2026-10"]
    ) == 0  # fmt: skip
    out = capsys.readouterr().out
    df = schema.from_parquet(files["dir"] / "clean.parquet")
    october = df[df["billing_period"].astype(str) == "2026-10"]
    counts = {k: n for k, n in documents.count(october).items() if n}
    assert out.splitlines()[0] == (
        f"checked 2026-10..2026-10 (1 billing month, {files['clean_accounts']} accounts)"
    )
    assert f"reconciled {documents.describe(counts)}: " in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--from", "2026-13"], "--from 2026-13 is not a month"),
        (["--to", "soon"], "--to soon is not a month"),
        (["--from", "2026-10", "--to", "2026-01"], "--to 2026-01 is before --from 2026-10"),
    ],
)
def test_bad_months_name_the_flag(files, capsys, args, fragment):
    code = main(["reconcile", "--summaries", str(files["dir"] / "clean.parquet"), *args])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("invoicekit: error: ") and fragment in err
    assert len(err.splitlines()) == 1
