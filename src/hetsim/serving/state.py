"""What one engine instance knows while it serves: every request's progress, the running sets,
the KV blocks (:mod:`hetsim.serving.kvcache`), the prefix cache (:mod:`hetsim.serving.prefix`)
and the operations every scheduler composes: admit, extend a prefill, preempt, join the
decoding set, finish.

Request life: sent by the client -> (the engine's ``request_overhead_s`` of front-end time) ->
waiting -> admitted (KV blocks) -> prefill chunk(s) -> first token -> one token per decode
iteration -> finished (blocks freed). A preempted request returns to the waiting queue: by
*recompute* (its KV is dropped and prompt + generated tokens are prefilled again) or *swap*
(its KV is copied to host memory and back, the copies charged to the next iteration).

The decoding set advances together: ``clock`` counts the decode steps it has taken, and a
decoding request stores its KV tokens, generated tokens and energy as offsets from ``clock``
(and from the energy every decoding sequence has been charged, ``e_acc``), so a run of k
decode steps costs O(1) bookkeeping, not O(batch). Finishes come from a heap keyed by the
clock value at which each request generates its last token.
"""

from __future__ import annotations

import heapq
from typing import Protocol

import numpy as np

from hetsim.engines.batching import EngineConfig
from hetsim.serving.kvcache import BlockPool
from hetsim.serving.prefix import PrefixCache
from hetsim.serving.requests import RequestSet


class WaitQueue(Protocol):
    """The waiting requests in the order a scheduler admits them."""

    def push(self, i: int) -> None: ...  # a new arrival
    def push_front(self, i: int) -> None: ...  # a preempted request (it keeps its claim)
    def peek(self) -> int: ...
    def pop(self) -> int: ...
    def __len__(self) -> int: ...


