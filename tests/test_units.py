"""Invoice units and profiles read through the real sandbox over boto3 (issue 12).

Expectations come from the sandbox's ``Organization`` (its units at a moment, its profiles),
never from the code under test.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest

from invoicekit import clock, run_report, units
from invoicekit.errors import InvalidArgumentError
from invoicekit.units import (
    PROFILE_COLUMNS,
    UNIT_COLUMNS,
    load_profiles,
    load_units,
    month_end,
    read_invoice_profiles,
    read_invoice_units,
    unit_of_invoice,
    write_frame,
)

TODAY = "2026-11-25"
STRING = pd.ArrowDtype(pa.string())

# The contract, typed out from the brief (not derived from the code under test).
CONTRACT_UNIT_COLUMNS = [
    "payer_account_id", "payer_account_name", "invoice_unit_arn", "invoice_unit_name",
    "description", "invoice_receiver", "tax_inheritance_disabled", "member_account_id",
    "last_modified", "as_of",
]  # fmt: skip


def _pairs(org, payer: str, moment=None) -> set[tuple[str, str, str, str, bool]]:
    """(arn, name, receiver, member, tax flag) of the model's units at ``moment``."""
    out = set()
    for u in org.invoice_units(payer, moment):
        for m in u["Rule"]["LinkedAccounts"] or [None]:
            out.add((u["InvoiceUnitArn"], u["Name"], u["InvoiceReceiver"], m,
                     u["TaxInheritanceDisabled"]))  # fmt: skip
    return out


def _frame_pairs(df: pd.DataFrame, payer: str) -> set[tuple]:
    mine = df[df["payer_account_id"] == payer]
    return {
        (r.invoice_unit_arn, r.invoice_unit_name, r.invoice_receiver,
         None if pd.isna(r.member_account_id) else r.member_account_id,
         bool(r.tax_inheritance_disabled))
        for r in mine.itertuples()
    }  # fmt: skip


@pytest.fixture(scope="module")
def small(request):
    """3 payers x 24 months (two with units, one unit moves an account each October)."""
    from invoicekit.sandbox import start

    sb = start(today=TODAY, accounts=3, months=24)
    request.addfinalizer(sb.stop)
    return sb


def test_columns_are_exactly_the_contract():
    assert UNIT_COLUMNS == CONTRACT_UNIT_COLUMNS
    assert "tax_registration_number" in PROFILE_COLUMNS


def test_units_now_match_the_organization_one_row_per_unit_and_member(sandbox):
    with clock.pinned(TODAY):
        df = read_invoice_units(sandbox.fleet_config)
    org = sandbox.org
    assert list(df.columns) == UNIT_COLUMNS
    assert df["payer_account_id"].dtype == STRING and df["member_account_id"].dtype == STRING
    assert df["tax_inheritance_disabled"].dtype == "boolean"
    assert str(df["last_modified"].dtype) == "datetime64[ns, UTC]"
    assert (df["as_of"] == pd.Timestamp(TODAY, tz="UTC")).all()  # the fetch's business time
    with_units = [a.account_id for a in org.accounts if org.invoice_units(a.account_id)]
    assert len(with_units) >= 2
    assert sorted(df["payer_account_id"].unique()) == sorted(with_units)
    for payer in with_units:
        assert _frame_pairs(df, payer) == _pairs(org, payer)
    names = {a.account_id: a.name for a in org.accounts}
    assert (df["payer_account_name"] == df["payer_account_id"].map(names)).all()
    report = run_report(df)
    assert report.operation == "units" and report.ok and df.attrs["failures"] == []
    assert report.counts["invoice unit"] == df["invoice_unit_arn"].nunique()
    # one call per payer (each has fewer than 500 units), plus the role sessions
    assert report.extra["api_calls_by_operation"]["ListInvoiceUnits"] == len(org.accounts)


