"""The dashboard in a real browser (Debian's chromium, driven by Playwright): every page
opens, inputs change the numbers to exactly the core API's for the same inputs, plots render
with data, a bad upload shows its one-line error, and the static report renders offline.
Screenshots of each page go to out/screenshots/. Skipped when chromium or Playwright is
missing locally; CI installs both."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import hetsim
from hetsim.calibration.api import validate
from hetsim.serving.metrics import itl_samples
from hetsim.units import fmt_time
from hetsim.web.pages.h2m2 import reproduction
from hetsim.web.server import Dashboard
from tests.conftest import CliResult

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (web extra)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

SHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"
Page = Any  # playwright.sync_api.Page


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, errors  # no JavaScript errors on any page


def open_page(pg: Page, url: str) -> None:
    pg.goto(url)
    pg.wait_for_selector("body[data-state=ready], body[data-state=error]", timeout=30_000)


def change(pg: Page, action: Callable[[], None]) -> None:
    """Run ``action`` (an input change) and wait until the page rendered the new view."""
    seq = int(pg.get_attribute("body", "data-seq") or 0)
    action()
    pg.wait_for_function(
        f"Number(document.body.dataset.seq) > {seq} && document.body.dataset.state !== 'busy'", timeout=30_000
    )


def cards(pg: Page) -> dict[str, Any]:
    out = pg.eval_on_selector_all(
        ".card",
        "els => els.map(e => [e.dataset.key, e.dataset.value, e.querySelector('.value').textContent])",
    )
    return {k: (json.loads(v), text) for k, v, text in out}


def plot_points(pg: Page) -> dict[str, int]:
    """Points held by each rendered plot (a plot drawn by Plotly has the main SVG)."""
    return dict(
        pg.eval_on_selector_all(
            ".plot",
            "els => els.map(e => [e.id, e.querySelector('.main-svg') ? (e.data || []).reduce("
            "(n, t) => n + ((t.x || t.y || []).length), 0) : -1])",
        )
    )


def shot(pg: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def assert_analysis(pg: Page, r: hetsim.AnalysisResult) -> None:
    got = cards(pg)
    for key in (
        "ttft_s",
        "tpot_s",
        "e2e_latency_s",
        "output_throughput_tok_per_s",
        "mbu",
        "mfu",
        "energy_j_per_token",
        "footprint_bytes",
        "fits",
    ):
        assert got[key][0] == getattr(r, key), key
    assert got["ttft_s"][1] == fmt_time(r.ttft_s) and got["tpot_s"][1] == fmt_time(r.tpot_s)


def test_analyze_page_follows_its_inputs(page: Page, dashboard: Dashboard) -> None:
    open_page(page, dashboard.url + "/analyze")
    assert_analysis(page, hetsim.analyze("llama2-7b", "a100-80gb-sxm", hetsim.Workload(1, 512, 128)))
    points = plot_points(page)
    assert set(points) == {"fig-roofline", "fig-memory", "fig-times-prefill", "fig-times-decode"}
    assert all(n > 0 for n in points.values()), points
    change(page, lambda: page.select_option("#in-model", "llama2-13b"))
    change(page, lambda: page.select_option("#in-hardware", "h100-sxm"))
    change(page, lambda: page.fill("#in-batch", "8"))
    change(page, lambda: page.select_option("#in-weight_dtype", "int8"))
    change(page, lambda: page.fill("#in-tp", "2"))
    r = hetsim.analyze(
        "llama2-13b", "h100-sxm", hetsim.Workload(8, 512, 128), hetsim.Precision.of("int8"), tp=2
    )
    assert_analysis(page, r)
    assert all(n > 0 for n in plot_points(page).values())
    # the per-operator table: one row per op, sortable by time
    assert page.locator("#table-ops tbody tr").count() == len(r.ops)
    page.click('#table-ops th[data-col="time_s"]')
    first = json.loads(
        page.get_attribute("#table-ops tbody tr:first-child td:nth-child(6)", "data-value") or "0"
    )
    assert first == max(o.time_s for o in r.ops)
    assert "phase,name,sublayer" in (
        page.get_attribute('[data-table="ops"] a.download', "href") or ""
    ).replace("%2C", ",")
    shot(page, "analyze")


def test_compare_page(page: Page, dashboard: Dashboard) -> None:
    open_page(page, dashboard.url + "/compare")
    assert page.locator("#table-compare tbody tr").count() == 3
    change(page, lambda: page.select_option("#in-hw3", ""))
    change(page, lambda: page.fill("#in-tp2", "2"))
    rows = page.eval_on_selector_all(
        "#table-compare tbody tr",
        "trs => trs.map(tr => Array.from(tr.children).map(td => JSON.parse(td.dataset.value)))",
    )
    w = hetsim.Workload(8, 1024, 256)
    expect = [
        hetsim.analyze("llama2-13b", "a100-80gb-sxm", w),
        hetsim.analyze("llama2-13b", "h100-sxm", w, tp=2),
    ]
    assert [row[0] for row in rows] == ["a100-80gb-sxm", "2× h100-sxm"]
    assert [row[2] for row in rows] == [r.ttft_s for r in expect]
    assert [row[3] for row in rows] == [r.tpot_s for r in expect]
    assert all(n > 0 for n in plot_points(page).values())
    shot(page, "compare")


def test_validate_page(page: Page, dashboard: Dashboard) -> None:
    realdata = dashboard.ctx.realdata_dir
    assert realdata is not None  # the committed data/measurements/published/
    open_page(page, dashboard.url + "/validate")
    files = sorted(realdata.glob("*.csv"))
    rep = validate(files)
    got = cards(page)
    assert got["rows_scored"][0] == len(rep.scored) and got["mape"][0] == rep.stats()["mape"]
    assert plot_points(page)["fig-validate-scatter"] > 1000
    shot(page, "validate")
    change(page, lambda: page.select_option("#in-file", "lmdeploy.csv"))  # a small file: quick to redo
    change(page, lambda: page.uncheck("#in-calibrated"))
    one = validate([realdata / "lmdeploy.csv"], calibrated=False)
    assert cards(page)["mape"][0] == one.stats()["mape"] and cards(page)["rows_scored"][0] == len(one.scored)


def test_h2m2_page(page: Page, dashboard: Dashboard) -> None:
    # the reproduction first (seconds of CPU, cached on the dashboard): on a loaded 2-core
    # machine computing it inside the page load ran past the 30 s navigation timeout
    res = reproduction(dashboard.ctx).results
    open_page(page, dashboard.url + "/h2m2")
    got = cards(page)
    assert got["targets_met"][0] == sum(t["met"] for t in res["targets"])
    assert got["llama2-70b_h2m2"][0] == res["models"]["llama2-70b"]["h2m2"]["mean_speedup"]
    points = plot_points(page)
    assert points["fig-h2m2-speedup"] > 0 and points["fig-memory-timeline"] > 0
    shot(page, "h2m2")


def test_bad_uploaded_yaml_shows_the_cli_error(
    page: Page,
    dashboard: Dashboard,
    bad_yaml: Path,
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(bad_yaml.parent)
    cli_line = run_cli("analyze", "-H", "bad.yaml").err.strip()
    open_page(page, dashboard.url + "/analyze")
    change(page, lambda: page.set_input_files("#in-hardware_file", str(bad_yaml)))
    assert page.get_attribute("body", "data-state") == "error"
    assert page.inner_text("#error") == cli_line
    assert page.locator(".card").count() == 0  # no stale numbers beside the error
    shot(page, "analyze-bad-upload")
    change(page, lambda: page.click("#clear-hardware_file"))
    assert page.get_attribute("body", "data-state") == "ready" and not page.is_visible("#error")


def test_static_report_renders_offline(
    browser: Any, run_cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    run = tmp_path / "run.json"
    run.write_text(run_cli("analyze", "-m", "llama2-7b", "-H", "a100-80gb-sxm", "--json").out)
    out = tmp_path / "report.html"
    assert run_cli("report", str(run), "--html", str(out)).code == 0
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True)
    pg = ctx.new_page()
    requested: list[str] = []
    pg.on("request", lambda req: requested.append(req.url))
    open_page(pg, out.as_uri())
    assert all(u.startswith(("file:", "data:")) for u in requested), requested
    assert all(n > 0 for n in plot_points(pg).values()) and len(plot_points(pg)) == 4
    assert cards(pg)["ttft_s"][0] == json.loads(run.read_text())["ttft_s"]
    shot(pg, "report-analysis")
    ctx.close()


def test_analyze_placement_on_two_memory_sides(page: Page, dashboard: Dashboard) -> None:
    open_page(page, dashboard.url + "/analyze")
    change(page, lambda: page.select_option("#in-model", "llama2-13b"))
    change(page, lambda: page.select_option("#in-hardware", "gh200"))
    for name, value in (("batch", "32"), ("input_len", "2048"), ("output_len", "2048")):
        change(page, lambda n=name, v=value: page.fill(f"#in-{n}", v))  # type: ignore[misc]
    w = hetsim.Workload(32, 2048, 2048)
    r = hetsim.analyze("llama2-13b", "gh200", w)
    assert_analysis(page, r)
    assert cards(page)["policy"][0] == r.policy
    sides = page.eval_on_selector_all(
        "#table-sides tbody tr", "trs => trs.map(tr => JSON.parse(tr.children[2].dataset.value))"
    )
    assert sides == [s.resident_bytes for s in r.sides] and len(sides) == 2
    remaps = page.eval_on_selector_all(
        "#table-remaps tbody tr", "trs => trs.map(tr => JSON.parse(tr.children[3].dataset.value))"
    )
    assert remaps == [m.migrated_bytes for m in r.remaps] and remaps
    assert plot_points(page)["fig-tier-timeline"] > 0
    shot(page, "analyze-gh200-placement")
    change(page, lambda: page.select_option("#in-policy", "pim-attention"))
    assert_analysis(page, hetsim.analyze("llama2-13b", "gh200", w, policy="pim-attention"))
    change(page, lambda: page.check("#in-static_placement"))
    assert_analysis(page, hetsim.analyze("llama2-13b", "gh200", w, policy="pim-attention", dynamic=False))


def test_explore_page(page: Page, dashboard: Dashboard, sweep_dir: Path) -> None:
    from hetsim.explore import read_results
    from hetsim.explore.pareto import pareto_mask

    cols = read_results(sweep_dir / "small")
    open_page(page, dashboard.url + "/explore")
    front = pareto_mask(cols, [("tok_per_s_per_user", "max"), ("tok_per_s_per_device", "max")])
    assert cards(page)["frontier"][0] == int(front.sum())
    assert plot_points(page)["fig-pareto"] == len(cols["ttft_s"])  # every row drawn, frontier included
    change(page, lambda: page.fill("#in-filters", "tpot_s <= 0.03"))
    keep = cols["tpot_s"] <= 0.03
    kept = {k: v[keep] for k, v in cols.items()}
    front = pareto_mask(kept, [("tok_per_s_per_user", "max"), ("tok_per_s_per_device", "max")])
    assert cards(page)["kept"][0] == int(keep.sum()) and cards(page)["frontier"][0] == int(front.sum())
    change(page, lambda: page.check("#in-frontier_only"))
    assert plot_points(page)["fig-pareto"] == int(front.sum())
    assert page.locator("#table-frontier tbody tr").count() == int(front.sum())
    shot(page, "explore")
    change(page, lambda: page.fill("#in-filters", "tpot_s <= fast"))
    assert page.inner_text("#error") == "error: filter 'tpot_s <= fast': write a bound like 'tpot_s <= 0.05'"


def test_serving_page(page: Page, dashboard: Dashboard) -> None:
    from hetsim.serving import make_requests, simulate_serving

    def api_run(rate: float, engine: str = "vllm") -> Any:
        reqs = make_requests(300, rate_per_s=rate, seed=0, input_len="512", output_len="128")
        return simulate_serving(
            "llama2-7b",
            "a100-80gb-sxm",
            reqs,
            engine=engine,
            precision=hetsim.Precision.of("bf16"),
            slo="ttft=0.5,tpot=0.05",
        )

    open_page(page, dashboard.url + "/serving")
    r = api_run(4.0)
    got = cards(page)
    assert got["output_throughput_tok_per_s"][0] == r.output_throughput_tok_per_s
    assert got["ttft_p99_s"][0] == r.ttft_s.p99 and got["slo_attainment"][0] == r.slo_attainment
    points = plot_points(page)
    assert {"fig-latency-cdf", "fig-rate-sweep", "fig-kv-timeline"} <= set(points) and min(
        points.values()
    ) > 0
    assert got["itl_p99_s"][0] == r.itl_s.p99
    assert got["itl_stalled_tokens"][0] == 0  # vLLM (fcfs): decodes ride in every iteration
    from hetsim.engines import ENGINES

    assert page.locator("#table-engines tbody tr").count() == len(ENGINES)
    this_run = page.locator("#table-engines tbody tr", has_text="(this run)")
    assert this_run.inner_text().startswith("vllm (this run)")
    change(page, lambda: page.fill("#in-rate", "12"))
    change(page, lambda: page.select_option("#in-engine", "sglang"))
    r = api_run(12.0, "sglang")
    got = cards(page)
    assert got["tpot_p50_s"][0] == r.tpot_s.p50 and got["completed"][0] == r.completed
    # SGLang runs prompts alone (prefill-first): decoding tokens wait through them, the stall shown
    stalled = sum(k for _, _, k in r.itl_stalls)
    assert got["itl_stalled_tokens"][0] == stalled > 0 and got["itl_p99_s"][0] == r.itl_s.p99
    assert "sglang (this run)" in page.inner_text("#table-engines")
    step, _ = itl_samples(r.iterations, r.itl_stalls)
    itl_x = page.evaluate(
        "() => document.getElementById('fig-latency-cdf').data.find(t => t.name === 'ITL').x"
    )
    assert max(itl_x) == pytest.approx(float(step.max()) * 1e3)  # the longest gap is a stalled one
    shot(page, "serving")


def test_state_is_in_the_url(page: Page, dashboard: Dashboard) -> None:
    """Every change goes into the URL; opening that URL restores the form and its numbers."""
    open_page(page, dashboard.url + "/analyze")
    change(page, lambda: page.select_option("#in-hardware", "h100-sxm"))
    change(page, lambda: page.fill("#in-batch", "8"))
    change(page, lambda: page.check("#in-static_placement"))
    url = page.url
    assert "hardware=h100-sxm" in url and "batch=8" in url and "static_placement=1" in url, url
    page.goto(dashboard.url + "/analyze")  # another visit, then the bookmark
    page.goto(url)
    page.wait_for_function(
        "Number(document.body.dataset.seq) >= 2 && document.body.dataset.state === 'ready'"
    )
    assert page.input_value("#in-hardware") == "h100-sxm" and page.input_value("#in-batch") == "8"
    assert page.is_checked("#in-static_placement")
    r = hetsim.analyze("llama2-7b", "h100-sxm", hetsim.Workload(8, 512, 128), dynamic=False)
    assert cards(page)["tpot_s"][0] == r.tpot_s
    page.goto(dashboard.url + "/analyze?hardware=not-a-preset&batch=3")  # an option that is not offered
    page.wait_for_function("Number(document.body.dataset.seq) >= 2 && document.body.dataset.state !== 'busy'")
    assert page.input_value("#in-hardware") == "a100-80gb-sxm" and page.input_value("#in-batch") == "3"


@pytest.mark.parametrize("slug", ["analyze", "serving"])
def test_mode_bar_never_covers_a_legend(page: Page, dashboard: Dashboard, slug: str) -> None:
    open_page(page, f"{dashboard.url}/{slug}")
    page.wait_for_selector(".plot .main-svg")
    for plot in page.query_selector_all(".plot"):
        plot.hover()  # the mode bar shows on hover
        boxes = plot.evaluate(
            "e => [e.querySelector('.modebar'), e.querySelector('g.legend')].map("
            "n => n ? (({x, y, width, height}) => ({x, y, width, height}))(n.getBoundingClientRect()) : null)"
        )
        bar, legend = boxes
        if bar is None or legend is None or legend["width"] == 0:
            continue
        right, left = bar["x"] >= legend["x"] + legend["width"], legend["x"] >= bar["x"] + bar["width"]
        below, above = bar["y"] >= legend["y"] + legend["height"], legend["y"] >= bar["y"] + bar["height"]
        assert right or left or below or above, (plot.get_attribute("id"), bar, legend)
