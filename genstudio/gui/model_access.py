"""The model behind the Samples and Latent tabs, wherever it lives, and the data it learned.

While a run trains, calls go to its trainer, which runs them between two steps. For a run
opened from the Runs tab, the model is rebuilt from its last checkpoint in a background
thread that then owns it. Either way results arrive on the GUI thread.

The tabs compare samples with, reconstruct and interpolate the run's OWN data, which need
not be what the Data panel shows now: an opened run's data is loaded again from its source
in the background (or taken from the Data panel when it is the same source and options).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from genstudio.api import DataSpec, GenStudioError, PluginError, capabilities
from genstudio.gui.state import Studio
from genstudio.gui.workers import ModelCalls, run_in_background


class _Lazy:
    """A model loaded on first use, in the thread that uses it."""

    def __init__(self, load: Callable[[], Any]):
        self._load = load
        self._model: Any = None

    def get(self) -> Any:
        if self._model is None:
            self._model = self._load()
        return self._model


class ModelAccess(QObject):
    """``changed`` fires when the current run (live or opened) changes; ``data_changed`` when
    its data arrives later (an opened run's, loaded in the background) or fails to."""

    changed = Signal()
    data_changed = Signal()

    def __init__(self, studio: Studio, parent: QObject | None = None):
        super().__init__(parent)
        self.studio = studio
        self.calls = ModelCalls()
        self.run: Any = None  # RunRecord, or None for a live run without one loaded
        self.run_id: int | None = None
        self.spec: DataSpec | None = None
        self.model_cls: Any = None
        self.trainer: Any = None
        self.data: Any = None  # the run's own Dataset, once loaded
        self.data_problem = ""  # why the run's data could not be loaded, if it could not
        self._target: Any = None
        self._data_job = 0
        studio.training_started.connect(self._live)
        studio.run_opened.connect(self.open_run)

    @property
    def available(self) -> bool:
        return self._target is not None

    @property
    def capabilities(self) -> set[str]:
        return capabilities(self.model_cls) if self.model_cls is not None else set()

    def _live(self, session: Any) -> None:
        trainer = session.trainer
        self.trainer = trainer
        self.run = trainer.run
        self.run_id = trainer.run.id
        self.spec = trainer.dataset.spec
        self.model_cls = trainer.model_cls
        self._target = trainer
        self._data_job += 1
        self.data, self.data_problem = trainer.dataset, ""
        self.changed.emit()

    def open_run(self, run: Any) -> None:
        """Show a run from the store: a live one keeps its trainer, another loads its checkpoint."""
        if self.trainer is not None and self.trainer.run.id == run.id:
            self.run = run
            self.changed.emit()
            return
        host, workspace = self.studio.host, self.studio.workspace
        self.trainer = None
        self.run, self.run_id = run, run.id
        self.spec = DataSpec.from_dict(run.spec) if run.spec else None
        try:
            self.model_cls = host.models.get(run.model) if host is not None and run.model in host.models else None
        except PluginError:  # a declared family whose class does not import: like a missing plugin
            self.model_cls = None

        def load() -> Any:
            from genstudio.runs.inference import load_model

            return load_model(host, workspace, run.id).model

        self._target = _Lazy(load) if self.model_cls is not None and self.spec is not None else None
        self._load_data(run)
        self.changed.emit()

    def _load_data(self, run: Any) -> None:
        """The opened run's own data: the Data panel's when it is the same, else loaded again."""
        self._data_job += 1
        self.data, self.data_problem = None, ""
        studio = self.studio
        if studio.dataset is not None and (studio.data_source, studio.data_options) == (run.data, run.data_options):
            self.data = studio.dataset
            return
        if studio.host is None:
            return
        from genstudio.runs.inference import load_run_data

        job = self._data_job

        def loaded(data: Any) -> None:
            if job == self._data_job:  # another run may have been opened meanwhile
                self.data = data
                self.data_changed.emit()

        def failed(err: Any) -> None:
            if job == self._data_job:
                self.data_problem = f"run {run.id}'s data could not be loaded: {err}"
                self.data_changed.emit()

        run_in_background(load_run_data, studio.host, studio.workspace, run, on_result=loaded, on_error=failed)

    def call(
        self,
        fn: Callable[[Any], Any],
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[Any], None] | None = None,
    ) -> Any:
        """Run ``fn(model)`` where the model lives, in eval mode without gradients."""
        target = self._target
        if target is None:
            return None
        if target is self.trainer and not self._trainer_live():
            target = self.trainer.model  # the run has ended: its model is free to use
        return self.calls.submit(target, self._attributed(fn), on_result, on_error)

    def _attributed(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``fn`` with what the model's code raises named after the plugin it came from."""
        host, name = self.studio.host, getattr(self.model_cls, "name", None)
        plugin = host.models.owner(name) if host is not None and name in host.models else None
        if plugin is None:
            return fn

        def call(model: Any) -> Any:
            try:
                return fn(model)
            except GenStudioError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin {plugin!r} failed: {type(exc).__name__}: {exc}") from exc

        return call

    def _trainer_live(self) -> bool:
        return self.studio.running and self.studio.session.trainer is self.trainer

    def shutdown(self) -> None:
        self.calls.shutdown()
