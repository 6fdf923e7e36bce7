"""What invoicekit relies on in botocore/boto3 beyond their public API, checked on the installed one.

Every private attribute, in-place list or hook argument shape that :mod:`invoicekit._botocore`
uses is exercised here. When a botocore upgrade changes one, the failing test names the
attribute and the function that relies on it (fix ``invoicekit/_botocore.py``, nothing else).
"""

from __future__ import annotations

import inspect
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore
import botocore.config
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    Credentials,
    DeferredRefreshableCredentials,
    RefreshableCredentials,
    create_credential_resolver,
)
from botocore.exceptions import ClientError

from invoicekit import _botocore, fleet

VERSION = f"botocore {botocore.__version__}"


def _who(used_by: str) -> str:
    # "copy_handlers" -> invoicekit._botocore.copy_handlers; "(invoicekit.x)" as written
    return used_by[1:-1] if used_by.startswith("(") else f"invoicekit._botocore.{used_by}"


def require(obj: Any, attribute: str, used_by: str) -> Any:
    """``getattr(obj, attribute)``, or a failure naming the attribute and who relies on it."""
    owner = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    if not hasattr(obj, attribute):
        pytest.fail(
            f"{VERSION}: {owner}.{attribute} no longer exists; {_who(used_by)} relies on it "
            "— adapt it to the new botocore",
            pytrace=False,
        )
    return getattr(obj, attribute)


def expect(condition: bool, what: str, used_by: str) -> None:
    """Fail naming what changed and who relies on it."""
    if not condition:
        pytest.fail(
            f"{VERSION}: {what}; {_who(used_by)} relies on it — adapt it to the new botocore",
            pytrace=False,
        )


# ------------------------------------------------------------------------------------------------
# Sessions: copied handlers, the shared parse of the config files, boto3's botocore session.
# ------------------------------------------------------------------------------------------------


def test_session_original_handler_is_the_emitter_to_copy() -> None:
    template = botocore.session.Session()
    emitter = require(template, "_original_handler", "copy_handlers")
    expect(
        hasattr(emitter, "register") and hasattr(emitter, "emit"),
        "Session._original_handler is not an event emitter",
        "copy_handlers",
    )
    params = inspect.signature(botocore.session.Session).parameters
    expect(
        {"event_hooks", "include_builtin_handlers"} <= set(params),
        "Session() no longer takes event_hooks / include_builtin_handlers",
        "copy_handlers",
    )
    handlers = _botocore.copy_handlers(template)
    expect(handlers is not emitter, "copy.copy(emitter) returned the same object", "copy_handlers")
    # a session made from the copy has botocore's built-in handlers: it signs and parses
    bs = botocore.session.Session(event_hooks=handlers, include_builtin_handlers=False)
    client = bs.create_client(
        "invoicing",
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLEEXAMPLE00",
        aws_secret_access_key="x",
    )
    seen: list[Any] = []
    client.meta.events.register("before-send", lambda request, **_: seen.append(request))
    client.meta.events.register("before-send", _answer(200, b'{"InvoiceSummaries": []}'))
    assert (
        client.list_invoice_summaries(
            Selector={"ResourceType": "ACCOUNT_ID", "Value": "111111111111"},
            Filter={"BillingPeriod": {"Month": 1, "Year": 2025}},
        )["InvoiceSummaries"]
        == []
    )
    expect(
        "Authorization" in seen[0].headers,
        "a session built from copied handlers did not sign its request",
        "copy_handlers",
    )
    # registering on the copy does not touch the template
    called: list[int] = []
    handlers.register("invoicekit-test-event", lambda **_: called.append(1))
    emitter.emit("invoicekit-test-event")
    expect(called == [], "a copied emitter shares its handlers with the original", "copy_handlers")
    handlers.emit("invoicekit-test-event")
    assert called == [1]


