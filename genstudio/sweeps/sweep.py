"""A sweep: trials of one family on one dataset, each an ordinary run, searched by Optuna.

:class:`Sweep` validates everything it can when made (raising :class:`ConfigError`), then
:meth:`Sweep.events` runs trials until the study holds exactly ``trials`` complete or pruned
ones, counting those of earlier runs of the sweep and of other processes sharing the study.
It is a generator, like the training loop: the command line prints its events, the window's
worker turns them into signals. :meth:`stop` and :meth:`pause` may be called from any thread.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from genstudio.api import ConfigError, GenStudioError, capabilities, params
from genstudio.sweeps import events as sev
from genstudio.sweeps import study as st
from genstudio.sweeps.space import Dimension, defaults_in, suggest
from genstudio.sweeps.trial import run_trial

#: Validations per trial when the sweep sets them: at the same steps in every trial, so the
#: pruner compares trials at equal steps.
VAL_POINTS = 20
POLL_S = 1.0
#: A sweep whose trials fail this many times in a row stops: something is wrong with them all.
MAX_FAILURES_IN_A_ROW = 5
REPORT_INTERVAL_S = 1.0
PROGRESS_INTERVAL_S = 0.5


@dataclass
class SweepSpec:
    """What to search. ``settings`` are further :class:`TrainSettings` fields (batch_size,
    cpu_threads, device, eval_every...); ``fixed`` the config values not searched."""

    model: str
    data: str
    space: list[Dimension]
    data_options: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    trials: int = 20
    steps: int | None = None
    minutes: float | None = None
    objective: str | None = None
    direction: str = "minimize"
    sampler: str = "tpe"
    pruner: str = "median"
    study: str | None = None
    storage: str | None = None
    seed: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    start_from_defaults: bool = True
    """The first trial of a new study trains the family's defaults: the baseline to beat."""
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    """Parameter sets the first trials of a new study try, before the sampler's."""

    def study_name(self) -> str:
        return self.study or f"{self.model}-{Path(self.data).stem or self.data}"


