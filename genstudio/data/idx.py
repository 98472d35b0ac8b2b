"""IDX files as MNIST ships them (LeCun et al. 1998), gzipped or not."""

from __future__ import annotations

import gzip
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from genstudio.api import DataError, Dataset, DataSource, DataSpec, LoadContext, param
from genstudio.data.arrays import _array_dataset, _label_indices, _readable_file, _resolve_option_path

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


def _read_idx(path: Path) -> tuple[np.ndarray, list[str]]:
    """An IDX file (gzipped or not) as a native-endian array, and warnings."""
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
        a, warnings = _read_idx(path)
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
