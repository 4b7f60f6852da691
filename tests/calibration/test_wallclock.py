"""Host-wall-clock kernel rows (LLMCompass): priced as the call floor of their launch path plus
the cost model's GPU time, with the floors fitted on the A100 rows and the MI210 held out."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.calibration.api import load, validate
from hetsim.calibration.measurements import PUBLISHED_DIR, Measurement
from hetsim.calibration.predict import predict_task
from hetsim.calibration.wallclock import (
    COMPILED_CALL_S,
    EAGER_CALL_S,
    FIT_HARDWARE,
    PYTORCH_MICROBENCH,
    OpLaunch,
    timing_profile,
)
from hetsim.calibration.wallclock_fit import fit_call_floors, folds
from hetsim.errors import ConfigError
from tests.calibration.test_measurements import write_csv
from tests.conftest import CliResult

ROOT = PUBLISHED_DIR
BASE = {"source_id": "llmcompass_real_X", "n_devices": 1, "precision": "FP16", "tp": 1, "pp": 1,
        "framework": "PyTorch (LLMCompass ae/figure5)", "unit": "G elements/s", "value": 1.0}  # fmt: skip
HW = {"a100-80gb-sxm": "A100", "mi210": "AMD MI210", "h100-sxm": "H100 SXM", "h200": "H200"}


def _rows(hw: str, sizes: list[int]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for n in sizes:
        out.append({**BASE, "hardware": HW[hw], "model": f"gelu (elements={n})", "metric": "gelu_throughput"})
        for op in ("softmax", "layernorm"):
            out.append({**BASE, "hardware": HW[hw], "model": f"{op} (M={n}, N=4096)", "gemm_m": n,
                        "gemm_n": 4096, "metric": f"{op}_throughput"})  # fmt: skip
        out.append({**BASE, "hardware": HW[hw], "model": "GEMM", "metric": "gemm_latency", "unit": "ms",
                    "gemm_m": n, "gemm_n": 4096, "gemm_k": 4096})  # fmt: skip
    return out


def _seconds(path: Path, calibrated: bool = True) -> dict[tuple[str, str], np.ndarray]:
    """Predicted seconds per call of each (hardware, metric) in ``path``'s row order."""
    _, tasks, _, devices = load([path])
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for t in tasks:
        assert t.host_s is not None  # every row of these files is host-timed
        dev = devices[t.hardware] if calibrated else replace(devices[t.hardware], kernels=None)
        pred = predict_task(t, dev)
        for i, (r, p) in enumerate(zip(t.rows, pred, strict=True)):
            s = float(p) if t.kind == "time" else float(t.numer[i] / p)  # type: ignore[index]
            out.setdefault((t.hardware, r.metric), []).append((r.line, s))
    return {k: np.array([s for _, s in sorted(v)]) for k, v in out.items()}


def test_the_profile_states_what_each_call_launches() -> None:
    p = PYTORCH_MICROBENCH
    assert {op: (o.path, o.kernels) for op, o in p.ops.items()} == {
        "gemm": ("eager", 1), "softmax": ("eager", 1), "layernorm": ("compiled", 1), "gelu": ("compiled", 1)
    }  # fmt: skip
    assert 0 < p.floor_s("softmax") == EAGER_CALL_S < p.floor_s("gelu") == COMPILED_CALL_S
    assert all(o.source.startswith("documented: ") for o in p.ops.values())
    assert p.provenance["eager_call_s"].startswith("calibrated: ")
    row = Measurement("x.csv", 2, "llmcompass_real_A100", "A100", "a100-80gb-sxm", 1, "gelu (elements=8)",
                      "fp16", "", "gelu_throughput", 1.0, "elements/s")  # fmt: skip
    assert timing_profile(row) is p
    assert timing_profile(replace(row, metric="op_time_median:mlp_act")) is None  # not an op it describes
    assert timing_profile(replace(row, source_id="vidur_profiling")) is None
    with pytest.raises(ConfigError, match="single-kernel"):
        OpLaunch("eager", 2, "calibrated", "documented: x")
    with pytest.raises(ConfigError, match="unknown"):
        OpLaunch("graph", 1, "calibrated", "documented: x")


