"""Backends only schedule index ranges; every one runs the same chunk function.

- ``inline``: in this process (one worker).
- ``pool``: a local process pool; each worker parses the spec once (initializer) and then
  receives only ``(chunk, start, stop)``.
- ``ray``: Ray tasks (``ray.init()`` for a local instance, or an address to join a
  cluster); the driver writes what the tasks return, so workers need no shared filesystem.

Each task returns the chunk's Parquet bytes (already reduced when the spec asks) and a record
for the manifest; at most ``2 x workers`` tasks are in flight, so memory stays bounded
whatever the sweep size.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from hetsim.errors import HetsimError
from hetsim.explore.evaluate import Evaluator
from hetsim.explore.spec import parse_spec
from hetsim.explore.store import encode

Chunk = tuple[int, int, int]  # (chunk id, start, stop)
Result = tuple[int, bytes, dict[str, Any]]
OnResult = Callable[[Result], None]

_EVALUATOR: Evaluator | None = None


class BackendError(HetsimError):
    """A backend cannot be started or reached."""


def _init(raw: Mapping[str, Any]) -> None:
    global _EVALUATOR
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _EVALUATOR = Evaluator(parse_spec(raw))


def run_chunk(ev: Evaluator, k: int, start: int, stop: int) -> Result:
    """The chunk function: evaluate ``[start, stop)`` and encode it."""
    cols, removed = ev.run(start, stop)
    n = int(cols["index"].size)
    return k, encode(cols), {"start": start, "stop": stop, "rows": n, "removed": removed}


def _task(k: int, start: int, stop: int) -> Result:
    assert _EVALUATOR is not None, "worker not initialised"
    return run_chunk(_EVALUATOR, k, start, stop)


def run_inline(raw: Mapping[str, Any], chunks: Iterable[Chunk], on_result: OnResult) -> None:
    ev = Evaluator(parse_spec(raw))
    for k, a, b in chunks:
        on_result(run_chunk(ev, k, a, b))


def run_pool(raw: Mapping[str, Any], chunks: Iterable[Chunk], workers: int, on_result: OnResult) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("forkserver")
    pending: set[Future[Result]] = set()
    it = iter(chunks)
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(dict(raw),)) as ex:
        try:
            while True:
                while len(pending) < 2 * workers:
                    c = next(it, None)
                    if c is None:
                        break
                    pending.add(ex.submit(_task, *c))
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=lambda f: f.result()[0]):
                    on_result(f.result())
        except BaseException:
            for f in pending:
                f.cancel()
            ex.shutdown(wait=False, cancel_futures=True)
            raise


def run_ray(raw: Mapping[str, Any], chunks: Iterable[Chunk], address: str, on_result: OnResult) -> None:
    try:
        import importlib

        ray: Any = importlib.import_module("ray")
    except ImportError:
        raise BackendError("--ray needs Ray: pip install 'hetsim[ray]'") from None
    started = False
    if not ray.is_initialized() and address != "auto":
        probe_ray(address)
    if not ray.is_initialized():
        try:
            if address == "auto":
                ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            else:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, ...
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BackendError(f"cannot reach Ray at {address!r}: {first}") from None
        started = True
    try:
        workers = max(int(ray.cluster_resources().get("CPU", 1)), 1)
        spec_ref = ray.put(dict(raw))
        remote = ray.remote(_ray_task)
        pending: list[Any] = []
        it = iter(chunks)
        while True:
            while len(pending) < 2 * workers:
                c = next(it, None)
                if c is None:
                    break
                pending.append(remote.remote(spec_ref, *c))
            if not pending:
                break
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                on_result(ray.get(ref))
    finally:
        if started:
            ray.shutdown()


def probe_ray(address: str, timeout_s: float = 3.0) -> None:
    """Fail fast when ``host:port`` does not answer (``ray.init`` would retry for minutes)."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise BackendError(f"--ray {address!r}: give 'auto' or HOST:PORT of a Ray head node")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise BackendError(f"cannot reach Ray at {address!r}: {exc.strerror or exc}") from None


_RAY_EVALUATORS: dict[str, Evaluator] = {}


def _ray_task(raw: Mapping[str, Any], k: int, start: int, stop: int) -> Result:
    spec = parse_spec(raw)
    ev = _RAY_EVALUATORS.get(spec.digest)
    if ev is None:  # a Ray worker process keeps its evaluator between tasks
        ev = _RAY_EVALUATORS[spec.digest] = Evaluator(spec)
    return run_chunk(ev, k, start, stop)
