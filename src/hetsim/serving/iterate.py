"""One event of the engine loop, priced by the analytical core: an iteration carrying prefill
chunks (or KV copies), or a closed-form run of k decode-only iterations with an unchanged batch
(step time piecewise linear in context, so k steps take k (t_0 + t_{k-1}) / 2 and the step at
which a future arrival lands is the root of that quadratic). Both advance the instance's state
and charge time, energy and power (:class:`Meter`)."""

from __future__ import annotations

from dataclasses import dataclass

from hetsim.serving.pricing import IterationPricer
from hetsim.serving.runlog import LoopLog
from hetsim.serving.runs import steps_to_reach
from hetsim.serving.state import EngineState


@dataclass(slots=True)
class Meter:
    """Energy and power of one instance (per device; ``n_devices`` of them), host overheads,
    and the wait of the decoding set through decode-free iterations (for the ITL samples)."""

    idle_w: float
    act_w: float
    n_devices: int
    step_overhead_s: float
    seq_overhead_s: float
    dyn_j: float = 0.0
    busy_s: float = 0.0
    peak_w: float = 0.0
    stall_s: float = 0.0  # seconds the decoding set has waited for decode-free iterations
    stalled: int = 0  # its size then

    def __post_init__(self) -> None:
        self.peak_w = self.idle_w


def priced_iteration(
    st: EngineState, pricer: IterationPricer, chunks: list[tuple[int, int]], n: int, t: float, m: Meter,
    log: LoopLog,
) -> float:  # fmt: skip
    """One iteration of ``n`` decodes and prefill ``chunks`` (and pending KV copies); returns
    the time it ends."""
    done, kv, ej, pool = st.done, st.kv, st.ej, st.pool
    if len(chunks) == 1:  # the common case: one prompt (chunk) beside the decodes
        i, q = chunks[0]
        cq, cc, ntok = [float(q)], [float(done[i] + q)], q
    else:
        cq = [float(q) for _, q in chunks]
        cc = [float(done[i] + q) for i, q in chunks]
        ntok = int(sum(cq))
    busy, dj = pricer.step(n, float(st.context()) if n else 0.0, cq, cc)
    dt = busy + m.step_overhead_s + m.seq_overhead_s * (n + len(chunks)) + st.io_s
    st.io_s = 0.0
    log.iterations.append((t, dt, 1, n, ntok))
    log.records += 1
    log.steps += 1
    m.dyn_j += dj
    m.busy_s += busy
    idle_w = m.idle_w
    pw = m.act_w * busy + dj
    peak = idle_w + pw / dt
    if peak > m.peak_w:
        m.peak_w = peak
    per_tok = m.n_devices * (idle_w * dt + pw) / (n + ntok)
    t += dt
    if st.cache is not None and st.cache.backlog_s:
        st.cache.drain(dt)
    if n and m.stall_s:
        log.stalls.append((dt + m.stall_s, dt, min(n, m.stalled)))
        m.stall_s = 0.0
    elif not n and st.dec:
        m.stalled = max(m.stalled, len(st.dec)) if m.stall_s else len(st.dec)
        m.stall_s += dt
    if n:
        st.e_acc += per_tok
        if st.on_demand:
            pool.used += pool.grow_next(st.clock)
        st.clock += 1
    for i, q in chunks:
        ej[i] += q * per_tok
        done[i] += q
        kv[i] = done[i]
        if st.on_demand:
            nb = st.own_blocks(i, kv[i])
            pool.used += nb - st.blocks[i]
            st.blocks[i] = nb
        if done[i] >= st.target[i]:
            st.prefill_done(i, t)
    return t


def decode_run(
    st: EngineState, pricer: IterationPricer, n: int, t: float, m: Meter, log: LoopLog, level_room: int,
    arrival_gap: float | None,
) -> float:  # fmt: skip
    """As many decode-only steps of the ``n`` decoding sequences as nothing changes in: until
    the next request finishes, the free KV blocks (and ``level_room`` blocks of a placement
    level, 0: no bound) run out, or an admissible request arrives ``arrival_gap`` from now;
    returns the time the run ends."""
    pool = st.pool
    k = st.remaining_steps()
    S0 = float(st.kv_base_sum + n * st.clock + n)  # st.context(), inline
    host = m.step_overhead_s + m.seq_overhead_s * n
    base, e_base = pricer.decode_dense(n)
    base += host
    a0, ea0 = pricer.decode_attention(n, S0)
    t0 = base + a0
    e0 = ea0 + e_base
    if st.on_demand:
        k = pool.steps_within(st.clock, pool.free, k)
        if level_room > 0:  # stay within this placement level
            k = pool.steps_within(st.clock, level_room, k)
    ak, ek = pricer.decode_attention(n, S0 + n * (k - 1)) if k > 1 else (a0, ea0)
    if arrival_gap is not None:
        k_arr = steps_to_reach(t0, (base + ak - t0) / (k - 1) if k > 1 else 0.0, arrival_gap)
        if k_arr < k:  # the run stops at the step the arrival lands in
            k = k_arr
            ak, ek = pricer.decode_attention(n, S0 + n * (k - 1)) if k > 1 else (a0, ea0)
    tk, ek = base + ak, e_base + ek
    dur = k * (t0 + tk) / 2  # arithmetic series over the piecewise-linear step time
    if m.stall_s:  # the first step's gap also held the decode-free iterations before it
        log.stalls.append((dur / k + m.stall_s, dur / k, min(n, m.stalled)))
        m.stall_s = 0.0
    log.iterations.append((t, dur, k, n, 0))
    log.records += 1
    log.steps += k
    dj = k * (e0 + ek) / 2  # the same series over the energy table
    busy = dur - k * host
    m.dyn_j += dj
    m.busy_s += busy
    idle_w, act_w = m.idle_w, m.act_w
    peak = max(idle_w + (act_w * (t0 - host) + e0) / t0, idle_w + (act_w * (tk - host) + ek) / tk)
    if peak > m.peak_w:
        m.peak_w = peak
    st.e_acc += m.n_devices * (idle_w * dur + act_w * busy + dj) / n
    t += dur
    if st.cache is not None and st.cache.backlog_s:
        st.cache.drain(dur)
    if st.on_demand:
        pool.used += pool.new_blocks(st.clock, k)
    st.clock += k
    return t
