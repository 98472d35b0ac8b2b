"""What the window works on, as one object the views take in their constructors.

:class:`Studio` owns the workspace, the plugin host, the loaded data, the chosen family and
its hyperparameters, and the training session with its running and paused state. Views read
it and connect to its signals (napari's pattern: ``QtDims(dims)``); a view changes the state
only through the studio's methods, never another view's widgets, so every view sees the same
thing at the same time. The studio starts no thread itself: background work goes through
:mod:`genstudio.gui.workers`.

``state_changed`` fires whenever what the user may do now changes (start, pause, stop,
continue); actions and buttons take their enabled state from :attr:`Studio.can_start`,
:attr:`Studio.running` and :attr:`Studio.paused` on that signal, so a menu item and its button
never disagree.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from genstudio.api import GenStudioError
from genstudio.gui.startup import load_plugins
from genstudio.gui.workers import TrainingSession, new_trainer, resumed_trainer, run_in_background, start_thread
from genstudio.runs.workspace import Workspace

#: The families' classes are imported once the first data is in, or this long after the
#: plugins when no data comes (a file that fails to load).
IMPORT_FAMILIES_AFTER_MS = 1500


class Studio(QObject):
    workspace_changed = Signal(object)  # Workspace
    plugins_loaded = Signal(object)  # PluginHost: its families may be declarations still
    families_loaded = Signal(object)  # list[str]: the families imported; these could not be (taken out)
    plugins_failed = Signal(str)  # why the plugin host could not be built
    data_loaded = Signal(object)  # Dataset
    data_cleared = Signal()
    family_changed = Signal(object)  # a model class, or None
    config_changed = Signal(object)  # dict: the chosen family's hyperparameters
    config_applied = Signal(object)  # dict: hyperparameters for the Model panel's form to take
    device_changed = Signal(str)  # the device chosen to train on ("auto", "cpu", "cuda"...)
    run_opened = Signal(object)  # RunRecord: a run to show in the Samples and Latent tabs
    training_starting = Signal(str)  # what is being prepared, as a sentence for the status line
    training_not_started = Signal(str, object)  # message, details (a traceback) or None
    training_started = Signal(object)  # TrainingSession
    training_ended = Signal(object)  # the last event (Finished or Failed)
    state_changed = Signal()  # can_start, running or paused may have changed

    def __init__(self, workspace: Workspace, parent: QObject | None = None):
        super().__init__(parent)
        self.workspace = workspace
        self.host: Any = None
        self.dataset: Any = None
        self.data_source: str = ""
        self.data_options: dict[str, Any] = {}
        self.family: Any = None
        self.families_imported = False  # the host's families are classes now (and torch loaded)
        self.config: dict[str, Any] = {}
        self.config_problem = ""  # why the hyperparameters in the form are not valid, if they are not
        self.device = "auto"  # the Training tab's choice, for what a family's auto values become
        self.session: TrainingSession | None = None  # the newest session, running or ended
        self.starting = False  # a run is being prepared in the background
        self._loading: Workspace | None = None  # the workspace whose plugins are being loaded
        self._importing: Any = None  # the host whose families are being imported
        for signal in (self.plugins_loaded, self.data_loaded, self.family_changed):
            signal.connect(lambda _: self.state_changed.emit())
        self.data_cleared.connect(self.state_changed)

    # -- what the window works on ----------------------------------------------------------------

    def set_workspace(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.workspace_changed.emit(workspace)

    def load_plugins(self) -> None:
        """Build the workspace's plugin host in the background (it imports torch);
        ``plugins_loaded`` or ``plugins_failed`` follows."""
        workspace = self.workspace
        if self._loading is workspace:
            return  # already under way (the application starts it before the window is built)
        self._loading = workspace

        def loaded(host: Any) -> None:
            if self._loading is workspace:
                self._loading = None
            if self.workspace is workspace:  # a host for a workspace left meanwhile is no use
                self.set_host(host)

        start_thread(load_plugins, workspace, on_result=loaded,
                          on_error=lambda err: self._plugins_failed(workspace, err))  # fmt: skip

    def _plugins_failed(self, workspace: Workspace, err: Any) -> None:
        if self._loading is workspace:
            self._loading = None
        self.plugins_failed.emit(str(err))

    def set_host(self, host: Any) -> None:
        """The plugin host is built: its families are listed (some may be declared, not yet
        imported: :class:`~genstudio.api.Family`). Their classes, and torch with them, are
        imported next, in the background; ``families_loaded`` follows."""
        self.host, self.families_imported = host, False
        self.plugins_loaded.emit(host)
        if self.dataset is not None:
            self._import_families()
        else:
            QTimer.singleShot(IMPORT_FAMILIES_AFTER_MS, self, self._import_families)

    def _import_families(self) -> None:
        """Import the host's declared families in the background, once per host. It waits for
        the first data (or :data:`IMPORT_FAMILIES_AFTER_MS`): the import (torch's, mostly) and
        the data's load share the interpreter lock, and Train needs the data, not the classes."""
        host = self.host
        if host is None or self._importing is host:
            return
        self._importing = host

        def loaded(dropped: list[str]) -> None:
            if self.host is host:
                self.families_imported = True
                self.families_loaded.emit(dropped)

        start_thread(host.load_declared, on_result=loaded)

    def set_dataset(self, dataset: Any, source: str, options: dict[str, Any]) -> None:
        self.dataset, self.data_source, self.data_options = dataset, source, dict(options)
        self.data_loaded.emit(dataset)
        self._import_families()

    def clear_dataset(self) -> None:
        self.dataset = None
        self.data_cleared.emit()

    def set_family(self, family: Any, config: dict[str, Any] | None = None) -> None:
        """Choose a model class (or None) with its hyperparameters (its defaults when omitted)."""
        self.family = family
        self.config, self.config_problem = dict(config or {}), ""
        self.family_changed.emit(family)
        self.config_changed.emit(self.config)

    def apply_config(self, values: dict[str, Any]) -> None:
        """Hyperparameters chosen elsewhere (a sweep's best trial) for the chosen family: the
        Model panel takes them into its form, which sets :attr:`config`. Raises
        :class:`~genstudio.api.ConfigError` for a value the family does not allow."""
        from genstudio.api import params

        known = {p.name: p for p in params(self.family.Config)} if self.family is not None else {}
        for name, value in values.items():
            if name in known:  # as the form does, names the family does not have are left out
                known[name].validate(value)
        self.config_applied.emit({k: v for k, v in values.items() if k in known})

    def set_config(self, config: dict[str, Any], problem: str = "") -> None:
        """The hyperparameters the user set; ``problem`` says why they cannot be used, if so."""
        self.config, self.config_problem = dict(config), problem
        self.config_changed.emit(self.config)

    def set_device(self, device: str) -> None:
        """The device the next run trains on, as chosen in the Training tab."""
        if device != self.device:
            self.device = device
            self.device_changed.emit(device)

    # -- what the user may do now --------------------------------------------------------------

    @property
    def running(self) -> bool:
        """A session is training (or paused), its last event not yet handled."""
        return self.session is not None and self.session.running

    @property
    def busy(self) -> bool:
        """Training, or preparing a run: a second one cannot start."""
        return self.starting or self.running

    @property
    def paused(self) -> bool:
        return self.running and bool(self.session.trainer.paused)

    @property
    def can_start(self) -> bool:
        """Plugins, data and a family are there and nothing trains: Start would start a run."""
        return self.host is not None and self.dataset is not None and self.family is not None and not self.busy

    # -- training ----------------------------------------------------------------------------------

    def start_training(self, settings: Any) -> bool:
        """Prepare a new run of the chosen family on the loaded data with ``settings``
        (:class:`~genstudio.training.settings.TrainSettings`) in the background, then train it.
        Returns False, saying why on ``training_not_started``, when it cannot start."""
        if not self.can_start:
            return False
        if self.config_problem:
            self.training_not_started.emit(self.config_problem, None)
            return False
        self._begin("Preparing the run…")
        run_in_background(
            new_trainer, self.host, self.workspace, self.family.name, self.dataset, self.data_options,
            dict(self.config), settings, on_result=self._trainer_ready, on_error=self._trainer_failed,
        )  # fmt: skip
        return True

    def continue_run(self, run_id: int, steps: int | None = None) -> bool:
        """Continue a stopped or finished run from its last checkpoint for ``steps`` more."""
        if self.busy or self.host is None:
            return False
        self._begin(f"Preparing to continue run {run_id}…")
        run_in_background(
            resumed_trainer, self.host, self.workspace, run_id, steps,
            on_result=self._trainer_ready, on_error=self._trainer_failed,
        )  # fmt: skip
        return True

    def toggle_pause(self) -> None:
        """Pause between two steps, or go on."""
        if not self.running:
            return
        if self.session.trainer.paused:
            self.session.resume()
        else:
            self.session.pause()
        self.state_changed.emit()

    def stop_training(self) -> None:
        """Stop after the current step, with a checkpoint; ``training_ended`` follows."""
        if self.running:
            self.session.stop()

    def _begin(self, text: str) -> None:
        self.starting = True
        self.training_starting.emit(text)
        self.state_changed.emit()

    def _trainer_ready(self, trainer: Any) -> None:
        self.starting = False
        reference = None
        if trainer.dataset.spec.kind == "vector":  # 2-D pictures of samples are drawn over the data
            reference = trainer.dataset.as_float(slice(0, 2000))
        session = TrainingSession(trainer, reference, parent=self)
        session.ended.connect(self._session_ended)
        self.session = session
        session.start()
        self.training_started.emit(session)
        self.state_changed.emit()

    def _trainer_failed(self, err: Any) -> None:
        self.starting = False
        if isinstance(err.exc, GenStudioError):
            self.training_not_started.emit(str(err.exc), None)
        else:
            self.training_not_started.emit(f"Could not start: {type(err.exc).__name__}: {err.exc}", err.traceback)
        self.state_changed.emit()

    def _session_ended(self, event: Any) -> None:
        self.training_ended.emit(event)
        self.state_changed.emit()
