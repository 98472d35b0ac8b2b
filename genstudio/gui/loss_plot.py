"""Live loss curves, in the manner of TensorBoard, drawn the way pyqtgraph's scrolling plots are.

Points arrive into per-curve buffers that double when full; a timer redraws the curves that
changed at most 30 times a second, with peak downsampling and clip-to-view so a million
points cost what a screenful does. Every point is kept. The smoothing is TensorBoard's
debiased exponential moving average, computed incrementally as points arrive.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # fmt: skip


def ema_block(values: np.ndarray, weight: float, last: float) -> tuple[np.ndarray, float]:
    """The recursion s_t = w s_{t-1} + (1 - w) v_t over ``values`` from s_{-1} = ``last``,
    vectorised in blocks short enough that w^-k keeps its precision. Returns (s, s_last)."""
    n = len(values)
    out = np.empty(n)
    if n == 0:
        return out, last
    if weight <= 0.0:
        out[:] = values
        return out, float(values[-1])
    # within a block, s_t = w^(t+1) s_{-1} + (1 - w) w^t cumsum(v_j w^-j); w^-k stays below 1e4
    block = max(1, min(4096, int(math.log(1e4) / -math.log(weight))))
    k = np.arange(block, dtype=np.float64)
    up, down = weight**-k, weight**k
    for start in range(0, n, block):
        v = values[start : start + block]
        m = len(v)
        acc = np.cumsum(v * up[:m]) * down[:m] * (1.0 - weight)
        out[start : start + m] = acc + weight ** (k[:m] + 1) * last
        last = out[start + m - 1]
    return out, float(last)


class Curve:
    """One logged key: its points, in buffers that double when full, and their smoothing."""

    def __init__(self, key: str, item: pg.PlotDataItem, raw_item: pg.PlotDataItem):
        self.key = key
        self.item = item
        self.raw_item = raw_item
        self.n = 0
        self.steps = np.empty(1024)
        self.walls = np.empty(1024)
        self.values = np.empty(1024)
        self.smooth = np.empty(1024)
        self._state = 0.0  # the EMA before debiasing
        self.weight = 0.0
        self.dirty = False

    def _grow(self, need: int) -> None:
        size = len(self.steps)
        while size < need:
            size *= 2
        if size != len(self.steps):
            for name in ("steps", "walls", "values", "smooth"):
                old = getattr(self, name)
                new = np.empty(size)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)

    def extend(self, steps: Any, values: Any, walls: Any) -> None:
        m = len(steps)
        if not m:
            return
        self._grow(self.n + m)
        a, b = self.n, self.n + m
        self.steps[a:b] = steps
        self.values[a:b] = values
        self.walls[a:b] = walls
        self.n = b
        self._smooth_from(a)
        self.dirty = True

    def set_weight(self, weight: float) -> None:
        self.weight = weight
        self._state = 0.0
        self._smooth_from(0)
        self.dirty = True

    def _smooth_from(self, start: int) -> None:
        s, self._state = ema_block(self.values[start : self.n], self.weight, self._state)
        # TensorBoard's debiasing: divide by the weight the zero start took away
        index = np.arange(start, self.n, dtype=np.float64)
        self.smooth[start : self.n] = s / (1.0 - np.exp((index + 1) * math.log(self.weight))) if self.weight > 0 else s

    def x(self, axis: str) -> np.ndarray:
        if axis == "wall":
            return self.walls[: self.n] - self.walls[0] if self.n else self.walls[:0]
        return self.steps[: self.n]


class LossPlot(QWidget):
    """Curves per logged key, with smoothing, log-scale y, step or wall-time x, a readout
    under the mouse, and auto-range."""

    FPS = 30

    def __init__(self, parent: QWidget | None = None, prefix: str = ""):
        super().__init__(parent)
        self.prefix = prefix
        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "step")
        self.legend = self.plot.addLegend(offset=(-10, 10), brush=(128, 128, 128, 60))
        self.curves: dict[str, Curve] = {}
        self._colours: dict[str, tuple[int, int, int]] = {}
        self.x_axis = "step"

        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(60)
        self.smoothing.setMaximumWidth(160)
        self.smoothing.setToolTip("Exponential moving average weight, as in TensorBoard (0: raw values)")
        self.smoothing_label = QLabel()
        self.log_y = QCheckBox("log y")
        self.x_choice = QComboBox()
        self.x_choice.addItems(["step", "wall time (s)"])
        fit = QPushButton("Auto-range")
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smoothing)
        controls.addWidget(self.smoothing_label)
        controls.addWidget(self.log_y)
        controls.addWidget(QLabel("x:"))
        controls.addWidget(self.x_choice)
        controls.addWidget(fit)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.readout)

        self._smooth_timer = QTimer(self)  # recompute smoothing once the slider rests
        self._smooth_timer.setSingleShot(True)
        self._smooth_timer.setInterval(120)
        self._smooth_timer.timeout.connect(self._apply_smoothing)
        self.smoothing.valueChanged.connect(lambda v: (self._show_weight(), self._smooth_timer.start()))
        self.log_y.toggled.connect(lambda on: self.plot.setLogMode(y=on))
        self.x_choice.currentIndexChanged.connect(self._set_x_axis)
        fit.clicked.connect(self.auto_range)
        self._show_weight()

        self._redraw = QTimer(self)
        self._redraw.setInterval(int(1000 / self.FPS))
        self._redraw.timeout.connect(self.redraw)
        self._redraw.start()
        # at most 30 readouts a second, however fast the mouse moves
        self._mouse = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30, slot=self._mouse_moved)

    @property
    def weight(self) -> float:
        return self.smoothing.value() / 100.0

    def _show_weight(self) -> None:
        self.smoothing_label.setText(f"{self.weight:.2f}")

    # -- data ------------------------------------------------------------------------------

    def _curve(self, key: str) -> Curve:
        curve = self.curves.get(key)
        if curve is None:
            # a key and its validation twin share a colour; colours go in order of arrival
            base = key.replace("val/", "")
            colour = self._colours.setdefault(base, PALETTE[len(self._colours) % len(PALETTE)])
            dashed = "val/" in key
            pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
            raw_pen = pg.mkPen((*colour, 70), width=1)
            raw = self.plot.plot(pen=raw_pen)
            item = self.plot.plot(pen=pen, name=self.prefix + key, symbol="o" if dashed else None, symbolSize=4)
            for it in (raw, item):
                it.setDownsampling(auto=True, method="peak")
                it.setClipToView(True)
            self.legend.removeItem(raw)
            curve = Curve(key, item, raw)
            curve.weight = 0.0 if dashed else self.weight
            self.curves[key] = curve
        return curve

    def append(self, scalars: dict[str, tuple[Any, Any]], wall: float | None = None, walls: dict | None = None) -> None:
        """Add points: ``{key: (steps, values)}``; wall times per key in ``walls`` or one for all."""
        for key, (steps, values) in scalars.items():
            w = walls[key] if walls is not None else np.full(len(steps), wall if wall is not None else 0.0)
            self._curve(key).extend(steps, values, w)

    def set_series(self, data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Replace everything with ``{key: (steps, values, walls)}`` (a run read from the store)."""
        self.clear()
        for key, (steps, values, walls) in data.items():
            self._curve(key).extend(steps, values, walls)
        self.redraw()
        self.auto_range()

    def clear(self) -> None:
        for curve in self.curves.values():
            self.plot.removeItem(curve.item)
            self.plot.removeItem(curve.raw_item)
        self.curves.clear()
        self._colours.clear()
        self.legend.clear()
        self.readout.setText(" ")

    def point_count(self) -> int:
        return sum(c.n for c in self.curves.values())

    # -- drawing ----------------------------------------------------------------------------

    def redraw(self) -> None:
        for curve in self.curves.values():
            if not curve.dirty:
                continue
            x = curve.x(self.x_axis)
            smoothed = curve.weight > 0
            curve.item.setData(x, curve.smooth[: curve.n] if smoothed else curve.values[: curve.n])
            curve.raw_item.setData(x, curve.values[: curve.n]) if smoothed else curve.raw_item.setData([], [])
            curve.dirty = False

    def _apply_smoothing(self) -> None:
        for key, curve in self.curves.items():
            if "val/" not in key:
                curve.set_weight(self.weight)

    def _set_x_axis(self, index: int) -> None:
        self.x_axis = "wall" if index == 1 else "step"
        self.plot.setLabel("bottom", "wall time (s)" if index == 1 else "step")
        for curve in self.curves.values():
            curve.dirty = True
        self.redraw()
        self.auto_range()

    def auto_range(self) -> None:
        self.plot.enableAutoRange()

    def _mouse_moved(self, event: Any) -> None:
        pos = event[0]
        if not self.plot.sceneBoundingRect().contains(pos) or not self.curves:
            return
        x = self.plot.getPlotItem().vb.mapSceneToView(pos).x()
        parts = []
        where = ""
        for key, curve in self.curves.items():
            if not curve.n:
                continue
            xs = curve.x(self.x_axis)
            i = int(np.clip(np.searchsorted(xs, x), 0, curve.n - 1))
            if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
                i -= 1
            value = curve.smooth[i] if curve.weight > 0 else curve.values[i]
            parts.append(f"{key}={value:.5g}")
            if not where:
                where = f"step {int(curve.steps[i])}" if self.x_axis == "step" else f"{xs[i]:.1f} s"
        if parts:
            self.readout.setText(f"{where}:  " + "   ".join(parts))
