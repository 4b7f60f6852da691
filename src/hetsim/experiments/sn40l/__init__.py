"""SambaNova SN40L (Prabhakar et al., arXiv 2405.07518): Samba-CoE, a composition of 150
Llama-2-7B experts, served from a three-tier memory (SRAM, HBM, DDR) on an 8-socket node.
Published (abstract; Table V of §VI-C): model switching 15x / 31x faster than DGX H100 / DGX A100,
and an overall CoE speedup of 3.7x / 6.6x (batch of 8 prompts, 20 output tokens, over 50
experts).

The setup is the paper's §VI-C: every model (router and experts) is tensor-parallel over the
node's eight devices (TP8); the router runs on the batch, the experts its prompts need are
copied into HBM (least recently used evicted), then each (prompt, expert) pair runs on its own.
Every expert waits in the capacity tier (the sockets' DDR; the DGX's host DRAM): a switch copies
its eight shards (:mod:`hetsim.serving.model_switch`). The SN40L's sockets each copy their
shard from their own DDR (1 TB/s for the node, the paper's figure); the DGX copies, as the paper
assumes, at its host-to-GPU bandwidth of one PCIe x16 link at its specification (32 / 64 GB/s:
"optimistic model switching estimates based on DGX specs"). The report shows what the DGX's
copies cost at the PCIe stream efficiency hetsim measures, and with its eight links in parallel.
The DGX decodes as tuned GPU engines do at batch 1, replaying one CUDA graph per step (its
all-reduces at NCCL's device-side latency, not an eager host call each); the report breaks an
expert's decode step down by op and checks the TP8 batch-1 figure against a published one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetsim.experiments.study import Figure, Knob, Outcome, Target

SYSTEMS = {
    "sn40l": ("sn40l", "ddr", "hbm"),
    "dgx-h100": ("h100-sxmx8+xeon-8480x2+dram:2TB", "host", "gpu"),
    "dgx-a100": ("a100-80gb-sxmx8+epyc-9654x2+dram:2TB", "host", "gpu"),
}
EXPERT = "llama2-7b"
EXPERTS = 150  # abstract: 150 experts, a trillion parameters
EXPERT_COUNTS = (50, 100, 150)  # the sensitivity shown ("over 50 experts")
DEVICES = 8  # §VI-C: TP8 over eight RDU sockets / eight GPUs
BATCH = 8  # Table V: BS = 8 prompts per router batch (the headline); BS = 1 shown
BATCHES = 400  # router batches replayed
PROMPT = 512  # prompt tokens (assumed: §VI-C cites its use cases without lengths)
OUTPUTS = (20, 200)  # §VI-C: chatbot (20 output tokens) and translation (200)
RESERVE_BYTES = 8e9  # per device: router shard, KV cache and activations (assumed)
# the published TP8 batch-1 decode the GPU model is checked against (held out: nothing fitted on
# it): gpt-fast, Llama-2-7B BF16 on 8x A100-80GB, 5-token prompt, 200 tokens, 328.43 token/s
# (data/measurements/published/gptfast_readme.csv, README 'Tensor Parallelism' table)
DECODE_CHECK = ("a100-80gb-sxmx8", 5, 200, 328.43)
FIGURES = ("request_time",)
# Table V, (vs DGX A100, vs DGX H100), for the comparison table beside the targets
TABLE_V = {
    "BS=8, 20 tokens": (6.6, 3.7),
    "BS=1, 20 tokens": (4.8, 2.8),
    "BS=8, 200 tokens": (4.2, 2.7),
    "BS=1, 200 tokens": (3.9, 2.6),
    "expert only, 20 tokens": (2.0, 1.5),
    "expert only, 200 tokens": (3.2, 2.3),
}

TARGETS = (
    Target(
        "model switching over DGX H100",
        15.0,
        "15× (Table V; §VI-C text: 16×)",
        "switch_h100",
        "measured",
    ),
    Target("model switching over DGX A100", 31.0, "31× (Table V)", "switch_a100", "measured"),
    Target(
        "CoE serving speedup over DGX H100",
        3.7,
        "3.7× (abstract; Table V: BS = 8, 20 output tokens)",
        "serve_h100",
        "measured",
    ),
    Target(
        "CoE serving speedup over DGX A100",
        6.6,
        "6.6× (abstract; Table V: BS = 8, 20 output tokens)",
        "serve_a100",
        "measured",
    ),
)


def _choices(experts: int) -> list[str]:
    """The router's expert choice per prompt, uniform and seeded (no trace is published)."""
    rng = np.random.default_rng(0)
    return [f"expert-{i}" for i in rng.integers(0, experts, BATCHES * BATCH)]