@settings(max_examples=6, deadline=None)
@given(hw=st.sampled_from(sorted(HW)), calibrated=st.booleans(),
       sizes=st.lists(st.integers(1, 1 << 24), min_size=2, max_size=5, unique=True))  # fmt: skip
def test_a_bigger_call_is_never_faster_and_never_below_its_floor(
    tmp_path_factory: pytest.TempPathFactory, hw: str, calibrated: bool, sizes: list[int]
) -> None:
    sizes = sorted(sizes)
    path = write_csv(tmp_path_factory.mktemp("wc") / "llmcompass_probe.csv", _rows(hw, sizes))
    for (_, metric), secs in _seconds(path, calibrated).items():
        assert np.all(np.isfinite(secs)) and np.all(np.diff(secs) >= -1e-12 * secs[1:]), (hw, metric, secs)
        op = "gemm" if metric.startswith("gemm") else metric.split("_")[0]
        assert np.all(secs > PYTORCH_MICROBENCH.floor_s(op)), (hw, metric)


def test_cuda_time_rows_get_no_host_floor(tmp_path: Path) -> None:
    timed = _rows("a100-80gb-sxm", [64, 4096])
    rows = [{**r, "source_id": "vidur", "framework": "Vidur"} for r in timed]
    _, tasks, _, _ = load([write_csv(tmp_path / "cuda.csv", rows)])
    assert tasks and all(t.host_s is None for t in tasks)
    _, mixed, _, _ = load([write_csv(tmp_path / "mixed.csv", rows + timed)])  # never in one task
    for t in mixed:
        assert {r.source_id for r in t.rows} == ({"llmcompass_real_X"} if t.host_s is not None else {"vidur"})


def test_committed_floors_are_the_fit_on_the_a100_rows() -> None:
    _, tasks, _, devices = load([ROOT / "llmcompass_ops.csv"])
    fit = fit_call_floors(tasks, devices, FIT_HARDWARE)
    assert fit["eager"] == pytest.approx(EAGER_CALL_S, rel=0.01)
    assert fit["compiled"] == pytest.approx(COMPILED_CALL_S, rel=0.01)


def test_llmcompass_rows_are_kernels_scored_fitted_and_held_out() -> None:
    rep = validate([ROOT / "llmcompass_ops.csv"])
    j = rep.to_json()["by_role_level_timing"]
    # 5.31 (A100) / 3.16 (MI210) MAPE when these rows were priced as CUDA time (row-kernel model)
    assert set(j) == {"fitted/kernel/host-wall-clock", "held-out/kernel/host-wall-clock"}
    fitted, held = j["fitted/kernel/host-wall-clock"], j["held-out/kernel/host-wall-clock"]
    assert fitted["n"] == 64 and fitted["mape"] < 0.11
    assert held["n"] == 108 and held["mape"] < 0.72
    assert all(s.row.hardware in FIT_HARDWARE for s in rep.scored if s.role == "fitted")


def test_each_fold_holds_the_other_gpu_out() -> None:
    _, tasks, _, devices = load([ROOT / "llmcompass_ops.csv"])
    by_fit = {f.fit_hardware: f for f in folds(tasks, devices)}
    assert set(by_fit) == {("a100-80gb-sxm",), ("mi210",)}
    for (hw,), fold in by_fit.items():
        assert {s.row.hardware for s in fold.report.scored if s.role == "fitted"} == {hw}
        assert all(0 < v < 1e-3 for v in fold.floors.values())
    assert by_fit[("a100-80gb-sxm",)].floors["eager"] == pytest.approx(EAGER_CALL_S, rel=0.01)


def test_validate_reports_both_folds(run_cli: Callable[..., CliResult]) -> None:
    r = run_cli("validate", "--measurements", str(ROOT / "llmcompass_ops.csv"), "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    folds_out = {tuple(f["fit_hardware"]): f for f in out["host_timing_folds"]["folds"]}
    mi210_fit = folds_out[("mi210",)]
    assert "held-out/a100-80gb-sxm/gelu_throughput" in mi210_fit["by_role_hardware_metric"]
    assert out["by_role_level_timing"]["held-out/kernel/host-wall-clock"]["n"] == 108
    text = run_cli("validate", "--measurements", str(ROOT / "llmcompass_ops.csv")).out
    assert "call floors fitted on one GPU" in text and "held-out/a100-80gb-sxm/softmax_throughput" in text
