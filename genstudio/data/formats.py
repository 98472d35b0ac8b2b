"""The built-in file formats: image folders, IDX (MNIST), NumPy ``.npy``/``.npz`` and CSV.

Each is a :class:`~genstudio.api.DataSource` with ``path_based = True`` that recognises a
path by its content. :func:`~genstudio.data.resolve_source` asks them in registration
order, so CSV, the text fallback, comes last. Image folders live in
:mod:`genstudio.data.images`.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from genstudio.api import DataError, Dataset, DataSource, DataSpec, LoadContext, hookimpl, param
from genstudio.data import check_finite
from genstudio.data.images import ImageFolder

__all__ = ["CsvFile", "IdxFile", "ImageFolder", "NumpyFile"]

_SHAPES = "expected (N,H,W), (N,C,H,W), (N,H,W,C) or (N,D)"


# --------------------------------------------------------------------------------------
# Arrays to datasets, shared by IDX and NumPy


def _readable_file(path: Path | None) -> Path:
    """``path``, once it is known to be a file this process can read."""
    path = Path(path)  # type: ignore[arg-type]
    if not path.is_file():
        raise DataError("is a folder, not a file" if path.is_dir() else "is not a regular file", path)
    try:
        open(path, "rb").close()
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", path) from None
    return path


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _to_nchw(a: np.ndarray, layout: str, where: Path) -> np.ndarray:
    """A 3-D or 4-D image array as ``(N, C, H, W)``, C in {1, 3, 4}."""
    if a.ndim == 3:
        return a[:, None]
    nchw, nhwc = a.shape[1] in (1, 3, 4), a.shape[3] in (1, 3, 4)
    if layout == "auto":
        if nchw and nhwc:
            raise DataError(
                f"the layout of an array shaped {_shape(a.shape)} is ambiguous: channels could be axis 1 or "
                "axis 3; set layout=nchw or layout=nhwc",
                where,
            )
        if not (nchw or nhwc):
            raise DataError(
                f"wrong dimensionality: shaped {_shape(a.shape)}, with no channel axis of 1, 3 or 4; {_SHAPES}",
                where,
            )
        layout = "nchw" if nchw else "nhwc"
    if layout == "nhwc":
        if not nhwc:
            raise DataError(f"layout=nhwc, but the last axis of {_shape(a.shape)} is not 1, 3 or 4 channels", where)
        return a.transpose(0, 3, 1, 2)
    if not nchw:
        raise DataError(f"layout=nchw, but axis 1 of {_shape(a.shape)} is not 1, 3 or 4 channels", where)
    return a


def _image_values(x: np.ndarray, where: Path, warnings: list[str]) -> np.ndarray:
    """Images ``(N, C, H, W)`` of any numeric dtype -> uint8 0..255 or float32 in [0, 1].

    uint8 is kept, bool becomes 0/255, floats in [0, 1] are kept; other values in [0, 255]
    are read as 8-bit intensities (with a warning); anything else is refused.
    """
    if x.dtype == np.uint8:
        return np.asarray(x)
    if x.dtype == np.bool_:
        return np.asarray(x, dtype=np.uint8) * np.uint8(255)
    check_finite(x, where)
    lo, hi = (x.min().item(), x.max().item())
    if x.dtype.kind == "f" and lo >= 0 and hi <= 1:
        return np.asarray(x, dtype=np.float32)
    if lo < 0 or hi > 255:
        expect = "floats in [0, 1] or values in [0, 255]"
        raise DataError(f"image values range from {lo:g} to {hi:g}; expected {expect}", where)
    warnings.append(f"image values range from {lo:g} to {hi:g}: read as 8-bit intensities (divided by 255)")
    if x.dtype.kind in "iu" or np.array_equal(x, np.rint(x)):
        return np.asarray(x, dtype=np.uint8)  # the same values as x / 255, at a quarter of the memory
    return (np.asarray(x, dtype=np.float32) / np.float32(255.0)).astype(np.float32)


def _composite_alpha(x: np.ndarray, warnings: list[str]) -> np.ndarray:
    """``(N, 4, H, W)`` RGBA -> RGB on white, as the image folder does with transparent images."""
    rgb, alpha = x[:, :3], x[:, 3:]
    full = 255 if x.dtype == np.uint8 else 1.0
    if (alpha >= full).all():
        return np.ascontiguousarray(rgb)
    warnings.append("4 channels read as RGBA: transparent pixels were composited on a white background")
    a = alpha.astype(np.float32) / np.float32(full)
    out = rgb.astype(np.float32) * a + np.float32(full) * (1 - a)
    return np.rint(out).astype(np.uint8) if x.dtype == np.uint8 else out.astype(np.float32)


def _array_dataset(a: np.ndarray, where: Path, layout: str = "auto") -> tuple[np.ndarray, DataSpec, list[str]]:
    """A numeric array -> ``(x, spec without classes, warnings)``: images from 3-D or 4-D
    arrays, vectors ``(N, D)`` float32 from 2-D arrays."""
    if a.dtype.names:
        raise DataError(f"holds a structured array (fields {', '.join(a.dtype.names)}); expected plain numbers", where)
    if a.dtype.kind not in "biuf":
        what = "text" if a.dtype.kind in "US" else f"{a.dtype} values"
        raise DataError(f"holds {what}, not numbers", where)
    if a.ndim not in (2, 3, 4):
        raise DataError(f"wrong dimensionality: shaped {_shape(a.shape)}; {_SHAPES}", where)
    if len(a) == 0:
        raise DataError(f"holds no examples (shaped {_shape(a.shape)})", where)
    warnings: list[str] = []
    if a.ndim == 2:
        x = np.asarray(a, dtype=np.float32)
        check_finite(x, where)
        spec = DataSpec("vector", x.shape[1:], len(x), (float(x.min()), float(x.max())), source=str(where))
        return x, spec, warnings
    x = _image_values(_to_nchw(a, layout, where), where, warnings)
    if x.shape[1] == 4:
        x = _composite_alpha(x, warnings)
    x = np.ascontiguousarray(x)
    return x, DataSpec("image", x.shape[1:], len(x), (0.0, 1.0), source=str(where)), warnings


def _label_indices(values: np.ndarray, n: int, where: Path, examples: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels (1-D integers or strings, length ``n``) -> int64 indices and class names
    (sorted unique values: numbers numerically, strings alphabetically)."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataError(f"labels are shaped {_shape(values.shape)}; expected one label per example, ({n},)", where)
    if len(values) != n:
        other = "" if where == examples else f" but {examples.name} holds"
        raise DataError(f"holds {len(values):,} labels{other or ' for'} {n:,} examples", where)
    if values.dtype.kind == "S":
        values = np.char.decode(values, "utf-8", errors="replace")
    if values.dtype.kind not in "iuU":
        raise DataError(f"labels are {values.dtype} values; expected integers or strings", where)
    classes, y = np.unique(values, return_inverse=True)
    return y.astype(np.int64).reshape(-1), tuple(str(c) for c in classes.tolist())


# --------------------------------------------------------------------------------------
# IDX


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


def _resolve_option_path(text: str, beside: Path) -> Path:
    """A path typed in an option: as given (absolute or from the current folder), else beside the data."""
    p = Path(text).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    return (beside.parent / p).resolve()


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


# --------------------------------------------------------------------------------------
# NumPy


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


# --------------------------------------------------------------------------------------
# CSV


_LABEL_NAMES = ("label", "class", "target", "y")
_DELIMITERS = (";", ",", "\t")  # ';' first: it is rarely anything but a delimiter, ',' may be a decimal


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _decimal_point(field: str) -> str:
    if "," not in field:
        return field
    dotted = field.replace(",", ".")
    return dotted if _is_number(dotted) else field


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte is a character: old spreadsheets


def _split_rows(text: str) -> tuple[list[list[str]], list[int], str | None]:
    """Rows of fields and their 1-based line numbers, and the delimiter (None: whitespace).

    Blank lines and lines starting with ``#`` are skipped.
    """
    # not str.splitlines: it also splits at \x85 and \x0c, which latin-1 text may hold
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    sample = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")][:20]
    delimiter: str | None = None
    for d in _DELIMITERS:
        # the usual field count decides, so that one ragged line is reported, not misread
        counts = Counter(len(next(csv.reader([ln], delimiter=d))) for ln in sample)
        if counts and counts.most_common(1)[0][0] >= 2:
            delimiter = d
            break
    rows: list[list[str]] = []
    numbers: list[int] = []
    if delimiter is None:
        for k, ln in enumerate(lines, 1):
            if ln.strip() and not ln.lstrip().startswith("#"):
                rows.append(ln.split())
                numbers.append(k)
        return rows, numbers, None
    kept = ("" if ln.lstrip().startswith("#") else ln for ln in lines)
    reader = csv.reader(kept, delimiter=delimiter, skipinitialspace=True)
    for row in reader:
        if row and any(field.strip() for field in row):
            rows.append(row)
            numbers.append(reader.line_num)
    return rows, numbers, delimiter


def _number_labels(values: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class indices for labels; numbers sort numerically and print without a needless .0."""
    try:
        nums = np.array(values, dtype=np.float64)
    except ValueError:
        classes, y = np.unique(np.array([v.strip() for v in values]), return_inverse=True)
        return y.astype(np.int64).reshape(-1), tuple(classes.tolist())
    uniq, y = np.unique(nums, return_inverse=True)
    names = tuple(str(int(v)) if float(v).is_integer() else repr(float(v)) for v in uniq)
    return y.astype(np.int64).reshape(-1), names


