"""Fleet configuration, per-account sessions and the client factory.

Validation errors must name the file and the exact line; sessions must honour the standard AWS
configuration (profiles, SSO, env endpoints) and assume roles with ExternalId and refreshable
credentials. Integration tests run against the sandbox.
"""

from __future__ import annotations

import os
import textwrap
import threading
import time
from pathlib import Path

import boto3
import pytest

import invoicekit
from invoicekit import _client
from invoicekit.errors import ConfigError
from invoicekit.fleet import (
    ACCOUNT_KEYS,
    TOP_LEVEL_KEYS,
    Fleet,
    PayerAccount,
    load_fleet,
    role_session_name,
)

AWS_CONFIG = """\
[default]
region = us-east-1

[profile retail]
region = eu-west-1

[profile org]
region = us-east-1

[profile local]
region = us-east-1
endpoint_url = http://127.0.0.1:4599

[profile sso-dev]
sso_session = corp
sso_account_id = 111111111111
sso_role_name = InvoiceReader
region = us-east-1

[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1
"""

AWS_CREDENTIALS = """\
[retail]
aws_access_key_id = AKIARETAILRETAIL0001
aws_secret_access_key = retail-secret

[org]
aws_access_key_id = AKIAORGORGORGORG0001
aws_secret_access_key = org-secret

[local]
aws_access_key_id = AKIALOCALLOCALLO0001
aws_secret_access_key = local-secret
"""


@pytest.fixture
def aws_files(tmp_path: Path) -> Path:
    """A folder with an AWS config and credentials file (fleet files go next to them)."""
    (tmp_path / "aws-config").write_text(AWS_CONFIG)
    (tmp_path / "aws-credentials").write_text(AWS_CREDENTIALS)
    return tmp_path


