"""The GenStudio window: Data and Model docks, the Training, Samples, Latent and Runs tabs,
menus with the shortcuts, a status bar with the device and memory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QTabWidget,
)

from genstudio import __version__
from genstudio.api import GenStudioError
from genstudio.gui import theme
from genstudio.gui.apply_tab import ApplyTab
from genstudio.gui.data_panel import DataPanel
from genstudio.gui.evaluate_tab import EvaluateTab
from genstudio.gui.latent_tab import LatentTab
from genstudio.gui.model_access import ModelAccess
from genstudio.gui.model_panel import ModelPanel
from genstudio.gui.plugin_manager import PluginManagerDialog
from genstudio.gui.runs_tab import RunsTab
from genstudio.gui.samples_tab import SamplesTab
from genstudio.gui.state import Studio
from genstudio.gui.sweep_tab import SweepTab
from genstudio.gui.training_tab import TrainingTab
from genstudio.gui.workers import run_in_background
from genstudio.runs.workspace import Workspace

DEFAULT_DATA = "mnist"
DOCK_WIDTH = 380
DOCK_MIN_WIDTH = 260
MAX_RECENT = 8


def load_plugins(workspace: Workspace) -> Any:
    from genstudio.host import create_plugin_manager

    host = create_plugin_manager(workspace.root)
    warm_up_torch()
    return host


def warm_up_torch() -> None:
    """Pay torch's one-time costs now, while the window waits for the user, not in the first
    second of training. torch.optim imports torch._dynamo (hundreds of modules, long stretches
    of it holding the interpreter lock) on an optimizer's first step: in the training thread,
    that stalled the window for over 100 ms just after Start."""
    import torch
    import torch._dynamo

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.LazyLinear(1))
    opt = torch.optim.Adam(net.parameters())
    net(torch.zeros(2, 1, 6, 6)).sum().backward()
    opt.step()


def device_description() -> str:
    """The device training picks with ``--device auto``, named for the status bar."""
    from genstudio.training.device import describe, resolve_device

    return describe(resolve_device("auto"))


def memory_text() -> str:
    rss = 0
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    text = f"memory {rss / 2**30:.2f} GiB"
    import sys

    torch = sys.modules.get("torch")  # only report the GPU once torch is in use anyway
    if torch is not None and torch.cuda.is_available():
        text += f" · GPU {torch.cuda.memory_allocated() / 2**30:.2f} GiB"
    return text


class MainWindow(QMainWindow):
    def __init__(self, studio: Studio, settings: QSettings | None = None):
        super().__init__()
        self.studio = studio
        self.settings = settings or QSettings()
        self.setWindowTitle("GenStudio")
        self.setAcceptDrops(True)
        self._default_size()

        self.access = ModelAccess(studio, self)
        self.plugin_manager: Any = None
        self.data_panel = DataPanel(studio)
        self.model_panel = ModelPanel(studio)
        self.training = TrainingTab(studio, self.model_panel.config_values)
        self.samples = SamplesTab(studio, self.access)
        self.latent = LatentTab(studio, self.access)
        self.evaluate = EvaluateTab(studio)
        self.sweep = SweepTab(studio, self.model_panel.config_values, self.model_panel.form.set_values)
        self.apply = ApplyTab(studio, self.access)
        self.runs = RunsTab(studio)
        self.runs.continue_requested.connect(self._continue_run)
        studio.run_opened.connect(lambda _: self.tabs.setCurrentWidget(self.samples))
        self.sweep.run_requested.connect(self._show_run)
        self.sweep.best_applied.connect(lambda _: self.tabs.setCurrentWidget(self.training))

        self.tabs = QTabWidget()
        self.tabs.addTab(self.training, "Training")
        self.tabs.addTab(self.samples, "Samples")
        self.tabs.addTab(self.latent, "Latent")
        self.tabs.addTab(self.evaluate, "Evaluate")
        self.tabs.addTab(self.sweep, "Sweep")
        self.tabs.addTab(self.apply, "Apply")
        self.tabs.addTab(self.runs, "Runs")
        self.setCentralWidget(self.tabs)
        self.data_dock = self._dock("Data", self.data_panel, "DataDock")
        # the Model panel scrolls its own form and keeps the family list in view
        self.model_dock = self._dock("Model", self.model_panel, "ModelDock", scroll=False)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.data_dock)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.model_dock)
        self.resizeDocks([self.data_dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)

        self.device_label = QLabel("device: …")
        self.memory_label = QLabel()
        self.workspace_label = QLabel()
        self.statusBar().addWidget(self.workspace_label, 1)
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().addPermanentWidget(self.memory_label)
        self._memory_timer = QTimer(self)
        self._memory_timer.setInterval(2000)
        self._memory_timer.timeout.connect(lambda: self.memory_label.setText(memory_text()))
        self._memory_timer.start()
        self.memory_label.setText(memory_text())

        self._make_menus()
        studio.workspace_changed.connect(self._workspace_changed)
        studio.plugins_loaded.connect(self._plugins_loaded)
        studio.training_started.connect(lambda _: self._update_actions())
        studio.training_ended.connect(lambda _: self._update_actions())
        studio.training_started.connect(lambda s: self.device_label.setText(f"device: {s.trainer.run.device}"))
        self._workspace_changed(studio.workspace)
        self._restore()

    def _default_size(self) -> None:
        """1400x900, or 90% of a smaller screen."""
        screen = QApplication.primaryScreen()
        if screen is None:
            self.resize(1400, 900)
            return
        room = screen.availableGeometry()
        self.resize(min(1400, int(room.width() * 0.9)), min(900, int(room.height() * 0.9)))

    def _dock(self, title: str, widget: Any, name: str, scroll: bool = True) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        if scroll:
            area = QScrollArea()
            area.setWidget(widget)
            area.setWidgetResizable(True)
            widget = area
        # a dock never shrinks below usable: a window first shown narrow and then widened
        # would otherwise keep docks a few dozen pixels wide
        widget.setMinimumWidth(DOCK_MIN_WIDTH)
        dock.setWidget(widget)
        return dock

    # -- menus and shortcuts ------------------------------------------------------------------

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "Open &workspace…", self.choose_workspace, QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Recent workspaces")
        self._action(file, "Open data &folder…", self.data_panel.choose_folder)
        self._action(file, "Open data f&ile…", self.data_panel.choose_file)
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        run = bar.addMenu("&Run")
        self.start_action = self._action(run, "&Start training", self.training.start, "Ctrl+Return")
        self.pause_action = self._action(run, "&Pause / resume", self.training.toggle_pause, "Space")
        self.stop_action = self._action(run, "S&top (with a checkpoint)", self.training.stop, "Escape")

        view = bar.addMenu("&View")
        self.theme_actions = {}
        for name in theme.THEMES:
            action = self._action(view, f"{name.capitalize()} theme", lambda _=False, n=name: self.set_theme(n))
            action.setCheckable(True)
            self.theme_actions[name] = action
        view.addSeparator()
        self._action(view, "Reset the layout", self.reset_layout)

        self.plugins_menu = bar.addMenu("&Plugins")
        self._action(self.plugins_menu, "Manage plugins…", self.show_plugins)

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About GenStudio", self.about)
        self._update_actions()

    def _update_actions(self) -> None:
        running = self.training.running
        self.pause_action.setEnabled(running)
        self.stop_action.setEnabled(running)

    def set_theme(self, name: str) -> None:
        theme.apply(QApplication.instance(), name, self)
        for n, action in self.theme_actions.items():
            action.setChecked(n == name)
        self.settings.setValue("theme", name)

    def reset_layout(self) -> None:
        for dock in (self.data_dock, self.model_dock):
            dock.setFloating(False)
            dock.show()
            self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

    # -- workspace and plugins ----------------------------------------------------------------

    def load_plugins(self) -> None:
        """Load the plugins in the background; the window is already up."""
        self.statusBar().showMessage("Loading plugins…")
        run_in_background(load_plugins, self.studio.workspace, on_result=self.studio.set_host,
                          on_error=lambda err: self.statusBar().showMessage(f"Plugins failed to load: {err}"))  # fmt: skip
        run_in_background(device_description, on_result=lambda d: self.device_label.setText(f"device: {d}"))

    def _plugins_loaded(self, host: Any) -> None:
        failed = host.failed()
        text = f"{len(host.models)} model families from {len(host.plugins)} plugins"
        if failed:
            text += f"; {len(failed)} failed: " + ", ".join(p.name for p in failed) + " (Plugins menu)"
        self.statusBar().showMessage(text, 8000)
        if self.studio.dataset is None and not self.data_panel.source:
            self.data_panel.select_source(DEFAULT_DATA)

    def choose_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a workspace", str(self.studio.workspace.root))
        if folder:
            self.open_workspace(folder)

    def open_workspace(self, folder: str) -> None:
        if self.training.running:
            QMessageBox.information(self, "Training", "Stop the run in progress before switching workspaces.")
            return
        try:
            workspace = Workspace(folder)
        except GenStudioError as exc:  # a file in the way, a folder that cannot be made
            QMessageBox.warning(self, "Open workspace", str(exc))
            return
        self.studio.set_workspace(workspace)
        self.load_plugins()  # the drop-in folder is the workspace's own

    def _workspace_changed(self, workspace: Workspace) -> None:
        self.workspace_label.setText(f"workspace: {workspace.root}")
        recent = [str(workspace.root)] + [w for w in self._recent() if w != str(workspace.root)]
        self.settings.setValue("recent_workspaces", recent[:MAX_RECENT])
        self.settings.setValue("workspace", str(workspace.root))
        self._fill_recent()

    def _recent(self) -> list[str]:
        value = self.settings.value("recent_workspaces", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for folder in self._recent():
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.open_workspace(f))

    def _continue_run(self, run_id: int, steps: Any) -> None:
        self.tabs.setCurrentWidget(self.training)
        self.training.continue_run(run_id, steps)

    def _show_run(self, run_id: int) -> None:
        self.tabs.setCurrentWidget(self.runs)
        self.runs.refresh()
        self.runs.select_run(run_id)

    def show_plugins(self) -> Any:
        """The plugin manager (one per window: it keeps pip's log while it runs)."""
        if self.plugin_manager is None:
            self.plugin_manager = PluginManagerDialog(self.studio, self)
        self.plugin_manager.show()
        self.plugin_manager.raise_()
        return self.plugin_manager

    def about(self) -> None:
        QMessageBox.about(
            self, "About GenStudio", f"GenStudio {__version__}<br>Train, inspect and evaluate generative models."
        )

    # -- drag and drop ---------------------------------------------------------------------------

    def dragEnterEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.data_dock.raise_()
            self.data_panel.open_source(urls[0])
            event.acceptProposedAction()

    # -- geometry and closing ----------------------------------------------------------------------

    def _restore(self) -> None:
        geometry = self.settings.value("geometry")
        state = self.settings.value("window_state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.set_theme(str(self.settings.value("theme", "light")))

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        session = self.training.session
        if session is not None and session.running:
            answer = QMessageBox.question(
                self, "A run is training",
                "Stop the run with a checkpoint and close GenStudio?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
            )  # fmt: skip
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            session.stop()
            self.statusBar().showMessage("Saving a checkpoint…")
            while not session.wait(0.05):  # the worker finishes the step and writes the checkpoint
                QApplication.processEvents()
            QApplication.processEvents()
        self.sweep.shutdown()  # the trial in progress stops with a checkpoint (and is marked failed)
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.access.shutdown()
        event.accept()


def default_recent(settings: QSettings) -> str | None:
    value = settings.value("workspace")
    return str(value) if value and Path(str(value)).is_dir() else None
