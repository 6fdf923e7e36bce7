"""Per-account limit discovery: AIMD pacing, the run's shared prior, rates remembered in the store.

The sandbox gives its accounts different limits (1, 5 and 50 requests/s); nothing tells the
loader. Throttled answers are bounded as follows: an account's slow start ends with one cut,
and the answers of the requests it had in flight then (at most ``per_account`` = 2) may be
throttled too; after a cut to half the limit it takes at least 10 successes (5 % of the limit
each) to reach the limit again. So an account fetching ``w`` windows meets at most
``2 x (1 + ceil(w / 10))`` throttled answers.
"""

from __future__ import annotations

import json
import math

import pytest

from invoicekit import _rates, run_report
from invoicekit.access import MIN_RATE_PER_ACCOUNT, SAFE_SHARE, SLOW_START_GAIN, Pacer
from invoicekit.fleet import load_fleet
from invoicekit.loader import read_invoice_summaries

LIMITS = (1.0, 5.0, 50.0)
START, END = "2026-07", "2026-10"
WINDOWS = 4


def _throttle_bound(accounts: int, windows: int = WINDOWS, in_flight: int = 2) -> int:
    return accounts * in_flight * (1 + math.ceil(windows / 10))


def test_a_discovering_pacer_speeds_up_until_throttled_then_adds_gently() -> None:
    p = Pacer(100.0, 4, start=2.0)
    assert p.rate == 2.0 and p.burst == 1.0  # a slow start bursts no more than it sends
    p.succeeded()
    assert p.rate == pytest.approx(2.0 * (1 + SLOW_START_GAIN))
    for _ in range(50):
        p.succeeded()
    assert p.rate == 100.0  # the ceiling (--rate-per-account) is never passed
    p.throttled()
    assert p.limit == 100.0 and p.rate == 50.0 and p.throttles == 1
    p.throttled()  # an answer to a request sent before the cut: counted, not cut again
    assert p.rate == 50.0 and p.throttles == 2
    p.succeeded()
    assert p.rate == pytest.approx(50.0 + 0.05 * 100.0)  # additive: 5 % of the limit
    rate, limit = p.learned()
    assert limit == 100.0 and rate == pytest.approx(min(55.0, SAFE_SHARE * 100.0))


def test_a_pacer_never_slows_below_the_minimum() -> None:
    p = Pacer(10.0, 4, start=0.5)
    for _ in range(20):
        p._cut_at = -1e9  # every throttle a new cut
        p.throttled()
    assert p.rate == MIN_RATE_PER_ACCOUNT and p.learned()[0] >= MIN_RATE_PER_ACCOUNT


def test_the_run_prior_is_what_throttled_accounts_found(tmp_path) -> None:
    rates = _rates.RunRates()
    assert rates.start_for("111111111111") == (_rates.START_RATE_PER_ACCOUNT, None)
    rates.record("111111111111", 90.0, None)  # never throttled: tells nothing about a limit
    assert rates.prior is None
    rates.record("222222222222", 4.0, 4.7)
    rates.record("333333333333", 6.0, 7.0)
    rates.record("444444444444", 5.0, 5.9)
    assert rates.prior[0] == 5.0  # the median of the safe rates found
    assert rates.start_for("555555555555") == rates.prior


def test_learned_rates_survive_in_the_store_and_a_bad_file_is_ignored(tmp_path) -> None:
    memory = _rates.RateMemory(tmp_path)
    memory.update({"111111111111": (0.9, 1.1), "222222222222": (80.0, None)})
    memory.save()
    doc = json.loads((tmp_path / _rates.FILE_NAME).read_text())
    assert doc["accounts"]["111111111111"]["learned_at"].startswith("20")
    again = _rates.RateMemory(tmp_path)
    assert again.get("111111111111") == (0.9, 1.1) and again.get("222222222222") == (80.0, None)
    assert _rates.RunRates(again).start_for("111111111111") == (0.9, 1.1)
    (tmp_path / _rates.FILE_NAME).write_text("{not json")
    assert _rates.RateMemory(tmp_path).get("111111111111") is None


def _limits(sb) -> dict[str, float]:
    ids = [a.account_id for a in sb.org.accounts]
    return {a: LIMITS[i % len(LIMITS)] for i, a in enumerate(ids)}


def _months_invoices(sb) -> set[str]:
    months = {f"2026-{m:02d}" for m in range(7, 11)}
    return {
        i["InvoiceId"]
        for i in sb.org.invoices
        if f"{i['BillingPeriod']['Year']:04d}-{i['BillingPeriod']['Month']:02d}" in months
    }


@pytest.mark.slow
@pytest.mark.parametrize("client", ["lean", "boto3"])
def test_limits_of_1_5_and_50_per_second_are_found_and_remembered(
    make_sandbox, tmp_path, monkeypatch, client
) -> None:
    sb = make_sandbox(accounts=3, months=WINDOWS, rate_limit=list(LIMITS))
    limits = _limits(sb)
    store = tmp_path / "store"
    df = read_invoice_summaries(
        load_fleet(sb.fleet_config), START, END, store=store, progress=False, client=client
    )
    # no throttling failure: every account's every invoice
    assert df.attrs["failures"] == []
    assert set(df["invoice_id"]) == _months_invoices(sb)
    throttled = run_report(df).extra["throttled"]
    assert throttled == sb.stats()["throttled"]  # every 429 the sandbox sent is counted
    assert throttled <= _throttle_bound(len(limits))
    # what was learned: a safe rate under each account's limit (an account that was never
    # throttled found no limit and remembers the rate it reached)
    memory = _rates.RateMemory(store)
    for account, limit in limits.items():
        rate, found = memory.get(account)
        if found is not None:
            assert rate <= limit, (account, rate, limit)
    slow = next(a for a, lim in limits.items() if lim == 1.0)
    assert memory.get(slow)[1] is not None  # the 1 request/s account was found out

    # the next run starts every account at what the store remembers
    remembered = {a: memory.get(a) for a in limits}
    starts: dict[str, tuple] = {}
    original = _rates.RunRates.start_for

    def spy(self, account_id):
        starts[account_id] = original(self, account_id)
        return starts[account_id]

    monkeypatch.setattr(_rates.RunRates, "start_for", spy)
    sb.reset_stats()
    again = read_invoice_summaries(
        load_fleet(sb.fleet_config),
        START,
        END,
        store=store,
        refresh=True,
        progress=False,
        client=client,
    )
    assert again.attrs["failures"] == []
    assert starts == remembered
    assert run_report(again).extra["throttled"] <= _throttle_bound(len(limits))
