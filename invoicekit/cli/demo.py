"""``invoicekit demo``: the whole month-end job on the offline sandbox, with reports.

Starts the sandbox, replays the AWS blog's two CLI calls with the real ``aws`` CLI, fetches every
account, reconciles, downloads the PDF archive, exports the AP file, runs every notebook headless
(papermill) and writes ``reports/*.html`` plus ``reports/executive_summary.html``. Nothing leaves
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
)
_CLI_TIMEOUT_S = 120
_NOTEBOOK_TIMEOUT_S = 600
_EXCERPT_LINES = 24


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
        type=bounded_int(1, 240, 12),
        default=12,
        help="billing months to load, up to the last closed one, 1 to 240 (12)",
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
        self.out(f"   ({self.timings[key]:.1f} s){' ' + note if note else ''}")

    def say(self, text: str) -> None:
        for line in redact(text).splitlines() or [""]:
            self.out(f"   {line}")


def _excerpt(text: str, lines: int = _EXCERPT_LINES) -> str:
    rows = redact(text).splitlines()
    if len(rows) <= lines:
        return "\n".join(rows)
    return "\n".join(rows[:lines] + [f"... ({len(rows) - lines} more lines)"])


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
    steps.say(_excerpt(proc.stdout))
    return proc.stdout


def blog_cli_calls(steps: _Steps, fleet: Any, workdir: Path, today: Any) -> Path | None:
    """list-invoice-summaries then get-invoice-pdf with the real AWS CLI; download one PDF."""
    import calendar

    aws = _aws_executable()
    if aws is None:
        steps.say("the AWS CLI is not installed (pip install awscli): skipping the blog's calls")
        return None
    env, account_id = _cli_env(fleet, workdir)
    # invoices of last month are issued this month (today's)
    last_day = calendar.monthrange(today.year, today.month)[1]
    start_date = f"{today.year:04d}-{today.month:02d}-01"
    end_date = f"{today.year:04d}-{today.month:02d}-{last_day:02d}"
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
        steps.say(f"no invoice issued for account {account_id} between {start_date} and {end_date}")
        return None
    invoice_id = summaries[0]["InvoiceId"]
    raw = _run_cli(
        steps,
        [aws, "invoicing", "get-invoice-pdf", "--invoice-id", invoice_id, "--output", "json"],
        env,
    )
    pdf = json.loads(raw)["InvoicePDF"]
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
    steps.say(f"downloaded {redact_url(pdf['DocumentUrl'])} → {target} ({len(body):,} bytes)")
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
    stem: str, fleet_config: str, start: str, end: str, workdir: Path, png_dir: Path
) -> dict[str, Any]:
    common = {"fleet_config": fleet_config, "end": end, "view": "base"}
    if stem.startswith("01"):
        return {**common, "start": start, "png_dir": str(png_dir)}
    if stem.startswith("02"):
        return {**common, "start": start}
    if stem.startswith("03"):
        return {**common, "archive_dir": str(workdir / "notebooks" / "03-archive")}
    if stem.startswith("04"):
        return {**common, "output_dir": str(workdir / "notebooks" / "04-month-end")}
    return common


def run_notebooks(
    steps: _Steps,
    nb_dir: Path,
    executed_dir: Path,
    params: Callable[[str], dict[str, Any]],
    jobs: int,
) -> tuple[list[Path], list[str]]:
    """Execute every notebook with papermill; returns (executed paths, failures)."""
    import logging

    import papermill

    logging.getLogger("papermill").setLevel(logging.ERROR)  # its parameter notes are noise here
    executed_dir.mkdir(parents=True, exist_ok=True)
    sources = [nb_dir / f"{s}.ipynb" for s in NOTEBOOKS if (nb_dir / f"{s}.ipynb").is_file()]
    failures: list[str] = []

    def one(src: Path) -> tuple[Path, float, str | None]:
        out = executed_dir / src.name
        t = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(src),
                str(out),
                parameters=params(src.stem),
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                cwd=str(executed_dir),
                execution_timeout=_NOTEBOOK_TIMEOUT_S,
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
            steps.say(f"FAILED {out.stem} ({seconds:.1f} s): {error}")
        else:
            steps.say(f"ran {out.stem} ({seconds:.1f} s) → {out}")
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
    """``"6 findings: 0 errors, 1 warning, 5 info"``."""
    by_sev = findings["severity"].value_counts().to_dict() if len(findings) else {}
    n = len(findings)
    errors, warnings = by_sev.get("error", 0), by_sev.get("warning", 0)
    return (
        f"{n:,} finding{'' if n == 1 else 's'}: {errors:,} error{'' if errors == 1 else 's'}, "
        f"{warnings:,} warning{'' if warnings == 1 else 's'}, {by_sev.get('info', 0):,} info"
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
    from invoicekit import clock, documents, months, report, schema
    from invoicekit._money import format_money
    from invoicekit.archive import download_invoice_pdfs, verify_archive
    from invoicekit.cli import EXIT_OK, EXIT_PARTIAL
    from invoicekit.cli.reconcile import write_findings_csv
    from invoicekit.fleet import load_fleet
    from invoicekit.loader import read_invoice_summaries
    from invoicekit.reconcile import export_ap, reconcile_invoices, totals
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
    out("invoicekit demo — the month-end job on an offline sandbox (nothing reaches AWS)")

    t = steps.step("Start the offline AWS Invoicing sandbox")
    sb = start_sandbox(accounts=args.accounts, months=args.months, today=today_text)
    try:
        today = sb.org.today
        fleet = load_fleet(sb.fleet_config)
        steps.say(
            f"endpoint {sb.endpoint_url}, "
            f"{documents.plural(len(fleet.accounts), 'payer account')}, today {today}"
        )
        steps.say(f"fleet file {sb.fleet_config}")
        steps.done("sandbox", t)

        if not args.skip_cli:
            t = steps.step("The AWS blog's two calls, with the unmodified AWS CLI")
            try:
                blog_cli_calls(steps, fleet, workdir, today)
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
        steps.say(
            f"loaded {n_rows:,} row{'' if n_rows == 1 else 's'}: "
            f"{documents.describe(documents.count(df))} "
            f"from {documents.plural(df['account_id'].nunique(), 'account')}"
        )
        steps.say(f"{df.attrs.get('api_calls', 0)} API calls, {len(failures)} account failures")
        if failures:
            problems.append(f"fetch: {len(failures)} account failure(s)")
        steps.done("fetch", t)

        t = steps.step("Reconcile totals, currencies and completeness")
        findings = reconcile_invoices(df, start=start, end=end)
        write_findings_csv(findings, workdir / "findings.csv")
        by_sev = findings["severity"].value_counts().to_dict() if len(findings) else {}
        steps.say(f"{_findings_line(findings)} → {workdir / 'findings.csv'}")
        for r in totals(df, by=[], view="base").itertuples():
            steps.say(
                f"net spend {start}..{end}: {format_money(r.total, r.currency, code=True)} "
                "(base view)"
            )
        if by_sev.get("error"):
            problems.append(f"reconcile: {by_sev['error']} error finding(s)")
        steps.done("reconcile", t)

        t = steps.step("Download every invoice PDF into the audit archive, then verify it")
        archive = workdir / "archive"
        docs = download_invoice_pdfs(df, archive, fleet=fleet, progress=False)
        status = docs["status"].value_counts().to_dict()
        check = verify_archive(archive, summaries=df, start=start, end=end)
        steps.say(f"{_documents_line(docs)} → {archive}")
        steps.say(check.summary())
        if status.get("failed") or not check.ok:
            problems.append(f"archive: {check.summary()}")
        steps.done("download", t)

        t = steps.step(f"Export the accounts-payable file for {end}")
        month = df[df["billing_period"] == months.as_period(end)]
        ap_path = workdir / f"ap_{end}_generic.csv"
        export_ap(month, ap_path, format="generic")
        export_ap(month, workdir / f"ap_{end}_oracle-ap.csv", format="oracle-ap")
        booked = documents.describe(documents.count(documents.payable(month)))
        steps.say(f"{end}: {booked} → {ap_path}")
        steps.say("(and the Oracle AP interface variant beside it)")
        steps.done("export-ap", t)

        executed: list[Path] = []
        if not args.skip_notebooks:
            t = steps.step("Run every notebook headless (papermill) against this sandbox")
            nb_dir = _notebooks_dir(args.notebooks)
            executed, nb_failures = run_notebooks(
                steps,
                nb_dir,
                workdir / "executed",
                lambda stem: _notebook_parameters(
                    stem, str(sb.fleet_config), start, end, workdir, reports / "png"
                ),
                args.jobs,
            )
            problems += [f"notebook {f}" for f in nb_failures]
            if not executed:
                problems.append(f"no notebook found in {nb_dir}")
            steps.done("notebooks", t)

        t = steps.step("Write the reports")
        html_files = report.notebooks_to_html(executed, reports)
        summary = report.executive_summary(
            df,
            findings=findings,
            archive=archive,
            path=reports / "executive_summary.html",
            title=f"AWS invoices — executive summary, {start} to {end}",
            source=f"offline sandbox, {args.accounts} payer accounts",
        )
        for p in [*html_files, summary]:
            steps.say(f"{p} ({p.stat().st_size / 1_048_576:.1f} MiB)")
        steps.done("reports", t)
    finally:
        sb.stop()

    t = steps.step("Check that no secret was written anywhere")
    leaks = scan_for_secrets([reports, workdir])
    if leaks:
        problems += [f"secret written: {leak}" for leak in leaks]
        steps.say("\n".join(leaks))
    else:
        steps.say("no presigned query string or credential in any report, notebook or file")
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
        ("AP export", workdir / f"ap_{end}_generic.csv"),
        ("executed notebooks", workdir / "executed"),
        ("AWS CLI sample", workdir / "blog"),
    ]
    for label, path in rows:
        if path.exists():
            out(f"  {label:<26} {path}")
    if problems:
        out("\nProblems:")
        for p in problems:
            out(f"  - {redact(p)}")
        return EXIT_PARTIAL
    return EXIT_OK
