"""The training loop, as a generator of events.

The command line iterates it behind a progress bar; the window runs it in a worker thread
and turns its events into signals. Nothing here knows which front end is watching.

Events come at a rate bounded by time (:attr:`TrainSettings.event_rate`, about 20 a second
at most), whatever the step rate. Between steps the loop checks for stop, pause and requests
from other threads (:meth:`Trainer.stop`, :meth:`Trainer.pause`, :meth:`Trainer.submit`).
Data is moved to the device once and batched by index.
"""

from __future__ import annotations

import bisect
import collections
import concurrent.futures
import contextlib
import json
import math
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genstudio.api import (
    Batch,
    CheckpointError,
    ConfigError,
    Dataset,
    DataSpec,
    GenerativeModel,
    GenStudioError,
    PluginError,
    capabilities,
    config_from_dict,
    config_to_dict,
)
from genstudio.data.grid import picture, save_png
from genstudio.data.splits import split_indices
from genstudio.files import atomic_write, atomic_write_text
from genstudio.runs.inference import sample_array
from genstudio.runs.store import RunRecord, RunStore, SilentStore
from genstudio.runs.workspace import Workspace
from genstudio.training import checkpoint as ckpt
from genstudio.training import distributed
from genstudio.training import events as ev
from genstudio.training.command import train_command
from genstudio.training.device import describe, resolve_device
from genstudio.training.settings import DEFAULT_STEPS, TrainSettings

SAVE_INTERVAL_S = 0.5
# Automatic validation and sample grids each take at most this share of the run's time
# (unless --val-every / --sample-every say when). Grids are a film strip for the eye, so half
# a percent suffices; validation curves need more points than that would give a slow model.
VAL_SHARE = 0.01
SAMPLE_SHARE = 0.005
SAMPLE_SEED_OFFSET = 1_000_003


class _NonFiniteLossError(Exception):
    """A loss became NaN or infinite at ``step``. ``good`` holds the values of the steps
    before it that were collected with it, ``{key: (steps, values, walls)}``: they are kept."""

    def __init__(self, key: str, step: int, value: float, good: dict[str, tuple[list, list, list]] | None = None):
        super().__init__(f"loss {key!r} became {value} at step {step}")
        self.key, self.step, self.value = key, step, value
        self.good = good or {}


class _PluginFailureError(Exception):
    """Plugin code raised: carries what it was doing."""

    def __init__(self, doing: str, exc: BaseException):
        super().__init__(f"{doing}: {type(exc).__name__}: {exc}")
        self.doing, self.exc = doing, exc


@contextlib.contextmanager
def plugin_code(doing: str) -> Iterator[None]:
    """Mark a call into plugin code: whatever it raises becomes a failure attributed to it."""
    try:
        yield
    except (_NonFiniteLossError, _PluginFailureError):
        raise
    except Exception as exc:
        raise _PluginFailureError(doing, exc) from exc


