"""Mélange (Griggs et al., arXiv 2404.14527): the cheapest mix of L4, A10G, A100 and H100 GPUs
that serves Llama-2-7B under a TPOT SLO for ≥ 99.5% of requests, against the cheapest single
GPU type. Published: up to 77% (short requests, Chatbot Arena), 33% (long, PubMed) and 51%
(mixed) lower cost.

Pipeline, as the paper's: (1) cut each dataset's requests into size buckets; (2) profile per
GPU type and bucket the largest request rate one GPU sustains within the SLO, here with
hetsim's serving simulator (``profile.py``); (3) per request rate, solve the bin-packing
integer program over slices of the buckets (:func:`hetsim.cost.fleet.cheapest_fleet`) with the
paper's rental prices (``prices.yaml``), and compare with the best single type; (4) check the
chosen mix by simulating each GPU's share of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hetsim.experiments.melange import profile as prof
from hetsim.experiments.study import Figure, Knob, Outcome, Target

HERE = Path(__file__).parent
SLO_S = 0.120  # the paper's looser TPOT SLO, where its three headlines are read
RATES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # requests per second (the paper's plots' axis)
SLICE_FACTOR = 4  # slices per bucket (the released README: "4 is sufficient for most cases")
DATASETS = ("arena", "pubmed", "mixed")
FIGURES = ("cost",)

BLOG = "the authors' blog, melange-release docs/index.md (120 ms TPOT)"
TARGETS = (
    Target(
        "saving vs the costliest single type, Arena",
        0.77,
        "77% (abstract 'up to 77%'; blog 15-77%)",
        "saving.arena",
        "measured",
        "fraction",
    ),
    Target(
        "saving vs the cheapest single type, Arena",
        0.15,
        f"15% ({BLOG}: 15-77%)",
        "saving_low.arena",
        "measured",
        "fraction",
    ),
    Target(
        "saving vs the costliest single type, PubMed",
        0.33,
        "33% (abstract; blog 15-33%)",
        "saving.pubmed",
        "measured",
        "fraction",
    ),
    Target(
        "saving vs the cheapest single type, PubMed",
        0.15,
        f"15% ({BLOG}: 15-33%)",
        "saving_low.pubmed",
        "measured",
        "fraction",
    ),
    Target(
        "saving vs the costliest single type, mixed",
        0.51,
        "51% (abstract; blog 13-51%)",
        "saving.mixed",
        "measured",
        "fraction",
    ),
    Target(
        "saving vs the cheapest single type, mixed",
        0.13,
        f"13% ({BLOG}: 13-51%)",
        "saving_low.mixed",
        "measured",
        "fraction",
    ),
)


def prices() -> dict[str, dict[str, Any]]:
    from hetsim.datafiles import read_mapping

    return {k: dict(v) for k, v in read_mapping(HERE / "prices.yaml").items()}


def fleets(
    shares: dict[str, Any], max_rates: dict[str, dict[int, float]], price: dict[str, float]
) -> dict[str, Any]:
    """Per dataset and request rate: the cheapest mix, the best single type and the saving."""
    from hetsim.cost.fleet import cheapest_fleet, single_type

    gpus = tuple(max_rates)
    out: dict[str, Any] = {}
    for ds in DATASETS:
        keys = [k for k in sorted(max_rates[gpus[0]]) if shares[ds][k] > 0]
        cap = np.array([[max_rates[g][k] for g in gpus] for k in keys for _ in range(SLICE_FACTOR)])
        pr = np.array([price[g] for g in gpus])
        rows = []
        for rate in RATES:
            sl = np.array([rate * shares[ds][k] / SLICE_FACTOR for k in keys for _ in range(SLICE_FACTOR)])
            mix = cheapest_fleet(gpus, sl, cap, pr)
            single = single_type(gpus, sl, cap, pr)
            best = min(single, key=lambda g: single[g])
            assigned: dict[str, dict[int, float]] = {g: {} for g in gpus}
            for i, j in enumerate(mix.assignment):
                k = keys[i // SLICE_FACTOR]
                assigned[gpus[j]][k] = assigned[gpus[j]].get(k, 0.0) + float(sl[i])
            rows.append(
                {
                    "rate": rate,
                    "mix": mix.mix(),
                    "mix_usd_per_hour": mix.usd_per_hour,
                    "single_usd_per_hour": single,
                    "best_single": best,
                    "saving": 1 - mix.usd_per_hour / single[best],
                    "assigned": assigned,
                }
            )
        out[ds] = rows
    return out


def check_mix(row: dict[str, Any], reps: dict[int, tuple[int, int]], presets: dict[str, str]) -> float:
    """Lowest SLO attainment over the GPU types of a chosen mix (each GPU serving its share)."""
    worst = 1.0
    for gpu, n in row["mix"].items():
        per_gpu = {k: r / n for k, r in row["assigned"][gpu].items()}
        worst = min(worst, prof.mix_attainment(presets[gpu], reps, per_gpu, SLO_S))
    return worst


def run() -> Outcome:
    book = prices()
    presets = {g: str(v["preset"]) for g, v in book.items()}
    price = {g: float(v["usd_per_hour"]) for g, v in book.items()}
    shares, reps = prof.buckets(prof.samples())
    max_rates = prof.profile(presets, reps, SLO_S)
    per = fleets(shares, max_rates, price)
    vs = {
        ds: {
            g: float(np.mean([1 - r["mix_usd_per_hour"] / r["single_usd_per_hour"][g] for r in rows]))
            for g in price
        }
        for ds, rows in per.items()
    }
    checked = {}
    for ds, rows in per.items():
        top = max(rows, key=lambda r: r["saving"])
        checked[ds] = {"rate": top["rate"], "mix": top["mix"], "attainment": check_mix(top, reps, presets)}
    results: dict[str, Any] = {
        "saving_vs": vs,
        "saving": {ds: max(v.values()) for ds, v in vs.items()},
        "saving_low": {ds: min(v.values()) for ds, v in vs.items()},
        "saving_vs_best_single": {ds: max(r["saving"] for r in rows) for ds, rows in per.items()},
        "fleets": {
            ds: [{k: v for k, v in r.items() if k != "assigned"} for r in rows] for ds, rows in per.items()
        },
        "profile_req_per_s": {g: {str(reps[k]): v for k, v in m.items()} for g, m in max_rates.items()},
        "bucket_shares": {
            ds: {str(reps[k]): float(s[k]) for k in reps if s[k] > 0} for ds, s in shares.items()
        },
        "mix_check": checked,
        "slo_tpot_s": SLO_S,
    }
    return Outcome(
        "melange",
        "Mélange: the cheapest GPU mix under a TPOT SLO",
        "Griggs et al., Mélange, arXiv 2404.14527",
        results,
        TARGETS,
        _knobs(book),
        _assumptions(),
        tuple(presets.values()),
        _misses(results),
        _sections(results),
        (_figure(per),),
    )


def _knobs(book: dict[str, dict[str, Any]]) -> tuple[Knob, ...]:
    out = [
        Knob(f"{g} price", f"${v['usd_per_hour']}/h ({v['preset']})", str(v["source"]))
        for g, v in book.items()
    ]
    out += [
        Knob("model / engine", f"{prof.MODEL}, fp16, {prof.ENGINE}", "paper: Llama2-7b served by vLLM"),
        Knob(
            "TPOT SLO",
            f"{SLO_S * 1e3:g} ms, met by ≥ {prof.ATTAINMENT:.1%} of requests",
            "paper: 120 ms (and 40 ms, not run here); ≥ 99.5% attainment",
        ),
        Knob(
            "request rates", ", ".join(f"{r:g}" for r in RATES) + " req/s", "assumed: the plots' 1-32 req/s"
        ),
        Knob(
            "buckets",
            f"input edges {prof.INPUT_EDGES}, output edges {prof.OUTPUT_EDGES}",
            "assumed: the released README's kind of ranges ('1-25, 25-100, 100-250, ...'), coarser",
        ),
        Knob("slice factor", str(SLICE_FACTOR), "paper: melange-release README, '4 is sufficient'"),
        Knob("Arena lengths", f"{prof.ARENA.input_len} / {prof.ARENA.output_len}", prof.ARENA.source),
        Knob("PubMed lengths", f"{prof.PUBMED.input_len} / {prof.PUBMED.output_len}", prof.PUBMED.source),
        Knob("mixed", "80% Arena + 20% PubMed", "paper: the released plots Mixed_80_20_*.png"),
        Knob(
            "profiling",
            f"{prof.PROFILE_REQUESTS} Poisson requests per run, {prof.BISECTIONS} bisections",
            "assumed: enough to place a rate within a few percent",
        ),
    ]
    return tuple(out)


def _assumptions() -> tuple[str, ...]:
    return (
        "Each GPU is one replica (tensor parallelism 1); the A100 and H100 are the SXM presets.",
        "A bucket is served at its representative size (the median request in it); a GPU's load is the "
        "sum of its slices' rate / max rate, the paper's linear load model; the chosen mix is then "
        "re-simulated.",
        "Prices are per GPU-hour on demand; a fleet's cost is GPUs x price, as in the paper's ILP.",
    )


def _misses(r: dict[str, Any]) -> dict[str, str]:
    out = {}
    for t in TARGETS:
        ds = t.key.split(".")[1]
        vs = r["saving_vs"][ds]
        which = max(vs, key=lambda g: vs[g]) if t.key.startswith("saving.") else min(vs, key=lambda g: vs[g])
        each = ", ".join(f"{g} {v:.0%}" for g, v in vs.items())
        out[t.name] = (
            f"against {which} alone the mix saves {vs[which]:.0%} on average over the rates (every type: "
            f"{each}). The savings follow the types' requests per dollar within the SLO, which here come "
            "from hetsim's serving simulation of each GPU (the profile table), not the paper's measured vLLM "
            "profiles; a type that meets the SLO at fewer req/s than measured lowers its single-type fleet's "
            "cost efficiency and raises the saving against it."
        )
    return out


def _sections(r: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    body: list[str] = []
    for ds, rows in r["fleets"].items():
        body += [
            f"**{ds}**",
            "",
            "| req/s | cheapest mix | $/h | best single | $/h | saving |",
            "|---|---|---|---|---|---|",
        ]
        for x in rows:
            mix = ", ".join(f"{n}× {g}" for g, n in x["mix"].items())
            best = x["best_single"]
            body.append(
                f"| {x['rate']:g} | {mix} | {x['mix_usd_per_hour']:.2f} | {best} | "
                f"{x['single_usd_per_hour'][best]:.2f} | {x['saving']:.0%} |"
            )
        body.append("")
    check = ["| dataset | rate | mix | lowest SLO attainment of its GPUs |", "|---|---|---|---|"]
    for ds, c in r["mix_check"].items():
        check.append(f"| {ds} | {c['rate']:g} | {c['mix']} | {c['attainment']:.3f} |")
    prof_rows = [
        "| bucket (input, output) | " + " | ".join(r["profile_req_per_s"]) + " |",
        "|---" * (len(r["profile_req_per_s"]) + 1) + "|",
    ]
    keys = list(next(iter(r["profile_req_per_s"].values())))
    for k in keys:
        prof_rows.append(
            f"| {k} | " + " | ".join(f"{m[k]:.2f}" for m in r["profile_req_per_s"].values()) + " |"
        )
    first = r["fleets"]["arena"][0]
    h100 = first["single_usd_per_hour"]["h100"]
    reading = [
        "The paper's savings are read per single-type baseline, averaged over the request rates: the range "
        "15-77% (Arena) runs from the cheapest to the costliest baseline. It cannot be a maximum over rates: "
        f"at {first['rate']:g} req/s one {next(iter(first['mix']))} serves Arena for "
        f"${first['mix_usd_per_hour']:.2f}/h against ${h100:.2f}/h for an H100 "
        f"fleet, a {1 - first['mix_usd_per_hour'] / h100:.0%} saving above "
        "the published maximum; and the low ends (13-15%) would be 0% at every rate where one type alone is "
        "already the cheapest fleet.",
        "",
        "| dataset | "
        + " | ".join(f"vs {g}" for g in next(iter(r["saving_vs"].values())))
        + " | vs the best single type at each rate (largest) |",
        "|---" * (len(next(iter(r["saving_vs"].values()))) + 2) + "|",
    ]
    for ds, v in r["saving_vs"].items():
        reading.append(
            f"| {ds} | "
            + " | ".join(f"{x:.0%}" for x in v.values())
            + f" | {r['saving_vs_best_single'][ds]:.0%} |"
        )
    return (
        ("How the headline is read", tuple(reading)),
        ("Fleets per dataset and request rate", tuple(body)),
        ("The chosen mixes re-simulated (each GPU type serving its share)", tuple(check)),
        ("Profile: largest req/s per GPU within the SLO", tuple(prof_rows)),
    )


def _figure(per: dict[str, Any]) -> Figure:
    series: dict[str, tuple[list[float], list[float]]] = {}
    for ds, rows in per.items():
        series[f"{ds}: mix"] = ([r["rate"] for r in rows], [r["mix_usd_per_hour"] for r in rows])
        series[f"{ds}: best single"] = (
            [r["rate"] for r in rows],
            [r["single_usd_per_hour"][r["best_single"]] for r in rows],
        )
    return Figure(
        "cost",
        "Mélange: cheapest mix vs best single GPU type (120 ms TPOT)",
        "request rate (req/s)",
        "USD per hour",
        series,
        logy=True,
    )
