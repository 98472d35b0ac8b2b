"""The Runs tab: every run of the workspace in a table; select several to overlay their
curves; open one to browse its samples; continue, rename or delete it; copy the command
that repeats it."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genstudio.gui.loss_plot import LossPlot
from genstudio.gui.state import Studio
from genstudio.gui.workers import run_in_background

COLUMNS = ("ID", "Name", "Model", "Data", "Steps", "Status", "Created", "Last losses")


def _losses(summary: dict[str, float], limit: int = 3) -> str:
    return "  ".join(f"{k}={v:.4g}" for k, v in list(summary.items())[:limit])


class RunsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.runs: list[Any] = []

    def set_runs(self, runs: list[Any]) -> None:
        self.beginResetModel()
        self.runs = runs
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        run = self.runs[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                run.id,
                run.name,
                run.model,
                run.data,
                f"{run.step:,} / {run.total_steps or 0:,}",
                run.live_status,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created)),
                _losses(run.summary),
            )[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return run.error or run.command
        return None


def read_scalars(workspace: Any, run_ids: list[int]) -> dict[int, dict]:
    from genstudio.runs.store import RunStore

    store = RunStore(workspace)
    try:
        return {rid: store.scalars(rid) for rid in run_ids}
    finally:
        store.close()


def list_runs(workspace: Any) -> list[Any]:
    from genstudio.runs.store import RunStore

    store = RunStore(workspace)
    try:
        return store.list_runs()
    finally:
        store.close()


class RunsTab(QWidget):
    """The runs of the workspace: open one (``studio.run_opened``), continue one
    (``studio.continue_run``), rename, delete, compare curves."""

    def __init__(self, studio: Studio, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self.model = RunsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _: self.open_selected())

        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Show this run in the Samples and Latent tabs")
        self.continue_button = QPushButton("Continue…")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        self.refresh_button = QPushButton("Refresh")
        self.open_button.clicked.connect(self.open_selected)
        self.continue_button.clicked.connect(self.continue_selected)
        self.rename_button.clicked.connect(self.rename_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.refresh_button.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        for b in (self.open_button, self.continue_button, self.rename_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)

        self.command = QLineEdit()
        self.command.setReadOnly(True)
        self.command.setPlaceholderText("the genstudio train … command that repeats the selected run")
        copy = QPushButton("Copy")
        copy.clicked.connect(self.copy_command)
        command_row = QHBoxLayout()
        command_row.addWidget(QLabel("Command:"))
        command_row.addWidget(self.command, 1)
        command_row.addWidget(copy)
        self.plot = LossPlot()

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.table)
        tl.addLayout(buttons)
        tl.addLayout(command_row)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.plot)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self._timer = QTimer(self)
        self._timer.setInterval(2000)
        # the live status of runs, while the table is in view. Read off the GUI thread: a run
        # that has just started writes to the store, and its lock would make this thread wait
        self._listing = False
        self._timer.timeout.connect(lambda: self.refresh_in_background() if self.isVisible() else None)
        self._timer.start()
        studio.workspace_changed.connect(lambda _: self.refresh())
        studio.training_started.connect(lambda _: self.refresh_in_background())
        studio.training_ended.connect(lambda _: self.refresh_in_background())
        studio.state_changed.connect(self._update_buttons)
        self._update_buttons()
        self.refresh()

    # -- table -----------------------------------------------------------------------------

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        self._show(list_runs(self.studio.workspace))

    def refresh_in_background(self) -> None:
        """:meth:`refresh`, the store read in a pool thread (one read at a time)."""
        if self._listing:
            return
        self._listing = True
        workspace = self.studio.workspace

        def done(runs: list[Any]) -> None:
            self._listing = False
            if workspace is self.studio.workspace:
                self._show(runs)

        def failed(_: Any) -> None:
            self._listing = False

        run_in_background(list_runs, workspace, on_result=done, on_error=failed)

    def _show(self, runs: list[Any]) -> None:
        selected = set(self.selected_ids())
        if [(r.id, r.step, r.live_status, r.name) for r in runs] == [
            (r.id, r.step, r.live_status, r.name) for r in self.model.runs
        ]:
            return  # nothing changed: keep the selection and the scroll position as they are
        self.model.set_runs(runs)
        sel = self.table.selectionModel()
        for row, run in enumerate(runs):
            if run.id in selected:
                sel.select(
                    self.model.index(row, 0),
                    sel.SelectionFlag.Select | sel.SelectionFlag.Rows,
                )

    def selected_runs(self) -> list[Any]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.runs[r] for r in rows if r < len(self.model.runs)]

    def selected_ids(self) -> list[int]:
        return [r.id for r in self.selected_runs()]

    def select_run(self, run_id: int) -> None:
        for row, run in enumerate(self.model.runs):
            if run.id == run_id:
                self.table.selectRow(row)
                return

    def _update_buttons(self) -> None:
        runs = self.selected_runs()
        one = len(runs) == 1
        busy = one and runs[0].live_status in ("running", "paused")
        self.open_button.setEnabled(one)
        self.continue_button.setEnabled(one and not busy and not self.studio.busy)
        self.rename_button.setEnabled(one)
        self.delete_button.setEnabled(bool(runs) and not any(r.live_status in ("running", "paused") for r in runs))

    def _selection_changed(self, *_: Any) -> None:
        self._update_buttons()
        runs = self.selected_runs()
        self.command.setText(runs[0].command if len(runs) == 1 else "")
        if not runs:
            self.plot.clear()
            return
        names = {r.id: r.name for r in runs}
        run_in_background(
            read_scalars, self.studio.workspace, [r.id for r in runs],
            on_result=lambda data: self._overlay(data, names),
        )  # fmt: skip

    def _overlay(self, data: dict[int, dict], names: dict[int, str]) -> None:
        if set(data) != set(self.selected_ids()):
            return  # the selection moved on
        merged = {}
        for rid, series in data.items():
            prefix = f"{names[rid]}: " if len(data) > 1 else ""
            for key, value in series.items():
                merged[prefix + key] = value
        self.plot.set_series(merged)

    # -- actions ----------------------------------------------------------------------------

    def open_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1:
            self.studio.run_opened.emit(runs[0])

    def continue_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 1:
            return
        run = runs[0]
        finished = run.total_steps is not None and run.step >= run.total_steps
        default = max(100, (run.total_steps or 1000) // 2)
        steps, ok = QInputDialog.getInt(
            self, "Continue the run",
            f"Train run {run.id} ({run.name}) for how many more steps?"
            + ("" if finished else f"\n(It stopped at {run.step:,} of {run.total_steps:,}.)"),
            default if finished else max(1, (run.total_steps or 0) - run.step), 1, 100_000_000,
        )  # fmt: skip
        if ok:
            self.studio.continue_run(run.id, steps)

    def rename_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 1:
            return
        name, ok = QInputDialog.getText(self, "Rename the run", "Name:", text=runs[0].name)
        if ok and name.strip():
            from genstudio.runs.store import RunStore

            store = RunStore(self.studio.workspace)
            store.rename_run(runs[0].id, name)
            store.close()
            self.refresh()

    def delete_selected(self) -> None:
        runs = self.selected_runs()
        if not runs:
            return
        names = ", ".join(f"{r.id} ({r.name})" for r in runs)
        answer = QMessageBox.question(
            self, "Delete runs",
            f"Delete run{'s' if len(runs) > 1 else ''} {names}, with every checkpoint and sample? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
        )  # fmt: skip
        if answer != QMessageBox.StandardButton.Yes:
            return
        from genstudio.runs.store import RunStore

        store = RunStore(self.studio.workspace)
        for run in runs:
            store.delete_run(run.id)
        store.close()
        self.plot.clear()
        self.refresh()

    def copy_command(self) -> None:
        if self.command.text():
            QGuiApplication.clipboard().setText(self.command.text())
