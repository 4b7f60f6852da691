"""Where offload's split of a group sits: the share of the primary at which reading its part
there and streaming the rest from the next side take the same time, with the bandwidths the
pricing reads (:mod:`hetsim.placement.price`), per kernel where the op graph's kernels are
known. A target above the priced optimum made offload slower with more primary capacity
(which lets the share rise to the target), one below it slower with more capacity on the
other side, so the balance follows the pricing term for term: achieved bandwidth, the size
each part is read at, the route's latency per kernel, the local reads that do not scale with
the share."""

from __future__ import annotations

from typing import overload

import numpy as np

from hetsim.hardware.spec import Device
from hetsim.placement.topology import route, stream_bandwidth
from hetsim.workload.ops import Num


@overload
def balance(dev: Device, sides: list[int], *, kv: bool = False) -> float: ...
@overload
def balance(dev: Device, sides: list[int], kernel_bytes: Num, *, kv: bool = False) -> Num: ...
def balance(dev: Device, sides: list[int], kernel_bytes: Num | None = None, *, kv: bool = False) -> Num:
    """The share of a split group the first side should hold so that reading it there and
    streaming the rest from the next side take the same time: bw0 / (bw0 + bw_stream)
    (holding more only makes the first side's memory the bottleneck), with the bandwidths
    the pricing reads (:func:`achieved_bandwidth`): at the large-transfer top of the tiers'
    efficiency curves, or, given ``kernel_bytes`` (one kernel's bytes of the group), at the
    sizes of its local part and its stream, with the route's latency per kernel on the
    stream's side (a fixed point: the sizes depend on the share). ``kv``: the group is the KV
    cache, read by the decode's attention kernels (at the primary's load cap, see
    :func:`achieved_bandwidth`)."""
    if len(sides) < 2:
        return 1.0
    route_bw = stream_bandwidth(dev, sides[1], sides[0])
    latency = route(dev, sides[1], sides[0]).latency_s

    def share(kb: Num | None, b: Num) -> Num:
        bw0 = achieved_bandwidth(dev, sides[0], None if kb is None else b * kb, kv=kv)
        bw1 = np.minimum(achieved_bandwidth(dev, sides[1], None if kb is None else (1 - b) * kb), route_bw)
        if kb is None:
            out: Num = bw0 / (bw0 + bw1)
            return out
        # s kb / bw0 = (1 - s) kb / bw1 + the route's start-up latency (paid per kernel)
        kb = np.maximum(kb, 1.0)
        out = np.minimum((kb / bw1 + latency) / (kb / bw0 + kb / bw1), 1.0)
        return out

    b = share(None, 1.0)
    if kernel_bytes is None:
        return float(b)
    sized = not _flat(dev, sides[0]) or not _flat(dev, sides[1])
    for _ in range(3 if sized else 1):  # the sizes matter only where a curve is read
        b = share(kernel_bytes, b)
    return b


def _flat(dev: Device, s: int) -> bool:
    """Whether side ``s`` is read at one bandwidth whatever the transfer size."""
    return (s == 0 and dev.kernels is not None) or dev.sides[s].memory.efficiency.values == (1.0,)


