"""Verify an archive: re-hash every document against the manifest, and check completeness.

:func:`verify_archive` reports files that are missing, corrupt (size or sha256 different from
the manifest, not a complete PDF) or unexpected (not in the manifest, partial downloads), and
unusable manifest lines; given the summaries that should be archived, also every invoice
without an intact PDF (``no_document``). Nothing is read outside the archive, whatever the
manifest says. :func:`document_counts` and :func:`describe_documents` name what an archive
holds in :mod:`invoicekit.documents` words.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoicekit import _files, documents, months
from invoicekit._http import is_pdf
from invoicekit._redact import redact
from invoicekit.archive.manifest import MANIFEST_NAME, STATE_DIR, read_manifest, sha256_file
from invoicekit.archive.naming import inside_archive, invoices_from_frame
from invoicekit.errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "PROBLEM_COLUMNS",
    "PROBLEMS",
    "VerifyReport",
    "verify_archive",
]

#: Columns of :attr:`VerifyReport.problems`.
PROBLEM_COLUMNS = (
    "problem",
    "path",
    "account_id",
    "invoice_id",
    "billing_period",
    "document_type",
    "document_id",
    "detail",
)
#: The values of ``problem``.
PROBLEMS = ("missing", "corrupt", "unexpected", "manifest", "no_document", "unlocked")
#: What a main document of unknown kind is called (an archive verified without summaries).


@dataclass
class VerifyReport:
    """What :func:`verify_archive` found.

    Attributes
    ----------
    dest : pathlib.Path
    checked : int
        Documents in the manifest that were re-hashed.
    problems : pandas.DataFrame
        One row per problem (:data:`PROBLEM_COLUMNS`); ``problem`` is one of
        :data:`PROBLEMS`: ``missing``, ``corrupt``, ``unexpected``, ``manifest`` (an unusable
        manifest line), ``no_document`` (an invoice of the requested range without its PDF) or,
        in an S3 archive, ``unlocked`` (the Object Lock the manifest records is no longer in
        force).
    invoices_expected : int
        Rows of the requested range that should have a PDF (0 without summaries): invoices,
        credit memos, tax invoices... (:attr:`expected` names them).
    counts : dict
        The checked documents by kind (:func:`invoicekit.documents.count_documents`; main documents by their row's
        kind when summaries were given, else as ``"main document"``).
    expected : dict
        The rows of the requested range by kind (``{"invoice": 156, "credit memo": 12}``).

    Examples
    --------
    >>> import pandas as pd, pathlib
    >>> report = VerifyReport(pathlib.Path("archive"), 3, pd.DataFrame(columns=PROBLEM_COLUMNS))
    >>> report.ok, report.summary()
    (True, 'archive: 3 documents checked: no problems')
    """

    dest: Path
    checked: int
    problems: pd.DataFrame
    invoices_expected: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    start: str | None = None
    end: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return len(self.problems) == 0

    def summary(self) -> str:
        """One line: documents checked (by kind), rows expected, problems by kind."""
        found = self.problems["problem"].value_counts().to_dict() if len(self.problems) else {}
        tail = (
            "no problems" if not found else ", ".join(f"{n} {k}" for k, n in sorted(found.items()))
        )
        checked = documents.plural(self.checked, "document") + " checked"
        if self.counts:
            checked += f" ({documents.describe(self.counts)})"
        extra = ""
        if self.invoices_expected:
            kinds = documents.describe(self.expected) if self.expected else ""
            extra = f"; {self.scope()}: {self.invoices_expected:,} expected" + (
                f" ({kinds})" if kinds else ""
            )
        return f"{self.dest}: {checked}{extra}: {tail}"

    def scope(self) -> str:
        """The billing months whose rows were expected: ``"2026-10"``, ``"2026-01..2026-10"``."""
        if self.start and self.start == self.end:
            return f"billing month {self.start}"
        if self.start or self.end:
            return f"billing months {self.start or '…'}..{self.end or '…'}"
        return "all billing months of the summaries"

    def __str__(self) -> str:
        return self.summary()


def _month_bound(value: str | None, name: str) -> str | None:
    return months.format_month(*months.parse_month(value, name)) if value else None


def _bounds(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    lo, hi = _month_bound(start, "start"), _month_bound(end, "end")
    if lo and hi and lo > hi:
        raise InvalidArgumentError(f"start {lo} is after end {hi}: give the earlier month first")
    return lo, hi


class _Problems:
    """The problems found so far, as rows of :data:`PROBLEM_COLUMNS`."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self, problem: str, row: Mapping[str, Any] | None, detail: str, path: str | None = None
    ) -> None:
        row = row or {}
        self.rows.append(
            {
                "problem": problem,
                "path": path if path is not None else row.get("path"),
                "account_id": row.get("account_id"),
                "invoice_id": row.get("invoice_id"),
                "billing_period": row.get("billing_period"),
                "document_type": row.get("document_type"),
                "document_id": row.get("document_id"),
                "detail": redact(detail),
            }
        )


