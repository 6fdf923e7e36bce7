"""``invoicekit demo``: the whole month-end job on the offline sandbox, with reports.

Starts the sandbox, replays the AWS blog's two CLI calls with the real ``aws`` CLI, fetches every
account, reconciles, downloads the PDF archive, closes the last month (``invoicekit close``: the
close pack with the AP files, ledger and ``SHA256SUMS``), looks again 35 days later on a sandbox
whose late events have happened (``invoicekit changes``), runs every notebook headless
(papermill) and writes ``reports/*.html`` plus ``reports/executive_summary.html`` (and its PDF
print when chromium is there). Nothing leaves
the machine; no secret is printed or written (presigned query strings appear as ``?REDACTED``).

The sandbox's today is business today (``--today``, else ``--now``/``INVOICEKIT_NOW``, else the
real date) and the months closed are the ``--months`` up to the last closed month before it
(:func:`invoicekit.months.default_range`); the notebooks and the sandbox inherit
``INVOICEKIT_NOW``. Counts are printed in :mod:`invoicekit.documents` words, the same words and
numbers as the executive summary and the notebooks.

Examples
--------
>>> from invoicekit.cli import main  # doctest: +SKIP
>>> main(["demo", "--reports", "reports", "--workdir", "demo-output"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from invoicekit._redact import redact, redact_url
from invoicekit.cli import bounded_int, iso_date, positive_int

HELP = "run the whole month-end job on the sandbox and write reports"

#: The notebooks the demo runs, in order (file stems under ``notebooks/``).
NOTEBOOKS = (
    "01_spend_trends",
    "02_currency_reconciliation",
    "03_batch_download_pdfs",
    "04_month_end_close",
    "05_chargeback_by_business_unit",
    "06_invoice_vs_cost_and_usage",
)
_CLI_TIMEOUT_S = 120
#: How long after the close the demo looks again, on a sandbox whose today is that much later:
#: the late events of a month (credit memo, cancelled tax invoice, new document, restated
#: amount) fall between the 21st of the next month and the 3rd of the one after.
_LATER_DAYS = 35
_NOTEBOOK_TIMEOUT_S = 600


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``invoicekit demo``."""
    parser.add_argument("--reports", default="reports", help="where the HTML reports go")
    parser.add_argument(
        "--workdir", default="demo-output", help="where the data, archive, AP file go"
    )
    parser.add_argument(
        "--accounts",
        type=bounded_int(1, 9999, 12),
        default=12,
        help="sandbox payer accounts, 1 to 9999 (12)",
    )
    parser.add_argument(
        "--months",
        type=bounded_int(1, 240, 13),
        default=13,
        help="billing months to load, up to the last closed one, 1 to 240 (13: the closed "
        "month, and the year before it for the year-on-year comparison)",
    )
    parser.add_argument(
        "--today",
        type=iso_date,
        default=None,
        help="the sandbox's today, YYYY-MM-DD (default: business today, from --now or "
        "$INVOICEKIT_NOW, else the real date)",
    )
    parser.add_argument(
        "--notebooks",
        default=None,
        help="directory of the notebooks to run (default: the repository's notebooks/)",
    )
    parser.add_argument("--skip-notebooks", action="store_true", help="do not run the notebooks")
    parser.add_argument("--skip-cli", action="store_true", help="do not replay the AWS CLI calls")
    parser.add_argument("--jobs", type=positive_int, default=2, help="notebooks run at once (2)")


# ----------------------------------------------------------------------------------------------
# printing
# ----------------------------------------------------------------------------------------------


class _Steps:
    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.t0 = time.perf_counter()
        self.n = 0
        self.timings: dict[str, float] = {}

    def step(self, title: str) -> float:
        self.n += 1
        self.out(f"\n== {self.n}. {title}")
        return time.perf_counter()

    def done(self, key: str, started: float, note: str = "") -> None:
        self.timings[key] = time.perf_counter() - started
        self.out(f"   Done in {self.timings[key]:.1f} s.{' ' + note if note else ''}")

    def say(self, text: str) -> None:
        for line in redact(text).splitlines() or [""]:
            self.out(f"   {line}")


