"""Which plugins the user switched off: a JSON file in the user config folder
(``$GENSTUDIO_CONFIG_DIR``, else ``platformdirs.user_config_dir("GenStudio")``) naming the
disabled plugins. :func:`genstudio.host.create_plugin_manager` reads it unless told otherwise;
the command line and the window's plugin manager change it."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from genstudio.api import GenStudioError
from genstudio.files import atomic_write_text
from genstudio.host.sources import CORE_PLUGINS

log = logging.getLogger(__name__)

CONFIG_ENV = "GENSTUDIO_CONFIG_DIR"
STATE_FILE = "plugins.json"


class PluginAdminError(GenStudioError):
    """A request that cannot be carried out; the message says why."""


class CancelledError(PluginAdminError):
    """The user cancelled a pip run."""


def config_dir() -> Path:
    """``$GENSTUDIO_CONFIG_DIR``, else the user config folder (``~/.config/GenStudio`` on Linux)."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("GenStudio", appauthor=False))


def state_path() -> Path:
    return config_dir() / STATE_FILE


def disabled_plugins() -> set[str]:
    """The plugins the user switched off. A missing or unreadable file switches off none."""
    path = state_path()
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return set()
    names = state.get("disabled", []) if isinstance(state, dict) else []
    return {n for n in names if isinstance(n, str) and can_disable(n)}


def _save_disabled(names: Iterable[str]) -> None:
    atomic_write_text(state_path(), json.dumps({"version": 1, "disabled": sorted(set(names))}, indent=2) + "\n")


def can_disable(name: str) -> bool:
    return name not in CORE_PLUGINS


def set_enabled(name: str, enabled: bool) -> bool:
    """Switch a plugin on or off for every later start. Returns whether anything changed."""
    if not enabled and not can_disable(name):
        raise PluginAdminError(f"plugin {name!r} is part of GenStudio itself and cannot be disabled")
    off = disabled_plugins()
    if (name not in off) == enabled:
        return False
    _save_disabled(off - {name} if enabled else off | {name})
    return True
