"""End-to-end rows: which published metrics a static-batch simulation predicts, how (a field of
:class:`~hetsim.analysis.result.SweepResult` or a formula over it), and the true reason for
every end-to-end row it does not.

Serving rows (a request rate, a concurrency, an MLPerf scenario, a prompt data set) need
the serving simulator and are counted as ``needs_serving_simulator`` until it scores them.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from hetsim.analysis.result import SweepResult
from hetsim.calibration.derived import DERIVED, achieved_bandwidth, metric_of
from hetsim.calibration.measurements import Measurement
from hetsim.calibration.steady import STEADY, parallel_reason
from hetsim.calibration.vocabulary import precision_of
from hetsim.errors import HetsimError
from hetsim.hardware.spec import Device
from hetsim.sim.frameworks import profile_for
from hetsim.sim.inference import Serving, sweep
from hetsim.workload.dtypes import DTYPES, Precision
from hetsim.workload.model import ModelSpec
from hetsim.workload.names import resolve
from hetsim.workload.ops import FloatArray

Pick = Callable[[SweepResult], FloatArray]


def _field(name: str) -> Pick:
    return lambda r: np.asarray(getattr(r, name), dtype=float)


TPOT = _field("tpot_s")
# metric -> (SI unit the row must carry, prediction from a sweep over the rows)
E2E_METRICS: dict[str, tuple[str, Pick]] = {
    **{m: ("s", _field("ttft_s")) for m in (
        "ftl_mean", "ttft", "ttft_mean", "ttft_median", "ttft_p50", "ttft_first_token_latency")},
    **{m: ("s", TPOT) for m in (
        "token_latency_p50", "tpot_mean", "tpot_median", "tpot_p50", "itl", "itl_mean", "itl_median",
        "generation_time_per_token")},
    **{m: ("s", _field("e2e_latency_s")) for m in ("e2e_latency_avg", "e2e_latency_median")},
    **{m: ("tokens/s", _field("output_throughput_tok_per_s")) for m in (
        "output_throughput", "output_throughput_per_gpu", "output_throughput_total", "tokens_per_second",
        "throughput")},
    "decode_tokens_per_s": ("tokens/s", lambda r: r.batch / np.maximum(r.tpot_s, 1e-30)),
    "prefill_tokens_per_s": ("tokens/s", lambda r: r.batch * r.input_len / r.ttft_s),
    "total_token_throughput": (
        "tokens/s", lambda r: r.batch * (r.input_len + r.output_len) / r.e2e_latency_s),
    "samples_per_second": ("samples/s", lambda r: r.batch / r.e2e_latency_s),
    "energy_per_token": ("J/token", _field("energy_j_per_token")),
    "energy_per_request": ("J", lambda r: r.energy_j_per_token * r.output_len),
    "avg_power": ("W", _field("avg_power_w")),
}  # fmt: skip
# metrics derived from the prediction by the source's definition (calibration/derived.py)
DERIVED_UNITS = {"achieved_memory_bandwidth": "bytes/s"}
# power and energy rows are scored by calibration/energy.py (its own table in validate)
ENERGY_METRICS = ("avg_power", "energy_per_token", "energy_per_request")
FIRST_TOKEN = {m for m, (u, _) in E2E_METRICS.items() if m.startswith(("ftl", "ttft"))}
# metrics only a request stream has (a static batch has no arrival process)
SERVING_ONLY = ("request_throughput", "completed_samples_per_second", "completed_tokens_per_second",
                "scheduled_samples_per_second")  # fmt: skip
PERCENTILES = ("tpot_p99", "latency_p99")

# model names in measurement files -> inline specs for models without a preset
INLINE_MODELS: dict[str, ModelSpec] = {
    "internlm-20b": ModelSpec(
        name="internlm-20b",
        n_layers=60,
        d_model=5120,
        n_heads=40,
        n_kv_heads=40,
        head_dim=128,
        d_ff=13824,
        vocab_size=103168,
        source="internlm/internlm-20b config.json (Hugging Face)",
    ),
}


# published names -> a preset with the same shapes (measurement rows only; the users' resolver
# does not guess these). LLaMA-1 7B/13B have Llama-2-7B/13B's layer count, widths, heads and
# vocabulary (Touvron et al. 2023, Table 2 of the LLaMA paper and Table 1 of Llama 2: only the
# context length differs); Vicuna, Koala and Alpaca are LLaMA-1 / Llama-2 fine-tunes (same
# shapes); Llama-3.1-8B has Llama-3-8B's shapes (a longer RoPE context only).
SAME_SHAPES = {
    "llama-7b": "llama2-7b", "vicuna-7b": "llama2-7b", "koala-7b": "llama2-7b", "alpaca-7b": "llama2-7b",
    "llama-13b": "llama2-13b", "vicuna-13b": "llama2-13b", "koala-13b": "llama2-13b",
    "llama-3.1-8b": "llama3-8b",
}  # fmt: skip


def model_for(name: str) -> ModelSpec | None:
    """The preset a measurement row's model name means (the users' name resolver), an inline
    spec for a model without a preset, a preset of the same shapes, or None."""
    key = name.strip().lower().replace(" ", "-").split("/")[-1]
    if key in INLINE_MODELS:
        return INLINE_MODELS[key]
    try:
        return resolve(name).model
    except HetsimError:
        pass
    short = re.sub(r"\(.*?\)", "", key).strip("-").replace("-chat", "").replace("-hf", "")
    if short in SAME_SHAPES:
        return resolve(SAME_SHAPES[short]).model
    return None


# Engines whose published FP8 runs also keep the KV cache in FP8: TensorRT-LLM's performance
# page (docs/source/performance.md, v0.6.1) builds every FP8 engine with "--enable_fp8
# --fp8_kv_cache" ("To run the benchmarks below on A100, you will need to remove the
# --enable_fp8 --fp8_kv_cache options").
FP8_KV_ENGINES = ("tensorrt-llm",)


def precision_for(key: str, framework: str) -> Precision:
    """The data types a row's engine ran at: the precision key's, with the engine's own
    FP8 KV-cache choice."""
    prec = precision_of(key)
    assert prec is not None  # e2e_reason checked the key
    if key == "fp8" and any(e in framework.lower() for e in FP8_KV_ENGINES):
        return replace(prec, kv=prec.gemm or prec.weight)
    return prec


def weight_only_fallback(prec: Precision) -> Precision:
    """``prec`` run weight-only (weights dequantised to 16-bit GEMMs), as engines run a
    checkpoint whose GEMM type the GPU has no matrix rate for: vLLM's FP8 Marlin kernel on
    Ampere (docs "FP8 W8A16": "for GPUs without FP8 support ... weight-only FP8"), and its MXFP4
    / NVFP4 weight-only paths before Blackwell."""
    return replace(prec, gemm=DTYPES["fp16"], kv=prec.kv if prec.kv.bits >= 16 else DTYPES["fp16"])


def serving_for(framework: str) -> Serving:
    """The serving effects of the framework profile a row's ``framework`` text names."""
    return profile_for(framework).serving


