"""CI's skip check (.ci/check_skips.py) fails a run where a test skipped for want of data (or
anything but missing hardware), and counts expected failures apart from skips."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "check_skips.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_skips", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _junit(tmp_path: Path, *skips: tuple[str, str]) -> str:
    cases = "".join(
        f'<testcase classname="t" name="c{i}"><skipped type="{kind}" message="{why}"/></testcase>'
        for i, (kind, why) in enumerate(skips)
    )
    path = tmp_path / "junit.xml"
    path.write_text(
        f'<testsuites><testsuite><testcase classname="t" name="ok"/>{cases}</testsuite></testsuites>'
    )
    return str(path)


@pytest.mark.parametrize(
    ("skips", "code", "needle"),
    [
        ((), 0, "0 skipped"),
        ((("pytest.xfail", "missed target: 16% held out"),), 0, "1 xfailed, 0 skipped"),
        ((("pytest.skip", "needs a CUDA GPU"),), 0, "1 for missing hardware"),
        ((("pytest.skip", "data/measurements/published/x.csv not found"),), 1, "1 for want of data"),
        ((("pytest.skip", "Playwright is not installed"),), 1, "0 for want of data"),
    ],
)
def test_the_check_fails_on_skips_that_hide_a_check(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    skips: tuple[tuple[str, str], ...],
    code: int,
    needle: str,
) -> None:
    assert _module().main(_junit(tmp_path, *skips)) == code
    assert needle in capsys.readouterr().out
