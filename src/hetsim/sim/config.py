"""What a run is: the static batch (:class:`Workload`), the serving framework's wrapping
(:class:`Serving`, defined with the engine records in :mod:`hetsim.engines.host`), the
parallelism and pricing options (:class:`Options`), and the bytes one
device must hold for it (:func:`footprint`). Split from :mod:`hetsim.sim.inference`, which
re-exports them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.cost.roofline import Overlap
from hetsim.engines.host import Serving as Serving
from hetsim.errors import ConfigError
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import AttentionImpl, Shard, embedding_bytes
from hetsim.workload.model import ModelSpec


@dataclass(frozen=True, slots=True)
class Workload:
    """A static batch: ``batch`` sequences of ``input_len`` prompt tokens generating
    ``output_len`` tokens each (the first from prefill)."""

    batch: int
    input_len: int
    output_len: int

    def __post_init__(self) -> None:
        for name in ("batch", "input_len", "output_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class Options:
    tp: int = 1
    pp: int = 1
    attention: AttentionImpl = "fused"
    overlap: Overlap = "max"
    serving: Serving = Serving()  # noqa: RUF009 (a frozen record, shared safely)


def footprint(
    model: ModelSpec, prec: Precision, batch: Any, seq_len: Any, opts: Options, live_len: Any = None
) -> dict[str, Any]:
    """Per-device bytes: weights, KV cache for ``seq_len`` tokens per sequence, and an
    activation workspace (the largest live pair of intermediate tensors) for the tokens one
    forward pass holds: ``live_len`` per sequence (the prompt; default ``seq_len``)."""
    live = seq_len if live_len is None else live_len
    sh = Shard.of(model, opts.tp)
    tp, pp = opts.tp, opts.pp
    layers = -(-model.n_layers // pp)
    per_layer = prec.weight_nbytes(model.layer_params) / tp
    emb = embedding_bytes(model, prec) / tp
    weights = per_layer * layers + emb  # a stage holding the embeddings is the largest
    kv = (
        batch
        * model.kv_tokens(seq_len)
        * 2
        * layers
        * sh.kv_heads
        * model.head_dim
        * prec.kv.bytes_per_element
    )
    widest = max(
        sh.heads * model.head_dim + 2 * sh.kv_heads * model.head_dim,
        (2 if model.ffn == "gated" else 1) * sh.d_ff,
        sh.vocab,
    )
    act = batch * live * (model.d_model + widest) * prec.activation.bytes_per_element
    if opts.attention == "unfused":
        act = act + batch * sh.heads * live * seq_len * prec.activation.bytes_per_element
    return {"weights": weights, "kv_cache": kv, "activations": act, "total": weights + kv + act}
