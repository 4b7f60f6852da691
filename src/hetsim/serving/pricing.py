"""Iteration pricing for a batch that mixes prefill chunks and decode tokens.

One forward pass of a continuous-batching engine runs ``T`` tokens: one per decoding
sequence and ``q_i`` per prefill chunk. Its ops split by what their work depends on (all
counts come from :func:`hetsim.workload.graph.build_ops`, all prices from :mod:`hetsim.cost`):

- *token ops* (QKV/output/FFN GEMMs, norms, activations, residuals, embedding, all-reduces):
  a function of ``T`` only (GEMM M = T) -> table ``token_s[T]``;
- *sequence ops* (final norm, LM head: logits of the last position of each sequence):
  a function of the number of sequences ``n`` -> table ``seq_s[n]``;
- *decode attention*: n sequences reading ``S = sum of contexts`` cached tokens; flop and KV
  bytes are linear in S, so it is tabulated per n on a grid of the mean context S/n and
  interpolated linearly: step time is piecewise linear in context;
- *prefill attention* of a chunk of ``q`` new tokens at context ``c`` (c - q cached before
  it): tabulated on a (q, c) grid, interpolated bilinearly in log space. Chunks are priced
  one by one and added (a varlen kernel runs each sequence's tiles).

Each time table has an energy table beside it (``*_j``: dynamic joules per device from the
same op costs, :class:`hetsim.cost.roofline.Cost` ``energy_j``), interpolated the same way, so
a closed-form decode run sums its energy as it sums its time. Every time entry is at least its
dynamic energy over the board's power headroom (:func:`hetsim.cost.power.throttled_s`): the
board throttles rather than draw above its ceiling. Applied part by part (dense, sequence,
attention), so an iteration, a sum of parts, stays within the ceiling too; that is at most
the static path's per-phase rule, never below it.

Tables are built once per (model, hardware, precision, tp, engine limits) with one
vectorised pricing call each, so pricing an iteration costs a few table look-ups and a decode
run of k steps with an unchanged batch is summed in closed form (arithmetic series over the
piecewise-linear step time). ``op_pricer`` is the hook for placement policies: any function
from ops to costs (e.g. a placement that spreads tensors over memory sides) can price them.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetsim.cost.collectives import for_engine
from hetsim.cost.power import throttled_s
from hetsim.cost.roofline import Cost, price
from hetsim.engines.host import Serving
from hetsim.errors import ConfigError
from hetsim.hardware.spec import Device
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import NO_EP, ExpertParallel
from hetsim.workload.graph import build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import FloatArray, Op

OpPricer = Callable[[list[Op]], list[Cost]]
SEQ_OPS = ("final_norm", "lm_head")
DECODE_GRID = 48  # mean-context points of the decode-attention table
PREFILL_GRID = 28  # points per axis of the prefill-attention table


def default_op_pricer(dev: Device, prec: Precision, tp: int) -> OpPricer:
    """Every op on the device's primary side (the homogeneous path of :mod:`hetsim.sim`)."""

    def run(ops: list[Op]) -> list[Cost]:
        return [price(op, dev, prec, tp) for op in ops]

    return run


def _times(
    ops: list[Op], costs: list[Cost], keep: Callable[[Op], bool], shape: tuple[int, ...], dev: Device
) -> tuple[FloatArray, FloatArray]:
    """(seconds, dynamic joules) of the kept ops, the seconds throttled to the power limit."""
    t, e = np.zeros(shape), np.zeros(shape)
    for op, c in zip(ops, costs, strict=True):
        if keep(op):
            t = t + np.broadcast_to(np.asarray(c.time_s, dtype=float), shape)
            e = e + np.broadcast_to(np.asarray(c.energy_j, dtype=float), shape)
    return np.asarray(throttled_s(t, e, dev), dtype=float), e


def _geom(lo: float, hi: float, n: int) -> FloatArray:
    return np.unique(np.rint(np.geomspace(lo, max(hi, lo + 1), n)))


