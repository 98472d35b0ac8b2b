"""A model family declared before it is imported: :class:`Family`.

A family's class is usually a ``torch.nn.Module``, so importing it imports torch, about a
second of the window's start on a small machine. What the window needs before the first
run (the family's name and title, the data it accepts, the hyperparameters of its form) is
known without torch. So a plugin may register a :class:`Family` instead of the class: those
facts, and where the class lives. The host imports the class when it is first needed (to
train, sample or evaluate), in the window in the background once it is on screen, and checks
then that the class is a model family and matches what was declared. This is the pattern
of napari's npe2 manifests and VS Code's contribution points: declare, then import lazily.

    # my_plugin/__init__.py: imports no torch
    FAMILY = Family(
        name="mymodel", title="My model", accepts={"image"}, Config=MyConfig,
        location="my_plugin.model:MyModel",
    )

    @hookimpl
    def genstudio_register_models(registry):
        registry.add(FAMILY)

    # my_plugin/model.py: the class takes the declared facts
    class MyModel(TorchModel, family=FAMILY): ...
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from genstudio.api.data import DataSpec
from genstudio.api.errors import PluginError
from genstudio.api.params import EmptyConfig

#: What a declaration says of its class, and the class must say too.
FACTS = ("name", "title", "description", "accepts", "Config")


def accepts_problem(title: str, accepts: Any, spec: DataSpec) -> str | None:
    """Why a family titled ``title`` that trains on the kinds ``accepts`` cannot train on
    ``spec``, or None. (The default of :meth:`GenerativeModel.check_data`.)"""
    if spec.kind not in accepts:
        kinds = ", ".join(sorted(accepts)) or "no data"
        return f"{title} trains on {kinds} data, not {spec.kind}"
    return None


@dataclass(frozen=True)
class Family:
    """A model family by its facts and the place of its class, ``"package.module:Class"``.

    Until :meth:`load`, it stands for the class wherever only these facts are read (the
    window's family list and hyperparameter form): ``name``, ``title``, ``description``,
    ``accepts``, ``Config`` and :meth:`check_data` (by data kind only; the class may check
    more once imported)."""

    name: str
    location: str
    title: str = ""
    description: str = ""
    accepts: frozenset[str] = frozenset()
    Config: type = EmptyConfig

    def __post_init__(self) -> None:
        object.__setattr__(self, "accepts", frozenset(self.accepts))

    def check_data(self, spec: DataSpec) -> str | None:
        """Why this family cannot train on ``spec`` as far as its declaration says, or None."""
        return accepts_problem(self.title or self.name, self.accepts, spec)

    def load(self) -> type:
        """Import the class; raises :class:`PluginError` when it cannot be imported or does
        not match this declaration."""
        module_name, _, attr = self.location.partition(":")
        if not module_name or not attr:
            raise PluginError(f"model family {self.name!r}: location {self.location!r} is not 'module:Class'")
        module = importlib.import_module(module_name)
        try:
            cls = getattr(module, attr)
        except AttributeError:
            raise PluginError(f"model family {self.name!r}: {module_name} has no {attr!r}") from None
        for fact in FACTS:
            declared, actual = getattr(self, fact), getattr(cls, fact, None)
            if fact == "accepts":
                actual = frozenset(actual or ())
            if actual != declared:
                raise PluginError(
                    f"model family {self.name!r}: {self.location} has {fact} {actual!r}, declared {declared!r}"
                )
        return cls

    def facts(self) -> dict[str, Any]:
        """The declared facts, as class attributes (see ``GenerativeModel(family=...)``)."""
        return {fact: getattr(self, fact) for fact in FACTS}


def is_declared(item: Any) -> bool:
    """Whether ``item`` is a :class:`Family` declaration (not yet the class)."""
    return isinstance(item, Family)