def weight_balance(
    dev: Device,
    kernels: tuple[tuple[Num, Num, Num], ...],
    sides: list[int],
    b: float,
    memo: list[tuple[Num, Num, Num, Num]] | None = None,
) -> Num:
    """The one share of every weight group that minimises the weights' read time: each
    kernel's time max(local, stream) is smallest at its own balance (:func:`balance` at its
    size: the route's latency per kernel moves it up, the local reads that do not scale with
    the share — activations, split-K partials — move it down), and the sum over kernels is
    piecewise linear, so its minimum is the kernel balance at which the summed slope turns
    non-negative (local slope bytes / bw0, stream slope bytes / bw1, each x kernels).
    ``kernels``: (weight bytes of one, kernels per step (weighted), fixed seconds), see
    ``Problem.weight_kernels``; bytes and seconds may be arrays over configurations, and
    each configuration's share is found from its own kernels alone. ``memo`` (a list, filled
    here): each kernel's (bytes, balance, bw0, bw1), reused by a later call whose kernel at the
    same place reads the same bytes (the prefill's plan after the decode's)."""
    if not kernels:
        return b
    kinks, ups, downs = [], [], []
    route_bw = stream_bandwidth(dev, sides[1], sides[0])
    for i, (kb, n, fixed_s) in enumerate(kernels):
        if memo is not None and i < len(memo) and np.array_equal(memo[i][0], kb):
            s, bw0, bw1 = memo[i][1:]
        else:
            s = balance(dev, sides, kb)
            bw0 = achieved_bandwidth(dev, sides[0], s * kb)
            bw1 = np.minimum(achieved_bandwidth(dev, sides[1], (1 - s) * kb), route_bw)
            if memo is not None and i == len(memo):
                memo.append((kb, s, bw0, bw1))
        kinks.append(np.clip(s - np.asarray(fixed_s, dtype=float) / (kb / bw0 + kb / bw1), 0.0, 1.0))
        ups.append(n * kb / bw0)
        downs.append(n * kb / bw1)
    k = np.stack(np.broadcast_arrays(*kinks))  # (kernels, ...)
    up = np.stack([np.broadcast_to(np.asarray(x, dtype=float), k.shape[1:]) for x in ups])
    down = np.stack([np.broadcast_to(np.asarray(x, dtype=float), k.shape[1:]) for x in downs])
    order = np.argsort(k, axis=0, kind="stable")
    total_down: Num = 0.0
    for x in downs:  # in kernel order, as the slope's start
        total_down = total_down + x
    slope = np.cumsum(np.take_along_axis(up + down, order, axis=0), axis=0) - total_down
    first = np.where(np.any(slope >= 0, axis=0), np.argmax(slope >= 0, axis=0), len(ups) - 1)
    out: Num = np.take_along_axis(np.take_along_axis(k, order, axis=0), first[None], axis=0)[0]
    return out if np.ndim(out) else float(out)


def achieved_bandwidth(dev: Device, s: int, size_bytes: Num | None = None, *, kv: bool = False) -> Num:
    """The bandwidth (B/s) at which the pricing reads side ``s``'s memory in large transfers:
    the datasheet figure x the calibrated kernel model's memory fraction on the primary where
    the device has one, else x the top of the tier's efficiency curve. Balanced on the
    datasheet figures, the primary's share sat above the priced optimum (its reads run at
    0.9 of the datasheet, the stream at the full link rate), so more primary capacity, which
    lets the share rise to that target, made offload slower (hbm-pim, llama2-13b B=55
    P=2661: TPOT 25.92 ms with 80 GB of HBM, 27.29 ms with 88 GB or more). ``size_bytes``:
    read the curve at that transfer size instead (the pricing reads it at each part's size).
    ``kv``: the rate the decode's attention kernels read the KV cache at, which the calibrated
    kernel model caps at the SMs' loads in flight (``KernelParams.load_issue``,
    :func:`hetsim.cost.kernels.kernel_times`); balanced on the DRAM rate alone, more primary
    bandwidth above the cap moved KV onto a primary that read it no faster, and the decode got
    slower (a6000-offload copy at 3x bandwidth and half the SMs, llama2-7b B=128 P=1 G=156:
    TPOT 0.42883805 -> 0.42883965 s at 6x)."""
    mem = dev.sides[s].memory
    if s == 0 and dev.kernels is not None:
        rate = mem.bandwidth_bytes_per_s * dev.kernels.memory_efficiency
        unit = dev.sides[0].unit_for("matvec")
        cap = dev.kernels.load_issue * unit.n_parallel * unit.clock_hz
        return min(rate, cap) if kv and 0 < cap < rate else rate
    if mem.efficiency.values == (1.0,):
        return mem.bandwidth_bytes_per_s
    if size_bytes is None:
        return mem.bandwidth_bytes_per_s * float(np.max(mem.efficiency(1e18)))
    out: Num = mem.bandwidth_bytes_per_s * np.asarray(mem.efficiency(np.maximum(size_bytes, 1.0)))
    return out