@dataclass(frozen=True, slots=True)
class IterationPricer:
    """Seconds and dynamic joules (per device) of one forward pass (device time, no host
    overhead) from look-up tables. Each look-up returns the pair (seconds, joules)."""

    token_s: FloatArray  # (T_max + 1,) token ops at T tokens
    seq_s: FloatArray  # (N_max + 1,) sequence ops at n sequences
    dec_x: FloatArray  # (X,) mean context per decoding sequence (tokens)
    dec_s: FloatArray  # (N_max + 1, X) decode attention at n sequences, mean context x
    pre_lq: FloatArray  # (Q,) log chunk tokens
    pre_lc: FloatArray  # (C,) log context after the chunk
    pre_ls: FloatArray  # (Q, C) log seconds of a chunk's attention
    # dynamic joules per device, same shapes as the tables above
    token_j: FloatArray
    seq_j: FloatArray
    dec_j: FloatArray
    pre_lj: FloatArray  # log joules
    # a decode-only iteration of n sequences (token and sequence ops) as the engine runs it: at
    # its CUDA graph's padded batch, its all-reduces captured (cost.collectives.for_engine, as
    # analyze's decode step); empty: the engine replays no graph, the token and sequence tables
    graph_s: FloatArray = field(default_factory=lambda: np.zeros(0))
    graph_j: FloatArray = field(default_factory=lambda: np.zeros(0))
    # the same tables as Python lists: the loop's scalar look-ups skip NumPy's per-call cost
    _lists: tuple[list[Any], ...] = field(init=False, repr=False, compare=False)
    _decode: tuple[list[float], list[float]] = field(init=False, repr=False, compare=False)
    # one chunk's attention by (tokens, context): serving workloads repeat their chunk shapes
    _chunk: dict[tuple[float, float], tuple[float, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lists = (self.dec_x.tolist(), self.dec_s.tolist(), self.dec_j.tolist(), self.pre_lq.tolist(),
                 self.pre_lc.tolist(), self.pre_ls.tolist(), self.pre_lj.tolist(), self.token_s.tolist(),
                 self.seq_s.tolist(), self.token_j.tolist(), self.seq_j.tolist())  # fmt: skip
        object.__setattr__(self, "_lists", lists)
        # a decode-only iteration's token and sequence ops by n: the graph table where the engine
        # replays one, else the token and sequence tables (one look-up in the loop)
        n = min(len(self.seq_s), len(self.token_s))
        g = len(self.graph_s)
        dt = np.concatenate([self.graph_s, self.token_s[g:n] + self.seq_s[g:n]])
        dj = np.concatenate([self.graph_j, self.token_j[g:n] + self.seq_j[g:n]])
        object.__setattr__(self, "_decode", (dt.tolist(), dj.tolist()))
        object.__setattr__(self, "_chunk", {})

    @property
    def max_tokens(self) -> int:
        return len(self.token_s) - 1

    @property
    def max_seqs(self) -> int:
        return len(self.seq_s) - 1

    def decode_attention(self, n: int, total_context: float) -> tuple[float, float]:
        """Attention of ``n`` decoding sequences reading ``total_context`` cached tokens:
        linear in the mean context between grid points, constant beyond the grid."""
        if n <= 0:
            return 0.0, 0.0
        lists = self._lists
        xs, ts, js = lists[0], lists[1][n], lists[2][n]
        x = total_context / n
        if x <= xs[0]:  # _segment inline (the loop's hottest look-up), the same arithmetic
            return ts[0], js[0]
        i = len(xs) - 2 if x >= xs[-1] else bisect_right(xs, x) - 1
        f = 1.0 if x >= xs[-1] else (x - xs[i]) / (xs[i + 1] - xs[i])
        return ts[i] + f * (ts[i + 1] - ts[i]), js[i] + f * (js[i + 1] - js[i])

    def prefill_attention(self, q: Sequence[float], c: Sequence[float]) -> tuple[float, float]:
        """Attention of prefill chunks: ``q[i]`` new tokens at context ``c[i]`` (>= q[i])."""
        if len(q) > 8:
            lq, lc = np.log(np.asarray(q, dtype=float)), np.log(np.asarray(c, dtype=float))
            return (
                float(np.exp(_bilinear(self.pre_lq, self.pre_lc, self.pre_ls, lq, lc)).sum()),
                float(np.exp(_bilinear(self.pre_lq, self.pre_lc, self.pre_lj, lq, lc)).sum()),
            )
        t = e = 0.0
        memo = self._chunk
        for a, b in zip(q, c, strict=True):
            hit = memo.get((a, b))
            if hit is None:
                if len(memo) >= _CHUNK_MEMO:
                    memo.clear()
                hit = memo[a, b] = self._chunk_attention(a, b)
            t += hit[0]
            e += hit[1]
        return t, e

    def _chunk_attention(self, a: float, b: float) -> tuple[float, float]:
        gx, gy, zs, zj = self._lists[3:7]
        i, fx = _segment(gx, math.log(a))
        j, fy = _segment(gy, math.log(b))
        w = ((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy)
        t = math.exp(w[0] * zs[i][j] + w[1] * zs[i + 1][j] + w[2] * zs[i][j + 1] + w[3] * zs[i + 1][j + 1])
        e = math.exp(w[0] * zj[i][j] + w[1] * zj[i + 1][j] + w[2] * zj[i][j + 1] + w[3] * zj[i + 1][j + 1])
        return t, e

    def dense(self, tokens: int, seqs: int) -> tuple[float, float]:
        """Token and sequence ops of an iteration of ``tokens`` tokens over ``seqs`` sequences."""
        ts, ss, tj, sj = self._lists[7:11]
        return ts[tokens] + ss[seqs], tj[tokens] + sj[seqs]

    def decode_dense(self, n: int) -> tuple[float, float]:
        """Token and sequence ops of a decode-only iteration of ``n`` sequences."""
        dt, dj = self._decode
        return dt[n], dj[n]

    def step(
        self, n_decode: int, decode_context: float, chunks_q: Sequence[float], chunks_c: Sequence[float]
    ) -> tuple[float, float]:
        """One iteration: ``n_decode`` decode tokens reading ``decode_context`` cached tokens in
        total, plus prefill chunks (``chunks_q`` new tokens at contexts ``chunks_c``)."""
        if not chunks_q:
            d0, d1 = self.decode_dense(n_decode)
            a0, a1 = self.decode_attention(n_decode, decode_context)
            return d0 + a0, d1 + a1
        tokens = n_decode + int(sum(chunks_q))
        _, _, _, _, _, _, _, ts, ss, tj, sj = self._lists
        seqs = n_decode + len(chunks_q)
        d0, d1 = ts[tokens] + ss[seqs], tj[tokens] + sj[seqs]
        a0, a1 = self.decode_attention(n_decode, decode_context) if n_decode else (0.0, 0.0)
        p0, p1 = self.prefill_attention(chunks_q, chunks_c) if chunks_q else (0.0, 0.0)
        return d0 + a0 + p0, d1 + a1 + p1

    def step_s(
        self, n_decode: int, decode_context: float, chunks_q: Sequence[float], chunks_c: Sequence[float]
    ) -> float:
        return self.step(n_decode, decode_context, chunks_q, chunks_c)[0]


_CHUNK_MEMO = 4096  # chunk shapes remembered per pricer (cleared when full: bounded memory)


def _segment(grid: list[float], x: float) -> tuple[int, float]:
    """Segment ``i`` of a sorted grid holding ``x`` and the fraction along it (clamped to the
    grid's ends, as ``np.interp``)."""
    if x <= grid[0]:
        return 0, 0.0
    if x >= grid[-1]:
        return len(grid) - 2, 1.0
    i = bisect_right(grid, x) - 1
    return i, (x - grid[i]) / (grid[i + 1] - grid[i])


def _bilinear(gx: FloatArray, gy: FloatArray, z: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    x = np.clip(x, gx[0], gx[-1])
    y = np.clip(y, gy[0], gy[-1])
    i = np.clip(np.searchsorted(gx, x) - 1, 0, len(gx) - 2)
    j = np.clip(np.searchsorted(gy, y) - 1, 0, len(gy) - 2)
    fx = (x - gx[i]) / (gx[i + 1] - gx[i])
    fy = (y - gy[j]) / (gy[j + 1] - gy[j])
    out: FloatArray = (
        z[i, j] * (1 - fx) * (1 - fy)
        + z[i + 1, j] * fx * (1 - fy)
        + z[i, j + 1] * (1 - fx) * fy
        + z[i + 1, j + 1] * fx * fy
    )
    return out


def build_pricer(
    model: ModelSpec,
    dev: Device,
    prec: Precision,
    *,
    tp: int,
    max_tokens: int,
    max_seqs: int,
    max_context: int,
    op_pricer: OpPricer | None = None,
    experts: ExpertParallel = NO_EP,
    serving: Serving = Serving(),
) -> IterationPricer:
    """Tables for iterations of up to ``max_tokens`` tokens, ``max_seqs`` sequences and
    contexts up to ``max_context`` tokens (``experts``: expert parallelism of the MoE layers;
    ``serving``: the engine's static record, whose all-reduce and CUDA-graph decode the
    all-reduces follow, :func:`hetsim.cost.collectives.for_engine`)."""
    if min(max_tokens, max_seqs, max_context) < 1:
        raise ConfigError("iteration limits must be positive")
    base = op_pricer or default_op_pricer(dev, prec, tp)

    def run(ops: list[Op]) -> list[Cost]:
        return base(for_engine(ops, serving))

    def is_attention(op: Op) -> bool:
        return op.sublayer == "attention"

    def is_seq(op: Op) -> bool:
        return op.name in SEQ_OPS

    # token ops: one "sequence" of T tokens (T = 0 costs nothing)
    T = np.arange(1, max_tokens + 1, dtype=float)
    ops = build_ops(model, prec, phase="prefill", batch=1.0, q_len=T, context=T, tp=tp, experts=experts)
    tt, tj = _times(ops, run(ops), lambda o: not (is_attention(o) or is_seq(o)), T.shape, dev)
    token, token_j = np.concatenate([[0.0], tt]), np.concatenate([[0.0], tj])
    # sequence ops: n sequences of one token
    n = np.arange(1, max_seqs + 1, dtype=float)
    ops = build_ops(model, prec, phase="decode", batch=n, q_len=1.0, context=1.0, tp=tp, experts=experts)
    st, sj = _times(ops, run(ops), is_seq, n.shape, dev)
    seq, seq_j = np.concatenate([[0.0], st]), np.concatenate([[0.0], sj])
    # decode attention: n sequences at mean context x
    x = _geom(1.0, float(max_context), DECODE_GRID)
    ops = [
        o
        for o in build_ops(
            model,
            prec,
            phase="decode",
            batch=n[:, None],
            q_len=1.0,
            context=x[None, :],
            tp=tp,
            experts=experts,
        )
    ]
    ops = [o for o in ops if is_attention(o)]
    dt, dj = _times(ops, run(ops), is_attention, (len(n), len(x)), dev)
    zero = np.zeros((1, len(x)))
    dec, dec_j = np.vstack([zero, dt]), np.vstack([zero, dj])
    # prefill attention: a chunk of q tokens ending at context c >= q
    gq = _geom(1.0, float(max_tokens), PREFILL_GRID)
    gc = _geom(1.0, float(max(max_context, max_tokens)), PREFILL_GRID)
    Q, C = np.meshgrid(gq, gc, indexing="ij")
    C = np.maximum(C, Q)
    ops = [
        o
        for o in build_ops(
            model, prec, phase="prefill", batch=1.0, q_len=Q, context=C, tp=tp, experts=experts
        )
        if is_attention(o)
    ]
    pre, pre_j = _times(ops, run(ops), is_attention, Q.shape, dev)
    gs, gj = _graph_tables(model, prec, tp, experts, serving, max_seqs, max_tokens, base, dev)
    return IterationPricer(
        token_s=token,
        seq_s=seq,
        dec_x=x,
        dec_s=dec,
        pre_lq=np.log(gq),
        pre_lc=np.log(gc),
        pre_ls=np.log(np.maximum(pre, 1e-30)),
        token_j=token_j,
        seq_j=seq_j,
        dec_j=dec_j,
        pre_lj=np.log(np.maximum(pre_j, 1e-30)),
        graph_s=gs,
        graph_j=gj,
    )


def _graph_tables(
    model: ModelSpec, prec: Precision, tp: int, experts: ExpertParallel, serving: Serving, max_seqs: int,
    max_tokens: int, run: OpPricer, dev: Device,
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """Decode-only iterations of 1..n sequences that replay the engine's CUDA graph: token and
    sequence ops at the graph's padded batch, all-reduces captured (analyze's decode step).
    Empty where no batch replays one."""
    n = np.arange(1, max_seqs + 1, dtype=float)
    graph = np.asarray(serving.replays_graph(n), dtype=bool)
    if not graph.any():
        return np.zeros(0), np.zeros(0)
    k = int(np.flatnonzero(graph)[-1]) + 1  # replays up to k sequences (eager above)
    b = np.minimum(np.asarray(serving.graph_batch(n[:k]), dtype=float), float(min(max_tokens, max_seqs)))
    ops = [o for o in build_ops(model, prec, phase="decode", batch=b, q_len=1.0, context=1.0, tp=tp,
                                experts=experts) if o.sublayer != "attention"]  # fmt: skip
    t, j = _times(ops, run(for_engine(ops, serving, n[:k])), lambda o: True, b.shape, dev)
    return np.concatenate([[0.0], t]), np.concatenate([[0.0], j])
