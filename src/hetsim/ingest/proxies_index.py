"""The weightless proxy ONNX files shipped with hetsim (made by ``scripts/make_proxies.py``)."""

from __future__ import annotations

from pathlib import Path

PROXY_DIR = Path(__file__).parent / "proxies"
PROXY_NAMES = ("resnet50", "vit_b_16", "sd15_unet", "nerf_mlp")


def resolve_model_file(model: str) -> Path:
    """``model`` as a path; a bare shipped proxy name (``resnet50.onnx``) that is not a file
    in the working directory resolves to the shipped copy."""
    p = Path(model)
    if not p.exists() and p.parent == Path(".") and p.stem in PROXY_NAMES:
        return PROXY_DIR / p.name
    return p
