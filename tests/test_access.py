"""The AWS access layer: AccountAccess, Fleet.client, pacing hooks; no import cycle anywhere."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import invoicekit
from invoicekit import _client
from invoicekit.access import AccountAccess, Pacer
from invoicekit.errors import InvalidArgumentError
from invoicekit.fleet import Fleet, load_fleet

PACKAGE = Path(invoicekit.__file__).parent


# ------------------------------------------------------------------------------------------------
# AccountAccess without a server.
# ------------------------------------------------------------------------------------------------


def test_endpoint_override_is_passed_explicitly_to_the_factory(monkeypatch) -> None:
    fleet = Fleet.from_accounts(
        ["111111111111", {"id": "222222222222", "endpoint_url": "http://127.0.0.9:1"}],
        endpoint_url="http://127.0.0.8:1",
    )
    seen: list[tuple[str, str | None]] = []
    real = _client.client

    def spy(session, service, **kwargs):
        seen.append((service, kwargs.get("endpoint_url")))
        return real(session, service, **kwargs)

    monkeypatch.setattr(_client, "client", spy)
    one, two = AccountAccess(fleet, "111111111111"), AccountAccess(fleet, "222222222222")
    assert (one.endpoint_url, two.endpoint_url) == ("http://127.0.0.8:1", "http://127.0.0.9:1")
    assert one.client().meta.endpoint_url == "http://127.0.0.8:1"
    assert one.client("sts").meta.endpoint_url == "http://127.0.0.8:1"
    assert two.client().meta.endpoint_url == "http://127.0.0.9:1"
    assert seen == [
        ("invoicing", "http://127.0.0.8:1"),
        ("sts", "http://127.0.0.8:1"),
        ("invoicing", "http://127.0.0.9:1"),
    ]


def test_no_override_leaves_the_endpoint_to_aws() -> None:
    access = AccountAccess(Fleet.from_accounts(["111111111111"]), "111111111111")
    assert access.endpoint_url is None
    assert access.client().meta.endpoint_url.startswith("https://invoicing.")


def test_clients_are_cached_per_account_and_service() -> None:
    fleet = Fleet.from_accounts(["111111111111", "222222222222"], endpoint_url="http://127.0.0.1:9")
    a = AccountAccess(fleet, "111111111111")
    made: list[object] = []
    barrier = threading.Barrier(6)

    def grab() -> None:
        barrier.wait()
        made.append(a.client())

    threads = [threading.Thread(target=grab) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in made}) == 1
    # the same client through the fleet and through a second AccountAccess of the account
    assert fleet.client("111111111111") is made[0]
    assert AccountAccess(fleet, fleet.accounts[0]).client() is made[0]
    assert a.client("sts") is not made[0]
    assert a.client("sts") is fleet.client("111111111111", "sts")
    assert AccountAccess(fleet, "222222222222").client() is not made[0]
    # options are part of the key
    other = a.client(max_pool_connections=5, retry_mode="standard", max_attempts=2)
    assert other is not made[0]
    assert other.meta.config.max_pool_connections == 5
    assert other.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert a.session() is fleet.session_for("111111111111")


def test_paced_clients_are_the_accounts_own_and_plain_ones_carry_no_hooks() -> None:
    fleet = Fleet.from_accounts(["111111111111"], endpoint_url="http://127.0.0.1:9")
    paced = AccountAccess(fleet, "111111111111", rate_per_account=5)
    assert isinstance(paced.pacer, Pacer) and paced.pacer.rate == 5.0
    c = paced.client(paced=True)
    assert c is paced.client(paced=True)
    assert c is not fleet.client("111111111111")  # the shared client stays unpaced
    assert c.meta.endpoint_url == "http://127.0.0.1:9"
    # without a rate, paced=True is the plain client
    plain = AccountAccess(fleet, "111111111111")
    assert plain.pacer is None and plain.client(paced=True) is fleet.client("111111111111")


def test_a_second_run_on_the_same_fleet_reuses_the_paced_client_with_its_own_pacer() -> None:
    fleet = Fleet.from_accounts(["111111111111"], endpoint_url="http://127.0.0.1:9")
    first = AccountAccess(fleet, "111111111111", rate_per_account=5)
    c = first.client(paced=True)
    second = AccountAccess(fleet, "111111111111", rate_per_account=2)
    assert second.client(paced=True) is c  # no new client for a warm run
    before = (first.pacer.tokens, second.pacer.tokens)
    c.meta.events.emit("before-send.invoicing.ListInvoiceSummaries", request=None)
    # the hooks follow the newest run's pacer: it gave a token, the first run's did not
    assert first.pacer.tokens == before[0] and second.pacer.tokens < before[1]
    other = Fleet.from_accounts(["111111111111"], endpoint_url="http://127.0.0.1:9")
    assert AccountAccess(other, "111111111111", rate_per_account=5).client(paced=True) is not c


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"rate_per_account": 0.1}, "rate_per_account=0.1 must be a number"),
        ({"rate_per_account": True}, "rate_per_account=True"),
        ({"burst": 0}, "burst=0 must be a number >= 1"),
    ],
)
def test_bad_options_name_the_parameter(kwargs, fragment) -> None:
    fleet = Fleet.from_accounts(["111111111111"])
    with pytest.raises(InvalidArgumentError, match=fragment):
        AccountAccess(fleet, "111111111111", **kwargs)


def test_an_account_outside_the_fleet_is_a_config_error() -> None:
    from invoicekit.errors import ConfigError

    with pytest.raises(ConfigError, match="999999999999 is not in the fleet"):
        AccountAccess(Fleet.from_accounts(["111111111111"]), "999999999999")


def test_pacer_bucket_halves_on_throttling_and_recovers() -> None:
    p = Pacer(4.0, 2)
    assert p.acquire() == 0.0 and p.acquire() == 0.0
    assert p.acquire() > 0  # the bucket is empty: the third request waits
    p.note((None, {"Error": {"Code": "ThrottlingException"}}))
    assert p.rate == 2.0 and p.tokens <= 0
    p.note((None, {"Error": {"Code": "AccessDeniedException"}}))  # not a throttle: no change
    assert p.rate == 2.0
    p.note(None)  # a connection error: no answer
    assert p.rate == 2.0
    p.note((None, {"ResponseMetadata": {}}))  # a success wins back 5 % of the configured rate
    assert p.rate == pytest.approx(2.2)
    for _ in range(100):
        p.succeeded()
    assert p.rate == 4.0
    for _ in range(10):
        p.throttled()
    assert p.rate == 0.5  # never below MIN_RATE_PER_ACCOUNT


def test_pacer_task_reservation_is_settled_by_the_first_send_or_cancelled() -> None:
    p = Pacer(10.0, 1)
    p.dispatched()
    assert p.pending == 1 and p.due_in() > 0  # the reserved token is spoken for
    with p.task():
        p.wait()  # the first send settles the reservation
        assert p.pending == 0
        p.wait()  # later sends (pages, retries) only take tokens
        assert p.pending == 0
    p.dispatched()
    with p.task():
        pass  # ended before sending anything
    assert p.pending == 0


# ------------------------------------------------------------------------------------------------
# Against the sandbox: the pacing hooks really pace and really slow down on throttling.
# ------------------------------------------------------------------------------------------------


def _list(client, account_id: str) -> dict:
    return client.list_invoice_summaries(
        Selector={"ResourceType": "ACCOUNT_ID", "Value": account_id},
        Filter={"BillingPeriod": {"Month": 10, "Year": 2026}},
    )


def test_sandbox_paced_client_takes_a_token_per_request(sandbox, monkeypatch) -> None:
    fleet = load_fleet(sandbox.fleet_config)
    acct = fleet.accounts[0]
    access = AccountAccess(fleet, acct, rate_per_account=5, burst=2)
    sleeps: list[float] = []
    monkeypatch.setattr("invoicekit.access.time.sleep", sleeps.append)
    client = access.client(paced=True)
    for _ in range(4):
        assert _list(client, acct.id)["InvoiceSummaries"]
    # a burst of 2, then the 3rd and 4th requests waited for the bucket (sleep recorded, not slept)
    assert len(sleeps) == 2 and all(s > 0 for s in sleeps)
    assert access.pacer.tokens < 0
    # the account's plain client is not paced
    sleeps.clear()
    for _ in range(3):
        _list(access.client(), acct.id)
    assert sleeps == []


def test_sandbox_throttling_answers_halve_the_accounts_rate(make_sandbox, monkeypatch) -> None:
    from botocore.exceptions import ClientError

    from invoicekit.sandbox import Faults

    sb = make_sandbox(
        accounts=2, months=2, faults=Faults(throttle_rate=1.0, operations=["ListInvoiceSummaries"])
    )
    monkeypatch.setattr("invoicekit.access.time.sleep", lambda s: None)
    fleet = load_fleet(sb.fleet_config)
    acct, other = fleet.accounts
    access = AccountAccess(fleet, acct, rate_per_account=8)
    client = access.client(paced=True, retry_mode="standard", max_attempts=2)
    with pytest.raises(ClientError) as info:
        _list(client, acct.id)
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    sent = sum(sb.stats()["requests"]["ListInvoiceSummaries"].values())
    assert sent == 3  # 1 try + 2 retries, each sent through the pacer
    assert access.pacer.rate == 1.0  # halved three times: 8 -> 4 -> 2 -> 1
    # the other account's pacer is its own
    assert AccountAccess(fleet, other, rate_per_account=8).pacer.rate == 8.0


def test_sandbox_fleet_counts_assume_role_calls(make_sandbox) -> None:
    sb = make_sandbox(accounts=3, months=2)
    fleet = load_fleet(sb.fleet_config)
    assert fleet.assume_role_calls == 0
    for acct in fleet:
        assert _list(AccountAccess(fleet, acct).client(), acct.id)["InvoiceSummaries"]
    assumed = sum(sb.stats()["requests"].get("AssumeRole", {}).values())
    assert assumed >= 1 and fleet.assume_role_calls == assumed


# ------------------------------------------------------------------------------------------------
# No import cycle among invoicekit modules.
# ------------------------------------------------------------------------------------------------


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """invoicekit modules ``name`` imports when it is imported (not in functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def resolve(module: str | None, level: int) -> str | None:
        if level == 0:
            return module
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - (level - 1)]
        return ".".join(base + ([module] if module else []))

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                target = resolve(node.module, node.level)
                if target is None:
                    continue
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.With):
                visit(node.body)
            # def / class bodies run later (functions) or are skipped: a class body runs at
            # import time, but nothing in invoicekit imports there

    visit(tree.body)
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    # importing an ancestor package that is being initialised is not a cycle (Python allows it)
    return {m for m in found if m in known and m != name and m not in ancestors}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                walk(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [])
    return cycles


