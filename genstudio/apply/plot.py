"""ROC and precision-recall curves drawn to a PNG with Pillow (the CLI has no Qt)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from genstudio.apply.anomaly import Curves
from genstudio.files import atomic_write_bytes

PANEL, MARGIN = 360, 48


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _panel(draw: ImageDraw.ImageDraw, x0: int, y0: int, xs: np.ndarray, ys: np.ndarray, labels: tuple, title: str):
    font, small = _font(15), _font(12)
    left, top, size = x0 + MARGIN, y0 + 30, PANEL - MARGIN - 16

    def px(x: float, y: float) -> tuple[float, float]:
        return left + x * size, top + (1 - y) * size

    draw.rectangle([left, top, left + size, top + size], outline=(90, 90, 90))
    for t in (0.25, 0.5, 0.75):
        draw.line([px(t, 0), px(t, 1)], fill=(225, 225, 225))
        draw.line([px(0, t), px(1, t)], fill=(225, 225, 225))
    for t in (0.0, 0.5, 1.0):
        draw.text((px(t, 0)[0] - 8, top + size + 4), f"{t:g}", fill=(60, 60, 60), font=small)
        draw.text((left - 26, px(0, t)[1] - 7), f"{t:g}", fill=(60, 60, 60), font=small)
    draw.text((left, y0 + 6), title, fill=(0, 0, 0), font=font)
    draw.text((left + size / 2 - 40, top + size + 20), labels[0], fill=(40, 40, 40), font=small)
    draw.text((x0 + 2, top - 18), labels[1], fill=(40, 40, 40), font=small)
    return px


def write_curves_png(path: str | Path, c: Curves, title: str = "") -> Path:
    """Two panels, ROC (with the chance diagonal) and precision-recall, each with its area."""
    img = Image.new("RGB", (2 * PANEL, PANEL + 40), "white")
    draw = ImageDraw.Draw(img)
    blue = (31, 119, 180)
    px = _panel(draw, 0, 20, c.fpr, c.tpr, ("false positive rate", "true positive rate"), f"ROC, AUROC {c.auroc:.4f}")
    draw.line([px(0, 0), px(1, 1)], fill=(170, 170, 170), width=1)
    draw.line([px(float(a), float(b)) for a, b in zip(c.fpr, c.tpr)], fill=blue, width=2)
    px = _panel(
        draw,
        PANEL,
        20,
        c.recall,
        c.precision,
        ("recall", "precision"),
        f"PR, average precision {c.average_precision:.4f}",
    )
    base = float(
        c.precision[-1]
    )  # at recall 1 every example is flagged: the share of anomalies: a random ranking's precision
    draw.line([px(0, base), px(1, base)], fill=(170, 170, 170), width=1)
    # the PR curve as sklearn draws it: a step down to each threshold's precision
    points, prev = [px(0.0, float(c.precision[0]))], float(c.precision[0])
    for r, p in zip(c.recall, c.precision):
        points += [px(float(r), prev), px(float(r), float(p))]
        prev = float(p)
    draw.line(points, fill=blue, width=2)
    if title:
        draw.text((8, 4), title, fill=(0, 0, 0), font=_font(14))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return atomic_write_bytes(Path(path), buf.getvalue())
