"""A local store of invoice summaries: every version of every invoice, raw responses as evidence.

Layout of a store directory::

    STORE/
      store.json                      index: every stored (account, window), when it was fetched,
                                      and each retrieval's invoices (content digests)
      summaries.parquet               one row per invoice *version* (schema.COLUMNS + store_by,
                                      store_window, retrieved_at, content_sha): a re-fetched
                                      invoice whose content changed adds a row, unchanged
                                      content adds none
      raw/<by>/<account_id>/<window>.json
                                      the latest ListInvoiceSummaries request and every response
                                      page exactly as received, with its retrieval time (UTC)
                                      and request id; never credentials

Versions: an invoice's *content* is every schema column but ``account_name`` (a label from the
fleet file, not from AWS). Each save of a window records which contents that retrieval
returned; :meth:`Store.load` serves the latest retrieval of each window (an invoice that
disappeared from the API is no longer current), :meth:`Store.history` every version with its
retrieval time, :meth:`Store.as_of` the store as it was at a past moment.

Incremental re-runs: a window is *settled* ``settle_days`` (default 45) days after it ends (a
billing month ends on the first day of the next month, 00:00 UTC). A window whose stored copy
was retrieved after it settled is not queried again unless ``refresh=True``; every other window
(never stored, stored before it settled, or failed last time) is queried again and becomes the
window's current retrieval.

Format ``invoicekit-store/2``; a store written as ``invoicekit-store/1`` (no versions) is read
as is, each window's rows its one retrieval, and rewritten as version 2 on the next save.

Examples
--------
>>> from invoicekit.store import Store
>>> store = Store("invoice-store")  # doctest: +SKIP
>>> store.load().shape  # doctest: +SKIP
(1200, 50)
>>> store.history(invoice_id="EUINDE26-704673")[["retrieved_at", "version", "base_total"]]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoicekit import _files, clock
from invoicekit.errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from invoicekit.months import Window
    from invoicekit.outcomes import WindowResult

__all__ = ["Store", "DEFAULT_SETTLE_DAYS"]

#: Days after a billing month ends before its invoices are taken as final.
DEFAULT_SETTLE_DAYS = 45
FORMAT = "invoicekit-store/2"
#: Formats this version reads (the first is written).
READ_FORMATS = (FORMAT, "invoicekit-store/1")
_INDEX = "store.json"
_PARQUET = "summaries.parquet"
#: Bookkeeping columns kept next to schema.COLUMNS in the parquet file.
META_COLUMNS = ("store_by", "store_window", "retrieved_at", "content_sha")
#: Columns :meth:`Store.history` adds to schema.COLUMNS.
HISTORY_COLUMNS = ("retrieved_at", "version", "current")
#: Schema columns that are not part of an invoice's content (a label from the fleet file).
NOT_CONTENT = frozenset({"account_name"})
#: Hex digits of a content digest (sha256 prefix) kept per row and per retrieval.
_SHA_CHARS = 24


def _now(now: datetime | date | str | None) -> datetime:
    return clock.now() if now is None else clock.parse(now, "now")


def _utc_iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")  # microseconds kept: ordering


def _parse_iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc_iso(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class Store:
    """A store directory (created on first save).

    Parameters
    ----------
    path
        The directory.
    settle_days
        Days after a window ends after which its stored copy is final.

    Examples
    --------
    >>> store = Store("invoice-store", settle_days=45)  # doctest: +SKIP
    >>> df = invoicekit.read_invoice_summaries("fleet.yml", store=store)  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, *, settle_days: int = DEFAULT_SETTLE_DAYS) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InvalidArgumentError(
                f"store {self.path} is a file, not a directory: give a directory path"
            )
        if not isinstance(settle_days, int) or isinstance(settle_days, bool) or settle_days < 0:
            raise InvalidArgumentError(
                f"settle_days={settle_days!r} must be a non-negative integer, e.g. 45"
            )
        self.settle_days = settle_days
        self._index: dict[str, dict] | None = None

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, settle_days={self.settle_days})"

    # -- index -------------------------------------------------------------------------------

    @property
    def index(self) -> dict[str, dict]:
        """``"<by>/<account>/<window>"`` → ``{retrieved_at, invoices, api_calls, raw, retrievals}``.

        ``retrievals`` lists every answer of the window that differed from the one before,
        oldest first: ``{"at": ISO time, "rows": [content digest, ...]}``; the last one is the
        window's current copy (``retrieved_at`` is the latest fetch, for the settle window).
        """
        if self._index is None:
            f = self.path / _INDEX
            if f.exists():
                data = json.loads(f.read_text(encoding="utf-8"))
                if data.get("format") not in READ_FORMATS:
                    raise InvalidArgumentError(
                        f"{f} is not an invoicekit store ({data.get('format')!r}): use an empty "
                        "directory or a store written by invoicekit"
                    )
                self._index = data.get("windows") or {}
            else:
                self._index = {}
        return self._index

    @staticmethod
    def _key(account_id: str, window: Window) -> str:
        return f"{window.by}/{account_id}/{window.key}"

    def settles_at(self, window: Window) -> datetime:
        """When ``window`` settles: its (exclusive) end plus ``settle_days``."""
        return window.end + timedelta(days=self.settle_days)

    def is_current(
        self, account_id: str, window: Window, now: datetime | date | str | None = None
    ) -> bool:
        """Whether the stored copy of (account, window) is final: fetched after it settled."""
        entry = self.index.get(self._key(account_id, window))
        if entry is None:
            return False
        settled = self.settles_at(window)
        return _now(now) >= settled and _parse_iso(entry["retrieved_at"]) >= settled

    def windows_to_fetch(
        self,
        account_ids: Iterable[str],
        windows: Iterable[Window],
        *,
        refresh: bool = False,
        now: datetime | date | str | None = None,
    ) -> dict[str, list[Window]]:
        """The windows each account must query; the others are served from the store.

        Examples
        --------
        >>> plan = Store("s").windows_to_fetch(["111111111111"], split_windows("2025-01", "2025-12"))  # doctest: +SKIP
        """
        windows = list(windows)
        t = _now(now)
        if refresh:
            return {a: list(windows) for a in account_ids}
        return {a: [w for w in windows if not self.is_current(a, w, t)] for a in account_ids}

    # -- writing -----------------------------------------------------------------------------

    def save(
        self,
        results: list[WindowResult],
        frame: pd.DataFrame,
        *,
        window_of_row: list[str],
        account_names: Mapping[str, str | None] | None = None,
    ) -> None:
        """Store freshly fetched windows: raw evidence, index entries and new invoice versions.

        ``frame`` holds the typed rows of ``results``; ``window_of_row[i]`` is the index key of
        row ``i``. Each window's retrieval becomes its current copy; a row whose content the
        window already holds adds no version, a changed or new one adds a version retrieved at
        the window's retrieval time. Earlier versions are kept.
        """
        import pandas as pd

        from invoicekit import schema

        if not results:
            return
        if len(window_of_row) != len(frame):
            raise ValueError("window_of_row must name the window of every row of frame")
        self.path.mkdir(parents=True, exist_ok=True)
        names = dict(account_names or {})
        old = self._rows()  # also upgrades a version-1 index in memory
        index = self.index
        retrieved = {self._key(r.account_id, r.window): r.retrieved_at for r in results}

        fresh = frame.copy()
        parts = [k.split("/", 2) for k in window_of_row]
        fresh["store_by"] = pd.array([p[0] for p in parts], dtype="string")
        fresh["store_window"] = pd.array([p[2] for p in parts], dtype="string")
        fresh["retrieved_at"] = pd.to_datetime(
            [retrieved[k] for k in window_of_row], utc=True
        ).astype("datetime64[ns, UTC]")
        fresh["content_sha"] = pd.array(content_digests(fresh), dtype="string")
        if old is not None and len(old):
            old = self._fill_added_columns(old, fresh, index)
        shas_of: dict[str, list[str]] = {}
        for key, sha in zip(window_of_row, fresh["content_sha"].tolist(), strict=True):
            shas_of.setdefault(key, []).append(sha)

        for res in results:
            key = self._key(res.account_id, res.window)
            raw = self._write_raw(res, names.get(res.account_id))
            retrievals = list((index.get(key) or {}).get("retrievals") or [])
            rows_now = shas_of.get(key, [])
            # the same answer again is no new retrieval to remember: the first one stands
            if not retrievals or sorted(retrievals[-1]["rows"]) != sorted(rows_now):
                retrievals.append({"at": _utc_iso(res.retrieved_at), "rows": rows_now})
            index[key] = {
                "retrieved_at": _utc_iso(res.retrieved_at),
                "invoices": len(res.records),
                "api_calls": res.api_calls,
                "raw": raw,
                "retrievals": retrievals,
            }

        fresh_keys = _row_keys(fresh)
        fresh = fresh[~fresh_keys.duplicated().to_numpy(dtype=bool)]
        if old is not None and len(old):
            known = set(_row_keys(old))
            new = ~_row_keys(fresh).isin(known).to_numpy(dtype=bool)
            fresh = fresh[new]
            rows = pd.concat([old, fresh[old.columns]], ignore_index=True) if len(fresh) else old
        else:
            rows = fresh
        rows = rows.reset_index(drop=True)
        self._atomic(self.path / _PARQUET, lambda p: schema.to_parquet(rows, p))
        self._write_index()

    @staticmethod
    def _fill_added_columns(old: pd.DataFrame, fresh: pd.DataFrame, index: dict) -> pd.DataFrame:
        """Stored versions written before a column of ``schema.ADDED_COLUMNS`` existed gain it.

        A fresh row whose content equals a stored row's content apart from an added column
        the stored row lacks (null) is the same version, now better known: the stored row takes
        the fresh values and digest (and the index's retrievals the new digest), so upgrading
        invoicekit makes no new version of every invoice.
        """
        import pandas as pd

        from invoicekit import schema

        added = [c for c in schema.ADDED_COLUMNS if c in old.columns and c in fresh.columns]
        if not added:
            return old
        lacking = old[added].isna().all(axis=1).to_numpy(dtype=bool)
        knows = fresh[added].notna().any(axis=1).to_numpy(dtype=bool)
        if not lacking.any() or not knows.any():
            return old
        old_base = pd.Series(content_digests(old, added=False), index=old.index)
        fresh_part = fresh[knows]
        fresh_base = content_digests(fresh_part, added=False)
        by_base: dict[str, int] = {}
        for pos, (key, base) in enumerate(
            zip(_window_keys(fresh_part).tolist(), fresh_base, strict=True)
        ):
            by_base.setdefault(f"{key}#{base}", pos)
        old = old.copy()
        old_keys = _window_keys(old).tolist()
        renamed: dict[str, dict[str, str]] = {}
        for i in map(int, lacking.nonzero()[0]):
            pos = by_base.get(f"{old_keys[i]}#{old_base.iloc[i]}")
            if pos is None:
                continue
            src = fresh_part.iloc[pos]
            for c in added:
                old.iloc[i, old.columns.get_loc(c)] = src[c]
            renamed.setdefault(old_keys[i], {})[old["content_sha"].iloc[i]] = src["content_sha"]
            old.iloc[i, old.columns.get_loc("content_sha")] = src["content_sha"]
        for key, names in renamed.items():
            for retrieval in (index.get(key) or {}).get("retrievals") or []:
                retrieval["rows"] = [names.get(sha, sha) for sha in retrieval["rows"]]
        return old

    def _write_raw(self, res: WindowResult, account_name: str | None) -> str:
        rel = Path("raw") / res.window.by / res.account_id / f"{res.window.key}.json"
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "account_id": res.account_id,
            "account_name": account_name,
            "by": res.window.by,
            "window": res.window.key,
            "operation": "ListInvoiceSummaries",
            "request": _jsonable(
                {
                    "Selector": {"ResourceType": "ACCOUNT_ID", "Value": res.account_id},
                    "Filter": res.window.api_filter(),
                }
            ),
            "retrieved_at": _utc_iso(res.retrieved_at),
            "api_calls": res.api_calls,
        }
        pages = []
        for at, request_id, body in res.pages:
            text = body.decode("utf-8") if body else "null"
            meta = json.dumps({"retrieved_at": _utc_iso(at), "request_id": request_id})
            pages.append(meta[:-1] + ', "response": ' + text + "}")
        # The bodies are embedded verbatim (they are JSON), so the file is the evidence itself.
        text = (
            json.dumps(header, indent=1)[:-2] + ',\n "pages": [\n' + ",\n".join(pages) + "\n ]\n}\n"
        )
        self._atomic(target, lambda p: Path(p).write_text(text, encoding="utf-8"))
        return rel.as_posix()

    def _write_index(self) -> None:
        data = {"format": FORMAT, "settle_days": self.settle_days, "windows": self.index}
        text = json.dumps(data, indent=1, sort_keys=True)
        self._atomic(self.path / _INDEX, lambda p: Path(p).write_text(text, encoding="utf-8"))

    @staticmethod
    def _atomic(target: Path, write) -> None:
        with _files.atomic_path(target) as tmp:
            write(tmp)

    # -- reading -----------------------------------------------------------------------------

    def _rows(self) -> pd.DataFrame | None:
        """Every stored version row (with ``content_sha``); a version-1 store is upgraded here.

        Version 1 kept one row per invoice and window, without digests: the digests are
        computed and each window's rows become its one retrieval (at the window's time).
        """
        from invoicekit import schema

        f = self.path / _PARQUET
        if not f.exists():
            return None
        df = schema.from_parquet(f)
        df["store_by"] = df["store_by"].astype("string")
        df["store_window"] = df["store_window"].astype("string")
        df["retrieved_at"] = df["retrieved_at"].astype("datetime64[ns, UTC]")
        if "content_sha" not in df.columns:
            df["content_sha"] = content_digests(df)
        df["content_sha"] = df["content_sha"].astype("string")
        index = self.index
        if any("retrievals" not in e for e in index.values()):
            by_key: dict[str, list[str]] = {}
            for key, sha in zip(_window_keys(df), df["content_sha"].tolist(), strict=True):
                by_key.setdefault(key, []).append(sha)
            for key, entry in index.items():
                if "retrievals" not in entry:
                    entry["retrievals"] = [
                        {"at": entry["retrieved_at"], "rows": by_key.get(key, [])}
                    ]
        return df

    # kept for callers of version 0.2
    _read_parquet = _rows

    def _selected(self, picks: Mapping[str, Iterable[str]]) -> pd.DataFrame | None:
        """The version rows named by ``{window key: content digests}``, in stored order."""
        df = self._rows()
        if df is None or not len(df):
            return None
        wanted = {f"{key}#{sha}" for key, shas in picks.items() for sha in shas}
        return df[_row_keys(df).isin(wanted).to_numpy(dtype=bool)].reset_index(drop=True)

    def _current(self, keys: Iterable[str] | None = None) -> dict[str, list[str]]:
        index = self.index
        if any("retrievals" not in e for e in index.values()):
            self._rows()  # a version-1 index gains its retrievals
        chosen = index if keys is None else {k: index[k] for k in keys if k in index}
        return {k: (e.get("retrievals") or [{"rows": []}])[-1]["rows"] for k, e in chosen.items()}

    def load(self, *, meta: bool = False) -> pd.DataFrame:
        """The current invoices: the latest retrieval of every stored window.

        ``schema.COLUMNS``; with ``meta=True`` also where each row came from (``store_by``,
        ``store_window``, ``retrieved_at`` — when this version was first retrieved — and
        ``content_sha``). Earlier versions and invoices AWS no longer returns are in
        :meth:`history`.

        Examples
        --------
        >>> Store("invoice-store").load()["invoice_id"].nunique()  # doctest: +SKIP
        1180
        """
        from invoicekit import schema

        df = self._selected(self._current())
        if df is None:
            return schema.to_frame([])
        return df if meta else df[list(schema.COLUMNS)]

    def as_of(self, when: datetime | date | str, *, meta: bool = False) -> pd.DataFrame:
        """The invoices the store held at ``when``: each window's last retrieval by then.

        Examples
        --------
        >>> Store("invoice-store").as_of("2026-12-10T00:00:00Z")  # doctest: +SKIP
        """
        from invoicekit import schema

        t = clock.parse(when, "when")
        self._current()
        picks: dict[str, list[str]] = {}
        for key, entry in self.index.items():
            done = [r for r in entry.get("retrievals") or [] if _parse_iso(r["at"]) <= t]
            if done:
                picks[key] = done[-1]["rows"]
        df = self._selected(picks)
        if df is None:
            return schema.to_frame([])
        return df if meta else df[list(schema.COLUMNS)]

    def history(self, invoice_id: str | None = None, month: object = None) -> pd.DataFrame:
        """Every version of the stored invoices, oldest first, with its retrieval time.

        Parameters
        ----------
        invoice_id
            Only this invoice's versions.
        month
            Only invoices of this billing month (``YYYY-MM``).

        Returns
        -------
        pandas.DataFrame
            ``schema.COLUMNS`` + ``retrieved_at`` (when the version was first retrieved),
            ``version`` (1, 2, ... per invoice id, in retrieval order) and ``current`` (the
            version is in the latest retrieval of its window). A version seen in two windows
            (billing period and issued) is listed once.

        Examples
        --------
        >>> h = Store("invoice-store").history(invoice_id="EUINDE26-704673")  # doctest: +SKIP
        >>> h[["version", "retrieved_at", "base_total", "current"]]  # doctest: +SKIP
        """
        import pandas as pd

        from invoicekit import months, schema

        df = self._rows()
        cols = [*schema.COLUMNS, *HISTORY_COLUMNS]
        if df is None:
            df = schema.to_frame([])
            df["retrieved_at"] = pd.Series([], dtype="datetime64[ns, UTC]")
            for c in ("store_by", "store_window", "content_sha"):
                df[c] = pd.array([], dtype="string")
        current = {f"{k}#{sha}" for k, shas in self._current().items() for sha in shas}
        df = df.assign(current=_row_keys(df).isin(current).to_numpy(dtype=bool))
        if invoice_id is not None:
            df = df[(df["invoice_id"] == str(invoice_id)).fillna(False).to_numpy(dtype=bool)]
        if month is not None:
            period = months.as_period(month, "month")
            df = df[(df["billing_period"] == period).to_numpy(dtype=bool)]
        pair = df["invoice_id"].astype("string").fillna("") + "#" + df["content_sha"]
        flags = df.groupby(pair.to_numpy(), sort=False)["current"].transform("any")
        df = df.assign(current=flags.to_numpy(dtype=bool), _pair=pair.to_numpy())
        df = df.sort_values(["retrieved_at", "content_sha"], kind="stable")
        df = df.drop_duplicates("_pair", keep="first")
        ranks = df.groupby(df["invoice_id"].astype("string").fillna("").to_numpy()).cumcount() + 1
        df = df.assign(version=pd.array(ranks.to_numpy(), dtype="Int64"))
        df = df.sort_values(["account_id", "invoice_id", "version"], kind="stable")
        return df[cols].reset_index(drop=True)

    def load_windows(
        self,
        wanted: Mapping[str, Iterable[Window]],
        *,
        account_names: Mapping[str, str | None] | None = None,
    ) -> pd.DataFrame:
        """The current rows of the given (account → windows), names updated from the fleet."""
        import pandas as pd

        from invoicekit import schema

        keys = {self._key(a, w) for a, ws in wanted.items() for w in ws}
        keys &= set(self.index)
        df = self._selected(self._current(keys)) if keys else None
        if df is None or not len(df):
            return schema.to_frame([])
        df = df[list(schema.COLUMNS)]
        if account_names:
            mapped = df["account_id"].astype(object).map(dict(account_names))
            df["account_name"] = pd.array(
                mapped.where(mapped.notna(), df["account_name"].astype(object)).tolist(),
                dtype=df["account_name"].dtype,
            )
        return df


