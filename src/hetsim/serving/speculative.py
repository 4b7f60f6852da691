"""Speculative decoding inside the engine loop: a decode step drafts ``k`` tokens per sequence
(``k`` draft passes, :func:`hetsim.sim.speculative.draft_cost`) and the target verifies them in
one pass over ``k + 1`` positions; a step emits ``E = (1 - a^(k+1)) / (1 - a)`` tokens per
sequence on average at per-position acceptance ``a``
(:attr:`~hetsim.workload.speculation.Speculation.tokens_per_step`).

The loop keeps counting tokens one by one (a decoding sequence's KV, blocks and generated
tokens grow by one per loop step, so every conservation rule of the non-speculative loop holds
and tokens out = tokens asked exactly); what changes is the price of a loop step, which is
the price of the speculative step divided by ``E``:

- decode-only iterations (the closed-form runs): dense ops at ``n (k + 1)`` tokens and the LM
  head over as many positions, the verify pass's attention (``q_len`` k + 1 against each
  sequence's context), and ``k`` draft passes, each with the engine's per-iteration host time
  (``step_overhead_s``), all over ``E``; the verify pass's own host time is charged per token as
  the loop charges it (an upper bound: it is paid once per ``E`` tokens);
- an iteration that carries prefill chunks: the chunks at their own price, plus the decodes'
  marginal price (the whole speculative iteration less the chunks alone) over ``E``.

A drafter on another side of the device (``Speculation.side``, analyze's rule,
:mod:`hetsim.sim.speculative`): its passes are priced on that side's units and memory, each step
adds the two hand-off messages over the link between the sides (the drafts to the verify, the
verdict back), and its weights are held on that side (:func:`hetsim.sim.speculative.reserve_drafter`
refuses one that does not fit), so they leave the GPU's KV cache alone; its KV cache stays beside
the target's. Not charged here: the prompt's one hand-off after the prefill (analyze's
``prompt_handoff_s``), a few microseconds once per request.

So the ITL the loop records is the time per emitted token (a step's tokens arrive together:
the per-token mean, not the gap between bursts). Not modelled: the variance of accepted
tokens per step (each sequence advances by the mean), and the verify tokens' share of the
engine's token budget (a decode counts as one token in the scheduler's budget, as without
speculation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetsim.cost.power import throttled_s
from hetsim.hardware.spec import Device
from hetsim.serving.pricing import IterationPricer, _segment
from hetsim.sim.speculative import (
    draft_cost,
    draft_side,
    drafter_footprint,
    handoff_bytes,
    handoff_s,
    side_link,
)
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import NO_EP, ExpertParallel
from hetsim.workload.graph import build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import FloatArray
from hetsim.workload.speculation import Speculation


@dataclass(frozen=True, slots=True)
class SpeculativePricer(IterationPricer):
    """An :class:`IterationPricer` whose decode tokens are priced per emitted token of a
    speculative step (see the module docstring). ``spec_s`` / ``spec_j``: (N_max + 1, X) the
    verify pass's attention plus the ``k`` draft passes of ``n`` sequences at mean context x."""

    spec_s: FloatArray = field(default_factory=lambda: np.zeros((1, 1)))
    spec_j: FloatArray = field(default_factory=lambda: np.zeros((1, 1)))
    drafted: int = 1  # k
    tokens_per_step: float = 1.0  # E
    _spec_lists: tuple[list[Any], list[Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        IterationPricer.__post_init__(self)
        object.__setattr__(self, "_spec_lists", (self.spec_s.tolist(), self.spec_j.tolist()))

    def _verify(self, n: int, total_context: float) -> tuple[float, float]:
        """Verify attention and draft passes of a whole step (not divided by E)."""
        xs = self._lists[0]
        i, f = _segment(xs, total_context / n)
        ts, js = self._spec_lists[0][n], self._spec_lists[1][n]
        return ts[i] + f * (ts[i + 1] - ts[i]), js[i] + f * (js[i + 1] - js[i])

    def _dense(self, tokens: int, seqs: int) -> tuple[float, float]:
        return IterationPricer.dense(self, tokens, seqs)

    def decode_dense(self, n: int) -> tuple[float, float]:
        """A decode-only step (verify pass, run eager) per emitted token."""
        return self.dense(n, n)

    def dense(self, tokens: int, seqs: int) -> tuple[float, float]:
        """A decode-only step's token and sequence ops, per emitted token."""
        k1, e = self.drafted + 1, self.tokens_per_step
        t, j = self._dense(tokens * k1, seqs * k1)
        return t / e, j / e

    def decode_attention(self, n: int, total_context: float) -> tuple[float, float]:
        """The verify pass's attention and the draft passes of ``n`` sequences, per emitted token."""
        if n <= 0:
            return 0.0, 0.0
        t, j = self._verify(n, total_context)
        return t / self.tokens_per_step, j / self.tokens_per_step

    def step(
        self, n_decode: int, decode_context: float, chunks_q: Sequence[float], chunks_c: Sequence[float]
    ) -> tuple[float, float]:
        """The chunks at their price plus the speculative decodes' marginal price over E."""
        q = int(sum(chunks_q))
        p0, p1 = self.prefill_attention(chunks_q, chunks_c) if chunks_q else (0.0, 0.0)
        c0, c1 = self._dense(q, len(chunks_q)) if chunks_q else (0.0, 0.0)
        if not n_decode:
            return c0 + p0, c1 + p1
        k1, e = self.drafted + 1, self.tokens_per_step
        d0, d1 = self._dense(n_decode * k1 + q, n_decode * k1 + len(chunks_q))
        v0, v1 = self._verify(n_decode, decode_context)
        return c0 + p0 + (d0 + v0 - c0) / e, c1 + p1 + (d1 + v1 - c1) / e


def speculative_tables(
    spec: Speculation, m: ModelSpec, dev: Device, prec: Precision, base: IterationPricer, *, tp: int,
    step_overhead_s: float, experts: ExpertParallel = NO_EP,
) -> SpeculativePricer:  # fmt: skip
    """``base``'s tables (built for ``(k + 1)`` times the engine's sequences, so the dense and LM
    head tables reach a verify pass's positions) with the verify and draft tables beside them."""
    k = spec.tokens
    n = np.arange(1, base.max_seqs // (k + 1) + 1, dtype=float)
    x = base.dec_x
    ctx = np.maximum(x, k + 1.0)[None, :]  # a verify pass holds at least its own k + 1 positions
    ops = build_ops(m, prec, phase="decode", batch=n[:, None], q_len=float(k + 1), context=ctx,
                    tp=tp, experts=experts)  # fmt: skip
    shape = (len(n), len(x))
    t, e = np.zeros(shape), np.zeros(shape)
    for op in ops:
        if op.sublayer == "attention":
            from hetsim.cost.roofline import price

            c = price(op, dev, prec, tp)
            t = t + np.broadcast_to(np.asarray(c.time_s, dtype=float), shape)
            e = e + np.broadcast_to(np.asarray(c.energy_j, dtype=float), shape)
    t = np.asarray(throttled_s(t, e, dev), dtype=float)
    dc = draft_cost(spec, m, dev, prec, n[:, None], x[None, :], tp, experts)
    dt = np.broadcast_to(np.asarray(dc.time_s, dtype=float), shape)
    dj = np.broadcast_to(np.asarray(dc.energy_j, dtype=float), shape)
    t = t + k * (np.asarray(throttled_s(dt, dj, dev), dtype=float) + step_overhead_s)
    e = e + k * dj
    s = draft_side(spec, dev)
    if s != 0:  # a drafter on another side: the drafts to the verify and the verdict back
        link = side_link(dev, s)
        out, back = handoff_bytes(spec, m, prec, n[:, None])
        t = t + handoff_s(link, out) + handoff_s(link, back)
        e = e + link.energy_j_per_bit * 8.0 * (out + back)
    zero = np.zeros((1, len(x)))
    fields = {f: getattr(base, f) for f in IterationPricer.__dataclass_fields__ if not f.startswith("_")}
    return SpeculativePricer(**fields, spec_s=np.vstack([zero, t]), spec_j=np.vstack([zero, e]),
                             drafted=k, tokens_per_step=spec.tokens_per_step)  # fmt: skip


def drafter_bytes(spec: Speculation, m: ModelSpec, prec: Precision, tp: int,
                  experts: ExpertParallel = NO_EP) -> tuple[float, float]:  # fmt: skip
    """(weight bytes, KV bytes per token) the drafter adds on each device."""
    fp = drafter_footprint(spec, m, prec, 1, 1, tp, experts)
    return float(fp["weights"]), float(fp["kv_cache"])
