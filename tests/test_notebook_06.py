"""Notebook 06 shows the right figures: run it and compare with figures computed here (issue 13).

The tie-out counts and the allocation totals the notebook displays (its
``application/vnd.invoicekit.figures+json`` bundles) are compared with figures computed
independently from the synthetic organization's wire records and the planted anomalies.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from invoicekit import notebook
from invoicekit.sandbox.exports import write_exports
from invoicekit.sandbox.org import build_organization

pytestmark = pytest.mark.slow

NB = Path(__file__).resolve().parent.parent / "notebooks" / "06_invoice_vs_cost_and_usage.ipynb"
TODAY = "2026-11-25"
PARAMS = {"sandbox_accounts": 3, "sandbox_months": 2, "sandbox_today": TODAY,
          "sandbox_anomalies": False}  # fmt: skip
FIGURES = notebook.FIGURES_MIME


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nb06")
    out = notebook.execute(NB, tmp / "06.ipynb", dict(PARAMS), cwd=tmp)
    return json.loads(out.read_text(encoding="utf-8")), tmp


def _figures(nb: dict, **match) -> list[dict]:
    outs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    errors = [o for o in outs if o.get("output_type") == "error"]
    assert not errors, [f"{o['ename']}: {o['evalue']}" for o in errors]
    found = [o["data"][FIGURES] for o in outs if FIGURES in o.get("data", {})]
    return [f for f in found if all(f.get(k) == v for k, v in match.items())]


def _org():
    # what the notebook's sandbox is: the same model (setup's defaults: seed 7)
    return build_organization(accounts=PARAMS["sandbox_accounts"], months=PARAMS["sandbox_months"],
                              today=TODAY)  # fmt: skip


def test_tie_out_counts_match_the_model(executed, tmp_path):
    nb, _ = executed
    [tie] = _figures(nb, table="tie_out")
    org = _org()
    info = write_exports(org, tmp_path, formats=("cur2",))
    spend = [i for i in org.invoices
             if i["InvoiceType"] in ("INVOICE", "CREDIT_MEMO") and not i.get("CommercialInvoiceId")]  # fmt: skip
    counts = tie["counts"]
    explained = sum(counts.get(k, 0) for k in ("matched", "tax_lines", "credits_refunds"))
    assert explained == len(spend)
    assert tie["unexplained"] == []
    moved = 2 if info["notes"] else 0
    assert counts.get("credits_refunds", 0) == moved
    assert counts["not_yet_invoiced"] == len(org.accounts)  # the open month, every payer


def test_allocation_totals_equal_the_invoices_per_currency(executed):
    nb, _ = executed
    org = _org()
    month = "{:04d}-{:02d}".format(*org.periods[-1])
    expected: dict[str, Decimal] = {}
    for inv in org.invoices:
        bp = inv["BillingPeriod"]
        if (f"{bp['Year']:04d}-{bp['Month']:02d}" != month or inv.get("CommercialInvoiceId")
                or inv["InvoiceType"] not in ("INVOICE", "CREDIT_MEMO")):  # fmt: skip
            continue
        view = inv["PaymentCurrencyAmount"]
        expected[view["CurrencyCode"]] = expected.get(view["CurrencyCode"], Decimal(0)) + Decimal(
            view["TotalAmount"]
        )
    tables = _figures(nb, table="allocation")
    assert {t["dimension"] for t in tables} == {"linked_account", "tag:team"}
    for t in tables:
        got = {
            c: sum((Decimal(v) for v in per.values()), Decimal(0)) for c, per in t["totals"].items()
        }
        assert got == expected, t["dimension"]
    by_tag = next(t for t in tables if t["dimension"] == "tag:team")
    assert any("(untagged)" in per for per in by_tag["totals"].values())
    charts = _figures(nb, chart="allocation")
    assert {c["currency"] for c in charts} == set(expected)


def test_member_accounts_read_as_name_and_id(executed):
    nb, _ = executed
    org = _org()
    names = {m.account_id: m.name for ms in org.members.values() for m in ms}
    outs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    [table] = [o["data"] for o in outs
               if o.get("data", {}).get(FIGURES, {}).get("dimension") == "linked_account"]  # fmt: skip
    plain = table["text/plain"]
    plain = "".join(plain) if isinstance(plain, list) else plain  # nbformat stores lines
    shown = [line.split(" | ")[0] for line in plain.splitlines()[1:]]
    assert shown
    ids = [a for a in names if any(line.endswith(f"({a})") for line in shown)]
    assert len(ids) == len(shown)  # every row is an account, as "Name (id)"
    for a in ids:
        assert f"{names[a]} ({a})" in shown
    charts = json.dumps(
        [o["data"] for o in outs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    )
    assert "Cost by member account" in charts and "(payment currency)" in charts