# --------------------------------------------------------------------------------------------
# Content digests
# --------------------------------------------------------------------------------------------


def _canon(value: Any) -> str:
    """One text per value: equal values (``Decimal('1.0')`` and ``Decimal('1.00')``) agree."""
    if value is None or type(value).__name__ in ("NAType", "NaTType") or value != value:
        return "\x00"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if hasattr(value, "isoformat"):
        try:
            return value.isoformat()
        except ValueError:  # NaT
            return "\x00"
    return str(value)


def content_digests(df: pd.DataFrame, *, added: bool = True) -> list[str]:
    """A digest of each row's content: every schema column but ``account_name``.

    A column of ``schema.ADDED_COLUMNS`` counts only where it is not null (and not at all with
    ``added=False``), so that a version stored before the column existed keeps its digest.

    Examples
    --------
    >>> from invoicekit import schema
    >>> df = schema.to_frame([{"InvoiceId": "E-1"}, {"InvoiceId": "E-1"}])
    >>> a, b = content_digests(df)
    >>> a == b, len(a)
    (True, 24)
    """
    import pandas as pd

    from invoicekit import schema

    late = schema.ADDED_COLUMNS
    cols = [c for c in schema.COLUMNS if c not in NOT_CONTENT and c not in late]
    values = []
    for c in cols:
        s = df[c]
        if isinstance(s.dtype, pd.PeriodDtype):
            values.append([None if pd.isna(v) else str(v) for v in s.tolist()])
        else:
            values.append(s.tolist())
    extra = [(c, df[c].tolist()) for c in late if added and c in df.columns]
    out = []
    for i, row in enumerate(zip(*values, strict=True) if values else [() for _ in range(len(df))]):
        text = "\x1f".join(_canon(v) for v in row)
        for c, vals in extra:
            v = _canon(vals[i])
            if v != "\x00":
                text += f"\x1e{c}={v}"
        out.append(hashlib.sha256(text.encode("utf-8")).hexdigest()[:_SHA_CHARS])
    return out


def _window_keys(df: pd.DataFrame) -> pd.Series:
    return df["store_by"] + "/" + df["account_id"].astype("string") + "/" + df["store_window"]


def _row_keys(df: pd.DataFrame) -> pd.Series:
    return _window_keys(df) + "#" + df["content_sha"].astype("string")
