"""Data types, kept in bits. Byte counts of tensors round up (so INT4 is never zero bytes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hetsim.errors import UnknownNameError


@dataclass(frozen=True, slots=True)
class DType:
    name: str
    bits: int
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
        DType("fp4", 4, True),  # NVFP4 / MXFP4 elements (block scales not counted)
        DType("int8", 8, False),
        DType("int4", 4, False),
    )
}
_ALIASES = {
    "float32": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "e4m3": "fp8",
    "float8_e4m3fn": "fp8",
    "nvfp4": "fp4",
    "mxfp4": "fp4",
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


@dataclass(frozen=True, slots=True)
class Precision:
    """Separate data types for weights, activations (between GEMMs, and all-reduce payloads),
    the KV cache, and the GEMM inputs the matrix units run at (``gemm``; None: the wider of
    weight and activation, i.e. weight-only quantisation dequantises to the activation type)."""

    weight: DType = DTYPES["fp16"]
    activation: DType = DTYPES["fp16"]
    kv: DType = DTYPES["fp16"]
    gemm: DType | None = None

    @classmethod
    def of(
        cls,
        weight: str = "fp16",
        activation: str | None = None,
        kv: str | None = None,
        gemm: str | None = None,
    ) -> Precision:
        """``of("fp8")`` is an FP8 engine: FP8 weights and GEMM inputs, 16-bit activations
        and KV cache (give ``activation="fp8"`` for FP8 activations too). ``of("int4")`` is
        weight-only: 16-bit activations, GEMMs dequantised to 16 bits."""
        w = dtype(weight)
        narrow = w.name in NARROW_FLOATS
        a = dtype(activation) if activation else (w if w.is_float and not narrow else DTYPES["fp16"])
        k = dtype(kv) if kv else a
        g = dtype(gemm) if gemm else (w if narrow else None)
        return cls(w, a, k, g)

    @property
    def compute(self) -> DType:
        """Data type the matrix units run at: ``gemm`` when set, else the wider of weight and
        activation types (weight-only quantisation dequantises to the activation type)."""
        if self.gemm is not None:
            return self.gemm
        return self.weight if self.weight.bits >= self.activation.bits else self.activation

    @property
    def label(self) -> str:
        gemm = f"/G{self.gemm.name}" if self.gemm is not None and self.gemm != self.weight else ""
        return f"W{self.weight.name}/A{self.activation.name}/KV{self.kv.name}{gemm}"
