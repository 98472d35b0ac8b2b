"""The training loop: a generator of events, and nothing else.

It yields events (:mod:`genstudio.api.events`) at a rate bounded by time
(:attr:`TrainSettings.event_rate`, about 20 a second at most) whatever the step rate, and
between steps it checks its :class:`~genstudio.training.control.Control` for stop, pause and
requests from other threads. It writes nothing: checkpoints leave it as
:class:`~genstudio.training.events.CheckpointDue` events and sample grids as arrays, and the
recorder (:func:`genstudio.runs.recorder.record`) that consumes the events persists them. The
command line and the window iterate the recorder. Data is moved to the device once and batched
by index (:class:`~genstudio.training.batches.Batches`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from genstudio.api import GenerativeModel, GenStudioError, capabilities, config_to_dict, inference_mode
from genstudio.data.splits import dataset_split
from genstudio.host.blame import PluginFailure, blame
from genstudio.training import checkpoint as ckpt
from genstudio.training import distributed
from genstudio.training import events as ev
from genstudio.training.batches import Batches, held_out
from genstudio.training.control import Control
from genstudio.training.device import describe
from genstudio.training.losses import NonFiniteLossError, Scalars, collect, finite, means
from genstudio.training.periodic import IntervalEvaluation, RateMeter, Schedule, validation_losses
from genstudio.training.prepare import Plan, cpu_threads
from genstudio.training.sampling import sample_array

# Automatic validation and sample grids each take at most this share of the run's time
# (unless --val-every / --sample-every say when). Grids are a film strip for the eye, so half
# a percent suffices; validation curves need more points than that would give a slow model.
VAL_SHARE = 0.01
SAMPLE_SHARE = 0.005
SAMPLE_SEED_OFFSET = 1_000_003
#: The first checkpoint comes this soon, so that a run killed early can be resumed; later ones
#: follow ``checkpoint_minutes`` (or ``checkpoint_every``).
FIRST_CHECKPOINT_S = 30.0
_NEVER = 2**62  # a schedule's step interval that never comes: runs trained by time schedule by time


class Loop:
    """One run's training, from ``start`` (a new run: 0) to ``plan.total_steps``.

    :param resume_from: ``(state, sidecar)`` of the checkpoint to continue from, or ``None``.
    :param clock: seconds, monotonic (``time.perf_counter``); tests pass their own.
    :param notes: warnings for the person, yielded after :class:`~events.Started` (a damaged
        checkpoint skipped on resume, say).
    """

    def __init__(
        self,
        host: Any,
        plan: Plan,
        run_id: int,
        control: Control | None = None,
        *,
        resume_from: tuple[Any, dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        notes: tuple[str, ...] = (),
    ):
        self.host, self.plan, self.run_id = host, plan, run_id
        self.control = control or Control()
        self.resume_from = resume_from
        self.clock = clock
        self.notes = notes
        self.settings, self.device, self.world = plan.settings, plan.device, plan.world
        self.dataset, self.total = plan.dataset, plan.total_steps
        self.budget = plan.settings.budget_seconds  # a run trained by time has no total: it ends at its budget
        self.plugin = plan.plugin
        self.writer = self.world.writer  # rank 0 alone validates, samples, evaluates and checkpoints
        self.model: GenerativeModel | None = None
        self.step = 0
        self.last_checkpoint_step = -1
        self.pending: list[tuple[int, float, dict[str, Any]]] = []
        self.latest: dict[str, float] = {}  # the newest mean of every key, for the summary

    # -- the generator -----------------------------------------------------------------------

    def __iter__(self) -> Iterator[ev.Event]:
        """Train, yielding events; the last is :class:`~events.Finished` or :class:`~events.Failed`."""
        try:
            self._setup()
        except PluginFailure as exc:
            yield self._failed(exc)
            return
        except GenStudioError as exc:
            yield ev.Failed(self.run_id, self.step, message=str(exc))
            return
        yield ev.Started(
            self.run_id, self.step, total_steps=self.total, budget_seconds=self.budget, model=self.plan.model_cls.name,
            data=self.dataset.spec.source, device=describe(self.device), resumed=self.resume_from is not None,
        )  # fmt: skip
        # what loading the data skipped or changed (undecodable images, resized ones...):
        # the person training must hear it, not only `genstudio data show`
        for message in (*self.notes, *self.dataset.warnings):
            yield ev.Warning(self.run_id, self.step, message=message)
        try:
            if self.resume_from is None and self.step == 0 and self.writer:
                yield from self._samples()
            yield from self._train()
            yield from self._end()
        except NonFiniteLossError as exc:
            yield from self._non_finite(exc)
        except PluginFailure as exc:
            yield self._failed(exc)
        except GenStudioError as exc:
            yield ev.Failed(self.run_id, self.step, message=str(exc))
        except Exception as exc:  # a bug in GenStudio itself: report it, never crash the host
            yield self._failed(PluginFailure("training", exc), internal=True)

    def _train(self) -> Iterator[ev.Event]:
        model, control, s = self.model, self.control, self.settings
        assert model is not None
        while not self._budget_spent():
            if control.stopping:
                break
            if control.paused:
                yield from self._pause()
                continue
            if control.has_requests:
                control.serve(model, self.device)
            batch = self.batches.next()
            model.step, model.progress = self.step, self._fraction()
            with blame(f"training step {self.step + 1} (train_step)", self.plugin), self.autocast:
                losses = model.train_step(batch)
            self.step += 1
            model.step = self.step  # between steps, every step is done: what structure() etc. see
            now = self.clock()
            self.pending.append((self.step, self.wall0 + now, losses))
            if model.has_warnings:
                for message in model.take_warnings():
                    yield ev.Warning(self.run_id, self.step, message=message)
            if self.can_validate and self.val_due.due(self.step, now):
                self._validate()
            if self.interval is not None and self.interval.live and self.step % s.eval_every == 0:
                yield from self._evaluate_metrics()
            if self.writer and self.sample_due.due(self.step, now):
                yield from self._flush()
                yield from self._samples()
            if self.writer and self._checkpoint_due(now):
                yield from self._checkpoint()
            elif now >= self.next_flush:
                yield from self._flush()
                self.next_flush = self.clock() + self.min_interval
            control.pace()

    def _end(self) -> Iterator[ev.Event]:
        """The end, or a stop: the last losses, samples and a checkpoint."""
        yield from self._flush()
        if self.can_validate and self.val_due.last_step != self.step:
            self._validate()
            yield from self._flush()
        if self.writer and self.sample_due.last_step != self.step:
            yield from self._samples()
        if self.writer and self.last_checkpoint_step != self.step:
            yield from self._checkpoint()
        status = "finished" if self._budget_spent() else "stopped"
        yield ev.Finished(self.run_id, self.step, status=status, elapsed=self._elapsed(), losses=dict(self.latest))

    # -- setting up --------------------------------------------------------------------------

    def _setup(self) -> None:
        plan, s = self.plan, self.settings
        threads = cpu_threads(s, self.world, self.device)
        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(s.seed)
        with blame(f"building the model ({plan.model_cls.__name__})", self.plugin):
            model = plan.model_cls(self.dataset.spec, plan.config, self.device)
            if isinstance(model, torch.nn.Module):
                model.to(self.device)
                model.train()
        self.model = model
        train_index, val_index = dataset_split(self.dataset, s.val_fraction, s.seed)
        self.batches = Batches(
            self.dataset, train_index, s.batch_size, self.device, s.seed, self.world.rank, self.world.size
        )
        self.elapsed0 = 0.0
        if self.resume_from is not None:
            self._restore(model, *self.resume_from)
        distributed.prepare_model(self.world, model)
        self.x_val, self.y_val = held_out(self.dataset, val_index, self.device)
        self.can_validate = self.writer and "evaluate" in capabilities(model) and len(self.x_val) > 0
        self.interval = (
            IntervalEvaluation(self.host, self.dataset, s, self.device, plan.cache_dir)
            if s.eval_every and self.writer
            else None
        )
        self.has_structure = "structure" in capabilities(model)
        self.image = self.dataset.spec.kind == "image"
        self.n_samples = s.n_samples or (64 if self.image else 1000)
        self.autocast: Any = (
            torch.autocast(device_type="cuda", dtype=torch.bfloat16)
            if s.precision == "bf16"
            else contextlib.nullcontext()
        )
        # each periodic task takes at most about 1% of the run's time unless the user set it
        now = self.clock()
        if self.budget is None:
            self.val_due = Schedule(s.val_every, max(1, self.total // 20), share=VAL_SHARE, now=now)
            self.sample_due = Schedule(
                s.sample_every, max(1, self.total // 50), share=SAMPLE_SHARE, max_gap=15.0, now=now
            )
        else:  # by time: the same 20 validations and 50 grids a run, spaced over the budget
            self.val_due = Schedule(s.val_every, _NEVER, share=VAL_SHARE, max_gap=self.budget / 20, now=now)
            self.sample_due = Schedule(
                s.sample_every, _NEVER, share=SAMPLE_SHARE, max_gap=min(15.0, self.budget / 50), now=now
            )
        self.clock0 = self.last_checkpoint_time = now
        self.wall0 = time.time() - now
        self.paused_for = 0.0
        self.min_interval = 1.0 / s.event_rate
        self.next_flush = now + self.min_interval
        self.start_step = self.step
        self.rate = RateMeter()
        self.rate.add(self.step, now)

    def _restore(self, model: GenerativeModel, saved: dict[str, Any], meta: dict[str, Any]) -> None:
        with blame("loading its checkpoint (load_checkpoint_state)", self.plugin):
            model.load_checkpoint_state(ckpt.to_device(saved["model"], self.device))
        loop = saved["loop"]
        self.batches.load_state(loop)
        torch.set_rng_state(loop["rng"].cpu())
        if self.device.type == "cuda" and loop.get("cuda_rng"):
            with contextlib.suppress(RuntimeError):
                torch.cuda.set_rng_state_all([t.cpu() for t in loop["cuda_rng"]])
        self.elapsed0 = float(meta.get("elapsed", 0.0))
        self.step = self.last_checkpoint_step = model.step = int(meta["step"])

    # -- periodic work -----------------------------------------------------------------------

    def _elapsed(self) -> float:
        return self.elapsed0 + self.clock() - self.clock0 - self.paused_for

    def _budget_spent(self) -> bool:
        return self.step >= self.total if self.budget is None else self._elapsed() >= self.budget

    def _fraction(self) -> float:
        """The elapsed share of the run's budget, which the model's schedules follow."""
        if self.budget is None:
            return min(1.0, self.step / max(1, self.total))
        return min(1.0, self._elapsed() / self.budget)

    def _step_seconds(self) -> float:
        sps = self.rate.rate()
        return 1.0 / sps if sps > 0 else (self.clock() - self.clock0) / max(1, self.step - self.start_step)

    def _progress(self, scalars: Scalars, losses: dict[str, float]) -> ev.Progress:
        sps = self.rate.rate()
        elapsed = self._elapsed()
        if self.budget is None:
            expected, eta = self.total, (self.total - self.step) / sps if sps > 0 else None
        else:  # the steps the budget will reach at this speed
            eta = max(0.0, self.budget - elapsed)
            expected = self.step + int(eta * sps)
        return ev.Progress(
            self.run_id, self.step, total_steps=expected, budget_seconds=self.budget,
            epoch=self.step / self.batches.per_epoch, elapsed=elapsed, steps_per_second=sps, eta=eta, losses=losses,
            scalars={k: (v[0], v[1]) for k, v in scalars.items()}, walls={k: v[2] for k, v in scalars.items()},
        )  # fmt: skip

    def _flush(self) -> Iterator[ev.Event]:
        """The values gathered since the last progress event, as one."""
        if not self.pending:
            return
        scalars, mean = collect(self.pending)
        self.pending.clear()
        self.latest.update(mean)
        self.rate.add(self.step, self.clock())
        yield self._progress(scalars, mean)

    def _checkpoint_due(self, now: float) -> bool:
        s = self.settings
        if s.checkpoint_every:
            return self.step % s.checkpoint_every == 0
        interval = s.checkpoint_minutes * 60
        if self.last_checkpoint_step < 0:
            interval = min(interval, FIRST_CHECKPOINT_S)
        return now - self.last_checkpoint_time > interval

    def _checkpoint(self) -> Iterator[ev.Event]:
        model = self.model
        yield from self._flush()  # every value up to the checkpoint is recorded first
        with blame("saving a checkpoint (checkpoint_state)", self.plugin):
            model_state = model.checkpoint_state()
        loop_state = {
            **self.batches.state(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
        }
        meta = {
            "run": self.run_id,
            "model": self.plan.model_cls.name,
            "elapsed": self._elapsed(),
            "spec": self.dataset.spec.to_dict(),
            "config": config_to_dict(self.plan.config),
            "losses": finite(self.latest),
        }
        graph = None
        if self.has_structure:
            with blame("describing its structure (structure)", self.plugin), inference_mode(model, self.device):
                graph = model.structure()
        state = {"model": model_state, "loop": loop_state}
        yield ev.CheckpointDue(self.run_id, self.step, state=state, meta=meta, structure=graph)
        self.last_checkpoint_step, self.last_checkpoint_time = self.step, self.clock()

    def sample_generator(self) -> torch.Generator:
        """The generator every sample grid of the run is drawn from: the same noise each time,
        so the grids form a timeline."""
        g = torch.Generator(device=self.device if self.device.type == "cuda" else "cpu")
        g.manual_seed(self.settings.seed + SAMPLE_SEED_OFFSET)
        return g

    def _samples(self) -> Iterator[ev.Event]:
        t = self.clock()
        with blame("sampling (sample)", self.plugin):
            with inference_mode(self.model, self.device):
                out = self.model.sample(self.n_samples, generator=self.sample_generator())
            arr = sample_array(out, self.dataset.spec)
        yield ev.Samples(self.run_id, self.step, samples=arr)
        # the cost counts the recorder's writing the grid too: it happened during the yield
        now = self.clock()
        self.sample_due.done(self.step, now, now - t, self._step_seconds())

    def _validate(self) -> None:
        t = self.clock()
        bs = self.batches.batch_size
        with blame("validating (evaluate)", self.plugin), inference_mode(self.model, self.device):
            values = validation_losses(self.model, self.x_val, self.y_val, bs, self.image)
        now = self.clock()
        self.val_due.done(self.step, now, now - t, self._step_seconds())
        self.pending.append((self.step, self.wall0 + now, {f"val/{k}": v for k, v in values.items()}))

    def _evaluate_metrics(self) -> Iterator[ev.Event]:
        scalars, problem = self.interval(self.model, self.step)
        if problem:
            yield ev.Warning(self.run_id, self.step, message=problem)
        if scalars:
            self.pending.append((self.step, self.wall0 + self.clock(), scalars))

    def _pause(self) -> Iterator[ev.Event]:
        yield from self._flush()
        t = self.clock()
        yield ev.Paused(self.run_id, self.step)
        while self.control.paused and not self.control.stopping:
            self.control.serve(self.model, self.device, timeout=0.05)
        self.paused_for += self.clock() - t
        self.rate.reset(self.step, self.clock())
        yield ev.Resumed(self.run_id, self.step)

    # -- failures ----------------------------------------------------------------------------

    def _non_finite(self, exc: NonFiniteLossError) -> Iterator[ev.Event]:
        # every value of the steps before the bad one stays, and the run ends at the last good step
        self.step = exc.step - 1
        if exc.good:
            good = means(exc.good)
            self.latest.update(good)
            yield self._progress(exc.good, good)
        message = f"{exc}; the run stopped"
        if self.last_checkpoint_step >= 0:
            message += f" and its last good checkpoint (step {self.last_checkpoint_step}) is kept"
        yield ev.Failed(self.run_id, self.step, message=message, plugin=self.plugin)

    def _failed(self, exc: PluginFailure, internal: bool = False) -> ev.Failed:
        if internal:
            message = f"internal error in GenStudio: {type(exc.exc).__name__}: {exc.exc}"
            return ev.Failed(self.run_id, self.step, message=message, traceback=exc.traceback)
        return ev.Failed(self.run_id, self.step, message=str(exc), plugin=self.plugin, traceback=exc.traceback)
