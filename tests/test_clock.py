"""Business time is a parameter: one clock module decides "now" for every part.

Three groups of tests:

- a source scan: package code outside ``invoicekit/clock.py`` and the sandbox's protocol code
  must not read the wall clock (``datetime.now()``, ``date.today()``, ``time.time()``, ...);
- the clock itself: pinned > ``INVOICEKIT_NOW`` > wall clock, errors that name the flag,
  ``pinned_for_run`` exporting and restoring the environment;
- the sandbox's default "today" is business today, in this process and in a child process.
"""

from __future__ import annotations

import ast
import os
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from invoicekit import clock
from invoicekit.errors import InvalidArgumentError

PACKAGE = Path(__file__).resolve().parents[1] / "invoicekit"

# --------------------------------------------------------------------------------------------
# The source scan
# --------------------------------------------------------------------------------------------

#: Fully qualified callables that read the wall clock. ``time.monotonic``/``perf_counter``
#: (durations) are fine; ``fromtimestamp``/``strptime`` convert a given time and are fine.
WALL_CLOCK = frozenset(
    {
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "time.time",
        "time.time_ns",
        "pandas.Timestamp.now",
        "pandas.Timestamp.utcnow",
        "pandas.Timestamp.today",
        "pandas.Period.now",
        "numpy.datetime64.now",
    }
)
#: These read the wall clock only when called without a time argument.
WALL_CLOCK_WITHOUT_ARGS = {
    "time.localtime": 0,
    "time.gmtime": 0,
    "time.ctime": 0,
    "time.asctime": 0,
    "time.strftime": 1,  # strftime(format) formats now; strftime(format, t) formats t
}

#: Files that may read the wall clock anywhere: the clock module is where business time
#: falls back to it, and ``real_now()`` is the sanctioned protocol/evidence reader.
ALLOWED_FILES = {
    "clock.py": "the clock module: business now falls back to the wall clock here",
}

#: (file, function) pairs of protocol code that must keep real time. Each entry must still
#: read the clock (see test_every_allowlist_entry_is_still_needed), so the list cannot rot.
ALLOWED = {
    ("sandbox/_auth.py", "CredentialStore.lookup"): (
        "STS session-token expiry is checked against real time, as AWS does"
    ),
    ("sandbox/_auth.py", "CredentialStore.issue"): (
        "AssumeRole credentials expire in real time (Expiration is what botocore refreshes on)"
    ),
    ("sandbox/_auth.py", "verify_sigv4"): (
        "SigV4 clock-skew check: X-Amz-Date is compared with the server's real time"
    ),
    ("sandbox/_listing.py", "InvoiceIndex.make_token"): (
        "a NextToken records its real issue time so that it can expire"
    ),
    ("sandbox/_listing.py", "InvoiceIndex.read_token"): (
        "NextToken expiry is checked against real time"
    ),
    ("sandbox/server.py", "SandboxServer.__init__"): (
        "start time for the health endpoint's uptime_s"
    ),
    ("sandbox/server.py", "_Handler._admin"): ("uptime_s in GET /_sandbox/health"),
    ("sandbox/server.py", "_Handler._get_pdf"): (
        "presigned document URLs are signed at real time and expire in real time"
    ),
    ("sandbox/server.py", "_Handler._document"): (
        "presigned-URL expiry is checked against real time (and reported as ServerTime)"
    ),
}


