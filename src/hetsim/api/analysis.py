"""Analysis through the one option set (:mod:`hetsim.options`): ``analyze``, ``sweep``,
``compare``, and the records they return.

Every keyword of :func:`analyze`, :func:`sweep` and :func:`compare` is an analysis option
(:data:`hetsim.options.OPTIONS`), checked by the one validator the CLI, ``explore`` specs and
the dashboard use, so a value is accepted, or refused with the same line, everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hetsim.analysis.breakdown import article_check as article_check
from hetsim.analysis.checks import check_result
from hetsim.analysis.graph_result import ClassShare as ClassShare
from hetsim.analysis.graph_result import GraphResult
from hetsim.analysis.result import AnalysisResult, OpResult, PhaseResult, SweepResult
from hetsim.analysis.result import LinkResult as LinkResult
from hetsim.analysis.result import RemapResult as RemapResult
from hetsim.analysis.result import SideResult as SideResult
from hetsim.analysis.uncertainty import band_range as band_range
from hetsim.analysis.uncertainty import bands_of as bands_of
from hetsim.analysis.uncertainty import regime_of as regime_of
from hetsim.cost.roofline import Overlap
from hetsim.errors import CapacityError, ConfigError
from hetsim.ingest import check_fuse as check_fuse
from hetsim.ingest import fuse as fuse
from hetsim.ingest import ingest_onnx as ingest_onnx
from hetsim.ingest import parse_input_shapes as parse_input_shapes
from hetsim.ingest import resolve_model_file as resolve_model_file
from hetsim.ingest.records import IngestedGraph as IngestedGraph
from hetsim.options import BY_NAME, OPTIONS, AnalysisOptions, Option, check_value, run_analysis
from hetsim.sim import inference as _inference
from hetsim.sim import whatif as whatif
from hetsim.sim.graph_run import analyze_graph as analyze_graph
from hetsim.sim.graph_run import check_graph_options
from hetsim.sim.inference import Serving as Serving
from hetsim.sim.inference import Workload
from hetsim.sim.runtime import IterationRecord as IterationRecord
from hetsim.sim.whatif import WhatIf as WhatIf
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import EP_SKEW as EP_SKEW
from hetsim.workload.expert_parallel import ExpertParallel as ExpertParallel
from hetsim.workload.graph import AttentionImpl
from hetsim.workload.speculation import Speculation as Speculation

DTYPE_OPTIONS = ("weight_dtype", "act_dtype", "kv_dtype", "gemm_dtype", "weight_group")
WORKLOAD_OPTIONS = ("batch", "input_len", "output_len")


def _options(
    model: Any,
    hardware: Any,
    precision: Precision | None,
    serving: Serving | None,
    options: Mapping[str, Any],
) -> AnalysisOptions:
    if precision is not None and any(k in options for k in DTYPE_OPTIONS):
        raise ConfigError("give either precision= or the data-type options (weight_dtype=, ...), not both")
    if serving is not None and options.get("framework") is not None:
        raise ConfigError("give either serving= or framework=, not both")
    values = dict(options)
    ex = values.pop("experts", None)  # the records, as sim.inference takes them
    if ex is not None:
        values.update(ep=ex.ep, dp_attention=ex.dp_attention, ep_skew=ex.skew, ep_redundant=ex.redundant,
                      ep_shared_devices=ex.shared_devices)  # fmt: skip
    sp = values.pop("speculation", None)
    if sp is not None:
        values["spec"] = f"{sp.method},k={sp.tokens},accept={sp.acceptance!r}" + (
            f",draft={sp.draft}" if sp.draft else ""
        )
    return AnalysisOptions.parse({"model": model, "hardware": hardware, **values})


def _run(opts: AnalysisOptions, precision: Precision | None, serving: Serving | None) -> dict[str, Any]:
    """The keywords of the core call for ``opts``."""
    attention: AttentionImpl = "unfused" if opts.attention == "unfused" else "fused"
    overlap: Overlap = "sum" if opts.overlap == "sum" else "max"
    return {"tp": opts.tp, "pp": opts.pp, "attention": attention, "overlap": overlap,
            "policy": opts.policy, "dynamic": opts.dynamic,
            "serving": serving if serving is not None else opts.serving(),
            "experts": opts.experts(), "speculation": opts.speculation(),
            "interleave": opts.interleave}  # fmt: skip


def analyze(
    model: Any,
    hardware: Any,
    workload: Workload | None = None,
    precision: Precision | None = None,
    *,
    check_fit: bool | None = None,
    serving: Serving | None = None,
    **options: Any,
) -> AnalysisResult:
    """Analyse one static-batch run. ``options``: any analysis option by name (``tp``,
    ``act_dtype``, ``policy``, ``framework``, ``calibrated``, ...; ``hetsim.options.OPTIONS``).
    Unlike the CLI, a run that does not fit is reported (``fits`` false) unless
    ``ignore_capacity=False`` (or the older ``check_fit=True``) asks for :class:`CapacityError`."""
    if workload is not None:
        if any(k in options for k in WORKLOAD_OPTIONS):
            raise ConfigError("give either a Workload or batch=/input_len=/output_len=, not both")
        options = {**options, "batch": workload.batch, "input_len": workload.input_len,
                   "output_len": workload.output_len}  # fmt: skip
    if check_fit is not None:
        options = {**options, "ignore_capacity": not check_fit}
    options = {"ignore_capacity": True, **options}
    opts = _options(model, hardware, precision, serving, options)
    prec = precision if precision is not None else opts.precision()
    w = Workload(opts.batch, opts.input_len, opts.output_len)
    return _inference.analyze(opts.model_spec(), opts.device(), w, prec, check_fit=not opts.ignore_capacity,
                              **_run(opts, precision, serving))  # fmt: skip


def sweep(
    model: Any,
    hardware: Any,
    batch: Any,
    input_len: Any,
    output_len: Any,
    precision: Precision | None = None,
    *,
    serving: Serving | None = None,
    **options: Any,
) -> SweepResult:
    """Evaluate many (batch, input_len, output_len) configurations at once (arrays broadcast
    together); each gets exactly what :func:`analyze` gives it. ``options``: any analysis
    option but the workload's three; with ``ignore_capacity=False`` a sweep with a
    configuration that does not fit raises :class:`CapacityError`."""
    given = [k for k in WORKLOAD_OPTIONS if k in options]
    if given:
        raise ConfigError(f"sweep takes {given[0]} as its positional array, not as a keyword")
    opts = _options(model, hardware, precision, serving, {"ignore_capacity": True, **options})
    prec = precision if precision is not None else opts.precision()
    r = _inference.sweep(opts.model_spec(), opts.device(), batch, input_len, output_len, prec,
                         **_run(opts, precision, serving))  # fmt: skip
    if not opts.ignore_capacity and not bool(r.fits.all()):
        raise CapacityError(
            f"{int((~r.fits).sum())} of {r.fits.size} configurations do not fit in memory; "
            "give ignore_capacity=True to report them (fits false)"
        )
    return r


# the columns of a comparison row (``hetsim compare --json``)
COMPARE_COLUMNS = (
    "model", "hardware", "calibration", "precision", "tp", "pp", "batch", "input_len", "output_len", "fits",
    "ttft_s", "tpot_s", "e2e_latency_s", "output_throughput_tok_per_s", "energy_j_per_token",
    "mbu", "mfu", "footprint_bytes", "policy",
)  # fmt: skip
COMPARE_METRICS = ("ttft_s", "tpot_s", "e2e_latency_s", "output_throughput_tok_per_s", "energy_j_per_token",
                   "mbu", "mfu")  # fmt: skip
# the uncertainty band of each banded figure (hetsim.analysis.uncertainty): <figure>_lo, <figure>_hi
BANDED = ("ttft_s", "tpot_s", "e2e_latency_s", "output_throughput_tok_per_s", "energy_j_per_token")
BAND_COLUMNS = (*(f"{m}_{end}" for m in BANDED for end in ("lo", "hi")), "band_validated")
MAX_COMPARE_ROWS = 64


def compare(
    models: Iterable[Any],
    hardware: Iterable[Any],
    weight_dtypes: Iterable[str | None] = (None,),
    **options: Any,
) -> list[dict[str, Any]]:
    """One row (:data:`COMPARE_COLUMNS` and :data:`BAND_COLUMNS`) per model x hardware x
    weight type, every other analysis option shared (``act_dtype``, ``policy``, ...). A
    combination that does not fit keeps its row with ``fits: false`` and no figures (None),
    unless ``ignore_capacity=True``, which reports its figures anyway."""
    ms, hs, ds = list(models), list(hardware), list(weight_dtypes)
    n = len(ms) * len(hs) * len(ds)
    if n > MAX_COMPARE_ROWS:
        raise ConfigError(f"{n} combinations requested; compare at most {MAX_COMPARE_ROWS} at once")
    if "weight_dtype" in options:
        raise ConfigError("compare takes its weight types as weight_dtypes (a list)")
    base = AnalysisOptions.parse({"model": ms[0] if ms else "llama2-7b", **options})
    rows = []
    for m in ms:
        for h in hs:
            for d in ds:
                opts = base.replace(model=m, hardware=h, weight_dtype=d, ignore_capacity=True)
                rows.append(_row(run_analysis(opts), base.ignore_capacity))
    return rows


def _row(r: AnalysisResult, ignore_capacity: bool) -> dict[str, Any]:
    d = r.to_dict()
    row = {k: d[k] for k in COMPARE_COLUMNS}
    bands = d.get("bands", {})
    for m in BANDED:
        b = bands.get(m)
        row[f"{m}_lo"], row[f"{m}_hi"] = (b["lo"], b["hi"]) if b else (None, None)
    row["band_validated"] = all(b["validated"] for b in bands.values()) if bands else False
    if not row["fits"] and not ignore_capacity:  # no figures for a run that cannot happen
        row.update({k: None for k in (*COMPARE_METRICS, *BAND_COLUMNS[:-1])})
    return row


__all__ = [
    "BANDED",
    "BAND_COLUMNS",
    "BY_NAME",
    "COMPARE_COLUMNS",
    "COMPARE_METRICS",
    "MAX_COMPARE_ROWS",
    "OPTIONS",
    "AnalysisOptions",
    "AnalysisResult",
    "AttentionImpl",
    "ClassShare",
    "GraphResult",
    "IngestedGraph",
    "IterationRecord",
    "LinkResult",
    "OpResult",
    "Option",
    "Overlap",
    "PhaseResult",
    "Precision",
    "RemapResult",
    "Serving",
    "SideResult",
    "SweepResult",
    "WhatIf",
    "Workload",
    "analyze",
    "analyze_graph",
    "article_check",
    "band_range",
    "bands_of",
    "check_fuse",
    "check_graph_options",
    "check_result",
    "check_value",
    "compare",
    "fuse",
    "ingest_onnx",
    "parse_input_shapes",
    "regime_of",
    "resolve_model_file",
    "run_analysis",
    "sweep",
    "whatif",
]  # fmt: skip
