"""How an engine batches requests over time (``hetsim serve-sim --engine``): the scheduler it
runs (a name registered in :mod:`hetsim.serving.schedulers`), its caps on sequences and tokens
per iteration, prefill chunking, the paged KV cache (block size, memory share, reserve on
demand or the maximum at admission, preemption) and its host time per iteration, per sequence
and per request. Every engine record (:mod:`hetsim.engines`) holds one, each knob with its
provenance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from hetsim.engines.host import Serving
from hetsim.errors import ConfigError
from hetsim.workload.ops import AllReduceImpl

# the cost tables of an iteration hold one entry per token and per sequence up to these caps
MAX_BATCHED_TOKENS = 1 << 17
MAX_SEQS = 1 << 16
MAX_BLOCK_TOKENS = 1 << 16
Preemption = Literal["recompute", "swap"]
Reservation = Literal["on_demand", "max"]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Scheduler and KV-cache behaviour of one engine instance."""

    name: str = "custom"
    scheduler: str = "fcfs"  # hetsim.serving.schedulers registry name
    max_num_seqs: int = 256  # sequences in one iteration (max batch size)
    max_num_batched_tokens: int = 8192  # tokens (decode + prefill) in one iteration
    chunked_prefill: bool = True  # split prompts to fill the token budget (Sarathi-Serve)
    # prefill tokens one iteration may carry beside its decodes (the stall-free scheduler's
    # chunk budget); 0: the whole token budget
    prefill_chunk_tokens: int = 0
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
    # device <-> host KV copies (swap preemption, KV offload) when the hardware description has
    # no host tier and link of its own
    swap_bandwidth_bytes_per_s: float = 64e9
    # the engine's static part (engines/host.py: CUDA-graph decode, its all-reduce), the same
    # record analyze reads; an engine record puts its own here
    serving: Serving = field(default_factory=Serving)
    provenance: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        caps = {"max_num_seqs": MAX_SEQS, "max_num_batched_tokens": MAX_BATCHED_TOKENS,
                "block_size": MAX_BLOCK_TOKENS}  # fmt: skip
        for name, cap in caps.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= cap:
                raise ConfigError(f"engine {self.name}: {name} must be a whole number from 1 to {cap:,}, "
                                  f"got {v!r}")  # fmt: skip
        c = self.prefill_chunk_tokens
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= MAX_BATCHED_TOKENS:
            raise ConfigError(f"engine {self.name}: prefill_chunk_tokens must be a whole number from 0 to "
                              f"{MAX_BATCHED_TOKENS:,}, got {c!r}")  # fmt: skip
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
        finite = all(map(math.isfinite, overheads)) and math.isfinite(self.swap_bandwidth_bytes_per_s)
        if not finite or min(overheads) < 0 or not self.swap_bandwidth_bytes_per_s > 0:
            raise ConfigError(f"engine {self.name}: overheads must be finite and >= 0, swap bandwidth > 0")
        if self.reservation not in ("on_demand", "max"):
            raise ConfigError(f"engine {self.name}: reservation must be on_demand or max")
        if self.preemption not in ("recompute", "swap"):
            raise ConfigError(f"engine {self.name}: preemption must be recompute or swap")

    @property
    def prefill_budget(self) -> int:
        """Prefill tokens an iteration may carry (the chunk budget, or the token budget)."""
        return self.prefill_chunk_tokens or self.max_num_batched_tokens

    @property
    def allreduce(self) -> AllReduceImpl:
        """The engine's tensor-parallel all-reduce (its static record's)."""
        return self.serving.allreduce

    def with_allreduce(self, algorithm: str, step_latency_s: float = 0.0) -> EngineConfig:
        """A variant running its all-reduce with ``algorithm`` (marked as set by the user)."""
        srv = replace(self.serving, allreduce=AllReduceImpl(algorithm, step_latency_s))
        return self.with_(serving=srv)

    def with_(self, **changes: object) -> EngineConfig:
        """A variant (``dataclasses.replace``) whose changed fields are marked as set by the user."""
        prov = dict(self.provenance)
        for k in changes:
            prov[k] = "set by the user"
        return replace(self, provenance=prov, **changes)  # type: ignore[arg-type]
