"""The dataset catalogue and its downloads, against a local HTTP server (never a real host):
a complete download, a dropped connection resumed, a checksum mismatch, a mirror answering
404 then the next one serving, no server at all; the CIFAR-10 and Adult readers."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from genstudio.api import DataError
from genstudio.cli import main
from genstudio.data import catalogue as cat
from genstudio.data import load_dataset
from genstudio.data.download import MARKER, MIRROR_ENV, datasets_dir, fetch, is_present
from genstudio.data.splits import own_test_index, split_counts
from genstudio.host import create_plugin_manager
from tests.data_server import Behaviour, md5, serve


def idx_bytes(a: np.ndarray) -> bytes:
    a = np.asarray(a, dtype=np.uint8)
    return gzip.compress(
        b"\0\0\x08" + bytes([a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape) + a.tobytes(), mtime=0
    )


def tiny_idx_files(n_train=300, n_test=50, seed=0) -> dict[str, bytes]:
    """A small MNIST-like set; the images file is large enough (incompressible) to be cut half-way."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte.gz": idx_bytes(rng.integers(0, 256, (n_train, 12, 12))),
        "train-labels-idx1-ubyte.gz": idx_bytes(np.arange(n_train) % 10),
        "t10k-images-idx3-ubyte.gz": idx_bytes(rng.integers(0, 256, (n_test, 12, 12))),
        "t10k-labels-idx1-ubyte.gz": idx_bytes(np.arange(n_test) % 10),
    }


def register(monkeypatch, name: str, files: dict[str, bytes], mirrors=(), reader="idx", hashes=None):
    """A catalogue entry whose checksums the test knows, as the real ones are published."""
    hashes = hashes or {}
    entry = cat.CatalogueEntry(
        name,
        f"Tiny {name}",
        "a test set",
        tuple(cat.RemoteFile(k, hashes.get(k, md5(v)), len(v)) for k, v in files.items()),
        tuple(mirrors),
        reader,
    )
    monkeypatch.setitem(cat.CATALOGUE, name, entry)
    return entry


def host():
    return create_plugin_manager(builtins=("genstudio.data.datasets", "genstudio.data.formats"), autoload=False)


@pytest.fixture(autouse=True)
def datasets_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GENSTUDIO_DATASETS_DIR", str(tmp_path / "datasets"))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    return tmp_path / "datasets"


def served(name: str, files: dict[str, bytes]) -> Behaviour:
    return Behaviour(files={f"/{name}/{k}": v for k, v in files.items()})


def test_a_complete_download_becomes_a_source_by_name_with_its_split(monkeypatch, tmp_path, capsys):
    files = tiny_idx_files()
    register(monkeypatch, "tiny", files)
    b = served("tiny", files)
    with serve(b) as base:
        monkeypatch.setenv(MIRROR_ENV, base)
        seen = []
        folder = fetch(cat.CATALOGUE["tiny"], progress=seen.append)
    assert folder == datasets_dir() / "tiny"
    for k, v in files.items():
        assert (folder / k).read_bytes() == v
    assert sorted(p.name for p in folder.iterdir()) == sorted([*files, MARKER])  # no .part, no temporary
    assert seen[-1].done == seen[-1].total == sum(len(v) for v in files.values())
    data = load_dataset(host(), "tiny")
    assert data.spec.source == "tiny" and split_counts(data) == (300, 50)
    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(tmp_path / "ws"))
    assert main(["data", "list", "--json"]) == 0
    listed = {i["name"]: i for i in json.loads(capsys.readouterr().out)}
    assert listed["tiny"]["catalogue"]["present"] and listed["tiny"]["catalogue"]["folder"] == str(folder)
    assert not listed["cifar10"]["catalogue"]["present"]