def unit_of(metric: str) -> str | None:
    """The SI unit a predicted end-to-end metric carries (None: not an end-to-end metric)."""
    if metric in DERIVED_UNITS:
        return DERIVED_UNITS[metric]
    return E2E_METRICS[metric][0] if metric in E2E_METRICS else None


def e2e_reason(r: Measurement) -> str:
    """Why an end-to-end row cannot be scored by the static-batch simulator ('' if it can).
    A serving row at a stated steady state (calibration/steady.py) is scored as a static batch."""
    if r.metric in ENERGY_METRICS:
        return "scored_in_energy_table"
    if r.serving == STEADY:
        reason = parallel_reason(r)
        if reason:
            return reason
    elif r.serving or r.metric in SERVING_ONLY or r.length_form == "dataset":
        return "needs_serving_simulator"
    if r.metric in PERCENTILES:
        return "tail_percentile_not_modelled"
    unit = unit_of(metric_of(r))
    if unit is None:
        return ""
    if unit != r.unit:
        return f"unit_mismatch:{r.metric}"
    if not r.precision:
        return "precision_not_stated"
    if precision_of(r.precision) is None:
        return f"unsupported_precision:{r.precision}"
    return ""


def is_e2e(metric: str) -> bool:
    return metric in E2E_METRICS or metric in SERVING_ONLY or metric in PERCENTILES or metric in DERIVED_UNITS


