"""Paging is all-or-nothing: random sequences of allocate / resize / place / free over one to
four sides, single and multiple copies, valid and invalid arguments. After every operation,
refused ones included, every invariant holds; a refused one leaves the state exactly as it
was; and the state always agrees with a plain reference model (name -> bytes, sides)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.errors import CapacityError, ConfigError, HetsimError, MappingError
from hetsim.memory import PAGE_BYTES, PagedMemory
from hetsim.memory.paging import pages_for

NAMES = [f"t{i}" for i in range(5)]
side_sets = st.lists(st.integers(-1, 4), max_size=4)  # -1 and 4 are invalid on every layout
sizes = st.one_of(st.integers(0, 30).map(lambda k: k * PAGE_BYTES - 7 * (k > 0)),
                  st.sampled_from([-1.0, float("nan"), float("inf")]))  # fmt: skip
ops = st.one_of(
    st.tuples(st.just("allocate"), st.sampled_from(NAMES), sizes, side_sets, st.integers(0, 40)),
    st.tuples(st.just("resize"), st.sampled_from(NAMES), sizes),
    st.tuples(st.just("place"), st.sampled_from(NAMES), side_sets),
    st.tuples(st.just("free"), st.sampled_from(NAMES)),
)


def _snapshot(mem: PagedMemory) -> Any:
    return (
        [t.copy() for t in mem.tables],
        [(a._top, a._free[: a._top].copy(), a._used.copy()) for a in mem.allocators],
        {n: (t.start, t.reserved, t.nbytes, t.sides) for n, t in mem.tensors.items()},
        mem.migrated_bytes,
        mem._next,
    )


def _same(a: Any, b: Any) -> bool:
    tables_a, allocs_a, *rest_a = a
    tables_b, allocs_b, *rest_b = b
    if not all(np.array_equal(x, y) for x, y in zip(tables_a, tables_b, strict=True)):
        return False
    for (ta, fa, ua), (tb, fb, ub) in zip(allocs_a, allocs_b, strict=True):
        if ta != tb or not np.array_equal(fa, fb) or not np.array_equal(ua, ub):
            return False
    return bool(rest_a == rest_b)


def _apply(mem: PagedMemory, op: tuple[Any, ...]) -> None:
    kind, name, *args = op
    if kind == "allocate":
        size, sides, reserve_pages = args
        mem.allocate(name, size, sides, reserve_bytes=reserve_pages * PAGE_BYTES)
    elif kind == "resize":
        mem.resize(name, args[0])
    elif kind == "place":
        mem.place(name, args[0])
    else:
        mem.free(name)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=4),
    st.lists(ops, max_size=40),
)
def test_random_sequences_are_all_or_nothing(pages: list[int], sequence: list[tuple[Any, ...]]) -> None:
    mem = PagedMemory([p * PAGE_BYTES for p in pages], logical_pages=2048)
    model: dict[str, tuple[float, tuple[int, ...]]] = {}
    for op in sequence:
        before = _snapshot(mem)
        try:
            _apply(mem, op)
        except (CapacityError, MappingError, ConfigError):
            assert _same(before, _snapshot(mem)), f"refused {op} changed the state"
        else:
            kind, name, *args = op
            if kind == "free":
                del model[name]
            elif kind == "place":
                model[name] = (model[name][0], tuple(sorted(set(args[0]))))
            elif kind == "allocate":
                model[name] = (float(args[0]), tuple(sorted(set(args[1]))))
            else:
                model[name] = (float(args[0]), model[name][1])
        mem.check()
        assert {n: (t.nbytes, t.sides) for n, t in mem.tensors.items()} == model
        for s, alloc in enumerate(mem.allocators):
            live = sum(pages_for(b) for b, sides in model.values() if s in sides)
            assert alloc.used_pages == live <= alloc.n_pages  # conservation, no leak
    for name in list(mem.tensors):
        mem.free(name)
    assert all(a.used_pages == 0 for a in mem.allocators)  # every page comes back


def test_refused_allocate_of_two_copies_leaves_nothing_behind() -> None:
    mem = PagedMemory((10 * PAGE_BYTES, 2 * PAGE_BYTES), logical_pages=64)
    with pytest.raises(CapacityError):
        mem.allocate("w", 5 * PAGE_BYTES, [0, 1])
    assert not mem.tensors and mem.used_bytes(0) == 0
    mem.check()
    mem.allocate("w", 5 * PAGE_BYTES, [0])  # the name is free again


def test_refused_grow_of_two_copies_keeps_the_old_pages() -> None:
    mem = PagedMemory((10 * PAGE_BYTES, 4 * PAGE_BYTES), logical_pages=64)
    mem.allocate("kv", 2 * PAGE_BYTES, [0, 1], reserve_bytes=8 * PAGE_BYTES)
    with pytest.raises(CapacityError):
        mem.resize("kv", 6 * PAGE_BYTES)
    mem.check()
    mem.resize("kv", 4 * PAGE_BYTES)  # a later, fitting grow works (no MappingError)
    mem.check()


def test_side_names_arguments_and_empty_placements() -> None:
    mem = PagedMemory([PAGE_BYTES] * 3)
    assert mem.side_names == ("hbm", "lpddr", "side2")
    with pytest.raises(ConfigError):
        PagedMemory([PAGE_BYTES] * 3, names=("a", "b"))
    mem.allocate("x", 10, [2])
    for bad in ([], [3], [-1]):
        with pytest.raises(MappingError):
            mem.place("x", bad)
    with pytest.raises(HetsimError):
        mem.resize("missing", 1)
    mem.check()