# ----------------------------------------------------------------------------------------------
# the AWS blog's two CLI calls
# ----------------------------------------------------------------------------------------------


def _aws_executable() -> str | None:
    beside = Path(sys.executable).parent / "aws"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("aws")


def _cli_env(fleet: Any, workdir: Path) -> tuple[dict[str, str], str]:
    """Environment for the AWS CLI: the sandbox's config (ISO timestamps), nothing else."""
    config_src = Path(fleet.config_file)
    text = config_src.read_text(encoding="utf-8")
    # AWS CLI v1 prints epoch numbers unless told otherwise: the blog shows ISO-8601.
    text = text.replace(
        "region = us-east-1\n", "region = us-east-1\ncli_timestamp_format = iso8601\n"
    )
    config = workdir / "aws-cli" / "config"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(fleet.credentials_file),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )
    account = next(a for a in fleet.accounts if a.profile)
    env["AWS_PROFILE"] = account.profile
    return env, account.id


def _run_cli(steps: _Steps, argv: Sequence[str], env: dict[str, str]) -> str:
    shown = " ".join(a if " " not in a and "{" not in a else f"'{a}'" for a in argv[1:])
    steps.say(f"$ aws {shown}")
    proc = subprocess.run(
        list(argv), env=env, capture_output=True, text=True, timeout=_CLI_TIMEOUT_S, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"aws exited {proc.returncode}: {redact(proc.stderr.strip())}")
    return proc.stdout


def blog_cli_calls(steps: _Steps, fleet: Any, workdir: Path, month: str) -> Path | None:
    """list-invoice-summaries then get-invoice-pdf with the real AWS CLI; download one PDF.

    ``month`` (``YYYY-MM``) is the billing month shown: its invoices are issued in the month
    after, the window the blog's call lists.
    """
    import calendar

    from invoicekit import months

    aws = _aws_executable()
    if aws is None:
        steps.say(
            "The AWS CLI is not installed (pip install awscli), so the blog's calls are skipped."
        )
        return None
    env, account_id = _cli_env(fleet, workdir)
    # the invoices of a billing month are issued in the month after it
    year, mon = months.add_months(*months.parse_month(month), 1)
    last_day = calendar.monthrange(year, mon)[1]
    start_date = f"{year:04d}-{mon:02d}-01"
    end_date = f"{year:04d}-{mon:02d}-{last_day:02d}"
    listed = _run_cli(
        steps,
        [
            aws,
            "invoicing",
            "list-invoice-summaries",
            "--selector",
            f"ResourceType=ACCOUNT_ID,Value={account_id}",
            "--filter",
            f"TimeInterval={{StartDate={start_date}T00:00:00,EndDate={end_date}T23:59:59}}",
            "--output",
            "json",
        ],
        env,
    )
    summaries = json.loads(listed).get("InvoiceSummaries", [])
    if not summaries:
        steps.say(
            f"The AWS CLI listed no invoice issued between {start_date} and {end_date} for "
            f"account {account_id}, so there is no PDF to fetch."
        )
        return None
    first = summaries[0]
    invoice_id = first["InvoiceId"]
    period = first.get("BillingPeriod") or {}
    steps.say(
        f"The AWS CLI listed {len(summaries):,} invoice summar{'y' if len(summaries) == 1 else 'ies'}"
        f" issued between {start_date} and {end_date} for account {account_id}; the first is "
        f"{invoice_id}, for billing month {period.get('Year', 0):04d}-{period.get('Month', 0):02d}."
    )
    raw = _run_cli(
        steps,
        [aws, "invoicing", "get-invoice-pdf", "--invoice-id", invoice_id, "--output", "json"],
        env,
    )
    pdf = json.loads(raw)["InvoicePDF"]
    steps.say(
        f"The AWS CLI's get-invoice-pdf answered with a link valid until {pdf.get('DocumentUrlExpirationDate')}"
        f": {redact_url(pdf['DocumentUrl'])} (its secret query string is not shown)."
    )
    out_dir = workdir / "blog"
    out_dir.mkdir(parents=True, exist_ok=True)
    # the blog saves the response: we keep it only redacted (the URL is a secret)
    redacted = dict(pdf, DocumentUrl=redact_url(pdf["DocumentUrl"]))
    redacted["SupplementalDocuments"] = [
        dict(d, DocumentUrl=redact_url(d.get("DocumentUrl", "")))
        for d in pdf.get("SupplementalDocuments", [])
    ]
    (out_dir / "invoice_sample.json").write_text(
        json.dumps({"InvoicePDF": redacted}, indent=2) + "\n", encoding="utf-8"
    )
    with urllib.request.urlopen(pdf["DocumentUrl"], timeout=_CLI_TIMEOUT_S) as resp:  # noqa: S310 - the sandbox's presigned URL
        body = resp.read()
    if not body.startswith(b"%PDF-"):
        raise RuntimeError(f"the document of invoice {invoice_id} is not a PDF")
    target = out_dir / f"{invoice_id}.pdf"
    target.write_bytes(body)
    steps.say(f"Downloaded that PDF ({len(body):,} bytes) to {target}.")
    return target


