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


# --------------------------------------------------------------------------------------------
# Versions: every content of an invoice is kept with its retrieval time
# --------------------------------------------------------------------------------------------

T_MAY = datetime(2026, 5, 20, tzinfo=UTC)
T_JUN = datetime(2026, 6, 20, tzinfo=UTC)


def test_a_changed_invoice_adds_a_version_and_an_unchanged_one_none(tmp_path):
    store = Store(tmp_path / "s")
    _save(store, [_result(A, MAR, [_record(A, "E-3", 2026, 3, "30.00")], T_APR30)])
    _save(store, [_result(A, MAR, [_record(A, "E-3", 2026, 3, "30.00")], T_MAY)])  # same
    assert len(store.history()) == 1
    _save(store, [_result(A, MAR, [_record(A, "E-3", 2026, 3, "31.50")], T_JUN)])  # restated
    hist = Store(tmp_path / "s").history(invoice_id="E-3")
    assert list(hist.columns) == [*schema.COLUMNS, "retrieved_at", "version", "current"]
    assert hist["version"].tolist() == [1, 2]
    assert hist["base_total"].tolist() == [Decimal("30.00"), Decimal("31.50")]
    assert hist["retrieved_at"].tolist() == [T_APR30, T_JUN]
    assert hist["current"].tolist() == [False, True]
    # load() keeps its meaning: the latest version only
    assert Store(tmp_path / "s").load()["base_total"].tolist() == [Decimal("31.50")]


def test_an_equal_amount_written_with_other_digits_is_not_a_new_version(tmp_path):
    store = Store(tmp_path / "s")
    _save(store, [_result(A, MAR, [_record(A, "E-3", 2026, 3, "30.00")], T_APR30)])
    _save(store, [_result(A, MAR, [_record(A, "E-3", 2026, 3, "30.0")], T_MAY)])
    assert len(store.history(invoice_id="E-3")) == 1


def test_a_renamed_account_is_not_a_new_version(tmp_path):
    store = Store(tmp_path / "s")
    rec = _record(A, "E-3", 2026, 3, "30.00")
    _save(store, [_result(A, MAR, [rec], T_APR30)])
    frame = schema.to_frame([rec], account_names={A: "Retail Europe"})
    res = _result(A, MAR, [rec], T_MAY)
    store.save([res], frame, window_of_row=[f"billing_period/{A}/2026-03"])
    assert len(store.history()) == 1


def test_an_invoice_that_disappeared_is_not_current_but_stays_in_history(tmp_path):
    store = Store(tmp_path / "s")
    first = [_record(A, "E-3", 2026, 3, "30.00"), _record(A, "X-1", 2026, 3, "5.00")]
    _save(store, [_result(A, MAR, first, T_APR30)])
    _save(store, [_result(A, MAR, [_record(A, "E-3", 2026, 3, "30.00")], T_MAY)])
    assert store.load()["invoice_id"].tolist() == ["E-3"]
    hist = store.history()
    assert set(hist["invoice_id"]) == {"E-3", "X-1"}
    assert hist.set_index("invoice_id")["current"].to_dict() == {"E-3": True, "X-1": False}
    # the store as it was before the second retrieval still holds both
    assert sorted(store.as_of(T_APR30)["invoice_id"]) == ["E-3", "X-1"]
    assert store.as_of(datetime(2026, 4, 1, tzinfo=UTC)).empty


def test_history_filters_by_month_and_load_windows_serves_the_latest_version(tmp_path):
    store = Store(tmp_path / "s")
    _save(
        store,
        [
            _result(A, JAN, [_record(A, "E-1", 2026, 1, "10.00")], T_APR30),
            _result(A, MAR, [_record(A, "E-3", 2026, 3, "30.00")], T_APR30),
        ],
    )
    _save(store, [_result(A, MAR, [_record(A, "E-3", 2026, 3, "33.00")], T_MAY)])
    assert store.history(month="2026-03")["base_total"].tolist() == [
        Decimal("30.00"),
        Decimal("33.00"),
    ]
    assert store.history(month="2026-01")["invoice_id"].tolist() == ["E-1"]
    served = store.load_windows({A: [MAR]})
    assert served["base_total"].tolist() == [Decimal("33.00")]
    assert store.history(invoice_id="nope").empty


