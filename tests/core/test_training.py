"""The training generator: events, determinism, resume, control from other threads, failures."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from genstudio.api import ConfigError, DataSpec, TorchModel, hookimpl
from genstudio.data.splits import split_indices
from genstudio.runs.store import RunStore
from genstudio.runs.trainer import Trainer
from genstudio.testing import TinyModel, dry_run, make_host, train
from genstudio.training import checkpoint as ckpt
from genstudio.training.settings import TrainSettings


def losses_by_step(store: RunStore, run_id: int, key: str) -> dict[int, float]:
    steps, values, _ = store.scalars(run_id, [key])[key]
    return dict(zip(steps.tolist(), values.tolist()))


def test_dry_run_on_images_and_vectors(gs_host, gs_workspace):
    events = dry_run(gs_host, gs_workspace, "tiny", "tiny", steps=6)
    assert [e.type for e in events][:2] == ["started", "samples"]  # the timeline starts at step 0
    dry_run(gs_host, gs_workspace, "tiny", "tiny-vectors", steps=6)


def test_every_step_is_logged_and_validation_is_prefixed(gs_train):
    trainer, events = gs_train("tiny", steps=30, val_every=10)
    store = trainer.store
    nll = losses_by_step(store, trainer.run.id, "nll")
    assert sorted(nll) == list(range(1, 31))
    val = losses_by_step(store, trainer.run.id, "val/nll")
    assert sorted(val) == [10, 20, 30]
    # progress events carry every point too, for a plot that thins nothing away
    carried = [s for e in events if e.type == "progress" for s in e.scalars.get("nll", ([], []))[0]]
    assert carried == list(range(1, 31))
    run = store.get_run(trainer.run.id)
    assert run.status == "finished" and run.step == 30 and "nll" in run.summary


def test_the_model_learns(gs_train):
    trainer, _ = gs_train("tiny-vectors".replace("-vectors", ""), data="tiny-vectors", steps=200)
    nll = losses_by_step(trainer.store, trainer.run.id, "nll")
    assert nll[200] < nll[1] - 1.0
    assert torch.allclose(trainer.model.mean.detach(), torch.tensor([1.0, -1.0]), atol=0.15)


def test_same_seed_same_losses_other_seed_other_losses(gs_host, gs_workspace):
    runs = [train(gs_host, gs_workspace, "tiny", steps=25, seed=s)[0] for s in (3, 3, 4)]
    a, b, c = (losses_by_step(r.store, r.run.id, "nll") for r in runs)
    assert a == b
    assert a != c


def test_resume_continues_exactly_where_it_stopped(gs_host, gs_workspace):
    """40 steps in one go equal 20 steps, a stop, and 20 more from the checkpoint, bit for bit."""
    full, _ = train(gs_host, gs_workspace, "tiny", steps=40, seed=1)
    half, events = train(gs_host, gs_workspace, "tiny", steps=20, seed=1)
    assert events[-1].status == "finished"
    resumed = Trainer.resume(gs_host, gs_workspace, half.run.id, steps=20)
    events = list(resumed.events())
    assert events[0].resumed and events[0].step == 20 and events[-1].step == 40
    assert losses_by_step(full.store, full.run.id, "nll") == losses_by_step(resumed.store, half.run.id, "nll")


def test_resume_needs_more_steps_once_finished(gs_host, gs_workspace):
    trainer, _ = train(gs_host, gs_workspace, "tiny", steps=5)
    with pytest.raises(ConfigError, match="already reached its 5 steps"):
        Trainer.resume(gs_host, gs_workspace, trainer.run.id)


def test_epochs_set_the_number_of_steps(gs_train):
    trainer, _ = gs_train("tiny", epochs=3, batch_size=10, val_fraction=0.25)
    n_train = len(split_indices(96, 0.25, 0)[0])
    assert trainer.total_steps == 3 * (n_train // 10) == trainer.step


class FakeClock:
    """A clock that moves ``tick`` seconds each time it is read: the loop's time, made
    independent of the machine's speed."""

    def __init__(self, tick: float):
        self.now, self.tick = 1000.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_progress_events_are_bounded_in_rate(gs_host, gs_workspace):
    settings = TrainSettings(steps=3000, event_rate=20.0, sample_every=10_000, device="cpu")
    trainer = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=settings)
    trainer.clock = clock = FakeClock(0.001)
    start = clock.now
    events = list(trainer.events())
    elapsed = clock.now - start
    progress = [e for e in events if e.type == "progress"]
    assert progress[-1].step == 3000
    # at most 20 a second, and not far fewer: the rate bounds the events, the steps do not
    assert elapsed * 20.0 * 0.5 <= len(progress) <= elapsed * 20.0 + 5
    assert progress[-1].elapsed == pytest.approx(elapsed, abs=0.05)


