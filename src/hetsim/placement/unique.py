"""GEMMs of a sweep priced once per distinct row of their inputs.

The calibrated kernel model's tile search (:func:`hetsim.cost.kernels.gemm_times`) is the
costliest pricing there is, and a sweep's GEMMs repeat: a decode GEMM depends on the batch
alone, a prefill GEMM on batch x prompt, an explore grid's axes take a few values each. The
rows are grouped by every input that varies, priced once per group and spread back: the same
values, element by element, as pricing every row (the pricing is element-wise over rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from hetsim.cost.roofline import Cost
from hetsim.workload.ops import Num, Op, ndim

COUNT_FIELDS = ("flop", "weight_bytes", "kv_read_bytes", "kv_write_bytes", "act_read_bytes",
                "act_write_bytes", "gemm_m", "gemm_n", "gemm_k", "gemm_groups", "rows")  # fmt: skip
_UNIQUE_MIN = 64  # configurations below which a GEMM is priced as it is


def _groups(keys: list[Any]) -> tuple[Any, Any] | None:
    """(a representative index per distinct row, each row's group) of the columns ``keys``
    (arrays of shape (N,)), or None where fewer than half the rows repeat."""
    n = keys[0].size
    order = np.lexsort(keys[::-1])
    new = np.ones(n, dtype=bool)
    for k in keys:
        sk = k[order]
        new[1:] |= sk[1:] != sk[:-1]
    if 2 * int(new.sum()) > n:
        return None
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.cumsum(new) - 1
    return order[new], inv


def unique_rows(op: Op, price_fn: Callable[..., Cost], *extra: Num) -> Cost:
    """``price_fn(op, *extra)`` for a GEMM over N configurations, priced once per distinct
    row of its inputs (every count of the op that varies, and ``extra``, e.g. the memory floor
    of its streams): a sweep's decode GEMMs depend on the batch alone, and the calibrated
    kernel model's tile search is the costliest pricing there is. Priced at one row per
    group and spread back: the same values, element by element, as pricing every row."""
    m = op.gemm_m
    if op.kind != "gemm" or ndim(m) != 1 or np.size(m) < _UNIQUE_MIN:
        return price_fn(op, *extra)
    n = np.size(m)
    varying = {f: np.asarray(getattr(op, f)) for f in COUNT_FIELDS if ndim(getattr(op, f))}
    extras = [np.asarray(x) for x in extra]
    if any(a.shape != (n,) for a in (*varying.values(), *(x for x in extras if x.ndim))):
        return price_fn(op, *extra)
    found = _groups([*varying.values(), *(x for x in extras if x.ndim)])
    if found is None:
        return price_fn(op, *extra)
    first, inv = found
    rep = replace(op, **{f: a[first] for f, a in varying.items()})
    c = price_fn(rep, *(x[first] if x.ndim else x for x in extras))
    fields = (getattr(c, f) for f in Cost.__dataclass_fields__)
    return Cost(*(np.asarray(v)[inv] if ndim(v) else v for v in fields))
