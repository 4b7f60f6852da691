"""Names and uploads: a page takes a file only by its exact name in a folder's listing, never a
path; uploads are size-checked, held under an opaque id and keep only a safe base name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hetsim.errors import ConfigError, UnknownNameError
from hetsim.web.context import Context, listing, pick, safe_name
from hetsim.web.view import Inputs, Upload


@pytest.mark.parametrize(
    "name",
    ["../secret.csv", "a/../../secret.csv", "sub/../../../etc/passwd", "..", "./ok.csv", "/etc/passwd",
     "\\\\server\\share", "C:\\Windows\\win.ini", "//etc/passwd", "", "OK.CSV", "ok.csv\x00"],
)  # fmt: skip
def test_pick_takes_only_names_from_the_listing(tmp_path: Path, name: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.csv").write_text("x")
    assert pick("ok.csv", listing(root, "*.csv"), "file") == "ok.csv"
    with pytest.raises(UnknownNameError, match="unknown file"):
        pick(name, listing(root, "*.csv"), "file")


def test_listing_leaves_out_links_pointing_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.csv").write_text("x")
    (root / "ok.csv").write_text("x")
    os.symlink(tmp_path / "secret.csv", root / "link.csv")
    os.symlink(root / "ok.csv", root / "inside.csv")
    assert listing(root, "*.csv") == ["inside.csv", "ok.csv"]
    assert listing(None, "*.csv") == [] and listing(tmp_path / "missing", "*.csv") == []


def test_safe_name_strips_folders_and_checks_suffix() -> None:
    assert safe_name("../../etc/x.yaml", (".yaml",)) == "x.yaml"
    assert safe_name("C:\\Users\\me\\my hw.yaml", (".yaml",)) == "my_hw.yaml"
    with pytest.raises(ConfigError, match=r"expected a \.yaml"):
        safe_name("run.sh", (".yaml",))


def test_upload_limit_and_scrubbed_messages(tmp_path: Path) -> None:
    ctx = Context(max_upload_bytes=100, upload_root=tmp_path / "up")
    with pytest.raises(ConfigError, match=r"limit is 0\.0 MB"):
        ctx.save_upload(Upload("big.yaml", "x" * 101), (".yaml",))
    path = ctx.save_upload(Upload("../../h.yaml", "a: 1"), (".yaml",))
    assert path.is_relative_to(tmp_path / "up") and path.name == "h.yaml" and path.read_text() == "a: 1"
    assert ctx.scrub(f"{path} is not valid YAML: x") == "h.yaml is not valid YAML: x"
    hf = ctx.save_upload(Upload("config.json", "{}"), (".json",), hf_model=True)
    assert hf.parent.name == "uploaded-model"
    assert ctx.scrub(f"{hf} is not valid JSON: y") == "config.json is not valid JSON: y"


def test_inputs_parse_with_one_line_errors() -> None:
    inp = Inputs({"batch": "8", "tp": "0", "x": "1.5", "flag": True, "pick": "c"})
    assert inp.integer("batch", 1) == 8
    for name, match in (("tp", "from 1 to"), ("x", "whole number"), ("missing", "")):
        if name == "missing":
            assert inp.integer(name, 3) == 3
            continue
        with pytest.raises(ConfigError, match=match):
            inp.integer(name, 1)
    assert inp.flag("flag") and not inp.flag("nope")
    with pytest.raises(ConfigError, match="one of a, b"):
        inp.choice("pick", ("a", "b"), "a")
