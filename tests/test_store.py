"""The local store: settle window, incremental plan, parquet rows, raw audit evidence."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from invoicekit import schema
from invoicekit.errors import InvalidArgumentError
from invoicekit.loader import WindowResult, split_windows
from invoicekit.store import DEFAULT_SETTLE_DAYS, Store

A, B = "100000000001", "100000000002"


def _record(account: str, invoice: str, year: int, month: int, total: str) -> dict:
    """A recorded-style InvoiceSummary as it travels on the wire."""
    issued = datetime(year + (month == 12), month % 12 + 1, 3, tzinfo=UTC).timestamp()
    return {
        "AccountId": account,
        "InvoiceId": invoice,
        "InvoiceType": "INVOICE",
        "BillingPeriod": {"Month": month, "Year": year},
        "IssuedDate": issued,
        "DueDate": issued + 30 * 86400,
        "Entity": {"InvoicingEntity": "Amazon Web Services, Inc.", "BillingEntity": "AWS"},
        "BaseCurrencyAmount": {
            "CurrencyCode": "USD",
            "TotalAmount": total,
            "TotalAmountBeforeTax": total,
            "AmountBreakdown": {"SubTotalAmount": total},
        },
    }


def _result(account, window, records, retrieved_at) -> WindowResult:
    body = json.dumps({"InvoiceSummaries": records}).encode()
    return WindowResult(
        account_id=account,
        window=window,
        records=records,
        retrieved_at=retrieved_at,
        api_calls=1,
        pages=[(retrieved_at, "req-" + window.key, body)],
    )


def _save(store: Store, results: list[WindowResult]) -> None:
    records, keys = [], []
    for r in results:
        for rec in r.records:
            records.append(rec)
            keys.append(f"{r.window.by}/{r.account_id}/{r.window.key}")
    frame = schema.to_frame(records, account_names={A: "Retail EU", B: "Payments"})
    store.save(results, frame, window_of_row=keys, account_names={A: "Retail EU", B: "Payments"})


JAN, FEB, MAR = split_windows("2026-01", "2026-03")
T_APR30 = datetime(2026, 4, 30, tzinfo=UTC)  # Jan and Feb settled (45 days), March not


def test_default_settle_window_is_45_days_after_month_end():
    assert DEFAULT_SETTLE_DAYS == 45
    s = Store("unused")
    assert s.settles_at(JAN) == datetime(2026, 3, 18, tzinfo=UTC)  # Feb 1 + 45 days


def test_an_empty_store_fetches_everything(tmp_path):
    plan = Store(tmp_path / "s").windows_to_fetch([A, B], [JAN, FEB, MAR], now=T_APR30)
    assert plan == {A: [JAN, FEB, MAR], B: [JAN, FEB, MAR]}


def test_settled_windows_are_skipped_unsettled_and_missing_ones_requeried(tmp_path):
    store = Store(tmp_path / "s")
    _save(
        store,
        [
            _result(A, JAN, [_record(A, "E-1", 2026, 1, "10.00")], T_APR30),
            _result(A, FEB, [_record(A, "E-2", 2026, 2, "20.00")], T_APR30),
            _result(A, MAR, [_record(A, "E-3", 2026, 3, "30.00")], T_APR30),
        ],
    )
    reopened = Store(tmp_path / "s")  # state lives on disk
    plan = reopened.windows_to_fetch([A, B], [JAN, FEB, MAR], now=T_APR30)
    assert plan[A] == [MAR]  # not settled yet: re-queried
    assert plan[B] == [JAN, FEB, MAR]  # never stored
    assert reopened.windows_to_fetch([A], [JAN, FEB, MAR], refresh=True, now=T_APR30) == {
        A: [JAN, FEB, MAR]
    }


def test_a_copy_fetched_before_the_month_settled_is_fetched_again(tmp_path):
    store = Store(tmp_path / "s")
    early = datetime(2026, 2, 10, tzinfo=UTC)  # January not settled then
    _save(store, [_result(A, JAN, [_record(A, "E-1", 2026, 1, "10.00")], early)])
    assert store.windows_to_fetch([A], [JAN], now=T_APR30) == {A: [JAN]}


def test_settle_days_is_configurable(tmp_path):
    store = Store(tmp_path / "s", settle_days=0)
    t = datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC)
    _save(store, [_result(A, MAR, [_record(A, "E-3", 2026, 3, "30.00")], t)])
    assert store.windows_to_fetch([A], [MAR], now=t) == {A: []}
    with pytest.raises(InvalidArgumentError, match="settle_days"):
        Store(tmp_path / "s", settle_days=-1)


def test_save_replaces_the_rows_of_a_refetched_window_and_keeps_the_others(tmp_path):
    store = Store(tmp_path / "s")
    _save(
        store,
        [
            _result(A, JAN, [_record(A, "E-1", 2026, 1, "10.00")], T_APR30),
            _result(A, MAR, [_record(A, "E-3", 2026, 3, "30.00")], T_APR30),
            _result(B, MAR, [_record(B, "E-9", 2026, 3, "90.00")], T_APR30),
        ],
    )
    # March of account A was re-queried: a credit memo appeared and the invoice changed.
    _save(
        store,
        [
            _result(
                A,
                MAR,
                [_record(A, "E-3", 2026, 3, "31.00"), _record(A, "C-1", 2026, 3, "-5.00")],
                T_APR30,
            )
        ],
    )
    df = Store(tmp_path / "s").load()
    assert list(df.columns) == schema.COLUMNS
    assert dict(df.dtypes) == schema.DTYPES
    got = {(r.account_id, r.invoice_id): r.base_total for r in df.itertuples()}
    assert got == {
        (A, "E-1"): Decimal("10.00"),
        (A, "E-3"): Decimal("31.00"),
        (A, "C-1"): Decimal("-5.00"),
        (B, "E-9"): Decimal("90.00"),
    }
    assert str(df.loc[df.invoice_id == "E-1", "billing_period"].iloc[0]) == "2026-01"
    assert str(df["issued_date"].dt.tz) == "UTC"


def test_load_windows_serves_only_the_asked_windows_with_current_names(tmp_path):
    store = Store(tmp_path / "s")
    _save(
        store,
        [
            _result(A, JAN, [_record(A, "E-1", 2026, 1, "10.00")], T_APR30),
            _result(A, FEB, [_record(A, "E-2", 2026, 2, "20.00")], T_APR30),
            _result(B, FEB, [], T_APR30),  # a window without invoices is stored too
        ],
    )
    df = store.load_windows({A: [FEB], B: [FEB]}, account_names={A: "Retail Europe"})
    assert df["invoice_id"].tolist() == ["E-2"]
    assert df["account_name"].tolist() == ["Retail Europe"]
    assert store.windows_to_fetch([B], [FEB], now=T_APR30) == {B: []}


def test_raw_responses_are_kept_verbatim_with_retrieval_time_and_no_credentials(tmp_path):
    store = Store(tmp_path / "s")
    rec = _record(A, "E-1", 2026, 1, "10.00")
    _save(store, [_result(A, JAN, [rec], T_APR30)])
    entry = store.index[f"billing_period/{A}/2026-01"]
    raw_path = tmp_path / "s" / entry["raw"]
    assert raw_path == tmp_path / "s" / "raw" / "billing_period" / A / "2026-01.json"
    evidence = json.loads(raw_path.read_text())
    assert evidence["account_id"] == A and evidence["account_name"] == "Retail EU"
    assert evidence["retrieved_at"] == "2026-04-30T00:00:00Z"
    assert evidence["request"]["Filter"] == {"BillingPeriod": {"Month": 1, "Year": 2026}}
    assert evidence["pages"][0]["request_id"] == "req-2026-01"
    assert evidence["pages"][0]["response"] == {"InvoiceSummaries": [rec]}  # as received
    text = raw_path.read_text()
    for secret in ("AKIA", "ASIA", "SecretAccessKey", "aws_secret", "SessionToken"):
        assert secret not in text
    assert entry["retrieved_at"] == "2026-04-30T00:00:00Z" and entry["invoices"] == 1


def test_issued_windows_are_stored_apart_from_billing_period_windows(tmp_path):
    store = Store(tmp_path / "s")
    (jan_issued,) = split_windows("2026-01", "2026-01", by="issued")
    _save(store, [_result(A, jan_issued, [_record(A, "E-0", 2025, 12, "7.00")], T_APR30)])
    assert store.windows_to_fetch([A], [JAN], now=T_APR30) == {A: [JAN]}
    assert store.windows_to_fetch([A], [jan_issued], now=T_APR30) == {A: []}
    assert (tmp_path / "s" / "raw" / "issued" / A / "2026-01.json").exists()


def test_a_file_or_a_foreign_directory_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InvalidArgumentError, match="not a directory"):
        Store(f)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "store.json").write_text('{"format": "something-else"}')
    with pytest.raises(InvalidArgumentError, match="not an invoicekit store"):
        Store(tmp_path / "other").windows_to_fetch([A], [JAN])


def test_an_empty_store_loads_an_empty_typed_frame(tmp_path):
    df = Store(tmp_path / "nothing").load()
    assert len(df) == 0 and list(df.columns) == schema.COLUMNS


def test_docstring_examples_run():
    import doctest

    import invoicekit.loader
    import invoicekit.store

    for module in (invoicekit.loader, invoicekit.store):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
