"""Finding the current files of AWS Data Exports (CUR 2.0, FOCUS 1.2), local or on S3.

An export lives under ``<prefix>/<export>/``: data files in ``data/<PARTITION>=YYYY-MM/`` and a
manifest per execution in ``metadata/<PARTITION>=YYYY-MM/[<execution id>/]<export>-Manifest.json``.
The manifest's ``dataFiles`` are the files to ingest; with CREATE_NEW delivery several
executions (full snapshots) stay side by side and only the latest one *by time* is current.
Nothing here reads the data: :class:`CostExport` is a lazy handle the SQL engines scan.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from invoicekit.errors import InvalidArgumentError

__all__ = ["CostExport", "ExportFiles", "read_cost_export", "FORMATS"]

#: Export formats and the columns that tell them apart.
FORMATS = {
    "cur2": ("bill_payer_account_id", "line_item_unblended_cost", "bill_invoice_id"),
    "focus": ("BillingAccountId", "BilledCost", "InvoiceId"),
}
_FORMAT_ALIASES = {
    "cur2": "cur2", "cur": "cur2", "cur2.0": "cur2", "cur 2.0": "cur2",
    "focus": "focus", "focus1.2": "focus", "focus 1.2": "focus", "focus_1_2_aws": "focus",
}  # fmt: skip
_PARTITION = re.compile(r"^billing_period=(\d{4})-(\d{2})$", re.IGNORECASE)
_ARN_ACCOUNT = re.compile(r"^arn:aws[-a-z]*:bcm-data-exports:[^:]*:(\d{12}):")


@dataclass(frozen=True)
class ExportFiles:
    """One export's current data files per billing period.

    Attributes
    ----------
    name : str
        The export's name (its folder).
    root : str
        Its folder: a local path or ``s3://bucket/prefix/name``.
    format : {"cur2", "focus"}
    payer_account_id : str
        The account that owns the export (from the manifest's ``exportArn``): its payer.
    periods : dict
        ``"YYYY-MM"`` -> tuple of data files (local paths, or ``bucket/key`` on S3).
    delivery : {"OVERWRITE_REPORT", "CREATE_NEW"}
    superseded : int
        Manifests of older executions left out.
    """

    name: str
    root: str
    format: str
    payer_account_id: str
    periods: dict[str, tuple[str, ...]]
    delivery: str
    superseded: int = 0


@dataclass
class CostExport:
    """Cost-and-usage exports found by :func:`read_cost_export`: a lazy handle, no data read.

    Attributes
    ----------
    exports : tuple of ExportFiles
        One per export used (a payer has at most one).
    notes : list of str
        Plain sentences on what was left out and why (superseded executions, a second format
        of the same payer, periods outside ``months``).
    filesystem : pyarrow.fs.FileSystem or None
        The S3 filesystem for ``s3://`` exports (``None``: local files).
    """

    exports: tuple[ExportFiles, ...]
    notes: list[str] = field(default_factory=list)
    filesystem: Any = None

    @property
    def payers(self) -> list[str]:
        """Payer account ids with an export."""
        return sorted({e.payer_account_id for e in self.exports})

    def coverage(self) -> list[tuple[str, str]]:
        """``(payer_account_id, "YYYY-MM")`` pairs the exports cover."""
        return sorted({(e.payer_account_id, p) for e in self.exports for p in e.periods})

    def files(self) -> int:
        """How many data files the exports' current executions hold."""
        return sum(len(f) for e in self.exports for f in e.periods.values())

    def restricted(self, months: Iterable[str] | None) -> CostExport:
        """The same exports with only the billing months ``months`` (``None``: all)."""
        if months is None:
            return self
        wanted = set(months)
        out = []
        for e in self.exports:
            periods = {p: f for p, f in e.periods.items() if p in wanted}
            if periods:
                out.append(
                    ExportFiles(
                        e.name,
                        e.root,
                        e.format,
                        e.payer_account_id,
                        periods,
                        e.delivery,
                        e.superseded,
                    )  # fmt: skip
                )
        return CostExport(tuple(out), list(self.notes), self.filesystem)

    def __repr__(self) -> str:
        return (
            f"<CostExport {len(self.exports)} exports, {len(self.payers)} payers, "
            f"{len(self.coverage())} payer-months, {self.files()} files>"
        )


# --------------------------------------------------------------------------------------------
# File systems
# --------------------------------------------------------------------------------------------


class _Local:
    """Local files (an export, or an ``aws s3 sync`` copy of one)."""

    is_s3 = False

    def walk_manifests(self, root: str) -> list[tuple[str, float]]:
        out = []
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                if f.endswith("Manifest.json"):
                    p = os.path.join(dirpath, f)
                    out.append((p, os.stat(p).st_mtime))
        return sorted(out)

    def read_text(self, path: str) -> str:
        return Path(path).read_text(encoding="utf-8")

    def exists(self, path: str) -> bool:
        return os.path.isfile(path)

    def join(self, root: str, *parts: str) -> str:
        return os.path.join(root, *parts)

    def parquet_under(self, root: str) -> list[str]:
        return sorted(str(p) for p in Path(root).rglob("*.parquet"))


class _S3:
    """S3 through pyarrow's filesystem (credentials from the standard boto3 chain)."""

    is_s3 = True

    def __init__(self, fs) -> None:
        self.fs = fs

    def walk_manifests(self, root: str) -> list[tuple[str, float]]:
        from pyarrow import fs as pafs

        try:
            infos = self.fs.get_file_info(pafs.FileSelector(root, recursive=True))
        except FileNotFoundError:
            return []
        out = []
        for info in infos:
            if info.type == pafs.FileType.File and info.path.endswith("Manifest.json"):
                mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
                out.append((info.path, mtime))
        return sorted(out)

    def read_text(self, path: str) -> str:
        with self.fs.open_input_stream(path) as fh:
            return fh.read().decode("utf-8")

    def exists(self, path: str) -> bool:
        from pyarrow import fs as pafs

        return self.fs.get_file_info(path).type == pafs.FileType.File

    def join(self, root: str, *parts: str) -> str:
        return "/".join([root.rstrip("/"), *parts])

    def parquet_under(self, root: str) -> list[str]:
        from pyarrow import fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(root, recursive=True))
        return sorted(i.path for i in infos if i.path.endswith(".parquet"))


