"""The exception hierarchy. User mistakes raise a subclass of :class:`HetsimError`; the CLI
prints its message on one line and exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HetsimError(Exception):
    """Base class for every error a user can cause and fix."""


class ConfigError(HetsimError):
    """A model, hardware or workload description is malformed or out of range."""


class UnknownNameError(ConfigError):
    """A preset or policy name is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        super().__init__(f"unknown {kind} {name!r}: {hint}choose from {', '.join(known)}")
        self.name = name
        self.suggestions = close


class CapacityError(HetsimError):
    """A workload does not fit in the memory it was given."""


class MappingError(HetsimError):
    """A placement policy cannot produce a valid mapping."""


class MeasurementError(HetsimError):
    """A measurement file cannot be read."""


class ModelError(HetsimError):
    """A result came out physically impossible (non-finite, negative, utilisation above 1)."""