# ----------------------------------------------------------------------------------------------
# notebooks
# ----------------------------------------------------------------------------------------------


def _notebooks_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    repo = Path(__file__).resolve().parents[2] / "notebooks"
    return repo if repo.is_dir() else Path("notebooks")


def _notebook_parameters(
    stem: str,
    fleet_config: str,
    start: str,
    end: str,
    workdir: Path,
    png_dir: Path,
    nb_dir: Path | None = None,
) -> dict[str, Any]:
    common = {"fleet_config": fleet_config, "end": end, "view": "base"}
    if stem.startswith("01"):
        return {**common, "start": start, "png_dir": str(png_dir)}
    if stem.startswith("02"):
        return {**common, "start": start}
    if stem.startswith("03"):
        return {**common, "archive_dir": str(workdir / "notebooks" / "03-archive")}
    if stem.startswith("04"):
        return {
            "fleet_config": fleet_config,
            "end": end,
            "view": "base",
            "close_dir": str(workdir / "notebooks" / "04-month-end"),
        }
    if stem.startswith("05"):
        mapping = (nb_dir or _notebooks_dir(None)) / "business_units.csv"  # papermill's cwd differs
        return {"fleet_config": fleet_config, "month": end, "mapping": str(mapping)}
    if stem.startswith("06"):  # the exports the demo's sandbox wrote (align_step)
        return {"fleet_config": fleet_config, "month": end, "costs_path": str(workdir / "exports")}
    return common


def run_notebooks(
    steps: _Steps,
    nb_dir: Path,
    executed_dir: Path,
    params: Callable[[str], dict[str, Any]],
    jobs: int,
) -> tuple[list[Path], list[str]]:
    """Execute every notebook with papermill; returns (executed paths, failures).

    :func:`invoicekit.notebook.execute` starts each kernel on Unix sockets of its own, with
    CurveZMQ keys, so no kernel talks in plain text (nor prints ipykernel's warning that it
    does) or loses a TCP port to a parallel run.
    """
    from invoicekit.notebook import execute

    executed_dir.mkdir(parents=True, exist_ok=True)
    sources = [nb_dir / f"{s}.ipynb" for s in NOTEBOOKS if (nb_dir / f"{s}.ipynb").is_file()]
    failures: list[str] = []

    def one(src: Path) -> tuple[Path, float, str | None]:
        out = executed_dir / src.name
        t = time.perf_counter()
        try:
            execute(
                src,
                out,
                params(src.stem),
                cwd=executed_dir,
                timeout_s=_NOTEBOOK_TIMEOUT_S,
            )
            return out, time.perf_counter() - t, None
        except Exception as exc:  # noqa: BLE001 - reported, the others still run
            first = str(exc).strip().splitlines()
            return out, time.perf_counter() - t, redact(" ".join(first[-3:]) if first else exc)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, sources))
    done = []
    for out, seconds, error in results:
        steps.timings[f"notebook {out.stem}"] = seconds
        if error:
            failures.append(f"{out.stem}: {error}")
            steps.say(f"Notebook {out.stem} failed after {seconds:.1f} s: {error}")
        else:
            steps.say(f"Notebook {out.stem} ran in {seconds:.1f} s: {out}")
        if out.is_file():
            done.append(out)
    return done, failures


