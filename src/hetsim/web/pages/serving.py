"""Serving: requests arriving over time on a continuously batching engine, as ``hetsim
serve-sim`` simulates them (same core call): latency CDFs (the ITL with the stalls of tokens
that waited through decode-free iterations), throughput against request rate, the KV-cache
timeline and the engine records to choose from."""

from __future__ import annotations

from typing import Any

import numpy as np

from hetsim.api.lookup import DTYPES, Precision
from hetsim.api.serving import (
    PRESETS,
    ServingResult,
    itl_samples,
    make_requests,
    per_request_metrics,
    simulate_serving,
)
from hetsim.units import fmt_time
from hetsim.web.context import Context
from hetsim.web.figures import PALETTE, axis, layout
from hetsim.web.pages import Page, register
from hetsim.web.pages.common import hardware_field, model_fields, read_model
from hetsim.web.view import Card, Column, Field, Figure, Inputs, Table, View

RATE_FACTORS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0)  # the throughput-vs-rate curve, around the chosen rate
MAX_REQUESTS = 5_000  # keeps one page render in a second or so
SWEEP_REQUESTS = 1_000  # requests per point of the throughput-vs-rate curve (at most)


def fields(ctx: Context) -> list[Field]:
    return [
        *model_fields("llama2-7b"),
        hardware_field(default="a100-80gb-sxm"),
        Field("engine", "engine", "select", "vllm", tuple(PRESETS), group="hardware"),
        Field("tp", "tensor parallel", "number", 1, group="hardware"),
        Field("weight_dtype", "weights", "select", "bf16", tuple(DTYPES), group="hardware"),
        Field("requests", "requests", "number", 300, group="workload"),
        Field("rate", "arrival rate (requests/s, Poisson)", "text", "4", group="workload"),
        Field(
            "input_len",
            "prompt tokens",
            "text",
            "512",
            group="workload",
            help="N, uniform:LO:HI, normal:MEAN:STD or lognormal:MEAN:STD",
        ),
        Field("output_len", "generated tokens", "text", "128", group="workload"),
        Field("slo", "SLOs (seconds)", "text", "ttft=0.5,tpot=0.05", group="workload"),
        Field("seed", "seed", "number", 0, group="workload"),
    ]


def _rate(inp: Inputs) -> float:
    from hetsim.errors import ConfigError

    raw = inp.text("rate", "4")
    try:
        rate = float(raw)
    except ValueError:
        raise ConfigError(f"rate must be a number of requests per second, got {raw!r}") from None
    if not rate > 0 or not np.isfinite(rate):
        raise ConfigError(f"rate must be a positive number of requests per second, got {raw!r}")
    return rate


def _cdf_figure(r: ServingResult) -> Figure:
    per = per_request_metrics(r)
    step, w = itl_samples(r.iterations, r.itl_stalls)  # a stalled token's gap is the whole wait
    series = [
        ("TTFT", per["ttft"], None),
        ("TPOT", per["tpot"], None),
        ("ITL", step, w),
        ("E2E", per["e2e"], None),
    ]
    traces = []
    for j, (name, x, wt) in enumerate(series):
        x = np.asarray(x, dtype=float)
        keep = np.isfinite(x)
        xs = x[keep]
        order = np.argsort(xs, kind="stable")
        wts = np.ones_like(xs) if wt is None else np.asarray(wt, dtype=float)[keep]
        cdf = np.cumsum(wts[order]) / max(float(np.sum(wts)), 1e-300)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": PALETTE[j]},
                "name": name,
                "x": (xs[order] * 1e3).tolist(),
                "y": cdf.tolist(),
                "hovertemplate": name + ": %{y:.0%} within %{x:.4g} ms<extra></extra>",
            }
        )
    shapes = [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": v * 1e3,
            "x1": v * 1e3,
            "y0": 0,
            "y1": 1,
            "line": {"color": "#888", "dash": "dot"},
        }
        for v in r.slo.values()
    ]
    notes = [
        {
            "x": np.log10(v * 1e3),
            "y": 1.0,
            "xref": "x",
            "yref": "paper",
            "yanchor": "bottom",
            "showarrow": False,
            "text": f"{name.upper()} SLO {v * 1e3:g} ms",
            "font": {"size": 11, "color": "#555"},
        }
        for name, v in r.slo.items()
    ]
    return Figure(
        "latency-cdf",
        "Latency distributions (empirical CDFs)",
        traces,
        layout(
            xaxis=axis("latency (ms)", log=True),
            yaxis=axis("fraction of requests (ITL: of tokens)", range=[0, 1.02]),
            shapes=shapes,
            annotations=notes,
        ),
        "TTFT, TPOT and end-to-end latency per request; ITL per generated token, a token that waited "
        "through iterations without decodes (a prefill-first scheduler's prompts) counted at its whole "
        "gap. Dotted: the SLOs.",
    )


