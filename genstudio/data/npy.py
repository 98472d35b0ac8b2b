"""NumPy arrays: ``.npy`` (memory-mapped) and ``.npz``; never unpickled."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.api import DataError, Dataset, DataSource, DataSpec, LoadContext, param
from genstudio.data.arrays import _array_dataset, _label_indices, _readable_file, _resolve_option_path

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_LABEL_KEYS = ("y", "labels", "label", "targets")
_DATA_KEYS = ("x", "data", "images", "features", "arr_0")
_PICKLE_REFUSED = "holds Python objects; GenStudio never unpickles data"


def _numpy_error(exc: Exception, where: Path, what: str = "") -> DataError:
    text = str(exc)
    if "pickle" in text or "Python objects" in text:
        return DataError(f"{what}{_PICKLE_REFUSED}", where)
    return DataError(f"{what}cannot be read as NumPy data; it may be truncated or corrupt ({text})", where)


def _load_npy(path: Path) -> np.ndarray:
    try:
        # mapped, not read: a large uint8 image array is used as it is
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except MemoryError:
        raise
    except Exception as exc:
        raise _numpy_error(exc, path) from None


class NumpyFile(DataSource):
    """NumPy arrays: ``.npy``, or ``.npz`` holding the data and optionally its labels.

    ``(N, H, W)``, ``(N, C, H, W)`` and ``(N, H, W, C)`` (C = 1, 3 or 4; 4 is RGBA,
    composited on white) are images, ``(N, D)`` vectors. Never unpickles.
    """

    name = "numpy"
    title = "NumPy (.npy, .npz)"
    description = "A NumPy array (.npy), or a .npz archive with the data and an array of labels (y, labels, ...)"
    path_based = True

    @dataclass
    class Options:
        key: str = param("", help="The data array in a .npz; empty picks x, data, images or the only array")
        label_key: str = param("", help="The labels array in a .npz; empty finds y, labels, label or targets; none")
        labels: str = param("", help="A .npy file of labels, one per example")
        layout: str = param(
            "auto", choices=("auto", "nchw", "nhwc"), help="Axis order of 4-D images; auto decides from the shape"
        )

    @classmethod
    def sniff(cls, path: Path) -> bool:
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            head = f.read(6)
        if head == _NPY_MAGIC:
            return True
        if head[:4] != _ZIP_MAGIC:
            return False
        try:
            with zipfile.ZipFile(path) as z:
                return any(name.endswith(".npy") for name in z.namelist())
        except (zipfile.BadZipFile, OSError):
            return False

    def load(self, options: Any, path: Path | None, context: LoadContext) -> Dataset:
        path = _readable_file(path)
        with open(path, "rb") as f:
            archive = f.read(4) == _ZIP_MAGIC
        labels: np.ndarray | None = None
        labels_from = path
        if archive:
            a, labels = self._read_npz(path, options)
        else:
            a = _load_npy(path)
        x, spec, warnings = _array_dataset(a, path, options.layout)
        if options.labels:
            labels_from = _resolve_option_path(options.labels, path)
            if not labels_from.is_file():
                raise DataError("labels file not found", labels_from)
            labels = _load_npy(labels_from)
        y, classes = None, None
        if labels is not None:
            y, classes = _label_indices(labels, len(x), labels_from, path)
        spec = DataSpec(spec.kind, spec.shape, spec.count, spec.value_range, classes, str(path))
        return Dataset(x, y, spec, warnings)

    @staticmethod
    def _read_npz(path: Path, options: Any) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            archive = np.load(path, allow_pickle=False)
        except MemoryError:
            raise
        except Exception as exc:
            raise _numpy_error(exc, path) from None
        with archive:
            names = list(archive.files)
            listed = ", ".join(names) or "none"
            by_lower = {n.lower(): n for n in names}
            label_key = options.label_key
            if label_key.lower() == "none":
                label_key = None
            elif label_key:
                if label_key not in names:
                    raise DataError(f"has no array {label_key!r} (label_key); its arrays: {listed}", path)
            else:
                label_key = next((by_lower[k] for k in _LABEL_KEYS if k in by_lower), None)
            key = options.key
            if key:
                if key not in names:
                    raise DataError(f"has no array {key!r} (key); its arrays: {listed}", path)
            else:
                rest = [n for n in names if n != label_key]
                key = rest[0] if len(rest) == 1 else next((by_lower[k] for k in _DATA_KEYS if k in by_lower), None)
                if key is None:
                    what = "no arrays" if not rest else f"several arrays ({', '.join(rest)})"
                    raise DataError(f"holds {what}; choose the data with key=NAME", path)

            def read(name: str) -> np.ndarray:
                try:
                    return archive[name]
                except MemoryError:
                    raise
                except Exception as exc:
                    raise _numpy_error(exc, path, f"array {name!r}: ") from None

            return read(key), (None if label_key is None else read(label_key))