# ----------------------------------------------------------------------------------------------
# secrets
# ----------------------------------------------------------------------------------------------


def scan_for_secrets(roots: Sequence[Path]) -> list[str]:
    """Every text file under ``roots`` that holds a presigned query string or a credential."""
    from invoicekit.report import find_secrets

    leaks = []
    for root in roots:
        if not root.exists():
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if path.suffix.lower() not in {
                ".html",
                ".ipynb",
                ".csv",
                ".json",
                ".txt",
                ".log",
                ".md",
            }:
                continue
            found = find_secrets(path.read_text(encoding="utf-8", errors="replace"))
            if found:
                leaks.append(f"{path}: {', '.join(found)}")
    return leaks


# ----------------------------------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------------------------------


def _documents_line(docs: Any) -> str:
    """``"42 documents: 38 invoices, 2 credit memos, 2 supplemental documents — 42 downloaded"``."""
    from invoicekit import documents
    from invoicekit.archive import DOWNLOADED, FAILED, SKIPPED

    status = docs["status"].value_counts().to_dict() if len(docs) else {}
    words = {DOWNLOADED: "downloaded", SKIPPED: "already archived", FAILED: "failed"}
    done = ", ".join(f"{status[s]:,} {w}" for s, w in words.items() if status.get(s))
    return (
        f"{documents.describe_documents(documents.count_documents(docs))}"
        f" — {done or 'nothing to do'}"
    )


def _findings_line(findings: Any) -> str:
    """``"The reconciliation gave 6 findings: no error, 1 warning and 5 info notes"``."""
    by_sev = findings["severity"].value_counts().to_dict() if len(findings) else {}
    n = len(findings)

    def some(count: int, word: str, plural: str) -> str:
        return f"no {word}" if not count else f"{count:,} {word if count == 1 else plural}"

    return (
        f"The reconciliation gave {n:,} finding{'' if n == 1 else 's'}: "
        f"{some(by_sev.get('error', 0), 'error', 'errors')}, "
        f"{some(by_sev.get('warning', 0), 'warning', 'warnings')} and "
        f"{some(by_sev.get('info', 0), 'info note', 'info notes')}"
    )


def chargeback_step(
    steps: _Steps, pack: Path, *, nb_dir: Path, workdir: Path, problems: list[str]
) -> None:
    """The closed month charged back with the demo mapping (``notebooks/business_units.csv``),
    from the close pack's own summaries and invoice units: one run, one set of figures."""
    from invoicekit import schema
    from invoicekit.business_units import (
        ALLOCATED,
        chargeback,
        chargeback_lines,
        read_business_units,
    )
    from invoicekit.units import load_units

    mapping_file = nb_dir / "business_units.csv"
    if not mapping_file.is_file():
        steps.say(f"No business-unit mapping at {mapping_file}: the chargeback is left out.")
        return
    try:
        df = schema.from_parquet(pack / "summaries.parquet")
        units_file = pack / "units.parquet"
        units = load_units(units_file) if units_file.is_file() else None
        cb = chargeback(df, read_business_units(mapping_file), units=units, month=pack.name)
    except Exception as exc:  # noqa: BLE001 - reported; the demo goes on
        problems.append(f"chargeback: {redact(exc)}")
        steps.say(f"FAILED: {redact(exc)}")
        return
    out = workdir / "chargeback.csv"
    cb.to_csv(out, index=False)
    for line in chargeback_lines(cb):
        steps.say(line + ".")
    left = cb[cb["status"] != ALLOCATED]
    if len(left):
        steps.say(
            f"The demo mapping ({mapping_file.name}) leaves {len(left)} line"
            f"{'' if len(left) == 1 else 's'} unallocated on purpose: a controller sees them "
            f"in {out} and in notebook 05."
        )
    else:
        steps.say(f"Every invoice is charged to a business unit; the lines are in {out}.")


