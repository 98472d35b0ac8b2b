"""The workspace: one folder holding the run database, one folder per run, caches and drop-in plugins."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from genstudio.api import GenStudioError
from genstudio.files import atomic_write_text

WORKSPACE_ENV = "GENSTUDIO_WORKSPACE"


def default_workspace() -> Path:
    """``$GENSTUDIO_WORKSPACE``, else the user's data folder (``~/.local/share/GenStudio`` on Linux)."""
    env = os.environ.get(WORKSPACE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("GenStudio", appauthor=False))


class WorkspaceError(GenStudioError):
    """A workspace folder (or its run database) that cannot be used; the message names the path."""


class Workspace:
    """Paths inside a workspace folder; creates the folder on first use.

    Raises :class:`WorkspaceError` when the folder cannot be created (a file is in the way,
    a read-only or virtual file system, no permission)."""

    DB_NAME = "genstudio.db"

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root if root is not None else default_workspace()).expanduser().resolve()
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(f"{self.root}: is a file, not a folder; a workspace is a folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"{self.root}: cannot create the workspace folder ({exc.strerror or exc})") from None

    @property
    def db_path(self) -> Path:
        return self.root / self.DB_NAME

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def plugins_dir(self) -> Path:
        return self.root / "plugins"

    @property
    def settings_path(self) -> Path:
        return self.root / "settings.json"

    def run_dir(self, run_id: int) -> Path:
        return self.runs_dir / f"{int(run_id):05d}"

    def read_settings(self) -> dict[str, Any]:
        try:
            return json.loads(self.settings_path.read_text())
        except (OSError, ValueError):
            return {}

    def write_settings(self, settings: dict[str, Any]) -> None:
        atomic_write_text(self.settings_path, json.dumps(settings, indent=2, sort_keys=True))

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"
