"""The Sweep tab: pick what to tune, press Start, watch trials run, get pruned and rank themselves.

It drives the same :class:`~genstudio.sweeps.Sweep` as ``genstudio sweep``, through
:class:`~genstudio.gui.workers.SweepSession`; the GUI thread never waits for a trial. Events
update plain rows; the table and the plots redraw from a timer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from genstudio.api import GenStudioError, Param, params
from genstudio.gui.state import Studio
from genstudio.gui.sweep_plots import HistoryPlot, ImportancePlot, IntermediatePlot, ParallelCoordinates
from genstudio.gui.widgets import ErrorBox
from genstudio.gui.workers import SweepSession, run_in_background

REDRAW_MS = 300
COLUMNS = ["Trial", "State", "Value", "Steps", "Run", "Parameters"]


def _number(p: Param, v: float) -> str:
    return str(int(v)) if p.type is int else f"{v:g}"


def make_sweep(host: Any, workspace: Any, spec: Any, dataset: Any) -> Any:
    """Open the study off the GUI thread (a database, perhaps on another machine)."""
    from genstudio.sweeps import Sweep

    return Sweep(host, workspace, spec, dataset=dataset)


def study_state(storage: str, name: str) -> tuple[list[dict], dict[str, float], str]:
    """Every trial of a study and the importances, read in the background."""
    from genstudio.sweeps import study as st

    study = st.load_study(storage, name)
    return st.trial_rows(study), *st.importances(study)


class TuneTable(QTableWidget):
    """The family's numeric, choice and flag params: a tune toggle, an editable range
    (``LOW:HIGH`` or ``A,B,C``) and a log toggle each. Ticked: the params marked ``tune``."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, 4, parent)
        self.setHorizontalHeaderLabels(["", "Parameter", "Range or values", "Scale"])
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.params: list[Param] = []
        self.ticks: list[QCheckBox] = []
        self.logs: list[QCheckBox | None] = []

    def set_family(self, family: Any) -> None:
        from genstudio.sweeps.space import dimension_of, tunable

        self.setRowCount(0)
        self.params = [p for p in params(family.Config) if tunable(p)] if family is not None else []
        self.setRowCount(len(self.params))
        self.ticks: list[QCheckBox] = []
        self.logs: list[QCheckBox | None] = []
        for row, p in enumerate(self.params):
            d = dimension_of(p)
            tick = QCheckBox("tune")
            tick.setChecked(p.tune)
            tick.setToolTip(f"Search {p.name}")
            self.setCellWidget(row, 0, tick)
            self.ticks.append(tick)
            name = QTableWidgetItem(p.name)
            name.setFlags(Qt.ItemFlag.ItemIsEnabled)
            name.setToolTip(f"{p.help}\nallowed: {p.describe_range()}")
            self.setItem(row, 1, name)
            text = (
                ",".join(map(str, d.choices)) if d.choices is not None else f"{_number(p, d.low)}:{_number(p, d.high)}"
            )
            self.setItem(row, 2, QTableWidgetItem(text))
            log = None
            if d.choices is None:
                log = QCheckBox("log")
                log.setChecked(d.log)
                log.setToolTip("Search on a log scale")
                self.setCellWidget(row, 3, log)
            self.logs.append(log)
        self.resizeColumnsToContents()
        self.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setMinimumSectionSize(60)

    def set_ticked(self, names: list[str]) -> None:
        for tick, p in zip(self.ticks, self.params):
            tick.setChecked(p.name in names)

    def ticked(self) -> list[str]:
        return [p.name for tick, p in zip(self.ticks, self.params) if tick.isChecked()]

    def overrides(self) -> dict[str, str]:
        """``{name: "LOW:HIGH[:log]" or "A,B,C"}`` for the ticked rows, as ``--param`` takes them."""
        out = {}
        for row, p in enumerate(self.params):
            if not self.ticks[row].isChecked():
                continue
            text = self.item(row, 2).text().strip()
            log = self.logs[row]
            if ":" in text and log is not None and log.isChecked():
                text += ":log"
            out[p.name] = text
        return out


