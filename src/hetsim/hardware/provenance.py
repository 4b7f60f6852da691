"""Where a hardware number comes from. Every number in a hardware file carries one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hetsim.errors import ConfigError

SourceKind = Literal["datasheet", "paper", "measured", "calibrated", "derived", "assumed"]
SOURCE_KINDS: tuple[str, ...] = (
    "datasheet",
    "paper",
    "measured",
    "calibrated",
    "derived",
    "assumed",
)


@dataclass(frozen=True, slots=True)
class Provenance:
    kind: SourceKind
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ConfigError(f"provenance kind {self.kind!r} is not one of {', '.join(SOURCE_KINDS)}")

    def __str__(self) -> str:
        return f"{self.kind}: {self.source}" if self.source else self.kind

    @classmethod
    def parse(cls, text: str, where: str = "") -> Provenance:
        """Read ``"datasheet: NVIDIA H100 datasheet"`` (kind, colon, free-text source)."""
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}: provenance must be a string like 'datasheet: <source>'")
        kind, _, source = text.partition(":")
        kind = kind.strip().lower()
        if kind not in SOURCE_KINDS:
            raise ConfigError(
                f"{where}: provenance {text!r} must start with one of {', '.join(SOURCE_KINDS)}"
            )
        return cls(kind, source.strip())  # type: ignore[arg-type]


ASSUMED = Provenance("assumed", "no source; a documented default")
