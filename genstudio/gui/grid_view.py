"""A zoomable, pannable view of a sample grid that says which sample was clicked."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

from genstudio.gui.images import to_pixmap


def cell_at(x: float, y: float, n: int, h: int, w: int, pad: int = 1, cols: int | None = None) -> int | None:
    """Which example of a :func:`~genstudio.data.grid.make_grid` grid holds pixel (x, y)."""
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    col, row = int((x - pad) // (w + pad)), int((y - pad) // (h + pad))
    if x < pad or y < pad or col >= cols or col < 0 or row < 0:
        return None
    inside_x = (x - pad) - col * (w + pad) < w
    inside_y = (y - pad) - row * (h + pad) < h
    index = row * cols + col
    return index if inside_x and inside_y and index < n else None


class GridView(QGraphicsView):
    """Shows a picture; the wheel zooms around the mouse, dragging pans, a double click fits
    the picture to the view again, a click emits ``clicked(x, y)`` in the picture's pixel
    coordinates."""

    clicked = Signal(float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.FastTransformation)  # crisp pixels
        self.scene().addItem(self.item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setBackgroundBrush(Qt.GlobalColor.darkGray)
        self._press: QPointF | None = None
        self._fit = True

    def show_pixels(self, pixels: np.ndarray) -> None:
        self.show_pixmap(to_pixmap(pixels))

    def show_pixmap(self, pixmap: QPixmap) -> None:
        first = self.item.pixmap().isNull() or self.item.pixmap().size() != pixmap.size()
        self.item.setPixmap(pixmap)
        self.scene().setSceneRect(self.item.boundingRect())
        if first and self._fit:
            self.fit()

    def fit(self) -> None:
        if not self.item.pixmap().isNull():
            self.fitInView(self.item, Qt.AspectRatioMode.KeepAspectRatio)
            self._fit = True

    def zoom(self, factor: float) -> None:
        self._fit = False
        self.scale(factor, factor)

    def wheelEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def mouseDoubleClickEvent(self, event: Any) -> None:  # noqa: N802
        self.fit()

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802
        self._press = event.position()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802
        super().mouseReleaseEvent(event)
        if self._press is not None and (event.position() - self._press).manhattanLength() < 4:
            p = self.mapToScene(event.position().toPoint())
            self.clicked.emit(p.x(), p.y())
        self._press = None