class Trainer:
    """One run: builds the model, owns the loop, writes the run store.

    Make one with :meth:`new` or :meth:`resume` (both validate everything they can before a
    run record is written, raising :class:`GenStudioError`), then iterate :meth:`events`.
    """

    def __init__(
        self,
        *,
        host: Any,
        workspace: Workspace,
        model_cls: type[GenerativeModel],
        config: Any,
        dataset: Dataset,
        data_options: dict[str, Any],
        settings: TrainSettings,
        run: RunRecord,
        resume_from: tuple[Any, dict[str, Any]] | None = None,
        total_steps: int,
        device: torch.device,
        world: distributed.World | None = None,
    ):
        self.host = host
        self.workspace = workspace
        self.world = world or distributed.World()
        self.store: Any = RunStore(workspace) if self.world.writer else SilentStore(run)
        self.model_cls = model_cls
        self.config = config
        self.dataset = dataset
        self.data_options = data_options
        self.settings = settings
        self.run = run
        self.resume_from = resume_from
        self.total_steps = total_steps
        self.device = device
        self.plugin = run.plugin
        self.model: GenerativeModel | None = None
        self.step = 0
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._requests: collections.deque[tuple[Callable[[GenerativeModel], Any], concurrent.futures.Future]] = (
            collections.deque()
        )
        # observers hear about a run once: from rank 0 under torchrun
        self._observers = self.world.writer and host.has_observers("genstudio_run_event")

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
        from genstudio.data import load_dataset

        settings = (settings or TrainSettings()).validate()
        model_cls = host.model(model)
        if config is None or isinstance(config, dict):
            config = config_from_dict(model_cls.Config, config or {})
        data_options = dict(data_options or {})
        if isinstance(data, Dataset):
            dataset = data
        else:
            dataset = load_dataset(host, data, data_options, cache_dir=workspace.cache_dir, progress=progress)
        reason = model_cls.check_data(dataset.spec)
        if reason:
            raise ConfigError(reason)
        world = distributed.current()
        device = distributed.device_for(world, resolve_device(settings.device))
        if settings.precision == "bf16" and device.type != "cuda":
            raise ConfigError("--precision bf16 needs a CUDA device")
        distributed.init(world, device)
        try:
            config = model_cls.resolve_config(config, dataset.spec, device)
        except Exception as exc:
            raise PluginError(f"{model}: resolving its auto values failed: {type(exc).__name__}: {exc}") from exc
        if settings.eval_every:
            for name in (m.strip() for m in settings.eval_metrics.split(",") if m.strip()):
                host.metrics.get(name)  # refuses an unknown name, listing the known ones
        n_train = len(split_indices(len(dataset), settings.val_fraction, settings.seed)[0])
        total = _total_steps(settings, n_train, world.size)
        source = dataset.spec.source
        options = {k: _plain_option(v) for k, v in data_options.items()}
        config_values = config_to_dict(config)
        device_flag = settings.device if settings.device != "auto" else device.type
        command = train_command(model_cls, source, options, config_values, settings, device_flag, world.size)
        record = {
            "name": name,
            "model": model,
            "plugin": host.plugin_of_model(model),
            "data": source,
            "data_options": options,
            "config": config_values,
            "settings": settings.to_dict(),
            "spec": dataset.spec.to_dict(),
            "command": command,
            "device": describe(device, _cpu_threads(settings, world, device)),
            "total_steps": total,
        }
        # under torchrun rank 0 records the run; the others learn its id
        run = RunStore(workspace).create_run(**record) if world.writer else None
        run_id = distributed.broadcast_int(world, run.id if run is not None else 0)
        if run is None:
            run = _unwritten_run(workspace, run_id, record)
        return cls(
            host=host,
            workspace=workspace,
            model_cls=model_cls,
            config=config,
            dataset=dataset,
            data_options=options,
            settings=settings,
            run=run,
            total_steps=total,
            device=device,
            world=world,
        )

    @classmethod
    def resume(
        cls,
        host: Any,
        workspace: Workspace,
        run_ref: int | str,
        *,
        steps: int | None = None,
        device: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Trainer:
        """Continue a run from its last checkpoint: to its original total, or ``steps`` more."""
        from genstudio.runs.inference import load_run_data

        store = RunStore(workspace)
        run = store.get_run(run_ref)
        if run.live_status in ("running", "paused"):
            raise ConfigError(f"run {run.id} ({run.name}) is still being trained by process {run.pid}")
        model_cls = host.model(run.model)
        config = config_from_dict(model_cls.Config, run.config)
        settings = TrainSettings.from_dict(run.settings)
        if device is not None:
            settings.device = device
        world = distributed.current()
        dev = distributed.device_for(world, resolve_device(settings.device))
        distributed.init(world, dev)
        loaded = ckpt.load_latest(workspace.run_dir(run.id) / "checkpoints", device="cpu")
        if loaded is None:
            raise CheckpointError(f"run {run.id} ({run.name}) has no checkpoint to resume from")
        start = int(loaded[1]["step"])
        dataset = load_run_data(host, workspace, run, progress=progress)
        if steps is not None:
            if steps < 1:
                raise ConfigError("--steps must be at least 1")
            total = start + steps
        else:
            total = run.total_steps or start
            if start >= total:
                raise ConfigError(
                    f"run {run.id} ({run.name}) already reached its {total} steps; give --steps N to train N more"
                )
        if world.writer:
            store.update_run(run.id, total_steps=total, status="created", error=None)
            store.claim(run.id)
        return cls(
            host=host,
            workspace=workspace,
            model_cls=model_cls,
            config=config,
            dataset=dataset,
            data_options=run.data_options,
            settings=settings,
            run=store.get_run(run.id),
            resume_from=loaded,
            total_steps=total,
            device=dev,
            world=world,
        )

    # -- control, from any thread --------------------------------------------------------------

    def stop(self) -> None:
        """Stop at the next step boundary, with a checkpoint."""
        self._stop.set()
        self._pause.clear()

    def pause(self) -> None:
        self._pause.set()

    def unpause(self) -> None:
        self._pause.clear()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def submit(self, fn: Callable[[GenerativeModel], Any]) -> concurrent.futures.Future:
        """Run ``fn(model)`` in the training thread between two steps (in eval mode, without
        gradients, without touching the run's random state). Returns a future."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._requests.append((fn, future))
        return future

    # -- the loop ----------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        return self.workspace.run_dir(self.run.id)

    def record(self) -> dict[str, Any]:
        """The run as observer hooks receive it."""
        return {
            "id": self.run.id,
            "name": self.run.name,
            "model": self.run.model,
            "data": self.run.data,
            "config": dict(self.run.config),
            "folder": str(self.folder),
            "command": self.run.command,
            "step": self.step,
        }

    def events(self) -> Iterator[ev.Event]:
        """Train, yielding events; the last is :class:`~events.Finished` or :class:`~events.Failed`.

        The run's final status is in the store before its last event is yielded: whoever
        acts on that event (continuing the run, say) finds the run ended."""
        ended = False
        self.store.update_run(self.run.id, status="running")
        self.store.claim(self.run.id)

        def end(status: str, error: str | None) -> None:
            nonlocal ended
            ended = True
            self._cancel_requests()
            self.store.update_run(self.run.id, status=status, error=error, step=self.step, pid=None)
            if self.world.writer:
                self.host.notify("genstudio_run_finished", run=self.record(), status=status, error=error)

        try:
            for event in self._events():
                if self._observers:
                    self.host.notify("genstudio_run_event", run=self.record(), event=event)
                if isinstance(event, ev.Finished):
                    end(event.status, None)
                elif isinstance(event, ev.Failed):
                    end("failed", event.message)
                yield event
        finally:
            if not ended:  # the consumer closed the generator early, or the process is going down
                end("stopped", None)
            self.store.close()
            distributed.finish(self.world)

    def _events(self) -> Iterator[ev.Event]:
        run_id = self.run.id
        s = self.settings
        try:
            model = self._build_model()
            state = self._restore(model)
            distributed.prepare_model(self.world, model)
            x_train, y_train, x_val, y_val = self._device_data()
        except _PluginFailureError as exc:
            yield self._failed(exc.doing, exc.exc, plugin=self.plugin)
            return
        except GenStudioError as exc:
            yield ev.Failed(run_id, self.step, message=str(exc))
            return
        n_train = len(x_train)
        world = self.world
        bs = min(s.batch_size, n_train // world.size)
        span = bs * world.size  # under torchrun each process takes its part of every span
        per_epoch = max(1, n_train // span)
        writer = world.writer
        image = self.dataset.spec.kind == "image"
        # rank 0 alone validates, samples, evaluates and checkpoints: it writes the run
        can_eval = writer and "evaluate" in capabilities(model) and len(x_val) > 0
        metrics_every = _IntervalEvaluation(self) if s.eval_every and writer else None
        has_structure = "structure" in capabilities(model)
        total = self.total_steps
        # each periodic task takes at most about 1% of the run's time unless the user set it
        val_due = _Schedule(s.val_every, max(1, total // 20), share=VAL_SHARE)
        sample_due = _Schedule(s.sample_every, max(1, total // 50), share=SAMPLE_SHARE, max_gap=15.0)
        n_samples = s.n_samples or (64 if image else 1000)
        ckpt_every = s.checkpoint_every
        autocast = (
            torch.autocast(device_type="cuda", dtype=torch.bfloat16)
            if s.precision == "bf16"
            else contextlib.nullcontext()
        )

        if writer:
            self.host.notify("genstudio_run_started", run=self.record())
        yield ev.Started(
            run_id,
            self.step,
            total_steps=total,
            model=self.run.model,
            data=self.run.data,
            device=describe(self.device),
            resumed=self.resume_from is not None,
            folder=str(self.folder),
        )
        # what loading the data skipped or changed (undecodable images, resized ones...):
        # the person training must hear it, not only `genstudio data show`
        for message in self.dataset.warnings:
            self.store.add_message(run_id, self.step, "warning", message)
            yield ev.Warning(run_id, self.step, message=message)

        gen = state["gen"]
        perm, pos = state["perm"], state["pos"]
        elapsed0 = state["elapsed"]
        clock0 = time.perf_counter()
        wall0 = time.time() - clock0
        paused_for = 0.0
        pending: list[tuple[int, float, dict[str, Any]]] = []
        latest: dict[str, float] = {}  # the newest mean of every key, for the summary
        unsaved: list[tuple[int, str, float, float]] = []  # rows not yet in the store
        last_save = clock0
        min_interval = 1.0 / s.event_rate
        next_flush = clock0 + min_interval
        last_ckpt_t = clock0
        rate = _RateMeter()
        rate.add(self.step, clock0)
        start_step = self.step
        last_ckpt_path = state.get("checkpoint", "")

        def elapsed_now() -> float:
            return elapsed0 + time.perf_counter() - clock0 - paused_for

        def save(force: bool = False) -> None:
            """Write the values not yet in the store, at most twice a second unless forced
            (before a checkpoint, a pause, the end): a transaction per step would cost a slow
            model's run several percent of its time."""
            nonlocal last_save
            now = time.perf_counter()
            if not unsaved or (not force and now - last_save < SAVE_INTERVAL_S):
                return
            self.store.log_scalars(run_id, unsaved)
            self.store.update_run(run_id, step=self.step, heartbeat=time.time(), summary=_finite(latest))
            unsaved.clear()
            last_save = now

        def salvage() -> None:
            """On the way out of a failure: keep what was logged, if the store still takes it."""
            with contextlib.suppress(Exception):
                save(force=True)

        def flush(force_save: bool = False) -> Iterator[ev.Event]:
            if not pending:
                save(force_save)
                return
            scalars, means = _collect(pending)
            pending.clear()
            unsaved.extend(
                (st, k, v, w) for k, (steps, vals, walls) in scalars.items() for st, v, w in zip(steps, vals, walls)
            )
            latest.update(means)
            save(force_save)
            now = time.perf_counter()
            rate.add(self.step, now)
            sps = rate.rate()
            remaining = total - self.step
            yield ev.Progress(
                run_id,
                self.step,
                total_steps=total,
                epoch=self.step / per_epoch,
                elapsed=elapsed_now(),
                steps_per_second=sps,
                eta=remaining / sps if sps > 0 else None,
                losses=means,
                scalars={k: (v[0], v[1]) for k, v in scalars.items()},
                walls={k: v[2] for k, v in scalars.items()},
            )

        def checkpoint() -> Iterator[ev.Event]:
            nonlocal last_ckpt_path, last_ckpt_t
            yield from flush(force_save=True)  # every value up to the checkpoint is in the store first
            with plugin_code("saving a checkpoint (checkpoint_state)"):
                model_state = model.checkpoint_state()
            loop_state = {
                "perm": perm,
                "pos": pos,
                "gen": gen.get_state(),
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            }
            meta = {
                "run": run_id,
                "model": self.run.model,
                "elapsed": elapsed_now(),
                "spec": self.dataset.spec.to_dict(),
                "config": config_to_dict(self.config),
                "losses": _finite(latest),
            }
            path = ckpt.save_checkpoint(
                self.folder / "checkpoints", self.step, {"model": model_state, "loop": loop_state}, meta
            )
            if has_structure:
                with plugin_code("describing its structure (structure)"):
                    graph = self._inference(model, lambda m: m.structure())
                atomic_write_text(self.folder / "structure.json", json.dumps(graph, indent=1))
            self.store.add_artifact(run_id, "checkpoint", self.step, path)
            for removed in ckpt.prune(self.folder / "checkpoints", s.keep_checkpoints):
                self.store.remove_artifact(run_id, removed)
            last_ckpt_path, last_ckpt_t = str(path), time.perf_counter()
            yield ev.CheckpointSaved(run_id, self.step, path=str(path))

        def step_seconds() -> float:
            sps = rate.rate()
            return 1.0 / sps if sps > 0 else (time.perf_counter() - clock0) / max(1, self.step - start_step)

        def samples() -> Iterator[ev.Event]:
            t = time.perf_counter()
            with plugin_code("sampling (sample)"):
                out = self._inference(model, lambda m: m.sample(n_samples, generator=self._sample_generator()))
            arr = _to_numpy(out, self.dataset.spec)
            path = self._save_samples(arr)
            now = time.perf_counter()
            sample_due.done(self.step, now, now - t, step_seconds())
            yield ev.Samples(run_id, self.step, path=str(path), samples=arr)

        def validate() -> None:
            t = time.perf_counter()
            with plugin_code("validating (evaluate)"):
                means = self._inference(model, lambda m: _evaluate(m, x_val, y_val, bs, image))
            now = time.perf_counter()
            val_due.done(self.step, now, now - t, step_seconds())
            pending.append((self.step, wall0 + now, {f"val/{k}": v for k, v in means.items()}))

        def evaluate_metrics() -> Iterator[ev.Event]:
            scalars, problem = metrics_every(model)
            if problem:
                self.store.add_message(run_id, self.step, "warning", problem)
                yield ev.Warning(run_id, self.step, message=problem)
            if scalars:
                pending.append((self.step, wall0 + time.perf_counter(), scalars))

        try:
            if self.resume_from is None and self.step == 0 and writer:
                yield from samples()
            while self.step < total:
                if self._stop.is_set():
                    break
                if self._pause.is_set():
                    yield from flush(force_save=True)
                    t_pause = time.perf_counter()
                    yield ev.Paused(run_id, self.step)
                    self.store.update_run(run_id, status="paused")
                    while self._pause.is_set() and not self._stop.is_set():
                        self._serve_requests(model, timeout=0.05)
                    paused_for += time.perf_counter() - t_pause
                    rate.reset(self.step, time.perf_counter())
                    self.store.update_run(run_id, status="running", heartbeat=time.time())
                    yield ev.Resumed(run_id, self.step)
                    continue
                if self._requests:
                    self._serve_requests(model)
                if pos + span > n_train:
                    perm, pos = torch.randperm(n_train, generator=gen, device=gen.device), 0
                idx = perm[pos + world.rank * bs : pos + (world.rank + 1) * bs]
                pos += span
                xb = x_train.index_select(0, idx)
                if xb.dtype == torch.uint8:
                    xb = xb.float().mul_(1.0 / 255.0)
                batch = Batch(xb, None if y_train is None else y_train.index_select(0, idx))
                model.step, model.progress = self.step, min(1.0, self.step / max(1, total))
                with plugin_code(f"training step {self.step + 1} (train_step)"), autocast:
                    losses = model.train_step(batch)
                self.step += 1
                now = time.perf_counter()
                pending.append((self.step, wall0 + now, losses))
                if model.has_warnings:
                    for message in model.take_warnings():
                        self.store.add_message(run_id, self.step, "warning", message)
                        yield ev.Warning(run_id, self.step, message=message)
                if can_eval and val_due.due(self.step, now):
                    validate()
                if metrics_every is not None and metrics_every.live and self.step % s.eval_every == 0:
                    yield from evaluate_metrics()
                if writer and sample_due.due(self.step, now):
                    yield from flush()
                    yield from samples()
                if writer and (
                    (ckpt_every and self.step % ckpt_every == 0)
                    or (not ckpt_every and now - last_ckpt_t > s.checkpoint_minutes * 60)
                ):
                    yield from checkpoint()
                elif now >= next_flush:
                    yield from flush()
                    next_flush = time.perf_counter() + min_interval
            # the end, or a stop: the last losses, samples and a checkpoint
            yield from flush(force_save=True)
            if can_eval and val_due.last_step != self.step:
                validate()
                yield from flush(force_save=True)
            if writer and sample_due.last_step != self.step:
                yield from samples()
            if writer and (not last_ckpt_path or _step_of(last_ckpt_path) != self.step):
                yield from checkpoint()
            status = "stopped" if self.step < total else "finished"
            yield ev.Finished(
                run_id, self.step, status=status, elapsed=elapsed_now(), losses=dict(latest), checkpoint=last_ckpt_path
            )
        except _NonFiniteLossError as exc:
            # every value of the steps before the bad one stays, and the run ends at the last good step
            unsaved.extend(
                (st, k, v, w) for k, (steps, vals, walls) in exc.good.items() for st, v, w in zip(steps, vals, walls)
            )
            latest.update(_means(exc.good))
            self.step = exc.step - 1
            salvage()
            message = f"{exc}; the run stopped"
            if last_ckpt_path:
                message += f" and its last good checkpoint (step {_step_of(last_ckpt_path)}) is kept"
            self.store.add_message(run_id, exc.step, "error", message)
            yield ev.Failed(run_id, self.step, message=message, plugin=self.plugin, checkpoint=last_ckpt_path)
        except _PluginFailureError as exc:
            salvage()
            yield self._failed(exc.doing, exc.exc, plugin=self.plugin, checkpoint=last_ckpt_path)
        except GenStudioError as exc:
            salvage()
            yield ev.Failed(run_id, self.step, message=str(exc), checkpoint=last_ckpt_path)
        except Exception as exc:  # a bug in GenStudio itself: report it, never crash the host
            salvage()
            yield self._failed("GenStudio", exc, plugin=None, checkpoint=last_ckpt_path)

    # -- pieces ------------------------------------------------------------------------------

    def _failed(self, doing: str, exc: BaseException, plugin: str | None, checkpoint: str = "") -> ev.Failed:
        who = f"plugin {plugin!r} failed while {doing}" if plugin else f"internal error in {doing}"
        message = f"{who}: {type(exc).__name__}: {exc}"
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.store.add_message(self.run.id, self.step, "error", message, tb)
        return ev.Failed(self.run.id, self.step, message=message, plugin=plugin, traceback=tb, checkpoint=checkpoint)

    def _build_model(self) -> GenerativeModel:
        threads = _cpu_threads(self.settings, self.world, self.device)
        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(self.settings.seed)
        with plugin_code(f"building the model ({self.model_cls.__name__})"):
            model = self.model_cls(self.dataset.spec, self.config, self.device)
            if isinstance(model, torch.nn.Module):
                model.to(self.device)
                model.train()
        self.model = model
        return model

    def _restore(self, model: GenerativeModel) -> dict[str, Any]:
        n_train = len(split_indices(len(self.dataset), self.settings.val_fraction, self.settings.seed)[0])
        gen_device = self.device if self.device.type == "cuda" else torch.device("cpu")
        gen = torch.Generator(device=gen_device)
        gen.manual_seed(self.settings.seed)
        state: dict[str, Any] = {
            "gen": gen,
            "perm": torch.zeros(0, dtype=torch.long, device=gen_device),
            "pos": n_train,
        }
        state["elapsed"] = 0.0
        if self.resume_from is None:
            return state
        saved, meta = self.resume_from
        with plugin_code("loading its checkpoint (load_checkpoint_state)"):
            model.load_checkpoint_state(ckpt.to_device(saved["model"], self.device))
        loop = saved["loop"]
        gen.set_state(loop["gen"].cpu())
        torch.set_rng_state(loop["rng"].cpu())
        if self.device.type == "cuda" and loop.get("cuda_rng"):
            with contextlib.suppress(RuntimeError):
                torch.cuda.set_rng_state_all([t.cpu() for t in loop["cuda_rng"]])
        state.update(perm=loop["perm"].to(gen_device), pos=int(loop["pos"]), elapsed=float(meta.get("elapsed", 0.0)))
        state["checkpoint"] = str(ckpt.checkpoint_paths(self.folder / "checkpoints", int(meta["step"]))[1])
        self.step = int(meta["step"])
        # what a killed process logged after its last checkpoint is logged again from here
        self.store.truncate_scalars(self.run.id, self.step)
        return state

    def _device_data(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        d = self.dataset
        tr, va = split_indices(len(d), self.settings.val_fraction, self.settings.seed)
        x = np.ascontiguousarray(d.x)
        to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)  # noqa: E731
        y_tr = None if d.y is None else to(d.y[tr].astype(np.int64))
        y_va = None if d.y is None else to(d.y[va].astype(np.int64))
        return to(x[tr]), y_tr, to(x[va]), y_va

    def _sample_generator(self) -> torch.Generator:
        g = torch.Generator(device=self.device if self.device.type == "cuda" else "cpu")
        g.manual_seed(self.settings.seed + SAMPLE_SEED_OFFSET)
        return g

    def _inference(self, model: GenerativeModel, fn: Callable[[GenerativeModel], Any]) -> Any:
        """Call ``fn(model)`` in eval mode without gradients, leaving the run's random state
        as it was, so sampling when the clock says so never changes the training."""
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        was_training = isinstance(model, torch.nn.Module) and model.training
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            if isinstance(model, torch.nn.Module):
                model.eval()
            try:
                return fn(model)
            finally:
                if was_training:
                    model.train()

    def _serve_requests(self, model: GenerativeModel, timeout: float = 0.0) -> None:
        if not self._requests:
            if timeout:
                time.sleep(timeout)
            return
        while self._requests:
            fn, future = self._requests.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._inference(model, fn))
            except Exception as exc:
                future.set_exception(exc)

    def _cancel_requests(self) -> None:
        while self._requests:
            _, future = self._requests.popleft()
            future.cancel()

    def _save_samples(self, arr: np.ndarray) -> Path:
        folder = self.folder / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"step-{self.step:09d}"
        reference = None
        if self.dataset.spec.kind != "image":
            reference = self.dataset.as_float(slice(0, 2000))
        png = save_png(stem.with_suffix(".png"), picture(arr, reference), scale=1 if arr.ndim != 4 else _scale_for(arr))
        atomic_write(stem.with_suffix(".npy"), lambda f: np.save(f, arr, allow_pickle=False))
        self.store.add_artifact(self.run.id, "samples", self.step, png, {"npy": str(stem.with_suffix(".npy"))})
        return png


