"""NVIDIA TensorRT-LLM: the TensorRT-engine runtime before the XQA kernel (v0.5-v0.6), the
TensorRT-engine runtime with its C++ batch manager (v0.7 onwards, what ``trtllm_serving.csv``
measured with v0.14 + Triton), and the PyTorch backend (the LLM API's default from v1.0)."""

from __future__ import annotations

from hetsim.engines.batching import EngineConfig
from hetsim.engines.host import Serving
from hetsim.engines.record import Engine
from hetsim.workload.ops import AllReduceImpl

# TensorRT-LLM's host time per generate call before its first token (gptSessionBenchmark:
# session set-up, input copy, first sampling). Calibrated: the median first-token residual
# of the 12 batch-1, 128-token first-token rows of trtllm_static.csv (A100 FP16, H100 FP8,
# L40S FP8; v0.5 low-latency tables and the H100-vs-A100 blog), priced without it; refitted
# without each GPU in leave-one-GPU-out cross-validation (2.1-3.3 ms per fold).
# Reproduced by hetsim.calibration.overhead_fit.fit_request_overhead on the kernel model it was
# fitted with; on the issue-8f vector kernels (faster short prefills) that fit gives 3.08 ms,
# not applied: it would raise L40S first-token error 6.2% -> 8.5% (docs/calibration.md).
TRTLLM_REQUEST_OVERHEAD_S = 2.72e-3
_OVERHEAD_PROVENANCE = (
    "calibrated: median first-token residual of the 12 TensorRT-LLM batch-1, 128-token "
    "first-token rows of trtllm_static.csv (A100 FP16, H100 FP8, L40S FP8); the same 1-3 ms "
    "on every GPU and model (6B-180B), so one knob of the engine's host"
)
_STATIC_FIT = "request_overhead_s: trtllm_static.csv batch-1, 128-token first-token rows (12)"
_SERVING_FIT = (
    "step_overhead_s, seq_overhead_s, max_num_seqs: the H100 rows of trtllm_serving.csv "
    "(hetsim.serving.validate.fit_overheads; the H200 rows held out)"
)
_FIT = (
    "calibrated: fitted on the H100 rows of trtllm_serving.csv (hetsim.serving.validate); "
    "the H200 rows held out"
)
_ALLREDUCE = (
    "documented: TensorRT-LLM allreducePlugin.cpp selectImplementation (AUTO on NVLink: its own "
    "one-shot kernel below 1 MB at TP<=4, two-shot up to the 8 MB workspace of customAllReduceUtils.h, "
    "NCCL above)"
)
# latency of one dependent step of TensorRT-LLM's own all-reduce kernels (launch, flag barrier,
# peer round trip): measured, see _ALLREDUCE_MEASURED
TRTLLM_ALLREDUCE_STEP_S = 4.07e-6
_ALLREDUCE_MEASURED = (
    "measured: SGLang's port of the kernels on H100, TP 4, 2 KB-4 MB (sgl-project/sglang pull request "
    "2904): least squares with the peer bandwidth share (hetsim.cost.collectives.TRTLLM_PEER_EFFICIENCY, "
    "0.604 of the link); not fitted on serving rows"
)
_TUNE = "https://nvidia.github.io/TensorRT-LLM/performance/performance-tuning-guide/tuning-max-batch-size-and-max-num-tokens.html"
_LLMAPI = "https://nvidia.github.io/TensorRT-LLM/llm-api/reference.html"


def _batching(name: str, fitted: bool) -> EngineConfig:
    """The TensorRT-engine runtime's in-flight batching (C++ batch manager)."""
    knob = (
        _FIT if fitted else "transferred: the v0.14 fit (" + _FIT[12:] + "); no serving rows of this version"
    )
    return EngineConfig(
        name=name,
        scheduler="fcfs",
        max_num_seqs=512,
        max_num_batched_tokens=8192,
        chunked_prefill=False,
        block_size=64,
        memory_utilization=0.9,
        utilization_of_free=True,
        reservation="max",
        preemption="recompute",
        prefix_caching=False,
        step_overhead_s=1.0e-3,
        seq_overhead_s=1.0e-5,
        request_overhead_s=TRTLLM_REQUEST_OVERHEAD_S,
        provenance={
            "scheduler": f"docs: in-flight batching runs context and generation requests in one iteration, "
            f"the active generation requests first ({_TUNE})",
            "max_num_seqs": f"{knob} (TensorRT-LLM's max_batch_size, which the source does not state)",
            "max_num_batched_tokens": f"docs: TensorRT-LLM max_num_tokens default 8192 ({_TUNE})",
            "chunked_prefill": "docs: TensorRT-LLM enable_chunked_context is off by default",
            "block_size": "docs: TensorRT-LLM tokens_per_block default 64",
            "memory_utilization": "docs: TensorRT-LLM kv_cache_free_gpu_mem_fraction 0.9 (of free memory)",
            "utilization_of_free": "docs: kv_cache_free_gpu_mem_fraction is a share of the memory left "
            "free after the engine (weights, workspace) is loaded",
            "reservation": "docs: TensorRT-LLM capacity scheduler default GUARANTEED_NO_EVICT "
            "reserves a request's whole KV cache at admission",
            "prefix_caching": "docs: TensorRT-LLM kv_cache_config enable_block_reuse is off by default "
            "for TensorRT engines",
            "step_overhead_s": knob,
            "seq_overhead_s": knob,
            "request_overhead_s": "transferred: TensorRT-LLM's host time per request of the static path "
            "(hetsim.engines.trtllm.TRTLLM_REQUEST_OVERHEAD_S, calibrated on the batch-1 first-token rows "
            "of trtllm_static.csv); not fitted on serving rows",
        },
    )


