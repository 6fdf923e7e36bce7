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
from datetime import datetime
from typing import Any

__all__ = [
    "copy_handlers",
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
