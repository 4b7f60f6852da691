"""One record per real engine and version: what it does to a static run (:class:`Serving`) and
how it batches requests over time (:class:`EngineConfig`), every knob with its provenance and
the data any of them was fitted on.

``hetsim analyze --framework NAME`` takes the record's ``serving``; ``hetsim serve-sim --engine
NAME`` takes its ``batching``; both accept the same names and aliases. ``matches`` is the
regular expression that recognises the engine in a measurement row's free-text ``framework``
field (first match in registry order, :func:`hetsim.engines.registry.match`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from hetsim.engines.batching import EngineConfig
from hetsim.engines.host import Serving
from hetsim.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Engine:
    name: str  # canonical, lower case
    description: str  # the engine and the versions the record describes
    serving: Serving  # effects on a static run (analyze --framework)
    batching: EngineConfig  # scheduler and KV cache under load (serve-sim --engine)
    matches: str = r"$^"  # regex on a lower-cased ``framework`` text; "$^": never matched
    aliases: tuple[str, ...] = ()
    provenance: dict[str, str] = field(default_factory=dict)  # knob -> "kind: source"
    fitted_on: str = "nothing: every knob is documented or assumed"
    # offload engines: every layer's weights held off the GPU once it offloads (not only what
    # does not fit), and whether disk-backed bytes are read through the OS page cache
    offload_layers: bool = False
    page_cache: bool = True

    def __post_init__(self) -> None:
        if self.batching.serving != self.serving:  # one record: serve-sim reads the static part too
            object.__setattr__(self, "batching", replace(self.batching, serving=self.serving))
        if self.name != self.name.strip().lower() or not self.name:
            raise ConfigError(f"engine name {self.name!r} must be non-empty lower case")
        if self.batching.name != self.name:
            raise ConfigError(f"engine {self.name}: its batching record is named {self.batching.name!r}")
        try:
            re.compile(self.matches)
        except re.error as exc:
            raise ConfigError(f"engine {self.name}: bad matches pattern ({exc})") from None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def knob_provenance(self, knob: str) -> str:
        """The source of one knob: the record's own, else its batching record's, else default."""
        return self.provenance.get(knob) or self.batching.provenance.get(knob) or "default"
