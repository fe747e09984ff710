"""Fixtures for the browser tests (``pytest -m e2e``): a Streamlit server and Debian's
chromium driven by Playwright, with the network cut: every request that does not go to the
app's own server is refused, so the map must work from the app's own files.

The tests skip cleanly when ``/usr/bin/chromium`` or the ``playwright`` package are missing;
``.ci/setup_e2e.sh`` installs them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from urbanseg_core.model.loading import DEFAULT_CARD

from ..conftest import make_tiny_model

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return "/usr/bin/chromium is not installed (run .ci/setup_e2e.sh)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    model_env = os.environ.get("URBANSEG_MODEL")
    if not model_env and not DEFAULT_CARD.exists():
        return "the bundled model urbanseg_core/model/weights/urbanseg-unet.json is missing"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def e2e_ready() -> None:
    reason = _missing()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def start_server(artifacts: Path, name: str, env: dict | None = None):
    """Start ``streamlit run app.py`` on a free port (its own process, caches and model);
    yields its URL and stops it afterwards (a generator for fixtures)."""
    port = _free_port()
    log_path = artifacts / f"streamlit_{name}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"streamlit did not start; see {log_path}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def app_url(e2e_ready, artifacts, request) -> str:
    """A fresh ``streamlit run app.py`` per test module (its own caches); yields its URL."""
    yield from start_server(artifacts, request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="module")
def tiny_app_url(e2e_ready, artifacts, request, tmp_path_factory) -> str:
    """The app with a tiny random model (``URBANSEG_MODEL``): for flows about the page, not
    the model's answer, on inputs too large for the bundled model on a shared CPU."""
    card = make_tiny_model(tmp_path_factory.mktemp("tiny-app"))
    yield from start_server(artifacts, request.module.__name__.rsplit(".", 1)[-1] + "_tiny",
                            {"URBANSEG_MODEL": str(card)})


@pytest.fixture(scope="session")
def browser(e2e_ready):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                               headless=True)
        yield b
        b.close()


def new_context(browser, app_url: str):
    """A browser context with no internet: requests to the app pass, every other one is
    refused (aborted) and listed in ``context.refused``."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000},
                                  accept_downloads=True)
    context.refused = []
    local = app_url.rstrip("/")

    def route(r):
        url = r.request.url
        if url.startswith(local) or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            context.refused.append(url)
            r.abort()

    context.route("**/*", route)
    return context


def _page(browser, url: str, timeout_ms: int):
    context = new_context(browser, url)
    pg = context.new_page()
    pg.set_default_timeout(timeout_ms)
    pg.refused = context.refused
    yield pg
    context.close()


@pytest.fixture
def page(browser, app_url):
    yield from _page(browser, app_url, 60_000)


@pytest.fixture
def tiny_page(browser, tiny_app_url):
    """A page of the tiny-model app (:func:`tiny_app_url`)."""
    yield from _page(browser, tiny_app_url, 120_000)
