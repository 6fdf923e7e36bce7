"""Fault injection for the sandbox: latency, jitter, per-account rate limits and random faults.

Every decision comes from one seeded random generator drawn in a fixed order per request, so a
given request order always meets the same faults.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Operations that faults may apply to (``Faults.operations`` picks a subset).
FAULT_OPERATIONS = (
    "ListInvoiceSummaries",
    "GetInvoicePDF",
    "ListInvoiceUnits",
    "GetInvoiceUnit",
    "BatchGetInvoiceProfile",
    "Document",
)


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
    """A token bucket per key: ``rate`` tokens per second, burst ``max(1, rate)``.

    ``rate`` is one number for every key, or a mapping ``{key: rate}`` (per-account limits;
    keys not in it get ``default``, ``None``: unlimited).

    Examples
    --------
    >>> b = TokenBucket({"111111111111": 1.0}, default=50.0)
    >>> b.rate_for("111111111111"), b.rate_for("222222222222")
    (1.0, 50.0)
    >>> b.allow("111111111111", now=0.0), b.allow("111111111111", now=0.1)
    (True, False)
    """

    def __init__(self, rate: float | Mapping[str, float], default: float | None = None) -> None:
        if isinstance(rate, Mapping):
            self.rates = {str(k): _check_rate(v) for k, v in rate.items()}
            self.default = None if default is None else _check_rate(default)
        else:
            self.rates = {}
            self.default = _check_rate(rate)
        # the single rate, kept for callers of a uniform bucket
        self.rate = (
            self.default if self.default is not None else max(self.rates.values(), default=0.0)
        )
        self.capacity = max(1.0, self.rate)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def rate_for(self, key: str) -> float | None:
        """The limit of ``key`` (requests/s; ``None``: unlimited)."""
        return self.rates.get(key, self.default)

    def allow(self, key: str, now: float | None = None) -> bool:
        """Take one token for ``key``; False when the bucket is empty (throttle)."""
        rate = self.rates.get(key, self.default)
        if rate is None:
            return True
        capacity = max(1.0, rate)
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return True
            self._buckets[key] = (tokens, now)
            return False


def _check_rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"rate_limit must be > 0 requests per second, got {value!r}")
    return float(value)


def rate_limits(rate_limit: object, account_ids: Sequence[str]) -> TokenBucket | None:
    """The sandbox's bucket for a ``rate_limit`` setting (``None``: no limit).

    ``rate_limit`` is a number (every account), a mapping ``{account_id: rate}`` (accounts not
    in it are unlimited), a sequence of rates assigned by account index in the organization
    (cycling: ``[1, 5, 50]`` gives accounts 0, 3, 6... 1 request/s, accounts 1, 4, 7... 5/s),
    or the command-line text of either (``"5"``, ``"1,5,50"``, ``"111111111111=5,..."``).

    Examples
    --------
    >>> b = rate_limits("1,5,50", ["111111111111", "222222222222", "333333333333"])
    >>> [b.rate_for(a) for a in ("111111111111", "222222222222", "333333333333")]
    [1.0, 5.0, 50.0]
    """
    if rate_limit is None:
        return None
    if isinstance(rate_limit, str):
        rate_limit = parse_rate_limit(rate_limit)
    if isinstance(rate_limit, Mapping):
        return TokenBucket(rate_limit)
    if isinstance(rate_limit, list | tuple):
        if not rate_limit:
            raise ValueError("rate_limit: give at least one rate")
        rates = [_check_rate(r) for r in rate_limit]
        return TokenBucket({a: rates[i % len(rates)] for i, a in enumerate(account_ids)})
    return TokenBucket(_check_rate(rate_limit))


def parse_rate_limit(text: str) -> float | tuple[float, ...] | dict[str, float]:
    """``"5"`` -> 5.0, ``"1,5,50"`` -> (1.0, 5.0, 50.0), ``"ID=5,ID=2"`` -> a mapping.

    Raises ``ValueError`` naming what is wrong.
    """
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise ValueError(f"{text!r} is not a rate limit: give R, R1,R2,... or ACCOUNT=R,...")
    try:
        if all("=" in t for t in items):
            pairs = (t.split("=", 1) for t in items)
            return {k.strip(): _check_rate(float(v)) for k, v in pairs}
        if any("=" in t for t in items):
            raise ValueError("mixed")
        rates = tuple(_check_rate(float(t)) for t in items)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a rate limit: give R (requests/s, > 0), a spread R1,R2,... "
            "(by account index) or ACCOUNT=R,..."
        ) from None
    return rates[0] if len(rates) == 1 else rates


def format_rate_limit(rate_limit: object) -> str:
    """The command-line text of a ``rate_limit`` setting (the inverse of
    :func:`parse_rate_limit`)."""
    if isinstance(rate_limit, Mapping):
        return ",".join(f"{k}={float(v):g}" for k, v in rate_limit.items())
    if isinstance(rate_limit, list | tuple):
        return ",".join(f"{float(v):g}" for v in rate_limit)
    return str(rate_limit)


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