class SweepTab(QWidget):
    """Signals ``run_requested(run_id)`` (a trial double-clicked) and ``best_applied(params)``
    (the model form now holds the best trial's parameters)."""

    run_requested = Signal(int)
    best_applied = Signal(object)

    def __init__(
        self,
        studio: Studio,
        config_values: Callable[[], dict[str, Any]],
        fill_config: Callable[[dict[str, Any]], None],
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.studio = studio
        self.config_values = config_values
        self.fill_config = fill_config
        self.session: SweepSession | None = None
        self.rows: dict[int, dict] = {}
        self.space: list[dict] = []
        self.maximize = False
        self.storage, self.study_name = "", ""
        self._dirty = False
        self._starting = False
        self.reading, self._read_again = False, False

        self.tune = TuneTable()
        self.objective = QComboBox()
        self.objective.setEditable(True)
        self.objective.lineEdit().setPlaceholderText("the first validation loss")
        self.direction = QComboBox()
        self.direction.addItems(["minimize", "maximize"])
        self.trials = QSpinBox()
        self.trials.setRange(1, 100_000)
        self.trials.setValue(20)
        self.length = QSpinBox()
        self.length.setRange(1, 100_000_000)
        self.length.setValue(2000)
        self.unit = QComboBox()
        self.unit.addItems(["steps", "minutes"])
        self.sampler = QComboBox()
        self.sampler.addItems(["tpe", "random", "grid"])
        self.pruner = QComboBox()
        self.pruner.addItems(["median", "hyperband", "none"])
        self.study = QLineEdit()
        self.study.setPlaceholderText("MODEL-DATA (an existing study continues)")

        self.start_button = QPushButton("▶  Sweep")
        self.start_button.setMinimumHeight(34)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Start no new trial; the one in progress finishes")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the trial in progress (it is marked failed) and the sweep")
        self.best_button = QPushButton("Train with the best")
        self.best_button.setToolTip("Fill the model form with the best trial's parameters")
        self.start_button.clicked.connect(self.start)
        self.pause_button.toggled.connect(self._pause_toggled)
        self.stop_button.clicked.connect(self.stop)
        self.best_button.clicked.connect(self.apply_best)
        self.status = QLabel("Pick the parameters to tune, then press Sweep.")
        self.status.setWordWrap(True)
        self.error = ErrorBox()

        form = QFormLayout()
        form.addRow("Objective", self.objective)
        form.addRow("Direction", self.direction)
        form.addRow("Trials", self.trials)
        per = QHBoxLayout()
        per.addWidget(self.length, 1)
        per.addWidget(self.unit)
        form.addRow("Each trial", per)
        form.addRow("Sampler", self.sampler)
        form.addRow("Pruner", self.pruner)
        form.addRow("Study", self.study)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        settings = QGroupBox("Sweep")
        left = QVBoxLayout(settings)
        left.addWidget(QLabel("<b>Parameters</b> (tick to tune; edit the range)"))
        left.addWidget(self.tune, 1)
        left.addLayout(form)
        left.addLayout(buttons)
        left.addWidget(self.best_button)
        left.addWidget(self.status)
        left.addWidget(self.error)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("Double-click a trial to open its run in the Runs tab")
        self.table.cellDoubleClicked.connect(self._open_trial)
        self.history = HistoryPlot()
        self.intermediate = IntermediatePlot()
        self.parallel = ParallelCoordinates()
        self.importance = ImportancePlot()
        plots = QWidget()
        grid = QGridLayout(plots)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.history, 0, 0)
        grid.addWidget(self.intermediate, 0, 1)
        grid.addWidget(self.parallel, 1, 0)
        grid.addWidget(self.importance, 1, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.table)
        right.addWidget(plots)
        right.setStretchFactor(1, 2)
        outer = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(settings)
        outer.addWidget(right)
        outer.setStretchFactor(1, 3)
        layout = QHBoxLayout(self)
        layout.addWidget(outer)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()
        studio.family_changed.connect(self._family_changed)
        studio.data_loaded.connect(lambda _: self._update_buttons())
        studio.data_cleared.connect(self._update_buttons)
        self._family_changed(studio.family)

    # -- settings -----------------------------------------------------------------------------

    def _family_changed(self, family: Any) -> None:
        if not self.running:
            self.tune.set_family(family)
        self._update_buttons()

    @property
    def running(self) -> bool:
        return self._starting or (self.session is not None and self.session.running)

    def _update_buttons(self, *_: Any) -> None:
        ready = self.studio.dataset is not None and self.studio.family is not None and self.studio.host is not None
        self.start_button.setEnabled(ready and not self.running)
        self.pause_button.setEnabled(self.running)
        self.stop_button.setEnabled(self.running)
        self.best_button.setEnabled(self._best() is not None)

    def spec(self) -> Any:
        """The sweep the controls describe; :class:`GenStudioError` for bad input."""
        from genstudio.sweeps import SweepSpec, build_space

        family = self.studio.family
        space = build_space(family.Config, self.tune.overrides() or None)
        searched = {d.name for d in space}
        fixed = {k: v for k, v in self.config_values().items() if k not in searched}
        minutes = self.unit.currentText() == "minutes"
        return SweepSpec(
            model=family.name, data=self.studio.data_source, data_options=dict(self.studio.data_options),
            space=space, fixed=fixed, trials=self.trials.value(),
            steps=None if minutes else self.length.value(), minutes=float(self.length.value()) if minutes else None,
            objective=self.objective.currentText().strip() or None, direction=self.direction.currentText(),
            sampler=self.sampler.currentText(), pruner=self.pruner.currentText(),
            study=self.study.text().strip() or None, settings={"device": "auto"},
        )  # fmt: skip

    # -- control --------------------------------------------------------------------------------

    def start(self) -> None:
        if self.running or self.studio.family is None or self.studio.dataset is None:
            return
        self.error.clear()
        try:
            spec = self.spec()
        except GenStudioError as exc:
            self._show_error(str(exc))
            return
        self._starting = True
        self._update_buttons()
        self.status.setText("Opening the study…")
        run_in_background(make_sweep, self.studio.host, self.studio.workspace, spec, self.studio.dataset,
                          on_result=self._begin, on_error=self._failed)  # fmt: skip

    def _begin(self, sweep: Any) -> None:
        self._starting = False
        self.rows.clear()
        self.intermediate.clear_curves()
        self.importance.redraw({}, "importances need two complete trials")
        self.session = SweepSession(sweep, self)
        self.session.event_arrived.connect(self._on_event)
        self.session.ended.connect(self._on_ended)
        self.session.failed.connect(self._failed)
        self.pause_button.setChecked(False)
        self.session.start()
        self._update_buttons()

    def _pause_toggled(self, on: bool) -> None:
        if self.session is None:
            return
        if on:
            self.session.pause()
            self.status.setText("Paused: no new trial starts; the one in progress finishes.")
        else:
            self.session.resume()

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.status.setText("Stopping the trial in progress…")

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop the sweep and wait for its worker (the window is closing)."""
        if self.session is not None and self.session.running:
            self.session.stop()
            self.session.wait(timeout)

    # -- events ---------------------------------------------------------------------------------

    def _on_event(self, e: Any) -> None:
        kind = e.type
        if kind == "study":
            self.space, self.maximize = e.space, e.direction == "maximize"
            self.storage, self.study_name = e.storage, e.study
            self.status.setText(f"Study {e.study}: {e.done} of {e.trials} trials done.")
            if e.done:
                self._refresh_from_study()
        elif kind == "trial_started":
            self.rows[e.trial] = {"trial": e.trial, "state": "running", "params": e.params, "value": None,
                                  "step": 0, "run": e.run, "intermediate": []}  # fmt: skip
            self.status.setText(f"Trial {e.trial} training (run {e.run}).")
        elif kind in ("trial_progress", "trial_reported") and e.trial in self.rows:
            row = self.rows[e.trial]
            row["step"] = max(row["step"], e.step)
            if kind == "trial_reported":
                row["intermediate"].append([e.step, e.value])
                row["value"] = e.value
        elif kind == "trial_ended":
            row = self.rows.setdefault(
                e.trial, {"trial": e.trial, "params": e.params, "run": e.run, "intermediate": []}
            )
            row.update(state=e.state, value=e.value, step=e.step, message=e.message)
            self._refresh_importances()
        elif kind == "waiting":
            self.status.setText(f"Waiting: {e.message}.")
        self._dirty = True

    def _on_ended(self, e: Any) -> None:
        text = f"Sweep {e.status}: {e.complete} complete, {e.pruned} pruned, {e.failed} failed."
        if e.best_trial is not None:
            text += f" Best: trial {e.best_trial}, {e.best_value:.5g}."
        self.status.setText(text)
        if e.message:
            self._show_error(e.message)
        self.pause_button.setChecked(False)
        self._dirty = True
        self._update_buttons()

    def _failed(self, err: Any) -> None:
        self._starting = False
        self._show_error(str(err), getattr(err, "traceback", None) if not isinstance(err.exc, GenStudioError) else None)
        self.status.setText("The sweep did not run.")
        self._update_buttons()

    def _show_error(self, message: str, details: str | None = None) -> None:
        self.error.show_error(message, details)

    def _refresh_from_study(self) -> None:
        """Read the study's trials and importances in the background (one read at a time)."""
        if not self.storage:
            return
        if self.reading:
            self._read_again = True
            return
        self.reading, self._read_again = True, False
        run_in_background(study_state, self.storage, self.study_name, on_result=self._study_read,
                          on_error=self._read_failed)  # fmt: skip

    _refresh_importances = _refresh_from_study

    def _read_failed(self, err: Any) -> None:
        self.reading = False
        self.importance.redraw({}, f"could not read the study: {err}")

    def _study_read(self, result: tuple[list[dict], dict[str, float], str]) -> None:
        self.reading = False
        if self._read_again:
            self._refresh_from_study()
        rows, importances, why = result
        for r in rows:
            # a running trial's own events are newer (and one just asked has no parameters yet)
            live = self.rows.get(r["trial"])
            if r["state"] != "running" and (live is None or live.get("state") != "running"):
                self.rows[r["trial"]] = r
        self.importance.redraw(importances, why)
        self._dirty = True

    # -- views ----------------------------------------------------------------------------------

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        rows = [self.rows[k] for k in sorted(self.rows)]
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            value = "" if r.get("value") is None else f"{r['value']:.5g}"
            params_text = "  ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["params"].items()
            )
            cells = [
                str(r["trial"]),
                r.get("state", ""),
                value,
                str(r.get("step", 0)),
                str(r.get("run") or ""),
                params_text,
            ]
            for col, text in enumerate(cells):
                item = self.table.item(i, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(i, col, item)
                if item.text() != text:
                    item.setText(text)
                if col == 1 and r.get("message"):
                    item.setToolTip(r["message"])
        self.history.redraw(rows, self.maximize)
        self.intermediate.redraw(rows, self.maximize)
        self.parallel.redraw(rows, self.space, self.maximize)
        self._update_buttons()

    def _open_trial(self, row: int, _col: int) -> None:
        item = self.table.item(row, 4)
        if item is not None and item.text():
            self.run_requested.emit(int(item.text()))

    def _best(self) -> dict | None:
        done = [r for r in self.rows.values() if r.get("state") == "complete" and r.get("value") is not None]
        if not done:
            return None
        return (max if self.maximize else min)(done, key=lambda r: r["value"])

    def apply_best(self) -> None:
        best = self._best()
        if best is None:
            return
        try:
            self.fill_config(dict(best["params"]))
        except GenStudioError as exc:
            self._show_error(str(exc))
            return
        self.status.setText(f"The model form holds trial {best['trial']}'s parameters: press Train.")
        self.best_applied.emit(dict(best["params"]))
