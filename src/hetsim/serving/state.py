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
from typing import Any, Protocol

import numpy as np

from hetsim.engines.batching import EngineConfig
from hetsim.serving.keptkv import KeptKV
from hetsim.serving.kvcache import BlockPool
from hetsim.serving.prefix import PrefixCache, share_prompt_prefix
from hetsim.serving.requests import RequestSet
from hetsim.serving.runlog import RECORD_LIMIT


class WaitQueue(Protocol):
    """The waiting requests in the order a scheduler admits them."""

    def push(self, i: int) -> None: ...  # a new arrival
    def push_front(self, i: int) -> None: ...  # a preempted request (it keeps its claim)
    def peek(self) -> int: ...
    def pop(self) -> int: ...
    def __len__(self) -> int: ...


_NAN = float("nan")


class EngineState:
    """Mutable state of one instance serving ``reqs`` (per-request lists, indexed by request)."""

    def __init__(
        self, reqs: RequestSet, eng: EngineConfig, pool: BlockPool, cache: PrefixCache | None,
        waiting: WaitQueue, *, prefilled: bool, kv_bytes_per_token: float, swap_bytes_per_s: float,
    ) -> None:  # fmt: skip
        self.eng, self.pool, self.cache, self.waiting = eng, pool, cache, waiting
        self.prefilled = prefilled
        # static batching sizes a batch to fit: every sequence holds its whole length from admission
        self.on_demand = eng.reservation == "on_demand" and eng.scheduler != "static"
        self.swap_s_per_token = kv_bytes_per_token / swap_bytes_per_s
        K = len(reqs)
        # the requests (by request id); a request reaching the scheduler takes a *slot*, and every
        # per-request list below is indexed by slot, so memory follows the requests in the engine,
        # not the requests served
        self.req_P, self.req_G = reqs.input_len, reqs.output_len
        pid, plen = reqs.prefixes()
        self.req_pid = pid if cache is not None else np.full(K, -1, dtype=np.int64)
        self.req_plen = plen
        self.req_priority = reqs.priority
        # read a request's fields from Python lists (fast) unless that would hold a copy of every
        # request (the streaming regime of long runs: NumPy scalars then, O(1) memory per request)
        small = K <= RECORD_LIMIT
        self._P: Any = reqs.input_len.tolist() if small else reqs.input_len
        self._G: Any = reqs.output_len.tolist() if small else reqs.output_len
        self._pid: Any = self.req_pid.tolist() if small else self.req_pid
        self._plen: Any = plen.tolist() if small else plen
        self._pri: Any = None if reqs.priority is None else reqs.priority.tolist() if small else reqs.priority
        # results by request id, written as requests reach them
        self.first_out = np.full(K, np.nan)
        self.finish_out = np.full(K, np.nan)
        self.npre_out = np.zeros(K, dtype=np.int64)
        self.ej_out = np.zeros(K)
        self.rid: list[int] = []  # slot -> request id
        self.free_slots: list[int] = []
        self.P: list[int] = []
        self.G: list[int] = []
        self.pid: list[int] = []
        self.plen: list[int] = []
        self.priority: list[int] = []
        self.arr: list[float] = []  # engine arrival
        self.target: list[int] = []  # prompt tokens a prefill must cover (grows on recompute)
        self.done: list[int] = []  # of them computed
        self.kv: list[int] = []  # tokens in the KV cache (decoding: offset from clock)
        self.shared: list[int] = []  # of them in a cached prefix's blocks
        self.gen: list[int] = []  # tokens generated (decoding: offset from clock)
        self.blocks: list[int] = []  # own blocks held (decoding on demand: implied by kv)
        self.swapped: list[bool] = []
        self.first: list[float] = []
        self.finish: list[float] = []
        self.npre: list[int] = []
        self.ej: list[float] = []  # energy charged (decoding: offset from e_acc)
        self.tag: list[int] = []  # joins of the decoding set (a heap entry is valid for one)
        self.adm: list[int] = []  # admission stamp: the running queue's order (vLLM V1 ``running``)
        self.n_admit = 0
        self.dec: dict[int, None] = {}  # decoding slots, in the order they started
        self.pf: list[int] = []  # admitted, prefill not finished, in admission order
        self.heap: list[tuple[int, int, int]] = []  # (clock at the last token, slot, tag)
        self.clock = 0
        self.kv_base_sum = 0
        self.e_acc = 0.0
        self.io_s = 0.0  # seconds of KV copies charged to the next iteration
        self.completed = 0
        self.n_preempt = 0
        self.hold_batch = False  # static batching: finished sequences stay until the batch ends
        # own KV of recompute-preempted requests still cached (vLLM V1 automatic prefix caching)
        self.kept = KeptKV() if eng.prefix_caching and self.on_demand and not prefilled else None
        self.ghosts: list[int] = []

    # ---- slots ---------------------------------------------------------------------------
    def enter(self, r: int, arrival: float) -> int:
        """Request ``r`` reaches the scheduler at ``arrival``: its slot."""
        P, G = int(self._P[r]), int(self._G[r])
        pid, plen, pri = (
            int(self._pid[r]),
            int(self._plen[r]),
            int(self._pri[r]) if self._pri is not None else 0,
        )
        nan = _NAN
        if self.free_slots:
            i = self.free_slots.pop()
            self.rid[i], self.P[i], self.G[i], self.pid[i], self.plen[i] = r, P, G, pid, plen
            self.priority[i], self.arr[i], self.target[i], self.done[i], self.kv[i] = pri, arrival, P, 0, 0
            self.shared[i], self.gen[i], self.blocks[i], self.swapped[i] = 0, 0, 0, False
            self.first[i], self.finish[i], self.npre[i], self.ej[i], self.tag[i] = nan, nan, 0, 0.0, 0
            self.adm[i] = 0
            return i
        self.rid.append(r)
        self.P.append(P)
        self.G.append(G)
        self.pid.append(pid)
        self.plen.append(plen)
        self.priority.append(pri)
        self.arr.append(arrival)
        self.target.append(P)
        self.done.append(0)
        self.kv.append(0)
        self.shared.append(0)
        self.gen.append(0)
        self.blocks.append(0)
        self.swapped.append(False)
        self.first.append(nan)
        self.finish.append(nan)
        self.npre.append(0)
        self.ej.append(0.0)
        self.tag.append(0)
        self.adm.append(0)
        return len(self.rid) - 1

    def need_blocks_of(self, r: int) -> int:
        """Blocks request ``r`` (not yet at the scheduler) needs to be admitted."""
        P, G, bs = int(self._P[r]), int(self._G[r]), self.pool.block_tokens
        hit = 0
        c = self.cache
        if c is not None and (pid := int(self._pid[r])) >= 0 and (e := c.entries.get(pid)) is not None:
            hit = min(e.tokens, int(self._plen[r])) // bs * bs
        if not self.on_demand:
            return self.pool.blocks(P + G - hit)
        if self.prefilled:
            return self.pool.blocks(P + 1)
        q = P - hit
        return self.pool.blocks(min(q, self.eng.max_num_batched_tokens) if self.eng.chunked_prefill else q)

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
        h, dec, tag = self.heap, self.dec, self.tag
        while h and (h[0][1] not in dec or tag[h[0][1]] != h[0][2]):
            heapq.heappop(h)
        return h[0][0] - self.clock

    def own_blocks(self, i: int, tokens: int) -> int:
        return self.pool.blocks(tokens - self.shared[i])

    def hit(self, i: int) -> int:
        """Prefix tokens request i could skip if admitted now (0 when not cached)."""
        c, k = self.cache, self.kept
        if k is not None and i in k.tokens:
            return k.tokens[i]
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
        if s0 and self.kept is not None and i in self.kept.tokens:  # its own cached blocks, taken back
            return self.pool.blocks(s0 + first)
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
        self.tag[i] += 1
        heapq.heappush(self.heap, (self.G[i] - self.gen[i], i, self.tag[i]))

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
        self.npre_out[self.rid[i]] += 1
        self.n_preempt += 1
        if self.eng.preemption == "swap" and decoding:
            self.io_s += self.kv[i] * self.swap_s_per_token  # copy out
            self.swapped[i] = True
        else:  # recompute: prompt and generated tokens are prefilled again
            if self.shared[i] and self.cache is not None:
                self.cache.release(self.pid[i])
            elif self.kept is not None:  # its full blocks stay cached until evicted
                bs = self.pool.block_tokens
                keep = min(self.kv[i], self.P[i] + self.gen[i] - 1) // bs * bs
                if keep:
                    self.kept.keep(i, keep, self.pool.total - keep // bs)
            self.target[i], self.done[i], self.kv[i], self.shared[i] = self.P[i] + self.gen[i], 0, 0, 0
        self.waiting.push_front(i)

    def stamp(self, i: int) -> None:
        """Request i joins the tail of the running queue (admitted, or admitted again)."""
        self.n_admit += 1
        self.adm[i] = self.n_admit

    def admit_direct(self, i: int, t: float) -> None:
        """Into the decoding set without a prefill (swapped back in, or KV sent by a prefill node)."""
        self.stamp(i)
        if self.swapped[i]:
            self.io_s += self.kv[i] * self.swap_s_per_token  # copy in
            self.swapped[i] = False
        else:
            self.done[i] = self.kv[i] = self.target[i]
            self.gen[i] = 1
            if self.first[i] != self.first[i]:
                self.first[i] = t
                self.first_out[self.rid[i]] = t
        nb = self.own_blocks(i, self.kv[i]) if self.on_demand else self.need_blocks(i)
        self.pool.used += nb - self.blocks[i]
        self.blocks[i] = nb
        self.join_decode(i)

    def admit_prefill(self, i: int, avail: int) -> int | None:
        """Admit request i for prefill, from its cached prefix when there is one; returns the
        prompt token it starts from, or None (nothing admitted) when its blocks, and those of a
        prefix to copy back from a lower tier, do not fit in ``avail``."""
        s0, c, k = 0, self.cache, self.kept
        own = k is not None and i in k.tokens
        if own:
            s0 = self.hit(i)
        elif c is not None and self.pid[i] >= 0 and self.done[i] == 0:
            s0 = self.hit(i)
            if s0 and self.need_blocks(i, s0) + self.reload_blocks(i) > avail:
                s0 = 0  # no room to copy the prefix back: compute it again
            if s0:
                s0, secs = c.lookup(self.pid[i], self.plen[i])
                self.io_s += secs
                avail = min(avail, self.pool.free)
        nb = self.need_blocks(i, s0)
        if nb > avail:
            if s0 and c is not None and not own:
                c.release(self.pid[i])
            return None
        if own:
            k.drop(i)  # type: ignore[union-attr]
        self.shared[i] = 0 if own else s0
        self.done[i] = self.kv[i] = max(s0, self.done[i])
        self.pool.used += nb - self.blocks[i]
        self.blocks[i] = nb
        self.pf.append(i)
        self.stamp(i)
        return self.done[i]

    def extend(self, i: int, q: int) -> int:
        """Blocks prefill request i needs beyond what it holds for ``q`` more tokens."""
        return self.own_blocks(i, self.done[i] + q) - self.blocks[i]

    def prefill_done(self, i: int, t: float) -> None:
        """Request i's prefill is complete at ``t``: its first token, then it decodes."""
        self.pf.remove(i)
        if self.cache is not None and self.pid[i] >= 0 and self.shared[i] < self.plen[i] <= self.kv[i]:
            share_prompt_prefix(self, i)
        self.gen[i] += 1
        if self.first[i] != self.first[i]:
            self.first[i] = t
            self.first_out[self.rid[i]] = t
        self.join_decode(i)

    def finish_due(self, t: float) -> list[int]:
        """Finish the decoding requests whose last token is out at ``t``; returns them."""
        h, dec, tag, clock = self.heap, self.dec, self.tag, self.clock
        out = []
        while h and h[0][0] <= clock:
            _, i, k = heapq.heappop(h)
            if i in dec and tag[i] == k:
                out.append(i)
        for i in out:
            self.finish[i] = t
            self.finish_out[self.rid[i]] = t
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
        self.ej_out[self.rid[i]] = self.ej[i]
        c = self.cache
        if c is not None and self.pid[i] >= 0:
            if self.shared[i]:
                c.release(self.pid[i])
            if self.eng.prefix_caching:  # its whole context, for the next turn of its conversation
                self.io_s += c.register(self.pid[i], self.P[i] + self.G[i], hold=False)
        self.free_slots.append(i)

    def outputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(first token, finish, preemptions, energy) per request id; the energy of requests still
        running (a run cut short) is what they were charged so far."""
        for i in self.dec:
            self.ej_out[self.rid[i]] = self.ej[i] + self.e_acc
        for i in self.pf:
            self.ej_out[self.rid[i]] = self.ej[i]
        return self.first_out, self.finish_out, self.npre_out, self.ej_out
