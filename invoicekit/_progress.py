"""The one progress bar: tqdm (a widget in notebooks, text on a terminal) or nothing.

The loader, the units and profiles readers use it; the bar is imported lazily so that a run
without progress never imports tqdm.
"""

from __future__ import annotations

from typing import Any


class NoBar:
    """What :func:`progress_bar` returns when no bar is shown: every call does nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **_: Any) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, progress: bool, *, desc: str, unit: str) -> Any:
    """A tqdm bar of ``total`` ``unit``s headed ``desc``, or :class:`NoBar` when ``progress`` is
    false or there is nothing to count.

    Examples
    --------
    >>> progress_bar(10, False, desc="invoice summaries", unit="window").update(3)
    """
    if not progress or total == 0:
        return NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, desc=desc, leave=False)
