"""Managing plugins: which are switched off, and installing or removing them with pip.

No Qt here: the command line and the window's plugin manager share all of it.

- The enabled state: a JSON file in the user config folder (``$GENSTUDIO_CONFIG_DIR``, else
  ``platformdirs.user_config_dir("GenStudio")``) naming the disabled plugins;
  :func:`genstudio.host.create_plugin_manager` reads it unless told otherwise.
- pip runs as a subprocess of the Python that runs GenStudio (or one given), with its output
  line by line and a way to cancel it (:class:`PipRun`).
- The host is protected: every pip call gets a constraints file, written on the fly, pinning
  the installed versions of GenStudio and the packages it is built on (:data:`PROTECTED`),
  so no plugin can replace them (napari learned this when a plugin silently downgraded it).
- Before installing, ``pip install --dry-run --report`` says what would be installed or
  replaced (:class:`Preview`); a change to a protected package is refused.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import json
import logging
import os
import re
import signal
import site
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genstudio.host.enabled import (  # noqa: F401 - the enabled state is part of managing plugins
    CONFIG_ENV,
    STATE_FILE,
    CancelledError,
    PluginAdminError,
    can_disable,
    config_dir,
    disabled_plugins,
    set_enabled,
    state_path,
)
from genstudio.host.sources import BUILTIN_PLUGINS, CORE_PLUGINS, DROPIN_FOLDER, ENTRY_POINT_GROUP  # noqa: F401

log = logging.getLogger(__name__)

#: Distributions a plugin may never replace: GenStudio, its dependencies and the window's.
PROTECTED: tuple[str, ...] = (
    "genstudio",
    "torch",
    "numpy",
    "pillow",
    "pluggy",
    "safetensors",
    "platformdirs",
    "pooch",
    "pyside6",
    "pyside6-essentials",
    "pyside6-addons",
    "shiboken6",
    "pyqtgraph",
    "optuna",  # the sweeps' studies live in its storage schema
    "sqlalchemy",
)


ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip")


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): ``Genstudio_Foo`` -> ``genstudio-foo``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def known_plugins(workspace: str | Path | None = None) -> dict[str, str]:
    """Every plugin name GenStudio can find, and where from (``builtin``, ``entrypoint``,
    ``dropin``), without importing any of them."""
    found = {m.rsplit(".", 1)[-1]: "builtin" for m in BUILTIN_PLUGINS}
    for ep in _entry_points():
        found.setdefault(ep.name, "entrypoint")
    if workspace is not None:
        for path in sorted((Path(workspace) / DROPIN_FOLDER).glob("*.py")):
            if not path.stem.startswith("_"):
                found.setdefault(path.stem, "dropin")
    return found


# -- installed plugin packages -------------------------------------------------------------------


def _entry_points() -> list[Any]:
    try:
        return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:  # one broken distribution's metadata must not hide the others
        log.warning("could not read the %r entry points: %s", ENTRY_POINT_GROUP, exc)
        return []


@dataclass
class PluginPackage:
    """An installed distribution that provides GenStudio plugins through entry points."""

    name: str
    version: str
    plugins: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.name} {self.version} (plugins: {', '.join(self.plugins)})"


def refresh_metadata() -> None:
    """Forget cached package metadata, so what pip just changed is seen in this process."""
    importlib.invalidate_caches()


def plugin_packages() -> dict[str, PluginPackage]:
    """Installed distributions with ``genstudio`` entry points, by normalized name."""
    packages: dict[str, PluginPackage] = {}
    for ep in _entry_points():
        dist = getattr(ep, "dist", None)
        if dist is None or not dist.metadata["Name"]:
            continue
        key = normalize(dist.metadata["Name"])
        package = packages.setdefault(key, PluginPackage(dist.metadata["Name"], dist.version))
        if ep.name not in package.plugins:
            package.plugins.append(ep.name)
    return packages


def find_package(name: str) -> PluginPackage | None:
    """The installed distribution behind a plugin name or a distribution name."""
    packages = plugin_packages()
    if normalize(name) in packages:
        return packages[normalize(name)]
    return next((p for p in packages.values() if name in p.plugins), None)


def dropin_file(workspace: str | Path | None, name: str) -> Path | None:
    if workspace is None:
        return None
    path = Path(workspace) / DROPIN_FOLDER / f"{name}.py"
    return path if path.is_file() else None


def _top_level_modules(dist: Any) -> set[str]:
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    tops = set()
    for f in dist.files or ():
        first = f.parts[0] if f.parts else ""
        if first in ("..", "__pycache__") or first.endswith((".dist-info", ".data", ".pth")):
            continue
        tops.add(first.removesuffix(".py"))
    return tops


def loaded_modules(distributions: Iterable[str]) -> list[str]:
    """The top-level modules of these distributions that this process has imported. A new
    version of such a module takes effect only after a restart: Python keeps the old one."""
    loaded = []
    for name in distributions:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        loaded += sorted(m for m in _top_level_modules(dist) if m in sys.modules)
    return loaded


def path_files() -> set[Path]:
    """The ``.pth`` files in the folders on ``sys.path``."""
    found: set[Path] = set()
    for entry in sys.path:
        with contextlib.suppress(OSError):
            if entry and os.path.isdir(entry):
                found.update(Path(entry).glob("*.pth"))
    return found


def activate_new_path_files(before: set[Path]) -> list[Path]:
    """Process the ``.pth`` files written since ``before`` was taken, as Python would at start.
    An editable install adds its folder (or an import hook) through one; without this, its
    plugin would only import after a restart."""
    new = sorted(path_files() - before)
    addpackage = getattr(site, "addpackage", None)  # not public, but in every CPython 3
    if addpackage is None:
        return []
    known = {os.path.normcase(os.path.abspath(p)) for p in sys.path if p}
    for pth in new:
        try:
            addpackage(str(pth.parent), pth.name, known)
        except Exception as exc:  # a broken .pth file must not take the host down
            log.warning("could not process %s: %s", pth, exc)
    return new


# -- pip in a subprocess --------------------------------------------------------------------------


class PipRun:
    """One pip command in a subprocess, its output (stdout and stderr together) line by line.

    Call :meth:`lines` to start it and read it to the end, then :meth:`result`. :meth:`cancel`
    may be called from another thread."""

    def __init__(
        self,
        argv: list[str],
        *,
        parse: Callable[[], Any] | None = None,
        cleanup: Iterable[Path] = (),
        outputs: Iterable[Path] = (),
        what: str = "pip",
    ):
        self.argv = argv
        self.what = what
        self.output: list[str] = []
        self.returncode: int | None = None
        self.cancelled = False
        self.process: subprocess.Popen | None = None
        self._parse = parse
        self._parsed: Any = None
        self._cleanup = list(cleanup)  # removed once pip has exited
        self._outputs = list(outputs)  # what pip writes for `parse`: removed once read, or on failure

    def command(self) -> str:
        return " ".join(self.argv)

    def start(self) -> PipRun:
        if self.process is None and not self.cancelled:
            kwargs: dict[str, Any] = {}
            if os.name == "posix":  # its own process group, so a cancel reaches pip's build steps too
                kwargs["start_new_session"] = True
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "PIP_NO_INPUT": "1"}
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                errors="replace",
                env=env,
                **kwargs,
            )
        return self

    def lines(self) -> Iterator[str]:
        """Start pip, and yield each line it prints until it exits."""
        self.start()
        try:
            if self.process is None:  # cancelled before it started
                self.returncode = -1
                return
            assert self.process.stdout is not None
            for line in self.process.stdout:
                line = line.rstrip("\r\n")
                self.output.append(line)
                yield line
            self.returncode = self.process.wait()
        finally:
            for path in self._cleanup:
                with contextlib.suppress(OSError):
                    path.unlink()

    def run(self, echo: Callable[[str], None] | None = None) -> Any:
        """Run to the end (passing each line to ``echo``) and return :meth:`result`."""
        for line in self.lines():
            if echo is not None:
                echo(line)
        return self.result()

    def cancel(self, grace: float = 5.0) -> None:
        """Stop pip: an interrupt first, since pip rolls back a half-done install on one, then
        a termination if it is still running after ``grace`` seconds. Blocks up to twice
        ``grace``: call it off the GUI thread."""
        self.cancelled = True
        process = self.process
        if process is None or process.poll() is not None:
            return
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGKILL", signal.SIGTERM)):
            self._signal(process, sig)
            try:
                process.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue

    @staticmethod
    def _signal(process: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if os.name == "posix":
                os.killpg(process.pid, sig)
            else:  # Windows has no interrupt to send to another console's process
                process.kill()

    def result(self) -> Any:
        """What the run produced; raises :class:`CancelledError` or :class:`PluginAdminError` (with
        pip's last lines) if it did not succeed."""
        try:
            if self.cancelled:
                raise CancelledError(f"{self.what} cancelled")
            if self.returncode is None:
                raise PluginAdminError(f"{self.what} has not run")
            if self.returncode != 0:
                tail = "\n".join(line for line in self.output[-15:] if line.strip())
                raise PluginAdminError(f"{self.what} failed (pip exited with {self.returncode}):\n{tail}")
            if self._parse is not None:  # once: the outputs it reads go next
                self._parsed, self._parse = self._parse(), None
            return self._parsed
        finally:
            if self.returncode is not None or self.cancelled:
                for path in self._outputs:
                    with contextlib.suppress(OSError):
                        path.unlink()


# -- what to install ---------------------------------------------------------------------------------


@dataclass
class InstallTarget:
    """What ``pip install`` gets: a requirement (``name``, ``name==1.0``), a wheel or sdist
    file, or a project folder (editable or not)."""

    spec: str
    kind: str  # "requirement", "file" or "folder"
    editable: bool = False

    @classmethod
    def parse(cls, spec: str, editable: bool = False) -> InstallTarget:
        spec = spec.strip()
        if not spec or spec.startswith("-"):  # pip would read it as an option
            raise PluginAdminError(f"{spec!r} is not a package name, a file or a folder")
        path = Path(spec).expanduser()
        looks_like_path = os.sep in spec or "/" in spec or spec.endswith(ARCHIVE_SUFFIXES) or path.exists()
        if path.is_dir():
            if not ((path / "pyproject.toml").is_file() or (path / "setup.py").is_file()):
                raise PluginAdminError(f"{spec}: a project folder needs a pyproject.toml or setup.py")
            return cls(str(path.resolve()), "folder", editable)
        if path.is_file():
            if not spec.endswith(ARCHIVE_SUFFIXES):
                raise PluginAdminError(f"{spec}: install a wheel (.whl), an sdist (.tar.gz, .zip) or a folder")
            if editable:
                raise PluginAdminError(f"{spec}: only a folder installs editable")
            return cls(str(path.resolve()), "file")
        if looks_like_path:
            raise PluginAdminError(f"{spec}: no such file or folder")
        if editable:
            raise PluginAdminError(f"{spec}: only a folder installs editable")
        return cls(spec, "requirement")

    def pip_args(self) -> list[str]:
        return ["-e", self.spec] if self.editable else [self.spec]

    def describe(self) -> str:
        return {"folder": "the folder", "file": "the file", "requirement": "the package"}[self.kind] + (
            f" {self.spec}" + (" (editable)" if self.editable else "")
        )


@dataclass
class Change:
    """One distribution pip would install: ``installed`` is the version it replaces, if any."""

    name: str
    version: str
    installed: str | None = None
    requested: bool = False

    def describe(self) -> str:
        if self.installed is None:
            return f"{self.name} {self.version} (new)"
        if self.installed == self.version:
            return f"{self.name} {self.version} (reinstalled)"
        return f"{self.name} {self.version} (replaces {self.installed})"


@dataclass
class Preview:
    """What ``pip install`` would do, and whether GenStudio allows it."""

    target: InstallTarget
    changes: list[Change]
    pins: list[str]
    refused: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused

    @property
    def requested(self) -> list[str]:
        return [c.name for c in self.changes if c.requested]

    @property
    def replaced(self) -> list[str]:
        return [c.name for c in self.changes if c.installed is not None]

    def describe(self) -> str:
        lines = [f"Installing {self.target.describe()} would install:"]
        lines += [f"  {c.describe()}" for c in self.changes] or ["  nothing new (everything is installed already)"]
        lines.append("GenStudio's own packages stay as they are: " + ", ".join(self.pins) + ".")
        lines += [f"Refused: {reason}" for reason in self.refused]
        return "\n".join(lines)


_LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json\n"
    "print(json.dumps([[d.metadata['Name'], d.version] for d in m.distributions() if d.metadata['Name']]))"
)


