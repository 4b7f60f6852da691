"""Weight formats by name: bits per weight with their scales, whether GEMMs run on the narrow
type or dequantise to 16 bits, and where each number comes from.

- **FP8** (per-tensor scale: 8 bits); **FP8 block** (DeepSeek-V3's checkpoint: one FP32 scale
  per 128 x 128 weight block, ``weight_block_size`` [128, 128]; DeepSeek-V3 report, arXiv
  2412.19437, Sec. 3.3.2): 8 + 32 / 16384 bits. Both run FP8 GEMMs.
- **MXFP4** (OCP Microscaling Formats v1.0: E2M1 elements, one E8M0 scale per 32): 4.25 bits;
  weight-only on GPUs without FP4 units (gpt-oss on Hopper: dequantised in the MoE kernel).
- **NVFP4** (NVIDIA: E2M1, one FP8 E4M3 scale per 16, an FP32 scale per tensor): 4.5 bits;
  FP4 GEMMs (Blackwell).
- **AWQ / GPTQ int4** by group size G (``awq``, ``gptq``, ``gptq-g32`` ...): 4 + 32 / G bits,
  the upper form of :data:`hetsim.workload.dtypes.GROUP_SCALE_BITS` (a 16-bit scale and zero
  per group; AWQ and GPTQ pack the zero in 4 bits: 20 / G, 2% less at G = 128); weight-only.
- **GGUF** tensor types (Q8_0, Q6_K, Q4_K, Q4_0, IQ2_XXS ...): bits per weight from their
  block layouts (``gguf.GGML_QUANT_SIZES``: bytes per block of weights, scales included);
  GGUF *file* types that mix tensor types (Q4_K_M, Q5_K_M, Q3_K_M, IQ2_M ...) from llama.cpp's
  ``llama-quantize`` table (file size at Llama-3-8B, 8.03B weights, in GiB; bits per weight
  where it states them). Weight-only (llama.cpp and vLLM dequantise in the GEMM); a GGUF file
  quantises the embedding and LM head too.
"""

from __future__ import annotations

from dataclasses import dataclass

from hetsim.errors import UnknownNameError

LLAMA3_8B_WEIGHTS = 8.03e9  # the reference model of llama-quantize's size column
# llama.cpp tools/quantize/quantize.cpp QUANT_OPTIONS: size at Llama-3-8B (GiB), or bits per weight
GGUF_FILE_TYPES: dict[str, tuple[float, str]] = {
    "q4_k_m": (4.58, "GiB"), "q4_k_s": (4.37, "GiB"), "q5_k_m": (5.33, "GiB"), "q5_k_s": (5.21, "GiB"),
    "q3_k_m": (3.74, "GiB"), "q3_k_s": (3.41, "GiB"), "q3_k_l": (4.03, "GiB"), "q2_k_s": (2.96, "GiB"),
    "iq2_m": (2.7, "bpw"), "iq3_m": (3.66, "bpw"), "iq3_xs": (3.3, "bpw"),
}  # fmt: skip
GGUF_SOURCE = "llama.cpp tools/quantize/quantize.cpp (QUANT_OPTIONS, sizes at Llama-3-8B)"


@dataclass(frozen=True, slots=True)
class WeightFormat:
    """How a checkpoint stores its weights."""

    name: str
    element: str  # the elements' data type (what dequantisation starts from)
    bits_per_weight: float  # stored bits per weight, scales and zero points included
    gemm: str | None  # GEMM input type of a native kernel; None: weight-only (dequantised to 16 bits)
    group: int = 0  # weights per scale group where the int4 / fp4 group form applies
    quantized_embeddings: bool = False  # the embedding and LM head are stored in the format too
    source: str = ""


def _gguf_tensor_bits(name: str) -> float | None:
    """Bits per weight of a GGUF tensor type (``q4_k``, ``q8_0``, ``iq2_xxs``, ``f16`` ...)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    member = GGMLQuantizationType.__members__.get(name.upper())
    if member is None:
        return None
    block, size = GGML_QUANT_SIZES[member]
    return size * 8 / block


def _element(bits: float) -> str:
    """The integer element type a GGUF type dequantises like (kernel cost by width)."""
    return "int8" if bits > 6.0 else "int4"


_FIXED = {
    "fp8": WeightFormat("fp8", "fp8", 8.0, "fp8", source="FP8 E4M3, per-tensor scale"),
    "fp8-block": WeightFormat("fp8-block", "fp8", 8.0 + 32 / (128 * 128), "fp8",
                              source="DeepSeek-V3 report, arXiv 2412.19437, Sec. 3.3.2 (128x128 blocks)"),
    "mxfp4": WeightFormat("mxfp4", "fp4", 4.25, None, group=32, source="OCP Microscaling Formats v1.0"),
    "nvfp4": WeightFormat("nvfp4", "fp4", 4.5, "fp4", group=16, source="NVIDIA NVFP4 (E4M3 scale per 16)"),
    "awq": WeightFormat("awq", "int4", 4.25, None, group=128, source="AWQ, group 128 (upper form)"),
    "gptq": WeightFormat("gptq", "int4", 4.25, None, group=128, source="GPTQ, group 128 (upper form)"),
    "int8": WeightFormat("int8", "int8", 8.0, None, source="int8 weight-only, per-channel scale"),
    "w8a8": WeightFormat("w8a8", "int8", 8.0, "int8", source="int8 weights and GEMM inputs"),
}  # fmt: skip


def weight_format(name: str) -> WeightFormat | None:
    """The named format, or None when ``name`` is a plain data type (fp16, int4 ...)."""
    key = name.strip().lower()
    if key in _FIXED:
        return _FIXED[key]
    for base in ("awq", "gptq"):  # awq-g64, gptq-g32: another group size
        if key.startswith(f"{base}-g") and key[len(base) + 2 :].isdigit():
            g = int(key[len(base) + 2 :])
            if g < 1:
                break
            return WeightFormat(key, "int4", 4.0 + 32 / g, None, group=g, source=f"{base.upper()} group {g}")
    if key in GGUF_FILE_TYPES:
        value, unit = GGUF_FILE_TYPES[key]
        bits = value * 2**30 * 8 / LLAMA3_8B_WEIGHTS if unit == "GiB" else value
        return WeightFormat(key, _element(bits), bits, None, quantized_embeddings=True,
                            source=f"GGUF file type, {GGUF_SOURCE}")  # fmt: skip
    if key.startswith(("q", "iq", "tq")):
        tensor_bits = _gguf_tensor_bits(key)
        if tensor_bits is not None:
            bits = tensor_bits
            return WeightFormat(key, _element(bits), bits, None, quantized_embeddings=True,
                                source="GGUF tensor type (gguf.GGML_QUANT_SIZES)")  # fmt: skip
    return None


def format_names() -> list[str]:
    return sorted([*_FIXED, *GGUF_FILE_TYPES, "q8_0", "q6_k", "q5_k", "q4_k", "q4_0", "q3_k", "q2_k",
                   "iq4_xs", "iq3_xxs", "iq2_xxs", "iq2_xs"])  # fmt: skip


def require_format(name: str) -> WeightFormat:
    fmt = weight_format(name)
    if fmt is None:
        raise UnknownNameError("weight format", name, format_names())
    return fmt
