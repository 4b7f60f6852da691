"""`hetsim serve-sim`: requests arriving over time on a continuously batching engine.

The serving package is imported inside the command, so other commands start without it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from hetsim.cli.common import app, console, err_console, print_json
from hetsim.errors import ConfigError


def _parse_pair(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    p, _, d = text.partition(":")
    try:
        return int(p), int(d)
    except ValueError:
        raise ConfigError(f"--disaggregate {text!r}: give PREFILL:DECODE instance counts, e.g. 1:1") from None


@app.command("serve-sim")
def serve_cmd(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Preset name or config.json path.")
    ] = "llama3-8b",
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="Preset name or YAML path.")] = "h100-sxm",
    tp: Annotated[int, typer.Option(help="Tensor-parallel devices per engine instance.")] = 1,
    engine: Annotated[str, typer.Option(help="vllm, sglang or trtllm (scheduler presets).")] = "vllm",
    arrival: Annotated[str, typer.Option(help="poisson, closed or offline (all at t = 0).")] = "poisson",
    rate: Annotated[float | None, typer.Option(help="Poisson arrival rate, requests/s.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Users of a closed loop.")] = None,
    requests: Annotated[int, typer.Option("--requests", "-n", help="Requests to serve.")] = 500,
    input_len: Annotated[
        str,
        typer.Option("--input-len", "-p", help="Prompt tokens: N, uniform:LO:HI, normal:M:S, lognormal:M:S."),
    ] = "512",
    output_len: Annotated[
        str, typer.Option("--output-len", "-g", help="Output tokens (same forms).")
    ] = "128",
    trace: Annotated[Path | None, typer.Option(help="CSV of arrival_s,input_len,output_len.")] = None,
    prefix_len: Annotated[int, typer.Option(help="Prompt prefix shared by every request.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of arrivals and lengths.")] = 0,
    slo: Annotated[str | None, typer.Option(help="SLOs in seconds, e.g. ttft=0.5,tpot=0.05.")] = None,
    max_rate: Annotated[
        bool, typer.Option("--max-rate", help="Search the highest rate meeting --slo.")
    ] = False,
    slo_attainment: Annotated[
        float, typer.Option(help="Fraction of requests that must meet the SLOs.")
    ] = 0.9,
    disaggregate: Annotated[str | None, typer.Option(help="PREFILL:DECODE instances, e.g. 1:1.")] = None,
    max_num_seqs: Annotated[int | None, typer.Option(help="Override: sequences per iteration.")] = None,
    max_num_batched_tokens: Annotated[
        int | None, typer.Option(help="Override: tokens per iteration.")
    ] = None,
    chunked_prefill: Annotated[bool | None, typer.Option(help="Override: chunk prompts.")] = None,
    prefix_caching: Annotated[bool | None, typer.Option(help="Override: reuse the shared prefix.")] = None,
    block_size: Annotated[int | None, typer.Option(help="Override: tokens per KV block.")] = None,
    preemption: Annotated[str | None, typer.Option(help="Override: recompute or swap.")] = None,
    policy: Annotated[
        str, typer.Option(help="Placement over memory sides (hetsim policies; auto: offload on multi-tier).")
    ] = "primary",
    static_placement: Annotated[
        bool, typer.Option("--static-placement", help="Decide the placement once, for the largest footprint.")
    ] = False,
    weight_dtype: Annotated[str, typer.Option(help="fp32, bf16, fp16, fp8, int8 or int4.")] = "bf16",
    kv_dtype: Annotated[str | None, typer.Option(help="KV-cache type (default: activation type).")] = None,
    max_queue: Annotated[int | None, typer.Option(help="Stop when this many requests wait.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    csv_out: Annotated[Path | None, typer.Option(help="Write per-request CSV here.")] = None,
    trace_out: Annotated[Path | None, typer.Option(help="Write a Chrome/Perfetto trace (JSON) here.")] = None,
    plot_cdf: Annotated[Path | None, typer.Option(help="Write latency CDF plot (PNG) here.")] = None,
    plot_kv: Annotated[Path | None, typer.Option(help="Write KV-cache timeline plot (PNG) here.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")] = False,
) -> None:
    """Simulate serving: latency percentiles, throughput, SLO goodput, KV cache over time, energy
    per token and power per device."""
    from hetsim.serving import LengthDist, get_engine, load_trace, make_requests, parse_slo, simulate_serving
    from hetsim.serving.export import writable, write_csv, write_trace
    from hetsim.workload.dtypes import Precision

    if requests < 1:
        raise ConfigError(f"--requests must be a positive integer, got {requests}")
    if arrival not in ("poisson", "closed", "offline"):
        raise ConfigError(f"--arrival {arrival!r}: choose poisson, closed or offline (or --trace FILE)")
    for p in (csv_out, trace_out, plot_cdf, plot_kv):
        if p is not None:
            writable(p, force)
    eng = get_engine(engine)
    changes: dict[str, Any] = {
        k: v
        for k, v in (
            ("max_num_seqs", max_num_seqs),
            ("max_num_batched_tokens", max_num_batched_tokens),
            ("chunked_prefill", chunked_prefill),
            ("prefix_caching", prefix_caching),
            ("block_size", block_size),
            ("preemption", preemption),
        )
        if v is not None
    }
    if changes:
        eng = eng.with_(**changes)
    prec = Precision.of(weight_dtype, None, kv_dtype)
    slos = parse_slo(slo)
    ind, outd = LengthDist.parse(input_len), LengthDist.parse(output_len)
    sim: dict[str, Any] = {
        "engine": eng, "tp": tp, "precision": prec, "max_queue": max_queue, "policy": policy,
        "dynamic_placement": not static_placement,
    }  # fmt: skip
    if max_rate:
        from hetsim.serving.search import max_rate_meeting_slo

        s = max_rate_meeting_slo(
            model, hardware, slo=slos, n_requests=requests, input_len=ind, output_len=outd,
            attainment=slo_attainment, seed=seed, **sim,
        )  # fmt: skip
        out = {
            "max_rate_per_s": s.max_rate_per_s,
            "attainment": s.attainment,
            "slo": slos,
            "slo_attainment_target": slo_attainment,
            "offline_throughput_per_s": s.offline_throughput_per_s,
            "evaluations": [{"rate_per_s": r, "attainment": a} for r, a in s.evaluations],
            "note": s.note,
        }
        if as_json:
            print_json(out)
        else:
            console.print(
                f"highest Poisson rate meeting {slo} for {slo_attainment:.0%} of requests: "
                f"[bold]{s.max_rate_per_s:.3g} req/s[/] "
                f"(offline capacity {s.offline_throughput_per_s:.3g} req/s)"
                + (f"; {s.note}" if s.note else "")
            )
        return
    if trace is not None:
        reqs = load_trace(trace, prefix_len=prefix_len)
    else:
        reqs = make_requests(
            requests, arrival=arrival, rate_per_s=rate, concurrency=concurrency,  # type: ignore[arg-type]
            input_len=ind, output_len=outd, prefix_len=prefix_len, seed=seed,
        )  # fmt: skip
    progress = None
    if not as_json and len(reqs) >= 20000:
        from rich.progress import Progress

        bar = Progress(console=console, transient=True)
        task = bar.add_task("serving", total=len(reqs))
        bar.start()
        progress = lambda done: bar.update(task, completed=done)  # noqa: E731
    try:
        r = simulate_serving(
            model, hardware, reqs, slo=slos, disaggregate=_parse_pair(disaggregate), progress=progress, **sim
        )
    finally:
        if progress is not None:
            bar.stop()
    if csv_out is not None:
        write_csv(r, csv_out, force=force)
    if trace_out is not None:
        write_trace(r, trace_out, force=force)
    if plot_cdf is not None or plot_kv is not None:
        from hetsim.report.serving import plot_kv_timeline, plot_latency_cdf

        if plot_cdf is not None:
            plot_latency_cdf(r, plot_cdf)
        if plot_kv is not None:
            plot_kv_timeline(r, plot_kv)
    bands = _bands(r, hardware, model, prec)
    if as_json:
        print_json({**r.summary(), "bands": {k: dataclasses.asdict(b) for k, b in bands.items()}})
        return
    _render(r)
    _render_bands(bands)
    for label, p in (
        ("per-request CSV", csv_out),
        ("trace", trace_out),
        ("CDF plot", plot_cdf),
        ("KV plot", plot_kv),
    ):
        if p is not None:
            console.print(f"{label} written to {p}")


def _bands(r: Any, hardware: str, model: str, prec: Any) -> dict[str, Any]:
    """Uncertainty bands of the run's mean TTFT, TPOT, end-to-end latency, output throughput and
    energy per token, in the static path's regime of this hardware, precision and model
    (hetsim.analysis.uncertainty; the serving loop's own rows are scored by validate --serving)."""
    from hetsim.analysis.uncertainty import bands_of, regime_of
    from hetsim.hardware.loader import get_hardware
    from hetsim.workload.registry import get_model

    dev = get_hardware(hardware)
    regime = regime_of(dev.name, dev.calibration, prec, get_model(model).is_moe)
    values = {"ttft_s": r.ttft_s.mean, "tpot_s": r.tpot_s.mean, "e2e_latency_s": r.e2e_latency_s.mean,
              "output_throughput_tok_per_s": r.output_throughput_tok_per_s,
              "energy_j_per_token": r.energy_j_per_token}  # fmt: skip
    return bands_of(values, regime)


def _render_bands(bands: dict[str, Any]) -> None:
    if not bands:
        return
    ms = {k: f"{b.lo * 1e3:,.1f}-{b.hi * 1e3:,.1f} ms" for k, b in bands.items() if k.endswith("_s")}
    b0 = next(iter(bands.values()))
    tput = bands.get("output_throughput_tok_per_s")
    console.print(
        f"{b0.level:.0%} bands (static-path regime {b0.regime}"
        + ("" if all(b.validated for b in bands.values()) else ", not validated: a wider, borrowed band")
        + "): "
        + ", ".join(f"{k.split('_')[0].upper()} mean {v}" for k, v in ms.items())
        + (f", output {tput.lo:,.0f}-{tput.hi:,.0f} tok/s" if tput else "")
    )


def _render(r: Any) -> None:
    from rich.table import Table

    head = (
        f"[bold]{r.model}[/] on {r.hardware} x{r.tp}, engine {r.engine}, {r.arrival}"
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
    if r.slo:
        console.print(
            f"SLO {r.slo}: {r.slo_attainment:.1%} of requests meet it, "
            f"goodput {r.goodput_req_per_s:.2f} req/s"
        )
    for n in r.notes:
        console.print(f"[yellow]note:[/] {n}")


def serving_validate(files: list[Path], *, fit: bool, as_json: bool, by: str = "hardware") -> None:
    """`hetsim validate --serving`: MAPE per metric of the serving rows, per hardware; with
    ``fit`` the engine overheads are fitted on one GPU's (``by="model"``: one model's) rows and
    scored on the other's."""
    from rich.table import Table

    from hetsim.serving.rows import load_serving_rows
    from hetsim.serving.validate import FOLDS, cross_validate, mape_by_metric, predict_rows

    if fit and by not in FOLDS:
        raise ConfigError(f"serving cross-validation by {by!r}: choose hardware or model")

    out: dict[str, Any] = {}
    for f in files:
        rows, skipped = load_serving_rows(f)
        for why, n in skipped.items():
            err_console.print(f"{f.name}: {n} serving rows skipped: {why}")
        if not rows:
            continue
        if fit:
            out[f.name] = [
                {
                    "by": cv.by, "fit": cv.fit_on, "score": cv.scored_on,
                    "step_overhead_s": cv.step_overhead_s, "seq_overhead_s": cv.seq_overhead_s,
                    "max_num_seqs": cv.max_num_seqs,
                    "output_length_cv": {f"{k[1]}/{k[2]}": v for k, v in cv.length_spread.items()},
                    "fit_mape": cv.fit_mape, "held_out_mape": cv.held_out_mape,
                }
                for cv in cross_validate(f, by=by)
            ]  # fmt: skip
        else:
            scores = predict_rows(rows)
            hws = sorted({s.row.hardware for s in scores})
            out[f.name] = {hw: mape_by_metric([s for s in scores if s.row.hardware == hw]) for hw in hws}
    if not out:
        raise ConfigError("no serving rows (QPS=N with a supported GPU and model) in the given files")
    if as_json:
        print_json(out)
        return
    for name, res in out.items():
        t = Table("file", "fit on", "scored on", "metric", "MAPE", title="serving rows through serve-sim")
        if fit:
            for cv in res:
                for metric, v in cv["held_out_mape"].items():
                    t.add_row(name, cv["fit"], cv["score"], metric, f"{v:.1%}")
        else:
            for hw, per in res.items():
                for metric, v in per.items():
                    t.add_row(name, "presets", hw, metric, f"{v:.1%}")
        console.print(t)
        for cv in res if fit else []:
            console.print(
                f"fitted on {cv['fit']}: {cv['step_overhead_s'] * 1e3:g} ms per iteration, "
                f"{cv['seq_overhead_s'] * 1e6:g} us per sequence, max_num_seqs {cv['max_num_seqs']}, "
                f"output-length CV {cv['output_length_cv'] or 'none (fixed lengths)'}"
            )
