"""The run store (SQLite, WAL) and checkpoint files: atomic, concurrent, never losing work."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3

import numpy as np
import pytest
import torch

from genstudio.api import CheckpointError, ConfigError
from genstudio.runs.store import RunStore
from genstudio.runs.workspace import Workspace
from genstudio.training import checkpoint as ckpt


def new_run(store: RunStore, name: str | None = None, model: str = "vae"):
    return store.create_run(
        name=name,
        model=model,
        plugin="vae",
        data="digits",
        data_options={"size": 8},
        config={"latent_dim": 4},
        settings={"steps": 10},
        spec={"kind": "image", "shape": [1, 8, 8], "count": 10},
        command="genstudio train vae --data digits",
        device="cpu",
        total_steps=10,
    )


def test_database_is_in_wal_mode_with_a_schema_version(tmp_path):
    store = RunStore(Workspace(tmp_path))
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert store.integrity_check() == "ok"
    assert (tmp_path / "genstudio.db").is_file()


def test_runs_are_created_found_renamed_and_deleted(tmp_path):
    store = RunStore(Workspace(tmp_path))
    a = new_run(store)
    b = new_run(store, name="mine")
    assert (a.id, a.name, a.status, a.data_options, a.config) == (1, "vae-1", "created", {"size": 8}, {"latent_dim": 4})
    assert a.folder == tmp_path / "runs" / "00001" and a.folder.is_dir()
    assert store.get_run("mine").id == b.id == store.get_run(str(b.id)).id
    store.rename_run(a.id, "renamed")
    assert store.get_run(a.id).name == "renamed"
    with pytest.raises(ConfigError, match="cannot be empty"):
        store.rename_run(a.id, " ")
    store.log_scalars(a.id, [(1, "loss", 1.0, 0.0)])
    store.delete_run(a.id)
    assert [r.id for r in store.list_runs()] == [b.id] and not a.folder.exists()
    assert store.count_scalars(a.id) == 0
    with pytest.raises(ConfigError, match="no run 'nope'"):
        store.get_run("nope")


def test_scalars_round_trip_in_step_order_with_nan(tmp_path):
    store = RunStore(Workspace(tmp_path))
    run = new_run(store)
    store.log_scalars(
        run.id, [(2, "loss", 0.5, 2.0), (1, "loss", 1.0, 1.0), (1, "kl", 3.0, 1.0), (3, "loss", float("nan"), 3.0)]
    )
    data = store.scalars(run.id)
    steps, values, walls = data["loss"]
    assert steps.tolist() == [1, 2, 3] and values[:2].tolist() == [1.0, 0.5] and np.isnan(values[2])
    assert walls.tolist() == [1.0, 2.0, 3.0]
    assert store.scalar_keys(run.id) == ["kl", "loss"]
    assert store.truncate_scalars(run.id, 1) == 2
    assert store.scalars(run.id, ["loss"])["loss"][0].tolist() == [1]


def test_a_dead_runs_status_reads_interrupted(tmp_path):
    store = RunStore(Workspace(tmp_path))
    run = new_run(store)
    proc = multiprocessing.get_context("spawn").Process(target=os.getpid)
    proc.start()
    proc.join()
    store.update_run(run.id, status="running", pid=proc.pid)
    assert store.get_run(run.id).live_status == "interrupted"
    store.update_run(run.id, pid=os.getpid())
    assert store.get_run(run.id).live_status == "running"


def _writer(root: str, n: int, half_written: object, half_read: object) -> None:
    store = RunStore(Workspace(root))
    run = store.get_run(1)
    for i in range(n):
        if i == n // 2:  # wait, mid-run, until the reader has looked: a read during the writing, for sure
            half_written.set()
            half_read.wait(60)
        store.log_scalars(run.id, [(i, "loss", float(i), float(i))])
        store.update_run(run.id, step=i)


def test_another_process_reads_while_a_run_writes(tmp_path):
    store = RunStore(Workspace(tmp_path))
    new_run(store)
    ctx = multiprocessing.get_context("spawn")
    half_written, half_read = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_writer, args=(str(tmp_path), 400, half_written, half_read))
    proc.start()
    seen = []
    while proc.is_alive() or not seen:
        if half_written.is_set() and not half_read.is_set():
            # the writer is waiting half-way: the reader sees exactly the first half
            steps = store.scalars(1, ["loss"])["loss"][0]
            assert steps.tolist() == list(range(200)) and store.get_run(1).step == 199
            seen.append(len(steps))
            half_read.set()
        steps = store.scalars(1, ["loss"])["loss"][0]
        # what a reader sees is always a prefix of what was written, never a torn row
        assert steps.tolist() == list(range(len(steps)))
        seen.append(len(steps))
        store.list_runs()
    proc.join()
    assert proc.exitcode == 0 and half_read.is_set()
    assert seen == sorted(seen) and 200 in seen  # reads during the writing, each a longer prefix
    assert store.count_scalars(1) == 400
    assert store.integrity_check() == "ok"


def test_newer_schemas_are_refused(tmp_path):
    RunStore(Workspace(tmp_path))
    db = sqlite3.connect(tmp_path / "genstudio.db")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="newer GenStudio"):
        RunStore(Workspace(tmp_path))


def test_metrics_and_messages_are_kept(tmp_path):
    store = RunStore(Workspace(tmp_path))
    run = new_run(store)
    store.add_metric(run.id, 10, "fid", {"fid": 12.5}, extractor="inception-v3", n=1000)
    store.add_message(run.id, 3, "warning", "mode collapse", None)
    assert store.metrics(run.id)[0] | {"created": 0} == {
        "step": 10,
        "metric": "fid",
        "key": "fid",
        "value": 12.5,
        "extractor": "inception-v3",
        "n": 1000,
        "created": 0,
        "details": {},
    }
    assert store.messages(run.id)[0]["text"] == "mode collapse"


# -- checkpoints ---------------------------------------------------------------------------


def test_state_is_split_into_tensors_and_json_without_pickle(tmp_path):
    state = {
        "module": {"w": torch.arange(6.0).view(2, 3), "b": torch.zeros(2)},
        "opt": {
            "state": {0: {"step": torch.tensor(3.0)}},
            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99), "params": [0]}],
        },
        "extra": {"n": 3, "name": "x", "flag": True, "none": None, "np": np.float32(1.5)},
    }
    path = ckpt.save_checkpoint(tmp_path, 7, state, {"note": "hello"})
    sidecar = json.loads(path.read_text())
    assert sidecar["step"] == 7 and sidecar["note"] == "hello" and sidecar["format"] == 1
    assert sidecar["state"]["module"]["w"] == {"__tensor__": "module/w"}
    loaded, _meta = ckpt.load_checkpoint(path)
    assert torch.equal(loaded["module"]["w"], state["module"]["w"])
    assert list(loaded["opt"]["state"]) == [0]  # integer keys stay integers
    assert loaded["opt"]["param_groups"][0]["betas"] == [0.9, 0.99]
    assert loaded["extra"] == {"n": 3, "name": "x", "flag": True, "none": None, "np": 1.5}
    raw = path.with_suffix(".safetensors").read_bytes()
    assert b"pickle" not in raw and not raw.startswith(b"\x80")


def test_tied_and_view_tensors_are_saved(tmp_path):
    w = torch.randn(4, 4)
    path = ckpt.save_checkpoint(tmp_path, 1, {"a": w, "b": w, "row": w[1], "t": w.t()}, {})
    loaded, _ = ckpt.load_checkpoint(path)
    assert torch.equal(loaded["b"], w) and torch.equal(loaded["row"], w[1]) and torch.equal(loaded["t"], w.t())


def test_unsupported_values_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="cannot checkpoint a set"):
        ckpt.save_checkpoint(tmp_path, 1, {"bad": {1, 2}}, {})


def test_incomplete_and_damaged_checkpoints_are_skipped(tmp_path):
    ckpt.save_checkpoint(tmp_path, 1, {"x": torch.ones(3)}, {})
    ckpt.save_checkpoint(tmp_path, 2, {"x": torch.full((3,), 2.0)}, {})
    # a run killed between writing the tensors and the sidecar leaves tensors alone: ignored
    (tmp_path / "step-000000003.safetensors").write_bytes(b"partial")
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [1, 2]
    state, meta = ckpt.load_latest(tmp_path)
    assert meta["step"] == 2
    # damage the newest: loading falls back to the one before
    with open(tmp_path / "step-000000002.safetensors", "ab") as f:
        f.write(b"junk")
    with pytest.raises(CheckpointError, match="damaged"):
        ckpt.load_checkpoint(tmp_path / "step-000000002.json")
    state, meta = ckpt.load_latest(tmp_path)
    assert meta["step"] == 1 and torch.equal(state["x"], torch.ones(3))
    assert ckpt.load_latest(tmp_path / "empty") is None


def test_no_temporary_files_are_left_behind(tmp_path):
    for step in range(5):
        ckpt.save_checkpoint(tmp_path, step, {"x": torch.ones(2)}, {})
    ckpt.prune(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step-000000003.json",
        "step-000000003.safetensors",
        "step-000000004.json",
        "step-000000004.safetensors",
    ]


def test_sample_array_clamps_images_only_and_checks_the_shape():
    from genstudio.api import DataSpec
    from genstudio.runs.inference import sample_array

    images = DataSpec("image", (1, 2, 2), 3)
    wide = torch.linspace(-1, 2, 12).reshape(3, 1, 2, 2)
    for out in (wide, wide.numpy().astype(np.float64)):
        arr = sample_array(out, images)
        assert arr.dtype == np.float32 and arr.shape == (3, 1, 2, 2)
        np.testing.assert_array_equal(arr, np.clip(wide.numpy(), 0, 1))
    vectors = DataSpec("vector", (2,), 3, value_range=(-5.0, 5.0))
    np.testing.assert_array_equal(sample_array(torch.full((3, 2), -4.0), vectors), np.full((3, 2), -4.0, np.float32))
    with pytest.raises(ValueError, match=r"sample\(\) returned shape \(3, 4\); expected \(n, 1, 2, 2\)"):
        sample_array(torch.zeros(3, 4), images)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_written_files_get_the_mode_of_any_new_file_under_the_umask(tmp_path):
    import stat

    from genstudio.files import atomic_write, atomic_write_text

    plain = tmp_path / "plain.txt"
    plain.write_text("made by open()")
    usual = stat.S_IMODE(plain.stat().st_mode)
    assert usual != 0o600  # the test means something only under a umask that lets others read
    written = [
        atomic_write_text(tmp_path / "a.json", "{}"),
        atomic_write(tmp_path / "b.npy", lambda f: np.save(f, np.zeros(2), allow_pickle=False)),
        ckpt.save_checkpoint(tmp_path / "checkpoints", 1, {"w": torch.zeros(2)}, {"step": 1}),
        *ckpt.checkpoint_paths(tmp_path / "checkpoints", 1),
    ]
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == usual, path
    atomic_write_text(tmp_path / "a.json", "{} again")  # replacing a file too
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == usual
