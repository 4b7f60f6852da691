"""Weight-only int8 / int4 GEMMs (issue 8): 16-row MMAs that dequantise in registers, not
64-row tiles; group scales in the bytes; the embedding table and (but for gpt-fast) the LM head
stay 16-bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hetsim.cost.power import onchip_j_per_bit
from hetsim.cost.roofline import op_cost
from hetsim.cost.weight_only import DEQUANT_OPS_PER_WEIGHT, lane_rate
from hetsim.hardware.loader import get_hardware
from hetsim.sim.frameworks import get_profile
from hetsim.sim.inference import Workload, analyze, sweep
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops, weight_bytes
from hetsim.workload.registry import get_model

GPUS = ["a100-80gb-sxm", "a40", "b200", "gb200", "gh200", "h100-pcie", "h100-sxm", "h200", "l40s", "mi210",
        "mi300x"]  # fmt: skip
GEMMS = ("qkv_proj", "out_proj", "ffn_up", "ffn_down")
GPT_FAST = get_profile("gpt-fast").serving


def test_lead_example_is_memory_bound() -> None:
    """llama2-7b int4 at batch 1 on an A100 (gpt-fast): every decode GEMM was labelled
    compute-bound (64-row tiles: a ~1.1 ms/step floor for the qkv GEMMs alone), TPOT 6.77 ms,
    MBU 24%. The weights stream at 4.25 bits each, so a GEMM takes about its bytes' time."""
    r = analyze("llama2-7b", "a100-80gb-sxm", Workload(1, 10, 200), Precision.of("int4"),
                serving=GPT_FAST)  # fmt: skip
    gemms = [o for o in r.ops if o.phase == "decode" and o.name in GEMMS]
    assert gemms and all(o.bound == "memory" for o in gemms), [(o.name, o.bound) for o in gemms]
    assert r.tpot_s < 5.0e-3 and r.mbu > 0.35, (r.tpot_s, r.mbu)


@pytest.mark.parametrize("calibrated", [True, False])
@pytest.mark.parametrize("hw", GPUS)
def test_narrower_weights_decode_faster_at_small_batch(hw: str, calibrated: bool) -> None:
    """At batch 1-8 a decode step streams the weights: int4 < int8 < fp16 on every GPU preset
    (before, int4 was slower than int8 on every one: its 64-row-tile compute floor)."""
    dev = get_hardware(hw, calibrated=calibrated)
    for b in (1, 8):
        w = Workload(b, 128, 32)
        t = [analyze("llama2-7b", dev, w, Precision.of(d)).tpot_s for d in ("fp16", "int8", "int4")]
        assert t[2] < t[1] < t[0], (hw, calibrated, b, t)
        for d in ("int8", "int4"):
            r = analyze("llama2-7b", dev, w, Precision.of(d))
            bounds = {o.name: o.bound for o in r.ops if o.phase == "decode" and o.name in GEMMS}
            # streaming the weights, never the dequantisation's compute: from the memory, or on
            # a multi-tier system (gh200's auto offloads) over the link a share streams across
            assert set(bounds.values()) <= {"memory", "link"}, (hw, calibrated, b, d, bounds)


def test_dequantisation_is_charged_on_the_vector_lanes() -> None:
    """The dequantisation is not free: with a 100x slower vector unit, the int4 decode GEMM is
    compute-bound and takes at least weights x ops per weight / lane rate."""
    dev = get_hardware("h100-sxm")
    side = dev.primary
    vec = side.unit_for("vector")
    slow = dataclasses.replace(vec, peak_flop_per_s={k: v / 100 for k, v in vec.peak_flop_per_s.items()})
    prec = Precision.of("int4")
    op = next(o for o in build_ops(get_model("llama2-7b"), prec, phase="decode", batch=1.0, q_len=1.0,
                                   context=128.0) if o.name == "ffn_up")  # fmt: skip
    unit = side.unit_for("matrix")
    fast_c = op_cost(op, unit, side.memory, prec, kernels=dev.kernels, vector=vec)
    slow_c = op_cost(op, unit, side.memory, prec, kernels=dev.kernels, vector=slow)
    floor = op.gemm_n * op.gemm_k * DEQUANT_OPS_PER_WEIGHT["int4"] / lane_rate(slow) * op.count
    assert fast_c.bound == "memory" and slow_c.bound == "compute"
    assert float(slow_c.time_s) >= floor > float(fast_c.time_s)


