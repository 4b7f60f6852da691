"""Spec parsing: the issue's YAML as written, zip groups, index decoding, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from hetsim.errors import ConfigError
from hetsim.explore.evaluate import Evaluator
from hetsim.explore.spec import parse_spec

ISSUE_YAML = """
axes:
  model: [llama2-7b, llama2-70b]
  hardware: [h100-sxm, h200]
  tp: [1, 2, 4, 8]
  batch: [1, 8, 32, 64, 128]
  input_len: [512, 2048]
  output_len: [128, 512]
  weight_dtype: [fp16, fp8]
"""


def test_issue_yaml_as_written() -> None:
    spec = parse_spec(yaml.safe_load(ISSUE_YAML))
    assert spec.n_points == 2 * 2 * 4 * 5 * 2 * 2 * 2
    assert spec.n_vector == 5 * 2 * 2  # batch x input_len x output_len vary fastest
    assert [d.axes[0] for d in spec.dims][-3:] == ["batch", "input_len", "output_len"]


def _combos(spec_raw: dict) -> list[tuple]:  # type: ignore[type-arg]
    spec = parse_spec(spec_raw)
    pos = spec.decode(np.arange(spec.n_points))
    names = [a for d in spec.dims for a in d.axes]
    return [tuple(spec.value_of(a, int(pos[a][i])) for a in names) for i in range(spec.n_points)]


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_decode_is_a_bijection_onto_the_product(sizes: list[int]) -> None:
    names = ["batch", "input_len", "output_len", "tp"][: len(sizes)]
    axes = dict(zip(names, [list(range(1, n + 1)) for n in sizes], strict=True))
    raw = {"axes": {"model": "llama2-7b", "hardware": "h100-sxm", "batch": 1, "input_len": 1,
                    "output_len": 1, **axes}}  # fmt: skip
    got = _combos(raw)
    spec = parse_spec(raw)
    names = [a for d in spec.dims for a in d.axes]
    want = list(itertools.product(*(axes[a] for a in names)))
    assert sorted(got) == sorted(want) and len(set(got)) == len(got)


def test_zip_group_varies_together() -> None:
    raw = {"axes": {"model": "llama2-7b", "hardware": "h100-sxm", "batch": [1, 2],
                    "input_len": [128, 256, 512], "output_len": [16, 32, 64]},
           "zip": [["input_len", "output_len"]]}  # fmt: skip
    spec = parse_spec(raw)
    assert spec.n_points == 2 * 3
    pos = spec.decode(np.arange(6))
    pairs = {(spec.value_of("input_len", int(a)), spec.value_of("output_len", int(b)))
             for a, b in zip(pos["input_len"], pos["output_len"], strict=True)}  # fmt: skip
    assert pairs == {(128, 16), (256, 32), (512, 64)}


def test_hardware_params_parse_units() -> None:
    raw = {
        "axes": {"model": "llama2-7b", "hardware": "h2m2", "batch": 1, "input_len": 128, "output_len": 8},
        "hardware_params": {"hbm.capacity": ["48 GB", "96 GB", "192 GB"], "lpddr.bandwidth": "272 GB/s"},
    }
    spec = parse_spec(raw)
    assert spec.n_points == 3
    assert spec.value_of("hbm.capacity", 2) == 192e9
    assert spec.value_of("lpddr.bandwidth", 0) == 272e9


BASE = {"model": "llama2-7b", "hardware": "h100-sxm", "batch": 1, "input_len": 128, "output_len": 8}


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"axes": {**BASE, "bacth": [1, 2]}}, "did you mean batch"),
        ({"axes": {**BASE, "hbm.capacity": ["48 GB"]}}, "hardware_params"),
        ({"axes": BASE, "hardware_params": {"hbm.capacity": [48]}}, "has no unit"),
        ({"axes": BASE, "hardware_params": {"hbm.capacity": ["48 GB/s"]}}, "not a unit of bytes"),
        ({"axes": BASE, "hardware_params": {"hbm.capasity": ["48 GB"]}}, "did you mean capacity"),
        (
            {"axes": {**BASE, "batch": [1, 2], "input_len": [1, 2, 3]}, "zip": [["batch", "input_len"]]},
            "equal lengths (batch has 2, input_len has 3)",
        ),
        ({"axes": {**BASE, "batch": []}}, "empty list"),
        ({"axes": {**BASE, "tp": [0]}}, "whole number from 1 to"),
        ({"axes": BASE, "filters": ["tpot_s <<= 1"]}, "bound like"),
        ({"axes": {k: v for k, v in BASE.items() if k != "model"}}, "'model' is required"),
        ({"axis": BASE}, "did you mean axes"),
    ],
)
def test_bad_spec_one_clear_error(raw: dict, needle: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=None) as exc:
        parse_spec(raw)
    assert needle in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unknown_side_and_column_are_named_before_running() -> None:
    spec = parse_spec({"axes": BASE, "hardware_params": {"lpddr.capacity": ["48 GB"]}})
    with pytest.raises(ConfigError, match=r"unknown memory side of h100-sxm.*'lpddr'.*choose from hbm"):
        Evaluator(spec).check()
    spec = parse_spec({"axes": BASE, "filters": ["tpot_ms <= 5"]})
    with pytest.raises(ConfigError, match="did you mean tpot_s"):
        Evaluator(spec).check()
