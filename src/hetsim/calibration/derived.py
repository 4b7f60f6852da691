"""Metrics a source derives from its own measurement, computed from the prediction with the
source's definition (not a device constant).

- ``achieved_memory_bandwidth`` of an end-to-end decode row:
  - **gpt-fast and torchao** (``generate.py``: ``model_size * tokens_sec``, where
    ``_get_model_size`` / ``get_model_size_in_bytes(model, ignore_embeddings=True)`` sums the
    parameters *and buffers* of every module except the token embedding): the non-embedding
    weight bytes of one rank at their stored types (the LM head replicated on every rank:
    gpt-fast's ``tp.py`` shards only the attention and FFN linears; the head quantised with the
    rest under gpt-fast's ``quantize.py``) plus the KV-cache buffers of one rank, sized for
    prompt + generated tokens (``setup_caches(max_seq_length=T + max_new_tokens)``), times the
    predicted tokens per second. This is what the README prints, not the bytes moved.
  - **any other source** (a measured bandwidth, e.g. xFasterTransformer's notes): bytes moved
    per second of decode on one device, i.e. the predicted decode MBU x the device's bandwidth.
- **source-specific readings** of a metric name (``SOURCE_METRICS``; none needed so far: Azure's
  AI-benchmarking-guide "Tokens per second", whose README says the time accounts "for both
  processing input tokens and generating output tokens", is output tokens over the whole run,
  i.e. ``output_throughput``: 64 x 8 output tokens of Mistral-7B on an A100 at 858 tok/s is a
  0.6 s run, 64 x 136 total tokens would be a 10 s one).
"""

from __future__ import annotations

import re

import numpy as np

from hetsim.analysis.result import SweepResult
from hetsim.calibration.measurements import Measurement
from hetsim.workload.dtypes import Precision
from hetsim.workload.footprint import cache_bytes, layer_weight_bytes
from hetsim.workload.model import ModelSpec

# frameworks whose printed bandwidth is model bytes x tokens/s (gpt-fast's generate.py and the
# copy of it in torchao/_models/llama/generate.py)
MODEL_SIZE_FRAMEWORKS = re.compile(r"gpt-fast|torchao", re.IGNORECASE)
# (source_id, metric as written) -> the metric it means, where a source's name reads otherwise
SOURCE_METRICS: dict[tuple[str, str], str] = {}
DERIVED = ("achieved_memory_bandwidth",)


def metric_of(r: Measurement) -> str:
    """The metric a row means (its source's reading of the name)."""
    return SOURCE_METRICS.get((r.source_id, r.metric), r.metric)


def model_size_bytes(model: ModelSpec, prec: Precision, tp: int, tokens: float, batch: float) -> float:
    """gpt-fast's ``_get_model_size`` on one rank: decoder weights / tp, the replicated LM head,
    and the KV-cache buffers for ``tokens`` per sequence (bytes)."""
    decoder = layer_weight_bytes(model, prec, tp) * model.n_layers
    head = 0.0 if model.tied_embeddings else model.vocab_size * model.d_model * prec.head_bytes_per_element
    kv = float(cache_bytes(model, prec, batch, tokens, tp))
    return float(decoder + head + kv)


def achieved_bandwidth(
    r: Measurement, res: SweepResult, i: int, model: ModelSpec, prec: Precision, tp: int, bandwidth: float
) -> float:
    """The row's ``achieved_memory_bandwidth`` (bytes/s) by its source's definition."""
    if MODEL_SIZE_FRAMEWORKS.search(r.framework):
        tokens = float(res.input_len[i] + res.output_len[i])
        size = model_size_bytes(model, prec, tp, tokens, float(res.batch[i]))
        return size * float(res.output_throughput_tok_per_s[i]) / float(res.batch[i])
    return float(np.asarray(res.mbu)[i]) * bandwidth
