"""The event-driven engine loop: continuous batching over a paged KV cache.

Time advances from event to event (an arrival the scheduler can admit, a prefill chunk, a
completion, a KV-cache exhaustion); never token by token. Each iteration the scheduler
(:mod:`hetsim.serving.schedulers`) forms a batch; the loop asks the analytical core
(:class:`~hetsim.serving.pricing.IterationPricer`) what it costs. An iteration that carries
prefill work or KV copies is priced on its own. A run of decode-only iterations with an
unchanged batch (n sequences, total context S0 + n j at step j) is advanced in closed form:
step time is piecewise linear in context, so k steps take k (t_0 + t_{k-1}) / 2 and the step at
which a future arrival lands is the root of that quadratic; the KV blocks such a run needs and
the longest run the free blocks allow come from :class:`~hetsim.serving.kvcache.BlockPool`.
Work per event is O(1) in the batch (per admitted, preempted or finished request otherwise).

Energy (:mod:`hetsim.cost.power`, per device of the instance): each record adds its dynamic
joules (the pricer's energy tables; a closed-form run sums them as it sums its time) and its
*busy* seconds, the device time without the host overhead and KV copies (those draw idle power
only). With ``power_w = (idle, active, devices)`` each record's whole energy, idle included, is
split over the tokens it ran and charged to their requests, and the highest power of a record
(of the first and last step of a closed-form run) is kept.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np

from hetsim.engines.batching import EngineConfig
from hetsim.serving.kvcache import BlockPool
from hetsim.serving.placed import Levelled
from hetsim.serving.prefix import KVTier, PrefixCache
from hetsim.serving.pricing import IterationPricer
from hetsim.serving.requests import RequestSet
from hetsim.serving.runlog import RECORD_LIMIT, LoopLog, Thinned
from hetsim.serving.runs import steps_to_reach
from hetsim.serving.schedulers import Scheduler, get_scheduler
from hetsim.serving.schedulers.base import FifoQueue
from hetsim.serving.state import EngineState

__all__ = ["LoopLog", "run_engine"]


def _cache(reqs: RequestSet, eng: EngineConfig, pool: BlockPool, token_bytes: float,
           tiers: tuple[KVTier, ...]) -> PrefixCache | None:  # fmt: skip
    pid, _ = reqs.prefixes()
    if not eng.prefix_caching or not np.any(pid >= 0):
        return None
    return PrefixCache(pool, token_bytes, tiers)


def _successors(reqs: RequestSet) -> dict[int, int]:
    """The request each request's finish releases (a session's next turn)."""
    if reqs.follows is None:
        return {}
    return {int(j): i for i, j in enumerate(reqs.follows.tolist()) if j >= 0}


def run_engine(
    reqs: RequestSet,
    eng: EngineConfig,
    pricer: IterationPricer,
    *,
    total_blocks: int,
    kv_bytes_per_token: float,
    prefilled: bool = False,
    max_queue: int | None = None,
    max_time_s: float = 1e7,
    progress: Callable[[int], object] | None = None,
    levels: Levelled | None = None,
    power_w: tuple[float, float, int] = (0.0, 0.0, 1),
    tiers: tuple[KVTier, ...] = (),
    scheduler: Scheduler | None = None,
) -> LoopLog:
    """Serve ``reqs`` on one engine instance. ``prefilled``: prompts arrive with their KV
    cache (the decode side of a disaggregated pair) and only need blocks. ``levels``: cost
    tables per KV-footprint level of a multi-tier placement; the level (and so the
    placement) follows the blocks in use, each change charged as a migration. ``power_w``:
    idle and active watts per device and the instance's devices (per-request energy).
    ``tiers``: KV storage below the GPU for evicted prefixes and swapped sequences."""
    K = len(reqs)
    sched = scheduler or get_scheduler(eng.scheduler)
    pool = BlockPool(total_blocks, eng.block_size)
    cache = _cache(reqs, eng, pool, kv_bytes_per_token, tiers)
    swap_bw = tiers[0].bandwidth_bytes_per_s if tiers else eng.swap_bandwidth_bytes_per_s
    st = EngineState(reqs, eng, pool, cache, FifoQueue(), prefilled=prefilled,
                     kv_bytes_per_token=kv_bytes_per_token, swap_bytes_per_s=swap_bw)  # fmt: skip
    # a request reaches the scheduler ``o`` after the client sends it (the engine's front end);
    # the loop runs on engine arrivals and the log reports the client's (``arr - o``)
    o = 0.0 if prefilled else eng.request_overhead_s
    arr = np.asarray(reqs.arrival_s, dtype=float) + o  # by request id (released ones set later)
    st.waiting = waiting = sched.queue(st)
    closed = reqs.arrival == "closed"
    order = np.arange(K) if closed else np.argsort(arr, kind="stable")
    n_open = int(np.sum(np.isfinite(reqs.arrival_s)))
    t_open = arr[order[:n_open]]  # open arrivals in time order
    log = LoopLog(total_blocks=total_blocks)
    if K > RECORD_LIMIT:
        log.iterations, log.timeline, log.thinned = Thinned(), Thinned(), True
    idle_w, act_w, ndev = power_w
    dyn_j = busy_s = 0.0
    peak_w = idle_w
    # released by a finished request (the next request of a closed-loop user, a session's next
    # turn), not at the scheduler yet: (engine arrival, order, request)
    later: list[tuple[float, int, int]] = []
    nxt_of = _successors(reqs)
    think = reqs.think_s.tolist() if reqs.think_s is not None else []
    ai, released, t = 0, n_open, 0.0
    max_seq = eng.max_num_seqs
    on_demand = st.on_demand
    over_s, seq_over = eng.step_overhead_s, eng.seq_overhead_s
    iters, tl = log.iterations, log.timeline
    dec, pf, done, kv, ej = st.dec, st.pf, st.done, st.kv, st.ej
    events = level = 0
    stall, stalled = 0.0, 0  # seconds the decoding set waited for decode-free iterations, and its size
    block_bytes = eng.block_size * kv_bytes_per_token
    level_room = total_blocks
    if levels is not None:
        pricer = levels.pricers[0]

    def release(finished: list[int]) -> None:
        nonlocal released
        for i in finished:
            done_at = st.finish[i]
            if closed and released < K:  # the user sends the next request on receiving this one
                arr[released] = done_at + o
                heapq.heappush(later, (done_at + o, released, released))
                released += 1
            j = nxt_of.get(st.rid[i], -1) if nxt_of else -1
            if j >= 0:  # a session's next turn, after the agent's or user's think time
                arr[j] = done_at + think[j] + o
                heapq.heappush(later, (float(arr[j]), j, j))

    while st.completed < K:
        while ai < n_open and t_open[ai] <= t:
            waiting.push(st.enter(int(order[ai]), float(t_open[ai])))
            ai += 1
        while later and later[0][0] <= t:
            a, _, r = heapq.heappop(later)
            waiting.push(st.enter(r, a))
        nxt = int(order[ai]) if ai < n_open else -1  # the next request to reach the scheduler
        if later and (nxt < 0 or later[0][0] < arr[nxt]):
            nxt = later[0][2]
        if levels is not None:
            j = levels.level_of(pool.used * block_bytes)
            if j != level:
                moved, secs = levels.migration(level, j, pool.used * block_bytes)
                st.io_s += secs
                log.remaps += 1
                log.migrated_bytes += moved
                log.migration_s += secs
                level, pricer = j, levels.pricers[j]
            level_room = min(total_blocks, int(levels.level_bytes[j] // block_bytes))
        if max_queue is not None and len(waiting) > max_queue:
            log.truncated = (
                f"stopped at t = {t:.1f} s: {len(waiting)} requests waiting (bound {max_queue}); "
                "the arrival rate exceeds what the engine serves"
            )
            break
        if st.n_preempt > 100 * K + 10_000:
            log.truncated = (
                f"stopped at t = {t:.1f} s: {st.n_preempt} preemptions for {K} requests; the KV cache is "
                "too small for this load (the engine thrashes)"
            )
            break
        if t > max_time_s:
            log.truncated = f"stopped at the simulated-time bound of {max_time_s:g} s"
            break
        if not dec and not pf and not waiting:
            if nxt < 0:
                log.truncated = "stopped: no request is left to arrive"
                break
            t = float(arr[nxt])  # idle until the next arrival
            continue
        batch = sched.form(st, t)
        if prefilled and dec:  # one-token requests sent by a prefill node are done on arrival
            release(st.finish_due(t))
        chunks = batch.chunks
        n = len(dec) if batch.decode else 0
        if not chunks and not n:
            if st.io_s:
                t += st.io_s
                st.io_s = 0.0
            elif cache is not None and cache.idle:  # cached prefixes hold the blocks: evict them
                st.io_s += cache.reclaim(pool.total, partial=True)
            elif pf:  # a partial prefill cannot get blocks: free the newest
                st.preempt(max(pf, key=lambda j: (st.arr[j], st.rid[j])))
            elif nxt >= 0:  # nothing fits yet: wait for the next arrival
                t = max(t, float(arr[nxt]))
            elif not waiting:
                continue
            else:
                log.truncated = "stopped: the queue head can never get KV blocks"
                break
            continue
        if chunks or st.io_s:  # one priced iteration
            cq = [float(q) for _, q in chunks]
            cc = [float(done[i] + q) for i, q in chunks]
            busy, dj = pricer.step(n, float(st.context()) if n else 0.0, cq, cc)
            dt = busy + over_s + seq_over * (n + len(chunks)) + st.io_s
            st.io_s = 0.0
            ntok = int(sum(cq))
            iters.append((t, dt, 1, n, ntok))
            log.records += 1
            log.steps += 1
            dyn_j += dj
            busy_s += busy
            pw = act_w * busy + dj
            peak_w = max(peak_w, idle_w + pw / dt)
            per_tok = ndev * (idle_w * dt + pw) / (n + ntok)
            t += dt
            if cache is not None and cache.backlog_s:
                cache.drain(dt)
            if n and stall:
                log.stalls.append((dt + stall, dt, min(n, stalled)))
                stall = 0.0
            elif not n and dec:
                stall, stalled = stall + dt, max(stalled, len(dec)) if stall else len(dec)
            if n:
                st.e_acc += per_tok
                if on_demand:
                    pool.used += pool.grow_next(st.clock)
                st.clock += 1
            for i, q in chunks:
                ej[i] += q * per_tok
                done[i] += q
                kv[i] = done[i]
                if on_demand:
                    nb = st.own_blocks(i, kv[i])
                    pool.used += nb - st.blocks[i]
                    st.blocks[i] = nb
                if done[i] >= st.target[i]:
                    st.prefill_done(i, t)
        else:  # closed-form run of decode-only iterations with this batch
            k = st.remaining_steps()
            S0 = float(st.context())
            host = over_s + seq_over * n
            base, e_base = pricer.dense(n, n)
            base += host
            a0, ea0 = pricer.decode_attention(n, S0)
            t0 = base + a0
            e0 = ea0 + e_base
            if on_demand:
                k = pool.steps_within(st.clock, pool.free, k)
                if level_room - pool.used > 0:  # stay within this placement level
                    k = pool.steps_within(st.clock, level_room - pool.used, k)
            ak, ek = pricer.decode_attention(n, S0 + n * (k - 1)) if k > 1 else (a0, ea0)
            if nxt >= 0 and not waiting and n < max_seq and st.need_blocks_of(nxt) <= pool.free:
                gap = float(arr[nxt]) - t
                k_arr = steps_to_reach(t0, (base + ak - t0) / (k - 1) if k > 1 else 0.0, gap)
                if k_arr < k:  # the run stops at the step the arrival lands in
                    k = k_arr
                    ak, ek = pricer.decode_attention(n, S0 + n * (k - 1)) if k > 1 else (a0, ea0)
            tk, ek = base + ak, e_base + ek
            dur = k * (t0 + tk) / 2  # arithmetic series over the piecewise-linear step time
            if stall:  # the first step's gap also held the decode-free iterations before it
                log.stalls.append((dur / k + stall, dur / k, min(n, stalled)))
                stall = 0.0
            iters.append((t, dur, k, n, 0))
            log.records += 1
            log.steps += k
            dj = k * (e0 + ek) / 2  # the same series over the energy table
            busy = dur - k * host
            dyn_j += dj
            busy_s += busy
            peak_w = max(peak_w, idle_w + (act_w * (t0 - host) + e0) / t0,
                         idle_w + (act_w * (tk - host) + ek) / tk)  # fmt: skip
            st.e_acc += ndev * (idle_w * dur + act_w * busy + dj) / n
            t += dur
            if cache is not None and cache.backlog_s:
                cache.drain(dur)
            if on_demand:
                pool.used += pool.new_blocks(st.clock, k)
            st.clock += k
        if st.heap and st.heap[0][0] <= st.clock:
            finished = st.finish_due(t)
            if finished and (closed or nxt_of):
                release(finished)
        tl.append((t, pool.used, len(dec) + len(pf), len(waiting), st.n_preempt))
        if pool.used > log.kv_peak_blocks:
            log.kv_peak_blocks = pool.used
        events += 1
        if progress is not None and events % 512 == 0:
            progress(st.completed)
    return log.close(st, arr - o if o else arr, dyn_j, busy_s, peak_w, cache)
