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

from collections.abc import Callable

import numpy as np

from hetsim.engines.batching import EngineConfig
from hetsim.serving.arrivals import Arrivals
from hetsim.serving.iterate import Meter, decode_run, priced_iteration
from hetsim.serving.kvcache import BlockPool
from hetsim.serving.placed import Levelled
from hetsim.serving.prefix import KVTier, PrefixCache
from hetsim.serving.pricing import IterationPricer
from hetsim.serving.requests import RequestSet
from hetsim.serving.runlog import RECORD_LIMIT, LoopLog, Thinned
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


_THRASH_PER_REQUEST, _THRASH_FLOOR = 100, 10_000  # preemptions beyond which a run thrashes


def _stop_reason(st: EngineState, t: float, max_queue: int | None, max_time_s: float, K: int) -> str:
    """Why the run stops here ("" : it goes on): an unbounded queue, thrashing, the time bound."""
    if max_queue is not None and len(st.waiting) > max_queue:
        return (f"stopped at t = {t:.1f} s: {len(st.waiting)} requests waiting (bound {max_queue}); "
                "the arrival rate exceeds what the engine serves")  # fmt: skip
    if st.n_preempt > _THRASH_PER_REQUEST * K + _THRASH_FLOOR:
        return (f"stopped at t = {t:.1f} s: {st.n_preempt} preemptions for {K} requests; the KV cache is "
                "too small for this load (the engine thrashes)")  # fmt: skip
    if t > max_time_s:
        return f"stopped at the simulated-time bound of {max_time_s:g} s"
    return ""


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
    # a request reaches the scheduler the engine's front-end time after the client sends it
    src = Arrivals(reqs, 0.0 if prefilled else eng.request_overhead_s)
    st.waiting = waiting = sched.queue(st)
    log = LoopLog(total_blocks=total_blocks)
    if K > RECORD_LIMIT:
        log.iterations, log.timeline, log.thinned = Thinned(), Thinned(), True
    meter = Meter(*power_w, eng.step_overhead_s, eng.seq_overhead_s)
    max_seq, tl, dec, pf = eng.max_num_seqs, log.timeline, st.dec, st.pf
    events = level = 0
    kept = st.kept
    thrash = _THRASH_PER_REQUEST * K + _THRASH_FLOOR
    t = 0.0
    block_bytes = eng.block_size * kv_bytes_per_token
    level_room = total_blocks
    if levels is not None:
        pricer = levels.pricers[0]
    form = sched.form
    need_of, need = -1, 0  # the blocks the next arrival needs (fixed for a request without a prefix cache)
    while st.completed < K:
        nxt, t_nxt = src.admit(st, t)
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
        if t > max_time_s or st.n_preempt > thrash or (max_queue is not None and len(waiting) > max_queue):
            log.truncated = _stop_reason(st, t, max_queue, max_time_s, K)
            break
        if not dec and not pf and not waiting:
            if nxt < 0:
                log.truncated = "stopped: no request is left to arrive"
                break
            t = t_nxt  # idle until the next arrival
            continue
        batch = form(st, t)
        if kept is not None and pool.used > kept.floor:  # the pool took blocks a preempted request kept
            kept.evict(pool.used)
        if prefilled and dec:  # one-token requests sent by a prefill node are done on arrival
            src.release(st, st.finish_due(t))
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
                t = max(t, t_nxt)
            elif not waiting:
                continue
            else:
                log.truncated = "stopped: the queue head can never get KV blocks"
                break
            continue
        if chunks or st.io_s or batch.held:  # one priced iteration
            t = priced_iteration(st, pricer, chunks, n, t, meter, log)
        else:  # closed-form run of decode-only iterations with this batch
            room = level_room - pool.used if level_room - pool.used > 0 else 0
            if nxt != need_of or cache is not None:
                need_of, need = nxt, st.need_blocks_of(nxt) if nxt >= 0 else 0
            admit_next = nxt >= 0 and not waiting and n < max_seq and need <= pool.free
            t = decode_run(st, pricer, n, t, meter, log, room, t_nxt - t if admit_next else None)
        if kept is not None and pool.used > kept.floor:
            kept.evict(pool.used)
        if st.heap and st.heap[0][0] <= st.clock:
            finished = st.finish_due(t)
            if finished and src.releases:
                src.release(st, finished)
        tl.append((t, pool.used, len(dec) + len(pf), len(waiting), st.n_preempt))
        if pool.used > log.kv_peak_blocks:
            log.kv_peak_blocks = pool.used
        events += 1
        if progress is not None and events % 512 == 0:
            progress(st.completed)
    return log.close(st, src.clients(), meter.dyn_j, meter.busy_s, meter.peak_w, cache)
