"""Every use of botocore's and boto3's private parts, in one place.

invoicekit relies on a few things botocore does not promise (attributes with a leading
underscore, the in-place list behind a property, the shape of event-hook arguments). Each is
wrapped here in a small function, so that nothing else in the package touches them, and
``tests/test_botocore_contract.py`` checks against the installed botocore that each one still
exists and behaves as used — a botocore upgrade that changes one fails that test, naming it.

Where botocore changed, the functions degrade rather than break: the optimisation is skipped
(:func:`copy_handlers` returns ``None``, :func:`share_parsed_config` does nothing), or the
default behaviour is kept.

What is relied on:

``Session._original_handler``
    The emitter holding a botocore session's registered handlers (copied for a new session
    instead of registering ~400 built-in handlers again; botocore does the same per client).
``Session._original_handler`` + the emitter's public methods
    :class:`SharedHandlers` hands every account session one template emitter (copied only when
    that session itself registers a handler): a session calls only ``emit``,
    ``emit_until_response``, ``register*``, ``unregister`` and ``copy.copy`` (each client
    copies its session's emitter) on it.
``boto3.Session`` attributes ``_session``, ``_loader``, ``resource_factory``
    :func:`new_boto3_session` builds the ``boto3.Session`` of a botocore session whose handlers
    already hold boto3's defaults, without registering them again (``boto3.Session.__init__``
    sets exactly these three attributes; checked once per process, else boto3's own way).
``Session._config``
    Where a botocore session caches its parsed config files (``full_config``), ``None`` until
    parsed: sessions reading the same files share one parse.
``boto3.Session._session``
    The botocore session under a boto3 session (boto3 has no public accessor).
``SharedCredentialProvider._ini_parser`` / ``ConfigProvider._config_parser``
    The callables the credential providers parse their files with (shared parse).
``Loader.search_paths``
    Returns the loader's own list (de-duplicated in place).
``RefreshableCredentials._advisory_refresh_timeout`` / ``_mandatory_refresh_timeout`` /
``_time_fetcher``
    The refresh windows (seconds before expiry) and the clock of refreshable credentials.
``botocore.configprovider.ConfiguredEndpointProvider``
    How botocore resolves ``AWS_ENDPOINT_URL_<SERVICE>`` and profile ``endpoint_url``.
Event hooks
    ``needs-retry`` handlers get ``response=(http_response, parsed)`` (``None`` on a
    connection error); ``after-call`` handlers get ``http_response`` with ``.content``.
"""

from __future__ import annotations

import copy
import threading
from datetime import datetime
from typing import Any

__all__ = [
    "copy_handlers",
    "SharedHandlers",
    "shared_handlers",
    "new_boto3_session",
    "parsed_config",
    "share_parsed_config",
    "botocore_session",
    "set_provider_parsers",
    "dedupe_search_paths",
    "credentials_time",
    "set_refresh_windows",
    "configured_endpoint",
    "answer_error_code",
    "response_body",
]

_UNSET = object()


def copy_handlers(session: Any) -> Any | None:
    """A copy of the event handlers registered on botocore ``session`` (None: unsupported).

    Pass it as ``botocore.session.Session(event_hooks=..., include_builtin_handlers=False)``.
    """
    handler = getattr(session, "_original_handler", None)
    return copy.copy(handler) if handler is not None else None


