"""Business units and the chargeback (issue 12): the mapping, the rule, the exact totals.

Expected figures are computed here from the synthetic organization itself — its wire records
(``BillSourceAccounts``, ``PaymentCurrencyAmount``) and its invoice units as configured at the
end of the month (``Organization.invoice_units``) — summed with ``Decimal``, never with the
package's own totals.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from invoicekit import report
from invoicekit.business_units import (
    ALLOCATED,
    CHARGEBACK_COLUMNS,
    NO_MAPPING,
    SPLIT_UNIT,
    UNALLOCATED,
    chargeback,
    chargeback_lines,
    invoice_business_units,
    read_business_units,
)
from invoicekit.errors import ConfigError, InvalidArgumentError
from invoicekit.fleet import load_fleet
from invoicekit.sandbox.org import build_organization
from invoicekit.schema import to_frame

TODAY = "2026-11-25"  # billing months up to 2026-10
MONTHS = ("2026-08", "2026-09", "2026-10")


@functools.lru_cache(maxsize=1)
def _org():
    return build_organization(accounts=12, months=3, today=TODAY)


def _frame():
    org = _org()
    return to_frame(org.invoices, account_names={a.account_id: a.name for a in org.accounts})


def _month_end(month: str) -> datetime:
    y, m = int(month[:4]), int(month[5:])
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return datetime(y, m, 1, tzinfo=UTC) - timedelta(microseconds=1)


def _units_frame(org, months=MONTHS) -> pd.DataFrame:
    """The units frame ``read_invoice_units(..., months=...)`` gives, built from the model."""
    rows = []
    for a in org.accounts:
        for month in months:
            end = _month_end(month)
            for u in org.invoice_units(a.account_id, end):
                for m in u["Rule"]["LinkedAccounts"] or [None]:
                    rows.append(
                        {
                            "payer_account_id": a.account_id,
                            "payer_account_name": a.name,
                            "invoice_unit_arn": u["InvoiceUnitArn"],
                            "invoice_unit_name": u["Name"],
                            "description": u["Description"],
                            "invoice_receiver": u["InvoiceReceiver"],
                            "tax_inheritance_disabled": u["TaxInheritanceDisabled"],
                            "member_account_id": m,
                            "last_modified": pd.Timestamp(u["LastModified"], unit="s", tz="UTC"),
                            "as_of": pd.Timestamp(end),
                        }
                    )
    frame = pd.DataFrame(rows)
    for c in ("last_modified", "as_of"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame


def _units_at(org, payer: str, month: str) -> dict[str, tuple[str, list[str]]]:
    return {
        u["InvoiceUnitArn"]: (u["Name"], list(u["Rule"]["LinkedAccounts"]))
        for u in org.invoice_units(payer, _month_end(month))
    }


def _period(inv: dict) -> str:
    p = inv["BillingPeriod"]
    return f"{p['Year']:04d}-{p['Month']:02d}"


def _payable(inv: dict) -> bool:
    return inv["InvoiceType"] in ("INVOICE", "CREDIT_MEMO") and not inv.get("CommercialInvoiceId")


def _expected(org, month: str, rows: list[dict], view: str = "PaymentCurrencyAmount"):
    """``{(business unit or UNALLOCATED, currency): total}`` by the documented rule."""
    by_unit = {r["invoice_unit"]: r["business_unit"] for r in rows if r.get("invoice_unit")}
    by_account = {r["account_id"]: r["business_unit"] for r in rows if r.get("account_id")}
    by_payer = {
        r["payer_account_id"]: r["business_unit"] for r in rows if r.get("payer_account_id")
    }

    def member(account: str, payer: str):
        return by_account.get(account, by_payer.get(payer))

    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for inv in org.invoices:
        if _period(inv) != month or not _payable(inv):
            continue
        payer, source = inv["AccountId"], inv["BillSourceAccounts"][0]
        units = _units_at(org, payer, month)
        unit = next((arn for arn, (_, m) in units.items() if source in m), None)
        if unit is not None:
            name, members = units[unit]
            bu = by_unit.get(unit, by_unit.get(name))
            if bu is None:
                found = {member(m, payer) for m in members}
                bu = found.pop() if len(found) == 1 else None
        else:
            bu = member(source, payer)
        amount = inv[view]
        out[(bu or UNALLOCATED, amount["CurrencyCode"])] += Decimal(amount["TotalAmount"])
    return dict(out)


def _got(cb: pd.DataFrame) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for bu, c, t in zip(cb["business_unit"], cb["currency"], cb["total"], strict=True):
        out[(bu, c)] += t
    return dict(out)


def _payer(org, name: str) -> str:
    return next(a.account_id for a in org.accounts if a.name == name)


def _retail_units(org, month: str) -> dict[str, list[str]]:
    payer = _payer(org, "Retail EU")
    return {name: members for name, members in _units_at(org, payer, month).values()}


# --------------------------------------------------------------------------------------------
# the mapping
# --------------------------------------------------------------------------------------------


def _csv(tmp_path, text: str):
    path = tmp_path / "business_units.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csv_mapping_names_units_accounts_and_payers(tmp_path):
    path = _csv(
        tmp_path,
        "invoice_unit,account_id,payer_account_id,business_unit,cost_center,gl_account\n"
        "Retail EU Storefront,,,Digital,CC-1,6100\n"
        ",020000000003,,Platform,,6120\n"
        ",,100000000002,Payments,CC-5,\n",
    )
    bu = read_business_units(path)
    assert bu.for_unit("Retail EU Storefront")["business_unit"] == "Digital"
    assert (
        bu.for_unit("arn:aws:invoicing::100000000001:invoice-unit/x", name="Retail EU Storefront")[
            "cost_center"
        ]
        == "CC-1"
    )
    assert bu.for_account("020000000003")["gl_account"] == "6120"  # the leading zero kept
    assert bu.for_account("999999999999") is None
    hit = bu.for_account("999999999999", "100000000002")  # falls back to its payer
    assert (hit["business_unit"], hit["matched_by"]) == ("Payments", "payer_account_id")
    assert bu.for_payer("100000000002")["row"] == f"{path}:4"
    assert bu.business_units == ["Digital", "Payments", "Platform"]


def test_a_key_mapped_twice_to_different_business_units_is_refused_naming_both_rows(tmp_path):
    path = _csv(
        tmp_path,
        "account_id,business_unit\n200000000003,Platform\n200000000004,Retail\n"
        "200000000003,Retail\n",
    )
    with pytest.raises(InvalidArgumentError) as exc:
        read_business_units(path)
    message = str(exc.value)
    assert f"{path}:4" in message and f"{path}:2" in message
    assert "Platform" in message and "Retail" in message and "\n" not in message


def test_an_identical_repeat_is_kept_once(tmp_path):
    path = _csv(
        tmp_path, "account_id,business_unit\n200000000003,Platform\n200000000003,Platform\n"
    )
    assert len(read_business_units(path)) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("account,business_unit\n200000000003,P\n", ["unknown column 'account'", "account_id"]),
        ("account_id,cost_center\n200000000003,CC\n", ["business_unit"]),
        ("account_id,business_unit\n20000000003,P\n", [":2:", "020000000003", "leading zero"]),
        ("account_id,invoice_unit,business_unit\n200000000003,Ops,P\n", [":2:", "one key"]),
        ("account_id,payer_account_id,business_unit\n,,P\n", [":2:", "names no key"]),
        ("account_id,business_unit\n200000000003,\n", [":2:", "business_unit is empty"]),
        ("account_id,business_unit\n200000000003,Unallocated\n", [":2:", "reserved"]),
        ("invoice_unit,business_unit\narn:aws:invoicing::1:unit,P\n", ["not an invoice unit ARN"]),
    ],
)
def test_bad_rows_get_one_line_naming_the_file_row_and_fix(tmp_path, text, expected):
    path = _csv(tmp_path, text)
    with pytest.raises(InvalidArgumentError) as exc:
        read_business_units(path)
    message = str(exc.value)
    assert "\n" not in message and str(path) in message
    for part in expected:
        assert part in message, (part, message)


def _fleet(tmp_path, body: str):
    path = tmp_path / "fleet.yml"
    path.write_text('accounts:\n  - id: "100000000001"\n' + body, encoding="utf-8")
    return path


def test_the_fleet_files_business_units_section_reads_like_the_csv(tmp_path):
    path = _fleet(
        tmp_path,
        "business_units:\n"
        "  - invoice_unit: Retail EU Storefront\n    business_unit: Digital\n"
        "    gl_account: 6100\n"
        '  - payer_account_id: "100000000001"\n    business_unit: Retail\n',
    )
    fleet = load_fleet(path)
    bu = read_business_units(fleet)
    assert bu.for_unit("Retail EU Storefront")["gl_account"] == "6100"  # a number read as text
    assert bu.for_payer("100000000001")["row"] == f"{path}:7"
    assert read_business_units(path).entries == bu.entries  # the file path reads the same


def test_the_fleet_section_may_name_a_csv_beside_it(tmp_path):
    _csv(tmp_path, "payer_account_id,business_unit\n100000000001,Retail\n")
    fleet = load_fleet(_fleet(tmp_path, "business_units: business_units.csv\n"))
    assert read_business_units(fleet).for_payer("100000000001")["business_unit"] == "Retail"


@pytest.mark.parametrize(
    ("body", "line", "expected"),
    [
        ("business_units:\n  - account_id: 200000000003\n    business_unit: P\n", 4,
         'write account_id: "200000000003"'),
        ("business_units:\n  - account_id: \"200000000003\"\n    team: x\n", 5,
         "unknown key 'team'"),
        ("business_units:\n  - invoice_unit: Ops\n    business_unit: A\n"
         "  - invoice_unit: Ops\n    business_unit: B\n", 6, "mapped twice, to A (line 4)"),
        ("business_units: {a: b}\n", 3, "must be a list of rows"),
    ],
)  # fmt: skip
def test_a_bad_fleet_section_names_the_file_and_line(tmp_path, body, line, expected):
    path = _fleet(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        load_fleet(path)
    assert exc.value.line == line, str(exc.value)
    assert expected in str(exc.value)


def test_a_dataframe_mapping_is_checked_like_a_file():
    with pytest.raises(InvalidArgumentError, match="unknown column 'bu'"):
        read_business_units(pd.DataFrame({"account_id": ["200000000003"], "bu": ["x"]}))


# --------------------------------------------------------------------------------------------
# the chargeback
# --------------------------------------------------------------------------------------------


def _mapping(org) -> list[dict]:
    """Units, members and payers; one unit whose members disagree; two payers unmapped."""
    retail = _payer(org, "Retail EU")
    fulfilment = _retail_units(org, "2026-10")["Retail EU Fulfilment"]
    rows = [
        {"invoice_unit": "Retail EU Storefront", "business_unit": "Digital", "cost_center": "C1"},
        {"account_id": fulfilment[0], "business_unit": "Logistics"},
        {"payer_account_id": retail, "business_unit": "Retail"},
        {"payer_account_id": _payer(org, "Payments"), "business_unit": "Payments"},
        {"payer_account_id": _payer(org, "Data Platform"), "business_unit": "Data"},
    ]
    return rows


def test_the_chargeback_equals_the_rule_computed_from_the_organization():
    org = _org()
    rows = _mapping(org)
    cb = chargeback(_frame(), rows, units=_units_frame(org), month="2026-10")
    assert list(cb.columns) == CHARGEBACK_COLUMNS
    expected = _expected(org, "2026-10", rows)
    assert _got(cb) == expected
    assert {k[0] for k in expected} >= {"Digital", "Retail", "Payments", "Data", UNALLOCATED}


def test_per_currency_the_chargeback_adds_up_to_the_payable_total_to_the_minor_unit():
    org = _org()
    df = _frame()
    for view, wire in (("payment", "PaymentCurrencyAmount"), ("base", "BaseCurrencyAmount")):
        cb = chargeback(df, _mapping(org), units=_units_frame(org), month="2026-10", view=view)
        truth: dict[str, Decimal] = defaultdict(Decimal)
        for inv in org.invoices:
            if _period(inv) == "2026-10" and _payable(inv):
                truth[inv[wire]["CurrencyCode"]] += Decimal(inv[wire]["TotalAmount"])
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for c, t in zip(cb["currency"], cb["total"], strict=True):
            sums[c] += t
        assert dict(sums) == dict(truth)
        shown = {h.currency: h.spend for h in report.headlines(df, "2026-10", view)}
        assert {c: shown[c] for c in sums} == dict(sums) == cb.attrs["payable_totals"]
        if view == "payment":
            assert len(truth) > 1  # several currencies, never added together


def test_what_no_mapping_covers_is_an_unallocated_line_naming_the_payer():
    org = _org()
    cb = chargeback(_frame(), _mapping(org), units=_units_frame(org), month="2026-10")
    lines = cb[cb["status"] == NO_MAPPING]
    assert len(lines) and set(lines["business_unit"]) == {UNALLOCATED}
    named = " ".join(lines["detail"])
    mapped = {r.get("payer_account_id") for r in _mapping(org)}
    for a in org.accounts:
        if a.account_id not in mapped:
            assert a.account_id in named and a.name in named


def test_a_unit_whose_members_disagree_is_its_own_labelled_line_not_a_guess():
    org = _org()
    cb = chargeback(_frame(), _mapping(org), units=_units_frame(org), month="2026-10")
    split = cb[cb["status"] == SPLIT_UNIT]
    assert list(split["invoice_unit"]) == ["Retail EU Fulfilment"]
    assert set(split["business_unit"]) == {UNALLOCATED}
    assert "Logistics" in split["detail"].iat[0] and "Retail" in split["detail"].iat[0]
    # mapping the unit itself settles it
    rows = [*_mapping(org), {"invoice_unit": "Retail EU Fulfilment", "business_unit": "Logistics"}]
    again = chargeback(_frame(), rows, units=_units_frame(org), month="2026-10")
    assert not (again["status"] == SPLIT_UNIT).any()
    assert _got(again) == _expected(org, "2026-10", rows)


def test_units_follow_their_configuration_at_the_end_of_each_month():
    """The peak account moves from Fulfilment to Storefront on 10 October."""
    org = _org()
    september, october = _retail_units(org, "2026-09"), _retail_units(org, "2026-10")
    (mover,) = set(october["Retail EU Storefront"]) - set(september["Retail EU Storefront"])
    assert mover in september["Retail EU Fulfilment"]
    rows = [{"account_id": mover, "business_unit": "Peak"}]
    units, df = _units_frame(org), _frame()
    splits = {}
    for month in ("2026-09", "2026-10"):
        cb = chargeback(df, rows, units=units, month=month)
        assert _got(cb) == _expected(org, month, rows)
        splits[month] = set(cb.loc[cb["status"] == SPLIT_UNIT, "invoice_unit"])
    assert splits == {"2026-09": {"Retail EU Fulfilment"}, "2026-10": {"Retail EU Storefront"}}


def test_credit_memos_reduce_and_tax_invoices_are_not_charged():
    org = _org()
    df = _frame()
    payments = _payer(org, "Payments")
    rows = [{"payer_account_id": payments, "business_unit": "Payments"}]
    before = chargeback(df, rows, month="2026-10")
    invoice = df[(df["account_id"] == payments) & (df["billing_period"] == pd.Period("2026-10"))]
    memo = invoice.iloc[[0]].copy()
    memo["invoice_id"] = "CM-1"
    memo["invoice_type"] = "CREDIT_MEMO"
    credit = Decimal("-100.25")
    for v in ("base", "tax", "payment"):
        for c in ("total", "subtotal", "total_before_tax"):
            memo[f"{v}_{c}"] = pd.array([credit], dtype=df[f"{v}_{c}"].dtype)
        for c in ("taxes", "discounts", "fees"):
            memo[f"{v}_{c}"] = pd.array([Decimal(0)], dtype=df[f"{v}_{c}"].dtype)
    tax_invoice = invoice.iloc[[0]].copy()
    tax_invoice["invoice_id"] = "TAX-1"
    tax_invoice["commercial_invoice_id"] = invoice["invoice_id"].iat[0]
    after = chargeback(pd.concat([df, memo, tax_invoice], ignore_index=True), rows, month="2026-10")
    line = lambda cb: cb[cb["business_unit"] == "Payments"].iloc[0]  # noqa: E731
    assert line(after)["total"] == line(before)["total"] + credit
    assert (line(after)["credit_memos"], line(after)["invoices"]) == (1, line(before)["invoices"])


def test_without_units_invoices_go_by_bill_source_account_then_payer():
    org = _org()
    df = _frame()
    retail = _payer(org, "Retail EU")
    storefront_source = _retail_units(org, "2026-10")["Retail EU Storefront"]
    rows = [{"account_id": a, "business_unit": "Digital"} for a in storefront_source] + [
        {"payer_account_id": retail, "business_unit": "Retail"}
    ]
    assigned = invoice_business_units(df[df["account_id"] == retail], rows)
    by_source = dict(zip(assigned["bill_source_account"], assigned["business_unit"], strict=True))
    for source, bu in by_source.items():
        assert bu == ("Digital" if source in storefront_source else "Retail")


def test_unit_rows_without_units_are_refused_saying_what_to_pass():
    rows = [{"invoice_unit": "Retail EU Storefront", "business_unit": "Digital"}]
    with pytest.raises(InvalidArgumentError, match="--units FILE"):
        chargeback(_frame(), rows, month="2026-10")


def test_a_unit_may_be_mapped_by_its_arn():
    org = _org()
    retail = _payer(org, "Retail EU")
    arn = next(u["InvoiceUnitArn"] for u in org.invoice_units(retail) if "Storefront" in u["Name"])
    rows = [{"invoice_unit": arn, "business_unit": "Digital"}]
    cb = chargeback(_frame(), rows, units=_units_frame(org), month="2026-10")
    assert _got(cb) == _expected(org, "2026-10", rows)
    assert (cb["business_unit"] == "Digital").any()


def test_the_lines_per_currency_say_how_the_total_is_made():
    org = _org()
    cb = chargeback(_frame(), _mapping(org), units=_units_frame(org), month="2026-10")
    lines = chargeback_lines(cb)
    assert len(lines) == cb["currency"].nunique()
    for line in lines:
        currency = line.split(":")[0]
        sel = cb[cb["currency"] == currency]
        n = sel.loc[sel["status"] == ALLOCATED, "business_unit"].nunique()
        assert line.endswith(", the payable total of October 2026")
        assert ("+ unallocated" in line or line.startswith(f"{currency}: unallocated")) == bool(
            (sel["status"] != ALLOCATED).any()
        )
        if n:
            assert f"{n} business unit" in line


def test_a_payable_invoice_without_the_view_is_refused():
    df = _frame()
    df.loc[0, "payment_currency"] = None
    month = str(df.loc[0, "billing_period"])
    with pytest.raises(InvalidArgumentError, match="view='base'"):
        chargeback(df, [{"payer_account_id": df.loc[0, "account_id"], "business_unit": "X"}],
                   month=month)  # fmt: skip


def test_mapping_rows_that_charged_nothing_are_noted():
    org = _org()
    rows = [*_mapping(org), {"account_id": "999999999999", "business_unit": "Ghost"}]
    cb = chargeback(_frame(), rows, units=_units_frame(org), month="2026-10")
    assert any("999999999999" in n and "Ghost" in n for n in cb.attrs["notes"])
    assert not any("Logistics" in n for n in cb.attrs["notes"])  # it decided the split line


def test_invoicekit_chargeback_is_the_function_in_any_import_order():
    import invoicekit
    import invoicekit.business_units as module

    org = _org()
    rows = [{"payer_account_id": org.accounts[0].account_id, "business_unit": "Retail"}]
    assert invoicekit.chargeback is module.chargeback  # the module has its own name
    via_package = invoicekit.chargeback(_frame(), rows, month="2026-10")
    pd.testing.assert_frame_equal(via_package, chargeback(_frame(), rows, month="2026-10"))


def test_one_chart_per_currency_draws_every_line_and_unallocated_in_red():
    from invoicekit import charts

    org = _org()
    cb = chargeback(_frame(), _mapping(org), units=_units_frame(org), month="2026-10")
    with pytest.raises(InvalidArgumentError, match="currency="):
        charts.chargeback_bars(cb)  # several currencies: never one chart across them
    figs = charts.chargeback_charts(cb)
    assert sorted(figs) == sorted(set(cb["currency"]))
    for currency, fig in figs.items():
        lines = cb[cb["currency"] == currency]
        totals = charts.figure_totals(fig)
        assert sum(totals.values()) == sum(lines["total"]) == cb.attrs["payable_totals"][currency]
        assert len(totals) == len(lines)
        (bar,) = fig.data
        red = [y for y, c in zip(bar.y, bar.marker.color, strict=True)
               if c == charts.UNALLOCATED_COLOR]  # fmt: skip
        assert len(red) == int((lines["status"] != ALLOCATED).sum())
        assert all(y.startswith("Unallocated") for y in red)
        assert currency in fig.layout.xaxis.title.text