def _finish(
    dest: Any,
    rows: list[dict[str, str]],
    problems: _Problems,
    summaries: pd.DataFrame | None,
    lo: str | None,
    hi: str | None,
    good_invoices: set[tuple[str, str]],
) -> VerifyReport:
    """Completeness against ``summaries`` (``no_document``), then the report."""
    import pandas as pd

    expected: dict[str, int] = {}
    kind_of: dict[tuple[str, str], str] = {}
    if summaries is not None:
        for inv in invoices_from_frame(summaries):
            kind_of[(inv.account_id, inv.invoice_id)] = inv.kind
            if lo and inv.billing_period < lo or hi and inv.billing_period > hi:
                continue
            expected[inv.kind] = expected.get(inv.kind, 0) + 1
            if (inv.account_id, inv.invoice_id) not in good_invoices:
                problems.add(
                    "no_document",
                    {
                        "account_id": inv.account_id,
                        "invoice_id": inv.invoice_id,
                        "billing_period": inv.billing_period,
                        "document_type": documents.MAIN_DOCUMENT,
                        "document_id": inv.invoice_id,
                    },
                    f"{inv.kind} of the requested range has no intact PDF in the archive",
                    path=None,
                )
    checked = pd.DataFrame(
        {
            "document_type": [r["document_type"] for r in rows],
            "kind": [kind_of.get((r["account_id"], r["invoice_id"])) for r in rows],
        },
        dtype=object,
    )
    frame = pd.DataFrame(problems.rows, columns=list(PROBLEM_COLUMNS))
    return VerifyReport(
        dest=dest,
        checked=len(rows),
        problems=frame,
        invoices_expected=sum(expected.values()),
        counts=documents.count_documents(checked) if len(checked) else {},
        expected={k: expected[k] for k in documents.KINDS if k in expected},
        start=lo,
        end=hi,
    )


def verify_archive(
    dest: str | PathLike[str],
    *,
    summaries: pd.DataFrame | None = None,
    start: str | None = None,
    end: str | None = None,
    fleet: Any = None,
    s3_client: Any = None,
) -> VerifyReport:
    """Re-hash an archive against its manifest; report missing, corrupt and unexpected files.

    Parameters
    ----------
    dest : path or str
        The archive directory written by :func:`~invoicekit.archive.download_invoice_pdfs`,
        or ``"s3://BUCKET/PREFIX"`` (:func:`invoicekit.archive.s3.verify_s3_archive`: every
        object re-read and re-hashed, its stored checksum and Object Lock checked too).
    summaries : DataFrame, optional
        Invoices that should be archived (``account_id``, ``invoice_id``, ``billing_period``):
        each one without its PDF in the archive is a ``no_document`` problem (completeness).
    start, end : str, optional
        ``YYYY-MM`` billing periods (inclusive) restricting ``summaries``.
    fleet, s3_client : optional
        S3 only: the archive bucket's credentials (the fleet's ``archive:`` section) or client.

    Returns
    -------
    VerifyReport
        ``report.ok`` is True when nothing is wrong.

    Raises
    ------
    InvalidArgumentError
        ``dest`` is not a directory, has no ``manifest.csv``, or a period does not parse.

    Examples
    --------
    >>> report = invoicekit.verify_archive("archive")          # doctest: +SKIP
    >>> report.ok, report.summary()                           # doctest: +SKIP
    """
    from invoicekit.archive import s3

    if s3.is_s3_url(dest):
        return s3.verify_s3_archive(
            str(dest), summaries=summaries, start=start, end=end, fleet=fleet, client=s3_client
        )
    root = Path(dest).expanduser()
    if not root.is_dir():
        raise InvalidArgumentError(
            f"{root} is not a directory (pass the archive written by download)"
        )
    root = root.resolve()
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        raise InvalidArgumentError(f"{root} has no {MANIFEST_NAME}: not an invoicekit archive")
    lo, hi = _bounds(start, end)

    read = read_manifest(manifest_path)
    problems = _Problems()
    add = problems.add

    for lineno, why in read.bad_lines:
        add("manifest", None, f"{MANIFEST_NAME} line {lineno}: {why}", path=MANIFEST_NAME)

    known: set[str] = set()
    good_invoices: set[tuple[str, str]] = set()
    for row in read.rows:
        rel = row["path"]
        if "\\" in rel or rel.startswith("/") or any(p in ("", ".", "..") for p in rel.split("/")):
            add("manifest", row, "path is not a clean relative path inside the archive")
            continue
        try:
            path = inside_archive(root, rel)
        except InvalidArgumentError:
            add("manifest", row, "path leaves the archive")
            continue
        known.add(path.relative_to(root).as_posix())
        if not path.is_file():
            add("missing", row, "file listed in the manifest is not in the archive")
            continue
        try:
            size, sha, head, tail = sha256_file(path)
        except OSError as exc:
            add("corrupt", row, f"cannot read: {exc.strerror}")
            continue
        if size != int(row["bytes"]):
            add("corrupt", row, f"size {size} bytes, manifest says {row['bytes']}")
        elif sha != row["sha256"]:
            add("corrupt", row, "sha256 differs from the manifest (file altered)")
        elif not is_pdf(head, tail):
            add("corrupt", row, "not a complete PDF (no %PDF- signature or %%EOF)")
        elif row["document_type"] == documents.MAIN_DOCUMENT:
            good_invoices.add((row["account_id"], row["invoice_id"]))

    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if d != STATE_DIR]
        for name in filenames:
            rel = (here / name).relative_to(root).as_posix()
            if here == root and name == MANIFEST_NAME:
                continue
            if rel in known:
                continue
            if _files.is_temp_name(name):
                add(
                    "unexpected",
                    None,
                    "partial download left by an interrupted run (the next download removes it)",
                    path=rel,
                )
            else:
                add("unexpected", None, "file not in the manifest", path=rel)

    return _finish(root, read.rows, problems, summaries, lo, hi, good_invoices)
