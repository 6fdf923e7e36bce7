"""The same SQL on Spark SQL (local mode) gives the same tie-out and allocation as DuckDB."""

from __future__ import annotations

import pytest

pytest.importorskip("pyspark")

from invoicekit import schema  # noqa: E402
from invoicekit.costs import align, allocate, read_cost_export  # noqa: E402
from invoicekit.sandbox.exports import write_exports  # noqa: E402
from invoicekit.sandbox.org import build_organization  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("invoicekit-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    org = build_organization(accounts=4, months=2, today="2026-11-25")
    root = tmp_path_factory.mktemp("exports")
    write_exports(org, root, anomalies=True)
    return schema.to_frame(org.invoices), root


@pytest.mark.parametrize("fmt", ["cur2", "focus"])
def test_alignment_is_the_same_on_spark(case, spark, fmt):
    summaries, root = case
    costs = read_cost_export(root, format=fmt)
    duck = align(summaries, costs)
    on_spark = align(summaries, costs, engine=spark)
    key = ["payer_account_id", "billing_period", "invoice_id"]
    a = duck.sort_values(key).reset_index(drop=True)
    b = on_spark.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b) > 10
    for col in ("invoice_id", "category", "lines", "lines_total", "difference", "invoice_total"):
        assert list(a[col]) == list(b[col]), col
    assert {"matched", "unexplained", "not_yet_invoiced"} <= set(a["category"])


@pytest.mark.parametrize(
    ("by", "fmt"), [("tag:team", "cur2"), ("linked_account", "cur2"), ("linked_account", "focus")]
)
def test_allocation_is_the_same_on_spark(case, spark, by, fmt):
    summaries, root = case
    costs = read_cost_export(root, format=fmt)
    duck = allocate(summaries, costs, by=by)
    on_spark = allocate(summaries, costs, by=by, engine=spark)
    key = ["invoice_id", "view", "value"]
    a = duck.sort_values(key).reset_index(drop=True)
    b = on_spark.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b) > 10
    for col in ("value", "value_name", "subtotal", "discounts", "fees", "taxes", "total"):
        assert a[col].tolist() == b[col].tolist(), col
    if by == "linked_account":  # the names come from the export lines, on both engines
        assert b["value_name"].notna().any()
