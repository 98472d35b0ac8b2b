"""Hyperparameters: a family's ``Config`` is a dataclass whose fields are declared with
:func:`param`; the GUI form, the CLI flags and the validation come from those declarations."""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genstudio.api.errors import ConfigError, PluginError

_META_KEY = "genstudio.param"


@dataclass(frozen=True)
class _ParamMeta:
    min: float | None
    max: float | None
    log: bool
    choices: tuple | None
    help: str
    tune: bool = False


def param(
    default: Any,
    *,
    min: float | None = None,  # noqa: A002 - the names users read in the docs
    max: float | None = None,  # noqa: A002
    log: bool = False,
    choices: typing.Sequence | None = None,
    help: str = "",  # noqa: A002
    tune: bool = False,
) -> Any:
    """Declare one hyperparameter of a ``Config`` dataclass.

    :param default: the default value; its type is the field's annotation (int, float, bool, str).
    :param min: smallest allowed value (inclusive), for numbers.
    :param max: largest allowed value (inclusive), for numbers.
    :param log: the value spans orders of magnitude (a learning rate): the GUI shows a
        log-scaled control.
    :param choices: the allowed values; the GUI shows a combo box.
    :param help: one line shown as the CLI flag's help and the GUI's tooltip.
    :param tune: worth tuning: ``genstudio sweep`` searches it by default, over its range.
    """
    if log and (min is None or min <= 0):
        raise ValueError("param(log=True) needs a positive min")
    meta = _ParamMeta(min, max, bool(log), None if choices is None else tuple(choices), help, bool(tune))
    return field(default=default, metadata={_META_KEY: meta})


@dataclass(frozen=True)
class Param:
    """One hyperparameter as the CLI and the GUI see it."""

    name: str
    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    log: bool = False
    choices: tuple | None = None
    help: str = ""
    tune: bool = False

    @property
    def flag(self) -> str:
        """The command-line flag, ``--latent-dim`` for ``latent_dim``."""
        return "--" + self.name.replace("_", "-")

    def describe_range(self) -> str:
        """What values are allowed, as error messages and help show it: ``[1, 512]``,
        ``one of a, b``, ``true or false``, or ``any text``."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.type is bool:
            return "true or false"
        if self.type not in (int, float):
            return "any text"

        def num(v: float) -> str:
            return str(int(v)) if self.type is int else f"{v:g}"

        lo = "-inf" if self.min is None else num(self.min)
        hi = "inf" if self.max is None else num(self.max)
        return f"[{lo}, {hi}]"

    def parse(self, text: str) -> Any:
        """Convert a command-line or ``KEY=VALUE`` string and validate it."""
        text = text.strip()
        try:
            if self.type is bool:
                lowered = text.lower()
                if lowered in ("1", "true", "yes", "on"):
                    value: Any = True
                elif lowered in ("0", "false", "no", "off"):
                    value = False
                else:
                    raise ValueError(text)
            elif self.type is int:
                # "1e4" and "100.0" are integers too, as people type them
                value = int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(text)
                value = int(value)
            elif self.type is float:
                value = float(text)
            else:
                value = text
        except ValueError:
            kind = {bool: "true or false", int: "an integer", float: "a number"}.get(self.type, "a string")
            raise ConfigError(f"{self.name}: {text!r} is not {kind}") from None
        return self.validate(value)

    def validate(self, value: Any) -> Any:
        """Return ``value`` converted to the parameter's type, or raise :class:`ConfigError`."""
        if self.type is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{self.name}: {value!r} is not true or false")
            value = bool(value)
        elif self.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ConfigError(f"{self.name}: {value!r} is not a number")
            if self.type is int:
                if float(value) != int(value):
                    raise ConfigError(f"{self.name}: {value!r} is not an integer")
                value = int(value)
            else:
                value = float(value)
                if not math.isfinite(value):
                    raise ConfigError(f"{self.name}: {value!r} is not a finite number")
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise ConfigError(f"{self.name}: {value!r} is out of range; allowed: {self.describe_range()}")
        elif self.type is str and not isinstance(value, str):
            raise ConfigError(f"{self.name}: {value!r} is not a string")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{self.name}: {value!r} is not allowed; allowed: {self.describe_range()}")
        return value


@dataclass
class EmptyConfig:
    """The ``Config`` of a family or source that has no hyperparameters."""


def params(config_cls: type, *, declared_only: bool = False) -> list[Param]:
    """The hyperparameters of a ``Config`` dataclass, in declaration order.

    :param declared_only: only the fields declared with :func:`param` (the others may then be
        of any type): for the host's own settings, whose run length is not a plain value."""
    if not dataclasses.is_dataclass(config_cls):
        raise PluginError(f"{config_cls!r} is not a dataclass; decorate Config with @dataclass")
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        if declared_only and _META_KEY not in f.metadata:
            continue
        typ = hints.get(f.name, type(f.default))
        if typ not in (int, float, bool, str):
            raise PluginError(f"{config_cls.__qualname__}.{f.name}: type {typ!r} is not one of int, float, bool, str")
        if f.default is dataclasses.MISSING:
            raise PluginError(f"{config_cls.__qualname__}.{f.name} has no default")
        meta = f.metadata.get(_META_KEY) or _ParamMeta(None, None, False, None, "")
        out.append(Param(f.name, typ, f.default, meta.min, meta.max, meta.log, meta.choices, meta.help, meta.tune))
    return out


def config_from_dict(config_cls: type, values: dict[str, Any] | None = None) -> Any:
    """Build a ``Config`` from plain values, validating each; unknown names are refused."""
    values = dict(values or {})
    known = {p.name: p for p in params(config_cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r}; known: {', '.join(known) or 'none'}")
    kwargs = {name: known[name].validate(value) for name, value in values.items()}
    return config_cls(**kwargs)


def config_to_dict(config: Any) -> dict[str, Any]:
    """The values of a ``Config`` as a JSON-able dict."""
    return dataclasses.asdict(config)
