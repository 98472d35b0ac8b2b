"""Arrays to datasets, shared by the IDX and NumPy formats: layouts, image values, labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genstudio.api import DataError, DataSpec
from genstudio.data import check_finite

_SHAPES = "expected (N,H,W), (N,C,H,W), (N,H,W,C) or (N,D)"


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


def _resolve_option_path(text: str, beside: Path) -> Path:
    """A path typed in an option: as given (absolute or from the current folder), else beside the data."""
    p = Path(text).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    return (beside.parent / p).resolve()
