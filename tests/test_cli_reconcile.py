"""``invoicekit reconcile`` and ``invoicekit export-ap``: output files and exit codes 0/1/2."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from invoicekit import schema
from invoicekit.cli import main
from invoicekit.reconcile import FINDING_COLUMNS, GENERIC_AP_COLUMNS, ORACLE_AP_COLUMNS
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
    return {"dir": d, "anomalies": org.anomalies, "clean_rows": len(clean)}


def test_clean_summaries_exit_0(files, capsys):
    assert main(["reconcile", "--summaries", str(files["dir"] / "clean.parquet")]) == 0
    out = capsys.readouterr().out
    assert "no error findings" in out
    assert f"reconciled {files['clean_rows']} invoice(s)" in out


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
    assert header == FINDING_COLUMNS
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


@pytest.mark.parametrize(
    ("fmt", "header"), [("generic", GENERIC_AP_COLUMNS), ("oracle-ap", ORACLE_AP_COLUMNS)]
)
def test_export_ap_writes_the_format(files, tmp_path, capsys, fmt, header):
    output = tmp_path / f"{fmt}.csv"
    code = main(
        ["export-ap", "--summaries", str(files["dir"] / "clean.parquet"),
         "--format", fmt, "--output", str(output)]
    )  # fmt: skip
    assert code == 0
    raw = output.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8").splitlines()
    assert lines[0] == ",".join(header)
    assert f"wrote {len(lines) - 1} row(s)" in capsys.readouterr().out
    amount = "amount" if fmt == "generic" else "INVOICE_AMOUNT"
    with open(output, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            assert "E" not in row[amount].upper()
            Decimal(row[amount])


def test_export_ap_bad_input_exits_2(files, tmp_path, capsys):
    missing = main(
        [
            "export-ap",
            "--summaries",
            str(tmp_path / "nope.parquet"),
            "--output",
            str(tmp_path / "a.csv"),
        ]
    )
    unwritable = main(
        ["export-ap", "--summaries", str(files["dir"] / "clean.parquet"),
         "--output", str(tmp_path / "no-such-dir" / "a.csv")]
    )  # fmt: skip
    assert (missing, unwritable) == (2, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("invoicekit: error:") for line in err)
