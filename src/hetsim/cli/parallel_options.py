"""Options shared by ``analyze`` and ``serve-sim``: expert parallelism with DP attention, and
speculative decoding (``--ep``, ``--dp-attention``, ``--ep-skew``; ``--spec``,
``--spec-tokens``, ``--spec-accept``, ``--draft-model``), turned into their records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hetsim.errors import ConfigError

if TYPE_CHECKING:  # the records import NumPy: loaded inside the commands (fast --help)
    from hetsim.workload.expert_parallel import ExpertParallel
    from hetsim.workload.speculation import Speculation

EpOption = Annotated[
    int,
    typer.Option("--ep", help="Expert-parallel devices: MoE experts dealt whole over them (with --tp N: "
                 "the TP group; with --dp-attention: N DP ranks).", show_default=False),
]  # fmt: skip
DpAttentionOption = Annotated[
    bool,
    typer.Option("--dp-attention", help="Each --ep device is a data-parallel rank with its own batch and KV "
                 "cache; MoE tokens dispatched and combined by all-to-all (--batch is per rank)."),
]  # fmt: skip
EpSkewOption = Annotated[
    float | None,
    typer.Option("--ep-skew", help="Busiest EP device's share over uniform routing (1: balanced, e.g. by "
                 "redundant experts; see docs/models.md)."),
]  # fmt: skip
SpecOption = Annotated[
    str | None,
    typer.Option("--spec", help="Speculative decoding: mtp (the model's MTP heads), eagle (an EAGLE-3 "
                 "head) or draft (--draft-model)."),
]  # fmt: skip
SpecTokensOption = Annotated[
    int | None,
    typer.Option("--spec-tokens", help="Tokens drafted per step (default: mtp 1, eagle 3, draft 4)."),
]
SpecAcceptOption = Annotated[
    float | None,
    typer.Option("--spec-accept", help="Per-position acceptance rate 0-1 (default: mtp 0.85, eagle 0.8, "
                 "draft 0.6; sources in docs/models.md)."),
]  # fmt: skip
DraftModelOption = Annotated[
    str | None, typer.Option("--draft-model", help="Draft model preset (--spec draft).")
]


__all__ = [
    "DpAttentionOption", "DraftModelOption", "EpOption", "EpSkewOption", "SpecAcceptOption",
    "SpecOption", "SpecTokensOption", "experts_of", "speculation_of",
]  # fmt: skip


def experts_of(ep: int, dp_attention: bool, skew: float | None = None) -> ExpertParallel:
    """The expert-parallel layout the options ask for (checked against the model later;
    ``skew`` None: :data:`hetsim.workload.expert_parallel.EP_SKEW`)."""
    from hetsim.workload.expert_parallel import EP_SKEW, ExpertParallel

    return ExpertParallel(ep, dp_attention, EP_SKEW if skew is None else skew)


def speculation_of(
    spec: str | None, tokens: int | None, accept: float | None, draft: str | None
) -> Speculation | None:
    """The speculation the options ask for (None without ``--spec``)."""
    if spec is None:
        if tokens is not None or accept is not None or draft is not None:
            raise ConfigError("--spec-tokens, --spec-accept and --draft-model go with --spec mtp|eagle|draft")
        return None
    from hetsim.workload.speculation import Speculation

    return Speculation.of(spec, tokens, accept, draft)
