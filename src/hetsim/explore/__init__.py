"""Design-space exploration: a spec of named axes -> index-range chunks -> a Parquet store,
with cost (:mod:`hetsim.cost.prices`), Pareto fronts and local-pool or Ray backends.

The store and the query use pyarrow and duckdb (default dependencies); Ray needs the ``ray`` extra.
"""

from hetsim.explore.run import DryRun, Summary, dry_run, explore, load_spec, read_results
from hetsim.explore.spec import Spec, parse_spec

__all__ = ["DryRun", "Spec", "Summary", "dry_run", "explore", "load_spec", "parse_spec", "read_results"]