def test_a_version_1_store_is_read_and_upgraded_on_the_next_save(tmp_path):
    import pandas as pd

    root = tmp_path / "s"
    root.mkdir()
    recs = [_record(A, "E-1", 2026, 1, "10.00"), _record(A, "E-3", 2026, 3, "30.00")]
    frame = schema.to_frame(recs, account_names={A: "Retail EU"})
    frame["store_by"] = pd.array(["billing_period"] * 2, dtype="string")
    frame["store_window"] = pd.array(["2026-01", "2026-03"], dtype="string")
    frame["retrieved_at"] = pd.to_datetime([T_APR30, T_APR30], utc=True)
    schema.to_parquet(frame, root / "summaries.parquet")
    windows = {
        f"billing_period/{A}/{w}": {
            "retrieved_at": "2026-04-30T00:00:00Z", "invoices": 1, "api_calls": 1, "raw": "x"
        }
        for w in ("2026-01", "2026-03")
    }  # fmt: skip
    (root / "store.json").write_text(
        json.dumps({"format": "invoicekit-store/1", "settle_days": 45, "windows": windows})
    )
    old = Store(root)
    assert sorted(old.load()["invoice_id"]) == ["E-1", "E-3"]
    assert old.windows_to_fetch([A], [JAN, MAR], now=T_JUN) == {A: [MAR]}
    _save(old, [_result(A, MAR, [_record(A, "E-3", 2026, 3, "35.00")], T_JUN)])
    upgraded = Store(root)
    assert json.loads((root / "store.json").read_text())["format"] == "invoicekit-store/2"
    assert upgraded.history(invoice_id="E-3")["base_total"].tolist() == [
        Decimal("30.00"),
        Decimal("35.00"),
    ]
    assert sorted(upgraded.load()["invoice_id"]) == ["E-1", "E-3"]


# -- stores written before schema.bill_source_account ---------------------------------------------

# The digest invoicekit 0.3 (before ``bill_source_account`` existed) stored for
# ``_record(A, "E-1", 2026, 1, "10.00")`` with ``BillSourceAccounts [A]``, count 3: stores on disk
# hold such digests, so they must not change.
DIGEST_BEFORE_BILL_SOURCE_ACCOUNT = "d7cb7ba9e0988ef591f8ee5b"


def _with_source(record: dict, source: str | None, count: int = 3) -> dict:
    out = dict(record, BillSourceAccountsTotalCount=count)
    if source is not None:
        out["BillSourceAccounts"] = [source]
    return out


def test_stored_digests_are_unchanged_by_the_bill_source_account_column():
    from invoicekit.store import content_digests

    frame = schema.to_frame([_with_source(_record(A, "E-1", 2026, 1, "10.00"), A)])
    assert frame["bill_source_account"].tolist() == [A]
    assert content_digests(frame, added=False) == [DIGEST_BEFORE_BILL_SOURCE_ACCOUNT]
    # a null bill_source_account counts as the column not being there
    assert content_digests(frame.assign(bill_source_account=None)) == [
        DIGEST_BEFORE_BILL_SOURCE_ACCOUNT
    ]
    assert content_digests(frame) != [DIGEST_BEFORE_BILL_SOURCE_ACCOUNT]  # a known one counts


def _drop_column_from_store(root) -> None:
    import pyarrow.parquet as pq

    path = root / "summaries.parquet"
    table = pq.read_table(path)
    pq.write_table(table.drop(["bill_source_account"]), path)
    assert "bill_source_account" not in pq.read_schema(path).names


def test_a_store_written_before_the_column_loads_it_null_and_a_refetch_fills_it_in(tmp_path):
    store = Store(tmp_path / "s")
    old_recs = [
        _with_source(_record(A, "E-1", 2026, 1, "10.00"), None),
        _with_source(_record(A, "E-2", 2026, 1, "20.00"), None),
    ]
    _save(store, [_result(A, JAN, old_recs, T_APR30)])
    _drop_column_from_store(store.path)

    old = Store(store.path)
    loaded = old.load()
    assert list(loaded.columns) == schema.COLUMNS
    assert loaded["bill_source_account"].isna().all()

    # The same invoices again, now with their bill source account, and E-2 also re-priced.
    again = [
        _with_source(_record(A, "E-1", 2026, 1, "10.00"), A),
        _with_source(_record(A, "E-2", 2026, 1, "21.00"), B),
    ]
    _save(old, [_result(A, JAN, again, T_JUN)])
    after = Store(store.path)
    e1 = after.history(invoice_id="E-1")
    assert len(e1) == 1, "filling in bill_source_account is no new version"
    assert e1["bill_source_account"].tolist() == [A]
    assert e1["retrieved_at"].tolist() == [pd_ts(T_APR30)]  # still the first retrieval
    e2 = after.history(invoice_id="E-2")
    assert e2["base_total"].tolist() == [Decimal("20.00"), Decimal("21.00")]
    assert e2["current"].tolist() == [False, True]
    current = after.load().set_index("invoice_id")
    assert current["bill_source_account"].to_dict() == {"E-1": A, "E-2": B}
    # two retrievals (E-2 changed); the first one now knows E-1's bill source account
    retrievals = after.index[f"billing_period/{A}/{JAN.key}"]["retrievals"]
    assert len(retrievals) == 2
    first = after.as_of(T_APR30).set_index("invoice_id")["bill_source_account"]
    assert first["E-1"] == A and first.isna()["E-2"]


def pd_ts(t: datetime):
    import pandas as pd

    return pd.Timestamp(t)
