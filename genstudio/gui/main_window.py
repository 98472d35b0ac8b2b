"""The GenStudio window: Data and Model docks, the Training, Samples, Latent, Evaluate,
Sweep, Apply and Runs tabs, the menus (:mod:`genstudio.gui.menus`) and the status bar
(:mod:`genstudio.gui.status_bar`). The state they share is one
:class:`~genstudio.gui.state.Studio`."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
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
from genstudio.gui.menus import RunActions, build_menus
from genstudio.gui.model_access import ModelAccess
from genstudio.gui.model_panel import ModelPanel
from genstudio.gui.plugin_manager import PluginManagerDialog
from genstudio.gui.runs_tab import RunsTab
from genstudio.gui.samples_tab import SamplesTab
from genstudio.gui.startup import warm_up_torch
from genstudio.gui.state import Studio
from genstudio.gui.status_bar import StatusBar, device_description
from genstudio.gui.sweep_tab import SweepTab
from genstudio.gui.training_tab import TrainingTab
from genstudio.gui.workers import run_in_background, start_thread
from genstudio.runs.workspace import Workspace

DEFAULT_DATA = "mnist"
DOCK_WIDTH = 380
DOCK_MIN_WIDTH = 260
MAX_RECENT = 8


class MainWindow(QMainWindow):
    """Lays the views out and wires the menus; the state they share is ``studio``.

    Every view takes the :class:`~genstudio.gui.state.Studio` (and, when it shows a model,
    the shared :class:`~genstudio.gui.model_access.ModelAccess`) in its constructor, reads it
    and connects to its signals; none holds another view. A new tab is one line in
    :meth:`_make_tabs`."""

    def __init__(self, studio: Studio, settings: QSettings | None = None):
        super().__init__()
        self.studio = studio
        self.settings = settings or QSettings()
        self.setWindowTitle("GenStudio")
        self.setAcceptDrops(True)
        self._default_size()

        self._warmed = False
        self.access = ModelAccess(studio, self)
        self.run_actions = RunActions(studio, self)
        self.plugin_manager: Any = None
        self.data_panel = DataPanel(studio)
        self.model_panel = ModelPanel(studio)
        self.tabs = QTabWidget()
        self._make_tabs()
        self.setCentralWidget(self.tabs)
        self.data_dock = self._dock("Data", self.data_panel, "DataDock")
        # the Model panel scrolls its own form and keeps the family list in view
        self.model_dock = self._dock("Model", self.model_panel, "ModelDock", scroll=False)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.data_dock)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.model_dock)
        self.resizeDocks([self.data_dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
        self.status = StatusBar(studio)
        self.setStatusBar(self.status)
        build_menus(self)

        studio.workspace_changed.connect(self._workspace_changed)
        studio.plugins_loaded.connect(self._plugins_loaded)
        studio.families_loaded.connect(self._families_loaded)
        studio.plugins_failed.connect(lambda text: self.status.showMessage(f"Plugins failed to load: {text}"))
        studio.data_loaded.connect(self._data_loaded)
        studio.run_opened.connect(lambda _: self.tabs.setCurrentWidget(self.samples))
        studio.training_starting.connect(lambda _: self.tabs.setCurrentWidget(self.training))
        self._workspace_changed(studio.workspace)
        self._restore()

    def _make_tabs(self) -> None:
        studio, access = self.studio, self.access
        self.training = self.add_tab(TrainingTab(studio, self.run_actions), "Training")
        self.samples = self.add_tab(SamplesTab(studio, access), "Samples")
        self.latent = self.add_tab(LatentTab(studio, access), "Latent")
        self.evaluate = self.add_tab(EvaluateTab(studio), "Evaluate")
        # a sweep reads the family's hyperparameters from the studio and hands its best
        # trial's back to it, which the Model panel then shows
        self.sweep = self.add_tab(SweepTab(studio, lambda: dict(studio.config), studio.apply_config), "Sweep")
        self.apply = self.add_tab(ApplyTab(studio, access), "Apply")
        self.runs = self.add_tab(RunsTab(studio), "Runs")
        self.sweep.run_requested.connect(self._show_run)
        self.sweep.best_applied.connect(lambda _: self.tabs.setCurrentWidget(self.training))

    def add_tab(self, view: Any, title: str) -> Any:
        """Add a view to the central tabs; returns it."""
        self.tabs.addTab(view, title)
        return view

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

    # -- view ----------------------------------------------------------------------------------

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
        """Load the plugins in the background (unless that is under way); the window is already up."""
        if self.studio.host is None:
            self.status.showMessage("Loading plugins…")
        self.studio.load_plugins()

    def _plugins_loaded(self, host: Any) -> None:
        failed = host.failed()
        text = f"{len(host.models)} model families from {len(host.plugins)} plugins"
        if failed:
            text += f"; {len(failed)} failed: " + ", ".join(p.name for p in failed) + " (Plugins menu)"
        self.status.showMessage(text, 8000)
        if self.studio.dataset is None and not self.data_panel.source:
            self.data_panel.select_source(DEFAULT_DATA)

    def _families_loaded(self, dropped: list[str]) -> None:
        if dropped:
            self.status.showMessage(
                f"Could not import the model families {', '.join(dropped)} (Plugins menu says why)", 8000
            )
        # the device's name needs torch, which has just been imported with the families
        run_in_background(device_description, on_result=self.status.show_device)

    def _data_loaded(self, _: Any) -> None:
        """Train is on offer now: pay torch's one-time costs while the user looks (once)."""
        if not self._warmed:
            self._warmed = True
            # in a thread of its own: seconds of imports must not hold one of the pool's threads
            start_thread(warm_up_torch)

    def choose_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a workspace", str(self.studio.workspace.root))
        if folder:
            self.open_workspace(folder)

    def open_workspace(self, folder: str) -> None:
        if self.studio.busy:
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
        session = self.studio.session
        if self.studio.running:
            answer = QMessageBox.question(
                self, "A run is training",
                "Stop the run with a checkpoint and close GenStudio?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
            )  # fmt: skip
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            session.stop()
            self.status.showMessage("Saving a checkpoint…")
            while not session.wait(0.05):  # the worker finishes the step and writes the checkpoint
                QApplication.processEvents()
            QApplication.processEvents()
        self.sweep.shutdown()  # the trial in progress stops with a checkpoint (and is marked failed)
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.access.shutdown()
        event.accept()
