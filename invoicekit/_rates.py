"""What the loader learned about each account's request rate: shared in a run, kept for the next.

AWS publishes no quota for the Invoicing API, so the loader discovers each account's limit
(:class:`invoicekit.access.Pacer` with ``start=``). Two things make the discovery cheap:

* **within a run**, :class:`RunRates` gives an account that has not started yet the run's
  *prior*: the median safe rate of the accounts that have been throttled so far (they found a
  limit), else :data:`START_RATE_PER_ACCOUNT`. Payer accounts of one organisation usually share
  one quota, so the later accounts start close to it;
* **across runs**, :class:`RateMemory` keeps each account's safe rate and the rate it was
  throttled at in a small JSON file in the store directory (:data:`FILE_NAME`), stamped with
  business time (:func:`invoicekit.clock.now`). The next run starts each account there.

The file is advisory: a missing, unreadable or foreign file is ignored (the run then discovers
again), and it is written atomically (:mod:`invoicekit._files`). It holds rates only, no
credential or account data beyond the 12-digit ids.

Examples
--------
>>> from invoicekit._rates import RunRates
>>> rates = RunRates()
>>> rates.start_for("111111111111")
(2.0, None)
>>> rates.record("111111111111", 4.25, 5.0)
>>> rates.start_for("222222222222")   # the run's prior: what the first account found
(4.25, 5.0)
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import threading
from collections.abc import Mapping
from pathlib import Path

__all__ = ["FILE_NAME", "START_RATE_PER_ACCOUNT", "RateMemory", "RunRates"]

log = logging.getLogger(__name__)

#: The file, in the store directory, that remembers the learned rates.
FILE_NAME = "rates.json"
#: Where an account with nothing known starts (requests/s): below any quota seen in practice.
START_RATE_PER_ACCOUNT = 2.0
_VERSION = 1


class RateMemory:
    """The learned rates of a store: ``{account_id: (safe rate, throttled-at rate or None)}``.

    Parameters
    ----------
    directory : path
        The store directory; the rates live in ``directory / FILE_NAME``.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> m = RateMemory(d); m.update({"111111111111": (4.25, 5.0)}); m.save()
    >>> RateMemory(d).get("111111111111")
    (4.25, 5.0)
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.path = Path(directory) / FILE_NAME
        self._rates: dict[str, dict] = {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(doc, dict) or doc.get("version") != _VERSION:
            return
        for account, entry in (doc.get("accounts") or {}).items():
            if isinstance(entry, dict) and _is_rate(entry.get("rate")):
                limit = entry.get("limit")
                self._rates[str(account)] = {
                    **entry,
                    "limit": float(limit) if _is_rate(limit) else None,
                }

    def get(self, account_id: str) -> tuple[float, float | None] | None:
        """The remembered ``(rate, limit)`` of an account, or ``None``."""
        entry = self._rates.get(account_id)
        if entry is None:
            return None
        return float(entry["rate"]), entry["limit"]

    def update(self, learned: Mapping[str, tuple[float, float | None]]) -> None:
        """Remember what a run learned (business time from :func:`invoicekit.clock.now`)."""
        from invoicekit import clock

        stamp = clock.now().isoformat()
        for account, (rate, limit) in learned.items():
            self._rates[account] = {"rate": rate, "limit": limit, "learned_at": stamp}

    def save(self) -> None:
        """Write the file atomically (an unwritable store only logs a warning)."""
        from invoicekit import _files

        doc = {"version": _VERSION, "accounts": dict(sorted(self._rates.items()))}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _files.write_text(self.path, json.dumps(doc, indent=1) + "\n")
        except OSError as exc:
            log.warning("cannot remember the learned request rates in %s: %s", self.path, exc)


def _is_rate(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e6


class RunRates:
    """The learned rates of one run: each account's start, and the run's shared prior.

    Parameters
    ----------
    memory : RateMemory, optional
        Rates remembered from earlier runs (a store's); accounts found there start there.
    default : float
        The start of an account with nothing known while no account of the run has been
        throttled yet.
    """

    def __init__(
        self, memory: RateMemory | None = None, default: float = START_RATE_PER_ACCOUNT
    ) -> None:
        self.memory = memory
        self.default = float(default)
        self._found: dict[str, tuple[float, float | None]] = {}
        self._limited: list[float] = []
        self._prior: tuple[float, float] | None = None
        self._lock = threading.Lock()

    @property
    def prior(self) -> tuple[float, float] | None:
        """``(rate, limit)`` the run has learned so far (median over the throttled accounts),
        or ``None`` before any account was throttled."""
        return self._prior

    def remembers(self, account_id: str) -> bool:
        """Whether an earlier run's rate is known for the account (it then runs on its own)."""
        return self.memory is not None and self.memory.get(account_id) is not None

    def start_for(self, account_id: str) -> tuple[float, float | None]:
        """``(start rate, known limit or None)`` for an account about to start."""
        if self.memory is not None:
            known = self.memory.get(account_id)
            if known is not None:
                return known
        prior = self._prior
        if prior is not None:
            return prior
        return self.default, None

    def record(self, account_id: str, rate: float, limit: float | None) -> None:
        """What an account found out (its pacer's :meth:`~invoicekit.access.Pacer.learned`)."""
        with self._lock:
            before = self._found.get(account_id)
            self._found[account_id] = (rate, limit)
            if limit is not None and (before is None or before[1] is None):
                self._limited.append(rate)
                median = statistics.median(self._limited)
                self._prior = (round(median, 3), round(median / _safe_share(), 3))

    @property
    def learned(self) -> dict[str, tuple[float, float | None]]:
        """Every account's ``(rate, limit)`` recorded so far."""
        with self._lock:
            return dict(self._found)

    def save(self) -> None:
        """Remember the run's findings in :attr:`memory` (if any)."""
        if self.memory is not None and self._found:
            self.memory.update(self.learned)
            self.memory.save()


def _safe_share() -> float:
    from invoicekit.access import SAFE_SHARE

    return SAFE_SHARE
