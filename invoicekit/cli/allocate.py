"""``invoicekit allocate``: split each invoice below it, in every currency view, to the minor unit.

``--by linked_account`` (the usage account), ``tag:KEY`` (a user tag, e.g. ``tag:team``),
``cost_category:NAME`` or ``business_unit`` (usage accounts mapped by ``--business-units``).
Each invoice's subtotal, discounts, fees and taxes are split in proportion to its export lines
of the same kind, in the base, tax and payment views; every invoice's rows add up to it
exactly (docs/costs.md, "Allocation"). Lines without the tag are their own ``(untagged)`` row.
Prints the month's totals per value and currency (member accounts as "Name (id)");
``--output`` writes every row (with ``value_name``, the account's name).

Examples
--------
::

    invoicekit allocate --summaries invoices.parquet --costs exports/ --month 2026-10 \\
        --by tag:team --output by-team.csv
"""

from __future__ import annotations

import argparse

from invoicekit.cli import EXIT_OK, read_summaries
from invoicekit.cli.align import add_cost_arguments, read_costs

HELP = "split each invoice over member accounts, tags or cost categories, to the minor unit"
#: Values listed per currency in the printed summary.
MAX_LISTED = 15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit allocate``."""
    add_cost_arguments(parser)
    parser.add_argument(
        "--by",
        required=True,
        metavar="DIMENSION",
        help="linked_account | tag:KEY | cost_category:NAME | business_unit",
    )
    parser.add_argument("--business-units", metavar="FILE",
                        help="for --by business_unit: CSV with account_id, business_unit")  # fmt: skip
    parser.add_argument("--view", choices=("base", "tax", "payment"), default="payment",
                        help="the view the printed summary shows (default payment; the file "
                        "has all three)")  # fmt: skip
    parser.add_argument(
        "--output", metavar="FILE", help="write every allocation row (.csv or .parquet)"
    )


def run(args: argparse.Namespace) -> int:
    """Allocate, print totals per value, write ``--output``."""
    from decimal import Decimal

    from invoicekit._money import format_money
    from invoicekit.costs import allocate
    from invoicekit.costs.output import write_table
    from invoicekit.costs.present import value_labels

    summaries = read_summaries(args.summaries)
    costs = read_costs(args)
    table = allocate(summaries, costs, by=args.by, month=args.month, engine=args.engine,
                     business_units=args.business_units)  # fmt: skip
    if args.output:
        write_table(table, args.output)
    from invoicekit import documents, months
    from invoicekit.schema import VIEW_LABELS

    firsts = table.drop_duplicates("invoice_id")
    kinds = {"INVOICE": documents.INVOICE, "CREDIT_MEMO": documents.CREDIT_MEMO}
    counts: dict[str, int] = {}
    for t in firsts["invoice_type"]:
        kind = kinds.get(t) if isinstance(t, str) else None
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    scope = f" of {months.month_words(args.month)}" if args.month else ""
    print(f"Allocated {documents.describe(counts) if counts else 'no invoice'}{scope} over "
          f"{args.by}, each invoice to the minor unit in every currency view; in the "
          f"{VIEW_LABELS[args.view]}:")  # fmt: skip
    view = table[table["view"] == args.view]
    labels = value_labels(table)  # member accounts as "Name (id)"
    width = max([32, *(len(labels.get(v, v)) for v in set(view["value"]))])
    for cur, part in view.groupby("currency", sort=True):
        sums: dict[str, Decimal] = {}
        for value, total in zip(part["value"], part["total"], strict=True):
            sums[value] = sums.get(value, Decimal(0)) + total
        ranked = sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))
        grand = sum(sums.values(), Decimal(0))
        print(f"  {cur}: {format_money(grand, cur, code=True)}")
        for value, total in ranked[:MAX_LISTED]:
            print(f"    {labels.get(value, value):<{width}} {format_money(total, cur):>18}")
        if len(ranked) > MAX_LISTED:
            print(f"    ... and {len(ranked) - MAX_LISTED} more values (see --output)")
    for note in table.attrs.get("notes", []):
        print(f"Note: {note}.")
    if args.output:
        print(f"The allocation is in {args.output}.")
    return EXIT_OK
