"""`hetsim serve-sim`: requests arriving over time on a continuously batching engine.

The serving package is imported inside the command, so other commands start without it.
Rendering lives in :mod:`hetsim.cli.serve_render`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hetsim.cli.common import app
from hetsim.cli.parallel_options import (
    DpAttentionOption,
    EpOption,
    EpRedundantOption,
    EpSharedDevicesOption,
    EpSkewOption,
    SpecOption,
    experts_of,
    speculation_of,
)
from hetsim.cli.serve_options import (
    DecodeHardwareOpt,
    DecodeTpOpt,
    InteractiveOpt,
    KvLinkOpt,
    KvOffloadOpt,
    MaxNumBatchedTokensOpt,
    MaxRateOpt,
    MixOpt,
    ModelOpt,
    ModelSlotsOpt,
    ModelsOpt,
    OutputLenOpt,
    PolicyOpt,
    PrefillChunkTokensOpt,
    RateOpt,
    ScenarioOpt,
    SchedulerOpt,
    SessionsOpt,
    SloAttainmentOpt,
    StaticPlacementOpt,
    ThinkTimeOpt,
    TraceOpt,
)
from hetsim.cli.serve_validate import serving_validate as serving_validate  # `validate --serving`
from hetsim.errors import ConfigError
from hetsim.options import check_value

ENGINE_HELP = (
    "Engine record (hetsim engines): vllm, vllm-v0, sglang, tensorrt-llm (trtllm), tensorrt-llm-pytorch, "
    "lmdeploy, tgi, llama.cpp, hf-transformers, gpt-fast, flexgen, ... (the names analyze --framework takes)."
)
LENGTH_HELP = (
    "Prompt tokens: N, uniform:LO:HI, normal:MEAN:SD[:LO:HI] or lognormal:MEAN:SD[:LO:HI] (default 512)."
)


def _parse_pair(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    p, _, d = text.partition(":")
    try:
        return int(p), int(d)
    except ValueError:
        raise ConfigError(f"--disaggregate {text!r}: give PREFILL:DECODE instance counts, e.g. 1:1") from None


def _outputs(paths: dict[str, Path | None], force: bool) -> None:
    """Every output may be written, and no two name the same file (nothing is written yet)."""
    from hetsim.api.serving import writable

    seen: dict[Path, str] = {}
    for flag, p in paths.items():
        if p is None:
            continue
        key = p.expanduser().resolve()
        if key in seen:
            raise ConfigError(f"{seen[key]} and {flag} name the same file {p}; give two names")
        seen[key] = flag
        if flag.startswith("--plot"):
            _image_format(flag, p)
        writable(p, force)


def _image_format(flag: str, p: Path) -> None:
    """A plot's file name ends in a format Matplotlib writes (loaded only when a plot is asked)."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    if p.suffix.lower().lstrip(".") not in formats:
        raise ConfigError(f"{flag} {p}: name a file ending in an image format Matplotlib writes "
                          f"({', '.join(sorted(formats))})")  # fmt: skip


def _link(text: str | None) -> Any:
    if not text:
        return None
    from hetsim.api.lookup import Link
    from hetsim.units import parse_quantity

    bw, _, lat = text.partition(",")
    return Link("kv-link", parse_quantity(bw.strip(), "bytes_per_s", where="--kv-link"),
                parse_quantity(lat.strip(), "s", where="--kv-link") if lat.strip() else 0.0)  # fmt: skip


def _check_values(
    arrival: str, no_users: bool, attainment: float, scenario: str | None, max_queue: int | None, sources: int
) -> None:
    """The option values serve-sim refuses before it reads anything (one line each)."""
    if arrival not in ("poisson", "closed", "offline"):
        raise ConfigError(f"--arrival {arrival!r}: choose poisson, closed or offline (or --trace FILE)")
    if arrival == "closed" and no_users:
        raise ConfigError("--arrival closed needs --concurrency N (the users of the closed loop)")
    if not 0 < attainment <= 1:
        raise ConfigError(f"--slo-attainment must be in (0, 1], got {attainment}")
    if scenario is not None and scenario not in ("offline", "server"):
        raise ConfigError(f"--scenario {scenario!r}: choose offline or server")
    if max_queue is not None and max_queue < 0:
        raise ConfigError(f"--max-queue must be >= 0 requests, got {max_queue}")
    if sources > 1:
        raise ConfigError("choose one of --trace, --sessions and --mix")


