"""Where plugins come from: the built-ins (named in one tuple, as pytest names its own in
``default_plugins``), the ``genstudio`` entry-point group and the workspace's drop-in folder."""

from __future__ import annotations

import os

#: Built-in plugins, by module name. They go through the same registration as any other.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "genstudio.data.datasets",
    "genstudio.data.formats",
    "genstudio.metrics.builtin",
    "genstudio_plugins.families.vae",
    "genstudio_plugins.families.gan",
    "genstudio_plugins.families.rbm",
    "genstudio_plugins.families.flow",
    "genstudio_plugins.families.diffusion",
    "genstudio_plugins.families.bayesnet",
)

ENTRY_POINT_GROUP = "genstudio"
AUTOLOAD_ENV = "GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD"
DROPIN_FOLDER = "plugins"

#: Built-ins that are GenStudio itself (data sources, file formats, metrics): never disabled.
CORE_PLUGINS = frozenset(m.rsplit(".", 1)[-1] for m in BUILTIN_PLUGINS if m.startswith("genstudio."))


def autoload_enabled() -> bool:
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in ("1", "true", "yes", "on")
