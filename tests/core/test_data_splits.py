"""Folders that are datasets, with their own train/test split: IDX folders as MNIST ships
them and ``train/``+``test/`` image folders; the split wins over ``val_fraction``."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genstudio.api import DataError, Dataset, DataSpec
from genstudio.cli import main
from genstudio.data import load_dataset
from genstudio.data.splits import TEST, dataset_split, own_test_index, split_counts, split_indices
from genstudio.host import create_plugin_manager
from genstudio.testing import train


@pytest.fixture
def host():
    return create_plugin_manager(builtins=("genstudio.data.formats",), autoload=False)


def write_idx(path: Path, a: np.ndarray, gz: bool = False) -> Path:
    a = np.asarray(a, dtype=np.uint8)
    raw = b"\0\0\x08" + bytes([a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape) + a.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)
    return path


def idx_set(folder: Path, prefix: str, n: int, side: int = 8, gz: bool = False, offset: int = 0, labels=None):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(offset)
    x = rng.integers(0, 256, (n, side, side)).astype(np.uint8)
    y = (np.arange(n) + offset) % 10 if labels is None else labels
    write_idx(folder / f"{prefix}-images-idx3-ubyte", x, gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", y, gz)
    return x, y


@pytest.mark.parametrize("gz", [False, True])
def test_an_idx_folder_is_one_dataset_with_its_own_test_split(host, tmp_path, gz):
    x_tr, _ = idx_set(tmp_path, "train", 30, gz=gz)
    x_te, y_te = idx_set(tmp_path, "t10k", 12, gz=gz, offset=3)
    data = load_dataset(host, str(tmp_path))
    assert data.spec.count == 42 and data.spec.shape == (1, 8, 8)
    assert split_counts(data) == (30, 12)
    np.testing.assert_array_equal(data.x[:30, 0], x_tr)
    np.testing.assert_array_equal(data.x[own_test_index(data), 0], x_te)
    np.testing.assert_array_equal(data.y[own_test_index(data)], y_te)
    # the own split wins over val_fraction, whatever it is
    for fraction in (0.0, 0.1, 0.5):
        tr, va = dataset_split(data, fraction, seed=4)
        np.testing.assert_array_equal(tr, np.arange(30))
        np.testing.assert_array_equal(va, np.arange(30, 42))


def test_an_unpacked_copy_beside_its_gzip_is_the_same_file(host, tmp_path):
    idx_set(tmp_path, "train", 20)
    idx_set(tmp_path, "train", 20, gz=True)
    idx_set(tmp_path, "t10k", 5, offset=1)
    assert split_counts(load_dataset(host, str(tmp_path))) == (20, 5)


def test_one_images_file_alone_is_all_training_data(host, tmp_path):
    idx_set(tmp_path, "t10k", 15)
    data = load_dataset(host, str(tmp_path))
    assert own_test_index(data) is None and len(data) == 15
    assert any("no test split" in w for w in data.warnings)
    assert len(dataset_split(data, 0.2, 0)[1]) == 3  # val_fraction applies again


def test_the_real_mnist_folder_reads(host, shared_data):
    data = load_dataset(host, str(shared_data / "mnist"))
    assert data.spec.shape == (1, 28, 28) and len(data) == 10_000 and data.spec.classes == tuple("0123456789")


def test_labels_and_images_of_different_counts_name_both_files(host, tmp_path):
    idx_set(tmp_path, "train", 20)
    idx_set(tmp_path, "t10k", 5)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(7))
    with pytest.raises(DataError) as info:
        load_dataset(host, str(tmp_path))
    assert "t10k-labels-idx1-ubyte" in str(info.value) and "t10k-images-idx3-ubyte" in str(info.value)
    assert "7 labels" in str(info.value)


def test_train_and_test_of_different_sizes_are_refused_by_name(host, tmp_path):
    idx_set(tmp_path, "train", 20, side=8)
    idx_set(tmp_path, "t10k", 5, side=10)
    with pytest.raises(DataError) as info:
        load_dataset(host, str(tmp_path))
    text = str(info.value)
    assert "train-images-idx3-ubyte" in text and "t10k-images-idx3-ubyte" in text and "1 x 10 x 10" in text


def test_two_unrelated_idx_sets_in_one_folder_are_refused_by_name(host, tmp_path):
    idx_set(tmp_path, "emnist-letters-train", 20)
    idx_set(tmp_path, "emnist-digits-train", 20)
    with pytest.raises(DataError) as info:
        load_dataset(host, str(tmp_path))
    text = str(info.value)
    assert "emnist-letters-train-images-idx3-ubyte" in text and "emnist-digits-train-images-idx3-ubyte" in text


def save_images(folder: Path, n: int, side: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for cls in ("cat", "dog"):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (side, side)).astype(np.uint8)).save(folder / cls / f"{i}.png")


def test_train_and_test_image_folders_are_one_dataset_with_its_split(host, tmp_path):
    save_images(tmp_path / "train", 6, 8, 0)
    save_images(tmp_path / "test", 2, 8, 1)
    data = load_dataset(host, str(tmp_path))
    assert split_counts(data) == (12, 4)
    assert data.spec.classes == ("cat", "dog") and data.spec.source == str(tmp_path.resolve())
    np.testing.assert_array_equal(data.y, [0] * 6 + [1] * 6 + [0] * 2 + [1] * 2)


def test_image_folders_of_different_sizes_are_refused_by_name(host, tmp_path):
    save_images(tmp_path / "train", 3, 8, 0)
    save_images(tmp_path / "test", 2, 12, 1)
    with pytest.raises(DataError, match=r"train/.*test/"):
        load_dataset(host, str(tmp_path))


def test_data_show_reports_both_splits_and_bad_input_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(tmp_path / "ws"))
    good = tmp_path / "good"
    idx_set(good, "train", 20)
    idx_set(good, "t10k", 5)
    assert main(["data", "show", str(good)]) == 0
    assert "20 train, 5 test" in capsys.readouterr().out
    bad = tmp_path / "bad"
    idx_set(bad, "train", 20)
    write_idx(bad / "train-labels-idx1-ubyte", np.zeros(3))
    assert main(["data", "show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "train-labels-idx1-ubyte" in err and "Traceback" not in err


def test_training_validates_on_the_own_test_split(gs_host, gs_workspace, tmp_path):
    x = np.linspace(0, 1, 40 * 4, dtype=np.float32).reshape(40, 4)
    mark = np.arange(40) >= 32
    data = Dataset(x, None, DataSpec("vector", (4,), 40, (0.0, 1.0), source="split"), extras={TEST: mark})
    trainer, events = train(gs_host, gs_workspace, "tiny", data, steps=3, val_fraction=0.5)
    assert events[-1].status == "finished"
    # 32 train examples, not the 20 that val_fraction=0.5 would leave
    tr, va = dataset_split(data, 0.5, 0)
    assert len(tr) == 32 and list(va) == list(range(32, 40))
    assert len(split_indices(40, 0.5, 0)[0]) == 20
    loop = trainer.loop
    assert len(loop.batches.x) == 32 and np.allclose(loop.x_val.cpu().numpy(), x[32:])


def test_eval_compares_with_the_own_test_split(gs_host, gs_workspace, tmp_path):
    from genstudio.runs.evaluation import evaluate_run

    idx_set(tmp_path / "set", "train", 40)
    idx_set(tmp_path / "set", "t10k", 12, offset=5)
    trainer, events = train(gs_host, gs_workspace, "tiny", str(tmp_path / "set"), steps=5, val_fraction=0.5)
    assert events[-1].status == "finished"
    report = evaluate_run(gs_host, gs_workspace, trainer.run.id, metrics=["nll"], n=1000, store=False)
    nll = next(r for r in report.results if r.metric == "nll")
    assert nll.n == 12  # the 12 t10k images, not half of the 52 that val_fraction=0.5 would hold out
