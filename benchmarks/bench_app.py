"""The dashboard's time to interactive in a browser, on a started server.

Run from the repository root (needs Debian's ``/usr/bin/chromium`` and the ``playwright``
Python package, as the browser tests)::

    python benchmarks/bench_app.py                 # 1 server start, 4 page opens
    python benchmarks/bench_app.py --servers 3 --opens 3 --json

For each server: ``streamlit run app.py`` is started and the benchmark waits until it answers
its health check (a started server). Then the page is opened ``--opens`` times, each in a new
browser context (no cookies, no cache: a new user), and these times are measured from the
start of navigation:

* ``title_s``: the page's title (``h1``) is shown;
* ``interactive_s``: the **Run** button is shown and enabled (the model is loaded, the sample
  chosen: the user can act);
* ``idle_s``: Streamlit has finished running the page (no "Running..." status);
* ``map_s``: the map shows the sample's true-colour image (a loaded Leaflet image overlay).

The first open after a server start runs the app's imports and loads the model; later opens
reuse the server's cached model and sample (``st.cache_resource``). The goal of issue 25 is
interactive within 5 s of opening. External requests (Leaflet from CDNs) are answered from
``tests/e2e/node_modules`` when that folder exists (see ``tests/e2e/cdn.py``), so the map can
load offline.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from measure import spread  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
MAP_IMAGES = ("() => Array.from(document.querySelectorAll('img.leaflet-image-layer'))"
              ".filter(i => i.complete && i.naturalWidth > 0).length")


def start_server(log) -> tuple[subprocess.Popen, str, float]:
    """``streamlit run app.py`` on a free port; returns (process, URL, seconds to healthy)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ,
                                                               PYTHONPATH=str(REPO)))
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - start < 120:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url, time.perf_counter() - start
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("streamlit did not start within 120 s")


def offline_routes(context) -> None:
    """Answer CDN requests from the browser tests' npm copies when they are installed."""
    try:
        from tests.e2e import cdn
    except ImportError:
        return
    if not cdn.available():
        return
    served, missed = [], []
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
        ("http://127.0.0.1", "data:", "blob:")) else cdn.handle(r, served, missed))


def _frame_images(page) -> int:
    for frame in page.frames[1:]:
        try:
            if frame.evaluate(MAP_IMAGES) > 0:
                return 1
        except Exception:  # noqa: BLE001 - a frame being replaced
            pass
    return 0


def open_once(browser, url: str, timeout_s: float = 120) -> dict:
    """One new user opening the app: seconds to title, interactive, idle and map."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    offline_routes(context)
    page = context.new_page()
    page.set_default_timeout(timeout_s * 1000)
    start = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.get_by_role("heading", level=1).first.wait_for()
    out = {"title_s": time.perf_counter() - start}
    run = page.get_by_role("button", name="Run", exact=True)
    run.wait_for()
    while not run.is_enabled():
        page.wait_for_timeout(20)
    out["interactive_s"] = time.perf_counter() - start
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    out["idle_s"] = time.perf_counter() - start
    while not _frame_images(page) and time.perf_counter() - start < timeout_s:
        page.wait_for_timeout(50)
    out["map_s"] = time.perf_counter() - start if _frame_images(page) else None
    context.close()
    return {k: round(v, 2) if v is not None else None for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1, help="server starts")
    parser.add_argument("--opens", type=int, default=4, help="page opens per server")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    load_start = os.getloadavg()[0]
    runs = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for s in range(args.servers):
            with open(Path(tmp) / f"streamlit_{s}.log", "w") as log:
                proc, url, healthy = start_server(log)
                try:
                    opens = [open_once(browser, url) for _ in range(args.opens)]
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
            runs.append({"server_healthy_s": round(healthy, 2), "opens": opens})
            print(f"server {s + 1}: healthy after {healthy:.2f} s")
            for i, o in enumerate(opens, 1):
                print(f"  open {i} ({'first' if i == 1 else 'later'}): title {o['title_s']} s, "
                      f"interactive {o['interactive_s']} s, idle {o['idle_s']} s, "
                      f"map {o['map_s']} s")
        browser.close()
    summary = {}
    for which, sel in (("first_open", lambda r: r["opens"][:1]),
                       ("later_opens", lambda r: r["opens"][1:])):
        for key in ("title_s", "interactive_s", "idle_s", "map_s"):
            values = [o[key] for r in runs for o in sel(r) if o[key] is not None]
            if values:
                summary[f"{which}.{key}"] = spread(values)
    for key, v in summary.items():
        print(f"{key:>26}: {v['min']} / {v['median']} / {v['max']} (min / median / max)")
    print(f"load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    if args.json:
        print(json.dumps({"loadavg_1min_at_start": load_start, "runs": runs,
                          "summary": summary}))


if __name__ == "__main__":
    main()
