"""Sweeps: search spaces from params, the known optimum found, pruning, resuming a study."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

from genstudio.api import ConfigError, hookimpl, param
from genstudio.data.splits import split_indices
from genstudio.runs.store import RunStore
from genstudio.sweeps import Sweep, SweepSpec, build_space
from genstudio.sweeps import study as st
from genstudio.testing import TinyConfig, TinyModel, make_host


@dataclass
class FixedScaleConfig:
    lr: float = param(0.05, min=1e-5, max=1.0, log=True, help="Adam learning rate")
    scale: float = param(1.0, min=0.05, max=5.0, log=True, help="The fixed standard deviation", tune=True)
    init_scale: float = param(1.0, min=1e-3, max=10.0, help="Unused: the scale is fixed")


class FixedScaleGaussian(TinyModel):
    """A Gaussian whose mean is learned and whose standard deviation is the ``scale`` param:
    its validation NLL is least where ``scale`` is the RMS deviation of the data from the mean
    (the maximum-likelihood scale), a known optimum for a sweep to find."""

    name = "fixed-scale"
    Config = FixedScaleConfig

    def scale(self) -> Any:
        return torch.full_like(self.mean, self.config.scale)


class FixedScalePlugin:
    @hookimpl
    def genstudio_register_models(self, registry: Any) -> None:
        registry.add(FixedScaleGaussian)


@pytest.fixture
def host(gs_workspace):
    return make_host(gs_workspace.root, extra=[("fixed-scale", FixedScalePlugin())])


def spec(model="tiny", data="tiny-vectors", params=("lr=1e-5:0.5:log",), **kw):
    from genstudio.testing import TinyModel as _  # noqa: F401 - the tiny families are in the host

    cfg = {"tiny": TinyConfig, "fixed-scale": FixedScaleConfig}[model]
    kw.setdefault("steps", 100)
    kw.setdefault("settings", {"cpu_threads": 1})
    return SweepSpec(model, data, build_space(cfg, list(params)), **kw)


# -- search spaces ----------------------------------------------------------------------------


def test_the_space_is_the_params_marked_tune_over_their_declared_ranges():
    (lr,) = build_space(TinyConfig)
    assert (lr.name, lr.low, lr.high, lr.log, lr.choices) == ("lr", 1e-5, 1.0, True, None)
    (scale,) = build_space(FixedScaleConfig)
    assert scale.name == "scale" and scale.log


def test_overrides_narrow_ranges_list_values_and_take_dashes():
    lr, init = build_space(TinyConfig, ["lr=1e-3:0.1:log", "init-scale=0.5,1,2"])
    assert (lr.low, lr.high, lr.log) == (1e-3, 0.1, True)
    assert init.name == "init_scale" and init.choices == (0.5, 1.0, 2.0)
    (fail,) = build_space(TinyConfig, ["fail_at=2:9"])
    assert fail.type is int and not fail.log and fail.grid() == [2, 4, 6, 7, 9]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("nope=1:2", "--param nope: unknown parameter; known: lr, init_scale, fail_at"),
        ("lr=0:0.5", "lr: 0.0 is out of range; allowed: [1e-05, 1]"),
        ("lr=1e-3:2", "lr: 2.0 is out of range"),
        ("lr=0.5:0.1", "LOW must be below HIGH"),
        ("init_scale=0.5:2:linear", "write LOW:HIGH or LOW:HIGH:log"),
        ("fail_at=1.5,2", "is not an integer"),
        ("lr", "write NAME=LOW:HIGH"),
    ],
)
def test_bad_overrides_are_refused_with_the_reason(override, message):
    with pytest.raises(ConfigError) as info:
        build_space(TinyConfig, [override])
    assert message in str(info.value)


# -- searching --------------------------------------------------------------------------------


def test_a_sweep_finds_the_known_best_scale_within_20_percent(host, gs_workspace):
    sweep = Sweep(
        host, gs_workspace,
        spec("fixed-scale", params=(), trials=14, steps=150, pruner="none", seed=3),
    )  # fmt: skip
    events = list(sweep.events())
    best = events[-1]
    assert best.type == "sweep_ended" and best.status == "finished" and best.complete == 14
    # the maximum-likelihood scale: the RMS deviation of the validation data from the mean the
    # runs learn (the training data's mean, which 150 Adam steps reach)
    x = sweep.dataset.x.astype(np.float64)
    train, val = split_indices(len(x), 0.1, 0)
    optimum = math.sqrt(np.mean((x[val] - x[train].mean(0)) ** 2))
    assert 0.4 < optimum < 0.6
    found = best.best_params["scale"]
    assert abs(math.log(found / optimum)) < math.log(1.2), (found, optimum)
    # every trial is an ordinary run tagged with its study and trial, with its repeat command
    store = RunStore(gs_workspace)
    run = store.get_run(best.best_run)
    assert run.settings["sweep"]["study"] == "fixed-scale-tiny-vectors"
    assert run.settings["sweep"]["trial"] == best.best_trial
    assert run.name == f"fixed-scale-tiny-vectors-trial{best.best_trial}"
    assert f"--scale {found!r}" in run.command and run.status == "finished"
    # the first trial trained the defaults: the baseline the best is compared with
    first = next(e for e in events if e.type == "trial_ended" and e.trial == 0)
    assert first.params == {"scale": 1.0} and best.best_value < first.value


def test_the_median_pruner_stops_a_clearly_bad_trial_which_keeps_its_scalars(host, gs_workspace):
    s = spec(trials=3, steps=2000, enqueue=[{"lr": 0.1}, {"lr": 1e-5}])
    events = list(Sweep(host, gs_workspace, s).events())
    ended = {e.trial: e for e in events if e.type == "trial_ended"}
    assert [ended[i].params["lr"] for i in range(3)] == [0.05, 0.1, 1e-5]
    assert ended[0].state == ended[1].state == "complete"
    bad = ended[2]
    assert bad.state == "pruned" and bad.step < 2000
    reported = [(e.step, e.value) for e in events if e.type == "trial_reported" and e.trial == 2]
    store = RunStore(gs_workspace)
    run = store.get_run(bad.run)
    assert run.status == "stopped" and run.step == bad.step
    steps, values, _ = store.scalars(run.id, ["val/nll"])["val/nll"]
    # what the pruner saw is what the run store kept (and the validation at the stop after it)
    stored = list(zip(steps.tolist(), values.tolist()))
    assert stored[: len(reported)] == [(s_, pytest.approx(v)) for s_, v in reported]
    assert stored[-1][0] == bad.step
    assert store.count_scalars(run.id) > len(reported)  # the training losses too
    study = st.load_study(st.default_storage(gs_workspace), "tiny-tiny-vectors")
    assert study.trials[2].state.name == "PRUNED" and study.trials[2].intermediate_values


def test_an_interrupted_sweep_resumes_and_ends_with_exactly_the_trials_asked(host, gs_workspace):
    s = spec(trials=4, steps=100, sampler="random", seed=0)
    events = Sweep(host, gs_workspace, s).events()
    for e in events:
        if e.type == "trial_started" and e.trial == 2:
            break
    events.close()  # the sweep goes down in the middle of trial 2
    study = st.load_study(st.default_storage(gs_workspace), "tiny-tiny-vectors")
    states = [t.state.name for t in study.trials]
    assert states[2] == "FAIL" and set(states[:2]) <= {"COMPLETE", "PRUNED"}
    assert study.trials[2].user_attrs["message"] == "the sweep was interrupted"
    again = list(Sweep(host, gs_workspace, s).events())
    assert again[0].type == "study" and again[0].done == 2
    assert [e.trial for e in again if e.type == "trial_started"] == [3, 4]
    study = st.load_study(st.default_storage(gs_workspace), "tiny-tiny-vectors")
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == 4 and states[2] == "FAIL"
    # a sweep already done starts nothing
    third = list(Sweep(host, gs_workspace, s).events())
    assert [e.type for e in third] == ["study", "sweep_ended"]


def test_pause_starts_no_new_trial_and_stop_fails_the_trial_in_progress(host, gs_workspace):
    sweep = Sweep(host, gs_workspace, spec(trials=5, steps=2000))
    seen = []
    for e in sweep.events():
        seen.append(e)
        if e.type == "trial_started":
            sweep.pause()
        if e.type == "waiting":
            assert e.message == "paused"
            sweep.unpause()
        if e.type == "trial_started" and e.trial == 1:
            sweep.stop()
    assert seen[-1].type == "sweep_ended" and seen[-1].status == "stopped"
    ended = [e for e in seen if e.type == "trial_ended"]
    assert [(e.trial, e.state) for e in ended] == [(0, "complete"), (1, "failed")]
    assert ended[1].message == "stopped before its end"


def test_each_trial_takes_the_sweeps_share_of_pacing(host, gs_workspace):
    sweep = Sweep(host, gs_workspace, spec(trials=2, steps=20))
    assert sweep.leave == 0.0  # the command line's sweeps do not pace
    sweep.leave = 0.75
    shares = []
    for e in sweep.events():
        if e.type == "trial_started":
            shares.append(sweep._trainer.control.leave)
    assert shares == [0.75, 0.75]


def test_the_study_must_agree_with_the_command_that_continues_it(host, gs_workspace):
    list(Sweep(host, gs_workspace, spec(trials=1, steps=20)).events())
    with pytest.raises(ConfigError, match="sweeps tiny on tiny-vectors, not tiny on tiny"):
        Sweep(host, gs_workspace, spec(data="tiny", study="tiny-tiny-vectors", trials=1))
    with pytest.raises(ConfigError, match="is to minimize; --direction must agree"):
        Sweep(host, gs_workspace, spec(trials=1, direction="maximize"))


def test_importances_come_from_optuna(host, gs_workspace):
    s = spec(
        params=("lr=1e-4:0.5:log", "init_scale=0.1:5"), trials=4, steps=60, pruner="none", sampler="random", seed=1
    )
    sweep = Sweep(host, gs_workspace, s)
    list(sweep.events())
    imp, why = st.importances(sweep.study)
    assert not why and set(imp) == {"lr", "init_scale"} and sum(imp.values()) == pytest.approx(1.0)


def test_trials_by_time_are_compared_at_equal_shares_of_their_time(host, gs_workspace):
    s = spec(trials=2, steps=None, minutes=0.03, pruner="none", enqueue=[{"lr": 1e-5}])
    sweep = Sweep(host, gs_workspace, s)
    events = list(sweep.events())
    assert events[-1].complete == 2
    first, second = sweep.study.trials
    # the two trials train different numbers of steps, but report at the same 5% marks
    assert first.user_attrs["step"] != second.user_attrs["step"]
    assert set(first.intermediate_values) <= set(range(5, 101, 5))
    # which marks a trial reaches depends on its validations, scheduled by time (at most 1% of
    # it), so on a busy machine some are skipped; the two still meet on several common marks
    assert len(set(first.intermediate_values) & set(second.intermediate_values)) >= 3
    assert RunStore(gs_workspace).get_run(first.user_attrs["run"]).settings["minutes"] == 0.03