def test_stop_from_another_thread_ends_with_a_checkpoint(gs_host, gs_workspace):
    trainer = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=TrainSettings(steps=1_000_000, device="cpu"))
    seen = []
    for event in trainer.events():
        seen.append(event)
        if event.type == "progress" and event.step > 50 and not trainer.stopping:
            threading.Thread(target=trainer.stop).start()
    assert seen[-1].type == "finished" and seen[-1].status == "stopped"
    assert seen[-2].type == "checkpoint" and Path(seen[-2].path).is_file()
    assert trainer.store.get_run(trainer.run.id).status == "stopped"
    assert ckpt.list_checkpoints(trainer.folder / "checkpoints")[-1][0] == trainer.step


def run_in_thread(trainer):
    """Consume the trainer's events in a thread, as the window's worker does."""
    import queue

    events: queue.Queue = queue.Queue()

    def consume():
        for event in trainer.events():
            events.put(event)
        events.put(None)

    threading.Thread(target=consume, daemon=True).start()
    return events


def next_of(events, kind):
    while True:
        event = events.get(timeout=30)
        assert event is not None, f"the run ended before a {kind} event"
        if event.type == kind:
            return event


def test_pause_resume_and_requests_while_paused(gs_host, gs_workspace):
    trainer = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=TrainSettings(steps=2000, device="cpu"))
    events = run_in_thread(trainer)
    next_of(events, "progress")
    trainer.pause()
    paused = next_of(events, "paused")
    answer = trainer.submit(lambda m: (m.training, torch.is_grad_enabled(), tuple(m.sample(2).shape)))
    assert answer.result(timeout=30) == (False, False, (2, 1, 8, 8))
    assert trainer.step == paused.step  # nothing trained while paused
    assert trainer.store.get_run(trainer.run.id).status == "paused"
    trainer.unpause()
    next_of(events, "resumed")
    assert next_of(events, "finished").step == 2000
    assert trainer.model.training  # back in training mode after the request


def test_requests_are_served_between_steps_while_training(gs_host, gs_workspace):
    trainer = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=TrainSettings(steps=100_000, device="cpu"))
    events = run_in_thread(trainer)
    next_of(events, "progress")
    step = trainer.submit(lambda m: m.step).result(timeout=30)
    assert 0 < step < 100_000
    trainer.stop()
    assert next_of(events, "finished").status == "stopped"


def test_a_request_that_raises_reaches_the_caller(gs_host, gs_workspace):
    trainer = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=TrainSettings(steps=100_000, device="cpu"))
    events = run_in_thread(trainer)
    next_of(events, "progress")
    with pytest.raises(ZeroDivisionError):
        trainer.submit(lambda m: 1 / 0).result(timeout=30)
    trainer.stop()
    assert next_of(events, "finished").status == "stopped"  # the run itself went on


