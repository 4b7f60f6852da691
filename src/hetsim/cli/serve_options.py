"""The `hetsim serve-sim` options whose help runs over one line, as annotated types, so that
the command's signature reads one option per line (:mod:`hetsim.cli.serve_sim`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Preset name or config.json path (default llama3-8b).")
]
ModelsOpt = Annotated[
    str | None,
    typer.Option(
        help="Serve several models of one architecture, one active at a time: NAME[:SHARE],... (NAME@TAG: "
        "a fine-tuned variant), each request's model drawn by share; a switch copies a model from the "
        "fastest side beside the primary that holds them all, e.g. llama2-7b@chat:3,llama2-7b@code."
    ),
]
ModelSlotsOpt = Annotated[
    int, typer.Option(help="With --models: models the primary side holds at once (the first ones listed).")
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        help="Replace the engine's scheduler: fcfs, prefill-first, stall-free, shortest-job, "
        "priority, static."
    ),
]
RateOpt = Annotated[float | None, typer.Option(help="Poisson rate: requests/s (sessions/s with --sessions).")]
OutputLenOpt = Annotated[
    str | None, typer.Option("--output-len", "-g", help="Output tokens, the same forms (default 128).")
]
MixOpt = Annotated[
    str | None,
    typer.Option(
        help="Named request mix instead of -p/-g: sharegpt, arxiv-summarization, azure-code, "
        "azure-conversation, openorca-mlperf, cnn-dailymail-mlperf, longbench."
    ),
]
TraceOpt = Annotated[
    Path | None,
    typer.Option(
        help="CSV or JSON Lines of arrival, input and output lengths (optional prefix_id, "
        "prefix_len, priority); Azure and Mooncake column names work."
    ),
]
SessionsOpt = Annotated[
    int | None,
    typer.Option(
        help="Multi-turn agentic sessions: each turn reuses the previous turn's context "
        "(-p: first prompt, --turn-input: each new message, -g: answers)."
    ),
]
ThinkTimeOpt = Annotated[float, typer.Option(help="Seconds between a turn's answer and the next turn.")]
ScenarioOpt = Annotated[
    str | None,
    typer.Option(help="MLPerf Inference scenario: offline or server (the benchmark's latency limits)."),
]
InteractiveOpt = Annotated[
    bool,
    typer.Option("--interactive", help="With --scenario server: the benchmark's interactive limits."),
]
MaxRateOpt = Annotated[
    bool, typer.Option("--max-rate", help="Search the highest rate meeting --slo (or --scenario server).")
]
SloAttainmentOpt = Annotated[float, typer.Option(help="Fraction of requests that must meet the SLOs.")]
DecodeHardwareOpt = Annotated[
    str | None, typer.Option(help="With --disaggregate: hardware of the decode instances.")
]
DecodeTpOpt = Annotated[int | None, typer.Option(help="With --disaggregate: tp of the decode instances.")]
KvLinkOpt = Annotated[
    str | None,
    typer.Option(help="With --disaggregate: the KV link, BANDWIDTH[,LATENCY], e.g. 50GB/s,10us."),
]
KvOffloadOpt = Annotated[
    str | None,
    typer.Option(
        help="KV tiers below the GPU: auto (the hardware's host and drive sides) or "
        "NAME:CAPACITY:BANDWIDTH[:LATENCY] list, e.g. dram:512GB:50GB/s,nvme:4TB:6GB/s:100us."
    ),
]
MaxNumBatchedTokensOpt = Annotated[int | None, typer.Option(help="Override: tokens per iteration.")]
PrefillChunkTokensOpt = Annotated[
    int | None, typer.Option(help="Override: prefill tokens per iteration (stall-free chunk).")
]
PolicyOpt = Annotated[
    str, typer.Option(help="Placement over memory sides (hetsim policies; auto: offload on multi-tier).")
]
StaticPlacementOpt = Annotated[
    bool, typer.Option("--static-placement", help="Decide the placement once, for the largest footprint.")
]