def _system(spec: str, source: str, target: str) -> dict[str, Any]:
    from hetsim.hardware.loader import get_hardware
    from hetsim.serving.model_switch import replay, switch_path
    from hetsim.sim.config import Serving, Workload
    from hetsim.sim.inference import analyze
    from hetsim.workload.dtypes import Precision
    from hetsim.workload.registry import get_model

    dev, m, prec = get_hardware(spec), get_model(EXPERT), Precision.of("bf16")
    model_bytes = float(m.params * prec.weight.bytes_per_element)
    shard = model_bytes / DEVICES
    path = switch_path(dev, source, target, shard, RESERVE_BYTES)
    gpu = dev.sides[0].name == target
    policy = "primary" if gpu else "auto"
    # a GPU node decodes as every tuned engine does at batch 1: one CUDA-graph replay per step
    serving = Serving(decode_graph=True) if gpu else None

    def run(batch: int, prompt: int, out: int) -> Any:
        w = Workload(batch, prompt, out)
        return analyze(m, dev, w, prec, tp=DEVICES, policy=policy, serving=serving)

    runs = {str(g): run(1, PROMPT, g) for g in OUTPUTS}
    expert = {g: r.e2e_latency_s for g, r in runs.items()}
    router = {str(b): run(b, PROMPT, 1).ttft_s for b in (1, BATCH)}
    # the DGX copies as the paper assumes; each SN40L socket copies its shard from its own DDR at once
    copy = (model_bytes, path.peak_bytes_per_s) if gpu else (shard, path.bandwidth_bytes_per_s)
    switch = copy[0] / copy[1]
    misses = {}
    for n in EXPERT_COUNTS:
        hits = replay(_choices(n), path.slots)
        misses[str(n)] = 1 - sum(hits) / len(hits)
    return {
        "switch_s": switch,
        "switch_copy": copy,  # (bytes, bytes/s) of one switch (tests: the serving loop's copies)
        "switch_node_gb_per_s": model_bytes / switch / 1e9,
        "switch_stream_s": model_bytes / path.bandwidth_bytes_per_s,
        "switch_parallel_s": shard / path.bandwidth_bytes_per_s,
        "slots": path.slots,
        "experts_in_capacity_tier": path.stored,
        "miss_rate": misses,
        "expert_s": expert,
        # the decode's bytes per second against the serving tier's (HBM) bandwidth
        "expert_decode_mbu": runs["20"].decode.bytes
        / runs["20"].decode.time_s
        / dev.sides[[x.name for x in dev.sides].index(target)].memory.bandwidth_bytes_per_s,
        "router_s": router,
        "tpot_ms": runs["20"].tpot_s * 1e3,
        "decode_ms_per_token": _decode_breakdown(runs["20"]),
        # the same expert with every op launched eagerly (each all-reduce an NCCL call from the host)
        "expert_eager_s": (
            analyze(m, dev, Workload(1, PROMPT, 20), prec, tp=DEVICES, policy=policy).e2e_latency_s
            if gpu
            else expert["20"]
        ),
    }


BREAKDOWN = {"gemm": "GEMV", "collective": "all-reduce", "attention": "attention"}


def _decode_breakdown(r: Any) -> dict[str, float]:
    """Milliseconds per generated token of one expert's decode by kind of op: the weight GEMVs,
    the TP all-reduces, attention and the rest (norms, activations, residuals); host time between
    steps where the engine has any."""
    steps = r.decode.time_s / r.tpot_s
    out = {"GEMV": 0.0, "all-reduce": 0.0, "attention": 0.0, "norms and elementwise": 0.0}
    for o in r.ops:
        if o.phase == "decode":
            out[BREAKDOWN.get(o.kind, "norms and elementwise")] += o.time_s * 1e3 / steps
    out["host and other"] = max(r.tpot_s * 1e3 - sum(out.values()), 0.0)
    return out


