"""Collectives over a system's fabric, each choosing its algorithm by topology.

A system's devices sit in scale-up domains of ``Device.node_devices`` (an NVLink / xGMI / ICI
node; 0: one domain of any size) joined by ``Device.interconnect``; domains are joined by
each device's NIC, ``Device.scale_out`` (InfiniBand, RoCE). A collective over ``p`` devices
(``nbytes`` per device) is priced as:

- **one domain**: a ring (2(p-1) dependent steps; each device sends and receives
  2(p-1)/p x nbytes for an all-reduce), or, where the switch reduces in the network (NVLink
  SHARP: ``Link.in_network_reduction``), NVLS: one trip up and one down, nbytes each way.
- **several domains** (hierarchical, as NCCL does across nodes): reduce-scatter inside each
  domain of d devices, an all-reduce of nbytes / d across the m = p / d domains on every
  device's own NIC at once (a ring, or a double binary tree of 2 ceil(log2 m) steps for small
  messages, whichever is faster; in-network reduction where the scale-out switch has it,
  e.g. InfiniBand SHARP), then an all-gather inside the domain.

All-gather and reduce-scatter are half an all-reduce's traffic (a ring's p-1 steps). An
all-to-all (expert parallelism) sends (p-1)/p of each device's bytes to the others: those
for devices in another domain cross the NIC, the rest the scale-up link; the two proceed at
once and the slower decides.

With calibrated kernel knobs the scale-up link's latency is the fitted all-reduce base
(``allreduce_latency_s``) plus ``allreduce_hop_latency_s`` per dependent step, at
``link_efficiency`` of its bandwidth (fitted on NCCL all-reduces inside DGX A100 / H100
nodes, ``vidur_allreduce.csv``); without, the link's own latency once and its full bandwidth.
The scale-out link always uses its own latency per step and its ``efficiency``.

Those fitted latencies are of collectives issued one call at a time from the host (Vidur times
each NCCL call eagerly: the host's enqueue of the call sits inside the measured time). A
collective inside a captured CUDA graph (the decode step of an engine that replays one, an
``Op`` with ``captured``) has no enqueue in front of it; it pays the library's device-side
latency, taken from NCCL's own tuning model (``src/graph/tuning.cc`` of NVIDIA/nccl at 01afd20:
``baseLat`` ring / LL 3.6 us, ``hwLat`` ring / LL 0.47 us per step over NVLink, 1.0 us over
PCIe; the low-latency protocol NCCL picks for small messages), not fitted. The bandwidth term
stays the fitted one.

An engine may run its tensor-parallel all-reduce with its own kernels (``Op.allreduce``, the
engine record's :class:`~hetsim.workload.ops.AllReduceImpl`). TensorRT-LLM's all-reduce plugin
(``AllreducePlugin::selectImplementation`` in cpp/tensorrt_llm/plugins/ncclPlugin/allreducePlugin.cpp,
v0.9-v0.14, AUTO strategy) runs its own kernels over peer memory (IPC buffers and flag barriers,
cpp/tensorrt_llm/kernels/customAllReduceKernels.cu) on NVLink-connected GPUs of one node, for a
message up to its workspace (``getMaxRequiredWorkspaceSize``: 16,000,000 bytes at two GPUs,
8,000,000 above), and NCCL otherwise:

- **one-shot** (below 1,000,000 bytes at up to four GPUs, 500,000 above; always at two): every GPU
  reads the other p - 1 GPUs' whole buffers and reduces them itself; one dependent step;
- **two-shot** (the rest up to the workspace): a reduce-scatter and an all-gather over peer
  memory, the ring's 2 (p - 1) / p bytes per GPU in two dependent steps.

A step costs the record's ``step_latency_s`` (the kernel's launch, flag barrier and peer round
trip, its provenance in the engine record; the same inside or outside a CUDA graph, as the
kernel has no host enqueue of its own); the bytes cross the scale-up link at
:data:`TRTLLM_PEER_EFFICIENCY` of its datasheet bandwidth (peer loads and stores issued by the
kernel's own thread blocks, not NCCL's pipelined copies: its fitted link efficiency does not
apply). Above the workspace NCCL prices the
message, at least the two-shot time of a message at the workspace size (a bigger message is
never cheaper). :func:`for_engine` marks a pass's all-reduces as the engine runs them; analyze
(``sim/placed_run.py``) and serve-sim (``serving/pricing.py``) both call it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hetsim.engines.host import Serving
from hetsim.errors import ConfigError
from hetsim.hardware.kernels import KernelParams
from hetsim.hardware.spec import Device, Link
from hetsim.workload.ops import NCCL, AllReduceImpl, Num, Op


@dataclass(frozen=True, slots=True)
class Fabric:
    """What a collective crosses: the scale-up link, the devices per scale-up domain (0: every
    device in one domain) and each device's scale-out NIC (None: no network between domains)."""

    scale_up: Link | None
    domain: int = 0
    scale_out: Link | None = None
    name: str = ""

    @classmethod
    def of(cls, dev: Device) -> Fabric:
        return cls(dev.interconnect, dev.node_devices, dev.scale_out, dev.name)

    def domains(self, p: int) -> tuple[int, int]:
        """(devices per domain d, domains m) that ``p`` devices span (p = d x m)."""
        if self.domain <= 0 or p <= self.domain:
            return p, 1
        if self.scale_out is None:
            raise ConfigError(
                f"{p} devices exceed the {self.domain}-device "
                f"{self.scale_up.name if self.scale_up else 'scale-up'} "
                f"domain of {self.name or 'this system'}, which has no scale_out network: add scale_out "
                "(each device's NIC bandwidth) to the hardware file, or use at most "
                f"{self.domain} devices"
            )
        if p % self.domain:
            raise ConfigError(
                f"{p} devices do not fill whole {self.domain}-device domains; use a multiple of {self.domain}"
            )
        return self.domain, p // self.domain


