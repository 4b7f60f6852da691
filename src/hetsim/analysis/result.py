"""Typed result records. Tables, JSON and plots are derived from these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class OpResult:
    """One operator of one phase, summed over its layers (decode: mean per step)."""

    name: str
    phase: str
    sublayer: str
    kind: str
    unit: str
    count: int
    flop: float
    bytes: float
    weight_bytes: float
    kv_bytes: float
    act_bytes: float
    intensity: float
    time_s: float
    compute_s: float
    memory_s: float
    energy_j: float
    bound: str
    data: str = ""  # sides holding its weights / KV, e.g. "hbm 62% + lpddr 38%"
    compute: str = ""  # sides whose units run it
    route: str = ""  # how streamed data reach the compute, e.g. "lpddr -> hbm over NVLink-C2C"
    # the resource that sets its time: "compute <side> <unit>", "memory <side>", "link <name>"
    limit: str = ""


@dataclass(frozen=True, slots=True)
class SideResult:
    """One memory side over the whole run (prefill + every decode step)."""

    name: str
    memory: str
    capacity_bytes: float
    resident_bytes: float  # the most it holds at any point of the run
    fits: bool
    bytes_moved: float  # read + written in its memory
    busy_s: float  # its memory or units busy
    energy_j: float  # dynamic energy of its units and memory (streams included)

    def __post_init__(self) -> None:
        # a side filled to capacity sums its shares of each tensor group: round-off can put
        # the sum a few ULPs above (96000000000.00002 of 96e9) while the fit check passes;
        # report the side as full, not over
        cap = self.capacity_bytes
        if self.fits and cap < self.resident_bytes <= cap * (1 + 1e-9):
            object.__setattr__(self, "resident_bytes", cap)


@dataclass(frozen=True, slots=True)
class LinkResult:
    name: str
    bytes: float  # over the whole run


@dataclass(frozen=True, slots=True)
class RemapResult:
    """A re-map at a decode iteration boundary (the placement's held sides changed)."""

    step: int
    context: int
    change: str
    migrated_bytes: float
    migration_s: float


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """Totals of one phase: prefill once; decode per step (mean over the steps)."""

    time_s: float
    flop: float
    bytes: float
    energy_j: float
    mbu: float
    mfu: float
    # what sets the phase's time: "host (kernel dispatch)" where issuing the kernels takes
    # longer than running them, else the op limit holding the most of its time
    limit: str = ""


@dataclass(frozen=True, slots=True)
class Band:
    """An interval around one predicted figure (same unit): ``lo`` .. ``hi`` held ``level`` of
    the held-out measurements of its ``regime`` (leave-one-source-out residuals,
    :mod:`hetsim.analysis.uncertainty`). ``validated``: the regime had held-out rows of its own
    calibration kind and precision class; otherwise the band is a wider, borrowed one."""

    lo: float
    hi: float
    level: float
    regime: str
    rows: int
    validated: bool


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    model: str
    hardware: str
    precision: str
    tp: int
    pp: int
    batch: int
    input_len: int
    output_len: int
    params: int
    weight_bytes: float
    kv_bytes_per_token: float
    footprint_bytes: float  # per device: weights + KV at full length + activation workspace
    footprint_breakdown: dict[str, float]
    capacity_bytes: float  # per device, every memory side together (each side's in ``sides``)
    fits: bool  # the chosen placement fits the whole device: every side holds what it is given
    ttft_s: float
    tpot_s: float
    e2e_latency_s: float
    output_throughput_tok_per_s: float
    mbu: float  # decode phase
    mfu: float  # prefill phase
    energy_j: float
    energy_j_per_token: float
    avg_power_w: float
    prefill: PhaseResult
    decode: PhaseResult
    ops: list[OpResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    policy: str = "primary"  # the placement policy that produced this result
    policy_reason: str = ""  # why (auto: which policy was chosen and why)
    sides: list[SideResult] = field(default_factory=list)
    links: list[LinkResult] = field(default_factory=list)
    remaps: list[RemapResult] = field(default_factory=list)
    # memory-tier timeline of the decode: contexts and resident bytes per side (for plots)
    tier_timeline: dict[str, list[float]] = field(default_factory=dict)
    # which kernel calibration priced it: "<hw> overlay", "transferred from <hw> overlay", "none"
    calibration: str = "none"
    # the uncertainty regime of this prediction ("<calibration kind>/<precision class>/<dense|moe>",
    # hetsim.analysis.uncertainty.regime_of); '' gives no bands
    regime: str = ""
    # an interval per predicted figure (ttft_s, tpot_s, e2e_latency_s, output_throughput_tok_per_s,
    # energy_j_per_token, avg_power_w), derived from ``regime`` and the figures themselves
    bands: dict[str, Band] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.regime:
            from hetsim.analysis.uncertainty import result_bands

            object.__setattr__(self, "bands", result_bands(self))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """Metrics of N configurations as arrays (one entry per configuration)."""

    model: str
    hardware: str
    tp: int
    batch: FloatArray
    input_len: FloatArray
    output_len: FloatArray
    footprint_bytes: FloatArray
    fits: npt.NDArray[np.bool_]
    ttft_s: FloatArray
    tpot_s: FloatArray
    e2e_latency_s: FloatArray
    output_throughput_tok_per_s: FloatArray
    mbu: FloatArray
    mfu: FloatArray
    energy_j_per_token: FloatArray
    avg_power_w: FloatArray
    # placement policy of each configuration (auto chooses per configuration)
    policy: npt.NDArray[np.str_] = field(default_factory=lambda: np.array([], dtype=str))

    def __len__(self) -> int:
        return int(self.batch.shape[0])
