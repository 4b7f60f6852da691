"""How a host-wall-clock PyTorch microbenchmark times one call, as a named measurement profile.

Kernel-level rows of Vidur and gpu-stream time the GPU kernel alone (CUDA time). LLMCompass's
real-hardware rows (``llmcompass_ops.csv``) time a whole PyTorch call from the host instead:
``ae/figure5`` and ``software_model/{matmul,softmax,layernorm,gelu}.py`` at commit b95c6c9 run

    3 warm-up calls, each followed by torch.cuda.synchronize()
    50 times: start = time.time(); out = f(x); torch.cuda.synchronize(); end = time.time()
    latency = statistics.median(end - start)

so one measured call = the host's Python + dispatcher (+ torch.compile guard and wrapper) work,
the launch, the GPU kernel, and the return from ``synchronize``. With one kernel per call the
host work and the kernel cannot overlap (the kernel is launched at the end of the host work and
the clock stops after it), so

    t_wall = call floor (per launch path) + GPU time of the kernel(s) the call launches.

The GPU time is the cost model's own (calibrated kernel model, or the datasheet roofline with
``--uncalibrated``); the profile adds only what the clock adds, and says which kernel each op
really is. A floor no source gives is a named knob fitted on a stated subset (A100 rows) with
the other GPU held out (``calibration/wallclock_fit.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hetsim.calibration.measurements import Measurement
from hetsim.errors import ConfigError
from hetsim.workload.ops import Op

LLMCOMPASS_CODE = "github.com/PrincetonUniversity/LLMCompass @ b95c6c9"


@dataclass(frozen=True, slots=True)
class OpLaunch:
    """What one benchmarked PyTorch call launches.

    ``path``: 'eager' (one ATen op through the dispatcher) or 'compiled' (a ``@torch.compile``
    function: dynamo guards, the AOT wrapper and a Triton launcher before the kernel).
    ``pricing``: 'stream' (an Inductor-generated kernel with 16-byte vector loads: a DRAM stream
    at the memory-streaming fraction under the per-SM load cap, as gpu-stream is priced) or
    'calibrated' (the cost model's own class for the op: the GEMM model, the reduction model)."""

    path: str
    kernels: int
    pricing: str
    source: str

    def __post_init__(self) -> None:
        if self.path not in ("eager", "compiled") or self.pricing not in ("stream", "calibrated"):
            raise ConfigError(f"OpLaunch: path {self.path!r} / pricing {self.pricing!r} unknown")
        if self.kernels != 1:
            # several kernels would overlap the host's dispatch of kernel i+1 with kernel i; no
            # benchmarked op needs that yet, so it is refused rather than priced wrongly
            raise ConfigError("OpLaunch: only single-kernel calls are modelled")


@dataclass(frozen=True, slots=True)
class HostTimingProfile:
    name: str
    timer: str
    call_s: dict[str, float]  # launch path -> host floor of one call, s
    ops: dict[str, OpLaunch]  # benchmarked op ('gemm', 'softmax', 'layernorm', 'gelu')
    matches: str  # regex on a row's lower-cased source_id + framework text
    provenance: dict[str, str] = field(default_factory=dict)
    fitted_on: str = ""

    def floor_s(self, op: str) -> float:
        """Host floor of one call of ``op`` (s)."""
        return self.call_s[self.ops[op].path]


# Calibrated (hetsim.calibration.wallclock_fit.fit_call_floors, least squares in log error):
# eager on the 22 A100 softmax rows, compiled on the 20 A100 GELU + 22 A100 layernorm rows of
# llmcompass_ops.csv; every MI210 row is held out. The orders of magnitude are the published
# 5-25 us of CPU work per eager op (sim/frameworks.py EAGER_KERNEL_DISPATCH_S cites it) plus a
# launch and a synchronize; a torch.compile call adds dynamo's guard check, the AOTAutograd
# runtime wrapper and Inductor's Python Triton launcher (PyTorch 2.0, the artifact's README).
EAGER_CALL_S = 9.33e-6
COMPILED_CALL_S = 45.7e-6
FIT_HARDWARE = ("a100-80gb-sxm",)
_FITTED_ON = (
    "llmcompass_ops.csv A100 rows: eager_call_s on softmax (22), compiled_call_s on GELU (20) + "
    "layernorm (22); the 108 MI210 rows held out"
)

PYTORCH_MICROBENCH = HostTimingProfile(
    name="pytorch-microbench",
    timer="host wall clock (time.time) around one call + torch.cuda.synchronize(); median of 50 "
    "after 3 warm-ups",
    call_s={"eager": EAGER_CALL_S, "compiled": COMPILED_CALL_S},
    ops={
        "gemm": OpLaunch(
            "eager",
            1,
            "calibrated",
            f"documented: {LLMCOMPASS_CODE} software_model/matmul.py Matmul.run_on_gpu: torch.matmul "
            "of 2-D bfloat16 tensors (one BLAS GEMM; the CSV's 'torch.bmm, FP16' is BatchedMatmul's, "
            "which test_matmul.py does not call); bf16 and fp16 share the matrix peak on A100 and MI210",
        ),
        "softmax": OpLaunch(
            "eager",
            1,
            "calibrated",
            f"documented: {LLMCOMPASS_CODE} software_model/softmax.py: eager torch.softmax(x, dim=-1), "
            "fp16 (one ATen kernel: cunn_SoftMaxForward makes max, sum-of-exp and write passes over each "
            "row, priced by the calibrated reduction model)",
        ),
        "layernorm": OpLaunch(
            "compiled",
            1,
            "stream",
            f"documented: {LLMCOMPASS_CODE} software_model/layernorm.py: @torch.compile "
            "torch.layer_norm(x, [N]) without weight or bias, fp16: one Inductor reduction kernel "
            "(statistics and normalisation fused; a row's second read is served on chip)",
        ),
        "gelu": OpLaunch(
            "compiled",
            1,
            "stream",
            f"documented: {LLMCOMPASS_CODE} software_model/gelu.py: @torch.compile "
            "gelu(x, approximate='tanh'), fp16: one Inductor pointwise kernel; torch/_inductor "
            "triton_heuristics.pointwise picks XBLOCK = max(256, min(numel // 128, 1024)) with "
            "num_warps = XBLOCK / 256, i.e. 8 contiguous fp16 (one 16-byte load) per thread",
        ),
    },
    matches=r"llmcompass",
    provenance={
        "timer": f"documented: {LLMCOMPASS_CODE} software_model/*.py run_on_gpu (iterations = 50, "
        "software_model/operators.py)",
        "eager_call_s": "calibrated: " + _FITTED_ON.split(": ", 1)[1].split(", compiled")[0],
        "compiled_call_s": "calibrated: compiled_call_s on the A100 GELU (20) + layernorm (22) rows; "
        "MI210 held out",
    },
    fitted_on=_FITTED_ON,
)
PROFILES = (PYTORCH_MICROBENCH,)


def timing_profile(r: Measurement) -> HostTimingProfile | None:
    """The host-timing profile a kernel row was measured with, or None (CUDA time, or an op
    the profile does not describe)."""
    text = f"{r.source_id} {r.framework}".lower()
    op = benchmarked_op(r)
    return next((p for p in PROFILES if re.search(p.matches, text) and op in p.ops), None)


def benchmarked_op(r: Measurement) -> str:
    """'gemm', 'softmax', 'layernorm' or 'gelu' from the row's metric."""
    return "gemm" if r.metric.startswith(("gemm_", "matmul_")) else r.metric.split("_")[0]


def stream_op(op: Op) -> Op:
    """``op``'s DRAM traffic as one streaming kernel (a vectorised Inductor kernel)."""
    return Op(op.name, op.sublayer, "lookup", "vector", 1, flop=0.0, act_read_bytes=op.act_read_bytes,
              act_write_bytes=op.act_write_bytes)  # fmt: skip
