"""Every form of ``data/measurements/published/README.md``'s "vocabulary a reader must handle" is
either read into something the cost model prices, or skipped with a reason that is true."""

from __future__ import annotations

from pathlib import Path

import pytest

from hetsim.calibration.api import validate
from hetsim.calibration.e2e import E2E_METRICS, ENERGY_METRICS, e2e_reason, precision_for
from hetsim.calibration.energy import energy_report
from hetsim.calibration.measurements import read_measurements
from hetsim.calibration.vocabulary import (
    PRECISIONS,
    UNITS,
    normalise_hardware,
    normalise_precision,
    parse_batch,
    parse_length,
    unit_key,
)
from tests.calibration.test_measurements import write_csv

# README: units
UNIT_FORMS = ["G elements/s", "GB/s", "TFLOPS", "ms", "ns", "req/s", "s", "samples/s", "sentences/s",
              "tokens/s", "tokens/s/GPU", "tok/s", "t/s", "token/s", "tokens/sec", "tokens/second",
              "output tok/s", "total tok/s", "s per token", "J", "J/token", "mJ/token", "W"]  # fmt: skip


@pytest.mark.parametrize("unit", UNIT_FORMS)
def test_every_published_unit_is_known(unit: str) -> None:
    assert unit_key(unit) in UNITS


@pytest.mark.parametrize(
    ("text", "key"),
    [("FP16", "fp16"), ("BF16", "bf16"), ("FP8", "fp8"), ("FP8 (float8_e4m3fn)", "fp8"),
     ("FP8 e4m3 with fine-grained scaling, BF16 output", "fp8"), ("FP4", "fp4"), ("MXFP4", "mxfp4"),
     ("int8 weight-only", "int8-wo"), ("int4 weight-only", "int4-wo"),
     ("int4 weight-only g32", "int4-wo-g32"),
     ("int8 weights + int8 KV cache", "int8-wo-kv8"), ("AWQ INT4 weights", "int4-wo"),
     ("not stated", ""), ("default (BF16 model dtype; not stated)", "bf16"),
     ("BF16/FP16 (Base; dtype not stated)", "fp16"), ("Q4_0", "gguf:q4_0"), ("Q4_K_M", "gguf:q4_k_m"),
     ("IQ2_M", "gguf:iq2_m"), ("GGUF (type not stated)", "gguf"),
     # bare 8-bit GPTQ / 4-bit-weight-8-bit-activation forms are not int4 weight-only
     ("GPTQ-Int8", "int8-wo"), ("GPTQ-Int8 (int8 weight-only)", "int8-wo"), ("GPTQ-Int4", "int4-wo"),
     ("W4A8 AWQ", "w4a8"), ("W4A8KV4 (QServe QoQ)", "w4a8")],
)  # fmt: skip
def test_every_published_precision_normalises(text: str, key: str) -> None:
    assert normalise_precision(text) == key


def test_precisions_separate_weight_gemm_activation_and_kv() -> None:
    fp8 = PRECISIONS["fp8"]
    names = (fp8.weight.name, fp8.compute.name, fp8.activation.name, fp8.kv.name)
    assert names == ("fp8", "fp8", "fp16", "fp16")
    wo = PRECISIONS["int4-wo"]
    assert (wo.weight.bits, wo.compute.name, wo.activation.name) == (4, "fp16", "fp16")
    # TensorRT-LLM's FP8 engines keep an FP8 KV cache (its performance page's build flags)
    assert precision_for("fp8", "TensorRT-LLM v0.6.1").kv.name == "fp8"
    assert precision_for("fp8", "vLLM 0.6").kv.name == "fp16"


@pytest.mark.parametrize(
    ("text", "name"),
    [("H100 (80GB HBM3 per methodology text; form factor not stated)", "h100-sxm"),
     ("H200 (141GB HBM3e)", "h200"), ("H200 131GB HBM3", "h200"), ("H800 (SXM5)", "h800"),
     ("B200 180GB (DGX B200)", "b200"), ("GB200 192GB (GB200 NVL72)", "gb200"), ("GH200 480GB", "gh200"),
     ("L40S", "l40s"), ("RTX 6000 Pro Blackwell Server Edition", "rtx-pro-6000"), ("MI300X", "mi300x"),
     ("MI250X (one GCD)", "mi250x-gcd"), ("Intel Gaudi 2", "gaudi2"), ("Intel Gaudi 3", "gaudi3"),
     ("Intel Gaudi 2/3", ""), ("Google TPU v5e (v5litepod)", "tpu-v5e"),
     ("A100-SXM-80GB", "a100-80gb-sxm"), ("A100 (variant not stated)", "a100-80gb-sxm"),
     ("A100 PCIe 80GB (RunPod)", "a100-pcie"), ("H100 PCIe 80GB", "h100-pcie")],
)  # fmt: skip
def test_every_published_hardware_form_normalises(text: str, name: str) -> None:
    assert normalise_hardware(text) == name


