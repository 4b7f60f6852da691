"""Issue 8's physics on the placed paths (issue 7): over every preset with more than one memory
side, calibrated and not, and over perturbed user-style hardware files, under ``auto``,
``offload`` and every policy that applies: MFU and MBU in (0, 1], a larger batch never makes a
decode step (or the prefill) faster, more bandwidth never makes a run slower.

``auto`` is the fastest of its candidates that fits (placement/choose.py), so it decodes no
faster at a larger batch (the test at the end). A fill is checked per placement regime: it
puts the activation workspace on the primary while it fits there and on the next side beyond,
which frees the primary for weights, so the first batch whose workspace leaves the primary can
decode faster than the batch before (a6000-offload at a quarter of its capacity, llama3-8b
P=355 G=2: TPOT 660 ms at B=64, 621 ms at B=128); a workspace side weighed like a policy
would remove it (an open problem, docs/placement.md)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import hetsim
from hetsim.errors import HetsimError
from hetsim.hardware.loader import device_from_mapping, list_hardware, with_calibration
from hetsim.hardware.spec import Device
from hetsim.placement.policies import fill_policy_names, workspace_sides
from hetsim.sim.inference import Options, footprint, sweep
from hetsim.workload.dtypes import Precision
from tests.sim.test_physics_every_preset import BATCHES, ONE, PRESET_DIR, _perturbed

MULTI = sorted(d.name for d in list_hardware() if len(d.sides) > 1)
FILLS = tuple(fill_policy_names())  # offload, pim-attention, hierarchical, the layer-offload engines, ...
SEARCHES = ("h2m2", "attention-first", "naive-sublayer", "oracle")
# hbm-pim is left out of the perturbed property while a known problem there stays pinned as a
# strict xfail below: offload's weights' share when the HBM is short of room (doubling every
# side's bandwidth makes a run slower)
PERTURBED = [h for h in MULTI if h != "hbm-pim"]
MODELS = ["llama2-7b", "mixtral-8x7b", "llama3-8b", "gpt-j-6b", "mistral-7b", "llama2-70b"]


def _sweep(model: str, dev: Device, p: int, g: int, policy: str) -> hetsim.SweepResult | None:
    try:
        return sweep(model, dev, BATCHES, p, g, policy=policy)
    except HetsimError:
        return None  # the policy does not apply to this system (it says why; tested elsewhere)


def _check(dev: Device, model: str, p: int, g: int, policy: str) -> hetsim.SweepResult | None:
    r = _sweep(model, dev, p, g, policy)
    if r is None:
        return None
    where = f"{dev.name} ({dev.calibration}) {policy} {model} P={p} G={g}"
    assert np.all(np.isfinite(r.tpot_s)) and np.all(r.tpot_s > 0), where
    assert np.all(np.isfinite(r.ttft_s)) and np.all(r.ttft_s > 0), where
    assert np.all((r.mfu > 0) & (r.mfu <= ONE)), f"{where}: mfu {r.mfu}"
    assert np.all((r.mbu > 0) & (r.mbu <= ONE)), f"{where}: mbu {r.mbu}"
    fp = footprint(hetsim.get_model(model), Precision(), np.asarray(BATCHES, dtype=float), p + g, Options(),
                   live_len=p)  # fmt: skip
    ws = workspace_sides(dev, fp["activations"])
    # batches that kept the same policy (auto) and the same workspace side (the fills)
    same = (r.policy[1:] == r.policy[:-1]) & (ws[1:] == ws[:-1])
    for name, t in (("tpot", r.tpot_s), ("ttft", r.ttft_s)):
        ok = (np.diff(t) >= -1e-12 * t[1:]) | ~same
        assert np.all(ok), f"{where}: {name} {t} under {list(r.policy)}"
    return r


@pytest.mark.parametrize("calibrated", [True, False])
@pytest.mark.parametrize("hw", MULTI)
def test_placed_grid_every_multi_side_preset(hw: str, calibrated: bool) -> None:
    dev = hetsim.get_hardware(hw, calibrated=calibrated)
    checked = 0
    for policy in ("auto", *FILLS):
        for model, p, g in (("llama2-7b", 512, 64), ("mixtral-8x7b", 1, 154), ("llama2-70b", 2048, 256)):
            checked += _check(dev, model, p, g, policy) is not None
    assert checked >= 6  # auto, offload and hierarchical apply to every multi-side preset


@pytest.mark.parametrize("hw", ["h2m2", "gh200", "hbm-pim"])
def test_search_policies_batch_and_bounds(hw: str) -> None:
    """The search policies (analyze only): MFU and MBU <= 1 and TPOT, TTFT never falling
    with the batch, llama2-70b 1024 + 128 (spills on every one of these)."""
    dev = hetsim.get_hardware(hw)
    for policy in SEARCHES:
        prev: tuple[float, float] | None = None
        for b in (1, 4, 16):
            try:
                r = hetsim.analyze("llama2-70b", dev, hetsim.Workload(b, 1024, 128), policy=policy)
            except HetsimError:
                break
            assert 0 < r.mfu <= ONE and 0 < r.mbu <= ONE, (hw, policy, b, r.mfu, r.mbu)
            if prev is not None:
                assert r.tpot_s >= prev[0] * (1 - 1e-12), (hw, policy, b, "tpot")
                assert r.ttft_s >= prev[1] * (1 - 1e-12), (hw, policy, b, "ttft")
            prev = (r.tpot_s, r.ttft_s)


@settings(max_examples=25, deadline=None)
@given(
    hw=st.sampled_from(MULTI),
    policy=st.sampled_from(("auto", *FILLS)),
    calibrated=st.booleans(),
    model=st.sampled_from(MODELS),
    p=st.integers(1, 4096),
    g=st.integers(2, 1024),
)
def test_random_placed_configurations(
    hw: str, policy: str, calibrated: bool, model: str, p: int, g: int
) -> None:
    _check(hetsim.get_hardware(hw, calibrated=calibrated), model, p, g, policy)


@settings(max_examples=25, deadline=None)
@given(
    hw=st.sampled_from(PERTURBED),
    policy=st.sampled_from(("auto", *FILLS)),
    bw=st.floats(0.25, 4.0),
    peak=st.floats(0.25, 4.0),
    sms=st.floats(0.25, 2.0),
    cap=st.sampled_from((0.25, 1.0, 4.0)),
    model=st.sampled_from(MODELS),
    p=st.integers(1, 2048),
    g=st.integers(2, 512),
    calibrated=st.booleans(),
)
def test_perturbed_user_yamls_placed(
    hw: str, policy: str, bw: float, peak: float, sms: float, cap: float, model: str, p: int, g: int,
    calibrated: bool,
) -> None:  # fmt: skip
    """User-style copies of the multi-side presets (every side's bandwidth, peaks, SM count and
    capacity scaled): the bounds and the batch order hold, and doubling every side's bandwidth
    (same calibration, re-placed) is never slower where the run fits both."""
    raw = yaml.safe_load((PRESET_DIR / f"{hw}.yaml").read_text())
    dev = device_from_mapping(_perturbed(raw, bw, peak, sms, cap), "user.yaml")
    faster = device_from_mapping(_perturbed(raw, bw * 2, peak, sms, cap), "user.yaml")
    if calibrated:
        dev, faster = with_calibration(dev), with_calibration(faster)
    a = _check(dev, model, p, g, policy)
    if a is None:
        return
    b = _sweep(model, faster, p, g, policy)
    assert b is not None
    both = a.fits & b.fits
    assert np.all(b.e2e_latency_s[both] <= a.e2e_latency_s[both] * (1 + 1e-9)), (a.policy, b.policy)


@pytest.mark.xfail(
    strict=True,
    reason="known bug: on a user copy of hbm-pim at 4x bandwidth, doubling every side's bandwidth "
    "makes offload slower at B=1 (e2e 0.0591224 -> 0.0591286 s): the HBM, short of room, gives the "
    "weights room / (weights + KV), and as the balance grows the small KV cache spills and pays the "
    "link's latency per kernel",
)
def test_doubling_bandwidth_on_hbm_pim_known_case() -> None:
    """The counterexample hypothesis found (uncalibrated, auto = offload, mixtral-8x7b, P=1,
    G=10). At 4x the weights keep their balance (79%) and the 1.4 MB KV cache stays on HBM; at
    8x the balance (88%) exceeds what the HBM holds, the weights take room / (weights + KV) =
    86% and the KV cache, whose own balance is 100% (a per-kernel link latency against a few
    bytes), spills 6% onto the PIM side. A rule that gives up the same fraction of each
    group's own balance (weights b x f, KV kvb x f) fixes it (0.0591224 -> 0.0591019 s) but
    makes the share depend on the bandwidths where the HBM is full, and a longer run of the
    property found 7 new counterexamples with it (up to 2e-4: hbm-pim llama2-70b, a6000-offload
    gpt-j-6b 9e-5), so it was not kept. Nor was keeping a KV cache whole whose own balance is
    100% (fixes this case, but it takes the full-length KV's room from the weights at every
    step, while the KV spills only at the last ones: a 2x-bandwidth hbm-pim copy, llama2-70b
    B=8 P=122 G=242, got 2e-3 slower). The right share weighs the weights' reads at every
    step against the KV's spill at the late ones: the priced run, not a closed form."""
    test_perturbed_user_yamls_placed.hypothesis.inner_test(  # type: ignore[attr-defined]
        hw="hbm-pim",
        policy="auto",
        bw=4.0,
        peak=1.0,
        sms=1.0,
        cap=1.0,
        model="mixtral-8x7b",
        p=1,
        g=10,
        calibrated=False,
    )


