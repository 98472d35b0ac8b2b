"""CI fails when ../shared/data is missing instead of silently skipping the tests that read it;
a developer without it gets skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEEDS_DATA = "tests/core/test_data_builtin.py::test_digits_are_scikit_learns_digits_from_the_uci_test_set"


def run_without_data(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ, GENSTUDIO_SHARED_DATA=str(tmp_path / "missing"))
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", NEEDS_DATA],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_missing_shared_data_fails_in_ci_and_skips_elsewhere(tmp_path):
    ci = run_without_data(tmp_path, "true")
    assert ci.returncode == 1, ci.stdout[-2000:]
    assert "CI must have it" in ci.stdout and "1 error" in ci.stdout
    dev = run_without_data(tmp_path, None)
    assert dev.returncode == 0, dev.stdout[-2000:]
    assert "1 skipped" in dev.stdout and "is not here" in dev.stdout
