"""IDX files as MNIST ships them (LeCun et al. 1998), gzipped or not."""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from genstudio.api import DataError, Dataset, DataSource, DataSpec, LoadContext, param
from genstudio.data.arrays import _array_dataset, _label_indices, _readable_file, _resolve_option_path
from genstudio.data.budget import memory_budget
from genstudio.data.splits import join_splits

_IDX_TYPES = {
    0x08: ("ubyte", np.dtype("u1")),
    0x09: ("sbyte", np.dtype("i1")),
    0x0B: ("int16", np.dtype(">i2")),
    0x0C: ("int32", np.dtype(">i4")),
    0x0D: ("float32", np.dtype(">f4")),
    0x0E: ("float64", np.dtype(">f8")),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _idx_magic_ok(head: bytes) -> bool:
    return len(head) >= 4 and head[:2] == b"\0\0" and head[2] in _IDX_TYPES and 1 <= head[3] <= 16


#: Names MNIST-style files go by: ``train-images-idx3-ubyte``, ``t10k-labels.idx1-ubyte.gz``,
#: ``images.idx3``. Anchored at the end, so ``x-idx3.npy`` is a NumPy file.
_IDX_NAME = re.compile(r"(?:(?:^|[-._])idx\d(?:[-.]ubyte)?|-ubyte)(?:\.gz)?$", re.IGNORECASE)


def looks_like_idx(name: str) -> bool:
    """Whether a file name says IDX, whatever the file holds."""
    return _IDX_NAME.search(name) is not None


def _open_maybe_gzip(path: Path) -> tuple[IO[bytes], bool]:
    """The file, inflated if it is gzipped (the caller closes it); and whether it was."""
    with open(path, "rb") as f:
        gz = f.read(2) == _GZIP_MAGIC
    return (gzip.open(path, "rb") if gz else open(path, "rb")), gz


def _read_upto(f: IO[bytes], n: int) -> bytearray:
    """Up to ``n`` bytes, in chunks: a header that promises terabytes allocates nothing up front."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(n - len(buf), 1 << 24))
        if not chunk:
            break
        buf += chunk
    return buf


def _read_idx(path: Path, cache_dir: Path | None = None) -> tuple[np.ndarray, list[str]]:
    """An IDX file (gzipped or not) as a native-endian array, and warnings. Data larger than
    the memory budget goes to a ``.npy`` in ``cache_dir`` instead, returned memory-mapped
    (:mod:`genstudio.data.streaming` trains from it)."""
    try:
        f, gz = _open_maybe_gzip(path)
        with f:
            head = f.read(4)
            if not _idx_magic_ok(head):
                found = " ".join(f"{b:02X}" for b in head) or "nothing"
                types = ", ".join(f"{t:02X}" for t in _IDX_TYPES)
                raise DataError(
                    f"not an IDX file: it starts with the bytes {found}; expected 00 00, a type byte "
                    f"({types}) and the number of dimensions",
                    path,
                )
            type_name, dtype = _IDX_TYPES[head[2]]
            ndim = head[3]
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DataError(f"truncated: the header ends after {4 + len(raw_dims)} bytes", path)
            dims = tuple(int.from_bytes(raw_dims[4 * k : 4 * k + 4], "big") for k in range(ndim))
            expected = math.prod(dims) * dtype.itemsize
            if cache_dir is not None and expected > memory_budget():
                return _cached_idx(f, path, dims, dtype, Path(cache_dir)), []
            data = _read_upto(f, expected)
            extra = len(f.read(1)) > 0
    except DataError:
        raise
    except EOFError:
        raise DataError("the gzip data is truncated (it ends before its end-of-stream marker)", path) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"the gzip data is corrupt ({exc})", path) from None
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", path) from None
    shown = " x ".join(f"{d:,}" for d in dims)
    if len(data) < expected:
        unpacked = " after decompression" if gz else ""
        raise DataError(
            f"truncated: the header promises {shown} {type_name} values ({expected:,} bytes of data) "
            f"but the file holds {len(data):,}{unpacked}",
            path,
        )
    warnings = [f"{path.name} holds extra bytes after its {shown} values; they were ignored"] if extra else []
    a = np.frombuffer(data, dtype=dtype).reshape(dims)
    return (a if dtype.itemsize == 1 else a.astype(dtype.newbyteorder("="))), warnings


def _cached_idx(f: IO[bytes], path: Path, dims: tuple[int, ...], dtype: np.dtype, cache_dir: Path) -> np.ndarray:
    """The values after the header, copied chunk by chunk into a cached ``.npy`` (written under
    a temporary name, then renamed), and returned memory-mapped read-only."""
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:20]
    target = cache_dir / "idx" / f"{key}.npy"
    if target.is_file():
        cached = np.load(target, mmap_mode="r")
        if cached.shape == dims:
            return cached
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    native = dtype.newbyteorder("=")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=native, shape=dims)
    flat, done, chunk = out.reshape(-1), 0, (1 << 24) // dtype.itemsize * dtype.itemsize
    try:
        while done < flat.size:
            raw = f.read(min(chunk, (flat.size - done) * dtype.itemsize))
            if len(raw) < dtype.itemsize:
                raise DataError(f"truncated: the header promises {' x '.join(map(str, dims))} values", path)
            values = np.frombuffer(raw[: len(raw) // dtype.itemsize * dtype.itemsize], dtype=dtype)
            flat[done : done + len(values)] = values
            done += len(values)
        out.flush()
    except BaseException:
        del out, flat
        tmp.unlink(missing_ok=True)
        raise
    del out, flat
    os.replace(tmp, target)
    return np.load(target, mmap_mode="r")


class IdxFile(DataSource):
    """IDX files as MNIST ships them, gzipped or not.

    3-D files are images ``(N, 1, H, W)`` (ubyte as uint8, other types read by their range);
    2-D files are vectors ``(N, D)`` float32. Labels come from the sibling ``labels-idx1``
    file when there is one.
    """

    name = "idx"
    title = "IDX (MNIST)"
    description = "MNIST-style IDX files (.idx3-ubyte, gzipped or not); labels from the labels-idx1 file beside it"
    path_based = True

    @dataclass
    class Options:
        labels: str = param("", help="Labels file; empty finds *-labels-idx1-* beside the images file")

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """IDX by its magic number; or by its name (``-ubyte``, ``idx3``...), so that a file
        named as IDX whose magic number is wrong hears what is wrong with it."""
        if not path.is_file():
            return False
        f, _ = _open_maybe_gzip(path)
        with f:
            try:
                head = f.read(4)  # from a gzip, only the first block is inflated
            except (EOFError, gzip.BadGzipFile, zlib.error):
                # no other format reads gzip: claim it, so that loading says the gzip is broken
                return True
        return _idx_magic_ok(head) or looks_like_idx(path.name)

    @staticmethod
    def sibling_labels(path: Path) -> Path | None:
        """``t10k-labels-idx1-ubyte[.gz]`` for ``t10k-images-idx3-ubyte[.gz]``, when it exists."""
        name = re.sub(r"images([-.])idx3", r"labels\1idx1", path.name)
        if name == path.name:
            return None
        stem = name.removesuffix(".gz")
        for candidate in (stem, stem + ".gz"):
            if (path.parent / candidate).is_file():
                return path.parent / candidate
        return None

    def load(self, options: Any, path: Path | None, context: LoadContext) -> Dataset:
        path = _readable_file(path)
        a, warnings = _read_idx(path, context.cache_dir)
        if a.ndim == 1:
            raise DataError(
                f"holds {len(a):,} labels, not examples; pass the images file (labels are found beside it)", path
            )
        x, spec, more = _array_dataset(a, path)
        warnings += more
        y, classes = None, None
        labels_path = _resolve_option_path(options.labels, path) if options.labels else self.sibling_labels(path)
        if labels_path is not None:
            if not labels_path.is_file():
                raise DataError("labels file not found", labels_path)
            values, more = _read_idx(labels_path)
            warnings += more
            y, classes = _label_indices(values, len(x), labels_path, path)
        spec = DataSpec(spec.kind, spec.shape, spec.count, spec.value_range, classes, str(path))
        return Dataset(x, y, spec, warnings)


#: Which split a file name says: ``train-images...`` trains, ``t10k-``/``test-`` is the test split.
_ROLES = (
    ("train", re.compile(r"(?:^|[-_.])train(?:[-_.]|$)", re.I)),
    ("test", re.compile(r"(?:^|[-_.])(?:t10k|test)(?:[-_.]|$)", re.I)),
)
_LABELS_NAME = re.compile(r"labels|idx1", re.I)


def _idx_set(name: str) -> tuple[str, str | None, bool]:
    """``(set, role, is_labels)`` from a file name: ``emnist-letters-train-images-idx3-ubyte.gz``
    is set ``emnist-letters``, role ``train``, images."""
    stem = _IDX_NAME.sub("", name)
    role = next((r for r, pattern in _ROLES if pattern.search(stem)), None)
    words = [
        w for w in re.split(r"[-_.]", stem) if w and w.lower() not in {"train", "t10k", "test", "images", "labels"}
    ]
    return "-".join(words).lower(), role, _LABELS_NAME.search(name) is not None


class IdxFolder(DataSource):
    """A folder of IDX files as MNIST, Fashion-MNIST and KMNIST ship them, gzipped or not:
    ``train-images-idx3-ubyte`` (with its labels) trains and ``t10k-images-idx3-ubyte`` is the
    data's own test split (:mod:`genstudio.data.splits`). A folder with one images file is
    that file's data, unsplit."""

    name = "idx-folder"
    title = "IDX folder (MNIST)"
    description = "A folder of MNIST-style IDX files: train-* trains, t10k-* is its own test split"
    path_based = True

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return path.is_dir() and any(looks_like_idx(p.name) for p in path.iterdir() if not p.name.startswith("."))

    @staticmethod
    def images_files(folder: Path) -> dict[str | None, Path]:
        """The images file of each split (``"train"``, ``"test"``, or ``None`` for an unsplit file).

        An unpacked copy beside its ``.gz`` is the same file (the unpacked one is read); images
        of two different sets, or two images files for one split, are refused by name.
        """
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        names = [n for n in names if looks_like_idx(n) and not (n.endswith(".gz") and n[:-3] in names)]
        images = [(n, *_idx_set(n)) for n in names if not _idx_set(n)[2]]
        if not images:
            raise DataError("holds IDX labels files but no images file (such as train-images-idx3-ubyte)", folder)
        sets = sorted({s for _, s, _, _ in images})
        by_role: dict[str | None, list[str]] = {}
        for n, _, role, _ in images:
            by_role.setdefault(role, []).append(n)
        crowded = [ns for ns in by_role.values() if len(ns) > 1]
        if len(sets) > 1 or crowded or (None in by_role and len(by_role) > 1):
            listed = ", ".join(n for n, *_ in images)
            raise DataError(
                f"holds images files of more than one IDX set ({listed}); keep one set (train-* and t10k-*) "
                "per folder, or pass one file",
                folder,
            )
        return {role: folder / ns[0] for role, ns in by_role.items()}

    def load(self, options: Any, path: Path | None, context: LoadContext) -> Dataset:
        folder = Path(path)  # type: ignore[arg-type]
        files = self.images_files(folder)
        reader, opts = IdxFile(), IdxFile.Options()
        parts = {role: reader.load(opts, p, context) for role, p in files.items()}
        if len(parts) == 1:  # one images file (t10k alone too): all of it is the data
            ((role, data),) = parts.items()
            if role == "test":
                data.warnings.append(f"{files[role].name} is the only images file: all of it trains (no test split)")
        else:
            data = join_splits(parts["train"], parts["test"], files["train"].name, files["test"].name)
        spec = data.spec
        data.spec = DataSpec(spec.kind, spec.shape, spec.count, spec.value_range, spec.classes, str(folder))
        return data