@dataclass(frozen=True, slots=True)
class CollectiveCost:
    """Seconds of a collective, the seconds its bytes take on the wire, the bytes each device
    sends (and receives), and the algorithm chosen."""

    time_s: Num
    wire_s: Num
    wire_bytes: Num
    algorithm: str


# NCCL's tuning model (tuning.cc at 01afd20): ring, LL protocol, one node
GRAPH_BASE_LATENCY_S = 3.6e-6
GRAPH_STEP_LATENCY_S = {"nvlink": 0.47e-6, "pcie": 1.0e-6}


def _is_pcie(link: Link) -> bool:
    return link.name.lower().startswith("pcie")


def graph_alpha_s(link: Link, steps: float) -> float:
    """Device-side latency of a collective of ``steps`` dependent steps issued inside a
    captured CUDA graph (NCCL's ring / LL latency model; see the module text)."""
    hop = GRAPH_STEP_LATENCY_S["pcie" if _is_pcie(link) else "nvlink"]
    return GRAPH_BASE_LATENCY_S + steps * hop


def for_engine(ops: list[Op], serving: Serving, batch: Any = None) -> list[Op]:
    """``ops`` with their all-reduces marked as the engine of ``serving`` runs them: its
    implementation (``serving.allreduce``) and, for a decode step of ``batch`` sequences (per
    configuration; None: a prefill or mixed pass, run eager), whether the step replays a captured
    CUDA graph (:meth:`~hetsim.engines.host.Serving.replays_graph`). The one rule of analyze and
    serve-sim."""
    graph = serving.replays_graph(batch) if batch is not None else False
    impl = serving.allreduce
    if not np.any(graph) and impl == NCCL:
        return ops
    mark = bool(np.all(graph)) if np.ndim(graph) == 0 else np.asarray(graph, dtype=bool)
    ar = [o.kind == "collective" and o.collective == "all_reduce" for o in ops]
    return [replace(o, captured=mark, allreduce=impl) if a else o for o, a in zip(ops, ar, strict=True)]


