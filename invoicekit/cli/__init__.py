"""``invoicekit`` command line: one module per subcommand.

Each subcommand module provides ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their command runs, so
``invoicekit sandbox`` starts without importing pandas, and ``invoicekit --help`` imports none.

The contract a scheduler relies on: exit 0 ok, 1 findings, 2 bad input (one line naming the
flag and the fix), 3 partial (the others' results were written), 70 an unexpected error (one
line and the hint to rerun with ``--debug``, which shows the traceback). ``--now`` (before or
after the command) sets business "now" for the run and every child process it starts.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable
from typing import Any

from invoicekit._redact import install_log_redaction, redact

EXIT_OK = 0
#: The run worked and found problems (reconcile error findings, verify problems).
EXIT_FINDINGS = 1
#: Bad input: arguments, configuration, profiles, credentials.
EXIT_BAD_INPUT = 2
#: Some accounts or documents failed; the others' results were written.
EXIT_PARTIAL = 3
#: An unexpected error (a bug): sysexits' EX_SOFTWARE, never "partial".
EXIT_SOFTWARE = 70
#: stdout was closed by its reader (``| head``): 128 + SIGPIPE, as a shell reports it.
EXIT_BROKEN_PIPE = 141

# command name -> module under invoicekit.cli
COMMANDS = {
    "sandbox": "sandbox",
    "fetch": "fetch",
    "download": "download",
    "verify": "verify",
    "reconcile": "reconcile",
    "export-ap": "export_ap",
    "close": "close",
    "changes": "changes",
    "report": "report",
    "units": "units",
    "chargeback": "chargeback",
    "align": "align",
    "allocate": "allocate",
    "demo": "demo",
}

# One-line help, kept here so `invoicekit --help` needs no imports.
_HELP = {
    "sandbox": "run the offline AWS Invoicing sandbox in the foreground",
    "fetch": "load invoice summaries of a fleet into a parquet/CSV file and local store",
    "download": "batch-download invoice PDFs into an audit-ready archive",
    "verify": "re-hash a PDF archive against its manifest",
    "reconcile": "check invoice totals, exchange rates and completeness",
    "export-ap": "export one billing month's payable invoices for accounts payable, never twice",
    "close": "close a billing month: fetch, reconcile, archive, AP export and a signed close pack",
    "changes": "list what changed in a closed month since its close pack was written",
    "report": "write the executive summary (HTML, optional PDF) from invoice summaries",
    "units": "list the invoice units of a fleet (one row per unit and member account) into a file",
    "chargeback": "charge a billing month back to business units per currency, adding up to the payable total",
    "align": "tie invoices out to the cost-and-usage export (CUR 2.0 or FOCUS 1.2), per invoice id",
    "allocate": "split each invoice over member accounts, tags or cost categories, to the minor unit",
    "demo": "run the whole month-end job on the sandbox and write reports",
}


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (``--max-workers``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer, e.g. 32")
    return value


def bounded_int(lo: int, hi: int, example: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``lo`` to ``hi`` (argparse names the flag).

    Examples
    --------
    >>> bounded_int(1, 240, 12)("24")
    24
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number: give {lo} to {hi}, e.g. {example}"
            ) from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is not from {lo} to {hi}: e.g. {example}")
        return value

    parse.__name__ = "whole number"
    return parse


def iso_date(text: str) -> str:
    """argparse type for ``--today``: a date ``YYYY-MM-DD``, returned in that form."""
    from datetime import date

    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: give YYYY-MM-DD, e.g. 2026-11-25"
        ) from None


def add_client_argument(parser: argparse.ArgumentParser) -> None:
    """``--client lean|boto3`` (how requests are sent; :data:`invoicekit._client.CLIENTS`)."""
    from invoicekit._client import CLIENTS, DEFAULT_CLIENT

    parser.add_argument(
        "--client",
        choices=CLIENTS,
        default=DEFAULT_CLIENT,
        help="how requests are sent: lean (requests signed by invoicekit over pooled "
        f"connections) or boto3 (the reference path); default {DEFAULT_CLIENT}; both give "
        "the same results",
    )


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """``--progress/--no-progress`` (default: a bar only when stderr is a terminal)."""
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: only when stderr is a terminal, "
        "so cron logs get none)",
    )


def progress_enabled(args: argparse.Namespace, stream: Any = None) -> bool:
    """Whether a command shows progress bars: ``--progress``/``--no-progress`` decide, else
    whether ``stream`` (default ``sys.stderr``, where the bars go) is a terminal."""
    chosen = getattr(args, "progress", None)
    if chosen is not None:
        return bool(chosen)
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or replaced streams
        return False


def month(text: str) -> str:
    """argparse type for ``--from``/``--to``: a billing month, returned as ``"YYYY-MM"``.

    argparse names the flag in its error, so the user reads ``argument --from: ...``.
    """
    from invoicekit.errors import InvalidArgumentError
    from invoicekit.months import parse_month

    try:
        year, mon = parse_month(text, "month")
    except InvalidArgumentError as exc:
        reason = str(exc).split(": ", 1)[0].replace("month=", "", 1)
        raise argparse.ArgumentTypeError(
            f"{reason}: give a billing month as YYYY-MM between 2005-01 and 2050-12, e.g. 2025-01"
        ) from None
    return f"{year:04d}-{mon:02d}"


def writable_output(path: object, flag: str = "--output"):
    """``path`` as a ``Path`` once it is sure a file can be written there (its directory made);
    refused before any API call is spent, naming ``flag``."""
    import os
    from pathlib import Path

    from invoicekit.errors import InvalidArgumentError

    out = Path(path)
    if out.is_dir():
        raise InvalidArgumentError(f"{flag} {out} is a directory: give a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(
            f"{flag} {out}: cannot create its directory ({exc.strerror}): choose a writable path"
        ) from exc
    if not os.access(out.parent, os.W_OK):
        raise InvalidArgumentError(
            f"{flag} {out}: the directory is not writable: choose a writable path"
        )
    return out


def read_summaries(path: str):
    """Read a ``--summaries`` file written by ``invoicekit fetch`` (parquet or CSV).

    Parquet is recognised by its content as well as its extension; anything else is read as
    CSV with the schema's dtypes.

    Raises
    ------
    InvalidArgumentError
        Missing or unreadable file (one line, naming the file and the fix).
    """
    from pathlib import Path

    from invoicekit import schema
    from invoicekit.errors import InvalidArgumentError

    p = Path(path)
    if not p.is_file():
        raise InvalidArgumentError(
            f"--summaries {path}: no such file (write it with `invoicekit fetch --output FILE`)"
        )
    try:
        with open(p, "rb") as fh:
            magic = fh.read(4)
        if magic == b"PAR1" or p.suffix.lower() == ".parquet":
            return schema.from_parquet(p)
        return schema.from_csv(p)
    except InvalidArgumentError:
        raise
    except Exception as exc:  # pyarrow, unicode and value errors: a file we cannot read
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidArgumentError(
            f"--summaries {path}: cannot read it ({reason}); pass the .parquet or .csv "
            "written by `invoicekit fetch`"
        ) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_BAD_INPUT, f"invoicekit: error: {message} (see '{self.prog} --help')\n")


_NOW_HELP = (
    "business date/time of this run (ISO date or timestamp, UTC): decides the last closed "
    "month, default ranges and settled months; default: $INVOICEKIT_NOW, else the real time"
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``invoicekit`` parser; with ``only``, just that command's options are declared
    (``only=""``: none, for ``invoicekit --help``, which then imports no command module)."""
    parser = _Parser(prog="invoicekit", description="AWS invoices across payer accounts.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--now", metavar="WHEN", help=_NOW_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, help_text in _HELP.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Also after the command (`invoicekit fetch --now 2026-11-05`); SUPPRESS keeps a value
        # given before the command.
        p.add_argument("--now", metavar="WHEN", default=argparse.SUPPRESS, help=_NOW_HELP)
        if only is None or only == name:
            _module(name).add_arguments(p)
    return parser


def _module(name: str):
    return importlib.import_module(f"invoicekit.cli.{COMMANDS[name]}")


def _command_of(argv: list[str]) -> str | None:
    """The command word of ``argv``: the first word that is not a global option or its value."""
    words = iter(argv)
    for word in words:
        if word == "--now":
            next(words, None)
        elif word == "--":
            return next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _plain_warnings() -> None:
    """A warning on the command line is one redacted line (``invoicekit: warning: ...``), not
    Python's ``file:line: UserWarning:`` with a source line; ``--debug`` keeps Python's form.

    Only the text is changed (``warnings.formatwarning``): where warnings are recorded (tests,
    ``warnings.catch_warnings(record=True)``) they still are.
    """
    import warnings

    def text(message, category, filename, lineno, line=None) -> str:  # noqa: ARG001
        return f"invoicekit: warning: {redact(str(message))}\n"

    warnings.formatwarning = text


def main(argv: list[str] | None = None) -> int:
    """Run ``invoicekit`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    from invoicekit.errors import ConfigError, InvalidArgumentError, InvoiceKitError

    argv = list(sys.argv[1:] if argv is None else argv)
    # Import only the chosen command's module (none for `invoicekit --help`).
    chosen = _command_of(argv)
    parser = build_parser(only=chosen if chosen in COMMANDS else "")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="invoicekit: %(levelname)s: %(message)s",
    )
    install_log_redaction()
    if not args.debug:
        _plain_warnings()
    try:
        if args.now:
            from invoicekit import clock

            with clock.pinned_for_run(clock.parse(args.now, "--now")):  # children agree
                return int(_module(args.command).run(args) or 0)
        return int(_module(args.command).run(args) or 0)
    except (InvalidArgumentError, ConfigError) as exc:
        print(f"invoicekit: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except InvoiceKitError as exc:
        print(f"invoicekit: error: {exc}", file=sys.stderr)
        return EXIT_PARTIAL
    except KeyboardInterrupt:
        print("invoicekit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`invoicekit reconcile ... | head`): stop quietly, as a shell
        # tool does, and keep Python from complaining again when it flushes stdout at exit.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # unexpected: one redacted line; --debug adds the traceback
        if args.debug:
            import traceback

            print(redact("".join(traceback.format_exception(exc))).rstrip(), file=sys.stderr)
        reason = " ".join(str(redact(exc)).split()) or "(no message)"
        hint = "" if args.debug else " (run again with --debug for a traceback)"
        print(
            f"invoicekit: error: unexpected {type(exc).__name__}: {reason}{hint}", file=sys.stderr
        )
        return EXIT_SOFTWARE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
