"""`hetsim report RUN.json --html FILE`: one self-contained file (no external scripts), the
same numbers as the run, and one-line errors for bad runs; `hetsim dashboard` argument errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import CliResult

Run = Callable[..., CliResult]
ANALYZE = ("analyze", "-m", "llama2-7b", "-H", "a100-80gb-sxm", "-b", "4", "--json")


def _spec(html: str) -> dict[str, object]:
    return json.loads(html.split('id="hetsim-spec">')[1].split("</script>")[0].replace("<\\/", "</"))


def test_analysis_report_is_self_contained(run_cli: Run, tmp_path: Path) -> None:
    r = run_cli(*ANALYZE)
    run = tmp_path / "run.json"
    run.write_text(r.out)
    out = tmp_path / "report.html"
    assert run_cli("report", str(run), "--html", str(out)).code == 0
    html = out.read_text()
    assert not re.search(r"<(script|link)[^>]+(src|href)=", html)  # nothing fetched
    assert "Plotly" in html and len(html) > 1_000_000  # plotly.min.js inlined
    spec = _spec(html)
    view = spec["view"]
    assert isinstance(view, dict)
    got = {c["key"]: c["value"] for c in view["cards"]}
    data = json.loads(r.out)
    assert got["ttft_s"] == data["ttft_s"] and got["tpot_s"] == data["tpot_s"]
    assert {f["id"] for f in view["figures"]} >= {"roofline", "memory", "times-prefill", "times-decode"}


def test_report_refuses_to_overwrite_and_bad_runs(run_cli: Run, tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    run.write_text(run_cli(*ANALYZE).out)
    out = tmp_path / "r.html"
    out.write_text("mine")
    r = run_cli("report", str(run), "--html", str(out))
    assert r.code == 2 and "exists" in r.err and out.read_text() == "mine"
    assert run_cli("report", str(run), "--html", str(out), "--force").code == 0
    cases = [
        ('{"a": 1}', "not an analysis"),
        ("{not json", "is not valid JSON"),
        ('[{"a": 1}, {}]', "missing"),
    ]
    for text, needle in cases:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        r = run_cli("report", str(bad), "--html", str(tmp_path / "x.html"))
        assert r.code == 2 and needle in r.err and r.err.count("\n") == 1 and "Traceback" not in r.err, r.err
    r = run_cli("report", str(tmp_path / "missing.json"), "--html", str(tmp_path / "x.html"))
    assert r.code == 2 and "does not exist" in r.err
    r = run_cli("report", str(run), "--html", str(tmp_path / "x.png"))
    assert r.code == 2 and "use a .html file name" in r.err


def test_comparison_report(run_cli: Run, tmp_path: Path) -> None:
    runs = [
        json.loads(run_cli("analyze", "-m", "llama2-7b", "-H", hw, "--json").out)
        for hw in ("a100-80gb-sxm", "h100-sxm")
    ]
    run = tmp_path / "cmp.json"
    run.write_text(json.dumps(runs))
    out = tmp_path / "cmp.html"
    assert run_cli("report", str(run), "--html", str(out)).code == 0
    view = _spec(out.read_text())["view"]
    assert isinstance(view, dict)
    table = view["tables"][0]
    assert [row[2] for row in table["rows"]] == [d["ttft_s"] for d in runs]


def test_dashboard_argument_errors(run_cli: Run, tmp_path: Path) -> None:
    r = run_cli("dashboard", "--sweep", str(tmp_path / "nope"))
    assert r.code == 2 and "not a folder" in r.err
    r = run_cli("dashboard", "--port", "70000")
    assert r.code == 2 and "--port" in r.err
    r = run_cli("dashboard", "--max-upload-mb", "0")
    assert r.code == 2 and "--max-upload-mb" in r.err


def test_cli_start_does_not_import_the_web_extra() -> None:
    code = "import sys, hetsim.cli; print([m for m in sys.modules if m.startswith(('plotly', 'hetsim.web'))])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _compare_report(
    run_cli: Run, tmp_path: Path, *args: str
) -> tuple[list[dict[str, object]], dict[str, Any]]:
    """(rows of ``hetsim compare ARGS --json``, the view of the report written from them)."""
    r = run_cli("compare", *args, "--json")
    assert r.code == 0, r.err
    run = tmp_path / "cmp.json"
    run.write_text(r.out)
    out = tmp_path / "cmp.html"
    assert run_cli("report", str(run), "--html", str(out)).code == 0
    view = _spec(out.read_text())["view"]
    assert isinstance(view, dict)
    return json.loads(r.out), view


def test_report_of_hetsim_compare_rows(run_cli: Run, tmp_path: Path) -> None:
    rows, view = _compare_report(
        run_cli, tmp_path, "-m", "llama2-70b", "-H", "a100-80gb-sxm,h100-sxm", "--tp", "1"
    )
    shown = view["tables"][0]["rows"]
    assert [row[1] for row in shown] == [row["fits"] for row in rows]  # llama2-70b fits neither at tp 1
    assert any("does not fit" in n for n in view["notes"])


def test_comparison_report_of_compare_rows_has_its_cost_chart(run_cli: Run, tmp_path: Path) -> None:
    """`hetsim compare --json` rows carry no power; the cost chart was empty. It is now the
    energy per token times the output rate, equal to the analysis's own average power."""
    import hetsim
    from hetsim.cost.prices import system_cost, usd_per_mtoken

    _, view = _compare_report(run_cli, tmp_path, "-m", "llama2-7b", "-H", "h100-sxm,a100-80gb-sxm", "-b", "8")
    table = view["tables"][0]
    keys = [c["key"] for c in table["columns"]]
    costs = [row[keys.index("usd_per_mtoken")] for row in table["rows"]]
    assert all(isinstance(c, float) and c > 0 for c in costs), costs
    a = hetsim.analyze("llama2-7b", "h100-sxm", hetsim.Workload(8, 512, 128))
    want = usd_per_mtoken(system_cost(hetsim.get_hardware("h100-sxm"), 1, a.avg_power_w).usd_per_hour,
                          a.output_throughput_tok_per_s)  # fmt: skip
    assert abs(costs[0] - want) <= 1e-9 * want
