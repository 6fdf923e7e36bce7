"""``invoicekit changes``: what changed in a closed month since its close pack.

Pure tests compare two organizations' frames with :func:`diff_invoices`; wire tests close a
month against a sandbox at one date (a minimal pack with the documented layout: summaries,
archive manifest, run.json), then read it again from a sandbox some weeks later.
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from invoicekit import clock, months, schema
from invoicekit._money import format_money
from invoicekit.changes import CHANGE_COLUMNS, changes_since_close, diff_invoices
from invoicekit.cli import main
from invoicekit.sandbox.org import LATE_EVENT_CHANGES, build_organization

T1 = date(2026, 11, 10)  # October is closed on the 10th of November...
T2 = date(2026, 12, 15)  # ...and looked at again five weeks later
MONTH = "2026-10"
QUIET = "2026-08"  # its late events all happened before T1


def _frame(org, month: str):
    df = schema.to_frame(org.invoices, account_names={a.account_id: a.name for a in org.accounts})
    return df[(df["billing_period"].astype(str) == month).to_numpy()].reset_index(drop=True)


def _docs(org, df):
    return [
        {"invoice_id": d.invoice_id, "document_id": d.document_id, "document_type": d.document_type}
        for iid in df["invoice_id"]
        for d in org.documents_for(iid)
    ]


def _expected(org_after, month: str, since: date) -> set[tuple[str, str]]:
    """(change, invoice id) of every late event of ``month`` dated on or after ``since``."""
    return {
        (LATE_EVENT_CHANGES[e["kind"]], e["invoice_id"])
        for e in org_after.late_events
        if e["billing_period"] == month and e["date"][:10] >= since.isoformat()
    }


# --------------------------------------------------------------------------------------------
# diff_invoices (pure)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def orgs():
    kw = {"seed": 7, "accounts": 12, "months": 4}
    return build_organization(today=T1, **kw), build_organization(today=T2, **kw)


def test_diff_of_two_dates_lists_exactly_the_late_events_between(orgs):
    a, b = orgs
    before, after = _frame(a, MONTH), _frame(b, MONTH)
    out = diff_invoices(
        before, after, documents_before=_docs(a, before), documents_after=_docs(b, after)
    )
    assert list(out.columns) == CHANGE_COLUMNS
    got = set(zip(out["change"], out["invoice_id"], strict=True))
    expected = _expected(b, MONTH, T1)
    assert {c for c, _ in expected} >= {"added", "cancelled", "new_document", "changed"}
    assert got == expected
    # ordered by account, then invoice
    keys = list(zip(out["account_id"], out["invoice_id"], strict=True))
    assert keys == sorted(keys)


def test_a_late_credit_memo_is_described_with_its_amount_date_account_and_original(orgs):
    a, b = orgs
    out = diff_invoices(_frame(a, MONTH), _frame(b, MONTH))
    (memo_event,) = [
        e for e in b.late_events if e["kind"] == "credit_memo" and e["billing_period"] == MONTH
    ]
    (row,) = out[out["invoice_id"] == memo_event["invoice_id"]].to_dict("records")
    (memo,) = b.invoices_by_id(memo_event["invoice_id"])
    name = b.account(memo["AccountId"]).name
    amount = format_money(Decimal(memo["BaseCurrencyAmount"]["TotalAmount"]), "USD", code=True)
    assert row["change"] == "added" and row["kind"] == "credit memo"
    assert row["description"] == (
        f"Credit memo {memo['InvoiceId']} ({amount}) was issued on {memo_event['date'][:10]} "
        f"for account {name} ({memo['AccountId']}), against invoice {memo['OriginalInvoiceId']}."
    )


def test_a_restated_amount_is_one_row_per_field_with_exact_old_and_new_values(orgs):
    a, b = orgs
    (event,) = [
        e for e in b.late_events if e["kind"] == "amount_restated" and e["billing_period"] == MONTH
    ]
    (old,) = a.invoices_by_id(event["invoice_id"])
    (new,) = b.invoices_by_id(event["invoice_id"])
    out = diff_invoices(_frame(a, MONTH), _frame(b, MONTH))
    rows = out[out["invoice_id"] == event["invoice_id"]].set_index("field")
    assert set(rows["change"]) == {"changed"}
    o, n = old["BaseCurrencyAmount"]["TotalAmount"], new["BaseCurrencyAmount"]["TotalAmount"]
    assert Decimal(rows.loc["base_total", "old"]) == Decimal(o)
    assert Decimal(rows.loc["base_total", "new"]) == Decimal(n)
    assert format_money(Decimal(n), "USD", code=True) in rows.loc["base_total", "description"]


def test_equal_amounts_with_other_digits_are_not_a_change_and_one_cent_is():
    rec = {
        "AccountId": "100000000001",
        "InvoiceId": "E-1",
        "InvoiceType": "INVOICE",
        "BillingPeriod": {"Year": 2026, "Month": 10},
        "BaseCurrencyAmount": {"CurrencyCode": "USD", "TotalAmount": "10.00"},
    }
    same = {**rec, "BaseCurrencyAmount": {"CurrencyCode": "USD", "TotalAmount": "10.0"}}
    cent = {**rec, "BaseCurrencyAmount": {"CurrencyCode": "USD", "TotalAmount": "10.01"}}
    assert diff_invoices(schema.to_frame([rec]), schema.to_frame([same])).empty
    out = diff_invoices(schema.to_frame([rec]), schema.to_frame([cent]))
    assert out[["change", "field", "old", "new"]].values.tolist() == [
        ["changed", "base_total", "10", "10.01"]
    ]
    # a renamed account (the fleet's label) is not a change of the invoice
    renamed = schema.to_frame([rec], account_names={"100000000001": "Retail Europe"})
    assert diff_invoices(schema.to_frame([rec]), renamed).empty
    gone = diff_invoices(schema.to_frame([rec]), schema.to_frame([]))
    assert gone["change"].tolist() == ["removed"]


def test_a_pack_written_before_a_column_was_added_shows_no_change_for_it():
    rec = {
        "AccountId": "100000000003",
        "InvoiceId": "E-2",
        "InvoiceType": "INVOICE",
        "BillingPeriod": {"Year": 2026, "Month": 10},
        "BillSourceAccounts": ["100000000003"],
        "BaseCurrencyAmount": {"CurrencyCode": "USD", "TotalAmount": "10.00"},
    }
    now = schema.to_frame([rec])
    for col in schema.ADDED_COLUMNS:  # as an old close pack's parquet loads: the column null
        old = now.copy()
        old[col] = None
        assert diff_invoices(old, now).empty
        # a value that really changed is still a change
        other = now.copy()
        other[col] = "100000000009"
        assert diff_invoices(other, now)["field"].tolist() == [col]


def test_an_old_month_whose_events_all_happened_before_the_close_has_no_change(orgs):
    a, b = orgs
    assert not _expected(b, QUIET, T1)
    before, after = _frame(a, QUIET), _frame(b, QUIET)
    assert len(before)
    out = diff_invoices(
        before, after, documents_before=_docs(a, before), documents_after=_docs(b, after)
    )
    assert out.empty


# --------------------------------------------------------------------------------------------
# Close pack → later sandbox → changes (wire)
# --------------------------------------------------------------------------------------------


def _pack(sb, dest, month: str, closed_at: str):
    """A minimal close pack with the documented layout."""
    from invoicekit.archive import download_invoice_pdfs
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries

    fleet = load_fleet(sb.fleet_config)
    df = read_invoice_summaries(fleet, month, month, progress=False)
    pack = dest / month
    pack.mkdir(parents=True)
    schema.to_parquet(df, pack / "summaries.parquet")
    download_invoice_pdfs(df, pack / "archive", fleet=fleet, progress=False)
    (pack / "run.json").write_text(json.dumps({"month": month, "closed_at": closed_at}))
    return pack


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    """October and August closed against the sandbox of T1."""
    from invoicekit.sandbox import start

    dest = tmp_path_factory.mktemp("close")
    with start(today=T1.isoformat(), accounts=12, months=4) as sb:
        return {
            MONTH: _pack(sb, dest, MONTH, "2026-11-10T09:00:00Z"),
            QUIET: _pack(sb, dest, QUIET, "2026-11-10T09:00:00Z"),
        }


def test_changes_cli_finds_each_kind_of_late_event_after_the_close(
    closed, make_sandbox, tmp_path, capsys
):
    sb = make_sandbox(today=T2.isoformat(), accounts=12, months=4)
    out_csv = tmp_path / "changes.csv"
    code = main(
        ["changes", "--config", str(sb.fleet_config), "--close", str(closed[MONTH]),
         "--output", str(out_csv), "--no-progress"]
    )  # fmt: skip
    stdout = capsys.readouterr().out
    assert code == 1, stdout
    with open(out_csv, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == CHANGE_COLUMNS
    expected = _expected(sb.org, MONTH, T1)
    assert {(r["change"], r["invoice_id"]) for r in rows} == expected
    by_kind = {e["kind"]: e for e in sb.org.late_events if e["billing_period"] == MONTH}
    assert f"Credit memo {by_kind['credit_memo']['invoice_id']} (" in stdout
    assert f"{by_kind['tax_cancelled']['invoice_id']} (" in stdout and "was cancelled" in stdout
    assert by_kind["supplemental_document"]["document_id"] in stdout
    assert f"Invoice {by_kind['amount_restated']['invoice_id']} of account" in stdout
    assert (
        stdout.strip()
        .splitlines()[-1]
        .startswith(f"{months.month_words(MONTH)}: {len(expected)} changes since")
    )


def test_changes_cli_on_an_unchanged_month_exits_0(closed, make_sandbox, capsys):
    sb = make_sandbox(today=T2.isoformat(), accounts=12, months=4)
    code = main(["changes", "--config", str(sb.fleet_config), "--close", str(closed[QUIET])])
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    # the pack was closed at 2026-11-10T09:00:00Z (see `closed`)
    assert stdout.strip() == (
        f"{months.month_words(QUIET)}: nothing changed since the close on 2026-11-10 09:00 UTC."
    )


def test_an_account_that_cannot_be_read_is_named_and_the_others_reported(
    closed, make_sandbox, capsys
):
    sb = make_sandbox(today=T2.isoformat(), accounts=12, months=4, deny_accounts=("100000000006",))
    report = changes_since_close(closed[MONTH], fleet=sb.fleet_config)
    assert report.exit_code == 3 and not report.ok
    assert [f["account_id"] for f in report.failures] == ["100000000006"]
    expected = {
        x for x in _expected(sb.org, MONTH, T1)
        if sb.org.invoices_by_id(x[1])[0]["AccountId"] != "100000000006"
    }  # fmt: skip
    assert set(zip(report.changes["change"], report.changes["invoice_id"], strict=True)) == expected
    assert any("100000000006" in line and "could not be read" in line for line in report.summary())


def test_changes_from_the_store_alone(closed, make_sandbox, tmp_path, capsys):
    from invoicekit.loader import read_invoice_summaries
    from invoicekit.store import Store

    store = tmp_path / "store"
    # each retrieval at its own business time (the store's versions carry it), whatever the
    # wall clock or INVOICEKIT_NOW say
    early = make_sandbox(today=T1.isoformat(), accounts=12, months=4)
    with clock.pinned(f"{T1.isoformat()}T09:00:00Z"):
        read_invoice_summaries(early.fleet_config, MONTH, MONTH, store=store, progress=False)
    since = max(e["retrieved_at"] for e in Store(store).index.values())  # the last account
    late = make_sandbox(today=T2.isoformat(), accounts=12, months=4)
    with clock.pinned(f"{T2.isoformat()}T09:00:00Z"):
        read_invoice_summaries(
            late.fleet_config, MONTH, MONTH, store=store, refresh=True, progress=False
        )
    # documents are not in the store: every other kind of change is found
    expected = {x for x in _expected(late.org, MONTH, T1) if x[0] != "new_document"}
    code = main(["changes", "--store", str(store), "--month", MONTH, "--since", since])
    stdout = capsys.readouterr().out
    assert code == 1
    report = changes_since_close(None, store=store, month=MONTH, since=since)
    assert set(zip(report.changes["change"], report.changes["invoice_id"], strict=True)) == expected
    assert "documents not compared" in stdout.splitlines()[-1]
    # the close pack against the store: the same changes
    pack_report = changes_since_close(closed[MONTH], store=store)
    got = set(zip(pack_report.changes["change"], pack_report.changes["invoice_id"], strict=True))
    assert got == expected
    # and the store keeps both versions of the restated invoice
    (restated,) = [
        e["invoice_id"] for e in late.org.late_events
        if e["kind"] == "amount_restated" and e["billing_period"] == MONTH
    ]  # fmt: skip
    assert Store(store).history(invoice_id=restated)["version"].tolist() == [1, 2]


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["changes"], "--close"),
        (["changes", "--config", "fleet.yml"], "--close"),
        (["changes", "--store", "s", "--month", "2026-10", "--since", "yesterday"], "--since"),
        (["changes", "--close", "no-such-pack", "--store", "s"], "--close"),
        (["changes", "--store", "s", "--month", "2026-13", "--since", "2026-11-10"], "--month"),
    ],
)
def test_bad_input_exits_2_naming_the_flag(argv, flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses a malformed value itself
        code = exc.code
    assert code == 2
    assert flag in capsys.readouterr().err


def test_the_pack_time_and_month_come_from_run_json(closed):
    from invoicekit.changes import read_close_pack

    pack = read_close_pack(closed[MONTH])
    assert pack.month == MONTH and pack.closed_at.isoformat() == "2026-11-10T09:00:00+00:00"
    assert pack.documents is not None and len(pack.documents)
    assert (pack.closed_at - timedelta(days=0)).tzinfo is not None
