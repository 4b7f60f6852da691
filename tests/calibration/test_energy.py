"""The board power model scored on published power and energy rows
(data/measurements/published/energy_published.csv): the committed knob is the fit's, and the fitted and
held-out errors stay at their recorded levels (docs/calibration.md, "Energy")."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from hetsim.calibration.energy import fit_power, leave_one_gpu_out, score_energy
from hetsim.calibration.measurements import published, read_measurements
from hetsim.calibration.steady import steady_state
from hetsim.cost.power import ACTIVE_POWER_FRACTION, ONCHIP_J_PER_BIT
from tests.conftest import CliResult

FILE = published("energy_published.csv")
V3 = published("mlenergy_leaderboard_v3.csv")


@pytest.fixture(scope="module")
def rows():  # type: ignore[no-untyped-def]
    return read_measurements([FILE, V3])[0]


def test_the_committed_knobs_are_the_fit_on_the_stated_subset(rows) -> None:  # type: ignore[no-untyped-def]
    fraction, onchip = fit_power(rows)
    assert fraction == pytest.approx(ACTIVE_POWER_FRACTION, abs=0.003)
    assert onchip == pytest.approx(ONCHIP_J_PER_BIT, abs=0.1e-12)


def test_every_energy_row_is_scored_with_a_fitted_and_held_out_split(rows) -> None:  # type: ignore[no-untyped-def]
    assert not score_energy(read_measurements([FILE])[0]).skipped
    rep = score_energy(rows)
    assert {s.role for s in rep.scores} == {"fitted", "held-out"}
    fitted = {(s.row.hardware, s.row.metric) for s in rep.scores if s.role == "fitted"}
    assert fitted == {(h, "avg_power") for h in ("a100-80gb-sxm", "a40", "h100-sxm", "b200")}


def test_errors_stay_at_their_recorded_levels(rows) -> None:  # type: ignore[no-untyped-def]
    """Levels recorded when the knob was refitted with the eager host-dispatch term in the
    rows' latency: A100 power 13.8% and A40 26.0% fitted (14.9%, 32.0% before); H100 J/token
    27.8% held out (33.3% before; prompt lengths not stated, assumed 256/256; one source's two
    rows differ 1.7x by software version alone).

    Raised once, 0.280 -> 0.283 (27.8% -> 28.1%), by a kernel-model change that held-out kernel
    rows support, not to make a change pass: norms and SiLU*mul priced as row kernels with the
    vector knobs refitted on A100/A40 (held-out kernels 13.4% -> 9.6%). The refit lowers the
    flat kernels' floor (a residual add: 3.2 -> 1.4 us on H100; Vidur's flat phi-2 GELU rows
    measure 1-2 us), which shortens the batch-64 and batch-128 H100 decodes 0.5-1.5%; those
    rows were already predicted low (the two vLLM rows 41% and 65%, CPU-side scheduling).

    Raised a second time, 0.283 -> 0.335, by vLLM V1's per-sequence host time (fitted on
    ML.ENERGY v3's serving rows, none of these): the ML.ENERGY blog's vLLM 0.11.1 row moves from
    0.49x to 0.77x of its 0.12 J/token, but Serial Alice's batch-128 Mistral-7B row (vLLM
    AsyncLLMEngine, version not stated; 0.0497 J/token) goes from ~0.9x to 1.41x: that run does
    not show the per-sequence time ML.ENERGY's do. The blog's vLLM 0.5.4 row matches the V1
    record too (the registry reads "vllm" without a version split).

    Moved a third time by the on-chip energy per bit read (fitted with the floor on ML.ENERGY
    v1 and v3 power): A100 power 13.8% -> 18.0% and A40 26.0% -> 18.0% fitted (one floor for
    both, now shared with H100 and B200); these four H100 J/token rows 33.5% -> 38.6% (Serial
    Alice's batch-128 row 1.41x -> 1.68x; the blog's rows stay under), while v3's 94 H100 J/token
    rows go 33.9% -> 14.4% and its 92 B200 rows 42.5% -> 13.5%.

    B200 power moved 13.6% -> 14.1% (level 0.14 -> 0.145) when the NVLink-5 NVLS efficiency
    (fitted and held out on single-node nccl-tests rows) slowed the B200's TP all-reduces: longer
    steps at the same energy lower the predicted average power; the knobs' fit is unchanged."""
    groups = score_energy(rows).groups()
    assert groups[("fitted", "a100-80gb-sxm", "avg_power")][1] <= 0.185
    assert groups[("fitted", "a40", "avg_power")][1] <= 0.185
    assert groups[("fitted", "h100-sxm", "avg_power")][1] <= 0.14
    assert groups[("fitted", "b200", "avg_power")][1] <= 0.145
    assert groups[("held-out", "h100-sxm", "energy_per_token")][1] <= 0.15
    held = score_energy(read_measurements([FILE])[0]).groups()
    assert held[("held-out", "h100-sxm", "energy_per_token")][1] <= 0.39