def _train_settings(spec: SweepSpec) -> Any:
    from genstudio.training.settings import TrainSettings

    names = {f.name for f in fields(TrainSettings)}
    unknown = sorted(set(spec.settings) - names)
    if unknown:
        raise ConfigError(f"unknown training setting {unknown[0]!r}")
    values = {"device": "cpu", **spec.settings}
    if spec.minutes is not None:
        if "minutes" not in names:
            raise ConfigError("--minutes-per-trial needs training by time, which this GenStudio lacks; give --steps")
        values["minutes"] = spec.minutes
    else:
        values["steps"] = spec.steps
        if spec.steps and not values.get("val_every"):
            values["val_every"] = max(1, spec.steps // VAL_POINTS)
    return TrainSettings(**values).validate()


class Sweep:
    """Search ``spec.space`` for the best ``spec.objective``; see the module docstring."""

    def __init__(self, host: Any, workspace: Any, spec: SweepSpec, dataset: Any = None):
        self.host, self.workspace, self.spec = host, workspace, spec
        if spec.trials < 1:
            raise ConfigError("--trials must be at least 1")
        if spec.direction not in st.DIRECTIONS:
            raise ConfigError(f"--direction {spec.direction}: one of {', '.join(st.DIRECTIONS)}")
        self.model_cls = host.model(spec.model)
        known = {p.name for p in params(self.model_cls.Config)}
        for name in spec.fixed:
            if name not in known:
                raise ConfigError(f"{name}: unknown parameter of {spec.model}; known: {', '.join(sorted(known))}")
        self.settings = _train_settings(spec)
        self._check_objective()
        self.trials = spec.trials
        if spec.sampler == "grid":
            size = 1
            for d in spec.space:
                size *= len(d.grid())
            self.trials = min(self.trials, size)
        if dataset is None:  # loaded once for every trial, and before the study is made
            from genstudio.data import load_dataset

            dataset = load_dataset(host, spec.data, spec.data_options, cache_dir=workspace.cache_dir)
        self.dataset = dataset
        self.name = spec.study_name()
        self.storage_url = spec.storage or st.default_storage(workspace)
        self.study = self._open_study()
        self.objective: str | None = spec.objective or self.study.user_attrs.get("objective")
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._trainer: Any = None
        self._lock = threading.Lock()
        #: each trial's ``Control.leave``: the share of the time a trial of short steps leaves
        #: to other threads (the window's sweeps leave it 0.75; see ``Control.pace``)
        self.leave = 0.0

    # -- checks and the study -----------------------------------------------------------------

    def _check_objective(self) -> None:
        key = self.spec.objective
        if key is None:
            return
        metric = key.removeprefix("eval/")
        if not self.settings.eval_every and metric in self.host.metrics.names():
            raise ConfigError(f"--objective {key}: the metric {metric} is logged only with --eval-every N")
        if key.startswith("val/") and "evaluate" not in capabilities(self.model_cls):
            raise ConfigError(f"--objective {key}: {self.spec.model} logs no validation losses (it has no evaluate)")

    def _open_study(self) -> Any:
        op = st.optuna()
        spec = self.spec
        storage = st.open_storage(self.storage_url)
        try:
            study = op.create_study(
                storage=storage,
                study_name=self.name,
                direction=spec.direction,
                sampler=st.make_sampler(spec.sampler, spec.space, self.trials, spec.seed),
                # trials by time report at percents of their time (see _trial)
                pruner=st.make_pruner(spec.pruner, self.trials, spec.steps or 100),
                load_if_exists=True,
            )
        except ValueError as exc:  # an existing study of the other direction
            raise ConfigError(f"study {self.name!r}: {exc}") from None
        attrs = study.user_attrs
        if "model" in attrs and (attrs["model"], attrs.get("data")) != (spec.model, spec.data):
            raise ConfigError(
                f"study {self.name!r} sweeps {attrs['model']} on {attrs.get('data')}, not {spec.model} on "
                f"{spec.data}; name another study with --study"
            )
        if study.direction.name.lower() != spec.direction:
            raise ConfigError(f"study {self.name!r} is to {study.direction.name.lower()}; --direction must agree")
        if "model" not in attrs:
            for key, value in {
                "model": spec.model,
                "data": spec.data,
                "data_options": spec.data_options,
                "space": [d.to_dict() for d in spec.space],
                "steps": spec.steps,
                "minutes": spec.minutes,
            }.items():
                study.set_user_attr(key, value)
            if spec.objective:
                study.set_user_attr("objective", spec.objective)
            first = list(spec.enqueue)
            defaults = defaults_in(spec.space, self.model_cls.Config) if spec.start_from_defaults else None
            if defaults is not None and spec.sampler != "grid":
                first.insert(0, defaults)
            for values in first:
                study.enqueue_trial(values, skip_if_exists=True)
        elif spec.objective and attrs.get("objective") not in (None, spec.objective):
            raise ConfigError(f"study {self.name!r} minimises {attrs['objective']!r}; --objective must agree")
        return study

    # -- control, from any thread ---------------------------------------------------------------

    def stop(self) -> None:
        """Stop the trial in progress (it is marked failed) and start no other."""
        self._stop.set()
        self._pause.clear()
        with self._lock:
            if self._trainer is not None:
                self._trainer.stop()

    def pause(self) -> None:
        """Start no new trial; the one in progress finishes."""
        self._pause.set()

    def unpause(self) -> None:
        self._pause.clear()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    # -- the loop ------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        states: dict[str, int] = {}
        for t in self.study.get_trials(deepcopy=False):
            name = st.state_name(t.state)
            states[name] = states.get(name, 0) + 1
        return states

    def events(self) -> Iterator[sev.SweepEvent]:
        op = st.optuna()
        state = op.trial.TrialState
        counts = self.counts()
        yield sev.StudyOpened(
            self.name, storage=self.storage_url, trials=self.trials,
            done=counts.get("complete", 0) + counts.get("pruned", 0), objective=self.objective,
            direction=self.spec.direction, space=[d.to_dict() for d in self.spec.space],
        )  # fmt: skip
        waiting = ""
        failures: list[str] = []
        while not self._stop.is_set():
            if len(failures) >= MAX_FAILURES_IN_A_ROW:
                yield self._ended("failed", f"{len(failures)} trials in a row failed; the last: {failures[-1]}")
                return
            for number in st.fail_dead_trials(self.study):
                yield sev.TrialEnded(self.name, number, state="failed", message="its process was killed")
            counts = self.counts()
            done = counts.get("complete", 0) + counts.get("pruned", 0)
            if done >= self.trials:
                break
            if self._pause.is_set() or done + counts.get("running", 0) >= self.trials:
                why = "paused" if self._pause.is_set() else "other processes are running the last trials"
                if why != waiting:
                    yield sev.Waiting(self.name, message=why)
                waiting = why
                self._stop.wait(POLL_S)
                continue
            waiting = ""
            trial = self.study.ask()
            self.study._storage.record_heartbeat(trial._trial_id)
            trial.set_user_attr("host", socket.gethostname())
            trial.set_user_attr("pid", os.getpid())
            # two processes may ask at the same moment for the last trial: the later number yields
            counted = (state.COMPLETE, state.PRUNED, state.RUNNING)
            before = [t for t in self.study.get_trials(deepcopy=False, states=counted) if t.number < trial.number]
            if len(before) >= self.trials:
                trial.set_user_attr("message", "not needed: the other trials complete the study")
                self._tell(trial, state.FAIL)
                continue
            for event in self._trial(trial):
                if event.type == "trial_ended":
                    failures = [*failures, event.message] if event.state == "failed" else []
                yield event
        yield self._ended("stopped" if self._stop.is_set() else "finished")

    def _ended(self, status: str, message: str = "") -> sev.SweepEnded:
        best = st.best_of(self.study)
        counts = self.counts()
        return sev.SweepEnded(
            self.name, status=status, best_trial=best["trial"], best_value=best["value"],
            best_params=best["params"], best_run=best["run"], complete=counts.get("complete", 0),
            pruned=counts.get("pruned", 0), failed=counts.get("failed", 0), message=message,
        )  # fmt: skip

    def _tell(self, trial: Any, state: Any, value: float | None = None) -> None:
        # the grid sampler, once done, asks to stop outside optimize(): the trial is stored first
        with contextlib.suppress(RuntimeError):
            self.study.tell(trial, value, state=state)

    def _trial(self, trial: Any) -> Iterator[sev.SweepEvent]:
        op = st.optuna()
        state = op.trial.TrialState
        values = suggest(trial, self.spec.space)
        config = {**self.spec.fixed, **values}
        ended = sev.TrialEnded(self.name, trial.number, state="failed", params=values)
        try:
            trainer = run_trial(
                self.host, self.workspace, self.spec.model, self.dataset, self.spec.data_options, config,
                self.settings, name=f"{self.name}-trial{trial.number}",
                tag={"study": self.name, "trial": trial.number, "storage": self.storage_url},
            )  # fmt: skip
        except GenStudioError as exc:  # a combination the family refuses: this trial fails, the sweep goes on
            ended.message = str(exc)
            trial.set_user_attr("message", ended.message)
            self._tell(trial, state.FAIL)
            yield ended
            return
        trainer.control.leave = self.leave
        with self._lock:
            self._trainer = trainer
        if self._stop.is_set():
            trainer.stop()
        run_id = trainer.run.id
        ended.run = run_id
        trial.set_user_attr("run", run_id)
        last: float | None = None
        pruned = False
        seen: set[str] = set()
        reported: set[int] = set()
        beat = report_t = progress_t = time.monotonic()
        final: Any = None
        try:
            yield sev.TrialStarted(self.name, trial.number, params=values, run=run_id, total_steps=trainer.total_steps)
            for event in trainer.events():
                now = time.monotonic()
                if now - beat > st.HEARTBEAT_S / 2:
                    self.study._storage.record_heartbeat(trial._trial_id)
                    beat = now
                if event.type in ("finished", "failed"):
                    final = event
                    continue
                if event.type != "progress":
                    continue
                seen.update(event.scalars)
                key = self._objective_key(event.scalars)
                if key is not None and not pruned:
                    steps, vals = event.scalars[key]
                    # validation values come rarely, at equal steps in every trial: each one
                    # counts; a training loss comes every step: its mean about once a second
                    if key.startswith(("val/", "eval/")):
                        points = [(int(s_), float(v)) for s_, v in zip(steps, vals)]
                    elif now - report_t > REPORT_INTERVAL_S:
                        points = [(int(steps[-1]), float(sum(vals) / len(vals)))]
                    else:
                        points = []
                    budget = getattr(event, "budget_seconds", None)
                    for step, value in points:
                        last = value
                        # the pruner compares trials at equal steps, or, for trials by time, at
                        # equal shares of their time (in percent): their steps differ
                        # (snapped to the 5% marks at which a trial by time validates)
                        share = round(VAL_POINTS * event.elapsed / budget) if budget else 0
                        at = step if not budget else max(1, min(VAL_POINTS, share)) * (100 // VAL_POINTS)
                        if at not in reported:  # Optuna keeps one value a step
                            reported.add(at)
                            trial.report(value, at)
                        yield sev.TrialReported(self.name, trial.number, run=run_id, step=step, value=value, at=at)
                        # a trial at its end is as good as complete: pruning it saves nothing
                        if at < (100 if budget else trainer.total_steps) and trial.should_prune():
                            pruned = True
                            trainer.stop()
                            break
                    if points:
                        report_t = now
                if now - progress_t > PROGRESS_INTERVAL_S:
                    progress_t = now
                    yield sev.TrialProgress(
                        self.name, trial.number, run=run_id, step=event.step, total_steps=event.total_steps
                    )
        finally:
            with self._lock:
                self._trainer = None
            if final is None:  # the consumer closed us, or the process is going down
                trial.set_user_attr("message", "the sweep was interrupted")
                self._tell(trial, state.FAIL)
        ended.step = trainer.step
        trial.set_user_attr("step", trainer.step)
        if final.type == "failed":
            ended.message = final.message
        elif pruned:
            ended.state, ended.value = "pruned", last
        elif final.status == "stopped":
            ended.message = "stopped before its end"
        elif last is None:
            ended.message = f"the run logged no {self.objective or 'validation loss'}"
        else:
            ended.state, ended.value = "complete", last
        trial.set_user_attr("message", ended.message)
        if ended.state == "complete":
            self._tell(trial, state.COMPLETE, last)
        else:
            self._tell(trial, state.PRUNED if ended.state == "pruned" else state.FAIL)
        yield ended
        if last is None and final.type != "failed" and not self._stop.is_set():
            self._objective_missing(sorted(seen))

    def _objective_key(self, scalars: dict[str, Any]) -> str | None:
        """The logged key the objective names (``nll`` matches ``val/nll`` and ``eval/nll``);
        without ``--objective``, the first validation loss, remembered in the study."""
        if self.objective is None:
            first = next((k for k in scalars if k.startswith("val/")), None)
            if first is None:
                return None
            self.objective = first
            self.study.set_user_attr("objective", first)
            return first
        for key in (self.objective, f"val/{self.objective}", f"eval/{self.objective}"):
            if key in scalars:
                return key
        return None

    def _objective_missing(self, seen: list[str]) -> None:
        complete = self.study.get_trials(deepcopy=False, states=(st.optuna().trial.TrialState.COMPLETE,))
        if complete:
            return  # other trials logged it: this one ended too early to
        what = f"--objective {self.objective}" if self.objective else "the default objective (a validation loss)"
        raise ConfigError(f"{what}: the runs log no such value; they log: {', '.join(seen) or 'nothing'}")