def s3_filesystem(*, boto3_session=None, endpoint_url: str | None = None):
    """A ``pyarrow.fs.S3FileSystem`` with the standard credential chain and endpoint overrides.

    Credentials come from ``boto3_session`` (default ``boto3.Session()``: environment, shared
    files, profiles, assumed roles, instance metadata). The endpoint is ``endpoint_url``, else
    ``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL`` (None: AWS itself).
    """
    import boto3
    from pyarrow import fs as pafs

    session = boto3_session or boto3.Session()
    creds = session.get_credentials()
    kwargs: dict[str, Any] = {"region": session.region_name or "us-east-1"}
    if creds is not None:
        frozen = creds.get_frozen_credentials()
        kwargs.update(
            access_key=frozen.access_key,
            secret_key=frozen.secret_key,
            session_token=frozen.token,
        )
    endpoint = (
        endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme or "https")
        kwargs["allow_bucket_creation"] = False
    return pafs.S3FileSystem(**kwargs)


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


def _format_name(value: str | None) -> str | None:
    if value is None:
        return None
    key = str(value).strip().lower()
    if key not in _FORMAT_ALIASES:
        raise InvalidArgumentError(
            f"format={value!r} is not an export format: give 'cur2' (CUR 2.0) or 'focus' "
            "(FOCUS 1.2), or leave it out to detect it"
        )
    return _FORMAT_ALIASES[key]


def _detect(columns: Sequence[str]) -> str | None:
    names = set(columns)
    for fmt, needed in FORMATS.items():
        if all(c in names for c in needed[:2]):
            return fmt
    return None


def _split_manifest_path(path: str) -> tuple[str, str, str | None] | None:
    """``(export root, "YYYY-MM", execution folder or None)`` of a manifest path."""
    parts = PurePosixPath(path.replace(os.sep, "/")).parts
    if "metadata" not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index("metadata")
    rest = parts[i + 1 :]
    if not rest:
        return None
    m = _PARTITION.match(rest[0])
    if not m:
        return None
    root = "/".join(parts[:i]) if parts[0] != "/" else "/" + "/".join(parts[1:i])
    execution = rest[1] if len(rest) > 2 else None
    return root, f"{m.group(1)}-{m.group(2)}", execution