class _WallClockReads(ast.NodeVisitor):
    """Find references to wall-clock readers, resolving import aliases.

    ``import datetime as _dt; _dt.datetime.now()``, ``from datetime import datetime as D;
    D.now()``, ``from time import time; time()`` and ``default_factory=time.time`` (a
    reference without a call) are all found.
    """

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.scope: list[str] = []
        self.found: list[tuple[int, str, str]] = []  # (line, qualified name, function)
        self._calls: dict[int, ast.Call] = {}

    # imports anywhere (module level or inside a function) bind names for the whole file;
    # good enough for a scan, and errs on the side of finding more
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                top = a.name.split(".")[0]
                self.aliases[top] = top
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for a in node.names:
                self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        self.generic_visit(node)

    def _scoped(self, node: ast.AST, name: str) -> None:
        self.scope.append(name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, node.name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node, node.name)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._scoped(node, node.name)

    def visit_Call(self, node: ast.Call) -> None:
        self._calls[id(node.func)] = node
        self.generic_visit(node)

    def _resolve(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self._resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def _check(self, node: ast.Name | ast.Attribute) -> None:
        name = self._resolve(node)
        if name is None:
            return
        name = name.replace("pandas.core.", "pandas.").replace("pd.", "pandas.")
        call = self._calls.get(id(node))
        hit = name in WALL_CLOCK
        if name in WALL_CLOCK_WITHOUT_ARGS:
            hit = call is not None and len(call.args) <= WALL_CLOCK_WITHOUT_ARGS[name]
        if hit:
            self.found.append((node.lineno, name, ".".join(self.scope) or "<module>"))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._check(node)
        # the inner parts of a chain (`datetime.datetime`) are no readers themselves, but the
        # value may hold one: `f"{time.time()}".encode()`
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._check(node)


def wall_clock_reads(source: str) -> list[tuple[int, str, str]]:
    """``(line, qualified name, enclosing function)`` of every wall-clock read in ``source``."""
    v = _WallClockReads()
    v.visit(ast.parse(source))
    return sorted(v.found)


def _package_reads() -> list[tuple[str, int, str, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for line, name, func in wall_clock_reads(path.read_text(encoding="utf-8")):
            out.append((rel, line, name, func))
    return out


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from datetime import datetime\ndef f():\n    return datetime.now()\n",
            "datetime.datetime.now",
        ),
        ("import datetime as _dt\nx = _dt.datetime.now(_dt.UTC)\n", "datetime.datetime.now"),
        ("import datetime\nx = datetime.datetime.utcnow()\n", "datetime.datetime.utcnow"),
        ("from datetime import date as D\nx = D.today()\n", "datetime.date.today"),
        ("from datetime import datetime\nx = datetime.today()\n", "datetime.datetime.today"),
        ("import time\nx = time.time()\n", "time.time"),
        ("import time as _t\nx = _t.time_ns()\n", "time.time_ns"),
        ("from time import time\nx = time()\n", "time.time"),
        ("from time import time as now\nx = now()\n", "time.time"),
        (
            "import time\nfrom dataclasses import field\nf = field(default_factory=time.time)\n",
            "time.time",
        ),
        ("import pandas as pd\nx = pd.Timestamp.now(tz='UTC')\n", "pandas.Timestamp.now"),
        ("import time\nx = time.strftime('%Y')\n", "time.strftime"),
        ("import time\nx = time.gmtime()\n", "time.gmtime"),
        ("import time\nx = f'{time.time()}'.encode()\n", "time.time"),
        ("import time\nx = int(time.time())\n", "time.time"),
        (
            "import datetime\nx = datetime.datetime.now().date().isoformat()\n",
            "datetime.datetime.now",
        ),
    ],
)
def test_the_scan_finds_wall_clock_reads_however_imported(source, expected):
    found = wall_clock_reads(source)
    assert [name for _, name, _ in found] == [expected], found


@pytest.mark.parametrize(
    "source",
    [
        "import time\nt = time.monotonic()\nu = time.perf_counter()\ntime.sleep(0.1)\n",
        "from datetime import UTC, datetime\nx = datetime.fromtimestamp(0, UTC)\n",
        "from datetime import datetime\nx = datetime.strptime('2026', '%Y')\n",
        "import time\nx = time.gmtime(0)\ny = time.strftime('%Y', x)\n",
        "from invoicekit import clock\nx = clock.now()\ny = clock.today()\n",
        "def f(now):\n    return now.date()\n",
    ],
)
def test_the_scan_leaves_conversions_and_durations_alone(source):
    assert wall_clock_reads(source) == []


def test_the_scan_names_the_enclosing_function():
    source = "import time\nclass A:\n    def b(self):\n        return time.time()\n"
    assert wall_clock_reads(source) == [(4, "time.time", "A.b")]


