"""Serving-engine behaviour: the scheduler knobs of vLLM, SGLang and TensorRT-LLM.

An :class:`EngineConfig` says how an engine forms each iteration (continuous batching with a
cap on sequences and on batched tokens; prefill chunked or whole; prefill mixed into decode
iterations or run on its own), how it manages the paged KV cache (block size, the fraction
of device memory it may use, reserve-on-demand with preemption or reserve-the-maximum at
admission) and what each forward pass costs the host. Every default names its source in
``provenance``; the per-step overheads are fitted knobs (see :mod:`hetsim.serving.validate`),
the TensorRT-LLM per-request front-end time is the static path's calibrated request overhead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from hetsim.errors import ConfigError, UnknownNameError
from hetsim.sim.frameworks import TRTLLM_REQUEST_OVERHEAD_S

Preemption = Literal["recompute", "swap"]
Reservation = Literal["on_demand", "max"]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Scheduler and KV-cache behaviour of one engine instance."""

    name: str = "custom"
    max_num_seqs: int = 256  # sequences in one iteration (max batch size)
    max_num_batched_tokens: int = 8192  # tokens (decode + prefill) in one iteration
    chunked_prefill: bool = True  # split prompts to fill the token budget (Sarathi-Serve)
    mix_prefill_decode: bool = True  # prefill work rides in the decode iterations
    block_size: int = 16  # tokens per KV-cache block (page)
    memory_utilization: float = 0.9  # fraction of device memory for weights + KV + workspace
    utilization_of_free: bool = False  # the fraction applies to memory left after weights + workspace
    reservation: Reservation = "on_demand"  # KV blocks: as tokens arrive, or the max at admission
    preemption: Preemption = "recompute"  # when blocks run out (on_demand only)
    prefix_caching: bool = False  # reuse the KV blocks of a shared prompt prefix
    step_overhead_s: float = 0.0  # host time per iteration (scheduling, launch, sync)
    seq_overhead_s: float = 0.0  # host time per sequence per iteration (sampling, bookkeeping)
    # host time of one request before the scheduler sees it (front end, tokenisation, enqueue):
    # it delays the request's arrival at the engine, so it is in TTFT and end-to-end latency
    request_overhead_s: float = 0.0
    swap_bandwidth_bytes_per_s: float = 64e9  # device <-> host KV copies (swap preemption)
    provenance: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name in ("max_num_seqs", "max_num_batched_tokens", "block_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"engine {self.name}: {name} must be a positive integer, got {v!r}")
        if self.max_num_seqs > self.max_num_batched_tokens:
            raise ConfigError(
                f"engine {self.name}: max_num_seqs ({self.max_num_seqs}) must not exceed "
                f"max_num_batched_tokens ({self.max_num_batched_tokens}): every sequence needs a token"
            )
        if not 0 < self.memory_utilization <= 1:
            raise ConfigError(
                f"engine {self.name}: memory_utilization must be in (0, 1], got {self.memory_utilization}"
            )
        overheads = (self.step_overhead_s, self.seq_overhead_s, self.request_overhead_s)
        finite = all(map(math.isfinite, overheads))
        if not finite or min(overheads) < 0 or not self.swap_bandwidth_bytes_per_s > 0:
            raise ConfigError(f"engine {self.name}: overheads must be finite and >= 0, swap bandwidth > 0")
        if self.reservation not in ("on_demand", "max"):
            raise ConfigError(f"engine {self.name}: reservation must be on_demand or max")
        if self.preemption not in ("recompute", "swap"):
            raise ConfigError(f"engine {self.name}: preemption must be recompute or swap")

    def with_(self, **changes: object) -> EngineConfig:
        """A variant (``dataclasses.replace``) whose changed fields are marked as set by the user."""
        prov = dict(self.provenance)
        for k in changes:
            prov[k] = "set by the user"
        return replace(self, provenance=prov, **changes)  # type: ignore[arg-type]


_VLLM = "https://docs.vllm.ai/en/latest/models/engine_args.html"
_SGL = "https://docs.sglang.ai/backend/server_arguments.html"
_TRT = "https://nvidia.github.io/TensorRT-LLM/performance/performance-tuning-guide/tuning-max-batch-size-and-max-num-tokens.html"
_FIT = (
    "fitted on the H100 rows of trtllm_serving.csv (hetsim.serving.validate); assumed equal for this engine"
)

PRESETS: dict[str, EngineConfig] = {
    "vllm": EngineConfig(
        name="vllm",
        max_num_seqs=256,
        max_num_batched_tokens=2048,
        chunked_prefill=True,
        mix_prefill_decode=True,
        block_size=16,
        memory_utilization=0.9,
        reservation="on_demand",
        preemption="recompute",
        prefix_caching=True,
        step_overhead_s=2.0e-3,
        seq_overhead_s=0.0,
        provenance={
            "max_num_seqs": f"docs: vLLM engine args, --max-num-seqs default 256 ({_VLLM})",
            "max_num_batched_tokens": f"docs: vLLM V1 scheduler default for the API server, 2048 ({_VLLM})",
            "chunked_prefill": "docs: vLLM V1 always chunks prefill and mixes it with decode",
            "block_size": f"docs: vLLM --block-size default 16 ({_VLLM})",
            "memory_utilization": f"docs: vLLM --gpu-memory-utilization default 0.9 ({_VLLM})",
            "preemption": "docs: vLLM V1 preempts by recompute",
            "prefix_caching": "docs: vLLM V1 enables automatic prefix caching by default",
            "step_overhead_s": "assumed: Python scheduler + sampler, about 2 ms a step (no vLLM rows)",
            "request_overhead_s": "assumed: 0, the front end not modelled (no vLLM rows)",
        },
    ),
    "sglang": EngineConfig(
        name="sglang",
        max_num_seqs=1024,
        max_num_batched_tokens=8192,
        chunked_prefill=True,
        mix_prefill_decode=False,
        block_size=1,
        memory_utilization=0.88,
        reservation="on_demand",
        preemption="recompute",
        prefix_caching=True,
        step_overhead_s=1.0e-3,
        provenance={
            "max_num_seqs": "assumed: SGLang derives --max-running-requests from memory; 1024 as a cap",
            "max_num_batched_tokens": f"docs: SGLang --chunked-prefill-size 8192 on large GPUs ({_SGL})",
            "mix_prefill_decode": f"docs: SGLang --enable-mixed-chunk is off by default ({_SGL})",
            "block_size": f"docs: SGLang --page-size default 1 ({_SGL})",
            "memory_utilization": f"docs: SGLang --mem-fraction-static about 0.88 at TP 1-4 ({_SGL})",
            "prefix_caching": "docs: SGLang RadixAttention prefix cache is on by default",
            "preemption": "docs: SGLang retracts requests and recomputes them when the KV pool is full",
            "step_overhead_s": "assumed: overlapped CPU scheduler, about 1 ms a step (no SGLang rows)",
            "request_overhead_s": "assumed: 0, the front end not modelled (no SGLang rows)",
        },
    ),
    "trtllm": EngineConfig(
        name="trtllm",
        max_num_seqs=512,
        max_num_batched_tokens=8192,
        chunked_prefill=False,
        mix_prefill_decode=True,
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
            "max_num_seqs": f"max_batch_size (not stated by the source): {_FIT}",
            "max_num_batched_tokens": f"docs: TensorRT-LLM max_num_tokens default 8192 ({_TRT})",
            "chunked_prefill": "docs: TensorRT-LLM enable_chunked_context is off by default",
            "mix_prefill_decode": f"docs: in-flight batching runs context and generation together ({_TRT})",
            "block_size": "docs: TensorRT-LLM tokens_per_block default 64",
            "memory_utilization": "docs: TensorRT-LLM kv_cache_free_gpu_mem_fraction 0.9 (of free memory)",
            "utilization_of_free": "docs: kv_cache_free_gpu_mem_fraction is a share of the memory left "
            "free after the engine (weights, workspace) is loaded",
            "reservation": "docs: TensorRT-LLM capacity scheduler default GUARANTEED_NO_EVICT "
            "reserves a request's whole KV cache at admission",
            "step_overhead_s": _FIT,
            "seq_overhead_s": _FIT,
            "request_overhead_s": "transferred: TensorRT-LLM's host time per request of the static path "
            "(hetsim.sim.frameworks.TRTLLM_REQUEST_OVERHEAD_S, calibrated on the batch-1 first-token rows "
            "of trtllm_static.csv); not fitted on serving rows",
        },
    ),
}


def get_engine(name: str | EngineConfig) -> EngineConfig:
    """An engine preset by exact name (or the config itself)."""
    if isinstance(name, EngineConfig):
        return name
    if name not in PRESETS:
        raise UnknownNameError("engine", name, PRESETS)
    return PRESETS[name]
