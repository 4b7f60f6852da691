"""The operator record: counts of work, never costs.

Every count is *per repetition* (one layer); ``count`` says how many times the op runs in
one forward pass. Counts may be floats or NumPy arrays (broadcast over configurations or
decode steps), so one builder serves a single analysis and a vectorised sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from hetsim.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
Num = float | FloatArray
BoolArray = npt.NDArray[np.bool_]


def ndim(x: npt.ArrayLike) -> int:
    """``np.ndim(x)``, without NumPy's dispatch for the common Python (or NumPy) scalar:
    the pricing path asks it of every byte count and share, hundreds of thousands of times
    a study."""
    return 0 if isinstance(x, float | int) else int(np.ndim(x))


# how an engine runs its tensor-parallel all-reduce (priced by hetsim.cost.collectives)
ALLREDUCE_ALGORITHMS = ("nccl", "trtllm-custom")


@dataclass(frozen=True, slots=True)
class AllReduceImpl:
    """The implementation an engine runs its tensor-parallel all-reduces with, chosen by its
    record (:mod:`hetsim.engines`): ``"nccl"`` (the collective library, its algorithm by
    topology) or ``"trtllm-custom"`` (TensorRT-LLM's one-shot / two-shot kernels over peer
    memory, ``step_latency_s`` per dependent step; NCCL above its workspace or across nodes)."""

    algorithm: str = "nccl"
    step_latency_s: float = 0.0

    def __post_init__(self) -> None:
        if self.algorithm not in ALLREDUCE_ALGORITHMS:
            known = ", ".join(ALLREDUCE_ALGORITHMS)
            raise ConfigError(f"all-reduce algorithm {self.algorithm!r}: choose one of {known}")
        if not 0 <= self.step_latency_s < 1:
            raise ConfigError(f"all-reduce step latency must be in [0, 1) s, got {self.step_latency_s!r}")


NCCL = AllReduceImpl()

OpKind = Literal["gemm", "attention", "softmax", "norm", "elementwise", "lookup", "collective"]
Split = Literal["head", "kv_group", "column", "none"]
Sublayer = Literal["qkv", "attention", "fc", "norm", "embed", "lm_head", "comm"]
Phase = Literal["prefill", "decode"]


@dataclass(frozen=True, slots=True)
class Op:
    name: str
    sublayer: Sublayer
    kind: OpKind
    prefers: str  # unit kind that should run it: matrix, matvec, vector, sfu
    count: int  # repetitions per forward pass (n_layers for layer ops)
    flop: Num
    weight_bytes: Num = 0.0  # read
    kv_read_bytes: Num = 0.0
    kv_write_bytes: Num = 0.0
    act_read_bytes: Num = 0.0
    act_write_bytes: Num = 0.0
    split: Split = "none"  # how the op divides between memory sides
    n_parts: int = 1  # blocks along ``split`` (heads, KV groups, column blocks)
    gemm_m: Num = 0.0  # GEMM shape when kind == "gemm" (M = tokens)
    gemm_n: Num = 0.0
    gemm_k: Num = 0.0
    # independent M x N x K GEMMs of one grouped kernel (MoE: the experts touched, each with
    # its routed tokens as M); ``flop`` counts all of them
    gemm_groups: Num = 1.0
    # independent rows of a row-parallel vector kernel: norms and the gated activation run
    # one thread block per token (vLLM / TensorRT-LLM RMSNorm and SiLU*mul), so at most this
    # many cores have work; 0: a flat element-wise kernel spread over every core
    rows: Num = 0.0
    # a collective's pattern and the devices it spans (0: the tensor-parallel group):
    # "all_reduce" (tensor parallelism's), "all_to_all" (expert parallelism's dispatch/combine)
    collective: str = "all_reduce"
    group: int = 0
    # a collective issued inside a captured CUDA graph (a graph-replayed decode step): no host
    # enqueue before it, so it pays the collective library's device-side latency only
    # (cost/collectives.py::graph_alpha_s); per configuration where a sweep's batches differ
    captured: bool | BoolArray = False
    # a fused decode attention (head_dim > 0): its sequences and head size (a PIM prices it as per-sequence
    # GEMVs, hardware/dram.py::DramTiming.attention_s); 0: not described
    seqs: Num = 0.0
    head_dim: int = 0
    allreduce: AllReduceImpl = NCCL  # the engine's all-reduce implementation (an all_reduce op's)

    @property
    def bytes_read(self) -> Num:
        return self.weight_bytes + self.kv_read_bytes + self.act_read_bytes

    @property
    def bytes_written(self) -> Num:
        return self.kv_write_bytes + self.act_write_bytes

    @property
    def bytes(self) -> Num:
        """Bytes moved to and from memory per repetition."""
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> Num:
        """Arithmetic intensity, flop per byte."""
        return self.flop / np.maximum(self.bytes, 1e-30)

    @property
    def total_flop(self) -> Num:
        return self.flop * self.count

    @property
    def total_bytes(self) -> Num:
        return self.bytes * self.count
