"""PyTorch ingestion (the torch extra): meta-device tracing of Hugging Face configs against the
analytical builders, and of a plain module against hand counts.

Cross-check (the issue's target): flop within 1% and bytes within 2% for llama, mistral,
mixtral and qwen2 configs (real widths, 2 layers to keep the test fast), in a prefill of 32
tokens and in one decode step at context 513. Bytes are compared with the trace's
elementwise and attention chains fused (``fuse(..., "all")``), which is what the builders'
graph assumes (fused norms and activations, flash attention)."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hetsim.ingest.fusion import fuse  # noqa: E402
from hetsim.ingest.hf_trace import trace_hf  # noqa: E402
from hetsim.ingest.torch_trace import trace_module  # noqa: E402
from hetsim.sim.graph_run import analyze_graph  # noqa: E402
from hetsim.workload.dtypes import Precision  # noqa: E402
from hetsim.workload.graph import build_ops  # noqa: E402
from hetsim.workload.hf import model_from_hf_config  # noqa: E402

L = 2
CONFIGS: dict[str, dict[str, Any]] = {
    "llama": dict(model_type="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=L,
                  num_attention_heads=32, num_key_value_heads=32, vocab_size=32000),
    "mistral": dict(model_type="mistral", hidden_size=4096, intermediate_size=14336, num_hidden_layers=L,
                    num_attention_heads=32, num_key_value_heads=8, vocab_size=32000, sliding_window=None),
    "mixtral": dict(model_type="mixtral", hidden_size=4096, intermediate_size=14336, num_hidden_layers=L,
                    num_attention_heads=32, num_key_value_heads=8, vocab_size=32000, num_local_experts=8,
                    num_experts_per_tok=2),
    "qwen2": dict(model_type="qwen2", hidden_size=3584, intermediate_size=18944, num_hidden_layers=L,
                  num_attention_heads=28, num_key_value_heads=4, vocab_size=152064),
}  # fmt: skip
PREC = Precision()
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers' cache renames


@pytest.mark.parametrize("family", sorted(CONFIGS))
@pytest.mark.parametrize(("phase", "q_len", "context"), [("prefill", 32, 32), ("decode", 1, 513)])
def test_traced_counts_match_builders(family: str, phase: str, q_len: int, context: int) -> None:
    cfg = CONFIGS[family]
    g = trace_hf(cfg, phase, batch=2, q_len=q_len, context=context)  # type: ignore[arg-type]
    assert not g.unsupported, g.unsupported
    ops = build_ops(model_from_hf_config(cfg), PREC, phase=phase, batch=2.0, q_len=float(q_len),  # type: ignore[arg-type]
                    context=float(context))  # fmt: skip
    flop = sum(float(o.total_flop) for o in ops)
    nbytes = sum(float(o.total_bytes) for o in ops)
    fused = fuse(g, "all")
    traced_bytes = sum(o.bytes_read(PREC) + o.bytes_written(PREC) for o in fused.ops)
    assert g.flop == pytest.approx(flop, rel=0.01)
    assert traced_bytes == pytest.approx(nbytes, rel=0.02)
    # the trace is priced like any graph, within physics
    r = analyze_graph(fused, "h100-sxm")
    assert 0 < r.mfu <= 1 and 0 < r.mbu <= 1


def test_decode_reads_the_kv_cache_as_kv() -> None:
    g = trace_hf(CONFIGS["mistral"], "decode", batch=1, context=101)
    kv_read = sum(t.elements for o in g.ops for t in o.reads if t.role == "kv")
    kv_written = sum(t.elements for o in g.ops for t in o.writes if t.role == "kv")
    # 100 cached tokens + the new one, K and V, 8 KV heads of 128, per layer; read once
    assert kv_read == pytest.approx(L * 2 * 101 * 8 * 128)
    assert kv_written == pytest.approx(L * 2 * 1 * 8 * 128)  # only the new token is written


def test_plain_module_hand_counts() -> None:
    with torch.device("meta"):
        mlp = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 10))
        x = torch.empty(8, 64)
    g = trace_module(mlp, x, name="mlp")
    assert g.params == 64 * 256 + 256 + 256 * 10 + 10
    assert g.macs == 8 * (64 * 256 + 256 * 10)
    gelu = [o for o in g.ops if o.op_type == "Gelu"]
    assert len(gelu) == 1 and gelu[0].flop == 8 * 8 * 256
    weights = sum(t.elements for o in g.ops for t in o.reads if t.role == "weight")
    assert weights == g.params


@pytest.mark.xfail(
    strict=True,
    reason="missed target: at a 512-token prompt the eager HF code moves ~7-9% more bytes than the "
    "builders' fused graph even after fusion (fp32 RMSNorm upcast read twice, rotary through "
    "cat/neg/mul, attention-output copies); flop still agree",
)
def test_long_prefill_bytes_match_builders() -> None:
    cfg = CONFIGS["llama"]
    g = fuse(trace_hf(cfg, "prefill", batch=1, q_len=512, context=512), "all")
    ops = build_ops(model_from_hf_config(cfg), PREC, phase="prefill", batch=1.0, q_len=512.0, context=512.0)
    assert g.flop == pytest.approx(sum(float(o.total_flop) for o in ops), rel=0.01)
    traced = sum(o.bytes_read(PREC) + o.bytes_written(PREC) for o in g.ops)
    assert traced == pytest.approx(sum(float(o.total_bytes) for o in ops), rel=0.02)
