"""A GGUF file's header -> :class:`ModelSpec` and :class:`Precision`, with the ``gguf`` library.

Only the header is read: the architecture's key-values (``{arch}.block_count``,
``.embedding_length``, ``.attention.head_count`` ...) and each tensor's name, shape and type.
``gguf.GGUFReader`` maps the file and parses those; the tensor data is never touched. The
precision is exact per role: the decoder's bits per weight are the bytes of every ``blk.*``
tensor (``gguf.GGML_QUANT_SIZES``: bytes per block, scales included) over its weights; the token
embedding and the LM head (``output.weight``; absent when tied) keep their own types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hetsim.errors import ConfigError
from hetsim.workload.dtypes import DTYPES, Precision
from hetsim.workload.model import ModelSpec

GGUF_ARCHS = ("llama", "mistral", "qwen2", "qwen3", "qwen2moe", "qwen3moe", "phi3", "gemma2", "gemma3",
              "mixtral", "gpt-oss", "glm4moe", "minimax-m2")  # fmt: skip


def _read(path: Path) -> Any:
    from gguf import GGUFReader

    try:
        return GGUFReader(path, "r")
    except (ValueError, OSError, IndexError, KeyError) as exc:
        raise ConfigError(f"{path}: not a readable GGUF file ({exc})") from None


def _kv(reader: Any) -> dict[str, Any]:
    return {
        name: field.contents() for name, field in reader.fields.items() if not name.startswith("tokenizer.")
    }


def _tensors(reader: Any) -> list[tuple[str, int, float]]:
    """(name, elements, bits per weight) of every tensor."""
    from gguf import GGML_QUANT_SIZES

    out = []
    for t in reader.tensors:
        block, size = GGML_QUANT_SIZES[t.tensor_type]
        out.append((str(t.name), int(t.n_elements), size * 8 / block))
    return out


def model_from_gguf(path: Path) -> ModelSpec:
    """The architecture a GGUF header describes (GQA decoders, dense or MoE)."""
    reader = _read(path)
    kv = _kv(reader)
    arch = str(kv.get("general.architecture", ""))
    if arch not in GGUF_ARCHS:
        known = ", ".join(GGUF_ARCHS)
        raise ConfigError(f"{path}: GGUF architecture {arch!r} is not read by hetsim ({known}); pass the "
                          "model's config.json instead")  # fmt: skip

    def need(key: str) -> int:
        value = kv.get(f"{arch}.{key}")
        if value is None:
            raise ConfigError(f"{path}: GGUF header lacks {arch}.{key}")
        return int(value)

    tensors = {name: n for name, n, _ in _tensors(reader)}
    d, heads = need("embedding_length"), need("attention.head_count")
    vocab = tensors.get("token_embd.weight", 0) // d
    experts = int(kv.get(f"{arch}.expert_count") or 1)
    window = int(kv.get(f"{arch}.attention.sliding_window") or 0)
    return ModelSpec(
        name=path.stem,
        family=arch,
        n_layers=need("block_count"),
        d_model=d,
        n_heads=heads,
        n_kv_heads=int(kv.get(f"{arch}.attention.head_count_kv") or heads),
        head_dim=int(kv.get(f"{arch}.attention.key_length") or d // heads),
        d_ff=int(kv.get(f"{arch}.expert_feed_forward_length") or need("feed_forward_length"))
        if experts > 1
        else need("feed_forward_length"),
        vocab_size=vocab or need("vocab_size"),
        n_experts=experts,
        experts_per_token=int(kv.get(f"{arch}.expert_used_count") or 1) if experts > 1 else 1,
        n_shared_experts=int(kv.get(f"{arch}.expert_shared_count") or 0) if experts > 1 else 0,
        first_dense_layers=int(kv.get(f"{arch}.leading_dense_block_count") or 0) if experts > 1 else 0,
        tied_embeddings="output.weight" not in tensors,
        max_seq_len=int(kv.get(f"{arch}.context_length") or 4096),
        sliding_window=window if arch in ("mistral",) else 0,
        source=f"GGUF header of {path.name}",
    )


def precision_from_gguf(path: Path, activation: str | None = None, kv: str | None = None) -> Precision:
    """Bits per weight of the decoder, embedding and LM head as the file stores them."""
    reader = _read(path)
    tensors = _tensors(reader)
    layer = [(n, b) for name, n, b in tensors if name.startswith("blk.")]
    elements = sum(n for n, _ in layer)
    if not elements:
        raise ConfigError(f"{path}: the GGUF file has no blk.* tensors")
    bits = sum(n * b for n, b in layer) / elements
    by_name = {name: b for name, _, b in tensors}
    emb = by_name.get("token_embd.weight", bits)
    ftype = _kv(reader).get("general.file_type")
    label = _file_type(ftype) or f"gguf-{bits:.2f}bpw"
    a = DTYPES[activation] if activation else DTYPES["fp16"]
    element = "fp16" if bits >= 16 else ("int8" if bits > 6 else "int4")
    return Precision(DTYPES[element], a, DTYPES[kv] if kv else a, None, 0, format=label, format_bits=bits,
                     quantized_embeddings=True, embedding_bits=emb,
                     head_bits=by_name.get("output.weight", emb))  # fmt: skip


def _file_type(value: Any) -> str:
    from gguf import LlamaFileType

    try:
        return LlamaFileType(int(value)).name.removeprefix("MOSTLY_").lower()
    except (TypeError, ValueError):
        return ""
