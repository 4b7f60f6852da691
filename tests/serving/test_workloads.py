"""Request workloads: traces (CSV, JSON Lines, public trace column names, a bad row named by its
line), named mixes from published traces, and multi-turn sessions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hetsim.errors import ConfigError
from hetsim.serving import get_engine, simulate_serving
from hetsim.serving.mixes import get_mix, mixes
from hetsim.serving.requests import make_requests
from hetsim.serving.sessions import make_sessions
from hetsim.serving.traces import load_trace


def test_csv_and_jsonl_traces_with_prefixes_and_priorities(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("arrival_s,input_len,output_len,prefix_id,prefix_len,priority,note\n"
                   "0.5,300,20,sys,200,1,café\n0.0,400,10,sys,200,0,x\n1.0,50,5,,,2,\n")  # fmt: skip
    r = load_trace(csv)
    assert r.arrival_s.tolist() == [0.0, 0.5, 1.0] and r.input_len.tolist() == [400, 300, 50]
    assert r.prefix_id is not None and r.prefix_tokens is not None and r.priority is not None
    assert r.prefix_id.tolist() == [0, 0, -1] and r.prefix_tokens.tolist() == [200, 200, 0]
    assert r.priority.tolist() == [0, 1, 2]
    mooncake = tmp_path / "m.jsonl"
    mooncake.write_text("\n".join(json.dumps(o) for o in (
        {"timestamp": 1000, "input_length": 900, "output_length": 40, "hash_ids": [1, 2]},
        {"timestamp": 3000, "input_length": 100, "output_length": 7, "hash_ids": [3]})) + "\n")  # fmt: skip
    m = load_trace(mooncake)
    assert m.arrival_s.tolist() == [0.0, 2.0] and m.output_len.tolist() == [40, 7]
    azure = tmp_path / "a.csv"
    azure.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                     "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n")  # fmt: skip
    a = load_trace(azure)
    assert a.arrival_s[0] == 0 and a.arrival_s[1] == pytest.approx(4.3146, abs=1e-3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("arrival_s,input_len,output_len\n0,10,5\nnan,10,5\n", "line 3: arrival_s must be finite"),
        ("arrival_s,input_len,output_len\n0,10,5\n1,inf,5\n", "line 3: input_len must be finite"),
        ("arrival_s,input_len,output_len\n0,10,5\n1,1e30,5\n", "line 3: input_len must be a whole number"),
        ("arrival_s,input_len,output_len\n0,10\n", "line 2: output_len is missing"),
        ("arrival_s,input_len,output_len\n0,10,5,x\n", "line 2"),
        ("arrival_s,input_len,output_len\n0,10,5,\n0,10,4.5\n", "line 3: output_len must be a whole number"),
        (
            "arrival_s,input_len,output_len,prefix_id,prefix_len\n0,10,5,a,10\n",
            "line 2: prefix_len (10) must be",
        ),
        ('{"arrival_s": 0, "input_len": 10, "output_len": 5}\n[1, 2]\n', "line 2: not a JSON object"),
        ("arrival_s,input_len\n0,10\n", "missing column(s) output length"),
        ("", "missing column(s)"),
    ],
)
def test_a_malformed_trace_row_names_its_line(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / ("t.jsonl" if text.startswith("{") else "t.csv")
    p.write_text(text)
    with pytest.raises(ConfigError, match=None) as e:
        load_trace(p)
    assert message in str(e.value), str(e.value)


def test_latin1_and_binary_traces(tmp_path: Path) -> None:
    p = tmp_path / "l.csv"
    p.write_bytes(b"arrival_s,input_len,output_len,note\n0,10,5,caf\xe9\n")
    assert load_trace(p).input_len.tolist() == [10]  # Latin-1 text is read
    p.write_bytes(b"\xff\xfe\x00\x00binary")
    with pytest.raises(ConfigError, match="binary file"):
        load_trace(p)


@pytest.mark.parametrize("name", sorted(mixes()))
def test_every_mix_samples_its_published_distribution(name: str) -> None:
    mx = get_mix(name)
    assert mx.source and mx.description
    x, y = mx.sample(np.random.default_rng(0), 20_000)
    assert x.min() >= 1 and y.min() >= 1
    if mx.input_quantiles:  # the sample's quantiles are the trace's
        for q in (0.1, 0.5, 0.9):
            want = np.interp(q, np.linspace(0, 1, 101), mx.input_quantiles)
            assert np.mean(x <= want) == pytest.approx(q, abs=0.015)  # within 1.5 percentile points
        assert x.max() <= mx.input_quantiles[-1] and y.max() <= mx.output_quantiles[-1]
    else:
        assert mx.assumed  # a parametric mix states what it assumes
        assert mx.input is not None and x.max() <= mx.input.hi


def test_sharegpt_mix_matches_sarathi_serves_table() -> None:
    """Sarathi-Serve (OSDI 2024) Table 3, openchat_sharegpt4: prompt median 1730, P90 5696;
    output median 415, P90 834 (the trace file this mix was derived from)."""
    mx = get_mix("sharegpt")
    q = np.linspace(0, 1, 101)
    assert np.interp(0.5, q, mx.input_quantiles) == 1730 and np.interp(0.9, q, mx.input_quantiles) == 5696
    assert np.interp(0.5, q, mx.output_quantiles) == 415 and np.interp(0.9, q, mx.output_quantiles) == 834


def test_a_mix_run_names_what_it_assumes() -> None:
    reqs = make_requests(40, rate_per_s=5, mix="openorca-mlperf")
    r = simulate_serving("llama3-8b", "h100-sxm", reqs, engine="vllm")
    assert any("openorca-mlperf" in n and "assumed" in n for n in r.notes)


def test_sessions_reuse_the_previous_turn_and_the_hits_are_priced() -> None:
    reqs = make_sessions(30, rate_per_s=0.5, turns=5, first_input=1500, turn_input=200, output_len=150,
                         think_s=2.0, seed=1)  # fmt: skip
    assert reqs.follows is not None and reqs.prefix_tokens is not None
    later = reqs.follows >= 0
    # a turn's prompt is the previous turn's prompt and answer plus a new message
    prev = reqs.follows[later]
    assert np.all(reqs.prefix_tokens[later] == reqs.input_len[prev] + reqs.output_len[prev])
    on = simulate_serving("llama3-8b", "h100-sxm", reqs, engine=get_engine("vllm"))
    off = simulate_serving(
        "llama3-8b", "h100-sxm", reqs, engine=get_engine("vllm").with_(prefix_caching=False)
    )
    assert on.completed == off.completed == len(reqs)
    assert on.prefix_cache["hits"] > 0.8 * np.sum(later) and not off.prefix_cache
    assert on.ttft_s.mean < 0.5 * off.ttft_s.mean
    # a turn is sent after the previous one finishes, plus the think time
    fin = on.finish_s[prev]
    assert np.all(on.arrival_s[later] >= fin + 2.0 - 1e-9)