class CsvFile(DataSource):
    """Delimited text (comma, semicolon, tab or whitespace) of numbers: vectors ``(N, D)``
    float32, with an optional label column (strings or numbers). With ``kind=tabular``, every
    column is a categorical variable instead (:mod:`genstudio.data.tabular`)."""

    name = "csv"
    title = "CSV / text table"
    description = "Numeric columns in delimited text (comma, semicolon, tab or spaces), with an optional label column"
    path_based = True

    @dataclass
    class Options:
        header: str = param("auto", choices=("auto", "yes", "no"), help="Whether the first row names the columns")
        label: str = param(
            "auto",
            help="Label column: a header name or 0-based index; auto finds label/class/target/y; none for no labels",
        )
        kind: str = param(
            "vector",
            choices=("vector", "tabular"),
            help="vector: numeric columns; tabular: every column a categorical variable (see genstudio.data.tabular)",
        )
        max_categories: int = param(
            20, min=1, max=100_000, help="kind=tabular: integer columns with at most this many values are categorical"
        )
        bins: int = param(5, min=1, max=1000, help="kind=tabular: quantile bins of each continuous column")

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A text file (no NUL, no control characters) whose first line parses as delimited
        text; an empty file too, so that loading it says it is empty."""
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        if b"\0" in head:
            return False
        first = (head.lstrip(b"\xef\xbb\xbf\r\n\t ").splitlines() or [b""])[0]
        try:
            line = first.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(first) - 3 or len(head) < (1 << 16):  # not just a character cut at 64 KiB
                return False
            line = first[: exc.start].decode("utf-8")
        if any(ord(c) < 32 and c != "\t" for c in line):
            return False
        if not line.strip():
            return True
        try:
            next(csv.reader([line], delimiter=","))
        except csv.Error:
            return False
        return True

    def load(self, options: Any, path: Path | None, context: LoadContext) -> Dataset:
        path = _readable_file(path)
        try:
            rows, lines, delimiter = _split_rows(_read_text(path))
        except csv.Error as exc:
            raise DataError(f"is not readable as delimited text ({exc})", path) from None
        if not rows:
            raise DataError("is empty: it holds no rows of values", path)
        width = len(rows[0])
        for row, line in zip(rows, lines):
            if len(row) != width:
                raise DataError(f"ragged rows: line {line} has {len(row)} fields, expected {width}", path)

        if delimiter == ";":  # "1,5;2,25": a semicolon file may use decimal commas
            rows = [[_decimal_point(f) for f in row] for row in rows]
        if options.kind == "tabular":
            from genstudio.data.tabular import load_csv_rows

            return load_csv_rows(rows, lines, path, options)
        header = self._has_header(rows, options.header)
        names = [h.strip() for h in rows[0]] if header else None
        if header:
            rows, lines = rows[1:], lines[1:]
            if not rows:
                raise DataError("has a header but no rows of values", path)

        warnings: list[str] = []
        label_col = self._label_column(options.label, names, width, path, warnings)
        features = [j for j in range(width) if j != label_col]
        if not features:
            raise DataError("has no feature columns besides the labels", path)
        table = np.array(rows, dtype=str)
        cells = table[:, features]
        try:
            x = cells.astype(np.float64).astype(np.float32)
        except ValueError:
            i, k = self._first_bad_cell(cells)
            hint = f"; if it holds the labels, set label={self._column(names, features[k], bare=True)}"
            raise DataError(
                f"{self._column(names, features[k])}, line {lines[i]}: {str(cells[i, k])!r} is not a number"
                + (hint if label_col is None else "")
                + "; use --data-option kind=tabular for categorical data",
                path,
            ) from None
        if not np.isfinite(x).all():
            i, k = np.argwhere(~np.isfinite(x))[0]
            raise DataError(
                f"{self._column(names, features[k])}, line {lines[i]}: {str(cells[i, k])!r} is NaN or infinite "
                "(as float32); GenStudio needs finite numbers",
                path,
            )
        y, classes = None, None
        if label_col is not None:
            values = table[:, label_col].tolist()
            empty = next((k for k, v in enumerate(values) if not v.strip()), None)
            if empty is not None:
                raise DataError(f"line {lines[empty]} has an empty label", path)
            y, classes = _number_labels(values)
        spec = DataSpec("vector", (x.shape[1],), len(x), (float(x.min()), float(x.max())), classes, str(path))
        return Dataset(x, y, spec, warnings)

    @staticmethod
    def _has_header(rows: list[list[str]], option: str) -> bool:
        if option != "auto":
            return option == "yes"
        if len(rows) == 1:
            return not all(_is_number(f) for f in rows[0])
        # a header names a column whose values are numbers; a text column (string labels)
        # says nothing, since its first value is text in either case
        body = rows[1:21]
        return any(not _is_number(field) and all(_is_number(r[j]) for r in body) for j, field in enumerate(rows[0]))

    @staticmethod
    def _label_column(option: str, names: list[str] | None, width: int, path: Path, warnings: list[str]) -> int | None:
        option = option.strip()
        if option.lower() == "none":
            return None
        if option.lower() == "auto":
            if names is None:
                return None
            found = next((j for j, n in enumerate(names) if n.lower() in _LABEL_NAMES), None)
            if found is not None:
                warnings.append(
                    f"column {names[found]!r} is used as the labels (label=auto); set label=none to keep it as a feature"
                )
            return found
        if names is not None:
            if option in names:
                return names.index(option)
            lowered = [n.lower() for n in names]
            if option.lower() in lowered:
                return lowered.index(option.lower())
        if re.fullmatch(r"-?\d+", option) and -width <= int(option) < width:
            return int(option) % width
        known = ", ".join(names) if names is not None else f"0 to {width - 1}"
        raise DataError(f"has no column {option!r} for label=; its columns: {known}", path)

    @staticmethod
    def _column(names: list[str] | None, j: int, bare: bool = False) -> str:
        if bare:
            return names[j] if names is not None else str(j)
        return f"column {names[j]!r}" if names is not None else f"column {j} (0-based)"

    @staticmethod
    def _first_bad_cell(cells: np.ndarray) -> tuple[int, int]:
        """Row and column of the first cell NumPy cannot read as a number (the error path only)."""

        def bad(value: str) -> bool:
            try:
                np.array(value).astype(np.float64)
            except ValueError:
                return True
            return False

        found = []
        for k in range(cells.shape[1]):
            try:
                cells[:, k].astype(np.float64)
            except ValueError:
                found.append((next(i for i, v in enumerate(cells[:, k].tolist()) if bad(v)), k))
        return min(found)


# --------------------------------------------------------------------------------------


@hookimpl
def genstudio_register_datasets(registry: Any) -> None:
    # sniffed in this order: CSV claims any text file, so it goes last
    for cls in (ImageFolder, IdxFile, NumpyFile, CsvFile):
        registry.add(cls)
