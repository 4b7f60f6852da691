"""Speculative decoding: what drafts the tokens, how many a step proposes, how many are
accepted, and the model a draft pass runs.

A step drafts ``k`` tokens with ``k`` sequential draft passes, then the target verifies them
in one pass over k + 1 positions (the last accepted token and the k drafts; a decode pass
with ``q_len`` k + 1, its LM head over every position). With each drafted token accepted with
probability ``alpha`` given the ones before it were (the per-position acceptance rate of the
papers), the tokens a step emits are the accepted prefix plus the target's own next token:
E = 1 + alpha + ... + alpha^k = (1 - alpha^(k+1)) / (1 - alpha).

Three drafters:

- ``draft``: a separate, smaller model of the same tokenizer (a preset; Leviathan et al.,
  arXiv 2211.17192), run as its own decode pass with its own KV cache;
- ``mtp``: the target's multi-token-prediction modules (DeepSeek-V3, Qwen3-Next): a pass is
  one decoder layer of the target's last layer's kind, the 2d -> d projection of its hidden
  state and the next token's embedding, and the shared LM head;
- ``eagle``: an EAGLE-3 head (arXiv 2503.01840): one dense decoder layer of the target's
  width and attention, fed a 3d -> d fusion of three of the target's hidden layers, with the
  target's LM head.

The acceptance rates are named knobs with their sources (:data:`ACCEPTANCE`); a user's
measured rate replaces them (``--spec eagle,accept=0.7``).

``side=NAME`` runs the drafter on another compute side of a multi-side device (a GPU beside a
host CPU that verifies, as Dovetail does; :mod:`hetsim.sim.speculative` prices the hand-off
over the link between the two); without it the drafter runs on the primary side.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hetsim.errors import ConfigError
from hetsim.workload.model import PATTERN_LETTERS, ModelSpec

METHODS = ("draft", "mtp", "eagle")
# per-position acceptance rate by drafter, with where it comes from
ACCEPTANCE = {
    "mtp": 0.85,  # DeepSeek-V3 technical report (arXiv 2412.19437) s5.4.3: "the acceptance rate of
    # the second token prediction ranges between 85% and 90%" (one MTP module, k = 1); the low end
    "eagle": 0.8,  # EAGLE (Li et al., ICML 2024, arXiv 2401.15077) s4.3: about 0.8 acceptance
    # of a chain-drafted token on MT-bench (Vicuna / LLaMA2-Chat, greedy)
    "draft": 0.6,  # Leviathan et al. (arXiv 2211.17192) Table 3: alpha 0.5 to 0.8 for small
    # drafts of T5-XXL and LaMDA 137B across tasks; the middle
}
DEFAULT_TOKENS = {"mtp": 1, "eagle": 3, "draft": 4}  # DeepSeek-V3 k = 1; vLLM/SGLang examples
PROJECTION_INPUTS = {"mtp": 2, "eagle": 3}  # hidden-state widths the draft layer's input fuses
MAX_TOKENS = 64


@dataclass(frozen=True, slots=True)
class Speculation:
    """``method`` (draft, mtp or eagle), ``tokens`` drafted per step (k), ``acceptance`` per
    position (alpha), ``draft``: the draft model's preset name (method ``draft``), ``side``: the
    device side whose units run the drafter ("": the primary side), ``layers``: an eagle head's
    decoder layers, ``dtype``: the drafter's weight type ("": the run's)."""

    method: str
    tokens: int
    acceptance: float
    draft: str = ""
    side: str = ""
    layers: int = 1
    dtype: str = ""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"--spec must be one of {', '.join(METHODS)}, got {self.method!r}")
        k = self.tokens
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_TOKENS:
            raise ConfigError(f"--spec: k must be a whole number from 1 to {MAX_TOKENS}, got {k!r}")
        a = self.acceptance
        if isinstance(a, bool) or not isinstance(a, int | float) or not 0.0 <= a <= 1.0:
            raise ConfigError(f"--spec: accept must be a rate from 0 to 1 (per drafted position), got {a!r}")
        if (self.method == "draft") != bool(self.draft):
            raise ConfigError("--spec: the draft method needs draft=NAME (a preset, e.g. "
                              "'draft,draft=llama3.2-1b'); draft=NAME goes with it only")  # fmt: skip
        n = self.layers
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_TOKENS:
            raise ConfigError(f"--spec: layers must be a whole number from 1 to {MAX_TOKENS}, got {n!r}")
        if n != 1 and self.method != "eagle":
            raise ConfigError("--spec: layers=N (the draft head's decoder layers) goes with eagle only")
        if self.dtype:
            from hetsim.workload.dtypes import Precision

            Precision.of(self.dtype)  # an unknown type names the known ones
        if not isinstance(self.side, str) or self.side != self.side.strip():
            raise ConfigError(f"--spec: side must be a side's name (e.g. 'side=gpu'), got {self.side!r}")

    @classmethod
    def of(cls, method: str, tokens: int | None = None, acceptance: float | None = None,
           draft: str | None = None, side: str | None = None, layers: int = 1,
           dtype: str | None = None) -> Speculation:  # fmt: skip
        """A speculation with the method's default ``tokens`` and ``acceptance`` where not given
        (``side``: the drafter's compute side, None: the primary; ``layers``: an eagle head's
        decoder layers)."""
        if method not in METHODS:
            raise ConfigError(f"--spec must be one of {', '.join(METHODS)}, got {method!r}")
        return cls(method, DEFAULT_TOKENS[method] if tokens is None else tokens,
                   ACCEPTANCE[method] if acceptance is None else acceptance, draft or "", side or "", layers,
                   dtype or "")  # fmt: skip

    @classmethod
    def parse(cls, text: str) -> Speculation | None:
        """A speculation written as text (an explore axis value): ``""`` or ``none`` (none),
        ``METHOD[,k=K][,accept=A][,draft=NAME][,side=SIDE][,layers=N][,dtype=T]``, e.g.
        ``eagle,k=3,accept=0.8`` or ``eagle,layers=4,side=gpu`` (a four-layer head on the device's
        side ``gpu``)."""
        text = text.strip()
        if text.lower() in ("", "none", "off"):
            return None
        method, *rest = (x.strip() for x in text.split(","))
        kw: dict[str, str] = {}
        for item in rest:
            key, eq, value = item.partition("=")
            if not eq or key not in ("k", "accept", "draft", "side", "layers", "dtype") or key in kw:
                raise ConfigError(f"speculation {text!r}: write METHOD[,k=K][,accept=A][,draft=NAME]"
                                  "[,side=SIDE][,layers=N][,dtype=T], e.g. 'eagle,k=3,accept=0.8' or "
                                  "'draft,draft=llama3.2-1b,side=gpu'")  # fmt: skip
            kw[key] = value
        try:
            k = int(kw["k"]) if "k" in kw else None
            accept = float(kw["accept"]) if "accept" in kw else None
            layers = int(kw["layers"]) if "layers" in kw else 1
        except ValueError:
            raise ConfigError(
                f"speculation {text!r}: k and layers must be whole numbers and accept a rate"
            ) from None
        return cls.of(method, k, accept, kw.get("draft"), kw.get("side"), layers, kw.get("dtype"))

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens a step emits: (1 - alpha^(k+1)) / (1 - alpha) (k + 1 at alpha 1)."""
        a, k = float(self.acceptance), self.tokens
        if a >= 1.0:
            return float(k + 1)
        return float(sum(a**i for i in range(k + 1)))

    @property
    def label(self) -> str:
        what = f"draft model {self.draft}" if self.method == "draft" else f"{self.method} head"
        if self.layers > 1:
            what += f" of {self.layers} layers"
        if self.dtype:
            what += f" in {self.dtype}"
        if self.side:
            what += f" on side {self.side}"
        held = (
            (
                f"; its weights are held on {self.side}, whose capacity below is the room they leave "
                "the target; each step's drafts and verdict cross the link to the primary"
            )
            if self.side
            else ""
        )
        return (f"speculative decoding: {what}, {self.tokens} drafted per step at acceptance "
                f"{self.acceptance:g}: {self.tokens_per_step:.3g} tokens per step{held}")  # fmt: skip

    def drafter(self, target: ModelSpec) -> ModelSpec:
        """The model one draft pass runs (for ``mtp`` and ``eagle`` a one-layer model built from
        the target; for ``draft`` the preset), checked against ``target``."""
        if self.method == "draft":
            from hetsim.workload.registry import get_model

            d = get_model(self.draft)
            if d.vocab_size != target.vocab_size:
                raise ConfigError(
                    f"draft model {d.name} has a {d.vocab_size}-token vocabulary but {target.name} has "
                    f"{target.vocab_size}: a draft must share the target's tokenizer"
                )
            return d
        if self.method == "mtp" and not target.mtp_layers:
            raise ConfigError(
                f"{target.name} ships no multi-token-prediction modules (DeepSeek-V3 and Qwen3-Next do); "
                "use --spec eagle or --spec draft"
            )
        one = one_layer(target, dense=self.method == "eagle")
        return one if self.layers == 1 else dataclasses.replace(one, n_layers=self.layers)


def one_layer(target: ModelSpec, dense: bool) -> ModelSpec:
    """A one-decoder-layer model of the target's last layer's kinds (``dense``: its FFN
    dense, at the width of the target's dense layers), sharing its embeddings and LM head."""
    from hetsim.workload import layers

    last = target.n_layers - 1
    kind = layers.mixer_of(target, last)
    letter = next(k for k, v in PATTERN_LETTERS.items() if v == kind)
    moe = not dense and layers.ffn_of(target, last) == "moe"
    layer = dataclasses.replace(
        target, name=f"{target.name}-draft-layer", n_layers=1, attention_pattern=letter, first_dense_layers=0,
        moe_every=1, mtp_layers=0, published_params=None, published_active_params=None,
        published_active_excludes="", aliases=(),
    )  # fmt: skip
    if moe:
        return layer
    return dataclasses.replace(layer, n_experts=1, experts_per_token=1, n_shared_experts=0,
                               d_ff=target.dense_d_ff or target.d_ff)  # fmt: skip
