"""A run survives being killed early and damaged checkpoints (issue 14): the first checkpoint
comes within 30 s of training, a run killed before any checkpoint resumes from step 0 with its
settings and its logged values, and a damaged checkpoint is named and skipped."""

from __future__ import annotations

import json

import pytest

from genstudio.api import CheckpointError
from genstudio.cli import main
from genstudio.runs.inference import load_model
from genstudio.runs.store import RunStore
from genstudio.runs.trainer import Trainer
from genstudio.training import checkpoint as ckpt
from genstudio.training.loop import FIRST_CHECKPOINT_S
from genstudio.training.settings import TrainSettings


class FakeClock:
    """Moves ``tick`` seconds each time it is read: the loop's time without the machine's speed."""

    def __init__(self, tick: float):
        self.now, self.tick = 1000.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_the_first_checkpoint_comes_within_30_s_then_the_schedule_follows(gs_host, gs_workspace):
    settings = TrainSettings(steps=10_000_000, checkpoint_minutes=2.0, sample_every=10_000_000, device="cpu")
    trainer = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=settings)
    trainer.clock = clock = FakeClock(0.005)
    start = clock.now
    saved = []
    for event in trainer.events():
        if event.type == "checkpoint":
            saved.append(clock.now - start)
            if len(saved) == 2:
                trainer.stop()
    first, second = saved[0], saved[1]
    assert FIRST_CHECKPOINT_S == 30.0
    assert 29.0 < first <= 31.0  # not the 2 minutes of the schedule
    assert 120.0 <= second - first <= 122.0  # then every checkpoint_minutes


def _train_until(trainer: Trainer, step: int) -> None:
    """Train until a progress event at ``step`` or later, then drop the generator: the process
    is gone as far as the run is concerned (no final checkpoint, no end)."""
    events = trainer.events()
    for event in events:
        if event.type == "progress" and event.step >= step:
            break
    events.close()


def test_a_run_killed_before_any_checkpoint_resumes_from_step_0_with_its_settings(gs_host, gs_workspace):
    settings = TrainSettings(steps=300, batch_size=16, seed=7, event_rate=1000.0, device="cpu")
    trainer = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=settings)
    _train_until(trainer, 40)
    store = RunStore(gs_workspace)
    run_id = trainer.run.id
    assert ckpt.list_checkpoints(trainer.folder / "checkpoints") == []
    logged = store.count_scalars(run_id)
    assert logged > 0

    resumed = Trainer.resume(gs_host, gs_workspace, run_id)
    assert resumed.step == 0 and resumed.run.id == run_id
    assert (resumed.settings.batch_size, resumed.settings.seed) == (16, 7)
    events = list(resumed.events())
    assert events[-1].type == "finished" and events[-1].status == "finished" and resumed.step == 300
    assert store.count_scalars(run_id) > logged  # what the killed process logged is kept, and continued
    assert store.get_run(run_id).status == "finished"
    # from step 0 with the same seed: the run is the one an unkilled run would have been
    fresh = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=settings)
    list(fresh.events())
    last = [store.scalars(r, ["nll"])["nll"] for r in (run_id, fresh.run.id)]
    assert last[0][0][-1] == last[1][0][-1] == 300
    assert last[0][1][-1] == pytest.approx(last[1][1][-1], rel=1e-6)


def _two_checkpoints(gs_host, gs_workspace) -> Trainer:
    settings = TrainSettings(steps=10, checkpoint_every=5, device="cpu")
    trainer = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=settings)
    list(trainer.events())
    assert [s for s, _ in ckpt.list_checkpoints(trainer.folder / "checkpoints")] == [5, 10]
    return trainer


def _truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", ["truncated", "sidecar"])
def test_a_damaged_checkpoint_is_named_and_resume_and_sample_fall_back(
    gs_host, gs_workspace, damage, tmp_path, capsys, monkeypatch
):
    trainer = _two_checkpoints(gs_host, gs_workspace)
    tensors, sidecar = ckpt.checkpoint_paths(trainer.folder / "checkpoints", 10)
    if damage == "truncated":
        _truncate(tensors)
    else:
        sidecar.write_text("{not json")

    loaded = load_model(gs_host, gs_workspace, trainer.run.id)
    assert loaded.step == 5
    assert len(loaded.damaged) == 1 and "step-000000010.json: damaged checkpoint" in loaded.damaged[0]

    out = tmp_path / "s.npy"
    monkeypatch.setattr("genstudio.cli.runs.make_host", lambda workspace: gs_host)
    code = main(["sample", str(trainer.run.id), "-n", "4", "-o", str(out), "--workspace", str(gs_workspace.root)])
    assert code == 0 and out.is_file()
    err = capsys.readouterr().err
    assert "warning:" in err and "step-000000010.json: damaged checkpoint" in err

    resumed = Trainer.resume(gs_host, gs_workspace, trainer.run.id, steps=3)
    assert resumed.step == 5
    events = list(resumed.events())
    warnings = [e.message for e in events if e.type == "warning"]
    assert any("step-000000010.json: damaged checkpoint" in w for w in warnings)
    assert events[-1].type == "finished" and resumed.step == 8


def test_with_every_checkpoint_damaged_sample_names_them_and_resume_starts_over(gs_host, gs_workspace):
    trainer = _two_checkpoints(gs_host, gs_workspace)
    for step in (5, 10):
        _truncate(ckpt.checkpoint_paths(trainer.folder / "checkpoints", step)[0])
    with pytest.raises(CheckpointError, match=r"has no intact checkpoint: .*step-000000010.json: damaged checkpoint"):
        load_model(gs_host, gs_workspace, trainer.run.id)
    resumed = Trainer.resume(gs_host, gs_workspace, trainer.run.id, steps=4)
    assert resumed.step == 0
    assert list(resumed.events())[-1].type == "finished" and resumed.step == 4


def test_a_checkpoint_sidecar_records_the_tensor_file_size(gs_host, gs_workspace):
    trainer = _two_checkpoints(gs_host, gs_workspace)
    tensors, sidecar = ckpt.checkpoint_paths(trainer.folder / "checkpoints", 10)
    assert json.loads(sidecar.read_text())["tensors_bytes"] == tensors.stat().st_size
