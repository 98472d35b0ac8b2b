"""Small widgets shared by the panels: an error box with details, a 2-D scatter view, and
:func:`bind`, which ties a button to an action."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractButton,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from genstudio.gui.plot_grid import TickGrid


def bind(button: QAbstractButton, action: QAction) -> None:
    """Make ``button`` trigger ``action`` and be enabled exactly when the action is, so a
    button and its menu item (and shortcut) never disagree about what can be done."""
    button.clicked.connect(action.trigger)
    action.enabledChanged.connect(button.setEnabled)
    button.setEnabled(action.isEnabled())


def message_label(text: str = "", *, one_line: bool = False) -> QLabel:
    """A label for messages that come at run time (a status, an error's summary, a path), which
    never widens the window: a QLabel asks for the width of its whole text, so one long message
    (an evaluation's list of skipped metrics) had pushed the window past the screen's right
    edge, where it stayed. Wrapped over lines; ``one_line``: cut at the right instead (a readout
    under the mouse, whose height must not jump; a path)."""
    label = QLabel(text)
    if one_line:
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        label.setMinimumWidth(1)
    else:
        label.setWordWrap(True)
    return label


def fit_rows(view: QListWidget, max_rows: int) -> None:
    """Make a list exactly as tall as its rows, up to ``max_rows`` (then it scrolls): a fixed
    maximum either cuts rows in half or leaves a blank strip under a short list."""
    rows = max(1, min(view.count(), max_rows))
    row = view.sizeHintForRow(0) if view.count() else view.fontMetrics().height() + 2
    view.setFixedHeight(rows * row + 2 * view.frameWidth() + 2)


class ErrorBox(QFrame):
    """A message in red; a traceback, when there is one, hides under a Details toggle."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ErrorBox")
        self.setStyleSheet(
            "#ErrorBox { border: 1px solid #c0392b; border-radius: 4px; background: rgba(192,57,43,0.08); }"
        )
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #c0392b;")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.toggle = QPushButton("Details")
        self.toggle.setCheckable(True)
        self.toggle.setMaximumWidth(80)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setVisible(False)
        self.details.setMinimumHeight(120)
        self.toggle.toggled.connect(self.details.setVisible)
        top = QHBoxLayout()
        top.addWidget(self.message, 1)
        top.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details)
        self.setVisible(False)

    def show_error(self, message: str, details: str | None = None) -> None:
        self.message.setText(message)
        self.details.setPlainText(details or "")
        self.toggle.setVisible(bool(details))
        self.toggle.setChecked(False)
        self.setVisible(True)

    def clear(self) -> None:
        self.setVisible(False)
        self.message.setText("")
        self.details.setPlainText("")

    def text(self) -> str:
        """The message shown (also while the box's tab is in the background)."""
        return "" if self.isHidden() else self.message.text()


class ScatterView(pg.PlotWidget):
    """Real points in grey, samples in orange, and optionally a density heatmap beneath."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAspectLocked(True)
        self.grid = TickGrid(self.getPlotItem(), alpha=0.25)
        self.density = pg.ImageItem()
        self.density.setZValue(-10)
        self.density.setVisible(False)
        self.addItem(self.density)
        self.real = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(120, 120, 120, 110))
        self.fake = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(230, 110, 20, 160))
        self.addItem(self.real)
        self.addItem(self.fake)

    def show_points(self, samples: np.ndarray | None = None, reference: np.ndarray | None = None) -> None:
        for item, pts in ((self.real, reference), (self.fake, samples)):
            if pts is None:
                continue
            pts = np.asarray(pts, dtype=np.float64).reshape(len(pts), -1)
            if pts.shape[1] == 1:
                pts = np.concatenate([pts, np.zeros_like(pts)], 1)
            finite = np.isfinite(pts[:, :2]).all(axis=1)
            item.setData(pos=pts[finite, :2])

    def show_density(self, values: np.ndarray | None, bounds: tuple[float, float, float, float] | None = None) -> None:
        """``values`` (ny, nx) log-densities over ``bounds`` (x0, x1, y0, y1), or None to hide."""
        if values is None or bounds is None:
            self.density.setVisible(False)
            return
        x0, x1, y0, y1 = bounds
        v = np.exp(values - np.nanmax(values))
        self.density.setImage(v.T, levels=(0, 1), lut=_density_lut())
        self.density.setRect(pg.QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))
        self.density.setVisible(True)

    def clear_points(self) -> None:
        self.real.setData(pos=np.zeros((0, 2)))
        self.fake.setData(pos=np.zeros((0, 2)))
        self.density.setVisible(False)


def _density_lut() -> Any:
    t = np.linspace(0, 1, 256)[:, None]
    white, blue = np.array([255, 255, 255]), np.array([60, 110, 200])
    return (white * (1 - t) + blue * t).astype(np.uint8)
