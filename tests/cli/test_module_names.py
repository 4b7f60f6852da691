"""Each CLI module is named after the command(s) it registers (the rule in ``hetsim.cli``'s
docstring), so the code of ``hetsim NAME`` is found from the name alone."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import hetsim.cli
from hetsim.cli.common import app


def _registered() -> dict[str, list[str]]:
    """Module stem -> the top-level commands (or command groups) it registers, in order."""
    by_module: dict[str, list[str]] = defaultdict(list)
    for cmd in app.registered_commands:
        assert cmd.name and cmd.callback is not None
        if cmd.hidden:  # a kept old name (``frameworks`` for ``engines``) names no module
            continue
        by_module[cmd.callback.__module__.rsplit(".", 1)[1]].append(cmd.name)
    for group in app.registered_groups:
        sub = group.typer_instance
        assert group.name and sub is not None
        modules = {c.callback.__module__ for c in sub.registered_commands if c.callback is not None}
        assert len(modules) == 1, f"command group {group.name!r} spans {sorted(modules)}"
        by_module[modules.pop().rsplit(".", 1)[1]].append(group.name)
    return by_module


def test_every_command_module_is_named_after_its_commands() -> None:
    wrong = {
        stem: "_".join(names).replace("-", "_")
        for stem, names in _registered().items()
        if stem != "_".join(names).replace("-", "_")
    }
    assert not wrong, f"rename these CLI modules (module: expected name): {wrong}"


def test_the_rule_covers_every_command() -> None:
    names = [n for ns in _registered().values() for n in ns]
    assert {"analyze", "serve-sim", "validate", "calibrate", "explore", "reproduce"} <= set(names)
    folder = Path(hetsim.cli.__file__).parent
    assert all((folder / f"{stem}.py").is_file() for stem in _registered())
