"""Models, hardware, data types, placement policies, engines and prices, by name.

Part of the one door (:mod:`hetsim.api`): the front ends import these names from here, never
from the modules that define them. Each name is imported on first use (PEP 562), so a command
that needs one pays for its module only."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hetsim.cost.prices import system_cost as system_cost
    from hetsim.cost.prices import usd_per_mtoken as usd_per_mtoken
    from hetsim.engines import ENGINES as ENGINES
    from hetsim.hardware.loader import HARDWARE as HARDWARE
    from hetsim.hardware.loader import get_hardware as get_hardware
    from hetsim.hardware.loader import hardware_preset as hardware_preset
    from hetsim.hardware.loader import list_hardware as list_hardware
    from hetsim.hardware.spec import Device as Device
    from hetsim.hardware.spec import Link as Link
    from hetsim.placement.policies import policy_doc as policy_doc
    from hetsim.placement.policies import policy_names as policy_names
    from hetsim.placement.topology import link_bandwidth as link_bandwidth
    from hetsim.workload.dtypes import DTYPES as DTYPES
    from hetsim.workload.dtypes import Precision as Precision
    from hetsim.workload.model import ModelSpec as ModelSpec
    from hetsim.workload.names import aliases_of as aliases_of
    from hetsim.workload.registry import MODELS as MODELS
    from hetsim.workload.registry import get_model as get_model
    from hetsim.workload.registry import list_models as list_models
    from hetsim.workload.registry import model_preset as model_preset

_WHERE = {
    "system_cost": "hetsim.cost.prices",
    "usd_per_mtoken": "hetsim.cost.prices",
    "ENGINES": "hetsim.engines",
    "HARDWARE": "hetsim.hardware.loader",
    "get_hardware": "hetsim.hardware.loader",
    "hardware_preset": "hetsim.hardware.loader",
    "list_hardware": "hetsim.hardware.loader",
    "Device": "hetsim.hardware.spec",
    "Link": "hetsim.hardware.spec",
    "policy_doc": "hetsim.placement.policies",
    "policy_names": "hetsim.placement.policies",
    "link_bandwidth": "hetsim.placement.topology",
    "DTYPES": "hetsim.workload.dtypes",
    "Precision": "hetsim.workload.dtypes",
    "ModelSpec": "hetsim.workload.model",
    "aliases_of": "hetsim.workload.names",
    "MODELS": "hetsim.workload.registry",
    "get_model": "hetsim.workload.registry",
    "list_models": "hetsim.workload.registry",
    "model_preset": "hetsim.workload.registry",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        home = import_module(_WHERE[name])
        return getattr(home, name) if hasattr(home, name) else import_module(f"{home.__name__}.{name}")
    raise AttributeError(f"module 'hetsim.api.lookup' has no attribute {name!r}")


__all__ = [
    "DTYPES",
    "ENGINES",
    "HARDWARE",
    "MODELS",
    "Device",
    "Link",
    "ModelSpec",
    "Precision",
    "aliases_of",
    "get_hardware",
    "get_model",
    "hardware_preset",
    "link_bandwidth",
    "list_hardware",
    "list_models",
    "model_preset",
    "policy_doc",
    "policy_names",
    "system_cost",
    "usd_per_mtoken",
]  # fmt: skip