@app.command("serve-sim")
def serve_cmd(
    model: ModelOpt = None,
    models: ModelsOpt = None,
    model_slots: ModelSlotsOpt = 1,
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="Preset name or YAML path.")] = "h100-sxm",
    tp: Annotated[int, typer.Option(help="Tensor-parallel devices per engine instance.")] = 1,
    engine: Annotated[str, typer.Option(help=ENGINE_HELP)] = "vllm",
    scheduler: SchedulerOpt = None,
    arrival: Annotated[str, typer.Option(help="poisson, closed or offline (all at t = 0).")] = "poisson",
    rate: RateOpt = None,
    concurrency: Annotated[int | None, typer.Option(help="Users of a closed loop.")] = None,
    requests: Annotated[int, typer.Option("--requests", "-n", help="Requests to serve.")] = 500,
    input_len: Annotated[str | None, typer.Option("--input-len", "-p", help=LENGTH_HELP)] = None,
    output_len: OutputLenOpt = None,
    mix: MixOpt = None,
    trace: TraceOpt = None,
    sessions: SessionsOpt = None,
    turns: Annotated[str, typer.Option(help="Turns per session (a length form, e.g. uniform:2:8).")] = "4",
    turn_input: Annotated[str, typer.Option(help="New tokens each later turn adds (a length form).")] = "128",
    think_time: ThinkTimeOpt = 1.0,
    prefix_len: Annotated[int, typer.Option(help="Prompt prefix shared by every request.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of arrivals and lengths (0 to 2**63 - 1).")] = 0,
    slo: Annotated[str | None, typer.Option(help="SLOs in seconds, e.g. ttft=0.5,tpot=0.05.")] = None,
    scenario: ScenarioOpt = None,
    interactive: InteractiveOpt = False,
    max_rate: MaxRateOpt = False,
    slo_attainment: SloAttainmentOpt = 0.9,
    disaggregate: Annotated[str | None, typer.Option(help="PREFILL:DECODE instances, e.g. 1:1.")] = None,
    decode_hardware: DecodeHardwareOpt = None,
    decode_tp: DecodeTpOpt = None,
    kv_link: KvLinkOpt = None,
    kv_offload: KvOffloadOpt = None,
    max_num_seqs: Annotated[int | None, typer.Option(help="Override: sequences per iteration.")] = None,
    max_num_batched_tokens: MaxNumBatchedTokensOpt = None,
    prefill_chunk_tokens: PrefillChunkTokensOpt = None,
    chunked_prefill: Annotated[bool | None, typer.Option(help="Override: chunk prompts.")] = None,
    prefix_caching: Annotated[bool | None, typer.Option(help="Override: reuse cached prefixes.")] = None,
    block_size: Annotated[int | None, typer.Option(help="Override: tokens per KV block.")] = None,
    preemption: Annotated[str | None, typer.Option(help="Override: recompute or swap.")] = None,
    policy: PolicyOpt = "primary",
    static_placement: StaticPlacementOpt = False,
    weight_dtype: Annotated[str, typer.Option(help="fp32, bf16, fp16, fp8, int8 or int4.")] = "bf16",
    kv_dtype: Annotated[str | None, typer.Option(help="KV-cache type (default: activation type).")] = None,
    max_queue: Annotated[int | None, typer.Option(help="Stop when this many requests wait.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    csv_out: Annotated[Path | None, typer.Option(help="Write per-request CSV here.")] = None,
    trace_out: Annotated[Path | None, typer.Option(help="Write a Chrome/Perfetto trace (JSON) here.")] = None,
    plot_cdf: Annotated[Path | None, typer.Option(help="Write latency CDF plot (PNG) here.")] = None,
    plot_kv: Annotated[Path | None, typer.Option(help="Write KV-cache timeline plot (PNG) here.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")] = False,
    ep: EpOption = 1,
    dp_attention: DpAttentionOption = False,
    ep_skew: EpSkewOption = None,
    ep_redundant: EpRedundantOption = 0,
    ep_shared_devices: EpSharedDevicesOption = 0,
    spec: SpecOption = None,
) -> None:
    """Simulate serving: latency percentiles, throughput, SLO goodput, KV cache over time, energy
    per token and power per device; MLPerf Offline/Server scenarios; the highest rate meeting
    SLOs in steady state."""
    from hetsim.api.lookup import Precision
    from hetsim.api.serving import ModelMix, check_seed, get_engine, parse_slo
    from hetsim.cli.serve_render import run_and_render

    check_seed(seed)
    several = ModelMix.parse(models, model_slots, seed) if models is not None else None
    if several is not None and model is not None:
        raise ConfigError("give --model or --models, not both (--models names the models served)")
    if several is None and model_slots != 1:
        raise ConfigError("--model-slots goes with --models (the models one engine switches between)")
    model = several.names[0].partition("@")[0] if several is not None else model or "llama3-8b"
    no_users = concurrency is None and trace is None and sessions is None
    sources = sum(x is not None for x in (trace, sessions, mix))
    _check_values(arrival, no_users, slo_attainment, scenario, max_queue, sources)
    _outputs({"--csv-out": csv_out, "--trace-out": trace_out, "--plot-cdf": plot_cdf, "--plot-kv": plot_kv},
             force)  # fmt: skip
    eng = get_engine(engine)
    overrides = {"max_num_seqs": max_num_seqs, "max_num_batched_tokens": max_num_batched_tokens,
                 "prefill_chunk_tokens": prefill_chunk_tokens, "chunked_prefill": chunked_prefill,
                 "prefix_caching": prefix_caching, "block_size": block_size,
                 "preemption": preemption}  # fmt: skip
    changes = {k: v for k, v in overrides.items() if v is not None}
    if changes:
        eng = eng.with_(**changes)
    sim: dict[str, Any] = {
        "engine": eng, "tp": tp, "precision": Precision.of(weight_dtype, None, kv_dtype),
        "max_queue": max_queue, "policy": policy, "dynamic_placement": not static_placement,
        "scheduler": scheduler, "kv_tiers": kv_offload, "decode_hardware": decode_hardware,
        "decode_tp": decode_tp, "kv_link": _link(kv_link),
        "experts": experts_of(ep, dp_attention, ep_skew, ep_redundant, ep_shared_devices),
        "speculation": speculation_of(check_value("spec", spec)), "models": several,
    }  # fmt: skip
    work = {"arrival": arrival, "rate": rate, "concurrency": concurrency, "requests": requests,
            "input_len": input_len, "output_len": output_len, "mix": mix, "trace": trace,
            "sessions": sessions, "turns": turns, "turn_input": turn_input, "think_time": think_time,
            "prefix_len": prefix_len, "seed": seed}  # fmt: skip
    outs = {"csv": csv_out, "trace": trace_out, "cdf": plot_cdf, "kv": plot_kv, "force": force}
    run_and_render(
        model, hardware, sim, work, outs, slos=parse_slo(slo), scenario=scenario,
        interactive=interactive, max_rate=max_rate, attainment=slo_attainment,
        disaggregate=_parse_pair(disaggregate), as_json=as_json,
    )  # fmt: skip
