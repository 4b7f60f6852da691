"""Placements that offload engines use by construction, registered by name.

``offload`` (in :mod:`hetsim.placement.policies`) keeps on the primary whatever fits: the best
an offload runtime could do. Some runtimes do not: DeepSpeed ZeRO-Inference offloads every
parameter of the model (ZeRO-3 parameter offload; "partial model weights offloading" is listed
as work in progress in its README), and FlexGen's Accelerate baseline maps every decoder layer
to the CPU or the disk and only the embeddings and the LM head to the GPU (FlexLLMGen
benchmark/hf_ds/hf_opt.py). To price what such an engine does, these policies hold every
layer's weights (qkv, fc) off the primary:

- ``layer-offload``: on the capacity sides, fastest route to the primary first (host DRAM,
  then NVMe). Disk-backed weights read through the OS page cache (``np.memmap``: Accelerate,
  FlexGen) are served from host DRAM as far as it has room after the first pass, which is
  this fill: the page cache is host DRAM, so the bytes that fit there are priced at its speed.
- ``layer-offload-nvme``: on the storage sides (no compute of their own, e.g. an NVMe drive):
  reads that bypass the page cache (DeepSpeed's asynchronous I/O opens its swap files with
  ``O_DIRECT``), so every pass reads them from the drive.

The embeddings and LM head stay on the primary, and the KV cache fills the primary first
(``-cpu-attention``: the KV cache on the memory side with compute of its own, decode attention
computed there, as ZeRO-Inference's and FlexGen's KV offload do). None is among ``auto``'s
candidates: they describe an engine, not a choice.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hetsim.errors import MappingError
from hetsim.placement.balance import balance
from hetsim.placement.policies import (
    FillResult,
    Problem,
    _fill,
    _free,
    _side_order,
    pim_sides,
    register,
)
from hetsim.placement.record import GROUPS, GroupPlacement, Placement
from hetsim.workload.ops import Num

LAYER_GROUPS = ("qkv", "fc")


def _take(p: Problem, free: list[Num], groups: tuple[str, ...], shares: dict[str, tuple[Num, ...]]) -> None:
    """Subtract the bytes ``shares`` puts on each side from ``free`` (in place)."""
    for g in groups:
        total = np.asarray(p.resident[g], dtype=float)
        for s in range(len(free)):
            free[s] = free[s] - total * shares[g][s]


def layer_offload(p: Problem, *, storage_only: bool, cpu_attention: bool, name: str) -> FillResult:
    dev = p.device
    n = len(dev.sides)
    order = _side_order(dev, 0)
    off = [s for s in order[1:] if not (storage_only and dev.sides[s].has_compute)]
    if not off:
        what = "storage side without compute (an NVMe drive)" if storage_only else "second memory side"
        raise MappingError(f"policy {name!r} cannot apply to {dev.name}: it has no {what} to hold the layers")
    pims = pim_sides(dev)
    if cpu_attention and not pims:
        raise MappingError(
            f"policy {name!r} cannot apply to {dev.name}: no side other than the primary has compute "
            "units of its own to run attention beside the KV cache; try --policy layer-offload"
        )
    free, ws = _free(p, order)
    shares, _ = _fill(p, ("head",), order, free)
    _take(p, free, ("head",), shares)
    kv_order = pims + [s for s in order if s not in pims] if cpu_attention else order
    # on the primary first, the KV cache keeps offload's balanced share there where the engine
    # prefetches (the rest streamed from the next side while the primary reads its part): filled
    # whole while it fit, the first batch that spilled read its KV over both paths at once and
    # decoded faster than the batch before (hbm-pim, llama3-8b P=3698 G=304: TPOT 11.384 ms at
    # B=32, 11.281 ms at B=64). An engine that does not prefetch reads a spilled part after its
    # local one, so it keeps the KV whole while it fits
    b = balance(dev, order) if p.overlap_transfers and not cpu_attention else 1.0
    kv, thresholds = _fill(p, ("attention",), kv_order, free, b)
    shares.update(kv)
    # the weights take the room the KV cache leaves at the run's full length, so they stay put
    # while it grows (an engine allocates its KV buffer for the whole generation up front)
    end = dataclasses.replace(p, resident={**p.resident, "attention": p.final_kv})
    kv_end, _ = _fill(end, ("attention",), kv_order, free, b)
    _take(end, free, ("attention",), kv_end)
    w, _ = _fill(p, LAYER_GROUPS, off, free)
    shares.update(w)
    groups = {g: GroupPlacement(shares[g], (0,) * n) for g in GROUPS}
    if cpu_attention and p.phase == "decode":
        groups["attention"] = GroupPlacement(
            shares["attention"], tuple(s if s in pims else 0 for s in range(n))
        )
    return FillResult(Placement(name, groups, n_sides=n, workspace_side=ws), thresholds)


def _variant(storage_only: bool, cpu_attention: bool) -> None:
    name = "layer-offload" + ("-nvme" if storage_only else "") + ("-cpu-attention" if cpu_attention else "")
    where = (
        "on the storage side (reads bypass the page cache)"
        if storage_only
        else ("off the primary, fastest route first (disk-backed bytes that fit host DRAM: its page cache)")
    )
    kv = (
        "KV cache beside the host's compute, decode attention there"
        if cpu_attention
        else ("KV cache on the primary first")
    )
    who = "ZeRO-Inference NVMe offload" if storage_only else "ZeRO-Inference CPU offload, Accelerate"
    doc = f"every layer's weights {where}, embeddings and LM head on the primary, {kv} ({who})"

    @register(name, doc, auto=False)
    def fill(p: Problem) -> FillResult:
        return layer_offload(p, storage_only=storage_only, cpu_attention=cpu_attention, name=name)


for _nvme in (False, True):
    for _cpu in (False, True):
        _variant(_nvme, _cpu)
