"""Serving rows read at the steady state their source states.

A closed-loop serving row (``concurrency=N``) whose source also states the *average running
batch* at steady state (ML.ENERGY v3: ``avg_batch_size``, with ``avg_output_len`` in its notes)
is priced as a static batch of that many sequences (rounded to whole sequences) of the stated
mean output length: every step decodes that batch, and each sequence's prefill is paid once
over its lifetime, which is what a static batch's end-to-end time amortises. So the output
throughput is batch x output / end-to-end time, and a step (the inter-token latency) is the
end-to-end time per generated token: the decode step plus the prefill of the batch / output
sequences that arrive, on average, during each step (chunked prefill rides in the decode steps).
The prompt length these sources do not state is the named assumption :data:`DATASET_LENGTHS`. Rows without a
stated running batch still need the serving simulator (``validate --serving``); rows whose
GPUs are spread by expert or data parallelism beyond the tensor-parallel group are skipped
(``expert_parallel_not_modelled``: the op graph splits by TP only).
"""

from __future__ import annotations

import re
from dataclasses import replace

from hetsim.calibration.measurements import Measurement

# (prompt, output) tokens per sequence where a row names a prompt data set, not lengths
DATASET_LENGTHS = (256, 256)
DATASET_LENGTHS_PROVENANCE = (
    "assumed: chat prompt sets (ShareGPT-style) of a few hundred tokens in and out; the sources "
    "do not state their mean lengths"
)
STEADY = "steady"  # Measurement.serving of a row read at its steady state
_OUTPUT = re.compile(r"avg_output_len\s*=\s*([0-9]+(?:\.[0-9]+)?)")
_EP = re.compile(r"\bEP\s*([0-9]+)")


def steady_state(r: Measurement) -> Measurement:
    """``r`` as a static batch at its stated steady state, or ``r`` unchanged."""
    if r.serving != "concurrency" or not r.running_batch:
        return r
    out = _OUTPUT.search(r.notes)
    output = float(out.group(1)) if out else float(r.output_len or DATASET_LENGTHS[1])
    return replace(
        r, batch=max(1, round(r.running_batch)), input_len=r.input_len or DATASET_LENGTHS[0],
        output_len=max(1, round(output)), serving=STEADY, length_form="",
    )  # fmt: skip


def parallel_reason(r: Measurement) -> str:
    """Why a steady-state row's parallel layout is not priced ('' when it is)."""
    ep = _EP.search(r.notes)
    if r.n_devices > r.tp * r.pp or (ep is not None and int(ep.group(1)) > 1):
        return "expert_parallel_not_modelled"
    return ""
