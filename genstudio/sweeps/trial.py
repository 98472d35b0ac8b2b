"""The one place a sweep calls into the training machinery: a trial is an ordinary run."""

from __future__ import annotations

from typing import Any

from genstudio.runs.store import RunStore


def run_trial(
    host: Any,
    workspace: Any,
    model: str,
    dataset: Any,
    data_options: dict[str, Any],
    config: dict[str, Any],
    settings: Any,
    *,
    name: str,
    tag: dict[str, Any],
) -> Any:
    """Record a new run for one trial and return its trainer: ``.run`` (the run record),
    ``.events()`` (the training generator, last event ``Finished`` or ``Failed``), ``.stop()``
    and ``.step``. ``tag`` (``{"study": ..., "trial": ...}``) is kept in the run's settings
    under ``"sweep"``, so the run says which trial it was; its repeat command is the usual one.
    Raises :class:`~genstudio.api.GenStudioError` for a configuration the family refuses."""
    from genstudio.runs.trainer import Trainer

    trainer = Trainer.new(
        host, workspace, model, dataset, data_options=data_options, config=config, settings=settings, name=name
    )
    store = RunStore(workspace)
    try:
        store.update_run(trainer.run.id, settings={**trainer.run.settings, "sweep": tag})
        trainer.run.settings["sweep"] = tag
    finally:
        store.close()
    return trainer