def _decode_check() -> dict[str, float]:
    """hetsim's TP8 batch-1 decode where a published figure exists: gpt-fast on 8x A100."""
    from hetsim.engines.registry import get as get_engine
    from hetsim.sim.config import Workload
    from hetsim.sim.inference import analyze
    from hetsim.workload.dtypes import Precision

    hw, prompt, out, published = DECODE_CHECK
    serving = get_engine("gpt-fast").serving
    r = analyze(EXPERT, hw, Workload(1, prompt, out), Precision.of("bf16"), tp=DEVICES, serving=serving)
    ours = out / r.e2e_latency_s
    return {"published_tok_per_s": published, "hetsim_tok_per_s": ours, "error": ours / published - 1}


def _batch_s(s: dict[str, Any], batch: int, out: int, experts: int, switch: str = "switch_s") -> float:
    """Mean latency of one router batch: the router, a copy per prompt whose expert missed
    (the miss rate of the replay), and each prompt's expert run one after another."""
    copies = batch * s["miss_rate"][str(experts)] * s[switch]
    return float(s["router_s"][str(batch)] + copies + batch * s["expert_s"][str(out)])


def run() -> Outcome:
    per = {k: _system(*v) for k, v in SYSTEMS.items()}
    sn = per["sn40l"]

    def over(
        base: str, batch: int = BATCH, out: int = 20, n: int = EXPERTS, switch: str = "switch_s"
    ) -> float:
        return _batch_s(per[base], batch, out, n, switch) / _batch_s(sn, batch, out, n)

    table = {}
    for case in TABLE_V:
        bs = 8 if case.startswith("BS=8") else 1
        out = 200 if case.endswith("200 tokens") else 20
        if case.startswith("expert only"):
            ours = [per[b]["expert_s"][str(out)] / sn["expert_s"][str(out)] for b in ("dgx-a100", "dgx-h100")]
        else:
            ours = [over(b, bs, out) for b in ("dgx-a100", "dgx-h100")]
        table[case] = {"paper": list(TABLE_V[case]), "hetsim": ours}
    results: dict[str, Any] = {
        "systems": per,
        "decode_check": _decode_check(),
        "expert_only_eager": {
            b: per[b]["expert_eager_s"] / sn["expert_s"]["20"] for b in ("dgx-h100", "dgx-a100")
        },
        "switch_h100": per["dgx-h100"]["switch_s"] / sn["switch_s"],
        "switch_a100": per["dgx-a100"]["switch_s"] / sn["switch_s"],
        "serve_h100": over("dgx-h100"),
        "serve_a100": over("dgx-a100"),
        "table_v": table,
        "by_experts": {str(n): {b: over(b, n=n) for b in ("dgx-h100", "dgx-a100")} for n in EXPERT_COUNTS},
        "dgx_copy_variants": {
            b: {
                "switch_stream": per[b]["switch_stream_s"] / sn["switch_s"],
                "switch_parallel": per[b]["switch_parallel_s"] / sn["switch_s"],
                "serve_stream": over(b, switch="switch_stream_s"),
                "serve_parallel": over(b, switch="switch_parallel_s"),
            }
            for b in ("dgx-h100", "dgx-a100")
        },
    }
    return Outcome(
        "sn40l",
        "SambaNova SN40L: composition of experts with model switching from DDR",
        "Prabhakar et al., SambaNova SN40L: Scaling the AI Memory Wall with Dataflow and Composition of "
        "Experts, arXiv 2405.07518",
        results,
        TARGETS,
        _knobs(),
        _assumptions(),
        tuple(v[0] for v in SYSTEMS.values()),
        _misses(results),
        _sections(results),
        (_figure(results),),
    )


