"""A local store of invoice summaries: parquet for analysis, raw responses as audit evidence.

Layout of a store directory::

    STORE/
      store.json                      index: every stored (account, window) and when it was fetched
      summaries.parquet               one row per invoice (schema.COLUMNS + store_by,
                                      store_window, retrieved_at)
      raw/<by>/<account_id>/<window>.json
                                      the ListInvoiceSummaries request and every response page
                                      exactly as received, with its retrieval time (UTC) and
                                      request id; never credentials

Incremental re-runs: a window is *settled* ``settle_days`` (default 45) days after it ends (a
billing month ends on the first day of the next month, 00:00 UTC). A window whose stored copy
was retrieved after it settled is not queried again unless ``refresh=True``; every other window
(never stored, stored before it settled, or failed last time) is queried again and its stored
copy replaced.

Examples
--------
>>> from invoicekit.store import Store
>>> store = Store("invoice-store")  # doctest: +SKIP
>>> store.load().shape  # doctest: +SKIP
(1200, 50)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
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
FORMAT = "invoicekit-store/1"
_INDEX = "store.json"
_PARQUET = "summaries.parquet"
#: Bookkeeping columns kept next to schema.COLUMNS in the parquet file.
META_COLUMNS = ("store_by", "store_window", "retrieved_at")


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
        """``"<by>/<account>/<window>"`` → ``{retrieved_at, invoices, api_calls, raw}``."""
        if self._index is None:
            f = self.path / _INDEX
            if f.exists():
                data = json.loads(f.read_text(encoding="utf-8"))
                if data.get("format") != FORMAT:
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
        """Store freshly fetched windows: raw evidence, index entries and parquet rows.

        ``frame`` holds the typed rows of ``results``; ``window_of_row[i]`` is the index key of
        row ``i``. Stored rows of the same (account, window) are replaced.
        """
        import pandas as pd

        from invoicekit import schema

        if not results:
            return
        if len(window_of_row) != len(frame):
            raise ValueError("window_of_row must name the window of every row of frame")
        self.path.mkdir(parents=True, exist_ok=True)
        names = dict(account_names or {})
        index = self.index
        for res in results:
            key = self._key(res.account_id, res.window)
            raw = self._write_raw(res, names.get(res.account_id))
            index[key] = {
                "retrieved_at": _utc_iso(res.retrieved_at),
                "invoices": len(res.records),
                "api_calls": res.api_calls,
                "raw": raw,
            }
        replaced = {self._key(r.account_id, r.window) for r in results}
        retrieved = {self._key(r.account_id, r.window): r.retrieved_at for r in results}

        fresh = frame.copy()
        parts = [k.split("/", 2) for k in window_of_row]
        fresh["store_by"] = pd.array([p[0] for p in parts], dtype="string")
        fresh["store_window"] = pd.array([p[2] for p in parts], dtype="string")
        fresh["retrieved_at"] = pd.to_datetime(
            [retrieved[k] for k in window_of_row], utc=True
        ).astype("datetime64[ns, UTC]")
        old = self._read_parquet()
        if old is not None and len(old):
            old_keys = (
                old["store_by"]
                + "/"
                + old["account_id"].astype("string")
                + "/"
                + old["store_window"]
            )
            old = old[~old_keys.isin(replaced).to_numpy(dtype=bool)]
            fresh = pd.concat([old, fresh[old.columns]], ignore_index=True) if len(old) else fresh
        self._atomic(self.path / _PARQUET, lambda p: schema.to_parquet(fresh, p))
        self._write_index()

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

    def _read_parquet(self) -> pd.DataFrame | None:

        from invoicekit import schema

        f = self.path / _PARQUET
        if not f.exists():
            return None
        df = schema.from_parquet(f)
        df["store_by"] = df["store_by"].astype("string")
        df["store_window"] = df["store_window"].astype("string")
        df["retrieved_at"] = df["retrieved_at"].astype("datetime64[ns, UTC]")
        return df

    def load(self, *, meta: bool = False) -> pd.DataFrame:
        """Every stored invoice (``schema.COLUMNS``; with ``meta=True`` also where it came from).

        Examples
        --------
        >>> Store("invoice-store").load()["invoice_id"].nunique()  # doctest: +SKIP
        1180
        """
        from invoicekit import schema

        df = self._read_parquet()
        if df is None:
            df = schema.to_frame([])
            return df
        return df if meta else df[list(schema.COLUMNS)]

    def load_windows(
        self,
        wanted: Mapping[str, Iterable[Window]],
        *,
        account_names: Mapping[str, str | None] | None = None,
    ) -> pd.DataFrame:
        """The stored rows of the given (account → windows), names updated from the fleet."""
        import pandas as pd

        from invoicekit import schema

        keys = {self._key(a, w) for a, ws in wanted.items() for w in ws}
        keys &= set(self.index)
        df = self._read_parquet() if keys else None
        if df is None or not len(df):
            return schema.to_frame([])
        row_keys = (
            df["store_by"] + "/" + df["account_id"].astype("string") + "/" + df["store_window"]
        )
        df = df[row_keys.isin(keys).to_numpy(dtype=bool)].reset_index(drop=True)
        df = df[list(schema.COLUMNS)]
        if account_names:
            mapped = df["account_id"].astype(object).map(dict(account_names))
            df["account_name"] = pd.array(
                mapped.where(mapped.notna(), df["account_name"].astype(object)).tolist(),
                dtype=df["account_name"].dtype,
            )
        return df