def _cpu_threads(settings: TrainSettings, world: distributed.World, device: torch.device) -> int | None:
    """The threads a run sets for its CPU work, or None to leave PyTorch's number alone."""
    if settings.cpu_threads:
        return settings.cpu_threads
    if world.distributed and device.type == "cpu":
        # processes sharing the CPU share its cores rather than each taking all of them
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world.size))
        return max(1, (os.cpu_count() or 1) // local)
    return None


def _unwritten_run(workspace: Workspace, run_id: int, record: dict[str, Any]) -> RunRecord:
    """The record of a run another process writes (rank 0 under torchrun)."""
    now = time.time()
    return RunRecord(
        id=run_id, name=record["name"] or f"{record['model']}-{run_id}", status="created", step=0,
        created=now, updated=now, error=None, pid=None, host=None, heartbeat=None,
        folder=workspace.run_dir(run_id), **{k: v for k, v in record.items() if k != "name"},
    )  # fmt: skip


def _scale_for(arr: np.ndarray) -> int:
    """Small images are saved enlarged so a grid of 8x8 digits is readable."""
    side = max(arr.shape[-2:])
    return max(1, min(4, 64 // max(side, 1)))


def _total_steps(settings: TrainSettings, n_train: int, world_size: int = 1) -> int:
    if settings.steps is not None:
        return settings.steps
    if settings.epochs is not None:
        return settings.epochs * max(1, n_train // (min(settings.batch_size, n_train) * world_size))
    return DEFAULT_STEPS


def _plain_option(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)


def _to_numpy(out: Any, spec: DataSpec) -> np.ndarray:
    try:
        return sample_array(out, spec)
    except ValueError as exc:
        raise _PluginFailureError("sampling (sample)", exc) from None


def _evaluate(model: Any, x: torch.Tensor, y: torch.Tensor | None, bs: int, image: bool) -> dict[str, float]:
    totals: dict[str, float] = {}
    count = 0
    for start in range(0, len(x), bs):
        xb = x[start : start + bs]
        if xb.dtype == torch.uint8:
            xb = xb.float().mul_(1.0 / 255.0)
        out = model.evaluate(Batch(xb, None if y is None else y[start : start + bs]))
        n = len(xb)
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + float(v) * n
        count += n
    return {k: v / count for k, v in totals.items()}


def _collect(
    pending: list[tuple[int, float, dict[str, Any]]],
) -> tuple[dict[str, tuple[list, list, list]], dict[str, float]]:
    """Per-step loss dicts -> ``{key: (steps, values, walls)}`` and the means. Tensors are
    converted in one go (one device sync), and a non-finite value raises :class:`_NonFiniteLossError`
    for the earliest step that has one, carrying the values of the steps before it."""
    by_key: dict[str, tuple[list, list, list]] = {}
    tensors: list[tuple[list, int, torch.Tensor]] = []
    for step, wall, losses in pending:
        for key, value in losses.items():
            steps, vals, walls = by_key.setdefault(key, ([], [], []))
            steps.append(step)
            walls.append(wall)
            if isinstance(value, torch.Tensor):
                tensors.append((vals, len(vals), value))
                vals.append(0.0)
            else:
                vals.append(float(value))
    if tensors:
        converted = torch.stack([t.detach().float().reshape(()) for _, _, t in tensors]).cpu().tolist()
        for (vals, i, _), value in zip(tensors, converted):
            vals[i] = value
    bad: tuple[str, int, float] | None = None  # the earliest step with a non-finite value, over every key
    for key, (steps, vals, _) in by_key.items():
        for step, value in zip(steps, vals):
            if not math.isfinite(value):
                if bad is None or step < bad[1]:
                    bad = (key, step, value)
                break
    if bad is not None:
        key, step, value = bad
        good: dict[str, tuple[list, list, list]] = {}
        for k, (steps, vals, walls) in by_key.items():
            n = bisect.bisect_left(steps, step)  # steps come in order; those before the bad one are finite
            if n:
                good[k] = (steps[:n], vals[:n], walls[:n])
        raise _NonFiniteLossError(key, step, value, good)
    return by_key, _means(by_key)


def _means(by_key: dict[str, tuple[list, list, list]]) -> dict[str, float]:
    return {k: float(np.mean(v[1])) for k, v in by_key.items()}


def _finite(d: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in d.items() if math.isfinite(v)}


def _step_of(path: str) -> int:
    return int(Path(path).stem.split("-")[-1])


class _IntervalEvaluation:
    """``genstudio eval``'s metrics on a few samples every ``eval_every`` steps, logged as
    ``eval/<key>`` scalars beside the losses. The feature extractor is built once. An
    evaluation that fails is reported once as a warning and turns itself off; the run goes on."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        s = trainer.settings
        self.metrics = [m.strip() for m in s.eval_metrics.split(",") if m.strip()]
        self.train_index, self.val_index = split_indices(len(trainer.dataset), s.val_fraction, s.seed)
        self.extractor: Any = None
        self.live = True

    def _needs_features(self) -> bool:
        host = self.trainer.host
        return any({"features", "logits"} & set(host.metrics.get(m).requires) for m in self.metrics)

    def __call__(self, model: GenerativeModel) -> tuple[dict[str, float], str | None]:
        from genstudio.metrics.evaluate import build_extractor, default_extractor, evaluate_model

        t = self.trainer
        try:
            if self.extractor is None and self._needs_features():
                name = default_extractor(t.host, t.dataset.spec, t.workspace.cache_dir)
                if name is not None:
                    self.extractor, _ = build_extractor(
                        t.host, name, t.dataset.spec, t.device, t.workspace.cache_dir, explicit=False
                    )
            report = evaluate_model(
                t.host, model, t.dataset, metrics=self.metrics, n=t.settings.eval_n, extractor=self.extractor,
                train_index=self.train_index, val_index=self.val_index, device=t.device, seed=t.settings.seed,
                cache_dir=t.workspace.cache_dir,
            )  # fmt: skip
        except GenStudioError as exc:
            self.live = False
            return {}, f"evaluation at step {t.step} failed, and is off for the rest of the run: {exc}"
        scalars = report.scalars()
        if not scalars:
            self.live = False
            skipped = "; ".join(f"{k}: {v}" for k, v in report.skipped.items()) or "nothing applies"
            return {}, f"no metric of --eval-metrics applies to this run ({skipped}); evaluation is off"
        return scalars, None


class _Schedule:
    """When a periodic task (validation, sample grids) is due.

    Set by the user (``every`` > 0), it runs every ``every`` steps exactly. Otherwise it runs
    every ``base`` steps, stretched so that it takes at most ``share`` of the run's time, and
    at least every ``max_gap`` seconds when that too fits in the share (so a long run's
    window still gets fresh samples)."""

    def __init__(self, every: int, base: int, share: float, max_gap: float | None = None):
        self.explicit = every > 0
        self.every = every if self.explicit else base
        self.share = share
        self.max_gap = max_gap
        self.next_step = self.every
        self.last_step = -1
        self.last_time = time.perf_counter()
        self.cost = 0.0

    def due(self, step: int, now: float) -> bool:
        if step >= self.next_step:
            return True
        if self.explicit or self.max_gap is None:
            return False
        return now - self.last_time > max(self.max_gap, self.cost / self.share)

    def done(self, step: int, now: float, cost: float, step_seconds: float) -> None:
        self.last_step, self.last_time, self.cost = step, now, cost
        if self.explicit:
            self.next_step = (step // self.every + 1) * self.every
        else:
            stretch = int(cost / (self.share * step_seconds)) if step_seconds > 0 else 0
            self.next_step = step + max(self.every, stretch)


class _RateMeter:
    """Steps per second over the last few seconds."""

    def __init__(self, window: float = 5.0):
        self.window = window
        self.points: collections.deque[tuple[int, float]] = collections.deque()

    def reset(self, step: int, t: float) -> None:
        self.points.clear()
        self.points.append((step, t))

    def add(self, step: int, t: float) -> None:
        self.points.append((step, t))
        while len(self.points) > 2 and t - self.points[0][1] > self.window:
            self.points.popleft()

    def rate(self) -> float:
        if len(self.points) < 2:
            return 0.0
        (s0, t0), (s1, t1) = self.points[0], self.points[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0