def test_a_nan_loss_stops_the_run_naming_the_loss_and_step_and_keeps_the_last_checkpoint(gs_train):
    trainer, events = gs_train("tiny-nan", steps=50, checkpoint_every=2, config={"fail_at": 7})
    failed = events[-1]
    assert failed.type == "failed"
    assert "loss 'nll' became nan at step 7" in failed.message
    assert "last good checkpoint (step 6) is kept" in failed.message
    assert failed.plugin == "tiny"
    steps = [s for s, _ in ckpt.list_checkpoints(trainer.folder / "checkpoints")]
    assert max(steps) == 6
    run = trainer.store.get_run(trainer.run.id)
    assert run.status == "failed" and "became nan" in run.error


def test_after_a_nan_loss_every_value_before_it_is_kept_and_the_run_ends_at_the_last_good_step(gs_train):
    # losses are checked when they are flushed: with no timer flush, at the checkpoint of step 40
    trainer, events = gs_train(
        "tiny-nan", steps=100, checkpoint_every=10, sample_every=1000, event_rate=0.01, config={"fail_at": 35}
    )
    failed = events[-1]
    assert failed.type == "failed" and failed.step == 34
    assert failed.message.startswith("loss 'nll' became nan at step 35; the run stopped")
    assert failed.message.endswith("and its last good checkpoint (step 30) is kept")
    # the good steps 31-34 come in one last progress event (the recorder writes them from it)
    last = [e for e in events if e.type == "progress"][-1]
    assert last.step == 34 and last.scalars["nll"][0] == [31, 32, 33, 34]
    store = RunStore(trainer.workspace)
    for key in ("nll", "scale"):
        assert list(losses_by_step(store, trainer.run.id, key)) == list(range(1, 35)), key
    run = store.get_run(trainer.run.id)
    assert run.status == "failed" and run.step == 34 and trainer.step == 34
    assert run.summary["nll"] == pytest.approx(
        np.mean([losses_by_step(store, run.id, "nll")[s] for s in range(31, 35)])
    )


def test_the_earliest_non_finite_step_is_reported_whichever_loss_has_it():
    from genstudio.training.losses import NonFiniteLossError as _NonFiniteLossError
    from genstudio.training.losses import collect as _collect

    pending = [
        (
            step,
            float(step),
            {"a": torch.tensor(float("nan") if step == 4 else 1.0), "b": float("inf") if step == 3 else 2.0},
        )
        for step in range(1, 6)
    ]
    with pytest.raises(_NonFiniteLossError) as err:
        _collect(pending)
    assert (err.value.key, err.value.step) == ("b", 3)
    assert err.value.good == {"a": ([1, 2], [1.0, 1.0], [1.0, 2.0]), "b": ([1, 2], [2.0, 2.0], [1.0, 2.0])}


def test_a_plugin_that_raises_fails_the_run_with_its_name_and_traceback(gs_train):
    trainer, events = gs_train("tiny-broken", steps=50, config={"fail_at": 4})
    failed = events[-1]
    assert failed.type == "failed" and failed.plugin == "tiny" and failed.step == 3
    assert "plugin 'tiny' failed while training step 4 (train_step): RuntimeError" in failed.message
    assert "fails on purpose" in failed.traceback and "Traceback" in failed.traceback
    messages = trainer.store.messages(trainer.run.id)
    assert messages[-1]["level"] == "error" and "fails on purpose" in messages[-1]["detail"]


class BadInit(TinyModel):
    name = "bad-init"

    def __init__(self, spec, config, device="cpu"):
        raise ValueError("cannot build")


class BadShape(TinyModel):
    name = "bad-shape"

    def sample(self, n, generator=None):
        return torch.zeros(n, 3)


class OnlyVectors(TinyModel):
    name = "only-vectors"
    accepts = {"vector"}


class Extra:
    @hookimpl
    def genstudio_register_models(self, registry):
        for cls in (BadInit, BadShape, OnlyVectors):
            registry.add(cls)


@pytest.fixture
def extra_host(gs_workspace):
    return make_host(gs_workspace.root, extra=[("extra", Extra())])


