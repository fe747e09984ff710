"""The dashboard's map in a browser: time to the first map, to a new session's map, and back
to the map after a page switch, for two source trees side by side in one run.

Run from the repository root (needs Debian's ``/usr/bin/chromium`` and the ``playwright``
package, as the browser tests)::

    python benchmarks/bench_map.py --baseline /tmp/urbanseg-a1cdb4f \\
        --baseline-cdn /tmp/cdn/node_modules              # this tree vs. an older export
    python benchmarks/bench_map.py --rounds 5 --json      # the last line is one JSON object

Make the baseline tree with ``git archive REV | tar -x -C DIR`` (a plain copy; no worktree).
Trees that still load Leaflet from CDNs (before the map's assets were served by the app, e.g.
a1cdb4f) get those requests answered by their own ``tests/e2e/cdn.py`` from npm copies in
``--baseline-cdn`` (``npm install`` of that tree's ``tests/e2e/package.json``): the best case
of a fast internet connection. This tree runs with every request that does not go to the app
refused (the network cut).

What it measures, per tree, each round starting a fresh ``streamlit run app.py`` (one model,
sample prefetch as shipped):

* ``first_map_s``: from starting the server to the sample's true-colour image drawn on the map
  in the first browser session (the server's imports, the model, the sample's layers, the
  map's scripts);
* ``new_session_s``: a second browser session, from opening the page to that image;
* ``switch_back_s``: Map & run -> About & help -> Map & run, from the click to the image
  drawn again (the map is rebuilt after a page switch);
* ``results_s``: after Run, from clicking Results to the prediction drawn on its map.

Medians over ``--rounds`` rounds (trees alternate within a round); the load average at the
start is reported, since other jobs on the machine slow both trees alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.helpers import mark_stale, wait_for_layers  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tree: Path) -> tuple[subprocess.Popen, str, float]:
    """``streamlit run app.py`` in ``tree``; ``(process, url, start perf_counter)``."""
    port = _port()
    env = dict(os.environ, PYTHONPATH=str(tree))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                return proc, url, started
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"streamlit did not start in {tree}")


def router(url: str, cdn_dir: Path | None, tree: Path):
    """Route handler: the app's own requests pass; others are answered from npm copies
    (``cdn_dir``, with ``tree``'s tests/e2e/cdn.py rules) or refused."""
    cdn = None
    if cdn_dir is not None:
        spec = importlib.util.spec_from_file_location("cdn", tree / "tests" / "e2e" / "cdn.py")
        cdn = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cdn)
        cdn.NODE_MODULES = cdn_dir.resolve()

    def route(r):
        target = r.request.url
        if target.startswith(url) or target.startswith(("data:", "blob:")):
            r.continue_()
        elif cdn is not None:
            cdn.handle(r)
        else:
            r.abort()
    return route


def one_round(browser, tree: Path, cdn_dir: Path | None) -> dict[str, float]:
    proc, url, started = start_server(tree)
    out: dict[str, float] = {}
    try:
        ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
        ctx.route("**/*", router(url, cdn_dir, tree))
        page = ctx.new_page()
        page.set_default_timeout(180_000)
        page.goto(url)
        out["first_map_s"] = wait_for_layers(page, 1, 180) - started
        ctx2 = browser.new_context(viewport={"width": 1440, "height": 1000})
        ctx2.route("**/*", router(url, cdn_dir, tree))
        page2 = ctx2.new_page()
        t0 = time.perf_counter()
        page2.goto(url)
        out["new_session_s"] = wait_for_layers(page2, 1, 180) - t0
        ctx2.close()
        nav = page.get_by_test_id("stSidebarNav")
        nav.get_by_role("link", name="About & help").click()
        page.get_by_role("heading", name="How to use it, in five steps").wait_for()
        t0 = time.perf_counter()
        nav.get_by_role("link", name="Map & run").click()
        out["switch_back_s"] = wait_for_layers(page, 1, 180) - t0
        page.get_by_role("button", name="Run", exact=True).click()
        wait_for_layers(page, 2, 180)
        mark_stale(page)
        t0 = time.perf_counter()
        nav.get_by_role("link", name="Results").click()
        out["results_s"] = wait_for_layers(page, 2, 180) - t0
        ctx.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another source tree to compare with")
    parser.add_argument("--baseline-cdn", type=Path,
                        help="npm copies answering the baseline's CDN requests")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    trees = {"this": (REPO, None)}
    if args.baseline:
        trees = {"baseline": (args.baseline.resolve(), args.baseline_cdn), **trees}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    load = os.getloadavg()[0]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                    headless=True)
        for _ in range(args.rounds):
            for name, (tree, cdn_dir) in trees.items():
                runs[name].append(one_round(browser, tree, cdn_dir))
                print(name, runs[name][-1], flush=True)
        browser.close()
    report = {"load_average_1min": round(load, 2), "rounds": args.rounds}
    for name, rows in runs.items():
        report[name] = {k: round(statistics.median(r[k] for r in rows), 2) for k in rows[0]}
        report[name]["all"] = rows
    for key in runs["this"][0]:
        line = "  ".join(f"{n}: {report[n][key]:6.2f} s" for n in runs)
        print(f"{key:16s} {line}")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
