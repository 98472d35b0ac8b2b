"""Search spaces derived from a family's params, and ``--param`` overrides checked against them.

A family marks the hyperparameters worth tuning with ``param(..., tune=True)``; their declared
``min``, ``max``, ``log`` and ``choices`` are the search space. ``NAME=LOW:HIGH[:log]`` narrows a
numeric range, ``NAME=A,B,C`` lists the values to try; both are checked against the param's own
limits. Optuna suggests the values (define-by-run, :func:`suggest`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from genstudio.api import ConfigError, Param, params

#: Values per numeric dimension when the grid sampler must make a grid of a range.
GRID_POINTS = 5
#: An integer range spanning this ratio or more (sizes: 8 to 4096 units) is searched on a log
#: scale, so that small and large networks are tried equally often.
LOG_INT_RATIO = 100


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: a numeric range (``low``..``high``, ``log`` scale) or a
    list of ``choices`` (categorical)."""

    name: str
    type: type
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple | None = None

    def describe(self) -> str:
        if self.choices is not None:
            return "{" + ", ".join(map(str, self.choices)) + "}"
        num = (lambda v: str(int(v))) if self.type is int else (lambda v: f"{v:g}")
        return f"[{num(self.low)}, {num(self.high)}]" + (" log" if self.log else "")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "type": self.type.__name__}
        if self.choices is not None:
            d["choices"] = list(self.choices)
        else:
            d.update(low=self.low, high=self.high, log=self.log)
        return d

    def grid(self) -> list[Any]:
        """The values the grid sampler visits."""
        if self.choices is not None:
            return list(self.choices)
        lo, hi = float(self.low), float(self.high)
        if self.type is int and hi - lo + 1 <= GRID_POINTS:
            return list(range(int(lo), int(hi) + 1))
        if self.log:
            values = [
                math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (GRID_POINTS - 1))
                for i in range(GRID_POINTS)
            ]
        else:
            values = [lo + (hi - lo) * i / (GRID_POINTS - 1) for i in range(GRID_POINTS)]
        if self.type is int:
            return sorted({round(v) for v in values})
        return [float(f"{v:.4g}") for v in values]


def tunable(p: Param) -> bool:
    """Whether a param can be searched at all: numbers with both limits, choices, flags."""
    if p.choices is not None or p.type is bool:
        return True
    return p.type in (int, float) and p.min is not None and p.max is not None


def dimension_of(p: Param) -> Dimension:
    """The param's whole declared range as a search dimension."""
    if p.choices is not None:
        return Dimension(p.name, p.type, choices=tuple(p.choices))
    if p.type is bool:
        return Dimension(p.name, bool, choices=(False, True))
    if not tunable(p):
        raise ConfigError(
            f"{p.name} cannot be tuned: it has no range ({p.describe_range()}); give its values: {p.name}=A,B"
        )
    log = p.log or (p.type is int and p.min >= 1 and p.max / p.min >= LOG_INT_RATIO)
    return Dimension(p.name, p.type, float(p.min), float(p.max), log)


def parse_override(text: str) -> tuple[str, str]:
    """``NAME=...`` -> ``(name, rest)``; a dash in the name is an underscore (``--param latent-dim=...``)."""
    name, sep, rest = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name or not rest.strip():
        raise ConfigError(f"--param {text!r}: write NAME=LOW:HIGH, NAME=LOW:HIGH:log or NAME=A,B,C")
    return name, rest.strip()


def override(p: Param, text: str) -> Dimension:
    """A dimension from ``LOW:HIGH[:log]`` or ``A,B,C``, inside the param's own limits."""
    where = f"--param {p.name}={text}"
    if ":" in text:
        parts = text.split(":")
        log = len(parts) == 3 and parts[2].strip().lower() == "log"
        if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
            raise ConfigError(f"{where}: write LOW:HIGH or LOW:HIGH:log")
        if p.type not in (int, float) or p.choices is not None:
            raise ConfigError(f"{where}: {p.name} is not a number; list its values: {p.describe_range()}")
        try:
            low, high = (p.parse(v) for v in parts[:2])
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if low >= high:
            raise ConfigError(f"{where}: LOW must be below HIGH")
        if log and low <= 0:
            raise ConfigError(f"{where}: a log range needs LOW above 0")
        return Dimension(p.name, p.type, float(low), float(high), log)
    values: list[Any] = []
    for item in text.split(","):
        try:
            value = p.parse(item)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if value not in values:
            values.append(value)
    return Dimension(p.name, p.type, choices=tuple(values))


def build_space(config_cls: type, overrides: list[str] | dict[str, str] | None = None) -> list[Dimension]:
    """The search space: the params marked ``tune`` (without overrides), or exactly those the
    overrides name. Raises :class:`ConfigError` naming an unknown param or a bad range."""
    known = {p.name: p for p in params(config_cls)}
    items = list(overrides.items()) if isinstance(overrides, dict) else [parse_override(t) for t in overrides or []]
    if not items:
        space = [dimension_of(p) for p in known.values() if p.tune and tunable(p)]
        if not space:
            raise ConfigError("this family marks no parameter as worth tuning; name some with --param NAME=LOW:HIGH")
        return space
    space = []
    for name, text in items:
        if name not in known:
            raise ConfigError(f"--param {name}: unknown parameter; known: {', '.join(known) or 'none'}")
        if any(d.name == name for d in space):
            raise ConfigError(f"--param {name}: given twice")
        space.append(override(known[name], text))
    return space


def suggest(trial: Any, space: list[Dimension]) -> dict[str, Any]:
    """Ask an Optuna trial for one value of each dimension (define-by-run)."""
    values: dict[str, Any] = {}
    for d in space:
        if d.choices is not None:
            values[d.name] = trial.suggest_categorical(d.name, list(d.choices))
        elif d.type is int:
            values[d.name] = trial.suggest_int(d.name, int(d.low), int(d.high), log=d.log)
        else:
            values[d.name] = trial.suggest_float(d.name, d.low, d.high, log=d.log)
    return values


def defaults_in(space: list[Dimension], config_cls: type) -> dict[str, Any] | None:
    """The family's defaults for the searched params, when every one lies in the space."""
    defaults = {p.name: p.default for p in params(config_cls)}
    out = {}
    for d in space:
        v = defaults[d.name]
        inside = v in d.choices if d.choices is not None else d.low <= v <= d.high
        if not inside:
            return None
        out[d.name] = v
    return out
