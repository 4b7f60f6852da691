"""The scheduler interface and the pieces every scheduler composes.

A scheduler decides, at each iteration of an engine instance, three things (the interface of
vLLM's and Vidur's schedulers): which waiting request to **admit** next (its wait queue's order),
how to **form the batch** (which prefill chunks ride with which decodes, within the engine's
token, sequence and KV-block budgets) and which running request to **preempt** when KV blocks
run out (the victim). It reads and changes an :class:`~hetsim.serving.state.EngineState` only
through that state's operations, so every scheduler keeps the same conservation rules.

A new scheduler is one module that subclasses :class:`Scheduler` and decorates it with
:func:`register`; ``hetsim.serving.schedulers`` imports it (docs/serving.md lists the files).
"""

from __future__ import annotations

import heapq
import itertools
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from hetsim.serving.state import EngineState, WaitQueue


@dataclass(slots=True)
class Batch:
    """One iteration: prefill chunks (request, new tokens), whether the decoding set runs, and
    whether admissions were held back this iteration (the next one must try them again, so the
    loop runs this one alone rather than a closed-form run of decode steps)."""

    chunks: list[tuple[int, int]] = field(default_factory=list)
    decode: bool = True
    held: bool = False


DECODE_ONLY = Batch([], True)  # shared, never changed: an iteration of the decodes alone


class FifoQueue(deque[int]):
    """First come, first served; a preempted request goes back to the head."""

    push = deque.append
    push_front = deque.appendleft
    pop = deque.popleft

    def peek(self) -> int:
        return self[0]


class KeyedQueue(list[tuple[tuple[float, float], int, int]]):
    """Smallest key first (ties: arrival order; a preempted request ahead of equal keys)."""

    def __init__(self, key: Callable[[int], tuple[float, float]]) -> None:
        super().__init__()
        self.key = key
        self.seq = itertools.count()

    def push(self, i: int) -> None:
        heapq.heappush(self, (self.key(i), next(self.seq), i))

    def push_front(self, i: int) -> None:
        heapq.heappush(self, (self.key(i), -next(self.seq), i))

    def peek(self) -> int:
        return self[0][2]

    def pop(self) -> int:  # type: ignore[override]
        return heapq.heappop(self)[2]


