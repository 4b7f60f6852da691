"""Serving-mode points: one :func:`hetsim.serving.simulate_serving` run per point (Poisson
arrivals at ``rate``, ``requests`` requests of ``input_len`` + ``output_len`` tokens) instead
of a vectorised static batch. Far slower per point (tenths of a second), so meant for request
rate x SLO x hardware questions of hundreds to thousands of points.

$/hour charges the run's average power from the board power model (``avg_power_w``: every
device, idle while the engine waits, the active floor and the dynamic energy while it runs;
:mod:`hetsim.cost.power`), as the static-batch mode does; ``energy_j_per_token`` is per output
token. The ``ep``, ``dp_attention``, ``ep_skew`` and ``spec`` axes reach the run as serve-sim's
``--ep``, ``--dp-attention``, ``--ep-skew`` and ``--spec`` do; a layout the model cannot take counts
under ``divisible``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hetsim.cost.prices import usd_per_hour, usd_per_mtoken
from hetsim.errors import CapacityError, MappingError

if TYPE_CHECKING:
    from hetsim.explore.evaluate import Evaluator

Array = np.ndarray[Any, Any]
SERVING_TEXT = ("model", "hardware", "engine", "slo", "policy", "weight_dtype", "act_dtype", "kv_dtype",
                "dp_attention", "spec")  # fmt: skip
SERVING_INT = ("tp", "ep", "requests", "input_len", "output_len")
SERVING_METRICS = ("rate", "completed", "output_throughput_tok_per_s", "request_throughput_per_s",
                   "ttft_s", "ttft_p99_s", "tpot_s", "tpot_p99_s", "e2e_latency_s", "e2e_p99_s",
                   "slo_attainment", "goodput_req_per_s", "kv_peak_utilization", "preemptions",
                   "n_devices", "avg_power_w", "energy_j_per_token", "capex_usd", "usd_per_hour",
                   "usd_per_mtoken", "tok_per_s_per_usd")  # fmt: skip


def serving_columns(params: list[str]) -> list[str]:
    return ["index", *SERVING_TEXT, *SERVING_INT, "ep_skew", *params, *SERVING_METRICS]


Params = tuple[tuple[str, float], ...]


def serving_group(
    ev: Evaluator,
    idx: Array,
    pos: dict[str, Array],
    v: dict[str, Any],
    params: Params,
    removed: dict[str, int],
) -> dict[str, Array] | None:
    """Rows of one group (equal model, hardware, parameters, tp, types, engine, policy)."""
    from hetsim.errors import HetsimError
    from hetsim.explore.evaluate import check_layout, experts_of, speculation_of
    from hetsim.explore.spec import param_column
    from hetsim.serving.api import simulate_serving
    from hetsim.serving.requests import make_requests
    from hetsim.workload.dtypes import Precision
    from hetsim.workload.registry import get_model

    s = ev.spec
    dev, capex_one = ev.device(v["hardware"], params)
    prec = Precision.of(v["weight_dtype"], v["act_dtype"], v["kv_dtype"])
    tp = int(v["tp"])
    experts, speculation = experts_of(v), speculation_of(v)
    if "divisible" in s.static_filters:
        try:  # the EP layout over the experts, a drafter the model can have (serve-sim's checks)
            check_layout(get_model(v["model"]), experts, speculation, tp)
        except HetsimError:
            removed["divisible"] = removed.get("divisible", 0) + idx.size
            return None
    rows: list[dict[str, Any]] = []
    for j in range(idx.size):
        p = {a: s.value_of(a, int(pos[a][j])) if a in pos else v[a] for a in ("rate", "requests", "input_len",
             "output_len")}  # fmt: skip
        reqs = make_requests(int(p["requests"]), rate_per_s=float(p["rate"]), input_len=int(p["input_len"]),
                             output_len=int(p["output_len"]))  # fmt: skip
        policy = "primary" if v["policy"] == "auto" and len(dev.sides) == 1 else v["policy"]
        try:
            r = simulate_serving(v["model"], dev, reqs, engine=v["engine"], tp=tp, precision=prec,
                                 slo=v["slo"] or None, policy=policy,
                                 experts=experts, speculation=speculation)  # fmt: skip
        except (CapacityError, MappingError):
            removed["fits"] = removed.get("fits", 0) + 1
            continue
        rows.append({"index": int(idx[j]), "rate": float(p["rate"]), "requests": int(p["requests"]),
                     "input_len": int(p["input_len"]), "output_len": int(p["output_len"]),
                     "r": r})  # fmt: skip
    if not rows:
        return None
    n = len(rows)
    res = [row["r"] for row in rows]
    watts = np.array([r.avg_power_w * r.n_devices for r in res], dtype=float)  # the whole system
    n_dev = np.array([r.n_devices for r in res], dtype=np.int64)  # DP attention: ep ranks
    capex = capex_one * n_dev.astype(float)
    thr = np.array([r.output_throughput_tok_per_s for r in res], dtype=float)
    per_hour = usd_per_hour(capex, watts, ev.prices)
    cols: dict[str, Array] = {"index": np.array([row["index"] for row in rows], dtype=np.int64)}
    labels = {"model": res[0].model, "hardware": v["hardware"], "engine": v["engine"], "slo": v["slo"],
              "policy": v["policy"], "weight_dtype": prec.weight.name, "act_dtype": prec.activation.name,
              "kv_dtype": prec.kv.name, "dp_attention": "on" if experts.dp_attention else "off",
              "spec": v["spec"] or ""}  # fmt: skip
    cols.update({a: np.full(n, labels[a], dtype=object) for a in SERVING_TEXT})
    cols["tp"], cols["ep"], cols["ep_skew"] = np.full(n, tp), np.full(n, experts.ep), np.full(n, experts.skew)
    cols.update(
        {a: np.array([row[a] for row in rows], dtype=np.int64) for a in SERVING_INT if a not in ("tp", "ep")}
    )
    cols.update({param_column(q): np.full(n, x) for q, x in params})
    cols.update({
        "rate": np.array([row["rate"] for row in rows]),
        "completed": np.array([r.completed for r in res], dtype=np.int64),
        "output_throughput_tok_per_s": thr,
        "request_throughput_per_s": np.array([r.request_throughput_per_s for r in res]),
        "ttft_s": np.array([r.ttft_s.mean for r in res]), "ttft_p99_s": np.array([r.ttft_s.p99 for r in res]),
        "tpot_s": np.array([r.tpot_s.mean for r in res]), "tpot_p99_s": np.array([r.tpot_s.p99 for r in res]),
        "e2e_latency_s": np.array([r.e2e_latency_s.mean for r in res]),
        "e2e_p99_s": np.array([r.e2e_latency_s.p99 for r in res]),
        "slo_attainment": np.array([r.slo_attainment for r in res], dtype=float),
        "goodput_req_per_s": np.array([r.goodput_req_per_s for r in res], dtype=float),
        "kv_peak_utilization": np.array([r.kv_peak_utilization for r in res], dtype=float),
        "preemptions": np.array([r.preemptions for r in res], dtype=np.int64),
        "n_devices": n_dev, "avg_power_w": watts,
        "energy_j_per_token": np.array([r.energy_j_per_token for r in res], dtype=float),
        "capex_usd": capex, "usd_per_hour": per_hour,
        "usd_per_mtoken": usd_per_mtoken(per_hour, thr), "tok_per_s_per_usd": thr / capex,
    })  # fmt: skip
    return cols
