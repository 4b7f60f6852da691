"""Engine records: one per real engine and version, every knob with provenance, one set of names
and aliases for ``analyze --framework`` and ``serve-sim --engine``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from hetsim.engines import DEFAULT, ENGINES, EngineConfig, Serving, get, match
from hetsim.errors import UnknownNameError
from hetsim.serving.engine import PRESETS, get_engine
from hetsim.serving.schedulers import REGISTRY
from tests.conftest import CliResult

NAMES = [n for e in ENGINES for n in e.names]


def test_names_unique_and_every_alias_resolves_to_its_record() -> None:
    assert len(NAMES) == len(set(NAMES))
    for e in ENGINES:
        for n in e.names:
            assert get(n) is e and get(f"  {n.upper()} ") is e
            assert get_engine(n) is e.batching
    assert set(PRESETS) == {e.name for e in ENGINES}


def test_the_two_old_names_of_tensorrt_llm_are_one_record() -> None:
    assert get("trtllm") is get("tensorrt-llm") and get_engine("trtllm") is get_engine("tensorrt-llm")
    with pytest.raises(UnknownNameError, match="did you mean"):
        get("tensorrt-lm")


@pytest.mark.parametrize("e", ENGINES, ids=lambda e: e.name)
def test_every_record_names_a_registered_scheduler_and_sources_its_knobs(e: object) -> None:
    from hetsim.cli.engines import _knobs

    assert e.batching.scheduler in REGISTRY  # type: ignore[attr-defined]
    assert e.batching.name == e.name  # type: ignore[attr-defined]
    static = _knobs(e.serving, e.provenance)  # type: ignore[attr-defined]
    assert all(k in e.provenance for k in static), (e.name, static)  # type: ignore[attr-defined]
    base = EngineConfig()
    moved = [f.name for f in dataclasses.fields(EngineConfig)
             if f.name not in ("name", "provenance", "serving")
             and getattr(e.batching, f.name) != getattr(base, f.name)]  # type: ignore[attr-defined]  # fmt: skip
    missing = [k for k in moved if k not in e.batching.provenance]  # type: ignore[attr-defined]
    assert not missing, (e.name, missing)  # type: ignore[attr-defined]
    for prov in (*e.provenance.values(), *e.batching.provenance.values()):  # type: ignore[attr-defined]
        kinds = {"docs", "documented", "paper", "calibrated", "assumed", "derived", "transferred"}
        assert prov.split(":")[0].split()[0] in kinds, prov


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("TensorRT-LLM v0.5 (low-latency section footnote)", "tensorrt-llm-pre-xqa"),
        ("TensorRT-LLM v0.6.1", "tensorrt-llm-pre-xqa"),
        ("TensorRT-LLM v0.14.0 + Triton tensorrtllm_backend", "tensorrt-llm"),
        ("TensorRT-LLM 1.0 PyTorch backend (trtllm-serve)", "tensorrt-llm-pytorch"),
        ("vLLM 0.5.4 (ML.ENERGY leaderboard v2.0)", "vllm-v0"),
        ("vLLM 0.11.1 (ML.ENERGY leaderboard v3.0)", "vllm"),
        ("LMDeploy v0.1.0a1 (TurboMind), CUDA 11.8", "lmdeploy"),
        ("FastChat + Hugging Face transformers, PyTorch 2.0.1", "hf-transformers"),
        ("FlexGen (offload: cpu)", "flexgen"),
        ("DeepSpeed ZeRO-Inference (offload: disk)", "deepspeed-zero-inference"),
        ("SGLang v0.4", "sglang"),
        ("text-generation-inference 3.0", "tgi"),
        ("llama.cpp b4000 llama-server", "llama.cpp"),
        ("PyTorch (LLMCompass ae/figure5)", "default"),
    ],
)
def test_measurement_framework_text_resolves_to_its_version(text: str, name: str) -> None:
    assert match(text).name == name


def test_vllm_v0_and_v1_share_the_static_knobs_the_calibration_used() -> None:
    """Both vLLM versions keep the decode-graph knobs the held-out vLLM rows were scored with;
    only V1, whose rows fitted it, carries the per-sequence host time, and only V0 the published
    per-step host time (vLLM RFC #6854: about 4 ms a decode step before multi-step scheduling)."""
    v1, v0 = get("vllm").serving, get("vllm-v0").serving
    same = dataclasses.replace(v1, sequence_overhead_s=0.0, step_overhead_s=v0.step_overhead_s)
    assert same == v0 and v1.sequence_overhead_s > 0 and v1.step_overhead_s is None
    assert v0.step_overhead_s == pytest.approx(4.0e-3)
    assert get("vllm-v0").knob_provenance("step_overhead_s").startswith("documented: vLLM RFC #6854")
    assert get("vllm").batching.scheduler == "fcfs" and get("vllm-v0").batching.scheduler == "prefill-first"
    assert DEFAULT.serving == Serving()


@pytest.mark.parametrize("name", ["trtllm", "tensorrt-llm", "turbomind", "llamacpp", "tgi", "vllm-v0"])
def test_analyze_and_serve_sim_take_the_same_names(run_cli: Callable[..., CliResult], name: str) -> None:
    a = run_cli("analyze", "-m", "llama3-8b", "-H", "h100-sxm", "-b", "1", "-p", "128", "-g", "8",
                "--framework", name, "--json")  # fmt: skip
    s = run_cli("serve-sim", "-m", "llama3-8b", "-H", "h100-sxm", "-n", "20", "-p", "128", "-g", "8",
                "--rate", "5", "--engine", name, "--json")  # fmt: skip
    assert a.code == 0 and s.code == 0, (a.err, s.err)


def test_engines_command_lists_both_parts(run_cli: Callable[..., CliResult]) -> None:
    import json

    r = run_cli("engines", "--json")
    assert r.code == 0
    rows = json.loads(r.out)
    assert [x["name"] for x in rows] == [e.name for e in ENGINES]
    trt = next(x for x in rows if x["name"] == "tensorrt-llm")
    assert (
        trt["batching"]["step_overhead_s"]["value"] == 1e-3
        and "fitted" in trt["batching"]["step_overhead_s"]["provenance"]
    )
    assert "trtllm_serving.csv" in trt["fitted_on"]