def test_group_scales_and_16_bit_embeddings_are_counted() -> None:
    m = get_model("llama3-8b")  # 128,256-token vocabulary: its embedding and head are 1.05 GB each at 16 bits
    table = head = m.vocab_size * m.d_model
    dec = m.decoder_params
    assert weight_bytes(m, Precision.of("fp16")) == pytest.approx(2 * m.params)
    sixteen = 2 * (table + head)
    assert weight_bytes(m, Precision.of("int4")) == pytest.approx(dec * 4.25 / 8 + sixteen, rel=1e-4)
    g32 = Precision.of("int4", weight_group=32)  # gpt-fast's g32: bf16 scale + zero per 32 weights = 5 bits
    assert weight_bytes(m, g32) == pytest.approx(dec * 5 / 8 + 2 * (table + head), rel=1e-4)
    gpt_fast = dataclasses.replace(Precision.of("int4", weight_group=32), quantized_head=True)
    assert weight_bytes(m, gpt_fast) == pytest.approx(dec * 5 / 8 + 2 * table + head * 5 / 8, rel=1e-4)
    assert weight_bytes(m, Precision.of("int8")) == pytest.approx(dec + 2 * (table + head), rel=1e-4)
    # the decode LM head reads 16-bit weights and is no weight-only GEMM
    r = analyze(m, "h100-sxm", Workload(1, 128, 16), Precision.of("int4"))
    head_op = next(o for o in r.ops if o.phase == "decode" and o.name == "lm_head")
    assert head_op.weight_bytes == pytest.approx(2 * head)
    # gpt-fast quantises it (every nn.Linear): 4.25 bits per weight
    r = analyze(m, "h100-sxm", Workload(1, 128, 16), Precision.of("int4"), serving=GPT_FAST)
    head_op = next(o for o in r.ops if o.phase == "decode" and o.name == "lm_head")
    assert head_op.weight_bytes == pytest.approx(head * 4.25 / 8)


def test_weight_only_sweep_is_monotone_and_bounded() -> None:
    """Bigger batch never faster, MBU and MFU at most 1, for int4 / int8 and MoE, calibrated
    and not, through prefill sizes where the large-M kernel takes over."""
    b = np.array([1, 2, 3, 8, 15, 16, 17, 63, 64, 65, 128, 256], dtype=float)
    for hw in ("a100-80gb-sxm", "l40s", "mi300x"):
        for cal in (True, False):
            dev = get_hardware(hw, calibrated=cal)
            for model in ("llama2-7b", "mixtral-8x7b"):
                for w in ("int8", "int4"):
                    s = sweep(model, dev, b, 64, 16, Precision.of(w), policy="primary")
                    assert np.all(np.diff(s.tpot_s) >= -1e-12 * s.tpot_s[1:]), (hw, cal, model, w, s.tpot_s)
                    assert np.all(np.diff(s.ttft_s) >= -1e-12 * s.ttft_s[1:]), (hw, cal, model, w, s.ttft_s)
                    assert np.all((s.mbu > 0) & (s.mbu <= 1 + 1e-12) & (s.mfu > 0) & (s.mfu <= 1 + 1e-12))


def test_cli_weight_group(run_cli) -> None:  # type: ignore[no-untyped-def]
    import json

    args = ("analyze", "-m", "llama2-7b", "-H", "a100-80gb-sxm", "--weight-dtype", "int4", "--json")
    g128 = json.loads(run_cli(*args).out)["weight_bytes"]
    j32 = json.loads(run_cli(*args, "--weight-group", "32").out)
    g32 = j32["weight_bytes"]
    assert j32["precision"].startswith("Wint4g32/")  # a non-default group is named
    linear = get_model("llama2-7b").decoder_params
    assert g32 - g128 == pytest.approx(linear * (1.0 - 0.25) / 8, rel=1e-6)  # 1 bit vs 0.25 bit per weight
    bad = run_cli(*args, "--weight-group", "0")
    assert bad.code == 2 and "--weight-group" in bad.err and "Traceback" not in bad.err


