"""The KV a request computed before a recompute preemption, kept by automatic prefix caching.

vLLM V1 caches every full KV block by the hash of the tokens it holds (automatic prefix caching,
on by default). A request preempted by recompute frees its blocks, but they keep their hashes:
they sit in the free list, counted as free, until an allocation evicts them, least recently
freed first (vllm/v1/core/block_pool.py: freed blocks go to the tail of the free queue). When
the request is scheduled again, ``get_computed_blocks`` finds the blocks still there, so only
the rest of its context is computed; but ``allocate_slots`` must take back every cached block
it reuses as well as the blocks of its next chunk, so it returns only when its whole computed
context plus that chunk fit (vllm/v1/core/kv_cache_manager.py). Without prefix caching
(``--no-enable-prefix-caching``) the preempted request starts from zero and is admitted on its
first chunk alone: the loop of vLLM PRs #21793 and #21809, admitted, preempted, admitted again.

Eviction is modelled by capacity: the kept blocks are lost once the blocks in use exceed the
pool less the kept blocks, the point past which an allocation must have taken one of them. LRU
can evict them earlier (blocks freed before them go first, but blocks freed after them go
after), so this keeps them at least as long as vLLM does, never longer than the pool allows.
"""

from __future__ import annotations

__all__ = ["KeptKV"]


class KeptKV:
    """Per slot: tokens of its own computed KV still cached, and the blocks-in-use bound past
    which they are evicted; ``floor`` is the lowest such bound (infinite when none is kept)."""

    __slots__ = ("floor", "limit", "tokens")

    def __init__(self) -> None:
        self.tokens: dict[int, int] = {}
        self.limit: dict[int, int] = {}
        self.floor: float = float("inf")

    def keep(self, i: int, tokens: int, limit: int) -> None:
        """Slot ``i`` was preempted with ``tokens`` tokens in full blocks; they survive while at
        most ``limit`` blocks are in use."""
        self.tokens[i], self.limit[i] = tokens, limit
        self.floor = min(self.floor, limit)

    def drop(self, i: int) -> None:
        if self.tokens.pop(i, None) is not None:
            del self.limit[i]
            self.floor = min(self.limit.values(), default=float("inf"))

    def evict(self, used: int) -> None:
        """Forget every kept KV whose blocks ``used`` blocks in use must have taken."""
        for i in [i for i, lim in self.limit.items() if used > lim]:
            del self.tokens[i], self.limit[i]
        self.floor = min(self.limit.values(), default=float("inf"))
