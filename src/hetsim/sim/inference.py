"""``analyze`` and ``sweep``: static-batch inference on any device, one placed run.

Both go through the same run (:mod:`hetsim.sim.placed_run`): a placement policy, its phases
priced by one pricer, the homogeneous case being the ``primary`` policy; the choice of
policy (``auto``, ``oracle``) is :mod:`hetsim.placement.choose`'s. ``sweep`` evaluates N
configurations at once, and each gets exactly what ``analyze`` gives for it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hetsim.analysis.result import AnalysisResult, SweepResult
from hetsim.cost.roofline import Overlap, require_gemm_dtype
from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from hetsim.sim.config import Options as Options
from hetsim.sim.config import Serving as Serving
from hetsim.sim.config import Workload as Workload
from hetsim.sim.config import footprint as footprint
from hetsim.sim.interleave import check_interleave
from hetsim.sim.placed import DECODE_SAMPLES as DECODE_SAMPLES
from hetsim.sim.placed_analyze import analyze_run
from hetsim.sim.placed_sweep import SWEEP_METRICS as SWEEP_METRICS
from hetsim.sim.placed_sweep import sweep_run
from hetsim.sim.speculative import draft_side, drafter_footprint, reserve_drafter, with_drafter
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import NO_EP, ExpertParallel
from hetsim.workload.graph import AttentionImpl
from hetsim.workload.model import ModelSpec
from hetsim.workload.registry import get_model
from hetsim.workload.speculation import Speculation


def _resolve(
    model: ModelSpec | str,
    hardware: Device | str,
    precision: Precision | None,
    serving: Serving | None = None,
) -> tuple[ModelSpec, Device, Precision]:
    m, dev, prec = get_model(model), get_hardware(hardware), precision or Precision()  # type: ignore[arg-type]
    require_gemm_dtype(dev, prec)
    if serving is not None and serving.quantized_lm_head and not prec.quantized_head:
        prec = dataclasses.replace(prec, quantized_head=True)  # the framework quantises every linear layer
    return m, dev, prec


def _options(
    m: ModelSpec, tp: int, pp: int, attention: AttentionImpl, overlap: Overlap, serving: Serving | None,
    experts: ExpertParallel, speculation: Speculation | None, interleave: int = 1,
) -> Options:  # fmt: skip
    """The run's options, refused where they do not apply to ``m``."""
    if pp < 1 or pp > m.n_layers:
        raise ConfigError(f"pp must be between 1 and the {m.n_layers} layers of {m.name}")
    experts = experts.within(tp)  # DP attention: ranks of tp devices
    experts.check(m, tp)
    if speculation is not None:
        speculation.drafter(m)  # refuses a drafter that does not apply (no MTP, other vocabulary)
    return Options(tp=tp, pp=pp, attention=attention, overlap=overlap, serving=serving or Serving(),
                   experts=experts, speculation=speculation, sub_batches=interleave)  # fmt: skip


def _footprint(
    m: ModelSpec, prec: Precision, batch: Any, seq: Any, opts: Options, live: Any, dev: Device
) -> dict[str, Any]:
    """Per-device bytes of the run, the drafter's weights and cache included (a drafter on
    another side holds its weights there: :func:`~hetsim.sim.speculative.reserve_drafter`)."""
    fp = footprint(m, prec, batch, seq, opts, live_len=live)
    spec = opts.speculation
    if spec is None:
        return fp
    extra = drafter_footprint(spec, m, prec, batch, seq, opts.tp, opts.experts)
    if draft_side(spec, dev) != 0:
        extra = {**extra, "weights": 0.0}
    return with_drafter(fp, extra)


def analyze(
    model: ModelSpec | str,
    hardware: Device | str,
    workload: Workload,
    precision: Precision | None = None,
    *,
    tp: int = 1,
    pp: int = 1,
    attention: AttentionImpl = "fused",
    overlap: Overlap = "max",
    check_fit: bool = False,
    serving: Serving | None = None,
    policy: str = "auto",
    dynamic: bool = True,
    experts: ExpertParallel = NO_EP,
    speculation: Speculation | None = None,
    interleave: int = 1,
) -> AnalysisResult:
    """Analyse one static-batch inference run under a placement ``policy`` (``hetsim
    policies``; ``auto``: the primary side when it fits, else the fastest closed-form policy
    that fits the whole device; :mod:`hetsim.placement.choose`). ``dynamic`` re-places the
    decode as the KV cache grows (else it is placed once for the full length). With
    ``check_fit`` a run whose placement does not fit raises :class:`CapacityError`. The
    figures are the same as the configuration's in any :func:`sweep`. ``experts``: expert
    parallelism and DP attention (``workload.batch`` is then per DP rank; throughput counts
    every rank); ``speculation``: speculative decoding; ``interleave``: the decode run as that
    many sub-batches interleaved across the device's sides (:mod:`hetsim.sim.interleave`)."""
    m, dev, prec = _resolve(model, hardware, precision, serving)
    check_interleave(interleave, dev, workload.batch)
    opts = _options(m, tp, pp, attention, overlap, serving, experts, speculation, interleave)
    dev = reserve_drafter(speculation, m, dev, prec, tp, experts)
    w = workload
    fp = _footprint(m, prec, w.batch, w.input_len + w.output_len, opts, w.input_len, dev)
    return analyze_run(policy, m, dev, prec, w, opts, fp, check_fit=check_fit, dynamic=dynamic)


def sweep(
    model: ModelSpec | str,
    hardware: Device | str,
    batch: Any,
    input_len: Any,
    output_len: Any,
    precision: Precision | None = None,
    *,
    tp: int = 1,
    pp: int = 1,
    attention: AttentionImpl = "fused",
    overlap: Overlap = "max",
    serving: Serving | None = None,
    policy: str = "auto",
    dynamic: bool = True,
    experts: ExpertParallel = NO_EP,
    speculation: Speculation | None = None,
    interleave: int = 1,
) -> SweepResult:
    """Evaluate many (batch, input_len, output_len) configurations at once (arrays broadcast
    together) under a placement ``policy`` (``auto``: per configuration, the primary side
    where it fits, else the fastest closed-form policy that fits; search policies are for
    :func:`analyze`). No per-configuration Python loop, and no configuration's figures
    depend on the others: each is what :func:`analyze` gives for it."""
    m, dev, prec = _resolve(model, hardware, precision, serving)
    B, P, G = (np.asarray(x, dtype=float) for x in np.broadcast_arrays(batch, input_len, output_len))
    B, P, G = B.reshape(-1), P.reshape(-1), G.reshape(-1)
    if B.size == 0 or min(B.min(), P.min(), G.min()) < 1:
        raise ConfigError("batch, input_len and output_len must all be positive")
    check_interleave(interleave, dev, B)
    opts = _options(m, tp, pp, attention, overlap, serving, experts, speculation, interleave)
    dev = reserve_drafter(speculation, m, dev, prec, tp, experts)
    fp = _footprint(m, prec, B, P + G, opts, P, dev)
    return sweep_run(policy, m, dev, prec, (B, P, G), opts, fp, dynamic=dynamic)
