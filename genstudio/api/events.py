"""Events the training generator yields. Every front end (the CLI's progress bar, the
window's worker, observer plugins) sees the same objects; ``to_dict`` gives their JSON form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np


def fraction_done(event: Any) -> float:
    """How far a run is, in [0, 1], from a Started or Progress event: by time for a run
    trained by time, else by steps."""
    budget = getattr(event, "budget_seconds", None)
    if budget:
        return min(1.0, max(0.0, getattr(event, "elapsed", 0.0) / budget))
    return min(1.0, event.step / event.total_steps) if event.total_steps else 0.0


def format_duration(seconds: float | None) -> str:
    """A duration (elapsed, ETA) as every front end shows it: ``m:ss`` or ``h:mm:ss``;
    ``--:--`` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class Event:
    type: ClassVar[str] = "event"
    run: int
    step: int

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _OMIT_IN_JSON:
                continue
            out[f.name] = json_value(value)
        return out


_OMIT_IN_JSON = {"samples", "scalars", "walls"}


def json_value(value: Any) -> Any:
    """``value`` as JSON can hold it: non-finite floats as null or \"inf\", NumPy scalars as Python's."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class Started(Event):
    """A run started (or resumed from a checkpoint at ``step``)."""

    type: ClassVar[str] = "started"
    total_steps: int = 0
    #: a run trained by time: its budget in seconds (``total_steps`` is then an estimate)
    budget_seconds: float | None = None
    model: str = ""
    data: str = ""
    device: str = ""
    resumed: bool = False
    folder: str = ""


@dataclass
class Progress(Event):
    """Steps went by. ``losses`` are the means since the previous progress event; ``scalars``
    holds every value logged since then, ``{key: (steps, values)}``, so a plot keeps them all."""

    type: ClassVar[str] = "progress"
    total_steps: int = 0
    #: a run trained by time: its budget in seconds; ``total_steps`` is then the steps it
    #: will reach at the current speed, and ``eta`` the budget's remaining seconds
    budget_seconds: float | None = None
    epoch: float = 0.0
    elapsed: float = 0.0
    steps_per_second: float = 0.0
    eta: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    scalars: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    walls: dict[str, list[float]] = field(default_factory=dict)
    """The wall-clock time (seconds since the epoch) of each value in ``scalars``."""


@dataclass
class Samples(Event):
    """A sample grid drawn from the run's fixed noise. ``samples`` is ``(N, *shape)``
    float32 in data space; ``path`` the PNG written to the run's folder."""

    type: ClassVar[str] = "samples"
    path: str = ""
    samples: np.ndarray | None = None


@dataclass
class CheckpointSaved(Event):
    type: ClassVar[str] = "checkpoint"
    path: str = ""


@dataclass
class Warning(Event):  # noqa: A001 - an event named for what the user sees
    """A training-health warning from the model (mode collapse, a winning discriminator...)."""

    type: ClassVar[str] = "warning"
    message: str = ""


@dataclass
class Paused(Event):
    type: ClassVar[str] = "paused"


@dataclass
class Resumed(Event):
    type: ClassVar[str] = "resumed"


@dataclass
class Finished(Event):
    """The run ended well: ``status`` is ``"finished"`` or ``"stopped"`` (by the user)."""

    type: ClassVar[str] = "finished"
    status: str = "finished"
    elapsed: float = 0.0
    losses: dict[str, float] = field(default_factory=dict)
    checkpoint: str = ""


@dataclass
class Failed(Event):
    """The run failed: a plugin raised, or a loss became NaN or infinite. ``plugin`` names
    the plugin at fault, when there is one; ``traceback`` is for a Details view."""

    type: ClassVar[str] = "failed"
    message: str = ""
    plugin: str | None = None
    traceback: str | None = None
    checkpoint: str = ""
