"""Export the weightless proxy ONNX files in src/hetsim/ingest/proxies/.

Run:  .venv/bin/pip install 'torch==2.13.0' onnx && .venv/bin/python scripts/make_proxies.py

The models are written here in plain PyTorch (torchvision and diffusers are not importable
beside torch 2.13.0 on this project's machines) following the published architectures:
ResNet-50 v1.5 (torchvision's: stride in the 3x3 conv), ViT-B/16 (torchvision's
``vit_b_16``), the Stable Diffusion 1.5 UNet (diffusers' ``UNet2DConditionModel`` config of
runwayml/stable-diffusion-v1-5: blocks 320/640/1280/1280, 2 layers per block, 8 heads,
cross-attention width 768, GroupNorm 32, conv proj_in/out, GEGLU feed-forward) and the NeRF
MLP (Mildenhall et al. 2020: 8 x 256 layers, skip at layer 5, 60 + 24 positional-encoding
channels) for one ray batch. Each is exported with ``export_params=False`` (parameters
become static graph inputs, so the files are kilobytes) by the TorchScript exporter
(``dynamo=False``), opset 17, with a symbolic ``batch`` dimension. Parameter counts are
checked against the published ones before writing.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import onnx
import torch
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "src" / "hetsim" / "ingest" / "proxies"


# ---- ResNet-50 v1.5 -------------------------------------------------------------------------
class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * 4
        self.c1, self.b1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.c2, self.b2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.c3, self.b3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.b1(self.c1(x)))
        y = torch.relu(self.b2(self.c2(y)))
        return torch.relu(self.b3(self.c3(y)) + self.down(x))


class ResNet50(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        )
        layers, cin = [], 64
        for width, n, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(n):
                layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = width * 4
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


# ---- ViT-B/16 ---------------------------------------------------------------------------------
class EncoderBlock(nn.Module):
    def __init__(self, d: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.heads = heads
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, mlp), nn.Linear(mlp, d)

    def attend(self, x: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).reshape(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)  # (B, H, S, S)
        return self.proj((a @ v).transpose(1, 2).reshape(b, s, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attend(self.ln1(x))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))


class ViTB16(nn.Module):
    def __init__(self, d: int = 768, layers: int = 12, heads: int = 12, mlp: int = 3072) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, d, 16, 16)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, 197, d))
        self.blocks = nn.Sequential(*(EncoderBlock(d, heads, mlp) for _ in range(layers)))
        self.ln = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)  # (B, 196, d)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.ln(self.blocks(x))[:, 0])


# ---- Stable Diffusion 1.5 UNet ----------------------------------------------------------------
def gn(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, c, eps=1e-5)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int = 1280) -> None:
        super().__init__()
        self.n1, self.c1 = gn(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.t = nn.Linear(temb, cout)
        self.n2, self.c2 = gn(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.c1(nn.functional.silu(self.n1(x))) + self.t(nn.functional.silu(t))[:, :, None, None]
        h = self.c2(nn.functional.silu(self.n2(h)))
        return self.skip(x) + h


class CrossAttention(nn.Module):
    def __init__(self, d: int, ctx: int, heads: int = 8) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(d, d, bias=False)
        self.k, self.v = nn.Linear(ctx, d, bias=False), nn.Linear(ctx, d, bias=False)
        self.o = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        h = self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, -1, h, d // h).transpose(1, 2)  # (B, H, S, d/H)

        q, k, v = split(self.q(x)), split(self.k(c)), split(self.v(c))
        a = torch.softmax(q @ k.transpose(-2, -1) * (d // h) ** -0.5, dim=-1)
        return self.o((a @ v).transpose(1, 2).reshape(b, s, d))


class Transformer2D(nn.Module):
    def __init__(self, c: int, ctx: int = 768) -> None:
        super().__init__()
        self.norm, self.pin, self.pout = gn(c), nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(c), nn.LayerNorm(c), nn.LayerNorm(c)
        self.a1, self.a2 = CrossAttention(c, c), CrossAttention(c, ctx)
        self.geglu, self.ff = nn.Linear(c, 8 * c), nn.Linear(4 * c, c)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        h = self.pin(self.norm(x)).flatten(2).transpose(1, 2)  # (B, HW, C)
        n = self.ln1(h)
        h = h + self.a1(n, n)
        h = h + self.a2(self.ln2(h), ctx)
        u, g = self.geglu(self.ln3(h)).chunk(2, dim=-1)
        h = h + self.ff(u * nn.functional.gelu(g))
        return self.pout(h.transpose(1, 2).reshape(b, c, hh, ww)) + x


class UNetSD15(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        ch = (320, 640, 1280, 1280)
        self.t1, self.t2 = nn.Linear(320, 1280), nn.Linear(1280, 1280)
        self.cin = nn.Conv2d(4, 320, 3, 1, 1)
        self.down = nn.ModuleList()
        skips, cur = [320], 320
        for i, c in enumerate(ch):
            for _ in range(2):
                self.down.append(ResBlock(cur, c))
                cur = c
                self.down.append(Transformer2D(c) if i < 3 else nn.Identity())
                skips.append(c)
            if i < 3:
                self.down.append(nn.Conv2d(c, c, 3, 2, 1))
                skips.append(c)
        self.mid = nn.ModuleList([ResBlock(1280, 1280), Transformer2D(1280), ResBlock(1280, 1280)])
        self.up = nn.ModuleList()
        for i, c in enumerate(reversed(ch)):
            for _ in range(3):
                self.up.append(ResBlock(cur + skips.pop(), c))
                cur = c
                self.up.append(Transformer2D(c) if i > 0 else nn.Identity())
            if i < 3:
                self.up.append(nn.Conv2d(c, c, 3, 1, 1))
        self.nout, self.cout = gn(320), nn.Conv2d(320, 4, 3, 1, 1)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        half = torch.exp(-math.log(10000) * torch.arange(160, dtype=torch.float32) / 160)
        e = timestep[:, None].float() * half[None]
        t = self.t2(nn.functional.silu(self.t1(torch.cat([torch.cos(e), torch.sin(e)], dim=-1))))
        h = self.cin(sample)
        skips = [h]
        mods = iter(self.down)
        for i in range(4):
            for _ in range(2):
                h = next(mods)(h, t)
                m = next(mods)
                h = m(h, ctx) if isinstance(m, Transformer2D) else h
                skips.append(h)
            if i < 3:
                h = next(mods)(h)
                skips.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, t), ctx), t)
        mods = iter(self.up)
        for i in range(4):
            for _ in range(3):
                h = next(mods)(torch.cat([h, skips.pop()], dim=1), t)
                m = next(mods)
                h = m(h, ctx) if isinstance(m, Transformer2D) else h
            if i < 3:
                h = next(mods)(nn.functional.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.cout(nn.functional.silu(self.nout(h)))


# ---- NeRF MLP ---------------------------------------------------------------------------------
class NeRF(nn.Module):
    """Mildenhall et al. (2020), Fig. 7: positions encoded to 63 channels (L = 10), directions
    to 27 (L = 4); 8 ReLU layers of 256 with the input re-concatenated at the fifth; density
    head; a 256 feature layer, then 128 with the view direction, then RGB."""

    def __init__(self) -> None:
        super().__init__()
        self.pts = nn.ModuleList(
            [nn.Linear(63, 256)] + [nn.Linear(256 + (63 if i == 5 else 0), 256) for i in range(1, 8)]
        )
        self.sigma, self.feat = nn.Linear(256, 1), nn.Linear(256, 256)
        self.view, self.rgb = nn.Linear(256 + 27, 128), nn.Linear(128, 3)

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        h = x
        for i, layer in enumerate(self.pts):
            h = torch.relu(layer(torch.cat([x, h], -1) if i == 5 else h))
        rgb = torch.sigmoid(self.rgb(torch.relu(self.view(torch.cat([self.feat(h), d], -1)))))
        return torch.cat([rgb, torch.relu(self.sigma(h))], -1)


# name: (model, example inputs, input names, published parameter count and its source)
PROXIES = {
    "resnet50": (ResNet50, [(1, 3, 224, 224)], ["pixel_values"], 25_557_032, "torchvision docs"),
    "vit_b_16": (ViTB16, [(1, 3, 224, 224)], ["pixel_values"], 86_567_656, "torchvision docs"),
    "sd15_unet": (
        UNetSD15,
        [(1, 4, 64, 64), (1,), (1, 77, 768)],
        ["sample", "timestep", "encoder_hidden_states"],
        859_520_964,
        "diffusers UNet2DConditionModel, runwayml/stable-diffusion-v1-5",
    ),
    "nerf_mlp": (NeRF, [(1, 63), (1, 27)], ["points", "view_dirs"], None, "no published count"),
}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {"torch": torch.__version__, "onnx": onnx.__version__, "opset": 17, "models": {}}
    for name, (cls, shapes, names, published, source) in PROXIES.items():
        with torch.device("meta"):
            model = cls().eval()
        n_params = sum(p.numel() for p in model.parameters())
        if published is not None and n_params != published:
            print(f"{name}: {n_params} parameters, published {published}", file=sys.stderr)
            return 1
        model = model.to_empty(device="cpu")  # export needs real storage
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():  # distinct values: the exporter merges equal constants
            for t in [*model.parameters(), *model.buffers()]:
                if t.is_floating_point():
                    t.uniform_(0.5, 1.5, generator=gen)
        args = tuple(
            torch.zeros(s, dtype=torch.int64) if n == "timestep" else torch.zeros(s)
            for s, n in zip(shapes, names, strict=True)
        )
        path = OUT / f"{name}.onnx"
        torch.onnx.export(
            model,
            args,
            str(path),
            export_params=False,
            dynamo=False,
            opset_version=17,
            input_names=names,
            output_names=["output"],
            dynamic_axes={n: {0: "batch"} for n in [*names, "output"]},
        )
        manifest["models"][name] = {  # type: ignore[index]
            "params": n_params,
            "published_params": published,
            "params_source": source,
            "input_shapes": dict(zip(names, shapes, strict=True)),
            "bytes": path.stat().st_size,
        }
        print(f"{name}: {n_params:,} parameters, {path.stat().st_size:,} bytes")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
