"""vLLM: the V0 engine (v0.3-v0.7; prefill-first scheduling, CUDA-graph decode) and the V1 engine
(default from v0.8: chunked prefill always on, prefill mixed into decode iterations)."""

from __future__ import annotations

from hetsim.engines.batching import EngineConfig
from hetsim.engines.host import Serving

# both run their prefill eagerly; the per-kernel dispatch cost is the one calibrated on HF
# transformers (hetsim.engines.pytorch)
from hetsim.engines.pytorch import EAGER_KERNEL_DISPATCH_S
from hetsim.engines.record import Engine

# vLLM captures decode CUDA graphs at these batch sizes and pads a batch up to the next one
# (vllm/worker/model_runner.py, v0.3-v0.6: "Capture graphs for batch size 1, 2, 4, 8, 16, 24,
# 32, 40, ..., 256", _BATCH_SIZES_TO_CAPTURE = [1, 2, 4] + [8 * i for i in range(1, 33)]); a
# larger batch runs eager. V1 releases make the list configurable (cudagraph_capture_sizes).
VLLM_GRAPH_BATCH_SIZES = (1, 2, 4, *range(8, 257, 8))
_DOCS = "https://docs.vllm.ai/en/latest/models/engine_args.html"
_NONE = "nothing: documented behaviour; no vLLM latency rows in the development set, published " \
    "vLLM throughput tables are held out"  # fmt: skip


# vLLM V1's host time per running sequence per step (scheduler, input preparation, sampling,
# detokenisation and output streaming in Python, between passes): fitted (calibration/
# sequence_fit.py) on ML.ENERGY v3's 122 steady-state ITL / output-throughput rows of dense
# models at TP 1 on H100 and B200 (45.3 us on the H100 rows alone, 74.1 us on the B200 rows:
# the hosts differ); MoE and TP > 1 rows are held out. V0 (no rows) keeps 0.
VLLM_SEQUENCE_OVERHEAD_S = 64.67e-6
_SEQUENCE_PROVENANCE = (
    "calibrated: ML.ENERGY leaderboard v3 (vLLM V1) steady-state inter-token and output-throughput rows "
    "of dense models at TP 1, H100 and B200 (n=122), least squares on log error "
    "(calibration/sequence_fit.py); MoE and TP > 1 rows held out, leave one GPU out 45.3 / 74.1 us"
)


# vLLM V0's host time per engine step (v0.5-v0.6 with the default --num-scheduler-steps 1):
# scheduling, input preparation, the sampler's GPU->CPU sync and the Pythonisation of its output
# run between passes, serially with the GPU. Published: "each highlighted redbox is about 4ms of
# GPU bubble ... for baseline, this overhead is incurred on every decode" (vLLM RFC #6854,
# Multi-Step Scheduling, 2024-07-26, github.com/vllm-project/vllm/issues/6854, Llama-3-8B served
# by the OpenAI server on one GPU). Not fitted: no row of the project's data set it. It is a
# serving-load figure; at batch 1 the per-sequence part of that work is smaller, so it is an
# upper figure there (Qwen2.5's vLLM 0.6.3 batch-1 rows imply 1.3-2.2 ms: calibrate --folds).
VLLM_V0_STEP_OVERHEAD_S = 4.0e-3
_V0_STEP_PROVENANCE = (
    "documented: vLLM RFC #6854 (github.com/vllm-project/vllm/issues/6854, July 2024): about 4 ms of GPU "
    "idle time per decode step in V0 without multi-step scheduling (scheduler, input preparation, "
    "sampler sync, output processing); not fitted"
)


def _serving(sequence_overhead_s: float = 0.0, step_overhead_s: float | None = None) -> Serving:
    return Serving(step_overhead_s=step_overhead_s, kernel_dispatch_s=EAGER_KERNEL_DISPATCH_S,
                   decode_graph=True, graph_batch_sizes=VLLM_GRAPH_BATCH_SIZES,
                   sequence_overhead_s=sequence_overhead_s)  # fmt: skip


