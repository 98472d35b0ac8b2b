"""The plugin host: finds plugins, calls their hooks one by one, and keeps what they add.

Plugins come from three places, in this order:

1. the built-ins, named in :data:`BUILTIN_PLUGINS` (as pytest names its own in
   ``default_plugins``) and registered exactly like third-party plugins;
2. installed packages, through the entry-point group ``genstudio``;
3. single ``.py`` files in the workspace's ``plugins/`` folder.

``GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD=1`` turns 2 and 3 off. Build a host with
:func:`create_plugin_manager`; every caller (and every test) gets its own.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from genstudio import __version__, hookspecs
from genstudio.api import (
    KINDS,
    DataSource,
    Family,
    FeatureExtractor,
    GenerativeModel,
    Metric,
    PluginError,
    Registry,
    params,
)
from genstudio.host.blame import NOT_BLAMED
from genstudio.host.enabled import disabled_plugins
from genstudio.host.sources import (
    BUILTIN_PLUGINS,
    DROPIN_FOLDER,
    ENTRY_POINT_GROUP,
    autoload_enabled,
)

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

#: The contribution hooks, and the registry each fills.
CONTRIBUTION_HOOKS = {
    "genstudio_register_models": "models",
    "genstudio_register_datasets": "datasets",
    "genstudio_register_metrics": "metrics",
    "genstudio_register_feature_extractors": "extractors",
}


@dataclass
class PluginInfo:
    """One plugin as ``genstudio plugins list`` and the plugin manager show it."""

    name: str
    source: str
    """``"builtin"``, ``"entrypoint"``, ``"dropin"`` or ``"object"`` (registered by a caller)."""
    module: str = ""
    version: str | None = None
    location: str | None = None
    """The distribution (``pkg 1.0``) or the file it came from."""
    enabled: bool = True
    error: str | None = None
    traceback: str | None = None
    contributes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def fail(self, exc: BaseException, when: str) -> None:
        # keep the first error: later ones are usually its consequences
        if self.error is None:
            self.error = f"{when}: {type(exc).__name__}: {exc}"
            self.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "module": self.module,
            "location": self.location,
            "enabled": self.enabled,
            "contributes": {k: list(v) for k, v in self.contributes.items() if v},
            "error": self.error,
            "traceback": self.traceback,
        }


def _check_name(obj: Any, what: str) -> str:
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise PluginError(
            f"{what} {getattr(obj, '__qualname__', obj)!r} needs a name made of lowercase letters, "
            f"digits, '-' and '_' (got {name!r})"
        )
    return name


def _check_subclass(obj: Any, base: type, what: str) -> None:
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise PluginError(f"{obj!r} is not a {what}: subclass genstudio.api.{base.__name__}")


def _overrides(cls: type, base: type, method: str) -> bool:
    return getattr(cls, method, None) is not getattr(base, method)


def validate_model(cls: Any) -> str:
    """A model family's name, once checked: a :class:`GenerativeModel` subclass, or a
    :class:`~genstudio.api.Family` declaration (its facts now, its class when imported)."""
    if not isinstance(cls, Family):
        _check_subclass(cls, GenerativeModel, "model family")
    name = _check_name(cls, "model family")
    accepts = set(cls.accepts or ())
    if not accepts or not accepts <= set(KINDS):
        raise PluginError(f"model family {name!r}: accepts must be a non-empty subset of {KINDS}, not {cls.accepts!r}")
    params(cls.Config)
    if isinstance(cls, Family):
        return name
    for method in ("train_step", "sample"):
        if not _overrides(cls, GenerativeModel, method):
            raise PluginError(f"model family {name!r} does not implement {method}()")
    return name


def resolve_model(item: Any) -> type[GenerativeModel]:
    """A registered model family as a class: a declaration's class imported, matched against
    the declaration's facts (its name among them: :meth:`Family.load`) and checked as
    :meth:`Registry.add` checks a class."""
    if not isinstance(item, Family):
        return item
    cls = item.load()
    validate_model(cls)
    return cls


def validate_source(cls: Any) -> str:
    _check_subclass(cls, DataSource, "data source")
    name = _check_name(cls, "data source")
    params(cls.Options)
    if not _overrides(cls, DataSource, "load"):
        raise PluginError(f"data source {name!r} does not implement load()")
    if cls.path_based and not _overrides(cls, DataSource, "sniff"):
        raise PluginError(f"file format {name!r} does not implement sniff(path)")
    return name


def validate_metric(cls: Any) -> str:
    _check_subclass(cls, Metric, "metric")
    name = _check_name(cls, "metric")
    if not _overrides(cls, Metric, "compute"):
        raise PluginError(f"metric {name!r} does not implement compute()")
    return name


def validate_extractor(cls: Any) -> str:
    _check_subclass(cls, FeatureExtractor, "feature extractor")
    name = _check_name(cls, "feature extractor")
    if not _overrides(cls, FeatureExtractor, "features"):
        raise PluginError(f"feature extractor {name!r} does not implement features()")
    return name


class PluginHost:
    """A pluggy manager plus the registries its plugins filled and a record of each plugin."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("genstudio")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.models = Registry("models", validate_model, resolve_model)
        self.datasets = Registry("datasets", validate_source)
        self.metrics = Registry("metrics", validate_metric)
        self.extractors = Registry("extractors", validate_extractor)

    # -- registration --------------------------------------------------------------------

    def register(
        self,
        plugin: Any,
        name: str,
        *,
        source: str = "object",
        version: str | None = None,
        location: str | None = None,
    ) -> PluginInfo:
        """Register a module or object as a plugin and record it, error and all."""
        info = PluginInfo(name, source, getattr(plugin, "__name__", type(plugin).__name__), version, location)
        if name in self.plugins:
            info.error = f"a plugin named {name!r} is already loaded ({self.plugins[name].source})"
            self.plugins[f"{name} ({source})"] = info
            return info
        self.plugins[name] = info
        try:
            self.pm.register(plugin, name=name)
        except BaseException as exc:  # SystemExit too: a plugin never ends the host
            if isinstance(exc, NOT_BLAMED):
                raise
            info.fail(exc, "registering")
        return info

    def _record_failure(self, name: str, source: str, exc: BaseException, when: str, **kw: Any) -> None:
        info = self.plugins.setdefault(name, PluginInfo(name, source, **kw))
        info.fail(exc, when)

    def load_builtins(self, modules: Iterable[str], disabled: set[str]) -> None:
        for module in modules:
            name = module.rsplit(".", 1)[-1]
            if name in disabled:
                self.plugins[name] = PluginInfo(name, "builtin", module, __version__, enabled=False)
                continue
            try:
                mod = importlib.import_module(module)
            except BaseException as exc:  # SystemExit too: a plugin never ends the host
                if isinstance(exc, NOT_BLAMED):
                    raise
                self._record_failure(name, "builtin", exc, "importing", module=module, version=__version__)
                continue
            self.register(mod, name, source="builtin", version=__version__, location=getattr(mod, "__file__", None))

    def load_entry_points(self, disabled: set[str]) -> None:
        try:
            eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        except Exception as exc:  # a broken installed distribution's metadata
            log.warning("could not read the %r entry points: %s", ENTRY_POINT_GROUP, exc)
            return
        seen: set[tuple[str, str]] = set()
        for ep in eps:
            dist = getattr(ep, "dist", None)
            version = dist.version if dist is not None else None
            where = f"{dist.metadata['Name']} {version}" if dist is not None else None
            if (ep.name, ep.value) in seen:  # one distribution found twice on sys.path
                continue
            seen.add((ep.name, ep.value))
            if ep.name in disabled:
                self.plugins[ep.name] = PluginInfo(ep.name, "entrypoint", ep.value, version, where, enabled=False)
                continue
            try:
                obj = ep.load()
            except BaseException as exc:  # SystemExit too: a plugin never ends the host
                if isinstance(exc, NOT_BLAMED):
                    raise
                self._record_failure(
                    ep.name, "entrypoint", exc, "importing", module=ep.value, version=version, location=where
                )
                continue
            self.register(obj, ep.name, source="entrypoint", version=version, location=where)

    def load_dropins(self, folder: Path, disabled: set[str]) -> None:
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.py")):
            name = path.stem
            if name.startswith("_"):
                continue
            if name in disabled:
                self.plugins[name] = PluginInfo(name, "dropin", name, None, str(path), enabled=False)
                continue
            module_name = f"genstudio_dropin_{re.sub(r'[^0-9a-zA-Z_]', '_', name)}"
            try:
                spec = importlib.util.spec_from_file_location(module_name, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot import {path}")
                mod = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = mod
                spec.loader.exec_module(mod)
            except BaseException as exc:  # SystemExit too: a plugin never ends the host
                if isinstance(exc, NOT_BLAMED):
                    raise
                sys.modules.pop(module_name, None)
                self._record_failure(name, "dropin", exc, "importing", module=module_name, location=str(path))
                continue
            version = getattr(mod, "__version__", None)
            self.register(mod, name, source="dropin", version=version, location=str(path))

    def collect(self) -> None:
        """Call every contribution hook, one plugin at a time."""
        for hook_name, attr in CONTRIBUTION_HOOKS.items():
            registry: Registry = getattr(self, attr)
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                info = self.plugins.get(impl.plugin_name)
                try:
                    with registry.contributions(impl.plugin_name) as added:
                        impl.function(**{arg: registry for arg in impl.argnames})
                except BaseException as exc:  # SystemExit too: a plugin never ends the host
                    if isinstance(exc, NOT_BLAMED):
                        raise
                    if info is not None:
                        info.fail(exc, hook_name)
                    continue
                if info is not None:
                    info.contributes.setdefault(attr, []).extend(added)

    # -- use -----------------------------------------------------------------------------

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an observer hook on every plugin; one that raises is reported and skipped."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except BaseException as exc:  # SystemExit too: a plugin never ends the host
                if isinstance(exc, NOT_BLAMED):
                    raise
                info = self.plugins.get(impl.plugin_name)
                first = info is not None and info.error is None
                if info is not None:
                    info.fail(exc, hook_name)
                if first or info is None:
                    log.warning("plugin %r failed in %s: %s", impl.plugin_name, hook_name, exc)

    def has_observers(self, hook_name: str) -> bool:
        return bool(getattr(self.pm.hook, hook_name).get_hookimpls())

    def model(self, name: str) -> type[GenerativeModel]:
        return self.models.get(name)

    def load_declared(self) -> list[str]:
        """Import every model family that was declared (:class:`~genstudio.api.Family`) and
        not yet imported. One that cannot be is taken out, and its plugin marked failed, as
        if it had failed to register. Returns the names taken out. The window calls this in
        the background once it is on screen; anything else imports a family on first use."""
        dropped = []
        for name, item in self.models.items():
            if not isinstance(item, Family):
                continue
            owner = self.models.owner(name)
            try:
                self.models.get(name)
            except PluginError as exc:
                info = self.plugins.get(owner)
                if info is not None:
                    info.fail(exc.__cause__ or exc, f"importing {name}")
                    if name in info.contributes.get("models", []):
                        info.contributes["models"].remove(name)
                self.models.remove(name, str(exc))
                dropped.append(name)
        return dropped

    def plugin_of_model(self, name: str) -> str:
        return self.models.owner(name)

    def failed(self) -> list[PluginInfo]:
        return [p for p in self.plugins.values() if p.error is not None]


def create_plugin_manager(
    workspace: str | Path | None = None,
    *,
    builtins: Iterable[str] = BUILTIN_PLUGINS,
    autoload: bool | None = None,
    disabled: Iterable[str] | None = None,
    extra: Iterable[tuple[str, Any]] = (),
) -> PluginHost:
    """Build a plugin host and load every plugin.

    :param workspace: the workspace whose ``plugins/`` folder holds drop-in files.
    :param builtins: module names of the built-in plugins.
    :param autoload: load entry-point and drop-in plugins; by default, unless
        ``GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD=1``.
    :param disabled: names of plugins not to load; by default, those the user switched off
        (``genstudio plugins disable``, the window's plugin manager).
    :param extra: ``(name, module_or_object)`` pairs to register too (tests, embedding apps).
    """
    if disabled is None:
        disabled = disabled_plugins()
    host = PluginHost()
    off = set(disabled)
    host.load_builtins(builtins, off)
    for name, obj in extra:
        host.register(obj, name, source="object")
    if autoload_enabled() if autoload is None else autoload:
        host.load_entry_points(off)
        if workspace is not None:
            host.load_dropins(Path(workspace) / DROPIN_FOLDER, off)
    host.collect()
    return host