def _move_moments(org, payer: str) -> tuple[datetime, datetime]:
    """A moment just before and just after a change of the payer's units inside the range."""
    first = datetime(*org.periods[0], 1, tzinfo=UTC)
    changes = sorted(
        t for hist in org.unit_histories(payer).values() for t, _ in hist[1:]
        if datetime.fromtimestamp(t, UTC) > first
    )  # fmt: skip
    t = datetime.fromtimestamp(changes[0], UTC)
    return t.replace(microsecond=0) - pd.Timedelta(hours=1), t + pd.Timedelta(hours=1)


def test_as_of_shows_the_units_as_they_were_across_the_mid_range_change(small):
    org = small.org
    payer = next(a.account_id for a in org.accounts if len(org.unit_histories(a.account_id)) == 2)
    before, after = _move_moments(org, payer)
    assert _pairs(org, payer, before) != _pairs(org, payer, after)  # the change is real
    df = read_invoice_units(small.fleet_config, as_of=[before, after])
    assert sorted(df["as_of"].unique()) == [pd.Timestamp(before), pd.Timestamp(after)]
    for moment in (before, after):
        snap = df[df["as_of"] == pd.Timestamp(moment)]
        assert _frame_pairs(snap, payer) == _pairs(org, payer, moment)


def test_a_date_means_the_end_of_that_day(small):
    org = small.org
    payer = org.accounts[0].account_id
    df = read_invoice_units(small.fleet_config, as_of="2026-10-10")
    end = datetime(2026, 10, 10, 23, 59, 59, 999999, tzinfo=UTC)
    assert (df["as_of"] == pd.Timestamp(end)).all()
    assert _frame_pairs(df, payer) == _pairs(org, payer, end)


def test_months_take_one_snapshot_per_month_end_and_follow_a_unit_created_mid_range(small):
    org = small.org
    with clock.pinned(TODAY):
        df = read_invoice_units(small.fleet_config, months=("2025-05", "2025-07"))
    assert sorted(df["as_of"].unique()) == [month_end(m) for m in ("2025-05", "2025-06", "2025-07")]
    for a in org.accounts:
        for m in ("2025-05", "2025-06", "2025-07"):
            snap = df[df["as_of"] == month_end(m)]
            assert _frame_pairs(snap, a.account_id) == _pairs(
                org, a.account_id, month_end(m).to_pydatetime()
            )
    names_may = set(df.loc[df["as_of"] == month_end("2025-05"), "invoice_unit_name"])
    names_jun = set(df.loc[df["as_of"] == month_end("2025-06"), "invoice_unit_name"])
    assert names_jun - names_may, "a unit created in June 2025 shows from June's end on"


def test_unit_of_invoice_over_the_wire_follows_the_model(small):
    import invoicekit as ik

    org = small.org
    df = ik.read_invoice_summaries(small.fleet_config, "2025-09", "2026-02", progress=False)
    with clock.pinned(TODAY):
        snapshots = read_invoice_units(small.fleet_config, months=("2025-09", "2026-02"))
    monthly = df[(df["invoice_type"] == "INVOICE") & (df["bill_type"] == "ANNIVERSARY")]
    got = unit_of_invoice(monthly, snapshots).astype(object)
    want = monthly["invoice_id"].map(org.unit_of_invoice)
    assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in want]
    assert got.notna().any()


def test_a_denied_payer_is_reported_and_the_others_are_kept(make_sandbox, caplog):
    sb = make_sandbox(accounts=3, months=3)
    org = sb.org
    with_units = [a.account_id for a in org.accounts if org.invoice_units(a.account_id)]
    denied = with_units[0]
    sb.deny(denied)
    with caplog.at_level(logging.WARNING, logger="invoicekit.units"):
        df = read_invoice_units(sb.fleet_config)
    report = run_report(df)
    assert [f.account_id for f in report.failures] == [denied]
    f = report.failures[0]
    assert f.code == "AccessDeniedException" and f.operation == "ListInvoiceUnits"
    assert f.account_name == org.account(denied).name and not f.config
    assert f"account {denied}" in f.message and "\n" not in f.message
    assert df.attrs["failures"][0]["account_id"] == denied
    assert denied not in set(df["payer_account_id"])
    for payer in with_units[1:]:
        assert _frame_pairs(df, payer) == _pairs(org, payer)
    assert any(denied in r.getMessage() for r in caplog.records)