def _knobs() -> tuple[Knob, ...]:
    return (
        Knob(
            "experts",
            f"{EXPERTS} x {EXPERT} (bf16)",
            "paper: abstract, 150 experts and a trillion parameters",
        ),
        Knob("parallelism", f"TP{DEVICES} on every system", "paper: §VI-C, models and router mapped TP8"),
        Knob("batch / output", f"{BATCH} prompts, 20 output tokens", "paper: Table V, the abstract's row"),
        Knob("prompt length", f"{PROMPT} tokens", "assumed: §VI-C gives its use cases' outputs, not inputs"),
        Knob("router", f"{EXPERT} prefill over the batch", "assumed: the router's size is not given"),
        Knob("expert choice", "uniform over the experts, seeded", "assumed: no router trace is published"),
        Knob("serving-tier reserve", f"{RESERVE_BYTES / 1e9:g} GB per device", "assumed: router shard, KV"),
        Knob(
            "SN40L DDR -> HBM",
            "125 GB/s per socket, 1 TB/s per node",
            "paper: §VI-C, 'over 1 TB/s of aggregate DDR-to-HBM bandwidth' (sn40l preset's ddr-agcu link)",
        ),
        Knob(
            "DGX host -> HBM",
            "one PCIe x16 link per node at its datasheet rate (31.5 / 63 GB/s)",
            "paper: §VI-C, 'optimistic model switching estimates based on DGX specs', 32 / 64 GB/s "
            "host-to-GPU; the report shows the link at its measured stream efficiency and eight links "
            "in parallel",
        ),
        Knob(
            "DGX engine",
            "decode replays one CUDA graph per step (all-reduces at NCCL's device-side latency); "
            "prefill and router launched from C++",
            "assumed: the paper does not name the DGX software; vLLM and gpt-fast capture decode in a "
            "CUDA graph by default (TensorRT-LLM as an option). Checked held out against gpt-fast's "
            "published Llama-2-7B TP8 batch-1 rate on 8x A100 (328 token/s; the report's decode check)",
        ),
        Knob(
            "SN40L HBM",
            "2.0 TB/s per socket",
            "paper: §VI-C, 'comparable HBM bandwidth to A100 (and lower than H100)'",
        ),
    )


def _assumptions() -> tuple[str, ...]:
    return (
        "A router batch's latency = the router's prefill over the batch + one expert copy per prompt "
        "whose expert is not resident (least recently used eviction, replayed over 400 batches) + each "
        "prompt's expert run (prefill and decode at batch 1, TP8) one after another (§VI-C).",
        "Serving speedup = mean batch latency on DGX / on the SN40L Node at 150 experts; switching "
        "speedup = the time to copy one expert into HBM on DGX / on the SN40L Node.",
        "The DGX's host memory holds every expert it cannot keep in HBM (the paper assumes the whole of "
        "HBM and host memory available; the DGX runs out at 150 experts: its 2 TB hold 148 here).",
        "The SN40L computes from its SRAM with weights streamed from HBM (policy auto); the GPUs run "
        "their calibrated kernel models with a CUDA-graph decode (without it every all-reduce is an "
        "eager NCCL call of ~61 us, 43% of an H100's decode step: the eager row of the breakdown "
        "section); the DGX expert latencies in the paper are published measurements of others, the "
        "SN40L's its own.",
    )


def _misses(r: dict[str, Any]) -> dict[str, str]:
    s, v = r["systems"], r["dgx_copy_variants"]
    copy = (
        f"A switch copies 13.5 GB at {s['sn40l']['switch_node_gb_per_s']:.0f} GB/s on the SN40L Node and "
        f"{s['dgx-h100']['switch_node_gb_per_s']:.0f} / {s['dgx-a100']['switch_node_gb_per_s']:.0f} GB/s "
        "on DGX H100 / A100 (one x16 link at its specification, as the paper assumes). At hetsim's "
        f"measured PCIe stream efficiency the ratios are {v['dgx-h100']['switch_stream']:.1f}x / "
        f"{v['dgx-a100']['switch_stream']:.1f}x; with each GPU copying its shard over its own link, "
        f"{v['dgx-h100']['switch_parallel']:.1f}x / {v['dgx-a100']['switch_parallel']:.1f}x."
    )
    e = {k: s[k]["expert_s"]["20"] for k in s}
    serve = (
        f"An expert's 512 + 20 tokens take {e['sn40l'] * 1e3:.0f} ms on the SN40L Node and "
        f"{e['dgx-h100'] * 1e3:.0f} / {e['dgx-a100'] * 1e3:.0f} ms on DGX H100 / A100 (Table V's "
        "expert-only rows: 1.5x / 2.0x; hetsim's in the table below). hetsim's GPUs decode the TP8 "
        f"expert at {s['dgx-h100']['expert_decode_mbu']:.0%} / {s['dgx-a100']['expert_decode_mbu']:.0%} "
        "of HBM bandwidth (CUDA-graph decode; the per-token breakdown below), the SN40L at "
        f"{s['sn40l']['expert_decode_mbu']:.0%}; the serving ratio overshoots by what the expert-only "
        "ratio does."
    )
    return {
        "model switching over DGX H100": copy,
        "model switching over DGX A100": copy,
        "CoE serving speedup over DGX H100": serve,
        "CoE serving speedup over DGX A100": serve,
    }