def test_a_model_that_cannot_be_built_fails_the_run(extra_host, gs_workspace):
    _, events = train(extra_host, gs_workspace, "bad-init", steps=3)
    assert [e.type for e in events] == ["failed"]
    assert events[0].message == "plugin 'extra' failed while building the model (BadInit): ValueError: cannot build"


def test_requests_left_when_a_run_ends_are_cancelled(extra_host, gs_workspace):
    trainer = Trainer.new(extra_host, gs_workspace, "bad-init", "tiny", settings=TrainSettings(steps=3, device="cpu"))
    future = trainer.submit(lambda m: 1)
    assert [e.type for e in trainer.events()] == ["failed"]
    assert future.cancelled()


def test_samples_of_the_wrong_shape_fail_the_run(extra_host, gs_workspace):
    _, events = train(extra_host, gs_workspace, "bad-shape", steps=3)
    assert events[-1].type == "failed" and "sample() returned shape (64, 3)" in events[-1].message


def test_families_refuse_data_they_cannot_train_on(extra_host, gs_workspace):
    with pytest.raises(ConfigError, match="trains on vector data, not image"):
        train(extra_host, gs_workspace, "only-vectors", "tiny", steps=3)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"steps": 3, "epochs": 2}, "one of --steps, --epochs or --minutes"),
        ({"batch_size": 0}, "--batch-size"),
        ({"val_fraction": 1.0}, "--val-fraction"),
        ({"device": "tpu"}, "unknown device"),
        ({"precision": "bf16", "device": "cpu"}, "bf16 needs a CUDA device"),
    ],
)
def test_bad_settings_are_refused_before_a_run_is_recorded(gs_host, gs_workspace, settings, message):
    with pytest.raises(ConfigError, match=message):
        Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=TrainSettings(**settings))
    assert RunStore(gs_workspace).list_runs() == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_a_clear_error(gs_host, gs_workspace):
    with pytest.raises(ConfigError, match="CUDA is not available"):
        Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=TrainSettings(device="cuda"))


def test_sample_grids_form_a_timeline_from_fixed_noise(gs_train):
    trainer, events = gs_train("tiny", steps=40, sample_every=10)
    grids = [e for e in events if e.type == "samples"]
    assert [g.step for g in grids] == [0, 10, 20, 30, 40]
    stored = trainer.store.artifacts(trainer.run.id, "samples")
    assert [a["step"] for a in stored] == [0, 10, 20, 30, 40]
    assert all(Path(a["path"]).is_file() and Path(a["meta"]["npy"]).is_file() for a in stored)
    np.testing.assert_array_equal(np.load(stored[-1]["meta"]["npy"]), grids[-1].samples)
    # the same noise each time: with the weights of step 40, re-drawing gives grid 40 again
    g = trainer.sample_generator()
    again = trainer.model.sample(64, generator=g).detach().numpy()
    np.testing.assert_allclose(again, grids[-1].samples, rtol=0, atol=1e-6)


def test_sampling_on_a_timer_does_not_change_training(gs_host, gs_workspace):
    """A model that samples from the global RNG must not shift the run's randomness."""

    class Greedy(TinyModel):
        name = "greedy"

        def sample(self, n, generator=None):
            return super().sample(n)  # ignores the generator: draws from the global RNG

    class P:
        @hookimpl
        def genstudio_register_models(self, registry):
            registry.add(Greedy)

    host = make_host(extra=[("p", P())])
    a, _ = train(host, gs_workspace, "greedy", steps=30, sample_every=3)
    b, _ = train(host, gs_workspace, "greedy", steps=30, sample_every=1000)
    assert losses_by_step(a.store, a.run.id, "nll") == losses_by_step(b.store, b.run.id, "nll")


