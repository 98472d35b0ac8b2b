"""Light and dark themes: a Fusion palette for the widgets and matching plot colours."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette

THEMES = ("light", "dark")

_DARK = {
    QPalette.ColorRole.Window: "#2b2d30",
    QPalette.ColorRole.WindowText: "#dfe1e5",
    QPalette.ColorRole.Base: "#1e1f22",
    QPalette.ColorRole.AlternateBase: "#2b2d30",
    QPalette.ColorRole.ToolTipBase: "#3c3f41",
    QPalette.ColorRole.ToolTipText: "#dfe1e5",
    QPalette.ColorRole.Text: "#dfe1e5",
    QPalette.ColorRole.Button: "#393b40",
    QPalette.ColorRole.ButtonText: "#dfe1e5",
    QPalette.ColorRole.BrightText: "#ff6b68",
    QPalette.ColorRole.Highlight: "#2f65ca",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.PlaceholderText: "#8c8f94",
}


def apply(app: Any, name: str, window: Any = None) -> None:
    """Switch the application, and the plots already in ``window``, to a theme."""
    name = name if name in THEMES else "light"
    app.setStyle("Fusion")
    palette = app.style().standardPalette()
    if name == "dark":
        for role, colour in _DARK.items():
            palette.setColor(role, QColor(colour))
        palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6f737a"))
        palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6f737a"))
        palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#6f737a"))
    app.setPalette(palette)
    background, foreground = ("#1e1f22", "#c8c9cc") if name == "dark" else ("w", "#303030")
    pg.setConfigOptions(background=background, foreground=foreground)
    if window is not None:
        for plot in window.findChildren(pg.PlotWidget):
            plot.setBackground(background)
            item = plot.getPlotItem()
            for axis in ("left", "bottom"):
                item.getAxis(axis).setPen(foreground)
                item.getAxis(axis).setTextPen(foreground)
            if item.legend is not None:  # its labels keep the colour they were made with otherwise
                item.legend.setLabelTextColor(foreground)