def test_leave_one_gpu_out_at_its_recorded_level(rows) -> None:  # type: ignore[no-untyped-def]
    """Each GPU's average power scored with both knobs fitted on the other three: H100 15.6%
    and B200 13.6% (21.3% and 19.5% with the floor alone, which priced large-batch boards ~200 W
    short), A40 18.8% (31.7%), A100 30.2% (45.3%). The A40 draws 64-90% of its TDP at batch 1
    and the A100 40-60%: one share of the headroom does not fit both (the A100's form factor is
    not stated by the source; a 250 W PCIe board would)."""
    cv = leave_one_gpu_out(rows)
    assert set(cv) == {"a100-80gb-sxm", "a40", "h100-sxm", "b200"}
    assert cv["h100-sxm"][2] <= 0.16 and cv["b200"][2] <= 0.14  # the +-20% target
    assert cv["a40"][2] <= 0.19 and cv["a100-80gb-sxm"][2] <= 0.31  # the A100 misses it


def test_the_active_floor_lowers_the_held_out_error() -> None:
    """Idle + dynamic alone (the model before the floor) under-predicts every run row."""
    rows = read_measurements([FILE])[0]
    before, after = score_energy(rows, 0.0), score_energy(rows)
    runs = [s for s in before.scores if s.row.batch]
    assert all(s.predicted < s.row.value for s in runs)
    assert after.mape("held-out") < before.mape("held-out") - 0.15
    assert after.mape("fitted") < before.mape("fitted") - 0.3


def test_the_on_chip_energy_prices_large_batches_near_the_boards_draw(rows) -> None:  # type: ignore[no-untyped-def]
    """Without it (the DRAM's own access energy alone, floor refitted) ML.ENERGY v3's H100 boards
    at batch >= 64 were priced ~30% under their 500-700 W; with it they are within 20% on average."""
    big = [r for r in rows if r.source_id == "mlenergy_leaderboard_v3" and r.metric == "avg_power"
           and r.hardware == "h100-sxm" and (steady_state(r).batch or 0) >= 64]  # fmt: skip
    assert len(big) >= 20
    bias = {}
    for f, e in ((0.399, 0.0), (ACTIVE_POWER_FRACTION, ONCHIP_J_PER_BIT)):
        scores = score_energy(big, f, onchip_j_per_bit=e).scores
        bias[e] = float(np.mean([s.predicted / s.row.value - 1 for s in scores]))
    assert bias[0.0] < -0.2 and abs(bias[ONCHIP_J_PER_BIT]) < 0.2


def test_the_idle_row_is_scored_against_the_preset_idle_power(rows) -> None:  # type: ignore[no-untyped-def]
    (idle,) = [s for s in score_energy(rows).scores if not s.row.batch]
    assert idle.row.hardware == "h200" and idle.predicted == pytest.approx(100.0)


