"""``invoicekit chargeback``: charge a billing month back to business units, per currency.

Reads the invoice summaries (``invoicekit fetch --output``), a business-unit mapping (a CSV,
or a fleet file whose ``business_units:`` section is used) and, when the mapping names invoice
units, the units (``invoicekit units --output``). Every payable invoice of ``--month`` (invoices;
credit memos reduce) is charged whole to the business unit of its most specific mapping row —
invoice unit, then member (bill source) account, then payer. Writes one line per business unit,
cost center, GL account and currency (``--output``, CSV, or parquet by its extension), prints a
short table and, per currency, how the lines add up to the month's payable total (the figure of
the executive summary)::

    EUR: 3 business units + unallocated = 1,234.56 EUR, the payable total of October 2026

Exit codes: 0 every invoice is charged to a business unit; 1 something is unallocated (no
mapping covers it, or an invoice unit's member accounts are in different business units): the
file is written and the unallocated lines say what to map — a finding a controller must see
before the chargeback is booked; 2 bad input (a missing or unreadable file, a bad month or
mapping).

Examples
--------
::

    invoicekit chargeback --summaries invoices.parquet --mapping business_units.csv \\
        --units units.parquet --month 2026-10 --output chargeback-2026-10.csv
"""

from __future__ import annotations

import argparse

from invoicekit.cli import EXIT_FINDINGS, EXIT_OK
from invoicekit.errors import InvalidArgumentError

HELP = "charge a billing month back to business units per currency, adding up to the payable total"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit chargeback``."""
    parser.add_argument(
        "--summaries",
        required=True,
        metavar="FILE",
        help="invoice summaries written by `invoicekit fetch` (.parquet or .csv)",
    )
    parser.add_argument(
        "--mapping",
        required=True,
        metavar="FILE",
        help="business units: a CSV (account_id | invoice_unit | payer_account_id, "
        "business_unit, cost_center, gl_account) or a fleet file with a business_units: section",
    )
    parser.add_argument(
        "--units",
        metavar="FILE",
        help="invoice units written by `invoicekit units --output` (needed when the mapping "
        "names invoice units)",
    )
    parser.add_argument("--month", required=True, metavar="YYYY-MM", help="the billing month")
    parser.add_argument(
        "--view",
        choices=("payment", "base"),
        default="payment",
        help="currency view: payment (what accounts payable pays, default) or base",
    )
    parser.add_argument(
        "--output",
        required=True,
        metavar="FILE",
        help="the chargeback table to write (.csv, or .parquet)",
    )


def _plain(value, currency: str) -> str:
    """An exact amount as plain text: at the minor unit when that loses nothing."""
    from invoicekit._money import quantize

    q = quantize(value, currency)
    return f"{q if q == value else value:f}"


def _write(frame, path: str) -> None:
    import io
    from pathlib import Path

    from invoicekit import _files

    p = Path(path)
    out = frame.copy()
    out.attrs = {}  # the per-invoice detail stays in memory
    parquet = p.suffix.lower() == ".parquet"
    if not parquet:  # parquet keeps exact decimals; CSV gets plain decimal strings
        for c in ("subtotal", "discounts", "fees", "taxes", "total"):
            out[c] = [_plain(v, cur) for v, cur in zip(out[c], out["currency"], strict=True)]
    try:
        if parquet:
            buf = io.BytesIO()
            out.to_parquet(buf, index=False)
            _files.write_bytes(p, buf.getvalue())
        else:
            _files.write_text(p, out.to_csv(index=False, lineterminator="\n"))
    except OSError as exc:
        raise InvalidArgumentError(
            f"--output {path}: cannot write it ({exc.strerror or exc}); check the directory "
            "exists and is writable"
        ) from exc


def _table(frame) -> list[str]:
    from invoicekit._money import format_money
    from invoicekit._na import is_missing

    # the same columns as notebook 05's table (invoicekit.notebook.chargeback)
    headers = ("Business unit", "Cost center", "GL account", "Currency", "Invoices",
               "Credit memos", "Total")  # fmt: skip

    def text(v) -> str:
        return "" if is_missing(v) else str(v)

    rows = [
        (
            str(r.business_unit),
            text(r.cost_center),
            text(r.gl_account),
            r.currency,
            f"{int(r.invoices):,}",
            f"{int(r.credit_memos):,}",
            format_money(r.total, r.currency),
        )
        for r in frame.itertuples()
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]  # fmt: skip
    right = {4, 5, 6}

    def fmt(cells) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [fmt(headers), *(fmt(r) for r in rows)]


def _flag_names(message: str) -> str:
    for api, flag in (("month=", "--month "), ("mapping", "--mapping"), ("view=", "--view ")):
        if message.startswith(api):
            return flag + message[len(api) :]
    return message.replace("view='base'", "--view base").replace("pass units=", "pass --units")


def run(args: argparse.Namespace) -> int:
    """Run ``invoicekit chargeback``; returns the exit code."""
    from invoicekit import months
    from invoicekit.business_units import (
        ALLOCATED,
        chargeback,
        chargeback_lines,
        read_business_units,
    )
    from invoicekit.cli import read_summaries

    month = months.format_month(*months.parse_month(args.month, "--month"))
    try:
        mapping = read_business_units(args.mapping, name="--mapping")
    except InvalidArgumentError as exc:
        text = str(exc)
        raise InvalidArgumentError(text if text.startswith("--") else f"--mapping {text}") from exc
    units = None
    if args.units:
        from invoicekit.units import load_units

        units = load_units(args.units, name="--units")
    df = read_summaries(args.summaries)
    try:
        frame = chargeback(df, mapping, units=units, month=month, view=args.view)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(_flag_names(str(exc))) from exc
    _write(frame, args.output)
    if not len(frame):
        print(f"No payable invoice of {months.month_words(month)} in {args.summaries}.")
    else:
        for line in _table(frame):
            print(line)
        print()
        for line in chargeback_lines(frame):
            print(line)
    unallocated = frame[frame["status"] != ALLOCATED]
    for r in unallocated.itertuples():
        print(f"Unallocated ({r.currency}): {r.detail}.")
    for note in frame.attrs.get("notes", []):
        print(note)
    print(f"Wrote {args.output}.")
    return EXIT_FINDINGS if len(unallocated) else EXIT_OK