def test_checkpoints_are_pruned_to_the_newest(gs_train):
    trainer, _ = gs_train("tiny", steps=30, checkpoint_every=5, keep_checkpoints=2)
    assert [s for s, _ in ckpt.list_checkpoints(trainer.folder / "checkpoints")] == [25, 30]
    stored = trainer.store.artifacts(trainer.run.id, "checkpoint")
    assert [a["step"] for a in stored] == [25, 30]


def test_the_recorded_command_names_every_option(gs_train):
    trainer, _ = gs_train("tiny", steps=12, seed=5, batch_size=16, checkpoint_every=4, config={"lr": 0.01})
    assert trainer.run.command == (
        "genstudio train tiny --data tiny --lr 0.01 --init-scale 1.0 --fail-at 3 --steps 12 "
        "--batch-size 16 --seed 5 --checkpoint-every 4 --device cpu"
    )


def test_bernoulli_like_batches_are_float_in_unit_range(gs_host, gs_workspace):
    seen = {}

    class Probe(TinyModel):
        name = "probe"

        def train_step(self, batch):
            seen["dtype"], seen["max"], seen["shape"] = batch.x.dtype, float(batch.x.max()), tuple(batch.x.shape)
            seen["y"] = None if batch.y is None else batch.y.dtype
            return super().train_step(batch)

    class P:
        @hookimpl
        def genstudio_register_models(self, registry):
            registry.add(Probe)

    host = make_host(extra=[("p", P())])
    train(host, gs_workspace, "probe", steps=2, batch_size=16)
    assert seen == {"dtype": torch.float32, "max": 1.0, "shape": (16, 1, 8, 8), "y": torch.int64}


def test_split_is_reproducible_and_disjoint():
    tr, va = split_indices(100, 0.1, seed=3)
    tr2, va2 = split_indices(100, 0.1, seed=3)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)
    assert len(va) == 10 and not set(tr) & set(va) and len(tr) + len(va) == 100
    assert len(split_indices(100, 0.0, 0)[1]) == 0


def test_a_torch_model_is_moved_to_its_device_and_in_train_mode(gs_train):
    trainer, _ = gs_train("tiny", steps=2)
    assert isinstance(trainer.model, TorchModel) and trainer.model.training
    assert trainer.model.mean.device.type == "cpu"
    assert DataSpec.from_dict(trainer.store.get_run(trainer.run.id).spec).shape == (1, 8, 8)


def test_a_learned_structure_is_saved_with_every_checkpoint(gs_workspace):
    import json

    class Graph(TinyModel):
        name = "graph"

        def structure(self):
            return {"nodes": ["a", "b"], "edges": [["a", "b"]], "step": self.step}

    class P:
        @hookimpl
        def genstudio_register_models(self, registry):
            registry.add(Graph)

    trainer, _ = train(make_host(extra=[("p", P())]), gs_workspace, "graph", steps=6, checkpoint_every=3)
    saved = json.loads((trainer.folder / "structure.json").read_text())
    assert saved == {"nodes": ["a", "b"], "edges": [["a", "b"]], "step": 6}


def test_automatic_intervals_keep_periodic_work_to_a_small_share_of_the_time():
    from genstudio.training.periodic import Schedule as _Schedule

    explicit = _Schedule(every=10, base=3, share=0.01, max_gap=1.0)
    assert not explicit.due(9, now=1e9) and explicit.due(10, now=0.0)
    explicit.done(10, now=0.0, cost=100.0, step_seconds=0.001)
    assert explicit.next_step == 20  # exactly as asked, whatever it costs

    auto = _Schedule(every=0, base=5, share=0.01, max_gap=15.0)
    assert auto.due(5, now=0.0)
    auto.done(5, now=0.0, cost=0.5, step_seconds=0.1)  # 0.5 s of work against 0.1 s steps
    assert auto.next_step == 5 + 500  # stretched so the work is 1% of the time
    assert not auto.due(100, now=20.0)  # 15 s gap passed, but 50 s are needed for 1%
    assert auto.due(100, now=51.0)
    cheap = _Schedule(every=0, base=5, share=0.01, max_gap=15.0)
    cheap.done(5, now=0.0, cost=0.001, step_seconds=0.1)
    assert cheap.next_step == 10 and cheap.due(7, now=16.0)


