"""Prefix caching across requests, over a KV hierarchy beyond the GPU.

A request may name a prefix (an id and a token count: a shared system prompt, or the previous
turns of its conversation). The cache keeps, per prefix id, the KV of its longest known prefix:
on the GPU (blocks of the instance's :class:`~hetsim.serving.kvcache.BlockPool`, shared by
every request that uses it) or, once evicted, in the next tier of a hierarchy (host DRAM,
local NVMe, a remote store: :class:`KVTier`, the LMCache / Mooncake style). A hit skips the
prefill of the cached tokens (whole blocks only, as vLLM's automatic prefix caching); a hit in
a lower tier first copies the entry back to the GPU, charged at that tier's bandwidth and
latency. Entries no running request uses are evicted least recently used first when blocks
are needed: copied to the first tier, pushed down the hierarchy when a tier is full (host-side
copies) and dropped past the last tier. Without tiers an evicted entry is dropped.

Pricing the copies: a store to a lower tier runs in the background (a DMA copy overlapped with
the GPU's work, as LMCache and vLLM's KV connectors save asynchronously) but occupies the link:
its seconds join a backlog that the iterations' time drains. A copy back is on a request's
critical path: it waits for the backlog still queued on the link, then takes its own time, and
both are charged to the iteration that admits the request.

A request registers its prompt's prefix when its prefill completes (the entry then shares the
blocks with it) and, for a conversation, its whole context (prompt + output) when it finishes,
which the next turn reuses.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hetsim.errors import ConfigError
from hetsim.serving.kvcache import BlockPool

if TYPE_CHECKING:
    from hetsim.serving.state import EngineState


@dataclass(frozen=True, slots=True)
class KVTier:
    """One level of KV storage below the GPU, with its path to the GPU."""

    name: str
    capacity_bytes: float
    bandwidth_bytes_per_s: float  # GPU <-> this tier, the slowest link on the way
    latency_s: float = 0.0
    provenance: str = ""

    def __post_init__(self) -> None:
        ok = 0 < self.capacity_bytes < float("inf") and 0 < self.bandwidth_bytes_per_s < float("inf")
        if not ok or not 0 <= self.latency_s < float("inf"):
            raise ConfigError(
                f"KV tier {self.name}: capacity and bandwidth must be finite and positive, latency >= 0"
            )

    def copy_s(self, nbytes: float) -> float:
        return nbytes / self.bandwidth_bytes_per_s + self.latency_s


class _Entry:
    __slots__ = ("refs", "tier", "tokens")

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.tier = 0  # 0: on the GPU; j >= 1: tiers[j - 1]
        self.refs = 0


class PrefixCache:
    """Cached prefixes of one instance (see the module docstring)."""

    def __init__(self, pool: BlockPool, token_bytes: float, tiers: tuple[KVTier, ...] = ()) -> None:
        self.pool = pool
        self.token_bytes = token_bytes
        self.tiers = tiers
        self.entries: dict[int, _Entry] = {}
        self.idle: OrderedDict[int, None] = OrderedDict()  # unreferenced GPU entries, LRU first
        self.tier_lru: list[OrderedDict[int, None]] = [OrderedDict() for _ in tiers]
        self.tier_bytes = [0.0] * len(tiers)
        self.hits = self.hit_tokens = self.lookups = 0
        self.backlog_s = 0.0  # store copies still queued on the link to the first tier
        self.reloaded_bytes = self.evicted_bytes = self.dropped_bytes = 0.0

    def idle_blocks(self) -> int:
        """GPU blocks :meth:`reclaim` could free (unreferenced entries)."""
        return sum(self.pool.blocks(self.entries[p].tokens) for p in self.idle)

    def gpu_blocks(self) -> int:
        return sum(self.pool.blocks(e.tokens) for e in self.entries.values() if e.tier == 0)

    def lookup(self, pid: int, want: int) -> tuple[int, float]:
        """(cached tokens a request with ``want`` prefix tokens can skip, seconds to load them);
        a hit holds the entry until :meth:`release`."""
        self.lookups += 1
        e = self.entries.get(pid)
        if e is None:
            return 0, 0.0
        bs = self.pool.block_tokens
        hit = min(e.tokens, want) // bs * bs
        if hit <= 0:
            return 0, 0.0
        secs = 0.0
        if e.tier:
            need = self.pool.blocks(e.tokens)
            secs = self.reclaim(need)
            if self.pool.free < need:
                return 0, secs
            nbytes = e.tokens * self.token_bytes
            j = e.tier - 1
            secs += self.backlog_s + self.tiers[j].copy_s(nbytes)  # behind the queued stores
            self.backlog_s = 0.0
            self.tier_bytes[j] -= nbytes
            del self.tier_lru[j][pid]
            self.pool.used += need
            e.tier = 0
            self.reloaded_bytes += nbytes
        self.idle.pop(pid, None)
        e.refs += 1
        self.hits += 1
        self.hit_tokens += hit
        return hit, secs

    def release(self, pid: int) -> None:
        e = self.entries.get(pid)
        if e is None or e.refs <= 0:
            return
        e.refs -= 1
        if e.refs == 0 and e.tier == 0:
            self.idle[pid] = None

    def register(self, pid: int, tokens: int, hold: bool) -> float:
        """Cache ``tokens`` tokens of prefix ``pid`` on the GPU (``hold``: the caller uses it
        and must :meth:`release` it); returns seconds of eviction copies. Without room the
        cache keeps what it had."""
        e = self.entries.get(pid)
        if e is not None and e.tier == 0 and e.tokens >= tokens:
            if hold:
                self.idle.pop(pid, None)
                e.refs += 1
            elif e.refs == 0:
                self.idle.move_to_end(pid)
            return 0.0
        have = self.pool.blocks(e.tokens) if e is not None and e.tier == 0 else 0
        need = self.pool.blocks(tokens) - have
        if e is not None:
            self.idle.pop(pid, None)  # not evictable while it grows
        secs = self.reclaim(need)
        if self.pool.free < need:
            if e is not None and e.tier == 0 and e.refs == 0:
                self.idle[pid] = None
            return secs
        if e is None:
            e = self.entries[pid] = _Entry(tokens)
        elif e.tier:
            self._drop_from_tier(pid, e)
        e.tokens, e.tier = tokens, 0
        self.pool.used += need
        if hold:
            e.refs += 1
        elif e.refs == 0:
            self.idle[pid] = None
        return secs

    def drain(self, seconds: float) -> None:
        """``seconds`` of GPU work went by: the background stores made that much progress."""
        self.backlog_s = max(0.0, self.backlog_s - seconds)

    def reclaim(self, need: int, partial: bool = False) -> float:
        """Evict unreferenced GPU entries (least recently used first) until ``need`` blocks are
        free. The stores go to the link's backlog (see the module docstring); returns 0 s, the
        time nothing waits for. Without ``partial`` nothing is evicted when all of them would
        not free enough."""
        secs = 0.0
        if not partial and self.pool.free + self.idle_blocks() < need:
            return secs  # evicting everything would not make the room: keep the entries
        while self.pool.free < need and self.idle:
            pid, _ = self.idle.popitem(last=False)
            e = self.entries[pid]
            self.pool.used -= self.pool.blocks(e.tokens)
            nbytes = e.tokens * self.token_bytes
            if self.tiers:
                self.backlog_s += self.tiers[0].copy_s(nbytes)
                self.evicted_bytes += nbytes
                self._store(pid, e, 0)
            else:
                self.dropped_bytes += nbytes
                del self.entries[pid]
        return secs

    def _store(self, pid: int, e: _Entry, j: int) -> None:
        """Put ``e`` in tier j, pushing that tier's oldest entries down when it is full."""
        nbytes = e.tokens * self.token_bytes
        if j >= len(self.tiers) or nbytes > self.tiers[j].capacity_bytes:
            self.dropped_bytes += nbytes
            del self.entries[pid]
            return
        e.tier = j + 1
        self.tier_bytes[j] += nbytes
        self.tier_lru[j][pid] = None
        while self.tier_bytes[j] > self.tiers[j].capacity_bytes:
            old, _ = self.tier_lru[j].popitem(last=False)
            oe = self.entries[old]
            self.tier_bytes[j] -= oe.tokens * self.token_bytes
            self._store(old, oe, j + 1)

    def _drop_from_tier(self, pid: int, e: _Entry) -> None:
        j = e.tier - 1
        self.tier_bytes[j] -= e.tokens * self.token_bytes
        del self.tier_lru[j][pid]


def share_prompt_prefix(st: EngineState, i: int) -> None:
    """Hand the first ``plen`` tokens of request i's prompt to the prefix cache, which then
    holds them for every request of that prefix (the request keeps using them), at the end of
    its prefill."""
    c, pool, pid, plen = st.cache, st.pool, st.pid[i], st.plen[i]
    assert c is not None
    e = c.entries.get(pid)
    have = pool.blocks(e.tokens) if e is not None and e.tier == 0 else 0
    after = pool.blocks(plen) - have + pool.blocks(st.kv[i] - plen)
    if after > st.blocks[i] + pool.free:
        return  # no room to hold both: the request keeps its own copy
    held = st.shared[i] > 0
    st.free(i)
    st.io_s += c.register(pid, plen, hold=not held)
    e = c.entries.get(pid)
    if e is not None and e.tier == 0 and e.tokens >= plen:
        st.shared[i] = plen
    elif not held:
        st.shared[i] = 0
    nb = st.own_blocks(i, st.kv[i])
    pool.used += nb
    st.blocks[i] = nb
