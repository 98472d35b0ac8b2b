"""The Training tab: the run's settings, start, pause, resume and stop; its progress; its live
loss curves.

The session belongs to the :class:`~genstudio.gui.state.Studio`, which drives the same
:class:`~genstudio.runs.trainer.Trainer` as ``genstudio train``; this tab holds the settings,
shows what the studio says, and adds no training logic. Its buttons are the Run menu's
actions (:class:`~genstudio.gui.menus.RunActions`), so both are enabled together.
"""

from __future__ import annotations

import os
import time
from typing import Any

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
from genstudio.gui.menus import RunActions
from genstudio.gui.state import Studio
from genstudio.gui.widgets import ErrorBox, bind, message_label
from genstudio.training.events import format_duration, fraction_done
from genstudio.training.settings import DEFAULT_STEPS, setting_param

#: The Length selector's units and the value each starts at.
LENGTH_DEFAULTS = {"steps": DEFAULT_STEPS, "epochs": 20, "minutes": 10}
FIGURES_EVERY_S = 0.25


def setting_spin(name: str, top: int = 2**31 - 1) -> QSpinBox:
    """A spin box for an integer setting: its range, default and tooltip from TrainSettings."""
    p = setting_param(name)
    box = QSpinBox()
    box.setRange(int(p.min or 0), int(min(p.max if p.max is not None else top, top)))
    box.setValue(int(p.default))
    box.setToolTip(p.help[:1].upper() + p.help[1:])
    return box


def default_cpu_threads() -> int:
    """The Training tab's CPU threads: every core but one, which stays with the window (with
    every core computing, the GUI thread waited 20-30 ms)."""
    return max(1, (os.cpu_count() or 1) - 1)


class TrainingTab(QWidget):
    def __init__(self, studio: Studio, actions: RunActions, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self.actions = actions
        self._figures_at = 0.0  # when the progress bar and status last changed (monotonic s)
        self._last_progress: Any = None

        self.start_button = QPushButton("▶  Train")
        self.start_button.setToolTip(actions.start.toolTip())
        self.start_button.setMinimumHeight(34)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip(actions.pause.toolTip())
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip(actions.stop.toolTip())
        actions.start.triggered.connect(self.start)  # Start needs this tab's settings
        bind(self.start_button, actions.start)
        bind(self.pause_button, actions.pause)
        bind(self.stop_button, actions.stop)

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
        self.device.currentTextChanged.connect(studio.set_device)
        self.cpu_threads = QSpinBox()
        self.cpu_threads.setRange(1, max(1, os.cpu_count() or 1))
        self.cpu_threads.setValue(default_cpu_threads())
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
        self.status = message_label("Ready: pick data and a model family, then press Train.")
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
        studio.state_changed.connect(self._state_changed)
        studio.training_starting.connect(self._starting)
        studio.training_not_started.connect(self._not_started)
        studio.training_started.connect(self._started)
        studio.training_ended.connect(self._ended)

    def settings(self) -> Any:
        from genstudio.training.settings import TrainSettings

        unit, length = self.length_unit.currentText(), self.length.value()
        return TrainSettings(
            steps=length if unit == "steps" else None,
            epochs=length if unit == "epochs" else None,
            minutes=float(length) if unit == "minutes" else None,
            batch_size=self.batch_size.value(),
            seed=self.seed.value(),
            device=self.studio.device,  # the combo box's choice, kept by the studio
            cpu_threads=self.cpu_threads.value(),
            eval_every=self.eval_every.value(),
            eval_metrics=self.eval_metrics.text().strip() or setting_param("eval_metrics").default,
            # no more progress events than the plot draws frames: each costs the window 2-3 ms
            # (the Bayesian network's 20 a second were a tenth of its time while training)
            event_rate=float(LossPlot.FPS),
        )

    # -- control ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start a run with this tab's settings (the Start action and the Train button)."""
        try:
            settings = self.settings().validate()
        except GenStudioError as exc:
            self.error.show_error(str(exc))
            return
        self.studio.start_training(settings)

    def _state_changed(self) -> None:
        self.pause_button.setText("Resume" if self.studio.paused else "Pause")

    def _starting(self, text: str) -> None:
        self.error.clear()
        self.warnings.clear()
        self.warnings.setVisible(False)
        self.status.setText(text)

    def _not_started(self, message: str, details: Any) -> None:
        self.error.show_error(message, details)
        self.status.setText("Not started.")

    def _started(self, session: Any) -> None:
        trainer = session.trainer
        session.event_arrived.connect(self._on_event)
        self._last_progress = None
        self.plot.clear()
        if trainer.resume_from is not None:  # the curves so far come back, then grow
            self.plot.set_series(trainer.store.scalars(trainer.run.id, after_step=-1))

    # -- events -------------------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        kind = event.type
        if kind == "progress":
            self.plot.append(event.scalars, walls=event.walls, lazy=True)  # drawn on the plot's own timer
            self._last_progress = event
            now = time.monotonic()
            # the figures change about 20 times a second: a person reads a few, and each new
            # text costs the GUI thread a layout and a paint
            if now - self._figures_at < FIGURES_EVERY_S and event.step < event.total_steps:
                return
            self._figures_at = now
            self._show_progress(event)
            self.status.setText(
                f"Run {event.run}: {event.steps_per_second:,.1f} steps/s · ETA {format_duration(event.eta)} · "
                f"elapsed {format_duration(event.elapsed)} · epoch {event.epoch:.1f}"
            )
        elif kind == "started":
            self.status.setText(f"Run {event.run} started on {event.device}")
            self._show_progress(event)
        elif kind == "paused":
            if self._last_progress is not None:  # the loop's last figures, which the throttle may have held back
                self._show_progress(self._last_progress)
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

    def _ended(self, event: Any) -> None:
        # the figures may have skipped the last progress events: the bar ends where the run did
        last = self._last_progress
        if last is not None and last.budget_seconds:
            self._show_progress(last)
        else:
            total = self.progress.maximum()
            self.progress.setValue(min(event.step, total))
            self.progress.setFormat(f"{event.step:,} / {total:,} steps  (%p%)")
        if event.type == "failed":
            self.error.show_error(event.message, event.traceback)
            self.status.setText(f"Run {event.run} failed at step {event.step:,}.")
        else:
            self.status.setText(
                f"Run {event.run} {event.status} at step {event.step:,} after {format_duration(event.elapsed)}."
            )
