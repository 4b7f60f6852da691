"""Placement policies over any number of memory sides, registered by name.

A policy maps a :class:`Problem` (the device, the resident bytes of every group, the
activation workspace) to a :class:`Placement`. The built-in ones are closed-form fills, so
they broadcast over arrays of resident bytes (a sweep, or every context of a decode):

- ``primary``: everything on side 0 (today's homogeneous behaviour).
- ``offload``: side 0 holds what fits, the rest is held on the other sides, fastest route to
  side 0 first, and streamed to side 0's units layer by layer (FlexGen, ZeRO-Inference, GH200
  "extended GPU memory"). Fill order: embeddings/LM head, qkv, fc weights, then the KV cache
  (it grows, so it spills last and nothing already placed has to move).
- ``pim-attention``: the KV cache on the memory side with its own compute and the widest
  memory, attention computed there (AttAcc, NeuPIMs); weights as ``offload``.

``auto`` and ``oracle`` are choices among policies, not fills (:mod:`hetsim.placement.choose`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hetsim.errors import MappingError, UnknownNameError
from hetsim.hardware.spec import Device
from hetsim.placement import balance as sized
from hetsim.placement.balance import balance, weight_balance
from hetsim.placement.record import GROUPS, GroupPlacement, Placement
from hetsim.placement.topology import stream_bandwidth
from hetsim.placement.usage import fits as fits
from hetsim.placement.usage import roles as roles
from hetsim.placement.usage import usage_bytes as usage_bytes
from hetsim.workload.ops import Num

FILL_ORDER = ("head", "qkv", "fc", "attention")


def largest(x: Num) -> float:
    """The largest of ``x``: a float as it is (the H2M2 runtime's hot path), else an array's maximum."""
    return x if type(x) is float else float(np.max(x))


@dataclass(frozen=True, slots=True)
class Problem:
    """What a policy places: resident bytes per group (KV at the context being placed) and
    the activation workspace, per device. Values may be arrays (broadcast together).

    Search policies also get ``parts`` (blocks each group splits into: KV heads, heads) and
    ``evaluate``: the phase's time (s) under a placement whose shares may carry a leading
    candidate axis (shape (S,)), returned per candidate; ``evaluate_groups`` (where given)
    returns the time of each placed group instead, for searches that add them up (the
    exhaustive oracle, the static LP)."""

    device: Device
    resident: dict[str, Num]
    workspace_bytes: Num
    phase: str = "decode"
    final_kv_bytes: Num | None = None  # KV at the run's full length (None: ``resident``'s)
    # the placement is held to the run's full length (analyze places a search policy once):
    # its capacity is checked with the KV cache at that length, not at the context placed
    held_to_end: bool = False
    parts: dict[str, int] = field(default_factory=dict)
    # the op graph's weight-reading kernels (weight bytes of one, how many per step, seconds
    # of its local memory phase that do not scale with its weight share: activations,
    # split-K partials) and the number of kernels per step that read the KV cache: offload's
    # balance is found per kernel (:func:`balance`, :func:`weight_balance`); empty / 0: from
    # the bandwidths alone
    weight_kernels: tuple[tuple[Num, Num, Num], ...] = ()
    kv_kernels: float = 0.0
    weight_target: Num | None = None  # weight_balance(...) found once for the run (its cache)
    evaluate: Callable[[Placement], npt.NDArray[np.float64]] | None = None
    evaluate_groups: Callable[[Placement], Mapping[str, npt.NDArray[np.float64]]] | None = None
    # the closed-form policies the oracle weighs beside its split search (None: all of them)
    oracle_candidates: tuple[str, ...] | None = None
    overlap_transfers: bool = True  # the engine prefetches what it streams (Serving.overlap_transfers)

    def capacity(self, s: int) -> float:
        return self.device.sides[s].memory.capacity_bytes

    @property
    def final_kv(self) -> Num:
        """KV bytes at the full length (never below the KV now): what the weights' split is
        planned against, so it stays put while the KV cache grows."""
        if self.final_kv_bytes is None:
            return self.resident["attention"]
        return self.final_kv_bytes

    def held_bytes(self, group: str) -> float:
        """The most ``group`` holds while this placement is kept: its resident bytes, and
        for the KV cache of a placement held to the end, the KV at the full length."""
        x = largest(self.resident[group])
        if group == "attention" and self.held_to_end:
            x = max(x, largest(self.final_kv))
        return x


@dataclass(frozen=True, slots=True)
class FillResult:
    placement: Placement
    # KV bytes at which the held sides change (per configuration where the problem's free
    # bytes are arrays; unordered, may repeat)
    thresholds_bytes: tuple[Num, ...] = ()


PolicyFn = Callable[[Problem], FillResult]
_REGISTRY: dict[str, tuple[PolicyFn, str]] = {}
_SEARCH: set[str] = set()
_NOT_AUTO: set[str] = set()


def register(
    name: str, doc: str, *, search: bool = False, auto: bool = True
) -> Callable[[PolicyFn], PolicyFn]:
    """Register a placement policy under ``name`` (plug-ins may add their own). ``search``
    policies price candidates (``Problem.evaluate``): analyze only, not vectorised sweeps,
    and not among ``auto``'s candidates (auto stays a few closed-form evaluations)."""

    def deco(fn: PolicyFn) -> PolicyFn:
        _REGISTRY[name] = (fn, doc)
        if search:
            _SEARCH.add(name)
        if not auto:
            _NOT_AUTO.add(name)
        return fn

    return deco


def is_search(name: str) -> bool:
    return name in _SEARCH


def fill_policy_names(*, for_auto: bool = False) -> list[str]:
    """Closed-form policies other than primary (``for_auto``: those ``auto`` weighs)."""
    return [n for n in _REGISTRY if n != "primary" and n not in _SEARCH and not (for_auto and n in _NOT_AUTO)]


AUTO_DOC = (
    "the fastest that fits of primary, offload and (where a side other than the primary computes) "
    "pim-attention; the same choice in every command; the output says which and why"
)


def policy_names() -> list[str]:
    return ["auto", *_REGISTRY]


def policy_doc(name: str) -> str:
    return AUTO_DOC if name == "auto" else _REGISTRY[name][1]


def get_policy(name: str) -> PolicyFn:
    key = name.strip().lower()
    if key not in _REGISTRY:
        raise UnknownNameError("placement policy", name, policy_names())
    return _REGISTRY[key][0]


def check_name(name: str) -> str:
    key = name.strip().lower()
    if key != "auto":
        get_policy(key)
    return key


def _side_order(dev: Device, first: int = 0) -> list[int]:
    """Sides by how fast their data reach side ``first``'s units (``first`` itself first)."""
    others = [s for s in range(len(dev.sides)) if s != first]
    others.sort(key=lambda s: -stream_bandwidth(dev, s, first))
    return [first, *others]


def _fill(
    p: Problem,
    order: tuple[str, ...],
    sides: list[int],
    free: list[Num],
    balance: float = 1.0,
    weight_share: Num | None = None,
) -> tuple[dict[str, tuple[Num, ...]], tuple[Num, ...]]:
    """Water-fill the groups in ``order`` into ``sides`` in turn; what is left over after the
    last side stays on it (over capacity, reported by the fit check). With ``balance`` < 1 the
    first side keeps only that share of each group (more where the other sides lack room):
    reading it there and streaming the rest from the next side then finish together, and
    the first side's memory is not the bottleneck (see :func:`balance`). ``weight_share``
    (<= ``balance``) caps the first side's share of the weight groups instead (see
    :func:`_weight_share`); the KV cache keeps its balance (``balance`` read at the size of
    one attention kernel's KV, see :func:`balance`) as far as the room left allows."""
    n = len(p.device.sides)
    split = balance < 1.0 and len(sides) > 1

    def kv_balance(kv: Num) -> Num:
        if not split or p.kv_kernels <= 0:
            return balance
        return sized.balance(p.device, sides, np.asarray(kv, dtype=float) / p.kv_kernels, kv=True)

    shares: dict[str, tuple[Num, ...]] = {}
    free = list(free)
    thresholds: list[Num] = []
    for g in order:
        total = np.asarray(p.resident[g], dtype=float)
        left: Num = total
        got: list[Num] = [0.0] * n
        if g == "attention":
            # per configuration (free bytes may be arrays): the first side fills at KV =
            # room0 / balance (a fixed point where the balance depends on the KV's size);
            # then the next sides in turn, at the room of the sides before them
            room = [np.maximum(free[s], 0.0) for s in sides]
            first: Num = room[0] / balance if balance < 1.0 else room[0]
            for _ in range(4 if split and p.kv_kernels > 0 else 0):
                first = room[0] / kv_balance(first)
            thresholds = [first]
            acc = room[0]
            for r in room[1:-1]:
                acc = acc + r
                thresholds.append(acc)
            thresholds = [float(t) if np.ndim(t) == 0 else t for t in thresholds]
        for i, s in enumerate(sides):
            room_s = np.maximum(free[s], 0.0)
            if i == len(sides) - 1:
                put = left
            elif i == 0 and split:
                rest = sum(np.maximum(free[x], 0.0) for x in sides[1:])
                share: Num = balance if weight_share is None else weight_share
                if g == "attention":
                    share = kv_balance(total)
                put = np.minimum(np.minimum(np.maximum(share * total, total - rest), room_s), total)
            else:
                put = np.minimum(left, room_s)
            got[s] = np.where(total > 0, put / np.maximum(total, 1e-300), 1.0 if i == 0 else 0.0)
            free[s] = free[s] - put
            left = left - put
        shares[g] = tuple(got)
    return shares, tuple(thresholds)


def _weight_target(p: Problem, sides: list[int], b: float) -> Num:
    """The weights' share target: found once for the run where the caller did, else here."""
    if p.weight_target is not None:
        return p.weight_target
    return weight_balance(p.device, p.weight_kernels, sides, b)


def _weight_share(p: Problem, room: Num, weights: tuple[str, ...], kv: Num, b: Num) -> Num:
    """The first side's share of every weight group: the bandwidth-balanced ``b`` where the
    first side can hold that share of the weights and of the KV cache at the run's full
    length (``room`` its free bytes for them, ``kv`` the KV it must then take); otherwise the
    same share of everything, room / (weights + kv). Giving each weight group ``b`` in turn
    instead filled the first side with weights and pushed the KV cache out over the
    narrower stream, and ``b`` grows with the first side's bandwidth: more HBM bandwidth
    gave a slower decode (h2m2, Chinchilla-70B B=32: 57 ms at 2.25 TB/s, 64 ms at 4 TB/s).
    Planned on the full length, the weights' split stays put while the KV cache grows."""
    w: Num = 0.0
    for g in weights:
        w = w + np.asarray(p.resident[g], dtype=float)
    need = w + np.asarray(kv, dtype=float)
    share: Num = np.minimum(b, np.maximum(room, 0.0) / np.maximum(need, 1e-300))
    return share


def _streamed_room(p: Problem, weights: tuple[str, ...], rest: Num, share: Num) -> Num:
    """``share``, raised to what the other sides' room ``rest`` (left by the KV cache at the
    context placed) cannot take, the same for every weight group: filled in turn, the first
    groups took the PIM side's room and fc alone went back onto HBM, so a wider PIM link was
    slower (e2e 3.70846 -> 3.70851 s, hbm-pim llama2-13b B=47 P=1703)."""
    w: Num = sum((np.asarray(p.resident[g], dtype=float) for g in weights), 0.0)
    out: Num = np.clip(np.maximum(share, 1.0 - np.maximum(rest, 0.0) / np.maximum(w, 1e-300)), 0.0, 1.0)
    return out


def workspace_sides(dev: Device, workspace_bytes: Num) -> npt.NDArray[np.int64]:
    """Per configuration, the side the fills put the activation workspace on: the first side
    in offload order (:func:`offload_sides`) whose capacity holds it, the primary where none
    does. A placement has one workspace side, so a sweep runs the configurations of each
    side apart (their figures then never depend on a neighbour's workspace)."""
    order = _side_order(dev, 0)
    ws = np.asarray(workspace_bytes, dtype=float)
    out = np.full(ws.shape, order[0], dtype=np.int64)
    for s in reversed(order):
        out = np.where(dev.sides[s].memory.capacity_bytes >= ws, s, out)
    return out


def _free(p: Problem, order: list[int]) -> tuple[list[Num], int]:
    """Free bytes per side once the activation workspace is placed, and the side holding it:
    the first side in ``order`` it fits on (activations then stream to the compute); one
    side for every configuration of the problem (:func:`workspace_sides`)."""
    ws = largest(p.workspace_bytes)
    side = next((s for s in order if p.capacity(s) >= ws), order[0])
    free = [p.capacity(s) - (p.workspace_bytes if s == side else 0.0) for s in range(len(p.device.sides))]
    return free, side


@register("primary", "everything on the primary side (side 0); refuses when the footprint does not fit")
def primary(p: Problem) -> FillResult:
    return FillResult(Placement.primary(len(p.device.sides)))


@register(
    "offload",
    "primary holds what fits; weights, then KV, spill to the other sides (fastest route first) "
    "and stream to the primary compute layer by layer with prefetch (FlexGen / ZeRO-Inference / "
    "GH200); a split group keeps the bandwidth-balanced share on the primary",
)
def offload(p: Problem) -> FillResult:
    dev = p.device
    n = len(dev.sides)
    sides = _side_order(dev, 0)
    free, ws = _free(p, sides)
    b = balance(dev, sides)
    ws_share = None
    if b < 1.0:
        ws_share = _weight_share(p, free[sides[0]], FILL_ORDER[:-1], p.final_kv, _weight_target(p, sides, b))
    shares, thresholds = _fill(p, FILL_ORDER, sides, free, b, ws_share)
    groups = {g: GroupPlacement(shares[g], (0,) * n) for g in GROUPS}
    return FillResult(Placement("offload", groups, n_sides=n, workspace_side=ws), thresholds)


@register(
    "hierarchical",
    "the primary memory caches the others: it holds what fits, the rest is staged into it before "
    "use (written there and read back), the primary's units compute everything",
    auto=False,  # offload holds the same data and streams them without the staging
)
def hierarchical(p: Problem) -> FillResult:
    dev = p.device
    n = len(dev.sides)
    sides = _side_order(dev, 0)
    free, ws = _free(p, sides)
    shares, thresholds = _fill(p, FILL_ORDER, sides, free)
    groups = {g: GroupPlacement(shares[g], (0,) * n) for g in GROUPS}
    pl = Placement("hierarchical", groups, n_sides=n, workspace_side=ws, staged=True)
    return FillResult(pl, thresholds)


def offload_sides(dev: Device) -> list[int]:
    """The sides offload fills, in order (the primary, then the fastest route to it first)."""
    return _side_order(dev, 0)


def pim_sides(dev: Device) -> list[int]:
    """Sides other than the primary with compute units of their own (memory-side compute)."""
    return [s for s in range(1, len(dev.sides)) if dev.sides[s].has_compute]


@register(
    "pim-attention",
    "KV cache on memory-side compute (PIM: AttAcc / NeuPIMs; a host CPU: FlexGen --cpu), decode "
    "attention computed there, prefill attention on the primary; weights as offload",
)
def pim_attention(p: Problem) -> FillResult:
    dev = p.device
    n = len(dev.sides)
    pims = pim_sides(dev)
    if not pims:
        raise MappingError(
            f"policy 'pim-attention' cannot apply to {dev.name}: no side other than the primary "
            "has compute units of its own (memory-side compute); try --policy offload"
        )
    pims.sort(key=lambda s: -dev.sides[s].memory.bandwidth_bytes_per_s)
    order = _side_order(dev, 0)
    free, ws = _free(p, order)
    # KV heads fill the memory-side compute first; what does not fit there is held (and its
    # heads computed) like offload: primary first, then the fastest route to it
    kv_order = pims + [s for s in order if s not in pims]
    kv_shares, thresholds = _fill(p, ("attention",), kv_order, free)
    kv_total = np.asarray(p.resident["attention"], dtype=float)
    for s in range(n):
        free[s] = free[s] - kv_total * kv_shares["attention"][s]
    b = balance(dev, order)
    ws_share = None
    if b < 1.0:  # the weights' split, planned on the primary's room left by the KV at full length
        end = dataclasses.replace(p, resident={**p.resident, "attention": p.final_kv})
        free_end, _ = _free(end, order)
        kv_end, _ = _fill(end, ("attention",), kv_order, free_end)
        room = (
            free_end[order[0]]
            - np.asarray(end.resident["attention"], dtype=float) * kv_end["attention"][order[0]]
        )
        ws_share = _weight_share(p, room, ("head", "qkv", "fc"), 0.0, _weight_target(p, order, b))
        ws_share = _streamed_room(p, ("head", "qkv", "fc"), sum((free[s] for s in order[1:]), 0.0), ws_share)
    shares, _ = _fill(p, ("head", "qkv", "fc"), order, free, b, ws_share)
    groups = {g: GroupPlacement(shares[g], (0,) * n) for g in ("head", "qkv", "fc")}
    # decode attention runs beside its KV; the compute-bound prefill attention runs on the
    # primary's units, its KV streamed from and written to the same sides (nothing migrates)
    near = p.phase == "decode"
    compute = tuple(s if (s in pims and near) else 0 for s in range(n))
    groups["attention"] = GroupPlacement(kv_shares["attention"], compute)
    return FillResult(Placement("pim-attention", groups, n_sides=n, workspace_side=ws), thresholds)


# the search policies register themselves on import (they use the names above)
from hetsim.placement import search as _search  # noqa: E402, F401  # isort: skip
from hetsim.placement import lp as _lp  # noqa: E402, F401  # isort: skip
from hetsim.placement import engine_policies as _engines  # noqa: E402, F401  # isort: skip
from hetsim.placement import cpu_policies as _cpu  # noqa: E402, F401  # isort: skip
