"""``invoicekit export-ap``: the sentences a clerk reads and the exit codes 0 / 1 / 2."""

from __future__ import annotations

import csv
from decimal import Decimal

import pandas as pd
import pytest

from invoicekit import documents, schema
from invoicekit._money import format_money
from invoicekit.cli import main
from invoicekit.sandbox.org import build_organization

NOW = ["--now", "2026-11-05T10:00:00Z"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("export-ap")
    clean = schema.to_frame(build_organization(seed=5, accounts=6, months=3,
                                               today="2026-11-05").invoices)  # fmt: skip
    schema.to_parquet(clean, d / "clean.parquet")
    # one October invoice whose payment total is one unit off: an arithmetic_total error
    october = clean[(clean["billing_period"].astype(str) == "2026-10")
                    & (clean["invoice_type"] == "INVOICE") & clean["commercial_invoice_id"].isna()
                    & clean["payment_currency"].notna()]  # fmt: skip
    bad_id = str(october["invoice_id"].iat[0])
    broken = clean.copy()
    broken["payment_total"] = pd.array(
        [v + Decimal(1) if i == bad_id else v
         for v, i in zip(broken["payment_total"].astype(object), broken["invoice_id"],
                         strict=True)],
        dtype=clean["payment_total"].dtype,
    )  # fmt: skip
    schema.to_parquet(broken, d / "broken.parquet")
    # the same invoice twice, with different contents
    schema.to_parquet(pd.concat([clean, broken[broken["invoice_id"] == bad_id]],
                                ignore_index=True), d / "twice.parquet")  # fmt: skip
    return {"dir": d, "clean": clean, "bad_id": bad_id}


def run(capsys, *argv):
    try:
        code = main([*argv, *NOW])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err.strip().splitlines()


def october_payable(df: pd.DataFrame) -> pd.DataFrame:
    types = df["invoice_type"].astype(object)
    keep = (df["billing_period"].astype(str) == "2026-10") & types.isin(["INVOICE", "CREDIT_MEMO"])
    keep &= df["commercial_invoice_id"].isna()
    return df[keep.to_numpy()]


def test_an_export_says_what_it_wrote_and_the_net_payable_per_currency(files, tmp_path, capsys):
    output = tmp_path / "ap.csv"
    code, out, err = run(capsys, "export-ap", "--summaries", str(files["dir"] / "clean.parquet"),
                         "--output", str(output))  # fmt: skip
    assert (code, err) == (0, [])
    payable = october_payable(files["clean"])
    counts = {
        "invoice": int((payable["invoice_type"] == "INVOICE").sum()),
        "credit memo": int((payable["invoice_type"] == "CREDIT_MEMO").sum()),
    }
    sums: dict[str, Decimal] = {}
    for r in payable.itertuples():
        has_payment = pd.notna(r.payment_currency)
        cur = r.payment_currency if has_payment else r.base_currency
        amount = r.payment_total if has_payment else r.base_total
        sums[cur] = sums.get(cur, Decimal(0)) + Decimal(str(amount))
    net = ", ".join(format_money(sums[c], c, code=True) for c in sorted(sums))
    assert out[0] == (
        f"Exported {documents.describe(counts)} of October 2026 (generic) to {output}: "
        f"net payable {net}. Ledger: {tmp_path / 'ap-ledger.csv'}."
    )
    with open(output, encoding="utf-8", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(payable)

    # the same command again: nothing new, exit 0, and why
    code, out, _ = run(capsys, "export-ap", "--summaries", str(files["dir"] / "clean.parquet"),
                       "--output", str(output))  # fmt: skip
    assert code == 0
    assert out[0].startswith(
        f"Nothing new to export: all {documents.describe(counts)} of 2026-10 are already in the "
        f"ledger {tmp_path / 'ap-ledger.csv'} (exported 2026-11-05); use --reexport"
    )
    assert output.read_text().count("\n") == 1  # a header-only file


def test_an_open_error_blocks_with_one_line_per_finding_and_exit_1(files, tmp_path, capsys):
    output = tmp_path / "ap.csv"
    summaries = str(files["dir"] / "broken.parquet")
    code, out, err = run(capsys, "export-ap", "--summaries", summaries, "--output", str(output))
    assert code == 1 and err == []
    assert not output.exists()
    bad = files["bad_id"]
    assert out[0].startswith("Blocked: ")
    listed = out[1:]
    assert listed and all(bad in line and "[finding " in line for line in listed)
    assert any(f"[finding arithmetic_total:{bad}:payment]" in line for line in listed)

    # the controller accepts them in the findings CSV of `invoicekit reconcile --output`
    findings = tmp_path / "findings.csv"
    assert run(capsys, "reconcile", "--summaries", summaries, "--output", str(findings))[0] == 1
    with open(findings, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ids = {line.rsplit("[finding ", 1)[1].rstrip("]") for line in listed}
    for r in rows:
        if r["finding_id"] in ids:
            r["accepted_by"] = "Controller"
    with open(findings, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, out, err = run(capsys, "export-ap", "--summaries", summaries, "--output", str(output),
                         "--accept-findings", str(findings))  # fmt: skip
    assert (code, err) == (0, [])
    assert out[0].startswith("Exported ")
    assert any(line.startswith("Accepted findings recorded in the ledger") for line in out)
    with open(tmp_path / "ap-ledger.csv", encoding="utf-8", newline="") as fh:
        ledger = {r["invoice_id"]: r for r in csv.DictReader(fh)}
    assert set(ledger[bad]["accepted_findings"].split(";")) == ids
    assert ledger[bad]["accepted_by"].split(";")[0] == "Controller"


def test_oracle_ap_takes_site_and_unit_from_the_fleet_file(files, tmp_path, capsys):
    fleet = tmp_path / "fleet.yml"
    fleet.write_text('accounts:\n  - id: "111111111111"\n'
                     "ap:\n  supplier_site: AWS-SITE\n  business_unit: BU-EU\n")  # fmt: skip
    out_dir = tmp_path / "oracle"
    code, out, _ = run(capsys, "export-ap", "--summaries", str(files["dir"] / "clean.parquet"),
                       "--format", "oracle-ap", "--output", str(out_dir), "--config", str(fleet),
                       "--invoice-id-start", "500")  # fmt: skip
    assert code == 0 and "(oracle-ap)" in out[0]
    with open(out_dir / "AP_INVOICES_INTERFACE.csv", encoding="utf-8", newline="") as fh:
        headers = list(csv.DictReader(fh))
    assert {h["VENDOR_SITE_CODE"] for h in headers} == {"AWS-SITE"}
    assert {h["OPERATING_UNIT"] for h in headers} == {"BU-EU"}
    assert sorted(int(h["INVOICE_ID"]) for h in headers) == list(range(500, 500 + len(headers)))
    assert (out_dir / "AP_INVOICE_LINES_INTERFACE.csv").is_file()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--summaries", "{dir}/nope.parquet", "--output", "{tmp}/a.csv"], "--summaries"),
        (["--summaries", "{dir}/clean.parquet", "--output", "{tmp}/a.csv", "--month", "2026-13"],
         "--month 2026-13 is not a month"),
        (["--summaries", "{dir}/clean.parquet", "--output", "{tmp}/a.csv", "--month", "2026-10",
          "--all"], "not allowed with argument --month"),
        (["--summaries", "{dir}/clean.parquet", "--output", "{tmp}/no-dir/a.csv"],
         "--output {tmp}/no-dir/a.csv: cannot write it"),
        (["--summaries", "{dir}/twice.parquet", "--output", "{tmp}/a.csv"],
         "different contents"),
        (["--summaries", "{dir}/clean.parquet", "--output", "{tmp}/a.csv", "--mapping",
          "{tmp}/nope.yml"], "--mapping {tmp}/nope.yml: no such file"),
        (["--summaries", "{dir}/clean.parquet", "--output", "{tmp}/a.csv", "--accept-findings",
          "{tmp}/nope.csv"], "--accept-findings {tmp}/nope.csv: no such file"),
        (["--summaries", "{dir}/clean.parquet", "--output", "{tmp}/a.csv", "--ledger",
          "{dir}/clean.parquet"], "--ledger"),
        (["--summaries", "{dir}/clean.parquet", "--output", "{tmp}/a.csv", "--format", "sap"],
         "invalid choice: 'sap'"),
        (["--summaries", "{dir}/clean.parquet", "--output", "{tmp}/a.csv",
          "--invoice-id-start", "0"], "--invoice-id-start"),
        (["--summaries", "{dir}/clean.parquet", "--output", "{tmp}/a.csv", "--findings",
          "{dir}/clean.parquet"], "--findings"),
        (["--output", "{tmp}/a.csv"], "--summaries"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(files, tmp_path, capsys, args, fragment):
    argv = [a.format(dir=files["dir"], tmp=tmp_path) for a in args]
    code, _out, err = run(capsys, "export-ap", *argv)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("invoicekit: error: ")
    assert fragment.format(dir=files["dir"], tmp=tmp_path) in err[0]
    assert not (tmp_path / "ap-ledger.csv").exists()


def test_findings_file_is_checked_instead_of_the_data(files, tmp_path, capsys):
    invoice_id = str(october_payable(files["clean"])["invoice_id"].iat[0])
    findings = tmp_path / "findings.csv"
    findings.write_text(
        "check,severity,account_id,invoice_id,billing_period,view,currency,expected,actual,"
        "difference,message,finding_id,accepted_by\n"
        f"exchange,error,1,{invoice_id},2026-10,payment,EUR,,,,payment view differs,"
        f"exchange:{invoice_id}:payment,\n"
    )
    code, out, _ = run(capsys, "export-ap", "--summaries", str(files["dir"] / "clean.parquet"),
                       "--output", str(tmp_path / "a.csv"), "--findings", str(findings))  # fmt: skip
    assert code == 1 and f"[finding exchange:{invoice_id}:payment]" in out[1]


# --------------------------------------------------------------------------------------------
# --business-units (issue 12): append to tests/test_cli_export_ap.py with the CLI patch
# --------------------------------------------------------------------------------------------


def test_business_units_give_each_invoice_its_cost_center(files, tmp_path, capsys):
    payer = str(files["clean"]["account_id"].iat[0])
    mapping = tmp_path / "bu.csv"
    mapping.write_text(f"payer_account_id,business_unit,cost_center\n{payer},Retail,CC-1\n")
    code, out, err = run(
        capsys, "export-ap", "--summaries", str(files["dir"] / "clean.parquet"),
        "--month", "2026-10", "--output", str(tmp_path / "ap.csv"),
        "--business-units", str(mapping),
    )  # fmt: skip
    assert code == 0, err
    with open(tmp_path / "ap.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(
        r["cost_center"] == ("CC-1" if r["account_id"] == payer else "") for r in rows
    )
    assert any("no business unit" in line for line in out)  # the other payers


def test_a_bad_business_units_file_is_exit_2_naming_the_flag(files, tmp_path, capsys):
    mapping = tmp_path / "bu.csv"
    mapping.write_text("account_id,business_unit\n12345,X\n")
    code, _, err = run(
        capsys, "export-ap", "--summaries", str(files["dir"] / "clean.parquet"),
        "--month", "2026-10", "--output", str(tmp_path / "ap.csv"),
        "--business-units", str(mapping),
    )  # fmt: skip
    assert code == 2 and len(err) == 1 and "--business-units" in err[0], err