TENSORRT_LLM_PRE_XQA = Engine(
    "tensorrt-llm-pre-xqa",
    "NVIDIA TensorRT-LLM v0.5-v0.6 (TensorRT engines, masked-MHA decode attention before XQA)",
    Serving(gqa_shared_kv=False, request_overhead_s=TRTLLM_REQUEST_OVERHEAD_S),  # NCCL all-reduce
    _batching("tensorrt-llm-pre-xqa", fitted=False),
    r"tensorrt-llm v?0\.[0-6]\b",
    aliases=("trtllm-pre-xqa",),
    provenance={
        "request_overhead_s": _OVERHEAD_PROVENANCE,
        "allreduce": "assumed: NCCL; before v0.7 the custom all-reduce kernels were a build option "
        "(use_custom_all_reduce) off by default",
        "gqa_shared_kv": "paper: TensorRT-LLM docs/source/blogs/XQA-kernel.md: the XQA kernel (MQA/GQA "
        "generation-phase optimisation, 'included in the v0.8 releases') raised Llama-70B on one "
        "H200 at 128/2048 from 1,227 to 2,941 tok/s/GPU; before it the masked-MHA kernel reads "
        "K/V once per query head",
    },
    fitted_on=_STATIC_FIT,
)

TENSORRT_LLM = Engine(
    "tensorrt-llm",
    "NVIDIA TensorRT-LLM v0.7 onwards with TensorRT engines and the C++ batch manager (v0.14 + Triton "
    "measured in trtllm_serving.csv)",
    Serving(
        request_overhead_s=TRTLLM_REQUEST_OVERHEAD_S,
        allreduce=AllReduceImpl("trtllm-custom", TRTLLM_ALLREDUCE_STEP_S),
    ),
    _batching("tensorrt-llm", fitted=True),
    r"tensorrt-llm|trt-llm|tensorrt_llm",
    aliases=("trtllm", "trt-llm", "tensorrt_llm"),
    provenance={
        "request_overhead_s": _OVERHEAD_PROVENANCE,
        "allreduce": _ALLREDUCE + "; the step latency " + _ALLREDUCE_MEASURED,
        "gqa_shared_kv": "paper: TensorRT-LLM XQA kernel (v0.7a preview tables, v0.8 and later) shares "
        "each KV head across its query-head group",
    },
    fitted_on=f"{_STATIC_FIT}; {_SERVING_FIT}",
)

_PT = "assumed: no PyTorch-backend rows; "
TENSORRT_LLM_PYTORCH = Engine(
    "tensorrt-llm-pytorch",
    "NVIDIA TensorRT-LLM PyTorch backend (LLM API / trtllm-serve default from v1.0): Python executor "
    "with CUDA-graph decode and the overlap scheduler",
    Serving(decode_graph=True, graph_batch_sizes=(1, 2, 4, *range(8, 129, 8))),
    EngineConfig(
        name="tensorrt-llm-pytorch",
        scheduler="fcfs",
        max_num_seqs=2048,
        max_num_batched_tokens=8192,
        chunked_prefill=False,
        block_size=32,
        memory_utilization=0.9,
        utilization_of_free=True,
        reservation="max",
        prefix_caching=True,
        step_overhead_s=1.0e-3,
        seq_overhead_s=1.0e-5,
        provenance={
            "scheduler": f"docs: the PyTorch executor batches context and generation requests in one "
            f"iteration (in-flight batching, {_LLMAPI})",
            "max_num_seqs": f"docs: LLM API max_batch_size default 2048 ({_LLMAPI})",
            "max_num_batched_tokens": f"docs: LLM API max_num_tokens default 8192 ({_LLMAPI})",
            "chunked_prefill": f"docs: LLM API enable_chunked_prefill default False ({_LLMAPI})",
            "block_size": f"docs: KvCacheConfig tokens_per_block default 32 ({_LLMAPI})",
            "memory_utilization": f"docs: KvCacheConfig free_gpu_memory_fraction default 0.9 ({_LLMAPI})",
            "utilization_of_free": "docs: free_gpu_memory_fraction is a share of the memory free after "
            "the model is loaded",
            "reservation": "docs: capacity_scheduler_policy default GUARANTEED_NO_EVICT",
            "prefix_caching": f"docs: KvCacheConfig enable_block_reuse default True ({_LLMAPI})",
            "step_overhead_s": _PT + "the TensorRT-engine runtime's fit (1 ms), whose host loop is C++",
            "seq_overhead_s": _PT + "the TensorRT-engine runtime's fit (10 us)",
            "request_overhead_s": _PT + "0, the front end not modelled",
        },
    ),
    r"(tensorrt-llm|trt-llm|trtllm).*pytorch|pytorch backend",
    aliases=("trtllm-pytorch", "trtllm-pt"),
    provenance={
        "decode_graph": f"docs: LLM API cuda_graph_config captures decode CUDA graphs ({_LLMAPI})",
        "graph_batch_sizes": "assumed: 1, 2, 4 and multiples of 8 up to 128, the CudaGraphConfig "
        "default max_batch_size of 128 (not checked per release)",
        "gqa_shared_kv": "docs: the TensorRT-LLM attention backend (XQA/trtllm-gen) shares KV heads",
    },
    fitted_on="nothing: documented behaviour; the host overheads are transferred from tensorrt-llm",
)

RECORDS = (TENSORRT_LLM_PYTORCH, TENSORRT_LLM_PRE_XQA, TENSORRT_LLM)
