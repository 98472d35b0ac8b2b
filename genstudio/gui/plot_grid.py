"""Grid lines at the axes' ticks, drawn as one line item per tick level.

pyqtgraph draws ``showGrid`` lines as part of each axis, replaying the axis's recorded
picture across the whole view on every repaint; on this project's 2-core machine that took
13 ms per axis per frame, two thirds of a loss plot's frame (``bench/ui_latency.py``). The
same lines as plain segments in the view cost next to nothing, so :class:`TickGrid` puts
them there, at the very positions and with the fading the axes' own grid would use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg

GREY = (128, 128, 128)  # reads on the light theme's white and the dark theme's near-black


class TickGrid:
    """Vertical and horizontal lines at the ticks of a plot's bottom and left axes."""

    def __init__(self, plot_item: pg.PlotItem, alpha: float = 0.3, levels: int = 2):
        self.plot_item = plot_item
        self.alpha = alpha
        self.items: list[pg.PlotCurveItem] = []
        for _ in range(levels):
            item = pg.PlotCurveItem(connect="pairs", antialias=False, skipFiniteCheck=True)
            item.setZValue(-100)  # beneath every curve
            plot_item.addItem(item, ignoreBounds=True)
            self.items.append(item)
        plot_item.vb.sigRangeChanged.connect(self.update)
        plot_item.vb.sigResized.connect(self.update)

    def update(self, *_: Any) -> None:
        vb = self.plot_item.vb
        (x0, x1), (y0, y1) = vb.viewRange()
        width, height = max(1.0, vb.width()), max(1.0, vb.height())
        xs = self.plot_item.getAxis("bottom").tickValues(x0, x1, width)
        ys = self.plot_item.getAxis("left").tickValues(y0, y1, height)
        for level, item in enumerate(self.items):
            segments = []
            alphas = []
            for ticks, pixels, across, vertical in ((xs, width, (y0, y1), True), (ys, height, (x0, x1), False)):
                if level >= len(ticks):
                    continue
                values = np.asarray(ticks[level][1], dtype=np.float64)
                if not len(values):
                    continue
                # as AxisItem fades a level's grid lines when they crowd together
                alphas.append(self.alpha / (level + 1) * float(np.clip(0.05 * pixels / (len(values) + 1), 0.0, 1.0)))
                seg = np.empty((2 * len(values), 2))
                along, other = (0, 1) if vertical else (1, 0)
                seg[:, along] = np.repeat(values, 2)
                seg[0::2, other], seg[1::2, other] = across
                segments.append(seg)
            if not segments:
                item.setData([], [])
                continue
            pts = np.concatenate(segments)
            item.setPen(pg.mkPen((*GREY, int(255 * max(alphas))), width=1))
            item.setData(pts[:, 0], pts[:, 1])