class Installer:
    """pip for one Python environment: by default the one running GenStudio.

    :param python: the interpreter whose environment pip changes (tests point it at a
        throwaway environment).
    """

    def __init__(self, python: str | None = None):
        self.python = python or sys.executable
        # a desktop bundle's executable is GenStudio, not a Python that can run pip
        self.unavailable = (
            "this GenStudio is a desktop bundle with no Python to install packages into: put single-file "
            "plugins in the workspace's plugins/ folder, or install GenStudio with pip to add plugin packages"
            if python is None and getattr(sys, "frozen", False)
            else None
        )

    def pip(self, *args: str) -> list[str]:
        if self.unavailable:
            raise PluginAdminError(self.unavailable)
        return [self.python, "-m", "pip", "--disable-pip-version-check", *args]

    def installed(self) -> dict[str, tuple[str, str]]:
        """Every distribution in the environment: normalized name -> (name, version)."""
        if self.unavailable:
            raise PluginAdminError(self.unavailable)
        done = subprocess.run(
            [self.python, "-c", _LIST_DISTRIBUTIONS], capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if done.returncode != 0:
            raise PluginAdminError(f"could not list the packages of {self.python}: {done.stderr.strip()[-500:]}")
        found: dict[str, tuple[str, str]] = {}
        for name, version in json.loads(done.stdout):
            found.setdefault(normalize(name), (name, version))  # the first on sys.path is the one imported
        return found

    @staticmethod
    def pins(installed: dict[str, tuple[str, str]]) -> list[str]:
        """``name==version`` for each protected distribution that is installed."""
        return [f"{installed[n][0]}=={installed[n][1]}" for n in PROTECTED if n in installed]

    def _constraints(self, pins: list[str]) -> Path:
        fd, name = tempfile.mkstemp(prefix="genstudio-constraints-", suffix=".txt")
        header = "# written by GenStudio for one pip call: plugins may not replace these\n"
        with os.fdopen(fd, "w") as f:
            f.write(header + "\n".join(pins) + "\n")
        return Path(name)

    def preview(self, target: InstallTarget) -> PipRun:
        """A dry run; its result is a :class:`Preview`."""
        installed = self.installed()
        pins = self.pins(installed)
        constraints = self._constraints(pins)
        fd, name = tempfile.mkstemp(prefix="genstudio-pip-report-", suffix=".json")
        os.close(fd)
        report = Path(name)

        def parse() -> Preview:
            try:
                data = json.loads(report.read_text())
            except (OSError, ValueError) as exc:
                raise PluginAdminError(f"pip wrote no readable report: {exc}") from None
            return make_preview(target, data, installed, pins)

        argv = self.pip("install", "--dry-run", "--report", str(report), "-c", str(constraints), *target.pip_args())
        return PipRun(argv, parse=parse, cleanup=[constraints], outputs=[report], what=f"checking {target.spec}")

    def install(self, target: InstallTarget) -> PipRun:
        """Install for real, with the same pins as the preview."""
        constraints = self._constraints(self.pins(self.installed()))
        argv = self.pip("install", "-c", str(constraints), *target.pip_args())
        return PipRun(argv, cleanup=[constraints], what=f"installing {target.spec}")

    def uninstall(self, distribution: str) -> PipRun:
        if normalize(distribution) in PROTECTED:
            raise PluginAdminError(f"{distribution} is part of GenStudio's host and is never removed here")
        return PipRun(self.pip("uninstall", "-y", distribution), what=f"removing {distribution}")


def make_preview(
    target: InstallTarget, report: dict[str, Any], installed: dict[str, tuple[str, str]], pins: list[str]
) -> Preview:
    """A :class:`Preview` from pip's JSON installation report (``pip install --report``)."""
    changes = []
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        name, version = str(meta.get("name", "?")), str(meta.get("version", "?"))
        before = installed.get(normalize(name))
        changes.append(Change(name, version, before[1] if before else None, bool(item.get("requested"))))
    refused = [
        f"it would replace {c.name} {c.installed} with {c.version}; GenStudio's own packages stay as they are"
        for c in changes
        if normalize(c.name) in PROTECTED and c.installed is not None
    ]
    refused += [
        f"it would install {c.name} {c.version} over GenStudio itself"
        for c in changes
        if normalize(c.name) == "genstudio" and c.installed is None
    ]
    return Preview(target, changes, pins, refused)


def after_change(before: set[Path], replaced: Iterable[str] = ()) -> list[str]:
    """Make what pip just did visible to this process; returns the already imported modules
    it replaced (then a restart is needed for the new code to run)."""
    refresh_metadata()
    activate_new_path_files(before)
    refresh_metadata()
    return loaded_modules(replaced)
