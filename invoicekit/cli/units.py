"""``invoicekit units``: the invoice units of a fleet (one row per unit and member account).

Writes the units frame of :func:`invoicekit.units.read_invoice_units` to ``--output`` (CSV or
parquet, by extension) and, with ``--profiles FILE``, the invoice profiles of the payers and
their units' receivers (address, e-mail and tax registration number masked: they never go to
a file). Prints one summary line::

    12 invoice units of 3 payer accounts (41 member accounts) as of 2026-11-30 written to units.csv

``--as-of DATE`` describes the units as they were then (a date means the end of that day,
UTC); ``--from``/``--to`` instead take one snapshot at the end of every month of the range
(what ``invoicekit chargeback --units`` and completeness per unit need when units changed).

Exit codes: 0 every payer answered; 3 some payers failed (the others' units are written); 2 bad
input (a bad date or month, an unknown output extension, a missing or invalid fleet file, an
unknown profile, no credentials).

Examples
--------
::

    invoicekit units --config fleet.yml --as-of 2026-11-30 --output units.csv \\
        --profiles profiles.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from invoicekit.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL, add_progress_argument, month

HELP = "list the invoice units of a fleet (one row per unit and member account) into a file"


def _as_of(text: str) -> str:
    """``--as-of``: an ISO date or timestamp (checked here, parsed by the library)."""
    from invoicekit import clock
    from invoicekit.errors import InvalidArgumentError

    try:
        clock.parse(text, "--as-of")
    except InvalidArgumentError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or timestamp: give YYYY-MM-DD (the end of that day, UTC) "
            "or an ISO timestamp, e.g. 2026-11-30"
        ) from None
    return text.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit units``."""
    parser.add_argument(
        "--config", required=True, metavar="FLEET.yml", help="fleet file listing the payer accounts"
    )
    parser.add_argument(
        "--as-of",
        dest="as_of",
        type=_as_of,
        metavar="DATE",
        help="the units as they were at DATE (YYYY-MM-DD: the end of that day, UTC; or an ISO "
        "timestamp); default: now",
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=month,
        metavar="YYYY-MM",
        help="instead of --as-of: one snapshot at the end of every month from this one ...",
    )
    parser.add_argument(
        "--to", dest="end", type=month, metavar="YYYY-MM", help="... to this one (inclusive)"
    )
    parser.add_argument(
        "--output", required=True, metavar="FILE", help="FILE.csv or FILE.parquet to write"
    )
    parser.add_argument(
        "--profiles",
        metavar="FILE",
        help="also write the invoice profiles of the payers and their units' receivers "
        "(FILE.csv or FILE.parquet; address, e-mail and tax registration number masked)",
    )
    parser.add_argument(
        "--max-workers", type=_positive, default=None, metavar="N", help="payers queried at once"
    )
    add_progress_argument(parser)


def _positive(text: str) -> int:
    from invoicekit.cli import positive_int

    return positive_int(text)


def _writable(path: str, flag: str) -> Path:
    from invoicekit.cli import writable_output
    from invoicekit.units import _file_format

    _file_format(path, flag)
    return writable_output(path, flag)


def _months(args: argparse.Namespace) -> tuple[str, str] | None:
    from invoicekit.errors import InvalidArgumentError

    if args.start is None and args.end is None:
        return None
    if args.as_of is not None:
        raise InvalidArgumentError(
            "--as-of and --from/--to exclude each other: give --as-of DATE for one snapshot, or "
            "--from and --to for one at the end of every month"
        )
    if args.start is None or args.end is None:
        given, other = ("--from", "--to") if args.start is not None else ("--to", "--from")
        raise InvalidArgumentError(
            f"{given} needs {other}: give both months, e.g. --from 2025-12 --to 2026-11"
        )
    if args.end < args.start:
        raise InvalidArgumentError(
            f"--to {args.end} is before --from {args.start}: give --to the same month as --from or later"
        )
    return args.start, args.end


def _when(args: argparse.Namespace, span: tuple[str, str] | None) -> str:
    from invoicekit import clock

    if span is not None:
        return f"as of the end of each month {span[0]}..{span[1]}"
    if args.as_of is None:
        return f"as of {clock.today().isoformat()}"
    return f"as of {args.as_of}"


def summary_line(units, n_payers: int, when: str, out: Path) -> str:
    """``"12 invoice units of 3 payer accounts (41 member accounts) as of 2026-11-30 written to
    units.csv"``: units and member accounts counted distinct, payers those that have a unit."""
    from invoicekit.documents import plural

    n_units = int(units["invoice_unit_arn"].nunique())
    payers = int(units["payer_account_id"].nunique())
    members = int(units["member_account_id"].dropna().nunique())
    line = (
        f"{plural(n_units, 'invoice unit')} of {plural(payers, 'payer account')} "
        f"({plural(members, 'member account')}) {when} written to {out}"
    )
    if n_payers > payers:
        rest = n_payers - payers
        line += f"; {plural(rest, 'other payer account')} {'has' if rest == 1 else 'have'} none"
    return line


def run(args: argparse.Namespace) -> int:
    """List the units (and profiles), write them, print the summary; return the exit code."""
    from invoicekit.cli import progress_enabled
    from invoicekit.errors import ConfigError
    from invoicekit.outcomes import run_report

    span = _months(args)
    out = _writable(args.output, "--output")
    profiles_out = _writable(args.profiles, "--profiles") if args.profiles else None
    config = Path(args.config)
    if not config.is_file():
        raise ConfigError(
            f"fleet file {config} not found: pass --config with the path of a fleet YAML file"
        )

    from invoicekit.fleet import load_fleet
    from invoicekit.units import read_invoice_profiles, read_invoice_units, write_frame

    fleet = load_fleet(config)
    progress = progress_enabled(args)
    units = read_invoice_units(
        fleet, args.as_of, months=span, max_workers=args.max_workers, progress=progress
    )
    write_frame(units, out, name="--output")
    report = run_report(units)
    failures = list(report.failures) if report is not None else []
    ok_payers = len(fleet.accounts) - len({f.account_id for f in failures})
    print(summary_line(units, ok_payers, _when(args, span), out))
    if profiles_out is not None:
        profiles = read_invoice_profiles(
            fleet, units=units, max_workers=args.max_workers, progress=progress
        )
        write_frame(profiles, profiles_out, name="--profiles")
        from invoicekit.documents import plural

        print(
            f"{plural(len(profiles), 'invoice profile')} written to {profiles_out} "
            "(address, e-mail and tax registration number masked)"
        )
        extra = run_report(profiles)
        if extra is not None:
            failures += [
                f for f in extra.failures if f.account_id not in {x.account_id for x in failures}
            ]
    for f in failures:
        name = f" ({f.account_name})" if f.account_name else ""
        print(f"  failed: {f.account_id}{name} {f.operation} {f.code}: {f.message}")
    sys.stdout.flush()
    if not failures:
        return EXIT_OK
    config_failures = [f for f in failures if f.config]
    if config_failures:
        print(f"invoicekit: error: {config_failures[0].message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    failed = len({f.account_id for f in failures})
    print(
        f"invoicekit: error: {failed} of {len(fleet.accounts)} payer accounts failed (listed "
        f"above); the other accounts' units were written to {out}",
        file=sys.stderr,
    )
    return EXIT_PARTIAL
