"""Notebook 05 "Chargeback by business unit" shows the right figures.

The notebook runs headless (papermill, :func:`invoicekit.notebook.execute`) on its own sandbox
with the demo mapping it ships (``notebooks/business_units.csv``). The figures it displays
(``application/vnd.invoicekit.figures+json``) are compared with figures computed here from the
synthetic organization — its wire records, its invoice units at the end of the month and the
mapping file read with the ``csv`` module — summed with ``Decimal``.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from invoicekit import notebook, report
from invoicekit.sandbox.org import build_organization

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NAME = "05_chargeback_by_business_unit"
MAPPING = NOTEBOOKS_DIR / "business_units.csv"
TODAY = "2026-11-25"  # billing months up to 2026-10
MONTH = "2026-10"
PARAMS = {"sandbox_accounts": 12, "sandbox_months": 2, "sandbox_today": TODAY}
FIGURES = notebook.FIGURES_MIME
UNALLOCATED = "unallocated"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nb05")
    out = notebook.execute(
        NOTEBOOKS_DIR / f"{NAME}.ipynb",
        tmp / f"{NAME}.ipynb",
        {**PARAMS, "mapping": str(MAPPING)},
        cwd=tmp,
    )
    return json.loads(out.read_text(encoding="utf-8"))


def _outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def _figures(nb: dict, **match) -> list[dict]:
    found = [o["data"][FIGURES] for o in _outputs(nb) if FIGURES in o.get("data", {})]
    return [f for f in found if all(f.get(k) == v for k, v in match.items())]


def _org():
    return build_organization(accounts=12, months=2, today=TODAY)


def _end() -> datetime:
    return datetime(2026, 11, 1, tzinfo=UTC) - timedelta(microseconds=1)


def _mapping() -> list[dict]:
    with open(MAPPING, encoding="utf-8", newline="") as fh:
        return [{k: v for k, v in r.items() if v} for r in csv.DictReader(fh)]


def _expected(org) -> dict[tuple[str, str], Decimal]:
    """``{(business unit, currency): total}``: unit > member account > payer, split units and
    unmapped spend unallocated."""
    rows = _mapping()
    by_unit = {r["invoice_unit"]: r["business_unit"] for r in rows if "invoice_unit" in r}
    by_account = {r["account_id"]: r["business_unit"] for r in rows if "account_id" in r}
    by_payer = {r["payer_account_id"]: r["business_unit"] for r in rows if "payer_account_id" in r}
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for inv in org.invoices:
        p = inv["BillingPeriod"]
        if f"{p['Year']:04d}-{p['Month']:02d}" != MONTH:
            continue
        if inv["InvoiceType"] not in ("INVOICE", "CREDIT_MEMO") or inv.get("CommercialInvoiceId"):
            continue
        payer, source = inv["AccountId"], inv["BillSourceAccounts"][0]
        unit = next(
            (u for u in org.invoice_units(payer, _end()) if source in u["Rule"]["LinkedAccounts"]),
            None,
        )
        if unit is not None and unit["Name"] in by_unit:
            bu = by_unit[unit["Name"]]
        elif unit is not None:
            found = {by_account.get(m, by_payer.get(payer)) for m in unit["Rule"]["LinkedAccounts"]}
            bu = found.pop() if len(found) == 1 else None
        else:
            bu = by_account.get(source, by_payer.get(payer))
        amount = inv["PaymentCurrencyAmount"]
        out[(bu or UNALLOCATED, amount["CurrencyCode"])] += Decimal(amount["TotalAmount"])
    return dict(out)


@pytest.mark.slow
def test_the_notebook_reads_well_and_starts_its_own_sandbox(executed):
    outputs = _outputs(executed)
    errors = [f"{o['ename']}: {o['evalue']}" for o in outputs if o.get("output_type") == "error"]
    assert not errors
    stderr = [o for o in outputs if o.get("output_type") == "stream" and o["name"] == "stderr"]
    assert not stderr, ["".join(o["text"]) for o in stderr]
    raw = [o for o in outputs if o.get("output_type") == "execute_result"]
    assert not raw, "a raw value was printed as a cell's result"
    text = "".join("".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "from the offline sandbox." in text
    assert report.find_secrets(json.dumps(executed)) == []


@pytest.mark.slow
def test_units_and_their_members_are_the_organizations_at_the_end_of_the_month(executed):
    org = _org()
    (shown,) = _figures(executed, table="invoice_units")
    assert shown["month"] == MONTH
    expected = {
        u["InvoiceUnitArn"]: (u["Name"], sorted(u["Rule"]["LinkedAccounts"]))
        for a in org.accounts
        for u in org.invoice_units(a.account_id, _end())
    }
    got = {arn: (u["name"], sorted(u["members"])) for arn, u in shown["units"].items()}
    assert got == expected and len(expected) >= 2


@pytest.mark.slow
def test_the_chargeback_table_equals_the_rule_computed_from_the_organization(executed):
    org = _org()
    (table,) = _figures(executed, table="chargeback")
    got: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in table["lines"]:
        got[(line["business_unit"], line["currency"])] += Decimal(line["total"])
    expected = _expected(org)
    assert dict(got) == expected
    # per currency, to the minor unit: the payable total of the month
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for (_, currency), amount in expected.items():
        totals[currency] += amount
    assert {c: Decimal(v) for c, v in table["payable_totals"].items()} == dict(totals)
    assert len(totals) > 1


@pytest.mark.slow
def test_the_demo_mapping_leaves_spend_unallocated_and_the_notebook_highlights_it(executed):
    (table,) = _figures(executed, table="chargeback")
    statuses = {line["status"] for line in table["lines"]}
    assert {"no mapping", "split unit"} <= statuses  # on purpose: both kinds of finding
    warned = [
        "".join(o["data"]["text/html"])
        for o in _outputs(executed)
        if "Unallocated," in "".join(o.get("data", {}).get("text/plain", ""))
    ]
    unallocated = [line for line in table["lines"] if line["status"] != "allocated"]
    assert len(warned) == len(unallocated)
    assert all("#c0392b" in html for html in warned)  # shown in red


@pytest.mark.slow
def test_one_chart_per_currency_with_the_tables_figures(executed):
    (table,) = _figures(executed, table="chargeback")
    charts = {f["currency"]: f for f in _figures(executed, chart="chargeback")}
    by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for line in table["lines"]:
        by_currency[line["currency"]] += Decimal(line["total"])
    assert set(charts) == set(by_currency)
    for currency, fig in charts.items():
        assert sum(Decimal(v) for v in fig["totals"].values()) == by_currency[currency]
        lines = [x for x in table["lines"] if x["currency"] == currency]
        assert len(fig["totals"]) == len(lines)
        unallocated = [k for k in fig["totals"] if k.startswith("Unallocated")]
        assert len(unallocated) == sum(x["status"] != "allocated" for x in lines)