def test_no_import_cycle_among_invoicekit_modules() -> None:
    modules = _modules()
    known = set(modules)
    graph = {name: _module_level_imports(name, path, known) for name, path in modules.items()}
    assert "invoicekit.access" in graph["invoicekit.loader"]  # the checker sees real imports
    assert _cycles(graph) == [], "import cycles: " + "; ".join(
        " -> ".join(c) for c in _cycles(graph)
    )
    # the store does not import the loader at all, at module level or later
    store_imports = {
        n.module
        for n in ast.walk(ast.parse(modules["invoicekit.store"].read_text()))
        if isinstance(n, ast.ImportFrom)
    }
    assert "invoicekit.loader" not in store_imports


_FORK_EACH = r"""
import importlib, json, os, sys
# third-party packages first, so that each child below only imports invoicekit modules
for dep in ("pandas", "pyarrow", "boto3", "botocore.session", "yaml", "plotly.graph_objects"):
    try:
        importlib.import_module(dep)
    except ImportError:
        pass
assert not [m for m in sys.modules if m.startswith("invoicekit")]
failed = {}
for name in json.loads(sys.argv[1]):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a fresh start for invoicekit: nothing of it imported yet
        os.close(read)
        try:
            importlib.import_module(name)
            message = b""
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            message = repr(exc).encode()
        os.write(write, message)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        message = f.read()
    os.waitpid(pid, 0)
    if message:
        failed[name] = message.decode()
print(json.dumps(failed))
"""


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each module imported first, alone: a cycle would fail for some entry point."""
    names = sorted(m for m in _modules() if not m.endswith("__main__"))
    out = subprocess.run(
        [sys.executable, "-c", _FORK_EACH, json.dumps(names)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=PACKAGE.parent,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {}
