"""The chunk function: evaluate the points ``[start, stop)`` of a spec into columns.

A worker rebuilds everything from the spec and the range (nothing large crosses a process
boundary): it decodes the indices, runs one vectorised :func:`hetsim.sim.inference.sweep`
per group of equal (model, hardware, parameters, tp, pp, data types, ...), prices the system
(:mod:`hetsim.cost.prices`), applies the filters and, when asked, reduces in place (Pareto
front or top-k) before anything is returned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetsim.cost.prices import PriceBook, default_prices, device_capex, usd_per_hour, usd_per_mtoken
from hetsim.cost.roofline import has_matrix_rate, require_gemm_dtype
from hetsim.errors import ConfigError, HetsimError, MappingError, UnknownNameError
from hetsim.explore.pareto import pareto_mask, top_k
from hetsim.explore.serving_eval import SERVING_TEXT, serving_columns, serving_group
from hetsim.explore.spec import LINKS, VECTOR_AXES, Spec, param_column
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.provenance import Provenance
from hetsim.hardware.spec import Device
from hetsim.options import AnalysisOptions
from hetsim.placement.policies import check_name
from hetsim.sim.inference import sweep
from hetsim.sim.interleave import check_interleave
from hetsim.workload.expert_parallel import ExpertParallel
from hetsim.workload.graph import Shard
from hetsim.workload.model import ModelSpec
from hetsim.workload.registry import get_model
from hetsim.workload.speculation import Speculation

Array = np.ndarray[Any, Any]
METRICS = ("footprint_bytes", "ttft_s", "tpot_s", "e2e_latency_s", "output_throughput_tok_per_s",
           "mbu", "mfu", "energy_j_per_token", "avg_power_w")  # fmt: skip
DERIVED = ("tok_per_s_per_user", "tok_per_s_per_device", "n_devices", "capex_usd", "usd_per_hour",
           "usd_per_mtoken", "tok_per_s_per_usd", "fits")  # fmt: skip
TEXT_AXES = ("model", "hardware", "weight_dtype", "act_dtype", "kv_dtype", "gemm_dtype", "attention",
             "overlap", "policy", "placed_policy", "framework", "dp_attention", "spec")  # fmt: skip
# the analysis options a static group is evaluated with (hetsim.options), model and hardware aside
OPTION_AXES = ("weight_dtype", "act_dtype", "kv_dtype", "gemm_dtype", "weight_group", "policy", "framework")
INT_COLUMNS = ("tp", "pp", "ep", "ep_redundant", "ep_shared_devices", "interleave", "batch", "input_len",
               "output_len", "weight_group")  # fmt: skip
BOOL_AXES = ("dynamic", "ignore_capacity", "calibrated")
# what each static filter removes (the summary line names it beside its count)
FILTER_REASONS = {"fits": "does not fit", "divisible": "layout does not divide the model",
                  "applicable": "policy, GEMM type or interleave cannot apply"}  # fmt: skip


def experts_of(v: dict[str, Any]) -> ExpertParallel:
    """A point's expert parallelism from its ``ep``, ``dp_attention``, ``ep_skew`` and slot axes."""
    raw = v["dp_attention"]
    dp = ("on" if raw else "off") if isinstance(raw, bool) else str(raw).lower()
    if dp not in ("on", "off"):
        raise ConfigError(f"axis 'dp_attention': values must be 'on' or 'off', got {raw!r}")
    return ExpertParallel(
        int(v["ep"]), dp == "on", float(v["ep_skew"]), int(v["ep_redundant"]), int(v["ep_shared_devices"])
    )


def speculation_of(v: dict[str, Any]) -> Speculation | None:
    """A point's speculative decoding from its ``spec`` axis."""
    return Speculation.parse(str(v["spec"] or ""))


def check_layout(model: ModelSpec, experts: ExpertParallel, speculation: Speculation | None, tp: int) -> None:
    """Raise where the model cannot take a point's EP layout or drafter (no MTP modules, another
    tokenizer): the checks static and serving points share under the ``divisible`` filter."""
    experts.check(model, tp)
    if speculation is not None:
        speculation.drafter(model)


