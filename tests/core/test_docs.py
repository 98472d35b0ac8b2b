"""docs/plugins.md stays complete and true (as datasette keeps its plugin docs):
every hook and every capability is documented, and the minimal plugin it shows really
installs, is found through its entry point, trains, and passes its own tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from genstudio.api import CAPABILITIES
from tests.core.test_plugins import hook_names

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"


def headings() -> set[str]:
    return set(re.findall(r"^#+ `?([\w-]+)`?\s*$", GUIDE.read_text(), re.M))


def titled_blocks() -> dict[str, str]:
    """Code blocks written as ```lang title="file"."""
    return dict(re.findall(r'^```\w+ title="([^"]+)"\n(.*?)^```', GUIDE.read_text(), re.M | re.S))


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_documented(hook):
    assert hook in headings(), f"docs/plugins.md has no section for {hook}"


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_every_capability_is_documented(capability):
    assert capability in headings(), f"docs/plugins.md has no section for the {capability} capability"


def test_every_data_kind_is_documented():
    text = GUIDE.read_text()
    for kind in ("image", "vector", "tabular"):
        assert f"| `{kind}` |" in text


def test_the_minimal_plugin_installs_trains_and_passes_its_tests(tmp_path):
    files = titled_blocks()
    assert {"pyproject.toml", "genstudio_gaussian.py", "test_gaussian.py"} <= set(files)
    pkg = tmp_path / "genstudio-gaussian"
    pkg.mkdir()
    for name in ("pyproject.toml", "genstudio_gaussian.py"):
        (pkg / name).write_text(files[name])
    site = tmp_path / "site"
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--target",
        str(site),
        str(pkg),
    ]
    done = subprocess.run(pip, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "PYTHONPATH": str(site), "GENSTUDIO_WORKSPACE": str(tmp_path / "ws")}
    env.pop("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", None)
    genstudio = str(Path(sys.executable).with_name("genstudio"))

    listed = subprocess.run([genstudio, "plugins", "list", "--json"], env=env, capture_output=True, text=True)
    plugin = {p["name"]: p for p in json.loads(listed.stdout)}["gaussian"]
    assert plugin["source"] == "entrypoint" and plugin["version"] == "0.1.0" and plugin["error"] is None
    assert plugin["contributes"] == {"models": ["gaussian"]}

    helped = subprocess.run([genstudio, "train", "gaussian", "--help"], env=env, capture_output=True, text=True)
    assert "Adam learning rate (default: 0.05; [1e-05, 1])" in helped.stdout

    trained = subprocess.run(
        [genstudio, "train", "gaussian", "--data", "moons", "--steps", "300", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert trained.returncode == 0, trained.stderr
    last = json.loads(trained.stdout.splitlines()[-1])
    assert last["status"] == "finished" and last["losses"]["nll"] < 3.5  # from ~4.5 untrained

    (tmp_path / "test_gaussian.py").write_text(files["test_gaussian.py"])
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_gaussian.py")],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout and "warning" not in tested.stdout


def test_the_python_examples_compile():
    text = GUIDE.read_text()
    blocks = re.findall(r"^```python[^\n]*\n(.*?)^```", text, re.M | re.S)
    assert len(blocks) >= 8
    for block in blocks:
        source = block if not block.startswith("    ") else "class _C:\n" + block
        compile(source, "docs/plugins.md", "exec")


def test_the_csv_logger_example_works_as_a_dropin(tmp_path):
    from genstudio.runs.workspace import Workspace
    from genstudio.testing import make_host, train

    logger = next(b for b in re.findall(r"^```python\n(.*?)^```", GUIDE.read_text(), re.M | re.S) if "losses.csv" in b)
    ws = Workspace(tmp_path)
    ws.plugins_dir.mkdir()
    (ws.plugins_dir / "csv_logger.py").write_text(logger)
    host = make_host(ws.root, autoload=True)
    trainer, _ = train(host, ws, "tiny", steps=15)
    rows = (trainer.folder / "losses.csv").read_text().splitlines()
    assert rows[0] == "step,key,value" and sum(r.split(",")[1] == "nll" for r in rows[1:]) == 15


def test_every_plugins_command_is_documented():
    from genstudio.cli import base_parser

    plugins = next(a for a in base_parser()._subparsers._group_actions[0].choices.items() if a[0] == "plugins")[1]
    actions = plugins._subparsers._group_actions[0].choices
    text = GUIDE.read_text()
    for action in actions:
        assert f"genstudio plugins {action}" in text, action
    assert "Manage plugins…" in text and "## Start from the scaffold" in text
