"""Placements where a host CPU computes what it holds (a composed GPU + host system,
``hardware/compose.py``, or any device with a CPU side), registered by name:

- ``cpu-experts``: CPU-GPU hybrid inference of a mixture-of-experts model (KTransformers,
  Fiddler, llama.cpp's ``--override-tensor exps=CPU``): the FFN / expert weights (the ``fc``
  group) are held in host DRAM and computed by the host CPU, prefill and decode; attention
  weights, the KV cache, embeddings and the LM head fill the GPU first (spilling to the host
  as ``offload`` does). Only the ``fc`` group's activations cross the PCIe link, not its
  weights. The ``fc`` group also holds the attention output projection, which these engines
  keep on the GPU: a small share of the bytes (1/(1 + 3 x experts x ffn / d_model) of the
  group for a dense layer's worth), stated here rather than split out.
- ``cpu-attention``: the KV cache in host DRAM and decode attention computed by the host CPU
  beside it (FlexGen ``--cpu``, ZeRO-Inference KV offload), weights on the GPU first:
  ``pim-attention`` restricted to sides whose compute is a host CPU's.

Neither is among ``auto``'s candidates: they describe what an engine does; ask for them with
``--policy``.
"""

from __future__ import annotations

import dataclasses

from hetsim.errors import MappingError
from hetsim.hardware.spec import Device
from hetsim.placement.policies import (
    FillResult,
    Problem,
    _fill,
    _free,
    _side_order,
    pim_attention,
    pim_sides,
    register,
)
from hetsim.placement.record import GROUPS, GroupPlacement, Placement


def cpu_sides(dev: Device) -> list[int]:
    """Sides other than the primary whose compute is a host CPU's (a unit of kind ``cpu``),
    widest memory first."""
    out = [s for s in range(1, len(dev.sides)) if any(u.kind == "cpu" for u in dev.sides[s].units)]
    return sorted(out, key=lambda s: -dev.sides[s].memory.bandwidth_bytes_per_s)


def _need_cpu(dev: Device, name: str) -> list[int]:
    sides = cpu_sides(dev)
    if not sides:
        raise MappingError(
            f"policy {name!r} cannot apply to {dev.name}: it has no host CPU side with compute units "
            "(compose one, e.g. -H rtx-4090+xeon-8480x2)"
        )
    return sides


@register(
    "cpu-experts",
    "MoE / FFN weights (the fc group) in host DRAM, computed by the host CPU (KTransformers, llama.cpp "
    "exps=CPU); attention weights, KV cache and head on the GPU first",
    auto=False,
)
def cpu_experts(p: Problem) -> FillResult:
    dev = p.device
    n = len(dev.sides)
    cpu = _need_cpu(dev, "cpu-experts")[0]
    order = _side_order(dev, 0)
    free, ws = _free(p, order)
    # the experts go to the CPU's memory first; what does not fit there is read by the CPU from
    # the next sides (an engine's expert tensors are CPU tensors: mmap'd from the model file, so
    # the OS pages them in from the disk), the GPU's memory last. Spilled onto the GPU first and
    # computed there, they ran faster once the host filled: a flexgen-t4 copy's prefill took
    # 33,890 s at B=64 and 22,126 s at B=128 (its workspace took the host's room)
    fc_order = [cpu, *(s for s in order if s not in (cpu, 0)), 0]
    shares, _ = _fill(p, ("fc",), fc_order, free)
    for s in range(n):
        free[s] = free[s] - p.resident["fc"] * shares["fc"][s]
    end = dataclasses.replace(p, resident={**p.resident, "attention": p.final_kv})
    rest, thresholds = _fill(end if p.held_to_end else p, ("head", "qkv", "attention"), order, free)
    shares.update(rest)
    groups = {g: GroupPlacement(shares[g], (0,) * n) for g in GROUPS}
    # the CPU computes the experts wherever they are held off the GPU (streamed to it)
    groups["fc"] = GroupPlacement(shares["fc"], tuple(0 if s == 0 else cpu for s in range(n)))
    return FillResult(Placement("cpu-experts", groups, n_sides=n, workspace_side=ws), thresholds)


@register(
    "cpu-attention",
    "KV cache in host DRAM with decode attention computed by the host CPU beside it (FlexGen --cpu, "
    "ZeRO-Inference KV offload); weights on the GPU first",
    auto=False,
)
def cpu_attention(p: Problem) -> FillResult:
    dev = p.device
    cpus = _need_cpu(dev, "cpu-attention")
    others = [s for s in pim_sides(dev) if s not in cpus]
    if others:
        names = ", ".join(dev.sides[s].name for s in others)
        raise MappingError(
            f"policy 'cpu-attention' cannot apply to {dev.name}: sides {names} compute beside their memory "
            "too and would take part of the KV cache; use --policy pim-attention"
        )
    fr = pim_attention(p)
    return FillResult(dataclasses.replace(fr.placement, policy="cpu-attention"), fr.thresholds_bytes)
