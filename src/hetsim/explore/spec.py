"""A sweep spec: named axes (a list or one value each), zip groups, hardware parameters over a
base preset, validity filters, prices and objectives.

The points are the Cartesian product of *dimensions*: every axis is one dimension, except the
axes of a ``zip`` group, which vary together and form one. Point ``i`` is decoded in mixed
radix with the last dimension fastest; the vectorisable axes (batch, input_len, output_len)
are ordered last, so a contiguous index range falls into few groups of (model, hardware, tp,
data types, ...) and each group is evaluated as one vectorised sweep.

    axes:   {model: [llama2-7b, llama2-70b], hardware: h2m2, tp: [1, 2], batch: [1, 8, 64]}
    hardware_params: {hbm.capacity: [48 GB, 96 GB], lpddr.bandwidth: [272 GB/s, 544 GB/s]}
    zip:    [[input_len, output_len]]
    filters: [fits, divisible, applicable, "tpot_s <= 0.05"]   # the first three are the default

``fits``: the footprint fits the memory (the placement's, for two-tier systems);
``divisible``: tp divides the heads and KV heads, pp at most the layers; ``applicable``: the
placement policy can apply (pim-attention needs memory-side compute), the hardware has matrix
units for the GEMM type (no FP8 on an A100) and ``interleave`` N has 2+ sides and a batch >= N.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.errors import ConfigError, UnknownNameError
from hetsim.options import BY_NAME as OPTION_NAMES
from hetsim.options import check_value
from hetsim.units import parse_quantity

# axis name -> default value (None: required)
AXES: dict[str, Any] = {
    "model": None,
    "hardware": None,
    "tp": 1,
    "pp": 1,
    "batch": None,
    "input_len": None,
    "output_len": None,
    "weight_dtype": "fp16",
    "act_dtype": None,  # default: the weight type if it is a float type, else fp16
    "kv_dtype": None,  # default: the activation type
    "attention": "fused",
    "overlap": "max",
    "policy": "auto",  # placement policy (hetsim policies); auto: primary side where it fits
    # the other analysis options (hetsim.options), static mode only; their defaults are the CLI's
    "gemm_dtype": None,  # default: fp8/fp4 weights run fp8/fp4 GEMMs, others 16-bit
    "weight_group": None,  # int4 weights per scale (-1: per channel); default: the format's
    "dynamic": True,  # re-place the decode as the KV cache grows
    "framework": None,  # framework profile (hetsim engines)
    "ignore_capacity": False,  # true: keep points that do not fit (the fits filter passes them)
    "calibrated": True,  # false: the datasheet roofline
    "ep": 1,  # expert-parallel devices (MoE models; with tp = ep, or with dp_attention "on")
    "dp_attention": "off",  # "on": each EP device a data-parallel rank (batch per rank)
    "ep_skew": 1.0,  # busiest EP device's share over uniform routing (EP_SKEW)
    "ep_redundant": 0,  # expert slots: redundant replicas of routed experts, devices given to shared ones
    "ep_shared_devices": 0,
    "interleave": 1,  # decode sub-batches interleaved across the device's sides (1: off)
    "spec": "",  # speculative decoding, e.g. "mtp", "eagle,k=3,accept=0.8", "draft,draft=llama3.2-1b"
    # serving mode only (mode: serving; hetsim.serving.simulate_serving per point)
    "rate": None,  # Poisson arrivals, requests/s
    "requests": 200,  # requests per simulated run
    "engine": "vllm",  # serving engine preset
    "slo": "",  # e.g. "ttft=0.5,tpot=0.05" (seconds)
}
SERVING_AXES = ("rate", "requests", "engine", "slo")
STATIC_ONLY = ("batch", "pp", "attention", "overlap", "gemm_dtype", "weight_group", "dynamic", "framework",
               "ignore_capacity", "calibrated", "interleave", "ep_redundant",
               "ep_shared_devices")  # fmt: skip
MODES = ("static", "serving")
INT_AXES = frozenset({"tp", "pp", "ep", "interleave", "batch", "input_len", "output_len", "requests"})
VECTOR_AXES = ("batch", "input_len", "output_len")
# hardware parameter field -> (unit kind for parse_quantity, column suffix)
SIDE_PARAMS = {"capacity": ("bytes", "bytes"), "bandwidth": ("bytes_per_s", "bytes_per_s"),
               "compute_scale": ("", "x")}  # fmt: skip
LINK_PARAMS = {"bandwidth": ("bytes_per_s", "bytes_per_s"), "latency": ("s", "s")}
LINKS = ("link", "interconnect")  # the side link of a device; the device-to-device interconnect
STATIC_FILTERS = ("fits", "divisible", "applicable")
TOP_KEYS = ("name", "description", "mode", "axes", "hardware_params", "zip", "filters", "prices",
            "objectives", "reduce", "chunk_size")  # fmt: skip
MAX_COUNT = 2**31  # the largest count an axis takes (the CLI's bound)
MAX_REQUESTS = 100_000  # requests per simulated serving run (about 20 s of one core each)
MAX_CHUNK = 2**20  # points evaluated in memory at once (a few hundred MB of columns)
MAX_CHUNKS = 100_000  # chunk files in one store
BOUND_PATTERN = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(<=|>=|<|>|==)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True, slots=True)
class Bound:
    """A metric bound such as ``tpot_s <= 0.05`` (applied to the evaluated rows)."""

    column: str
    op: str
    value: float

    @property
    def text(self) -> str:
        return f"{self.column} {self.op} {self.value:g}"

    def keep(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        ops = {"<=": np.less_equal, ">=": np.greater_equal, "<": np.less, ">": np.greater,
               "==": np.equal}  # fmt: skip
        out: np.ndarray[Any, Any] = ops[self.op](x, self.value)
        return out


@dataclass(frozen=True, slots=True)
class Dimension:
    """One radix of the product: the axes it sets and their values (equal lengths)."""

    axes: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]  # per axis, the value list

    @property
    def size(self) -> int:
        return len(self.values[0])

    @property
    def vector(self) -> bool:
        return all(a in VECTOR_AXES for a in self.axes)


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    mode: str  # "static" (vectorised static batches) or "serving" (one serving run per point)
    raw: Mapping[str, Any]  # the spec as given (JSON-able); its hash names the store
    dims: tuple[Dimension, ...]  # group dimensions first, vector dimensions last
    constants: Mapping[str, Any]  # axes with one value, and defaults
    params: tuple[str, ...]  # hardware parameter names, e.g. "hbm.capacity"
    static_filters: tuple[str, ...]
    bounds: tuple[Bound, ...]
    objectives: tuple[tuple[str, str], ...]  # (column, "min" | "max")
    reduce: Mapping[str, Any]
    chunk_size: int

    @property
    def n_points(self) -> int:
        return math.prod(d.size for d in self.dims)

    @property
    def n_vector(self) -> int:
        return math.prod(d.size for d in self.dims if d.vector)

    @property
    def digest(self) -> str:
        text = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def decode(self, index: np.ndarray[Any, Any]) -> dict[str, np.ndarray[Any, Any]]:
        """Per-axis value *positions*: for each dimension, the value index of every point."""
        out: dict[str, np.ndarray[Any, Any]] = {}
        rest = np.asarray(index, dtype=np.int64)
        for d in reversed(self.dims):
            pos = rest % d.size
            rest = rest // d.size
            for a in d.axes:
                out[a] = pos
        return out

    def value_of(self, axis: str, pos: int) -> Any:
        for d in self.dims:
            if axis in d.axes:
                return d.values[d.axes.index(axis)][pos]
        return self.constants[axis]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _axis_values(name: str, raw: Any) -> list[Any]:
    values = _as_list(raw)
    if not values:
        raise ConfigError(f"axis {name!r} has an empty list; give at least one value")
    out = []
    for v in values:
        if name == "dp_attention" and isinstance(v, str) and v.strip().lower() in ("on", "off"):
            v = v.strip().lower() == "on"  # the axis's on/off spelling of the option's true/false
        if name in OPTION_NAMES:
            out.append(check_value(name, v))  # the one validator of the analysis options
            continue
        if name in INT_AXES:
            top = MAX_REQUESTS if name == "requests" else MAX_COUNT
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= top:
                raise ConfigError(
                    f"axis {name!r}: values must be whole numbers from 1 to {top:,}, got {v!r:.40}"
                )
        elif name == "rate":
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < math.inf:
                raise ConfigError(f"axis 'rate': values must be positive finite requests/s, got {v!r:.40}")
        elif not isinstance(v, str):
            raise ConfigError(f"axis {name!r}: values must be names, got {v!r}")
        out.append(v)
    return out


def _param_values(name: str, raw: Any) -> list[float]:
    head, _, field = name.partition(".")
    if not field:
        raise ConfigError(f"hardware parameter {name!r}: write it as SIDE.FIELD, e.g. hbm.capacity")
    table = LINK_PARAMS if head in LINKS else SIDE_PARAMS
    if field not in table:
        raise UnknownNameError(f"field of hardware parameter {name!r}", field, table)
    kind = table[field][0]
    out = []
    for v in _as_list(raw):
        if kind and not isinstance(v, str):
            raise ConfigError(
                f"hardware parameter {name!r}: {v!r} has no unit; write it with one, "
                f"e.g. '96 GB', '3 TB/s' or '10 us'"
            )
        x = parse_quantity(v, kind, where=f"hardware parameter {name!r}") if kind else v
        if isinstance(x, bool) or not isinstance(x, int | float) or not x > 0:
            raise ConfigError(f"hardware parameter {name!r}: values must be positive, got {v!r}")
        out.append(float(x))
    if not out:
        raise ConfigError(f"hardware parameter {name!r} has an empty list")
    return out


def param_column(name: str) -> str:
    """Column of a hardware parameter: ``hbm.capacity`` -> ``hbm_capacity_bytes``."""
    head, _, field = name.partition(".")
    table = LINK_PARAMS if head in LINKS else SIDE_PARAMS
    return f"{head}_{field}_{table[field][1]}".replace("-", "_")


def _filters(raw: Any) -> tuple[tuple[str, ...], tuple[Bound, ...]]:
    static: list[str] = []
    bounds: list[Bound] = []
    for f in _as_list(list(STATIC_FILTERS) if raw is None else raw):
        if not isinstance(f, str):
            raise ConfigError(f"filter {f!r}: write 'fits', 'divisible' or a bound like 'tpot_s <= 0.05'")
        if f in STATIC_FILTERS:
            static.append(f)
            continue
        m = BOUND_PATTERN.match(f)
        if not m:
            raise ConfigError(f"filter {f!r}: write 'fits', 'divisible' or a bound like 'tpot_s <= 0.05'")
        bounds.append(Bound(m.group(1), m.group(2), float(m.group(3))))
    return tuple(static), tuple(bounds)


def _objectives(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return (("output_throughput_tok_per_s", "max"), ("usd_per_mtoken", "min"))
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("objectives: give a mapping of column to min or max, e.g. {tpot_s: min}")
    out = []
    for col, sense in raw.items():
        if sense not in ("min", "max"):
            raise ConfigError(f"objective {col!r}: sense must be min or max, got {sense!r}")
        out.append((str(col), str(sense)))
    return tuple(out)


def parse_spec(raw: Mapping[str, Any]) -> Spec:
    """Validate a spec mapping (the YAML as loaded) and build its product."""
    if not isinstance(raw, Mapping):
        raise ConfigError("a spec must be a mapping with an 'axes' key")
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise UnknownNameError("spec key", str(unknown[0]), TOP_KEYS)
    axes_raw = raw.get("axes")
    if not isinstance(axes_raw, Mapping) or not axes_raw:
        raise ConfigError("spec: 'axes' must be a mapping of axis name to a value or a list")
    for name in axes_raw:
        if name not in AXES:
            hint = " (hardware parameters go under hardware_params)" if "." in str(name) else ""
            raise UnknownNameError(f"axis{hint}", str(name), AXES)
    mode = raw.get("mode", "static")
    if mode not in MODES:
        raise UnknownNameError("mode", str(mode), MODES)
    if mode == "serving":
        required: tuple[str, ...] = ("model", "hardware", "rate", "input_len", "output_len")
        wrong = [a for a in STATIC_ONLY if a in axes_raw]
        if wrong:
            why = ("the engine batches", "serve-sim has no expert slots; use mode: static")["ep_" in wrong[0]]
            raise ConfigError(f"axis {wrong[0]!r} has no meaning in serving mode ({why})")
    else:
        required = ("model", "hardware", "batch", "input_len", "output_len")
        wrong = [a for a in SERVING_AXES if a in axes_raw]
        if wrong:
            raise ConfigError(f"axis {wrong[0]!r} needs mode: serving")
    missing = [a for a in required if a not in axes_raw]
    if missing:
        raise ConfigError(f"spec: axis {missing[0]!r} is required (give a value or a list)")
    values: dict[str, list[Any]] = {a: _axis_values(a, v) for a, v in axes_raw.items()}
    params_raw = raw.get("hardware_params") or {}
    if not isinstance(params_raw, Mapping):
        raise ConfigError("hardware_params: expected a mapping like {hbm.capacity: [48 GB, 96 GB]}")
    for name, v in params_raw.items():
        values[str(name)] = _param_values(str(name), v)
    groups = _zip_groups(raw.get("zip"), values)
    zipped = {a for g in groups for a in g}
    dims_raw = [tuple(g) for g in groups] + [(a,) for a in values if a not in zipped]
    dims = [Dimension(g, tuple(tuple(values[a]) for a in g)) for g in dims_raw]
    multi = [d for d in dims if d.size > 1]
    constants = {a: AXES[a] for a in AXES}
    for d in dims:
        if d.size == 1:
            constants.update({a: d.values[i][0] for i, a in enumerate(d.axes)})
    ordered = [d for d in multi if not d.vector] + [d for d in multi if d.vector]
    static, bounds = _filters(raw.get("filters"))
    n_points = math.prod(d.size for d in dims)
    chunk = _chunk_size(raw.get("chunk_size", 16384), n_points)
    reduce = _reduce(raw.get("reduce"))
    return Spec(
        name=str(raw.get("name", "explore")),
        mode=str(mode),
        raw=json.loads(json.dumps(raw, default=str)),
        dims=tuple(ordered),
        constants=constants,
        params=tuple(str(n) for n in params_raw),
        static_filters=static,
        bounds=bounds,
        objectives=_objectives(raw.get("objectives")),
        reduce=reduce,
        chunk_size=chunk,
    )


def _chunk_size(chunk: Any, n_points: int) -> int:
    if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= MAX_CHUNK:
        raise ConfigError(f"chunk_size must be a whole number from 1 to {MAX_CHUNK:,}, got {chunk!r:.40}")
    n_chunks = -(-n_points // chunk)
    if n_chunks > MAX_CHUNKS:
        need = -(-n_points // MAX_CHUNKS)
        if need > MAX_CHUNK:
            raise ConfigError(
                f"the spec has {n_points:,} points, more than {MAX_CHUNK * MAX_CHUNKS:,} a store holds; "
                "split it into several sweeps"
            )
        raise ConfigError(
            f"chunk_size {chunk:,} gives {n_chunks:,} chunk files (at most {MAX_CHUNKS:,}); "
            f"use chunk_size {need:,} or more"
        )
    return chunk


REDUCE_HELP = "reduce: give {pareto: true} or {top_k: {by: COLUMN, k: N, order: min|max}}"


def _reduce(raw: Any) -> dict[str, Any]:
    """``reduce`` checked: ``pareto`` a boolean; ``top_k`` {by: column, k: 1.., order: min|max}."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or any(k not in ("pareto", "top_k") for k in raw):
        raise ConfigError(REDUCE_HELP)
    out: dict[str, Any] = {}
    if "pareto" in raw:
        if not isinstance(raw["pareto"], bool):
            raise ConfigError(f"reduce.pareto must be true or false, got {raw['pareto']!r:.40}")
        out["pareto"] = raw["pareto"]
    if "top_k" in raw:
        t = raw["top_k"]
        if (
            not isinstance(t, Mapping)
            or not isinstance(t.get("by"), str)
            or any(k not in ("by", "k", "order") for k in t)
        ):
            raise ConfigError(f"reduce.top_k: give {{by: COLUMN, k: N, order: min|max}}, got {t!r:.60}")
        k, order = t.get("k", 10), t.get("order", "min")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_COUNT:
            raise ConfigError(f"reduce.top_k.k must be a whole number of at least 1, got {k!r:.40}")
        if order not in ("min", "max"):
            raise ConfigError(f"reduce.top_k.order must be min or max, got {order!r:.40}")
        out["top_k"] = {"by": t["by"], "k": k, "order": order}
    return out


def _zip_groups(raw: Any, values: Mapping[str, list[Any]]) -> list[list[str]]:
    if raw is None:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ConfigError("zip: expected a list of axis lists, e.g. [[input_len, output_len]]")
    groups, seen = [], set()
    for g in raw:
        if not isinstance(g, Sequence) or isinstance(g, str) or len(g) < 2:
            raise ConfigError(f"zip group {g!r}: list two or more axes that vary together")
        for a in g:
            if a not in values:
                raise UnknownNameError("axis in zip group", str(a), values)
            if a in seen:
                raise ConfigError(f"zip: axis {a!r} is in more than one group")
            seen.add(a)
        lengths = {a: len(values[a]) for a in g}
        if len(set(lengths.values())) > 1:
            told = ", ".join(f"{a} has {n}" for a, n in lengths.items())
            raise ConfigError(f"zip group {list(g)}: the axes need equal lengths ({told})")
        groups.append([str(a) for a in g])
    return groups
