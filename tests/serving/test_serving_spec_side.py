"""A drafter on another compute side inside serve-sim (``--spec ...,side=NAME``, analyze's rule in
hetsim.sim.speculative): conservation and determinism, the drafter's weights held on its side
(the GPU's KV cache keeps them), the step's hand-off over the link between the sides priced as
analyze prices it, and the one-line refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest

from hetsim.engines.host import Serving
from hetsim.hardware.loader import get_hardware
from hetsim.serving import make_requests, simulate_serving
from hetsim.serving.budget import get_pricer
from hetsim.serving.engine import get_engine
from hetsim.serving.metrics import ServingResult
from hetsim.serving.speculative import SpeculativePricer
from hetsim.sim.speculative import step_drafts
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import NO_EP
from hetsim.workload.registry import get_model
from hetsim.workload.speculation import Speculation
from tests.conftest import CliResult

Run = Callable[..., CliResult]
HW, MODEL, FP16 = "rtx-4090+xeon-8480", "llama3-8b", Precision.of("fp16")
DRAFT = "draft,k=4,draft=llama3.2-1b"


def _run(spec: str | None, seed: int = 0) -> ServingResult:
    reqs = make_requests(30, rate_per_s=2, input_len="uniform:64:400", output_len="uniform:2:80", seed=seed)
    sp = Speculation.parse(spec) if spec else None
    return simulate_serving(MODEL, HW, reqs, engine="vllm", precision=FP16, speculation=sp)


def test_a_drafter_on_the_host_is_served_and_conserves_tokens() -> None:
    a, b = _run(DRAFT + ",side=host"), _run(DRAFT + ",side=host")
    assert a.completed == a.n_requests == 30 and not a.truncated
    assert a.output_throughput_tok_per_s * a.duration_s == pytest.approx(
        float(np.sum(a.output_len)), rel=1e-9
    )
    assert np.array_equal(a.finish_s, b.finish_s)  # determinism by seed
    gpu, none = _run(DRAFT), _run(None)
    # the drafter's weights live on the host: more KV blocks than with it on the GPU, fewer than
    # without a drafter (its own KV cache stays beside the target's)
    assert gpu.kv_blocks_total < a.kv_blocks_total < none.kv_blocks_total
    # a 1B draft model's passes on the CPU and two PCIe messages a step: slower than on the GPU
    assert a.itl_s.mean > gpu.itl_s.mean


@pytest.mark.parametrize("spec", [DRAFT + ",side=host", "eagle,k=3,side=host"])
def test_the_hand_off_is_priced_as_analyze_prices_it(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The speculative table with the hand-off, less the same table with the link free, equals
    analyze's hand-off of a step (sim.speculative.step_drafts) at every batch."""
    import hetsim.serving.speculative as S

    m, dev, eng = get_model(MODEL), get_hardware(HW), get_engine("vllm")
    sp = Speculation.parse(spec)
    assert sp is not None
    with_link = get_pricer(m, dev, FP16, eng, 1, 1024, speculation=sp)
    assert isinstance(with_link, SpeculativePricer)
    monkeypatch.setattr(S, "handoff_s", lambda link, nbytes: 0.0 * np.asarray(nbytes, dtype=float))
    monkeypatch.setattr(S, "side_link", lambda dev, s: SimpleNamespace(energy_j_per_bit=0.0))
    free = S.speculative_tables(sp, m, dev, FP16, with_link, tp=1, step_overhead_s=eng.step_overhead_s)
    monkeypatch.undo()
    n = np.array([1.0, 4.0, 16.0])
    added = (with_link.spec_s - free.spec_s)[n.astype(int), 0]
    opts = SimpleNamespace(tp=1, experts=NO_EP)
    want = np.asarray(step_drafts(sp, m, dev, FP16, n, 1.0, opts, Serving()).handoff_s, dtype=float)
    assert np.all(want > 0) and np.allclose(added, want, rtol=1e-9)


def test_serve_sim_runs_a_drafter_on_another_side_and_refuses_a_missing_one(run_cli: Run) -> None:
    args = ("-m", MODEL, "-H", HW, "--weight-dtype", "fp16", "--requests", "12", "--rate", "2",
            "--input-len", "128", "--output-len", "32")  # fmt: skip
    r = run_cli("serve-sim", *args, "--spec", "eagle,k=3,side=host", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["completed"] == 12
    r = run_cli("serve-sim", *args, "--spec", "eagle,k=3,side=npu")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "has no side 'npu'" in r.err, r.err
