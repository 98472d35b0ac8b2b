"""Images in and out of the command line: PNG or .npy, checked with messages naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genstudio.cli.common import UsageError


def read_images(path: str | Path, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A PNG (one image; grey or RGB to match ``shape``'s channels) as ``(C, H, W)`` float32 in
    [0, 1], or a ``.npy`` as it is (float32). Raises :class:`UsageError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{what} {path}: no such file")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise UsageError(f"{what} {path}: not a NumPy .npy file ({exc})") from None
        if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
            raise UsageError(f"{what} {path}: holds {arr.dtype} values, not numbers")
        arr = arr.astype(np.float32) / (np.float32(255.0) if arr.dtype == np.uint8 else np.float32(1.0))
        if not np.isfinite(arr).all():
            raise UsageError(f"{what} {path}: holds NaN or infinite values")
        return arr
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if shape[0] == 1 else "RGB")
            arr = np.asarray(im, np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise UsageError(f"{what} {path}: not an image Pillow can read ({exc})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def write_images(path: str | Path, arr: np.ndarray) -> None:
    """``.npy`` as it is; a PNG of one image at its size, or a grid of many (rows of ``arr.shape[-4]``)."""
    from genstudio.data.grid import make_grid, save_png, to_uint8

    path = Path(path)
    if path.suffix.lower() == ".npy":
        from genstudio.files import atomic_write

        atomic_write(path, lambda f: np.save(f, arr.astype(np.float32)))
        return
    if arr.ndim == 3:
        save_png(path, to_uint8(arr).transpose(1, 2, 0))
        return
    flat = arr.reshape(-1, *arr.shape[-3:])
    cols = arr.shape[-4] if arr.ndim == 5 else None
    if arr.ndim == 5:  # (n, N, C, H, W): one row per input, its restorations side by side
        flat = arr.transpose(1, 0, 2, 3, 4).reshape(-1, *arr.shape[-3:])
        cols = arr.shape[0]
    save_png(path, make_grid(flat, nrow=cols), scale=max(1, min(4, 64 // max(arr.shape[-2:]))))
