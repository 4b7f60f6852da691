"""One error path (one line, exit 2, JSON error object), safe file reading, nothing overwritten."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hetsim.errors import ConfigError
from hetsim.outfiles import atomic_write_text, check_new_file, check_out_dir, strict_json
from hetsim.safeload import parse_text
from tests.conftest import CliResult

Run = Callable[..., CliResult]
SMALL = ("analyze", "-m", "llama2-7b", "-H", "h100-sxm", "-p", "64", "-g", "4")


def _bad(r: CliResult, *needles: str) -> str:
    assert r.code == 2, (r.code, r.out, r.err)
    assert "Traceback" not in r.err + r.out
    line = r.err.strip()
    assert line.startswith("error: ") and "\n" not in line, r.err
    for needle in needles:
        assert needle in line, line
    return line


def test_version_and_short_help(run_cli: Run) -> None:
    r = run_cli("--version")
    assert r.code == 0 and r.out.startswith("hetsim 0.")
    r = run_cli("analyze", "-h")
    assert r.code == 0 and "--model" in r.out


def test_json_failure_prints_an_error_object(run_cli: Run) -> None:
    r = run_cli("analyze", "-m", "llama2-70b", "-H", "a100", "--json")
    _bad(r, "needs")
    err = json.loads(r.out)["error"]
    assert err["kind"] == "CapacityError" and "needs" in err["message"]
    r = run_cli("analyze", "--batch", "many", "--json")
    _bad(r, "--batch")
    assert json.loads(r.out)["error"]["kind"] == "UsageError"


def test_tensor_parallel_without_interconnect_is_refused(run_cli: Run) -> None:
    _bad(run_cli("analyze", "-m", "llama2-7b", "-H", "mi210", "--tp", "2"), "no interconnect")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"name: caf\xe9\n", "not UTF-8"),
        (b"name: a\nname: b\n", "duplicate key 'name'"),
        (b"name: x\n1: 2\n", "not a name"),
        (b"x: " + b"[" * 200 + b"]" * 200 + b"\n", "nested"),
        (b"a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
         + b"".join(b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n"
                    % ((98 + i, 98 + i) + (97 + i,) * 10) for i in range(8)), "aliases"),
        (b"a: &a [*a]\n", "refers to itself"),
        (b"- 1\n- 2\n", "top level must be a mapping"),
    ],
)  # fmt: skip
def test_bad_yaml_files_get_one_line(run_cli: Run, tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "hw.yaml"
    path.write_bytes(content)
    _bad(run_cli(*SMALL[:3], "-H", str(path)), needle)


def test_recursive_alias_and_json_constants_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"refers to itself|not valid"):
        parse_text("a: &a\n  b: *a\n", "yaml", "x.yaml")
    with pytest.raises(ConfigError, match="strict JSON"):
        parse_text('{"a": NaN}', "json", "c.json")
    with pytest.raises(ConfigError, match="duplicate key"):
        parse_text('{"a": 1, "a": 2}', "json", "c.json")


def test_model_file_errors_name_the_key(run_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "name: tiny\nn_layers: 2\nd_model: 64\nn_heads: 4\nn_kv_heads: 4\nhead_dim: 16\nd_ff: 128\n"
    )
    _bad(run_cli("analyze", "-m", str(path)), "missing key(s) vocab_size")
    path.write_text(path.read_text() + "vocab_size: 1.0e+400\n")
    _bad(run_cli("analyze", "-m", str(path)), "vocab_size")
    cfg = tmp_path / "config.json"
    hf = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 0,
          "intermediate_size": 128, "vocab_size": 100}  # fmt: skip
    cfg.write_text(json.dumps(hf))
    _bad(run_cli("analyze", "-m", str(cfg)), "config.json")


def test_plot_is_never_overwritten_or_put_under_a_missing_folder(run_cli: Run, tmp_path: Path) -> None:
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"precious")
    _bad(run_cli(*SMALL, "--plot", str(mine)), "exists", "--force")
    assert mine.read_bytes() == b"precious"
    missing = tmp_path / "nope" / "x.png"
    _bad(run_cli(*SMALL, "--plot", str(missing)), "does not exist")
    assert not missing.parent.exists()
    _bad(run_cli(*SMALL, "--plot", str(mine / "x.png")), "is a file")
    _bad(run_cli(*SMALL, "--plot", str(tmp_path)), ".png")
    r = run_cli(*SMALL, "--plot", str(mine), "--force", "--json")
    assert r.code == 0, r.err
    assert mine.read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_output_folder_rules(tmp_path: Path) -> None:
    names = ["report.md", "results.json"]
    out = check_out_dir(tmp_path / "new", False, names)
    assert out.is_dir()
    with pytest.raises(ConfigError, match="does not exist"):
        check_out_dir(tmp_path / "a" / "b", False, names)
    (out / "report.md").write_text("old")
    with pytest.raises(ConfigError, match=r"--force"):
        check_out_dir(out, False, names)
    check_out_dir(out, True, names)
    (out / "notes.txt").write_text("the user's")
    with pytest.raises(ConfigError, match=r"notes\.txt"):
        check_out_dir(out, True, names)
    with pytest.raises(ConfigError, match="is a file"):
        check_out_dir(out / "notes.txt", True, names)
    with pytest.raises(ConfigError, match="is a folder"):
        check_new_file(out, True)


def test_reproduce_refuses_a_folder_with_user_files(run_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "report.md").write_text("my notes")
    (tmp_path / "todo.txt").write_text("mine")
    _bad(run_cli("reproduce", "h2m2", "--out", str(tmp_path)), "todo.txt")
    _bad(run_cli("demo", "--out", str(tmp_path / "x" / "y")), "does not exist")
    assert (tmp_path / "report.md").read_text() == "my notes"


def test_calibrate_needs_a_named_target(run_cli: Run, tmp_path: Path) -> None:
    _bad(run_cli("calibrate", "--from-measurements", str(tmp_path / "m.csv")), "--out-dir")
    _bad(
        run_cli("calibrate", "--out-dir", str(tmp_path), "--into-package", "--from-measurements", "m.csv"),
        "choose one",
    )
    _bad(run_cli("validate", "--worst", "-3"), "--worst")


def test_atomic_write_and_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    atomic_write_text(path, strict_json({"a": float("inf"), "b": [float("nan"), 1.5]}))
    assert json.loads(path.read_text()) == {"a": None, "b": [None, 1.5]}
    assert "Infinity" not in path.read_text() and "NaN" not in path.read_text()


def test_packaged_yaml_passes_the_strict_loader() -> None:
    """The presets are read with libyaml's fast loader; here they pass the strict one too
    (no duplicate keys, nesting or alias expansion beyond the limits)."""
    root = Path(__file__).parents[2] / "src/hetsim"
    files = sorted(root.rglob("*.yaml"))
    assert len(files) > 20
    for path in files:
        assert isinstance(parse_text(path.read_text(encoding="utf-8"), "yaml", str(path)), dict)


def test_cli_start_up_imports_no_heavy_library() -> None:
    """`hetsim --help` must stay fast: the command modules import NumPy, SciPy, Matplotlib
    and PyYAML inside the commands (timings: make bench, bench_startup)."""
    import subprocess
    import sys

    heavy = "{'numpy', 'scipy', 'matplotlib', 'yaml'}"
    code = f"import sys; import hetsim.cli; print(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_validate_fits_a_100_column_terminal(run_cli: Run) -> None:
    r = run_cli("validate", "--worst", "5")
    assert r.code == 0, r.err
    assert max(len(line.rstrip()) for line in r.out.splitlines()) <= 100
    assert "fitted rows" in r.out and "held-out rows" in r.out and "unit" in r.out


def test_calibrate_on_kernel_rows_only_writes_loadable_overlays(run_cli: Run, tmp_path: Path) -> None:
    """A fit without all-reduce rows used to write overlays that no later command could load."""
    from hetsim.calibration.measurements import published
    from hetsim.datafiles import read_mapping
    from hetsim.hardware.kernels import kernel_params_from_mapping

    lines = published("vidur_ops.csv").read_text(encoding="utf-8").splitlines()
    small = tmp_path / "small.csv"
    small.write_text("\n".join([lines[0], *[x for x in lines[1:] if "A100" in x.upper()][:150]]) + "\n")
    args = ("calibrate", "--from-measurements", str(small), "--fit-file", "small.csv",
            "--fit-hardware", "a100-80gb-sxm", "--out-dir", str(tmp_path / "ov"), "--json")  # fmt: skip
    r = run_cli(*args)
    assert r.code == 0, r.err
    overlay = tmp_path / "ov" / "a100-80gb-sxm.yaml"
    kernel_params_from_mapping(read_mapping(overlay)["kernels"], str(overlay))  # loads: every value sourced
    before = overlay.read_text()
    _bad(run_cli(*args), "exists", "--force")
    assert overlay.read_text() == before


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_outputs_follow_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        path = atomic_write_text(tmp_path / "new.txt", "x")
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask
        keep = tmp_path / "kept.txt"
        keep.write_text("old")
        keep.chmod(0o640)
        atomic_write_text(keep, "new")  # a replaced file keeps its own permissions
        assert keep.stat().st_mode & 0o777 == 0o640 and keep.read_text() == "new"
    finally:
        os.umask(old)


def test_missing_optional_library_is_one_line_with_its_install(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An optional library that is not installed is exit 2 naming the install, never exit 3."""
    import sys

    import hetsim.explore.sql as sql

    monkeypatch.setitem(sys.modules, "duckdb", None)  # 'import duckdb' now raises ImportError
    _bad(run_cli("explore", "query", str(tmp_path), "SELECT 1"), "pip install duckdb")
    monkeypatch.undo()
    for module, hint in (("torch", "pip install 'hetsim[torch]'"), ("ray", "pip install 'hetsim[ray]'")):

        def missing(*_: object, name: str = module) -> None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        monkeypatch.setattr(sql, "connect", missing)
        _bad(run_cli("explore", "query", str(tmp_path), "SELECT 1"), hint)
    monkeypatch.setattr(sql, "connect", lambda *_: __import__("no_such_module_hetsim"))
    r = run_cli("explore", "query", str(tmp_path), "SELECT 1")
    assert r.code == 3 and "internal error" in r.err  # a module hetsim does not name is a bug


def test_default_install_covers_explore() -> None:
    """`make demo` installs the default dependencies plus the web extra; explore (shown in the
    README) needs pyarrow and duckdb, so they are default dependencies."""
    import tomllib

    data = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip() for d in data["project"]["dependencies"]}
    assert {"pyarrow", "duckdb", "numpy", "pyyaml", "typer"} <= names


def test_misspelt_file_gets_did_you_mean(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sweep.yaml").write_text("axes: {}\n")
    _bad(run_cli("explore", "swep.yaml", "--dry-run"), "did you mean sweep.yaml?")
    _bad(
        run_cli("explore", str(tmp_path / "swee.yaml"), "--dry-run"),
        f"did you mean {tmp_path / 'sweep.yaml'}?",
    )
    assert "did you mean" not in _bad(run_cli("explore", "other.yaml", "--dry-run"))
