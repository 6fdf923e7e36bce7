"""``invoicekit align``: exit codes, summary, output file (issue 13)."""

from __future__ import annotations

import csv

import pytest

from invoicekit import schema
from invoicekit.cli import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, main
from invoicekit.sandbox.exports import write_exports
from invoicekit.sandbox.org import build_organization


def _run(argv):
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    org = build_organization(accounts=3, months=2, today="2026-11-25")
    d = tmp_path_factory.mktemp("align")
    schema.to_parquet(schema.to_frame(org.invoices), d / "s.parquet")
    write_exports(org, d / "clean", formats=("cur2",))
    info = write_exports(org, d / "planted", anomalies=True, formats=("cur2",))
    return d, info


def test_everything_explained_exits_0(files, capsys):
    d, _ = files
    out = d / "tie.csv"
    code = _run(["align", "--summaries", str(d / "s.parquet"), "--costs", str(d / "clean"),
                 "--output", str(out)])  # fmt: skip
    assert code == EXIT_OK
    rows = list(csv.DictReader(out.open()))
    assert {r["category"] for r in rows} <= {
        "matched",
        "tax_lines",
        "credits_refunds",
        "not_yet_invoiced",
    }
    assert "matched" in capsys.readouterr().out


def test_unexplained_exits_1_and_lists_them_first(files, capsys):
    d, info = files
    out = d / "tie2.csv"
    code = _run(["align", "--summaries", str(d / "s.parquet"), "--costs", str(d / "planted"),
                 "--month", "2026-10", "--output", str(out)])  # fmt: skip
    assert code == EXIT_FINDINGS
    rows = list(csv.DictReader(out.open()))
    planted = [a for a in info["anomalies"] if a["billing_period"] == "2026-10"]
    assert [r["explained"] for r in rows[: len(planted)]] == ["false"] * len(planted)
    text = capsys.readouterr().out
    for a in planted:
        assert a["category"] in text


def test_bad_input_exits_2_naming_the_flag(files, capsys, tmp_path):
    d, _ = files
    assert (
        _run(["align", "--summaries", str(d / "s.parquet"), "--costs", str(tmp_path)])
        == EXIT_BAD_INPUT
    )
    assert "--costs" in capsys.readouterr().err
    assert _run(["align", "--summaries", str(d / "s.parquet"), "--costs", str(d / "clean"),
                 "--month", "2026-13"]) == EXIT_BAD_INPUT  # fmt: skip
    assert "--month" in capsys.readouterr().err
