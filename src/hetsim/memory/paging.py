"""Paged memory across sides (H2M2, h2m2.md §5): logical addresses separate from physical
pages, one flat page table per side, 2 MB pages, KV tensors growing page by page, a page
mapped on several sides for duplicated tensors, migration that keeps logical addresses.

Pages are whole; a tensor of ``b`` bytes holds ``ceil(b / page)`` pages on every side that has
a copy. Page tables are NumPy arrays (logical page -> physical page, -1 = unmapped), so a
remap of thousands of pages is a few array operations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hetsim.errors import CapacityError, ConfigError, MappingError
from hetsim.units import MiB

PAGE_BYTES = 2 * MiB  # h2m2.md §1: 2 MB pages
IntArray = npt.NDArray[np.int64]


def pages_for(nbytes: float, page_bytes: float = PAGE_BYTES) -> int:
    return int(np.ceil(max(nbytes, 0.0) / page_bytes - 1e-12))


def fragmentation_bytes(sizes: Iterable[float], page_bytes: float = PAGE_BYTES) -> float:
    """Internal fragmentation: the unused tail of each tensor's last page, summed."""
    return float(sum((-s) % page_bytes for s in sizes if s > 0))


def paper_fragmentation_bytes(tensor_bytes: float, n_tensors: int, page_bytes: float = PAGE_BYTES) -> float:
    """The paper's formula (h2m2.md §5): (tensor size mod page size) x number of tensors."""
    return (tensor_bytes % page_bytes) * n_tensors


class PageAllocator:
    """Physical pages of one side: a free stack. Raises CapacityError when empty."""

    def __init__(self, n_pages: int) -> None:
        if n_pages < 0:
            raise ConfigError("a side needs a non-negative number of pages")
        self.n_pages = n_pages
        self._free: IntArray = np.arange(n_pages - 1, -1, -1, dtype=np.int64)
        self._top = n_pages  # free pages are _free[:_top]
        self._used = np.zeros(n_pages, dtype=bool)

    @property
    def free_pages(self) -> int:
        return self._top

    @property
    def used_pages(self) -> int:
        return self.n_pages - self._top

    def alloc(self, k: int, side: str = "") -> IntArray:
        if k > self._top:
            raise CapacityError(f"side {side}: {k} pages wanted, {self._top} free of {self.n_pages}")
        out = self._free[self._top - k : self._top].copy()
        self._top -= k
        self._used[out] = True
        return out

    def free(self, pages: IntArray, side: str = "") -> None:
        if pages.size == 0:
            return
        if not self._used[pages].all() or np.unique(pages).size != pages.size:
            raise MappingError(f"side {side}: freeing a page that is not allocated (double free)")
        self._used[pages] = False
        self._free[self._top : self._top + pages.size] = pages
        self._top += pages.size


@dataclass
class Tensor:
    name: str
    start: int  # first logical page
    reserved: int  # logical pages reserved (KV reserves room to grow)
    nbytes: float
    sides: tuple[int, ...]  # sides holding a copy

    @property
    def n_pages(self) -> int:
        return pages_for(self.nbytes)