def test_the_final_losses_hold_every_key(gs_train):
    _, events = gs_train("tiny", steps=20, val_every=20)
    assert set(events[-1].losses) == {"nll", "scale", "val/nll"}


def test_metrics_at_intervals_are_logged_beside_the_losses(gs_train):
    trainer, events = gs_train("tiny", steps=30, eval_every=10, eval_metrics="nll", eval_n=50)
    steps, values, _ = trainer.store.scalars(trainer.run.id, ["eval/nll"])["eval/nll"]
    assert steps.tolist() == [10, 20, 30] and np.isfinite(values).all()
    assert "eval/bpd" in trainer.store.scalar_keys(trainer.run.id)
    assert events[-1].type == "finished" and "eval/nll" in events[-1].losses
    assert "--eval-every 10 --eval-metrics nll --eval-n 50" in trainer.run.command


def test_metrics_that_cannot_apply_turn_interval_evaluation_off_with_a_warning(gs_host, gs_workspace):
    class NoLikelihood(TinyModel):
        name = "no-likelihood"
        log_prob = None  # this family offers no likelihood, though it trains on one

        def train_step(self, batch):
            loss = -TinyModel.log_prob(self, batch.x).mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            return {"nll": loss.detach()}

        def evaluate(self, batch):
            return {"nll": float(-TinyModel.log_prob(self, batch.x).mean())}

    class P:
        @hookimpl
        def genstudio_register_models(self, registry):
            registry.add(NoLikelihood)

    host = make_host(extra=[("p", P())])
    trainer, events = train(host, gs_workspace, "no-likelihood", steps=30, eval_every=10, eval_metrics="nll")
    warnings = [e.message for e in events if e.type == "warning"]
    assert len(warnings) == 1 and "evaluation is off" in warnings[0]
    assert events[-1].type == "finished"  # the run itself goes on
    assert not any(k.startswith("eval/") for k in trainer.store.scalar_keys(trainer.run.id))


def test_unknown_metrics_for_interval_evaluation_are_refused_up_front(gs_host, gs_workspace):
    with pytest.raises(ConfigError, match="unknown metric 'fdi'"):
        Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=TrainSettings(eval_every=5, eval_metrics="fdi"))


def test_the_run_is_recorded_as_ended_before_its_last_event_arrives(gs_host, gs_workspace):
    for model, status in (("tiny", "finished"), ("tiny-broken", "failed")):
        trainer = Trainer.new(gs_host, gs_workspace, model, "tiny", settings=TrainSettings(steps=20, device="cpu"))
        for event in trainer.events():
            if event.type in ("finished", "failed"):
                run = trainer.store.get_run(trainer.run.id)  # the generator is suspended right here
                assert run.status == status and run.live_status == status and run.pid is None
                break


def test_the_recorded_device_names_the_threads_the_run_uses(gs_host, gs_workspace):
    """The run's device, as `runs show` and the window's status bar give it, is what training
    uses: with --cpu-threads 1 on a machine where PyTorch has 2, "cpu (1 thread)"."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        settings = TrainSettings(steps=2, device="cpu", cpu_threads=1)
        trainer = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=settings)
        assert trainer.run.device == "cpu (1 thread)"
        started = next(e for e in trainer.events() if e.type == "started")
        assert started.device == trainer.run.device
        assert RunStore(gs_workspace).get_run(trainer.run.id).device == "cpu (1 thread)"
        torch.set_num_threads(2)
        default = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=TrainSettings(steps=2, device="cpu"))
        assert default.run.device == "cpu (2 threads)"
    finally:
        torch.set_num_threads(before)
