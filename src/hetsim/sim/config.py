"""What a run is: the static batch (:class:`Workload`), the serving framework's wrapping
(:class:`Serving`, defined with the engine records in :mod:`hetsim.engines.host`), the
parallelism and pricing options (:class:`Options`). The bytes one device must hold for it
(:func:`footprint`) are computed in :mod:`hetsim.workload.footprint` and re-exported here.
Split from :mod:`hetsim.sim.inference`, which re-exports them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hetsim.cost.roofline import Overlap
from hetsim.engines.host import Serving as Serving
from hetsim.errors import ConfigError
from hetsim.workload.expert_parallel import NO_EP, ExpertParallel
from hetsim.workload.footprint import footprint as footprint  # re-exported: computed in workload/
from hetsim.workload.graph import AttentionImpl
from hetsim.workload.speculation import Speculation


@dataclass(frozen=True, slots=True)
class Workload:
    """A static batch: ``batch`` sequences of ``input_len`` prompt tokens generating
    ``output_len`` tokens each (the first from prefill)."""

    batch: int
    input_len: int
    output_len: int

    def __post_init__(self) -> None:
        for name in ("batch", "input_len", "output_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class Options:
    tp: int = 1
    pp: int = 1
    attention: AttentionImpl = "fused"
    overlap: Overlap = "max"
    serving: Serving = Serving()  # noqa: RUF009 (a frozen record, shared safely)
    experts: ExpertParallel = NO_EP  # expert parallelism and DP attention (MoE models)
    speculation: Speculation | None = None  # speculative decoding (None: one token a step)
    sub_batches: int = 1  # decode as interleaved sub-batches across sides (sim/interleave.py)

    @property
    def dp(self) -> int:
        """Data-parallel attention ranks per pipeline stage (1 without DP attention)."""
        return self.experts.dp

    @property
    def devices(self) -> int:
        """Devices the run spans: tp x pp, times the DP-attention ranks."""
        return self.tp * self.pp * self.experts.dp
