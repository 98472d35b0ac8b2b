"""The Training tab: start, pause, resume and stop a run; its progress; its live loss curves.

The tab drives the same :class:`~genstudio.runs.trainer.Trainer` as ``genstudio train``,
through :class:`~genstudio.gui.workers.TrainingSession`; it adds no training logic.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from genstudio.api import GenStudioError
from genstudio.gui.loss_plot import LossPlot
from genstudio.gui.state import Studio
from genstudio.gui.widgets import ErrorBox
from genstudio.gui.workers import TrainingSession, run_in_background
from genstudio.training.events import format_duration, fraction_done
from genstudio.training.settings import DEFAULT_STEPS, setting_param

#: The Length selector's units and the value each starts at.
LENGTH_DEFAULTS = {"steps": DEFAULT_STEPS, "epochs": 20, "minutes": 10}


def setting_spin(name: str, top: int = 2**31 - 1) -> QSpinBox:
    """A spin box for an integer setting: its range, default and tooltip from TrainSettings."""
    p = setting_param(name)
    box = QSpinBox()
    box.setRange(int(p.min or 0), int(min(p.max if p.max is not None else top, top)))
    box.setValue(int(p.default))
    box.setToolTip(p.help[:1].upper() + p.help[1:])
    return box


def new_trainer(
    host: Any, workspace: Any, family: str, dataset: Any, options: dict, config: dict, settings: Any
) -> Any:
    """Build a trainer off the GUI thread (it opens the store and imports torch's pieces)."""
    from genstudio.runs.trainer import Trainer

    return Trainer.new(host, workspace, family, dataset, data_options=options, config=config, settings=settings)


def resumed_trainer(host: Any, workspace: Any, run_id: int, steps: int | None) -> Any:
    from genstudio.runs.trainer import Trainer

    return Trainer.resume(host, workspace, run_id, steps=steps)


class TrainingTab(QWidget):
    """Signals ``session_started(TrainingSession)`` when a run begins."""

    session_started = Signal(object)

    def __init__(self, studio: Studio, config_values: Callable[[], dict[str, Any]], parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self.config_values = config_values
        self.session: TrainingSession | None = None
        self._starting = False

        self.start_button = QPushButton("▶  Train")
        self.start_button.setToolTip("Start training (Ctrl+Return)")
        self.start_button.setMinimumHeight(34)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause or resume between two steps (Space)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after this step, with a checkpoint (Escape)")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)

        self.length_unit = QComboBox()
        self.length_unit.addItems(list(LENGTH_DEFAULTS))
        self.length_unit.setToolTip("Train for a number of steps, of passes over the data, or of minutes")
        self.length = QSpinBox()
        self.length.setRange(1, 100_000_000)
        self.length.setValue(LENGTH_DEFAULTS["steps"])
        self.length_unit.currentTextChanged.connect(lambda unit: self.length.setValue(LENGTH_DEFAULTS[unit]))
        # the settings' ranges, defaults and help come from their declarations in TrainSettings
        self.batch_size = setting_spin("batch_size")
        self.seed = setting_spin("seed")
        self.device = QComboBox()
        self.device.addItems(list(setting_param("device").choices))
        self.device.setCurrentText(setting_param("device").default)
        cores = os.cpu_count() or 1
        self.cpu_threads = QSpinBox()
        self.cpu_threads.setRange(1, max(1, cores))
        # one core stays with the window: with every core computing, the GUI thread waited 20-30 ms
        self.cpu_threads.setValue(max(1, cores - 1))
        self.cpu_threads.setToolTip(
            "Threads for training on the CPU. By default one core is left to the window, so it stays responsive."
        )
        self.eval_every = setting_spin("eval_every", top=100_000_000)
        self.eval_every.setSingleStep(100)
        self.eval_every.setSpecialValueText("never")
        self.eval_every.setToolTip("Steps between evaluations with the metrics below, plotted as eval/… (never: 0)")
        self.eval_metrics = QLineEdit(setting_param("eval_metrics").default)
        self.eval_metrics.setToolTip(
            f"Metrics for the evaluations at intervals, comma-separated (on {setting_param('eval_n').default} samples)"
        )

        length_row = QHBoxLayout()
        length_row.addWidget(self.length, 1)
        length_row.addWidget(self.length_unit)
        settings = QFormLayout()
        settings.addRow("Length", length_row)
        settings.addRow("Batch size", self.batch_size)
        settings.addRow("Seed", self.seed)
        settings.addRow("Device", self.device)
        settings.addRow("CPU threads", self.cpu_threads)
        evaluation = QHBoxLayout()
        evaluation.addWidget(self.eval_every, 1)
        evaluation.addWidget(QLabel("steps:"))
        evaluation.addWidget(self.eval_metrics, 1)
        settings.addRow("Evaluate every", evaluation)
        buttons = QVBoxLayout()
        buttons.addWidget(self.start_button)
        row = QHBoxLayout()
        row.addWidget(self.pause_button)
        row.addWidget(self.stop_button)
        buttons.addLayout(row)
        buttons.addStretch(1)
        box = QGroupBox("Run")
        top = QHBoxLayout(box)
        top.addLayout(buttons)
        top.addLayout(settings)
        top.addStretch(1)

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = QLabel("Ready: pick data and a model family, then press Train.")
        self.error = ErrorBox()
        self.warnings = QListWidget()
        self.warnings.setMaximumHeight(70)
        self.warnings.setVisible(False)
        self.plot = LossPlot()

        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addWidget(self.warnings)
        layout.addWidget(self.plot, 1)
        self._update_buttons()
        studio.plugins_loaded.connect(lambda _: self._update_buttons())
        studio.data_loaded.connect(lambda _: self._update_buttons())
        studio.data_cleared.connect(self._update_buttons)
        studio.family_changed.connect(lambda _: self._update_buttons())

    # -- state --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.session is not None and self.session.running

    def _update_buttons(self) -> None:
        ready = self.studio.dataset is not None and self.studio.family is not None and self.studio.host is not None
        busy = self.running or self._starting
        self.start_button.setEnabled(ready and not busy)
        self.pause_button.setEnabled(self.running)
        self.stop_button.setEnabled(self.running)
        if not self.running:
            self.pause_button.setText("Pause")

    def settings(self) -> Any:
        from genstudio.training.settings import TrainSettings

        unit, length = self.length_unit.currentText(), self.length.value()
        return TrainSettings(
            steps=length if unit == "steps" else None,
            epochs=length if unit == "epochs" else None,
            minutes=float(length) if unit == "minutes" else None,
            batch_size=self.batch_size.value(),
            seed=self.seed.value(),
            device=self.device.currentText(),
            cpu_threads=self.cpu_threads.value(),
            eval_every=self.eval_every.value(),
            eval_metrics=self.eval_metrics.text().strip() or setting_param("eval_metrics").default,
        )

    # -- control ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.running or self._starting or not self.start_button.isEnabled():
            return
        studio = self.studio
        try:
            config = self.config_values()
            settings = self.settings().validate()
        except GenStudioError as exc:
            self.error.show_error(str(exc))
            return
        self._begin("Preparing the run…")
        run_in_background(
            new_trainer,
            studio.host,
            studio.workspace,
            studio.family.name,
            studio.dataset,
            studio.data_options,
            config,
            settings,
            on_result=self._trainer_ready,
            on_error=self._trainer_failed,
        )

    def continue_run(self, run_id: int, steps: int | None = None) -> None:
        """Continue a stopped or finished run from its last checkpoint (the Runs tab asks)."""
        if self.running or self._starting:
            return
        self._begin(f"Preparing to continue run {run_id}…")
        run_in_background(
            resumed_trainer, self.studio.host, self.studio.workspace, run_id, steps,
            on_result=self._trainer_ready, on_error=self._trainer_failed,
        )  # fmt: skip

    def _begin(self, text: str) -> None:
        self._starting = True
        self.error.clear()
        self.warnings.clear()
        self.warnings.setVisible(False)
        self.status.setText(text)
        self._update_buttons()

    def _trainer_ready(self, trainer: Any) -> None:
        self._starting = False
        reference = None
        if trainer.dataset.spec.kind == "vector":
            reference = trainer.dataset.as_float(slice(0, 2000))
        self.session = TrainingSession(trainer, reference, parent=self)
        self.session.event_arrived.connect(self._on_event)
        self.session.ended.connect(self._on_ended)
        self.plot.clear()
        if trainer.resume_from is not None:
            self.plot.set_series(trainer.store.scalars(trainer.run.id, after_step=-1))
        self._t0 = time.time()
        self.studio.session = self.session
        self.session.start()
        self._update_buttons()
        self.session_started.emit(self.session)
        self.studio.training_started.emit(self.session)

    def _trainer_failed(self, err: Any) -> None:
        self._starting = False
        if isinstance(err.exc, GenStudioError):
            self.error.show_error(str(err.exc))
        else:
            self.error.show_error(f"Could not start: {type(err.exc).__name__}: {err.exc}", err.traceback)
        self.status.setText("Not started.")
        self._update_buttons()

    def toggle_pause(self) -> None:
        if not self.running:
            return
        if self.session.trainer.paused:
            self.session.resume()
            self.pause_button.setText("Pause")
        else:
            self.session.pause()
            self.pause_button.setText("Resume")

    def stop(self) -> None:
        if self.running:
            self.session.stop()
            self.status.setText("Stopping after this step, with a checkpoint…")

    # -- events -------------------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        kind = event.type
        if kind == "progress":
            self.plot.append(event.scalars, walls=event.walls)
            self._show_progress(event)
            self.status.setText(
                f"Run {event.run}: {event.steps_per_second:,.1f} steps/s · ETA {format_duration(event.eta)} · "
                f"elapsed {format_duration(event.elapsed)} · epoch {event.epoch:.1f}"
            )
        elif kind == "started":
            self.status.setText(f"Run {event.run} started on {event.device}")
            self._show_progress(event)
        elif kind == "paused":
            self.status.setText(f"Paused at step {event.step:,}. Press Resume (Space) to go on.")
        elif kind == "warning":
            self.warnings.setVisible(True)
            self.warnings.addItem(f"step {event.step}: {event.message}")

    def _show_progress(self, event: Any) -> None:
        """The bar counts steps, or time for a run trained by time (its steps are an estimate)."""
        if event.budget_seconds:
            self.progress.setMaximum(1000)
            self.progress.setValue(round(fraction_done(event) * 1000))
            elapsed = format_duration(getattr(event, "elapsed", 0.0))
            self.progress.setFormat(f"{elapsed} / {format_duration(event.budget_seconds)}  (%p%)")
        else:
            total = max(1, event.total_steps)
            self.progress.setMaximum(total)
            self.progress.setValue(event.step)
            self.progress.setFormat(f"{event.step:,} / {total:,} steps  (%p%)")

    def _on_ended(self, event: Any) -> None:
        if event.type == "failed":
            self.error.show_error(event.message, event.traceback)
            self.status.setText(f"Run {event.run} failed at step {event.step:,}.")
        else:
            self.status.setText(
                f"Run {event.run} {event.status} at step {event.step:,} after {format_duration(event.elapsed)}."
            )
        self._update_buttons()
        self.studio.training_ended.emit(event)
