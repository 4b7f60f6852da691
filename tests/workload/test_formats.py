"""Weight formats with their scale bytes, FP8 / FP4 KV caches, GGUF headers read with the
``gguf`` library (a tiny file written by its writer here: no weights are committed), and the
dequantisation model per format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter, LlamaFileType

from hetsim.errors import ConfigError, UnknownNameError
from hetsim.workload.dtypes import Precision
from hetsim.workload.footprint import kv_bytes_per_token, weight_bytes
from hetsim.workload.formats import require_format
from hetsim.workload.quantization import precision_from_hf_config, resolve_precision
from hetsim.workload.registry import get_model


@pytest.mark.parametrize(
    ("name", "bits"),
    [("mxfp4", 4 + 8 / 32), ("nvfp4", 4 + 8 / 16), ("fp8-block", 8 + 32 / 128**2), ("awq", 4 + 32 / 128),
     ("gptq-g32", 4 + 32 / 32), ("q8_0", 34 * 8 / 32), ("q6_k", 210 * 8 / 256), ("q4_k", 144 * 8 / 256),
     ("q4_0", 18 * 8 / 32), ("iq2_xxs", 66 * 8 / 256), ("iq2_m", 2.7),
     ("q4_k_m", 4.58 * 2**30 * 8 / 8.03e9), ("q5_k_m", 5.33 * 2**30 * 8 / 8.03e9)],
)  # fmt: skip
def test_bits_per_weight_include_scales(name: str, bits: float) -> None:
    assert require_format(name).bits_per_weight == pytest.approx(bits)
    assert Precision.of(name).weight_bits == pytest.approx(bits)


def test_native_and_weight_only_formats() -> None:
    assert Precision.of("nvfp4").compute.name == "fp4" and not Precision.of("nvfp4").weight_only
    assert Precision.of("fp8-block").compute.name == "fp8"
    for name in ("mxfp4", "awq", "q4_k_m", "iq2_xxs"):
        assert Precision.of(name).weight_only and Precision.of(name).compute.name == "fp16", name
    # GGUF formats quantise the embedding and head too; AWQ leaves them at 16 bits
    assert Precision.of("q8_0").embedding_bytes_per_element == pytest.approx(8.5 / 8)
    assert Precision.of("awq").embedding_bytes_per_element == 2.0


def test_weight_bytes_scale_with_the_format() -> None:
    m = get_model("llama3.1-70b")
    ratio = weight_bytes(m, Precision.of("q4_k")) / weight_bytes(m, Precision.of("fp16"))
    assert ratio == pytest.approx(4.5 / 16, rel=1e-6)


def test_fp8_and_fp4_kv_caches() -> None:
    m = get_model("llama3.1-8b")
    per16 = kv_bytes_per_token(m, Precision.of("bf16"))
    assert kv_bytes_per_token(m, Precision.of("bf16", kv="fp8")) == per16 / 2
    assert kv_bytes_per_token(m, Precision.of("bf16", kv="fp4")) == per16 / 4
    assert kv_bytes_per_token(m, Precision.of("bf16", kv="nvfp4")) == pytest.approx(per16 * 4.5 / 16)


def test_quantization_config_is_honoured() -> None:
    fp8_block = {"quant_method": "fp8", "weight_block_size": [128, 128], "activation_scheme": "dynamic"}
    p = precision_from_hf_config({"torch_dtype": "bfloat16", "quantization_config": fp8_block})
    assert p.format == "fp8-block" and p.weight_bits == pytest.approx(8 + 32 / 128**2)
    p = precision_from_hf_config({"quantization_config": {"quant_method": "mxfp4"}})
    assert p.weight_bits == 4.25 and p.weight_only


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(UnknownNameError, match="q4_k_m"):
        require_format("q4_k_x")


def _tiny_gguf(path: Path, arch: str = "llama") -> None:
    """A two-layer model: Q4_K attention, Q6_K LM head, F32 norms (zero-filled blocks)."""
    w = GGUFWriter(path, arch)
    w.add_block_count(2)
    w.add_embedding_length(256)
    w.add_feed_forward_length(512)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_context_length(2048)
    w.add_file_type(LlamaFileType.MOSTLY_Q4_K_M)

    def quant(name: str, rows: int, cols: int, t: GGMLQuantizationType) -> None:
        block, size = GGML_QUANT_SIZES[t]
        w.add_tensor(name, np.zeros((rows, cols // block * size), np.uint8), raw_dtype=t)

    quant("token_embd.weight", 100, 256, GGMLQuantizationType.Q4_K)
    quant("output.weight", 100, 256, GGMLQuantizationType.Q6_K)
    for i in range(2):
        quant(f"blk.{i}.attn_q.weight", 256, 256, GGMLQuantizationType.Q4_K)
        quant(f"blk.{i}.ffn_down.weight", 256, 512, GGMLQuantizationType.Q6_K)
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(256, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf_header_gives_the_architecture_and_each_tensor_s_type(tmp_path: Path) -> None:
    path = tmp_path / "tiny-Q4_K_M.gguf"
    _tiny_gguf(path)
    m = get_model(str(path))
    assert (m.n_layers, m.d_model, m.n_heads, m.n_kv_heads, m.d_ff, m.vocab_size) == (2, 256, 4, 2, 512, 100)
    assert not m.tied_embeddings
    p = resolve_precision(str(path), None, None, None, None)
    q4, q6 = 144 * 8 / 256, 210 * 8 / 256
    per_layer = (65536 * q4 + 131072 * q6 + 256 * 32) / (65536 + 131072 + 256)
    assert p.weight_bits == pytest.approx(per_layer)
    assert (p.embedding_bits, p.head_bits, p.format) == (q4, q6, "q4_k_m")
    assert p.weight_only


def test_gguf_bad_file_and_unknown_architecture(tmp_path: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(ConfigError, match="not a readable GGUF"):
        get_model(str(bad))
    other = tmp_path / "y.gguf"
    _tiny_gguf(other, arch="rwkv6")
    with pytest.raises(ConfigError, match=r"GGUF architecture 'rwkv6'.*config\.json"):
        get_model(str(other))


def test_weight_only_dequant_ops_by_format() -> None:
    from hetsim.cost.weight_only import DEQUANT_OPS_PER_WEIGHT, ops_per_weight

    assert ops_per_weight(Precision.of("int4")) == DEQUANT_OPS_PER_WEIGHT["int4"]  # unchanged
    k4, k6, iq = (ops_per_weight(Precision.of(n)) for n in ("q4_k", "q6_k", "iq2_xxs"))
    assert ops_per_weight(Precision.of("int4")) < k4 < k6 and k4 < iq
    assert ops_per_weight(Precision.of("q8_0")) > DEQUANT_OPS_PER_WEIGHT["int8"]


def test_analyze_reads_a_gguf_file_from_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hetsim.cli import app

    path = tmp_path / "tiny-Q4_K_M.gguf"
    _tiny_gguf(path)
    out = CliRunner().invoke(app, ["analyze", "-m", str(path), "--hardware", "h100-sxm", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert "q4_k_m" in json.dumps(data)
