"""``invoicekit sandbox``: run the offline AWS Invoicing sandbox in the foreground.

The first line of output is the endpoint URL (scripts read it); then a table of the accounts and
how to point the AWS CLI at the sandbox. SIGINT and SIGTERM stop it cleanly (exit 0).

Its default "today" is business today (:func:`invoicekit.clock.today`: ``--now``, else
``INVOICEKIT_NOW``, else the real date), so a sandbox started as a child process agrees with
its parent.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from invoicekit.cli import bounded_int, iso_date

HELP = "run the offline AWS Invoicing sandbox in the foreground"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def _rate_limit(text: str) -> float | tuple[float, ...] | dict[str, float]:
    """``--rate-limit``: R, R1,R2,... (by account index) or ACCOUNT=R,..."""
    from invoicekit.sandbox._faults import parse_rate_limit

    try:
        return parse_rate_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> int:
    """A lifetime in whole seconds, at least 1 (``--url-lifetime``)."""
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1 second, e.g. 900")
    return int(value)


def _operations(text: str) -> tuple[str, ...]:
    """``--fault-operations``: a comma list of the operations faults apply to."""
    from invoicekit.sandbox._faults import FAULT_OPERATIONS

    ops = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [op for op in ops if op not in FAULT_OPERATIONS]
    if not ops or unknown:
        shown = ", ".join(unknown) if unknown else repr(text)
        raise argparse.ArgumentTypeError(
            f"unknown operation {shown}: give a comma list of {','.join(FAULT_OPERATIONS)}"
        )
    return ops


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535, 0 = free)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``invoicekit sandbox``."""
    g = parser.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    g.add_argument("--port", type=_port, default=0, help="port; 0 (default) picks a free port")
    g.add_argument(
        "--write-config",
        metavar="PATH",
        help="write a fleet YAML (plus PATH-stem.aws-config/.aws-credentials) reaching every account",
    )
    g.add_argument(
        "--access-log", action="store_true", help="log one line per request (secrets redacted)"
    )
    g.add_argument("--quiet", action="store_true", help="print only the endpoint URL (for scripts)")
    o = parser.add_argument_group("organization")
    o.add_argument("--seed", type=int, default=7, help="seed of the synthetic data (default 7)")
    o.add_argument("--accounts", type=bounded_int(1, 9999, 12), default=12,
                   help="payer accounts, 1 to 9999 (default 12)")  # fmt: skip
    o.add_argument("--months", type=bounded_int(1, 240, 24), default=24,
                   help="billing months, 1 to 240 (default 24)")  # fmt: skip
    o.add_argument(
        "--today",
        type=iso_date,
        help="the sandbox's today (YYYY-MM-DD); the last closed month is billed last "
        "(default: business today, from --now or $INVOICEKIT_NOW, else the real date)",
    )
    o.add_argument("--anomalies", action="store_true", help="plant known reconciliation problems")
    f = parser.add_argument_group("faults (deterministic by --seed)")
    f.add_argument("--latency-ms", type=_non_negative, default=0.0, help="added latency (ms)")
    f.add_argument("--jitter-ms", type=_non_negative, default=0.0, help="plus uniform [0, X) ms")
    f.add_argument(
        "--rate-limit",
        type=_rate_limit,
        metavar="R",
        help="per-account token bucket, requests/s (429 ThrottlingException beyond): R for "
        "every account, a spread R1,R2,... assigned by account index (cycling), or "
        "ACCOUNT=R,...",
    )
    f.add_argument("--fault-throttle", type=_fraction, default=0.0, metavar="P",
                   help="fraction answered ThrottlingException (429)")  # fmt: skip
    f.add_argument("--fault-error", type=_fraction, default=0.0, metavar="P",
                   help="fraction answered InternalServerException (500)")  # fmt: skip
    f.add_argument("--fault-drop", type=_fraction, default=0.0, metavar="P",
                   help="fraction of connections closed without a response")  # fmt: skip
    f.add_argument("--fault-truncate", type=_fraction, default=0.0, metavar="P",
                   help="fraction of document downloads cut short")  # fmt: skip
    f.add_argument(
        "--fault-operations",
        type=_operations,
        metavar="OPS",
        help="comma list the faults apply to: ListInvoiceSummaries,GetInvoicePDF,Document "
        "(default all)",
    )
    f.add_argument("--url-lifetime", type=_seconds, default=900, metavar="S",
                   help="lifetime of document URLs in seconds (default 900)")  # fmt: skip
    f.add_argument("--deny-account", action="append", default=[], metavar="ID",
                   help="answer AccessDeniedException to this account's credentials (repeatable)")  # fmt: skip
    f.add_argument("--role-session-max-s", type=_positive, metavar="S",
                   help="cap the lifetime of AssumeRole credentials (test refresh)")  # fmt: skip
    e = parser.add_argument_group("cost-and-usage exports")
    e.add_argument(
        "--exports",
        metavar="DIR",
        help="write a CUR 2.0 and a FOCUS 1.2 export per payer under DIR (Data Exports layout; "
        "with --anomalies, planted misalignments too) before serving",
    )
    e.add_argument("--export-lines", type=bounded_int(1, 100_000_000, 100_000), metavar="N",
                   help="about N lines per export and billing month (benchmarks)")  # fmt: skip


