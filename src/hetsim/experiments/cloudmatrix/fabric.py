"""The CloudMatrix384 study's die as the paper's operator tables measure it.

The paper's operator table times FusedDispatch and FusedCombine at EP8 and EP256 with the same
128 tokens a rank (top-8, 7,168 wide): 116 / 118 us at EP8, 152 / 149 us at EP256. The bytes a
rank moves are equal in the two, so the rise with the EP degree is a cost per destination rank
(each rank signals every other that its tokens have landed); the rest, at EP8, is the operators'
work per (token, expert) pair. An all-to-all over ``ep`` ranks then takes the link's latency
+ ``ep`` x the per-rank cost + the pairs that leave the rank x the per-pair time, fitted to both
EP degrees: at a few tokens a die its floor is the per-rank term (23 us at EP320), not the
link's 2 us."""

from __future__ import annotations

from typing import Any

# the paper's operator table: microseconds at (EP8, EP256), 128 tokens a rank, top-8, 7,168 wide
DISPATCH_US = (116.0, 152.0)
COMBINE_US = (118.0, 149.0)
EPS = (8, 256)
PAIRS, HIDDEN = 128 * 8, 7168
# the paper's MLA operator table: its memory-bound case reaches 84.1% of the die's HBM bandwidth
MLA_MEMORY_UTILISATION = 0.841


def per_rank_and_pair_s(latency_s: float) -> tuple[float, float]:
    """(seconds per destination rank, seconds per (token, expert) pair) that make hetsim's
    all-to-all (link latency + ep x per rank + the (ep - 1) / ep of the pairs that leave the
    rank) give the two operators' mean time at both EP degrees of the table (a 2 x 2 solve)."""
    (e0, e1), f0, f1 = EPS, (EPS[0] - 1) / EPS[0], (EPS[1] - 1) / EPS[1]
    t0, t1 = ((d + c) / 2e6 - latency_s for d, c in zip(DISPATCH_US, COMBINE_US, strict=True))
    det = e0 * f1 - e1 * f0
    return (t0 * f1 - t1 * f0) / det, (e0 * t1 - e1 * t0) / det / PAIRS


def measured_fabric(dev: Any, ep: int, act_bytes: float = 2.0) -> Any:
    """The die with its UB link priced as the paper's operators run at ``ep`` ranks: latency =
    link + ``ep`` x the per-rank time; bandwidth = hetsim's bytes a (token, expert) pair
    (``HIDDEN`` x ``act_bytes``, BF16 by default) over the per-pair time."""
    from dataclasses import replace

    link = dev.interconnect
    rank_s, pair_s = per_rank_and_pair_s(link.latency_s)
    return replace(
        dev,
        interconnect=replace(
            link, bandwidth_bytes_per_s=HIDDEN * act_bytes / pair_s, latency_s=link.latency_s + ep * rank_s
        ),
    )


def measured_memory(dev: Any) -> Any:
    """The die with its HBM at the fraction of bandwidth the paper's memory-bound MLA operator
    reaches, instead of the efficiency transferred from an A100 fit by memory technology."""
    from dataclasses import replace

    from hetsim.hardware.efficiency import EfficiencyCurve
    from hetsim.hardware.provenance import Provenance

    s0 = dev.sides[0]
    prov = Provenance("paper", "arXiv 2506.12708 MLA operator table: 84.1% of HBM bandwidth, memory-bound")
    mem = replace(s0.memory, efficiency=EfficiencyCurve.constant(MLA_MEMORY_UTILISATION, prov))
    return replace(dev, sides=(replace(s0, memory=mem), *dev.sides[1:]))


def operator_check(dev: Any) -> dict[str, dict[str, float]]:
    """hetsim's dispatch (= combine) on the measured fabric against the paper's mean of the two
    operators at the table's EP degrees, and its INT8 dispatch at EP256 on the bare link
    (microseconds)."""
    from hetsim.cost.collectives import Fabric, all_to_all

    def us(nbytes: float, ep: int, d: Any) -> float:
        return float(all_to_all(nbytes, ep, Fabric.of(d)).time_s) * 1e6

    out = {f"ep{e}": {"hetsim": us(PAIRS * HIDDEN * 2.0, e, measured_fabric(dev, e)), "paper": (d + c) / 2}
           for e, d, c in zip(EPS, DISPATCH_US, COMBINE_US, strict=True)}  # fmt: skip
    out["link_dispatch_ep256"] = {"hetsim": us(PAIRS * HIDDEN, 256, dev), "paper": DISPATCH_US[1]}
    return out
