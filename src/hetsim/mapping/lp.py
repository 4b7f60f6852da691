"""FlexGen-style static placement: the fractions of weights, activations and KV cache held
in fast memory, solved once as a linear program (SciPy / HiGHS).

Variables x = (w, a, k, T_attention, T_qkv, T_fc): w is the weight fraction (qkv and fc
alike), a the activation fraction, k the KV fraction on the fast side. Each sublayer's time
is at least its fast share (fraction x time of the whole sublayer on the fast side) and at
least its capacity-side share; both sides' capacities bound the fractions. Compute follows
the data (the fraction of parts on a side equals the fraction of its bytes there).
Fractions are rounded down to whole parts.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linprog

from hetsim.cost.partition import SplitTables
from hetsim.errors import CapacityError
from hetsim.mapping.registry import Mapping, fits


def lp_fractions(tables: SplitTables, workspace_bytes: float = 0.0) -> tuple[float, float, float]:
    """(w, a, k): fractions of weights, activations and KV cache in fast memory."""
    att, qkv, fc = tables.tables
    f_t = [float(np.asarray(t.fast.time_s)[-1]) for t in (att, qkv, fc)]  # whole sublayer on the fast side
    s_t = [float(np.asarray(t.slow.time_s)[0]) for t in (att, qkv, fc)]  # whole sublayer on the slow side
    W = float(qkv.fast_bytes[-1] + fc.fast_bytes[-1])
    K = float(att.fast_bytes[-1])
    A = workspace_bytes
    # x = [w, a, k, Ta, Tq, Tf]; minimise Ta + Tq + Tf (a tiny reward for a on the fast side)
    c = np.array([0.0, -1e-12, 0.0, 1.0, 1.0, 1.0])
    frac_of = (2, 0, 0)  # attention follows k, qkv and fc follow w
    rows, rhs = [], []
    for s, v in enumerate(frac_of):
        up = np.zeros(6)
        up[v], up[3 + s] = f_t[s], -1.0  # x_v * fast time <= T_s
        lo = np.zeros(6)
        lo[v], lo[3 + s] = -s_t[s], -1.0  # (1 - x_v) * slow time <= T_s
        rows += [up, lo]
        rhs += [0.0, -s_t[s]]
    rows.append(np.array([W, A, K, 0, 0, 0]))  # fast capacity
    rhs.append(tables.fast_capacity_bytes + A)
    rows.append(np.array([-W, -A, -K, 0, 0, 0]))  # capacity side: (1-x) bytes <= C_slow
    rhs.append(tables.slow_capacity_bytes + A - (W + A + K))
    bounds = [(0, 1)] * 3 + [(0, None)] * 3
    res = linprog(c, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
    if not res.success:
        raise CapacityError(f"static-lp: no placement fits ({res.message})")
    w, a, k = (float(v) for v in res.x[:3])
    return w, a, k


def static_lp(tables: SplitTables) -> Mapping:
    """FlexGen-style fractions of weights / activations / KV in fast memory, solved once."""
    w, _, k = lp_fractions(tables)
    att, qkv, fc = tables.tables
    splits = [math.floor(k * att.n_parts + 1e-9), math.floor(w * qkv.n_parts + 1e-9),
              math.floor(w * fc.n_parts + 1e-9)]  # fmt: skip
    while not fits(tables, tuple(splits)) and any(splits):
        i = int(np.argmax([t.fast_bytes[n] for t, n in zip(tables.tables, splits, strict=True)]))
        splits[i] -= 1
    return Mapping("static-lp", tuple(splits))
