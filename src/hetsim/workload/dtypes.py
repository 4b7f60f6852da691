"""Data types, kept in bits. Byte counts of tensors round up (so INT4 is never zero bytes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hetsim.errors import ConfigError, UnknownNameError


@dataclass(frozen=True, slots=True)
class DType:
    name: str
    bits: float  # a block-scaled storage type counts its scales (nvfp4: 4.5)
    is_float: bool

    def nbytes(self, n_elements: float) -> float:
        """Bytes to hold ``n_elements`` values (rounded up to whole bytes for scalars)."""
        return n_elements * self.bits / 8

    @property
    def bytes_per_element(self) -> float:
        return self.bits / 8

    @property
    def storage_bytes(self) -> int:
        """Bytes one element occupies when stored alone (INT4 -> 1)."""
        return math.ceil(self.bits / 8)


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("fp32", 32, True),
        DType("bf16", 16, True),
        DType("fp16", 16, True),
        DType("fp8", 8, True),
        DType("fp4", 4, True),  # NVFP4 / MXFP4 elements (block scales: Precision.weight_bits)
        # block-scaled 4-bit storage (a KV cache): E2M1 with an E4M3 scale per 16 (NVFP4) or an
        # E8M0 scale per 32 (MXFP4, OCP Microscaling v1.0); weights take these through formats.py
        DType("nvfp4", 4.5, True),
        DType("mxfp4", 4.25, True),
        DType("int8", 8, False),
        DType("int4", 4, False),
    )
}
SCALED = ("nvfp4", "mxfp4")  # storage types that are also weight formats (formats.py)
_ALIASES = {
    "float32": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "e4m3": "fp8",
    "float8_e4m3fn": "fp8",
}


def dtype(name: str | DType) -> DType:
    """Look up a data type by name (``fp16``, ``bf16``, ``int8``, ...)."""
    if isinstance(name, DType):
        return name
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in DTYPES:
        raise UnknownNameError("data type", name, DTYPES)
    return DTYPES[key]


# float types below 16 bits are GEMM input types: real FP8 / FP4 engines quantise a GEMM's
# inputs, write 16-bit outputs, and keep 16-bit activations and all-reduces between GEMMs
NARROW_FLOATS = ("fp8", "fp4")

# Group-wise integer weight formats store a 16-bit scale and a 16-bit zero point per group of
# G weights along K: 32 / G bits per weight (G = 128: 0.25 bit, so int4 is 4.25 bits). Documented:
# gpt-fast quantize.py (bf16 scales_and_zeros of shape (K/G, N, 2), G in 32/64/128/256), the
# torchao/tinygemm int4 layout; AWQ and GPTQ store fp16 scales and 4-bit packed zeros (20 bits per
# group) and Marlin's symmetric format scales only (16 bits), so 32 bits is the upper form.
# int8 weight-only (gpt-fast, TensorRT-LLM) has one 16-bit scale per output channel: 16 / K bits
# per weight, under 0.01 bit at K >= 2048, not counted. FP4 is block-scaled: NVFP4 one FP8 E4M3
# scale per 16 elements (4.5 bits; NVIDIA's NVFP4 format, Blackwell), MXFP4 one E8M0 scale per
# 32 (4.25 bits; OCP Microscaling Formats spec v1.0); NVFP4's per-tensor FP32 scale is negligible.
GROUP_SCALE_BITS = {"int4": 32, "fp4": 8}  # scale (+ zero) bits per group
DEFAULT_WEIGHT_GROUP = {"int4": 128, "fp4": 16}  # AWQ / GPTQ / TensorRT-LLM W4A16; NVFP4
GROUPED_WEIGHTS = tuple(GROUP_SCALE_BITS)


@dataclass(frozen=True, slots=True)
class Precision:
    """Separate data types for weights, activations (between GEMMs, and all-reduce payloads),
    the KV cache, and the GEMM inputs the matrix units run at (``gemm``; None: the wider of
    weight and activation, i.e. weight-only quantisation dequantises to the activation type)."""

    weight: DType = DTYPES["fp16"]
    activation: DType = DTYPES["fp16"]
    kv: DType = DTYPES["fp16"]
    gemm: DType | None = None
    # weights per scale group of a group-wise format (int4, fp4 blocks); 0: DEFAULT_WEIGHT_GROUP;
    # -1: one scale per output channel (GPTQ group_size -1), not counted
    weight_group: int = 0
    # weight-only formats quantise the linear layers only: the token embedding (a lookup table)
    # stays at the activation type, and so does the LM head (AWQ, GPTQ, TensorRT-LLM/ModelOpt and
    # LMDeploy exclude it) unless this is set (gpt-fast's quantize.py replaces every nn.Linear)
    quantized_head: bool = False
    # a named weight format (formats.py): its label, its stored bits per weight (scales
    # included; 0: from the data type and group), and whether it stores the embedding and LM
    # head too (GGUF); a GGUF file's header gives those two tables' bits exactly
    format: str = ""
    format_bits: float = 0.0
    quantized_embeddings: bool = False
    embedding_bits: float = 0.0
    head_bits: float = 0.0

    def __post_init__(self) -> None:
        g = self.weight_group
        if isinstance(g, bool) or not isinstance(g, int) or g < -1:
            raise ConfigError(
                f"weight group size must be a positive whole number (or -1: per channel), got {g!r}"
            )

    @classmethod
    def of(
        cls,
        weight: str = "fp16",
        activation: str | None = None,
        kv: str | None = None,
        gemm: str | None = None,
        weight_group: int = 0,
    ) -> Precision:
        """``of("fp8")`` is an FP8 engine: FP8 weights and GEMM inputs, 16-bit activations
        and KV cache (give ``activation="fp8"`` for FP8 activations too). ``of("int4")`` is
        weight-only: 16-bit activations, GEMMs dequantised to 16 bits. A named weight format
        (``awq``, ``gptq-g32``, ``fp8-block``, ``mxfp4``, ``nvfp4``, ``q4_k_m``, ``iq2_xxs`` ...;
        see :mod:`hetsim.workload.formats`) sets the weight type, bits and GEMM type."""
        from hetsim.workload.formats import weight_format

        plain = weight.lower() in _ALIASES or (weight.lower() in DTYPES and weight.lower() not in SCALED)
        fmt = None if plain else weight_format(weight)
        if fmt is not None:
            a = dtype(activation) if activation else DTYPES["fp16"]
            g = dtype(gemm) if gemm else (dtype(fmt.gemm) if fmt.gemm else None)
            return cls(dtype(fmt.element), a, dtype(kv) if kv else a, g, weight_group or fmt.group,
                       format=fmt.name, format_bits=fmt.bits_per_weight,
                       quantized_embeddings=fmt.quantized_embeddings)  # fmt: skip
        w = dtype(weight)
        narrow = w.name in NARROW_FLOATS
        a = dtype(activation) if activation else (w if w.is_float and not narrow else DTYPES["fp16"])
        k = dtype(kv) if kv else a
        g = dtype(gemm) if gemm else (w if narrow else None)
        return cls(w, a, k, g, weight_group)

    @property
    def compute(self) -> DType:
        """Data type the matrix units run at: ``gemm`` when set, else the wider of weight and
        activation types (weight-only quantisation dequantises to the activation type)."""
        if self.gemm is not None:
            return self.gemm
        return self.weight if self.weight.bits >= self.activation.bits else self.activation

    @property
    def weight_only(self) -> bool:
        """Sub-16-bit weights narrower than the GEMM input type: dequantised in the GEMM kernel
        (16-bit weights under fp32 GEMMs are ordinary mixed precision, not weight-only)."""
        return self.weight.bits < 16 and self.weight.bits < self.compute.bits

    @property
    def group_size(self) -> int:
        """Weights per scale group (0 for a format without group scales)."""
        name = self.weight.name
        if name not in GROUPED_WEIGHTS or self.weight_group < 0:
            return 0
        return self.weight_group or DEFAULT_WEIGHT_GROUP[name]

    @property
    def weight_bits(self) -> float:
        """Stored bits per weight, group scales and zero points included (int4 G=128: 4.25)."""
        if self.format_bits > 0 and not self.weight_group:
            return self.format_bits
        g = self.group_size
        return self.weight.bits + (GROUP_SCALE_BITS[self.weight.name] / g if g else 0.0)

    @property
    def weight_bytes_per_element(self) -> float:
        return self.weight_bits / 8

    def weight_nbytes(self, n_elements: float) -> float:
        """Bytes ``n_elements`` weights occupy, with their group scales."""
        return n_elements * self.weight_bits / 8

    @property
    def embedding_bytes_per_element(self) -> float:
        """Bytes per token-embedding weight (16-bit under weight-only quantisation, unless the
        format stores it quantised)."""
        if self.embedding_bits > 0:
            return self.embedding_bits / 8
        if self.quantized_embeddings:
            return self.weight_bytes_per_element
        return self.activation.bytes_per_element if self.weight_only else self.weight_bytes_per_element

    @property
    def head_bytes_per_element(self) -> float:
        """Bytes per LM-head weight (16-bit under weight-only quantisation, unless quantised)."""
        if self.head_bits > 0:
            return self.head_bits / 8
        if self.quantized_embeddings:
            return self.weight_bytes_per_element
        return self.embedding_bytes_per_element if not self.quantized_head else self.weight_bytes_per_element

    @property
    def label(self) -> str:
        if self.format:
            gemm = f"/G{self.gemm.name}" if self.gemm is not None and self.gemm != self.weight else ""
            return f"W{self.format}/A{self.activation.name}/KV{self.kv.name}{gemm}"
        gemm = f"/G{self.gemm.name}" if self.gemm is not None and self.gemm != self.weight else ""
        # a group size other than the format's default is named (Wint4g32); per channel: "pc"
        group = "" if not self.weight_group or self.weight.name not in GROUPED_WEIGHTS else (
            "pc" if self.weight_group < 0 else f"g{self.weight_group}")  # fmt: skip
        if group == f"g{DEFAULT_WEIGHT_GROUP.get(self.weight.name, 0)}":
            group = ""
        return f"W{self.weight.name}{group}/A{self.activation.name}/KV{self.kv.name}{gemm}"
