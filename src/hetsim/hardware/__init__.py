"""Hardware: compute units, memory tiers, links, sides, devices; presets with provenance."""

from hetsim.hardware.efficiency import EfficiencyCurve
from hetsim.hardware.loader import device_from_mapping, get_hardware, list_hardware
from hetsim.hardware.provenance import Provenance
from hetsim.hardware.spec import ComputeUnit, Device, Link, MemoryTier, Side

__all__ = [
    "ComputeUnit",
    "Device",
    "EfficiencyCurve",
    "Link",
    "MemoryTier",
    "Provenance",
    "Side",
    "device_from_mapping",
    "get_hardware",
    "list_hardware",
]