@dataclass
class PagedMemory:
    """Tensors on ``len(capacities)`` sides with flat page tables and migration accounting."""

    capacities_bytes: Sequence[float]
    names: Sequence[str] = ("hbm", "lpddr")
    logical_pages: int = 1 << 19  # 1 TiB of logical space at 2 MiB pages (a 4 MB table)
    allocators: list[PageAllocator] = field(init=False)
    tables: list[IntArray] = field(init=False)
    tensors: dict[str, Tensor] = field(init=False, default_factory=dict)
    migrated_bytes: float = field(init=False, default=0.0)
    _next: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.allocators = [PageAllocator(int(c // PAGE_BYTES)) for c in self.capacities_bytes]
        self.tables = [np.full(self.logical_pages, -1, dtype=np.int64) for _ in self.capacities_bytes]

    # ---- queries -------------------------------------------------------------------------
    def used_bytes(self, side: int) -> float:
        return self.allocators[side].used_pages * PAGE_BYTES

    def free_bytes(self, side: int) -> float:
        return self.allocators[side].free_pages * PAGE_BYTES

    def fragmentation_bytes(self) -> float:
        return sum(fragmentation_bytes([t.nbytes]) * len(t.sides) for t in self.tensors.values())

    # ---- operations ----------------------------------------------------------------------
    def allocate(self, name: str, nbytes: float, sides: Iterable[int], reserve_bytes: float = 0.0) -> Tensor:
        """A tensor of ``nbytes`` with a copy on every side in ``sides``; ``reserve_bytes``
        of contiguous logical space are set aside for growth (KV caches)."""
        if name in self.tensors:
            raise MappingError(f"tensor {name!r} exists")
        reserved = max(pages_for(nbytes), pages_for(reserve_bytes))
        if self._next + reserved > self.logical_pages:
            raise CapacityError("logical address space exhausted")
        t = Tensor(name, self._next, reserved, 0.0, tuple(sorted(set(sides))))
        self._next += reserved
        self.tensors[name] = t
        self.resize(name, nbytes)
        return t

    def resize(self, name: str, nbytes: float) -> None:
        """Grow or shrink a tensor page by page (KV pages added as tokens arrive)."""
        t = self.tensors[name]
        old, new = t.n_pages, pages_for(nbytes)
        if new > t.reserved:
            raise CapacityError(f"tensor {name!r} outgrew its {t.reserved} reserved logical pages")
        for s in t.sides:
            self._map(s, t.start + old, t.start + new) if new > old else self._unmap(
                s, t.start + new, t.start + old
            )
        t.nbytes = nbytes

    def place(self, name: str, sides: Iterable[int]) -> float:
        """Move a tensor to ``sides`` (logical addresses kept); returns bytes migrated."""
        t = self.tensors[name]
        target = tuple(sorted(set(sides)))
        added = [s for s in target if s not in t.sides]
        dropped = [s for s in t.sides if s not in target]
        lo, hi = t.start, t.start + t.n_pages
        for s in added:
            self._map(s, lo, hi)
        for s in dropped:
            self._unmap(s, lo, hi)
        t.sides = target
        moved = t.nbytes * len(added)
        self.migrated_bytes += moved
        return moved

    def free(self, name: str) -> None:
        t = self.tensors.pop(name)
        for s in t.sides:
            self._unmap(s, t.start, t.start + t.n_pages)

    def _map(self, side: int, lo: int, hi: int) -> None:
        if hi <= lo:
            return
        if (self.tables[side][lo:hi] >= 0).any():
            raise MappingError(f"logical pages {lo}..{hi} already mapped on side {side}")
        self.tables[side][lo:hi] = self.allocators[side].alloc(hi - lo, self.names[side])

    def _unmap(self, side: int, lo: int, hi: int) -> None:
        if hi <= lo:
            return
        pages = self.tables[side][lo:hi]
        if (pages < 0).any():
            raise MappingError(f"logical pages {lo}..{hi} not mapped on side {side}")
        self.allocators[side].free(pages.copy(), self.names[side])
        self.tables[side][lo:hi] = -1

    def check(self) -> None:
        """Invariants: every mapped logical page has one physical page per copy, no physical
        page is used twice, allocator counts agree with the tables, capacity holds."""
        for s, (table, alloc) in enumerate(zip(self.tables, self.allocators, strict=True)):
            mapped = table[table >= 0]
            if np.unique(mapped).size != mapped.size:
                raise MappingError(f"side {s}: a physical page is mapped twice")
            if mapped.size != alloc.used_pages or alloc.used_pages > alloc.n_pages:
                raise MappingError(f"side {s}: page accounting broken")
        for t in self.tensors.values():
            for s in range(len(self.tables)):
                seg = self.tables[s][t.start : t.start + t.n_pages]
                want = s in t.sides
                if (want and (seg < 0).any()) or (not want and (seg >= 0).any()):
                    raise MappingError(f"tensor {t.name}: pages missing or stray on side {s}")
