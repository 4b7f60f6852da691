"""Design-space sweeps: specs, stores, queries, Pareto fronts.

Part of the one door (:mod:`hetsim.api`): the front ends import these names from here, never
from the modules that define them. Each name is imported on first use (PEP 562), so a command
that needs one pays for its module only."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hetsim.explore import dry_run as dry_run
    from hetsim.explore import explore as explore
    from hetsim.explore.evaluate import FILTER_REASONS as FILTER_REASONS
    from hetsim.explore.evaluate import design_columns as design_columns
    from hetsim.explore.pareto import pareto_mask as pareto_mask
    from hetsim.explore.pareto import plot_front as plot_front
    from hetsim.explore.pareto import resolve_senses as resolve_senses
    from hetsim.explore.pareto import varying_columns as varying_columns
    from hetsim.explore.run import read_results as read_results
    from hetsim.explore.spec import BOUND_PATTERN as BOUND_PATTERN
    from hetsim.explore.spec import Bound as Bound
    from hetsim.explore.spec import parse_spec as parse_spec
    from hetsim.explore.sql import connect as connect
    from hetsim.explore.sql import execute as execute
    from hetsim.explore.sql import fetch_rows as fetch_rows
    from hetsim.explore.sql import select_where as select_where
    from hetsim.explore.store import Store as Store
    from hetsim.explore.store import open_existing as open_existing

_WHERE = {
    "dry_run": "hetsim.explore",
    "explore": "hetsim.explore",
    "design_columns": "hetsim.explore.evaluate",
    "pareto_mask": "hetsim.explore.pareto",
    "plot_front": "hetsim.explore.pareto",
    "resolve_senses": "hetsim.explore.pareto",
    "varying_columns": "hetsim.explore.pareto",
    "read_results": "hetsim.explore.run",
    "BOUND_PATTERN": "hetsim.explore.spec",
    "FILTER_REASONS": "hetsim.explore.evaluate",
    "Bound": "hetsim.explore.spec",
    "parse_spec": "hetsim.explore.spec",
    "connect": "hetsim.explore.sql",
    "execute": "hetsim.explore.sql",
    "fetch_rows": "hetsim.explore.sql",
    "select_where": "hetsim.explore.sql",
    "Store": "hetsim.explore.store",
    "open_existing": "hetsim.explore.store",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        home = import_module(_WHERE[name])
        return getattr(home, name) if hasattr(home, name) else import_module(f"{home.__name__}.{name}")
    raise AttributeError(f"module 'hetsim.api.explore' has no attribute {name!r}")


__all__ = [
    "BOUND_PATTERN", "FILTER_REASONS", "Bound", "Store", "connect", "design_columns", "dry_run", "execute",
    "explore", "fetch_rows", "open_existing", "pareto_mask", "parse_spec", "plot_front", "read_results",
    "resolve_senses", "select_where", "varying_columns",
]  # fmt: skip