def _kv_figure(r: ServingResult) -> Figure:
    tl = np.asarray(r.timeline, dtype=float).reshape(
        -1, 5
    )  # (time_s, blocks used, running, waiting, preempted)
    t = tl[:, 0].tolist()
    total = max(r.kv_blocks_total, 1)
    traces = [
        {
            "type": "scatter",
            "mode": "lines",
            "line": {"shape": "hv", "color": PALETTE[0]},
            "name": "KV blocks used",
            "x": t,
            "y": (tl[:, 1] / total).tolist(),
            "hovertemplate": "%{y:.1%} of the KV cache at %{x:.2f} s<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "line": {"shape": "hv", "color": PALETTE[2]},
            "name": "running requests",
            "x": t,
            "y": tl[:, 2].tolist(),
            "yaxis": "y2",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "line": {"shape": "hv", "color": PALETTE[3]},
            "name": "waiting requests",
            "x": t,
            "y": tl[:, 3].tolist(),
            "yaxis": "y2",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "line": {"shape": "hv", "color": "#d62728"},
            "name": "preemptions (total)",
            "x": t,
            "y": tl[:, 4].tolist(),
            "yaxis": "y2",
        },
    ]
    return Figure(
        "kv-timeline",
        f"KV cache over time: {r.kv_blocks_total:,} blocks × {r.kv_block_tokens} tokens",
        traces,
        layout(
            height=460,
            xaxis={"title": {"text": "time (s)"}, "anchor": "y2"},
            yaxis={
                "domain": [0.58, 1.0],
                "title": {"text": "KV-cache utilisation"},
                "range": [0, 1.05],
                "tickformat": ".0%",
            },
            # counts: never below zero, even when nothing waits and nothing is preempted
            yaxis2={
                "domain": [0.0, 0.45],
                "title": {"text": "requests"},
                "anchor": "x",
                "rangemode": "nonnegative",
            },
        ),
    )


def _rate_figure(rates: list[float], runs: list[ServingResult], chosen: float) -> Figure:
    def line(name: str, ys: list[float], color: str, unit: str, **kw: Any) -> dict[str, Any]:
        return {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name,
            "x": rates,
            "y": ys,
            "marker": {"color": color},
            "line": {"color": color, **kw.pop("line", {})},
            "hovertemplate": "%{x:.3g} req/s: %{y:.4g} " + unit + "<extra>" + name + "</extra>",
            **kw,
        }

    traces = [
        line("request throughput", [r.request_throughput_per_s for r in runs], PALETTE[0], "req/s"),
        line(
            "goodput (meeting every SLO)",
            [r.goodput_req_per_s for r in runs],
            PALETTE[2],
            "req/s",
            line={"dash": "dash"},
        ),
        line("p99 TTFT (right axis)", [r.ttft_s.p99 * 1e3 for r in runs], PALETTE[3], "ms", yaxis="y2"),
    ]
    return Figure(
        "rate-sweep",
        "Throughput, goodput and tail latency against the request rate",
        traces,
        layout(
            margin={"l": 70, "r": 80, "t": 40, "b": 60},
            xaxis=axis("arrival rate (requests/s)", log=True),
            yaxis=axis("requests/s"),
            yaxis2={
                "title": {"text": "p99 TTFT (ms)"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "automargin": True,
                "showgrid": False,
            },
            shapes=[
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": chosen,
                    "x1": chosen,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": "#888", "dash": "dot"},
                }
            ],
        ),
        f"The same request lengths at {', '.join(f'{f:g}×' for f in RATE_FACTORS)} the chosen rate "
        f"(dotted line), {SWEEP_REQUESTS:,} requests per point at most. Goodput: requests per second "
        "that met every SLO.",
    )


ENGINE_COLUMNS = (
    Column("engine", "engine"),
    Column("aliases", "also accepted as"),
    Column("scheduler", "scheduler"),
    Column("max_num_batched_tokens", "token budget", "int"),
    Column("chunked_prefill", "chunked prefill"),
    Column("block_size", "KV block (tokens)", "int"),
    Column("reservation", "KV reserved"),
    Column("preemption", "preemption"),
    Column("prefix_caching", "prefix caching"),
    Column("fitted_on", "fitted on"),
)


def _engine_table(chosen: str) -> Table:
    """Every engine record the form offers (``hetsim engines`` has each knob's provenance)."""
    from hetsim.api.lookup import ENGINES

    rows = []
    for e in ENGINES:
        b = e.batching
        name = f"{e.name} (this run)" if e.name == chosen else e.name
        yes = {True: "yes", False: "no"}
        rows.append([name, ", ".join(e.aliases) or "-", b.scheduler, b.max_num_batched_tokens,
                     yes[b.chunked_prefill], b.block_size, b.reservation.replace("_", " "), b.preemption,
                     yes[b.prefix_caching], e.fitted_on or "nothing"])  # fmt: skip
    caption = ("The same records and names as `hetsim analyze --framework` and `hetsim serve-sim --engine`; "
               "`hetsim engines` lists every knob with its provenance.")  # fmt: skip
    return Table("engines", "Engine records", ENGINE_COLUMNS, rows, caption)