def test_dequantisation_energy_is_counted() -> None:
    """Each dequantising lane instruction costs one 16-bit flop of the vector unit (every bit read
    also crosses the chip: cost/power.py::ONCHIP_J_PER_BIT)."""
    dev = get_hardware("a100-80gb-sxm")
    side = dev.primary
    vec, unit = side.unit_for("vector"), side.unit_for("matrix")
    prec = Precision.of("int4")
    op = next(o for o in build_ops(get_model("llama2-7b"), prec, phase="decode", batch=1.0, q_len=1.0,
                                   context=128.0) if o.name == "ffn_down")  # fmt: skip
    c = op_cost(op, unit, side.memory, prec, kernels=dev.kernels, vector=vec)
    per_bit = side.memory.energy_j_per_bit + onchip_j_per_bit(dev.kernels)
    dense = op.flop * unit.energy_per_flop("fp16") + op.bytes * 8 * per_bit
    lane = op.gemm_n * op.gemm_k * DEQUANT_OPS_PER_WEIGHT["int4"] * vec.energy_per_flop("fp16")
    assert float(c.energy_j) == pytest.approx((dense + lane) * op.count)


def test_block_and_group_scales_from_formats_and_checkpoints() -> None:
    from hetsim.workload.quantization import precision_from_hf_config

    assert Precision.of("fp4").weight_bits == 4.5  # NVFP4: E4M3 scale per 16
    assert Precision.of("int4").weight_bits == 4.25 and Precision.of("int4", weight_group=-1).weight_bits == 4
    assert Precision.of("int8").weight_bits == 8 and Precision.of("fp8").weight_bits == 8
    # fp16 weights under fp32 GEMMs are mixed precision, not weight-only quantisation
    assert not Precision.of("fp16", activation="fp32").weight_only and Precision.of("int4").weight_only
    base = {"model_type": "llama", "torch_dtype": "bfloat16"}

    def bits(q: dict[str, object]) -> float:
        return precision_from_hf_config({**base, "quantization_config": q}).weight_bits

    assert bits({"quant_method": "mxfp4"}) == 4.25  # E8M0 scale per 32
    assert bits({"quant_method": "gptq", "bits": 4, "group_size": 32}) == 5.0
    assert bits({"quant_method": "gptq", "bits": 4, "group_size": -1}) == 4.0
    weights = {"num_bits": 4, "type": "int", "strategy": "channel"}
    ct = {"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": weights}}}
    assert bits(ct) == 4.0


def test_the_weight_only_stream_knob_slows_the_packed_stream_and_only_it() -> None:
    """The candidate ``weight_only_stream_efficiency`` (rejected by leave one source out, so 0 in
    every overlay) divides the packed weights' streaming rate: a memory-bound decode GEMM's
    memory time grows by 1 / knob, its time never falls, and 16-bit GEMMs are untouched."""
    dev = get_hardware("a100-80gb-sxm")
    assert dev.kernels is not None and dev.kernels.weight_only_stream_efficiency == 0.0
    slow = dataclasses.replace(dev.kernels, weight_only_stream_efficiency=0.5)
    side = dev.primary

    def cost(prec: Precision, kp: object) -> tuple[float, float]:
        op = next(o for o in build_ops(get_model("llama2-7b"), prec, phase="decode", batch=1.0, q_len=1.0,
                                       context=512.0) if o.name == "ffn_up")  # fmt: skip
        c = op_cost(op, side.unit_for("matrix"), side.memory, prec, kernels=kp,  # type: ignore[arg-type]
                    vector=side.unit_for("vector"))  # fmt: skip
        return float(c.time_s), float(c.memory_s)

    (t0, m0), (t1, m1) = cost(Precision.of("int4"), dev.kernels), cost(Precision.of("int4"), slow)
    assert m1 == pytest.approx(2 * m0) and t1 > t0
    assert cost(Precision(), dev.kernels) == cost(Precision(), slow)
