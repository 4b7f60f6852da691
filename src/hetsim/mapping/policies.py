"""The built-in placement policies of the H2M2 study (h2m2.md §3-§6).

All work on :class:`SplitTables` (one cost table per sublayer over n = 0..N parts on the fast
side), so each is a handful of NumPy operations. ``register_builtin`` registers them by name.
"""

from __future__ import annotations

import itertools

import numpy as np

from hetsim.cost.partition import SUBLAYERS, SplitTable, SplitTables
from hetsim.errors import CapacityError, MappingError
from hetsim.mapping.registry import Mapping, check_fits, fits, register, total_time_s

GREEDY_ORDER = ("attention", "qkv", "fc")  # h2m2.md §4: attention, then qkv, then fc
_INDEX = {name: i for i, name in enumerate(SUBLAYERS)}


def _feasible(t: SplitTable, free_fast: float, free_slow: float) -> np.ndarray:
    ok = (t.fast_bytes <= free_fast) & (t.slow_bytes <= free_slow)
    if not ok.any():
        raise CapacityError(
            f"sublayer {t.name}: no split fits ({free_fast / 1e9:.1f} GB fast and "
            f"{free_slow / 1e9:.1f} GB capacity side left, {t.fast_bytes[-1] / 1e9:.1f} GB needed)"
        )
    return ok


def greedy(tables: SplitTables, order: tuple[str, ...] = GREEDY_ORDER, *,
           fill_first: str | None = None, name: str = "h2m2") -> Mapping:  # fmt: skip
    """Sublayers in ``order``, each taking the split that minimises the slower side's time
    within the capacity the earlier ones left (ties go to fewer parts on the fast side).
    ``fill_first`` first puts as many parts of that sublayer on the fast side as fit."""
    free_f, free_s = tables.fast_capacity_bytes, tables.slow_capacity_bytes
    splits = [0, 0, 0]
    seq = ((fill_first,) if fill_first else ()) + tuple(s for s in order if s != fill_first)
    for sub in seq:
        t = tables.tables[_INDEX[sub]]
        ok = _feasible(t, free_f, free_s)
        if sub == fill_first:
            n = int(np.flatnonzero(ok)[-1])
        else:
            n = int(np.argmin(np.where(ok, t.time_s, np.inf)))
        splits[_INDEX[sub]] = n
        free_f -= float(t.fast_bytes[n])
        free_s -= float(t.slow_bytes[n])
    return Mapping(name, tuple(splits))


def h2m2(tables: SplitTables) -> Mapping:
    """H2M2's greedy: attention, then qkv, then fc, each minimising the slower side's time."""
    return greedy(tables)


def attention_first(tables: SplitTables) -> Mapping:
    """All attention heads that fit on the fast side first, then qkv and fc balanced."""
    return greedy(tables, fill_first="attention", name="attention-first")


def qkv_first(tables: SplitTables) -> Mapping:
    """All qkv parts that fit on the fast side first, then attention and fc balanced."""
    return greedy(tables, fill_first="qkv", name="qkv-first")


def fc_first(tables: SplitTables) -> Mapping:
    """All fc columns that fit on the fast side first, then attention and qkv balanced."""
    return greedy(tables, fill_first="fc", name="fc-first")


def lpddr_only(tables: SplitTables) -> Mapping:
    """Everything on the capacity side (its chip alone computes)."""
    return check_fits(tables, Mapping("lpddr-only", (0, 0, 0)))


def hbm_only(tables: SplitTables) -> Mapping:
    """Everything on the fast side; a MappingError when it does not fit."""
    return check_fits(tables, Mapping("hbm-only", tables.n_parts))


def hierarchical(tables: SplitTables) -> Mapping:
    """The fast memory as a cache in front of the capacity memory: every byte is read from it."""
    return Mapping("hierarchical", tables.n_parts, mode="hierarchical")


def naive_sublayer(tables: SplitTables) -> Mapping:
    """Best whole-sublayer mapping: each sublayer entirely on one side (2^3 choices)."""
    best: tuple[float, tuple[int, ...]] | None = None
    for pick in itertools.product((False, True), repeat=len(SUBLAYERS)):
        splits = tuple(t.n_parts if p else 0 for t, p in zip(tables.tables, pick, strict=True))
        if fits(tables, splits):
            t = total_time_s(tables, splits)
            if best is None or t < best[0]:
                best = (t, splits)
    if best is None:
        raise CapacityError("naive-sublayer: no whole-sublayer mapping fits")
    return Mapping("naive-sublayer", best[1])


def register_builtin() -> None:
    from hetsim.mapping.lp import static_lp
    from hetsim.mapping.oracle import oracle

    for name, fn in (
        ("lpddr-only", lpddr_only),
        ("hbm-only", hbm_only),
        ("hierarchical", hierarchical),
        ("static-lp", static_lp),
        ("naive-sublayer", naive_sublayer),
        ("qkv-first", qkv_first),
        ("fc-first", fc_first),
        ("attention-first", attention_first),
        ("h2m2", h2m2),
        ("oracle", oracle),
    ):
        register(name)(fn)


__all__ = ["GREEDY_ORDER", "MappingError", "greedy", "register_builtin"]