def test_ttft_batch_order_on_hbm_pim_known_case() -> None:
    """The counterexample hypothesis found (a user copy of hbm-pim at 2x bandwidth and a
    quarter of the capacity, calibrated, auto = offload, llama2-7b P=2 G=2): the weights'
    share on HBM is 62.6% at B=16 and 65.1% at B=32, and the prefill's qkv projection reads
    faster at the larger share (0.711 -> 0.696 ms). The split is planned on the decode's
    kernels (``placed_plan.kernel_sizes``), and at B <= 16 the calibrated model prices a decode
    GEMM as a small-M GEMV streaming at 0.868 of the DRAM rate, not 0.896: the plan reads that
    rate as seconds that do not scale with the share (1.7 us a kernel against 0.17 us at B=17),
    which lowers the balance. Planning on the right rate narrows the jump, but no single split
    planned on one phase keeps the other phase's time monotone in the batch. The prefill now
    has a split of its own, planned on its kernels, and the decode's start moves the weights
    to the decode's (a step-0 re-map charged to the end-to-end time): TTFT 3.555 ms at B=16,
    3.594 ms at B=32."""
    raw = yaml.safe_load((PRESET_DIR / "hbm-pim.yaml").read_text())
    dev = with_calibration(device_from_mapping(_perturbed(raw, 2.0, 1.0, 1.0, 0.25), "user.yaml"))
    for policy in ("auto", "offload"):
        r = _check(dev, "llama2-7b", 2, 2, policy)
        assert r is not None and set(r.policy) == {"offload"}, r.policy


