"""The analysis options, defined once: what one static-batch analysis takes.

:class:`AnalysisOptions` is a frozen record of every option (model, hardware, workload, data
types, parallelism, placement, attention, overlap, framework, capacity check, calibration);
:data:`OPTIONS` says, per option, its name, its command-line flag, its default and its help.
Every front end reads this one set: ``hetsim analyze`` and ``hetsim compare`` build their
flags' help from it, an ``explore`` spec takes each option as an axis, the Python API takes
each as a keyword, and the dashboard's Analyze and Compare pages take each as a field. One
validator (:meth:`AnalysisOptions.__post_init__`, or :func:`check_value` for one value) gives
the same one-line error whichever front end the value came through.

The module imports nothing heavy at load time (the CLI builds its ``--help`` from it); names
(data types, policies, frameworks) are checked against their registries when a record is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hetsim.errors import ConfigError, UnknownNameError

if TYPE_CHECKING:
    from hetsim.analysis.result import AnalysisResult
    from hetsim.engines import Serving
    from hetsim.hardware.spec import Device
    from hetsim.workload.dtypes import Precision
    from hetsim.workload.expert_parallel import ExpertParallel
    from hetsim.workload.model import ModelSpec
    from hetsim.workload.speculation import Speculation

MAX_COUNT = 2**31  # the largest count an option takes


@dataclass(frozen=True, slots=True)
class Option:
    """One analysis option: its field name, command-line flag, kind and help text.

    ``kind``: ``name`` (a preset name or file), ``count`` (a whole number from 1; ``slots``: from 0),
    ``dtype`` (a data type or weight format, None: the default rule), ``group`` (weights per scale, -1:
    per channel, None: the format's default), ``choice`` (one of ``choices``), ``policy``,
    ``framework`` (None: none), ``bool``, ``number`` (a finite number), ``spec`` (a speculation's
    text, None: off).
    """

    name: str
    kind: str
    help: str
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("model", "name", "Preset name, or a config.json / model YAML path."),
    Option("hardware", "name", "Preset name, a hardware YAML path, or a composition of presets "
           "(rtx-4090+xeon-8480x2+dram:1TB+nvme; h100-sxmx16); see docs/hardware.md."),
    Option("batch", "count", "Sequences in the static batch."),
    Option("input_len", "count", "Prompt tokens per sequence."),
    Option("output_len", "count", "Generated tokens per sequence."),
    Option("weight_dtype", "dtype", "fp32, bf16, fp16, fp8, fp4, int8, int4 or a weight format (awq, "
           "nvfp4, q4_k_m, ...; default: a config.json's torch_dtype and quantization_config, else fp16)."),
    Option("act_dtype", "dtype", "Activation type (default: weight type if float, else fp16)."),
    Option("kv_dtype", "dtype", "KV-cache type (default: activation type)."),
    Option("gemm_dtype", "dtype", "GEMM input type (default: fp8/fp4 weights run fp8/fp4 GEMMs, "
           "others 16-bit)."),
    Option("weight_group", "group", "int4 weights per 16-bit scale + zero (default 128, or the config.json's "
           "group_size; gpt-fast: 32-256; -1: one scale per channel)."),
    Option("tp", "count", "Tensor-parallel devices."),
    Option("pp", "count", "Pipeline-parallel stages."),
    Option("policy", "policy", "Placement policy (hetsim policies); auto: primary when it fits."),
    Option("dynamic", "bool", "Re-place the decode as the KV cache grows (false: place once for the "
           "full length; the CLI's --static-placement)."),
    Option("attention", "choice", "fused (flash-style traffic) or unfused.", ("fused", "unfused")),
    Option("overlap", "choice", "max (compute and memory overlap) or sum.", ("max", "sum")),
    Option("framework", "framework", "Framework profile: lmdeploy, tensorrt-llm, tensorrt-llm-pre-xqa, "
           "gpt-fast, vllm; offload engines flexgen, accelerate, deepspeed-zero-inference."),
    Option("ignore_capacity", "bool", "Report a run that does not fit instead of failing."),
    Option("calibrated", "bool", "Price with the calibrated kernels (false: the datasheet roofline; "
           "the CLI's --uncalibrated)."),
    Option("ep", "count", "Expert-parallel devices: MoE experts dealt whole over them (with --tp N: the TP "
           "group; with --dp-attention: N / tp DP ranks; 1: none)."),
    Option("dp_attention", "bool", "The --ep devices form data-parallel ranks of --tp devices each, with "
           "their own batch and KV cache; MoE tokens dispatched and combined by all-to-all (--batch is per "
           "rank)."),
    Option("ep_skew", "number", "Busiest EP device's share over uniform routing (1: balanced, e.g. by "
           "redundant experts; see docs/models.md)."),
    Option("ep_redundant", "slots", "Redundant replicas of routed experts, dealt with them over the routed "
           "--ep devices (so --ep may exceed the experts; 0: none)."),
    Option("ep_shared_devices", "slots", "--ep devices given over to replicas of the shared experts (the "
           "rest hold the routed ones; with --dp-attention; CloudMatrix384's EP320: --ep 320 "
           "--ep-redundant 32 --ep-shared-devices 32)."),
    Option("spec", "spec", "Speculative decoding: METHOD[,k=K][,accept=A][,draft=NAME][,side=SIDE][,dtype=T]"
           "[,layers=N]; METHOD mtp, eagle or draft, e.g. 'eagle,k=3,accept=0.8'; side=: the drafter on "
           "another side of the device (none: off; defaults and sources in docs/models.md)."),
    Option("interleave", "count", "Decode as N sub-batches interleaved across the device's sides (one "
           "sub-batch's GEMMs beside another's attention, NeuPIMs-style; 1: off; needs 2+ sides and a "
           "batch of at least N; docs/placement.md)."),
)  # fmt: skip
BY_NAME = {o.name: o for o in OPTIONS}
# the command-line spelling of the two options whose flag says the opposite of the field
NEGATED_FLAGS = {"dynamic": "--static-placement", "calibrated": "--uncalibrated"}


def check_value(name: str, value: Any) -> Any:
    """``value`` for option ``name`` if valid (names normalised), else one :class:`ConfigError`
    line naming the option as the command line spells it."""
    if name not in BY_NAME:
        raise UnknownNameError("analysis option", name, BY_NAME)
    opt = BY_NAME[name]
    flag, kind = opt.flag, opt.kind
    if kind in ("count", "slots"):
        low = int(kind == "count")
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_COUNT:
            raise ConfigError(f"{flag} must be a whole number from {low} to {MAX_COUNT:,}, got {value!r:.40}")
        return value
    if kind == "number":
        import math

        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{flag} must be a finite number, got {value!r:.40}")
        return float(value)
    if kind == "spec":
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{flag} must be text such as 'eagle,k=3', got {value!r:.40}")
        from hetsim.workload.speculation import Speculation

        return value.strip() if Speculation.parse(value) is not None else None
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{flag} must be true or false, got {value!r:.40}")
        return value
    if kind == "group":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value == 0
                                  or value < -1 or value > MAX_COUNT):  # fmt: skip
            raise ConfigError(
                f"{flag} must be a positive number of weights (or -1: per channel), got {value!r:.40}"
            )
        return value
    if value is None and kind in ("dtype", "framework"):
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{flag} must be a name, got {value!r:.40}")
    return _check_name(opt, value.strip())


def _check_name(opt: Option, value: str) -> str:
    if opt.kind == "choice":
        if value not in opt.choices:
            raise ConfigError(
                f"{opt.flag} must be {' or '.join(repr(c) for c in opt.choices)}, got {value!r:.40}"
            )
    elif opt.kind == "dtype":
        from hetsim.workload.dtypes import Precision, dtype

        Precision.of(value) if opt.name == "weight_dtype" else dtype(value)
    elif opt.kind == "policy" and value != "auto":
        from hetsim.placement.policies import check_name

        return check_name(value)
    elif opt.kind == "framework":
        from hetsim.engines import get

        get(value)
    return value


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """Everything one static-batch analysis takes (:data:`OPTIONS` documents each field).
    ``model`` and ``hardware`` are names (presets, files, compositions) or loaded records."""

    model: Any = "llama2-7b"  # str | ModelSpec
    hardware: Any = "a100-80gb-sxm"  # str | Device
    batch: int = 1
    input_len: int = 512
    output_len: int = 128
    weight_dtype: str | None = None
    act_dtype: str | None = None
    kv_dtype: str | None = None
    gemm_dtype: str | None = None
    weight_group: int | None = None
    tp: int = 1
    pp: int = 1
    policy: str = "auto"
    dynamic: bool = True
    attention: str = "fused"
    overlap: str = "max"
    framework: str | None = None
    ignore_capacity: bool = False
    calibrated: bool = True
    ep: int = 1
    dp_attention: bool = False
    ep_skew: float = 1.0  # hetsim.workload.expert_parallel.EP_SKEW (a test holds them equal)
    ep_redundant: int = 0
    ep_shared_devices: int = 0
    spec: str | None = None
    interleave: int = 1

    def __post_init__(self) -> None:
        for o in OPTIONS:
            value = getattr(self, o.name)
            if o.name in ("model", "hardware") and not isinstance(value, str):
                continue  # a loaded ModelSpec / Device
            object.__setattr__(self, o.name, check_value(o.name, value))

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> AnalysisOptions:
        """A record from a mapping of option name to value (a spec point, a dashboard form,
        API keywords); an unknown name is refused with the closest known ones."""
        for k in values:
            if k not in BY_NAME:
                raise UnknownNameError("analysis option", str(k), BY_NAME)
        return cls(**dict(values))

    def replace(self, **changes: Any) -> AnalysisOptions:
        return dataclasses.replace(self, **changes)

    def precision(self) -> Precision:
        """The data types of the run (a config.json's own, where no weight type is given)."""
        from hetsim.workload.quantization import resolve_precision

        model = self.model if isinstance(self.model, str) else ""
        prec = resolve_precision(model, self.weight_dtype, self.act_dtype, self.kv_dtype, self.gemm_dtype)
        return (
            prec if self.weight_group is None else dataclasses.replace(prec, weight_group=self.weight_group)
        )

    def device(self) -> Device:
        from hetsim.hardware.loader import get_hardware

        return get_hardware(self.hardware, calibrated=self.calibrated)

    def model_spec(self) -> ModelSpec:
        from hetsim.workload.registry import get_model

        return get_model(self.model)

    def experts(self) -> ExpertParallel:
        """The expert-parallel layout (checked against the model when the run is built)."""
        from hetsim.workload.expert_parallel import ExpertParallel

        return ExpertParallel(
            self.ep, self.dp_attention, self.ep_skew, self.ep_redundant, self.ep_shared_devices
        )

    def speculation(self) -> Speculation | None:
        """Speculative decoding (None: off)."""
        from hetsim.workload.speculation import Speculation

        return Speculation.parse(self.spec) if self.spec else None

    def serving(self) -> Serving | None:
        """The framework's serving record (None: the default engine's)."""
        from hetsim.engines import get

        return get(self.framework).serving if self.framework else None


def run_analysis(opts: AnalysisOptions) -> AnalysisResult:
    """Analyse the run ``opts`` describe (what ``hetsim analyze`` prints), its result checked
    for impossible figures. A run that does not fit raises :class:`CapacityError` unless
    ``ignore_capacity``."""
    from hetsim.analysis.checks import check_result
    from hetsim.sim.inference import Workload, analyze

    r = analyze(
        opts.model_spec(),
        opts.device(),
        Workload(opts.batch, opts.input_len, opts.output_len),
        opts.precision(),
        tp=opts.tp,
        pp=opts.pp,
        attention="unfused" if opts.attention == "unfused" else "fused",
        overlap="sum" if opts.overlap == "sum" else "max",
        check_fit=not opts.ignore_capacity,
        policy=opts.policy,
        dynamic=opts.dynamic,
        serving=opts.serving(),
        experts=opts.experts(),
        speculation=opts.speculation(),
        interleave=opts.interleave,
    )
    return check_result(r)
