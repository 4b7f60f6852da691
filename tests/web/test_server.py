"""The dashboard over HTTP (no browser): pages answer, the API's numbers are the core API's,
bad input is one line with status 400, big requests 413, and only fixed assets are served."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hetsim
from hetsim.web.pages import pages
from hetsim.web.server import Dashboard
from tests.conftest import CliResult
from tests.web.conftest import BAD_YAML


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def api(
    dash: Dashboard, page: str, values: dict[str, Any], uploads: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    return _post(f"{dash.url}/api/{page}", json.dumps({"values": values, "uploads": uploads or {}}).encode())


def cards(view: dict[str, Any]) -> dict[str, Any]:
    return {c["key"]: c["value"] for c in view["cards"]}


def test_every_page_serves_html_with_its_view(dashboard: Dashboard) -> None:
    status, body = _get(dashboard.url + "/")
    assert status == 200 and b'id="hetsim-spec"' in body  # the redirect lands on the first page
    for page in pages():
        status, body = _get(f"{dashboard.url}/{page.slug}")
        assert status == 200, page.slug
        text = body.decode()
        spec = json.loads(text.split('id="hetsim-spec">')[1].split("</script>")[0])
        assert spec["page"] == page.slug and not spec["view"]["error"], spec["view"]["error"]
        assert spec["view"]["figures"] and all(f["data"] for f in spec["view"]["figures"])


def test_analyze_api_equals_core_api(dashboard: Dashboard) -> None:
    values = {
        "model": "llama2-13b",
        "hardware": "h100-sxm",
        "batch": "16",
        "input_len": "1024",
        "output_len": "256",
        "tp": "2",
        "weight_dtype": "int8",
    }
    status, reply = api(dashboard, "analyze", values)
    assert status == 200
    r = hetsim.analyze(
        "llama2-13b", "h100-sxm", hetsim.Workload(16, 1024, 256), hetsim.Precision.of("int8"), tp=2
    )
    got = cards(reply["view"])
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
        assert got[key] == getattr(r, key), key
    table = next(t for t in reply["view"]["tables"] if t["id"] == "ops")
    assert [row[1] for row in table["rows"]] == [o.name for o in r.ops]
    assert [row[5] for row in table["rows"]] == [o.time_s for o in r.ops]


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"batch": "0"}, "batch must be a whole number from 1 to 2,147,483,648"),
        ({"model": "llama9"}, "unknown model 'llama9'"),
        ({"tp": "two"}, "tp must be a whole number"),
        ({"weight_dtype": "fp5"}, "unknown data type 'fp5'"),
    ],
)
def test_bad_inputs_answer_one_line_400(dashboard: Dashboard, values: dict[str, str], needle: str) -> None:
    status, reply = api(dashboard, "analyze", values)
    assert status == 400
    err = reply["view"]["error"]
    assert needle in err and "\n" not in err and "Traceback" not in err


def test_uploaded_yaml_error_is_the_cli_line(
    dashboard: Dashboard, bad_yaml: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(bad_yaml.parent)
    cli = run_cli("analyze", "-H", "bad.yaml")
    assert cli.code == 2
    status, reply = api(dashboard, "analyze", {}, {"hardware_file": {"name": "bad.yaml", "text": BAD_YAML}})
    assert status == 400
    assert "error: " + reply["view"]["error"] == cli.err.strip()


def test_requests_over_the_limit_are_refused(dashboard: Dashboard) -> None:
    big = "x" * (dashboard.ctx.max_upload_bytes + 1)
    status, reply = api(dashboard, "analyze", {}, {"hardware_file": {"name": "h.yaml", "text": big}})
    assert status == 400 and "the limit is" in reply["error"]
    status, reply = _post(f"{dashboard.url}/api/analyze", b"{}", {"Content-Length": str(10**9)})
    assert status == 413 and "over the dashboard's limit" in reply["error"]
    status, reply = _post(f"{dashboard.url}/api/analyze", b"not json")
    assert status == 400 and reply["error"] == "the request body is not JSON"


def test_only_fixed_assets_and_confined_files(dashboard: Dashboard) -> None:
    assert _get(dashboard.url + "/static/dashboard.js")[0] == 200
    for path in (
        "/static/../../pyproject.toml",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/view.py",
        "/../../etc/passwd",
        "/nope",
    ):
        assert _get(dashboard.url + path)[0] == 404, path
    for name in ("../README.md", "/etc/passwd", "../../../../etc/passwd"):
        status, reply = api(dashboard, "validate", {"file": name})
        assert status == 400 and "unknown measurement file" in reply["view"]["error"]


def test_upload_that_is_not_a_hardware_file(dashboard: Dashboard) -> None:
    status, reply = api(dashboard, "analyze", {}, {"hardware_file": {"name": "run.sh", "text": "rm -rf /"}})
    assert (
        status == 400
        and reply["view"]["error"] == "uploaded file 'run.sh': expected a .yaml or .yml or .json file"
    )


def test_explore_api_is_the_store_and_pareto_mask(dashboard: Dashboard, sweep_dir: Path) -> None:
    from hetsim.explore import read_results
    from hetsim.explore.pareto import pareto_mask

    cols = read_results(sweep_dir / "small")
    values = {"store": "small", "x": "ttft_s", "x_sense": "min", "y": "tok_per_s_per_device",
              "y_sense": "max", "filters": "tpot_s <= 0.05, batch >= 4"}  # fmt: skip
    status, reply = api(dashboard, "explore", values)
    assert status == 200, reply
    keep = (cols["tpot_s"] <= 0.05) & (cols["batch"] >= 4)
    kept = {k: v[keep] for k, v in cols.items()}
    front = pareto_mask(kept, [("ttft_s", "min"), ("tok_per_s_per_device", "max")])
    got = cards(reply["view"])
    assert (
        got["rows"] == len(cols["ttft_s"])
        and got["kept"] == int(keep.sum())
        and got["frontier"] == int(front.sum())
    )
    table = reply["view"]["tables"][0]
    xi = [c["key"] for c in table["columns"]].index("ttft_s")
    assert sorted(row[xi] for row in table["rows"]) == sorted(kept["ttft_s"][front].tolist())


@pytest.mark.parametrize(
    ("values", "needle"),
    [({"store": "../"}, "unknown sweep store"), ({"store": "/etc"}, "unknown sweep store"),
     ({"store": "small/../.."}, "unknown sweep store"),
     ({"store": "small", "filters": "tpot_s < fast"}, "write a bound like"),
     ({"store": "small", "filters": "nope <= 1"}, "no numeric column 'nope'"),
     ({"store": "small", "x": "model"}, "no numeric column 'model'")],
)  # fmt: skip
def test_explore_bad_inputs(dashboard: Dashboard, values: dict[str, str], needle: str) -> None:
    status, reply = api(dashboard, "explore", values)
    assert status == 400 and needle in reply["view"]["error"], reply


def test_explore_senses_default_to_the_columns_own(dashboard: Dashboard, sweep_dir: Path) -> None:
    """auto: a cost or time axis is minimised, a throughput maximised (no max,max by default)."""
    from hetsim.explore import read_results
    from hetsim.explore.pareto import pareto_mask

    cols = read_results(sweep_dir / "small")
    status, reply = api(
        dashboard, "explore", {"store": "small", "x": "usd_per_mtoken", "y": "tok_per_s_per_user"}
    )
    assert status == 200, reply
    front = pareto_mask(cols, [("usd_per_mtoken", "min"), ("tok_per_s_per_user", "max")])
    assert cards(reply["view"])["frontier"] == int(front.sum())
    assert "usd_per_mtoken (min)" in reply["view"]["title"]
    columns = [c["key"] for c in reply["view"]["tables"][0]["columns"]]
    assert {"model", "hardware", "tp", "batch"} <= set(columns)  # the axes the sweep varies
    status, reply = api(dashboard, "explore", {"store": "small", "x": "batch", "y": "ttft_s"})
    assert status == 400 and "no better direction" in reply["view"]["error"]