def test_package_code_reads_business_time_from_the_clock_module():
    """Fails while package code outside the clock and the protocol code reads the wall clock.

    The fix for an offender: ``from invoicekit import clock`` and ``clock.now()`` /
    ``clock.today()`` for a business decision; ``clock.real_now()`` for evidence time (when a
    response was received); ``time.monotonic()`` for a duration.
    """
    offenders = [
        f"invoicekit/{rel}:{line}: {name}() in {func}"
        for rel, line, name, func in _package_reads()
        if rel not in ALLOWED_FILES and (rel, func) not in ALLOWED
    ]
    assert not offenders, (
        "package code reads the wall clock for what may be a business decision; use "
        "invoicekit.clock (now()/today(), real_now() for evidence, time.monotonic() for "
        "durations) or, for protocol time, add the (file, function) to ALLOWED in "
        "tests/test_clock.py with the reason:\n  " + "\n  ".join(offenders)
    )


def test_every_allowlist_entry_is_still_needed():
    used = {(rel, func) for rel, _, _, func in _package_reads()}
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"these ALLOWED entries read no clock any more; remove them: {stale}"
    files = {rel for rel, *_ in _package_reads()}
    assert set(ALLOWED_FILES) <= files


def test_the_allowlist_holds_protocol_code_only():
    # a business module must never be allowlisted wholesale or by function
    assert set(ALLOWED_FILES) == {"clock.py"}
    assert {rel for rel, _ in ALLOWED} <= {
        "sandbox/_auth.py",
        "sandbox/_listing.py",
        "sandbox/server.py",
    }
    assert all(reason.strip() for reason in ALLOWED.values())


# --------------------------------------------------------------------------------------------
# The clock
# --------------------------------------------------------------------------------------------


@pytest.fixture
def no_pin(monkeypatch):
    """No pinned time and no INVOICEKIT_NOW, whatever the run's environment says."""
    monkeypatch.delenv(clock.ENV, raising=False)
    monkeypatch.setattr(clock, "_pinned", None)
    return monkeypatch


def test_pinned_beats_the_environment_which_beats_the_wall_clock(no_pin):
    real = datetime.now(UTC)  # the test's own reference, not a business decision
    got = clock.now()
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert abs((got - real).total_seconds()) < 60

    no_pin.setenv(clock.ENV, "2031-02-03T04:05:06Z")
    assert clock.now() == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert clock.today() == date(2031, 2, 3)

    with clock.pinned("2026-11-05") as at:
        assert at == datetime(2026, 11, 5, tzinfo=UTC)
        assert clock.now() == at
        assert clock.today() == date(2026, 11, 5)
        with clock.pinned("2020-01-01T23:59:59Z"):
            assert clock.today() == date(2020, 1, 1)
        assert clock.today() == date(2026, 11, 5)
        # pinned() is this process only: the environment is left as it was
        assert os.environ[clock.ENV] == "2031-02-03T04:05:06Z"
    assert clock.now() == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_pinned_restores_the_earlier_pin_after_an_exception(no_pin):
    with pytest.raises(RuntimeError), clock.pinned("2026-11-05"):
        raise RuntimeError("boom")
    assert clock._pinned is None


def test_real_now_ignores_pins_and_the_environment(no_pin):
    no_pin.setenv(clock.ENV, "2031-02-03")
    with clock.pinned("2020-01-01"):
        assert abs((clock.real_now() - datetime.now(UTC)).total_seconds()) < 60


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-05", datetime(2026, 11, 5, tzinfo=UTC)),
        (" 2026-11-05 ", datetime(2026, 11, 5, tzinfo=UTC)),
        ("2026-11-05T09:30:00Z", datetime(2026, 11, 5, 9, 30, tzinfo=UTC)),
        ("2026-11-05T09:30:00", datetime(2026, 11, 5, 9, 30, tzinfo=UTC)),  # naive is UTC
        ("2026-11-05T01:30:00+02:00", datetime(2026, 11, 4, 23, 30, tzinfo=UTC)),
        (date(2026, 1, 1), datetime(2026, 1, 1, tzinfo=UTC)),
        (datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 12, tzinfo=UTC)),
        (
            datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2026, 1, 1, 17, tzinfo=UTC),
        ),
    ],
)
def test_parse_accepts_iso_dates_and_timestamps_as_utc(value, expected):
    got = clock.parse(value)
    assert got == expected
    assert got.utcoffset() == timedelta(0)


