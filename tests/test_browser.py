"""A real browser: JupyterLab runs notebook 01; plotly charts and widgets render, no error output.

Debian's chromium driven by Playwright (``executable_path``; never a downloaded browser). In CI
(``CI`` set) a missing chromium is a failure, elsewhere a skip with the reason.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from invoicekit.sandbox import _terminate

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "01_spend_trends.ipynb"
SERVER_START_TIMEOUT_S = 60
RUN_ALL_TIMEOUT_S = 120
PROMPTS = ".jp-Notebook .jp-CodeCell .jp-InputArea-prompt"


def _need_chromium() -> str:
    path = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if path:
        return path
    reason = "Debian chromium is missing (apt-get install chromium; make chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: the browser test cannot be skipped in CI")
    pytest.skip(reason)


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a temporary copy of the notebook, its own port, token and settings.

    The server binds port 0 and says which port it got in its info file; its kernels talk over
    Unix sockets in a short private runtime directory. No port is picked here and bound later
    by another process, where something else on the machine could take it in between.
    """
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # render every cell (no windowing), so every output is in the DOM to be checked
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    token = secrets.token_hex(16)
    runtime = Path(tempfile.mkdtemp(prefix="invoicekit-lab-"))  # socket paths: ~100 bytes at most
    env = dict(os.environ)
    env.update(
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        IPYTHONDIR=str(tmp_path / "ipython"),
    )
    jupyter = Path(sys.executable).parent / "jupyter"
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        [
            str(jupyter),
            "lab",
            "--no-browser",
            "--port=0",
            "--KernelManager.transport=ipc",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.port_retries=0",
            f"--LabApp.user_settings_dir={tmp_path / 'lab-settings'}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
    )
    info = runtime / f"jpserver-{proc.pid}.json"
    base = None
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    try:
        while True:
            try:
                if base is None:
                    base = f"http://127.0.0.1:{json.loads(info.read_text())['port']}"
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except (OSError, ValueError, KeyError):
                pass  # not written yet, or written in part
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    "JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:]
                )
            time.sleep(0.3)
        yield base, token
    finally:
        _terminate(proc)
        log.close()
        shutil.rmtree(runtime, ignore_errors=True)


def test_notebook_01_runs_in_jupyterlab_with_charts_and_widgets(lab, tmp_path):
    executable = _need_chromium()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    base, token = lab
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            # the kernel is up when the toolbar says idle
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
            )
            # JupyterLab adds cells progressively: wait until all of the notebook's are there
            n_code = sum(
                c["cell_type"] == "code" for c in json.loads(NOTEBOOK.read_text())["cells"]
            )
            assert n_code >= 10
            page.wait_for_function(
                "(n) => document.querySelectorAll('.jp-Notebook .jp-CodeCell').length === n",
                arg=n_code,
                timeout=60_000,
            )

            # Run > Run All Cells, as a person would: click into the notebook first (the menu
            # command acts on the active notebook), then see that execution really started
            page.locator(".jp-Notebook .jp-CodeCell").first.click()
            for attempt in range(2):
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                try:
                    page.wait_for_function(
                        f"() => [...document.querySelectorAll({PROMPTS!r})]"
                        ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))",
                        timeout=20_000,
                    )
                    break
                except PlaywrightTimeout:
                    if attempt:
                        raise
                    page.keyboard.press("Escape")  # close a menu left open, then try again

            # done when every code cell has an execution number and none is queued or running
            try:
                page.wait_for_function(
                    """([sel, n]) => {
                        const prompts = [...document.querySelectorAll(sel)];
                        const done = prompts.filter(p => /\\[\\d+\\]/.test(p.textContent));
                        const busy = prompts.some(p => p.textContent.includes('*'));
                        return prompts.length === n && done.length === n && !busy;
                    }""",
                    arg=[PROMPTS, n_code],
                    timeout=RUN_ALL_TIMEOUT_S * 1000,
                )
            except PlaywrightTimeout:
                page.screenshot(path=str(tmp_path / "run-all-timeout.png"), full_page=True)
                prompts = page.locator(PROMPTS).all_text_contents()
                pytest.fail(
                    f"Run All did not finish in {RUN_ALL_TIMEOUT_S} s; prompts: {prompts}; "
                    f"screenshot: {tmp_path / 'run-all-timeout.png'}"
                )
            # plotly figures from the mimetype renderer, and the FigureWidget inside the explorer
            page.wait_for_selector(".js-plotly-plot", timeout=30_000)
            page.wait_for_selector(".widget-select-multiple", timeout=30_000)
            page.wait_for_timeout(1000)  # let the last plots draw before the screenshot
            plots = page.locator(".js-plotly-plot").count()
            bars = page.locator(".js-plotly-plot .barlayer .point").count()
            widget_views = page.locator(".jp-OutputArea-output .widget-select-multiple").count()
            widget_plot = page.locator(
                ".widget-vbox .js-plotly-plot, .jupyter-widgets .js-plotly-plot"
            ).count()
            stderr = page.locator(
                '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'
            )
            tracebacks = [t for t in stderr.all_text_contents() if "Traceback" in t or "Error" in t]
            shot = tmp_path / "notebook01.png"
            page.screenshot(path=str(shot), full_page=True)
            page.locator(".widget-select-multiple").first.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            explorer_shot = tmp_path / "notebook01-explorer.png"
            page.screenshot(path=str(explorer_shot))
            body = page.content()
        finally:
            browser.close()

    print(f"browser run: {time.monotonic() - started:.1f} s, {plots} plots, screenshot {shot}")
    assert tracebacks == [], tracebacks[0][:2000] if tracebacks else ""
    assert plots >= 7, f"only {plots} plotly charts rendered"
    assert bars > 50, "plotly drew no bars"
    assert widget_views == 1, "the account picker did not render"
    assert widget_plot >= 1, "the explorer's FigureWidget did not render"
    assert shot.is_file() and shot.stat().st_size > 20_000
    assert explorer_shot.is_file() and explorer_shot.stat().st_size > 20_000
    assert "X-Amz-Signature=" not in body