def test_shared_handlers_emit_through_the_template_until_the_session_registers() -> None:
    template = botocore.session.Session()
    emitter = require(template, "_original_handler", "shared_handlers")
    view = _botocore.shared_handlers(template)
    bs = botocore.session.Session(event_hooks=view, include_builtin_handlers=False)
    expect(
        _botocore.handlers_of(bs) is view,
        "Session(event_hooks=...) does not keep the given emitter in Session._original_handler",
        "handlers_of",
    )
    client = bs.create_client(
        "invoicing",
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLEEXAMPLE00",
        aws_secret_access_key="x",
    )
    expect(
        not view.copied,
        "creating a client registered a handler on its session's emitter (the shared template "
        "would be copied for every session)",
        "SharedHandlers",
    )
    seen: list[Any] = []
    client.meta.events.register("before-send", lambda request, **_: seen.append(request))
    client.meta.events.register("before-send", _answer(200, b'{"InvoiceSummaries": []}'))
    client.list_invoice_summaries(
        Selector={"ResourceType": "ACCOUNT_ID", "Value": "111111111111"},
        Filter={"BillingPeriod": {"Month": 1, "Year": 2025}},
    )
    expect(
        "Authorization" in seen[0].headers,
        "a session on shared handlers did not sign its request",
        "SharedHandlers",
    )
    called: list[str] = []
    # a session that registers takes its own copy first; the template and others never see it
    other = botocore.session.Session(
        event_hooks=_botocore.shared_handlers(template), include_builtin_handlers=False
    )
    bs.register("invoicekit-test-event", lambda **_: called.append("bs"))
    assert view.copied and not _botocore.handlers_of(other).copied
    emitter.emit("invoicekit-test-event")
    other.get_component("event_emitter").emit("invoicekit-test-event")
    expect(called == [], "a session's handler reached the shared template", "SharedHandlers")
    bs.get_component("event_emitter").emit("invoicekit-test-event")
    assert called == ["bs"]


def test_new_boto3_session_is_what_boto3_session_builds() -> None:
    plain = boto3.Session(botocore_session=botocore.session.Session(), region_name="eu-west-1")
    expect(
        _botocore.boto3_layout_ok(plain),
        f"boto3.Session() now sets {sorted(vars(plain))}, not {sorted(_botocore._BOTO3_ATTRIBUTES)}",
        "new_boto3_session",
    )
    bs = fleet._botocore_session(None, None)
    session = fleet._boto3_session(bs, region_name="eu-west-1")
    assert type(session) is boto3.Session and _botocore.botocore_session(session) is bs
    assert _botocore.handlers_of(bs).copied is False  # boto3's handlers were not registered again
    assert session.region_name == plain.region_name == "eu-west-1"
    ua = _botocore.botocore_session(plain)
    assert (bs.user_agent_name, bs.user_agent_version, bs.user_agent_extra) == (
        ua.user_agent_name,
        ua.user_agent_version,
        ua.user_agent_extra,
    )
    # boto3's own handlers (from the template) and its data path (resources) are in place
    kw = {"aws_access_key_id": "AKIAEXAMPLEEXAMPLE00", "aws_secret_access_key": "x"}
    expect(
        hasattr(session.client("s3", **kw), "upload_file"),
        "boto3's S3 transfer methods are missing: its handlers are not in the template",
        "new_boto3_session",
    )
    assert session.resource("s3", **kw).Bucket("b").name == "b"
    assert session.events is bs.get_component("event_emitter")


