"""A plugin that raises SystemExit (or calls sys.exit) is contained and named like any other
failure, wherever its code runs; a person's Ctrl-C (KeyboardInterrupt) still stops a run."""

from __future__ import annotations

import sys

import pytest

from genstudio.api import PluginError, hookimpl
from genstudio.host.blame import PluginFailure, blame
from genstudio.runs.store import RunStore
from genstudio.runs.trainer import Trainer
from genstudio.testing import TinyModel, make_host, train
from genstudio.training.settings import TrainSettings


class Exits(TinyModel):
    name = "exits"

    def train_step(self, batch):
        if self.step == 4:
            sys.exit(3)
        return super().train_step(batch)


class ExitsWhenSampled(TinyModel):
    name = "exits-sampling"

    def sample(self, n, generator=None):
        if self.step > 0:  # the step-0 grid goes through; a later sample exits
            raise SystemExit("no more samples")
        return super().sample(n, generator)


class Interrupted(TinyModel):
    name = "interrupted"

    def train_step(self, batch):
        if self.step == 30:
            raise KeyboardInterrupt
        return super().train_step(batch)


class Models:
    @hookimpl
    def genstudio_register_models(self, registry):
        for cls in (Exits, ExitsWhenSampled, Interrupted):
            registry.add(cls)


class ExitingObserver:
    @hookimpl
    def genstudio_run_event(self, run, event):
        sys.exit("observer quits")


class ExitingAtRegistration:
    @hookimpl
    def genstudio_register_metrics(self, registry):
        raise SystemExit(1)


@pytest.fixture
def host(gs_workspace):
    return make_host(gs_workspace.root, extra=[("models", Models())])


def test_sys_exit_in_train_step_fails_the_run_naming_the_plugin(host, gs_workspace):
    trainer, events = train(host, gs_workspace, "exits", steps=20)
    failed = events[-1]
    assert failed.type == "failed" and failed.plugin == "models" and failed.step == 4
    assert failed.message == "plugin 'models' failed while training step 5 (train_step): SystemExit: 3"
    assert RunStore(gs_workspace).get_run(trainer.run.id).status == "failed"


def test_system_exit_while_sampling_is_contained_in_the_loop_and_after_it(host, gs_workspace):
    trainer, events = train(host, gs_workspace, "exits-sampling", steps=5, sample_every=5)
    assert events[-1].type == "failed" and "failed while sampling (sample): SystemExit: no more samples" in (
        events[-1].message
    )
    # outside the loop too (genstudio sample, the window's tabs): the same containment
    model = ExitsWhenSampled(trainer.dataset.spec, ExitsWhenSampled.Config())
    model.step = 1
    with pytest.raises(PluginFailure, match="SystemExit: no more samples") as info, blame("sampling", "models"):
        model.sample(2)
    assert isinstance(info.value, PluginError) and info.value.plugin == "models"


def test_an_observer_that_exits_is_reported_and_the_run_goes_on(gs_workspace):
    host = make_host(gs_workspace.root, extra=[("quitter", ExitingObserver())])
    trainer, events = train(host, gs_workspace, "tiny", steps=10)
    assert events[-1].type == "finished" and trainer.step == 10
    assert "SystemExit: observer quits" in host.plugins["quitter"].error


def test_a_plugin_that_exits_while_registering_is_reported_and_the_others_load():
    host = make_host(extra=[("quitter", ExitingAtRegistration())])
    assert "SystemExit: 1" in host.plugins["quitter"].error
    assert "tiny" in host.models and "fid" in host.metrics


def test_ctrl_c_is_not_the_plugins_fault_and_stops_the_run(host, gs_workspace):
    settings = TrainSettings(steps=100, event_rate=1000.0, device="cpu")
    trainer = Trainer.new(host, gs_workspace, "interrupted", "tiny", settings=settings)
    seen = []

    def consume():
        for event in trainer.events():
            seen.append(event)

    with pytest.raises(KeyboardInterrupt):
        consume()
    assert not any(e.type == "failed" for e in seen)
    run = RunStore(gs_workspace).get_run(trainer.run.id)
    assert run.status == "stopped" and run.error is None
    steps, _, _ = RunStore(gs_workspace).scalars(run.id, ["nll"])["nll"]
    assert steps.max() <= 30 and len(steps) > 0  # what was logged before Ctrl-C is kept


def test_a_request_that_exits_reaches_its_caller_and_the_run_goes_on(gs_host, gs_workspace):
    settings = TrainSettings(steps=200, event_rate=1000.0, device="cpu")
    trainer = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=settings)
    futures = []
    events = []
    for event in trainer.events():
        events.append(event)
        if event.type == "progress" and not futures:
            futures.append(trainer.submit(lambda m: sys.exit("asked to leave")))
    assert isinstance(futures[0].exception(timeout=0), SystemExit)
    assert events[-1].type == "finished" and trainer.step == 200
