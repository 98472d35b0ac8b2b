"""The dependency rules of DESIGN.md, as import-linter contracts: every module is covered."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import genstudio

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def top_level_modules() -> set[str]:
    # genstudio.resources (files, no code) is mapped from resources/ and import-linter cannot see it
    return {f"genstudio.{m.name}" for m in pkgutil.iter_modules(genstudio.__path__)} - {
        "genstudio.__main__",
        "genstudio.resources",
    }


def test_every_module_outside_the_gui_is_kept_free_of_qt():
    qt = next(c for name, c in contracts().items() if name.startswith("Qt stays in genstudio.gui"))
    assert set(qt["source_modules"]) == (top_level_modules() - {"genstudio.gui"}) | {"genstudio_plugins"}
    assert {"PySide6", "pyqtgraph", "shiboken6"} <= set(qt["forbidden_modules"])


def test_plugins_may_import_only_the_api():
    rule = next(c for name, c in contracts().items() if name.startswith("Built-in plugins import genstudio.api only"))
    assert set(rule["forbidden_modules"]) == top_level_modules() - {"genstudio.api"}


def test_the_api_stands_alone():
    rule = next(c for name, c in contracts().items() if name.startswith("genstudio.api depends on no other"))
    assert set(rule["forbidden_modules"]) == top_level_modules() - {"genstudio.api"}


@pytest.mark.skipif(not (Path(sys.prefix) / "bin" / "lint-imports").exists(), reason="import-linter is a dev tool")
def test_the_contracts_hold():
    out = subprocess.run([str(Path(sys.prefix) / "bin" / "lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_module_has_a_layer():
    rule = next(c for c in contracts().values() if c["type"] == "layers")
    assert rule["containers"] == ["genstudio"]
    named = {
        f"genstudio.{part.strip().strip('()')}"
        for layer in rule["layers"]
        for part in layer.replace(":", "|").split("|")
    }
    assert top_level_modules() <= named, top_level_modules() - named
    # the order DESIGN.md gives: the plugin contract at the bottom, the front ends at the top
    order = [layer.split("|")[0].strip() for layer in rule["layers"]]
    assert order.index("cli") < order.index("runs") < order.index("training") < order.index("data")
    assert order[-1] == "api"


def test_no_module_is_over_600_lines():
    """Issue 14: a module that grows past 600 lines is split before it grows further."""
    long = {
        str(p.relative_to(ROOT)): n
        for folder in ("genstudio", "plugins")
        for p in (ROOT / folder).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert not long, long
