"""Impossible figures (issue 25): utilisation above 1 for mixed weight / activation types, an
infinite ratio printed for a CNN, a side reported a few bytes over its capacity. A property
test over mixed data types on every preset, calibrated and not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hetsim.analysis.result import SideResult
from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware, list_hardware
from hetsim.sim.inference import Workload, analyze, sweep
from hetsim.workload.dtypes import Precision

PRESETS = sorted(d.name for d in list_hardware())
ONE = 1 + 1e-9
# an attention-heavy user model (few, narrow layers; long prompts make attention dominate)
TINY = (
    "name: tiny-long\nn_layers: 4\nd_model: 1024\nn_heads: 16\nn_kv_heads: 16\nhead_dim: 128\nd_ff: 2048\n"
    "vocab_size: 32000\nmax_seq_len: 32768\n"
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("m") / "tiny.yaml"
    path.write_text(TINY)
    return str(path)


@pytest.mark.parametrize("calibrated", [True, False])
def test_fp32_weights_bf16_activations_prefill_mfu(tiny: str, calibrated: bool) -> None:
    """The reported case: prefill MFU 1.017 on h100-sxm with fp32 weights and bf16 activations
    (batch 6, prompt 13,086, output 1). bf16 attention runs at twice the fp32 GEMM rate the MFU
    is measured against; it now counts at that rate (cost.roofline.reference_flop)."""
    r = analyze(tiny, get_hardware("h100-sxm", calibrated=calibrated), Workload(6, 13086, 1),
                Precision.of("fp32", "bf16"))  # fmt: skip
    assert 0 < r.mfu <= 1.0


def test_cnn_article_check_has_no_infinite_ratio(run_cli) -> None:  # type: ignore[no-untyped-def]
    import json

    onnx = Path(__file__).resolve().parents[2] / "src" / "hetsim" / "ingest" / "proxies" / "resnet50.onnx"
    res = run_cli("analyze", "-m", str(onnx), "-H", "h100-sxm")
    assert res.code == 0 and "infx" not in res.out and "no normalisation flop" in res.out
    res = run_cli("analyze", "-m", str(onnx), "-H", "h100-sxm", "--json")
    chk = json.loads(res.out)["article_check"]
    assert chk["flop_matmul_over_normalisation"] is None and chk["flop_matmul_over_elementwise"] > 1


def test_a_full_side_is_reported_full_not_over() -> None:
    s = SideResult("hbm", "HBM3", 96e9, 96000000000.00002, True, 0.0, 0.0, 0.0)
    assert s.resident_bytes == 96e9
    over = SideResult("hbm", "HBM3", 96e9, 97e9, False, 0.0, 0.0, 0.0)
    assert over.resident_bytes == 97e9  # a real overflow is kept as it is


DTYPES = st.sampled_from(["fp32", "bf16", "fp16", "fp8", "int8", "int4"])


@settings(max_examples=40, deadline=None)
@given(
    hw=st.sampled_from(PRESETS),
    calibrated=st.booleans(),
    weight=DTYPES,
    act=st.sampled_from(["fp32", "bf16", "fp16"]),
    kv=st.sampled_from(["fp32", "bf16", "fp16", "fp8", "int8"]),
    model=st.sampled_from(["llama3-8b", "mistral-7b", "gpt-j-6b", "tiny"]),
    p=st.integers(1, 16384),
    g=st.integers(1, 256),
)
def test_mixed_types_never_give_impossible_figures(
    tiny: str, hw: str, calibrated: bool, weight: str, act: str, kv: str, model: str, p: int, g: int
) -> None:
    """Every preset, calibrated and not, any weight / activation / KV types it can run: MFU and
    MBU in (0, 1], finite times, a bigger batch never faster per step, and every side that fits
    holds at most its capacity."""
    dev = get_hardware(hw, calibrated=calibrated)
    prec = Precision.of(weight, act, kv)
    name = tiny if model == "tiny" else model
    try:
        r = sweep(name, dev, np.array([1.0, 2.0, 8.0, 32.0]), p, g, prec, policy="primary")
    except ConfigError:
        assume(False)  # a type this device has no units for (FP8 on an A100): refused, not priced
        return
    where = f"{hw} ({dev.calibration}) {model} {prec.label} P={p} G={g}"
    assert np.all(np.isfinite(r.tpot_s)) and np.all(np.isfinite(r.ttft_s)), where
    assert np.all((r.mfu > 0) & (r.mfu <= ONE)), f"{where}: mfu {r.mfu}"
    assert np.all((r.mbu >= 0) & (r.mbu <= ONE)), f"{where}: mbu {r.mbu}"
    assert np.all(np.diff(r.tpot_s) >= -1e-12 * r.tpot_s[1:]), f"{where}: tpot {r.tpot_s}"
    one = analyze(name, dev, Workload(1, p, g), prec)
    assert 0 < one.mfu <= ONE and 0 <= one.decode.mfu <= ONE, where
    for s in one.sides:
        assert not s.fits or s.resident_bytes <= s.capacity_bytes, (where, s)
