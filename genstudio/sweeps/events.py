"""Events a sweep yields: one per trial event, as the training loop yields one per run event.

The command line prints them (``--json``: ``to_dict`` per line); the window's worker turns them
into signals."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from genstudio.api.events import json_value


@dataclass
class SweepEvent:
    type: ClassVar[str] = "event"
    study: str

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.type, **{f.name: json_value(getattr(self, f.name)) for f in fields(self)}}


@dataclass
class StudyOpened(SweepEvent):
    """The study is open: ``done`` trials of ``trials`` already finished or pruned."""

    type: ClassVar[str] = "study"
    storage: str = ""
    trials: int = 0
    done: int = 0
    objective: str | None = None
    direction: str = "minimize"
    space: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrialStarted(SweepEvent):
    type: ClassVar[str] = "trial_started"
    trial: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    run: int = 0
    total_steps: int = 0


@dataclass
class TrialProgress(SweepEvent):
    """Training steps went by (about twice a second at most): for a live steps column."""

    type: ClassVar[str] = "trial_progress"
    trial: int = 0
    run: int = 0
    step: int = 0
    total_steps: int = 0


@dataclass
class TrialReported(SweepEvent):
    """An intermediate value of the objective at training step ``step``, reported to the
    pruner at ``at``: the step, or for trials trained by time the percent of their time."""

    type: ClassVar[str] = "trial_reported"
    trial: int = 0
    run: int = 0
    step: int = 0
    value: float = 0.0
    at: int = 0


@dataclass
class TrialEnded(SweepEvent):
    """``state`` is ``complete``, ``pruned`` or ``failed`` (``message`` says why)."""

    type: ClassVar[str] = "trial_ended"
    trial: int = 0
    state: str = "complete"
    value: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    run: int | None = None
    step: int = 0
    message: str = ""


@dataclass
class Waiting(SweepEvent):
    """Nothing to start: other processes run the last trials, or the sweep is paused."""

    type: ClassVar[str] = "waiting"
    message: str = ""


@dataclass
class SweepEnded(SweepEvent):
    """The last event: ``status`` is ``finished``, ``stopped`` (by the user) or ``failed``
    (``message`` says why); the best trial so far (``None`` when no trial completed)."""

    type: ClassVar[str] = "sweep_ended"
    status: str = "finished"
    best_trial: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_run: int | None = None
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    message: str = ""