class Scheduler(ABC):
    """Admit, form a batch, choose a victim (see the module docstring)."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line: what it does and which engines run it
    source: ClassVar[str]  # where the behaviour is documented

    def queue(self, st: EngineState) -> WaitQueue:
        """The wait queue (admission order); first come, first served unless overridden."""
        return FifoQueue()

    def victim(self, st: EngineState) -> int:
        """The running request to preempt when KV blocks run out: the one that arrived last
        (vLLM V0's order); the schedulers that follow vLLM V1 take the one admitted last."""
        return newest_arrival(st)

    @abstractmethod
    def form(self, st: EngineState, t: float) -> Batch:
        """The next iteration's batch (admissions and block allocations happen here)."""


def newest_arrival(st: EngineState) -> int:
    """The running request that arrived last (vLLM V0's preemption order: its running queue is
    kept sorted by arrival)."""
    arr, rid = st.arr, st.rid
    return max((*st.dec, *st.pf), key=lambda j: (arr[j], rid[j]))


def last_admitted(st: EngineState) -> int:
    """The running request admitted last (vLLM V1: ``self.running.pop()``, the running queue
    appended to at each admission, a preempted and readmitted request at its tail again)."""
    adm = st.adm
    return max((*st.dec, *st.pf), key=adm.__getitem__)


REGISTRY: dict[str, type[Scheduler]] = {}


def register(cls: type[Scheduler]) -> type[Scheduler]:
    REGISTRY[cls.name] = cls
    return cls


def make_room_for_decode(st: EngineState, sched: Scheduler) -> int:
    """Preempt (after evicting idle cached prefixes) until every decoding sequence's next
    token has a KV slot; returns the blocks those tokens take."""
    if not st.on_demand or not st.dec:
        return 0
    pool = st.pool
    grow = pool.grow_next(st.clock)
    bs = pool.block_tokens
    while grow > pool.free and (st.dec or st.pf):
        if st.cache is not None and st.cache.idle:
            st.io_s += st.cache.reclaim(grow, partial=True)  # cheaper than a preemption
            continue
        v = sched.victim(st)
        if v in st.dec and (st.kv[v] + st.clock - st.shared[v]) % bs == 0:
            grow -= 1
        st.preempt(v)
    return grow


def continue_prefills(
    st: EngineState, room: int, cap: int, chunks: list[tuple[int, int]], sched: Scheduler | None = None
) -> int:
    """Next chunks of the admitted prefills (admission order) within ``room`` tokens and ``cap``
    blocks; returns the room left. A chunk whose blocks do not fit stops the prefills here or,
    given ``sched``, preempts its victims until it fits or the victim is the prefill itself (vLLM
    V1: a running request that cannot get its slots preempts the tail of the running queue)."""
    chunked, on_demand, pool = st.eng.chunked_prefill, st.on_demand, st.pool
    for i in list(st.pf) if sched is not None else st.pf:
        if room <= 0:
            break
        if i not in st.pf:  # preempted below for an earlier prefill's chunk
            continue
        q = st.target[i] - st.done[i]
        q = min(q, room) if chunked else q
        if q > room:
            break
        if on_demand:
            extra = st.extend(i, q)
            fits = extra <= cap - pool.used or st.make_free(extra + pool.total - cap)
            while not fits and sched is not None:
                v = sched.victim(st)
                st.preempt(v)
                if v == i:
                    break
                for k, (j, qj) in enumerate(chunks):  # a victim chosen by key may hold a chunk
                    if j == v:
                        del chunks[k]
                        room += qj
                        break
                fits = extra <= cap - pool.used
            if not fits:
                break
            pool.used += extra  # allocated now, so the admissions below see them taken
            st.blocks[i] += extra
        chunks.append((i, q))
        room -= q
    return room


def admit_waiting(
    st: EngineState, room: int, cap: int, chunks: list[tuple[int, int]], *, mixes: bool, t: float
) -> int:
    """Admit waiting requests in queue order while tokens, sequences and blocks allow; a
    prefill's first chunk joins ``chunks``. Returns the room left."""
    w, pool, eng, cache, kept = st.waiting, st.pool, st.eng, st.cache, st.kept
    max_seq, chunked = eng.max_num_seqs, eng.chunked_prefill
    dec, pf = st.dec, st.pf
    while w and room > 0 and len(dec) + len(pf) < max_seq:
        i = w.peek()
        avail = cap - pool.used
        direct = st.prefilled or st.swapped[i]
        nb = st.need_blocks(i)
        if cache is not None:
            back = st.reload_blocks(i)
            if nb + back > avail and st.make_free(nb + back + pool.total - cap):
                avail = cap - pool.used
                nb = st.need_blocks(i)
        if nb > avail:
            break
        if direct:
            w.pop()
            st.admit_direct(i, t)
            room -= 1 if mixes else 0  # it decodes in this iteration
            continue
        if cache is None:  # the common case, inline: no prefix to look up
            s0 = kept.tokens.get(i, 0) if kept is not None else 0  # its own KV, still cached
            q = st.target[i] - st.done[i] - s0
            if not chunked and q > room:
                break
            w.pop()
            pool.used += nb - st.blocks[i]
            st.blocks[i] = nb
            if s0:
                kept.drop(i)  # type: ignore[union-attr]
                st.done[i] = st.kv[i] = s0
            pf.append(i)
            st.n_admit += 1  # st.stamp(i), inline
            st.adm[i] = st.n_admit
            q = min(q, room)
            chunks.append((i, q))
            room -= q
            continue
        if not chunked and st.target[i] - st.hit(i) > room:
            break
        start = st.admit_prefill(i, avail)
        if start is None:
            break
        w.pop()
        q = min(st.target[i] - start, room)
        chunks.append((i, q))
        room -= q
    return room


def mixed_batch(st: EngineState, sched: Scheduler, t: float, prefill_budget: int) -> Batch:
    """Decodes first, then the running prefills' next chunks, then new admissions, all in one
    iteration within the token budget (at most ``prefill_budget`` prefill tokens)."""
    if not st.pf and not st.waiting and not st.on_demand:
        return DECODE_ONLY  # nothing to admit, nothing to grow: the decodes run on
    before = st.n_preempt
    reserve = make_room_for_decode(st, sched)
    cap = st.pool.total - reserve
    chunks: list[tuple[int, int]] = []
    room = min(st.eng.max_num_batched_tokens - len(st.dec), prefill_budget)
    room = continue_prefills(st, room, cap, chunks, sched)
    if st.n_preempt != before:  # vLLM V1 admits no waiting request in a step that preempted
        return Batch(chunks, True, held=True)
    admit_waiting(st, room, cap, chunks, mixes=True, t=t)
    return Batch(chunks, True)
