"""``invoicekit units``: the units file, the profiles file, the summary line, exits 0/2/3."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from invoicekit.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL, main
from invoicekit.documents import plural
from invoicekit.units import MASK, load_profiles, load_units

TODAY = "2026-11-25"


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own refusals
        return int(exc.code or 0)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("invoicekit: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def sb(request):
    from invoicekit.sandbox import start

    box = start(today=TODAY, accounts=3, months=24)
    request.addfinalizer(box.stop)
    return box


def _expected_counts(org, moment) -> tuple[int, int, int]:
    units = [(a.account_id, u) for a in org.accounts for u in org.invoice_units(a.account_id,
                                                                              moment)]  # fmt: skip
    members = {m for _, u in units for m in u["Rule"]["LinkedAccounts"]}
    return len(units), len({p for p, _ in units}), len(members)


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_units_as_of_a_date_writes_the_file_and_one_summary_line(sb, tmp_path, capsys, ext):
    out = tmp_path / f"units.{ext}"
    code = main(["units", "--config", str(sb.fleet_config), "--as-of", "2026-09-30",
                 "--output", str(out), "--no-progress"])  # fmt: skip
    assert code == EXIT_OK
    moment = datetime(2026, 9, 30, 23, 59, 59, 999999, tzinfo=UTC)
    n_units, n_payers, n_members = _expected_counts(sb.org, moment)
    stdout = capsys.readouterr().out.strip().splitlines()
    line = (
        f"{plural(n_units, 'invoice unit')} of {plural(n_payers, 'payer account')} "
        f"({plural(n_members, 'member account')}) as of 2026-09-30 written to {out}"
    )
    others = len(sb.org.accounts) - n_payers
    if others:
        line += f"; {plural(others, 'other payer account')} {'has' if others == 1 else 'have'} none"
    assert stdout == [line]
    df = load_units(out)
    assert df["invoice_unit_arn"].nunique() == n_units
    assert (df["as_of"] == pd.Timestamp(moment)).all()


def test_profiles_file_is_written_with_sensitive_members_masked(sb, tmp_path, capsys):
    out, prof = tmp_path / "units.csv", tmp_path / "profiles.csv"
    code = main(["units", "--config", str(sb.fleet_config), "--output", str(out),
                 "--profiles", str(prof), "--no-progress", "--now", TODAY])  # fmt: skip
    assert code == EXIT_OK
    text = prof.read_text(encoding="utf-8")
    for p in sb.org.invoice_profiles.values():
        assert p["TaxRegistrationNumber"] not in text
        assert p["ReceiverEmail"] not in text
    profiles = load_profiles(prof)
    units = load_units(out)
    receivers = set(units["invoice_receiver"]) | {a.account_id for a in sb.org.accounts}
    assert set(profiles["account_id"]) == receivers
    assert (profiles["tax_registration_number"] == MASK).all()
    stdout = capsys.readouterr().out
    assert "as of 2026-11-25" in stdout
    assert f"{plural(len(profiles), 'invoice profile')} written to {prof}" in stdout


def test_month_end_snapshots_with_from_and_to(sb, tmp_path, capsys):
    out = tmp_path / "units.parquet"
    code = main(["units", "--config", str(sb.fleet_config), "--from", "2026-01", "--to", "2026-03",
                 "--output", str(out), "--no-progress", "--now", TODAY])  # fmt: skip
    assert code == EXIT_OK
    assert load_units(out)["as_of"].nunique() == 3
    assert "as of the end of each month 2026-01..2026-03" in capsys.readouterr().out


def test_a_denied_payer_exits_3_and_the_others_units_are_written(make_sandbox, tmp_path, capsys):
    box = make_sandbox(accounts=3, months=3)
    org = box.org
    with_units = [a.account_id for a in org.accounts if org.invoice_units(a.account_id)]
    box.deny(with_units[0])
    out = tmp_path / "units.csv"
    code = main(["units", "--config", str(box.fleet_config), "--output", str(out),
                 "--no-progress"])  # fmt: skip
    assert code == EXIT_PARTIAL
    captured = capsys.readouterr()
    assert f"failed: {with_units[0]}" in captured.out and "AccessDeniedException" in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("invoicekit: error: 1 of 3 payer accounts failed")
    written = load_units(out)
    assert set(written["payer_account_id"]) == set(with_units[1:])


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--as-of", "last tuesday"], "argument --as-of: 'last tuesday' is not a date"),
        (["--output", "units.xlsx"], "'.xlsx'"),
        (["--from", "2026-01"], "--from needs --to"),
        (["--from", "2026-03", "--to", "2026-01"], "--to 2026-01 is before --from 2026-03"),
        (["--as-of", "2026-01-31", "--from", "2026-01", "--to", "2026-02"], "exclude each other"),
    ],
)
def test_bad_input_exits_2_with_one_line(sb, tmp_path, capsys, extra, fragment):
    argv = ["units", "--config", str(sb.fleet_config), "--no-progress"]
    if "--output" not in extra:
        argv += ["--output", str(tmp_path / "units.csv")]
    code = _code(argv + [x if not x.endswith(".xlsx") else str(tmp_path / x) for x in extra])
    assert code == EXIT_BAD_INPUT
    assert fragment in _one_line_error(capsys)
    assert not (tmp_path / "units.csv").exists()


def test_a_missing_fleet_file_exits_2(tmp_path, capsys):
    code = main(["units", "--config", str(tmp_path / "nope.yml"), "--output",
                 str(tmp_path / "u.csv")])  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert "fleet file" in _one_line_error(capsys)


def test_reconcile_with_units_names_the_unit_whose_invoice_is_missing(sb, tmp_path, capsys):
    from invoicekit import schema

    org = sb.org
    month = (2026, 10)
    unit_invoices = [
        i for i in org.invoices
        if i["BillingPeriod"] == {"Year": month[0], "Month": month[1]}
        and org.unit_of_invoice(i["InvoiceId"]) is not None and i["BillType"] == "ANNIVERSARY"
        and "CommercialInvoiceId" not in i
    ]  # fmt: skip
    dropped = unit_invoices[0]
    unit = next(
        u for u in org.units_at_month_end(dropped["AccountId"], month)
        if u["InvoiceUnitArn"] == org.unit_of_invoice(dropped["InvoiceId"])
    )  # fmt: skip
    kept = [i for i in org.invoices if i["InvoiceId"] != dropped["InvoiceId"]]
    summaries = tmp_path / "summaries.parquet"
    schema.to_parquet(schema.to_frame(kept), summaries)
    units = tmp_path / "units.parquet"
    assert main(["units", "--config", str(sb.fleet_config), "--from", "2026-10", "--to",
                 "2026-10", "--output", str(units), "--no-progress", "--now", TODAY]) == EXIT_OK  # fmt: skip
    capsys.readouterr()

    plain = main(
        ["reconcile", "--summaries", str(summaries), "--from", "2026-10", "--to", "2026-10"]
    )
    out_plain = capsys.readouterr().out
    # the payer has other invoices: per account it looks complete
    assert unit["Name"] not in out_plain

    code = main(["reconcile", "--summaries", str(summaries), "--from", "2026-10", "--to",
                 "2026-10", "--units", str(units)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1 and plain in (0, 1)
    assert f"'{unit['Name']}'" in out and "2026-10" in out