def test_doubling_bandwidth_on_a6000_offload_known_case() -> None:
    """The counterexample a longer run of the perturbed property found (calibrated, auto =
    offload, llama2-7b P=1 G=156, 3x bandwidth, half the peaks and SMs, a quarter of the
    capacity: e2e 66.82729 -> 66.82754 s at B=128). The KV cache's balance read the GPU at its
    DRAM rate, but the calibrated kernel model caps attention's reads at the SMs' loads in
    flight (half the SMs here), so doubling the DRAM rate moved KV onto a GPU that read it no
    faster; the balance now reads the capped rate (placement/balance.py)."""
    test_perturbed_user_yamls_placed.hypothesis.inner_test(  # type: ignore[attr-defined]
        hw="a6000-offload",
        policy="auto",
        bw=3.0,
        peak=0.5,
        sms=0.5,
        cap=0.25,
        model="llama2-7b",
        p=1,
        g=156,
        calibrated=True,
    )


def test_ttft_batch_order_on_gh200_moe_known_case() -> None:
    """Drawn by ``test_random_placed_configurations`` (gh200 uncalibrated, auto = offload,
    mixtral-8x7b P=16 G=2): TTFT 25.2566 ms at B=1, 25.2511 ms at B=2. The weights' split was
    planned on the decode's kernels, and a mixture-of-experts decode reads 2 experts at B=1,
    about 4 at B=2, so the split moved (90.9% -> 89.5% on HBM) and the prefill, which reads
    every expert, ran faster at B=2's split. The prefill now has a split of its own."""
    r = _check(hetsim.get_hardware("gh200", calibrated=False), "mixtral-8x7b", 16, 2, "offload")
    assert r is not None and np.all(np.diff(r.ttft_s) >= 0), r.ttft_s
    _check(hetsim.get_hardware("gh200", calibrated=False), "mixtral-8x7b", 16, 2, "auto")


