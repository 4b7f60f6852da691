"""Schedulers behind one interface (admit, form a batch, choose a victim), one module each,
registered by name: ``fcfs``, ``prefill-first``, ``stall-free``, ``shortest-job``, ``priority``,
``static``. An engine record names the one it runs (``EngineConfig.scheduler``); ``serve-sim
--scheduler NAME`` swaps it."""

from hetsim.errors import UnknownNameError
from hetsim.serving.schedulers import fcfs, prefill_first, priority, shortest_job, stall_free, static
from hetsim.serving.schedulers.base import REGISTRY, Batch, Scheduler

_MODULES = (fcfs, prefill_first, priority, shortest_job, stall_free, static)


def get_scheduler(name: str) -> Scheduler:
    """A fresh scheduler by registered name."""
    key = str(name).strip().lower()
    if key not in REGISTRY:
        raise UnknownNameError("scheduler", str(name), REGISTRY)
    return REGISTRY[key]()


__all__ = ["REGISTRY", "Batch", "Scheduler", "get_scheduler"]
