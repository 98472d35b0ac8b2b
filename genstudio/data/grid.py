"""Pictures of data without Qt: image grids and 2-D scatter images, as uint8 arrays and PNG."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np


def to_uint8(images: np.ndarray) -> np.ndarray:
    """``(N, C, H, W)`` float in [0, 1] (or uint8) -> uint8, values clipped."""
    if images.dtype == np.uint8:
        return images
    return (np.clip(np.nan_to_num(images, nan=0.0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def make_grid(images: np.ndarray, nrow: int | None = None, pad: int = 1, pad_value: int = 32) -> np.ndarray:
    """Tile ``(N, C, H, W)`` images into one ``(rows*H', cols*W', C')`` uint8 picture, C' = 1 or 3.

    :param nrow: images per row; default the ceiling of the square root of N.
    """
    x = to_uint8(np.asarray(images))
    if x.ndim != 4:
        raise ValueError(f"expected (N, C, H, W) images, got shape {x.shape}")
    n, c, h, w = x.shape
    if c == 4:
        x, c = x[:, :3], 3
    elif c == 2 or c > 4:
        x, c = x[:, :1], 1
    cols = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), pad_value, np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        y0, x0 = pad + r * (h + pad), pad + q * (w + pad)
        out[y0 : y0 + h, x0 : x0 + w] = x[i].transpose(1, 2, 0)
    return out


def scatter_image(
    points: np.ndarray,
    reference: np.ndarray | None = None,
    size: int = 320,
    bounds: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Draw the first two coordinates of ``points`` (N, D) as a density image (size, size, 3)
    uint8: samples in orange over ``reference`` (real data) in grey."""
    points = _two_columns(points)
    reference = None if reference is None else _two_columns(reference)
    both = points if reference is None else np.concatenate([points, np.asarray(reference, np.float64)[:, :2]])
    finite = both[np.isfinite(both).all(axis=1)]
    if bounds is None:
        if len(finite) == 0:
            finite = np.zeros((1, 2))
        lo, hi = np.percentile(finite, 0.5, axis=0), np.percentile(finite, 99.5, axis=0)
        span = np.maximum(hi - lo, 1e-6) * 0.1
        bounds = (lo[0] - span[0], hi[0] + span[0], lo[1] - span[1], hi[1] + span[1])
    x0, x1, y0, y1 = bounds
    img = np.full((size, size, 3), 255.0)

    def density(p: np.ndarray) -> np.ndarray:
        p = p[np.isfinite(p).all(axis=1)]
        hist, _, _ = np.histogram2d(p[:, 1], p[:, 0], bins=size, range=[[y0, y1], [x0, x1]])
        # each point covers 3x3 pixels, so a few hundred points are visible
        padded = np.pad(hist, 1)
        spread = sum(padded[i : i + size, j : j + size] for i in range(3) for j in range(3))
        return np.flipud(spread)

    for pts, colour in ((reference, (90, 90, 90)), (points, (230, 110, 20))):
        if pts is None or len(pts) == 0:
            continue
        d = density(pts)
        alpha = np.clip(d / max(np.percentile(d[d > 0], 90) if (d > 0).any() else 1.0, 1e-9), 0, 1)[..., None]
        img = img * (1 - alpha) + np.asarray(colour, np.float64) * alpha
    return img.astype(np.uint8)


def _two_columns(points: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, 2): the first two columns; one column is spread over a second axis of
    zeros plus a small jitter, so 1-D data still draws as a band."""
    p = np.asarray(points, np.float64).reshape(len(points), -1)
    if p.shape[1] >= 2:
        return p[:, :2]
    jitter = np.random.default_rng(0).uniform(-0.5, 0.5, len(p)) * (np.ptp(p) or 1.0) * 0.05
    return np.stack([p[:, 0], jitter], 1)


def picture(samples: np.ndarray, reference: np.ndarray | None = None, nrow: int | None = None) -> np.ndarray:
    """The picture of samples as the CLI and run folders save it: a grid for images
    ``(N, C, H, W)``, a scatter image for vectors ``(N, D)``."""
    samples = np.asarray(samples)
    if samples.ndim == 4:
        return make_grid(samples, nrow)
    return scatter_image(samples, reference)


#: File suffixes a picture can be saved under, and the Pillow format each names.
PICTURE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


def picture_format(path: str | Path) -> str | None:
    """The Pillow format a file's suffix names (``x.jpg`` -> ``JPEG``), or ``None``."""
    return PICTURE_FORMATS.get(Path(path).suffix.lower())


def image_bytes(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    arr = pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels
    buf = io.BytesIO()
    # JPEG's default quality (75) smears the one-pixel gaps of a grid
    Image.fromarray(arr).save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def png_bytes(pixels: np.ndarray) -> bytes:
    return image_bytes(pixels, "PNG")


def save_picture(path: str | Path, pixels: np.ndarray, scale: int = 1) -> Path:
    """Save uint8 pixels (H, W), (H, W, 1) or (H, W, 3) in the format the suffix of ``path``
    names (:data:`PICTURE_FORMATS`), enlarged ``scale`` times. An unknown suffix raises
    :class:`ValueError`."""
    from genstudio.files import atomic_write_bytes

    fmt = picture_format(path)
    if fmt is None:
        raise ValueError(f"{path}: not a picture file name; use one of {', '.join(PICTURE_FORMATS)}")
    if scale > 1:
        pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    return atomic_write_bytes(path, image_bytes(pixels, fmt))


def save_png(path: str | Path, pixels: np.ndarray, scale: int = 1) -> Path:
    """Save uint8 pixels (H, W), (H, W, 1) or (H, W, 3) as PNG, enlarged ``scale`` times."""
    from genstudio.files import atomic_write_bytes

    if scale > 1:
        pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    return atomic_write_bytes(path, png_bytes(pixels))
