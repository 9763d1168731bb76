"""What a user sees, in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

- JupyterLab, started on 127.0.0.1 with a token, opens each executed notebook: every figure output is drawn as a
  plotly graph and no cell shows an error;
- the nbconvert HTML of each notebook, opened with no kernel and no network, draws every figure;
- the demo's tear sheet and backtest report draw every figure.

Screenshots go to ``$LLMOS_QUANT_SCREENSHOTS`` (default: a temporary folder), one per notebook and report.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PLOTS = ".js-plotly-plot"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); browser tests need it")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    path = Path(os.environ.get("LLMOS_QUANT_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(rendered_notebooks, tmp_path_factory):
    root = next(iter(rendered_notebooks.values())).executed.parent
    settings = tmp_path_factory.mktemp("lab_settings")
    # render every cell (no virtual scrolling) and no news pop-up over the page
    for ext, name, value in (("@jupyterlab/notebook-extension", "tracker", {"windowingMode": "none"}),
                             ("@jupyterlab/apputils-extension", "notification", {"fetchNews": "false"})):
        (settings / ext).mkdir(parents=True, exist_ok=True)
        (settings / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
    port, token = _free_port(), "llmos-test-token"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--LabApp.user_settings_dir={settings}", f"--ServerApp.runtime_dir={tmp_path_factory.mktemp('rt')}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:  # bounded wait for the server
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"JupyterLab did not start on {base}: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
        time.sleep(0.5)
    yield base, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _check_page(page, expected: int, shot: Path, what: str) -> None:
    """Wait (bounded) until ``expected`` plotly graphs are drawn and visible, each with its SVG; screenshot."""
    visible = page.locator(f"{PLOTS}:visible")
    deadline = time.monotonic() + 60
    while visible.count() < expected and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert visible.count() >= expected, f"{what}: {visible.count()} of {expected} plotly graphs drawn"
    svgs = page.locator(f"{PLOTS}:visible .main-svg")
    assert svgs.count() >= expected, f"{what}: a figure container without its SVG"
    page.screenshot(path=str(shot), full_page=True)


@pytest.mark.parametrize("name", ["01_data_pull", "02_sentiment_inference", "03_factor_research", "04_backtest",
                                  "daily_signals"])
def test_jupyterlab_draws_every_figure_and_no_cell_shows_an_error(name, browser, jupyterlab, rendered_notebooks, shots):
    base, token = jupyterlab
    r = rendered_notebooks[name]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # a fresh workspace per notebook (``reset``): only this notebook's tab is open
        page.goto(f"{base}/lab/workspaces/t{name[:2]}/tree/{r.executed.name}?token={token}&reset", timeout=60_000)
        page.locator(".jp-Notebook .jp-Cell:visible").first.wait_for(timeout=60_000)
        _check_page(page, r.figures, shots / f"lab_{name}.png", f"JupyterLab {name}")
        errors = page.locator('.jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"]')
        assert errors.count() == 0, errors.first.inner_text()
        assert page.locator(".jp-Notebook .jp-Cell:visible").count() >= 5
        for k in range(r.figures):  # each figure, scrolled into view, as its own picture
            page.locator(f".jp-Notebook {PLOTS}:visible").nth(k).screenshot(path=str(shots / f"lab_{name}_fig{k}.png"))
    finally:
        page.close()


@pytest.mark.parametrize("name", ["01_data_pull", "03_factor_research", "04_backtest"])
def test_nbconvert_html_draws_every_figure_without_a_kernel(name, browser, rendered_notebooks, shots):
    r = rendered_notebooks[name]
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    try:
        page.goto(r.html.as_uri(), timeout=60_000)
        _check_page(page, r.figures, shots / f"html_{name}.png", f"nbconvert HTML {name}")
    finally:
        page.close()


def test_demo_reports_draw_every_figure(browser, tmp_path, shots):
    from llmos_quant.cli.main import main

    assert main(["demo", "--out", str(tmp_path), "--n-assets", "12", "--n-sessions", "120", "--backend", "lm"]) == 0
    for report, expected in (("tear_sheet.html", 6), ("backtest.html", 5)):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto((tmp_path / report).as_uri(), timeout=60_000)
            _check_page(page, expected, shots / f"demo_{report.removesuffix('.html')}.png", report)
            assert "SYNTHETIC" in page.inner_text("body")
        finally:
            page.close()

