"""The engine registry: one record per real engine and version, found by exact name or alias
(``analyze --framework`` and ``serve-sim --engine`` take the same ones), or by the free text a
measurement row writes in its ``framework`` field (first matching record in :data:`ENGINES`
order, the more specific versions first)."""

from __future__ import annotations

import re

from hetsim.engines import offload, pytorch, servers, trtllm, vllm
from hetsim.engines.batching import EngineConfig
from hetsim.engines.host import Serving
from hetsim.engines.record import Engine
from hetsim.errors import ConfigError, UnknownNameError

DEFAULT = Engine(
    "default",
    "no engine effects: the kernels alone, generic continuous batching without host overheads",
    Serving(),
    EngineConfig(name="default", provenance={"scheduler": "assumed: generic continuous batching"}),
    provenance={"step_overhead_s": "assumed: the device's calibrated per-step overhead"},
)

# text-matching order: the first record whose ``matches`` finds the text wins
ENGINES: tuple[Engine, ...] = (
    servers.LMDEPLOY,
    *trtllm.RECORDS,
    *pytorch.RECORDS,
    *vllm.RECORDS,
    servers.SGLANG,
    servers.TGI,
    servers.LLAMA_CPP,
    *offload.RECORDS,
    DEFAULT,
)


def _index() -> dict[str, Engine]:
    out: dict[str, Engine] = {}
    for e in ENGINES:
        for n in e.names:
            if n in out:
                raise ConfigError(f"engine name {n!r} is used by {out[n].name} and {e.name}")
            out[n] = e
    return out


BY_NAME = _index()


def get(name: str | Engine) -> Engine:
    """A record by exact name or alias (case and surrounding spaces ignored)."""
    if isinstance(name, Engine):
        return name
    key = str(name).strip().lower()
    if key not in BY_NAME:
        raise UnknownNameError("engine", str(name), BY_NAME)
    return BY_NAME[key]


def match(framework_text: str) -> Engine:
    """The record a measurement row's free-text ``framework`` names (``default`` if none)."""
    low = framework_text.lower()
    return next((e for e in ENGINES if re.search(e.matches, low)), DEFAULT)


def names() -> list[str]:
    """Canonical names, registry order."""
    return [e.name for e in ENGINES]
