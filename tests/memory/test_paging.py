"""Paged memory invariants under random remap sequences (hypothesis), TLB and fragmentation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.errors import CapacityError, MappingError
from hetsim.memory import PAGE_BYTES, PagedMemory, TlbModel
from hetsim.memory.paging import PageAllocator, paper_fragmentation_bytes

op = st.tuples(
    st.sampled_from(["resize", "place", "dup"]),
    st.integers(0, 7),
    st.integers(1, 40),
    st.integers(0, 1),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(op, max_size=40))
def test_random_remaps_keep_invariants(ops: list[tuple[str, int, int, int]]) -> None:
    caps = (60 * PAGE_BYTES, 200 * PAGE_BYTES)
    mem = PagedMemory(caps, logical_pages=4096)
    for i in range(8):
        mem.allocate(f"t{i}", 3 * PAGE_BYTES, [1], reserve_bytes=40 * PAGE_BYTES)
    for kind, i, size, side in ops:
        name = f"t{i}"
        try:
            if kind == "resize":
                mem.resize(name, size * PAGE_BYTES - 5)
            elif kind == "place":
                mem.place(name, [side])
            else:
                mem.place(name, [0, 1])
        except CapacityError:
            pass  # refused cleanly; the state must still be consistent
        mem.check()
        for s, cap in enumerate(caps):
            assert mem.used_bytes(s) <= cap
        want = [sum(mem.tensors[n].n_pages for n in mem.tensors if s in mem.tensors[n].sides) for s in (0, 1)]
        assert [mem.allocators[s].used_pages for s in (0, 1)] == want


def test_double_free_is_an_error() -> None:
    a = PageAllocator(4)
    pages = a.alloc(2)
    a.free(pages)
    with pytest.raises(MappingError):
        a.free(pages)


def test_migration_counts_bytes_and_keeps_logical_pages() -> None:
    mem = PagedMemory((10 * PAGE_BYTES, 10 * PAGE_BYTES), logical_pages=64)
    t = mem.allocate("w", 3 * PAGE_BYTES, [0])
    start = t.start
    assert mem.place("w", [1]) == 3 * PAGE_BYTES
    assert mem.tensors["w"].start == start and mem.used_bytes(0) == 0
    mem.check()


def test_capacity_is_never_exceeded() -> None:
    mem = PagedMemory((2 * PAGE_BYTES, 2 * PAGE_BYTES), logical_pages=64)
    with pytest.raises(CapacityError):
        mem.allocate("big", 3 * PAGE_BYTES, [0])


def test_tlb_misses_only_beyond_reach() -> None:
    tlb = TlbModel()
    assert tlb.reach_bytes == 2048 * PAGE_BYTES
    assert float(tlb.misses(1e9, 1e9)) == 0.0
    assert float(tlb.misses(10 * PAGE_BYTES, 96e9)) == 10.0
    assert float(TlbModel(walks_in_flight=10).stall_s(10 * PAGE_BYTES, 96e9)) == pytest.approx(300e-9)


def test_paper_fragmentation_formula() -> None:
    assert paper_fragmentation_bytes(PAGE_BYTES + 5, 3) == 15
