"""An engine's own tensor-parallel all-reduce, where it is not NCCL's.

TensorRT-LLM's all-reduce plugin (``AllreducePlugin::selectImplementation`` in
cpp/tensorrt_llm/plugins/ncclPlugin/allreducePlugin.cpp, v0.9-v0.14, AUTO strategy on
NVLink-connected GPUs) runs its own kernels over peer memory (IPC buffers and flag barriers,
cpp/tensorrt_llm/kernels/customAllReduceKernels.cu) for a message up to its workspace size
(``getMaxRequiredWorkspaceSize``: 16,000,000 bytes at two GPUs, 8,000,000 above), and NCCL
above it:

- **one-shot** (below 1,000,000 bytes at up to four GPUs, 500,000 above; always at two): every
  GPU reads the other p - 1 GPUs' whole buffers and reduces them itself; one dependent step;
- **two-shot** (the rest up to the workspace): a reduce-scatter and an all-gather over peer
  memory, the ring's 2 (p - 1) / p bytes per GPU in two dependent steps.

A step's latency is :attr:`EngineConfig.allreduce_latency_s` (the kernel's launch, flag
barrier and the peer round trip; a knob fitted on serving rows, its provenance in the engine
record); the bytes cross the scale-up link at the device's calibrated all-reduce efficiency.
Above the workspace NCCL prices the message as the device's collective does (ring, or NVLS
where the switch reduces in the network), at least the two-shot time of a message at the
workspace size, so a bigger message is never cheaper.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hetsim.cost.roofline import Cost
from hetsim.engines.batching import EngineConfig
from hetsim.hardware.spec import Device
from hetsim.serving.pricing import OpPricer, default_op_pricer
from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import Op

# TensorRT-LLM customAllReduceUtils.h getMaxRequiredWorkspaceSize, and the one-shot bounds of
# allreducePlugin.cpp selectImplementation (bytes)
WORKSPACE_BYTES = {2: 16_000_000, 4: 8_000_000}
ONE_SHOT_BYTES = {2: float("inf"), 4: 1_000_000}
ONE_SHOT_BYTES_ABOVE_4 = 500_000


def _limits(p: int) -> tuple[float, float]:
    """(one-shot bound, workspace) in bytes for ``p`` GPUs."""
    ws = WORKSPACE_BYTES[2] if p <= 2 else WORKSPACE_BYTES[4]
    one = ONE_SHOT_BYTES[2] if p <= 2 else ONE_SHOT_BYTES[4] if p <= 4 else ONE_SHOT_BYTES_ABOVE_4
    return one, ws


def custom_seconds(nbytes: np.ndarray, p: int, latency_s: float, bw_bytes_per_s: float) -> np.ndarray:
    """Seconds of one all-reduce of ``nbytes`` per GPU by the custom kernels (one- or two-shot)."""
    one, _ = _limits(p)
    one_shot = latency_s + (p - 1) * nbytes / bw_bytes_per_s
    two_shot = 2 * latency_s + 2 * (p - 1) / p * nbytes / bw_bytes_per_s
    return np.where(nbytes < one, one_shot, two_shot)


def engine_allreduce(dev: Device, prec: Precision, tp: int, eng: EngineConfig) -> OpPricer:
    """The device's op pricer with the tensor-parallel all-reduces priced as the engine runs them."""
    base = default_op_pricer(dev, prec, tp)
    link, kp = dev.interconnect, dev.kernels
    if link is None or eng.allreduce == "nccl":
        return base
    bw = link.bandwidth_bytes_per_s * (kp.link_efficiency if kp is not None else 1.0)
    _, ws = _limits(tp)
    floor = float(custom_seconds(np.asarray(float(ws)), tp, eng.allreduce_latency_s, bw))

    def run(ops: list[Op]) -> list[Cost]:
        costs = base(ops)
        out = []
        for op, c in zip(ops, costs, strict=True):
            if op.kind != "collective" or op.collective == "all_to_all" or (op.group or tp) != tp:
                out.append(c)
                continue
            n = np.asarray(op.act_read_bytes, dtype=float)
            nccl = np.asarray(c.time_s, dtype=float) / op.count
            t = np.where(n <= ws, custom_seconds(n, tp, eng.allreduce_latency_s, bw), np.maximum(nccl, floor))
            out.append(dataclasses.replace(c, time_s=t * op.count, overhead_s=0.0, memory_s=t * op.count))
        return out

    return run