def align_step(
    steps: _Steps, pack: Path, exports: Path, *, workdir: Path, problems: list[str]
) -> None:
    """The closed month's invoices tied out to the sandbox's CUR 2.0 exports (docs/costs.md)."""
    from invoicekit import schema
    from invoicekit.costs import align, read_cost_export
    from invoicekit.costs.align import tie_out_lines, unexplained_lines
    from invoicekit.costs.output import write_table

    try:
        costs = read_cost_export(exports)
        table = align(schema.from_parquet(pack / "summaries.parquet"), costs, month=pack.name)
    except Exception as exc:  # noqa: BLE001 - reported; the demo goes on
        problems.append(f"align: {redact(exc)}")
        steps.say(f"FAILED: {redact(exc)}")
        return
    out = workdir / "alignment.csv"
    write_table(table, str(out))
    for line in tie_out_lines(table, costs, month=pack.name):
        steps.say(line)
    for line in unexplained_lines(table, 10):
        steps.say(line.strip())
    if table["explained"].eq(False).fillna(False).any():
        problems.append("align: unexplained differences")
    steps.say(
        f"The exports are in {exports} (one CUR 2.0 and one FOCUS 1.2 export per payer); the "
        f"tie-out table is {out}."
    )


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    """Run the demo; returns 0 on success, 3 when a step or notebook failed (others still ran).

    ``--today`` without ``--now`` makes that day business today for the whole run (the store,
    the notebooks and the reports then agree with the sandbox's data).
    """
    if args.today and not getattr(args, "now", None):
        from invoicekit import clock

        with clock.pinned_for_run(args.today):
            return _run(args, out)
    return _run(args, out)


