"""Stall-free batching (Sarathi-Serve, Agrawal et al., OSDI 2024): decodes are never held back
by a prompt. Every iteration runs all decoding sequences and adds prefill work (running
prefills first, then new requests) only up to a fixed chunk budget, so an iteration's length,
and so the inter-token latency, stays bounded while prompts are split over many iterations.
The batch is formed and the victim chosen as vLLM V1 does (its scheduler is this one with the
whole token budget): the running request admitted last is preempted first."""

from __future__ import annotations

from hetsim.serving.schedulers.base import Batch, Scheduler, last_admitted, mixed_batch, register
from hetsim.serving.state import EngineState

# Sarathi-Serve's token budget under a strict decode-latency SLO (paper Section 5: 512 tokens for
# the strict setting, 2048 for the relaxed one); an engine record's prefill_chunk_tokens overrides it
DEFAULT_CHUNK_TOKENS = 512


@register
class StallFree(Scheduler):
    name = "stall-free"
    summary = "decodes first, prefill chunks only up to a small fixed budget (never stalls decodes)"
    source = "Sarathi-Serve (Agrawal et al., OSDI 2024), stall-free batching with a 512-token budget"

    def victim(self, st: EngineState) -> int:
        return last_admitted(st)

    def form(self, st: EngineState, t: float) -> Batch:
        budget = st.eng.prefill_chunk_tokens or DEFAULT_CHUNK_TOKENS
        return mixed_batch(st, self, t, budget)
