"""Model names as users write them -> a preset and, where the name says one, a weight format.

Accepted: a preset name or alias (``llama3.1-8b``), a Hugging Face repo id with or without
the organisation (``meta-llama/Llama-3.1-8B-Instruct``, ``Qwen3-30B-A3B-FP8``), and free text
(``Llama 3.3 70B``, ``LLaMA v3.1 405B``, ``Mixtral 8x7B``). A name is normalised the same way
as every preset name and alias:

1. the organisation (``org/``) is dropped, the text lower-cased, spaces and ``_`` made ``-``;
2. precision tokens are taken out and kept (``fp8``, ``awq``, ``gptq-int4``, ``mxfp4``, ``nvfp4``,
   ``w4a16``, ``w8a8``, ``int8``, ``bf16``, GGUF types such as ``q4_k_m``);
3. variant tokens that leave the architecture alone are dropped (``instruct``, ``chat``, ``it``,
   ``hf``, ``base``, ``thinking``, ``gguf``, four-digit release dates such as ``2507``);
4. family spellings are joined to their version (``meta-llama-3.1`` / ``llama-v3.1`` ->
   ``llama3.1``; ``qwen-3`` -> ``qwen3``; ``gemma-2``, ``phi-3`` likewise; ``gptj`` -> ``gpt-j``);
   an Ollama tag's ``:`` is a ``-``, a context-length token (``128k``) and ``moe`` are dropped.

A name with bracketed remarks (``LLAMA 3 (70B)``, ``Mixtral 46.7B (Mixtral 8x7B)``) is tried
whole, without the remarks, with them unwrapped, then remark by remark; a parameter count the
preset's own name leaves out (``DeepSeek-V3 671B``) is dropped when it agrees with the
preset's count within 10%.

The result must equal a normalised preset name or alias exactly: no guessing. An unknown name
gets the closest names and how to pass a config.json instead.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from hetsim.errors import UnknownNameError
from hetsim.workload.model import ModelSpec

# precision token(s) in a name -> the weight format they state (see hetsim.workload.formats)
PRECISION_TOKENS: dict[tuple[str, ...], str] = {
    ("gptq", "int4"): "gptq",
    ("gptq", "int8"): "int8",
    ("awq", "int4"): "awq",
    ("fp8", "dynamic"): "fp8",
    ("fp8", "block"): "fp8-block",
    ("quantized.w4a16",): "gptq",
    ("quantized.w8a8",): "int8",
    ("w4a16",): "gptq",
    ("w8a8",): "int8",
    ("w8a16",): "int8",
    ("awq",): "awq",
    ("gptq",): "gptq",
    ("fp8",): "fp8",
    ("int8",): "int8",
    ("int4",): "awq",
    ("mxfp4",): "mxfp4",
    ("nvfp4",): "nvfp4",
    ("fp4",): "nvfp4",
    ("bf16",): "bf16",
    ("fp16",): "fp16",
}
GGUF_TOKEN = re.compile(r"^(q\d(_[01k])?(_[sml])?|iq\d(_(xxs|xs|s|m|nl))?|f16|f32|bf16)$")
VARIANTS = {
    "instruct",
    "chat",
    "it",
    "hf",
    "base",
    "thinking",
    "reasoning",
    "gguf",
    "dynamic",
    "preview",
    "moe",
}
DATE = re.compile(r"^\d{4}$")
CONTEXT = re.compile(r"^\d+k$")  # a context-length variant ('128k', '4k'): same weights
SIZE = re.compile(r"^(\d+(?:\.\d+)?)b$")  # a parameter count ('671b'), checked against the preset's
FAMILIES = (
    (re.compile(r"^(meta-)?llama-?v?(\d(\.\d)?)(?=-|$)"), r"llama\2"),
    (re.compile(r"^qwen-?v?(\d(\.\d)?)(?=-|$)"), r"qwen\1"),
    (re.compile(r"^gemma-(\d)(?=-|$)"), r"gemma\1"),
    (re.compile(r"^phi-(\d(\.\d)?)(?=-|$)"), r"phi\1"),
    (re.compile(r"^gptj(?=-|$)"), "gpt-j"),
)
BRACKETS = re.compile(r"\(([^()]*)\)")
CONFIG_HINT = "or give the path of the model's config.json (or its folder, or a .gguf file)"


@dataclass(frozen=True, slots=True)
class Resolved:
    """A preset and the weight format the name stated ('' when it stated none)."""

    model: ModelSpec
    weight_format: str
    key: str  # the normalised name that matched


def _precision(tokens: list[str]) -> tuple[list[str], str]:
    """(tokens without precision tokens, the format they stated)."""
    found = ""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for size in (2, 1):
            key = tuple(tokens[i : i + size])
            if len(key) == size and key in PRECISION_TOKENS:
                found = found or PRECISION_TOKENS[key]
                i += size
                break
        else:
            if GGUF_TOKEN.match(tokens[i]) and i > 1:
                found = found or tokens[i]
            else:
                out.append(tokens[i])
            i += 1
    return out, found


def normalise(name: str) -> tuple[str, str]:
    """(the normalised key, the weight format the name states or '')."""
    text = re.sub(r"[\s:]+", "-", name.strip().split("/")[-1].lower())  # 'llama3.1:70b' (Ollama tag)
    tokens: list[str] = []
    for t in text.split("-"):  # a GGUF type keeps its underscores (q4_k_m); elsewhere _ is -
        tokens += [t] if GGUF_TOKEN.match(t) else [u for u in t.split("_") if u]
    tokens, fmt = _precision(tokens)
    tokens = [t for t in tokens if t not in VARIANTS and not DATE.match(t) and not CONTEXT.match(t)]
    key = "-".join(tokens)
    for pattern, repl in FAMILIES:
        key = pattern.sub(repl, key)
    return key, fmt


@lru_cache(maxsize=1)
def _index() -> dict[str, str]:
    """Normalised preset name or alias -> preset name."""
    from hetsim.workload.registry import MODELS

    out: dict[str, str] = {}
    for name in MODELS.names():
        spec = MODELS.get_item(name)
        for label in (name, *spec.aliases):
            out.setdefault(normalise(label)[0], name)
            out.setdefault(label.lower(), name)
    return out


def aliases_of(name: str) -> list[str]:
    """Every normalised spelling that resolves to preset ``name`` (for ``hetsim models``)."""
    return sorted(k for k, v in _index().items() if v == name and k != name)


def _candidates(name: str) -> list[str]:
    """The name, then without its bracketed remarks, with them unwrapped, and each remark
    alone (split at ';' and ','): 'LLAMA 3 (70B)', 'Mixtral 46.7B (Mixtral 8x7B)'."""
    if "(" not in name:
        return [name]
    inner = [p for x in BRACKETS.findall(name) for p in re.split(r"[;,]", x) if p.strip()]
    unwrapped = BRACKETS.sub(lambda m: f" {m.group(1)} ", name)
    return [name, BRACKETS.sub(" ", name), unwrapped, *inner]


def _match(key: str, index: dict[str, str]) -> str | None:
    """The preset a normalised key names; a parameter count the preset's own name leaves out
    ('deepseek-v3-671b') is dropped when it agrees with the preset's count within 10%."""
    from hetsim.workload.registry import MODELS

    if key in index:
        return index[key]
    tokens = key.split("-")
    for i, t in enumerate(tokens):
        size = SIZE.match(t)
        rest = "-".join(tokens[:i] + tokens[i + 1 :])
        if size and i > 0 and rest in index:
            params = MODELS.get_item(index[rest]).params
            if abs(params / (float(size.group(1)) * 1e9) - 1.0) <= 0.1:
                return index[rest]
    return None


def resolve(name: str) -> Resolved:
    """The preset a user's model name means, or :class:`UnknownNameError` with the closest."""
    from hetsim.workload.registry import MODELS

    index = _index()
    exact = name.strip().lower()
    if exact in index:
        return Resolved(MODELS.get_item(index[exact]), "", exact)
    keys = [normalise(c) for c in _candidates(name)]
    fmt = next((f for _, f in keys if f), "")
    for key, _ in keys:
        hit = _match(key, index)
        if hit is not None:
            return Resolved(MODELS.get_item(hit), fmt, key)
    key = keys[min(1, len(keys) - 1)][0]  # suggestions for the name without its remarks
    close = difflib.get_close_matches(key, list(index), n=5, cutoff=0.5)
    suggestions = list(dict.fromkeys(index[c] for c in close))[:3]
    err = UnknownNameError("model", name, MODELS.names())
    hint = f"did you mean {', '.join(suggestions)}? " if suggestions else ""
    err.args = (
        f"unknown model {name!r}: {hint}`hetsim models` lists the presets and their aliases, {CONFIG_HINT}",
    )
    err.suggestions = suggestions
    raise err