def test_tpot_batch_order_layer_offload_on_hbm_pim_known_case() -> None:
    """Found by a long run of the random property (hbm-pim uncalibrated, layer-offload,
    llama3-8b P=3698 G=304): TPOT 11.384 ms at B=32, 11.281 ms at B=64. layer-offload filled
    the KV cache whole onto the HBM while it fit; at B=64 it spilled 53% onto the PIM side,
    and attention read its KV over both paths at once (5.36 -> 5.19 ms for twice the bytes).
    The KV cache now keeps offload's balanced share on the primary (engine_policies.py)."""
    _check(hetsim.get_hardware("hbm-pim", calibrated=False), "llama3-8b", 3698, 304, "layer-offload")


def test_ttft_batch_order_cpu_experts_on_flexgen_copy_known_case() -> None:
    """Found by a long run of the perturbed property (a flexgen-t4 copy: 0.58x bandwidth, 3.3x
    peaks, 1.27x SMs, a quarter of the capacity; cpu-experts, llama3-8b P=1417 G=174): TTFT
    33,890 s at B=64, 22,126 s at B=128. The experts that did not fit the host's DRAM (its
    room taken by the B=128 workspace) spilled onto the GPU and were computed there, far
    faster than the host CPU; they now stay the CPU's, read from the next side (cpu_policies.py)."""
    raw = yaml.safe_load((PRESET_DIR / "flexgen-t4.yaml").read_text())
    copy = _perturbed(raw, 0.5827461819912946, 3.3071588649781805, 1.267847764630926, 0.25)
    dev = device_from_mapping(copy, "user.yaml")
    _check(dev, "llama3-8b", 1417, 174, "cpu-experts")


@pytest.mark.xfail(
    strict=True,
    reason="known problem (identical on main; found by a long run of the perturbed property): "
    "layer-offload water-fills the weights into the capacity sides in turn, so on an sn40l copy a larger "
    "batch's KV pushes 4% of qkv from HBM onto DDR, read beside the HBM part, and the step gets faster "
    "(TPOT 2.06693 s at B=3, 2.06669 s at B=4)",
)
def test_tpot_batch_order_layer_offload_on_sn40l_copy_known_case() -> None:
    """An sn40l copy (0.30x bandwidth, 1.17x peaks, 0.32x SMs, a quarter of the capacity,
    uncalibrated), layer-offload, llama2-70b P=1213 G=15: SRAM is the primary, HBM and DDR
    hold the layers. The KV cache's room on HBM at B=4 leaves qkv 96% there, 4% on DDR, and
    the two streams to the SRAM run at once (qkv 22.31 -> 21.38 ms a step). A fill that
    balances a group across the sides that stream it would remove it, but would move the
    page-cache semantics of the offload rows (host DRAM, then the drive) that layer-offload
    prices; left for a planned change."""
    raw = yaml.safe_load((PRESET_DIR / "sn40l.yaml").read_text())
    copy = _perturbed(raw, 0.3025467592986664, 1.1688355576007057, 0.3248545200209099, 0.25)
    _check(device_from_mapping(copy, "user.yaml"), "llama2-70b", 1213, 15, "layer-offload")


def test_auto_batch_order_across_the_switch_from_primary() -> None:
    """When auto was primary wherever the footprint fit the primary side, the first batch that
    spilled decoded faster under offload than primary had one batch earlier (gh200
    uncalibrated, mixtral-8x7b P=1 G=154: TPOT 27.86 ms at B=64, 25.54 ms at B=128). auto is
    now the fastest candidate that fits, offload at every batch here."""
    r = sweep("mixtral-8x7b", hetsim.get_hardware("gh200", calibrated=False), BATCHES, 1, 154)
    assert set(r.policy) == {"offload"}
    assert np.all(np.diff(r.tpot_s) >= 0), r.tpot_s