class SharedHandlers:
    """A copy-on-write view of a template session's event emitter, for one session.

    Copying botocore's ~400 built-in handlers costs ~1.5 ms per session; most account sessions
    never register a handler of their own (their clients copy the emitter anyway). This view
    emits through the template's handlers until the session registers or unregisters one; then
    it takes its own copy first, so the template is never changed. ``copy.copy`` of the view
    (what every botocore client does) is a real emitter of the handlers as they stand.
    """

    def __init__(self, base: Any) -> None:
        self._base = base
        self._own: Any = None
        self._lock = threading.Lock()

    def _current(self) -> Any:
        own = self._own
        return self._base if own is None else own

    def _mine(self) -> Any:
        if self._own is None:
            with self._lock:
                if self._own is None:
                    self._own = copy.copy(self._base)
        return self._own

    @property
    def copied(self) -> bool:
        """True once this session has its own handlers."""
        return self._own is not None

    def emit(self, event_name: str, **kwargs: Any) -> Any:
        return self._current().emit(event_name, **kwargs)

    def emit_until_response(self, event_name: str, **kwargs: Any) -> Any:
        return self._current().emit_until_response(event_name, **kwargs)

    def register(self, *args: Any, **kwargs: Any) -> Any:
        return self._mine().register(*args, **kwargs)

    def register_first(self, *args: Any, **kwargs: Any) -> Any:
        return self._mine().register_first(*args, **kwargs)

    def register_last(self, *args: Any, **kwargs: Any) -> Any:
        return self._mine().register_last(*args, **kwargs)

    def unregister(self, *args: Any, **kwargs: Any) -> Any:
        return self._mine().unregister(*args, **kwargs)

    def __copy__(self) -> Any:
        return copy.copy(self._current())


def shared_handlers(session: Any) -> SharedHandlers | None:
    """A :class:`SharedHandlers` view of botocore ``session``'s handlers (None: unsupported).

    Pass it as ``botocore.session.Session(event_hooks=..., include_builtin_handlers=False)``;
    ``session`` (the template) must not register handlers afterwards.
    """
    handler = getattr(session, "_original_handler", None)
    return SharedHandlers(handler) if handler is not None else None


def handlers_of(bs: Any) -> Any:
    """The emitter botocore session ``bs`` was built on (its ``event_hooks``), or None."""
    return getattr(bs, "_original_handler", None)


_BOTO3_ATTRIBUTES = frozenset({"_session", "_loader", "resource_factory"})
_boto3_layout: list[bool] = []


def boto3_layout_ok(sample: Any) -> bool:
    """True when ``sample`` (a ``boto3.Session``) holds exactly the attributes boto3 sets."""
    return set(vars(sample)) == _BOTO3_ATTRIBUTES


def new_boto3_session(bs: Any, *, region_name: str | None = None) -> Any | None:
    """``boto3.Session(botocore_session=bs, region_name=...)``, boto3's handlers not re-registered.

    For a ``bs`` whose handlers come from a template that already holds boto3's defaults
    (registered once, by a ``boto3.Session`` on the template). Does what
    ``boto3.Session.__init__`` does otherwise: the user agent, the region, the resource factory
    and the data loader. Returns None when this boto3 builds its sessions differently (the
    caller then uses ``boto3.Session``).
    """
    import boto3

    if not _boto3_layout:
        import botocore.session

        _boto3_layout.append(
            boto3_layout_ok(boto3.Session(botocore_session=botocore.session.Session()))
        )
    if not _boto3_layout[0]:
        return None
    from boto3.resources.factory import ResourceFactory

    if bs.user_agent_name == "Botocore":
        botocore_info = f"Botocore/{bs.user_agent_version}"
        bs.user_agent_extra = (
            f"{bs.user_agent_extra} {botocore_info}" if bs.user_agent_extra else botocore_info
        )
        bs.user_agent_name = "Boto3"
        bs.user_agent_version = boto3.__version__
    if region_name is not None:
        bs.set_config_variable("region", region_name)
    session = boto3.Session.__new__(boto3.Session)
    session._session = bs  # noqa: SLF001 - what boto3.Session.__init__ sets
    session.resource_factory = ResourceFactory(bs.get_component("event_emitter"))
    session._loader = bs.get_component("data_loader")  # noqa: SLF001
    return session


def parsed_config(bs: Any) -> Any:
    """The parsed config files cached on botocore session ``bs``: None until parsed.

    Returns :data:`_UNSET` when this botocore keeps them elsewhere (see
    :func:`share_parsed_config`).
    """
    return getattr(bs, "_config", _UNSET)


def can_share_config(bs: Any) -> bool:
    """True when ``bs`` has not parsed its config files yet and takes a shared parse."""
    return parsed_config(bs) is None