def _static_provenance(v1: bool) -> dict[str, str]:
    sizes = ("documented for v0.3-v0.6 (vllm/worker/model_runner.py _BATCH_SIZES_TO_CAPTURE = [1, 2, 4] "
             "+ [8 * i for i in range(1, 33)]); ")  # fmt: skip
    return {
        "decode_graph": "documented: vLLM captures CUDA graphs for decode (enforce_eager=False "
        "default) and pads a batch up to the next captured size; prefill runs eager",
        "graph_batch_sizes": sizes
        + (
            "assumed the same up to 256 for V1, which makes the list configurable (cudagraph_capture_sizes)"
            if v1
            else "above 256: eager"
        ),
        "kernel_dispatch_s": "calibrated on HF transformers (see hf-transformers): vLLM's eager "
        "prefill issues one kernel per graph op (its fused norm, rotary and attention kernels)",
        "step_overhead_s": "assumed: the device's calibrated per-step overhead. vLLM's v0.6 "
        "blog (blog.vllm.ai/2024/09/05/perf-update.html) profiles v0.5.3 on Llama-3-8B/H100 "
        "as 33% API server, 29% scheduling, 38% GPU, but gives no per-step seconds, and v0.6 "
        "overlaps scheduling with the GPU (multi-step scheduling, async output processing)",
    }


VLLM = Engine(
    "vllm",
    "vLLM V1 engine (default from v0.8)",
    _serving(VLLM_SEQUENCE_OVERHEAD_S),
    EngineConfig(
        name="vllm",
        scheduler="fcfs",
        max_num_seqs=256,
        max_num_batched_tokens=2048,
        chunked_prefill=True,
        block_size=16,
        memory_utilization=0.9,
        reservation="on_demand",
        preemption="recompute",
        prefix_caching=True,
        step_overhead_s=2.0e-3,
        seq_overhead_s=0.0,
        provenance={
            "scheduler": "docs: the V1 scheduler schedules the running requests (decodes and partial "
            "prefills) first, then waiting ones, first come first served, in one mixed iteration",
            "max_num_seqs": f"docs: vLLM engine args, --max-num-seqs default 256 ({_DOCS})",
            "max_num_batched_tokens": f"docs: vLLM V1 scheduler default for the API server, 2048 ({_DOCS})",
            "chunked_prefill": "docs: vLLM V1 always chunks prefill and mixes it with decode",
            "block_size": f"docs: vLLM --block-size default 16 ({_DOCS})",
            "memory_utilization": f"docs: vLLM --gpu-memory-utilization default 0.9 ({_DOCS})",
            "preemption": "docs: vLLM V1 preempts by recompute",
            "prefix_caching": "docs: vLLM V1 enables automatic prefix caching by default",
            "step_overhead_s": "assumed: Python scheduler + sampler, about 2 ms a step (no vLLM rows)",
            "request_overhead_s": "assumed: 0, the front end not modelled (no vLLM rows)",
        },
    ),
    r"vllm",
    aliases=("vllm-v1",),
    provenance={**_static_provenance(v1=True), "sequence_overhead_s": _SEQUENCE_PROVENANCE},
    fitted_on="sequence_overhead_s: ML.ENERGY leaderboard v3 dense TP-1 serving rows (H100, B200); "
    "everything else documented or assumed",
)

VLLM_V0 = Engine(
    "vllm-v0",
    "vLLM V0 engine (v0.3-v0.7)",
    _serving(step_overhead_s=VLLM_V0_STEP_OVERHEAD_S),
    EngineConfig(
        name="vllm-v0",
        scheduler="prefill-first",
        max_num_seqs=256,
        max_num_batched_tokens=8192,
        chunked_prefill=False,
        block_size=16,
        memory_utilization=0.9,
        reservation="on_demand",
        preemption="recompute",
        prefix_caching=False,
        step_overhead_s=2.0e-3,
        provenance={
            "scheduler": "docs: the V0 scheduler (vllm/core/scheduler.py _schedule_default) schedules "
            "waiting prompts first and runs no decode in an iteration that has prefills",
            "max_num_seqs": f"docs: vLLM engine args, --max-num-seqs default 256 ({_DOCS})",
            "max_num_batched_tokens": "docs: V0 without chunked prefill uses max(max_model_len, 2048) "
            "(vllm/config.py SchedulerConfig); 8192, the value for an 8k-context model",
            "chunked_prefill": "docs: --enable-chunked-prefill is off by default in V0",
            "block_size": f"docs: vLLM --block-size default 16 ({_DOCS})",
            "preemption": "docs: V0 preempts a single-sequence group by recompute",
            "prefix_caching": "docs: --enable-prefix-caching is off by default in V0",
            "step_overhead_s": "assumed: as V1, about 2 ms a step (no vLLM rows)",
        },
    ),
    r"vllm\D*v?0\.[0-7]\b",
    aliases=("vllm-v0.6",),
    provenance={**_static_provenance(v1=False), "step_overhead_s": _V0_STEP_PROVENANCE},
    fitted_on=_NONE,
)

RECORDS = (VLLM_V0, VLLM)
