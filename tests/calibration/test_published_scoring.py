"""Scoring what can be scored on the published rows: names through the shared resolvers,
metrics derived from the prediction with the source's definition, one named op of a model,
FP8 / grouped GEMMs and bus bandwidth, serving rows at a stated steady state, and an energy
table whenever energy rows exist. Every row read is scored or skipped with a counted reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from hetsim.api import predict_op
from hetsim.calibration.api import validate
from hetsim.calibration.derived import model_size_bytes
from hetsim.calibration.e2e import model_for
from hetsim.calibration.kernel_rows import GEMM_PRECISIONS, gemm_op
from hetsim.calibration.measurements import read_measurements
from hetsim.calibration.steady import steady_state
from hetsim.calibration.vocabulary import normalise_precision, parse_batch, precision_of
from hetsim.errors import ConfigError
from hetsim.hardware.names import resolve as resolve_hardware
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model
from tests.calibration.test_measurements import write_csv

PUBLISHED = Path(__file__).resolve().parents[2] / "data" / "measurements" / "published"


@pytest.mark.parametrize(
    ("text", "preset"),
    [("GPTJ 6B", "gpt-j-6b"), ("LLAMA 3 (70B)", "llama3-70b"),
     ("Mixtral 46.7B (Mixtral 8x7B)", "mixtral-8x7b"),
     ("Llama 3.1:70b (Ollama tag llama3.1:70b)", "llama3.1-70b"), ("DeepSeek-V3 671B MoE (Q4_K_M GGUF)",
     "deepseek-v3"), ("Qwen3-30B-A3B-128K-Q8_0 (unsloth GGUF)", "qwen3-30b-a3b"), ("Vicuna 7B", "llama2-7b"),
     ("Qwen/Qwen3-235B-A22B-Instruct-2507 (MoE, 235.0B total / 22.0B active)", "qwen3-235b-a22b")],
)  # fmt: skip
def test_published_model_names_resolve(text: str, preset: str) -> None:
    spec = model_for(text)
    assert spec is not None and spec.name == preset


@pytest.mark.parametrize(
    "text", ["DeepSeek R1 14b (Ollama tag deepseek-r1:14b; Qwen-14B distill)", "Falcon 7B"]
)
def test_no_guessing_a_size_the_preset_does_not_have(text: str) -> None:
    assert model_for(text) is None  # a 14B distill is not the 671B preset the name's family suggests


def test_a_gpu_named_in_brackets_after_its_box() -> None:
    assert resolve_hardware("Intel 265K Custom PC (Nvidia RTX 4090) (model on the GPU)").system == "rtx-4090"
    assert resolve_hardware("Apple M2 Max (CPU cores); CPU only").system == ""


def test_precisions_of_the_published_rows() -> None:
    assert normalise_precision("Q4_K_M GGUF (int4-class)") == "gguf:q4_k_m"
    assert precision_of("gguf:q4_k_m") == Precision.of("q4_k_m")
    assert normalise_precision("MXFP4 (ML.ENERGY weight_precision 'mxfp4')") == "mxfp4"
    assert normalise_precision("int4 weight-only g64 + 2:4 sparsity (Sparse-Marlin)") == "sparse-2:4"
    assert precision_of("sparse-2:4") is None  # counted as unsupported_precision:sparse-2:4


def test_size_labels_and_steady_state_batches_parse() -> None:
    assert parse_batch("size=132K (message size as the table writes it)").size_bytes == 2**17
    assert parse_batch("size=1G (...)").size_bytes == 2**30
    form = parse_batch("concurrency=128 (vLLM max_num_seqs; steady-state average running batch 127.54)")
    assert form.serving == "concurrency" and form.running_batch == pytest.approx(127.54)


def test_a_row_at_a_stated_steady_state_is_a_static_batch(tmp_path: Path) -> None:
    row = {"source_id": "s", "hardware": "H100", "n_devices": 1, "model": "Llama-3.1-8B", "precision": "BF16",
           "framework": "vLLM",
           "batch_or_concurrency": "concurrency=64 (steady-state average running batch 63.8)",
           "input_len": "dataset", "output_len": "dataset", "tp": 1, "metric": "itl_median", "value": 10,
           "unit": "ms", "notes": "avg_batch_size=63.8, avg_output_len=615.1."}  # fmt: skip
    (r,), _ = read_measurements([write_csv(tmp_path / "m.csv", [row])])
    s = steady_state(r)
    assert (s.batch, s.output_len, s.serving) == (64, 615, "steady")
    rep = validate([tmp_path / "m.csv"])
    assert len(rep.scored) == 1 and not rep.skipped


def test_fp8_gemm_bytes_are_deepgemms_effective_bandwidth() -> None:
    # DeepGEMM README: M=64, N=2112, K=7168 at 206 TFLOPS is 1,688 GB/s effective
    rows, _ = read_measurements([PUBLISHED / "deepgemm_readme.csv"])
    r = next(x for x in rows if (x.gemm_m, x.gemm_n, x.metric) == (64, 2112, "gemm_tflops"))
    op = gemm_op([r], GEMM_PRECISIONS["fp8"][1])
    t = float(op.flop[0]) / 206e12
    assert float(op.bytes[0]) / t == pytest.approx(1688e9, rel=2e-3)


def test_achieved_bandwidth_follows_the_prediction_not_the_device() -> None:
    """gpt-fast's Memory Bandwidth is model bytes per rank x tokens/s: it changes with the model,
    the precision and the prediction (it was the device's bandwidth, 1.763e12, whatever the row)."""
    rep = validate([PUBLISHED / "gptfast_readme.csv"])
    bw = [s for s in rep.scored if s.row.metric == "achieved_memory_bandwidth"]
    assert len(bw) >= 20 and len({round(s.predicted, -9) for s in bw}) > 10
    tok = {(s.row.hardware, s.row.model, s.row.precision, s.row.tp): s.predicted for s in rep.scored
           if s.row.metric == "tokens_per_second"}  # fmt: skip
    m = get_model("llama2-7b")
    checked = 0
    for s in bw:
        key = (s.row.hardware, s.row.model, s.row.precision, s.row.tp)
        if key[1:] == ("Llama-2-7B", "bf16", 1):
            size = model_size_bytes(m, Precision.of("bf16"), 1, 205, 1)
            assert s.predicted == pytest.approx(size * tok[key], rel=1e-6)
            checked += 1
    assert checked >= 2


def test_every_published_row_is_scored_or_counted() -> None:
    files = sorted(PUBLISHED.glob("*.csv"))
    rows, unread = read_measurements(files)
    rep = validate(files)
    assert len(rep.scored) >= 700  # 165 before (main at 1225b55: names, metrics, ops and precisions skipped)
    assert len(rep.scored) + sum(rep.skipped.values()) == len(rows) + sum(unread.values())
    assert "unsupported_metric" not in rep.skipped  # every unsupported metric is named
    assert rep.skipped["scored_in_energy_table"] > 0


def test_the_energy_table_is_printed_whenever_energy_rows_exist(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    row = {"source_id": "e", "hardware": "Unknown Accelerator 9000", "n_devices": 1, "model": "llama2-7b",
           "precision": "FP16", "batch_or_concurrency": "1", "input_len": 128, "output_len": 128, "tp": 1,
           "metric": "avg_power", "value": 300, "unit": "W"}  # fmt: skip
    res = run_cli("validate", "--measurements", str(write_csv(tmp_path / "e.csv", [row])), "--no-folds")
    assert res.code == 0
    assert "energy: 0 rows scored of 1" in res.out and "unknown_hardware 1" in res.out
    assert "no energy row could be scored" in res.out


def test_one_named_op_of_a_model() -> None:
    qkv = predict_op("gpt3-175b", "a100-80gb-sxm", "Q_K_V", phase="prefill", batch=8, input_len=2048, tp=4)
    assert qkv.op == "qkv_proj" and qkv.bound == "compute" and qkv.time_s > 0
    small = predict_op("gpt3-175b", "a100-80gb-sxm", "Q_K_V", phase="prefill", batch=1, input_len=2048, tp=4)
    assert small.time_s < qkv.time_s
    score = predict_op("llama2-7b", "h100-sxm", "Q_mul_K", phase="decode", batch=16, input_len=4096)
    longer = predict_op("llama2-7b", "h100-sxm", "Q_mul_K", phase="decode", batch=16, input_len=8192)
    assert score.op == "attn_score" and longer.time_s > score.time_s
    ar = predict_op("llama2-70b", "h100-sxm", "AllReduce_FFN", phase="decode", batch=8, input_len=512, tp=8)
    assert ar.op == "ffn_allreduce" and ar.bound == "link"
    with pytest.raises(ConfigError, match="choose from"):
        predict_op("llama2-7b", "h100-sxm", "flux_capacitor", phase="decode", batch=1, input_len=1)


def test_validate_scores_a_per_op_row(tmp_path: Path) -> None:
    base = {"source_id": "llmcompass_like", "hardware": "A100 80GB", "n_devices": 4, "model": "GPT-3 175B",
            "precision": "FP16", "batch_or_concurrency": "8", "input_len": 2048, "output_len": "-", "tp": 4,
            "unit": "ms"}  # fmt: skip
    pred = predict_op("gpt3-175b", "a100-80gb-sxm", "W1_proj", phase="prefill", batch=8, input_len=2048, tp=4)
    rows = [{**base, "metric": "prefill_op_latency:W1_proj", "value": pred.time_s * 1e3 * 1.1},
            {**base, "metric": "decode_op_latency:Softmax", "value": 0.01}]  # fmt: skip
    rep = validate([write_csv(tmp_path / "ops.csv", rows)])
    by = {s.row.metric: s for s in rep.scored}
    assert set(by) == {"prefill_op_latency:W1_proj", "decode_op_latency:Softmax"}
    assert by["prefill_op_latency:W1_proj"].ape == pytest.approx(1 - 1 / 1.1, rel=1e-6)
