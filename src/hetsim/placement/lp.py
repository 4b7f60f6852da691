"""FlexGen-style static placement as a placement policy: the fractions of weights,
activations and KV cache held on the primary, solved once as a linear program (SciPy /
HiGHS; FlexGen, Sheng et al. ICML 2023, §4).

Variables x = (w, a, k, T_attention, T_qkv, T_fc): w is the weight fraction (qkv and fc
alike), a the activation fraction, k the KV fraction on the primary. Each group's time is at
least its primary share (the fraction x the group's time wholly on the primary) and at
least its partner share (on the widest memory side with compute); both sides' capacities
bound the fractions. Compute follows the data. Fractions are rounded down to whole parts,
and a group gives up parts while the placement does not fit. The group times come from the
problem's ``evaluate_groups`` (the op graph priced by the placement pricing path); a caller
that wants the frozen plan of a whole run passes the problem at the run's longest length.
"""

from __future__ import annotations

import math

import numpy as np

from hetsim.errors import CapacityError
from hetsim.placement.policies import FillResult, Problem, register
from hetsim.placement.search import SPLIT_GROUPS, _capacity_ok, _partner, _placement, group_tables


def lp_fractions(p: Problem, b: int) -> tuple[float, float, float]:
    """(w, a, k): fractions of weights, activations and KV cache on the primary."""
    from scipy.optimize import linprog

    t = group_tables(p, b, "static-lp")
    order = ("attention", "qkv", "fc")
    f_t = [float(t[g][-1]) for g in order]  # the whole group on the primary
    s_t = [float(t[g][0]) for g in order]  # the whole group on the partner side
    r = {g: p.held_bytes(g) for g in SPLIT_GROUPS}
    W, K = r["qkv"] + r["fc"], r["attention"]
    ws = float(np.max(p.workspace_bytes))
    A = 0.0  # the activations are duplicated on both sides: their bytes are taken off each side
    c = np.array([0.0, -1e-12, 0.0, 1.0, 1.0, 1.0])  # minimise the sum (a tiny reward for a)
    rows, rhs = [], []
    for s, v in enumerate((2, 0, 0)):  # attention follows k, qkv and fc follow w
        up = np.zeros(6)
        up[v], up[3 + s] = f_t[s], -1.0  # x_v x primary time <= T_s
        lo = np.zeros(6)
        lo[v], lo[3 + s] = -s_t[s], -1.0  # (1 - x_v) x partner time <= T_s
        rows += [up, lo]
        rhs += [0.0, -s_t[s]]
    rows.append(np.array([W, A, K, 0, 0, 0]))  # primary capacity
    rhs.append(p.capacity(0) - ws)
    rows.append(np.array([-W, -A, -K, 0, 0, 0]))  # partner: (1 - x) bytes <= its capacity
    rhs.append(p.capacity(b) - ws - (W + K))
    bounds = [(0, 1)] * 3 + [(0, None)] * 3
    res = linprog(c, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
    if not res.success:
        raise CapacityError(f"static-lp: no placement fits ({res.message})")
    w, a, k = (float(v) for v in res.x[:3])
    return w, a, k


@register("static-lp", "FlexGen-style LP: fractions of weights / activations / KV on the primary, "
          "solved once, compute following the data", search=True)  # fmt: skip
def static_lp(p: Problem) -> FillResult:
    b = _partner(p)
    w, _, k = lp_fractions(p, b)
    parts = {g: p.parts.get(g, 1) for g in SPLIT_GROUPS}
    n = {"attention": math.floor(k * parts["attention"] + 1e-9), "qkv": math.floor(w * parts["qkv"] + 1e-9),
         "fc": math.floor(w * parts["fc"] + 1e-9)}  # fmt: skip
    r = {g: p.held_bytes(g) for g in SPLIT_GROUPS}

    def share() -> dict[str, object]:
        return {g: n[g] / parts[g] for g in SPLIT_GROUPS}

    while not bool(_capacity_ok(p, b, share(), SPLIT_GROUPS)) and any(n.values()):
        g = max(SPLIT_GROUPS, key=lambda x: r[x] * n[x] / parts[x])  # the largest primary share gives
        n[g] -= 1
    return FillResult(_placement(p, "static-lp", b, share()))
