"""What sets an op's time on a multi-tier system: the limiting resource, named.

``bound`` used to say "compute" or "memory" from the primary side's roofline alone, so on
GH200 a decode GEMM whose weights stream over NVLink-C2C said ``memory`` while the link set
its time. A placed op's time is the largest of its terms (:func:`hetsim.placement.price.price_op`):
each computing side's kernel (its units, or its memory phase, which lasts at least as long as
the slowest stream feeding it), each memory side's busy time and each link's (with its
start-up latency). :func:`limit` names the largest: ``compute <side> <unit>``, ``memory
<side>`` or ``link <name>``; a kernel held up by its streams is named after the slowest of
them. Read at the mean over a decode's contexts; records of one configuration only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hetsim.cost.roofline import Cost
from hetsim.hardware.spec import Device
from hetsim.workload.ops import Num, ndim

CLASSES = ("compute", "memory", "link", "host")


def _v(x: Num) -> float:
    """A value as one number: itself, or the mean over a decode's contexts."""
    if isinstance(x, float | int):
        return float(x)
    a = np.asarray(x, dtype=float)
    return float(a.reshape(-1)[0]) if a.size == 1 else float(a.mean())


@dataclass(slots=True)
class Kernel:
    """One computing side's part of an op: its priced cost, the unit and the side, and the
    slowest stream that fed it (seconds over all repetitions, and what it was)."""

    cost: Cost
    side: str
    unit: str
    stream_s: Num = 0.0
    stream: str = ""

    def limit(self) -> tuple[float, str]:
        c = self.cost
        if _v(c.compute_s) >= _v(c.memory_s):
            return _v(c.time_s), f"compute {self.side} {self.unit}"
        if self.stream and _v(self.stream_s) >= _v(c.memory_s) * (1 - 1e-9):
            return _v(c.time_s), self.stream  # its memory phase waited on the stream
        return _v(c.time_s), f"memory {self.side}"


def slowest(current: tuple[float, str], seconds: Num, what: str) -> tuple[float, str]:
    """The slower of ``current`` and (``seconds``, ``what``)."""
    t = _v(seconds)
    return (t, what) if t > current[0] else current


def limit(kernels: list[Kernel], memories: list[tuple[Num, str]], links: list[tuple[Num, str]]) -> str:
    """The resource whose time is the op's: the slowest kernel, memory or link (a kernel
    first on a tie, since it already names what held it up)."""
    best = (-1.0, "")
    for k in kernels:
        best = slowest(best, *(k.limit()))
    for seconds, what in (*memories, *links):
        best = slowest(best, seconds, what)
    return best[1]


def with_latency(busy_s: Num, count: Num, latency_s: Num) -> Num:
    """A link's busy time plus its start-up latency per repetition, where it carries any
    bytes (per configuration: a point that streams nothing over it pays no latency, whatever
    the other points of a sweep stream)."""
    if ndim(busy_s) == 0:
        return busy_s + count * latency_s if float(busy_s) > 0 else busy_s
    return busy_s + np.where(np.asarray(busy_s) > 0, count * latency_s, 0.0)


def op_limit(
    dev: Device, kernels: list[Kernel], computes: list[int], mem_busy: list[Num], link_busy: dict[str, Num],
    link_lat: dict[str, Num], count: Num,
) -> str:  # fmt: skip
    """What sets a placed op's time: its kernels, the memories that only stream, the links."""
    memories = [(t, f"memory {dev.sides[s].name}") for s, t in enumerate(mem_busy) if s not in computes]
    busy_links = [(with_latency(t, count, link_lat[k]), f"link {k}") for k, t in link_busy.items()]
    return limit(kernels, memories, busy_links)


def bound_of(limit_text: str) -> str:
    """The class of a limit: compute, memory, link or host."""
    head = limit_text.split(" ", 1)[0]
    return head if head in CLASSES else ""
