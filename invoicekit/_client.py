"""The one client factory: every botocore client invoicekit uses is made here.

Every client gets the same retry policy (by default botocore ``adaptive`` mode: exponential
back-off plus a client-side token bucket that slows down after throttling — per client, and there
is one client per account, so a throttled account backs off alone; a caller that paces its own
requests, like the loader, asks for ``retry_mode="standard"``), connection pool size, timeouts, a
user agent suffix ``invoicekit/<version>`` and a region (``us-east-1`` when none is configured:
the Invoicing API is global and lives there).

Endpoints follow the standard AWS configuration (``AWS_ENDPOINT_URL_INVOICING``,
``AWS_ENDPOINT_URL``, a profile's ``endpoint_url`` or ``services`` section) unless an explicit
``endpoint_url`` is given. The fleet file's ``endpoint_url`` travels with the account: callers
get their clients from :class:`invoicekit.access.AccountAccess` or ``Fleet.client``, which pass
it here; nothing is looked up in a table behind the caller's back.

Clients are cached per (session, service, endpoint, pool size, retry mode, attempts) and created
under a per-session lock: creating a client is expensive and not thread-safe on a shared session.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import botocore.config

__all__ = [
    "CLIENTS",
    "DEFAULT_CLIENT",
    "DEFAULT_REGION",
    "MAX_ATTEMPTS",
    "RETRY_MODE",
    "CONNECT_TIMEOUT_S",
    "READ_TIMEOUT_S",
    "client",
    "client_config",
    "new_client",
    "user_agent",
]

#: How requests are sent (the loader's and the downloader's ``client=``, ``--client``):
#: ``"lean"`` signs them itself with the session's credentials (:mod:`invoicekit._lean`: the
#: Invoicing JSON 1.0 calls and the archive's S3 PUTs), ``"boto3"`` through botocore (the
#: reference path). Both give the same results.
CLIENTS = ("lean", "boto3")
#: The default client (the faster one, measured in benchmarks/bench_scale.py and bench_s3.py).
DEFAULT_CLIENT = "lean"
#: Region used when neither the fleet, the profile nor the environment names one.
DEFAULT_REGION = "us-east-1"
#: botocore's ``max_attempts``: retries after the first try (11 attempts in all).
MAX_ATTEMPTS = 10
#: The default retry mode (``"adaptive"``: botocore's client-side rate limiter after throttling).
RETRY_MODE = "adaptive"
_RETRY_MODES = ("adaptive", "standard", "legacy")
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60

_LOCK = threading.RLock()
# session -> {(service, endpoint_url, max_pool_connections, retry_mode, max_attempts): client}
_CLIENTS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()
_SESSION_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()


def user_agent() -> str:
    """The user agent suffix every client sends: ``invoicekit/<version>``."""
    from invoicekit import __version__

    return f"invoicekit/{__version__}"


def client_config(
    max_pool_connections: int = 32,
    *,
    max_attempts: int | None = None,
    retry_mode: str | None = None,
) -> botocore.config.Config:
    """The botocore ``Config`` every invoicekit client uses.

    ``max_attempts`` (retries after the first try) defaults to :data:`MAX_ATTEMPTS`,
    ``retry_mode`` to :data:`RETRY_MODE`; both are read when called.

    Examples
    --------
    >>> from invoicekit._client import client_config
    >>> client_config().retries
    {'mode': 'adaptive', 'max_attempts': 10}
    >>> client_config(max_attempts=3, retry_mode="standard").retries
    {'mode': 'standard', 'max_attempts': 3}
    """
    mode, attempts = _retry_options(max_attempts, retry_mode)
    return botocore.config.Config(
        retries={"mode": mode, "max_attempts": attempts},
        max_pool_connections=max_pool_connections,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        user_agent_extra=user_agent(),
    )


def _retry_options(max_attempts: int | None, retry_mode: str | None) -> tuple[str, int]:
    from invoicekit.errors import InvalidArgumentError

    mode = RETRY_MODE if retry_mode is None else retry_mode
    attempts = MAX_ATTEMPTS if max_attempts is None else max_attempts
    if mode not in _RETRY_MODES:
        raise InvalidArgumentError(
            f"retry_mode={mode!r} is not a botocore retry mode: use one of {', '.join(_RETRY_MODES)}"
        )
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
        raise InvalidArgumentError(
            f"max_attempts={attempts!r} must be an integer >= 0 (retries after the first try)"
        )
    return mode, attempts


def client(
    session: Any,
    service: str,
    *,
    account_id: str | None = None,
    max_pool_connections: int = 32,
    endpoint_url: str | None = None,
    max_attempts: int | None = None,
    retry_mode: str | None = None,
) -> Any:
    """Return the (cached) botocore client for ``service`` on ``session``.

    Parameters
    ----------
    session : boto3.Session or botocore.session.Session
        Usually ``Fleet.session_for(account)``.
    service : str
        ``"invoicing"``, ``"sts"``, ...
    account_id : str, optional
        The payer account the client is for (error messages only; the session decides whose
        credentials are used).
    max_pool_connections : int
        HTTP connection pool size (the loader sizes it to its concurrency).
    endpoint_url : str, optional
        Explicit endpoint (the fleet file's ``endpoint_url``, passed by ``AccountAccess`` /
        ``Fleet.client``); otherwise the standard AWS configuration (``AWS_ENDPOINT_URL_<SERVICE>``, profile ``endpoint_url``), otherwise
        the AWS endpoint.
    max_attempts : int, optional
        Retries after the first try (default :data:`MAX_ATTEMPTS`, read at call time).
    retry_mode : str, optional
        botocore retry mode (default :data:`RETRY_MODE`, ``"adaptive"``).

    Returns
    -------
    botocore.client.BaseClient
        Shared across threads (botocore clients are thread-safe once created).

    Examples
    --------
    >>> import boto3
    >>> from invoicekit._client import client
    >>> s = boto3.Session()
    >>> c = client(s, "invoicing", endpoint_url="http://127.0.0.1:9")
    >>> c.meta.region_name, c.meta.endpoint_url
    ('us-east-1', 'http://127.0.0.1:9')
    >>> c is client(s, "invoicing", endpoint_url="http://127.0.0.1:9")
    True
    """
    mode, attempts = _retry_options(max_attempts, retry_mode)
    with _LOCK:
        url = endpoint_url or None
        key = (service, url, int(max_pool_connections), mode, attempts)
        per_session = _CLIENTS.get(session)
        if per_session is None:
            per_session = {}
            _CLIENTS[session] = per_session
            _SESSION_LOCKS[session] = threading.Lock()
        cached = per_session.get(key)
        if cached is not None:
            return cached
        session_lock = _SESSION_LOCKS[session]
    # Create outside the global lock (other accounts go on) but one at a time per session.
    with session_lock:
        cached = per_session.get(key)
        if cached is not None:
            return cached
        made = new_client(
            session,
            service,
            account_id=account_id,
            max_pool_connections=max_pool_connections,
            endpoint_url=url,
            max_attempts=attempts,
            retry_mode=mode,
        )
        per_session[key] = made
        return made


def new_client(
    session: Any,
    service: str,
    *,
    account_id: str | None = None,
    max_pool_connections: int = 32,
    endpoint_url: str | None = None,
    max_attempts: int | None = None,
    retry_mode: str | None = None,
    **credentials: Any,
) -> Any:
    """Create an uncached client with invoicekit's configuration (see :func:`client`).

    Used where a client must carry explicit credentials (``aws_access_key_id=...``), e.g. the
    STS client that assumes a payer account's role. Prefer :func:`client` everywhere else.

    Examples
    --------
    >>> import boto3
    >>> from invoicekit._client import new_client
    >>> sts = new_client(boto3.Session(), "sts", aws_access_key_id="AKIAEXAMPLEEXAMPLE00",
    ...                  aws_secret_access_key="x")
    >>> sts.meta.region_name
    'us-east-1'
    """
    from botocore.exceptions import BotoCoreError

    from invoicekit.errors import ConfigError

    region = getattr(session, "region_name", None)
    if region is None and hasattr(session, "get_config_variable"):
        region = session.get_config_variable("region")
    kwargs: dict[str, Any] = {
        "region_name": region or DEFAULT_REGION,
        "config": client_config(
            max_pool_connections, max_attempts=max_attempts, retry_mode=retry_mode
        ),
        **credentials,
    }
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    creator = getattr(session, "client", None) or session.create_client
    try:
        return creator(service, **kwargs)
    except (BotoCoreError, ValueError) as exc:
        who = f"account {account_id}" if account_id else "the session"
        raise ConfigError(
            f"cannot create the {service} client for {who}: {exc} "
            "(fix: check the profile, region and endpoint_url)"
        ) from exc
