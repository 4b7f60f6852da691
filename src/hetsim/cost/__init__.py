"""Pure pricing: an op on a (compute unit, memory tier) -> a :class:`Cost` record that adds."""

from hetsim.cost.roofline import Cost, Overlap, collective_cost, gemm_wave_efficiency, op_cost

__all__ = ["Cost", "Overlap", "collective_cost", "gemm_wave_efficiency", "op_cost"]