class EngineState:
    """Mutable state of one instance serving ``reqs`` (per-request lists, indexed by request)."""

    def __init__(
        self, reqs: RequestSet, eng: EngineConfig, pool: BlockPool, cache: PrefixCache | None,
        waiting: WaitQueue, *, prefilled: bool, kv_bytes_per_token: float, swap_bytes_per_s: float,
    ) -> None:  # fmt: skip
        K = len(reqs)
        self.eng, self.pool, self.cache, self.waiting = eng, pool, cache, waiting
        self.prefilled = prefilled
        self.on_demand = eng.reservation == "on_demand"
        self.swap_s_per_token = kv_bytes_per_token / swap_bytes_per_s
        self.P = reqs.input_len.tolist()
        self.G = reqs.output_len.tolist()
        pid, plen = reqs.prefixes()
        self.pid = pid.tolist() if cache is not None else [-1] * K
        self.plen = plen.tolist()
        self.priority = reqs.priority.tolist() if reqs.priority is not None else [0] * K
        self.arr: list[float] = []  # engine arrival (set by the loop)
        self.target = list(self.P)  # prompt tokens a prefill must cover (grows on recompute)
        self.done = [0] * K  # of them computed
        self.kv = [0] * K  # tokens in the KV cache (decoding: offset from clock)
        self.shared = [0] * K  # of them in a cached prefix's blocks
        self.gen = [0] * K  # tokens generated (decoding: offset from clock)
        self.blocks = [0] * K  # own blocks held (decoding on demand: implied by kv)
        self.swapped = [False] * K
        self.first = [float("nan")] * K
        self.finish = [float("nan")] * K
        self.npre = [0] * K
        self.ej = [0.0] * K  # energy charged (decoding: offset from e_acc)
        self.dec: dict[int, None] = {}  # decoding, in the order they started
        self.pf: list[int] = []  # admitted, prefill not finished, in admission order
        self.heap: list[tuple[int, int]] = []  # (clock at the last token, request)
        self.clock = 0
        self.kv_base_sum = 0
        self.e_acc = 0.0
        self.io_s = 0.0  # seconds of KV copies charged to the next iteration
        self.completed = 0
        self.n_preempt = 0
        self.hold_batch = False  # static batching: finished sequences stay until the batch ends
        self.ghosts: list[int] = []

    # ---- queries -------------------------------------------------------------------------
    def running(self) -> int:
        return len(self.dec) + len(self.pf)

    def kv_now(self, i: int) -> int:
        return self.kv[i] + self.clock if i in self.dec else self.kv[i]

    def gen_now(self, i: int) -> int:
        return self.gen[i] + self.clock if i in self.dec else self.gen[i]

    def context(self) -> int:
        """Cached tokens the decoding set reads in its next step, the new token included."""
        n = len(self.dec)
        return self.kv_base_sum + n * self.clock + n

    def remaining_steps(self) -> int:
        """Decode steps until the next decoding request generates its last token."""
        h, dec, G, gen = self.heap, self.dec, self.G, self.gen
        while h and (h[0][1] not in dec or G[h[0][1]] - gen[h[0][1]] != h[0][0]):
            heapq.heappop(h)
        return h[0][0] - self.clock

    def own_blocks(self, i: int, tokens: int) -> int:
        return self.pool.blocks(tokens - self.shared[i])

    def hit(self, i: int) -> int:
        """Prefix tokens request i could skip if admitted now (0 when not cached)."""
        c = self.cache
        if c is None or self.pid[i] < 0 or self.done[i] or self.swapped[i]:
            return 0
        e = c.entries.get(self.pid[i])
        return (
            0 if e is None else min(e.tokens, self.plen[i]) // self.pool.block_tokens * self.pool.block_tokens
        )

    def make_free(self, n: int) -> bool:
        """Evict idle cached prefixes until ``n`` blocks are free, if they can make it so."""
        if self.pool.free < n and self.cache is not None and self.cache.idle:
            self.io_s += self.cache.reclaim(n)
        return self.pool.free >= n

    def reload_blocks(self, i: int) -> int:
        """Blocks request i's cached prefix needs to come back from a lower tier (0 on the GPU)."""
        c = self.cache
        e = None if c is None or self.pid[i] < 0 else c.entries.get(self.pid[i])
        return self.pool.blocks(e.tokens) if e is not None and e.tier else 0

    def need_blocks(self, i: int, s0: int | None = None) -> int:
        """Blocks to admit request i now (``s0``: prompt tokens it starts from)."""
        if not self.on_demand:
            return self.own_blocks(i, self.P[i] + self.G[i])
        if self.prefilled or self.swapped[i]:  # its KV, and a slot for the token it decodes next
            return self.own_blocks(i, max(self.kv[i], self.target[i]) + 1)
        s0 = self.hit(i) if s0 is None else s0
        q = self.target[i] - s0
        eng = self.eng
        first = min(q, eng.max_num_batched_tokens) if eng.chunked_prefill else q
        return self.pool.blocks(first + (0 if s0 else self.done[i]))

    # ---- transitions ---------------------------------------------------------------------
    def join_decode(self, i: int) -> None:
        c = self.clock
        self.kv[i] -= c
        self.gen[i] -= c
        self.ej[i] -= self.e_acc
        self.kv_base_sum += self.kv[i]
        self.dec[i] = None
        if self.on_demand:
            self.pool.join(self.kv[i] - self.shared[i])
        heapq.heappush(self.heap, (self.G[i] - self.gen[i], i))

    def leave_decode(self, i: int) -> None:
        """Out of the decoding set: its offsets back to plain values, its blocks freed."""
        del self.dec[i]
        self.kv_base_sum -= self.kv[i]
        if self.on_demand:
            self.pool.leave(self.kv[i] - self.shared[i])
        c = self.clock
        self.kv[i] += c
        self.gen[i] += c
        self.ej[i] += self.e_acc
        if self.on_demand:
            self.blocks[i] = self.own_blocks(i, self.kv[i])

    def free(self, i: int) -> None:
        self.pool.used -= self.blocks[i]
        self.blocks[i] = 0

    def preempt(self, i: int) -> None:
        decoding = i in self.dec
        if decoding:
            self.leave_decode(i)
        else:
            self.pf.remove(i)
        self.free(i)
        self.npre[i] += 1
        self.n_preempt += 1
        if self.eng.preemption == "swap" and decoding:
            self.io_s += self.kv[i] * self.swap_s_per_token  # copy out
            self.swapped[i] = True
        else:  # recompute: prompt and generated tokens are prefilled again
            if self.shared[i] and self.cache is not None:
                self.cache.release(self.pid[i])
            self.target[i], self.done[i], self.kv[i], self.shared[i] = self.P[i] + self.gen[i], 0, 0, 0
        self.waiting.push_front(i)

    def admit_direct(self, i: int, t: float) -> None:
        """Into the decoding set without a prefill (swapped back in, or KV sent by a prefill node)."""
        if self.swapped[i]:
            self.io_s += self.kv[i] * self.swap_s_per_token  # copy in
            self.swapped[i] = False
        else:
            self.done[i] = self.kv[i] = self.target[i]
            self.gen[i] = 1
            if self.first[i] != self.first[i]:
                self.first[i] = t
        nb = self.own_blocks(i, self.kv[i]) if self.on_demand else self.need_blocks(i)
        self.pool.used += nb - self.blocks[i]
        self.blocks[i] = nb
        self.join_decode(i)

    def admit_prefill(self, i: int, avail: int) -> int | None:
        """Admit request i for prefill, from its cached prefix when there is one; returns the
        prompt token it starts from, or None (nothing admitted) when its blocks, and those of a
        prefix to copy back from a lower tier, do not fit in ``avail``."""
        s0, c = 0, self.cache
        if c is not None and self.pid[i] >= 0 and self.done[i] == 0:
            s0 = self.hit(i)
            if s0 and self.need_blocks(i, s0) + self.reload_blocks(i) > avail:
                s0 = 0  # no room to copy the prefix back: compute it again
            if s0:
                s0, secs = c.lookup(self.pid[i], self.plen[i])
                self.io_s += secs
                avail = min(avail, self.pool.free)
        nb = self.need_blocks(i, s0)
        if nb > avail:
            if s0 and c is not None:
                c.release(self.pid[i])
            return None
        self.shared[i] = s0
        self.done[i] = self.kv[i] = max(s0, self.done[i])
        self.pool.used += nb - self.blocks[i]
        self.blocks[i] = nb
        self.pf.append(i)
        return self.done[i]

    def extend(self, i: int, q: int) -> int:
        """Blocks prefill request i needs beyond what it holds for ``q`` more tokens."""
        return self.own_blocks(i, self.done[i] + q) - self.blocks[i]

    def prefill_done(self, i: int, t: float) -> None:
        """Request i's prefill is complete at ``t``: its first token, then it decodes."""
        self.pf.remove(i)
        if self.cache is not None and self.pid[i] >= 0 and self.shared[i] < self.plen[i] <= self.kv[i]:
            self._share_prompt_prefix(i)
        self.gen[i] += 1
        if self.first[i] != self.first[i]:
            self.first[i] = t
        self.join_decode(i)

    def _share_prompt_prefix(self, i: int) -> None:
        """Hand the first ``plen`` tokens of request i's prompt to the prefix cache, which then
        holds them for every request of that prefix (the request keeps using them)."""
        c, pool, pid, plen = self.cache, self.pool, self.pid[i], self.plen[i]
        assert c is not None
        e = c.entries.get(pid)
        have = pool.blocks(e.tokens) if e is not None and e.tier == 0 else 0
        after = pool.blocks(plen) - have + pool.blocks(self.kv[i] - plen)
        if after > self.blocks[i] + pool.free:
            return  # no room to hold both: the request keeps its own copy
        held = self.shared[i] > 0
        self.free(i)
        self.io_s += c.register(pid, plen, hold=not held)
        e = c.entries.get(pid)
        if e is not None and e.tier == 0 and e.tokens >= plen:
            self.shared[i] = plen
        elif not held:
            self.shared[i] = 0
        nb = self.own_blocks(i, self.kv[i])
        pool.used += nb
        self.blocks[i] = nb

    def finish_due(self, t: float) -> list[int]:
        """Finish the decoding requests whose last token is out at ``t``; returns them."""
        h, dec, G, gen, clock = self.heap, self.dec, self.G, self.gen, self.clock
        out = []
        while h and h[0][0] <= clock:
            fc, i = heapq.heappop(h)
            if i in dec and G[i] - gen[i] == fc and i not in out:  # a re-joined request can have two
                out.append(i)
        for i in out:
            self.finish[i] = t
            if self.hold_batch:
                self.ghosts.append(i)
            else:
                self.retire(i)
        if self.hold_batch and self.ghosts and len(self.ghosts) == len(self.dec):
            for i in self.ghosts:
                self.retire(i)
            self.ghosts.clear()
        return out

    def retire(self, i: int) -> None:
        self.leave_decode(i)
        self.free(i)
        self.completed += 1
        c = self.cache
        if c is not None and self.pid[i] >= 0:
            if self.shared[i]:
                c.release(self.pid[i])
            if self.eng.prefix_caching:  # its whole context, for the next turn of its conversation
                self.io_s += c.register(self.pid[i], self.P[i] + self.G[i], hold=False)

    def victim_newest(self) -> int:
        """The running request that arrived last (vLLM's and SGLang's preemption order)."""
        arr = self.arr
        return max((*self.dec, *self.pf), key=lambda j: (arr[j], j))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(first token, finish, preemptions, energy) per request as arrays."""
        return (np.asarray(self.first, dtype=float), np.asarray(self.finish, dtype=float),
                np.asarray(self.npre, dtype=np.int64), np.asarray(self.ej, dtype=float))  # fmt: skip