def write(folder: Path, text: str, name: str = "fleet.yml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


HEADER = "aws_config_file: aws-config\naws_shared_credentials_file: aws-credentials\n"

# (name, YAML, expected line, fragments the message must contain)
INVALID = [
    (
        "unknown top-level key",
        'accounts:\n  - id: "111111111111"\nacount_defaults: {}\n',
        3,
        ["unknown key 'acount_defaults'", *TOP_LEVEL_KEYS],
    ),
    (
        "unknown account key",
        'accounts:\n  - id: "111111111111"\n    name: Retail\n    profle: retail\n',
        4,
        ["unknown key 'profle'", *ACCOUNT_KEYS],
    ),
    (
        "missing accounts",
        "defaults:\n  region: us-east-1\n",
        1,
        ["missing 'accounts'"],
    ),
    (
        "empty accounts",
        "accounts: []\n",
        1,
        ["non-empty list"],
    ),
    (
        "unquoted id",
        "accounts:\n  - name: Retail\n    id: 111111111111\n",
        3,
        ["quoted string", 'id: "111111111111"'],
    ),
    (
        "unquoted id with leading zeros",
        "accounts:\n  - id: 000000000123\n",
        2,
        ["quoted string", 'id: "000000000123"', "83"],
    ),
    (
        "id not 12 digits",
        'accounts:\n  - id: "11111111111"\n',
        2,
        ["'11111111111'", "12 digits"],
    ),
    (
        "duplicate id",
        'accounts:\n  - id: "111111111111"\n  - id: "222222222222"\n  - id: "111111111111"\n',
        4,
        ["111111111111", "twice", "line 2"],
    ),
    (
        "profile and role_arn",
        HEADER + 'accounts:\n  - id: "111111111111"\n    profile: retail\n'
        "    role_arn: arn:aws:iam::111111111111:role/InvoiceReader\n",
        6,
        ["either 'profile' or 'role_arn'"],
    ),
    (
        "malformed role ARN",
        'accounts:\n  - id: "111111111111"\n    role_arn: arn:aws:iam::1111:InvoiceReader\n',
        3,
        ["not an IAM role ARN", "arn:aws:iam::1111:InvoiceReader"],
    ),
    (
        "external_id without role_arn",
        'accounts:\n  - id: "111111111111"\n    external_id: finops-2026\n',
        3,
        ["'external_id' is only used with 'role_arn'"],
    ),
    (
        "source_profile without role_arn",
        HEADER + 'accounts:\n  - id: "111111111111"\n    source_profile: org\n',
        5,
        ["'source_profile' is only used with 'role_arn'"],
    ),
    (
        "unknown profile",
        HEADER + 'accounts:\n  - id: "111111111111"\n    name: Retail\n    profile: retial\n',
        6,
        ["profile 'retial' not found", "aws-config", "retail"],
    ),
    (
        "unknown source_profile",
        HEADER + 'accounts:\n  - id: "111111111111"\n'
        "    role_arn: arn:aws:iam::111111111111:role/InvoiceReader\n"
        "    source_profile: orgg\n",
        6,
        ["source_profile 'orgg' not found", "aws-config"],
    ),
    (
        "YAML syntax error",
        'accounts:\n  - id: "111111111111"\n    name: [Retail\n  - id: "222222222222"\n',
        4,
        ["YAML syntax error"],
    ),
    (
        "duplicate key in a mapping",
        'accounts:\n  - id: "111111111111"\n    name: A\n    name: B\n',
        4,
        ["'name' appears twice", "line 3"],
    ),
    (
        "aws_config_file that does not exist",
        'aws_config_file: missing.cfg\naccounts:\n  - id: "111111111111"\n',
        1,
        ["aws_config_file 'missing.cfg'", "no such file"],
    ),
    (
        "unknown defaults key",
        'defaults:\n  region: us-east-1\n  concurrency: 4\naccounts:\n  - id: "111111111111"\n',
        3,
        ["unknown key 'concurrency'", "max_concurrency"],
    ),
    (
        "max_concurrency not positive",
        'defaults:\n  max_concurrency: 0\naccounts:\n  - id: "111111111111"\n',
        2,
        ["max_concurrency must be a positive integer"],
    ),
    (
        "endpoint_url not a URL",
        'accounts:\n  - id: "111111111111"\n    endpoint_url: localhost:4566\n',
        3,
        ["endpoint_url 'localhost:4566'"],
    ),
    ("top level is a list", '- id: "111111111111"\n', 1, ["expected a mapping"]),
    ("empty file", "", 1, ["empty"]),
    ("account entry is a list", "accounts:\n  - [1, 2]\n", 2, ["accounts[0] must be a mapping"]),
]


@pytest.mark.parametrize(
    ("text", "line", "fragments"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_fleet_is_refused_with_file_line_and_problem(
    aws_files: Path, text: str, line: int, fragments: list[str]
) -> None:
    path = aws_files / "fleet.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_fleet(path)
    err = info.value
    assert err.path == str(path)
    assert err.line == line, str(err)
    assert str(err).startswith(f"{path}:{line}: ")
    for fragment in fragments:
        assert fragment in str(err)
    assert "\n" not in str(err)


def test_missing_fleet_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fleet file not found") as info:
        load_fleet(tmp_path / "nope.yml")
    assert info.value.path == str(tmp_path / "nope.yml")


def test_issue_example_loads_with_every_key(aws_files: Path) -> None:
    path = write(
        aws_files,
        """\
        # the issue's example, plus every optional key
        aws_config_file: aws-config
        aws_shared_credentials_file: aws-credentials
        defaults:
          region: eu-central-1
          max_concurrency: 8
        accounts:
          - id: "111111111111"
            name: Retail EU
            profile: retail
          - id: "222222222222"
            name: Payments
            role_arn: arn:aws:iam::222222222222:role/InvoiceReader
            external_id: finops-2026
            source_profile: org
            region: us-east-1
          - id: "333333333333"
            endpoint_url: http://127.0.0.1:4566
          - "444444444444"
        """,
    )
    fleet = load_fleet(path)
    assert fleet.accounts == (
        PayerAccount("111111111111", "Retail EU", profile="retail"),
        PayerAccount(
            "222222222222",
            "Payments",
            role_arn="arn:aws:iam::222222222222:role/InvoiceReader",
            external_id="finops-2026",
            source_profile="org",
            region="us-east-1",
        ),
        PayerAccount("333333333333", endpoint_url="http://127.0.0.1:4566"),
        PayerAccount("444444444444"),
    )
    assert [a.credential_source for a in fleet] == ["profile", "role", "default", "default"]
    assert fleet.config_file == str(aws_files / "aws-config")
    assert fleet.credentials_file == str(aws_files / "aws-credentials")
    assert fleet.max_concurrency == 8
    assert fleet.region_for("111111111111") == "eu-central-1"
    assert fleet.region_for("222222222222") == "us-east-1"
    assert fleet.account_names == {"111111111111": "Retail EU", "222222222222": "Payments"}
    assert fleet.account_ids == ["111111111111", "222222222222", "333333333333", "444444444444"]


def test_relative_aws_files_resolve_against_the_fleet_folder(
    aws_files: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(aws_files, HEADER + 'accounts:\n  - id: "111111111111"\n    profile: retail\n')
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    fleet = load_fleet(Path(os.path.relpath(path)))
    assert fleet.config_file == str(aws_files / "aws-config")
    creds = fleet.session_for("111111111111").get_credentials()
    assert creds.access_key == "AKIARETAILRETAIL0001"


def test_profile_session_uses_the_fleet_aws_files_without_touching_environ(
    aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # else the environment's region wins (botocore)
    fleet = load_fleet(
        write(aws_files, HEADER + 'accounts:\n  - id: "111111111111"\n    profile: retail\n')
    )
    before = dict(os.environ)
    session = fleet.session_for("111111111111")
    assert os.environ == before  # AWS_CONFIG_FILE still points at the isolated /dev/null
    assert session.profile_name == "retail"
    assert session.region_name == "eu-west-1"
    frozen = session.get_credentials().get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key) == ("AKIARETAILRETAIL0001", "retail-secret")


def test_default_chain_uses_environment_credentials() -> None:
    fleet = Fleet.from_accounts(["111111111111"])
    creds = fleet.session_for("111111111111").get_credentials()
    assert creds.access_key == os.environ["AWS_ACCESS_KEY_ID"]
    assert creds.method == "env"


def test_no_credentials_is_a_config_error_naming_the_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    fleet = Fleet.from_accounts([{"id": "111111111111", "name": "Retail EU"}])
    with pytest.raises(ConfigError) as info:
        fleet.session_for("111111111111")
    msg = str(info.value)
    assert "account 111111111111 (Retail EU): no AWS credentials found" in msg
    assert "configure a profile" in msg


def test_sso_profile_gives_deferred_sso_credentials(aws_files: Path) -> None:
    fleet = load_fleet(
        write(aws_files, HEADER + 'accounts:\n  - id: "111111111111"\n    profile: sso-dev\n')
    )
    creds = fleet.session_for("111111111111").get_credentials()
    # botocore's SSO provider: nothing is fetched until first use (then `aws sso login` cache)
    assert creds.method == "sso"


def test_sessions_are_cached_per_account_and_thread_safe(aws_files: Path) -> None:
    fleet = load_fleet(
        write(
            aws_files,
            HEADER + 'accounts:\n  - id: "111111111111"\n    profile: retail\n'
            '  - id: "222222222222"\n',
        )
    )
    results: list[object] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        results.append(fleet.session_for("111111111111"))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in results}) == 1
    assert fleet.session_for("222222222222") is not results[0]
    assert fleet.session_for(fleet.accounts[0]) is results[0]


def test_a_handler_registered_on_one_account_session_stays_with_that_account(
    aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Account sessions share botocore's handlers copy-on-write: what one registers is its own."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # each profile's region, not the environment's
    fleet = load_fleet(
        write(
            aws_files,
            HEADER + 'accounts:\n  - id: "111111111111"\n    profile: retail\n'
            '  - id: "222222222222"\n    profile: org\n',
        )
    )
    first, second = (fleet.session_for(a) for a in fleet.account_ids)
    sent: list[str] = []

    def refuse(request, **_):
        sent.append(request.url)
        raise RuntimeError("stop before sending")

    first.events.register("before-send.sts", refuse)
    kw = {"aws_access_key_id": "AKIAEXAMPLEEXAMPLE00", "aws_secret_access_key": "x"}
    with pytest.raises(RuntimeError, match="stop before sending"):
        first.client("sts", **kw).get_caller_identity()
    other = second.client("sts", **kw)

    def stop_other(**_):
        raise LookupError("the other account's own handler")

    other.meta.events.register("before-send.sts", stop_other)
    with pytest.raises(LookupError):  # first's handler (registered earlier) did not run
        other.get_caller_identity()
    assert len(sent) == 1
    # each session still has its own profile's settings and credentials
    assert (first.region_name, second.region_name) == ("eu-west-1", "us-east-1")
    assert first.get_credentials().access_key != second.get_credentials().access_key


def test_unknown_account_is_refused() -> None:
    fleet = Fleet.from_accounts(["111111111111"])
    with pytest.raises(ConfigError, match="account 999999999999 is not in the fleet"):
        fleet.session_for("999999999999")


def test_from_accounts_applies_the_same_rules(aws_files: Path) -> None:
    with pytest.raises(ConfigError, match="not 12 digits"):
        Fleet.from_accounts(["12345"])
    with pytest.raises(ConfigError, match="listed twice"):
        Fleet.from_accounts(["111111111111", {"id": "111111111111"}])
    with pytest.raises(ConfigError, match="profile 'nope' not found"):
        Fleet.from_accounts(
            [{"id": "111111111111", "profile": "nope"}],
            aws_config_file=aws_files / "aws-config",
        )
    with pytest.raises(ConfigError, match="unknown key 'role'"):
        Fleet.from_accounts([{"id": "111111111111", "role": "x"}])
    fleet = Fleet.from_accounts(
        [PayerAccount("111111111111", "Retail", profile="retail"), "222222222222"],
        aws_config_file=aws_files / "aws-config",
        aws_shared_credentials_file=aws_files / "aws-credentials",
    )
    assert fleet.session_for("111111111111").get_credentials().access_key == (
        "AKIARETAILRETAIL0001"
    )


# ------------------------------------------------------------------------------------------------
# Endpoints: profile endpoint_url, AWS_ENDPOINT_URL_*, fleet endpoint_url.
# ------------------------------------------------------------------------------------------------


def test_profile_endpoint_url_reaches_invoicing_and_sts(aws_files: Path) -> None:
    fleet = load_fleet(
        write(aws_files, HEADER + 'accounts:\n  - id: "111111111111"\n    profile: local\n')
    )
    session = fleet.session_for("111111111111")
    for service in ("invoicing", "sts"):
        assert _client.client(session, service).meta.endpoint_url == "http://127.0.0.1:4599"
    assert fleet.endpoint_url_for("111111111111") == "http://127.0.0.1:4599"
    assert fleet.endpoint_host("111111111111") == "127.0.0.1"


def test_env_endpoint_override_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_INVOICING", "http://127.0.0.2:4510")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.3:4511")
    fleet = Fleet.from_accounts(["111111111111"])
    session = fleet.session_for("111111111111")
    assert _client.client(session, "invoicing").meta.endpoint_url == "http://127.0.0.2:4510"
    assert _client.client(session, "sts").meta.endpoint_url == "http://127.0.0.3:4511"
    assert fleet.endpoint_host("111111111111") == "127.0.0.2"
    assert fleet.endpoint_host("111111111111", "sts") == "127.0.0.3"


def test_no_endpoint_override_means_aws_and_no_extra_host() -> None:
    fleet = Fleet.from_accounts(["111111111111"])
    assert fleet.endpoint_host("111111111111") is None
    url = _client.client(fleet.session_for("111111111111"), "invoicing").meta.endpoint_url
    assert url.startswith("https://invoicing.")


def test_fleet_endpoint_url_applies_to_every_service_of_the_account() -> None:
    fleet = Fleet.from_accounts(
        ["111111111111", {"id": "222222222222", "endpoint_url": "http://127.0.0.9:1"}],
        endpoint_url="http://127.0.0.8:1",
    )
    assert fleet.client("111111111111").meta.endpoint_url == "http://127.0.0.8:1"
    assert fleet.client("111111111111", "sts").meta.endpoint_url == "http://127.0.0.8:1"
    assert fleet.client("222222222222").meta.endpoint_url == "http://127.0.0.9:1"
    assert fleet.endpoint_url_for("111111111111") == "http://127.0.0.8:1"
    assert fleet.endpoint_host("222222222222") == "127.0.0.9"
    # the override travels with the fleet's clients, not in a table keyed by the session: a
    # client made from the bare session follows the standard AWS configuration
    bare = _client.client(fleet.session_for("111111111111"), "invoicing")
    assert bare.meta.endpoint_url.startswith("https://invoicing.")
    assert not hasattr(_client, "set_session_endpoint")
    assert not hasattr(_client, "_ENDPOINTS")


# ------------------------------------------------------------------------------------------------
# The client factory.
# ------------------------------------------------------------------------------------------------


def test_client_factory_configuration() -> None:
    session = boto3.Session()
    c = _client.client(session, "invoicing", account_id="111111111111", max_pool_connections=7)
    cfg = c.meta.config
    # botocore: max_attempts=10 means 10 retries, i.e. 11 attempts in total
    assert cfg.retries == {"mode": "adaptive", "total_max_attempts": 11}
    assert cfg.max_pool_connections == 7
    assert f"invoicekit/{invoicekit.__version__}" in cfg.user_agent_extra
    assert c.meta.region_name == "us-east-1"  # none configured anywhere
    assert cfg.connect_timeout == _client.CONNECT_TIMEOUT_S
    assert cfg.read_timeout == _client.READ_TIMEOUT_S


def test_client_region_follows_the_session() -> None:
    c = _client.client(boto3.Session(region_name="eu-west-1"), "sts")
    assert c.meta.region_name == "eu-west-1"


def test_clients_are_cached_per_session_service_endpoint_and_created_once() -> None:
    session = boto3.Session()
    made: list[object] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        made.append(_client.client(session, "invoicing"))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in made}) == 1
    assert _client.client(session, "sts") is not made[0]
    other = _client.client(session, "invoicing", endpoint_url="http://127.0.0.1:9")
    assert other is not made[0]
    assert other.meta.endpoint_url == "http://127.0.0.1:9"
    assert _client.client(boto3.Session(), "invoicing") is not made[0]


# ------------------------------------------------------------------------------------------------
# Against the sandbox: profiles, assumed roles with ExternalId, refresh, env endpoints.
# ------------------------------------------------------------------------------------------------


def _list(session, account_id: str) -> list[dict]:
    inv = _client.client(session, "invoicing", account_id=account_id)
    out = inv.list_invoice_summaries(
        Selector={"ResourceType": "ACCOUNT_ID", "Value": account_id},
        Filter={"BillingPeriod": {"Month": 10, "Year": 2026}},
    )
    return out["InvoiceSummaries"]


def test_sandbox_fleet_config_reaches_every_account(make_sandbox) -> None:
    sb = make_sandbox(accounts=3, months=2)
    fleet = load_fleet(sb.fleet_config)
    assert [a.id for a in fleet] == [a.account_id for a in sb.org.accounts]
    assert {a.credential_source for a in fleet} == {"profile", "role"}
    for acct in fleet:
        session = fleet.session_for(acct)
        who = _client.client(session, "sts").get_caller_identity()
        assert who["Account"] == acct.id
        if acct.role_arn:
            assert f"assumed-role/InvoiceReader/{role_session_name(acct.id)}" in who["Arn"]
        invoices = _list(session, acct.id)
        assert invoices and {r["AccountId"] for r in invoices} == {acct.id}
        assert fleet.endpoint_host(acct) == "127.0.0.1"
    assert sb.stats()["requests"]["AssumeRole"] == {fleet.accounts[1].id: 1}


def test_role_assumption_sends_the_external_id(make_sandbox) -> None:
    sb = make_sandbox(accounts=2, months=1)
    good = load_fleet(sb.fleet_config)
    role = next(a for a in good if a.role_arn)
    bad = Fleet.from_accounts(
        [
            {
                "id": role.id,
                "role_arn": role.role_arn,
                "external_id": "not-the-agreed-id",
                "source_profile": role.source_profile,
            }
        ],
        aws_config_file=good.config_file,
        aws_shared_credentials_file=good.credentials_file,
    )
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        _list(bad.session_for(role.id), role.id)
    assert info.value.operation_name == "AssumeRole"
    assert _list(good.session_for(role.id), role.id)


def test_assumed_role_credentials_refresh_before_expiry(make_sandbox) -> None:
    sb = make_sandbox(accounts=2, months=1, role_session_max_s=2)
    fleet = load_fleet(sb.fleet_config)
    role = next(a for a in fleet if a.role_arn)
    session = fleet.session_for(role)
    creds = session.get_credentials()
    assert _list(session, role.id)
    first = creds.get_frozen_credentials().access_key
    # the sandbox rounds expiry up to the whole second, so a 2 s session lasts at most 3 s:
    # only after that is the first role session certainly expired
    time.sleep(3.1)
    assert _list(session, role.id)  # no ExpiredToken: renewed before the call
    assert creds.get_frozen_credentials().access_key != first
    # renewed (at least once; a slow machine may renew once more near the first expiry)
    assert sb.stats()["requests"]["AssumeRole"][role.id] >= 2


def test_env_endpoint_reaches_the_sandbox_with_the_default_chain(
    make_sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = make_sandbox(accounts=1, months=1)
    acct = sb.org.accounts[0]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", acct.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", acct.secret_access_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL_INVOICING", sb.endpoint_url)
    fleet = Fleet.from_accounts([acct.account_id])
    assert _list(fleet.session_for(acct.account_id), acct.account_id)
    assert sb.stats()["requests"]["ListInvoiceSummaries"] == {acct.account_id: 1}


def test_role_from_the_default_chain_with_env_endpoints(
    make_sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = make_sandbox(accounts=2, months=1)
    org = sb.org
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", org.org_access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", org.org_secret_access_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sb.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_INVOICING", sb.endpoint_url)
    target = org.accounts[0]
    fleet = Fleet.from_accounts(
        [{"id": target.account_id, "role_arn": target.role_arn, "external_id": target.external_id}]
    )
    session = fleet.session_for(target.account_id)
    assert session.get_credentials().method == "assume-role"
    invoices = _list(session, target.account_id)
    assert invoices and {r["AccountId"] for r in invoices} == {target.account_id}
    stats = sb.stats()["requests"]
    assert stats["AssumeRole"] == {target.account_id: 1}
    assert stats["ListInvoiceSummaries"] == {target.account_id: 1}


def test_docstring_examples_run() -> None:
    import doctest

    from invoicekit import fleet

    for module in (fleet, _client):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 3 and result.failed == 0, module.__name__
