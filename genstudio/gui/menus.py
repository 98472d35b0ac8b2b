"""The window's actions and its menu bar.

:class:`RunActions` are Start, Pause/resume and Stop as ``QAction`` objects with their
shortcuts. Their enabled state comes from one place, the :class:`~genstudio.gui.state.Studio`,
on its ``state_changed`` signal; the Training tab's buttons are bound to the same actions
(:func:`genstudio.gui.widgets.bind`), so the Run menu, the shortcuts and the buttons always
agree on what can be done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence

from genstudio.gui import theme
from genstudio.gui.state import Studio


def make_action(parent: QObject, text: str, slot: Callable[..., Any] | None = None, shortcut: Any = None) -> QAction:
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    if slot is not None:
        action.triggered.connect(slot)
    return action


class RunActions(QObject):
    """``start`` (Ctrl+Return), ``pause`` (Space, pauses or resumes) and ``stop`` (Escape).

    ``start`` is connected by the Training tab, which holds the run's settings; ``pause`` and
    ``stop`` go straight to the studio."""

    def __init__(self, studio: Studio, parent: QObject | None = None):
        super().__init__(parent)
        self.studio = studio
        self.start = make_action(parent or self, "&Start training", shortcut="Ctrl+Return")
        self.pause = make_action(parent or self, "&Pause", studio.toggle_pause, "Space")
        self.stop = make_action(parent or self, "S&top (with a checkpoint)", studio.stop_training, "Escape")
        self.start.setToolTip("Start training (Ctrl+Return)")
        self.pause.setToolTip("Pause or resume between two steps (Space)")
        self.stop.setToolTip("Stop after this step, with a checkpoint (Escape)")
        studio.state_changed.connect(self.update)
        self.update()

    def update(self) -> None:
        studio = self.studio
        self.start.setEnabled(studio.can_start)
        self.pause.setEnabled(studio.running)
        self.stop.setEnabled(studio.running)
        self.pause.setText("&Resume" if studio.paused else "&Pause")

    def all(self) -> tuple[QAction, QAction, QAction]:
        return self.start, self.pause, self.stop


def build_menus(window: Any) -> None:
    """File, Run, View, Plugins and Help on ``window``'s menu bar. Sets ``window.recent_menu``,
    ``window.theme_actions`` and ``window.plugins_menu``."""
    bar = window.menuBar()

    def add(menu: Any, text: str, slot: Callable[..., Any], shortcut: Any = None) -> QAction:
        action = make_action(window, text, slot, shortcut)
        menu.addAction(action)
        return action

    file = bar.addMenu("&File")
    add(file, "Open &workspace…", window.choose_workspace, QKeySequence.StandardKey.Open)
    window.recent_menu = file.addMenu("Recent workspaces")
    add(file, "Open data &folder…", window.data_panel.choose_folder)
    add(file, "Open data f&ile…", window.data_panel.choose_file)
    file.addSeparator()
    add(file, "&Quit", window.close, QKeySequence.StandardKey.Quit)

    run = bar.addMenu("&Run")
    run.addActions(list(window.run_actions.all()))

    view = bar.addMenu("&View")
    window.theme_actions = {}
    for name in theme.THEMES:
        action = add(view, f"{name.capitalize()} theme", lambda _=False, n=name: window.set_theme(n))
        action.setCheckable(True)
        window.theme_actions[name] = action
    view.addSeparator()
    add(view, "Reset the layout", window.reset_layout)

    window.plugins_menu = bar.addMenu("&Plugins")
    add(window.plugins_menu, "Manage plugins…", window.show_plugins)

    help_menu = bar.addMenu("&Help")
    add(help_menu, "&About GenStudio", window.about)
