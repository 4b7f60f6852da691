"""``validate --by`` groups and leave-one-GPU-out / leave-one-model-out cross-validation: a
fold is never scored by parameters fitted on its own rows."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from hetsim.calibration.api import validate
from hetsim.calibration.crossval import cross_validate, fold_key
from hetsim.calibration.measurements import read_measurements
from hetsim.calibration.predict import Task
from hetsim.hardware.kernels import KernelParams
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from tests.calibration.test_measurements import GEMM, write_csv

E2E = {"source_id": "t", "n_devices": 1, "precision": "FP16", "framework": "TensorRT-LLM v0.6.1",
       "batch_or_concurrency": 8, "input_len": 128, "output_len": 128, "tp": 1, "pp": 1,
       "metric": "output_throughput", "value": 1000, "unit": "tokens/s"}  # fmt: skip
VIDUR = {**GEMM, "metric": "op_time_median:mlp_down_proj", "model": "meta-llama/Llama-2-7b-hf",
         "batch_or_concurrency": "num_tokens=128", "gemm_m": 128, "gemm_n": 4096, "gemm_k": 11008,
         "notes": "H=32,KV=32,E=4096,F=11008,gated=True"}  # fmt: skip


@pytest.fixture
def csvs(tmp_path: Path) -> list[Path]:
    # vidur_ops.csv is a fit file: kernel rows of A100 (fit hardware) and A40 (fit hardware)
    fit = write_csv(tmp_path / "vidur_ops.csv", [
        VIDUR, {**VIDUR, "hardware": "A40"}, {**VIDUR, "hardware": "H100 DGX"},
    ])  # fmt: skip
    e2e = write_csv(tmp_path / "e2e.csv", [
        {**E2E, "hardware": "A100-SXM-80GB", "model": "Llama-2-7B"},
        {**E2E, "hardware": "H100-SXM-80GB", "model": "Llama-2-7B"},
        {**E2E, "hardware": "A100-SXM-80GB", "model": "GPT-J-6B"},
    ])  # fmt: skip
    return [fit, e2e]


class FakeFit:
    """Records the rows each fold's fit saw; returns the committed parameters, slowed down
    by a factor so that a refitted fold is visible in its predictions."""

    def __init__(self) -> None:
        self.seen: list[set[tuple[str, str]]] = []

    def __call__(
        self, tasks: Sequence[Task], devices: dict[str, Device], fit_hw: Sequence[str], files: Sequence[str]
    ) -> tuple[KernelParams, ...]:
        self.seen.append({(r.hardware, r.model) for t in tasks for r in t.rows if t.family == "kernel"})
        kp = get_hardware("a100-80gb-sxm").kernels
        assert kp is not None
        return (dataclasses.replace(kp, gemm_efficiency=0.2),)


def test_leave_one_gpu_out_never_fits_on_the_scored_gpu(csvs: list[Path]) -> None:
    fake = FakeFit()
    cv = cross_validate(csvs, "hardware", fit=fake)  # type: ignore[arg-type]
    assert cv.refit == ("a100-80gb-sxm",)  # H100 was never in the fit: its fold is the committed fit
    assert len(fake.seen) == 1 and all(hw != "a100-80gb-sxm" for hw, _ in fake.seen[0])
    assert {s.row.hardware for s in cv.report.scored} == {"a100-80gb-sxm", "h100-sxm"}
    assert all(s.role == "cv:hardware" and s.level == "e2e" for s in cv.report.scored)
    committed = {s.row.key: s.predicted for s in validate(csvs).scored}
    for s in cv.report.scored:  # refitted folds differ from the committed fit, the others do not
        same = s.predicted == pytest.approx(committed[s.row.key])
        assert same == (s.row.hardware == "h100-sxm")


def test_leave_one_model_out_never_fits_on_the_scored_model(csvs: list[Path]) -> None:
    fake = FakeFit()
    cv = cross_validate(csvs, "model", fit=fake)  # type: ignore[arg-type]
    assert cv.refit == ("llama2-7b",)  # GPT-J has no kernel rows in the fit
    assert all(m != "meta-llama/Llama-2-7b-hf" for _, m in fake.seen[0])
    rows, _ = read_measurements(csvs)
    assert {fold_key(r, "model") for r in rows} == {"llama2-7b", "gpt-j-6b"}


def test_validate_by_groups_and_cli(csvs: list[Path], run_cli) -> None:  # type: ignore[no-untyped-def]
    rep = validate(csvs)
    groups = rep.by_fields(["hardware", "precision", "framework"])
    assert "a100-80gb-sxm/fp16/tensorrt-llm-pre-xqa" in groups
    assert sum(g["n"] for g in groups.values()) == len(rep.scored)
    res = run_cli("validate", "--measurements", *map(str, csvs), "--by", "hardware,model", "--json")
    assert res.code == 0, res.err
    j = json.loads(res.out)
    assert set(j["by"]["hardware,model"]) >= {"a100-80gb-sxm/Llama-2-7B", "h100-sxm/Llama-2-7B"}
    assert all("unit" in w for w in j["worst"])
    res = run_cli("validate", "--measurements", str(csvs[0]), "--by", "hardware,colour")
    assert res.code == 2 and "choose comma-separated fields" in res.err and "Traceback" not in res.err
    res = run_cli("validate", "--measurements", str(csvs[0]), "--cross-validate", "gpu")
    assert res.code == 2 and "hardware' or 'model'" in res.err