def test_w4a8_is_skipped_and_a100_pcie_is_not_priced_as_the_sxm_board(tmp_path: Path) -> None:
    """A W4A8 row is skipped as an unpriced precision (never priced as int4 weight-only), and an
    A100 PCIe row is priced as its own board (1,935 GB/s, 300 W), never as the 400 W SXM board."""
    rows = [{**ROW, "precision": "W4A8 AWQ"}, {**ROW, "hardware": "A100 PCIe 80GB", "precision": "FP16"}]
    res = validate([write_csv(tmp_path / "m.csv", rows)])
    assert [s.row.hardware for s in res.scored] == ["a100-pcie"]
    assert res.skipped == {"unsupported_precision:w4a8": 1}
    sxm_row = {**ROW, "hardware": "A100 SXM4 80GB", "precision": "FP16"}
    sxm = validate([write_csv(tmp_path / "s.csv", [sxm_row])])
    assert [s.row.hardware for s in sxm.scored] == ["a100-80gb-sxm"]
    assert res.scored[0].predicted != sxm.scored[0].predicted


@pytest.mark.parametrize(
    ("text", "batch", "serving"),
    [("16", 16, ""), ("num_tokens=4096", None, ""), ("QPS=2", None, "qps"), ("QPS=INF", None, "qps"),
     ("RPS=4, num_prompts=500", None, "rps"), ("concurrency=8", None, "concurrency"),
     ("max-load (all requests queued at t=0)", None, "max-load"), ("MLPerf Server", None, "mlperf"),
     ("MLPerf Offline", None, "mlperf"), ("blockSize=32, threads=3456, occupancy=3%", None, "")],
)  # fmt: skip
def test_batch_and_concurrency_forms(text: str, batch: int | None, serving: str) -> None:
    b = parse_batch(text)
    assert (b.batch, b.serving) == (batch, serving)


def test_length_forms() -> None:
    assert parse_length("128") == (128, "")
    assert parse_length("1 (first token)") == (1, "first_token")
    assert parse_length("-") == (None, "absent")
    assert parse_length("dataset") == (None, "dataset")
    with pytest.raises(ValueError):
        parse_length("lots")


ROW = {"source_id": "t", "hardware": "H100-SXM-80GB", "n_devices": 1, "model": "Llama-2-7B",
       "precision": "FP8", "framework": "TensorRT-LLM v0.6.1", "batch_or_concurrency": 8, "input_len": 128,
       "output_len": 128, "tp": 1, "pp": 1, "metric": "output_throughput", "value": 1000,
       "unit": "tokens/s"}  # fmt: skip


def test_every_end_to_end_metric_is_scored_or_skipped_for_a_true_reason(tmp_path: Path) -> None:
    units = {"s": "ms", "tokens/s": "tokens/s", "samples/s": "samples/s", "J/token": "J/token", "J": "J",
             "W": "W"}  # fmt: skip
    rows = [{**ROW, "metric": m, "unit": units[u], "value": 10} for m, (u, _) in E2E_METRICS.items()]
    rows += [
        {**ROW, "batch_or_concurrency": "QPS=4"},
        {**ROW, "batch_or_concurrency": "MLPerf Server"},
        {**ROW, "metric": "request_throughput", "unit": "req/s"},
        {**ROW, "metric": "tpot_p99", "unit": "ms"},
        {**ROW, "input_len": "dataset", "output_len": "dataset"},
        {**ROW, "precision": "not stated"},
        {**ROW, "precision": "Q4_K_M"},
        {**ROW, "hardware": "A100-SXM-80GB"},  # FP8 on an A100: no FP8 units
        {**ROW, "metric": "prefill_op_latency:Q_K_V", "unit": "ms"},
        {**ROW, "value": "n/a"},
        {
            **ROW,
            "metric": "output_throughput_per_gpu",
            "unit": "tokens/s/GPU",
            "n_devices": 2,
            "tp": 2,
            "model": "Llama-2-13B",
        },
    ]
    path = write_csv(tmp_path / "m.csv", rows)
    rep = validate([path])
    # power and energy rows are scored by the energy table (calibration/energy.py), once; a GGUF
    # type is a weight format (workload/formats.py) and a per-op row names an op of the model's
    # graph (calibration/op_predict.py): both are scored since issue 24
    assert len(rep.scored) == len(E2E_METRICS) - len(ENERGY_METRICS) + 3
    assert rep.skipped == {
        "needs_serving_simulator": 4, "tail_percentile_not_modelled": 1, "precision_not_stated": 1,
        "no_matrix_rate:fp8": 1, "non_numeric_value": 1, "scored_in_energy_table": len(ENERGY_METRICS),
    }  # fmt: skip
    assert len(energy_report([path]).scores) == len(ENERGY_METRICS)
    per_gpu = next(s for s in rep.scored if s.row.n_devices == 2)
    assert per_gpu.row.value == 2000  # 1000 tokens/s per GPU on 2 GPUs: the total


def test_first_token_row_is_a_prefill(tmp_path: Path) -> None:
    rows = [{**ROW, "metric": "ttft_first_token_latency", "unit": "ms", "output_len": "1 (first token)",
             "batch_or_concurrency": 1, "value": 7}]  # fmt: skip
    rows.append({**rows[0], "output_len": "-"})  # TTFT does not depend on the output length
    rows.append({**ROW, "output_len": "-"})  # throughput does: skipped
    rep = validate([write_csv(tmp_path / "m.csv", rows)])
    assert len(rep.scored) == 2 and rep.skipped == {"missing_workload": 1}
    assert rep.scored[0].predicted == pytest.approx(rep.scored[1].predicted)


def test_reasons_name_the_row(tmp_path: Path) -> None:
    rows, _ = read_measurements([write_csv(tmp_path / "m.csv", [{**ROW, "batch_or_concurrency": "QPS=2"}])])
    assert e2e_reason(rows[0]) == "needs_serving_simulator"