# TensorRT-LLM customAllReduceUtils.h getMaxRequiredWorkspaceSize, and the one-shot bounds of
# allreducePlugin.cpp selectImplementation (bytes), by GPUs: two, up to four, more
TRTLLM_WORKSPACE_BYTES = (16_000_000, 8_000_000, 8_000_000)
TRTLLM_ONE_SHOT_BYTES = (float("inf"), 1_000_000, 500_000)


# share of the scale-up link's datasheet bandwidth TensorRT-LLM's one/two-shot kernels reach.
# Measured: SGLang's port of the kernels on H100 (NVLink 4, 450 GB/s), TP 4, eager launches
# (sgl-project/sglang pull request 2904, "unit test performance in H100", custom allreduce: 512,
# 4,096, 32,768, 262,144, 524,288 and 1,048,576 float32 elements = 2 KB-4 MB in 4.8, 3.7, 4.8,
# 13.9, 20.2, 31.1 us); least squares of steps x latency + wire bytes / (share x 450 GB/s) over
# the six: latency 4.07 us (TRTLLM_ALLREDUCE_STEP_S in engines/trtllm.py), share 0.604 (272 GB/s),
# the three two-shot sizes within 2.4%, the one-shot ones within 15% (launch-bound). Held out, the
# same table's TP 2 and TP 8 columns: 128 KB-4 MB within 11% (TP 8's 2-16 KB, 5.7-5.9 us, are 21-30%
# above the fitted latency). Not fitted on serving rows.
TRTLLM_PEER_EFFICIENCY = 0.604


def _trtllm_limits(p: int) -> tuple[float, float]:
    """(one-shot bound, workspace) in bytes for ``p`` GPUs."""
    i = 0 if p <= 2 else 1 if p <= 4 else 2
    return TRTLLM_ONE_SHOT_BYTES[i], float(TRTLLM_WORKSPACE_BYTES[i])


def _custom_s(n: Any, p: int, lat: float, bw: float) -> tuple[Any, Any, Any]:
    """(seconds, wire seconds, bytes read per GPU) of TensorRT-LLM's one- or two-shot kernel."""
    one = n < _trtllm_limits(p)[0]
    wire = np.where(one, (p - 1) * n, 2 * (p - 1) / p * n)
    return np.where(one, lat, 2 * lat) + wire / bw, wire / bw, wire


def _trtllm_custom(nbytes: Num, p: int, link: Link, lat: float, nccl: CollectiveCost) -> CollectiveCost:
    """TensorRT-LLM's own all-reduce inside one NVLink domain (see the module text); ``nccl``:
    the library's price of the same message, taken above the workspace."""
    n = np.asarray(nbytes, dtype=float)
    bw = link.bandwidth_bytes_per_s * TRTLLM_PEER_EFFICIENCY
    one_max, ws = _trtllm_limits(p)
    t, w_s, w = _custom_s(n, p, lat, bw)
    floor = float(_custom_s(np.asarray(ws), p, lat, bw)[0])
    inside = n <= ws
    t = np.where(inside, t, np.maximum(nccl.time_s, floor))
    w_s, w = np.where(inside, w_s, nccl.wire_s), np.where(inside, w, nccl.wire_bytes)
    one = n < one_max
    algo = ("nccl " + nccl.algorithm if not np.any(inside) else "one-shot" if np.all(one & inside)
            else "two-shot" if np.all(inside & ~one) else "one/two-shot/nccl")  # fmt: skip
    if np.ndim(nbytes) == 0:
        return CollectiveCost(float(t), float(w_s), float(w), "trtllm " + algo)
    return CollectiveCost(t, w_s, w, "trtllm " + algo)


