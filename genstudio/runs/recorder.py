"""The recorder: consumes a training loop's events and persists them, then passes them on.

``for event in record(loop, ...)``: every front end iterates this, never the bare loop. The
loop writes nothing; here the scalars go to the run store (in batches, at most twice a second
unless an event needs them there first), sample grids to PNG and ``.npy`` files, checkpoints to
safetensors and JSON, messages and the run's status to the store, and the observer hooks of
plugins hear about the run. A run's final status is in the store before its last event is
passed on: whoever acts on that event (continuing the run, say) finds the run ended.
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.api import Dataset
from genstudio.data.grid import picture, save_png
from genstudio.files import atomic_write, atomic_write_text
from genstudio.runs.store import RunRecord
from genstudio.training import checkpoint as ckpt
from genstudio.training import events as ev
from genstudio.training.losses import finite

#: Scalars wait at most this long before they are written: a transaction per step would cost a
#: slow model's run several percent of its time.
SAVE_INTERVAL_S = 0.5


class Recorder:
    """Persists one run's events. ``store`` is a :class:`RunStore` (or a :class:`SilentStore`
    in the processes that must not write, under torchrun); ``notify`` is the plugin host's
    (observers hear about the run from the writing process only)."""

    def __init__(
        self,
        run: RunRecord,
        store: Any,
        folder: Path,
        dataset: Dataset,
        *,
        keep_checkpoints: int,
        host: Any = None,
        last_checkpoint: str = "",
        on_end: Callable[[], None] | None = None,
        by_time: bool = False,
    ):
        self.run, self.store, self.folder, self.dataset = run, store, folder, dataset
        self.keep_checkpoints = keep_checkpoints
        self.host = host
        self.observers = host is not None and host.has_observers("genstudio_run_event")
        self.last_checkpoint = last_checkpoint
        self.on_end = on_end
        self.by_time = by_time  # a run trained by time has its total of steps once it ends
        self.step = 0
        self.unsaved: list[tuple[int, str, float, float]] = []  # rows not yet in the store
        self.latest: dict[str, float] = {}
        self.last_save = time.perf_counter()

    def record(self, events: Iterator[ev.Event]) -> Iterator[ev.Event]:
        run_id = self.run.id
        self.store.update_run(run_id, status="running")
        self.store.claim(run_id)
        ended = False
        try:
            for event in events:
                self.step = event.step
                try:
                    out = self._persist(event)
                except Exception as exc:  # the disk is full, the store locked...: a failure to report
                    with contextlib.suppress(Exception):
                        events.close()  # type: ignore[attr-defined]
                    out = self._recording_failed(exc)
                if self.observers:
                    self.host.notify("genstudio_run_event", run=self.observed(), event=out)
                if isinstance(out, (ev.Finished, ev.Failed)):
                    ended = True
                    self._end(out.status if isinstance(out, ev.Finished) else "failed", getattr(out, "message", None))
                yield out
        finally:
            if not ended:  # the consumer closed the generator early, or the process is going down
                with contextlib.suppress(Exception):  # what arrived is kept
                    self._save(force=True)
                self._end("stopped", None)
            self.store.close()

    def observed(self) -> dict[str, Any]:
        """The run as observer hooks receive it."""
        r = self.run
        return {
            "id": r.id, "name": r.name, "model": r.model, "data": r.data, "config": dict(r.config),
            "folder": str(self.folder), "command": r.command, "step": self.step,
        }  # fmt: skip

    # -- per event ---------------------------------------------------------------------------

    def _persist(self, event: ev.Event) -> ev.Event:
        run_id = self.run.id
        if isinstance(event, ev.Progress):
            self.unsaved.extend(
                (st, k, v, w)
                for k, (steps, vals) in event.scalars.items()
                for st, v, w in zip(steps, vals, event.walls[k])
            )
            self.latest.update(event.losses)
            self._save()
        elif isinstance(event, ev.Started):
            event.model, event.data, event.folder = self.run.model, self.run.data, str(self.folder)
            if self.host is not None:
                self.host.notify("genstudio_run_started", run=self.observed())
        elif isinstance(event, ev.Samples):
            event.path = str(self._save_samples(event.samples, event.step))
        elif isinstance(event, ev.CheckpointDue):
            return self._save_checkpoint(event)
        elif isinstance(event, ev.Warning):
            self.store.add_message(run_id, event.step, "warning", event.message)
        elif isinstance(event, ev.Paused):
            self._save(force=True)
            self.store.update_run(run_id, status="paused")
        elif isinstance(event, ev.Resumed):
            self.store.update_run(run_id, status="running", heartbeat=time.time())
        elif isinstance(event, ev.Finished):
            self._save(force=True)
            if self.by_time:
                self.store.update_run(run_id, total_steps=event.step)
            event.checkpoint = self.last_checkpoint
        elif isinstance(event, ev.Failed):
            with contextlib.suppress(Exception):  # keep what was logged, if the store still takes it
                self._save(force=True)
            self.store.add_message(run_id, event.step, "error", event.message, event.traceback)
            event.checkpoint = self.last_checkpoint
        return event

    def _save(self, force: bool = False) -> None:
        """Write the values not yet in the store, at most twice a second unless forced (before a
        checkpoint, a pause, the end)."""
        now = time.perf_counter()
        if not self.unsaved or (not force and now - self.last_save < SAVE_INTERVAL_S):
            return
        self.store.log_scalars(self.run.id, self.unsaved)
        self.store.update_run(self.run.id, step=self.step, heartbeat=time.time(), summary=finite(self.latest))
        self.unsaved.clear()
        self.last_save = now

    def _save_checkpoint(self, event: ev.CheckpointDue) -> ev.CheckpointSaved:
        self._save(force=True)  # every value up to the checkpoint is in the store first
        folder = self.folder / "checkpoints"
        path = ckpt.save_checkpoint(folder, event.step, event.state, event.meta)
        if event.structure is not None:
            atomic_write_text(self.folder / "structure.json", json.dumps(event.structure, indent=1))
        self.store.add_artifact(self.run.id, "checkpoint", event.step, path)
        for removed in ckpt.prune(folder, self.keep_checkpoints):
            self.store.remove_artifact(self.run.id, removed)
        self.last_checkpoint = str(path)
        return ev.CheckpointSaved(event.run, event.step, path=str(path))

    def _save_samples(self, arr: np.ndarray, step: int) -> Path:
        folder = self.folder / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"step-{step:09d}"
        reference = None
        if self.dataset.spec.kind != "image":
            reference = self.dataset.as_float(slice(0, 2000))
        png = save_png(stem.with_suffix(".png"), picture(arr, reference), scale=1 if arr.ndim != 4 else _scale_for(arr))
        atomic_write(stem.with_suffix(".npy"), lambda f: np.save(f, arr, allow_pickle=False))
        self.store.add_artifact(self.run.id, "samples", step, png, {"npy": str(stem.with_suffix(".npy"))})
        return png

    def _recording_failed(self, exc: Exception) -> ev.Failed:
        message = f"internal error in recording the run: {type(exc).__name__}: {exc}"
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        with contextlib.suppress(Exception):
            self.store.add_message(self.run.id, self.step, "error", message, tb)
        return ev.Failed(self.run.id, self.step, message=message, traceback=tb, checkpoint=self.last_checkpoint)

    def _end(self, status: str, error: str | None) -> None:
        if self.on_end is not None:
            self.on_end()
        self.store.update_run(self.run.id, status=status, error=error, step=self.step, pid=None)
        if self.host is not None:
            self.host.notify("genstudio_run_finished", run=self.observed(), status=status, error=error)


def record(events: Iterator[ev.Event], recorder: Recorder) -> Iterator[ev.Event]:
    """``recorder.record(events)``: the events, persisted."""
    return recorder.record(events)


def _scale_for(arr: np.ndarray) -> int:
    """Small images are saved enlarged so a grid of 8x8 digits is readable."""
    side = max(arr.shape[-2:])
    return max(1, min(4, 64 // max(side, 1)))
