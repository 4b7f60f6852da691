"""Kernel-fusion what-ifs: fused nodes run as one kernel and stop writing and re-reading the
intermediates they pass between them.

* ``elementwise``: a pointwise node (activation, add, scale, cast) or a reduction joins the
  node that produced its input when that input has no other consumer and is not a graph
  output (epilogue, chain and reduction-prologue fusion);
* ``attention``: each MatMul -> [scale/mask] -> Softmax -> MatMul instance becomes one
  flash-style kernel (the score matrix never leaves the chip);
* ``all``: both.

A fused group keeps the sum of its members' flop and MACs, the class, kind and GEMM shape of
its first member, and only the reads and writes that cross its boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from hetsim.errors import ConfigError
from hetsim.ingest.records import GraphOp, IngestedGraph

Fuse = Literal["none", "elementwise", "attention", "all"]
FUSE_CHOICES: tuple[Fuse, ...] = ("none", "elementwise", "attention", "all")


def check_fuse(value: str) -> Fuse:
    for f in FUSE_CHOICES:
        if value == f:
            return f
    raise ConfigError(f"--fuse {value!r}: choose one of {', '.join(FUSE_CHOICES)}")


def fuse(graph: IngestedGraph, mode: Fuse) -> IngestedGraph:
    """The graph with the ``mode`` fusions applied (``none`` returns it unchanged)."""
    if mode == "none":
        return graph
    ops = list(graph.ops)
    parent = list(range(len(ops)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # roots of groups holding a matrix op: a group never holds two (it is priced as one)
    anchored = {i for i, o in enumerate(ops) if o.kind in ("gemm", "attention")}

    def union(anchor: int, other: int) -> None:
        a, b = find(anchor), find(other)
        if a != b:
            root, child = min(a, b), max(a, b)  # the earlier node anchors the group
            parent[child] = root
            if child in anchored:
                anchored.discard(child)
                anchored.add(root)

    producer = {t.name: i for i, o in enumerate(ops) for t in o.writes}
    consumers: dict[str, set[int]] = {}
    for i, o in enumerate(ops):
        for t in o.reads:
            consumers.setdefault(t.name, set()).add(i)
    if mode in ("attention", "all"):
        first: dict[str, int] = {}
        for i, o in enumerate(ops):
            if o.group:
                union(first.setdefault(o.group, i), i)
    if mode in ("elementwise", "all"):
        for i, o in enumerate(ops):
            if o.op_class != "elementwise" or o.kind not in ("elementwise", "norm"):
                continue
            for t in o.reads:
                p = producer.get(t.name)
                if (
                    t.role == "activation"
                    and p is not None
                    and consumers[t.name] == {i}
                    and t.name not in graph.outputs
                    and ops[p].supported
                ):
                    union(p, i)
                    break
        _fuse_shared_inputs(ops, consumers, graph.outputs, find, union, anchored)
    groups: dict[int, list[int]] = {}
    for i in range(len(ops)):
        groups.setdefault(find(i), []).append(i)
    fused = tuple(_merge(ops, idx, consumers, graph.outputs) for idx in groups.values())
    return graph.with_ops(fused, mode)


def _pointwise(o: GraphOp) -> bool:
    return o.op_class == "elementwise" and o.kind in ("elementwise", "norm")


def _fuse_shared_inputs(
    ops: list[GraphOp],
    consumers: dict[str, set[int]],
    outputs: frozenset[str],
    find: Callable[[int], int],
    union: Callable[[int, int], None],
    anchored: set[int],
) -> None:
    """A tensor read by several pointwise ops that all ended in one group (x in
    ``x * sigmoid(x)``, the upcast input of an RMSNorm) stays on chip too: its producer joins
    that group, unless both already hold a matrix op. Repeated until nothing changes."""
    changed = True
    while changed:
        changed = False
        for p, o in enumerate(ops):
            if not o.supported:
                continue
            for t in o.writes:
                readers = consumers.get(t.name, set())
                if len(readers) < 2 or t.name in outputs or not all(_pointwise(ops[r]) for r in readers):
                    continue
                roots = {find(r) for r in readers}
                if len(roots) != 1:
                    continue
                g = roots.pop()
                if find(p) == g or (find(p) in anchored and g in anchored):
                    continue
                union(p, g)
                changed = True


def _merge(
    ops: list[GraphOp], idx: list[int], consumers: dict[str, set[int]], outputs: frozenset[str]
) -> GraphOp:
    members = [ops[i] for i in idx]
    if len(members) == 1:
        return members[0]
    inside = set(idx)
    written = {t.name for m in members for t in m.writes}
    # an intermediate stays on chip when every reader of it is in the group
    internal = {t for t in written if t not in outputs and consumers.get(t, set()) <= inside}
    # a fused kernel reads each outside tensor once and writes each result once
    reads = tuple({t.name: t for m in members for t in m.reads if t.name not in written}.values())
    writes = tuple({t.name: t for m in members for t in m.writes if t.name not in internal}.values())
    a = members[0]
    return GraphOp(
        name="+".join(m.name for m in members),
        op_type="+".join(m.op_type for m in members),
        op_class=a.op_class,
        kind=a.kind,
        prefers=a.prefers,
        flop=sum(m.flop for m in members),
        macs=sum(m.macs for m in members),
        reads=reads,
        writes=writes,
        gemm_mnk=a.gemm_mnk,
        supported=all(m.supported for m in members),
        members=tuple(m.name for m in members),
        group=a.group,
    )
