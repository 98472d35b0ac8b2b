"""A learned graph drawn as nodes and arrows (a Bayesian network's structure).

Nodes sit in rows by depth (roots on top, each child below its deepest parent), spread
evenly within a row; arrows run from parent to child, thicker for stronger edges.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QWidget

NODE_W, NODE_H = 120.0, 34.0
GAP_X, GAP_Y = 40.0, 70.0


def depths(nodes: list[str], edges: list[list[str]]) -> list[int]:
    """Each node's depth: 0 for roots, else one more than its deepest parent."""
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        parents[b].append(a)
    memo: dict[str, int] = {}

    def depth(n: str, seen: frozenset = frozenset()) -> int:
        if n not in memo:
            if n in seen:  # a cycle (never from a valid network): stop rather than recurse forever
                return 0
            memo[n] = 1 + max((depth(p, seen | {n}) for p in parents[n]), default=-1)
        return memo[n]

    return [depth(n) for n in nodes]


def layout(structure: dict[str, Any]) -> dict[str, QPointF]:
    """Centre of each node's box."""
    nodes = list(structure.get("nodes", []))
    levels = structure.get("layers") or depths(nodes, structure.get("edges", []))
    rows: dict[int, list[str]] = {}
    for name, level in zip(nodes, levels):
        rows.setdefault(int(level), []).append(name)
    widest = max((len(r) for r in rows.values()), default=1)
    total_w = widest * NODE_W + (widest - 1) * GAP_X
    out = {}
    for level, names in sorted(rows.items()):
        row_w = len(names) * NODE_W + (len(names) - 1) * GAP_X
        x0 = (total_w - row_w) / 2 + NODE_W / 2
        for i, name in enumerate(names):
            out[name] = QPointF(x0 + i * (NODE_W + GAP_X), level * (NODE_H + GAP_Y) + NODE_H / 2)
    return out


class GraphView(QGraphicsView):
    node_clicked = Signal(str)  # the name of the node under a click

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.structure: dict[str, Any] = {}

    def show_graph(self, structure: dict[str, Any]) -> None:
        self.structure = dict(structure)
        scene = self.scene()
        scene.clear()
        centres = layout(structure)
        edges = structure.get("edges", [])
        strengths = structure.get("strength") or [1.0] * len(edges)
        top = max((abs(float(s)) for s in strengths), default=1.0) or 1.0
        for (a, b), strength in zip(edges, strengths):
            width = 1.0 + 3.0 * abs(float(strength)) / top
            self._arrow(centres[a], centres[b], width)
        font = QFont()
        font.setPointSize(9)
        types = structure.get("types") or ["categorical"] * len(centres)
        for (name, centre), kind in zip(centres.items(), types):
            rect = QRectF(centre.x() - NODE_W / 2, centre.y() - NODE_H / 2, NODE_W, NODE_H)
            fill = QColor(210, 228, 248) if kind == "categorical" else QColor(250, 226, 200)
            box = scene.addRect(rect, QPen(QColor(60, 60, 60), 1.2), QBrush(fill))
            box.setToolTip(f"{name} ({kind})")
            box.setData(0, name)
            text = scene.addSimpleText(name if len(name) <= 16 else name[:15] + "…", font)
            br = text.boundingRect()
            text.setPos(centre.x() - br.width() / 2, centre.y() - br.height() / 2)
            text.setData(0, name)
        scene.setSceneRect(scene.itemsBoundingRect().adjusted(-20, -20, 20, 20))
        self.fitInView(scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def _arrow(self, start: QPointF, end: QPointF, width: float) -> None:
        # from the bottom edge of the parent's box to the top edge of the child's (or sides)
        dx, dy = end.x() - start.x(), end.y() - start.y()
        length = math.hypot(dx, dy) or 1.0
        ux, uy = dx / length, dy / length
        trim_start = _to_box_edge(ux, uy)
        trim_end = _to_box_edge(-ux, -uy)
        a = QPointF(start.x() + ux * trim_start, start.y() + uy * trim_start)
        b = QPointF(end.x() - ux * trim_end, end.y() - uy * trim_end)
        pen = QPen(QColor(70, 90, 120), width)
        path = QPainterPath(a)
        path.lineTo(b)
        self.scene().addPath(path, pen)
        head = 8.0 + width
        left = QPointF(b.x() - ux * head - uy * head * 0.5, b.y() - uy * head + ux * head * 0.5)
        right = QPointF(b.x() - ux * head + uy * head * 0.5, b.y() - uy * head - ux * head * 0.5)
        self.scene().addPolygon(QPolygonF([b, left, right]), pen, QBrush(QColor(70, 90, 120)))

    def show_posteriors(self, posteriors: dict[str, dict[str, float]], evidence: dict[str, str]) -> None:
        """The graph again with each node's distribution as bars below it (the six likeliest
        values); nodes given as evidence are outlined in orange with their value."""
        self.show_graph(self.structure)
        centres = layout(self.structure)
        font = QFont()
        font.setPointSize(7)
        bar_w = NODE_W - 56
        for name, dist in posteriors.items():
            if name not in centres:
                continue
            c = centres[name]
            if name in evidence:
                rect = QRectF(c.x() - NODE_W / 2 - 3, c.y() - NODE_H / 2 - 3, NODE_W + 6, NODE_H + 6)
                self.scene().addRect(rect, QPen(QColor(230, 126, 34), 3))
            top = sorted(dist.items(), key=lambda kv: -kv[1])[:6]
            for i, (value, p) in enumerate(top):
                y = c.y() + NODE_H / 2 + 3 + i * 10
                x = c.x() - NODE_W / 2
                colour = QColor(230, 126, 34) if name in evidence else QColor(52, 120, 190)
                self.scene().addRect(QRectF(x + 40, y, max(1.0, bar_w * p), 8), QPen(Qt.PenStyle.NoPen), QBrush(colour))
                label = self.scene().addSimpleText(value if len(value) <= 7 else value[:6] + "…", font)
                label.setPos(x, y - 2)
                pct = self.scene().addSimpleText(f"{100 * p:.0f}%", font)
                pct.setPos(x + 42 + bar_w * p, y - 2)
        scene = self.scene()
        scene.setSceneRect(scene.itemsBoundingRect().adjusted(-20, -20, 20, 20))
        self.fitInView(scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        for item in self.items(event.position().toPoint()):
            name = item.data(0)
            if isinstance(name, str):
                self.node_clicked.emit(name)
                return
        super().mousePressEvent(event)

    def edge_count(self) -> int:
        return len(self.structure.get("edges", []))

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.scene().items():
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)


def _to_box_edge(ux: float, uy: float) -> float:
    """Distance from a box's centre to its edge along the unit direction (ux, uy)."""
    tx = (NODE_W / 2) / abs(ux) if ux else math.inf
    ty = (NODE_H / 2) / abs(uy) if uy else math.inf
    return min(tx, ty)
