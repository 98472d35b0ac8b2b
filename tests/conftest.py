"""Shared by every test: where ../shared/data is, and a quiet, deterministic torch."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GENSTUDIO_SHARED_DATA", ROOT.parent / "shared" / "data"))

# Two test processes share two cores: one thread each keeps them from fighting.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Tests build their plugin hosts themselves; an installed third-party plugin must not leak in.
os.environ.setdefault("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", "1")
# Nor may the plugins a developer switched off in their own config folder.
CONFIG_DIR = tempfile.mkdtemp(prefix="genstudio-test-config-")
os.environ["GENSTUDIO_CONFIG_DIR"] = CONFIG_DIR
# Nor the catalogue sets a developer fetched (`mnist` would mean the full set), nor a mirror.
os.environ["GENSTUDIO_DATASETS_DIR"] = os.path.join(CONFIG_DIR, "datasets")
os.environ.pop("GENSTUDIO_DATASETS_MIRROR", None)


def pytest_configure(config: pytest.Config) -> None:
    import torch

    torch.set_num_threads(1)


def in_ci() -> bool:
    """``CI=true`` (``.ci/run`` and every CI service set it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (real MNIST and optdigits). CI has it: there a
    missing folder fails the tests that need it instead of skipping them silently."""
    if not SHARED_DATA.is_dir():
        message = f"the shared data folder {SHARED_DATA} is not here"
        if in_ci():
            pytest.fail(f"{message}; CI must have it (set GENSTUDIO_SHARED_DATA)")
        pytest.skip(message)
    return SHARED_DATA


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(CONFIG_DIR, ignore_errors=True)


@pytest.fixture
def importable(tmp_path, monkeypatch):
    """``importable(name, source)`` writes the module ``name`` (source dedented) where this
    test can import it; the modules written leave ``sys.modules`` when the test ends."""
    folder = tmp_path / "importable"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    written: list[str] = []

    def write(name: str, source: str) -> None:
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)

    yield write
    for name in written:
        sys.modules.pop(name, None)
