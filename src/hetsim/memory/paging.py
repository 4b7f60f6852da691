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
    """Tensors on ``len(capacities)`` sides with flat page tables and migration accounting.

    Every operation is all-or-nothing: its arguments and the free pages it needs on every
    side are checked before the first page is touched, so a refused call (``CapacityError``,
    ``MappingError``, ``ConfigError``) leaves the state exactly as it was."""

    capacities_bytes: Sequence[float]
    names: Sequence[str] | None = None  # one per side; default hbm, lpddr, then side2, ...
    logical_pages: int = 1 << 19  # 1 TiB of logical space at 2 MiB pages (a 4 MB table)
    side_names: tuple[str, ...] = field(init=False)
    allocators: list[PageAllocator] = field(init=False)
    tables: list[IntArray] = field(init=False)
    tensors: dict[str, Tensor] = field(init=False, default_factory=dict)
    migrated_bytes: float = field(init=False, default=0.0)
    _next: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        caps = list(self.capacities_bytes)
        if not caps or any(not (np.isfinite(c) and c >= 0) for c in caps):
            raise ConfigError("paged memory needs one finite, non-negative capacity per side")
        default = ("hbm", "lpddr", *(f"side{i}" for i in range(2, len(caps))))
        self.side_names = tuple(self.names) if self.names is not None else default[: len(caps)]
        if len(self.side_names) != len(caps):
            raise ConfigError(f"{len(caps)} sides need {len(caps)} names, got {len(self.side_names)}")
        self.allocators = [PageAllocator(int(c // PAGE_BYTES)) for c in caps]
        self.tables = [np.full(self.logical_pages, -1, dtype=np.int64) for _ in caps]

    # ---- queries -------------------------------------------------------------------------
    def used_bytes(self, side: int) -> float:
        return self.allocators[side].used_pages * PAGE_BYTES

    def fragmentation_bytes(self) -> float:
        return sum(fragmentation_bytes([t.nbytes]) * len(t.sides) for t in self.tensors.values())

    # ---- argument checks (before any change) ---------------------------------------------
    def _sides(self, sides: Iterable[int]) -> tuple[int, ...]:
        target = tuple(sorted(set(sides)))
        if not target:
            raise MappingError("a tensor needs a copy on at least one side")
        n = len(self.tables)
        bad = [s for s in target if isinstance(s, bool) or not isinstance(s, int | np.integer)
               or not 0 <= s < n]  # fmt: skip
        if bad:
            raise MappingError(f"side {bad[0]!r} does not exist (sides are 0..{n - 1})")
        return target

    @staticmethod
    def _bytes(nbytes: float, what: str) -> float:
        if not (np.isfinite(nbytes) and nbytes >= 0):
            raise ConfigError(f"{what} must be a finite, non-negative byte count, got {nbytes!r}")
        return float(nbytes)

    def _tensor(self, name: str) -> Tensor:
        if name not in self.tensors:
            raise MappingError(f"no tensor {name!r}")
        return self.tensors[name]

    def _need(self, pages: dict[int, int]) -> None:
        """Refuse, before anything changes, if a side lacks the free pages asked of it."""
        for side, k in pages.items():
            alloc = self.allocators[side]
            if k > alloc.free_pages:
                raise CapacityError(
                    f"side {self.side_names[side]}: {k} pages wanted, "
                    f"{alloc.free_pages} free of {alloc.n_pages}"
                )

    # ---- operations ----------------------------------------------------------------------
    def allocate(self, name: str, nbytes: float, sides: Iterable[int], reserve_bytes: float = 0.0) -> Tensor:
        """A tensor of ``nbytes`` with a copy on every side in ``sides``; ``reserve_bytes``
        of contiguous logical space are set aside for growth (KV caches)."""
        if name in self.tensors:
            raise MappingError(f"tensor {name!r} exists")
        target = self._sides(sides)
        nbytes = self._bytes(nbytes, f"tensor {name!r} size")
        need = pages_for(nbytes)
        reserved = max(need, pages_for(self._bytes(reserve_bytes, f"tensor {name!r} reserve")))
        if self._next + reserved > self.logical_pages:
            raise CapacityError("logical address space exhausted")
        self._need({s: need for s in target})
        t = Tensor(name, self._next, reserved, 0.0, target)
        self._next += reserved
        self.tensors[name] = t
        try:
            self.resize(name, nbytes)
        except Exception:  # cannot happen after the checks above; undo the registration anyway
            del self.tensors[name]
            self._next -= reserved
            raise
        return t

    def resize(self, name: str, nbytes: float) -> None:
        """Grow or shrink a tensor page by page (KV pages added as tokens arrive)."""
        t = self._tensor(name)
        nbytes = self._bytes(nbytes, f"tensor {name!r} size")
        old, new = t.n_pages, pages_for(nbytes)
        if new > t.reserved:
            raise CapacityError(f"tensor {name!r} outgrew its {t.reserved} reserved logical pages")
        if new > old:
            self._need({s: new - old for s in t.sides})
        for s in t.sides:
            if new > old:
                self._map(s, t.start + old, t.start + new)
            else:
                self._unmap(s, t.start + new, t.start + old)
        t.nbytes = nbytes

    def place(self, name: str, sides: Iterable[int]) -> float:
        """Move a tensor to ``sides`` (logical addresses kept); returns bytes migrated."""
        t = self._tensor(name)
        target = self._sides(sides)
        added = [s for s in target if s not in t.sides]
        dropped = [s for s in t.sides if s not in target]
        lo, hi = t.start, t.start + t.n_pages
        self._need({s: hi - lo for s in added})
        for s in added:
            self._map(s, lo, hi)
        for s in dropped:
            self._unmap(s, lo, hi)
        t.sides = target
        moved = t.nbytes * len(added)
        self.migrated_bytes += moved
        return moved

    def free(self, name: str) -> None:
        t = self._tensor(name)
        for s in t.sides:
            self._unmap(s, t.start, t.start + t.n_pages)
        del self.tensors[name]

    def _map(self, side: int, lo: int, hi: int) -> None:
        if hi <= lo:
            return
        if (self.tables[side][lo:hi] >= 0).any():
            raise MappingError(f"logical pages {lo}..{hi} already mapped on side {side}")
        self.tables[side][lo:hi] = self.allocators[side].alloc(hi - lo, self.side_names[side])

    def _unmap(self, side: int, lo: int, hi: int) -> None:
        if hi <= lo:
            return
        pages = self.tables[side][lo:hi]
        if (pages < 0).any():
            raise MappingError(f"logical pages {lo}..{hi} not mapped on side {side}")
        self.allocators[side].free(pages.copy(), self.side_names[side])
        self.tables[side][lo:hi] = -1

    def check(self) -> None:
        """Invariants: each side maps exactly the live pages of the tensors with a copy there
        (nothing stray, nothing missing, no leak), no physical page is used twice, allocator
        counts and used-flags agree with the tables, capacity holds, every tensor has a copy."""
        for s, (table, alloc) in enumerate(zip(self.tables, self.allocators, strict=True)):
            want = np.zeros(self.logical_pages, dtype=bool)
            for t in self.tensors.values():
                if s in t.sides:
                    want[t.start : t.start + t.n_pages] = True
            have = table >= 0
            if (have != want).any():
                first = int(np.flatnonzero(have != want)[0])
                raise MappingError(
                    f"side {s}: logical page {first} is {'stray' if have[first] else 'missing'}"
                )
            mapped = table[have]
            if np.unique(mapped).size != mapped.size:
                raise MappingError(f"side {s}: a physical page is mapped twice")
            if mapped.size != alloc.used_pages or alloc.used_pages > alloc.n_pages:
                raise MappingError(f"side {s}: page accounting broken")
            if int(alloc._used.sum()) != mapped.size or not alloc._used[mapped].all():
                raise MappingError(f"side {s}: allocator used-flags disagree with the page table")
        for t in self.tensors.values():
            if not t.sides or t.n_pages > t.reserved or t.start + t.reserved > self._next:
                raise MappingError(f"tensor {t.name}: no copy, or pages outside its reservation")
