"""The run events, defined in :mod:`genstudio.api.events` so that plugins (observer hooks)
can type what they receive; re-exported here for the training code that yields them."""

from dataclasses import dataclass, field
from typing import Any, ClassVar

from genstudio.api.events import (  # noqa: F401
    CheckpointSaved,
    Event,
    Failed,
    Finished,
    Paused,
    Progress,
    Resumed,
    Samples,
    Started,
    Warning,  # noqa: A004
    format_duration,
    fraction_done,
)


@dataclass
class CheckpointDue(Event):
    """The loop's request to write a checkpoint: the recorder writes ``state`` (tensors and
    JSON values) with the sidecar ``meta``, and ``structure`` (a learned graph) where the model
    has one, then passes a :class:`CheckpointSaved` on. Front ends never see this event."""

    type: ClassVar[str] = "checkpoint-due"
    state: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    structure: dict[str, Any] | None = None
