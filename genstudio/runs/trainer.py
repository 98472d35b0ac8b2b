"""A run, from its record to its last event: prepare it (new or resumed), train it with the
loop, record what the loop yields. The command line, the window and the benchmarks use this.

    trainer = Trainer.new(host, workspace, "vae", "digits", settings=TrainSettings(steps=500))
    for event in trainer.events():   # the loop's events, persisted by the recorder
        ...

:meth:`Trainer.stop`, :meth:`Trainer.pause` and :meth:`Trainer.submit` may be called from any
thread while another iterates :meth:`Trainer.events`.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from genstudio.api import CheckpointError, ConfigError, Dataset, GenerativeModel, config_from_dict
from genstudio.runs.inference import load_run_data
from genstudio.runs.recorder import Recorder
from genstudio.runs.store import RunRecord, RunStore, SilentStore
from genstudio.runs.workspace import Workspace
from genstudio.training import checkpoint as ckpt
from genstudio.training import distributed
from genstudio.training import events as ev
from genstudio.training.control import Control
from genstudio.training.loop import Loop
from genstudio.training.prepare import Plan, place, prepare
from genstudio.training.settings import TrainSettings


class Trainer:
    """One run: its plan, its record, the loop that trains it and the recorder that writes it.

    Make one with :meth:`new` or :meth:`resume` (both validate everything they can before a
    run record is written, raising :class:`GenStudioError`), then iterate :meth:`events`.
    """

    def __init__(
        self,
        host: Any,
        workspace: Workspace,
        plan: Plan,
        run: RunRecord,
        *,
        resume_from: tuple[Any, dict[str, Any]] | None = None,
        last_checkpoint: str = "",
        notes: tuple[str, ...] = (),
    ):
        self.host, self.workspace, self.plan, self.run = host, workspace, plan, run
        self.resume_from = resume_from
        self.last_checkpoint = last_checkpoint
        self.notes = notes
        self.world = plan.world
        self.store: Any = RunStore(workspace) if self.world.writer else SilentStore(run)
        self.control = Control()
        self.clock: Callable[[], float] = time.perf_counter
        """The loop's clock (seconds, monotonic): tests set their own before :meth:`events`."""
        self._loop: Loop | None = None

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def new(
        cls,
        host: Any,
        workspace: Workspace,
        model: str,
        data: str | Dataset,
        *,
        data_options: dict[str, Any] | None = None,
        config: dict[str, Any] | Any | None = None,
        settings: TrainSettings | None = None,
        name: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Trainer:
        """Validate a new run and record it. ``data`` is a source (name or path), loaded here,
        or an already loaded :class:`Dataset` (then ``data_options`` are those it was loaded with)."""
        plan = prepare(
            host, model, data, data_options=data_options, config=config, settings=settings, name=name,
            cache_dir=workspace.cache_dir, progress=progress,
        )  # fmt: skip
        world = plan.world
        # under torchrun rank 0 records the run; the others learn its id
        run = RunStore(workspace).create_run(**plan.record) if world.writer else None
        run_id = distributed.broadcast_int(world, run.id if run is not None else 0)
        if run is None:
            run = _unwritten_run(workspace, run_id, plan.record)
        return cls(host, workspace, plan, run)

    @classmethod
    def resume(
        cls,
        host: Any,
        workspace: Workspace,
        run_ref: int | str,
        *,
        steps: int | None = None,
        minutes: float | None = None,
        device: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Trainer:
        """Continue a run from its newest intact checkpoint (damaged ones are named and
        skipped; with none, from step 0 with the run's settings, its logged values kept): to
        its original total (steps or time budget), or ``steps`` more steps, or ``minutes``
        more minutes."""
        store = RunStore(workspace)
        run = store.get_run(run_ref)
        if run.live_status in ("running", "paused"):
            raise ConfigError(f"run {run.id} ({run.name}) is still being trained by process {run.pid}")
        if not run.spec:
            raise CheckpointError(f"run {run.id} ({run.name}) recorded no data spec; it never started")
        model_cls = host.model(run.model)
        config = config_from_dict(model_cls.Config, run.config)
        settings = TrainSettings.from_dict(run.settings)
        if device is not None:
            settings.device = device
        world, dev = place(settings)
        found = ckpt.latest_intact(workspace.run_dir(run.id) / "checkpoints", device="cpu")
        notes = tuple(found.damaged)
        start = int(found.meta["step"]) if found.loaded is not None else 0
        trained = float(found.meta.get("elapsed", 0.0))  # seconds of training before the checkpoint
        if steps is not None and minutes is not None:
            raise ConfigError("give --steps or --minutes, not both")
        dataset = load_run_data(host, workspace, run, progress=progress)
        if minutes is not None:
            if not 0 < minutes <= 1e6:
                raise ConfigError("--minutes must be positive")
            # the budget becomes the time already trained plus the minutes asked for
            settings.steps, settings.epochs, settings.minutes = None, None, trained / 60.0 + minutes
            total = start
        elif steps is not None:
            if steps < 1:
                raise ConfigError("--steps must be at least 1")
            settings.minutes = None
            total = start + steps
        elif settings.minutes is not None:
            if trained >= settings.minutes * 60.0:
                raise ConfigError(
                    f"run {run.id} ({run.name}) already trained its {settings.minutes:g} minutes; "
                    "give --minutes X to train X more"
                )
            total = start
        else:
            total = run.total_steps or start
            if start >= total:
                raise ConfigError(
                    f"run {run.id} ({run.name}) already reached its {total} steps; give --steps N to train N more"
                )
        if world.writer:
            store.update_run(run.id, total_steps=total, settings=settings.to_dict(), status="created", error=None)
            store.claim(run.id)
        plan = Plan(
            model_cls, config, dataset, run.data_options, settings, dev, world, total, run.plugin, workspace.cache_dir
        )
        return cls(
            host, workspace, plan, store.get_run(run.id), resume_from=found.loaded,
            last_checkpoint=str(found.path or ""), notes=notes,
        )  # fmt: skip

    # -- control, from any thread --------------------------------------------------------------

    def stop(self) -> None:
        """Stop at the next step boundary, with a checkpoint."""
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def unpause(self) -> None:
        self.control.unpause()

    @property
    def paused(self) -> bool:
        return self.control.paused

    @property
    def stopping(self) -> bool:
        return self.control.stopping

    def submit(self, fn: Callable[[GenerativeModel], Any]) -> concurrent.futures.Future:
        """Run ``fn(model)`` in the training thread between two steps (in eval mode, without
        gradients, without touching the run's random state). Returns a future."""
        return self.control.submit(fn)

    # -- what the plan and the loop hold ------------------------------------------------------

    settings = property(lambda self: self.plan.settings)
    dataset = property(lambda self: self.plan.dataset)
    total_steps = property(lambda self: self.plan.total_steps)
    device = property(lambda self: self.plan.device)
    config = property(lambda self: self.plan.config)
    model_cls = property(lambda self: self.plan.model_cls)
    plugin = property(lambda self: self.run.plugin)

    @property
    def loop(self) -> Loop | None:
        """The loop, once :meth:`events` has started it (its ``batches`` and ``x_val`` hold the
        run's data on the device, for tests and benchmarks)."""
        return self._loop

    @property
    def model(self) -> GenerativeModel | None:
        return self._loop.model if self._loop is not None else None

    @property
    def step(self) -> int:
        if self._loop is not None:
            return self._loop.step
        return int(self.resume_from[1]["step"]) if self.resume_from is not None else 0

    def sample_generator(self) -> Any:
        """The generator the run's sample grids are drawn from (``torch.Generator``), fresh."""
        if self._loop is None:
            raise RuntimeError("the run has not started")
        return self._loop.sample_generator()

    @property
    def folder(self) -> Path:
        return self.workspace.run_dir(self.run.id)

    # -- the run -----------------------------------------------------------------------------

    def events(self) -> Iterator[ev.Event]:
        """Train, yielding events; the last is :class:`~events.Finished` or :class:`~events.Failed`.

        The run's final status is in the store before its last event is yielded."""
        if self.resume_from is not None:
            # what a killed process logged after its last checkpoint is logged again from here
            self.store.truncate_scalars(self.run.id, int(self.resume_from[1]["step"]))
        self._loop = Loop(
            self.host, self.plan, self.run.id, self.control, resume_from=self.resume_from, clock=self.clock,
            notes=self.notes,
        )  # fmt: skip
        recorder = Recorder(
            self.run, self.store, self.folder, self.plan.dataset, keep_checkpoints=self.plan.settings.keep_checkpoints,
            host=self.host if self.world.writer else None, last_checkpoint=self.last_checkpoint,
            on_end=self.control.cancel_requests, by_time=self.plan.settings.minutes is not None,
        )  # fmt: skip
        try:
            yield from recorder.record(iter(self._loop))
        finally:
            distributed.finish(self.world)


def _unwritten_run(workspace: Workspace, run_id: int, record: dict[str, Any]) -> RunRecord:
    """The record of a run another process writes (rank 0 under torchrun)."""
    now = time.time()
    return RunRecord(
        id=run_id, name=record["name"] or f"{record['model']}-{run_id}", status="created", step=0,
        created=now, updated=now, error=None, pid=None, host=None, heartbeat=None,
        folder=workspace.run_dir(run_id), **{k: v for k, v in record.items() if k != "name"},
    )  # fmt: skip