def test_pages_of_list_invoice_units_are_followed(make_sandbox, monkeypatch):
    sb = make_sandbox(accounts=3, months=3)
    org = sb.org
    monkeypatch.setattr(units, "MAX_RESULTS", 1)
    df = read_invoice_units(sb.fleet_config)
    calls = sb.stats()["requests"]["ListInvoiceUnits"]
    for a in org.accounts:
        n = len(org.invoice_units(a.account_id))
        assert _frame_pairs(df, a.account_id) == _pairs(org, a.account_id)
        assert calls.get(a.account_id, 0) == max(1, n)  # one page per unit (the last has no token)


def test_profiles_of_payers_and_receivers_match_the_model_and_mask_sensitive_members(small):
    org = small.org
    with clock.pinned(TODAY):
        u = read_invoice_units(small.fleet_config)
    masked = read_invoice_profiles(small.fleet_config, units=u)
    assert list(masked.columns) == PROFILE_COLUMNS
    expected = {(a.account_id, a.account_id) for a in org.accounts}
    expected |= {(p, r) for p, r in zip(u["payer_account_id"], u["invoice_receiver"], strict=True)}
    assert set(zip(masked["payer_account_id"], masked["account_id"], strict=True)) == expected
    for row in masked.itertuples():
        wire = org.invoice_profiles[row.account_id]
        assert row.receiver_name == wire["ReceiverName"] and row.issuer == wire["Issuer"]
        assert row.tax_registration_number == units.MASK
        assert row.city == units.MASK and row.receiver_email == units.MASK
    revealed = read_invoice_profiles(small.fleet_config, units=u, reveal=True)
    for row in revealed.itertuples():
        wire = org.invoice_profiles[row.account_id]
        assert row.tax_registration_number == wire["TaxRegistrationNumber"]
        assert row.country_code == wire["ReceiverAddress"]["CountryCode"]
    # without units, the receivers are found by listing the units
    listed = read_invoice_profiles(small.fleet_config)
    assert set(listed["account_id"]) == set(masked["account_id"])
    assert run_report(listed).extra["api_calls_by_operation"]["ListInvoiceUnits"] == len(
        org.accounts
    )


