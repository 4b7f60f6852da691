"""The choice of a placement policy: one ``auto`` and one ``oracle`` for every command.

``analyze``, ``sweep``, ``explore`` (through sweep), ``serve-sim``, the dashboard and the API
ask this module which policy a run uses; each run kind only says how long a candidate takes
and whether it fits (a static run: its end-to-end latency and each side's peak usage; a
serving run: its mean request latency and whether the engine can hold every request).

- ``auto``: the fastest that fits of ``primary`` and the closed-form fills that apply
  (:func:`auto_candidates`: ``offload``; ``pim-attention`` where a side other than the
  primary computes; any plug-in registered for auto); ties go to the first (``primary``);
  where none fits, the first fill (reported as not fitting). A one-side device has only
  ``primary``. The fastest, not "primary when it fits": a placement that reads the other
  sides' memory beside the primary's is faster on some devices even when everything fits
  (hbm-pim, h2m2), and switching from a slower ``primary`` to a faster fill as the batch
  grows made a bigger batch decode faster (mixtral-8x7b on h2m2, 512+64: TPOT 28.3 ms at
  B=8 under primary, 27.9 ms at B=32 under offload). Closed-form fills only, so ``auto`` is
  vectorised over a sweep and costs a few evaluations per point wherever it is asked.
- ``oracle``: the fastest that fits of every registered policy, the search policies included
  (its own exhaustive split search among them): never slower than any; ``analyze`` only.

Values are arrays over configurations (shape (C, N) for C candidates), and the choice of a
configuration reads its own column only: it never depends on the other points of a sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hetsim.hardware.spec import Device
from hetsim.placement.policies import fill_policy_names, pim_sides

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

AUTO = "auto"
ORACLE = "oracle"


def auto_candidates(dev: Device) -> tuple[str, ...]:
    """``auto``'s candidates on ``dev``, in order: ``primary``, then every closed-form fill
    registered for auto that applies (``pim-attention`` needs a side other than the primary
    with compute units); ``primary`` alone on a one-side device (a fill has nowhere else to
    put anything)."""
    if len(dev.sides) == 1:
        return ("primary",)
    names = fill_policy_names(for_auto=True)
    if not pim_sides(dev):
        names = [n for n in names if n != "pim-attention"]
    return ("primary", *names)


def choose_auto(time_s: FloatArray, fits: BoolArray) -> IntArray:
    """Per configuration, the index of the fastest candidate that fits (``time_s``,
    ``fits``: shape (C, N), candidates in :func:`auto_candidates`' order; ties to the
    first); where none fits, the first fill (index 1; 0 with one candidate)."""
    t = np.where(fits, time_s, np.inf)
    best = np.argmin(t, axis=0)
    none = ~np.isfinite(np.min(t, axis=0))
    out: IntArray = np.where(none, min(1, t.shape[0] - 1), best).astype(np.int64)
    return out


def choose_fastest(time_s: FloatArray, fits: BoolArray) -> IntArray:
    """Per configuration, the index of the fastest candidate that fits, ``-1`` where none
    fits (the oracle's rule; ties go to the first)."""
    t = np.where(fits, time_s, np.inf)
    best = np.argmin(t, axis=0)
    out: IntArray = np.where(np.isfinite(np.min(t, axis=0)), best, -1).astype(np.int64)
    return out


def auto_reason(
    dev: Device, names: Sequence[str], times: Sequence[float], fits: Sequence[bool], k: int
) -> str:
    """Why ``auto`` chose candidate ``k`` for one configuration."""
    if len(names) == 1:
        where = "fits on the primary side" if fits[k] else "nothing to place elsewhere"
        return f"auto: {dev.name} has one memory side; {where}"
    if not fits[k]:
        return "auto: nothing fits; reporting the first placement policy anyway"
    others = ", ".join(f"{n} {t:.3g} s" for i, (n, t, ok) in enumerate(zip(names, times, fits, strict=True))
                       if ok and i != k)  # fmt: skip
    why = f"auto: {names[k]} is the fastest that fits ({times[k]:.3g} s end to end"
    return why + (f"; {others})" if others else ")")