def _stall_card(r: ServingResult) -> Card:
    """Tokens whose gap held iterations without decodes, and the longest such gap."""
    n = int(sum(k for _, _, k in r.itl_stalls))
    worst = max((g for g, _, _ in r.itl_stalls), default=0.0)
    text = f"{n:,} tokens, longest gap {fmt_time(worst)}" if n else "none"
    return Card("itl_stalled_tokens", "tokens stalled behind prompts", n, text)


def build(inp: Inputs, ctx: Context) -> View:
    from hetsim.api.lookup import hardware_preset

    model = read_model(inp, ctx)
    dev = hardware_preset(inp.text("hardware", "a100-80gb-sxm"))
    n = inp.integer("requests", 300, maximum=MAX_REQUESTS)
    rate = _rate(inp)
    seed = inp.integer("seed", 0, minimum=0)
    prec = Precision.of(inp.text("weight_dtype", "bf16"))
    kw: dict[str, Any] = {
        "engine": inp.choice("engine", tuple(PRESETS), "vllm"),
        "tp": inp.integer("tp", 1),
        "precision": prec,
        "slo": inp.text("slo") or None,
    }
    p_len, g_len = inp.text("input_len", "512") or "512", inp.text("output_len", "128") or "128"

    def run(at: float, count: int) -> ServingResult:
        def sim() -> ServingResult:
            reqs = make_requests(count, rate_per_s=at, seed=seed, input_len=p_len, output_len=g_len)
            return simulate_serving(model, dev, reqs, **kw)

        if inp.uploads:  # an uploaded model: not a name to key a cache on
            return sim()
        key = ("serving-run", model.name, dev.name, count, at, seed, p_len, g_len, kw["engine"], kw["tp"],
               prec.label, kw["slo"])  # fmt: skip
        return ctx.cached(key, sim)  # sweeps around nearby rates share their runs

    r = run(rate, n)
    rates = [rate * f for f in RATE_FACTORS]
    m = min(n, SWEEP_REQUESTS)
    runs = [r if f == 1.0 and m == n else run(at, m) for f, at in zip(RATE_FACTORS, rates, strict=True)]
    cards = [
        Card("completed", "requests completed", r.completed, f"{r.completed:,} of {r.n_requests:,}"),
        Card(
            "output_throughput_tok_per_s",
            "output throughput",
            r.output_throughput_tok_per_s,
            f"{r.output_throughput_tok_per_s:,.1f} tok/s",
        ),
        Card("ttft_p50_s", "TTFT p50", r.ttft_s.p50, fmt_time(r.ttft_s.p50)),
        Card("ttft_p99_s", "TTFT p99", r.ttft_s.p99, fmt_time(r.ttft_s.p99)),
        Card("tpot_p50_s", "TPOT p50", r.tpot_s.p50, fmt_time(r.tpot_s.p50)),
        Card("tpot_p99_s", "TPOT p99", r.tpot_s.p99, fmt_time(r.tpot_s.p99)),
        Card("itl_p99_s", "ITL p99", r.itl_s.p99, fmt_time(r.itl_s.p99)),
        _stall_card(r),
        Card("slo_attainment", "requests meeting the SLOs", r.slo_attainment, f"{r.slo_attainment:.1%}"),
        Card("goodput_req_per_s", "goodput", r.goodput_req_per_s, f"{r.goodput_req_per_s:,.2f} req/s"),
        Card(
            "kv_peak_utilization", "KV cache, peak use", r.kv_peak_utilization, f"{r.kv_peak_utilization:.1%}"
        ),
        Card("preemptions", "preemptions", r.preemptions, f"{r.preemptions:,}"),
        Card("energy_j_per_token", "energy per output token", r.energy_j_per_token,
             f"{r.energy_j_per_token:.3g} J"),
        Card("avg_power_w", "average power per device", r.avg_power_w,
             f"{r.avg_power_w:,.0f} W (peak {r.peak_power_w:,.0f} W)"),
    ]  # fmt: skip
    title = (
        f"{model.name} on {r.tp}× {r.hardware}, {r.engine}: {n} requests, Poisson {rate:g} req/s, "
        f"{p_len} + {g_len} tokens"
    )
    figures = [_cdf_figure(r), _rate_figure(rates, runs, rate), _kv_figure(r)]
    return View(title, cards, figures, [_engine_table(str(kw["engine"]))], list(r.notes))


PAGE = register(
    Page(
        "serving",
        "Serving",
        "Requests arriving over time on a continuously batching engine, as `hetsim serve-sim` simulates "
        "them: latency distributions, throughput against the request rate, and the KV cache over time.",
        fields,
        build,
        order=25,
        heavy=True,
    )
)