def columns_of(spec: Spec) -> list[str]:
    """Every column a chunk of ``spec`` has, in order."""
    if spec.mode == "serving":
        return serving_columns([param_column(p) for p in spec.params])
    params = (param_column(p) for p in spec.params)
    return ["index", *TEXT_AXES, *INT_COLUMNS, *BOOL_AXES, *params, *METRICS, *DERIVED]


def design_columns(spec: Spec) -> list[str]:
    """The columns of ``spec``'s chunks that say which design a row is (axes and hardware
    parameters), as opposed to what was measured of it."""
    from hetsim.explore.serving_eval import SERVING_METRICS

    measured = {*METRICS, *DERIVED, *SERVING_METRICS, "index"} - {"rate"}
    return [c for c in columns_of(spec) if c not in measured]


def numeric_columns(spec: Spec) -> list[str]:
    """The columns of ``spec``'s chunks that hold numbers (what bounds and objectives may name)."""
    text = {*TEXT_AXES, *SERVING_TEXT, "index"}
    return [c for c in columns_of(spec) if c not in text]


def _swept(why: str) -> Provenance:
    return Provenance("assumed", f"explore axis: {why}")


def with_params(dev: Device, params: Mapping[str, float]) -> Device:
    """``dev`` with hardware parameters set (``hbm.capacity``, ``lpddr.bandwidth``,
    ``hbm.compute_scale``, ``link.bandwidth``, ``interconnect.latency``, ...)."""
    sides = list(dev.sides)
    names = [s.name for s in sides]
    changes: dict[str, Any] = {}
    for name, value in params.items():
        head, _, fld = name.partition(".")
        if head in LINKS:
            attr = "side_link" if head == "link" else "interconnect"
            link = changes.get(attr, getattr(dev, attr))
            if link is None:
                raise ConfigError(f"hardware parameter {name!r}: {dev.name} has no {attr.replace('_', ' ')}")
            key = f"{fld}_bytes_per_s" if fld == "bandwidth" else f"{fld}_s"
            prov = {**link.provenance, key.rsplit("_", 3)[0]: _swept(f"{name} = {value:g}")}
            changes[attr] = dataclasses.replace(link, **{key: value}, provenance=prov)
            continue
        if head not in names:
            raise UnknownNameError(f"memory side of {dev.name} (hardware parameter {name!r})", head, names)
        i = names.index(head)
        side = sides[i]
        if fld == "compute_scale":
            units = tuple(
                dataclasses.replace(u, peak_flop_per_s={k: r * value for k, r in u.peak_flop_per_s.items()})
                for u in side.units
            )
            sides[i] = dataclasses.replace(side, units=units)
        else:
            prov = {**side.memory.provenance, fld: _swept(f"{name} = {value:g}")}
            mem = dataclasses.replace(side.memory, provenance=prov)
            if fld == "capacity":
                mem = dataclasses.replace(mem, capacity_bytes=value)
            else:
                mem = dataclasses.replace(mem, bandwidth_bytes_per_s=value)
            sides[i] = dataclasses.replace(side, memory=mem)
    return dataclasses.replace(dev, sides=tuple(sides), **changes)


