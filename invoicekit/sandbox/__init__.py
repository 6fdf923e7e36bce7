"""The offline AWS Invoicing sandbox: ``start()`` it, point boto3 or the AWS CLI at it.

The sandbox speaks the real wire protocols (AWS JSON 1.0 for Invoicing, the query protocol for
STS, presigned-style document URLs), so the same code runs against it as against AWS.

Examples
--------
>>> import boto3
>>> from invoicekit.sandbox import start
>>> with start(accounts=3, months=3, today="2026-11-25") as sb:  # doctest: +SKIP
...     acct = sb.org.accounts[0]
...     client = boto3.client(
...         "invoicing", endpoint_url=sb.endpoint_url, region_name="us-east-1",
...         aws_access_key_id=acct.access_key_id, aws_secret_access_key=acct.secret_access_key)
...     client.list_invoice_summaries(
...         Selector={"ResourceType": "ACCOUNT_ID", "Value": acct.account_id},
...         Filter={"BillingPeriod": {"Month": 10, "Year": 2026}})
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import urllib.request
import weakref
from datetime import date
from pathlib import Path
from typing import Any

from invoicekit.sandbox._faults import Faults

__all__ = ["Faults", "Sandbox", "start", "write_fleet_config", "FLEET_PROFILE_PREFIX"]

#: Profiles of the written fleet config are named ``invoicekit-sandbox-<account id>``.
FLEET_PROFILE_PREFIX = "invoicekit-sandbox-"
#: Profile holding the organization identity's credentials (the AssumeRole caller).
ORG_PROFILE = "invoicekit-sandbox-org"
#: Admin calls go straight to the sandbox, never through an HTTP proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
#: How long ``start(in_process=False)`` waits for the child's endpoint line.
CHILD_START_TIMEOUT_S = 120


def write_fleet_config(path: str | os.PathLike, org, endpoint_url: str) -> Path:
    """Write a fleet YAML (plus its AWS config and credentials files) reaching every account.

    ``path`` is the YAML; ``fleet.aws-config`` and ``fleet.aws-credentials`` are written next to
    it (named after the YAML's stem). Accounts alternate between a profile with the account's
    own keys and an assumed role (``role_arn`` + ``external_id`` with the organization profile
    as ``source_profile``), so role assumption is always exercised. Every profile has
    ``region = us-east-1`` and ``endpoint_url`` (botocore's per-profile endpoint, which covers
    Invoicing and STS alike).

    Parameters
    ----------
    path : path-like
        The fleet YAML to write (parent directories are created).
    org : Organization or dict
        The organization (or its ``/_sandbox/org`` admin view).
    endpoint_url : str
        The sandbox endpoint, e.g. ``http://127.0.0.1:8780``.

    Returns
    -------
    pathlib.Path
        The YAML's path.
    """
    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.stem if path.suffix in (".yaml", ".yml") else path.name
    config_name, creds_name = f"{stem}.aws-config", f"{stem}.aws-credentials"
    if isinstance(org, dict):
        accounts = [
            (
                a["account_id"],
                a["name"],
                a["access_key_id"],
                a["secret_access_key"],
                a["role_arn"],
                a["external_id"],
            )
            for a in org["accounts"]
        ]
        org_key = org["organization"]["access_key_id"]
        org_secret = org["organization"]["secret_access_key"]
    else:
        accounts = [
            (a.account_id, a.name, a.access_key_id, a.secret_access_key, a.role_arn, a.external_id)
            for a in org.accounts
        ]
        org_key, org_secret = org.org_access_key_id, org.org_secret_access_key

    fleet_accounts: list[dict] = []
    config = [
        "# Written by `invoicekit sandbox`: fake credentials that only the sandbox accepts.",
        f"[profile {ORG_PROFILE}]",
        "region = us-east-1",
        f"endpoint_url = {endpoint_url}",
        "",
    ]
    creds = [
        "# Written by `invoicekit sandbox`: fake credentials that only the sandbox accepts.",
        f"[{ORG_PROFILE}]",
        f"aws_access_key_id = {org_key}",
        f"aws_secret_access_key = {org_secret}",
        "",
    ]
    for i, (account_id, name, key, secret, role_arn, external_id) in enumerate(accounts):
        profile = f"{FLEET_PROFILE_PREFIX}{account_id}"
        config += [f"[profile {profile}]", "region = us-east-1", f"endpoint_url = {endpoint_url}"]
        if i % 2 == 0:
            fleet_accounts.append({"id": account_id, "name": name, "profile": profile})
            creds += [
                f"[{profile}]",
                f"aws_access_key_id = {key}",
                f"aws_secret_access_key = {secret}",
                "",
            ]
        else:
            fleet_accounts.append(
                {
                    "id": account_id,
                    "name": name,
                    "role_arn": role_arn,
                    "external_id": external_id,
                    "source_profile": ORG_PROFILE,
                }
            )
            # the same role as an AWS CLI profile: `aws --profile <profile> invoicing ...`
            config += [
                f"role_arn = {role_arn}",
                f"external_id = {external_id}",
                f"source_profile = {ORG_PROFILE}",
            ]
        config.append("")
    doc = {
        "aws_config_file": config_name,
        "aws_shared_credentials_file": creds_name,
        "accounts": fleet_accounts,
    }
    header = (
        "# Written by `invoicekit sandbox`: reaches every sandbox payer account.\n"
        f"# Endpoint: {endpoint_url} (the sandbox must be running for this file to work).\n"
    )
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    (path.parent / config_name).write_text("\n".join(config))
    creds_path = path.parent / creds_name
    creds_path.write_text("\n".join(creds))
    try:
        creds_path.chmod(0o600)
    except OSError:  # pragma: no cover - e.g. some network file systems
        pass
    path.write_text(header + body)
    return path


class Sandbox:
    """A running sandbox (see :func:`start`). Use it as a context manager or call :meth:`stop`.

    Attributes
    ----------
    endpoint_url : str
        ``http://127.0.0.1:PORT``: pass as ``endpoint_url`` to boto3 or ``--endpoint-url``.
    fleet_config : pathlib.Path
        A written fleet YAML reaching every account (profiles and assumed roles).
    org : Organization or None
        The organization model (``None`` when the sandbox runs in a child process).
    workdir : pathlib.Path or None
        The sandbox's own folder (it holds the fleet config): removed when the sandbox stops,
        or when the interpreter exits. A place for files that belong to this sandbox only.
    """

    def __init__(
        self,
        *,
        endpoint_url: str,
        fleet_config: Path,
        org=None,
        server=None,
        process: subprocess.Popen | None = None,
        tmpdir: tempfile.TemporaryDirectory | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.fleet_config = fleet_config
        self.org = org
        self._server = server
        self._process = process
        self._tmpdir = tmpdir
        self.workdir = Path(tmpdir.name) if tmpdir is not None else None
        self._stopped = False
        if process is not None:  # never leave an orphan server behind a forgotten handle
            self._finalizer = weakref.finalize(self, _terminate, process)

    def __repr__(self) -> str:
        where = "in-process" if self._server is not None else "child process"
        state = "stopped" if self._stopped else "running"
        return f"<Sandbox {self.endpoint_url} {where} {state}>"

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- admin --------------------------------------------------------------------------------
    def admin(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """Call an admin endpoint (``"stats"`` or ``"/_sandbox/stats"``) and return its JSON."""
        path = path if path.startswith("/") else f"/_sandbox/{path}"
        data = None if body is None else json.dumps(body).encode()
        if data is None and method == "POST":
            data = b""
        req = urllib.request.Request(self.endpoint_url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with _DIRECT.open(req, timeout=30) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict:
        """Requests per operation and account, throttled and error counts, bytes served."""
        if self._server is not None:
            return self._server.stats()
        return self.admin("stats")

    def reset_stats(self) -> None:
        """Zero the statistics."""
        if self._server is not None:
            self._server.reset_stats()
        else:
            self.admin("reset-stats", method="POST")

    def anomalies(self) -> list[dict]:
        """The planted anomalies (empty unless started with ``anomalies=True``)."""
        if self.org is not None:
            return [dict(a) for a in self.org.anomalies]
        return self.admin("anomalies")

    def deny(self, account_id: str, denied: bool = True) -> None:
        """Answer AccessDeniedException to ``account_id``'s credentials (``denied=False`` lifts it)."""
        if self._server is not None:
            self._server.deny(account_id, denied)
        else:
            self.admin("deny", method="POST", body={"account_id": account_id, "denied": denied})

    # -- lifecycle ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the server (thread or child process) and remove the written config (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.stop()
        if self._process is not None:
            _terminate(self._process)
            if self._process.stdout is not None:
                self._process.stdout.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()


def _terminate(process: subprocess.Popen) -> None:
    """SIGTERM a child server, SIGKILL it if it has not stopped within 15 s, and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _faults_from(faults) -> Faults | None:
    if faults is None or isinstance(faults, Faults):
        return faults
    if isinstance(faults, dict):
        return Faults(**faults)
    raise TypeError(f"faults must be a Faults or a dict, got {type(faults).__name__}")


def start(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 7,
    accounts: int = 12,
    months: int = 24,
    today: date | str | None = None,
    latency_ms: float = 0.0,
    jitter_ms: float = 0.0,
    rate_limit: float | dict | list | tuple | str | None = None,
    faults: Faults | dict | None = None,
    anomalies: bool = False,
    url_lifetime_s: int = 900,
    in_process: bool = True,
    deny_accounts=(),
    role_session_max_s: float | None = None,
    access_log: bool = False,
    exports: str | os.PathLike | None = None,
    export_lines: int | None = None,
) -> Sandbox:
    """Start a sandbox and return its handle.

    Parameters
    ----------
    host, port : str, int
        Where to listen; ``port=0`` picks a free port.
    seed, accounts, months, today, anomalies
        The synthetic organization (deterministic by ``seed``; ``today`` pins "now" so the
        last billing month is the last closed month before it). ``today=None`` means business
        today (:func:`invoicekit.clock.today`), also in a child process, which inherits
        ``INVOICEKIT_NOW``.
    latency_ms, jitter_ms : float
        Added to every AWS-facing request, slept in the request's own thread.
    rate_limit : float, mapping, sequence or None
        Per-account token bucket (requests/s) on the invoicing operations; 429 beyond it.
        One rate for all accounts, ``{account_id: rate}``, or a spread assigned by account
        index, cycling (``[1, 5, 50]``).
    faults : Faults or dict or None
        Random faults (throttle, 500 errors, dropped connections, truncated documents, short
        URL lifetimes), deterministic by ``seed`` for a given request order.
    url_lifetime_s : int
        Lifetime of document URLs (default 900 s, as AWS).
    in_process : bool
        ``True``: serve on threads of this process. ``False``: run
        ``python -m invoicekit sandbox`` in a child process (benchmarks: no shared GIL).
    deny_accounts : iterable of str
        Accounts whose credentials get AccessDeniedException (see also :meth:`Sandbox.deny`).
    role_session_max_s : float or None
        Caps AssumeRole credential lifetimes so that a test can watch them refresh.
    access_log : bool
        Log one redacted line per request (logger ``invoicekit.sandbox``, INFO).
    exports : path-like, optional
        Write a CUR 2.0 and a FOCUS 1.2 cost-and-usage export per payer under this folder
        (:func:`invoicekit.sandbox.exports.write_exports`; ``anomalies`` also plants
        misalignments there). ``export_lines``: about how many lines per export and month.

    Returns
    -------
    Sandbox
        The handle: ``endpoint_url``, ``fleet_config``, ``org``, ``stats()``, ``stop()``.

    Examples
    --------
    >>> from invoicekit.sandbox import start, Faults
    >>> with start(accounts=3, months=3, faults=Faults(throttle_rate=0.1)) as sb:  # doctest: +SKIP
    ...     print(sb.endpoint_url)
    """
    faults = _faults_from(faults)
    tmpdir = tempfile.TemporaryDirectory(prefix="invoicekit-sandbox-")
    fleet_path = Path(tmpdir.name) / "fleet.yaml"
    try:
        if in_process:
            from invoicekit.sandbox.org import build_organization
            from invoicekit.sandbox.server import SandboxServer

            org = build_organization(
                seed=seed, accounts=accounts, months=months, today=today, anomalies=anomalies
            )
            server = SandboxServer(
                org,
                host=host,
                port=port,
                seed=seed,
                latency_ms=latency_ms,
                jitter_ms=jitter_ms,
                rate_limit=rate_limit,
                faults=faults,
                url_lifetime_s=url_lifetime_s,
                deny_accounts=deny_accounts,
                role_session_max_s=role_session_max_s,
                access_log=access_log,
            )
            write_fleet_config(fleet_path, org, server.endpoint_url)
            if exports is not None:
                from invoicekit.sandbox.exports import write_exports

                write_exports(org, exports, lines=export_lines, anomalies=anomalies)
            server.start()
            return Sandbox(
                endpoint_url=server.endpoint_url,
                fleet_config=fleet_path,
                org=org,
                server=server,
                tmpdir=tmpdir,
            )
        cmd = [
            sys.executable, "-m", "invoicekit", "sandbox",
            "--host", host, "--port", str(port), "--seed", str(seed),
            "--accounts", str(accounts), "--months", str(months),
            "--latency-ms", str(latency_ms), "--jitter-ms", str(jitter_ms),
            "--url-lifetime", str(url_lifetime_s),
            "--write-config", str(fleet_path), "--quiet",
        ]  # fmt: skip
        if today is not None:
            cmd += ["--today", str(today)]
        if rate_limit is not None:
            from invoicekit.sandbox._faults import format_rate_limit, rate_limits

            rate_limits(rate_limit, [])  # refuse a bad value here, not in the child
            cmd += ["--rate-limit", format_rate_limit(rate_limit)]
        if anomalies:
            cmd.append("--anomalies")
        if role_session_max_s is not None:
            cmd += ["--role-session-max-s", str(role_session_max_s)]
        if access_log:
            cmd.append("--access-log")
        if exports is not None:
            cmd += ["--exports", os.fspath(exports)]
            if export_lines is not None:
                cmd += ["--export-lines", str(export_lines)]
        for account in deny_accounts:
            cmd += ["--deny-account", str(account)]
        if faults is not None:
            cmd += [
                "--fault-throttle", str(faults.throttle_rate),
                "--fault-error", str(faults.error_rate),
                "--fault-drop", str(faults.drop_rate),
                "--fault-truncate", str(faults.truncate_rate),
            ]  # fmt: skip
            if faults.url_lifetime_s is not None:
                cmd += ["--url-lifetime", str(faults.url_lifetime_s)]
            if faults.operations is not None:
                cmd += ["--fault-operations", ",".join(faults.operations)]
        return _start_child(cmd, fleet_path, tmpdir)
    except BaseException:
        tmpdir.cleanup()
        raise


def _start_child(cmd: list[str], fleet_path: Path, tmpdir) -> Sandbox:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # read every line, so a chatty child never blocks on a full pipe
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.put(line)
        except (ValueError, OSError):
            pass
        lines.put(None)

    threading.Thread(target=pump, name="invoicekit-sandbox-stdout", daemon=True).start()
    try:
        first = lines.get(timeout=CHILD_START_TIMEOUT_S)
    except queue.Empty:
        first = None
    if not first or not first.startswith("http"):
        proc.kill()
        proc.wait(timeout=5)
        raise RuntimeError(
            f"the sandbox child process did not print its endpoint (exit code {proc.returncode}); "
            f"run {' '.join(cmd[1:4])} by hand to see why"
        )
    return Sandbox(endpoint_url=first.strip(), fleet_config=fleet_path, process=proc, tmpdir=tmpdir)
