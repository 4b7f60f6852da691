"""The placement record: which memory side holds each part of each tensor group, and which
side's units compute it.

Ops are placed by *group* (the op graph's sublayers): ``qkv`` weights, ``attention`` (the KV
cache, by KV-head group), ``fc`` weights (output projection + FFN, by column block), ``head``
(embedding and LM head). Norms, residuals and their tiny weights run on the primary side,
where the activations (the residual stream) live; collectives use the interconnect.

A group's placement is ``shares[s]``: the fraction of its parts (and of its bytes, flop and
written activations) held on side ``s``; and ``compute[s]``: the side whose units compute the
parts held on ``s`` (the same side, or another that the data stream to). Shares may be NumPy
arrays (one entry per configuration or per decode context), so one record serves a sweep
and a dynamic decode at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hetsim.errors import MappingError
from hetsim.workload.ops import Num, Op

GROUPS = ("qkv", "attention", "fc", "head")
"""Placed tensor groups; ``attention`` holds the KV cache, the others weights."""

_SUBLAYER_GROUP = {"qkv": "qkv", "attention": "attention", "fc": "fc", "embed": "head", "lm_head": "head"}


def group_of(op: Op) -> str | None:
    """The placed group an op belongs to (None: runs on the primary side, or a collective)."""
    return _SUBLAYER_GROUP.get(op.sublayer)


@dataclass(frozen=True, slots=True)
class GroupPlacement:
    """Shares of one group per side and the compute side of each side's share."""

    shares: tuple[Num, ...]
    compute: tuple[int, ...]
    held: tuple[int, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if len(self.shares) != len(self.compute):
            raise MappingError("a group placement needs one share and one compute side per side")
        if all(type(s) is float for s in self.shares):  # the common scalar case, without NumPy
            vals = [float(s) for s in self.shares]
            if abs(sum(vals) - 1.0) > 1e-9 or min(vals) < -1e-12:
                raise MappingError("a group's shares must be non-negative and sum to 1 on every side")
            if any(not 0 <= c < len(self.shares) for c in self.compute):
                raise MappingError("a group's compute sides must be side indices")
            held = tuple(i for i, x in enumerate(vals) if x > 1e-12)
            object.__setattr__(self, "held", held)
            return
        arrs = [np.asarray(s, dtype=float) for s in self.shares]
        total = sum(arrs)
        if np.any(np.abs(np.asarray(total) - 1.0) > 1e-9) or any(np.any(a < -1e-12) for a in arrs):
            raise MappingError("a group's shares must be non-negative and sum to 1 on every side")
        if any(not 0 <= c < len(self.shares) for c in self.compute):
            raise MappingError("a group's compute sides must be side indices")
        object.__setattr__(self, "held", tuple(s for s, a in enumerate(arrs) if np.any(a > 1e-12)))

    @classmethod
    def on(cls, n_sides: int, data: int, compute: int) -> GroupPlacement:
        """Everything on side ``data``, computed on side ``compute``."""
        shares = tuple(1.0 if s == data else 0.0 for s in range(n_sides))
        comp = tuple(compute if s == data else s for s in range(n_sides))
        return cls(shares, comp)

    def compute_share(self, c: int) -> Num:
        """Fraction of the group's work computed on side ``c`` (exactly 1.0 where every part
        is computed there, whatever the shares)."""
        if all(self.compute[s] == c for s in self.held):
            return 1.0
        out: Num = 0.0
        for s, share in enumerate(self.shares):
            if self.compute[s] == c:
                out = out + share
        return out

    def held_sides(self) -> tuple[int, ...]:
        """Sides holding any part (for any configuration)."""
        return self.held


@dataclass(frozen=True, slots=True)
class Placement:
    """A placement of every group of one phase, with the policy that chose it and why."""

    policy: str
    groups: dict[str, GroupPlacement]
    reason: str = ""
    n_sides: int = 1
    workspace_side: int = 0  # activations and the residual stream
    notes: tuple[str, ...] = field(default=())
    # streamed data are staged through the compute side's memory (a cache hierarchy): written
    # there and read back, so they cost its bandwidth and energy twice over
    staged: bool = False
    # where the KV that ops other than attention append (the qkv projection's) is written;
    # None: as the KV cache is placed (a run sets one placement for a decode whose KV
    # placement changes with the context, so those GEMMs are priced once per configuration)
    kv_writes: GroupPlacement | None = None

    def __post_init__(self) -> None:
        missing = [g for g in GROUPS if g not in self.groups]
        if missing:
            raise MappingError(f"placement of {self.policy!r} leaves {', '.join(missing)} unplaced")

    def group(self, op: Op) -> GroupPlacement | None:
        g = group_of(op)
        return self.groups[g] if g is not None else None

    @classmethod
    def primary(cls, n_sides: int, policy: str = "primary", reason: str = "") -> Placement:
        """Everything on side 0 (the record is frozen, so one per arguments is shared)."""
        key = (n_sides, policy, reason)
        hit = _PRIMARY.get(key)
        if hit is None:
            hit = _PRIMARY[key] = cls(
                policy, {g: GroupPlacement.on(n_sides, 0, 0) for g in GROUPS}, reason, n_sides
            )
        return hit


_PRIMARY: dict[tuple[int, str, str], Placement] = {}
