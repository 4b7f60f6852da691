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
        DType("int8", 8, False),
        DType("int4", 4, False),
    )
}
_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16", "e4m3": "fp8"}


def dtype(name: str | DType) -> DType:
    """Look up a data type by name (``fp16``, ``bf16``, ``int8``, ...)."""
    if isinstance(name, DType):
        return name
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in DTYPES:
        raise UnknownNameError("data type", name, DTYPES)
    return DTYPES[key]


@dataclass(frozen=True, slots=True)
class Precision:
    """Separate data types for weights, activations and the KV cache."""

    weight: DType = DTYPES["fp16"]
    activation: DType = DTYPES["fp16"]
    kv: DType = DTYPES["fp16"]

    @classmethod
    def of(cls, weight: str = "fp16", activation: str | None = None, kv: str | None = None) -> Precision:
        w = dtype(weight)
        a = dtype(activation) if activation else (w if w.is_float else DTYPES["fp16"])
        k = dtype(kv) if kv else a
        return cls(w, a, k)

    @property
    def compute(self) -> DType:
        """Data type the matrix units run at: the wider of weight and activation types
        (weight-only quantisation dequantises to the activation type)."""
        return self.weight if self.weight.bits >= self.activation.bits else self.activation

    @property
    def label(self) -> str:
        return f"W{self.weight.name}/A{self.activation.name}/KV{self.kv.name}"