def test_profiles_are_asked_in_batches_of_the_models_maximum(make_sandbox, monkeypatch):
    import botocore.session

    model = botocore.session.get_session().get_service_model("invoicing")
    limit = model.operation_model("BatchGetInvoiceProfile").input_shape.members["AccountIds"]
    assert units._batch_size() == limit.metadata["max"]
    sb = make_sandbox(accounts=2, months=2)
    payer = sb.org.accounts[0].account_id
    members = [m.account_id for m in sb.org.members[payer]]
    assert len(members) >= 3
    monkeypatch.setattr(units, "_batch_size", lambda: 2)
    df = read_invoice_profiles(sb.fleet_config, {payer: members})
    assert sorted(df.loc[df.payer_account_id == payer, "account_id"]) == sorted(members)
    calls = sb.stats()["requests"]["BatchGetInvoiceProfile"]
    assert calls[payer] == -(-len(members) // 2)
    assert calls.get(sb.org.accounts[1].account_id, 0) == 0  # asked for nothing


def test_sensitive_values_never_reach_logs_messages_reprs_or_progress(make_sandbox, caplog, capsys):
    sb = make_sandbox(accounts=3, months=2)
    org = sb.org
    secrets = [p["TaxRegistrationNumber"] for p in org.invoice_profiles.values()]
    secrets += [p["ReceiverEmail"] for p in org.invoice_profiles.values() if p.get("ReceiverEmail")]
    sb.deny(org.accounts[1].account_id)
    with caplog.at_level(logging.DEBUG):
        df = read_invoice_profiles(sb.fleet_config, reveal=True, progress=True)
    report = run_report(df)
    assert report.failures  # the denied payer
    seen = (
        caplog.text + repr(report) + str(df.attrs) + capsys.readouterr().err
        + repr(units.mask_sensitive(df))
    )  # fmt: skip
    assert set(df["tax_registration_number"].dropna()) <= set(secrets)  # revealed in the frame
    for s in secrets:
        assert s not in seen


def test_files_round_trip_and_a_profiles_file_never_holds_sensitive_values(small, tmp_path):
    org = small.org
    with clock.pinned(TODAY):
        u = read_invoice_units(small.fleet_config)
    for name in ("units.csv", "units.parquet"):
        write_frame(u, tmp_path / name)
        back = load_units(tmp_path / name)
        pd.testing.assert_frame_equal(back, u.reset_index(drop=True), check_like=False)
    p = read_invoice_profiles(small.fleet_config, units=u, reveal=True)
    for name in ("profiles.csv", "profiles.parquet"):
        write_frame(p, tmp_path / name)
        data = (tmp_path / name).read_bytes()
        for prof in org.invoice_profiles.values():
            assert prof["TaxRegistrationNumber"].encode() not in data
        back = load_profiles(tmp_path / name)
        assert (back["tax_registration_number"] == units.MASK).all()
        assert back["receiver_name"].tolist() == p["receiver_name"].tolist()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"as_of": "yesterday"}, "as_of 'yesterday' is not an ISO date"),
        ({"months": "2026-01"}, "months='2026-01' must be (first, last)"),
        ({"as_of": "2026-01-01", "months": ("2026-01", "2026-02")}, "give as_of or months"),
        ({"max_workers": 0}, "max_workers=0 is not a positive integer"),
        ({"rate_per_account": 0.01}, "rate_per_account=0.01"),
    ],
)
def test_bad_arguments_are_refused_before_any_call(kwargs, fragment):
    with pytest.raises(InvalidArgumentError) as info:
        read_invoice_units(["111111111111"], **kwargs)
    assert fragment in str(info.value)


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(units, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 5


def test_throttling_and_server_errors_are_survived_and_every_attempt_counted(
    make_sandbox, monkeypatch
):
    from botocore.retries import standard

    from invoicekit.sandbox import Faults

    # botocore's exponential back-off without its sleeps: retry behaviour, not wall time
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.0)
    sb = make_sandbox(
        accounts=3,
        months=3,
        faults=Faults(throttle_rate=0.4, error_rate=0.1, operations=["ListInvoiceUnits"]),
    )
    # no pacing: a throttled payer's pacer would slow it to 0.5 requests/s (its job, not this test's)
    df = read_invoice_units(sb.fleet_config, rate_per_account=None)
    report = run_report(df)
    assert report.failures == []
    for a in sb.org.accounts:
        assert _frame_pairs(df, a.account_id) == _pairs(sb.org, a.account_id)
    stats = sb.stats()
    sent = sum(stats["requests"]["ListInvoiceUnits"].values())
    assert stats["throttled"] + stats["errors"] > 0  # the faults really happened
    assert report.extra["api_calls_by_operation"]["ListInvoiceUnits"] == sent


def test_payers_are_queried_on_a_bounded_pool(monkeypatch):
    import threading
    import time

    from invoicekit.fleet import Fleet

    fleet = Fleet.from_accounts([f"1000000000{i:02d}" for i in range(1, 9)],
                                endpoint_url="http://127.0.0.1:9")  # fmt: skip
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def fake_list(client, out, as_of):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return [{"InvoiceUnitArn": f"arn:aws:invoicing::{out.account.id}:invoice-unit/a",
                 "Name": "Ops", "Rule": {"LinkedAccounts": []}}]  # fmt: skip

    monkeypatch.setattr(units, "_list_units", fake_list)
    df = read_invoice_units(fleet, max_workers=3)
    assert state["most"] == 3
    assert df["payer_account_id"].nunique() == 8 and df["member_account_id"].isna().all()


def test_the_redaction_masks_exactly_the_members_the_model_marks_sensitive():
    from invoicekit._redact import SENSITIVE_PROFILE_MEMBERS, redact

    assert set(SENSITIVE_PROFILE_MEMBERS) == set(units.sensitive_members())
    for member in SENSITIVE_PROFILE_MEMBERS:
        text = f'{{"AccountId": "111111111111", "{member}": "DE123456789"}}'
        assert "DE123456789" not in redact(text) and "111111111111" in redact(text)
