"""What a contribution hook receives: a :class:`Registry` that validates what it is given and
records which plugin gave it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from genstudio.api.errors import ConfigError, PluginError


class Registry:
    """What a ``genstudio_register_*`` hook receives. :meth:`add` validates an item and records
    which plugin contributed it; an item that breaks the rules raises :class:`PluginError`.

    ``registry.models``, ``registry.datasets`` ...: the host keeps one registry per kind; a
    plugin only ever calls :meth:`add` (and may look items up with :meth:`get`)."""

    def __init__(self, kind: str, validate: Callable[[Any], str]):
        self.kind = kind
        self._validate = validate
        self._items: dict[str, Any] = {}
        self._owners: dict[str, str] = {}
        self._plugin: str | None = None
        self._added: list[str] = []

    def add(self, item: Any) -> Any:
        """Add one item (a class). Returns it, so ``add`` can be used as a decorator."""
        name = self._validate(item)
        if name in self._items:
            raise PluginError(f"{self.kind[:-1]} {name!r} is already provided by plugin {self._owners[name]!r}")
        self._items[name] = item
        self._owners[name] = self._plugin or "?"
        self._added.append(name)
        return item

    @contextlib.contextmanager
    def contributions(self, plugin: str) -> Iterator[list[str]]:
        """For the host: bracket one plugin's hook call. Yields the list of names it adds; if
        the call raises, everything it added is taken out again (and the exception goes on),
        so a plugin that fails half-way contributes nothing."""
        self._plugin, self._added = plugin, []
        try:
            yield self._added
        except BaseException:
            for name in self._added:
                self._items.pop(name, None)
                self._owners.pop(name, None)
            self._added = []
            raise
        finally:
            self._plugin = None

    def get(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"unknown {self.kind[:-1]} {name!r}; available: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._items.items())

    def owner(self, name: str) -> str:
        """The plugin that contributed ``name``."""
        return self._owners[name]

    def by_plugin(self, plugin: str) -> list[str]:
        return [n for n, p in self._owners.items() if p == plugin]