def test_a_connection_dropped_half_way_is_resumed_with_a_range_request(monkeypatch):
    files = tiny_idx_files()
    register(monkeypatch, "tiny", files)
    b = served("tiny", files)
    big = "/tiny/train-images-idx3-ubyte.gz"
    half = len(files["train-images-idx3-ubyte.gz"]) // 2
    b.drop_after[big] = half
    with serve(b) as base:
        monkeypatch.setenv(MIRROR_ENV, base)
        folder = fetch(cat.CATALOGUE["tiny"])
    ranges = [r for p, r in b.requests if p == big]
    assert ranges[0] is None and ranges[1] == f"bytes={half}-"
    assert (folder / "train-images-idx3-ubyte.gz").read_bytes() == files["train-images-idx3-ubyte.gz"]


def test_a_part_left_by_an_earlier_attempt_is_resumed(monkeypatch, datasets_folder):
    files = tiny_idx_files()
    register(monkeypatch, "tiny", files)
    name = "train-images-idx3-ubyte.gz"
    (datasets_folder / "tiny").mkdir(parents=True)
    (datasets_folder / "tiny" / (name + ".part")).write_bytes(files[name][:1000])
    b = served("tiny", files)
    with serve(b) as base:
        monkeypatch.setenv(MIRROR_ENV, base)
        folder = fetch(cat.CATALOGUE["tiny"])
    assert [r for p, r in b.requests if p.endswith(name)] == ["bytes=1000-"]
    assert (folder / name).read_bytes() == files[name]


def test_a_checksum_mismatch_discards_the_file_and_says_so(monkeypatch, datasets_folder, tmp_path, capsys):
    files = tiny_idx_files()
    wrong = "md5:" + "0" * 32
    register(monkeypatch, "tiny", files, hashes={"t10k-labels-idx1-ubyte.gz": wrong})
    with serve(served("tiny", files)) as base:
        monkeypatch.setenv(MIRROR_ENV, base)
        with pytest.raises(DataError) as info:
            fetch(cat.CATALOGUE["tiny"])
        text = str(info.value)
        assert "checksum mismatch" in text and "discarded" in text and "t10k-labels-idx1-ubyte.gz" in text
        monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(tmp_path / "ws"))
        assert main(["data", "get", "tiny"]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    left = sorted(p.name for p in (datasets_folder / "tiny").iterdir())
    assert "t10k-labels-idx1-ubyte.gz" not in left and not any(n.endswith(".part") or n.startswith("tmp") for n in left)
    assert is_present(cat.CATALOGUE["tiny"]) is None


def test_the_first_mirror_404_then_the_second_serves(monkeypatch):
    files = tiny_idx_files()
    b = served("second", files)
    with serve(b) as base:
        register(monkeypatch, "tiny", files, mirrors=(f"{base}/first", f"{base}/second"))
        folder = fetch(cat.CATALOGUE["tiny"])
    paths = [p for p, _ in b.requests]
    assert paths[:2] == ["/first/train-images-idx3-ubyte.gz", "/second/train-images-idx3-ubyte.gz"]
    assert is_present(cat.CATALOGUE["tiny"]) == folder


def test_no_server_at_all_names_the_urls_and_the_folder_and_exits_2(monkeypatch, tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    register(monkeypatch, "tiny", tiny_idx_files())
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{port}")
    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(tmp_path / "ws"))
    assert main(["data", "get", "tiny", "--dir", str(tmp_path / "here")]) == 2
    err = capsys.readouterr().err
    assert f"http://127.0.0.1:{port}/tiny/train-images-idx3-ubyte.gz" in err
    assert str(tmp_path / "here") in err and "place the files by hand" in err and "Traceback" not in err


def test_files_placed_by_hand_are_verified_without_a_download(monkeypatch, tmp_path, capsys):
    files = tiny_idx_files()
    register(monkeypatch, "tiny", files, mirrors=("http://127.0.0.1:9",))
    here = tmp_path / "by-hand"
    here.mkdir()
    for k, v in files.items():
        (here / k).write_bytes(v)
    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(tmp_path / "ws"))
    assert main(["data", "get", "tiny", "--dir", str(here)]) == 0
    assert is_present(cat.CATALOGUE["tiny"]) == here.resolve()
    assert split_counts(load_dataset(host(), "tiny")) == (300, 50)