@dataclass(frozen=True, slots=True)
class E2ETask:
    hardware: str
    rows: tuple[Measurement, ...]
    model: ModelSpec
    precision: Precision
    tp: int
    pp: int
    serving: Serving
    policy: str = "auto"  # placement policy (offloaded KV with CPU attention: pim-attention)


def policy_for(framework: str) -> str:
    """The placement a row's framework text states: the KV cache offloaded with attention
    on the CPU (FlexGen ``--cpu``, ZeRO-Inference KV offload) is ``pim-attention`` (attention on
    the memory side's own compute); an engine that offloads every layer (its profile's
    ``offload_layers``: ZeRO-Inference, Accelerate) and states an offload tier gets the matching
    ``layer-offload`` variant (``-nvme`` where disk reads bypass the page cache); anything else
    lets ``auto`` choose."""
    text = framework.lower()
    cpu_attention = "cpu attention" in text or "kv cache offload: yes" in text
    prof = profile_for(framework)
    disk = re.search(r"offload: disk|disk_offload|nvme", text) is not None
    if prof.offload_layers and (disk or re.search(r"offload: cpu|cpu_offload", text)):
        nvme = "-nvme" if disk and not prof.page_cache else ""
        return "layer-offload" + nvme + ("-cpu-attention" if cpu_attention else "")
    return "pim-attention" if cpu_attention else "auto"


def e2e_tasks(hw: str, dev_rate: Callable[[str], bool], rows: Sequence[Measurement],
              skipped: Counter[str]) -> list[E2ETask]:  # fmt: skip
    """Group a hardware's end-to-end rows by (model, precision, tp, pp, framework)."""
    groups: dict[tuple[str, str, int, int, str], list[Measurement]] = defaultdict(list)
    for r in rows:
        groups[(r.model, r.precision, r.tp, r.pp, r.framework)].append(r)
    tasks: list[E2ETask] = []
    for (name, key, tp, pp, framework), rs in groups.items():
        prec = precision_for(key, framework)
        if not dev_rate(prec.compute.name):
            if any(e in framework.lower() for e in FP8_KV_ENGINES):  # TensorRT-LLM builds no such engine
                skipped[f"no_matrix_rate:{prec.compute.name}"] += len(rs)
                continue
            prec = weight_only_fallback(prec)
        complete = [r for r in rs if r.batch and r.input_len and (r.output_len or r.metric in FIRST_TOKEN)]
        skipped["missing_workload"] += len(rs) - len(complete)
        model = model_for(name)
        if model is None:
            skipped["unknown_model"] += len(complete)
            continue
        if complete:
            tasks.append(E2ETask(hw, tuple(complete), model, prec, tp, pp, serving_for(framework),
                                 policy_for(framework)))  # fmt: skip
    return tasks


def predict_e2e(task: E2ETask, dev: Device) -> FloatArray:
    """Predicted values (SI, the rows' units); NaN where the static batch does not fit (the
    engine would have queued it: not modelled)."""
    rs = task.rows
    # a first-token row's output length does not change its prediction: one token
    g = [r.output_len or 1 for r in rs]
    res = sweep(task.model, dev, [r.batch for r in rs], [r.input_len for r in rs], g, task.precision,
                tp=task.tp, pp=task.pp, serving=task.serving, policy=task.policy)  # fmt: skip
    prec = task.precision
    if task.serving.quantized_lm_head and not prec.quantized_head:
        prec = replace(prec, quantized_head=True)
    bw = dev.primary.memory.bandwidth_bytes_per_s

    def value(i: int, r: Measurement) -> float:
        m = metric_of(r)
        if m in DERIVED:
            return achieved_bandwidth(r, res, i, task.model, prec, task.tp, bw)
        if r.serving == STEADY and E2E_METRICS[m][1] is TPOT:
            # continuous batching at a steady state: every step also carries the prefill of the
            # sequences that arrive meanwhile (batch / output_len per step), so a step is the
            # static batch's end-to-end time per generated token
            return float(res.e2e_latency_s[i] / res.output_len[i])
        return float(E2E_METRICS[m][1](res)[i])

    pred = np.array([value(i, r) for i, r in enumerate(rs)], dtype=float)
    return np.where(np.asarray(res.fits), pred, np.nan)
