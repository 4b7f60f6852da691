"""The result record of a serving run: per-request latencies, throughputs, SLO goodput, KV use,
and energy from the board power model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hetsim.cost.power import active_w
from hetsim.engines.batching import EngineConfig
from hetsim.hardware.spec import Device
from hetsim.serving.metrics import ServingResult, Stats, itl_samples, mean_in_system, rows_array
from hetsim.serving.requests import RequestSet
from hetsim.serving.runlog import LoopLog
from hetsim.workload.model import ModelSpec


def build_result(
    m: ModelSpec, dev: Device, eng: EngineConfig, tp: int, reqs: RequestSet, log: LoopLog, block_tokens: int,
    slos: dict[str, float], notes: list[str],
) -> ServingResult:  # fmt: skip
    """The result record of a run: latency statistics, throughputs, SLO goodput, KV use."""
    arr, fin = log.arrival_s, log.finish_s
    ok = np.isfinite(fin)
    done = int(np.sum(ok))
    t0 = float(np.nanmin(arr)) if np.any(np.isfinite(arr)) else 0.0
    t1 = float(np.max(fin[ok])) if done else t0
    span = max(t1 - t0, 1e-30)
    g, x = reqs.output_len.astype(float), reqs.input_len.astype(float)
    step, w = itl_samples(log.iterations, log.stalls)
    tl = rows_array(log.timeline, 5)
    util = tl[:, 1] / max(log.total_blocks, 1) if len(tl) else np.zeros(1)
    dt = np.diff(np.concatenate([[t0], tl[:, 0]])) if len(tl) else np.zeros(1)
    dec_tokens = float(np.sum((fin - log.first_token_s)[ok & (g > 1)]))
    r = ServingResult(
        model=m.name,
        hardware=dev.name,
        engine=eng.name,
        tp=tp,
        arrival=reqs.arrival,
        rate_per_s=reqs.rate_per_s,
        n_requests=len(reqs),
        completed=done,
        duration_s=span,
        request_throughput_per_s=done / span,
        output_throughput_tok_per_s=float(np.sum(g[ok])) / span,
        total_throughput_tok_per_s=float(np.sum(g[ok] + x[ok])) / span,
        ttft_s=Stats.of((log.first_token_s - arr)[np.isfinite(log.first_token_s)]),
        tpot_s=Stats.of(((fin - log.first_token_s) / np.maximum(g - 1, 1))[ok & (g > 1)]),
        itl_s=replace(Stats.of(step, w), mean=dec_tokens / max(float(np.sum((g - 1)[ok & (g > 1)])), 1.0)),
        e2e_latency_s=Stats.of((fin - arr)[ok]),
        mean_in_system=mean_in_system(arr, fin, t0, t1),
        slo=slos,
        slo_attainment=float("nan"),
        goodput_req_per_s=float("nan"),
        kv_blocks_total=log.total_blocks,
        kv_block_tokens=block_tokens,
        kv_peak_utilization=log.kv_peak_blocks / max(log.total_blocks, 1)
        if log.thinned
        else float(np.max(util)),
        kv_mean_utilization=float(np.sum(util * dt) / max(float(np.sum(dt)), 1e-30)),
        preemptions=int(np.sum(log.preemptions)),
        iterations_priced=log.records or len(log.iterations),
        steps=log.steps or int(sum(it[2] for it in log.iterations)),
        truncated=log.truncated,
        arrival_s=arr,
        first_token_s=log.first_token_s,
        finish_s=fin,
        input_len=x,
        output_len=g,
        request_preemptions=log.preemptions.astype(float),
        iterations=log.iterations,
        timeline=log.timeline,
        itl_stalls=log.stalls,
        notes=notes + ([log.truncated] if log.truncated else []),
    )
    meets = r.meets_slo() if slos else ok
    return replace(r, slo_attainment=float(np.mean(meets)), goodput_req_per_s=float(np.sum(meets)) / span,
                   notes=r.notes + _impossible_slos(r))  # fmt: skip


def _impossible_slos(r: ServingResult) -> list[str]:
    """A note per SLO no request met, not even the fastest (a limit below what the hardware does)."""
    from hetsim.serving.metrics import per_request_metrics

    per, out = per_request_metrics(r), []
    for name, limit in r.slo.items():
        x = per[name][np.isfinite(per[name])]
        if x.size and limit < float(np.min(x)):
            out.append(f"SLO {name} <= {limit * 1e3:g} ms: no request met it, the fastest took "
                       f"{float(np.min(x)) * 1e3:.3g} ms (raise it or change the hardware)")  # fmt: skip
    return out


Group = tuple[Device, int, int, float, float]  # device, tp, instances, busy s, dynamic J per device


def with_energy(r: ServingResult, log: LoopLog, dev: Device, tp: int, instances: int) -> ServingResult:
    """The run's energy from the board power model (:mod:`hetsim.cost.power`): every device
    idles from the first arrival to the last event (waiting for requests included), the
    devices of an instance draw the active floor while its kernels run, plus the dynamic
    energy of the ops (per device, times ``tp``). A disaggregated run on two kinds of hardware
    sums its pools (``log.groups``)."""
    groups: list[Group] = log.groups or [(dev, tp, instances, log.busy_s, log.dynamic_j)]
    n_dev = sum(g_tp * n for _, g_tp, n, _, _ in groups)
    t0 = float(np.nanmin(r.arrival_s)) if np.any(np.isfinite(r.arrival_s)) else 0.0
    ends = [t0 + r.duration_s if r.completed else t0] + [a + d for a, d, *_ in log.iterations[-1:]]
    window = max(max(ends) - t0, 1e-30)
    idle = sum(g_tp * n * d.static_power_w * window for d, g_tp, n, _, _ in groups)
    energy = idle + sum(g_tp * (active_w(d) * busy + dyn) for d, g_tp, _, busy, dyn in groups)
    ok = np.isfinite(r.finish_s)
    per_req = np.asarray(log.request_energy_j, dtype=float)
    g = r.output_len
    return replace(
        r,
        n_devices=n_dev,
        energy_j=energy,
        energy_j_per_token=energy / max(float(np.sum(g[ok])), 1.0),
        request_energy_j_per_token=Stats.of((per_req / np.maximum(g, 1.0))[ok]),
        idle_energy_share=idle / energy if energy > 0 else float("nan"),
        busy_fraction=sum(busy for *_, busy, _ in groups) / (sum(n for _, _, n, _, _ in groups) * window),
        avg_power_w=energy / (n_dev * window),
        peak_power_w=log.peak_power_w if log.iterations else max(d.static_power_w for d, *_ in groups),
        request_energy_j=per_req,
    )
