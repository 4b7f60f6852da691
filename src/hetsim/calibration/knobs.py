"""The shared knobs of the calibrated model: what each means, the rows it is fitted on, and
how it is fitted. A knob is physical (a fraction of a datasheet rate, a latency, a host time of
an engine) and shared (never per GPU or per model); its value transfers to every device through
that device's own datasheet numbers.

Groups, fitted in this order (each on the rows the previous ones leave it):

1. ``kernel``: the kernel-model shape (GEMM main-loop efficiency and tile-edge cost, overlap,
   streaming fractions, vector-kernel caps and latencies; :data:`~hetsim.calibration.fit.KERNEL_PARAMS`)
   on the kernel rows of the fit hardware in the fit files (Vidur ops and gpu-stream, A100 + A40);
2. ``collective``: all-reduce alpha, per-hop latency and link efficiency
   (:data:`~hetsim.calibration.fit.COLLECTIVE_PARAMS`) on the fit hardware's all-reduce rows;
3. :data:`KNOBS`, one parameter each, least squares on log error with everything else held:
   ``narrow_gemm_efficiency`` (the main loop of 8- and 4-bit GEMMs, on NVIDIA FP8 / FP4 GEMM
   kernel rows); ``nvls5_link_efficiency`` (an all-reduce reduced in a fifth-generation NVLink
   switch, on single-node nccl-tests rows of B200 and GB200); ``nvls_link_efficiency`` (the same
   before NVLink 5) and ``attention_efficiency`` (fused attention) were candidates and are
   rejected (:data:`REJECTED`);
4. ``request_overhead_s``: TensorRT-LLM's host time per generate call, the median first-token
   residual of its batch-1 short-prompt rows (:mod:`hetsim.calibration.overhead_fit`);
5. ``sequence_overhead_s``: vLLM V1's host time per running sequence per step, on its dense
   TP-1 steady-state serving rows (:mod:`hetsim.calibration.sequence_fit`).

Which knobs are kept is decided by leave-one-source-out error (``hetsim calibrate --folds``,
:mod:`hetsim.calibration.folds`): a knob whose refit without a source makes that source's rows
worse than the knob's absence is rejected, and the table in docs/calibration.md says which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache

from hetsim.calibration.fit import FitResult, fit_params
from hetsim.calibration.kernel_rows import GEMM_METRICS
from hetsim.calibration.measurements import Measurement
from hetsim.calibration.predict import Task, across_nodes
from hetsim.cost.collectives import nvlink_generation
from hetsim.errors import HetsimError
from hetsim.hardware.kernels import KernelParams
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device, Link


@dataclass(frozen=True, slots=True)
class Knob:
    name: str  # a KernelParams field
    meaning: str
    lower: float
    upper: float
    rows: Callable[[Measurement], bool]  # the rows it is fitted on
    fitted_on: str  # the rows, in words (provenance)
    family: str = "kernel"  # the tasks it prices: kernel or collective


def _narrow_gemm(r: Measurement) -> bool:
    """FP8 / FP4 GEMM rows of NVIDIA tensor cores (Hopper, Blackwell). ROCm's hipBLASLt FP8 on
    MI300X (0.04-0.44 of its peak, Azure's table) is another family's kernel library: one source,
    so no held-out check for a knob of its own; its rows are scored, not fitted."""
    return r.metric in GEMM_METRICS and r.precision in ("fp8", "fp4") and not r.hardware.startswith("mi")


def _weight_only(r: Measurement) -> bool:
    """End-to-end rows of int8 / int4 weight-only checkpoints run on one GPU's memory (not an
    offload engine, not a CPU-GPU composition, not a GGUF file: their bound is elsewhere)."""
    from hetsim.calibration.e2e import policy_for
    from hetsim.sim.frameworks import profile_for

    engine = profile_for(r.framework)
    return (
        r.precision.startswith(("int4-wo", "int8-wo"))
        and "+" not in r.hardware
        and policy_for(r.framework) == "auto"
        and not engine.offload_layers
        and engine.name != "flexgen"
    )


def _flash(r: Measurement) -> bool:
    return r.metric == "attention_tflops:flash_attention_2"


def _nvls_generation(r: Measurement) -> int:
    """The NVLink generation of a single-node all-reduce row reduced in the switch (0: not one)."""
    if not r.metric.startswith("allreduce") or not r.hardware or across_nodes(r):
        return 0  # NVLS reduces inside one node: rows over several nodes are not its rows
    link = _link(r.hardware)
    return max(nvlink_generation(link), 1) if link is not None and link.in_network_reduction else 0


def _nvls(r: Measurement) -> bool:
    return 0 < _nvls_generation(r) < 5


def _nvls5(r: Measurement) -> bool:
    return _nvls_generation(r) >= 5


@cache
def _link(hardware: str) -> Link | None:
    try:
        return get_hardware(hardware).interconnect
    except HetsimError:
        return None


CANDIDATES: tuple[Knob, ...] = (
    Knob(
        "narrow_gemm_efficiency",
        "fraction of the 8- / 4-bit matrix peak a GEMM main loop reaches (FP8 / FP4 tensor cores)",
        0.2, 1.0, _narrow_gemm,
        "kernel-level FP8 / FP4 GEMM rows of NVIDIA GPUs: DeepGEMM (H800, dense and grouped MoE shapes) "
        "and Azure's cuBLASLt tables (H100, H200, GB200)",
    ),
    Knob(
        "nvls_link_efficiency",
        "fraction of the scale-up link's bandwidth an all-reduce reduced in the switch (NVLS) reaches",
        0.05, 1.0, _nvls,
        "all-reduce rows of GPUs whose NVSwitch (before NVLink 5) reduces in the network: Vidur's NCCL "
        "profiles on 2-8 H100, Azure's nccl-tests bus bandwidth on 8 H100 / H200, ml-engineering's on 8 H200",
        "collective",
    ),
    Knob(
        "nvls5_link_efficiency",
        "fraction of a fifth-generation NVLink's bandwidth an all-reduce reduced in the switch reaches",
        0.05, 1.0, _nvls5,
        "single-node all-reduce bus-bandwidth rows on NVLink 5 (nccl-tests): ml-engineering's 8 B200 "
        "(P6-B200, one node) and Azure's 4 GB200",
        "collective",
    ),
    Knob(
        "weight_only_stream_efficiency",
        "fraction of the 16-bit GEMM's weight-streaming rate a weight-only (int8 / int4, dequantised "
        "in registers) GEMM reaches on its packed weights",
        0.3, 1.0, _weight_only,
        "end-to-end rows of int8 / int4 weight-only checkpoints on one GPU: gpt-fast and torchao "
        "(A100 / H100), AutoAWQ (RTX 4090), LMDeploy's W4A16 comparison (A100)",
        "e2e",
    ),
    Knob(
        "attention_efficiency",
        "fraction of the 16-bit matrix peak a fused (FlashAttention) forward pass reaches",
        0.1, 1.0, _flash,
        "FlashAttention-2 throughput rows (Azure AI-benchmarking-guide: A100, H100, H200, GB200, MI300X)",
    ),
)  # fmt: skip
# the candidates leave one source out kept (calibration/commit.py::knob_selection, printed by
# `hetsim calibrate --folds`; a test checks this list agrees with it); a rejected knob keeps its
# default (0: as link_efficiency; attention 0.5, assumed)
REJECTED = {
    "weight_only_stream_efficiency": "LMDeploy's W4A16 table (three engines on one RTX 4090, 206 / 159 / 113 "
    "tokens/s for Llama-2-7B) gets worse held out, 18.0% -> 25.6%: the weight-only kernel's streaming rate "
    "is the engine's kernel library's, not one shared fraction (gpt-fast 26.3% -> 17.9%, torchao 15.6% -> "
    "8.5%, AutoAWQ 252.8% -> 245.6% held out; calibrate --folds)",
    "attention_efficiency": "one source (Azure, FlashAttention-2) holds every row: no held-out check, "
    "and leave-one-source-out error moved by < 0.01 points",
    "nvls_link_efficiency": "the sources disagree: the two nccl-tests sources improve held out (Azure "
    "49.2% -> 29.7%, ml-engineering 55.7% -> 24.7%) but Vidur's H100 all-reduce rows go from 25.6% to "
    "66.2%: at 128 MiB on 8 GPUs Vidur times 322 us where Azure's H100 nccl-tests imply 586 us",
}
KNOBS: tuple[Knob, ...] = tuple(k for k in CANDIDATES if k.name not in REJECTED)
KNOB_NAMES = tuple(k.name for k in KNOBS)


def knob(name: str) -> Knob:
    return next(k for k in CANDIDATES if k.name == name)


def knob_tasks(k: Knob, tasks: Sequence[Task]) -> list[Task]:
    """The tasks whose rows ``k`` is fitted on (every row of a task, or none)."""
    return [t for t in tasks if t.family == k.family and all(k.rows(r) for r in t.rows)]


def fit_knob(
    k: Knob, tasks: Sequence[Task], devices: dict[str, Device], base: KernelParams
) -> FitResult | None:
    """``k`` fitted on its rows of ``tasks`` (calibrated devices only), every other value held
    at ``base``; None where there are no such rows."""
    mine = [t for t in knob_tasks(k, tasks) if devices[t.hardware].kernels is not None]
    if not mine:
        return None
    start = replace(base, **{k.name: getattr(base, k.name) or 0.7})  # type: ignore[arg-type]
    return fit_params(mine, devices, ((k.name, k.lower, k.upper, 1.0),), start)