def test_validate_prints_the_energy_table(run_cli: Callable[..., CliResult]) -> None:
    r = run_cli("validate", "--measurements", str(FILE))
    assert r.code == 0, r.err
    assert "energy (board power model)" in r.out and "held-out" in r.out
    r = run_cli("validate", "--measurements", str(FILE), "--json")
    out = json.loads(r.out)
    assert out["energy"]["active_power_fraction"] == ACTIVE_POWER_FRACTION
    assert out["rows_skipped"]["scored_in_energy_table"] == 55  # every energy row, none elsewhere
    assert set(out["energy"]["leave_one_gpu_out"]) == {"a100-80gb-sxm", "a40"}


def test_the_energy_folds_hold_vllms_host_time_out_too() -> None:
    """Leave one source out, ML.ENERGY v3's energy rows are priced with vLLM's per-sequence host
    time refitted without them (0: it has no other source), not the committed value fitted on
    those very rows: ``energy_report`` reads the fit rows for the folds, not only energy rows."""
    from hetsim.calibration.energy import energy_report

    v3 = published("mlenergy_leaderboard_v3.csv")
    folds = energy_report([v3], folds=True).folds["source"]
    raw = [r for r in read_measurements([v3])[0] if r.metric == "energy_per_token"]
    held = score_energy(raw, ACTIVE_POWER_FRACTION, 0.0).scores
    leaky = score_energy(raw, ACTIVE_POWER_FRACTION).scores
    assert held
    got = {s.row.key: s.predicted for s in folds}
    assert all(got[s.row.key] == pytest.approx(s.predicted) for s in held)
    assert any(abs(a.predicted - b.predicted) > 1e-9 for a, b in zip(held, leaky, strict=True))


def test_the_energy_folds_hold_the_eager_dispatch_out_too() -> None:
    """The eager dispatch knob is fitted on ML.ENERGY v1's A100 latency rows: a fold holding them
    (that source, or the A100) prices its energy rows with the knob refitted on the A40's latency
    rows alone (20.6 us, not the committed 23.0); the A40 fold keeps the committed value."""
    from hetsim.calibration.dispatch_fit import dispatch_without, with_dispatch
    from hetsim.calibration.e2e import serving_for
    from hetsim.calibration.energy import fold_scores
    from hetsim.engines.pytorch import EAGER_KERNEL_DISPATCH_S

    rows = read_measurements([published("energy_published.csv")])[0]
    a100 = dispatch_without(rows, lambda r: r.hardware, "a100-80gb-sxm")
    assert a100 == pytest.approx(20.6e-6, abs=0.1e-6)
    assert dispatch_without(rows, lambda r: r.source_id, "mlenergy_v1_a100_chat") == a100
    assert dispatch_without(rows, lambda r: r.hardware, "a40") is None
    trt = serving_for("TensorRT-LLM v0.6.1")  # an engine whose launches are not the eager knob's
    assert with_dispatch(trt, a100) == trt
    assert with_dispatch(serving_for("FastChat + Hugging Face transformers"), a100).kernel_dispatch_s == a100
    a100_energy = [r for r in rows if r.hardware == "a100-80gb-sxm" and r.metric == "energy_per_request"]
    got = {s.row.key: s.predicted for s in fold_scores(rows, "hardware") if s.row.hardware == "a100-80gb-sxm"}
    fraction, onchip = fit_power([r for r in rows if r.hardware != "a100-80gb-sxm"], dispatch_s=a100)
    held = score_energy(a100_energy, fraction, dispatch_s=a100, onchip_j_per_bit=onchip).scores
    leaky = score_energy(a100_energy, fraction, onchip_j_per_bit=onchip).scores
    assert held and EAGER_KERNEL_DISPATCH_S == pytest.approx(23.0e-6)
    assert all(got[s.row.key] == pytest.approx(s.predicted) for s in held)
    assert all(abs(a.predicted - b.predicted) > 1e-9 for a, b in zip(held, leaky, strict=True))
