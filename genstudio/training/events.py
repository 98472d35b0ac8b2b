"""The run events, defined in :mod:`genstudio.api.events` so that plugins (observer hooks)
can type what they receive; re-exported here for the training code that yields them."""

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
)
