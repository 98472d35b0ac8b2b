"""What the window works on, as one object the views take in their constructors.

:class:`Studio` holds the workspace, the plugin host, the loaded data and the chosen family,
and says when each changes. It starts nothing itself: loading goes through
:mod:`genstudio.gui.workers`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from genstudio.runs.workspace import Workspace


class Studio(QObject):
    workspace_changed = Signal(object)  # Workspace
    plugins_loaded = Signal(object)  # PluginHost
    data_loaded = Signal(object)  # Dataset
    data_cleared = Signal()
    family_changed = Signal(object)  # a model class, or None
    run_opened = Signal(object)  # RunRecord: a run to show in the Samples and Latent tabs
    training_started = Signal(object)  # TrainingSession
    training_ended = Signal(object)  # the last event

    def __init__(self, workspace: Workspace, parent: QObject | None = None):
        super().__init__(parent)
        self.workspace = workspace
        self.host: Any = None
        self.dataset: Any = None
        self.data_source: str = ""
        self.data_options: dict[str, Any] = {}
        self.family: Any = None
        self.session: Any = None  # the TrainingSession in progress, if any

    def set_workspace(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.workspace_changed.emit(workspace)

    def set_host(self, host: Any) -> None:
        self.host = host
        self.plugins_loaded.emit(host)

    def set_dataset(self, dataset: Any, source: str, options: dict[str, Any]) -> None:
        self.dataset, self.data_source, self.data_options = dataset, source, dict(options)
        self.data_loaded.emit(dataset)

    def clear_dataset(self) -> None:
        self.dataset = None
        self.data_cleared.emit()

    def set_family(self, family: Any) -> None:
        self.family = family
        self.family_changed.emit(family)

    @property
    def training(self) -> bool:
        return self.session is not None and self.session.running