@pytest.mark.parametrize("name", ["--now", clock.ENV, "now"])
def test_parse_errors_name_the_flag_and_show_an_example(name):
    with pytest.raises(InvalidArgumentError) as err:
        clock.parse("last tuesday", name)
    message = str(err.value)
    assert message.startswith(f"{name} 'last tuesday'")
    assert "2026-11-05" in message  # the fix: an example of a valid value
    assert "\n" not in message


def test_parse_refuses_non_dates():
    with pytest.raises(InvalidArgumentError, match="--now 42"):
        clock.parse(42)


def test_a_bad_environment_value_names_the_variable(no_pin):
    no_pin.setenv(clock.ENV, "tomorrow")
    with pytest.raises(InvalidArgumentError, match=f"^{clock.ENV} 'tomorrow'"):
        clock.now()


def test_pinned_for_run_exports_for_child_processes_and_restores(no_pin):
    no_pin.setenv(clock.ENV, "2030-06-30")
    with clock.pinned_for_run("2026-11-05T09:00:00+01:00") as at:
        assert at == datetime(2026, 11, 5, 8, tzinfo=UTC)
        assert os.environ[clock.ENV] == "2026-11-05T08:00:00Z"
        assert clock.now() == at
    assert os.environ[clock.ENV] == "2030-06-30"
    assert clock._pinned is None
    assert clock.today() == date(2030, 6, 30)


def test_pinned_for_run_removes_the_variable_it_added(no_pin):
    with pytest.raises(KeyError), clock.pinned_for_run("2026-11-05"):
        assert os.environ[clock.ENV] == "2026-11-05T00:00:00Z"
        raise KeyError("boom")
    assert clock.ENV not in os.environ
    assert clock._pinned is None


def test_pinned_for_run_restores_an_outer_pin(no_pin):
    with clock.pinned("2020-02-02"), clock.pinned_for_run("2026-11-05"):
        assert clock.today() == date(2026, 11, 5)
    assert clock._pinned is None
    with clock.pinned("2020-02-02"):
        with clock.pinned_for_run("2026-11-05"):
            pass
        assert clock.today() == date(2020, 2, 2)


def test_set_now_pins_exports_and_unpins(no_pin):
    assert clock.set_now("2026-03-04") == datetime(2026, 3, 4, tzinfo=UTC)
    assert os.environ[clock.ENV] == "2026-03-04T00:00:00Z"
    assert clock.set_now("2026-05-06", export=False) == datetime(2026, 5, 6, tzinfo=UTC)
    assert os.environ[clock.ENV] == "2026-03-04T00:00:00Z"
    assert clock.today() == date(2026, 5, 6)
    assert clock.set_now(None) is None
    assert clock.ENV not in os.environ


def test_utc_iso_is_seconds_in_utc():
    t = datetime(2026, 11, 5, 10, 0, 0, 987654, tzinfo=timezone(timedelta(hours=1)))
    assert clock.utc_iso(t) == "2026-11-05T09:00:00Z"


# --------------------------------------------------------------------------------------------
# The sandbox's default "today"
# --------------------------------------------------------------------------------------------


def test_the_sandbox_default_today_is_business_today(no_pin):
    from invoicekit.sandbox.org import _parse_today, build_organization

    with clock.pinned("2027-03-15T23:00:00Z"):
        assert _parse_today(None) == date(2027, 3, 15)
        org = build_organization(accounts=1, months=2)
    assert org.today == date(2027, 3, 15)
    assert org.periods == [(2027, 1), (2027, 2)]
    no_pin.setenv(clock.ENV, "2031-02-03")
    assert _parse_today(None) == date(2031, 2, 3)
    # an explicit today still wins over business today
    assert _parse_today("2026-11-25") == date(2026, 11, 25)


def test_a_sandbox_child_process_builds_its_organization_for_invoicekit_now(no_pin):
    from invoicekit.sandbox import start

    no_pin.setenv(clock.ENV, "2029-07-04T12:00:00Z")
    with start(accounts=1, months=3, in_process=False) as sb:
        org = sb.admin("org")
        health = sb.admin("health")
    assert org["today"] == "2029-07-04"
    assert org["periods"] == ["2029-04", "2029-05", "2029-06"]
    assert health["today"] == "2029-07-04"
