"""Placement policies: which memory side holds (and computes) each part of each sublayer.

Every policy is registered by name (:func:`get_policy`) and maps a
:class:`~hetsim.cost.partition.SplitTables` to a :class:`Mapping`.
"""

from hetsim.mapping.policies import register_builtin as _register_builtin
from hetsim.mapping.registry import Mapping, Policy, get_policy, policy_names, register

_register_builtin()

__all__ = ["Mapping", "Policy", "get_policy", "policy_names", "register"]
