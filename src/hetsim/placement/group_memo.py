"""A memo of priced groups for one decode step (:class:`GroupMemo`).

A study prices the same step many times: a search's group tables (every split of one group,
broadcast over candidates), then each policy's final iteration, and several policies agree on
a group. The memo keeps each group's side-by-side price (:class:`~hetsim.placement.phase.GroupBusy`,
before translation stalls, which depend on what each side has mapped and are added by the
caller), and reads a scalar placement from a table row when one matches exactly; ops outside
the synchronised groups (norms, residuals, collectives) do not depend on the placement and are
kept once. A row read from a table carries the same floats as pricing the scalar placement
(every field is computed elementwise); its link dicts may list a link with 0 bytes that the
scalar pricing leaves out.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from hetsim.cost.knobs import PricingKnobs
from hetsim.cost.roofline import Cost, Overlap
from hetsim.hardware.spec import Device
from hetsim.placement.phase import GroupBusy, busy_no_stall, price_ungrouped
from hetsim.placement.price import PlacedCost
from hetsim.placement.record import Placement
from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import Num, Op, ndim

FloatArray = npt.NDArray[np.float64]


class GroupMemo:
    """The side-by-side price (:class:`GroupBusy`, no translation stall) of each placed group
    priced for one decode step (its ops, device and precision stay the same), so the
    policies of a study that agree on a group, and a policy's final iteration after its
    search, read it instead of pricing it again. A table of splits (the group's shares 1-D
    arrays, as a search's group tables) is kept too, and a scalar placement equal to one of
    its rows reads that row. Keyed by everything the price depends on: the group's ops, the
    device, the knobs, tp, overlap, the workspace side, staging, the group's shares and
    compute sides, and the attention placement where the group's ops touch the KV cache."""

    def __init__(self) -> None:
        self._scalar: dict[tuple[object, ...], GroupBusy] = {}
        self._tables: dict[tuple[object, ...], list[tuple[tuple[FloatArray, ...], GroupBusy]]] = {}
        self._fixed: dict[tuple[object, ...], PlacedCost] = {}
        self._alive: dict[int, object] = {}  # what the ids in the keys name, kept alive

    def busy(
        self,
        g: str,
        ops: list[Op],
        dev: Device,
        prec: Precision,
        pl: Placement,
        tp: int,
        overlap: Overlap,
        knobs: PricingKnobs,
    ) -> GroupBusy:
        gp = pl.groups[g]
        kv = g != "attention" and any(np.any(np.asarray(o.kv_read_bytes + o.kv_write_bytes) > 0) for o in ops)
        base: list[object] = [g, id(dev), id(prec), tuple(id(op) for op in ops), knobs, tp, overlap,
                              pl.workspace_side, pl.staged, gp.compute]  # fmt: skip
        if kv:
            ga = pl.groups["attention"]
            if any(ndim(x) for x in ga.shares):
                return busy_no_stall(g, ops, dev, prec, pl, tp=tp, overlap=overlap, knobs=knobs)
            base += [tuple(float(x) for x in ga.shares), ga.compute]
        bkey = tuple(base)
        dims = [ndim(x) for x in gp.shares]
        if not any(dims):
            skey = (*bkey, tuple(float(x) for x in gp.shares))
            hit = self._scalar.get(skey)
            if hit is None:
                hit = self._row(bkey, tuple(float(x) for x in gp.shares))
            if hit is None:
                hit = busy_no_stall(g, ops, dev, prec, pl, tp=tp, overlap=overlap, knobs=knobs)
                self._keep(dev, prec, *ops)
            self._scalar[skey] = hit
            return hit
        gb = busy_no_stall(g, ops, dev, prec, pl, tp=tp, overlap=overlap, knobs=knobs)
        if max(dims) == 1:
            n = max(np.size(x) for x in gp.shares)
            shares = tuple(np.broadcast_to(np.asarray(x, dtype=float), (n,)) for x in gp.shares)
            self._tables.setdefault(bkey, []).append((shares, gb))
            self._keep(dev, prec, *ops)
        return gb

    def fixed(
        self,
        op: Op,
        dev: Device,
        prec: Precision,
        tp: int,
        overlap: Overlap,
        knobs: PricingKnobs,
        detail: bool,
    ) -> PlacedCost:
        """An op of no group (a norm, a residual, a collective): its price does not depend
        on the placement."""
        key = (id(op), id(dev), id(prec), tp, overlap, knobs, detail)
        hit = self._fixed.get(key)
        if hit is None:
            n = len(dev.sides)
            hit = price_ungrouped(op, dev, prec, Placement.primary(n), tp, overlap, knobs, detail)
            self._fixed[key] = hit
            self._keep(dev, prec, op)
        return hit

    def _keep(self, *objs: object) -> None:
        for o in objs:
            self._alive[id(o)] = o

    def _row(self, bkey: tuple[object, ...], shares: tuple[float, ...]) -> GroupBusy | None:
        """The row of a kept table whose shares are exactly ``shares``, as scalars."""
        for tab, gb in self._tables.get(bkey, []):
            match = np.ones(tab[0].shape, dtype=bool)
            for col, x in zip(tab, shares, strict=True):
                match &= col == x
            rows = np.flatnonzero(match)
            if rows.size:
                return _take(gb, int(rows[0]), tab[0].shape)
        return None


def _take(gb: GroupBusy, k: int, shape: tuple[int, ...]) -> GroupBusy | None:
    """Row ``k`` of a table priced over candidates (every array field of ``shape``); None
    where a field has another shape."""

    def one(x: Num) -> Num:
        if not ndim(x):
            return x
        if np.shape(x) != shape:
            raise _OtherShape
        return float(np.asarray(x)[k])

    def cost(c: Cost) -> Cost:
        return Cost(*(one(getattr(c, f)) for f in Cost.__dataclass_fields__))

    try:
        pcs = tuple(
            replace(
                pc,
                cost=cost(pc.cost),
                side_bytes=tuple(map(one, pc.side_bytes)),
                side_busy_s=tuple(map(one, pc.side_busy_s)),
                side_energy_j=tuple(map(one, pc.side_energy_j)),
                link_bytes={n: one(v) for n, v in pc.link_bytes.items()},
            )
            for pc in gb.costs
        )
        return GroupBusy(pcs, tuple(map(one, gb.busy_s)), tuple(map(one, gb.side_bytes)), gb.stall_s,
                         one(gb.link_s), one(gb.sync_s), one(gb.exchange_energy_j),
                         {n: one(v) for n, v in gb.exchange_links.items()})  # fmt: skip
    except _OtherShape:
        return None


class _OtherShape(Exception):
    """A table field not of the candidates' shape (not read row by row)."""
