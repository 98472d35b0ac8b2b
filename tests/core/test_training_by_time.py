"""Training by time: ``--minutes`` ends a run at its budget, and schedules follow the elapsed share."""

from __future__ import annotations

import json

import pytest

from genstudio.api import ConfigError, hookimpl
from genstudio.cli import main
from genstudio.runs.trainer import Trainer
from genstudio.testing import TinyModel, make_host, train
from genstudio.training import checkpoint as ckpt
from genstudio.training.events import fraction_done
from genstudio.training.settings import TrainSettings

BUDGET_MIN = 0.01  # 0.6 s: long enough for many steps of the tiny model


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 5, "minutes": 1.0}, "one of --steps, --epochs or --minutes"),
        ({"epochs": 2, "minutes": 1.0}, "one of --steps, --epochs or --minutes"),
        ({"minutes": 0.0}, "--minutes"),
        ({"minutes": -1.0}, "--minutes"),
    ],
)
def test_a_run_has_one_length(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainSettings(**kwargs).validate()


def test_a_run_trained_by_time_ends_by_itself_at_its_budget(gs_train):
    trainer, events = gs_train("tiny", minutes=BUDGET_MIN)
    started, last = events[0], events[-1]
    assert started.budget_seconds == pytest.approx(BUDGET_MIN * 60)
    assert last.type == "finished" and last.status == "finished"
    assert last.elapsed >= BUDGET_MIN * 60  # training time, not counting the start
    assert trainer.step > 0
    progress = [e for e in events if e.type == "progress"]
    assert progress and all(e.budget_seconds == started.budget_seconds for e in progress)
    # the bar counts time: it never runs backwards and is full at the end
    fractions = [fraction_done(e) for e in progress]
    assert fractions == sorted(fractions) and fractions[0] >= 0.0 and fractions[-1] <= 1.0
    # the end has its own checkpoint and sample grid, like a run measured in steps
    assert last.checkpoint and ckpt.load_latest(trainer.folder / "checkpoints")[1]["step"] == trainer.step
    assert [e for e in events if e.type == "samples"][-1].step == trainer.step
    run = trainer.store.get_run(trainer.run.id)
    assert run.status == "finished" and run.settings["minutes"] == BUDGET_MIN
    assert run.total_steps == trainer.step  # known once it ended
    assert f"--minutes {BUDGET_MIN!r}" in run.command and "--steps" not in run.command


class ProgressRecorder(TinyModel):
    """Records the host's ``step`` and ``progress`` as each train_step sees them."""

    name = "tiny-progress"
    seen: list[tuple[int, float]] = []

    def train_step(self, batch):
        type(self).seen.append((self.step, self.progress))
        return super().train_step(batch)


class RecorderPlugin:
    @hookimpl
    def genstudio_register_models(self, registry):
        registry.add(ProgressRecorder)


@pytest.mark.parametrize("length", [{"steps": 40}, {"minutes": BUDGET_MIN}])
def test_the_model_sees_its_step_and_the_elapsed_share_of_the_budget(gs_workspace, length):
    host = make_host(gs_workspace.root, extra=[("recorder", RecorderPlugin())])
    ProgressRecorder.seen = []
    trainer, events = train(host, gs_workspace, "tiny-progress", **length)
    assert events[-1].status == "finished"
    steps = [s for s, _ in ProgressRecorder.seen]
    shares = [p for _, p in ProgressRecorder.seen]
    assert steps == list(range(trainer.step))  # the steps done before each one
    assert shares == sorted(shares) and shares[0] < 0.5 and 0.5 < shares[-1] <= 1.0
    if "steps" in length:
        assert shares == [s / 40 for s in steps]


def test_resume_trains_the_minutes_asked_for_more(gs_host, gs_workspace):
    trainer, _ = train(gs_host, gs_workspace, "tiny", minutes=BUDGET_MIN)
    with pytest.raises(ConfigError, match=r"already trained its 0\.01 minutes"):
        Trainer.resume(gs_host, gs_workspace, trainer.run.id)
    first = trainer.step
    resumed = Trainer.resume(gs_host, gs_workspace, trainer.run.id, minutes=BUDGET_MIN)
    events = list(resumed.events())
    assert events[0].resumed and events[0].step == first
    assert events[-1].status == "finished" and resumed.step > first
    assert events[-1].elapsed >= 2 * BUDGET_MIN * 60
    run = resumed.store.get_run(trainer.run.id)
    assert run.settings["minutes"] >= 2 * BUDGET_MIN


def test_resume_by_steps_ends_a_time_budget(gs_host, gs_workspace):
    trainer, _ = train(gs_host, gs_workspace, "tiny", minutes=BUDGET_MIN)
    resumed = Trainer.resume(gs_host, gs_workspace, trainer.run.id, steps=7)
    events = list(resumed.events())
    assert events[-1].status == "finished" and resumed.step == trainer.step + 7


def test_command_line_minutes(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    code = main(["train", "vae", "--data", "moons", "--arch", "mlp", "--minutes", "0.01", "--workspace", ws, "--json"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["event"] == "started" and lines[0]["budget_seconds"] == pytest.approx(0.6)
    assert lines[-1]["status"] == "finished"


@pytest.mark.parametrize("other", [["--steps", "5"], ["--epochs", "1"]])
def test_minutes_and_another_length_is_a_usage_error(tmp_path, capsys, other):
    assert main(["train", "vae", "--data", "moons", "--minutes", "1", *other, "--workspace", str(tmp_path)]) == 2
    assert "not allowed with argument --minutes" in capsys.readouterr().err


def test_resume_steps_and_minutes_is_a_usage_error(tmp_path, capsys):
    assert main(["resume", "1", "--steps", "5", "--minutes", "1", "--workspace", str(tmp_path)]) == 2
    assert "not allowed with argument --steps" in capsys.readouterr().err