def _resolve(fs, export_root: str, name: str, uri: str) -> str:
    """A manifest's full S3 URI, read against the export folder actually given."""
    text = uri.replace("\\", "/")
    marker = f"/{name}/data/"
    if marker in text:
        rest = text.split(marker, 1)[1]
        return fs.join(export_root, "data", *rest.split("/"))
    if fs.is_s3 and text.startswith("s3://"):
        return text[len("s3://") :]
    raise InvalidArgumentError(
        f"manifest of export {name} lists {uri}, which is not under {name}/data/: point "
        "--costs at the export's own folder"
    )


def _discover(fs, location: str, fmt: str | None, notes: list[str]) -> list[ExportFiles]:
    manifests = fs.walk_manifests(location)
    if not manifests:
        raise InvalidArgumentError(
            f"--costs {location}: no Data Exports manifest (metadata/BILLING_PERIOD=YYYY-MM/"
            "*-Manifest.json) found under it; point it at an export, a folder of exports or a "
            "local copy made with `aws s3 sync`"
        )
    by_export: dict[str, dict[str, list[tuple[float, str, str | None]]]] = {}
    for path, mtime in manifests:
        split = _split_manifest_path(path)
        if split is None:
            continue
        root, period, execution = split
        by_export.setdefault(root, {}).setdefault(period, []).append((mtime, path, execution))
    out = []
    for root, periods in sorted(by_export.items()):
        name = PurePosixPath(root).name
        chosen: dict[str, tuple[str, ...]] = {}
        superseded = 0
        delivery = "OVERWRITE_REPORT"
        fmt_seen: str | None = None
        payer: str | None = None
        for period, candidates in sorted(periods.items()):
            # the latest execution by its time (never by sorting execution ids); ties: path
            candidates.sort(key=lambda c: (c[0], c[1]))
            mtime, mpath, execution = candidates[-1]
            if len(candidates) > 1 or execution is not None:
                delivery = "CREATE_NEW"
            superseded += len(candidates) - 1
            try:
                manifest = json.loads(fs.read_text(mpath))
            except (OSError, ValueError) as exc:
                raise InvalidArgumentError(
                    f"--costs: cannot read manifest {mpath} ({exc}); copy the export again"
                ) from None
            cols = [c.get("name", "") for c in manifest.get("columns", []) if isinstance(c, dict)]
            found = _detect(cols)
            if fmt_seen is None:
                fmt_seen = found
            arn = str(manifest.get("exportArn", ""))
            m = _ARN_ACCOUNT.match(arn)
            if m and payer is None:
                payer = m.group(1)
            files = []
            for uri in manifest.get("dataFiles", []):
                local = _resolve(fs, root, name, str(uri))
                if not fs.exists(local):
                    raise InvalidArgumentError(
                        f"--costs: manifest {mpath} lists {uri} but {local} does not exist; "
                        "copy the whole export (`aws s3 sync s3://BUCKET/PREFIX/EXPORT DIR`)"
                    )
                files.append(local)
            chosen[period] = tuple(files)
        if fmt_seen is None:
            fmt_seen = _detect_from_data(fs, chosen)
        if fmt_seen is None:
            notes.append(f"export {name} left out: neither CUR 2.0 nor FOCUS 1.2 columns")
            continue
        if fmt is not None and fmt_seen != fmt:
            notes.append(f"export {name} left out: it is {_label(fmt_seen)}, not {_label(fmt)}")
            continue
        if payer is None:
            payer = _payer_from_data(fs, chosen, fmt_seen)
        if superseded:
            notes.append(
                f"export {name}: {superseded} superseded execution(s) left out (CREATE_NEW "
                "delivery keeps every snapshot; only the latest of each billing month counts)"
            )
        out.append(ExportFiles(name, root, fmt_seen, payer or "", chosen, delivery, superseded))
    return out


def _label(fmt: str) -> str:
    return "CUR 2.0" if fmt == "cur2" else "FOCUS 1.2"


def _schema_names(fs, path: str) -> list[str]:
    import pyarrow.parquet as pq

    if fs.is_s3:
        with fs.fs.open_input_file(path) as fh:
            return list(pq.read_schema(fh).names)
    return list(pq.read_schema(path).names)


def _detect_from_data(fs, chosen: dict[str, tuple[str, ...]]) -> str | None:
    for files in chosen.values():
        for f in files:
            return _detect(_schema_names(fs, f))
    return None


