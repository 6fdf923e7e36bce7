"""``invoicekit chargeback``: files in, the chargeback table out, exit codes a scheduler reads.

0 everything charged to a business unit; 1 something unallocated (the file is still written);
2 bad input, one line naming the flag. Expected figures come from the organization's wire
records, summed here with ``Decimal``.
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from invoicekit import schema
from invoicekit.cli import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, main
from invoicekit.sandbox.org import build_organization
from invoicekit.units import units_frame, write_frame

TODAY = "2026-11-25"
MONTH = "2026-10"
END = datetime(2026, 11, 1, tzinfo=UTC) - timedelta(microseconds=1)


@functools.lru_cache(maxsize=1)
def _org():
    return build_organization(accounts=4, months=2, today=TODAY)


@pytest.fixture
def files(tmp_path):
    org = _org()
    summaries = tmp_path / "invoices.parquet"
    schema.to_parquet(schema.to_frame(org.invoices), summaries)
    rows = []
    for a in org.accounts:
        for u in org.invoice_units(a.account_id, END):
            for m in u["Rule"]["LinkedAccounts"]:
                rows.append(
                    {
                        "payer_account_id": a.account_id,
                        "payer_account_name": a.name,
                        "invoice_unit_arn": u["InvoiceUnitArn"],
                        "invoice_unit_name": u["Name"],
                        "invoice_receiver": u["InvoiceReceiver"],
                        "tax_inheritance_disabled": u["TaxInheritanceDisabled"],
                        "member_account_id": m,
                        "last_modified": u["LastModified"],
                        "as_of": END.isoformat(),
                    }
                )
    units = tmp_path / "units.csv"
    write_frame(units_frame(rows), units)
    return summaries, units


def _payable_totals(org) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for inv in org.invoices:
        p = inv["BillingPeriod"]
        if f"{p['Year']:04d}-{p['Month']:02d}" != MONTH:
            continue
        if inv["InvoiceType"] in ("INVOICE", "CREDIT_MEMO") and not inv.get("CommercialInvoiceId"):
            amount = inv["PaymentCurrencyAmount"]
            out[amount["CurrencyCode"]] += Decimal(amount["TotalAmount"])
    return dict(out)


def _mapping(tmp_path, rows: list[str]):
    path = tmp_path / "bu.csv"
    path.write_text("invoice_unit,payer_account_id,business_unit,cost_center\n" + "\n".join(rows)
                    + "\n", encoding="utf-8")  # fmt: skip
    return path


def _run(summaries, mapping, out, *extra):
    return main(
        ["chargeback", "--summaries", str(summaries), "--mapping", str(mapping),
         "--month", MONTH, "--output", str(out), *extra]
    )  # fmt: skip


def test_unallocated_spend_is_written_and_exits_1(files, tmp_path, capsys):
    summaries, units = files
    org = _org()
    first = org.accounts[0].account_id
    out = tmp_path / "chargeback.csv"
    code = _run(
        summaries, _mapping(tmp_path, [f",{first},Retail,CC-1"]), out, "--units", str(units)
    )
    assert code == EXIT_FINDINGS
    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        sums[r["currency"]] += Decimal(r["total"])
    assert dict(sums) == _payable_totals(org)  # exact, every currency
    assert {r["business_unit"] for r in rows} == {"Retail", "unallocated"}
    printed = capsys.readouterr().out
    for currency in _payable_totals(org):
        assert f"\n{currency}: " in printed
    assert "the payable total of October 2026" in printed
    assert "Unallocated (" in printed and org.accounts[1].account_id in printed


def test_everything_mapped_exits_0(files, tmp_path, capsys):
    summaries, units = files
    rows = [f",{a.account_id},BU {a.index}," for a in _org().accounts]
    out = tmp_path / "chargeback.parquet"
    assert _run(summaries, _mapping(tmp_path, rows), out, "--units", str(units)) == EXIT_OK
    import pandas as pd

    frame = pd.read_parquet(out)
    assert set(frame["status"]) == {"allocated"}
    assert {c: sum(frame.loc[frame.currency == c, "total"]) for c in set(frame.currency)} == (
        _payable_totals(_org())
    )
    assert "+ unallocated" not in capsys.readouterr().out


def test_a_fleet_file_is_a_mapping_too(files, tmp_path):
    summaries, _ = files
    fleet = tmp_path / "fleet.yml"
    ids = [a.account_id for a in _org().accounts]
    fleet.write_text(
        "accounts:\n"
        + "".join(f'  - id: "{i}"\n' for i in ids)
        + "business_units:\n"
        + "".join(f'  - payer_account_id: "{i}"\n    business_unit: All\n' for i in ids),
        encoding="utf-8",
    )
    assert _run(summaries, fleet, tmp_path / "cb.csv") == EXIT_OK


@pytest.mark.parametrize(
    ("mapping_text", "extra", "expected"),
    [
        ("account_id,business_unit\n12345,X\n", [], "--mapping "),
        ("acount_id,business_unit\n123456789012,X\n", [], "unknown column 'acount_id'"),
        ("invoice_unit,business_unit\nRetail EU Storefront,X\n", [], "--units"),
        ("account_id,business_unit\n123456789012,X\n", ["--units", "missing.csv"], "--units"),
    ],
)
def test_bad_input_is_exit_2_with_one_line_naming_the_flag(
    files, tmp_path, capsys, mapping_text, extra, expected
):
    summaries, _ = files
    mapping = tmp_path / "m.csv"
    mapping.write_text(mapping_text, encoding="utf-8")
    code = _run(summaries, mapping, tmp_path / "cb.csv", *extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_BAD_INPUT
    assert len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "cb.csv").exists()


def test_a_bad_month_names_the_flag(files, tmp_path, capsys):
    summaries, _ = files
    mapping = _mapping(tmp_path, [",100000000001,Retail,"])
    code = main(["chargeback", "--summaries", str(summaries), "--mapping", str(mapping),
                 "--month", "2026-13", "--output", str(tmp_path / "cb.csv")])  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert "--month" in capsys.readouterr().err
