"""numpy pictures to Qt images, and Qt images to PNG."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_qimage(pixels: np.ndarray) -> QImage:
    """uint8 pixels (H, W), (H, W, 1) or (H, W, 3) -> a QImage that owns its memory."""
    arr = np.ascontiguousarray(pixels)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        image = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8)
    else:
        image = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888)
    return image.copy()  # detach from the numpy buffer


def to_pixmap(pixels: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(pixels))