def share_parsed_config(bs: Any, parsed: Any) -> None:
    """Give botocore session ``bs`` config files parsed by another session (``full_config``)."""
    if can_share_config(bs):
        bs._config = parsed  # noqa: SLF001 - botocore caches full_config here


def botocore_session(session: Any) -> Any:
    """The botocore session under a ``boto3.Session`` (or ``session`` itself if botocore's)."""
    inner = getattr(session, "_session", None)
    if inner is not None:
        return inner
    if hasattr(session, "get_scoped_config"):
        return session
    raise TypeError(f"not a boto3 or botocore session: {type(session).__name__}")


def set_provider_parsers(resolver: Any, *, credentials_file: Any, config_file: Any) -> int:
    """Make the chain's file providers parse through the given callables; how many changed.

    ``credentials_file`` replaces the shared credentials file provider's parser
    (``botocore.configloader.raw_config_parse``), ``config_file`` the config file provider's
    (``botocore.configloader.load_config``).
    """
    changed = 0
    get = getattr(resolver, "get_provider", None)
    if get is None:
        return 0
    for name, attribute, parse in (
        ("shared-credentials-file", "_ini_parser", credentials_file),
        ("config-file", "_config_parser", config_file),
    ):
        provider = get(name)
        if provider is not None and hasattr(provider, attribute):
            setattr(provider, attribute, parse)
            changed += 1
    return changed


def dedupe_search_paths(loader: Any, lock: Any) -> None:
    """Drop repeated entries of a botocore data loader's search paths, in place, under ``lock``."""
    paths = loader.search_paths
    if len(paths) != len(set(paths)) and isinstance(paths, list):
        with lock:
            paths[:] = list(dict.fromkeys(paths))


def credentials_time(credentials: Any) -> datetime:
    """The current time as refreshable ``credentials`` see it (their clock, tz-aware UTC)."""
    fetch = getattr(credentials, "_time_fetcher", None)
    if fetch is None:
        from invoicekit import clock

        return clock.real_now()  # protocol time: credential expiry is real time
    return fetch()


def set_refresh_windows(credentials: Any, *, advisory_s: float, mandatory_s: float) -> None:
    """Refresh ``credentials`` ``advisory_s`` / ``mandatory_s`` seconds before they expire.

    botocore refreshes 15 / 10 minutes before expiry; a shorter role session would renew on
    every request. Advisory: one thread refreshes while the others go on with the old ones;
    mandatory: every thread waits for the new ones.
    """
    credentials._advisory_refresh_timeout = advisory_s  # noqa: SLF001
    credentials._mandatory_refresh_timeout = mandatory_s  # noqa: SLF001


def configured_endpoint(session: Any, service: str) -> str | None:
    """The endpoint the AWS configuration sets for ``service`` (None: AWS's own).

    ``AWS_ENDPOINT_URL_<SERVICE>`` / ``AWS_ENDPOINT_URL``, else the profile's ``endpoint_url``
    or ``services`` section, unless ``ignore_configured_endpoint_urls`` is set. The URL as
    written (botocore normalises it when it makes a client).
    """
    from botocore.configprovider import ConfiguredEndpointProvider

    bs = botocore_session(session)
    if bs.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    provider = ConfiguredEndpointProvider(
        full_config=bs.full_config,
        scoped_config=bs.get_scoped_config(),
        client_name=service,
    )
    return provider.provide() or None


def answer_error_code(response: Any) -> str | None:
    """The error code of one attempt's answer as a ``needs-retry`` hook gets it.

    ``""`` for a successful answer, ``None`` when there was no answer (connection error).
    """
    if not response:
        return None
    parsed = response[1] if len(response) > 1 else None
    error = (parsed or {}).get("Error") or {}
    if not error:
        return ""
    return error.get("Code") or "Unknown"


def response_body(http_response: Any) -> bytes:
    """The raw body of an answer as an ``after-call`` hook gets it (``b""`` if none)."""
    return getattr(http_response, "content", b"") or b""