@dataclass
class Evaluator:
    """Evaluates index ranges of one spec; caches devices, prices and capex per process."""

    spec: Spec
    prices: PriceBook = field(init=False)
    _devices: dict[tuple[Any, ...], tuple[Device, float]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.prices = default_prices().with_overrides(self.spec.raw.get("prices"))

    def device(
        self, hardware: str, params: tuple[tuple[str, float], ...], calibrated: bool = True
    ) -> tuple[Device, float]:
        """The (parametrised) device and the capex of one of it (USD)."""
        key = (hardware, params, calibrated)
        if key not in self._devices:
            base = get_hardware(hardware, calibrated=calibrated)
            dev = with_params(base, dict(params)) if params else base
            self._devices[key] = (dev, device_capex(dev, self.prices, base=base).total_usd)
        return self._devices[key]

    def check(self) -> None:
        """Resolve every name and parameter once, so mistakes surface before any work."""
        s = self.spec
        for axis in ("model", "hardware", "policy"):
            for pos in range(_size(s, axis)):
                v = s.value_of(axis, pos)
                if axis == "policy":
                    check_name(v)
                else:
                    get_model(v) if axis == "model" else self.device(v, ())
        for pos in range(_size(s, "hardware")):
            hw = s.value_of("hardware", pos)
            for p in s.params:
                self.device(hw, ((p, s.value_of(p, 0)),))
        known = numeric_columns(s)
        named = [("column in filter", b.column) for b in s.bounds]
        named += [("objective column", c) for c, _ in s.objectives]
        if "top_k" in s.reduce:
            named.append(("reduce.top_k.by column", s.reduce["top_k"]["by"]))
        for what, c in named:
            if c not in known:
                raise UnknownNameError(f"numeric {what}", c, known)

    def run(self, start: int, stop: int) -> tuple[dict[str, Array], dict[str, int]]:
        """Columns of the kept points of ``[start, stop)`` and the count each filter removed."""
        s = self.spec
        idx = np.arange(start, stop, dtype=np.int64)
        pos = s.decode(idx)
        gid = idx // s.n_vector
        cuts = np.flatnonzero(np.diff(gid)) + 1
        parts: list[dict[str, Array]] = []
        removed = {f: 0 for f in (*s.static_filters, *(b.text for b in s.bounds))}
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, idx.size], strict=True):
            cols = self._group(idx[lo:hi], {a: p[lo:hi] for a, p in pos.items()}, removed)
            if cols is not None:
                parts.append(cols)
        names = columns_of(s)
        if not parts:
            return {c: np.empty(0) for c in names}, removed
        out = {c: np.concatenate([p[c] for p in parts]) for c in names}
        return self._reduce(out), removed

    def _group(self, idx: Array, pos: dict[str, Array], removed: dict[str, int]) -> dict[str, Array] | None:
        s = self.spec
        v = {a: s.value_of(a, int(pos[a][0])) if a in pos else s.constants[a] for a in s.constants}
        params = tuple((p, float(s.value_of(p, int(pos[p][0])) if p in pos else s.value_of(p, 0)))
                       for p in s.params)  # fmt: skip
        model = get_model(v["model"])
        if s.mode == "serving":
            return self._bounded(serving_group(self, idx, pos, v, params, removed), removed)
        tp, pp = int(v["tp"]), int(v["pp"])
        speculation = speculation_of(v)
        if "divisible" in s.static_filters:
            try:
                experts = experts_of(v)
                Shard.of(model, tp)
                check_layout(model, experts, speculation, tp)
                if pp > model.n_layers:
                    raise ConfigError("pp exceeds layers")
            except HetsimError:
                removed["divisible"] += idx.size
                return None
        else:
            experts = experts_of(v)
        dev, capex_one = self.device(v["hardware"], params, v["calibrated"])
        opts = AnalysisOptions.parse({o: v[o] for o in OPTION_AXES})
        prec = opts.precision()
        vec = {a: np.asarray([s.value_of(a, int(i)) for i in range(_size(s, a))])[pos[a]]
               if a in pos else np.full(idx.size, v[a]) for a in VECTOR_AXES}  # fmt: skip
        if not has_matrix_rate(dev, prec.compute):  # FP8 GEMMs on an A100, FP4 before Blackwell
            if "applicable" not in s.static_filters:
                require_gemm_dtype(dev, prec)  # the one-line error naming the way out
            removed["applicable"] += idx.size
            return None
        ok = _interleavable(int(v["interleave"]), dev, vec["batch"], "applicable" in s.static_filters)
        if not ok.all():  # batches below the sub-batches, or one side: left out, the rest explored
            removed["applicable"] += int((~ok).sum())
            if not ok.any():
                return None
            idx, vec = idx[ok], {a: x[ok] for a, x in vec.items()}
        try:
            r = sweep(model, dev, vec["batch"], vec["input_len"], vec["output_len"], prec, tp=tp, pp=pp,
                      attention=v["attention"], overlap=v["overlap"], policy=v["policy"],
                      dynamic=v["dynamic"], serving=opts.serving(), experts=experts,
                      speculation=speculation, interleave=int(v["interleave"]))  # fmt: skip
        except MappingError:
            if "applicable" not in s.static_filters:
                raise
            removed["applicable"] += idx.size
            return None
        n = idx.size
        n_dev = tp * pp * experts.within(tp).dp  # DP attention: ranks of tp devices
        cols: dict[str, Array] = {"index": idx}
        labels = {"model": model.name, "hardware": v["hardware"], "weight_dtype": prec.weight.name,
                  "act_dtype": prec.activation.name, "kv_dtype": prec.kv.name,
                  "gemm_dtype": prec.compute.name, "framework": v["framework"] or "",
                  "attention": v["attention"], "overlap": v["overlap"], "policy": v["policy"],
                  "dp_attention": "on" if experts.dp_attention else "off",
                  "spec": v["spec"] or ""}  # fmt: skip
        cols.update({a: np.full(n, labels[a], dtype=object) for a in TEXT_AXES if a != "placed_policy"})
        cols["placed_policy"] = np.asarray(r.policy, dtype=object)  # what auto chose per point
        cols.update(
            {
                "tp": np.full(n, tp),
                "pp": np.full(n, pp),
                "ep": np.full(n, experts.ep),
                "ep_redundant": np.full(n, experts.redundant),
                "ep_shared_devices": np.full(n, experts.shared_devices),
                "interleave": np.full(n, int(v["interleave"])),
                "weight_group": np.full(n, prec.group_size),
            }
        )
        cols.update({a: np.full(n, bool(v[a])) for a in BOOL_AXES})
        cols.update({a: np.asarray(vec[a], dtype=np.int64) for a in VECTOR_AXES})
        cols.update({param_column(p): np.full(n, x) for p, x in params})
        cols.update({m: np.asarray(getattr(r, m), dtype=float) for m in METRICS})
        thr = cols["output_throughput_tok_per_s"]
        tpot = cols["tpot_s"]
        capex = np.full(n, capex_one * n_dev)
        per_hour = usd_per_hour(capex, cols["avg_power_w"], self.prices)
        with np.errstate(divide="ignore", invalid="ignore"):
            # 1/TPOT; a single output token has no TPOT (it was inf): its one token over the latency
            per_user = np.where(tpot > 0, 1.0 / tpot, cols["output_len"] / cols["e2e_latency_s"])
        cols["tok_per_s_per_user"] = per_user
        cols.update({"tok_per_s_per_device": thr / n_dev, "n_devices": np.full(n, n_dev),
                     "capex_usd": capex, "usd_per_hour": per_hour,
                     "usd_per_mtoken": usd_per_mtoken(per_hour, thr), "tok_per_s_per_usd": thr / capex,
                     "fits": np.asarray(r.fits, dtype=bool)})  # fmt: skip
        keep = np.ones(n, dtype=bool)
        if "fits" in s.static_filters and not v["ignore_capacity"]:
            removed["fits"] += int((~cols["fits"]).sum())
            keep &= cols["fits"]
        return self._bounded({c: x[keep] for c, x in cols.items()} if not keep.all() else cols, removed)

    def _bounded(self, cols: dict[str, Array] | None, removed: dict[str, int]) -> dict[str, Array] | None:
        """Apply the metric bounds (``tpot_s <= 0.05``) to a group's rows."""
        if cols is None:
            return None
        keep = np.ones(cols["index"].size, dtype=bool)
        for b in self.spec.bounds:
            k = b.keep(cols[b.column])
            removed[b.text] += int((keep & ~k).sum())
            keep &= k
        return cols if keep.all() else {c: x[keep] for c, x in cols.items()}

    def _reduce(self, cols: dict[str, Array]) -> dict[str, Array]:
        red = self.spec.reduce
        if red.get("pareto"):
            m = pareto_mask(cols, self.spec.objectives)
            cols = {c: x[m] for c, x in cols.items()}
        if red.get("top_k"):
            t = red["top_k"]
            sel = np.sort(top_k(cols, str(t["by"]), int(t.get("k", 10)), str(t.get("order", "min"))))
            cols = {c: x[sel] for c, x in cols.items()}
        return cols


def _interleavable(sub_batches: int, dev: Device, batch: Array, filtered: bool) -> Array:
    """Which batches ``interleave`` sub-batches apply to on ``dev`` (two or more sides, at least
    one sequence a sub-batch); without the ``applicable`` filter the first miss is the error."""
    ok = (batch >= sub_batches) & (len(dev.sides) > 1 or sub_batches == 1)
    if not filtered and not ok.all():
        check_interleave(sub_batches, dev, batch)
    return np.asarray(ok, dtype=bool)


def _size(spec: Spec, axis: str) -> int:
    for d in spec.dims:
        if axis in d.axes:
            return d.size
    return 1
