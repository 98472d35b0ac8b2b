"""An image on which the mouse draws a mask: a rectangle by dragging, or strokes of a brush."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from genstudio.data.grid import to_uint8
from genstudio.gui.images import to_pixmap


class MaskCanvas(QWidget):
    """Shows ``(C, H, W)`` images in [0, 1] scaled to fit, with the masked (missing) pixels in
    red. ``mode`` is ``"rectangle"`` or ``"brush"``; ``mask`` is ``(H, W)`` bool, True where a
    pixel is missing. ``mask_changed`` fires after every stroke."""

    mask_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 120)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.image: np.ndarray | None = None
        self.mask: np.ndarray | None = None
        self.mode = "rectangle"
        self.brush = 1  # radius in image pixels
        self._start: tuple[int, int] | None = None
        self._before: np.ndarray | None = None
        self._pixmap: Any = None

    def set_image(self, image: np.ndarray) -> None:
        """A new image; the mask is kept when the size is the same, else cleared."""
        h, w = image.shape[-2:]
        if self.mask is None or self.mask.shape != (h, w):
            self.mask = np.zeros((h, w), bool)
        self.image = image
        self._render()

    def clear(self) -> None:
        if self.mask is not None:
            self.mask[:] = False
            self._render()
            self.mask_changed.emit()

    def set_box(self, x: int, y: int, w: int, h: int) -> None:
        """Mask the rectangle at column x, row y (what a drag does)."""
        if self.mask is not None:
            self.mask[:] = False
            self.mask[max(0, y) : y + h, max(0, x) : x + w] = True
            self._render()
            self.mask_changed.emit()

    def _render(self) -> None:
        if self.image is None:
            self._pixmap = None
        else:
            rgb = to_uint8(np.repeat(self.image, 3, 0) if self.image.shape[0] == 1 else self.image[:3]).transpose(
                1, 2, 0
            )
            rgb = rgb.copy()
            if self.mask is not None:
                rgb[self.mask] = (rgb[self.mask] * 0.35 + np.array([220, 40, 40]) * 0.65).astype(np.uint8)
            self._pixmap = to_pixmap(rgb)
        self.update()

    def _target(self) -> QRectF:
        if self.image is None:
            return QRectF()
        h, w = self.image.shape[-2:]
        scale = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def pixel_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The image pixel (column, row) under widget point (x, y), or None outside it."""
        r = self._target()
        if r.isEmpty() or not r.contains(x, y):
            return None
        h, w = self.image.shape[-2:]
        return min(w - 1, int((x - r.x()) / r.width() * w)), min(h - 1, int((y - r.y()) / r.height() * h))

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self._pixmap is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawPixmap(self._target(), self._pixmap, QRectF(self._pixmap.rect()))
        painter.end()

    def _paint_brush(self, col: int, row: int) -> None:
        h, w = self.mask.shape
        yy, xx = np.ogrid[:h, :w]
        self.mask |= (xx - col) ** 2 + (yy - row) ** 2 <= self.brush**2

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        p = self.pixel_at(event.position().x(), event.position().y())
        if p is None or self.mask is None:
            return
        self._start = p
        self._before = self.mask.copy()
        if self.mode == "brush":
            self._paint_brush(*p)
            self._render()

    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self._start is None:
            return
        p = self.pixel_at(event.position().x(), event.position().y())
        if p is None:
            return
        if self.mode == "brush":
            self._paint_brush(*p)
        else:
            (x0, y0), (x1, y1) = self._start, p
            self.mask[:] = False
            self.mask[min(y0, y1) : max(y0, y1) + 1, min(x0, x1) : max(x0, x1) + 1] = True
        self._render()

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self._start is not None:
            self.mouseMoveEvent(event)
            self._start = None
            self.mask_changed.emit()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.update()
