"""Data larger than memory: a lowered memory budget forces streaming on small data; training
works and sees every example, from .npy files, IDX files (via their cache) and IDX folders."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from genstudio.data import load_dataset
from genstudio.data.budget import BUDGET_ENV, memory_budget, needs_streaming, parse_bytes
from genstudio.data.streaming import StreamingTensor
from genstudio.testing import TinyModel, train


def test_sizes_parse():
    assert parse_bytes("512") == 512 and parse_bytes("2K") == 2048 and parse_bytes("1.5GiB") == 3 << 29
    with pytest.raises(ValueError, match=BUDGET_ENV):
        parse_bytes("lots")


def test_the_streamed_tensor_gathers_planned_batches_in_the_permutations_order():
    source = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    rows = np.arange(0, 40, 2)  # every other example trains
    st = StreamingTensor(source, rows, torch.device("cpu"))
    perm = torch.randperm(len(rows), generator=torch.Generator().manual_seed(0))
    seen = []
    for pos in range(0, 20, 5):
        idx = perm[pos : pos + 5]
        st.plan(perm, pos + 5, 5, 5)
        batch = st.index_select(0, idx)
        np.testing.assert_array_equal(batch.numpy(), source[rows[idx.numpy()]])
        seen += batch[:, 0].tolist()
    assert sorted(seen) == sorted(source[rows, 0].tolist())
    assert st.gathered == 3  # all but the first batch came from the background thread
    st.close()


def write_idx(path, a):
    a = np.asarray(a, dtype=np.uint8)
    raw = b"\0\0\x08" + bytes([a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape) + a.tobytes()
    path.write_bytes(gzip.compress(raw))


@pytest.fixture
def seen(monkeypatch):
    """Every example the tiny model trains on, by its first pixel (each example's own value)."""
    values: list[float] = []
    original = TinyModel.train_step

    def recording(self, batch):
        values.extend(batch.x.flatten(1)[:, 0].mul(255).round().int().tolist())
        return original(self, batch)

    monkeypatch.setattr(TinyModel, "train_step", recording)
    return values


def images_with_ids(n: int) -> np.ndarray:
    x = np.random.default_rng(0).integers(0, 256, (n, 6, 6)).astype(np.uint8)
    x[:, 0, 0] = np.arange(n)  # each example names itself
    return x


@pytest.mark.parametrize("fmt", ["npy", "idx", "idx-folder"])
def test_a_lowered_budget_streams_and_training_sees_every_example(
    fmt, gs_host, gs_workspace, tmp_path, monkeypatch, seen
):
    x = images_with_ids(96)
    if fmt == "npy":
        path = tmp_path / "x.npy"
        np.save(path, x)
        train_ids = set(range(96))
    elif fmt == "idx":
        path = tmp_path / "images-idx3-ubyte.gz"
        write_idx(path, x)
        train_ids = set(range(96))
    else:
        path = tmp_path / "set"
        path.mkdir()
        write_idx(path / "train-images-idx3-ubyte.gz", x[:80])
        write_idx(path / "train-labels-idx1-ubyte.gz", np.arange(80) % 10)
        write_idx(path / "t10k-images-idx3-ubyte.gz", x[80:])
        write_idx(path / "t10k-labels-idx1-ubyte.gz", np.arange(16) % 10)
        train_ids = set(range(80))  # its own test split never trains
    monkeypatch.setenv(BUDGET_ENV, "1K")  # 96 images of 36 bytes: 3.4 KB, over the budget
    assert memory_budget() == 1024
    data = load_dataset(gs_host, str(path), cache_dir=gs_workspace.cache_dir)
    assert needs_streaming(data.x)
    epochs = 2
    _, events = train(gs_host, gs_workspace, "tiny", data, epochs=epochs, batch_size=16, val_fraction=0.0)
    assert events[-1].status == "finished", events[-1]
    # the loop's batches stream (genstudio.training.batches is where batches are made)
    import torch

    from genstudio.data.splits import dataset_split
    from genstudio.training.batches import Batches

    batches = Batches(data, dataset_split(data, 0.0, 0)[0], 16, torch.device("cpu"), seed=0)
    assert isinstance(batches.x, StreamingTensor)
    # each epoch is a permutation of the training examples (96 and 80 are whole batches of 16)
    n = len(train_ids)
    assert len(seen) == epochs * n
    for e in range(epochs):
        chunk = seen[e * n : (e + 1) * n]
        assert len(chunk) == len(set(chunk)) and set(chunk) == train_ids


def test_idx_larger_than_the_budget_is_read_through_a_memory_mapped_cache(gs_host, tmp_path, monkeypatch):
    x = images_with_ids(50)
    write_idx(tmp_path / "images-idx3-ubyte.gz", x)
    monkeypatch.setenv(BUDGET_ENV, "100")
    data = load_dataset(gs_host, str(tmp_path / "images-idx3-ubyte.gz"), cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(data.x[:, 0], x)
    cached = list((tmp_path / "cache" / "idx").glob("*.npy"))
    assert len(cached) == 1 and not list((tmp_path / "cache" / "idx").glob("*.tmp"))
    mapped = data.x
    while mapped is not None and not isinstance(mapped, np.memmap):
        mapped = mapped.base
    assert isinstance(mapped, np.memmap)