def _payer_from_data(fs, chosen, fmt) -> str | None:
    import pyarrow.parquet as pq

    col = FORMATS[fmt][0]
    for files in chosen.values():
        for f in files:
            src = fs.fs.open_input_file(f) if fs.is_s3 else f
            t = pq.read_table(src, columns=[col])
            vals = [v for v in t.column(0).unique().to_pylist() if v]
            if vals:
                return str(vals[0])
    return None


def read_cost_export(
    path_or_s3_uri: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    format: str | None = None,  # noqa: A002 - the natural name for the user
    months: Iterable[str] | None = None,
    boto3_session=None,
    endpoint_url: str | None = None,
) -> CostExport:
    """Find the current files of one or more cost-and-usage exports (CUR 2.0 or FOCUS 1.2).

    Nothing is read but the manifests: the returned handle is scanned by DuckDB (or Spark)
    in :func:`invoicekit.costs.align` and :func:`invoicekit.costs.allocate`, column by column.

    Parameters
    ----------
    path_or_s3_uri : str, path or list of them
        An export folder (``<prefix>/<export>``), a folder holding several exports, or an
        ``s3://bucket/prefix`` URI. A local copy (``aws s3 sync``) works too: the manifests'
        ``dataFiles`` are resolved against the folder given.
    format : {"cur2", "focus"}, optional
        Use only exports of this format (default: detect; when a payer has both, CUR 2.0 is
        used and the FOCUS export is named in ``notes``).
    months : iterable of "YYYY-MM", optional
        Only these billing months.
    boto3_session : boto3.Session, optional
        Credentials for ``s3://`` (default: the standard chain).
    endpoint_url : str, optional
        S3 endpoint override (default ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``).

    Returns
    -------
    CostExport

    Raises
    ------
    InvalidArgumentError
        No manifest found, a listed data file missing, two exports of the same format for one
        payer.

    Examples
    --------
    >>> costs = read_cost_export("exports/")  # doctest: +SKIP
    >>> costs.payers  # doctest: +SKIP
    ['100000000001', '100000000002']
    """
    fmt = _format_name(format)
    paths = [path_or_s3_uri] if isinstance(path_or_s3_uri, (str, os.PathLike)) else path_or_s3_uri
    notes: list[str] = []
    found: list[ExportFiles] = []
    s3 = None
    for p in paths:
        text = os.fspath(p)
        if text.startswith("s3://"):
            if s3 is None:
                s3 = _S3(s3_filesystem(boto3_session=boto3_session, endpoint_url=endpoint_url))
            found += _discover(s3, text[len("s3://") :].rstrip("/"), fmt, notes)
        else:
            if not os.path.isdir(text):
                raise InvalidArgumentError(
                    f"--costs {text}: no such folder; give an export folder, a folder of "
                    "exports or s3://bucket/prefix"
                )
            found += _discover(_Local(), os.path.abspath(text), fmt, notes)
    by_payer: dict[str, list[ExportFiles]] = {}
    for e in found:
        by_payer.setdefault(e.payer_account_id, []).append(e)
    kept: list[ExportFiles] = []
    focus_left_out: list[str] = []
    for payer, exports in sorted(by_payer.items()):
        for f in ("cur2", "focus"):
            same = [e for e in exports if e.format == f]
            if len(same) > 1:
                raise InvalidArgumentError(
                    f"--costs: payer {payer} has {len(same)} {_label(f)} exports "
                    f"({', '.join(e.name for e in same)}); summing both would count its costs "
                    "twice: give only one of them"
                )
        formats = {e.format for e in exports}
        if len(formats) > 1:
            keep = [e for e in exports if e.format == "cur2"]
            focus_left_out += [e.name for e in exports if e.format != "cur2"]
            kept += keep
        else:
            kept += exports
    if focus_left_out:
        n = len(focus_left_out)
        shown = ", ".join(focus_left_out[:3]) + (", ..." if n > 3 else "")
        notes.append(
            f"{n} FOCUS 1.2 export{'s' if n > 1 else ''} ({shown}) left out: the same payer's "
            "CUR 2.0 export covers the same costs (pass format='focus', or --format focus, to "
            "use FOCUS instead)"
        )
    dropped = {e.name for e in found} - {e.name for e in kept}
    notes = [n for n in notes if not any(n.startswith(f"export {d}: ") for d in dropped)]
    costs = CostExport(tuple(kept), notes, s3.fs if s3 is not None else None)
    return costs.restricted(months)
