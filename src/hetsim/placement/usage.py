"""What a placement puts where: resident bytes per side (and per role), and whether they fit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from hetsim.placement.record import Placement
from hetsim.workload.ops import Num

if TYPE_CHECKING:  # the problem's record lives with the policies, which re-export these
    from hetsim.placement.policies import Problem


def usage_bytes(p: Problem, pl: Placement) -> tuple[Num, ...]:
    """Resident bytes per side under ``pl`` (groups by share, workspace on its side)."""
    n = len(p.device.sides)
    out: list[Num] = [p.workspace_bytes if s == pl.workspace_side else 0.0 for s in range(n)]
    for g, gp in pl.groups.items():
        for s in range(n):
            out[s] = out[s] + np.asarray(p.resident[g], dtype=float) * gp.shares[s]
    return tuple(out)


def fits(p: Problem, pl: Placement) -> npt.NDArray[np.bool_]:
    """Whether every side holds what ``pl`` puts there (a bool array, broadcast shape)."""
    ok = np.asarray(True)
    for s, used in enumerate(usage_bytes(p, pl)):
        ok = np.logical_and(ok, np.asarray(used) <= p.capacity(s) * (1 + 1e-12))
    return ok


def roles(p: Problem, pl: Placement) -> dict[str, Num]:
    """Resident bytes per side and role (weights, KV cache, activation workspace)."""
    out: dict[str, Num] = {}
    for s, side in enumerate(p.device.sides):
        w: Num = 0.0
        for g in ("qkv", "fc", "head"):
            w = w + np.asarray(p.resident[g], dtype=float) * pl.groups[g].shares[s]
        out[f"{side.name}/weights"] = w
        out[f"{side.name}/kv"] = (
            np.asarray(p.resident["attention"], dtype=float) * pl.groups["attention"].shares[s]
        )
        out[f"{side.name}/activations"] = p.workspace_bytes if s == pl.workspace_side else 0.0
    return out
