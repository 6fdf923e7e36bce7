"""Findings in plain sentences: account names, months in words, errors first, an action each."""

from __future__ import annotations

import pytest

from invoicekit.reconcile import CHECKS, reconcile_invoices
from invoicekit.reconcile.explain import EXPLAIN_COLUMNS, explain_findings, month_words
from invoicekit.sandbox.org import build_organization
from invoicekit.schema import to_frame

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip


@pytest.fixture(scope="module")
def org():
    return build_organization(accounts=12, months=13, today="2026-11-25", anomalies=True)


@pytest.fixture(scope="module")
def plain(org):
    df = to_frame(org.invoices, account_names={a.account_id: a.name for a in org.accounts})
    return org, reconcile_invoices(df), explain_findings(reconcile_invoices(df), accounts=df)


def test_one_sentence_and_one_action_per_finding_errors_first(plain):
    _, findings, out = plain
    assert list(out.columns) == EXPLAIN_COLUMNS
    assert len(out) == len(findings)
    rank = {"error": 0, "warning": 1, "info": 2}
    assert list(out["severity"].map(rank)) == sorted(out["severity"].map(rank))
    assert (out["sentence"].str.len() > 10).all() and (out["action"].str.len() > 5).all()
    for sentence in out["sentence"]:
        # no check code names, no internal column names, no log-style "x 0.89 by more than"
        assert not any(name in sentence for name in CHECKS), sentence
        assert "total_before_tax" not in sentence and " x 0." not in sentence, sentence


def test_every_planted_anomaly_reads_with_the_account_name_and_the_month_in_words(plain):
    org, _, out = plain
    for a in org.anomalies:
        acct = org.account(a["account_id"])
        label = f"{acct.name} ({acct.account_id})"
        y, m = a["billing_period"].split("-")
        words = f"{MONTHS[int(m) - 1]} {y}"
        rows = out[(out["check"] == a["check"]) & (out["account_id"] == acct.account_id)]
        assert len(rows), a
        assert (rows["account"] == label).all()
        assert rows["sentence"].str.contains(label, regex=False).any(), a
        assert rows["sentence"].str.contains(words, regex=False).any(), (a, words)


def test_a_missing_invoice_says_what_to_do():
    import pandas as pd

    f = pd.DataFrame(
        [
            {
                "check": "completeness",
                "severity": "error",
                "account_id": "100000000001",
                "invoice_id": None,
                "billing_period": pd.Period("2026-10", "M"),
                "message": "no INVOICE for account 100000000001 for billing period 2026-10",
            }
        ]
    )
    row = explain_findings(f, {"100000000001": "Retail EU"}).iloc[0]
    assert row["sentence"] == "No invoice for Retail EU (100000000001) for October 2026."
    assert "ask AWS Support" in row["action"] and row["billing_period"] == "2026-10"
    # without names the account is named by id
    assert explain_findings(f).iloc[0]["sentence"].startswith("No invoice for account 1000")


def test_month_words():
    assert month_words("2026-01") == "January 2026" and month_words(None) == ""


def test_no_findings_give_an_empty_frame_with_the_columns():
    import pandas as pd

    out = explain_findings(pd.DataFrame(columns=["check", "severity", "account_id", "message"]))
    assert out.empty and list(out.columns) == EXPLAIN_COLUMNS
