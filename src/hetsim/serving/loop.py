"""The event-driven engine loop: continuous batching over a paged KV cache.

Time advances from event to event (an arrival the scheduler can admit, a prefill chunk, a
completion, a KV-cache exhaustion); never token by token. An iteration that carries prefill
work is priced on its own. A run of decode-only iterations with an unchanged batch (n
sequences, total context S0 + n j at step j) is advanced in closed form: step time is
piecewise linear in context, so k steps take k (t_0 + t_{k-1}) / 2 and the step at which a
future arrival lands is the root of that quadratic. Work per event is O(batch) NumPy at most.

Request life: sent by the client -> (the engine's ``request_overhead_s`` of front-end time) ->
waiting -> admitted (KV blocks) -> prefill chunk(s) -> first token -> one token
per decode iteration -> finished (blocks freed). A preempted request (KV blocks ran out)
returns to the front of the queue: by *recompute* (its KV is dropped and prompt + generated
tokens are prefilled again) or *swap* (its KV is copied to host memory and back, charged on
``swap_bandwidth_bytes_per_s``).

Energy (:mod:`hetsim.cost.power`, per device of the instance): each record adds its dynamic
joules (the pricer's energy tables; a closed-form run sums them as it sums its time) and its
*busy* seconds, the device time without the host overhead and swap or migration traffic
(those draw idle power only). With ``power_w = (idle, active, devices)`` each record's whole
energy, idle included, is split over the tokens it ran and charged to their requests, and
the highest power of a record (of the first and last step of a closed-form run) is kept.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from hetsim.serving.engine import EngineConfig
from hetsim.serving.placed import Levelled
from hetsim.serving.pricing import IterationPricer
from hetsim.serving.requests import RequestSet
from hetsim.serving.runs import kv_steps, steps_to_reach


@dataclass(slots=True)
class LoopLog:
    """What the loop records: per request, per event and over time (all O(events))."""

    first_token_s: np.ndarray
    finish_s: np.ndarray
    arrival_s: np.ndarray
    preemptions: np.ndarray
    # one row per priced iteration or closed-form run: start, duration, steps, decode
    # sequences, prefill tokens
    iterations: list[tuple[float, float, int, int, int]] = field(default_factory=list)
    # one row per event: time, KV blocks used, running, waiting, preemptions so far
    timeline: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    total_blocks: int = 0
    truncated: str = ""  # why the run stopped early ("" when every request finished)
    remaps: int = 0  # placement re-decided (a multi-tier system under a dynamic policy)
    migrated_bytes: float = 0.0
    migration_s: float = 0.0
    dynamic_j: float = 0.0  # dynamic energy per device of the instance (J)
    busy_s: float = 0.0  # seconds the devices ran kernels
    request_energy_j: list[float] = field(default_factory=list)  # per request, whole instance (J)
    peak_power_w: float = 0.0  # highest power of one device over a record (W)


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
    progress: object | None = None,
    levels: Levelled | None = None,
    power_w: tuple[float, float, int] = (0.0, 0.0, 1),
) -> LoopLog:
    """Serve ``reqs`` on one engine instance. ``prefilled``: prompts arrive with their KV
    cache (the decode side of a disaggregated pair) and only need blocks. ``levels``: cost
    tables per KV-footprint level of a multi-tier placement; the level (and so the
    placement) follows the blocks in use, each change charged as a migration. ``power_w``:
    idle and active watts per device and the instance's devices (per-request energy)."""
    K = len(reqs)
    bs = eng.block_size
    P = [int(x) for x in reqs.input_len]
    G = [int(x) for x in reqs.output_len]
    # a request reaches the scheduler ``o`` after the client sends it (the engine's front end);
    # the loop runs on engine arrivals and the log reports the client's (``arr - o``)
    o = 0.0 if prefilled else eng.request_overhead_s
    arr = np.array(reqs.arrival_s, dtype=float) + o
    closed = reqs.arrival == "closed"
    prefix = reqs.prefix_len if eng.prefix_caching else 0
    prefix_ready = False
    prefix_blocks = -(-prefix // bs)
    target = list(P)  # prompt tokens a prefill must cover (grows on recompute)
    done = [0] * K  # of them computed
    kv = [0] * K  # tokens in the KV cache
    shared = [0] * K  # of them in the shared prefix blocks
    swapped = [False] * K  # KV cache parked in host memory
    gen = [0] * K
    blocks = [0] * K
    first = np.full(K, np.nan)
    finish = np.full(K, np.nan)
    npre = np.zeros(K, dtype=np.int64)
    log = LoopLog(first, finish, arr, npre, total_blocks=total_blocks)
    idle_w, act_w, ndev = power_w
    ej = log.request_energy_j = [0.0] * K
    dyn_j = busy_s = 0.0
    peak_w = idle_w
    waiting: deque[int] = deque()
    sent: deque[int] = deque()  # closed loop: released, still in the front end (engine arrival ahead)
    dec: list[int] = []  # decoding, in admission order
    pf: list[int] = []  # admitted, prefill not finished, in admission order
    swapped_io = 0.0  # seconds of swap traffic to charge to the next iteration
    used = 0
    n_preempt = 0
    completed = 0
    order = [int(i) for i in np.argsort(arr, kind="stable")] if not closed else list(range(K))
    n_open = int(np.sum(np.isfinite(arr)))
    ai = 0  # next arrival in ``order``
    released = n_open
    t = 0.0
    max_tok, max_seq = eng.max_num_batched_tokens, eng.max_num_seqs
    mix, chunked, on_demand = eng.mix_prefill_decode, eng.chunked_prefill, eng.reservation == "on_demand"
    over_s, seq_over = eng.step_overhead_s, eng.seq_overhead_s
    iters, tl = log.iterations, log.timeline

    def own_blocks(i: int, tokens: int) -> int:
        return -(-(tokens - shared[i]) // bs)

    def start_of(i: int) -> int:
        return prefix if (prefix and prefix_ready and done[i] == 0 and not swapped[i]) else done[i]

    def need_blocks(i: int) -> int:
        """Blocks to admit request i now."""
        if not on_demand:
            return own_blocks(i, P[i] + G[i])
        if prefilled or swapped[i]:  # its KV, and a slot for the token it decodes next
            return own_blocks(i, max(kv[i], target[i]) + 1)
        s0 = start_of(i)
        q = target[i] - s0
        return -(
            -(s0 + (min(q, max_tok) if chunked else q) - (prefix if s0 == prefix and prefix else 0)) // bs
        )

    def set_blocks(i: int) -> None:
        nonlocal used
        nb = own_blocks(i, kv[i])
        used += nb - blocks[i]
        blocks[i] = nb

    def preempt(i: int) -> None:
        nonlocal used, n_preempt, swapped_io
        (dec if i in dec else pf).remove(i)
        used -= blocks[i]
        blocks[i] = 0
        npre[i] += 1
        n_preempt += 1
        if eng.preemption == "swap" and i not in pf:
            swapped_io += kv[i] * kv_bytes_per_token / eng.swap_bandwidth_bytes_per_s  # copy out
            swapped[i] = True
        else:  # recompute: prompt and generated tokens are prefilled again
            target[i], done[i], kv[i], shared[i] = P[i] + gen[i], 0, 0, 0
        waiting.appendleft(i)

    def finish_req(i: int, when: float) -> None:
        nonlocal used, completed, released
        finish[i] = when
        used -= blocks[i]
        blocks[i] = 0
        completed += 1
        if closed and released < K:  # the user sends the next request on receiving this one
            arr[released] = when + o
            (sent if o else waiting).append(released)  # with o: the scheduler sees it later
            released += 1

    def make_room_for_decode() -> int:
        """Preempt the newest requests until every decode token has a KV slot; returns the
        blocks the decode tokens take."""
        grow = sum(1 for i in dec if (kv[i] - shared[i]) % bs == 0)
        while grow > total_blocks - used and (dec or pf):
            victim = max(dec + pf, key=lambda j: (arr[j], j))
            if victim in dec and (kv[victim] - shared[victim]) % bs == 0:
                grow -= 1
            preempt(victim)
        return grow

    def admit_direct(i: int, nb: int) -> None:
        """Into the decode set without a prefill (swapped back in, or KV sent by a prefill node)."""
        nonlocal swapped_io, used
        if swapped[i]:
            swapped_io += kv[i] * kv_bytes_per_token / eng.swap_bandwidth_bytes_per_s  # copy in
            swapped[i] = False
        else:
            done[i] = kv[i] = target[i]
            gen[i] = 1
            if first[i] != first[i]:
                first[i] = arr[i]
        used += nb - blocks[i]
        blocks[i] = nb
        dec.append(i)

    def form_chunks(room: int, reserve: int) -> list[tuple[int, int]]:
        """Prefill chunks within ``room`` tokens, leaving ``reserve`` blocks for the decodes."""
        nonlocal used
        chunks: list[tuple[int, int]] = []
        cap = total_blocks - reserve
        for i in pf:
            if room <= 0:
                break
            q = target[i] - done[i]
            q = min(q, room) if chunked else q
            if q > room:
                break
            if on_demand:
                extra = own_blocks(i, done[i] + q) - blocks[i]
                if extra > cap - used:
                    break
                used += extra  # allocated now, so the admissions below see them taken
                blocks[i] += extra
            chunks.append((i, q))
            room -= q
        while waiting and room > 0 and len(dec) + len(pf) < max_seq:
            i = waiting[0]
            nb = need_blocks(i)
            if nb > cap - used:
                break
            if prefilled or swapped[i]:
                waiting.popleft()
                admit_direct(i, nb)
                room -= 1 if mix else 0  # it decodes in this iteration
                continue
            s0 = start_of(i)
            q = target[i] - s0
            if not chunked and q > room:
                break
            q = min(q, room)
            waiting.popleft()
            shared[i] = prefix if (s0 and s0 == prefix) else 0
            done[i] = kv[i] = s0
            used += nb - blocks[i]
            blocks[i] = nb
            pf.append(i)
            chunks.append((i, q))
            room -= q
        return chunks

    events = 0
    level = 0
    block_bytes = bs * kv_bytes_per_token
    level_room = total_blocks
    if levels is not None:
        pricer = levels.pricers[0]
    while completed < K:
        while ai < n_open and arr[order[ai]] <= t:
            waiting.append(order[ai])
            ai += 1
        while sent and arr[sent[0]] <= t:
            waiting.append(sent.popleft())
        nxt = order[ai] if ai < n_open else -1  # the next request to reach the scheduler
        if sent and (nxt < 0 or arr[sent[0]] < arr[nxt]):
            nxt = sent[0]
        if levels is not None:
            j = levels.level_of(used * block_bytes)
            if j != level:
                moved, secs = levels.migration(level, j, used * block_bytes)
                swapped_io += secs
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
        if t > max_time_s:
            log.truncated = f"stopped at the simulated-time bound of {max_time_s:g} s"
            break
        if not dec and not pf and not waiting:
            t = float(arr[nxt])  # idle until the next arrival
            continue
        if mix:
            reserve = make_room_for_decode() if on_demand and dec else 0
            chunks = form_chunks(max_tok - len(dec), reserve)
            decoders = dec
        else:  # a prefill iteration when there is prefill work, else a decode iteration
            chunks = form_chunks(max_tok, 0)
            if not chunks and on_demand and dec:
                make_room_for_decode()
            decoders = [] if chunks else dec
        if prefilled:
            for i in [j for j in dec if gen[j] >= G[j]]:  # one-token requests sent by a prefill node
                dec.remove(i)
                finish_req(i, t)
        n = len(decoders)
        if not chunks and not n:
            if swapped_io:
                t += swapped_io
                swapped_io = 0.0
            elif pf:  # a partial prefill cannot get blocks: free the newest
                preempt(max(pf, key=lambda j: (arr[j], j)))
            elif nxt >= 0:  # nothing fits yet: wait for the next arrival
                t = max(t, float(arr[nxt]))
            elif not waiting:
                continue
            else:
                log.truncated = "stopped: the queue head can never get KV blocks"
                break
            continue
        runs = not (chunks or swapped_io)
        if not runs:
            ctx = float(sum([kv[i] for i in decoders]) + n)
            cq = [float(q) for _, q in chunks]
            cc = [float(done[i] + q) for i, q in chunks]
            busy, dj = pricer.step(n, ctx, cq, cc)
            dt = busy + over_s + seq_over * (n + len(chunks)) + swapped_io
            swapped_io = 0.0
            ntok = int(sum(cq))
            iters.append((t, dt, 1, n, ntok))
            dyn_j += dj
            busy_s += busy
            pw = act_w * busy + dj
            peak_w = max(peak_w, idle_w + pw / dt)
            per_tok = ndev * (idle_w * dt + pw) / (n + ntok)
            for i in decoders:
                ej[i] += per_tok
            for i, q in chunks:
                ej[i] += q * per_tok
            t += dt
            for i in decoders:
                kv[i] += 1
                gen[i] += 1
                if on_demand:
                    set_blocks(i)
            for i, q in chunks:
                done[i] += q
                kv[i] = done[i]
                if on_demand:
                    set_blocks(i)
                if done[i] >= target[i]:
                    pf.remove(i)
                    dec.append(i)
                    gen[i] += 1
                    if first[i] != first[i]:
                        first[i] = t
                    if prefix and not prefix_ready and target[i] >= prefix:
                        prefix_ready = True
                        used += prefix_blocks
        else:
            # closed-form run of decode-only iterations with this batch
            rem = min([G[i] - gen[i] for i in dec])
            k = rem
            S0 = float(sum([kv[i] for i in dec]) + n)
            host = over_s + seq_over * n
            base, e_base = pricer.dense(n, n)
            base += host
            a0, e0 = pricer.decode_attention(n, S0)
            t0 = base + a0
            e0 += e_base
            if on_demand:
                own = np.array([kv[i] - shared[i] for i in dec])
                k = min(k, kv_steps(own, bs, total_blocks - used, k))
                if level_room - used > 0:  # stay within this placement level
                    k = min(k, kv_steps(own, bs, level_room - used, k))
            if nxt >= 0 and not waiting and len(dec) < max_seq and need_blocks(nxt) <= total_blocks - used:
                tk = base + pricer.decode_attention(n, S0 + n * (k - 1))[0]
                k = min(k, steps_to_reach(t0, (tk - t0) / (k - 1) if k > 1 else 0.0, float(arr[nxt]) - t))
            ak, ek = pricer.decode_attention(n, S0 + n * (k - 1))
            tk, ek = base + ak, e_base + ek
            dur = k * (t0 + tk) / 2  # arithmetic series over the piecewise-linear step time
            iters.append((t, dur, k, n, 0))
            dj = k * (e0 + ek) / 2  # the same series over the energy table
            busy = dur - k * host
            dyn_j += dj
            busy_s += busy
            peak_w = max(peak_w, idle_w + (act_w * (t0 - host) + e0) / t0,
                         idle_w + (act_w * (tk - host) + ek) / tk)  # fmt: skip
            share = ndev * (idle_w * dur + act_w * busy + dj) / n
            t += dur
            for i in dec:
                kv[i] += k
                gen[i] += k
                ej[i] += share
            if on_demand:
                for i in dec:
                    set_blocks(i)
        if not runs or k == rem:
            for i in [j for j in dec if gen[j] >= G[j]]:
                dec.remove(i)
                finish_req(i, t)
        tl.append((t, used, len(dec) + len(pf), len(waiting), n_preempt))
        events += 1
        if progress is not None and events % 512 == 0:
            progress(completed)  # type: ignore[operator]
    log.dynamic_j, log.busy_s, log.peak_power_w = dyn_j, busy_s, peak_w
    if o:
        log.arrival_s = arr - o
    return log
