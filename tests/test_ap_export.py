"""``invoicekit.ap.export_ap``: month scope, one version per invoice, the ledger, blocking
findings and their acceptance, payable documents only, the mapping.

Organizations are small sandbox models (``build_organization`` + ``schema.to_frame``); every
expected value is computed here from the frame with plain ``Decimal``, independently of the
export's code.
"""

from __future__ import annotations

import csv
import hashlib
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest

from invoicekit import clock, documents, schema
from invoicekit.ap import LEDGER_COLUMNS, export_ap, read_acceptance, read_ledger
from invoicekit.ap.mapping import load_mapping
from invoicekit.errors import InvalidArgumentError
from invoicekit.reconcile import reconcile_invoices
from invoicekit.sandbox.org import build_organization

NOW = "2026-11-05T09:00:00Z"  # the last closed month is 2026-10
DIGITS = {"JPY": 0, "KWD": 3}


def q(amount, currency: str) -> Decimal:
    """Half-up to the currency's minor unit, computed here (not with the package)."""
    unit = Decimal(1).scaleb(-DIGITS.get(currency, 2))
    return Decimal(str(amount)).quantize(unit, rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def clean():
    org = build_organization(seed=11, accounts=5, months=3, today="2026-11-05")
    return schema.to_frame(org.invoices)


@pytest.fixture(autouse=True)
def pinned_now():
    with clock.pinned(NOW):
        yield


def payable_ids(df: pd.DataFrame, month: str | None = None) -> set[str]:
    """Invoices and credit memos (no tax invoice, no payment receipt) of ``month``."""
    types = df["invoice_type"].astype(object)
    restates = df["commercial_invoice_id"].astype(object).fillna("") != ""
    keep = types.isin(["INVOICE", "CREDIT_MEMO"]) & ~restates
    if month is not None:
        keep &= df["billing_period"].astype(str) == month
    return set(df.loc[keep.to_numpy(), "invoice_id"].astype(str))


def payable_amount(row: pd.Series) -> tuple[Decimal, str]:
    if pd.notna(row["payment_currency"]):
        return q(row["payment_total"], row["payment_currency"]), row["payment_currency"]
    return q(row["base_total"], row["base_currency"]), row["base_currency"]


def rows_of(path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def bumped(df: pd.DataFrame, column: str, delta: str, where=None) -> pd.DataFrame:
    """``df`` with ``delta`` added to ``column`` (on the rows of the ``where`` mask, or all)."""
    out = df.copy()
    rows = [True] * len(df) if where is None else list(where)
    values = [
        (Decimal(str(v)) + Decimal(delta)) if hit else v
        for v, hit in zip(out[column].astype(object), rows, strict=True)
    ]
    out[column] = pd.array(values, dtype=df[column].dtype)
    return out


def with_rows(df: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([df, extra], ignore_index=True)


# --------------------------------------------------------------------------------------------
# Month scope
# --------------------------------------------------------------------------------------------


def test_the_default_month_is_the_last_closed_one_and_only_it_is_exported(clean, tmp_path):
    assert clean["billing_period"].astype(str).nunique() == 3  # a multi-month frame
    result = export_ap(clean, tmp_path / "ap.csv")
    assert result.status == "written" and result.exit_code == 0 and result.month == "2026-10"
    expected = payable_ids(clean, "2026-10")
    assert set(result.exported["invoice_id"]) == expected
    assert {r["invoice_id"] for r in rows_of(tmp_path / "ap.csv")} == expected
    assert set(result.exported["billing_period"]) == {"2026-10"}
    other = result.skipped[result.skipped["reason"] == "other billing month"]
    assert set(other["billing_period"]) == {"2026-08", "2026-09"}


def test_month_picks_that_month_and_all_months_every_month(clean, tmp_path):
    september = export_ap(clean, tmp_path / "sep.csv", month="2026-09", ledger=tmp_path / "l1")
    assert set(september.exported["invoice_id"]) == payable_ids(clean, "2026-09")
    everything = export_ap(clean, tmp_path / "all.csv", all_months=True, ledger=tmp_path / "l2")
    assert set(everything.exported["invoice_id"]) == payable_ids(clean)
    assert everything.month == "all"
    with pytest.raises(InvalidArgumentError, match="not both"):
        export_ap(clean, tmp_path / "x.csv", month="2026-09", all_months=True)
    with pytest.raises(InvalidArgumentError, match="is not a month"):
        export_ap(clean, tmp_path / "x.csv", month="2026-13")


# --------------------------------------------------------------------------------------------
# One version per invoice
# --------------------------------------------------------------------------------------------


def _october_invoice(df: pd.DataFrame) -> pd.DataFrame:
    oct_ = df[(df["billing_period"].astype(str) == "2026-10") & (df["invoice_type"] == "INVOICE")]
    return oct_[oct_["commercial_invoice_id"].isna()].iloc[[0]]


def test_an_invoice_id_with_two_contents_is_refused_naming_it(clean, tmp_path):
    other = bumped(_october_invoice(clean), "payment_total", "1.00")
    invoice_id = other["invoice_id"].iat[0]
    with pytest.raises(InvalidArgumentError) as info:
        export_ap(with_rows(clean, other), tmp_path / "ap.csv")
    message = str(info.value)
    assert f"invoice {invoice_id}" in message and "payment_total" in message
    assert "twice" in message
    # nothing written, nothing recorded
    assert not (tmp_path / "ap.csv").exists() and not (tmp_path / "ap-ledger.csv").exists()


def test_an_identical_repeat_is_exported_once(clean, tmp_path):
    repeat = _october_invoice(clean)
    invoice_id = repeat["invoice_id"].iat[0]
    result = export_ap(with_rows(clean, repeat), tmp_path / "ap.csv")
    written = [r["invoice_id"] for r in rows_of(tmp_path / "ap.csv")]
    assert written.count(invoice_id) == 1
    assert len(written) == len(payable_ids(clean, "2026-10"))
    reasons = result.skipped.set_index("invoice_id")["reason"]
    assert reasons[invoice_id] == "identical repeat (exported once)"


# --------------------------------------------------------------------------------------------
# The ledger: never twice
# --------------------------------------------------------------------------------------------


def test_the_ledger_records_every_exported_invoice(clean, tmp_path):
    output = tmp_path / "ap.csv"
    result = export_ap(clean, output)
    ledger = read_ledger(tmp_path / "ap-ledger.csv")
    assert result.ledger == tmp_path / "ap-ledger.csv"
    assert list(ledger.columns) == LEDGER_COLUMNS
    assert set(ledger["invoice_id"]) == payable_ids(clean, "2026-10")
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    by_id = clean.drop_duplicates("invoice_id").set_index("invoice_id")
    for row in ledger.to_dict("records"):
        amount, currency = payable_amount(by_id.loc[row["invoice_id"]])
        assert (Decimal(row["amount"]), row["currency"]) == (amount, currency)
        assert row["format"] == "generic" and row["file"] == "ap.csv"
        assert row["file_sha256"] == digest
        assert row["exported_at"] == "2026-11-05T09:00:00Z"  # business time, not the wall clock
        assert row["billing_period"] == "2026-10"
        assert row["account_id"] == by_id.loc[row["invoice_id"], "account_id"]
    # the result's amounts are the same exact decimals
    assert dict(zip(result.exported["invoice_id"], result.exported["amount"], strict=True)) == {
        r["invoice_id"]: Decimal(r["amount"]) for r in ledger.to_dict("records")
    }


def test_a_second_export_writes_a_header_only_file_and_says_why(clean, tmp_path):
    output = tmp_path / "ap.csv"
    export_ap(clean, output)
    before = (tmp_path / "ap-ledger.csv").read_text()
    again = export_ap(clean, output)
    assert again.status == "nothing-new" and again.exit_code == 0
    assert output.read_text().splitlines() == [output.read_text().splitlines()[0]]
    assert again.exported.empty
    n = len(payable_ids(clean, "2026-10"))
    october = clean[clean["billing_period"].astype(str) == "2026-10"]
    counts = {
        "invoice": len(payable_ids(october[october["invoice_type"] == "INVOICE"])),
        "credit memo": len(payable_ids(october[october["invoice_type"] == "CREDIT_MEMO"])),
    }
    assert again.summary()[0].startswith(
        f"Nothing new to export: all {documents.describe(counts)} of 2026-10 are already in "
        "the ledger "
        f"{tmp_path / 'ap-ledger.csv'} (exported 2026-11-05); use --reexport to export them again"
    )
    assert (tmp_path / "ap-ledger.csv").read_text() == before  # nothing recorded twice
    # --reexport exports them again, and the ledger says so
    third = export_ap(clean, output, reexport=True)
    assert third.status == "written" and len(third.exported) == n
    assert len(read_ledger(tmp_path / "ap-ledger.csv")) == 2 * n


def test_a_new_month_exports_only_what_the_ledger_lacks(clean, tmp_path):
    ledger = tmp_path / "ap-ledger.csv"
    export_ap(clean, tmp_path / "sep.csv", month="2026-09")
    october = export_ap(clean, tmp_path / "oct.csv", month="2026-10")
    assert set(october.exported["invoice_id"]) == payable_ids(clean, "2026-10")
    assert set(read_ledger(ledger)["billing_period"]) == {"2026-09", "2026-10"}
    # the ledger is per format: the same month may go to another AP system once
    oracle = export_ap(clean, tmp_path / "ora", "oracle-ap", month="2026-10")
    assert set(oracle.exported["invoice_id"]) == payable_ids(clean, "2026-10")


def test_a_file_that_is_not_a_ledger_is_refused(clean, tmp_path):
    bad = tmp_path / "ledger.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidArgumentError, match="not an AP ledger"):
        export_ap(clean, tmp_path / "ap.csv", ledger=bad)


# --------------------------------------------------------------------------------------------
# Blocked by open error findings; acceptance
# --------------------------------------------------------------------------------------------


def _with_total_off(df: pd.DataFrame, month: str = "2026-10") -> tuple[pd.DataFrame, str]:
    """``df`` with one invoice of ``month`` whose payment total is one unit off."""
    rows = df[(df["billing_period"].astype(str) == month) & (df["invoice_type"] == "INVOICE")]
    rows = rows[rows["payment_currency"].notna() & rows["commercial_invoice_id"].isna()]
    invoice_id = str(rows["invoice_id"].iat[0])
    out = bumped(df, "payment_total", "1", where=(df["invoice_id"] == invoice_id).to_numpy())
    return out, invoice_id


def open_errors(df: pd.DataFrame, invoice_id: str) -> set[str]:
    """The ids of the error findings on ``invoice_id``, from the checks themselves."""
    found = reconcile_invoices(df)
    hit = (found["severity"] == "error") & (found["invoice_id"] == invoice_id)
    return set(found.loc[hit.fillna(False).to_numpy(), "finding_id"])


def test_an_open_error_finding_blocks_the_export(clean, tmp_path):
    broken, invoice_id = _with_total_off(clean)
    result = export_ap(broken, tmp_path / "ap.csv")
    assert result.status == "blocked" and result.exit_code == 1
    assert result.files == [] and not (tmp_path / "ap.csv").exists()
    assert not (tmp_path / "ap-ledger.csv").exists()
    expected = open_errors(broken, invoice_id)
    assert f"arithmetic_total:{invoice_id}:payment" in expected
    assert set(result.blocking["invoice_id"]) == {invoice_id}
    assert set(result.blocking["finding_id"]) == expected
    lines = result.summary()
    assert len(lines) == 1 + len(expected)  # one line per blocking finding
    assert lines[0].startswith(f"Blocked: {len(expected)} error finding")
    total_line = next(line for line in lines if f"arithmetic_total:{invoice_id}" in line)
    assert invoice_id in total_line and "is not the amount before tax plus tax" in total_line
    assert all(f"[finding {f}]" in "\n".join(lines) for f in expected)


def test_an_error_on_an_invoice_of_another_month_does_not_block(clean, tmp_path):
    broken, _ = _with_total_off(clean, month="2026-09")
    assert export_ap(broken, tmp_path / "ap.csv", month="2026-10").status == "written"


def test_an_acceptance_lets_the_export_through_and_is_recorded(clean, tmp_path):
    from invoicekit.cli.reconcile import write_findings_csv

    broken, invoice_id = _with_total_off(clean)
    findings_csv = tmp_path / "findings.csv"
    write_findings_csv(reconcile_invoices(broken), findings_csv)
    rows = rows_of(findings_csv)
    assert {"finding_id", "accepted_by"} <= set(rows[0]) and all(not r["accepted_by"] for r in rows)
    wanted = open_errors(broken, invoice_id)
    for r in rows:
        if r["finding_id"] in wanted:
            r["accepted_by"] = "A. Controller"
    with open(findings_csv, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert read_acceptance(findings_csv) == dict.fromkeys(wanted, "A. Controller")

    result = export_ap(broken, tmp_path / "ap.csv", accept=findings_csv)
    assert result.status == "written" and invoice_id in set(result.exported["invoice_id"])
    assert result.accepted == dict.fromkeys(wanted, "A. Controller")
    ledger = read_ledger(tmp_path / "ap-ledger.csv").set_index("invoice_id")
    assert set(ledger.loc[invoice_id, "accepted_findings"].split(";")) == wanted
    assert set(ledger.loc[invoice_id, "accepted_by"].split(";")) == {"A. Controller"}
    others = ledger.drop(index=invoice_id)
    assert (others["accepted_findings"] == "").all()


def test_a_text_file_of_finding_ids_accepts_them(clean, tmp_path):
    broken, invoice_id = _with_total_off(clean)
    ids = tmp_path / "accepted.txt"
    wanted = sorted(open_errors(broken, invoice_id))
    ids.write_text("# accepted by the controller\n" + "\n".join(wanted) + "\n\n")
    partial = tmp_path / "partial.txt"
    partial.write_text(wanted[0] + "\n")
    if len(wanted) > 1:  # accepting some of the findings is not accepting all
        assert export_ap(broken, tmp_path / "ap.csv", accept=partial).status == "blocked"
    result = export_ap(broken, tmp_path / "ap.csv", accept=ids)
    assert result.status == "written"
    ledger = read_ledger(tmp_path / "ap-ledger.csv").set_index("invoice_id")
    assert ledger.loc[invoice_id, "accepted_findings"].split(";") == wanted
    with pytest.raises(InvalidArgumentError, match="no such file"):
        export_ap(broken, tmp_path / "ap2.csv", accept=tmp_path / "missing.txt")


def test_findings_given_are_used_instead_of_running_the_checks(clean, tmp_path):
    invoice_id = _october_invoice(clean)["invoice_id"].iat[0]
    findings = pd.DataFrame(
        [{"check": "exchange", "severity": "error", "account_id": "1", "invoice_id": invoice_id,
          "billing_period": "2026-10", "view": "payment", "currency": "EUR",
          "message": "payment view differs"}]
    )  # fmt: skip
    result = export_ap(clean, tmp_path / "ap.csv", findings=findings)
    assert result.status == "blocked"
    assert list(result.blocking["finding_id"]) == [f"exchange:{invoice_id}:payment"]
    warnings_only = findings.assign(severity="warning")
    assert export_ap(clean, tmp_path / "ap.csv", findings=warnings_only).status == "written"


# --------------------------------------------------------------------------------------------
# Payable documents only
# --------------------------------------------------------------------------------------------


def test_payment_receipts_and_tax_invoices_are_never_exported(clean, tmp_path):
    receipt = _october_invoice(clean).copy()
    receipt["invoice_id"] = "RCPT-1"
    receipt["invoice_type"] = "PAYMENT_RECEIPT"
    restates = _october_invoice(clean).copy()
    commercial = restates["invoice_id"].iat[0]
    restates["invoice_id"] = "TAXINV-1"
    restates["commercial_invoice_id"] = commercial
    df = with_rows(clean, pd.concat([receipt, restates]))
    result = export_ap(df, tmp_path / "ap.csv", all_months=True)
    written = {r["invoice_id"] for r in rows_of(tmp_path / "ap.csv")}
    assert "RCPT-1" not in written and "TAXINV-1" not in written
    restated = set(clean.loc[clean["commercial_invoice_id"].notna(), "invoice_id"])
    assert not (written & restated)
    assert written == payable_ids(df)
    reasons = result.skipped.set_index("invoice_id")["reason"]
    assert reasons["RCPT-1"] == "not payable (payment receipt)"
    assert reasons["TAXINV-1"] == "not payable (tax invoice)"


# --------------------------------------------------------------------------------------------
# finding_id
# --------------------------------------------------------------------------------------------


def test_finding_ids_are_stable_unique_and_name_the_check_invoice_and_view():
    org = build_organization(seed=7, accounts=12, months=3, today="2026-11-05", anomalies=True)
    df = schema.to_frame(org.invoices)
    first, second = reconcile_invoices(df), reconcile_invoices(df.sample(frac=1, random_state=3))
    assert first["finding_id"].is_unique
    assert sorted(first["finding_id"]) == sorted(second["finding_id"])
    for r in first.itertuples(index=False):
        if pd.notna(r.invoice_id):
            expected = f"{r.check}:{r.invoice_id}" + (f":{r.view}" if pd.notna(r.view) else "")
        else:
            expected = f"{r.check}:{r.account_id}:{r.billing_period}"
        assert r.finding_id == expected


# --------------------------------------------------------------------------------------------
# Mapping
# --------------------------------------------------------------------------------------------


def test_a_mapping_file_books_each_invoicing_entity(clean, tmp_path):
    entity = clean["invoicing_entity"].dropna().iat[0]
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(
        f'"*":\n  gl_account: "6300"\n"{entity}":\n  supplier: AWS-MAPPED\n  tax_code: RC\n'
    )
    export_ap(clean, tmp_path / "ap.csv", mapping=mapping)
    for r in rows_of(tmp_path / "ap.csv"):
        assert r["gl_account"] == "6300"
        mapped = r["invoicing_entity"] == entity
        assert r["supplier"] == ("AWS-MAPPED" if mapped else r["invoicing_entity"])
        assert r["tax_code"] == ("RC" if mapped else "")
    csv_map = tmp_path / "mapping.csv"
    csv_map.write_text(f'invoicing_entity,supplier\n"{entity}",FROM-CSV\n')
    assert load_mapping(csv_map).booking(entity).supplier == "FROM-CSV"
    assert load_mapping(csv_map).booking(entity).gl_account == "6100"  # the documented default


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('"AWS":\n  suplier: X\n', "unknown key 'suplier'"),
        ("- a\n- b\n", "expected a mapping"),
        ('"AWS": [1, 2]\n', "must be a mapping"),
    ],
)
def test_a_bad_mapping_is_refused_with_the_fix(clean, tmp_path, text, fragment):
    path = tmp_path / "mapping.yml"
    path.write_text(text)
    with pytest.raises(InvalidArgumentError, match=fragment):
        export_ap(clean, tmp_path / "ap.csv", mapping=path)
    with pytest.raises(InvalidArgumentError, match="no such file"):
        export_ap(clean, tmp_path / "ap.csv", mapping=tmp_path / "nope.yml")


def test_the_fleet_file_ap_section_gives_site_unit_source_and_mapping(clean, tmp_path):
    from invoicekit.errors import ConfigError
    from invoicekit.fleet import load_fleet

    entity = clean["invoicing_entity"].dropna().iat[0]
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(
        'accounts:\n  - id: "111111111111"\n'
        "ap:\n  supplier_site: SITE-1\n  business_unit: BU-1\n  source: AWS-SRC\n"
        f'  mapping:\n    "{entity}":\n      supplier: FLEET-SUPPLIER\n'
    )
    result = export_ap(clean, tmp_path / "ora", "oracle-ap", fleet=fleet)
    headers = rows_of(result.files[0])
    assert {h["VENDOR_SITE_CODE"] for h in headers} == {"SITE-1"}
    assert {h["OPERATING_UNIT"] for h in headers} == {"BU-1"}
    assert {h["SOURCE"] for h in headers} == {"AWS-SRC"}
    by_num = {h["INVOICE_NUM"]: h for h in headers}
    entities = clean.drop_duplicates("invoice_id").set_index("invoice_id")["invoicing_entity"]
    for num, h in by_num.items():
        assert h["VENDOR_NAME"] == ("FLEET-SUPPLIER" if entities[num] == entity else entities[num])
    # options win over the fleet file
    again = export_ap(clean, tmp_path / "ora2", "oracle-ap", fleet=fleet, supplier_site="OPT",
                      reexport=True)  # fmt: skip
    assert {h["VENDOR_SITE_CODE"] for h in rows_of(again.files[0])} == {"OPT"}
    # a misspelt key in the ap: section is refused with the line and the known keys
    fleet.write_text('accounts:\n  - id: "111111111111"\nap:\n  supplier_sit: X\n')
    with pytest.raises(ConfigError, match=r"fleet.yml:4: ap: unknown key 'supplier_sit'"):
        load_fleet(fleet)


def test_the_fleet_file_may_name_a_mapping_file_beside_it(clean, tmp_path):
    from invoicekit.errors import ConfigError
    from invoicekit.fleet import load_fleet

    entity = clean["invoicing_entity"].dropna().iat[0]
    (tmp_path / "ap-mapping.csv").write_text(f'invoicing_entity,supplier\n"{entity}",FROM-FILE\n')
    fleet = tmp_path / "fleet.yml"
    fleet.write_text('accounts:\n  - id: "111111111111"\nap:\n  mapping: ap-mapping.csv\n')
    assert load_fleet(fleet).ap["mapping"] == str(tmp_path / "ap-mapping.csv")
    export_ap(clean, tmp_path / "ap.csv", fleet=fleet)
    suppliers = {r["invoicing_entity"]: r["supplier"] for r in rows_of(tmp_path / "ap.csv")}
    assert suppliers[entity] == "FROM-FILE"
    fleet.write_text('accounts:\n  - id: "111111111111"\nap:\n  mapping: missing.csv\n')
    with pytest.raises(ConfigError, match="no such file"):
        load_fleet(fleet)
    bad = tmp_path / "bad.csv"
    bad.write_text("invoicing_entity,gl_acount\n*,6100\n")
    with pytest.raises(InvalidArgumentError, match="unknown column 'gl_acount'"):
        load_mapping(bad)