def test_mnist_is_built_in_until_the_full_set_is_fetched(monkeypatch):
    data = load_dataset(host(), "mnist")
    assert data.spec.shape == (1, 28, 28) and len(data) == 10_000 and split_counts(data) == (8000, 2000)
    files = tiny_idx_files()
    register(monkeypatch, "mnist", files)
    with serve(served("mnist", files)) as base:
        monkeypatch.setenv(MIRROR_ENV, base)
        fetch(cat.CATALOGUE["mnist"])
    data = load_dataset(host(), "mnist")
    assert data.spec.shape == (1, 12, 12) and split_counts(data) == (300, 50) and data.spec.source == "mnist"


def test_a_set_not_fetched_says_how_to_fetch_it():
    with pytest.raises(DataError, match="genstudio data get fashion-mnist"):
        load_dataset(host(), "fashion-mnist")


# -- readers --------------------------------------------------------------------------


def cifar_archive(path: Path, n_batch=4) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's binary layout in miniature: records of a label byte and 3,072 pixels in a .tar.gz."""
    rng = np.random.default_rng(0)
    xs, ys = [], []
    with tarfile.open(path, "w:gz") as tar:

        def add(name, raw):
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))

        add("batches.meta.txt", b"airplane\nautomobile\nbird\n\n")
        for name in ("data_batch_1.bin", "data_batch_2.bin", "test_batch.bin"):
            x = rng.integers(0, 256, (n_batch, 3072)).astype(np.uint8)
            y = rng.integers(0, 3, n_batch).astype(np.uint8)
            add(name, np.concatenate([y[:, None], x], 1).tobytes())
            xs.append(x)
            ys.append(y)
    return np.concatenate(xs).reshape(-1, 3, 32, 32), np.concatenate(ys)


def test_the_cifar10_reader_reads_its_binary_batches(tmp_path):
    x, y = cifar_archive(tmp_path / "cifar-10-binary.tar.gz")
    data = cat.read_cifar10(tmp_path / "cifar-10-binary.tar.gz")
    assert data.spec.shape == (3, 32, 32) and data.spec.classes == ("airplane", "automobile", "bird")
    np.testing.assert_array_equal(data.x, x)
    np.testing.assert_array_equal(data.y, y)
    assert list(own_test_index(data)) == [8, 9, 10, 11]


def test_a_cifar10_archive_that_is_not_whole_records_is_refused(tmp_path):
    with tarfile.open(tmp_path / "c.tar.gz", "w:gz") as tar:
        for name in ("data_batch_1.bin", "test_batch.bin"):
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = 100
            tar.addfile(info, io.BytesIO(b"\0" * 100))
    with pytest.raises(DataError, match="not whole CIFAR-10 records of 3073 bytes"):
        cat.read_cifar10(tmp_path / "c.tar.gz")


def test_the_adult_reader_reads_categorical_columns_with_its_own_split(tmp_path):
    row = "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, {g}, 0, 40, United-States, {y}"
    train = "\n".join(row.format(g=g, y="<=50K" if g < 3 else ">50K") for g in range(6)) + "\n\n"
    train += "50, ?, 83311, HS-grad, 9, Married, ?, Husband, White, Male, 0, 0, 13, United-States, <=50K\n"
    test = "|1x3 Cross validator\n" + "\n".join(row.format(g=g, y=">50K.") for g in range(2)) + "\n"
    (tmp_path / "adult.data").write_text(train)
    (tmp_path / "adult.test").write_text(test)
    data = cat.read_adult(tmp_path / "adult.data", tmp_path / "adult.test")
    assert data.spec.kind == "tabular" and data.spec.shape == (15,) and len(data) == 8
    assert split_counts(data) == (6, 2)
    income = next(c for c in data.spec.columns if c["name"] == "income")
    assert income["categories"] == ["<=50K", ">50K"]  # the test file's trailing dots are gone
    assert any("1 rows with a missing value" in w for w in data.warnings)
