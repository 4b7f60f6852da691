"""`hetsim explore` end to end through the real entry point: run, dry run, query, pareto, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import CliResult

Run = Callable[..., CliResult]
ISSUE = {"axes": {"model": ["llama2-7b", "llama2-70b"], "hardware": ["h100-sxm", "h200"], "tp": [1, 2, 4, 8],
                  "batch": [1, 8, 32, 64, 128], "input_len": [512, 2048], "output_len": [128, 512],
                  "weight_dtype": ["fp16", "fp8"]}}  # fmt: skip


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(ISSUE))
    return p


def test_run_query_pareto(run_cli: Run, spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "store"
    r = run_cli("explore", str(spec), "--out", str(out), "--workers", "1", "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert summary["points"] == 640 and summary["rows"] + sum(summary["removed"].values()) == 640
    q = run_cli("explore", "query", str(out), "SELECT count(*) AS n, max(mbu) AS m FROM results", "--json")
    assert q.code == 0, q.err
    row = json.loads(q.out)[0]
    assert row["n"] == summary["rows"] and 0 < row["m"] <= 1
    png = tmp_path / "front.png"
    p = run_cli("explore", "pareto", str(out), "--plot", str(png))
    assert p.code == 0, p.err
    assert png.stat().st_size > 1000 and "points on the front" in p.out
    again = run_cli("explore", "pareto", str(out), "--plot", str(png))
    assert again.code == 2 and "already exists" in again.err


def test_dry_run_counts_and_estimates(run_cli: Run, spec: Path) -> None:
    r = run_cli("explore", str(spec), "--dry-run", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["points"] == 640 and d["est_seconds"] > 0 and d["est_bytes"] > 0


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ({"axes": {**ISSUE["axes"], "modle": "x"}}, "did you mean model"),
        ({"axes": ISSUE["axes"], "hardware_params": {"hbm.bandwidth": [3000]}}, "has no unit"),
        (
            {
                "axes": {
                    **ISSUE["axes"],
                    "model": "llama2-70b",
                    "hardware": "h100-sxm",
                    "tp": 1,
                    "weight_dtype": "fp16",
                }
            },
            "every one of the 20 points was filtered out ('fits' removed 20)",
        ),
    ],
)
def test_bad_input_one_line_exit_2(run_cli: Run, tmp_path: Path, edit: dict, needle: str) -> None:  # type: ignore[type-arg]
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(edit))
    r = run_cli("explore", str(p), "--out", str(tmp_path / "o"), "--workers", "1")
    assert r.code == 2
    assert needle in r.err and r.err.count("\n") == 1 and "Traceback" not in r.err


def test_query_errors(run_cli: Run, spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "store"
    assert run_cli("explore", str(spec), "--out", str(out), "--workers", "1").code == 0
    r = run_cli("explore", "query", str(out), "SELECT nope FROM results")
    assert r.code == 2 and r.err.startswith("error: query failed")
    r = run_cli("explore", "query", str(tmp_path), "SELECT 1")
    assert r.code == 2 and "not an explore store" in r.err
    r = run_cli("explore", "--resume", str(tmp_path / "missing"))
    assert r.code == 2 and "no such directory" in r.err


def test_frontier_only_keeps_a_superset_of_the_global_front(run_cli: Run, spec: Path, tmp_path: Path) -> None:
    import numpy as np

    from hetsim.explore import read_results
    from hetsim.explore.pareto import pareto_mask

    full, front = tmp_path / "full", tmp_path / "front"
    assert run_cli("explore", str(spec), "--out", str(full), "--workers", "1").code == 0
    assert run_cli("explore", str(spec), "--out", str(front), "--workers", "1", "--frontier-only").code == 0
    a, b = read_results(full), read_results(front)
    obj = [("output_throughput_tok_per_s", "max"), ("usd_per_mtoken", "min")]
    best = set(a["index"][pareto_mask(a, obj)].tolist())
    assert best <= set(b["index"].tolist()) and len(b["index"]) < len(a["index"])
    assert np.all(pareto_mask(b, obj))  # one chunk here: what is kept is exactly the front


def test_pareto_senses_come_from_the_spec_or_the_column(run_cli: Run, tmp_path: Path) -> None:
    """A cost axis is minimised by default (it was max,max: the 'front' was the most expensive
    designs); the table shows every design axis that differs (weight_dtype here)."""
    from hetsim.explore import read_results
    from hetsim.explore.pareto import pareto_mask

    spec = {"axes": {"model": "llama2-7b", "hardware": "h100-sxm", "tp": [1, 2, 8], "batch": [1, 8, 64],
                     "input_len": 512, "output_len": 128, "weight_dtype": ["fp16", "fp8"]},
            "objectives": {"usd_per_mtoken": "min", "tok_per_s_per_user": "max"}}  # fmt: skip
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "store"
    assert run_cli("explore", str(path), "--out", str(out), "--workers", "1").code == 0
    cols = read_results(out)
    cheapest = float(cols["usd_per_mtoken"].min())
    for args in ((), ("--x", "usd_per_mtoken", "--y", "tok_per_s_per_device")):
        r = run_cli("explore", "pareto", str(out), *args)
        assert r.code == 0, r.err
        assert "usd_per_mtoken (min" in " ".join(r.out.split()) and "weight_dtype" in r.out, r.out
        assert f"{cheapest:.4g}" in r.out  # the cheapest design is on every front that minimises cost
    front = pareto_mask(cols, [("usd_per_mtoken", "min"), ("tok_per_s_per_user", "max")])
    r = run_cli("explore", "pareto", str(out))
    assert f"{int(front.sum())} of {len(front)} rows" in " ".join(r.out.split())
    r = run_cli("explore", "pareto", str(out), "--sense", "max,max", "--x", "usd_per_mtoken")
    assert r.code == 0 and "(max: given)" in " ".join(r.out.split())
    r = run_cli("explore", "pareto", str(out), "--x", "batch")
    assert r.code == 2 and "no better direction" in r.err


def test_points_left_out_are_counted_with_their_reason(run_cli: Run, tmp_path: Path) -> None:
    """Batches below --interleave are skipped, not fatal: the summary counts them under the
    filter that removed them, with what that filter means."""
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump({"axes": {"model": "llama2-7b", "hardware": "h2m2", "batch": [1, 8],
                                          "input_len": 256, "output_len": 16, "interleave": 4}}))  # fmt: skip
    r = run_cli("explore", str(p), "--out", str(tmp_path / "store"), "--workers", "1")
    assert r.code == 0, r.err
    assert "applicable (policy, GEMM type or interleave cannot apply): 1" in " ".join(r.out.split())
