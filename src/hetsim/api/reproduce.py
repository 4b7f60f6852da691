"""Paper reproductions: the study registry and the H2M2 reproduction.

Part of the one door (:mod:`hetsim.api`): the front ends import these names from here, never
from the modules that define them. Each name is imported on first use (PEP 562), so a command
that needs one pays for its module only."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hetsim.experiments.h2m2 import MODELS as MODELS
    from hetsim.experiments.h2m2 import POLICIES as POLICIES
    from hetsim.experiments.h2m2_run import Reproduction as Reproduction
    from hetsim.experiments.h2m2_run import reproduce as reproduce
    from hetsim.experiments.h2m2_targets import PAPER_DYNAMIC as PAPER_DYNAMIC
    from hetsim.experiments.h2m2_targets import PAPER_ENERGY as PAPER_ENERGY
    from hetsim.experiments.h2m2_targets import PAPER_HBM8 as PAPER_HBM8
    from hetsim.experiments.h2m2_targets import PAPER_MAPPING_STUDY as PAPER_MAPPING_STUDY
    from hetsim.experiments.h2m2_targets import PAPER_MEANS as PAPER_MEANS
    from hetsim.experiments.h2m2_targets import PAPER_OVERHEAD as PAPER_OVERHEAD
    from hetsim.experiments.registry import get_study as get_study
    from hetsim.experiments.registry import met_count as met_count
    from hetsim.experiments.registry import study_names as study_names
    from hetsim.experiments.study import Figure as Figure
    from hetsim.experiments.study import Outcome as Outcome

_WHERE = {
    "MODELS": "hetsim.experiments.h2m2",
    "POLICIES": "hetsim.experiments.h2m2",
    "Reproduction": "hetsim.experiments.h2m2_run",
    "reproduce": "hetsim.experiments.h2m2_run",
    "PAPER_DYNAMIC": "hetsim.experiments.h2m2_targets",
    "PAPER_ENERGY": "hetsim.experiments.h2m2_targets",
    "PAPER_HBM8": "hetsim.experiments.h2m2_targets",
    "PAPER_MAPPING_STUDY": "hetsim.experiments.h2m2_targets",
    "PAPER_MEANS": "hetsim.experiments.h2m2_targets",
    "PAPER_OVERHEAD": "hetsim.experiments.h2m2_targets",
    "get_study": "hetsim.experiments.registry",
    "met_count": "hetsim.experiments.registry",
    "study_names": "hetsim.experiments.registry",
    "Figure": "hetsim.experiments.study",
    "Outcome": "hetsim.experiments.study",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        home = import_module(_WHERE[name])
        return getattr(home, name) if hasattr(home, name) else import_module(f"{home.__name__}.{name}")
    raise AttributeError(f"module 'hetsim.api.reproduce' has no attribute {name!r}")


__all__ = [
    "MODELS",
    "PAPER_DYNAMIC",
    "PAPER_ENERGY",
    "PAPER_HBM8",
    "PAPER_MAPPING_STUDY",
    "PAPER_MEANS",
    "PAPER_OVERHEAD",
    "POLICIES",
    "Figure",
    "Outcome",
    "Reproduction",
    "get_study",
    "met_count",
    "reproduce",
    "study_names",
]  # fmt: skip
