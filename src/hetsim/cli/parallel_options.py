"""Options shared by ``analyze`` and ``serve-sim``: expert parallelism with DP attention, and
speculative decoding (``--ep``, ``--dp-attention``, ``--ep-skew``, the expert slots ``--ep-redundant``
and ``--ep-shared-devices``; ``--spec``), turned into
their records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the records import NumPy: loaded inside the commands (fast --help)
    from hetsim.api.analysis import ExpertParallel, Speculation

EpOption = Annotated[
    int,
    typer.Option("--ep", help="Expert-parallel devices: MoE experts dealt whole over them (with --tp N: "
                 "the TP group; with --dp-attention: N / tp DP ranks).", show_default=False),
]  # fmt: skip
DpAttentionOption = Annotated[
    bool,
    typer.Option("--dp-attention", help="The --ep devices form data-parallel ranks of --tp devices each, "
                 "with their own batch and KV cache; MoE tokens dispatched and combined by all-to-all "
                 "(--batch is per rank)."),
]  # fmt: skip
EpSkewOption = Annotated[
    float | None,
    typer.Option("--ep-skew", help="Busiest EP device's share over uniform routing (1: balanced, e.g. by "
                 "redundant experts; see docs/models.md)."),
]  # fmt: skip
EpRedundantOption = Annotated[
    int,
    typer.Option("--ep-redundant", help="Redundant replicas of routed experts, dealt with them over the "
                 "routed --ep devices (so --ep may exceed the experts; 0: none)."),
]  # fmt: skip
EpSharedDevicesOption = Annotated[
    int,
    typer.Option("--ep-shared-devices", help="--ep devices given over to replicas of the shared experts (the "
                 "rest hold the routed ones; with --dp-attention)."),
]  # fmt: skip
SpecOption = Annotated[
    str | None,
    typer.Option("--spec", help="Speculative decoding: METHOD[,k=K][,accept=A][,draft=NAME]; METHOD mtp "
                 "(the model's MTP heads), eagle (an EAGLE-3 head) or draft (a draft preset), e.g. "
                 "'eagle,k=3,accept=0.8' (defaults and their sources in docs/models.md)."),
]  # fmt: skip


__all__ = ["DpAttentionOption", "EpOption", "EpRedundantOption", "EpSharedDevicesOption", "EpSkewOption",
           "SpecOption", "experts_of", "speculation_of"]  # fmt: skip


def experts_of(
    ep: int, dp_attention: bool, skew: float | None = None, redundant: int = 0, shared_devices: int = 0
) -> ExpertParallel:
    """The expert-parallel layout the options ask for (checked against the model later;
    ``skew`` None: :data:`hetsim.workload.expert_parallel.EP_SKEW`; ``redundant`` and
    ``shared_devices``: the expert slots of ``--ep-redundant`` and ``--ep-shared-devices``)."""
    from hetsim.api.analysis import EP_SKEW, ExpertParallel

    return ExpertParallel(ep, dp_attention, EP_SKEW if skew is None else skew, redundant, shared_devices)


def speculation_of(spec: str | None) -> Speculation | None:
    """The speculation ``--spec`` asks for (None without it)."""
    if spec is None:
        return None
    from hetsim.api.analysis import Speculation

    return Speculation.parse(spec)
