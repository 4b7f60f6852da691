"""How an engine wraps the forward passes of a static run (``hetsim analyze --framework``):
host time per step and per request, kernel dispatch, CUDA graphs, first-token handling, KV
reads under GQA and transfer overlap. One :class:`Serving` is part of every engine record
(:mod:`hetsim.engines`); :mod:`hetsim.sim` prices it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.errors import ConfigError
from hetsim.hardware.spec import Device
from hetsim.workload.ops import NCCL, AllReduceImpl


@dataclass(frozen=True, slots=True)
class Serving:
    """How the serving framework wraps the forward passes (its effects that dominate small
    workloads). ``step_overhead_s``: host time per forward pass (scheduling, sampling, sync);
    None takes the device's calibrated value (0 without one). ``first_token_decode_steps``:
    decode steps the framework runs after the whole batch's prefill before the first token
    appears (TurboMind: 1, its context phase only fills the KV cache; vLLM: 0).
    ``request_overhead_s``: host time of one generate call before its first token (session
    set-up, input copy, first sampling), paid once per request (0: not modelled).
    ``overlap_transfers``: whether the engine prefetches the next layer's streamed data (from
    another memory side) while the current layer computes (FlexGen: yes); False prices the
    stream and the compute of a layer one after the other (an engine that loads a layer's
    weights in the layer's forward hook). It changes only data streamed between sides.
    ``kernel_dispatch_s``: host time to issue one kernel (eager PyTorch: Python, dispatcher,
    launch); launches are asynchronous, so a pass takes max(GPU time, kernels x this), where
    kernels = the pass's ops plus ``extra_kernels_per_layer`` per layer (a framework's own
    unfused ops); 0: launches hidden. ``decode_graph``: decode replays a CUDA graph (one launch
    per step) at the batch padded up to the next of ``graph_batch_sizes`` (empty: the exact
    batch); a batch above the largest size runs eager. ``sequence_overhead_s``: host time per
    running sequence added to every pass (0: not modelled). ``allreduce``: the implementation of
    the tensor-parallel all-reduce (:class:`~hetsim.workload.ops.AllReduceImpl`)."""

    step_overhead_s: float | None = None
    first_token_decode_steps: int = 0
    gqa_shared_kv: bool = True  # decode attention reads a KV head once per group (False: per query head)
    request_overhead_s: float = 0.0
    overlap_transfers: bool = True
    kernel_dispatch_s: float = 0.0
    extra_kernels_per_layer: int = 0
    decode_graph: bool = False
    graph_batch_sizes: tuple[int, ...] = ()
    quantized_lm_head: bool = False  # weight-only runs quantise the LM head too (Precision.quantized_head)
    # host time per running sequence per forward pass, serial with the GPU (the engine's Python
    # scheduler, input preparation, sampling and output processing walk every sequence)
    sequence_overhead_s: float = 0.0
    # how the engine runs its tensor-parallel all-reduce (NCCL, or its own kernels: priced by
    # hetsim.cost.collectives, in analyze and serve-sim alike)
    allreduce: AllReduceImpl = NCCL

    def __post_init__(self) -> None:
        if self.step_overhead_s is not None and self.step_overhead_s < 0:
            raise ConfigError("step_overhead_s must be non-negative")
        if self.first_token_decode_steps < 0:
            raise ConfigError("first_token_decode_steps must be non-negative")
        if not self.request_overhead_s >= 0:
            raise ConfigError("request_overhead_s must be non-negative")
        if not self.sequence_overhead_s >= 0:
            raise ConfigError("sequence_overhead_s must be non-negative")
        if not self.kernel_dispatch_s >= 0 or self.extra_kernels_per_layer < 0:
            raise ConfigError("kernel_dispatch_s and extra_kernels_per_layer must be non-negative")
        if list(self.graph_batch_sizes) != sorted(set(self.graph_batch_sizes)) or any(
            b < 1 for b in self.graph_batch_sizes
        ):
            raise ConfigError("graph_batch_sizes must be increasing positive integers")

    def graph_batch(self, batch: Any) -> Any:
        """The batch a CUDA-graph decode step runs at: padded up to the next captured size
        (unchanged without sizes or above the largest)."""
        if not self.decode_graph or not self.graph_batch_sizes:
            return batch
        sizes = np.asarray(self.graph_batch_sizes, dtype=float)
        b = np.asarray(batch, dtype=float)
        i = np.minimum(np.searchsorted(sizes, b), len(sizes) - 1)
        return np.where(b <= sizes[-1], np.maximum(sizes[i], b), b)

    def replays_graph(self, batch: Any) -> Any:
        """Whether a decode step of ``batch`` (per configuration) replays a captured CUDA graph
        (a batch above the largest captured size runs eager)."""
        b = np.asarray(batch, dtype=float)
        if not self.decode_graph:
            return np.zeros(b.shape, dtype=bool)
        if not self.graph_batch_sizes:
            return np.ones(b.shape, dtype=bool)
        return b <= self.graph_batch_sizes[-1]

    def host_pass_s(self, kernels: float, n_layers: int, batch: Any, phase: str) -> Any:
        """Host time to issue one forward pass of ``kernels`` graph ops (0 if not modelled)."""
        eager = self.kernel_dispatch_s * (kernels + self.extra_kernels_per_layer * n_layers)
        if phase != "decode" or not self.decode_graph:
            return eager
        if not self.graph_batch_sizes:
            return self.kernel_dispatch_s  # one graph launch per step
        b = np.asarray(batch, dtype=float)
        return np.where(b <= self.graph_batch_sizes[-1], self.kernel_dispatch_s, eager)

    def pass_host_s(self, dev: Device, batch: Any) -> Any:
        """Host time between two passes of ``batch`` running sequences: the step's own plus
        the per-sequence part."""
        return self.step_s(dev) + self.sequence_overhead_s * np.asarray(batch, dtype=float)

    def step_s(self, dev: Device) -> float:
        if self.step_overhead_s is not None:
            return self.step_overhead_s
        return dev.kernels.step_overhead_s if dev.kernels is not None else 0.0
