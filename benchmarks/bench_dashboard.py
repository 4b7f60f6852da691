"""Dashboard targets (issue 11): a page's first render < 2 s; one changed input re-renders
in < 0.5 s for analyze-sized work. Measured in Debian's chromium through Playwright; skipped
(no figures) when either is missing."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
READY = "body[data-state=ready], body[data-state=error]"
# 2 models x 3 systems x tp 1, 2 x 5 batches x 3 x 3 lengths = 540 designs
SWEEP = {"axes": {"model": ["llama2-7b", "llama2-13b"], "hardware": ["a100-80gb-sxm", "h100-sxm", "h200"],
                  "tp": [1, 2], "batch": [1, 4, 16, 64, 256], "input_len": [128, 512, 2048],
                  "output_len": [64, 256, 1024]}}  # fmt: skip


def _first_render_s(browser: Any, url: str) -> tuple[float, float]:
    """Navigation to the page in a fresh browser context (empty cache, so plotly.min.js is
    fetched and compiled, as on a person's first visit): (numbers shown, figures drawn)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    t = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(READY, timeout=60_000)
    dt = time.perf_counter() - t
    numbers_s = page.evaluate(
        "window.hetsimNumbersMs - performance.timing.navigationStart + performance.timeOrigin"
    )
    ctx.close()
    return float(numbers_s) / 1e3, dt


def _plotly_only_s(browser: Any, base: str) -> float:
    """What every fresh first render pays before any hetsim code runs."""
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(base + "/static/dashboard.css")  # same origin, nothing else loaded
    t = time.perf_counter()
    page.add_script_tag(url=base + "/static/plotly.min.js")
    page.wait_for_function("window.Plotly !== undefined", timeout=60_000)
    dt = time.perf_counter() - t
    ctx.close()
    return dt


def _navigation_s(browser: Any, urls: list[str]) -> list[float]:
    """Navigation to each page in one browser context that has opened the dashboard once
    (moving between the pages of an open dashboard: plotly.min.js comes from the cache)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(urls[0])
    page.wait_for_selector(READY, timeout=60_000)
    out = []
    for url in urls:
        t = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(READY, timeout=60_000)
        out.append(time.perf_counter() - t)
    ctx.close()
    return out


def _rerender_s(browser: Any, url: str, batches: list[int]) -> list[tuple[float, float, float]]:
    """Input event to rendered view (includes the form's 80 ms typing pause), per change."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_selector(READY)
    for i, b in enumerate(batches, start=1):
        page.fill("#in-batch", str(b))
        page.wait_for_function(f"window.hetsimTimings.length >= {i}", timeout=60_000)
    timings = page.evaluate("window.hetsimTimings")
    ctx.close()
    return [(t["ms"] / 1e3, t["request_ms"] / 1e3, t["draw_ms"] / 1e3) for t in timings]


def run() -> dict[str, float]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("  (skipped: Playwright is not installed)")
        return {}
    if not Path(CHROMIUM).exists():
        print("  (skipped: chromium is not installed)")
        return {}
    from hetsim.calibration.measurements import find_realdata
    from hetsim.explore import explore
    from hetsim.web.context import Context
    from hetsim.web.pages import pages
    from hetsim.web.server import Dashboard, warm

    out: dict[str, float] = {"machine load average over 1 min at the start (2 cores)": os.getloadavg()[0]}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        cold = Dashboard(Context(realdata_dir=find_realdata())).start()
        out["cold server: first render of /analyze [s] (no warm-up; imports, preset loading)"] = (
            _first_render_s(browser, cold.url + "/analyze")[1]
        )
        cold.stop()
        sweeps = Path(tempfile.mkdtemp(prefix="hetsim-bench-"))
        explore(SWEEP, sweeps / "store", workers=1)  # for the Explore page
        ctx = Context(realdata_dir=find_realdata(), sweep_dir=sweeps)
        t = time.perf_counter()
        warm(ctx)
        out["dashboard warm-up at start, every page's default view [s]"] = time.perf_counter() - t
        dash = Dashboard(ctx).start()
        urls = [f"{dash.url}/{page.slug}" for page in pages()]
        out["plotly.min.js alone (4.6 MB): fetch and compile in a fresh browser [s]"] = _plotly_only_s(
            browser, dash.url
        )
        for url in urls:
            numbers, drawn = _first_render_s(browser, url)
            name = url.rsplit("/", 1)[1]
            out[f"first render of {name}, fresh browser: numbers shown [s] (target < 2)"] = numbers
            out[f"first render of {name}, fresh browser: figures drawn [s] (target < 2)"] = drawn
        for url, dt in zip(urls, _navigation_s(browser, urls), strict=True):
            out[f"first render of {url.rsplit('/', 1)[1]}, dashboard already open [s] (target < 2)"] = dt
        times = _rerender_s(browser, dash.url + "/analyze", [2, 4, 8, 16, 32, 64, 128])
        total = [t[0] for t in times]
        out["analyze: re-render after one input, median of 7 [s] (target < 0.5)"] = statistics.median(total)
        out["analyze: re-render after one input, worst of 7 [s]"] = max(total)
        out["analyze: re-render, of which the request (server + transfer), median [s]"] = statistics.median(
            t[1] for t in times
        )
        out["analyze: re-render, of which drawing in the browser, median [s]"] = statistics.median(
            t[2] for t in times
        )
        dash.stop()
        browser.close()
    return out
