"""Throwaway Python environments for installing plugins in tests, never into the real one.

:func:`layered_env` makes a venv whose own site-packages comes first and whose ``.pth`` file
adds the site-packages of the environment running the tests: GenStudio, torch and pip are
importable from below, what pip installs stays in the venv, and pip refuses to remove
anything below it. Nothing is downloaded: ``offline_env`` sets ``PIP_NO_INDEX``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path


def layered_env(root: Path) -> Path:
    """Create the environment in ``root``; returns its ``python``."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    base = sysconfig.get_paths()["purelib"]
    Path(site_packages(python), "_genstudio_tests_base.pth").write_text(f"import site; site.addsitedir({base!r})\n")
    return python


def site_packages(python: Path) -> str:
    """Where ``python``'s environment installs packages."""
    return subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def offline_env(**extra: str) -> dict[str, str]:
    """The test process's environment for a GenStudio subprocess: pip offline, autoload on."""
    env = {**os.environ, "PIP_NO_INDEX": "1", **extra}
    env.pop("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", None)
    return env


def build_wheel(project: Path, out: Path) -> Path:
    """Build ``project`` into a wheel in ``out`` with the setuptools already installed."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(project)],
        check=True,
        env={**os.environ, "PIP_NO_INDEX": "1"},
        capture_output=True,
    )
    return next(out.glob("*.whl"))
