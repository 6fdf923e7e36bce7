"""Fleet configuration: which payer accounts to read, and whose credentials reach each one.

A fleet file is YAML::

    aws_config_file: fleet.aws-config            # optional, relative to this file
    aws_shared_credentials_file: fleet.aws-credentials
    defaults:                                     # optional
      region: us-east-1
      endpoint_url: http://127.0.0.1:4566
      max_concurrency: 16
    accounts:
      - id: "111111111111"                        # always quoted: 12 digits
        name: Retail EU
        profile: retail-eu                        # a profile (static keys, SSO, role, ...)
      - id: "222222222222"
        name: Payments
        role_arn: arn:aws:iam::222222222222:role/InvoiceReader
        external_id: finops-2026
        source_profile: org-admin                 # optional: else the default chain
      - id: "333333333333"                        # neither: the default credential chain

:func:`load_fleet` validates the file and reports every problem with the file, the line and the
fix. :meth:`Fleet.session_for` gives one cached ``boto3.Session`` per account; assumed roles use
refreshable credentials, so long runs renew them before they expire.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from botocore.credentials import DeferredRefreshableCredentials
from botocore.utils import parse_timestamp

from invoicekit import _botocore, _client
from invoicekit.errors import ConfigError

__all__ = [
    "PayerAccount",
    "Fleet",
    "load_fleet",
    "ACCOUNT_KEYS",
    "TOP_LEVEL_KEYS",
    "DEFAULTS_KEYS",
    "AP_KEYS",
    "ARCHIVE_KEYS",
    "BUSINESS_UNIT_KEYS",
    "role_session_name",
]

#: Keys allowed at the top of a fleet file.
TOP_LEVEL_KEYS: tuple[str, ...] = (
    "accounts",
    "aws_config_file",
    "aws_shared_credentials_file",
    "defaults",
    "ap",
    "business_units",
    "archive",
)
#: Keys allowed under ``archive`` (the S3 audit archive's bucket access, docs/archive.md).
ARCHIVE_KEYS: tuple[str, ...] = (
    "profile",
    "role_arn",
    "external_id",
    "source_profile",
    "region",
    "endpoint_url",
)
#: Keys allowed under ``ap`` (the accounts-payable export, docs/ap.md).
AP_KEYS: tuple[str, ...] = ("supplier_site", "business_unit", "source", "mapping")
#: Keys of a ``business_units`` row (docs/chargeback.md): one of the first three, then
#: ``business_unit`` (required), ``cost_center``, ``gl_account``.
BUSINESS_UNIT_KEYS: tuple[str, ...] = (
    "invoice_unit",
    "account_id",
    "payer_account_id",
    "business_unit",
    "cost_center",
    "gl_account",
)
#: Keys allowed under ``defaults``.
DEFAULTS_KEYS: tuple[str, ...] = ("region", "endpoint_url", "max_concurrency")
#: Keys allowed in an account entry.
ACCOUNT_KEYS: tuple[str, ...] = (
    "id",
    "name",
    "profile",
    "role_arn",
    "external_id",
    "source_profile",
    "region",
    "endpoint_url",
)

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROLE_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")


def role_session_name(account_id: str) -> str:
    """The ``RoleSessionName`` invoicekit uses when it assumes an account's role.

    Examples
    --------
    >>> role_session_name("222222222222")
    'invoicekit-222222222222'
    """
    return f"invoicekit-{account_id}"


@dataclass(frozen=True)
class PayerAccount:
    """One payer account and how to reach it.

    At most one of ``profile`` and ``role_arn``; neither means the default credential chain.
    ``external_id`` and ``source_profile`` only go with ``role_arn``.

    Examples
    --------
    >>> from invoicekit.fleet import PayerAccount
    >>> PayerAccount("111111111111", "Retail EU", profile="retail-eu").profile
    'retail-eu'
    """

    id: str
    name: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    source_profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None

    @property
    def label(self) -> str:
        """``"111111111111 (Retail EU)"`` — how messages name the account."""
        return f"{self.id} ({self.name})" if self.name else self.id

    @property
    def credential_source(self) -> str:
        """``"profile"``, ``"role"`` or ``"default"``."""
        if self.profile:
            return "profile"
        if self.role_arn:
            return "role"
        return "default"


# ----------------------------------------------------------------------------------------------
# Validation (shared by YAML and Python input). Values arrive as (value, line) pairs.
# ----------------------------------------------------------------------------------------------

_Item = tuple[Any, "int | None"]


class _Where:
    """Where a problem is: the fleet file (if any) and the line."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        # line -> source text of a scalar YAML did not read as a string (e.g. an unquoted id)
        self.raw_text: dict[int, str] = {}

    def error(self, message: str, line: int | None) -> ConfigError:
        return ConfigError(message, path=self.path, line=line if self.path else None)


def _string(where: _Where, key: str, item: _Item, context: str) -> str:
    value, line = item
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"{context}{key} must be a non-empty string, got {value!r}", line)
    return value.strip()


