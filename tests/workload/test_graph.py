"""Operator graph counts: conservation and hand-checked totals."""

from __future__ import annotations

import numpy as np
import pytest

from hetsim.errors import ConfigError
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops, expected_experts
from hetsim.workload.registry import get_model

FP16 = Precision()


def total(ops: list, attr: str) -> float:  # type: ignore[type-arg]
    return float(sum(np.sum(getattr(o, attr)) * o.count for o in ops))


@pytest.mark.parametrize("name", ["llama2-7b", "llama2-70b", "gpt3-175b", "falcon-180b"])
def test_decode_flop_per_token_is_about_twice_params(name: str) -> None:
    m = get_model(name)
    ops = build_ops(m, FP16, phase="decode", batch=1, q_len=1, context=16)
    flop = sum(o.total_flop for o in ops if o.kind in ("gemm", "attention"))
    # the LM head and embeddings run once; all but the embedding table's lookup is GEMM work
    expected = 2 * (m.params - m.vocab_size * m.d_model * (1 if not m.tied_embeddings else 0))
    assert flop == pytest.approx(expected, rel=0.01)


def test_decode_weight_bytes_read_once_per_step() -> None:
    m = get_model("llama2-70b")
    ops = build_ops(m, FP16, phase="decode", batch=8, q_len=1, context=100, include_embeddings=False)
    assert total(ops, "weight_bytes") == pytest.approx(2 * m.decoder_params, rel=1e-3)


def test_decode_kv_read_is_context_times_kv_per_token() -> None:
    m = get_model("llama2-70b")
    B, c = 4, 1000
    ops = build_ops(m, FP16, phase="decode", batch=B, q_len=1, context=c)
    assert total(ops, "kv_read_bytes") == pytest.approx(B * c * 327_680)
    assert total(ops, "kv_write_bytes") == pytest.approx(B * 327_680)


def test_prefill_causal_attention_flop_by_hand() -> None:
    m = get_model("llama2-7b")
    B, P = 2, 512
    att = [
        o for o in build_ops(m, FP16, phase="prefill", batch=B, q_len=P, context=P) if o.name == "attention"
    ]
    pairs = B * P * (P + 1) / 2
    expected = m.n_layers * (4 * m.n_heads * m.head_dim * pairs + 5 * m.n_heads * pairs)
    assert att[0].total_flop == pytest.approx(expected)


def test_unfused_attention_moves_more_bytes_same_flop() -> None:
    m = get_model("llama2-7b")
    kw = dict(phase="prefill", batch=1, q_len=2048, context=2048)
    fused = build_ops(m, FP16, attention="fused", **kw)  # type: ignore[arg-type]
    unfused = build_ops(m, FP16, attention="unfused", **kw)  # type: ignore[arg-type]

    def att(ops: list, attr: str) -> float:  # type: ignore[type-arg]
        return sum(getattr(o, attr) * o.count for o in ops if o.sublayer == "attention")

    assert att(unfused, "flop") == pytest.approx(att(fused, "flop"))
    # the (B, heads, P, P) score matrix is written and read twice: ~9x the fused traffic here
    assert att(unfused, "bytes") > 5 * att(fused, "bytes")


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_tensor_parallel_shards_conserve_weights(tp: int) -> None:
    m = get_model("llama2-70b")
    ops = build_ops(m, FP16, phase="decode", batch=1, q_len=1, context=1, tp=tp, include_embeddings=False)
    assert tp * total(ops, "weight_bytes") == pytest.approx(2 * m.decoder_params, rel=1e-3)
    n_allreduce = sum(o.count for o in ops if o.kind == "collective")
    assert n_allreduce == (2 * m.n_layers if tp > 1 else 0)


def test_tp_that_does_not_divide_heads_is_an_error() -> None:
    with pytest.raises(ConfigError, match="does not divide"):
        build_ops(get_model("llama2-7b"), FP16, phase="decode", batch=1, q_len=1, context=1, tp=3)


def test_gqa_splits_by_kv_group_and_mha_by_head() -> None:
    gqa = {
        o.name: o
        for o in build_ops(get_model("llama2-70b"), FP16, phase="decode", batch=1, q_len=1, context=8)
    }
    mha = {
        o.name: o
        for o in build_ops(get_model("gpt3-175b"), FP16, phase="decode", batch=1, q_len=1, context=8)
    }
    assert (gqa["attention"].split, gqa["attention"].n_parts) == ("kv_group", 8)
    assert (mha["attention"].split, mha["attention"].n_parts) == ("head", 96)
    assert gqa["ffn_up"].split == "column"


def test_moe_expected_experts() -> None:
    assert expected_experts(8, 2, 1) == pytest.approx(2.0)
    assert expected_experts(8, 2, 10_000) == pytest.approx(8.0)
    assert 2 < expected_experts(8, 2, 4) < 8
    m = get_model("mixtral-8x7b")
    one = {o.name: o for o in build_ops(m, FP16, phase="decode", batch=1, q_len=1, context=8)}
    many = {o.name: o for o in build_ops(m, FP16, phase="decode", batch=256, q_len=1, context=8)}
    per_expert = 2 * m.d_model * 2 * m.d_ff  # gated up projection, fp16
    assert one["ffn_up"].weight_bytes == pytest.approx(2 * per_expert)
    assert many["ffn_up"].weight_bytes == pytest.approx(8 * per_expert, rel=1e-6)


def test_counts_broadcast_over_arrays() -> None:
    m = get_model("llama2-7b")
    ctx = np.array([10.0, 100.0, 1000.0])
    ops = build_ops(m, FP16, phase="decode", batch=2, q_len=1, context=ctx)
    att = next(o for o in ops if o.name == "attention")
    assert np.shape(att.kv_read_bytes) == (3,)
    assert np.all(np.diff(att.kv_read_bytes) > 0)
