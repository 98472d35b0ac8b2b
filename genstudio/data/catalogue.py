"""The catalogue of standard datasets: one registry of files, published checksums and
mirrors, in one place (as ``pooch.create(registry=...)`` and ``scipy.datasets`` keep theirs).

``genstudio data get NAME`` fetches a set (:func:`genstudio.data.download.fetch`); from then
on it is a data source by its name everywhere, with its own train/test split. ``mnist`` is
also built in: the 10,000 images of MNIST's test set ship in ``resources/`` (first 8,000
train, last 2,000 test), until the full set has been fetched, when ``mnist`` means the full
set.

Tests substitute entries cleanly: ``monkeypatch.setitem(CATALOGUE, "tiny", CatalogueEntry(...))``
before the plugin host is made, and ``GENSTUDIO_DATASETS_MIRROR`` pointing at a local server.
"""

from __future__ import annotations

import importlib.resources
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.api import DataError, Dataset, DataSource, DataSpec, LoadContext
from genstudio.data import download
from genstudio.data.splits import TEST


@dataclass(frozen=True)
class RemoteFile:
    name: str
    """File name, the same on every mirror and on disk."""
    hash: str
    """The published checksum in pooch's notation: ``md5:...`` or ``sha256:...``."""
    size: int = 0
    """Bytes, for the progress bar (0: unknown)."""


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    title: str
    description: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]
    """Base URLs, tried in order; a file's URL is ``mirror + "/" + file.name``."""
    reader: str
    """How the files are read: ``idx``, ``cifar10`` or ``adult``."""
    licence: str = ""
    citation: str = ""
    classes: tuple[str, ...] | None = field(default=None)
    """Class names in label order, when the files number them."""


def _idx_files(hashes: dict[str, str], sizes: dict[str, int]) -> tuple[RemoteFile, ...]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
    names += ("t10k-labels-idx1-ubyte.gz",)
    return tuple(RemoteFile(n, "md5:" + hashes[n], sizes.get(n, 0)) for n in names)


_MNIST_CITE = "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, Proc. IEEE 86(11), 1998"

# Checksums as torchvision publishes them (torchvision/datasets/mnist.py), CIFAR-10's binary version's as
# its authors' page does (https://www.cs.toronto.edu/~kriz/cifar.html); UCI Adult's
# SHA-256 as the Julia package PreprocessData.jl records them (UCI publishes none).
CATALOGUE: dict[str, CatalogueEntry] = {
    "mnist": CatalogueEntry(
        "mnist",
        "MNIST (28x28)",
        "70,000 handwritten digits, 28x28 grayscale, 10 classes; its own 60,000/10,000 split",
        _idx_files(
            {
                "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
            },
            {
                "train-images-idx3-ubyte.gz": 9912422,
                "train-labels-idx1-ubyte.gz": 28881,
                "t10k-images-idx3-ubyte.gz": 1648877,
                "t10k-labels-idx1-ubyte.gz": 4542,
            },
        ),
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist",
            "https://storage.googleapis.com/cvdf-datasets/mnist",
            "http://yann.lecun.com/exdb/mnist",
        ),
        "idx",
        "CC BY-SA 3.0 (Yann LeCun, Corinna Cortes and Christopher J.C. Burges)",
        _MNIST_CITE,
    ),
    "fashion-mnist": CatalogueEntry(
        "fashion-mnist",
        "Fashion-MNIST (28x28)",
        "70,000 Zalando article images, 28x28 grayscale, 10 classes; its own 60,000/10,000 split",
        _idx_files(
            {
                "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
            },
            {
                "train-images-idx3-ubyte.gz": 26421880,
                "train-labels-idx1-ubyte.gz": 29515,
                "t10k-images-idx3-ubyte.gz": 4422102,
                "t10k-labels-idx1-ubyte.gz": 5148,
            },
        ),
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",),
        "idx",
        "MIT (Zalando SE)",
        "H. Xiao, K. Rasul and R. Vollgraf, arXiv:1708.07747, 2017",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
    "kmnist": CatalogueEntry(
        "kmnist",
        "Kuzushiji-MNIST (28x28)",
        "70,000 cursive Japanese characters, 28x28 grayscale, 10 classes; its own 60,000/10,000 split",
        _idx_files(
            {
                "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
                "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
                "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
                "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
            },
            {
                "train-images-idx3-ubyte.gz": 18165135,
                "train-labels-idx1-ubyte.gz": 29497,
                "t10k-images-idx3-ubyte.gz": 3041136,
                "t10k-labels-idx1-ubyte.gz": 5120,
            },
        ),
        ("http://codh.rois.ac.jp/kmnist/dataset/kmnist",),
        "idx",
        "CC BY-SA 4.0 (ROIS-DS Center for Open Data in the Humanities)",
        "T. Clanuwat et al., Deep Learning for Classical Japanese Literature, arXiv:1812.01718, 2018",
        ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    ),
    "cifar10": CatalogueEntry(
        "cifar10",
        "CIFAR-10 (32x32 colour)",
        "60,000 colour images, 32x32, 10 classes; its own 50,000/10,000 split",
        (RemoteFile("cifar-10-binary.tar.gz", "md5:c32a1d4ab5d03f1284b67883e8d87530", 170052171),),
        ("https://www.cs.toronto.edu/~kriz",),
        "cifar10",
        "no licence stated; cite the report",
        "A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images, tech. report, 2009",
    ),
    "adult": CatalogueEntry(
        "adult",
        "UCI Adult (census, tabular)",
        "48,842 census records, 15 columns (8 categorical); rows with missing values dropped; "
        "its own 32,561/16,281 split",
        (
            RemoteFile("adult.data", "sha256:5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d"),
            RemoteFile("adult.test", "sha256:a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05"),
        ),
        ("https://archive.ics.uci.edu/ml/machine-learning-databases/adult",),
        "adult",
        "CC BY 4.0 (UCI Machine Learning Repository)",
        "R. Kohavi, Scaling Up the Accuracy of Naive-Bayes Classifiers, KDD 1996",
    ),
}


