"""Result records of an ingested graph (ONNX / PyTorch): one pass priced on one device."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hetsim.analysis.result import OpResult


@dataclass(frozen=True, slots=True)
class ClassShare:
    """Totals of one operator class (matmul, attention, normalisation, elementwise, other)."""

    op_class: str
    n_ops: int
    flop: float
    bytes: float
    time_s: float
    time_share: float  # of the pass


@dataclass(frozen=True, slots=True)
class UnsupportedShare:
    op_type: str
    count: int
    node_share: float
    byte_share: float


@dataclass(frozen=True, slots=True)
class GraphResult:
    """One pass of a graph (a batch of ``batch`` images, one denoising step) on one device.

    ``latency_s`` is the pass; ``latency_per_item_s`` the pass divided by the batch;
    MFU = flop / time / peak matrix rate; MBU = bytes / time / peak bandwidth; energy is
    dynamic (flop and bits moved) plus the device's static power over the pass."""

    model: str
    hardware: str
    precision: str
    fuse: str
    batch: int
    inputs: dict[str, list[int]]
    params: float
    weight_bytes: float
    activation_peak_bytes: float  # the largest tensors one op reads and writes at once
    footprint_bytes: float
    capacity_bytes: float
    fits: bool
    flop: float
    macs: float
    bytes: float
    latency_s: float
    latency_per_item_s: float
    throughput_items_per_s: float
    mfu: float
    mbu: float
    energy_j: float
    energy_j_per_item: float
    avg_power_w: float
    classes: list[ClassShare]
    unsupported: list[UnsupportedShare]
    ops: list[OpResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
