"""The Sweep tab's live plots (pyqtgraph): optimisation history, intermediate values against
steps, parallel coordinates, parameter importances. Each takes the trials as plain rows
(``{"trial", "state", "params", "value", "intermediate"}``) and redraws when told to; the tab
marks them dirty as events arrive and redraws them from a timer."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg

COMPLETE = (52, 101, 164)
PRUNED = (150, 150, 150)
FAILED = (192, 57, 43)
BEST = (230, 126, 34)


def _pen(color: tuple, width: float = 1.5, **kw: Any) -> Any:
    return pg.mkPen(color=color, width=width, **kw)


def robust_range(values: list[float], maximize: bool) -> tuple[float, float] | None:
    """A y range that shows the good values and the usual ones: a diverged trial (a loss of
    1e8) would otherwise flatten every other point onto one line. Outliers lie outside."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return None
    if maximize:
        v = -v
    lo, q = float(v.min()), float(np.quantile(v, 0.75))
    hi = min(float(v.max()), q + 1.5 * (q - lo)) if q > lo else float(v.max())
    if hi <= lo:
        hi = lo + max(1e-9, abs(lo) * 0.1)
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    return (-hi, -lo) if maximize else (lo, hi)


class HistoryPlot(pg.PlotWidget):
    """The objective of each finished trial, and the best so far as a step line."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.setTitle("Optimisation history")
        self.setLabel("bottom", "trial")
        self.setLabel("left", "objective")
        self.showGrid(x=True, y=True, alpha=0.2)
        self.addLegend(offset=(-10, 10))
        self.complete = self.plot([], [], pen=None, symbol="o", symbolBrush=COMPLETE, name="complete")
        self.pruned = self.plot([], [], pen=None, symbol="x", symbolPen=_pen(PRUNED), name="pruned")
        self.best = self.plot([], [], pen=_pen(BEST, 2), stepMode=None, name="best so far")

    def redraw(self, rows: list[dict], maximize: bool) -> None:
        done = sorted((r for r in rows if r["value"] is not None and r["state"] in ("complete", "pruned")),
                      key=lambda r: r["trial"])  # fmt: skip
        comp = [(r["trial"], r["value"]) for r in done if r["state"] == "complete"]
        prun = [(r["trial"], r["value"]) for r in done if r["state"] == "pruned"]
        self.complete.setData(*(zip(*comp) if comp else ([], [])))
        self.pruned.setData(*(zip(*prun) if prun else ([], [])))
        xs, ys, best = [], [], None
        for t, v in comp:
            if best is None or (v > best if maximize else v < best):
                best = v
            xs.append(t)
            ys.append(best)
        self.best.setData(xs, ys)
        span = robust_range([v for _, v in comp + prun], maximize)
        if span is not None:
            self.setYRange(*span)


class IntermediatePlot(pg.PlotWidget):
    """Every trial's reported values against steps; pruned trials dashed, ending in a cross."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.setTitle("Intermediate values")
        self.setLabel("bottom", "step")
        self.setLabel("left", "objective")
        self.showGrid(x=True, y=True, alpha=0.2)
        self.curves: dict[int, Any] = {}
        self.ends = pg.ScatterPlotItem(symbol="x", size=12, pen=_pen(FAILED, 2), brush=None)
        self.addItem(self.ends)

    def redraw(self, rows: list[dict], maximize: bool = False) -> None:
        ends = []
        for r in rows:
            points = r["intermediate"]
            curve = self.curves.get(r["trial"])
            if curve is None:
                curve = self.curves[r["trial"]] = self.plot([], [])
            state = r["state"]
            color = {"pruned": PRUNED, "failed": FAILED, "running": BEST}.get(state, COMPLETE)
            style = pg.QtCore.Qt.PenStyle.DashLine if state == "pruned" else pg.QtCore.Qt.PenStyle.SolidLine
            curve.setPen(_pen(color, 1.5, style=style))
            if points:
                steps, values = zip(*points)
                curve.setData(list(steps), list(values))
                if state == "pruned":
                    ends.append({"pos": (steps[-1], values[-1])})
        self.ends.setData(ends)
        span = robust_range([v for r in rows for _, v in r["intermediate"]], maximize)
        if span is not None:
            self.setYRange(*span)

    def clear_curves(self) -> None:
        for curve in self.curves.values():
            self.removeItem(curve)
        self.curves.clear()
        self.ends.setData([])