def test_session_config_cache_is_none_until_parsed_and_shared_when_set(tmp_path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("[profile a]\nregion = eu-west-1\n")
    bs = botocore.session.Session()
    bs.set_config_variable("config_file", str(cfg))
    value = require(bs, "_config", "parsed_config")
    expect(value is None, "Session._config is not None before full_config is read", "parsed_config")
    assert _botocore.can_share_config(bs)
    parsed = bs.full_config
    expect(
        _botocore.parsed_config(bs) is parsed,
        "Session.full_config is no longer cached in Session._config",
        "share_parsed_config",
    )
    assert parsed["profiles"]["a"]["region"] == "eu-west-1"
    # a second session given the first one's parse uses it (and does not read the file)
    other = botocore.session.Session()
    other.set_config_variable("config_file", str(tmp_path / "missing"))
    _botocore.share_parsed_config(other, parsed)
    expect(
        other.full_config is parsed,
        "Session.full_config does not return what was set in Session._config",
        "share_parsed_config",
    )
    assert other.available_profiles == ["a"]


def test_boto3_session_exposes_its_botocore_session() -> None:
    bs = botocore.session.Session()
    session = boto3.Session(botocore_session=bs)
    require(session, "_session", "botocore_session")
    expect(
        _botocore.botocore_session(session) is bs,
        "boto3.Session._session is not the botocore session it was given",
        "botocore_session",
    )
    assert _botocore.botocore_session(bs) is bs


def test_loader_search_paths_is_the_loaders_own_list() -> None:
    loader = botocore.session.Session().get_component("data_loader")
    paths = loader.search_paths
    expect(isinstance(paths, list), "Loader.search_paths is not a list", "dedupe_search_paths")
    paths.append(paths[0])
    expect(
        loader.search_paths is paths and len(loader.search_paths) == len(set(paths)) + 1,
        "Loader.search_paths returns a copy (in-place de-duplication has no effect)",
        "dedupe_search_paths",
    )
    _botocore.dedupe_search_paths(loader, threading.Lock())
    assert len(loader.search_paths) == len(set(loader.search_paths))


def test_boto3_sessions_on_one_loader_keep_its_search_paths_unique() -> None:
    """The reason for dedupe_search_paths: every boto3.Session appends its data folder."""
    bs = fleet._botocore_session(None, None)
    before = list(bs.get_component("data_loader").search_paths)
    for _ in range(3):
        fleet._boto3_session(bs)
    after = bs.get_component("data_loader").search_paths
    assert len(after) == len(set(after)) and set(before) <= set(after)


# ------------------------------------------------------------------------------------------------
# Credential providers read their files through replaceable parsers.
# ------------------------------------------------------------------------------------------------


def test_file_providers_parse_through_their_parser_attributes(tmp_path) -> None:
    creds = tmp_path / "credentials"
    creds.write_text("[p]\naws_access_key_id = AKIAFROMFILE0000000\naws_secret_access_key = s\n")
    config = tmp_path / "config"
    config.write_text("[profile q]\naws_access_key_id = AKIAFROMCONFIG00000\n"
                      "aws_secret_access_key = s\n")  # fmt: skip
    bs = botocore.session.Session()
    bs.set_config_variable("credentials_file", str(creds))
    bs.set_config_variable("config_file", str(config))
    resolver = create_credential_resolver(bs)
    require(resolver, "get_provider", "set_provider_parsers")
    for name, attribute in (
        ("shared-credentials-file", "_ini_parser"),
        ("config-file", "_config_parser"),
    ):
        provider = resolver.get_provider(name)
        expect(
            provider is not None, f"no credential provider named {name!r}", "set_provider_parsers"
        )
        require(provider, attribute, "set_provider_parsers")
    calls: list[str] = []

    def spy(real):
        def parse(path):
            calls.append(str(path))
            return real(path)

        return parse

    import botocore.configloader as loader

    assert (
        _botocore.set_provider_parsers(
            resolver,
            credentials_file=spy(loader.raw_config_parse),
            config_file=spy(loader.load_config),
        )
        == 2
    )
    bs.set_config_variable("profile", "p")
    got = resolver.get_provider("shared-credentials-file")
    got._profile_name = "p"  # noqa: SLF001 - the resolver was made for the default profile
    expect(
        got.load().access_key == "AKIAFROMFILE0000000" and str(creds) in calls,
        "SharedCredentialProvider.load() does not read through _ini_parser",
        "set_provider_parsers",
    )
    cfg_provider = resolver.get_provider("config-file")
    cfg_provider._profile_name = "q"  # noqa: SLF001
    expect(
        cfg_provider.load().access_key == "AKIAFROMCONFIG00000" and str(config) in calls,
        "ConfigProvider.load() does not read through _config_parser",
        "set_provider_parsers",
    )


# ------------------------------------------------------------------------------------------------
# Refreshable credentials: their clock and their refresh windows.
# ------------------------------------------------------------------------------------------------


def test_refreshable_credentials_have_a_clock_and_adjustable_refresh_windows() -> None:
    for attribute in ("_advisory_refresh_timeout", "_mandatory_refresh_timeout"):
        require(RefreshableCredentials, attribute, "set_refresh_windows")
    params = inspect.signature(DeferredRefreshableCredentials).parameters
    expect(
        {"refresh_using", "method"} <= set(params),
        "DeferredRefreshableCredentials() no longer takes refresh_using / method",
        "set_refresh_windows",
    )
    fetched: list[int] = []

    def refresh() -> dict[str, str]:
        fetched.append(1)
        expiry = datetime.now(UTC) + timedelta(seconds=100)
        return {
            "access_key": f"AKIA{len(fetched):016d}",
            "secret_key": "s",
            "token": "t",
            "expiry_time": expiry.isoformat(),
        }

    creds = DeferredRefreshableCredentials(refresh_using=refresh, method="assume-role")
    require(creds, "_time_fetcher", "credentials_time")
    now = _botocore.credentials_time(creds)
    expect(
        isinstance(now, datetime) and now.tzinfo is not None,
        "RefreshableCredentials._time_fetcher() does not return an aware datetime",
        "credentials_time",
    )
    creds.get_frozen_credentials()
    assert len(fetched) == 1
    # 100 s left: with windows of 30 / 20 s nothing is renewed ...
    _botocore.set_refresh_windows(creds, advisory_s=30, mandatory_s=20)
    creds.get_frozen_credentials()
    expect(
        len(fetched) == 1,
        "credentials were renewed outside the refresh windows set on "
        "_advisory_refresh_timeout / _mandatory_refresh_timeout",
        "set_refresh_windows",
    )
    # ... with a mandatory window of 150 s they are
    _botocore.set_refresh_windows(creds, advisory_s=200, mandatory_s=150)
    creds.get_frozen_credentials()
    expect(
        len(fetched) == 2,
        "_mandatory_refresh_timeout no longer decides when credentials are renewed",
        "set_refresh_windows",
    )


def test_role_credentials_scale_their_windows_to_a_short_session() -> None:
    expiry = datetime.now(UTC) + timedelta(seconds=400)

    def fetch() -> dict[str, str]:
        return {"access_key": "AKIA", "secret_key": "s", "token": "t",
                "expiry_time": expiry.isoformat()}  # fmt: skip

    creds = fleet._RoleCredentials(fetch)
    creds.get_frozen_credentials()
    assert 90 <= creds._advisory_refresh_timeout <= 100  # noqa: SLF001 - a quarter of ~400 s
    assert 45 <= creds._mandatory_refresh_timeout <= 50  # noqa: SLF001 - an eighth


def test_assume_role_fetcher_takes_a_client_creator_and_no_cache() -> None:
    params = inspect.signature(AssumeRoleCredentialFetcher).parameters
    expect(
        {"client_creator", "source_credentials", "role_arn", "extra_args", "cache"} <= set(params),
        "AssumeRoleCredentialFetcher() changed its parameters",
        "(invoicekit.fleet.Fleet._role_session)",
    )
    calls: list[dict] = []

    class FakeSts:
        def assume_role(self, **kwargs: Any) -> dict:
            calls.append(kwargs)
            return {
                "Credentials": {
                    "AccessKeyId": "AKIAROLE",
                    "SecretAccessKey": "s",
                    "SessionToken": "t",
                    "Expiration": datetime.now(UTC) + timedelta(hours=1),
                },
                "AssumedRoleUser": {"Arn": "arn:aws:sts::222222222222:assumed-role/R/x"},
            }

    fetcher = AssumeRoleCredentialFetcher(
        client_creator=lambda service, **_: FakeSts(),
        source_credentials=Credentials("AKIASOURCE", "s"),
        role_arn="arn:aws:iam::222222222222:role/R",
        extra_args={"RoleSessionName": "invoicekit-222222222222", "ExternalId": "e-1"},
        cache=fleet._NoCache(),
    )
    first, second = fetcher.fetch_credentials(), fetcher.fetch_credentials()
    assert first["access_key"] == "AKIAROLE" and "expiry_time" in first
    expect(
        len(calls) == 2 and calls[0]["ExternalId"] == "e-1",
        "AssumeRoleCredentialFetcher cached despite the never-holding cache, or dropped extra_args",
        "(invoicekit.fleet.Fleet._role_session)",
    )
    assert second["access_key"] == "AKIAROLE"
    assert calls[0]["RoleSessionName"] == "invoicekit-222222222222"


# ------------------------------------------------------------------------------------------------
# Configured endpoints.
# ------------------------------------------------------------------------------------------------


def test_configured_endpoint_follows_environment_and_profile(monkeypatch, tmp_path) -> None:
    session = boto3.Session()
    assert _botocore.configured_endpoint(session, "invoicing") is None
    monkeypatch.setenv("AWS_ENDPOINT_URL_INVOICING", "http://127.0.0.2:4510")
    expect(
        _botocore.configured_endpoint(boto3.Session(), "invoicing") == "http://127.0.0.2:4510",
        "ConfiguredEndpointProvider ignores AWS_ENDPOINT_URL_<SERVICE>",
        "configured_endpoint",
    )
    assert _botocore.configured_endpoint(boto3.Session(), "sts") is None
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert _botocore.configured_endpoint(boto3.Session(), "invoicing") is None
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
    monkeypatch.delenv("AWS_ENDPOINT_URL_INVOICING")
    cfg = tmp_path / "config"
    cfg.write_text("[profile local]\nendpoint_url = http://127.0.0.1:4599\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(cfg))
    expect(
        _botocore.configured_endpoint(boto3.Session(profile_name="local"), "sts")
        == "http://127.0.0.1:4599",
        "ConfiguredEndpointProvider ignores a profile's endpoint_url",
        "configured_endpoint",
    )


# ------------------------------------------------------------------------------------------------
# Event hooks: before-send per attempt, needs-retry's response, after-call's http_response.
# ------------------------------------------------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def _answer(status: int, body: bytes):
    """A before-send handler that answers instead of the network (as botocore allows)."""

    def handler(request: Any = None, **_: Any) -> AWSResponse:
        return AWSResponse(
            request.url, status, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body)
        )

    return handler


def test_hooks_see_every_attempt_and_its_answer(monkeypatch) -> None:
    import botocore.retries.standard as standard

    # botocore's back-off without its sleeps: retry behaviour, not wall time
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.0)
    client = boto3.Session().client(
        "invoicing",
        region_name="us-east-1",
        # max_attempts here: retries after the first try (4 attempts in all)
        config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    events = client.meta.events
    sends: list[int] = []
    answers: list[Any] = []
    bodies: list[bytes] = []
    events.register("before-send.invoicing", lambda **_: sends.append(1))
    throttle = b'{"__type": "ThrottlingException", "message": "slow down"}'
    events.register("before-send.invoicing", _answer(400, throttle))
    events.register(
        "needs-retry.invoicing",
        lambda response=None, **_: answers.append(_botocore.answer_error_code(response)),
    )
    events.register(
        "after-call.invoicing",
        lambda http_response=None, **_: bodies.append(_botocore.response_body(http_response)),
    )
    with pytest.raises(ClientError) as info:
        client.list_invoice_summaries(
            Selector={"ResourceType": "ACCOUNT_ID", "Value": "111111111111"},
            Filter={"BillingPeriod": {"Month": 1, "Year": 2025}},
        )
    expect(
        len(sends) == 4,
        f"before-send fired {len(sends)} times for 4 attempts",
        "(invoicekit.access.AccountAccess pacing hooks)",
    )
    expect(
        answers == ["ThrottlingException"] * 4,
        f"needs-retry's response no longer carries the parsed error: {answers}",
        "answer_error_code",
    )
    meta = info.value.response["ResponseMetadata"]
    expect(
        meta.get("RetryAttempts") == 3,
        "ClientError.response['ResponseMetadata']['RetryAttempts'] is gone or wrong "
        "(the loader counts API calls with it)",
        "(invoicekit.loader api_calls)",
    )
    assert bodies == [throttle]  # after-call runs once, with the final answer's raw body


def test_answer_error_code_shapes() -> None:
    assert _botocore.answer_error_code(None) is None
    assert _botocore.answer_error_code((object(), {"ResponseMetadata": {}})) == ""
    assert _botocore.answer_error_code((object(), {"Error": {"Code": "SlowDown"}})) == "SlowDown"
    assert _botocore.answer_error_code((object(), {"Error": {"Message": "?"}})) == "Unknown"
    assert _botocore.response_body(None) == b""
    resp = AWSResponse("http://x", 200, {}, _Raw(b"{}"))
    assert _botocore.response_body(resp) == b"{}"


def test_what_the_lean_client_takes_from_botocore() -> None:
    """invoicekit._lean relies on: the service model's signing name, target prefix, the
    ListInvoiceSummaries output shape (records and their timestamps), the modeled errors,
    ``botocore.httpsession.get_cert_path`` and botocore's unsigned-header list."""
    import boto3
    import botocore.auth
    from botocore.httpsession import get_cert_path

    from invoicekit import _lean

    model = (
        boto3.Session(region_name="us-east-1")
        .client("invoicing", aws_access_key_id="a", aws_secret_access_key="b")
        .meta.service_model
    )
    lean = _lean._Model(model)
    assert lean.signing_name == "invoicing" and lean.target_prefix == "Invoicing"
    assert model.protocol == "json" and model.metadata.get("jsonVersion") == "1.0"
    assert lean.lists["ListInvoiceSummaries"] == "InvoiceSummaries"
    assert set(lean.timestamps["ListInvoiceSummaries.item"]) >= {"IssuedDate", "DueDate"}
    assert {"ThrottlingException", "AccessDeniedException"} <= set(lean.errors)
    assert get_cert_path(True)
    assert frozenset(botocore.auth.SIGNED_HEADERS_BLACKLIST) == _lean._UNSIGNED_HEADERS