def entry(name: str) -> CatalogueEntry:
    """The catalogue entry called ``name``; a :class:`DataError` lists the known ones."""
    if name not in CATALOGUE:
        raise DataError(f"no dataset {name!r} in the catalogue; it has: {', '.join(CATALOGUE)}")
    return CATALOGUE[name]


# --------------------------------------------------------------------------------------
# Readers


def read_entry(e: CatalogueEntry, folder: Path, context: LoadContext) -> Dataset:
    """A fetched set as one :class:`Dataset`, its own test split marked."""
    if e.reader == "idx":
        from genstudio.data.idx import IdxFolder

        data = IdxFolder().load(None, folder, context)
    elif e.reader == "cifar10":
        data = read_cifar10(folder / e.files[0].name)
    elif e.reader == "adult":
        data = read_adult(folder / "adult.data", folder / "adult.test")
    else:
        raise DataError(f"the catalogue entry {e.name} names an unknown reader {e.reader!r}")
    spec = data.spec
    classes = e.classes if e.classes and spec.classes and len(spec.classes) == len(e.classes) else spec.classes
    data.spec = DataSpec(spec.kind, spec.shape, spec.count, spec.value_range, classes, e.name, spec.columns)
    return data


#: One CIFAR-10 record in the binary version: a label byte, then 3 x 32 x 32 pixel bytes.
_CIFAR_RECORD = 1 + 3 * 32 * 32


def read_cifar10(archive: Path) -> Dataset:
    """CIFAR-10's binary version, read from the ``.tar.gz`` without unpacking it (and without
    the pickles of its Python version): ``data_batch_1..5.bin`` train, ``test_batch.bin``
    tests, ``batches.meta.txt`` names the classes; images ``(N, 3, 32, 32)`` uint8."""
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    names: tuple[str, ...] | None = None
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                wanted = base.startswith(("data_batch_", "test_batch")) and base.endswith(".bin")
                if not member.isfile() or not (wanted or base == "batches.meta.txt"):
                    continue
                raw = tar.extractfile(member).read()  # type: ignore[union-attr]
                if base == "batches.meta.txt":
                    names = tuple(line.strip() for line in raw.decode("utf-8", "replace").splitlines() if line.strip())
                    continue
                if len(raw) % _CIFAR_RECORD:
                    raise DataError(f"{member.name} is not whole CIFAR-10 records of {_CIFAR_RECORD} bytes", archive)
                records = np.frombuffer(raw, np.uint8).reshape(-1, _CIFAR_RECORD)
                parts[base] = (records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read the archive ({exc})", archive) from None
    train = sorted(k for k in parts if k.startswith("data_batch_"))
    if not train or "test_batch.bin" not in parts:
        raise DataError("holds no data_batch_*.bin or no test_batch.bin: not CIFAR-10's binary version", archive)
    x = np.concatenate([parts[k][0] for k in train] + [parts["test_batch.bin"][0]])
    y = np.concatenate([parts[k][1] for k in train] + [parts["test_batch.bin"][1]])
    n_classes = int(y.max()) + 1
    classes = names[:n_classes] if names and len(names) >= n_classes else tuple(str(i) for i in range(n_classes))
    mark = np.zeros(len(x), dtype=bool)
    mark[len(x) - len(parts["test_batch.bin"][0]) :] = True
    spec = DataSpec("image", (3, 32, 32), len(x), (0.0, 1.0), classes, str(archive))
    return Dataset(x, y, spec, [], {TEST: mark})


ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income",
)  # fmt: skip


