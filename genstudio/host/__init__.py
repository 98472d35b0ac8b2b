"""The plugin host: finds plugins, calls their hooks one by one, keeps what they add, and
manages them (enable, disable, install, remove).

- :mod:`~genstudio.host.sources`: where plugins come from (the built-ins' tuple, entry points,
  the drop-in folder);
- :mod:`~genstudio.host.manager`: :func:`create_plugin_manager` and :class:`PluginHost`;
- :mod:`~genstudio.host.enabled`: which plugins the user switched off;
- :mod:`~genstudio.host.admin`: installing and removing plugins with pip;
- :mod:`~genstudio.host.blame`: attributing an exception to the plugin whose code raised it.

Not to be confused with the top-level ``plugins/`` folder, which holds the built-in model
families (installed as ``genstudio_plugins``), written exactly like third-party plugins.
"""

from genstudio.host.manager import CONTRIBUTION_HOOKS, PluginHost, PluginInfo, create_plugin_manager
from genstudio.host.sources import (
    AUTOLOAD_ENV,
    BUILTIN_PLUGINS,
    DROPIN_FOLDER,
    ENTRY_POINT_GROUP,
    autoload_enabled,
)

__all__ = [
    "AUTOLOAD_ENV",
    "BUILTIN_PLUGINS",
    "CONTRIBUTION_HOOKS",
    "DROPIN_FOLDER",
    "ENTRY_POINT_GROUP",
    "PluginHost",
    "PluginInfo",
    "autoload_enabled",
    "create_plugin_manager",
]