class ParallelCoordinates(pg.PlotWidget):
    """One line per complete trial across an axis per parameter and a last axis for the
    objective, each scaled to [0, 1] over the values seen (log parameters on a log scale);
    the better the trial, the darker and thicker its line."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.setTitle("Parallel coordinates")
        self.setMouseEnabled(x=False, y=False)
        self.hideAxis("left")
        self.lines: list[Any] = []

    def redraw(self, rows: list[dict], space: list[dict], maximize: bool) -> None:
        for line in self.lines:
            self.removeItem(line)
        self.lines = []
        done = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
        names = [d["name"] for d in space]
        self.getAxis("bottom").setTicks([[(i, n) for i, n in enumerate([*names, "value rank"])]])
        if not done or not names:
            return
        columns = []
        for d in space:
            columns.append(_scaled([r["params"].get(d["name"]) for r in done], d))
        values = np.array([r["value"] for r in done], dtype=float)
        # the objective by rank (best at the top): one diverged trial does not squash the rest
        ranks = np.argsort(np.argsort(values if maximize else -values))
        columns.append(list(ranks / max(1, len(values) - 1)))
        cols = np.array(columns).T  # (trials, axes)
        order = np.argsort(values if maximize else -values)  # the best drawn last, on top
        rank = np.empty(len(order))
        rank[order] = np.linspace(0.15, 1.0, len(order)) if len(order) > 1 else [1.0]
        for i in order:
            shade = int(220 - 190 * rank[i])
            line = self.plot(
                np.arange(cols.shape[1]), cols[i], pen=_pen((shade, shade, 255 - shade // 3), 1 + 2 * rank[i])
            )
            self.lines.append(line)
        self.setXRange(-0.2, len(names) + 0.2)
        self.setYRange(-0.05, 1.05)


def _scaled(values: list[Any], dim: dict) -> list[float]:
    """Values on one axis of the parallel coordinates, in [0, 1]; categories by their order."""
    if dim.get("choices") is not None:
        choices = list(dim["choices"])
        n = max(1, len(choices) - 1)
        return [choices.index(v) / n if v in choices else 0.5 for v in values]
    xs = [float(v) for v in values]
    if dim.get("log"):
        xs = [math.log(max(x, 1e-300)) for x in xs]
    lo, hi = min(xs), max(xs)
    return [0.5 if hi == lo else (x - lo) / (hi - lo) for x in xs]


class ImportancePlot(pg.PlotWidget):
    """Optuna's fANOVA importances, one horizontal bar per parameter."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.setTitle("Parameter importances")
        self.setMouseEnabled(x=False, y=False)
        self.bars: Any = None
        self.note = pg.TextItem("", anchor=(0.5, 0.5), color=(120, 120, 120))
        self.addItem(self.note)
        self.note.setPos(0.5, 0.5)

    def redraw(self, importances: dict[str, float], why: str = "") -> None:
        if self.bars is not None:
            self.removeItem(self.bars)
            self.bars = None
        self.note.setText(why if not importances else "")
        if not importances:
            self.getAxis("left").setTicks([[]])
            return
        items = sorted(importances.items(), key=lambda kv: kv[1])
        ys = np.arange(len(items))
        self.bars = pg.BarGraphItem(x0=0, y=ys, height=0.6, width=[v for _, v in items], brush=COMPLETE)
        self.addItem(self.bars)
        self.getAxis("left").setTicks([[(i, name) for i, (name, _) in enumerate(items)]])
        self.setXRange(0, 1)
        self.setYRange(-0.6, len(items) - 0.4)