def _table(org) -> str:
    rows = [("account", "name", "invoicing entity", "currencies (base/tax/payment)")]
    for a in org.accounts:
        rows.append(
            (
                a.account_id,
                a.name,
                a.invoicing_entity,
                f"{a.base_currency}/{a.tax_currency}/{a.payment_currency}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _usage(org, endpoint: str, config_path: str | None) -> str:
    # No key is printed: the written profiles carry them, and /_sandbox/org lists them for
    # scripts. Output that holds secrets, even fake ones, teaches the wrong habit.
    first = org.accounts[0]
    last_year, last_month = org.periods[-1]
    lines = [""]
    if config_path:
        from pathlib import Path

        cfg = Path(config_path).resolve()
        stem = _stem(config_path)
        lines += [
            f"Fleet config written: {cfg}",
            "  (its profiles carry the endpoint and fake keys; accounts alternate own keys /",
            "  assumed role). Point the AWS CLI at them:",
            f"  export AWS_CONFIG_FILE={cfg.parent / (stem + '.aws-config')}",
            f"  export AWS_SHARED_CREDENTIALS_FILE={cfg.parent / (stem + '.aws-credentials')}",
            f"  aws --profile invoicekit-sandbox-{first.account_id} invoicing "
            "list-invoice-summaries \\",
            f"      --selector ResourceType=ACCOUNT_ID,Value={first.account_id} \\",
            f"      --filter 'BillingPeriod={{Month={last_month},Year={last_year}}}'",
            f"  invoicekit fetch --config {cfg} --from {last_year}-01 "
            f"--to {last_year}-{last_month:02d} --output summaries.parquet",
        ]
    else:
        lines += [
            "Point the AWS CLI at it: restart with --write-config fleet.yml for ready profiles,",
            f"or take an account's fake keys from {endpoint}/_sandbox/org and use",
            f"  aws invoicing list-invoice-summaries --endpoint-url {endpoint} \\",
            f"      --selector ResourceType=ACCOUNT_ID,Value={first.account_id} \\",
            f"      --filter 'BillingPeriod={{Month={last_month},Year={last_year}}}'",
        ]
    lines += ["", f"Admin: {endpoint}/_sandbox/health|org|stats|anomalies.  Ctrl-C stops."]
    return "\n".join(lines)


def _stem(path: str) -> str:
    from pathlib import Path

    p = Path(path)
    return p.stem if p.suffix in (".yaml", ".yml") else p.name


def run(args: argparse.Namespace) -> int:
    """Start the sandbox and serve until SIGINT/SIGTERM."""
    from invoicekit import clock
    from invoicekit.errors import InvalidArgumentError
    from invoicekit.sandbox import Faults, write_fleet_config
    from invoicekit.sandbox.org import build_organization
    from invoicekit.sandbox.server import SandboxServer

    # every value was checked by its argparse type, so Faults and the org accept them
    faults = Faults(
        throttle_rate=args.fault_throttle,
        error_rate=args.fault_error,
        drop_rate=args.fault_drop,
        truncate_rate=args.fault_truncate,
        operations=args.fault_operations,
    )
    today = args.today or clock.today().isoformat()  # business today: --now, $INVOICEKIT_NOW
    org = build_organization(
        seed=args.seed, accounts=args.accounts, months=args.months, today=today,
        anomalies=args.anomalies,
    )  # fmt: skip
    try:
        server = SandboxServer(
            org,
            host=args.host,
            port=args.port,
            seed=args.seed,
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            rate_limit=args.rate_limit,
            faults=faults,
            url_lifetime_s=int(args.url_lifetime),
            deny_accounts=args.deny_account,
            role_session_max_s=args.role_session_max_s,
            access_log=args.access_log,
        )
    except OSError as exc:
        raise InvalidArgumentError(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
            "choose another --port, or 0 for a free one"
        ) from None
    if args.access_log:
        import logging

        logging.getLogger("invoicekit.sandbox").setLevel(logging.INFO)
    stop = threading.Event()

    def _on_signal(signum, frame) -> None:  # noqa: ARG001
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.write_config:
            write_fleet_config(args.write_config, org, server.endpoint_url)
        if args.exports:
            from invoicekit.sandbox.exports import write_exports

            write_exports(org, args.exports, lines=args.export_lines, anomalies=args.anomalies)
        server.start()
        print(server.endpoint_url, flush=True)
        if not args.quiet:
            _print_banner(org, server.endpoint_url, args.write_config)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not args.quiet:
        print("invoicekit sandbox: stopped", file=sys.stderr)
    return 0


def _print_banner(org, endpoint: str, config_path: str | None) -> None:
    """The accounts and how to use them; a closed stdout (``| head -1``) is not an error."""
    try:
        print(
            f"invoicekit sandbox: {len(org.accounts)} payer accounts x {len(org.periods)} "
            f"billing months ({org.periods[0][0]}-{org.periods[0][1]:02d} .. "
            f"{org.periods[-1][0]}-{org.periods[-1][1]:02d}), {len(org.invoices)} invoices, "
            f"seed {org.seed}"
        )
        print(_table(org))
        print(_usage(org, endpoint, config_path), flush=True)
    except (BrokenPipeError, ValueError, OSError):
        import os

        # keep serving; silence the interpreter's final flush of the dead pipe
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
