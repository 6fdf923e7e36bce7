"""Typed outcomes of a run: what was done, what failed, what it cost.

The loader (:func:`invoicekit.read_invoice_summaries`) and the PDF downloader
(:func:`invoicekit.download_invoice_pdfs`) both return their data with a :class:`RunReport`
attached (``invoicekit.run_report(df)``); the CLI, the widgets and the reports read it from there.
``api_calls`` always means the same thing: SDK operation calls sent (``ListInvoiceSummaries``,
``GetInvoicePDF``, ``AssumeRole`` …), each retry by botocore counted once more.

``df.attrs`` keeps a thin, JSON-like view (``failures`` as dicts, ``api_calls``) for notebooks
written against version 0.1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from invoicekit.months import Window

__all__ = ["Failure", "RunReport", "WindowResult", "run_report", "attach"]

_ATTR = "invoicekit.run_report"


@dataclass(frozen=True, slots=True)
class Failure:
    """One thing that failed, and what it left undone.

    ``windows`` are the billing windows not loaded (loader); ``invoice_id``/``document_id``
    name what was not downloaded (downloader). ``config`` is true when the cause is the
    configuration (unknown profile, no credentials) rather than an answer of AWS.
    """

    account_id: str
    operation: str
    code: str
    message: str
    account_name: str | None = None
    windows: tuple[str, ...] = ()
    invoice_id: str | None = None
    document_id: str | None = None
    config: bool = False

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["windows"] = list(self.windows)
        return d


@dataclass(slots=True)
class RunReport:
    """What one loader or downloader run did.

    Attributes
    ----------
    operation : str
        ``"load"`` or ``"download"``.
    api_calls : int
        SDK operation calls sent.
    failures : list of Failure
    counts : dict
        What the run produced, named in :mod:`invoicekit.documents` words (``"invoice"``,
        ``"credit memo"``, ``"downloaded"``, ``"skipped"`` …).
    elapsed_s : float
    """

    operation: str
    api_calls: int = 0
    failures: list[Failure] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failed_accounts(self) -> list[str]:
        return sorted({f.account_id for f in self.failures})

    @property
    def config_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.config]

    def merge(self, other: RunReport) -> RunReport:
        """Add ``other``'s calls, failures and counts to this report (returns self)."""
        self.api_calls += other.api_calls
        self.failures.extend(other.failures)
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        self.elapsed_s += other.elapsed_s
        return self


@dataclass(slots=True)
class WindowResult:
    """The invoices of one account in one window, as fetched.

    ``pages`` holds the raw response bodies (JSON text as received) when raw capture was asked
    for (the store keeps them as audit evidence), else it is empty.
    """

    account_id: str
    window: Window
    records: list[dict]
    retrieved_at: datetime
    api_calls: int
    pages: list[tuple[datetime, str, bytes]] = field(default_factory=list)


def attach(df: pd.DataFrame, report: RunReport) -> pd.DataFrame:
    """Attach ``report`` to ``df`` (and the thin ``attrs`` view); return ``df``."""
    df.attrs[_ATTR] = report
    df.attrs["api_calls"] = report.api_calls
    df.attrs["failures"] = [f.as_dict() for f in report.failures]
    return df


def run_report(df: pd.DataFrame) -> RunReport | None:
    """The :class:`RunReport` a loader or downloader attached to ``df`` (None if none)."""
    return df.attrs.get(_ATTR)
