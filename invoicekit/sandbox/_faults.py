"""Fault injection for the sandbox: latency, jitter, a per-account rate limit and random faults.

Every decision comes from one seeded random generator drawn in a fixed order per request, so a
given request order always meets the same faults.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field

#: Operations that faults may apply to (``Faults.operations`` picks a subset).
FAULT_OPERATIONS = ("ListInvoiceSummaries", "GetInvoicePDF", "Document")


@dataclass(frozen=True)
class Faults:
    """Random faults the sandbox injects, deterministic by seed for a given request order.

    Parameters
    ----------
    throttle_rate : float
        Fraction of requests answered with ``ThrottlingException`` (HTTP 429).
    error_rate : float
        Fraction answered with ``InternalServerException`` (HTTP 500, ``retryAfterSeconds``).
    drop_rate : float
        Fraction whose connection is closed without any response.
    truncate_rate : float
        Fraction of document downloads whose body is cut short (the connection is then closed).
        Applies to document GETs only.
    url_lifetime_s : int or None
        Overrides the lifetime of document URLs (short lifetimes make expiry testable).
    operations : collection of str or None
        Operations the faults apply to, from ``"ListInvoiceSummaries"``, ``"GetInvoicePDF"``,
        ``"Document"`` (document downloads). ``None`` means all three. STS and the admin
        endpoints never see faults.

    Examples
    --------
    >>> Faults(throttle_rate=0.2, operations=["ListInvoiceSummaries"])  # doctest: +ELLIPSIS
    Faults(throttle_rate=0.2, ...)
    """

    throttle_rate: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    url_lifetime_s: int | None = None
    operations: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "error_rate", "drop_rate", "truncate_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"Faults.{name} must be a fraction in [0, 1], got {value!r}")
        if self.url_lifetime_s is not None and (
            not isinstance(self.url_lifetime_s, int | float) or self.url_lifetime_s < 1
        ):
            raise ValueError(
                f"Faults.url_lifetime_s must be at least 1 second, got {self.url_lifetime_s!r}"
            )
        if self.operations is not None:
            ops = (self.operations,) if isinstance(self.operations, str) else self.operations
            ops = tuple(ops)
            unknown = sorted(set(ops) - set(FAULT_OPERATIONS))
            if unknown:
                raise ValueError(
                    f"Faults.operations: unknown {unknown}; choose from {list(FAULT_OPERATIONS)}"
                )
            object.__setattr__(self, "operations", ops)

    def applies_to(self, operation: str) -> bool:
        """Whether the random faults apply to ``operation``."""
        return self.operations is None or operation in self.operations

    def as_dict(self) -> dict:
        """JSON-ready form (for the admin endpoint and the child-process command line)."""
        return {
            "throttle_rate": self.throttle_rate,
            "error_rate": self.error_rate,
            "drop_rate": self.drop_rate,
            "truncate_rate": self.truncate_rate,
            "url_lifetime_s": self.url_lifetime_s,
            "operations": list(self.operations) if self.operations is not None else None,
        }


@dataclass(frozen=True)
class Decision:
    """What happens to one request."""

    delay_s: float = 0.0
    throttle: bool = False
    error: bool = False
    drop: bool = False
    truncate: bool = False


class TokenBucket:
    """A token bucket per key: ``rate`` tokens per second, burst ``max(1, rate)``."""

    def __init__(self, rate: float) -> None:
        self.rate = float(rate)
        self.capacity = max(1.0, self.rate)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Take one token for ``key``; False when the bucket is empty (throttle)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return True
            self._buckets[key] = (tokens, now)
            return False


class FaultEngine:
    """Draws the latency and fault decision of each request from one seeded generator."""

    def __init__(
        self,
        *,
        seed: int,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        faults: Faults | None = None,
    ) -> None:
        if latency_ms < 0 or jitter_ms < 0 or math.isnan(latency_ms) or math.isnan(jitter_ms):
            raise ValueError("latency_ms and jitter_ms must be >= 0")
        self.latency_ms = float(latency_ms)
        self.jitter_ms = float(jitter_ms)
        self.faults = faults or Faults()
        self._rng = random.Random(f"invoicekit-sandbox-faults-{seed}")
        # STS latency draws from its own generator, so that how often a client assumes a role
        # (credential caching) does not shift the fault sequence of the invoicing calls
        self._rng_sts = random.Random(f"invoicekit-sandbox-sts-{seed}")
        self._lock = threading.Lock()

    def sts_delay(self) -> float:
        """Latency of one STS request (seconds); STS never sees faults."""
        with self._lock:
            u = self._rng_sts.random()
        return (self.latency_ms + self.jitter_ms * u) / 1000.0

    def decide(self, operation: str) -> Decision:
        """Draw one request's fate; four uniforms and one jitter draw, always in this order."""
        with self._lock:
            u_throttle, u_error, u_drop, u_trunc, u_jitter = (self._rng.random() for _ in range(5))
        delay_s = (self.latency_ms + self.jitter_ms * u_jitter) / 1000.0
        f = self.faults
        if not f.applies_to(operation):
            return Decision(delay_s=delay_s)
        return Decision(
            delay_s=delay_s,
            throttle=u_throttle < f.throttle_rate,
            error=u_error < f.error_rate,
            drop=u_drop < f.drop_rate,
            truncate=operation == "Document" and u_trunc < f.truncate_rate,
        )