def _sections(r: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    rows = [
        "| system | switch (one expert) | node copy rate | HBM slots (experts) | miss rate, 150 experts "
        "| expert 512+20 | router, 8 prompts |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, v in r["systems"].items():
        rows.append(
            f"| {k} | {v['switch_s'] * 1e3:.0f} ms | {v['switch_node_gb_per_s']:.0f} GB/s | {v['slots']} | "
            f"{v['miss_rate'][str(EXPERTS)]:.0%} | {v['expert_s']['20'] * 1e3:.0f} ms | "
            f"{v['router_s'][str(BATCH)] * 1e3:.0f} ms |"
        )
    tab = ["| Table V row | paper vs A100 | hetsim | paper vs H100 | hetsim |", "|---|---|---|---|---|"]
    for case, t in r["table_v"].items():
        (pa, ph), (ha, hh) = t["paper"], t["hetsim"]
        tab.append(f"| {case} | {pa:g}× | {ha:.2f}× | {ph:g}× | {hh:.2f}× |")
    dgx = ["| DGX copy | switching vs H100 | vs A100 | serving vs H100 | vs A100 |", "|---|---|---|---|---|"]
    v = r["dgx_copy_variants"]
    dgx.append(
        f"| one link at its datasheet rate (the paper's; headline) | {r['switch_h100']:.1f}× | "
        f"{r['switch_a100']:.1f}× | {r['serve_h100']:.2f}× | {r['serve_a100']:.2f}× |"
    )
    for key, label in (
        ("stream", "one link at the measured stream efficiency"),
        ("parallel", "eight links at once"),
    ):
        dgx.append(
            f"| {label} | {v['dgx-h100'][f'switch_{key}']:.1f}× | {v['dgx-a100'][f'switch_{key}']:.1f}× | "
            f"{v['dgx-h100'][f'serve_{key}']:.2f}× | {v['dgx-a100'][f'serve_{key}']:.2f}× |"
        )
    kinds = list(next(iter(r["systems"].values()))["decode_ms_per_token"])
    br = [
        "| system | TPOT | " + " | ".join(kinds) + " | HBM bandwidth used |",
        "|---|---|" + "---|" * len(kinds) + "---|",
    ]
    for k, x in r["systems"].items():
        parts = " | ".join(f"{x['decode_ms_per_token'][c]:.2f} ms" for c in kinds)
        br.append(f"| {k} | {x['tpot_ms']:.2f} ms | {parts} | {x['expert_decode_mbu']:.0%} |")
    c, ea = r["decode_check"], r["expert_only_eager"]
    br += [
        "",
        f"Decode check (held out, nothing fitted on it): gpt-fast, Llama-2-7B BF16, TP8 batch 1 on 8x "
        f"A100-80GB: published {c['published_tok_per_s']:.0f} token/s, hetsim {c['hetsim_tok_per_s']:.0f} "
        f"({c['error']:+.0%}).",
        "",
        f"With every op launched eagerly instead (each all-reduce an NCCL call from the host, ~61 us), "
        f"the expert-only ratio at 20 tokens would be {ea['dgx-h100']:.2f}x / {ea['dgx-a100']:.2f}x "
        "over DGX H100 / A100 (Table V: 1.5x / 2.0x).",
    ]
    n = ["| experts | serving vs DGX H100 | vs DGX A100 |", "|---|---|---|"]
    n += [f"| {k} | {x['dgx-h100']:.2f}× | {x['dgx-a100']:.2f}× |" for k, x in r["by_experts"].items()]
    return (
        ("Switching and serving per system", tuple(rows)),
        ("Table V of the paper beside hetsim", tuple(tab)),
        ("How the DGX copies an expert", tuple(dgx)),
        ("Where an expert's decode step goes (per generated token, 512 + 20 tokens, TP8)", tuple(br)),
        ("Serving speedup by expert count (BS = 8, 20 tokens)", tuple(n)),
    )


def _figure(r: dict[str, Any]) -> Figure:
    labels = list(r["systems"])
    vals = list(r["systems"].values())
    return Figure(
        "request_time",
        "Samba-CoE router batch (8 prompts, 20 tokens, 150 experts): copies + expert runs",
        "system",
        "seconds",
        {
            "router": (labels, [v["router_s"][str(BATCH)] for v in vals]),
            "expert copies": (labels, [BATCH * v["miss_rate"][str(EXPERTS)] * v["switch_s"] for v in vals]),
            "expert runs": (labels, [BATCH * v["expert_s"]["20"] for v in vals]),
        },
        kind="bar",
    )
