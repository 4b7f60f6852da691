"""What `hetsim serve-sim` runs and prints: the request set, one run or a rate search, an MLPerf
scenario's report, output files; and `hetsim validate --serving` tables."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hetsim.cli.common import console, err_console, print_json
from hetsim.errors import ConfigError

PROGRESS_FROM = 20_000  # requests from which a run shows a progress bar (on stderr)


def build_requests(work: dict[str, Any], default_mix: str | None, max_context: int = 0) -> Any:
    """The run's requests: a trace, sessions, or drawn (a named mix, the MLPerf dataset's mix
    when the lengths are not given, or -p/-g)."""
    from hetsim.api.serving import load_trace, make_requests, make_sessions

    p, g = work["input_len"], work["output_len"]
    if work["trace"] is not None:
        return load_trace(work["trace"], prefix_len=work["prefix_len"])
    if work["sessions"] is not None:
        if work["rate"] is None:
            raise ConfigError("--sessions needs --rate (sessions started per second)")
        return make_sessions(
            work["sessions"], rate_per_s=work["rate"], turns=work["turns"], first_input=p or "1024",
            turn_input=work["turn_input"], output_len=g or "256", think_s=work["think_time"],
            seed=work["seed"],
        )  # fmt: skip
    mix = work["mix"] or (default_mix if p is None and g is None else None)
    return make_requests(
        work["requests"], arrival=work["arrival"], rate_per_s=work["rate"], concurrency=work["concurrency"],
        input_len=p or "512", output_len=g or "128", prefix_len=work["prefix_len"], seed=work["seed"],
        mix=mix, max_context=max_context,
    )  # fmt: skip


def _progress(n: int) -> tuple[Any, Any]:
    if n < PROGRESS_FROM:
        return None, None
    from rich.progress import Progress

    bar = Progress(console=err_console, transient=True)
    task = bar.add_task("serving", total=n)
    bar.start()
    return bar, lambda done: bar.update(task, completed=done)


def run_and_render(
    model: str, hardware: str, sim: dict[str, Any], work: dict[str, Any], outs: dict[str, Any], *,
    slos: dict[str, float], scenario: str | None, interactive: bool, max_rate: bool, attainment: float,
    disaggregate: tuple[int, int] | None, as_json: bool,
) -> None:  # fmt: skip
    from hetsim.api.lookup import get_model
    from hetsim.api.serving import mlperf

    bench = None
    if scenario is not None:
        name = get_model(model).name
        if scenario == "server" or interactive:
            bench = mlperf.benchmark_for(name, interactive)
        elif name in mlperf.MODEL_BENCHMARKS:
            bench = mlperf.benchmark_for(name)
        if scenario == "server" and slos:
            raise ConfigError("--scenario server takes its latency limits from the MLPerf rules; drop --slo")
        if scenario == "offline":
            work = {**work, "arrival": "offline"}
        elif not max_rate and work["rate"] is None:
            raise ConfigError("--scenario server needs --rate (the target queries per second) or --max-rate")
    if max_rate:
        _search(model, hardware, sim, work, slos, bench, attainment, as_json)
        return
    reqs = build_requests(work, bench.mix if bench else None, get_model(model).max_seq_len)
    bar, progress = _progress(len(reqs))
    try:
        from hetsim.api.serving import simulate_serving

        r = simulate_serving(model, hardware, reqs, slo=bench.constraints if bench and scenario == "server"
                             else slos, disaggregate=disaggregate, progress=progress, **sim)  # fmt: skip
    finally:
        if bar is not None:
            bar.stop()
    report = mlperf.report(r, scenario, bench) if scenario is not None and bench is not None else None
    if scenario == "offline" and bench is None:
        report = mlperf.MLPerfReport("offline", "-", "tokens/s", r.output_throughput_tok_per_s, {}, {}, None,
                                     r.duration_s >= mlperf.MIN_DURATION_S,
                                     (f"MLPerf Inference has no benchmark for {r.model}; the throughput is "
                                      "reported as Offline would",))  # fmt: skip
    written = _write(r, outs)
    bands = _bands(r, hardware, model, sim["precision"])
    if as_json:
        out = {**r.summary(), "bands": {k: dataclasses.asdict(b) for k, b in bands.items()}}
        if report is not None:
            out["mlperf"] = report.as_dict()
        print_json(out)
        return
    render(r)
    _render_bands(bands)
    if report is not None:
        _render_mlperf(report)
    for label, p in written:
        console.print(f"{label} written to {p}")


def _bands(r: Any, hardware: str, model: str, prec: Any) -> dict[str, Any]:
    """Uncertainty bands of the run's mean TTFT, TPOT, end-to-end latency, output throughput and
    energy per token, in the static path's regime of this hardware, precision and model
    (hetsim.analysis.uncertainty; the serving loop's own rows are scored by validate --serving)."""
    from hetsim.api.analysis import bands_of, regime_of
    from hetsim.api.lookup import get_hardware, get_model

    dev = get_hardware(hardware)
    regime = regime_of(dev.name, dev.calibration, prec, get_model(model).is_moe)
    values = {"ttft_s": r.ttft_s.mean, "tpot_s": r.tpot_s.mean, "e2e_latency_s": r.e2e_latency_s.mean,
              "output_throughput_tok_per_s": r.output_throughput_tok_per_s,
              "energy_j_per_token": r.energy_j_per_token}  # fmt: skip
    return bands_of(values, regime)


def _render_bands(bands: dict[str, Any]) -> None:
    if not bands:
        return
    times = ("ttft_s", "tpot_s", "e2e_latency_s")  # a throughput key ends in "_s" too: name them
    ms = {k: f"{bands[k].lo * 1e3:,.1f}-{bands[k].hi * 1e3:,.1f} ms" for k in times if k in bands}
    b0 = next(iter(bands.values()))
    tput, energy = bands.get("output_throughput_tok_per_s"), bands.get("energy_j_per_token")
    console.print(
        f"{b0.level:.0%} bands (static-path regime {b0.regime}"
        + ("" if all(b.validated for b in bands.values()) else ", not validated: a wider, borrowed band")
        + "): "
        + ", ".join(f"{k.split('_')[0].upper()} mean {v}" for k, v in ms.items())
        + (f", output {tput.lo:,.0f}-{tput.hi:,.0f} tok/s" if tput else "")
        + (f", energy {energy.lo:,.3f}-{energy.hi:,.3f} J/token" if energy else "")
    )


def _write(r: Any, outs: dict[str, Any]) -> list[tuple[str, Path]]:
    from hetsim.api.serving import write_csv, write_trace

    done = []
    if outs["csv"] is not None:
        write_csv(r, outs["csv"], force=outs["force"])
        done.append(("per-request CSV", outs["csv"]))
    if outs["trace"] is not None:
        write_trace(r, outs["trace"], force=outs["force"])
        done.append(("trace", outs["trace"]))
    if outs["cdf"] is not None or outs["kv"] is not None:
        from hetsim.report.serving import plot_kv_timeline, plot_latency_cdf

        if outs["cdf"] is not None:
            plot_latency_cdf(r, outs["cdf"])
            done.append(("CDF plot", outs["cdf"]))
        if outs["kv"] is not None:
            plot_kv_timeline(r, outs["kv"])
            done.append(("KV plot", outs["kv"]))
    return done


def _search(
    model: str, hardware: str, sim: dict[str, Any], work: dict[str, Any], slos: dict[str, float], bench: Any,
    attainment: float, as_json: bool,
) -> None:  # fmt: skip
    from hetsim.api.serving import format_slo, max_rate, percentile_judge, slo_judge

    if work["trace"] is not None or work["sessions"] is not None:
        raise ConfigError("--max-rate draws Poisson requests: use -p/-g or --mix, not --trace or --sessions")
    if bench is not None:
        judge, what = percentile_judge(bench.constraints), f"MLPerf {bench.name} Server limits (p99)"
        limits = bench.constraints
    elif slos:
        judge, what = slo_judge(slos, attainment), f"{format_slo(slos)} for {attainment:.0%} of requests"
        limits = slos
    else:
        raise ConfigError("--max-rate needs --slo (e.g. --slo ttft=0.5,tpot=0.05) or --scenario server")
    p, g = work["input_len"], work["output_len"]
    mix = work["mix"] or (bench.mix if bench is not None and p is None and g is None else None) or None
    from hetsim.api.lookup import get_model

    s = max_rate(model, hardware, judge, n_requests=work["requests"], input_len=p or "512",
                 output_len=g or "128", mix=mix, max_context=get_model(model).max_seq_len, seed=work["seed"],
                 slo=limits, **sim)  # fmt: skip
    out = {
        "max_rate_per_s": s.max_rate_per_s, "attainment": s.attainment,
        "goodput_req_per_s": s.goodput_req_per_s,
        "criterion": what, "slo": limits, "slo_attainment_target": attainment,
        "offline_throughput_per_s": s.offline_throughput_per_s, "steady_state": s.steady_state,
        "offline_capacity_steady": s.capacity_steady,
        "evaluations": [{"rate_per_s": j.rate_per_s, "attainment": j.attainment, "steady": j.steady,
                         "meets": j.meets} for j in s.evaluations],
        "note": s.note,
    }  # fmt: skip
    if as_json:
        print_json(out)
        return
    console.print(
        f"highest Poisson rate meeting {what}, in steady state: [bold]{s.max_rate_per_s:.3g} req/s[/] "
        f"(attainment {s.attainment:.1%}, goodput {s.goodput_req_per_s:.3g} req/s)"
    )
    how = "[yellow]not steady[/]: whole-run rate, the run is too short"
    how = "steady completion rate, all sent at once" if s.capacity_steady else how
    console.print(f"offline capacity {s.offline_throughput_per_s:.3g} req/s ({how})")
    if s.note:
        console.print(f"[yellow]note:[/] {s.note}")


def _render_mlperf(rep: Any) -> None:
    console.print(f"MLPerf {rep.scenario} ({rep.benchmark}): [bold]{rep.value:,.1f} {rep.metric}[/]")
    for k, limit in rep.constraints.items():
        seen = rep.observed.get(k, float("nan"))
        mark = "ok" if seen <= limit else "[red]missed[/]"
        console.print(f"  p99 {k.upper()} {seen * 1e3:,.1f} ms against {limit * 1e3:,.0f} ms: {mark}")
    if rep.holds is not None:
        console.print("  constraints hold" if rep.holds else "  [red]constraints do not hold[/]")
    for n in rep.notes:
        console.print(f"[yellow]note:[/] {n}")


def render(r: Any) -> None:
    from rich.table import Table

    from hetsim.api.serving import format_slo

    head = (
        f"[bold]{r.model}[/] on {r.hardware} x{r.tp}, engine {r.engine} ({r.scheduler} scheduler), "
        f"{r.arrival}"
        + (f" at {r.rate_per_s:g} req/s" if r.rate_per_s == r.rate_per_s else "")
        + f": {r.completed}/{r.n_requests} requests in {r.duration_s:.2f} s"
    )
    console.print(head)
    console.print(
        f"throughput {r.request_throughput_per_s:.2f} req/s, "
        f"{r.output_throughput_tok_per_s:,.0f} output tok/s, "
        f"{r.total_throughput_tok_per_s:,.0f} total tok/s; KV peak {r.kv_peak_utilization:.0%} of "
        f"{r.kv_blocks_total} blocks, {r.preemptions} preemptions"
    )
    q = r.request_energy_j_per_token
    console.print(
        f"energy {r.energy_j_per_token:.3g} J per output token ({r.energy_j / 3.6e3:,.1f} Wh in all, "
        f"{r.idle_energy_share:.0%} at idle power); per request {q.p50:.3g} J/token p50, {q.p99:.3g} p99; "
        f"power per device {r.avg_power_w:,.0f} W average, {r.peak_power_w:,.0f} W peak"
    )
    t = Table("metric (ms)", "mean", "p50", "p90", "p99")
    for name, s in (("TTFT", r.ttft_s), ("TPOT", r.tpot_s), ("ITL", r.itl_s), ("E2E", r.e2e_latency_s)):
        t.add_row(name, *(f"{v * 1e3:,.1f}" for v in (s.mean, s.p50, s.p90, s.p99)))
    console.print(t)
    if r.prefix_cache:
        pc = r.prefix_cache
        console.print(
            f"prefix cache: {pc['hits']:,.0f} hits, {pc['hit_tokens']:,.0f} prompt tokens not recomputed; "
            f"{pc['reloaded_bytes'] / 1e9:,.1f} GB copied back, {pc['evicted_bytes'] / 1e9:,.1f} GB evicted "
            f"to lower tiers, {pc['dropped_bytes'] / 1e9:,.1f} GB dropped"
        )
    if r.switching:
        sw = r.switching
        console.print(
            f"model switching: {sw['switches']} switches, {sw['switch_s']:,.2f} s copying "
            f"{sw['model_bytes_per_device'] / 1e9:,.1f} GB a device each from {sw['source']} to "
            f"{sw['target']} at {sw['bandwidth_bytes_per_s'] / 1e9:,.1f} GB/s, {sw['slots']} resident at once"
        )
        for name, f in sw["per_model"].items():
            lat = f", TTFT mean {f['ttft_mean_s'] * 1e3:,.1f} ms, E2E mean {f['e2e_mean_s'] * 1e3:,.1f} ms"
            console.print(f"  {name}: {f['requests']} requests" + (lat if f["requests"] else ""))
    if r.slo:
        console.print(
            f"SLO {format_slo(r.slo)}: {r.slo_attainment:.1%} of requests meet it, "
            f"goodput {r.goodput_req_per_s:.2f} req/s"
        )
    for n in r.notes:
        console.print(f"[yellow]note:[/] {n}")


__all__ = ["build_requests", "render", "run_and_render"]
