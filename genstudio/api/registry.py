"""What a contribution hook receives: a :class:`Registry` that validates what it is given and
records which plugin gave it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from genstudio.api.errors import ConfigError, PluginError


class Registry:
    """What a ``genstudio_register_*`` hook receives. :meth:`add` validates an item and records
    which plugin contributed it; an item that breaks the rules raises :class:`PluginError`.

    ``registry.models``, ``registry.datasets`` ...: the host keeps one registry per kind; a
    plugin only ever calls :meth:`add` (and may look items up with :meth:`get`).

    A kind with a ``resolve`` function takes declarations too (model families: a
    :class:`~genstudio.api.Family`): :meth:`get` imports the item on first use, through
    ``resolve``, and keeps what it returns; :meth:`declared` and :meth:`items` give items
    as they are, importing nothing."""

    def __init__(self, kind: str, validate: Callable[[Any], str], resolve: Callable[[Any], Any] | None = None):
        self.kind = kind
        self._validate = validate
        self._resolve = resolve
        self._resolving = threading.Lock()  # the window's loader and a run's preparation may race
        self._items: dict[str, Any] = {}
        self._owners: dict[str, str] = {}
        self._removed: dict[str, str] = {}  # name -> why it was taken out (see remove)
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
        """The item called ``name``, imported if it was declared (raises
        :class:`PluginError`, naming its plugin, when that fails)."""
        if self._resolve is None:
            return self.declared(name)
        with self._resolving:
            item = self.declared(name)
            try:
                resolved = self._resolve(item)
            except PluginError as exc:
                raise PluginError(f"plugin {self._owners[name]!r}: {exc}") from exc
            except (Exception, SystemExit) as exc:  # SystemExit too: a plugin never ends the host
                what = f"{type(exc).__name__}: {exc}"
                raise PluginError(
                    f"plugin {self._owners[name]!r}: importing {self.kind[:-1]} {name!r}: {what}"
                ) from exc
            self._items[name] = resolved
            return resolved

    def declared(self, name: str) -> Any:
        """The item called ``name`` as it was added: a declaration stays one."""
        try:
            return self._items[name]
        except KeyError:
            if name in self._removed:
                raise PluginError(self._removed[name]) from None
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"unknown {self.kind[:-1]} {name!r}; available: {known}") from None

    def remove(self, name: str, why: str) -> None:
        """For the host: take out an item whose declaration could not be imported; asking for
        it afterwards raises :class:`PluginError` with ``why``."""
        self._items.pop(name, None)
        self._owners.pop(name, None)
        self._removed[name] = why

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, Any]]:
        """``(name, item)`` pairs, items as they are (declarations not imported)."""
        return list(self._items.items())

    def owner(self, name: str) -> str:
        """The plugin that contributed ``name``."""
        return self._owners[name]

    def by_plugin(self, plugin: str) -> list[str]:
        return [n for n, p in self._owners.items() if p == plugin]