def _run(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from invoicekit import charts, clock, documents, months, report, schema
    from invoicekit._files import write_text
    from invoicekit._money import format_money
    from invoicekit.archive import download_invoice_pdfs, verify_archive
    from invoicekit.changes import changes_since_close
    from invoicekit.cli import EXIT_OK, EXIT_PARTIAL
    from invoicekit.cli.changes import changes_csv
    from invoicekit.cli.reconcile import write_findings_csv
    from invoicekit.close import close_month
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries
    from invoicekit.reconcile import reconcile_invoices, totals
    from invoicekit.sandbox import start as start_sandbox

    # business today (--today, else --now / $INVOICEKIT_NOW, else the real date) decides the
    # sandbox's data and the months closed: the --months up to the last closed month
    today_text = args.today or clock.today().isoformat()
    start, end = months.default_range(args.months, now=today_text)
    reports = Path(args.reports).resolve()
    workdir = Path(args.workdir).resolve()
    reports.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    steps = _Steps(out)
    problems: list[str] = []
    t_all = time.perf_counter()
    out("The invoicekit demo runs the month-end job on an offline sandbox; nothing reaches AWS.")

    t = steps.step("Start the offline AWS Invoicing sandbox")
    exports = workdir / "exports"
    sb = start_sandbox(
        accounts=args.accounts, months=args.months, today=today_text, exports=exports
    )
    try:
        if not any(months.month_str(i["BillingPeriod"]) == end for i in sb.org.invoices):
            # in the first days of a month AWS has not issued the last month's invoices yet:
            # the demo then closes the month before, on a sandbox one month longer
            sb.stop()
            shutil.rmtree(exports, ignore_errors=True)
            sb = start_sandbox(
                accounts=args.accounts, months=args.months + 1, today=today_text, exports=exports
            )
            pending = months.month_words(end)
            first, last = months.parse_month(start), months.parse_month(end)
            start = months.format_month(*months.add_months(*first, -1))
            end = months.format_month(*months.add_months(*last, -1))
        else:
            pending = None
        today = sb.org.today
        fleet = load_fleet(sb.fleet_config)
        steps.say(
            f"The sandbox answers at {sb.endpoint_url} for "
            f"{documents.plural(len(fleet.accounts), 'payer account')}; its today is {today}."
        )
        if pending:
            steps.say(
                f"AWS issues the invoices of {pending} in the first days of the month and none "
                f"is out yet on {today}: the demo closes {months.month_words(end)} instead."
            )
        steps.say(f"Its fleet file, usable with any invoicekit command, is {sb.fleet_config}.")
        steps.done("sandbox", t)

        if not args.skip_cli:
            t = steps.step("The AWS blog's two calls, with the unmodified AWS CLI")
            try:
                blog_cli_calls(steps, fleet, workdir, end)
            except Exception as exc:  # noqa: BLE001 - reported; the demo goes on
                problems.append(f"AWS CLI calls: {redact(exc)}")
                steps.say(f"FAILED: {redact(exc)}")
            steps.done("aws cli", t)

        t = steps.step(f"Fetch every account, billing months {start} to {end}")
        df = read_invoice_summaries(fleet, start, end, store=workdir / "store", progress=False)
        schema.to_parquet(df, workdir / "invoices.parquet")
        schema.to_csv(df, workdir / "invoices.csv")
        failures = df.attrs.get("failures", [])
        n_rows = len(df)
        answered = (
            "every account answered"
            if not failures
            else f"{documents.plural(len(failures), 'account')} failed (see below)"
        )
        steps.say(
            f"Loaded {documents.describe(documents.count(df))} "
            f"({n_rows:,} row{'' if n_rows == 1 else 's'}) from "
            f"{documents.plural(df['account_id'].nunique(), 'payer account')} with "
            f"{documents.plural(int(df.attrs.get('api_calls', 0)), 'API call')}; {answered}."
        )
        if failures:
            problems.append(f"fetch: {len(failures)} account failure(s)")
        steps.done("fetch", t)

        t = steps.step("Reconcile totals, currencies and completeness")
        findings = reconcile_invoices(df, start=start, end=end)
        write_findings_csv(findings, workdir / "findings.csv")
        by_sev = findings["severity"].value_counts().to_dict() if len(findings) else {}
        steps.say(f"{_findings_line(findings)}; they are listed in {workdir / 'findings.csv'}.")
        for r in totals(df, by=[], view="base").itertuples():
            steps.say(
                f"Net spend from {start} to {end}: {format_money(r.total, r.currency, code=True)}"
                " in the base currency."
            )
        if by_sev.get("error"):
            problems.append(f"reconcile: {by_sev['error']} error finding(s)")
        steps.done("reconcile", t)

        t = steps.step("Download every invoice PDF into the audit archive, then verify it")
        archive = workdir / "archive"
        docs = download_invoice_pdfs(df, archive, fleet=fleet, progress=False)
        status = docs["status"].value_counts().to_dict()
        check = verify_archive(archive, summaries=df, start=start, end=end)
        steps.say(f"Archived {_documents_line(docs)}, in {archive}.")
        steps.say(f"Verified the archive, {check.summary()}")
        if status.get("failed") or not check.ok:
            problems.append(f"archive: {check.summary()}")
        steps.done("download", t)

        t = steps.step(f"Close {months.month_words(end)}: the close pack, AP files included")
        closes = workdir / "closes"
        pdf = charts.find_chromium() is not None
        closed = close_month(
            fleet,
            end,
            closes,
            formats=("generic", "oracle-ap"),
            store=workdir / "store",
            pdf=pdf,
        )
        for line in closed.lines:
            steps.say(line)
        if closed.exit_code == EXIT_PARTIAL:
            problems.append(f"close: {closed.summary()}")
        steps.done("close", t)

        t = steps.step(f"Charge {months.month_words(end)} back to business units")
        chargeback_step(steps, closed.pack, nb_dir=_notebooks_dir(args.notebooks),
                        workdir=workdir, problems=problems)  # fmt: skip
        steps.done("chargeback", t)

        t = steps.step(f"Tie {months.month_words(end)} out to the cost-and-usage exports")
        align_step(steps, closed.pack, exports, workdir=workdir, problems=problems)
        steps.done("align", t)

        t = steps.step(f"{_LATER_DAYS} days later: what changed in {months.month_words(end)}")
        later_today = today + timedelta(days=_LATER_DAYS)
        later = start_sandbox(
            accounts=args.accounts, months=args.months + 2, today=later_today.isoformat()
        )
        try:
            with clock.pinned(later_today.isoformat()):
                changed = changes_since_close(closed.pack, fleet=load_fleet(later.fleet_config))
        finally:
            later.stop()
        for line in changed.summary():
            steps.say(line)
        write_text(workdir / "changes.csv", changes_csv(changed.changes))
        if not changed.complete:
            problems.append("changes: some accounts could not be read again")
        steps.done("changes", t)

        executed: list[Path] = []
        if not args.skip_notebooks:
            t = steps.step("Run every notebook headless (papermill) against this sandbox")
            nb_dir = _notebooks_dir(args.notebooks)
            executed, nb_failures = run_notebooks(
                steps,
                nb_dir,
                workdir / "executed",
                lambda stem: _notebook_parameters(
                    stem, str(sb.fleet_config), start, end, workdir, reports / "png", nb_dir
                ),
                args.jobs,
            )
            problems += [f"notebook {f}" for f in nb_failures]
            if not executed:
                problems.append(f"no notebook found in {nb_dir}")
            steps.done("notebooks", t)

        t = steps.step("Write the reports")
        html_files = report.notebooks_to_html(executed, reports)
        # the executive summary is the close pack's own: one run, one set of figures
        summary = reports / "executive_summary.html"
        printed = []
        for name in ("executive_summary.html", "executive_summary.pdf"):
            if (closed.pack / name).is_file():
                shutil.copyfile(closed.pack / name, reports / name)
                printed += [reports / name] if name.endswith(".pdf") else []
        if not summary.is_file():
            report.executive_summary(
                df,
                findings=findings,
                archive=archive,
                path=summary,
                month=end,
                source=f"offline sandbox, {args.accounts} payer accounts",
            )
        for p in [*html_files, summary, *printed]:
            steps.say(f"Wrote {p} ({p.stat().st_size / 1_048_576:.1f} MiB).")
        steps.done("reports", t)
    finally:
        sb.stop()

    t = steps.step("Check that no secret was written anywhere")
    leaks = scan_for_secrets([reports, workdir])
    if leaks:
        problems += [f"secret written: {leak}" for leak in leaks]
        steps.say("\n".join(leaks))
    else:
        steps.say("No presigned query string or credential is in any report, notebook or file.")
    steps.done("secret scan", t)

    total = time.perf_counter() - t_all
    out(f"\nDone in {total:.0f} s. Where everything is:")
    rows = [
        ("executive summary", reports / "executive_summary.html"),
        ("notebook reports", reports),
        ("chart PNGs", reports / "png"),
        ("invoices (parquet, CSV)", workdir / "invoices.parquet"),
        ("reconciliation findings", workdir / "findings.csv"),
        ("PDF archive + manifest", workdir / "archive"),
        ("executive summary (PDF)", reports / "executive_summary.pdf"),
        (f"close pack of {end}", workdir / "closes" / end),
        ("AP files and ledger", workdir / "closes" / end / "ap"),
        ("chargeback by business unit", workdir / "chargeback.csv"),
        ("invoices vs cost exports", workdir / "alignment.csv"),
        ("changes since the close", workdir / "changes.csv"),
        ("executed notebooks", workdir / "executed"),
        ("AWS CLI sample", workdir / "blog"),
    ]
    for label, path in rows:
        if path.exists():
            out(f"  {label:<28} {path}")
    if problems:
        out("\nProblems:")
        for p in problems:
            out(f"  - {redact(p)}")
        return EXIT_PARTIAL
    return EXIT_OK
