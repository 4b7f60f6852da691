"""Token embedding, learned positions, the final norm, the LM head, and multi-token-prediction
(MTP) modules.

An MTP module (DeepSeek-V3, arXiv 2412.19437, Sec. 2.2; ``num_nextn_predict_layers`` in its
config.json) is one more decoder layer of the model's last kind plus a projection of the
concatenated [normed hidden state, normed embedding] (2 d -> d) and two norms; it shares the
embedding and LM head with the main model. Model cards count it apart (DeepSeek-V3: 671B main
model + 14B MTP module = the 685B on Hugging Face).
"""

from __future__ import annotations

from hetsim.workload.blocks.common import Pass
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Op


def params(model: ModelSpec) -> int:
    """Token embedding, learned positions, final norm and (untied) LM head."""
    d = model.d_model
    emb = model.vocab_size * d + model.learned_positions * d
    head = 0 if model.tied_embeddings else model.vocab_size * d
    final_norm = d * (2 if model.norm == "layernorm" else 1)
    return emb + head + final_norm


def mtp_params(model: ModelSpec) -> int:
    """Parameters of the MTP modules: each a layer of the last layer's kind, the 2d -> d
    projection and three norms (hidden, embedding, output)."""
    if not model.mtp_layers:
        return 0
    from hetsim.workload import layers

    last_mixer, last_ffn = (
        layers.mixer_of(model, model.n_layers - 1),
        layers.ffn_of(model, model.n_layers - 1),
    )
    mixer = layers.mixer_block(model, last_mixer).params(model, last_mixer)
    ffn = layers.ffn_block(last_ffn).params(model)
    d = model.d_model
    return model.mtp_layers * (mixer + ffn + layers.norm_params_per_layer(model) + 2 * d * d + 3 * d)


def ops(p: Pass) -> list[Op]:
    """Embedding lookup, the final norm and the LM head (logits for each sequence's last
    position only; every new position of a decode pass over several, see ``Pass.lm_rows``)."""
    m, T, rows, sh = p.model, p.tokens, p.lm_rows, p.shard
    d, ab, wb = m.d_model, p.ab, p.wb
    return [
        Op(
            "embedding",
            "embed",
            "lookup",
            "vector",
            1,
            flop=0.0,
            weight_bytes=T * d * p.prec.embedding_bytes_per_element,
            act_write_bytes=T * d * ab,
        ),
        Op(
            "final_norm",
            "norm",
            "norm",
            "vector",
            1,
            flop=5.0 * rows * d,
            weight_bytes=d * wb,
            act_read_bytes=rows * d * ab,
            act_write_bytes=rows * d * ab,
            rows=rows,
        ),
        Op(
            "lm_head",
            "lm_head",
            "gemm",
            "matrix",
            1,
            flop=2.0 * rows * d * sh.vocab,
            weight_bytes=d * sh.vocab * p.prec.head_bytes_per_element,
            act_read_bytes=rows * d * ab,
            act_write_bytes=rows * sh.vocab * ab,
            split="column",
            n_parts=sh.heads,
            gemm_m=rows,
            gemm_n=float(sh.vocab),
            gemm_k=float(d),
        ),
    ]
