"""hetsim: a co-design lab for LLM inference on heterogeneous memory and compute."""

from hetsim.errors import CapacityError, ConfigError, HetsimError, MappingError

__version__ = "0.1.0"

__all__ = ["CapacityError", "ConfigError", "HetsimError", "MappingError", "__version__"]
