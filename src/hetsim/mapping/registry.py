"""The mapping record and the policy registry (exact names, did-you-mean errors)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hetsim.cost.partition import SUBLAYERS, SplitTables
from hetsim.errors import MappingError, UnknownNameError

Mode = Literal["partitioned", "hierarchical"]


@dataclass(frozen=True, slots=True)
class Mapping:
    """Parts of each sublayer (SUBLAYERS order: attention, qkv, fc) on the fast side.

    ``partitioned``: both sides compute their parts in parallel (head-aware mapping).
    ``hierarchical``: the fast side is a cache in front of the capacity side (every byte is
    read from it); ``splits`` then says nothing and is all-fast by convention.
    """

    policy: str
    splits: tuple[int, ...]
    mode: Mode = "partitioned"

    def __post_init__(self) -> None:
        if len(self.splits) != len(SUBLAYERS) or any(n < 0 for n in self.splits):
            raise MappingError(f"mapping of {self.policy!r}: need {len(SUBLAYERS)} part counts >= 0")

    def as_dict(self) -> dict[str, int]:
        return dict(zip(SUBLAYERS, self.splits, strict=True))


Policy = Callable[[SplitTables], Mapping]
_POLICIES: dict[str, tuple[Policy, str]] = {}


def register(name: str, doc: str = "") -> Callable[[Policy], Policy]:
    """Decorator: register ``fn`` as the policy ``name`` (plug-ins may add their own)."""

    def deco(fn: Policy) -> Policy:
        _POLICIES[name] = (fn, doc or (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return deco


def get_policy(name: str) -> Policy:
    key = name.strip().lower()
    if key not in _POLICIES:
        raise UnknownNameError("mapping policy", name, _POLICIES)
    return _POLICIES[key][0]


def policy_names() -> list[str]:
    return list(_POLICIES)


def policy_doc(name: str) -> str:
    return _POLICIES[name][1]


def fits(tables: SplitTables, splits: tuple[int, ...]) -> bool:
    """Whether ``splits`` fit both sides' capacities."""
    fast = sum(float(t.fast_bytes[n]) for t, n in zip(tables.tables, splits, strict=True))
    slow = sum(float(t.slow_bytes[n]) for t, n in zip(tables.tables, splits, strict=True))
    return fast <= tables.fast_capacity_bytes and slow <= tables.slow_capacity_bytes


def total_time_s(tables: SplitTables, splits: tuple[int, ...]) -> float:
    """Iteration time (s) of a partitioned mapping, from the tables (no abstraction cost)."""
    t = sum(float(tb.time_s[n]) for tb, n in zip(tables.tables, splits, strict=True))
    return t + tables.fixed_s


def check_fits(tables: SplitTables, m: Mapping) -> Mapping:
    if m.mode == "partitioned" and not fits(tables, m.splits):
        fast = sum(float(t.fast_bytes[n]) for t, n in zip(tables.tables, m.splits, strict=True))
        slow = sum(float(t.slow_bytes[n]) for t, n in zip(tables.tables, m.splits, strict=True))
        raise MappingError(
            f"policy {m.policy!r}: mapping {m.as_dict()} needs {fast / 1e9:.1f} GB fast + "
            f"{slow / 1e9:.1f} GB capacity side, more than the "
            f"{tables.fast_capacity_bytes / 1e9:.1f} + {tables.slow_capacity_bytes / 1e9:.1f} GB free"
        )
    return m


def as_int(x: np.integer | int) -> int:
    return int(x)
