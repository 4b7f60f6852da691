"""Expert parallelism (EP) and data-parallel attention: how a mixture-of-experts model's
routed experts are spread over devices, and which tokens each device's experts see.

Two layouts (both as served by vLLM and SGLang):

- **EP over the tensor-parallel group** (``--tp N --ep N``): attention is tensor parallel as
  usual and every device holds the same tokens after its all-reduce; the routed experts are
  not split by columns but dealt out whole, E / N to a device. Each device runs the token-
  expert pairs routed to its experts; the FFN's all-reduce combines them (no all-to-all).
- **DP attention + EP** (``--ep N --dp-attention``, the DeepSeek-V3 / SGLang deployment):
  the N devices form N / t data-parallel ranks of ``--tp t`` devices each (t = 1: every
  device a rank), each rank with its own batch and KV cache; inside a rank attention, dense
  layers, shared experts and the LM head are tensor parallel over its t devices (their
  all-reduces span the rank, not the group); the MoE layers are EP over all N. Each device
  sends its 1 / t slice of the rank's tokens' hidden states to the devices holding their k
  experts (dispatch) and the expert outputs come back (combine): two all-to-alls a MoE layer
  (:func:`hetsim.cost.collectives.all_to_all`, priced by topology: NVLink inside a node, the
  NIC across nodes). The rows cross at the activation type (DeepEP can dispatch in FP8: a
  narrower ``--act-dtype`` is the what-if). SGLang's ``--tp 16 --dp 2
  --enable-dp-attention`` on 16 GPUs is ``--ep 16 --dp-attention --tp 8`` here.

**Load across expert shards.** A MoE layer waits for its busiest device. With uniform routing
the pairs a device receives are binomial (n = T k pairs, p = 1 / N); the expected maximum
of N such loads is taken as mean + sigma sqrt(2 ln N) (the normal approximation's bound on
the maximum), so a small batch is unbalanced by mechanism and a large one tends to balance.
Real routing is skewed beyond that: :data:`EP_SKEW` multiplies the mean, a named knob
(default 1.0: the experts balanced by redundant replicas, as DeepSeek-V3's deployment does,
arXiv 2412.19437 section 3.4, and SGLang's EPLB; set it above 1 for an unbalanced
deployment).

**Expert slots** (large-scale EP, DeepSeek-V3's decode and CloudMatrix384's EP320): the group
may hold ``redundant`` extra replicas of routed experts (E + R slots dealt evenly over the
routed devices, so EP may exceed E: one expert a device) and may give ``shared_devices`` of
its devices over to replicas of the shared experts, which the tokens then reach by the same
dispatch as a (k+1)-th destination. A device then runs either its routed slots or a shared
replica; a pass waits for the busier kind (:meth:`ExpertParallel.shared_rows`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from hetsim.errors import ConfigError
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num

# busiest expert-parallel device's share of token-expert pairs over its uniform-routing
# expectation, beyond the statistical spread (1.0: balanced by redundant experts; DeepSeek-V3
# technical report, arXiv 2412.19437, section 3.4 "redundant experts"; SGLang EPLB)
EP_SKEW = 1.0
MAX_SKEW = 1e3


@dataclass(frozen=True, slots=True)
class ExpertParallel:
    """``ep``: devices the routed experts are dealt over (1: none). ``dp_attention``: those
    devices form data-parallel ranks with their own batch, of ``tp`` devices each (attention
    tensor parallel inside a rank; the run's ``--tp``, bound by :meth:`within`). ``skew``:
    see :data:`EP_SKEW`."""

    ep: int = 1
    dp_attention: bool = False
    skew: float = EP_SKEW
    redundant: int = 0
    shared_devices: int = 0
    tp: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.ep, bool) or not isinstance(self.ep, int) or self.ep < 1:
            raise ConfigError(f"--ep must be a positive whole number, got {self.ep!r}")
        s = self.skew
        if isinstance(s, bool) or not isinstance(s, int | float) or not 1.0 <= s <= MAX_SKEW:
            raise ConfigError(f"--ep-skew must be a number from 1 (balanced) to {MAX_SKEW:g}, got {s!r}")
        if self.dp_attention and self.ep < 2:
            raise ConfigError(
                "--dp-attention needs --ep 2 or more (the data-parallel ranks the experts span)"
            )
        for name, v in (("--ep-redundant", self.redundant), ("--ep-shared-devices", self.shared_devices)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{name} must be a whole number from 0, got {v!r}")
        if self.shared_devices and (not self.dp_attention or self.shared_devices >= self.ep):
            raise ConfigError(
                f"--ep-shared-devices {self.shared_devices} needs --dp-attention and fewer than the "
                f"--ep {self.ep} devices (the rest hold the routed experts)"
            )
        if isinstance(self.tp, bool) or not isinstance(self.tp, int) or self.tp < 1:
            raise ConfigError(f"--tp must be a positive whole number, got {self.tp!r}")

    @property
    def routed_devices(self) -> int:
        """Devices holding routed experts (the group less those given to shared experts)."""
        return self.ep - self.shared_devices

    def slots_per_device(self, model: ModelSpec) -> float:
        """Routed-expert slots (experts and their redundant replicas) on one routed device."""
        return (model.n_experts + self.redundant) / self.routed_devices

    def within(self, tp: int) -> ExpertParallel:
        """This layout in a run of tensor parallelism ``tp``: under DP attention each rank is
        ``tp`` devices (checked by :meth:`check`)."""
        return dataclasses.replace(self, tp=tp) if self.dp_attention and tp != self.tp else self

    @property
    def dp(self) -> int:
        """Data-parallel ranks: sequence groups that differ (``ep`` / ``tp`` with DP attention,
        else 1)."""
        return max(self.ep // self.tp, 1) if self.dp_attention else 1

    def check(self, model: ModelSpec, tp: int) -> None:
        """Refuse a layout that does not apply to ``model`` at tensor parallelism ``tp``."""
        if self.ep == 1:
            return
        if not model.is_moe:
            raise ConfigError(f"--ep applies to mixture-of-experts models; {model.name} is dense (use --tp)")
        if (model.n_experts + self.redundant) % self.routed_devices:
            less = f" less --ep-shared-devices {self.shared_devices}" if self.shared_devices else ""
            plus = f" and --ep-redundant {self.redundant} replicas" if self.redundant else ""
            raise ConfigError(
                f"--ep {self.ep}{less}: {self.routed_devices} routed-expert devices do not divide the "
                f"{model.n_experts} routed experts{plus} of {model.name}; choose a divisor"
                if less or plus
                else f"--ep {self.ep} does not divide the {model.n_experts} routed experts of "
                f"{model.name}; choose a divisor"
            )
        if self.shared_devices and not model.n_shared_experts:
            raise ConfigError(
                f"{model.name} has no shared experts to give --ep-shared-devices {self.shared_devices} "
                "devices to; drop --ep-shared-devices"
            )
        if self.dp_attention and (self.ep % tp or self.ep // tp < 2):
            raise ConfigError(
                f"--dp-attention splits the --ep {self.ep} devices into data-parallel ranks of --tp {tp} "
                f"devices each: --tp must divide --ep and leave 2 or more ranks (e.g. --tp "
                f"{_divisor_below(self.ep)}), or drop --dp-attention"
            )
        if not self.dp_attention and self.ep != tp:
            raise ConfigError(
                f"--ep {self.ep} without --dp-attention deals the experts over the tensor-parallel group; "
                f"give --tp {self.ep}, or add --dp-attention"
            )

    def group_tokens(self, tokens: Num) -> Num:
        """Distinct tokens the EP group routes in a pass over ``tokens`` per rank (each
        rank's own under DP attention; tokens replicated over a TP group counted once)."""
        return tokens * self.dp

    def busiest_pairs(self, model: ModelSpec, tokens: Num) -> Num:
        """Token-expert pairs of the busiest device in a pass over ``tokens`` per rank: the
        binomial expectation times :attr:`skew` plus the spread of the maximum of ``ep`` loads,
        at most every token's pairs that land on one device."""
        k = model.experts_per_token
        pairs = np.asarray(self.group_tokens(tokens), dtype=float) * k
        if self.ep == 1:
            return pairs if pairs.ndim else float(pairs)
        n = self.routed_devices
        if n == 1:
            return pairs if pairs.ndim else float(pairs)
        p = 1.0 / n
        mean = pairs * p
        spread = np.sqrt(pairs * p * (1 - p)) * math.sqrt(2 * math.log(n))
        cap = pairs / k * min(k, self.slots_per_device(model))
        out = np.minimum(np.maximum(self.skew * mean + spread, mean), np.maximum(cap, mean))
        return out if out.ndim else float(out)

    def touched(self, model: ModelSpec, tokens: Num) -> Num:
        """Expected distinct experts of one device that the group's tokens route to."""
        E, k = model.n_experts, model.experts_per_token
        local = min(self.slots_per_device(model), E)
        t = np.asarray(self.group_tokens(tokens), dtype=float)
        out = local * (1.0 - np.power(1.0 - k / E, t))
        return out if out.ndim else float(out)

    def shared_rows(self, tokens: Num) -> Num:
        """Tokens one shared-expert device runs in a pass (0 when the shared experts stay on
        every device): the group's tokens split evenly over the shared replicas."""
        if not self.shared_devices:
            return 0.0
        out = np.asarray(self.group_tokens(tokens), dtype=float) / self.shared_devices
        return out if out.ndim else float(out)

    def fits(self, model: ModelSpec) -> bool:
        """Whether this layout applies to ``model`` (a drafter may be dense or differently sized)."""
        return (
            model.is_moe
            and self.ep > 1
            and (model.n_experts + self.redundant) % self.routed_devices == 0
            and (model.n_shared_experts > 0 or not self.shared_devices)
        )


NO_EP = ExpertParallel()


def _divisor_below(n: int) -> int:
    """The largest divisor of ``n`` that leaves 2 or more ranks (1 for a prime)."""
    return max(d for d in range(1, n // 2 + 1) if n % d == 0)


def routed_params_per_layer(model: ModelSpec) -> float:
    """Routed-expert parameters of a mean decoder layer (what EP deals out)."""
    from hetsim.workload import layers

    moe_layers = dict(layers.layer_mix(model).ffns).get("moe", 0)
    return moe_layers * model.n_experts * model.expert_params / model.n_layers