def _alpha(link: Link, steps: float, kp: KernelParams | None, captured: Any = False) -> Num:
    if kp is None:
        return link.latency_s
    eager = kp.allreduce_latency_s + steps * kp.allreduce_hop_latency_s
    if not np.any(captured):
        return eager
    out: Num = np.where(captured, graph_alpha_s(link, steps), eager)
    return float(out) if np.ndim(out) == 0 else out


def nvlink_generation(link: Link) -> int:
    """The NVLink generation a link's name states (``NVLink5`` -> 5; 0: not NVLink)."""
    m = re.search(r"nvlink\s*-?(\d+)", link.name.lower())
    return int(m.group(1)) if m else 0


def _up_bw(link: Link, kp: KernelParams | None) -> float:
    """The scale-up link's bandwidth an all-reduce reaches: ``link_efficiency`` of it, or, where
    the switch reduces in the network (NVLS), the NVLS knob of the switch's generation (fifth-
    generation NVLink: ``nvls5_link_efficiency``; 0 falls back to ``nvls_link_efficiency``, then
    to ``link_efficiency``)."""
    if kp is None:
        return link.bandwidth_bytes_per_s
    eff = kp.link_efficiency
    if link.in_network_reduction:
        gen5 = kp.nvls5_link_efficiency if nvlink_generation(link) >= 5 else 0.0
        eff = gen5 or kp.nvls_link_efficiency or eff
    return link.bandwidth_bytes_per_s * eff


def _ring_or_nvls(
    nbytes: Num, p: int, link: Link, kp: KernelParams | None, scale: float, captured: Any = False
) -> CollectiveCost:
    """An all-reduce (``scale`` 1) or half of one (0.5: a reduce-scatter or an all-gather)
    inside one domain: a ring, or NVLS where the switch reduces in the network."""
    n = np.asarray(nbytes, dtype=float)
    if link.in_network_reduction:
        # all-reduce: every byte up once and down once; a half: (p-1)/p of it in one pass
        wire: Num = n if scale == 1.0 else n * (p - 1) / p
        steps, algo = (2.0 if scale == 1.0 else 1.0), "nvls"
    else:
        wire = 2 * scale * (p - 1) / p * n
        steps, algo = 2 * scale * (p - 1), "ring"
    wire_s = wire / _up_bw(link, kp)
    return CollectiveCost(_alpha(link, steps, kp, captured) + wire_s, wire_s, wire, algo)


def _across(nbytes: Num, m: int, nic: Link) -> CollectiveCost:
    """An all-reduce of ``nbytes`` per device across ``m`` domains on each device's NIC."""
    n = np.asarray(nbytes, dtype=float)
    bw = nic.bandwidth_bytes_per_s * nic.efficiency
    if nic.in_network_reduction:
        return CollectiveCost(2 * nic.latency_s + n / bw, n / bw, n, "sharp")
    ring_w = 2 * (m - 1) / m * n
    ring_t = 2 * (m - 1) * nic.latency_s + ring_w / bw
    tree_w = 2 * n
    tree_t = 2 * math.ceil(math.log2(m)) * nic.latency_s + tree_w / bw
    use_tree = np.asarray(tree_t < ring_t)
    t = np.where(use_tree, tree_t, ring_t)
    w = np.where(use_tree, tree_w, ring_w)
    algo = "tree" if bool(np.all(use_tree)) else "ring" if not bool(np.any(use_tree)) else "ring/tree"
    return CollectiveCost(t if np.ndim(t) else float(t), w / bw, w if np.ndim(w) else float(w), algo)


