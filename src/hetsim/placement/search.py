"""Search policies over head-aware splits between two computing sides (H2M2-style).

Each of the groups qkv, attention (KV heads) and fc (column blocks) splits into its parts;
``n`` of them are held and computed on the primary, the rest on the memory side with the
widest memory among those with compute of their own (H2M2's capacity-side chip, GH200's Grace,
a PIM stack). Embeddings and the workspace stay on the primary. Candidates are priced by
the problem's ``evaluate`` (the real op graph through :mod:`hetsim.placement.price`), all
candidates of one search at once by broadcasting a leading axis of shares.

- ``h2m2``: greedy, attention then qkv then fc, each taking the split that minimises the
  phase time within the capacity the earlier ones left (arXiv 2504.14893, h2m2.md §4).
- ``attention-first`` / ``qkv-first`` / ``fc-first``: that group puts as many parts on the
  primary as fit, then the greedy for the others.
- ``naive-sublayer``: each group entirely on one side, best of the 2^3 choices.
- ``oracle``: every split of the three groups when the space is at most ``EXHAUSTIVE_MAX``
  candidates, else every split on a grid of at most ``GRID_LEVELS`` levels per group (a stated
  coarse search); then the best of that and of every closed-form policy, so it is never
  slower than any of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from hetsim.errors import CapacityError, MappingError
from hetsim.placement.policies import (
    FillResult,
    Problem,
    fill_policy_names,
    fits,
    get_policy,
    largest,
    pim_sides,
    register,
)
from hetsim.placement.record import GroupPlacement, Placement

SPLIT_GROUPS = ("attention", "qkv", "fc")  # the greedy's order
EXHAUSTIVE_MAX = 20_000
GRID_LEVELS = 17
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _partner(p: Problem) -> int:
    sides = pim_sides(p.device)
    if not sides:
        raise MappingError(
            f"head-aware policies need a second side with compute units; {p.device.name} has none "
            "(try --policy offload)"
        )
    return max(sides, key=lambda s: p.device.sides[s].memory.bandwidth_bytes_per_s)


def _placement(p: Problem, name: str, b: int, share0: Mapping[str, object]) -> Placement:
    """Groups split between side 0 (share ``share0[g]``) and side ``b``; head on side 0."""
    n = len(p.device.sides)
    groups = {"head": GroupPlacement.on(n, 0, 0)}
    for g in SPLIT_GROUPS:
        arr = np.asarray(share0[g], dtype=float)
        x: Any = arr if arr.ndim else float(arr)
        shares = tuple(x if s == 0 else (1.0 - x if s == b else 0.0) for s in range(n))
        groups[g] = GroupPlacement(shares, tuple(range(n)))  # each side computes what it holds
    return Placement(name, groups, n_sides=n)


def _capacity_ok(p: Problem, b: int, share0: Mapping[str, object], placed: tuple[str, ...]) -> BoolArray:
    """Whether the groups in ``placed`` fit both sides (broadcast over candidate axes)."""
    r = {g: p.held_bytes(g) for g in (*SPLIT_GROUPS, "head")}
    fast: Any = largest(p.workspace_bytes) + r["head"]
    slow: Any = 0.0
    for g in placed:
        x: Any = share0[g]
        fast = fast + r[g] * x
        slow = slow + r[g] * (1.0 - x)
    cap0, capb = p.capacity(0), p.capacity(b)
    ok: BoolArray = (np.asarray(fast) <= cap0 * (1 + 1e-12)) & (np.asarray(slow) <= capb * (1 + 1e-12))
    return ok


def _evaluate(p: Problem, pl: Placement) -> FloatArray:
    if p.evaluate is None:
        raise MappingError(f"policy {pl.policy!r} searches over priced candidates: use analyze, not a sweep")
    return p.evaluate(pl)


def _levels(n_parts: int) -> FloatArray:
    return np.arange(n_parts + 1, dtype=float) / n_parts


def greedy(p: Problem, name: str = "h2m2", fill_first: str | None = None) -> FillResult:
    b = _partner(p)
    share0: dict[str, object] = {g: 1.0 for g in SPLIT_GROUPS}
    placed: tuple[str, ...] = ()
    order = ((fill_first,) if fill_first else ()) + tuple(g for g in SPLIT_GROUPS if g != fill_first)
    for g in order:
        cand = _levels(p.parts.get(g, 1))
        trial = {**share0, g: cand}
        ok = _capacity_ok(p, b, trial, (*placed, g))
        if not np.any(ok):
            raise CapacityError(f"{name}: no split of {g} fits the primary and side {p.device.sides[b].name}")
        if g == fill_first:
            k = int(np.flatnonzero(ok)[-1])
        else:
            # where the phase time is a sum over groups, the group's own times decide
            own = group_tables(p, b, name)[g] if p.evaluate_groups is not None else None
            t = np.where(ok, own if own is not None else _evaluate(p, _placement(p, name, b, trial)), np.inf)
            k = int(np.argmin(t))
        share0[g] = float(cand[k])
        placed = (*placed, g)
    return FillResult(_placement(p, name, b, share0))


@register("h2m2", "head-aware greedy (H2M2): attention, qkv, fc each split between the primary and "
          "the memory side with compute, minimising the phase time within capacity", search=True)  # fmt: skip
def h2m2(p: Problem) -> FillResult:
    return greedy(p)


@register("attention-first", "all KV heads that fit on the primary, then the h2m2 greedy", search=True)
def attention_first(p: Problem) -> FillResult:
    return greedy(p, "attention-first", "attention")


@register("qkv-first", "all qkv parts that fit on the primary, then the h2m2 greedy", search=True)
def qkv_first(p: Problem) -> FillResult:
    return greedy(p, "qkv-first", "qkv")


@register("fc-first", "all fc column blocks that fit on the primary, then the h2m2 greedy", search=True)
def fc_first(p: Problem) -> FillResult:
    return greedy(p, "fc-first", "fc")


@register("naive-sublayer", "each of qkv / attention / fc entirely on one computing side, best of 2^3",
          search=True)  # fmt: skip
def naive_sublayer(p: Problem) -> FillResult:
    b = _partner(p)
    best: tuple[float, dict[str, object]] | None = None
    for pick in itertools.product((1.0, 0.0), repeat=len(SPLIT_GROUPS)):
        share0: dict[str, object] = dict(zip(SPLIT_GROUPS, pick, strict=True))
        if not bool(_capacity_ok(p, b, share0, SPLIT_GROUPS)):
            continue
        if p.evaluate_groups is not None:  # a sum over groups: read their tables
            tab = group_tables(p, b, "naive-sublayer")
            t = sum(float(tab[g][-1 if share0[g] == 1.0 else 0]) for g in SPLIT_GROUPS)
        else:
            t = float(np.asarray(_evaluate(p, _placement(p, "naive-sublayer", b, share0))).reshape(-1)[0])
        if best is None or t < best[0]:
            best = (t, share0)
    if best is None:
        raise CapacityError("naive-sublayer: no whole-group choice fits both computing sides")
    return FillResult(_placement(p, "naive-sublayer", b, best[1]))


def group_tables(p: Problem, b: int, name: str) -> dict[str, FloatArray]:
    """Each group's time at every split (n = 0..N parts on the primary), the others on the
    primary: ``p.evaluate_groups`` once per group (the phase time is their sum plus what
    does not depend on the placement). Memoised per problem, so the policies of one study
    share them."""
    if p.evaluate_groups is None:
        raise MappingError(f"policy {name!r} needs per-group times: use analyze, not a sweep")
    hit = _TABLES.get(id(p))
    if hit is not None and hit[0] is p and hit[1] == b:
        return hit[2]
    out = {}
    for g in SPLIT_GROUPS:
        share0: dict[str, object] = {k: 1.0 for k in SPLIT_GROUPS}
        share0[g] = _levels(p.parts.get(g, 1))
        out[g] = np.asarray(p.evaluate_groups(_placement(p, name, b, share0))[g], dtype=float)
    if len(_TABLES) > 64:
        _TABLES.clear()
    _TABLES[id(p)] = (p, b, out)
    return out


_TABLES: dict[int, tuple[Problem, int, dict[str, FloatArray]]] = {}


def _separable_oracle(p: Problem, b: int) -> list[tuple[float, FillResult]]:
    """Every split of the three groups, exhaustively, from per-group tables: the phase time
    and the primary's bytes are sums over groups (the partner holds the rest), so for each
    split (i, j) of the first two groups the third's feasible splits are one contiguous range
    of part counts, and the fastest of a range is a table lookup. O(N^2) for what is N^3
    candidates (GPT3-175B: 97^3 = 912,673); ties go to fewer parts on the primary, in group
    order, as a flat argmin over every candidate would."""
    t = group_tables(p, b, "oracle")
    g0, g1, g2 = SPLIT_GROUPS
    axes = [_levels(p.parts.get(g, 1)) for g in SPLIT_GROUPS]
    r = {g: p.held_bytes(g) for g in (*SPLIT_GROUPS, "head")}
    ws = float(np.max(p.workspace_bytes))
    room0 = p.capacity(0) * (1 + 1e-12) - ws - r["head"]  # the primary holds at most this
    need = sum(r[g] for g in SPLIT_GROUPS) - p.capacity(b) * (1 + 1e-12)  # and at least this
    fc = r[g2] * axes[2]  # ascending in the part count
    base = (r[g0] * axes[0])[:, None] + (r[g1] * axes[1])[None, :]
    lo = np.searchsorted(fc, need - base, side="left")
    hi = np.searchsorted(fc, room0 - base, side="right") - 1
    c = t[g2]
    n = len(c)
    best_v = np.full((n, n), np.inf)  # [lo, hi] -> fastest of c[lo..hi] and where
    best_k = np.zeros((n, n), dtype=np.int64)
    ar = np.arange(n)
    for a in range(n):
        tail = c[a:]
        cm = np.minimum.accumulate(tail)
        better = np.r_[True, tail[1:] < cm[:-1]]
        best_v[a, a:] = cm
        best_k[a, a:] = a + np.maximum.accumulate(np.where(better, ar[: n - a], 0))
    ok = lo <= hi
    lo_c, hi_c = np.clip(lo, 0, n - 1), np.clip(hi, 0, n - 1)
    cmin = np.where(ok, best_v[lo_c, hi_c], np.inf)
    total = (t[g0][:, None] + t[g1][None, :]) + cmin
    i, j = np.unravel_index(int(np.argmin(total)), total.shape)
    if not np.isfinite(total[i, j]):
        return []
    k = int(best_k[lo_c[i, j], hi_c[i, j]])
    best = {g0: float(axes[0][i]), g1: float(axes[1][j]), g2: float(axes[2][k])}
    pl = _placement(p, "oracle", b, best)
    return [(float(np.asarray(_evaluate(p, pl)).reshape(-1)[0]), FillResult(pl))]


def _split_candidates(p: Problem, b: int, name: str) -> list[tuple[float, FillResult]]:
    """The best split of the three groups between the primary and side ``b``: exhaustive
    from per-group tables where the problem gives them, else every split when the space is
    at most ``EXHAUSTIVE_MAX`` candidates, else a grid of ``GRID_LEVELS`` levels per group."""
    if p.evaluate_groups is not None:
        out = _separable_oracle(p, b)
        return [(t, FillResult(_placement(p, name, b, _share0(r.placement)))) for t, r in out]
    sizes = [p.parts.get(g, 1) + 1 for g in SPLIT_GROUPS]
    exhaustive = int(np.prod(sizes)) <= EXHAUSTIVE_MAX
    axes = [_levels(p.parts.get(g, 1)) if exhaustive else np.linspace(0.0, 1.0, min(GRID_LEVELS, k))
            for g, k in zip(SPLIT_GROUPS, sizes, strict=True)]  # fmt: skip
    grids = np.meshgrid(*axes, indexing="ij")
    share0: dict[str, object] = {g: grid for g, grid in zip(SPLIT_GROUPS, grids, strict=True)}
    ok = _capacity_ok(p, b, share0, SPLIT_GROUPS)
    if not np.any(ok):
        return []
    t = np.where(ok, _evaluate(p, _placement(p, name, b, share0)), np.inf)
    k = np.unravel_index(int(np.argmin(t)), t.shape)
    best = {g: float(grid[k]) for g, grid in zip(SPLIT_GROUPS, grids, strict=True)}
    return [(float(t[k]), FillResult(_placement(p, name, b, best)))]


def _share0(pl: Placement) -> dict[str, object]:
    return {g: pl.groups[g].shares[0] for g in SPLIT_GROUPS}


@register("split-search", "every split of qkv / attention / fc between the primary and the widest "
          "computing memory side, searched exhaustively (the oracle's own search)", search=True)  # fmt: skip
def split_search(p: Problem) -> FillResult:
    cands = _split_candidates(p, _partner(p), "split-search")
    if not cands:
        raise CapacityError("split-search: no split fits the primary and the computing side")
    return cands[0][1]


@register("oracle", "exhaustive split search (a stated grid where the space is large), then the fastest "
          "end to end of it and every other policy: never slower than any", search=True)  # fmt: skip
def oracle(p: Problem) -> FillResult:
    cands: list[tuple[float, FillResult]] = []
    names = fill_policy_names() if p.oracle_candidates is None else list(p.oracle_candidates)
    for name in names:
        try:
            res = get_policy(name)(p)
        except (MappingError, CapacityError):
            continue
        if bool(np.all(fits(p, res.placement))):
            cands.append((float(np.asarray(_evaluate(p, res.placement)).reshape(-1)[0]), res))
    try:
        b = _partner(p)
    except MappingError:
        b = -1
    if b > 0:
        cands += _split_candidates(p, b, "oracle")
    if not cands:
        raise CapacityError("oracle: no candidate placement fits")
    _, res = min(cands, key=lambda c: c[0])
    pl = res.placement
    # placed once, like every search policy: no re-map thresholds (the runtime would have to
    # re-run the search at each, and a sweep cannot)
    return FillResult(
        Placement("oracle", pl.groups, pl.reason, pl.n_sides, pl.workspace_side, staged=pl.staged)
    )