#: Where the browser tests leave their screenshots for a person to look at (gitignored).
SCREENSHOTS = Path(
    os.environ.get(
        "INVOICEKIT_SCREENSHOTS", Path(__file__).resolve().parent.parent / "build" / "screenshots"
    )
)


def test_executive_summary_and_notebook_01_report_render_offline(tmp_path):
    """The two reports a reader opens: the summary (static SVG) and notebook 01's HTML report.

    Screenshots: ``build/screenshots/executive_summary.png`` and
    ``build/screenshots/report_01_spend_trends.png`` (``$INVOICEKIT_SCREENSHOTS`` overrides).
    """
    executable = _need_chromium()
    from playwright.sync_api import sync_playwright

    from invoicekit import clock, notebook, report
    from invoicekit.sandbox.org import build_organization
    from invoicekit.schema import to_frame

    org = build_organization(accounts=60, months=13, today="2026-11-25", anomalies=True)
    df = to_frame(org.invoices, account_names={a.account_id: a.name for a in org.accounts})
    reports = tmp_path / "reports"
    with clock.pinned("2026-11-25T08:00:00Z"):
        summary = report.executive_summary(df, path=reports / "executive_summary.html")
    executed = notebook.execute(
        NOTEBOOK,
        tmp_path / "executed" / NOTEBOOK.name,
        {"sandbox_accounts": 12, "sandbox_months": 13, "sandbox_today": "2026-11-25"},
    )
    nb_report = report.notebook_html(executed, reports / f"{NOTEBOOK.stem}.html")
    assert (reports / report.PLOTLY_JS_NAME).is_file()  # one shared, offline plotly.js
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {
        "summary": SCREENSHOTS / "executive_summary.png",
        "notebook": SCREENSHOTS / f"report_{NOTEBOOK.stem}.png",
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(summary.as_uri())
            charts_drawn = page.locator("svg.ik-chart").count()
            cards = page.locator(".card").count()
            summary_text = page.inner_text("main")
            page.screenshot(path=str(shots["summary"]), full_page=True)

            page.goto(nb_report.as_uri())
            page.wait_for_selector(".js-plotly-plot", timeout=30_000)
            page.wait_for_timeout(500)
            plots = page.locator(".js-plotly-plot").count()
            code_cells = page.locator(".jp-CodeMirrorEditor, .jp-InputPrompt").count()
            nb_text = page.inner_text("body")
            page.screenshot(path=str(shots["notebook"]), full_page=True)
        finally:
            browser.close()
    print(f"screenshots: {shots['summary']} {shots['notebook']}")
    payment = {a.payment_currency for a in org.accounts}
    assert charts_drawn == len(payment) and cards == len(payment)
    assert "Reconciliation status" in summary_text and "What to do:" in summary_text
    assert plots >= 5, f"only {plots} plotly charts drew in the notebook report"
    assert code_cells == 0 and "Traceback" not in nb_text
    assert errors == [], errors
    assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests  # offline
    assert all(s.is_file() and s.stat().st_size > 20_000 for s in shots.values())