def _validate_account(
    where: _Where, entry: Mapping[str, _Item], entry_line: int | None, index: int
) -> PayerAccount:
    context = f"accounts[{index}]: "
    unknown = [k for k in entry if k not in ACCOUNT_KEYS]
    if unknown:
        key = unknown[0]
        raise where.error(
            f"{context}unknown key '{key}' (known keys: {', '.join(ACCOUNT_KEYS)})",
            entry[key][1],
        )
    if "id" not in entry:
        raise where.error(f"{context}missing 'id' (the 12-digit payer account id)", entry_line)
    raw_id, id_line = entry["id"]
    if not isinstance(raw_id, str):
        text = where.raw_text.get(id_line, str(raw_id)) if id_line is not None else str(raw_id)
        digits = text if re.fullmatch(r"\d{12}", text) else "111111111111"
        raise where.error(
            f'{context}account id {text} must be a quoted string: write id: "{digits}" '
            f"(ids must be quoted strings: YAML reads an unquoted id as the number {raw_id!r}, "
            "which loses leading zeros)",
            id_line,
        )
    account_id = raw_id.strip()
    if not _ACCOUNT_ID.match(account_id):
        raise where.error(
            f"{context}account id {raw_id!r} is not 12 digits "
            '(ids must be quoted strings of exactly 12 digits, e.g. id: "111111111111")',
            id_line,
        )
    context = f"account {account_id}: "
    values: dict[str, str | None] = {}
    for key in ACCOUNT_KEYS[1:]:
        if key in entry and entry[key][0] is not None:
            values[key] = _string(where, key, entry[key], context)
        else:
            values[key] = None
    if values["profile"] and values["role_arn"]:
        raise where.error(
            f"{context}give either 'profile' or 'role_arn', not both (a profile that assumes a "
            "role belongs in the AWS config file; role_arn here uses source_profile)",
            entry["role_arn"][1],
        )
    role_arn = values["role_arn"]
    if role_arn and not _ROLE_ARN.match(role_arn):
        raise where.error(
            f"{context}role_arn {role_arn!r} is not an IAM role ARN "
            "(expected arn:aws:iam::<12-digit account>:role/<name>)",
            entry["role_arn"][1],
        )
    for key in ("external_id", "source_profile"):
        if values[key] and not role_arn:
            raise where.error(
                f"{context}'{key}' is only used with 'role_arn' (add role_arn, or remove {key})",
                entry[key][1],
            )
    external_id = values["external_id"]
    if external_id and not _EXTERNAL_ID.match(external_id):
        raise where.error(
            f"{context}external_id must be 2-1224 characters of letters, digits and +=,.@:/-",
            entry["external_id"][1],
        )
    if values["region"]:
        _check_region(where, values["region"], entry["region"][1], context)
    if values["endpoint_url"]:
        _check_url(where, values["endpoint_url"], entry["endpoint_url"][1], context)
    return PayerAccount(id=account_id, **values)


def _check_region(where: _Where, region: str, line: int | None, context: str) -> None:
    if not _REGION.match(region):
        raise where.error(f"{context}region {region!r} is not an AWS region like us-east-1", line)


