"""Hardware memory abstraction of H2M2: 2 MB pages per side, flat page tables, a TLB model,
migration and fragmentation accounting (h2m2.md §5)."""

from hetsim.memory.paging import PAGE_BYTES, PageAllocator, PagedMemory, fragmentation_bytes
from hetsim.memory.tlb import TlbModel

__all__ = ["PAGE_BYTES", "PageAllocator", "PagedMemory", "TlbModel", "fragmentation_bytes"]