def read_adult(train_file: Path, test_file: Path) -> Dataset:
    """UCI Adult as a tabular dataset of its 15 columns (``income`` included, so a model learns
    it with the rest); rows with a missing value (``?``) are dropped, as is usual since Kohavi
    (1996); the test file's labels lose their trailing dot."""
    from genstudio.data.csv_file import CsvFile
    from genstudio.data.tabular import load_csv_rows

    rows: list[list[str]] = [list(ADULT_COLUMNS)]
    lines = [0]
    counts, dropped = [], 0
    for path in (train_file, test_file):
        n = 0
        for k, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
            if not line.strip() or line.startswith("|"):
                continue
            fields = [f.strip().rstrip(".") for f in line.split(",")]
            if len(fields) != len(ADULT_COLUMNS):
                raise DataError(f"line {k} has {len(fields)} fields, expected {len(ADULT_COLUMNS)}", path)
            if "?" in fields:
                dropped += 1
                continue
            rows.append(fields)
            lines.append(k)
            n += 1
        counts.append(n)
    options = CsvFile.Options(header="yes", label="none", kind="tabular")
    data = load_csv_rows(rows, lines, train_file.parent, options)
    data.warnings.append(f"{dropped} rows with a missing value (?) were dropped")
    mark = np.zeros(len(data), dtype=bool)
    mark[counts[0] :] = True
    data.extras[TEST] = mark
    return data


# --------------------------------------------------------------------------------------
# Sources: each entry is a data source by its name; `mnist` falls back to the built-in copy.


class CatalogueSource(DataSource):
    """A catalogue set, read from where ``genstudio data get`` put it."""

    catalogue_name = ""

    @classmethod
    def entry(cls) -> CatalogueEntry:
        return entry(cls.catalogue_name)

    @classmethod
    def folder(cls) -> Path | None:
        """Where the set is on this machine, or ``None`` when it has not been fetched."""
        return download.is_present(cls.entry())

    def load(self, options: Any, path: Any, context: LoadContext) -> Dataset:
        e = self.entry()
        folder = download.is_present(e)
        if folder is None:
            return self.missing(e)
        return read_entry(e, folder, context)

    def missing(self, e: CatalogueEntry) -> Dataset:
        raise DataError(
            f"{e.name} is not on this machine yet: fetch it with `genstudio data get {e.name}` "
            "or the Data dock's Get dataset…"
        )


class Mnist(CatalogueSource):
    """MNIST: the full set once fetched, else the 10,000 test images built in."""

    name = "mnist"
    title = "MNIST digits (28x28)"
    description = "Handwritten digits, 28x28: 10,000 built in (8,000 train, 2,000 test), 70,000 once fetched"
    catalogue_name = "mnist"

    def missing(self, e: CatalogueEntry) -> Dataset:
        return builtin_mnist()


#: The built-in copy's own split, by the project's convention: the first 8,000 train.
BUILTIN_MNIST_TRAIN = 8000


def builtin_mnist() -> Dataset:
    """The 10,000 images of MNIST's test set shipped in ``resources/`` (see its attribution)."""
    from genstudio.data.idx import IdxFile

    files = importlib.resources.files("genstudio.resources")
    with importlib.resources.as_file(files.joinpath("t10k-images-idx3-ubyte.gz")) as images:
        data = IdxFile().load(IdxFile.Options(), Path(images), LoadContext())
    test = np.arange(len(data)) >= BUILTIN_MNIST_TRAIN
    spec = data.spec
    data.spec = DataSpec(spec.kind, spec.shape, spec.count, spec.value_range, spec.classes, "mnist")
    data.extras[TEST] = test
    return data


def sources() -> list[type[DataSource]]:
    """One data source class per catalogue entry (``mnist`` with its built-in fallback)."""
    out: list[type[DataSource]] = []
    for e in CATALOGUE.values():
        if e.name == "mnist":
            out.append(Mnist)
            continue
        out.append(
            type(
                f"Catalogue_{e.name.replace('-', '_')}",
                (CatalogueSource,),
                {"name": e.name, "title": e.title, "description": e.description, "catalogue_name": e.name},
            )
        )
    return out


__all__ = ["CATALOGUE", "CatalogueEntry", "CatalogueSource", "RemoteFile", "entry", "sources"]
