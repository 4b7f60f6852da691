"""Calibrated kernel-model parameters of one device (the fitted shape of its cost curves).

These are the few *dimensionless or time-valued* numbers that, together with a device's own
datasheet numbers (peak flop/s, SM count, memory and link bandwidth), price every op in
:mod:`hetsim.cost`. They are fitted by ``hetsim calibrate`` on measurements and stored in
``hardware/calibrated/<device>.yaml`` overlays; each carries its provenance.

Because they are normalised (fractions of the device's own peak or bandwidth, per-kernel
latencies, tile-shape penalties relative to a 128x128 tile), parameters fitted on one GPU
transfer to another: that is how held-out hardware is predicted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from hetsim.datafiles import read_mapping
from hetsim.errors import ConfigError
from hetsim.hardware.provenance import Provenance
from hetsim.units import parse_number, parse_quantity

# Output tiles cuBLAS / CUTLASS choose between for fp16 on tensor-core GPUs (M x N).
DEFAULT_TILES: tuple[tuple[int, int], ...] = (
    (256, 128),
    (128, 256),
    (128, 128),
    (128, 64),
    (64, 128),
    (64, 64),
)


@dataclass(frozen=True, slots=True)
class KernelParams:
    """Shape parameters of the calibrated cost model. Fractions are of the device's own
    datasheet peak or bandwidth; times are seconds."""

    gemm_efficiency: float = 0.8  # fraction of matrix peak a 128x128-tile main loop reaches
    gemm_tile_edge: float = 8.0  # tile edge cost (elements): eff ∝ 1 / (1 + e (1/tm + 1/tn))
    split_k_min_k: int = 256  # smallest K slice per split-K part (0: no split-K)
    overlap_p: float = 4.0  # compute/memory overlap: (c^p + m^p)^(1/p); large p -> max
    memory_efficiency: float = 0.87  # fraction of datasheet bandwidth a streaming kernel gets
    elementwise_efficiency: float = 0.8  # activations, residual adds (fraction of bandwidth)
    reduction_efficiency: float = 0.6  # norms and softmax (row reductions)
    # per-core streaming cap of vector kernels: bytes one SM moves per clock (times the
    # device's datasheet SM count and boost clock); 0: no cap
    elementwise_issue: float = 0.0  # activations, residual adds
    reduction_issue: float = 0.0  # norms and softmax
    # per-core cap on the bytes attention KV reads and gathers / copies stream: bytes one SM
    # moves per clock (accesses in flight / latency; times the datasheet SMs and clock); 0: none
    load_issue: float = 0.0
    # an activation operand just written by the previous kernel is still in the device's
    # datasheet L2 when the op's footprint fits: its DRAM time is divided by this (1: off)
    cache_gain: float = 1.0
    attention_efficiency: float = 0.5  # fraction of matrix peak of fused (flash) attention
    # fraction of the 8- / 4-bit matrix peak a GEMM main loop reaches (FP8 / FP4 tensor cores:
    # twice the math per operand byte, block-scale promotion); 0: the same as gemm_efficiency
    narrow_gemm_efficiency: float = 0.0
    # fraction of the 16-bit GEMM's weight-streaming rate a weight-only GEMM (int8 / int4 weights
    # dequantised in registers: Marlin, tinygemm, fpA_intB, AWQ GEMV) reaches on its packed
    # weights; 0: the same rate
    weight_only_stream_efficiency: float = 0.0
    # small-M GEMM kernel (M <= 16: cuBLAS GEMV / 16-row MMA split over every SM): the fraction
    # of memory_efficiency x bandwidth its weight stream reaches; the autotuner takes it where it
    # beats the 64-row tile (a low-compute part); 0: no such candidate. Measured, not fitted:
    # the median of Vidur's M <= 16 cuBLAS GEMMs on the fit GPUs (calibration/small_m.py)
    small_m_stream_efficiency: float = 0.868
    kernel_latency_s: float = 4e-6  # minimum duration of a GEMM / attention kernel
    # a decode attention kernel (one query token per sequence over its paged KV cache): its
    # fixed duration (split-KV and combine passes, chains of dependent block-table and KV-block
    # loads) and the fraction of the KV streaming rate its paged reads reach; 0: as a GEMM
    # (kernel_latency_s, the full rate). vLLM's FlashAttention decode on A100 measures 13.8 us and
    # 0.807 (Vidur's rows, data/measurements/published/vidur_attention_decode.csv, refitted in
    # tests/cost/test_decode_attention.py); off by default: on TensorRT-LLM's serving and static
    # rows (XQA kernels) those values make the held-out ITL worse (docs/calibration.md)
    decode_attention_latency_s: float = 0.0
    decode_attention_stream_efficiency: float = 0.0
    vector_latency_s: float = 2e-6  # minimum duration of a norm / activation / copy kernel
    # minimum duration of a vector kernel in core clock cycles (device's datasheet boost clock);
    # replaces vector_latency_s on a unit with a clock (0: use vector_latency_s)
    vector_latency_cycles: float = 0.0
    reduction_latency_cycles: float = 0.0  # extra for a norm / softmax (two dependent passes)
    # extra for a norm / softmax in seconds: the block-wide reduction between its two passes
    # waits on memory round trips, which do not scale with the core clock
    reduction_latency_s: float = 0.0
    # how a vector kernel's latency and streaming time combine: (s^q + l^q)^(1/q); 1: sum
    latency_overlap_p: float = 1.0
    # overlap exponent of a vector kernel's core cap and DRAM time (0: same as overlap_p)
    vector_overlap_p: float = 0.0
    launch_overhead_s: float = 2e-6  # gap between dependent kernels in a framework
    step_overhead_s: float = 0.0  # per forward pass: scheduler, sampling, host sync
    allreduce_latency_s: float = 10e-6  # alpha of the all-reduce alpha-beta model
    allreduce_hop_latency_s: float = 1e-6  # per ring step: alpha grows by 2(p-1) hops
    link_efficiency: float = 0.7  # beta: fraction of link bandwidth an all-reduce reaches
    # the same for an all-reduce reduced in the switch (NVLS / SHARP: each byte up once and down
    # once); 0: link_efficiency
    nvls_link_efficiency: float = 0.0
    # the same on a fifth-generation NVLink switch (B200, GB200: NCCL's tuning model gives NVLS a
    # per-architecture efficiency); 0: nvls_link_efficiency
    nvls5_link_efficiency: float = 0.0
    tiles: tuple[tuple[int, int], ...] = DEFAULT_TILES
    provenance: Mapping[str, Provenance] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name in (
            "gemm_efficiency",
            "memory_efficiency",
            "elementwise_efficiency",
            "reduction_efficiency",
            "attention_efficiency",
            "link_efficiency",
        ):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ConfigError(f"kernel parameter {name} must be in (0, 1], got {value}")
        for name in (
            "kernel_latency_s",
            "decode_attention_latency_s",
            "vector_latency_s",
            "vector_latency_cycles",
            "reduction_latency_cycles",
            "reduction_latency_s",
            "launch_overhead_s",
            "step_overhead_s",
            "allreduce_latency_s",
            "allreduce_hop_latency_s",
            "gemm_tile_edge",
            "elementwise_issue",
            "reduction_issue",
            "load_issue",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"kernel parameter {name} must be non-negative")
        if not (0 <= self.nvls_link_efficiency <= 1 and 0 <= self.nvls5_link_efficiency <= 1):
            raise ConfigError(
                "kernel parameters nvls_link_efficiency and nvls5_link_efficiency must be in [0, 1] "
                "(0: as link_efficiency)"
            )
        if not 0 <= self.narrow_gemm_efficiency <= 1:
            raise ConfigError(
                "kernel parameter narrow_gemm_efficiency must be in [0, 1] (0: as gemm_efficiency)"
            )
        if not 0 <= self.small_m_stream_efficiency <= 1:
            raise ConfigError(
                "kernel parameter small_m_stream_efficiency must be in [0, 1] (0: no small-M kernel)"
            )
        if not 0 <= self.decode_attention_stream_efficiency <= 1:
            raise ConfigError(
                "kernel parameter decode_attention_stream_efficiency must be in [0, 1] (0: the full rate)"
            )
        if not 0 <= self.weight_only_stream_efficiency <= 1:
            raise ConfigError(
                "kernel parameter weight_only_stream_efficiency must be in [0, 1] (0: as memory_efficiency)"
            )
        if self.cache_gain < 1:
            raise ConfigError("kernel parameter cache_gain must be at least 1")
        if self.vector_overlap_p != 0 and self.vector_overlap_p < 1:
            raise ConfigError("kernel parameter vector_overlap_p must be 0 (as overlap_p) or at least 1")
        if self.overlap_p < 1 or self.latency_overlap_p < 1:
            raise ConfigError("kernel parameters overlap_p and latency_overlap_p must be at least 1")
        if self.split_k_min_k < 0:
            raise ConfigError("kernel parameter split_k_min_k must be non-negative")
        if not self.tiles or any(tm <= 0 or tn <= 0 for tm, tn in self.tiles):
            raise ConfigError("kernel parameter tiles must be a non-empty list of positive [M, N]")


def with_values(kp: KernelParams, values: Mapping[str, Any]) -> KernelParams:
    """``kp`` with the named fields replaced (e.g. fitted values)."""
    kwargs: dict[str, Any] = dict(values)
    return replace(kp, **kwargs)


NUMBER_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(KernelParams) if f.name not in ("tiles", "provenance")
)
_TIME_FIELDS = {n for n in NUMBER_FIELDS if n.endswith("_s")}


def kernel_params_from_mapping(raw: Mapping[str, Any], where: str) -> KernelParams:
    """Read the ``kernels:`` mapping of an overlay (times may carry units: ``"4 us"``)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: kernels must be a mapping of parameter -> value")
    allowed = (*NUMBER_FIELDS, "tiles", "provenance")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown kernel parameter(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name in NUMBER_FIELDS:
        if name not in raw:
            continue
        if name in _TIME_FIELDS:
            values[name] = parse_quantity(raw[name], "s", where=f"{where}.{name}", unit_in_name=True)
        elif name == "split_k_min_k":
            values[name] = int(parse_number(raw[name], where=f"{where}.{name}"))
        else:
            values[name] = parse_number(raw[name], where=f"{where}.{name}")
    if "tiles" in raw:
        try:
            values["tiles"] = tuple((int(t[0]), int(t[1])) for t in raw["tiles"])
        except (TypeError, ValueError, IndexError):
            raise ConfigError(f"{where}.tiles: give a list of [M, N] pairs") from None
    prov_raw = raw.get("provenance", {}) or {}
    if not isinstance(prov_raw, Mapping):
        raise ConfigError(f"{where}.provenance: must map parameter -> 'kind: source'")
    prov = {str(k): Provenance.parse(v, f"{where}.provenance.{k}") for k, v in prov_raw.items()}
    missing = [k for k in values if k not in prov and "*" not in prov]
    if missing:
        raise ConfigError(f"{where}: parameter(s) {', '.join(missing)} have no provenance")
    if "*" in prov:
        star = prov.pop("*")
        prov = {**{k: star for k in values}, **prov}
    return KernelParams(**values, provenance=prov)


def kernel_params_to_mapping(p: KernelParams) -> dict[str, Any]:
    """The inverse of :func:`kernel_params_from_mapping` (SI numbers, no unit strings)."""
    out: dict[str, Any] = {}
    for name in NUMBER_FIELDS:
        value = getattr(p, name)
        out[name] = int(value) if name == "split_k_min_k" else float(f"{value:.6g}")
    out["tiles"] = [list(t) for t in p.tiles]
    out["provenance"] = {k: str(v) for k, v in p.provenance.items()}
    return out


OVERLAY_PACKAGE = "hetsim.hardware.calibrated"
DISABLE_ENV = "HETSIM_CALIBRATION"  # set to "off" to use datasheet presets without overlays


def overlay_path(device_name: str) -> Path:
    """Where the calibrated overlay of ``device_name`` lives (it may not exist)."""
    return Path(str(resources.files(OVERLAY_PACKAGE))) / f"{device_name}.yaml"


def load_overlay(device_name: str) -> KernelParams | None:
    """The calibrated kernel parameters of a preset, or None when it has no overlay (or
    ``HETSIM_CALIBRATION=off``)."""
    if os.environ.get(DISABLE_ENV, "").lower() in ("off", "0", "no", "false"):
        return None
    path = overlay_path(device_name)
    if not path.is_file():
        return None
    raw = read_mapping(path)
    if "kernels" not in raw:
        raise ConfigError(f"{path}: missing 'kernels' mapping")
    return kernel_params_from_mapping(raw["kernels"], str(path.name))
