"""The month-end close: one call, one pack a controller can sign.

:func:`close_month` runs the month-end of one billing month for a fleet and leaves
``DEST/YYYY-MM/``, the *close pack*:

=========================  =====================================================================
``summaries.parquet``      the invoice summaries fetched for the close: the month and the
                           ``lookback`` (12) months before it, for the summary's comparisons
``findings.csv``           the month's reconciliation findings (``write_findings_csv``)
``accepted_findings.csv``  the acceptance file given with ``accept=`` (when one was)
``ap/``                    the AP file(s) of the month, one per format, and ``ap-ledger.csv``,
                           a snapshot of the live ledger ``DEST/ap-ledger.csv`` after the export
``archive/``               the month's documents, ``manifest.csv`` and the archive's state
``executive_summary.html`` the executive summary (``executive_summary.pdf`` with ``pdf=True``)
``run.json``               what was asked, what was done (per step, with timings), API calls,
                           failures, versions, business and real time, the status
``SHA256SUMS``             ``sha256sum -c SHA256SUMS`` run inside the pack checks every file
=========================  =====================================================================

The work happens in ``DEST/YYYY-MM.partial/`` (``pack/`` the pack being built, ``state.json``
the steps done and the hashes of their outputs). A run killed at any point (SIGKILL) continues
from the last completed step on the next run; the pack appears under its final name only when it
is complete, by one rename. A second run on a complete pack whose ``SHA256SUMS`` verifies
changes nothing and says so; a pack whose files no longer verify is never overwritten.
``reopen=True`` keeps the earlier pack as ``DEST/YYYY-MM.v1`` (``.v2``...) and builds a new one;
a pack that is *blocked* or *partial* is closed again by the next run the same way (kept as a
version, never overwritten).

Examples
--------
>>> from invoicekit.close import close_month
>>> result = close_month("fleet.yml", "2026-10", "closes")  # doctest: +SKIP
>>> result.status, result.exit_code, result.pack  # doctest: +SKIP
('closed', 0, PosixPath('closes/2026-10'))
>>> print(result.summary())  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import platform
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoicekit import _files, clock, documents, months
from invoicekit._na import is_missing
from invoicekit._redact import redact
from invoicekit.errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "CLOSED",
    "BLOCKED",
    "PARTIAL",
    "STEPS",
    "PACK_FILES",
    "DEFAULT_LOOKBACK",
    "CloseResult",
    "PackCheck",
    "close_month",
    "verify_pack",
    "upload_pack",
    "write_sha256sums",
]

#: Statuses of a close pack (``run.json["status"]``).
CLOSED, BLOCKED, PARTIAL = "closed", "blocked", "partial"
#: Exit code of each status (the CLI's contract).
EXIT_CODES = {CLOSED: 0, BLOCKED: 1, PARTIAL: 3}
#: The steps of a close, in order.
STEPS = ("fetch", "reconcile", "archive", "ap", "summary")
#: Months fetched before the closed month (the summary compares with a year earlier).
DEFAULT_LOOKBACK = 12
MAX_LOOKBACK = 120

PACK_FORMAT = "invoicekit-close-pack/1"
STATE_FORMAT = "invoicekit-close-state/1"
SUMMARIES_NAME = "summaries.parquet"
#: The invoice units of every payer as configured at the end of the month (docs/units.md).
UNITS_NAME = "units.parquet"
FINDINGS_NAME = "findings.csv"
ACCEPTED_NAME = "accepted_findings.csv"
AP_DIR = "ap"
ARCHIVE_DIR = "archive"
SUMMARY_HTML = "executive_summary.html"
SUMMARY_PDF = "executive_summary.pdf"
RUN_NAME = "run.json"
SUMS_NAME = "SHA256SUMS"
LEDGER_NAME = "ap-ledger.csv"
STAGING_SUFFIX = ".partial"
STATE_NAME = "state.json"
LEDGER_BEFORE_NAME = "ledger-before.csv"
LOCK_NAME = ".close.lock"
#: The files and directories of a pack (``ap/`` and ``archive/`` hold several files each).
PACK_FILES = (
    SUMMARIES_NAME,
    FINDINGS_NAME,
    ACCEPTED_NAME,
    AP_DIR + "/",
    ARCHIVE_DIR + "/",
    SUMMARY_HTML,
    SUMMARY_PDF,
    RUN_NAME,
    SUMS_NAME,
)
#: Blocking findings printed one per line (the rest are in findings.csv).
MAX_FINDING_LINES = 10
_READ_CHUNK_BYTES = 1 << 20
_VERSION_RE = re.compile(r"^\d{4}-\d{2}\.v(\d+)$")


# --------------------------------------------------------------------------------------------
# SHA256SUMS
# --------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ_CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def _files_under(root: Path) -> list[str]:
    """Every file under ``root`` as a sorted relative POSIX path (``SHA256SUMS`` left out)."""
    found = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if rel != SUMS_NAME:
                found.append(rel)
    return sorted(found)


def _sums_line(sha: str, rel: str) -> str:
    # GNU coreutils' format: "<hash>  <name>"; a name with a backslash or newline is escaped
    # and the line starts with a backslash (what `sha256sum` itself writes).
    if "\\" in rel or "\n" in rel:
        return "\\" + sha + "  " + rel.replace("\\", "\\\\").replace("\n", "\\n")
    return f"{sha}  {rel}"


def _parse_sums_line(line: str) -> tuple[str, str] | None:
    escaped = line.startswith("\\")
    body = line[1:] if escaped else line
    if len(body) < 67 or body[64:66] not in ("  ", " *"):
        return None
    sha, rel = body[:64], body[66:]
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        return None
    if escaped:
        rel = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), rel)
    return sha, rel


def write_sha256sums(root: str | os.PathLike[str]) -> int:
    """Write ``root/SHA256SUMS`` over every other file under ``root``; return how many.

    The format is GNU ``sha256sum``'s (``<hex>  <relative path>``, sorted by path), so
    ``cd root && sha256sum -c SHA256SUMS`` checks every file.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "a.txt").write_text("hi")
    >>> write_sha256sums(d), verify_pack(d).ok
    (1, True)
    """
    root = Path(root)
    rels = _files_under(root)
    text = "".join(_sums_line(_sha256(root / rel), rel) + "\n" for rel in rels)
    _files.write_text(root / SUMS_NAME, text)
    return len(rels)


@dataclass
class PackCheck:
    """What :func:`verify_pack` found: ``ok`` when every file has its recorded hash.

    ``changed``, ``missing`` and ``unlisted`` (files in the pack that ``SHA256SUMS`` does not
    list) are relative paths; ``checked`` counts the files ``SHA256SUMS`` lists.
    """

    path: Path
    checked: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not (self.changed or self.missing or self.unlisted)

    def summary(self) -> str:
        """One line: ``"14 files verified"`` or what is wrong."""
        if self.error:
            return self.error
        if self.ok:
            return f"{self.checked:,} file{'' if self.checked == 1 else 's'} verified"
        parts = []
        for what, items in (
            ("changed", self.changed),
            ("missing", self.missing),
            ("not listed in SHA256SUMS", self.unlisted),
        ):
            if items:
                shown = ", ".join(items[:3]) + (" …" if len(items) > 3 else "")
                parts.append(f"{len(items)} {what} ({shown})")
        return "; ".join(parts)


def verify_pack(
    pack: str | os.PathLike[str], *, fleet: Any = None, s3_client: Any = None
) -> PackCheck:
    """Check a close pack (or any directory with a ``SHA256SUMS``) the way ``sha256sum -c`` does.

    Also reports files present in the pack but not listed (``unlisted``). ``pack`` may be
    ``s3://BUCKET/PREFIX/YYYY-MM`` (uploaded by :func:`upload_pack`): every object is read back
    and re-hashed, and its stored SHA-256 checksum must agree (``fleet``/``s3_client``: the
    archive bucket's access, :func:`invoicekit.archive.s3.archive_client`).

    Examples
    --------
    >>> verify_pack("closes/2026-10").summary()  # doctest: +SKIP
    '14 files verified'
    """
    from invoicekit.archive import s3

    if s3.is_s3_url(pack):
        return s3.verify_s3_pack(str(pack), fleet=fleet, client=s3_client)
    root = Path(pack)
    check = PackCheck(root)
    sums = root / SUMS_NAME
    if not sums.is_file():
        check.error = f"{root} has no {SUMS_NAME}"
        return check
    listed: set[str] = set()
    for n, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parsed = _parse_sums_line(line)
        if parsed is None:
            check.error = f"{sums} line {n} is not a sha256sum line"
            return check
        sha, rel = parsed
        listed.add(rel)
        check.checked += 1
        target = root / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute() or not target.is_file():
            check.missing.append(rel)
        elif _sha256(target) != sha:
            check.changed.append(rel)
    check.unlisted = [rel for rel in _files_under(root) if rel not in listed]
    return check


def upload_pack(
    pack: str | os.PathLike[str],
    dest: str,
    *,
    retention: Any = None,
    sse_kms_key_id: str | None = None,
    fleet: Any = None,
    s3_client: Any = None,
) -> PackCheck:
    """Upload a finished close pack to ``dest/<pack name>`` in S3, then verify it there.

    Every file is put with a SHA-256 checksum S3 verifies and the Object Lock asked
    (:func:`invoicekit.archive.s3.retention`); files already stored with the same checksum are
    not put again. Returns :func:`verify_pack` of the uploaded copy (``.path`` is its URL).

    Raises
    ------
    InvalidArgumentError
        Bad URL, unusable bucket, a lock asked of a bucket without Object Lock/versioning, or
        the local pack does not verify (nothing is uploaded then).

    Examples
    --------
    >>> upload_pack("closes/2026-10", "s3://audit-archive/closes").summary()  # doctest: +SKIP
    '14 files verified'
    """
    from invoicekit.archive import s3

    root = Path(pack)
    local = verify_pack(root)
    if not local.ok:
        raise InvalidArgumentError(
            f"--upload: the pack {root} does not verify ({local.summary()}); nothing uploaded"
        )
    url = f"{str(s3.S3Location.parse(dest, '--upload'))}/{root.name}"
    client = s3_client if s3_client is not None else s3.archive_client(fleet)
    s3.upload_tree(root, url, retention=retention, sse_kms_key_id=sse_kms_key_id, client=client)
    return verify_pack(url, s3_client=client)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class CloseResult:
    """What :func:`close_month` did.

    Attributes
    ----------
    status : str
        ``"closed"``, ``"blocked"`` (the AP export refused: error findings) or ``"partial"``
        (some accounts or documents failed; ``run["missing"]`` says what).
    pack : pathlib.Path
        The close pack ``DEST/YYYY-MM``.
    exit_code : int
        0 closed, 1 blocked, 3 partial (the CLI's exit code).
    lines : list of str
        One sentence per step, as printed.
    run : dict
        The pack's ``run.json``.
    changed : bool
        False when the month was already closed and nothing was done.
    previous : pathlib.Path or None
        Where an earlier pack of the month was kept (``DEST/YYYY-MM.v1``...).
    """

    status: str
    pack: Path
    exit_code: int
    lines: list[str] = field(default_factory=list)
    run: dict = field(default_factory=dict)
    changed: bool = True
    previous: Path | None = None

    def summary(self) -> str:
        """The lines, one per step."""
        return "\n".join(self.lines)


def _utc_minutes(text: str | None) -> str:
    if not text:
        return "?"
    return clock.parse(text, "closed_at").strftime("%Y-%m-%d %H:%M UTC")


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    import invoicekit

    found: dict[str, str | None] = {"invoicekit": getattr(invoicekit, "__version__", None)}
    for dist in ("boto3", "botocore", "pandas", "pyarrow"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            found[dist] = None
    found["python"] = platform.python_version()
    return found


def _next_version(dest: Path, month: str) -> Path:
    taken = [
        int(m.group(1))
        for p in dest.iterdir()
        if p.name.startswith(month + ".v") and (m := _VERSION_RE.match(p.name))
    ]
    return dest / f"{month}.v{max(taken, default=0) + 1}"


@contextlib.contextmanager
def _lock(dest: Path) -> Iterator[None]:
    with _files.exclusive_lock(
        dest / LOCK_NAME, f"another invoicekit close is running in {dest}; wait for it to finish"
    ):
        yield


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# The close
# --------------------------------------------------------------------------------------------


class _Close:
    """One run of a close: the staging directory, its state, and the steps."""

    def __init__(
        self,
        *,
        fleet: Any,
        config: str | None,
        month: str,
        dest: Path,
        formats: tuple[str, ...],
        pdf: bool,
        accept: Any,
        store: Path,
        progress: bool,
        lookback: int,
        echo: Callable[[str], None] | None,
    ) -> None:
        self.fleet, self.config, self.month, self.dest = fleet, config, month, dest
        self.formats, self.pdf, self.accept = formats, pdf, accept
        self.store, self.progress, self.lookback = store, progress, lookback
        self.echo = echo
        self.label = months.month_words(month)
        self.pack = dest / month
        self.partial = dest / f"{month}{STAGING_SUFFIX}"
        self.stage = self.partial / "pack"
        self.state: dict = {}
        self.lines: list[str] = []
        self._df: pd.DataFrame | None = None
        self._units: pd.DataFrame | None = None
        self._findings: pd.DataFrame | None = None

    # -- output ------------------------------------------------------------------------------

    def say(self, line: str) -> None:
        line = redact(line)
        self.lines.append(line)
        if self.echo is not None:
            self.echo(line)

    # -- state -------------------------------------------------------------------------------

    def save_state(self) -> None:
        _files.write_text(self.partial / STATE_NAME, json.dumps(self.state, indent=1) + "\n")

    def asked(self, reopen: bool) -> dict:
        accept: Any = None
        if isinstance(self.accept, str | os.PathLike):
            accept = str(self.accept)
        elif isinstance(self.accept, Mapping):
            accept = {str(k): str(v) for k, v in sorted(self.accept.items())}
        elif self.accept is not None:
            accept = sorted(str(x) for x in self.accept)
        return {
            "month": self.month,
            "formats": list(self.formats),
            "pdf": self.pdf,
            "accept": accept,
            "reopen": reopen,
            "lookback": self.lookback,
            "config": self.config,
            "dest": str(self.dest),
            "store": str(self.store),
            "now": clock.utc_iso(clock.now()),
        }

    def new_state(self, reopen: bool, previous: dict | None) -> None:
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.stage.mkdir(parents=True)
        asked = self.asked(reopen)
        accept_sha = None
        if isinstance(self.accept, str | os.PathLike):
            shutil.copyfile(self.accept, self.stage / ACCEPTED_NAME)
            accept_sha = _sha256(self.stage / ACCEPTED_NAME)
        asked["accept_sha256"] = accept_sha
        self.state = {
            "format": STATE_FORMAT,
            "month": self.month,
            "asked": asked,
            "phase": "running",
            "previous": previous,
            "attempts": [],
            "steps": {},
        }
        self.save_state()

    def check_resumable(self) -> None:
        """Refuse to continue a staging directory started with other options."""
        asked = self.state.get("asked", {})
        wanted = self.asked(False)
        diffs = [
            f"{k} {asked.get(k)!r} then, {wanted[k]!r} now"
            for k in ("formats", "pdf", "lookback")
            if asked.get(k) != wanted[k]
        ]
        if isinstance(self.accept, str | os.PathLike):
            if asked.get("accept_sha256") != _sha256(Path(self.accept)):
                diffs.append("a different --accept-findings file")
        elif self.accept is not None and asked.get("accept") != wanted["accept"]:
            diffs.append("other accepted findings")
        if diffs:
            raise InvalidArgumentError(
                f"a close of {self.label} is in progress in {self.partial} with other options "
                f"({'; '.join(diffs)}): run it again with the same options to finish it, or "
                f"delete {self.partial} to start over"
            )

    # -- the frames --------------------------------------------------------------------------

    @property
    def df(self) -> pd.DataFrame:
        if self._df is None:
            from invoicekit import schema

            self._df = schema.from_parquet(self.stage / SUMMARIES_NAME)
        return self._df

    @property
    def month_df(self) -> pd.DataFrame:
        df = self.df
        if not len(df):
            return df
        return df[(df["billing_period"] == months.as_period(self.month)).to_numpy(dtype=bool)]

    @property
    def units(self) -> pd.DataFrame | None:
        """The units at the month's end (``None``: they could not be read; completeness is then
        checked per payer account)."""
        if self._units is None and (self.stage / UNITS_NAME).is_file():
            from invoicekit.units import load_units

            self._units = load_units(self.stage / UNITS_NAME, name=UNITS_NAME)
        return self._units

    @property
    def findings(self) -> pd.DataFrame:
        if self._findings is None:
            from invoicekit.reconcile import reconcile_invoices

            # pure and deterministic: the same frame as the findings.csv of the reconcile step
            self._findings = reconcile_invoices(
                self.df, start=self.month, end=self.month, units=self.units
            )
        return self._findings

    def _read_units(self) -> tuple[str, dict]:
        """Read the invoice units at the month's end into the pack; (sentence, run.json detail).

        A role without ``invoicing:ListInvoiceUnits`` is not an error of the close: it is said,
        and completeness is checked per payer account as before.
        """
        from invoicekit import outcomes
        from invoicekit.errors import ConfigError
        from invoicekit.units import read_invoice_units, write_frame

        try:
            units = read_invoice_units(self.fleet, months=(self.month, self.month))
        except ConfigError as exc:
            self._units = None
            (self.stage / UNITS_NAME).unlink(missing_ok=True)
            return (
                f"; invoice units not read ({exc}): completeness is checked per payer account",
                {"units": None, "units_error": str(exc)},
            )
        write_frame(units, self.stage / UNITS_NAME, name=UNITS_NAME)
        self._units = units
        report = outcomes.run_report(units)
        calls = report.api_calls if report else 0
        failures = [f.as_dict() for f in report.failures] if report else []
        n = units["invoice_unit_arn"].nunique() if len(units) else 0
        payers = units["payer_account_id"].nunique() if len(units) else 0
        line = (
            f"; {documents.plural(n, 'invoice unit')} of "
            f"{documents.plural(payers, 'payer account')} at the end of {self.label}"
            if n
            else ""
        )
        unread = sorted({f["account_id"] for f in failures})
        if unread:
            line += (
                f"; the invoice units of {', '.join(unread)} could not be read "
                "(completeness is checked per payer account there)"
            )
        return line, {
            "units": int(n),
            "units_api_calls": calls,
            "units_failures": failures,
        }

    # -- steps -------------------------------------------------------------------------------

    def _outputs(self, rels: Iterable[str]) -> dict[str, str]:
        hashes: dict[str, str] = {}
        for rel in rels:
            target = self.stage / rel
            if target.is_dir():
                for sub in _files_under(target):
                    hashes[f"{rel}/{sub}"] = _sha256(target / sub)
            elif target.is_file():
                hashes[rel] = _sha256(target)
        return hashes

    def _intact(self, record: dict) -> bool:
        for rel, sha in (record.get("outputs") or {}).items():
            target = self.stage / rel
            if not target.is_file() or _sha256(target) != sha:
                return False
        return True

    def run_steps(self) -> None:
        attempt = len(self.state["attempts"]) + 1
        if attempt > 1:
            # temporary files of a write the killed run did not finish never reach the pack
            _files.remove_stale_temp_files(self.stage)
        self.state["attempts"].append(
            {
                "attempt": attempt,
                "started_at": clock.utc_iso(clock.real_now()),
                "business_now": clock.utc_iso(clock.now()),
                "steps_run": [],
                "steps_kept": [],
            }
        )
        self.save_state()
        redo = False
        for name in STEPS:
            record = self.state["steps"].get(name)
            if not redo and record and record.get("done") and self._intact(record):
                self.state["attempts"][-1]["steps_kept"].append(name)
                self.say(record["line"] + " (done by an earlier run, kept)")
                if name == "ap":
                    self.say_blocking(record)
                continue
            redo = True
            started = clock.real_now()
            t0 = time.perf_counter()
            self.state["steps"][name] = {"done": False, "started_at": clock.utc_iso(started)}
            self.save_state()
            line, outputs, detail = getattr(self, f"_step_{name}")()
            record = {
                "done": True,
                "attempt": attempt,
                "started_at": clock.utc_iso(started),
                "finished_at": clock.utc_iso(clock.real_now()),
                "elapsed_s": round(time.perf_counter() - t0, 3),
                "line": line,
                **detail,
                "outputs": self._outputs(outputs),
            }
            self.state["steps"][name] = record
            self.state["attempts"][-1]["steps_run"].append(name)
            self.save_state()
            self.say(line)
            if name == "ap":
                self.say_blocking(record)
            if name == "reconcile":
                for f in (record.get("month_errors") or [])[:MAX_FINDING_LINES]:
                    self.say(f"  blocking: {f['finding_id']}: {f['sentence']}")

    def say_blocking(self, record: dict) -> None:
        """One line per finding that blocked the AP export (at most MAX_FINDING_LINES)."""
        blocking: list[dict] = []
        for r in (record.get("formats") or {}).values():
            blocking = blocking or r.get("blocking_findings", [])
        for f in blocking[:MAX_FINDING_LINES]:
            what = f.get("finding_id") or f.get("check")
            self.say(f"  blocking: {what}: {f.get('message')}")
        if len(blocking) > MAX_FINDING_LINES:
            self.say(f"  ... and {len(blocking) - MAX_FINDING_LINES} more in {FINDINGS_NAME}")

    def _step_fetch(self) -> tuple[str, list[str], dict]:
        from invoicekit import outcomes, schema
        from invoicekit.loader import read_invoice_summaries

        y, m = months.parse_month(self.month)
        start = months.format_month(*months.add_months(y, m, -self.lookback))
        df = read_invoice_summaries(
            self.fleet, start, self.month, store=self.store, progress=self.progress
        )
        with _files.atomic_path(self.stage / SUMMARIES_NAME) as tmp:
            schema.to_parquet(df, tmp)
        self._df, self._findings = df, None
        units_line, units_detail = self._read_units()
        report = outcomes.run_report(df)
        failures = [f.as_dict() for f in report.failures] if report else []
        calls = report.api_calls if report else int(df.attrs.get("api_calls", 0))
        calls += int(units_detail.get("units_api_calls") or 0)
        extra = report.extra if report else {}
        n_accounts = len(self.fleet.accounts)
        counts = documents.count(self.month_df)
        before = (
            ""
            if self.lookback == 0
            else " (and the month before it, for comparisons)"
            if self.lookback == 1
            else f" (and the {self.lookback} months before it, for comparisons)"
        )
        line = (
            f"Fetched {documents.describe(counts)} of "
            f"{documents.plural(n_accounts, 'payer account')} for {self.label}{before}: "
            f"{calls:,} API call{'' if calls == 1 else 's'}"
        )
        from_store = int(extra.get("windows_from_store", 0) or 0)
        if from_store:
            line += f" ({from_store:,} account-months served by the local store)"
        line += units_line
        failed = sorted({f["account_id"] for f in failures})
        if failed:
            line += (
                f"; {documents.plural(len(failed), 'account')} failed: {', '.join(failed)} "
                "(their months are missing from the pack; run the close again to retry)"
            )
        detail = {
            "from": start,
            "to": self.month,
            "rows": len(df),
            "month_counts": {k: n for k, n in counts.items() if n},
            "accounts": n_accounts,
            "api_calls": calls,
            "api_calls_by_operation": dict(extra.get("api_calls_by_operation") or {}),
            "windows_fetched": int(extra.get("windows_fetched", 0) or 0),
            "windows_from_store": from_store,
            "store": str(self.store),
            "failures": failures,
            **units_detail,
        }
        outputs = [SUMMARIES_NAME] + ([UNITS_NAME] if (self.stage / UNITS_NAME).is_file() else [])
        return line + ".", outputs, detail

    def _step_reconcile(self) -> tuple[str, list[str], dict]:
        from invoicekit.cli.reconcile import write_findings_csv

        self._findings = None
        findings = self.findings
        write_findings_csv(findings, self.stage / FINDINGS_NAME)
        by_sev = findings["severity"].value_counts().to_dict() if len(findings) else {}
        n = len(findings)
        errors, warnings = int(by_sev.get("error", 0)), int(by_sev.get("warning", 0))
        line = (
            f"Reconciled {self.label}: {n:,} finding{'' if n == 1 else 's'} "
            f"({errors:,} error{'' if errors == 1 else 's'}, "
            f"{warnings:,} warning{'' if warnings == 1 else 's'}, "
            f"{int(by_sev.get('info', 0)):,} info) in {FINDINGS_NAME}."
        )
        by_check = findings["check"].value_counts().to_dict() if n else {}
        month_errors = self._month_errors()
        if month_errors:
            k = len(month_errors)
            line += (
                f" The close is blocked by {k:,} open error finding{'' if k == 1 else 's'} "
                f"that name{'s' if k == 1 else ''} no invoice (listed below): wait until AWS has "
                "invoiced every account and close again with --reopen, or accept them with "
                "--accept-findings FILE."
            )
        detail = {
            "findings": n,
            "by_severity": {k: int(v) for k, v in by_sev.items()},
            "by_check": {k: int(v) for k, v in sorted(by_check.items())},
            "month_errors": month_errors,
        }
        return line, [FINDINGS_NAME], detail

    def _accept_source(self) -> Any:
        """What the run that started this close was given to accept (a resumed run may omit it)."""
        asked = self.state["asked"]
        if asked.get("accept_sha256"):
            return self.stage / ACCEPTED_NAME
        return asked.get("accept")

    def _month_errors(self) -> list[dict]:
        """Open error findings of the month that name no invoice (an account without its invoice).

        They block the close, not the AP export of the invoices there are (an invoice-level error
        blocks that). Findings accepted with ``--accept-findings`` do not block.
        """
        from invoicekit.ap import read_acceptance
        from invoicekit.reconcile.explain import explain_findings

        f = self.findings
        if not len(f):
            return []
        accepted = read_acceptance(self._accept_source(), name="--accept-findings")
        blocking = [
            sev == "error" and (is_missing(inv) or str(inv) == "") and fid not in accepted
            for sev, inv, fid in zip(f["severity"], f["invoice_id"], f["finding_id"], strict=True)
        ]
        errors = f[blocking]
        if not len(errors):
            return []
        explained = explain_findings(errors, accounts=self.df)
        return [
            {"finding_id": str(r.finding_id), "check": str(r.check), "sentence": str(r.sentence)}
            for r in explained.itertuples()
        ]

    def _step_archive(self) -> tuple[str, list[str], dict]:
        from invoicekit import outcomes
        from invoicekit.archive import (
            DOWNLOADED,
            FAILED,
            SKIPPED,
            download_invoice_pdfs,
            verify_archive,
        )

        archive = self.stage / ARCHIVE_DIR
        previous = (self.state.get("previous") or {}).get("path")
        seeded = False
        if previous and not archive.exists() and (Path(previous) / ARCHIVE_DIR).is_dir():
            # the earlier pack's documents: only what is new is asked for again
            shutil.copytree(Path(previous) / ARCHIVE_DIR, archive)
            seeded = True
        reopen = bool(self.state["asked"].get("reopen"))
        mdf = self.month_df
        docs = download_invoice_pdfs(
            mdf, archive, fleet=self.fleet, progress=self.progress, refresh=reopen and seeded
        )
        check = verify_archive(archive, summaries=mdf, start=self.month, end=self.month)
        report = outcomes.run_report(docs)
        calls = report.api_calls if report else int(docs.attrs.get("api_calls", 0))
        status = docs["status"].value_counts().to_dict() if len(docs) else {}
        words = {DOWNLOADED: "downloaded", SKIPPED: "already archived", FAILED: "failed"}
        done = ", ".join(f"{status[s]:,} {w}" for s, w in words.items() if status.get(s))
        n_docs = len(docs)
        kinds = documents.describe(documents.count_documents(docs)) if n_docs else ""
        problems = check.problems["problem"].value_counts().to_dict() if not check.ok else {}
        verdict = (
            "no problems"
            if check.ok
            else ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(problems.items()))
        )
        what = f"the {documents.plural(n_docs, 'document')} of {self.label}"
        line = (
            f"Archived {what} ({kinds + '; ' if kinds else ''}{done or 'nothing to download'}) "
            f"and verified them: {verdict}; {calls:,} API call{'' if calls == 1 else 's'}."
        )
        failed = docs[docs["status"] == FAILED] if len(docs) else docs
        detail = {
            "documents": len(docs),
            "by_status": {k: int(v) for k, v in status.items()},
            "by_kind": documents.count_documents(docs) if len(docs) else {},
            "api_calls": calls,
            "api_calls_by_operation": dict(
                (report.extra if report else {}).get("api_calls_by_operation") or {}
            ),
            "seeded_from_previous_pack": seeded,
            "verify": check.summary().replace(str(check.dest), ARCHIVE_DIR),
            "verify_ok": check.ok,
            "problems": [
                {k: (None if v != v else v) for k, v in row.items()}
                for row in check.problems.astype(object).to_dict("records")
            ],
            "failures": [
                {
                    "account_id": r["account_id"],
                    "invoice_id": r["invoice_id"],
                    "document_id": r["document_id"],
                    "error": redact(str(r["error"])),
                }
                for _, r in failed.iterrows()
            ],
        }
        return line, [ARCHIVE_DIR], detail

    # -- AP ----------------------------------------------------------------------------------

    def _ap_output(self, fmt: str) -> Path:
        if fmt == "oracle-ap":
            return self.stage / AP_DIR / fmt  # a directory: both interface tables
        return self.stage / AP_DIR / f"ap_{self.month}_{fmt}.csv"

    def _restore_ledger(self) -> bool:
        """Undo what an interrupted AP step wrote to the live ledger; True when it did."""
        before = self.state.get("ledger_before")
        if before is None:
            return False
        ledger = self.dest / LEDGER_NAME
        snapshot = self.partial / LEDGER_BEFORE_NAME
        if before.get("sha256") is None:
            if ledger.exists():
                ledger.unlink()
                return True
            return False
        if ledger.is_file() and _sha256(ledger) == before["sha256"]:
            return False
        _files.write_bytes(ledger, snapshot.read_bytes())
        return True

    def _step_ap(self) -> tuple[str, list[str], dict]:
        ledger = self.dest / LEDGER_NAME
        restored = self._restore_ledger()
        if self.state.get("ledger_before") is None:
            snapshot = self.partial / LEDGER_BEFORE_NAME
            if ledger.is_file():
                _files.write_bytes(snapshot, ledger.read_bytes())
                self.state["ledger_before"] = {"sha256": _sha256(ledger)}
            else:
                self.state["ledger_before"] = {"sha256": None}
            self.save_state()
        (self.stage / AP_DIR).mkdir(parents=True, exist_ok=True)
        if self.pack.exists():
            # reopening: the earlier pack's rows will name the version it is kept as
            kept = self.kept_as()
            _relocate_ledger_files(ledger, f"{self.month}/", f"{kept.name}/")
        accept = self._accept_source()
        results = {fmt: self._export(fmt, ledger, accept) for fmt in self.formats}
        # the ledger names each file where it will be: the pack's final place
        _relocate_ledger_files(
            ledger, f"{self.partial.name}/{self.stage.name}/", f"{self.pack.name}/"
        )
        if ledger.is_file():
            _files.write_bytes(self.stage / AP_DIR / LEDGER_NAME, ledger.read_bytes())
        blocked = {f: r for f, r in results.items() if r["status"] == "blocked"}
        first = next(iter(results.values()))
        if blocked:
            n = first["blocking"]
            line = (
                f"The AP export of {self.label} is blocked by "
                f"{n:,} open error finding{'' if n == 1 else 's'} (nothing was exported): fix "
                "the data, or accept the findings with --accept-findings FILE (findings.csv "
                "with accepted_by filled in), then run the close again."
            )
        else:
            parts = []
            for fmt, r in results.items():
                files = ", ".join(r["files"]) or "no file"
                what = (
                    documents.describe(r["exported_counts"])
                    if r["exported"]
                    else "nothing new (already exported)"
                )
                parts.append(f"{fmt}: {what} in {files}")
            line = (
                f"Exported {self.label} to AP ({'; '.join(parts)}); the ledger {ledger} records it."
            )
        detail = {
            "formats": results,
            "ledger": str(ledger),
            "ledger_restored_after_interruption": restored,
            "blocked": bool(blocked),
        }
        return line, [AP_DIR], detail

    def _export(self, fmt: str, ledger: Path, accept: Any) -> dict:
        output = self._ap_output(fmt)
        result = _export_ap(
            self.df,
            output,
            fmt,
            month=self.month,
            ledger=ledger,
            findings=self.findings,
            accept=accept,
            business_units=self.fleet if getattr(self.fleet, "business_units", None) else None,
            units=self.units,
        )
        files = [Path(f) for f in (result.files or [])]
        exported = result.exported
        blocking = result.blocking
        exported_counts: dict[str, int] = {}
        if exported is not None and len(exported) and "kind" in exported.columns:
            kinds = exported["kind"].astype(str).value_counts().to_dict()
            exported_counts = {k: int(kinds[k]) for k in documents.KINDS if k in kinds}
        elif exported is not None and len(exported):
            exported_counts = {documents.INVOICE: len(exported)}
        rels = []
        for f in files:
            try:
                rels.append(f.resolve().relative_to(self.stage.resolve()).as_posix())
            except ValueError:
                rels.append(str(f))
        blocking_rows = []
        if blocking is not None and len(blocking):
            cols = [
                c for c in ("finding_id", "check", "account_id", "invoice_id", "message")
                if c in blocking.columns
            ]  # fmt: skip
            blocking_rows = [
                {k: (None if v != v else str(v)) for k, v in row.items()}
                for row in blocking[cols].astype(object).to_dict("records")
            ]
        skipped = result.skipped
        return {
            "status": result.status,
            "files": rels,
            "exported": 0 if exported is None else len(exported),
            "exported_counts": exported_counts,
            "skipped": 0 if skipped is None else len(skipped),
            "skipped_reasons": (
                {str(k): int(v) for k, v in skipped["reason"].value_counts().items()}
                if skipped is not None and len(skipped) and "reason" in skipped.columns
                else {}
            ),
            "blocking": len(blocking_rows),
            "blocking_findings": blocking_rows,
        }

    # -- summary -----------------------------------------------------------------------------

    def _step_summary(self) -> tuple[str, list[str], dict]:
        from invoicekit import report

        html_path = self.stage / SUMMARY_HTML
        params = inspect.signature(report.executive_summary).parameters
        kwargs: dict[str, Any] = {
            "path": html_path,
            "findings": self.findings,
            "archive": self.stage / ARCHIVE_DIR,
        }
        if "month" in params:
            kwargs["month"] = self.month
        if "title" in params:
            kwargs["title"] = f"AWS invoices — close of {self.label}"
        if "source" in params and self.config:
            kwargs["source"] = f"fleet {Path(self.config).name}"
        outputs = [SUMMARY_HTML]
        pdf_note = None
        if self.pdf:
            if "pdf" in params:
                kwargs["pdf"] = self.stage / SUMMARY_PDF
                outputs.append(SUMMARY_PDF)
            else:
                pdf_note = "this invoicekit cannot write the executive summary as PDF"
        try:
            report.executive_summary(self.df, **kwargs)
        except Exception as exc:
            if "pdf" not in kwargs:
                raise
            pdf_note = f"the PDF could not be written: {redact(exc)}"
            kwargs.pop("pdf")
            outputs.remove(SUMMARY_PDF)
            (self.stage / SUMMARY_PDF).unlink(missing_ok=True)
            report.executive_summary(self.df, **kwargs)
        written = " and ".join(outputs)
        line = f"Wrote the executive summary of {self.label}: {written}."
        if pdf_note:
            line = line[:-1] + f" (no PDF: {pdf_note})."
        return line, outputs, {"files": outputs, "pdf_failure": pdf_note}

    # -- status and the run report -----------------------------------------------------------

    def outcome(self) -> tuple[str, dict, list[dict]]:
        steps = self.state["steps"]
        fetch, archive, ap = steps["fetch"], steps["archive"], steps["ap"]
        missing = {
            "accounts": [
                {
                    "account_id": f["account_id"],
                    "account_name": f.get("account_name"),
                    "months": list(f.get("windows") or []),
                    "reason": f["message"],
                }
                for f in fetch.get("failures", [])
            ],
            "documents": archive.get("failures", []),
            "archive_problems": archive.get("problems", []),
        }
        failures = [
            *({"step": "fetch", **f} for f in fetch.get("failures", [])),
            *({"step": "fetch", **f} for f in fetch.get("units_failures") or []),
            *({"step": "archive", **f} for f in archive.get("failures", [])),
        ]
        pdf_failure = steps["summary"].get("pdf_failure")
        if pdf_failure:
            failures.append({"step": "summary", "message": pdf_failure})
        partial = bool(
            missing["accounts"] or missing["documents"] or missing["archive_problems"]
            or pdf_failure
        )  # fmt: skip
        blocked = bool(ap.get("blocked") or steps["reconcile"].get("month_errors"))
        status = PARTIAL if partial else BLOCKED if blocked else CLOSED
        return status, missing, failures

    def run_report(self, status: str, missing: dict, failures: list[dict]) -> dict:
        steps = self.state["steps"]
        by_step = {s: int(steps[s].get("api_calls", 0)) for s in STEPS if "api_calls" in steps[s]}
        by_operation: dict[str, int] = {}
        for s in STEPS:
            for op, n in (steps[s].get("api_calls_by_operation") or {}).items():
                by_operation[op] = by_operation.get(op, 0) + int(n)
        blocked_by = []
        for r in (steps["ap"].get("formats") or {}).values():
            blocked_by = blocked_by or r.get("blocking_findings", [])
        blocked_by = [*blocked_by, *(steps["reconcile"].get("month_errors") or [])]
        asked = dict(self.state["asked"])
        return {
            "format": PACK_FORMAT,
            "month": self.month,
            "status": status,
            "exit_code": EXIT_CODES[status],
            "closed_at": clock.utc_iso(clock.now()),
            "asked": asked,
            "steps": {
                s: {k: v for k, v in steps[s].items() if k not in ("done", "outputs")}
                | {"outputs": sorted(steps[s].get("outputs", {}))}
                for s in STEPS
            },
            "api_calls": {
                "total": sum(by_step.values()),
                "by_step": by_step,
                "by_operation": by_operation,
            },
            "failures": failures,
            "missing": missing,
            "blocked": status == BLOCKED,
            "blocked_by": blocked_by,
            "attempts": self.state["attempts"],
            "previous": self.state.get("previous"),
            "business_now": clock.utc_iso(clock.now()),
            "real_time": {
                "started_at": self.state["attempts"][0]["started_at"],
                "finished_at": clock.utc_iso(clock.real_now()),
            },
            "versions": _versions(),
        }

    def kept_as(self) -> Path:
        """Where the earlier pack will be kept (decided once, recorded in the state)."""
        prev = self.state.get("previous") or _previous_pack(self.pack)
        if not prev.get("kept_as"):
            prev["kept_as"] = str(_next_version(self.dest, self.month))
            self.state["previous"] = prev
            self.save_state()
        return Path(prev["kept_as"])

    def finalize(self) -> tuple[str, dict]:
        if self.pack.exists():
            self.kept_as()
        status, missing, failures = self.outcome()
        run = self.run_report(status, missing, failures)
        _files.write_text(self.stage / RUN_NAME, json.dumps(run, indent=2, default=str) + "\n")
        write_sha256sums(self.stage)
        check = verify_pack(self.stage)
        if not check.ok:  # pragma: no cover - written a moment ago
            raise RuntimeError(f"the close pack does not verify: {check.summary()}")
        self.state["phase"] = "ready"
        self.save_state()
        return status, run

    def move_into_place(self) -> Path | None:
        """Keep an earlier pack as ``.vN``, rename the staged pack, remove the staging dir."""
        kept = None
        if self.pack.exists():
            recorded = (self.state.get("previous") or {}).get("kept_as")
            kept = Path(recorded) if recorded else _next_version(self.dest, self.month)
            if kept.exists():  # pragma: no cover - a version was made by hand meanwhile
                kept = _next_version(self.dest, self.month)
            os.rename(self.pack, kept)
        os.rename(self.stage, self.pack)
        _files.fsync_dir(self.dest)
        shutil.rmtree(self.partial, ignore_errors=True)
        return kept


def _relocate_ledger_files(ledger: Path, old_prefix: str, new_prefix: str) -> int:
    """Rewrite the ``file`` column of ledger rows under ``old_prefix``; return how many.

    The AP export records each file relative to the ledger's directory; a close writes its
    files in the staging directory, so their rows are pointed at the pack's final place (and,
    on reopen, the earlier pack's rows at the version it is kept as). Nothing else changes.
    """
    import csv
    import io

    if not ledger.is_file():
        return 0
    raw = ledger.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = list(reader.fieldnames or [])
    rows = list(reader)
    if "file" not in fields:
        return 0
    moved = 0
    for row in rows:
        name = (row.get("file") or "").replace(os.sep, "/")
        if name.startswith(old_prefix):
            row["file"] = new_prefix + name[len(old_prefix) :]
            moved += 1
    if moved:
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        _files.write_bytes(ledger, (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode())
    return moved


# --------------------------------------------------------------------------------------------
# AP export
# --------------------------------------------------------------------------------------------


def _export_ap(df: Any, output: Path, fmt: str, **kwargs: Any) -> Any:
    """:func:`invoicekit.ap.export_ap` (a seam for tests)."""
    from invoicekit.ap import export_ap

    return export_ap(df, output, format=fmt, **kwargs)


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------


def _check_formats(formats: Sequence[str] | str) -> tuple[str, ...]:
    from invoicekit.ap import AP_FORMATS

    if isinstance(formats, str):
        formats = (formats,)
    chosen = tuple(dict.fromkeys(formats))
    if not chosen:
        raise InvalidArgumentError("--format: give at least one AP format, e.g. --format generic")
    for fmt in chosen:
        if fmt not in AP_FORMATS:
            raise InvalidArgumentError(
                f"--format {fmt}: unknown AP format: use one of {', '.join(AP_FORMATS)}"
            )
    return chosen


def _check_month(month: Any) -> str:
    y, m = months.parse_month(month, "--month")
    text = months.format_month(y, m)
    last = months.last_closed_month()
    if text > last:
        raise InvalidArgumentError(
            f"--month {text} has not ended at {clock.utc_iso(clock.now())} (business now): close "
            f"{last} or an earlier month, or pass --now with a later date"
        )
    return text


def _previous_pack(pack: Path) -> dict:
    run = _read_json(pack / RUN_NAME) or {}
    return {
        "path": str(pack),
        "status": run.get("status"),
        "closed_at": run.get("closed_at"),
    }


def close_month(
    fleet_or_config: Any,
    month: Any,
    dest: str | os.PathLike[str],
    *,
    formats: Sequence[str] | str = ("generic",),
    reopen: bool = False,
    pdf: bool = False,
    accept: str | os.PathLike[str] | Iterable[str] | None = None,
    store: str | os.PathLike[str] | None = None,
    progress: bool = False,
    lookback: int = DEFAULT_LOOKBACK,
    echo: Callable[[str], None] | None = None,
) -> CloseResult:
    """Close a billing month: fetch, reconcile, archive, AP export, summary, one signed pack.

    Parameters
    ----------
    fleet_or_config
        A :class:`~invoicekit.fleet.Fleet`, the path of a fleet YAML file, or account ids.
    month
        The billing month to close (``"YYYY-MM"``, a Period or a date); it must have ended
        at business now (:mod:`invoicekit.clock`).
    dest
        The directory of close packs: the pack is ``dest/YYYY-MM``; the live AP ledger is
        ``dest/ap-ledger.csv``; the store defaults to ``dest/store``.
    formats
        AP formats (``generic``, ``oracle-ap``, ``netsuite``, ``xero``).
    reopen
        Close a month that is already closed again: the earlier pack is kept as
        ``dest/YYYY-MM.v1`` (``.v2``...). Invoices the earlier close exported are not
        exported again (the ledger remembers them).
    pdf
        Also write ``executive_summary.pdf``.
    accept
        Accepted findings for the AP export: the path of a findings CSV whose ``accepted_by``
        column is filled in (copied into the pack), or finding ids.
    store
        The local store (default ``dest/store``): a rerun queries only unsettled months.
    progress
        Progress bars (loader, downloader).
    lookback
        Months fetched before ``month`` for the summary's comparisons (default 12).
    echo
        Called with each line as it is produced (the CLI passes ``print``).

    Returns
    -------
    CloseResult
        ``status`` closed / blocked / partial, ``pack``, ``exit_code`` (0 / 1 / 3), the
        ``lines`` printed and ``run`` (the pack's ``run.json``). A month already closed with
        a pack that verifies gives its status with ``changed=False`` and touches nothing.

    Raises
    ------
    InvalidArgumentError
        A bad month, format or option; a pack that no longer verifies (it is never
        overwritten: inspect it, then close again with ``reopen=True``); a staging directory
        started with other options; another close running in ``dest``.
    ConfigError
        Every account failed for a configuration reason.

    Examples
    --------
    >>> r = close_month("fleet.yml", "2026-10", "closes", formats=("generic", "oracle-ap"))  # doctest: +SKIP
    >>> r.exit_code, sorted(p.name for p in r.pack.iterdir())  # doctest: +SKIP
    (0, ['SHA256SUMS', 'ap', 'archive', 'executive_summary.html', 'findings.csv', ...])
    """
    from invoicekit.loader import resolve_fleet

    month_s = _check_month(month)
    chosen = _check_formats(formats)
    if isinstance(lookback, bool) or not isinstance(lookback, int):
        raise InvalidArgumentError(f"--lookback {lookback!r}: give a whole number of months")
    if not 0 <= lookback <= MAX_LOOKBACK:
        raise InvalidArgumentError(
            f"--lookback {lookback}: give 0 to {MAX_LOOKBACK} months, e.g. --lookback 12"
        )
    if isinstance(accept, str | os.PathLike) and not Path(accept).is_file():
        raise InvalidArgumentError(
            f"--accept-findings {accept}: no such file (pass the findings CSV with accepted_by "
            "filled in)"
        )
    dest_path = Path(dest).expanduser()
    if dest_path.exists() and not dest_path.is_dir():
        raise InvalidArgumentError(f"--dest {dest_path} is a file: give a directory")
    try:
        dest_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(
            f"--dest {dest_path}: cannot create it ({exc.strerror}): choose a writable directory"
        ) from None
    dest_path = dest_path.resolve()
    config = (
        str(Path(fleet_or_config).resolve())
        if isinstance(fleet_or_config, str | os.PathLike)
        else (str(getattr(fleet_or_config, "path", "") or "") or None)
    )
    fleet = resolve_fleet(fleet_or_config)
    run = _Close(
        fleet=fleet,
        config=config,
        month=month_s,
        dest=dest_path,
        formats=chosen,
        pdf=pdf,
        accept=accept,
        store=Path(store).expanduser().resolve() if store is not None else dest_path / "store",
        progress=progress,
        lookback=lookback,
        echo=echo,
    )
    with _lock(dest_path):
        return _close(run, reopen)


def _close(run: _Close, reopen: bool) -> CloseResult:
    state = _read_json(run.partial / STATE_NAME) if run.partial.is_dir() else None
    if state is not None and state.get("phase") == "ready" and not run.stage.exists():
        # renamed into place by a run killed before it removed the staging directory
        shutil.rmtree(run.partial, ignore_errors=True)
        state = None
    if state is not None and state.get("format") == STATE_FORMAT:
        run.state = state
        run.check_resumable()
        done = [s for s in STEPS if (state.get("steps", {}).get(s) or {}).get("done")]
        started = state["attempts"][0]["started_at"] if state.get("attempts") else "?"
        run.say(
            f"Resuming the close of {run.label} started {_utc_minutes(started)} in "
            f"{run.partial} (steps done: {', '.join(done) or 'none'})."
        )
    elif run.pack.exists():
        check = verify_pack(run.pack)
        previous = _previous_pack(run.pack)
        if not check.ok:
            raise InvalidArgumentError(
                f"{run.pack} is a close pack of {run.label} whose files no longer verify "
                f"({check.summary()}): it is not overwritten; inspect it (cd {run.pack} && "
                f"sha256sum -c {SUMS_NAME}), then close the month again with --reopen (the pack "
                f"is kept as {_next_version(run.dest, run.month).name})"
            )
        unchanged = None
        if previous["status"] == CLOSED and not reopen:
            unchanged = CLOSED
            run.say(
                f"{run.label} is already closed: {run.pack} (closed "
                f"{_utc_minutes(previous['closed_at'])}, {check.summary()}). Use --reopen to "
                "close it again."
            )
        elif previous["status"] == BLOCKED and not reopen and run.accept is None:
            unchanged = BLOCKED
            run.say(
                f"{run.label} is blocked: {run.pack} (error findings are open, see run.json; "
                f"{check.summary()}). Accept them with --accept-findings FILE (findings.csv with "
                "accepted_by filled in) or use --reopen to close it again."
            )
        if unchanged is not None:
            return CloseResult(
                unchanged,
                run.pack,
                EXIT_CODES[unchanged],
                run.lines,
                _read_json(run.pack / RUN_NAME) or {},
                changed=False,
            )
        why = "reopened" if reopen else f"was {previous['status'] or 'incomplete'}"
        run.say(
            f"{run.label} {why} ({run.pack}): closing it again; the earlier pack will be kept "
            f"as {_next_version(run.dest, run.month).name}."
        )
        run.new_state(reopen, previous)
    else:
        if run.partial.exists():
            shutil.rmtree(run.partial)  # no usable state: nothing of it was completed
        run.new_state(reopen, None)
    if run.state.get("phase") != "ready":
        run.run_steps()
        status, report = run.finalize()
    else:
        report = _read_json(run.stage / RUN_NAME) or {}
        status = report.get("status", PARTIAL)
    kept = run.move_into_place()
    files = verify_pack(run.pack)
    verdict = {
        CLOSED: f"Closed {run.label}",
        BLOCKED: f"{run.label} is not closed: open error findings block it (run.json says so)",
        PARTIAL: f"{run.label} is closed partially: run.json lists what is missing; run the "
        "close again to retry it",
    }[status]
    run.say(
        f"{verdict}: {run.pack} ({files.summary()} by {SUMS_NAME})"
        + (f"; the earlier pack is {kept}" if kept else "")
        + "."
    )
    return CloseResult(
        status, run.pack, EXIT_CODES[status], run.lines, report, changed=True, previous=kept
    )