def all_reduce(
    nbytes: Num, p: int, fab: Fabric, kp: KernelParams | None = None, captured: Any = False,
    impl: AllReduceImpl = NCCL,
) -> CollectiveCost:  # fmt: skip
    """All-reduce of ``nbytes`` per device over ``p`` devices (see the module docstring);
    ``captured``: issued inside a CUDA graph (the device-side latency inside a domain);
    ``impl``: the engine's implementation (its own kernels inside one NVLink domain)."""
    if p <= 1:
        return CollectiveCost(0.0, 0.0, 0.0, "none")
    if fab.scale_up is None:
        raise ConfigError(f"{p} devices need an interconnect to all-reduce; the hardware has none")
    d, m = fab.domains(p)
    if m == 1:
        lib = _ring_or_nvls(nbytes, p, fab.scale_up, kp, 1.0, captured)
        if impl.algorithm == "trtllm-custom" and not _is_pcie(fab.scale_up):  # NVLink peers only
            return _trtllm_custom(nbytes, p, fab.scale_up, impl.step_latency_s, lib)
        return lib
    assert fab.scale_out is not None
    none = CollectiveCost(0.0, 0.0, 0.0, "")
    inner = _ring_or_nvls(nbytes, d, fab.scale_up, kp, 0.5, captured) if d > 1 else none
    outer = _across(np.asarray(nbytes, dtype=float) / d, m, fab.scale_out)
    t = 2 * np.asarray(inner.time_s) + outer.time_s  # reduce-scatter, across, all-gather
    return CollectiveCost(
        t if np.ndim(t) else float(t),
        2 * np.asarray(inner.wire_s) + outer.wire_s,
        2 * np.asarray(inner.wire_bytes) + outer.wire_bytes,
        f"hierarchical ({inner.algorithm or 'one device'} in {d}-device domains, "
        f"{outer.algorithm} across {m})",
    )


def all_gather(nbytes: Num, p: int, fab: Fabric, kp: KernelParams | None = None) -> CollectiveCost:
    """All-gather whose result is ``nbytes`` per device (each contributes nbytes / p): half an
    all-reduce's traffic and steps inside a domain; across domains, the hierarchical
    all-reduce's traffic halved."""
    if p <= 1:
        return CollectiveCost(0.0, 0.0, 0.0, "none")
    if fab.scale_up is None:
        raise ConfigError(f"{p} devices need an interconnect to all-gather; the hardware has none")
    m = fab.domains(p)[1]
    if m == 1:
        return _ring_or_nvls(nbytes, p, fab.scale_up, kp, 0.5)
    ar = all_reduce(nbytes, p, fab, kp)
    return CollectiveCost(
        np.asarray(ar.time_s) * 0.5,
        np.asarray(ar.wire_s) * 0.5,
        np.asarray(ar.wire_bytes) * 0.5,
        ar.algorithm,
    )


reduce_scatter = all_gather  # the same traffic in the other direction


def all_to_all(nbytes: Num, p: int, fab: Fabric, kp: KernelParams | None = None) -> CollectiveCost:
    """All-to-all where each device sends ``nbytes`` in all, an equal share to every device
    (itself included): expert-parallel dispatch or combine."""
    if p <= 1:
        return CollectiveCost(0.0, 0.0, 0.0, "none")
    if fab.scale_up is None:
        raise ConfigError(f"{p} devices need an interconnect for an all-to-all; the hardware has none")
    d, m = fab.domains(p)
    n = np.asarray(nbytes, dtype=float)
    up = fab.scale_up
    inside = n * (d - 1) / p
    t_in = _alpha(up, 1, kp) + inside / _up_bw(up, kp)
    if m == 1:
        return CollectiveCost(t_in, inside / _up_bw(up, kp), inside, "direct")
    assert fab.scale_out is not None
    nic = fab.scale_out
    outside = n * (p - d) / p
    t_out = nic.latency_s + outside / (nic.bandwidth_bytes_per_s * nic.efficiency)
    t = np.maximum(t_in, t_out)
    return CollectiveCost(
        t if np.ndim(t) else float(t),
        np.maximum(inside / _up_bw(up, kp), t_out - nic.latency_s),
        inside + outside,
        f"direct ({d}-device domains, {m} across the network)",
    )