def _check_url(where: _Where, url: str, line: int | None, context: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise where.error(
            f"{context}endpoint_url {url!r} must be an http(s) URL like http://127.0.0.1:4566",
            line,
        )
    if parts.query or parts.username or parts.password:
        raise where.error(f"{context}endpoint_url must not carry a query string or user info", line)


def _validate_defaults(where: _Where, item: _Item | None) -> dict[str, Any]:
    if item is None or item[0] is None:
        return {}
    value, line = item
    if not isinstance(value, Mapping):
        raise where.error(
            "'defaults' must be a mapping (region, endpoint_url, max_concurrency)", line
        )
    out: dict[str, Any] = {}
    for key, sub in value.items():
        if key not in DEFAULTS_KEYS:
            raise where.error(
                f"defaults: unknown key '{key}' (known keys: {', '.join(DEFAULTS_KEYS)})", sub[1]
            )
    if "region" in value and value["region"][0] is not None:
        out["region"] = _string(where, "region", value["region"], "defaults: ")
        _check_region(where, out["region"], value["region"][1], "defaults: ")
    if "endpoint_url" in value and value["endpoint_url"][0] is not None:
        out["endpoint_url"] = _string(where, "endpoint_url", value["endpoint_url"], "defaults: ")
        _check_url(where, out["endpoint_url"], value["endpoint_url"][1], "defaults: ")
    if "max_concurrency" in value and value["max_concurrency"][0] is not None:
        n, n_line = value["max_concurrency"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise where.error(
                f"defaults: max_concurrency must be a positive integer, got {n!r}", n_line
            )
        out["max_concurrency"] = n
    return out


def _validate_ap(where: _Where, item: _Item | None, base: Path | None) -> dict[str, Any]:
    """The optional ``ap:`` section: supplier_site, business_unit, source, mapping."""
    if item is None or item[0] is None:
        return {}
    value, line = item
    if not isinstance(value, Mapping):
        raise where.error(f"'ap' must be a mapping ({', '.join(AP_KEYS)})", line)
    out: dict[str, Any] = {}
    for key, sub in value.items():
        if key not in AP_KEYS:
            raise where.error(f"ap: unknown key '{key}' (known keys: {', '.join(AP_KEYS)})", sub[1])
    for key in ("supplier_site", "business_unit", "source"):
        if key in value and value[key][0] is not None:
            out[key] = _string(where, key, value[key], "ap: ")
    if "mapping" in value and value["mapping"][0] is not None:
        mapping, m_line = value["mapping"]
        if isinstance(mapping, str):
            out["mapping"] = _resolve_file(where, value["mapping"], base, "ap: mapping")
            return out
        if not isinstance(mapping, Mapping):
            raise where.error(
                "ap: mapping must be a mapping of invoicing entity to its keys, or the path of "
                "a YAML/CSV mapping file",
                m_line,
            )
        from invoicekit.ap.mapping import MAPPING_KEYS

        entries: dict[str, dict[str, str]] = {}
        for entity, (entry, e_line) in mapping.items():
            if not isinstance(entry, Mapping):
                raise where.error(
                    f"ap: mapping: {entity!r} must be a mapping of {', '.join(MAPPING_KEYS)}",
                    e_line,
                )
            for key, sub in entry.items():
                if key not in MAPPING_KEYS:
                    raise where.error(
                        f"ap: mapping: {entity!r}: unknown key '{key}' "
                        f"(known keys: {', '.join(MAPPING_KEYS)})",
                        sub[1],
                    )
                if sub[0] is not None and (
                    isinstance(sub[0], bool) or not isinstance(sub[0], str | int)
                ):
                    raise where.error(
                        f"ap: mapping: {entity!r}: {key} must be text (quote it), got {sub[0]!r}",
                        sub[1],
                    )
            entries[entity] = {k: None if v[0] is None else str(v[0]) for k, v in entry.items()}
        out["mapping"] = entries
    return out


def _validate_business_units(
    where: _Where, item: _Item | None, base: Path | None
) -> tuple[tuple[dict[str, Any], int | None], ...] | str | None:
    """The optional ``business_units:`` section: a list of rows, or the path of a CSV file.

    Each row is checked by :func:`invoicekit.business_units.normalize_entry` (one key, 12-digit
    quoted ids, a business unit) and a key mapped twice to different business units is
    refused naming both lines. Returns ``((row, line), ...)`` or the resolved CSV path.
    """
    if item is None or item[0] is None:
        return None
    value, line = item
    if isinstance(value, str):
        return _resolve_file(where, item, base, "business_units")
    if not isinstance(value, list):
        raise where.error(
            "'business_units' must be a list of rows (- invoice_unit: ..., business_unit: ...) "
            "or the path of a CSV mapping file",
            line,
        )
    from invoicekit.business_units import (
        EntryProblem,
        conflict_message,
        find_conflict,
        normalize_entry,
    )

    rows: list[tuple[dict[str, Any], int | None]] = []
    normalized: list[dict[str, Any]] = []
    for index, (entry, e_line) in enumerate(value):
        context = f"business_units[{index}]: "
        if not isinstance(entry, dict):
            raise where.error(
                f"{context}must be a mapping of {', '.join(BUSINESS_UNIT_KEYS)}, got {entry!r}",
                e_line,
            )
        plain = {k: v for k, (v, _) in entry.items()}
        try:
            normalized.append(normalize_entry(plain))
        except EntryProblem as exc:
            at = entry[exc.field][1] if exc.field in entry else e_line
            if exc.field in entry and not isinstance(entry[exc.field][0], str):
                raw = where.raw_text.get(at)
                if raw and raw.isdigit():  # YAML read an unquoted id as a number
                    exc = EntryProblem(
                        f'{exc.field} {raw} must be a quoted string: write {exc.field}: "{raw}" '
                        "(unquoted, YAML reads a number and loses leading zeros)"
                    )
            message = str(exc).replace("unknown column", "unknown key", 1)
            raise where.error(f"{context}{message}", at) from None
        rows.append((plain, e_line))
    found = find_conflict(normalized)
    if found is not None:
        i, j = found
        first_line = rows[i][1]
        at = f"line {first_line}" if first_line is not None and where.path else f"row {i}"
        raise where.error(
            f"business_units[{j}]: " + conflict_message(normalized[i], normalized[j], at),
            rows[j][1],
        )
    return tuple(rows)


def _validate_archive(where: _Where, item: _Item | None) -> dict[str, str] | None:
    """The optional ``archive:`` section: who reaches the S3 archive bucket, and where."""
    if item is None or item[0] is None:
        return None
    value, line = item
    if not isinstance(value, Mapping):
        raise where.error(f"'archive' must be a mapping ({', '.join(ARCHIVE_KEYS)})", line)
    for key, sub in value.items():
        if key not in ARCHIVE_KEYS:
            raise where.error(
                f"archive: unknown key '{key}' (known keys: {', '.join(ARCHIVE_KEYS)})", sub[1]
            )
    out = {
        k: _string(where, k, value[k], "archive: ")
        for k in ARCHIVE_KEYS
        if k in value and value[k][0] is not None
    }
    if out.get("profile") and out.get("role_arn"):
        raise where.error(
            "archive: give either 'profile' or 'role_arn', not both", value["role_arn"][1]
        )
    if out.get("role_arn") and not _ROLE_ARN.match(out["role_arn"]):
        raise where.error(
            f"archive: role_arn {out['role_arn']!r} is not an IAM role ARN "
            "(expected arn:aws:iam::<12-digit account>:role/<name>)",
            value["role_arn"][1],
        )
    for key in ("external_id", "source_profile"):
        if out.get(key) and not out.get("role_arn"):
            raise where.error(
                f"archive: '{key}' is only used with 'role_arn' (add role_arn, or remove {key})",
                value[key][1],
            )
    if out.get("external_id") and not _EXTERNAL_ID.match(out["external_id"]):
        raise where.error(
            "archive: external_id must be 2-1224 characters of letters, digits and +=,.@:/-",
            value["external_id"][1],
        )
    if out.get("region"):
        _check_region(where, out["region"], value["region"][1], "archive: ")
    if out.get("endpoint_url"):
        _check_url(where, out["endpoint_url"], value["endpoint_url"][1], "archive: ")
    return out


def _resolve_file(where: _Where, item: _Item | None, base: Path | None, key: str) -> str | None:
    if item is None or item[0] is None:
        return None
    value = _string(where, key, item, "")
    path = Path(os.path.expanduser(value))
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise where.error(f"{key} {value!r}: no such file ({path})", item[1])
    return str(path)


def _botocore_session(
    config_file: str | None, credentials_file: str | None, profile: str | None = None
) -> Any:
    """A fresh botocore session for one account, cheap enough to make a thousand of.

    A plain ``botocore.session.Session()`` costs ~4.5 ms of CPU, mostly registering botocore's
    ~400 built-in event handlers, and each session parses the AWS config files again (~4 ms for
    a 100-profile config). Here the session emits through one template's handlers (botocore's
    built-ins and boto3's defaults, registered once per process), copied only if the session
    registers a handler of its own (:class:`invoicekit._botocore.SharedHandlers`; each client
    copies them anyway, as botocore does); the service models come from one shared data loader
    and the parsed config files are shared by every session reading the same files (see
    :func:`_share_config`).
    """
    import botocore.session

    template = _template()
    handlers = _botocore.shared_handlers(template)
    if handlers is None:  # another botocore: register the built-in handlers the slow way
        bs = botocore.session.Session()
    else:
        bs = botocore.session.Session(event_hooks=handlers, include_builtin_handlers=False)
    if config_file:
        bs.set_config_variable("config_file", config_file)
    if credentials_file:
        bs.set_config_variable("credentials_file", credentials_file)
    if profile:
        bs.set_config_variable("profile", profile)
    bs.register_component("data_loader", template.get_component("data_loader"))
    _share_config(bs)
    return bs


def _share_credential_files(bs: Any) -> None:
    """Give ``bs`` botocore's default credential chain, reading the AWS files once per fleet.

    botocore's chain re-reads the shared credentials file (and, for keys kept in the config
    file, the config file) for every session: ~1 ms each for a 100-profile file, per account.
    Here the chain is botocore's own (``create_credential_resolver``: environment, SSO,
    ``credential_process``, role profiles, ...); only those two providers read through a
    cache keyed like :func:`_share_config` (path, modification time, size).
    """
    from botocore.credentials import create_credential_resolver

    resolver = create_credential_resolver(bs)
    _botocore.set_provider_parsers(
        resolver, credentials_file=_parsed_credentials_file, config_file=_parsed_config_file
    )
    bs.register_component("credential_provider", resolver)


def _cached_parse(kind: str, parse: Any, path: Any) -> Any:
    key = (kind, _file_signature(path))
    with _CONFIG_LOCK:
        parsed = _CONFIGS.get(key)
    if parsed is None:
        parsed = parse(path)  # ConfigNotFound / ConfigParseError propagate: nothing cached
        with _CONFIG_LOCK:
            if len(_CONFIGS) >= _CONFIGS_MAX:
                _CONFIGS.clear()
            _CONFIGS[key] = parsed
    return parsed


def _parsed_credentials_file(path: Any) -> Any:
    import botocore.configloader

    return _cached_parse("credentials", botocore.configloader.raw_config_parse, path)


def _parsed_config_file(path: Any) -> Any:
    import botocore.configloader

    return _cached_parse("config", botocore.configloader.load_config, path)


def _boto3_session(bs: Any, **kwargs: Any) -> Any:
    """``boto3.Session(botocore_session=bs, ...)`` for a session of :func:`_botocore_session`.

    boto3's default handlers are already in the template's handlers that ``bs`` shares, so they
    are not registered again (:func:`invoicekit._botocore.new_boto3_session`, ~0.8 ms less per
    account). Every ``boto3.Session`` made the usual way appends boto3's data folder to its
    loader's search paths; with one shared loader that list is kept free of repeats.
    """
    import boto3

    handlers = _botocore.handlers_of(bs)
    if (
        isinstance(handlers, _botocore.SharedHandlers)
        and not handlers.copied
        and set(kwargs) <= {"region_name"}
    ):
        session = _botocore.new_boto3_session(bs, region_name=kwargs.get("region_name"))
        if session is not None:
            return session
    session = boto3.Session(botocore_session=bs, **kwargs)
    _botocore.dedupe_search_paths(bs.get_component("data_loader"), _TEMPLATE_LOCK)
    return session


_TEMPLATE_LOCK = threading.Lock()
_TEMPLATE: list[Any] = []


def _template() -> Any:
    """The template botocore session: built-in and boto3 handlers registered once, the loader.

    Never registers a handler after this: every account session emits through its handlers.
    """
    with _TEMPLATE_LOCK:
        if not _TEMPLATE:
            import boto3
            import botocore.session

            template = botocore.session.Session()
            template.get_component("data_loader")  # created once, shared by every session
            boto3.Session(botocore_session=template)  # boto3's default handlers, its data path
            _TEMPLATE.append(template)
        return _TEMPLATE[0]


_CONFIG_LOCK = threading.Lock()
# (config file, credentials file) signatures -> botocore's parsed ``full_config``; also
# ("credentials" | "config", file signature) -> that file parsed alone (credential providers)
_CONFIGS: dict[tuple[Any, ...], Any] = {}
_CONFIGS_MAX = 16


def _file_signature(path: Any) -> tuple[Any, ...]:
    expanded = os.path.expanduser(str(path)) if path else None
    try:
        st = os.stat(expanded) if expanded else None
    except OSError:
        st = None
    if st is None:
        return (expanded,)
    return (expanded, st.st_mtime_ns, st.st_size, st.st_ino)


def _share_config(bs: Any) -> None:
    """Parse the AWS config and credentials files once for every session that reads them.

    The first session with a given pair of files parses them the usual botocore way
    (``full_config``); later sessions get the same (read-only) result. The key includes each
    file's modification time and size, so an edited file is parsed again.
    """
    if not _botocore.can_share_config(bs):
        return  # parsed already, or another botocore version: it parses the files itself
    key = (
        _file_signature(bs.get_config_variable("config_file")),
        _file_signature(bs.get_config_variable("credentials_file")),
    )
    with _CONFIG_LOCK:
        parsed = _CONFIGS.get(key)
        if parsed is None:
            parsed = bs.full_config  # ConfigParseError propagates, nothing is cached
            if len(_CONFIGS) >= _CONFIGS_MAX:
                _CONFIGS.clear()
            _CONFIGS[key] = parsed
            return
    _botocore.share_parsed_config(bs, parsed)


def _check_profiles(
    where: _Where,
    accounts: list[PayerAccount],
    lines: list[Mapping[str, _Item]],
    config_file: str | None,
    credentials_file: str | None,
) -> None:
    needed = [
        (acct, key)
        for acct in accounts
        for key in ("profile", "source_profile")
        if getattr(acct, key)
    ]
    if not needed:
        return
    bs = _botocore_session(config_file, credentials_file)
    try:
        known = set(bs.available_profiles)
    except Exception as exc:  # a broken AWS config file
        raise where.error(
            f"cannot read the AWS config ({bs.get_config_variable('config_file')}): {exc}", None
        ) from exc
    for acct, key in needed:
        name = getattr(acct, key)
        if name in known:
            continue
        entry = lines[accounts.index(acct)]
        cfg = os.path.expanduser(str(bs.get_config_variable("config_file")))
        cred = os.path.expanduser(str(bs.get_config_variable("credentials_file")))
        listed = ", ".join(sorted(known)[:10]) or "none"
        raise where.error(
            f"account {acct.id}: {key} '{name}' not found in the AWS config file {cfg} "
            f"or credentials file {cred} (profiles there: {listed}; fix the name, or set "
            "aws_config_file in the fleet file)",
            entry.get(key, (None, None))[1],
        )


def _build(
    where: _Where,
    raw_accounts: list[tuple[Mapping[str, _Item], int | None]],
    *,
    config_file: str | None,
    credentials_file: str | None,
    defaults: Mapping[str, Any],
    check_profiles: bool = True,
    ap: Mapping[str, Any] | None = None,
    business_units: Any = None,
    archive: Mapping[str, str] | None = None,
) -> Fleet:
    accounts: list[PayerAccount] = []
    seen: dict[str, int | None] = {}
    for index, (entry, line) in enumerate(raw_accounts):
        acct = _validate_account(where, entry, line, index)
        if acct.id in seen:
            first = seen[acct.id]
            at = f" (first at line {first})" if first is not None and where.path else ""
            raise where.error(
                f"account {acct.id} is listed twice{at}; each payer account once",
                entry["id"][1],
            )
        seen[acct.id] = entry["id"][1]
        accounts.append(acct)
    if check_profiles:
        _check_profiles(
            where, accounts, [e for e, _ in raw_accounts], config_file, credentials_file
        )
    return Fleet(
        accounts=tuple(accounts),
        config_file=config_file,
        credentials_file=credentials_file,
        region=defaults.get("region"),
        endpoint_url=defaults.get("endpoint_url"),
        max_concurrency=defaults.get("max_concurrency"),
        path=where.path,
        ap=dict(ap) if ap else None,
        business_units=business_units,
        archive=dict(archive) if archive else None,
    )


# ----------------------------------------------------------------------------------------------
# YAML with line numbers.
# ----------------------------------------------------------------------------------------------


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _from_node(where: _Where, node: yaml.Node, constructor: Any) -> Any:
    """Node tree → plain values where every mapping value is a (value, line) pair."""
    if isinstance(node, yaml.MappingNode):
        out: dict[str, _Item] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise where.error(f"keys must be strings, got {key!r}", _line(key_node))
            if key in out:
                raise where.error(
                    f"key '{key}' appears twice in the same mapping (first at line {out[key][1]})",
                    _line(key_node),
                )
            out[key] = (_from_node(where, value_node, constructor), _line(value_node))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [(_from_node(where, item, constructor), _line(item)) for item in node.value]
    value = constructor.construct_object(node, deep=True)
    if not isinstance(value, str) and isinstance(node, yaml.ScalarNode):
        where.raw_text.setdefault(_line(node), node.value)
    return value


def _parse_yaml(text: str, where: _Where) -> Any:
    try:
        try:  # libyaml's parser when PyYAML has it: a 1,000-account file in a fraction
            nodes = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
        except AttributeError:  # PyYAML without libyaml
            nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError:  # the pure-Python parser's message and line, as always
            nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise where.error(f"YAML syntax error: {problem}", line) from None
    except yaml.YAMLError as exc:
        raise where.error(f"YAML error: {exc}", None) from None
    if len(nodes) > 1:
        raise where.error(
            "expected one YAML document, found several (remove '---')", _line(nodes[1])
        )
    if not nodes or nodes[0] is None:
        raise where.error(
            "the file is empty; expected a mapping with 'accounts' (a list of payer accounts)", 1
        )
    constructor = yaml.SafeLoader("")
    try:
        return nodes[0], _from_node(where, nodes[0], constructor)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise where.error(f"YAML error: {exc.problem}", mark.line + 1 if mark else None) from None


def load_fleet(path: str | os.PathLike[str]) -> Fleet:
    """Read and validate a fleet YAML file.

    Parameters
    ----------
    path : str or path-like
        The fleet file. ``aws_config_file`` and ``aws_shared_credentials_file`` inside it are
        resolved relative to the file's folder.

    Returns
    -------
    Fleet

    Raises
    ------
    ConfigError
        With ``.path`` and ``.line``: YAML syntax errors, unknown keys (the known ones are
        listed), no ``accounts``, an id that is not a quoted 12-digit string, duplicate ids,
        both ``profile`` and ``role_arn``, a malformed role ARN, ``external_id`` without
        ``role_arn``, a profile that the AWS config does not define.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from invoicekit.fleet import load_fleet
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "fleet.yml"
    >>> _ = p.write_text('accounts:\\n  - id: "111111111111"\\n    name: Retail EU\\n')
    >>> fleet = load_fleet(p)
    >>> [(a.id, a.name, a.credential_source) for a in fleet]
    [('111111111111', 'Retail EU', 'default')]
    """
    p = Path(path)
    where = _Where(str(p))
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("fleet file not found", path=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the fleet file: {exc}", path=str(p)) from None
    root_node, root = _parse_yaml(text, where)
    if not isinstance(root, dict):
        raise where.error(
            "expected a mapping with 'accounts' at the top of the file, "
            f"got a {type(root).__name__}",
            _line(root_node),
        )
    for key, (_, line) in root.items():
        if key not in TOP_LEVEL_KEYS:
            # the line of the key itself, not its value
            key_line = next((_line(k) for k, _v in root_node.value if k.value == key), line)
            raise where.error(
                f"unknown key '{key}' (known keys: {', '.join(TOP_LEVEL_KEYS)})", key_line
            )
    if "accounts" not in root:
        raise where.error(
            "missing 'accounts': list the payer accounts, e.g. accounts: [{id: \"111111111111\"}]",
            1,
        )
    accounts_value, accounts_line = root["accounts"]
    if not isinstance(accounts_value, list) or not accounts_value:
        raise where.error(
            "'accounts' must be a non-empty list of payer accounts (- id: \"111111111111\")",
            accounts_line,
        )
    raw_accounts: list[tuple[Mapping[str, _Item], int | None]] = []
    for index, (entry, line) in enumerate(accounts_value):
        if isinstance(entry, str | int) and not isinstance(entry, bool):
            entry = {"id": (entry, line)}  # shorthand: - "111111111111"
        if not isinstance(entry, dict):
            raise where.error(
                f"accounts[{index}] must be a mapping with at least 'id', got {entry!r}", line
            )
        raw_accounts.append((entry, line))
    base = p.resolve().parent
    config_file = _resolve_file(where, root.get("aws_config_file"), base, "aws_config_file")
    credentials_file = _resolve_file(
        where, root.get("aws_shared_credentials_file"), base, "aws_shared_credentials_file"
    )
    defaults = _validate_defaults(where, root.get("defaults"))
    ap = _validate_ap(where, root.get("ap"), base)
    business_units = _validate_business_units(where, root.get("business_units"), base)
    archive = _validate_archive(where, root.get("archive"))
    return _build(
        where,
        raw_accounts,
        config_file=config_file,
        credentials_file=credentials_file,
        defaults=defaults,
        ap=ap,
        business_units=business_units,
        archive=archive,
    )


# ----------------------------------------------------------------------------------------------
# The fleet.
# ----------------------------------------------------------------------------------------------


class _NoCache(dict):
    """An assume-role cache that never holds anything (our credentials object decides)."""

    def __contains__(self, key: object) -> bool:
        return False

    def __setitem__(self, key: Any, value: Any) -> None:
        return None


@dataclass(frozen=True)
class Fleet:
    """The payer accounts to read and how to reach each one.

    Build it with :func:`load_fleet` (a YAML file) or :meth:`Fleet.from_accounts` (Python).

    Attributes
    ----------
    accounts : tuple of PayerAccount
    config_file, credentials_file : str or None
        AWS config / shared credentials files for every account's profile (``None``: the
        standard ``~/.aws/config``, ``AWS_CONFIG_FILE`` ...).
    region, endpoint_url : str or None
        The ``defaults`` for accounts that do not set their own.
    max_concurrency : int or None
        ``defaults.max_concurrency``: a hint for the loader's pool size.
    path : str or None
        The fleet file (for messages).
    ap : dict or None
        The optional ``ap:`` section for the AP export (:data:`AP_KEYS`: ``supplier_site``,
        ``business_unit``, ``source``, ``mapping`` — inline entries per invoicing entity, or
        the resolved path of a mapping file); see docs/ap.md.
    business_units : tuple or str or None
        The optional ``business_units:`` section: ``((row, line), ...)`` (rows of
        :data:`BUSINESS_UNIT_KEYS`, validated) or the resolved path of a CSV mapping;
        :func:`invoicekit.business_units.read_business_units` reads it (docs/chargeback.md).
    archive : dict or None
        The optional ``archive:`` section (:data:`ARCHIVE_KEYS`): the credentials (``profile``,
        or ``role_arn`` with ``external_id``/``source_profile``), ``region`` and
        ``endpoint_url`` of the S3 audit archive bucket; :meth:`archive_session` (docs/archive.md).

    Examples
    --------
    >>> from invoicekit.fleet import Fleet
    >>> fleet = Fleet.from_accounts(["111111111111", {"id": "222222222222", "name": "Payments"}])
    >>> len(fleet), fleet.account_names
    (2, {'222222222222': 'Payments'})
    """

    accounts: tuple[PayerAccount, ...]
    config_file: str | None = None
    credentials_file: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    max_concurrency: int | None = None
    path: str | None = None
    ap: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    # the ``business_units:`` section: ((row, line), ...) or a CSV path (docs/chargeback.md)
    business_units: Any = field(default=None, compare=False, hash=False)
    # the ``archive:`` section: the S3 audit archive bucket's access (docs/archive.md)
    archive: dict[str, str] | None = field(default=None, compare=False, hash=False)
    _sessions: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: Any = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    # (account, service, options) -> (paced client, its pacer slot): owned by invoicekit.access,
    # kept here so that a second run on the same Fleet reuses the account's paced client
    _paced_clients: dict[Any, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # per-account (and per-source) creation locks: accounts are set up in parallel
    _locks: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    # (source_profile, region, endpoint) -> (source session, its STS client), shared by roles
    _sources: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    # SDK operation calls the fleet itself sent (AssumeRole attempts, retries included)
    _calls: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_accounts(
        cls,
        accounts: Iterable[str | Mapping[str, Any] | PayerAccount],
        *,
        aws_config_file: str | os.PathLike[str] | None = None,
        aws_shared_credentials_file: str | os.PathLike[str] | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_concurrency: int | None = None,
        check_profiles: bool = True,
    ) -> Fleet:
        """Build a fleet in Python: account ids, dicts with the YAML keys, or PayerAccounts.

        The same rules as the YAML file apply (12-digit ids, profile xor role_arn, ...);
        problems raise :class:`ConfigError` naming the account.

        Examples
        --------
        >>> from invoicekit.fleet import Fleet
        >>> f = Fleet.from_accounts([{"id": "222222222222",
        ...     "role_arn": "arn:aws:iam::222222222222:role/InvoiceReader",
        ...     "external_id": "finops-2026"}])
        >>> f.accounts[0].credential_source
        'role'
        """
        if isinstance(accounts, str | Mapping | PayerAccount):
            accounts = [accounts]
        where = _Where(None)
        raw: list[tuple[Mapping[str, _Item], int | None]] = []
        for item in accounts:
            if isinstance(item, PayerAccount):
                entry = {k: getattr(item, k) for k in ACCOUNT_KEYS if getattr(item, k) is not None}
            elif isinstance(item, Mapping):
                entry = dict(item)
            else:
                entry = {"id": item}
            raw.append(({k: (v, None) for k, v in entry.items()}, None))
        if not raw:
            raise ConfigError("no accounts given; pass at least one 12-digit payer account id")
        defaults_raw: dict[str, _Item] = {}
        if region is not None:
            defaults_raw["region"] = (region, None)
        if endpoint_url is not None:
            defaults_raw["endpoint_url"] = (endpoint_url, None)
        if max_concurrency is not None:
            defaults_raw["max_concurrency"] = (max_concurrency, None)
        defaults = _validate_defaults(where, (defaults_raw, None))
        config_file = _resolve_file(
            where,
            (os.fspath(aws_config_file), None) if aws_config_file is not None else None,
            Path.cwd(),
            "aws_config_file",
        )
        credentials_file = _resolve_file(
            where,
            (os.fspath(aws_shared_credentials_file), None)
            if aws_shared_credentials_file is not None
            else None,
            Path.cwd(),
            "aws_shared_credentials_file",
        )
        return _build(
            where,
            raw,
            config_file=config_file,
            credentials_file=credentials_file,
            defaults=defaults,
            check_profiles=check_profiles,
        )

    # -- lookup --------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[PayerAccount]:
        return iter(self.accounts)

    def __len__(self) -> int:
        return len(self.accounts)

    @property
    def account_ids(self) -> list[str]:
        """Every account id, in file order."""
        return [a.id for a in self.accounts]

    @property
    def account_names(self) -> dict[str, str]:
        """``{account id: name}`` for named accounts (``schema.to_frame(account_names=...)``)."""
        return {a.id: a.name for a in self.accounts if a.name}

    def account(self, account: str | PayerAccount) -> PayerAccount:
        """The :class:`PayerAccount` for an id (``ConfigError`` when the fleet lacks it)."""
        if isinstance(account, PayerAccount):
            return account
        for a in self.accounts:
            if a.id == account:
                return a
        raise ConfigError(
            f"account {account} is not in the fleet"
            + (f" ({self.path})" if self.path else "")
            + "; add it to the accounts list"
        )

    def region_for(self, account: str | PayerAccount) -> str | None:
        """The account's region, else the fleet default (``None``: left to the AWS config)."""
        acct = self.account(account)
        return acct.region or self.region

    def endpoint_override(self, account: str | PayerAccount) -> str | None:
        """The fleet file's ``endpoint_url`` for the account (its own, else ``defaults``)."""
        acct = self.account(account)
        return acct.endpoint_url or self.endpoint_url

    # -- sessions ------------------------------------------------------------------------------

    def session_for(self, account: str | PayerAccount) -> Any:
        """The account's ``boto3.Session`` (created once, cached, thread-safe).

        * ``profile``: that profile from the fleet's (or the standard) AWS config files — static
          keys, SSO, ``credential_process``, role profiles all work as in the AWS CLI;
        * ``role_arn``: ``sts:AssumeRole`` with ``ExternalId`` and RoleSessionName
          ``invoicekit-<account id>``, called with ``source_profile``'s credentials (else the
          default chain); the credentials refresh themselves before they expire;
        * neither: the default credential chain (environment, default profile, SSO, ...).

        Endpoints follow the standard configuration (``AWS_ENDPOINT_URL_INVOICING``,
        ``AWS_ENDPOINT_URL_STS``, a profile's ``endpoint_url``), unless the fleet file sets
        ``endpoint_url``, which then applies to every service of the account.

        Raises
        ------
        ConfigError
            ``account X: no AWS credentials found ...`` or a profile that cannot be used.

        Examples
        --------
        >>> import os
        >>> from invoicekit.fleet import Fleet
        >>> fleet = Fleet.from_accounts(["111111111111"], region="eu-west-1")
        >>> fleet.session_for("111111111111").region_name
        'eu-west-1'
        """
        acct = self.account(account)
        session = self._sessions.get(acct.id)
        if session is not None:
            return session
        # One lock per account: accounts are set up in parallel (in the loader's worker
        # threads, overlapping other accounts' requests), each exactly once.
        with self._lock_for(("account", acct.id)):
            session = self._sessions.get(acct.id)
            if session is None:
                session = self._new_session(acct)
                self._sessions[acct.id] = session
            return session

    def _lock_for(self, key: Any) -> Any:
        with self._lock:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def _new_session(self, acct: PayerAccount) -> Any:
        from botocore.exceptions import BotoCoreError

        region = self.region_for(acct)
        endpoint = self.endpoint_override(acct)
        try:
            if acct.role_arn:
                session = self._role_session(acct, region, endpoint)
            else:
                bs = _botocore_session(self.config_file, self.credentials_file, acct.profile)
                _share_credential_files(bs)
                session = _boto3_session(bs, region_name=region)
                creds = session.get_credentials()
                if creds is None:
                    raise self._no_credentials(acct)
        except BotoCoreError as exc:
            raise ConfigError(
                f"account {acct.label}: cannot set up AWS credentials: {exc} "
                "(fix: check the profile in the AWS config file, or run aws sso login)",
                path=self.path,
            ) from exc
        return session

    def _no_credentials(self, acct: PayerAccount) -> ConfigError:
        how = (
            f"profile '{acct.profile}' has no credentials"
            if acct.profile
            else f"source_profile '{acct.source_profile}' has no credentials"
            if acct.source_profile
            else "the default credential chain found nothing"
        )
        return ConfigError(
            f"account {acct.label}: no AWS credentials found ({how}) — configure a profile "
            "(aws configure / aws configure sso), set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or give the account a profile or role_arn in the fleet file",
            path=self.path,
        )

    def _source(
        self, acct: PayerAccount, region: str | None, endpoint: str | None
    ) -> tuple[Any, Any]:
        """The session and STS client that assume roles for ``source_profile`` (shared).

        Every role account with the same source profile, region and endpoint shares one source
        session (its credentials resolved once) and one STS client (thread-safe), instead of a
        session and a client per account.
        """
        key = (acct.source_profile, region, endpoint)
        found = self._sources.get(key)
        if found is None:
            with self._lock_for(("source", key)):
                found = self._sources.get(key)
                if found is None:
                    bs = _botocore_session(
                        self.config_file, self.credentials_file, acct.source_profile
                    )
                    _share_credential_files(bs)
                    source = _boto3_session(bs, region_name=region)
                    found = (source, None)
                    if source.get_credentials() is not None:
                        sts = _client.client(
                            source, "sts", account_id=acct.id, endpoint_url=endpoint
                        )
                        self._count_assume_role(sts)
                        found = (source, sts)
                        self._sources[key] = found
        source, sts = found
        if sts is None:  # not cached: a later call may find credentials (e.g. after login)
            raise self._no_credentials(acct)
        return source, sts

    def _role_session(self, acct: PayerAccount, region: str | None, endpoint: str | None) -> Any:
        from botocore.credentials import (
            AssumeRoleCredentialFetcher,
            CredentialProvider,
            CredentialResolver,
        )

        source, sts = self._source(acct, region, endpoint)

        def sts_client(service: str, **_source_credentials: Any) -> Any:
            # the shared client signs with the source session's own (refreshable) credentials
            return sts

        extra: dict[str, Any] = {"RoleSessionName": role_session_name(acct.id)}
        if acct.external_id:
            extra["ExternalId"] = acct.external_id
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=sts_client,
            source_credentials=source.get_credentials(),
            role_arn=acct.role_arn,
            extra_args=extra,
            cache=_NoCache(),
        )
        credentials = _RoleCredentials(fetcher.fetch_credentials)

        class _Provider(CredentialProvider):
            METHOD = "invoicekit-assume-role"
            CANONICAL_NAME = "invoicekit-assume-role"

            def load(self) -> Any:
                return credentials

        # The role session keeps the source profile's configuration (region, endpoint_url)
        # but only ever uses the assumed-role credentials.
        role_bs = _botocore_session(self.config_file, self.credentials_file, acct.source_profile)
        role_bs.register_component("credential_provider", CredentialResolver([_Provider()]))
        return _boto3_session(role_bs, region_name=region)

    def archive_session(self) -> Any:
        """The ``boto3.Session`` of the ``archive:`` section (cached): the S3 archive bucket's.

        ``profile`` (from the fleet's AWS config files), or ``role_arn`` assumed with
        ``external_id`` from ``source_profile`` (else the default chain), or neither: the
        default chain. ``region`` applies; ``endpoint_url`` is the S3 (and STS) endpoint.

        Examples
        --------
        >>> from invoicekit.fleet import Fleet
        >>> Fleet.from_accounts(["111111111111"]).archive_session()  # doctest: +SKIP
        """
        conf = self.archive or {}
        key = "archive"
        session = self._sessions.get(key)
        if session is not None:
            return session
        with self._lock_for(("account", key)):
            session = self._sessions.get(key)
            if session is not None:
                return session
            region = conf.get("region") or self.region
            if conf.get("role_arn"):
                match = _ROLE_ARN.match(conf["role_arn"])
                acct = PayerAccount(
                    id=match.group(1) if match else "000000000000",
                    name="archive",
                    role_arn=conf["role_arn"],
                    external_id=conf.get("external_id"),
                    source_profile=conf.get("source_profile"),
                    region=region,
                )
                session = self._role_session(acct, region, conf.get("endpoint_url"))
            else:
                bs = _botocore_session(self.config_file, self.credentials_file, conf.get("profile"))
                _share_credential_files(bs)
                session = _boto3_session(bs, region_name=region)
                if session.get_credentials() is None:
                    raise ConfigError(
                        "archive: no AWS credentials found for the archive bucket — give the "
                        "archive: section a profile or role_arn, or configure default credentials",
                        path=self.path,
                    )
            self._sessions[key] = session
            return session

    def client(self, account: str | PayerAccount, service: str = "invoicing", **opts: Any) -> Any:
        """The account's (cached) client for ``service``, from the one factory.

        The fleet file's ``endpoint_url`` is passed to :func:`invoicekit._client.client`
        explicitly; ``opts`` are the factory's (``max_pool_connections``, ``retry_mode``,
        ``max_attempts``). The same object as ``AccountAccess(fleet, account).client(service)``.

        Examples
        --------
        >>> from invoicekit.fleet import Fleet
        >>> f = Fleet.from_accounts(["111111111111"], endpoint_url="http://127.0.0.1:4566")
        >>> c = f.client("111111111111", "sts")
        >>> c.meta.endpoint_url, c is f.client("111111111111", "sts")
        ('http://127.0.0.1:4566', True)
        """
        acct = self.account(account)
        return _client.client(
            self.session_for(acct),
            service,
            account_id=acct.id,
            endpoint_url=self.endpoint_override(acct),
            **opts,
        )

    @property
    def assume_role_calls(self) -> int:
        """``AssumeRole`` requests this fleet has sent so far (botocore's retries included).

        A run's share is the difference before and after it (sessions are cached, so a second
        run on the same fleet usually sends none).
        """
        with self._lock:
            return self._calls.get("AssumeRole", 0)

    def _count_assume_role(self, sts: Any) -> None:
        def count(**_: Any) -> None:
            with self._lock:
                self._calls["AssumeRole"] = self._calls.get("AssumeRole", 0) + 1

        sts.meta.events.register(
            "before-send.sts.AssumeRole", count, unique_id=f"invoicekit.fleet.count.{id(self)}"
        )

    def endpoint_url_for(
        self, account: str | PayerAccount, service: str = "invoicing"
    ) -> str | None:
        """The configured endpoint override for ``service`` of ``account``, if any.

        Resolved the way botocore does: the fleet file's ``endpoint_url``, else
        ``AWS_ENDPOINT_URL_<SERVICE>`` / ``AWS_ENDPOINT_URL``, else the profile's
        ``endpoint_url`` / ``services`` section. ``None`` means the AWS endpoint.

        Examples
        --------
        >>> from invoicekit.fleet import Fleet
        >>> f = Fleet.from_accounts(["111111111111"], endpoint_url="http://127.0.0.1:4566")
        >>> f.endpoint_url_for("111111111111")
        'http://127.0.0.1:4566'
        """
        acct = self.account(account)
        override = self.endpoint_override(acct)
        if override:
            return override
        session = self.session_for(acct)
        if _botocore.configured_endpoint(session, service):
            # what botocore actually uses (it also normalises the URL)
            return self.client(acct, service).meta.endpoint_url
        return None

    def endpoint_host(self, account: str | PayerAccount, service: str = "invoicing") -> str | None:
        """Host name of the account's configured endpoint override (``None``: AWS itself).

        The PDF downloader allows document URLs from this host (the sandbox) and AWS's own
        S3 hosts, nothing else.

        Examples
        --------
        >>> from invoicekit.fleet import Fleet
        >>> Fleet.from_accounts(["111111111111"], endpoint_url="http://127.0.0.1:4566"
        ...                     ).endpoint_host("111111111111")
        '127.0.0.1'
        """
        url = self.endpoint_url_for(account, service)
        return urlsplit(url).hostname if url else None


class _RoleCredentials(DeferredRefreshableCredentials):
    """Assumed-role credentials that refresh ahead of expiry, scaled to the session length.

    botocore refreshes 15 minutes (advisory) / 10 minutes (mandatory) before expiry; a role
    session shorter than that would be renewed on every request. Here the windows are at most
    a quarter / an eighth of the session's lifetime. The refresh is locked (botocore), so many
    threads share one renewal.
    """

    def __init__(self, fetch: Any) -> None:
        super().__init__(refresh_using=self._fetch_scaled, method="assume-role")
        self._fetch = fetch

    def _fetch_scaled(self) -> dict[str, Any]:
        data = self._fetch()
        expiry = parse_timestamp(data["expiry_time"])
        lifetime = (expiry - _botocore.credentials_time(self)).total_seconds()
        if lifetime > 0:
            _botocore.set_refresh_windows(
                self,
                advisory_s=min(15 * 60, lifetime / 4),
                mandatory_s=min(10 * 60, lifetime / 8),
            )
        return data
