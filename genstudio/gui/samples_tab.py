"""The Samples tab: the newest grid live, a slider over every grid the run logged, zoom,
click to enlarge, save, generate more, and the sampling process frame by frame.

Grids from the history are read from their ``.npy`` files and turned into pictures off the
GUI thread, a few kept in a small cache, so scrolling through a thousand never waits on disk.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genstudio.data.grid import make_grid, picture, save_png
from genstudio.gui.graph_view import GraphView
from genstudio.gui.grid_view import GridView, cell_at
from genstudio.gui.images import to_pixmap
from genstudio.gui.model_access import ModelAccess
from genstudio.gui.state import Studio
from genstudio.gui.widgets import ErrorBox, ScatterView
from genstudio.gui.workers import run_in_background

CACHE = 48
CHAIN_SAMPLES = 16


def load_grid(npy: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a logged grid's samples and make its picture (off the GUI thread)."""
    arr = np.load(npy, allow_pickle=False)
    return arr, picture(arr) if arr.ndim == 4 else arr


class SamplesTab(QWidget):
    def __init__(self, studio: Studio, access: ModelAccess, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self.access = access
        self.grids: list[tuple[int, str]] = []  # the run's grids: (step, .npy path)
        self.cache: collections.OrderedDict[int, tuple[np.ndarray, Any]] = collections.OrderedDict()
        self.samples: np.ndarray | None = None  # what is shown, (N, *shape)
        self.pixels: np.ndarray | None = None
        self.selected: int | None = None
        self.chain: list[np.ndarray] = []  # frames of the sampling process, when it is shown
        self._wanted: int | None = None
        self._generation = 0
        self._rows_waiting: np.ndarray | None = None  # samples for the table, shown when the tab is

        self.title = QLabel("No samples yet: train a model, or open a run from the Runs tab.")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._slider_moved)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._play)
        self.follow = QCheckBox("Follow live")
        self.follow.setChecked(True)
        self.generate_button = QPushButton("Generate more")
        self.generate_button.setToolTip("Draw new samples from the current weights")
        self.generate_button.clicked.connect(self.generate_more)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Fit the grid to the view after zooming (or double-click it)")
        self.fit_button.clicked.connect(lambda: self.view.fit())
        self.save_button = QPushButton("Save grid…")
        self.save_button.clicked.connect(self.save_grid)
        self.chain_button = QPushButton("Sampling process")
        self.chain_button.setToolTip("The sampling chain frame by frame (models with sample_chain)")
        self.chain_button.clicked.connect(self.show_chain)
        self.density = QCheckBox("Density")
        self.density.setToolTip("Heatmap of the model's log-density (2-D data, models with log_prob)")
        self.density.toggled.connect(self._density_toggled)

        self.view = GridView()
        self.view.clicked.connect(self._clicked)
        self.scatter = ScatterView()
        self.table = QTableView()
        self.rows = RowsModel(self.table)
        self.table.setModel(self.rows)
        self.graph = GraphView()  # a learned structure (Bayesian networks), beside their samples
        self.graph.setToolTip("The learned graph: arrows from parent to child, thicker for stronger edges")
        tabular = QSplitter(Qt.Orientation.Vertical)
        tabular.addWidget(self.graph)
        tabular.addWidget(self.table)
        self.stack = QStackedWidget()
        for w in (self.view, self.scatter, tabular):
            self.stack.addWidget(w)

        self.enlarged = QLabel("Click a sample\nto enlarge it")
        self.enlarged.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.enlarged.setMinimumWidth(200)
        self.enlarged.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.save_one = QPushButton("Save sample…")
        self.save_one.setEnabled(False)
        self.save_one.clicked.connect(self.save_sample)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.enlarged, 1)
        side_layout.addWidget(self.save_one)
        splitter = QSplitter()
        splitter.addWidget(self.stack)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)

        self.error = ErrorBox()
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        controls = (self.follow, self.density, self.fit_button, self.generate_button, self.chain_button)
        for w in (*controls, self.save_button):
            bar.addWidget(w)
        history = QHBoxLayout()
        history.addWidget(QLabel("History"))
        history.addWidget(self.slider, 1)
        history.addWidget(self.play_button)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addLayout(history)
        layout.addWidget(self.error)
        layout.addWidget(splitter, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(120)
        self._timer.timeout.connect(self._advance)
        studio.training_started.connect(self._live_session)
        access.changed.connect(self._run_changed)
        access.data_changed.connect(self._data_changed)
        self._update_controls()

    # -- what is shown --------------------------------------------------------------------------

    @property
    def history(self) -> list:
        """What the slider walks: the sampling process's frames when shown, else the run's grids."""
        return self.chain or self.grids

    def _leave_chain(self) -> None:
        if self.chain:
            self.chain = []
            self.cache.clear()

    def _kind(self) -> str:
        spec = self.access.spec
        return spec.kind if spec is not None else "image"

    def _update_controls(self) -> None:
        caps = self.access.capabilities
        kind = self._kind()
        self.generate_button.setEnabled(self.access.available)
        self.chain_button.setVisible("sample_chain" in caps)
        self.density.setVisible(kind == "vector" and "log_prob" in caps and (self.access.spec.dim == 2))
        self.graph.setVisible("structure" in caps)
        self.save_button.setEnabled(self.pixels is not None and kind == "image")
        self.fit_button.setVisible(kind == "image")
        self.stack.setCurrentIndex({"image": 0, "vector": 1, "tabular": 2}.get(kind, 0))

    def _run_changed(self) -> None:
        if self.studio.running and self.studio.session.trainer is self.access.trainer:
            self._update_controls()  # a run in progress: its grids arrive as events
            return
        self.cache.clear()
        self.chain = []
        self.grids = []
        self.selected = None
        self.enlarged.setText("Click a sample\nto enlarge it")
        self.save_one.setEnabled(False)
        run = self.access.run
        if run is not None:
            from genstudio.runs.store import RunStore

            store = RunStore(self.studio.workspace)
            grids = store.artifacts(run.id, "samples")
            store.close()
            self.grids = [(a["step"], a["meta"].get("npy", str(Path(a["path"]).with_suffix(".npy")))) for a in grids]
            self.title.setText(f"Run {run.id} ({run.name}): {len(self.grids)} grids")
            self._reset_slider(show_last=True)
        self._update_controls()

    def _data_changed(self) -> None:
        """The run's data arrived: redraw what is compared with it (the 2-D scatter)."""
        if self.access.data_problem:
            self.error.show_error(self.access.data_problem)
        if self.samples is not None and self._kind() == "vector":
            self._display(self.samples, None)

    def _live_session(self, session: Any) -> None:
        self.chain = []
        self.grids = []
        self.cache.clear()
        self._reset_slider(show_last=False)
        session.samples_arrived.connect(self._live_samples)

    def _live_samples(self, event: Any, pixels: np.ndarray) -> None:
        self.grids.append((event.step, str(Path(event.path).with_suffix(".npy"))))
        index = len(self.grids) - 1
        if self.chain and not self.follow.isChecked():
            return  # the sampling process is on show; the grid waits in the history
        self._leave_chain()
        self._remember(index, event.samples, pixels)
        at_end = self.slider.value() >= self.slider.maximum() - 1 or not self.slider.isEnabled()
        self._reset_slider(show_last=False)
        if self.follow.isChecked() and at_end:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
            self._show(index, event.samples, pixels)

    def _reset_slider(self, show_last: bool) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self.history) - 1))
        self.slider.setEnabled(len(self.history) > 1)
        self.slider.blockSignals(False)
        if show_last and self.history:
            self.slider.setValue(len(self.history) - 1)
            self._slider_moved(len(self.history) - 1)

    def _remember(self, index: int, samples: np.ndarray, pixels: Any) -> None:
        self.cache[index] = (samples, pixels)
        self.cache.move_to_end(index)
        while len(self.cache) > CACHE:
            self.cache.popitem(last=False)

    def _slider_moved(self, index: int) -> None:
        if not 0 <= index < len(self.history):
            return
        if self.chain and index not in self.cache:
            return
        if index in self.cache:
            self.cache.move_to_end(index)
            self._show(index, *self.cache[index])
            return
        self._wanted = index
        run_in_background(
            load_grid,
            self.history[index][1],
            on_result=lambda result, i=index: self._grid_loaded(i, *result),
            on_error=lambda err: self.error.show_error(f"could not read a grid: {err}"),
        )

    def _grid_loaded(self, index: int, samples: np.ndarray, pixels: Any) -> None:
        self._remember(index, samples, pixels)
        if index == self._wanted:  # the slider may have moved on; show only the latest wish
            self._show(index, samples, pixels)

    def _show(self, index: int, samples: np.ndarray, pixels: Any) -> None:
        if self.chain:
            self.title.setText(f"Sampling process: frame {index + 1} of {len(self.chain)} (Play runs it)")
        else:
            self.title.setText(f"Grid {index + 1} of {len(self.history)} · step {self.history[index][0]:,}")
        self._display(samples, pixels)

    def _display(self, samples: np.ndarray, pixels: Any) -> None:
        self.samples = samples
        kind = self._kind()
        if kind == "image":
            self.pixels = pixels if pixels is not None else make_grid(samples)
            self.view.show_pixels(self.pixels)
            if self.selected is not None:
                self._enlarge(self.selected)
        elif kind == "vector":
            data = self.access.data  # the run's own data, not what the Data panel shows now
            reference = data.as_float(slice(0, 3000)) if data is not None else None
            self.scatter.show_points(samples=samples, reference=reference)
            if self.density.isChecked():
                self._density_toggled(True)
        else:
            self._fill_table(samples)
        if "structure" in self.access.capabilities:
            self._refresh_structure()
        self._update_controls()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._rows_waiting is not None and self._kind() == "tabular":
            self._fill_table(self._rows_waiting)

    def _refresh_structure(self) -> None:
        """The graph of a run in progress from its model; of a finished run from its folder."""
        live = self.studio.running and self.studio.session.trainer is self.access.trainer
        saved = self.studio.workspace.run_dir(self.access.run_id) / "structure.json" if self.access.run_id else None
        if not live and saved is not None and saved.is_file():
            import json

            self.graph.show_graph(json.loads(saved.read_text()))
            return
        self.access.call(lambda m: m.structure(), on_result=self.graph.show_graph)

    def _fill_table(self, codes: np.ndarray) -> None:
        from genstudio.data.tabular import decode_rows

        if not self.isVisible():
            # filled when the tab is shown: a table view's reset calls back into Python for
            # every header section and cell, and while training holds the interpreter lock
            # each call waits for it (a Bayesian network's grid held the window 95 ms)
            self._rows_waiting = codes
            return
        self._rows_waiting = None
        spec = self.access.spec
        # a model the view reads as it draws: 1,600 QTableWidgetItems took the GUI thread tens
        # of milliseconds for every grid of a run in progress
        self.rows.set_rows([c["name"] for c in spec.columns], decode_rows(spec, np.rint(codes[:200]).astype(np.int64)))

    # -- actions ----------------------------------------------------------------------------

    def _clicked(self, x: float, y: float) -> None:
        if self.samples is None or self.samples.ndim != 4:
            return
        n, _, h, w = self.samples.shape
        index = cell_at(x, y, n, h, w)
        if index is not None:
            self.selected = index
            self._enlarge(index)

    def _enlarge(self, index: int) -> None:
        if self.samples is None or index >= len(self.samples):
            return
        one = make_grid(self.samples[index : index + 1], pad=0)
        pix = to_pixmap(one)
        size = self.enlarged.size()
        self.enlarged.setPixmap(
            pix.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
        )
        self.save_one.setEnabled(True)

    def save_grid(self) -> None:
        if self.pixels is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the grid", "samples.png", "PNG (*.png)")
        if path:
            save_png(path, self.pixels)

    def save_sample(self) -> None:
        if self.samples is None or self.selected is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the sample", f"sample-{self.selected}.png", "PNG (*.png)")
        if path:
            save_png(path, make_grid(self.samples[self.selected : self.selected + 1], pad=0), scale=4)

    def generate_more(self) -> None:
        import torch

        self._generation += 1
        seed = 10_000 + self._generation
        n = 64 if self._kind() == "image" else 1000

        spec = self.access.spec

        def draw(model: Any) -> np.ndarray:
            from genstudio.runs.inference import sample_array  # the host's one contract for samples

            g = torch.Generator(device=getattr(model, "device", "cpu")).manual_seed(seed)
            return sample_array(model.sample(n, generator=g), spec)

        self.follow.setChecked(False)
        self.access.call(
            draw,
            on_result=lambda arr: (self.title.setText(f"Generated from the current weights (seed {seed})"),
                                   self._display(arr, make_grid(arr) if arr.ndim == 4 else None)),
            on_error=lambda err: self.error.show_error(f"Sampling failed: {err}", err.traceback),
        )  # fmt: skip

    def show_chain(self) -> None:
        self.follow.setChecked(False)
        self.title.setText("Running the sampling process…")
        self.access.call(
            lambda model: list(_inference().sample_chain(model, CHAIN_SAMPLES, seed=0)),
            on_result=self._chain_ready,
            on_error=lambda err: self.error.show_error(f"The sampling process failed: {err}", err.traceback),
        )

    def _chain_ready(self, frames: list[np.ndarray]) -> None:
        if not frames:
            return
        self.chain = [(i, "") for i in range(len(frames))]
        # every frame is in memory: the slider reads them from the cache, never from files
        self.cache = collections.OrderedDict((i, (f, None)) for i, f in enumerate(frames))
        self._reset_slider(show_last=False)
        self.slider.setValue(0)
        self._show(0, frames[0], None)

    def _density_toggled(self, on: bool) -> None:
        data = self.access.data
        if not on or data is None or data.spec.kind != "vector" or data.spec.dim != 2:
            self.scatter.show_density(None)
            return
        ref = data.as_float(slice(0, 5000))
        lo, hi = ref.min(0), ref.max(0)
        pad = (hi - lo) * 0.15
        bounds = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
        self.access.call(
            lambda model: _inference().density_grid(model, bounds),
            on_result=lambda values: self.scatter.show_density(values, bounds),
            on_error=lambda err: self.error.show_error(f"log_prob failed: {err}", err.traceback),
        )

    def _play(self, on: bool) -> None:
        if on:
            if self.slider.value() >= self.slider.maximum():
                self.slider.setValue(0)
            self._timer.start()
        else:
            self._timer.stop()

    def _advance(self) -> None:
        if self.slider.value() >= self.slider.maximum():
            self.play_button.setChecked(False)
            return
        self.slider.setValue(self.slider.value() + 1)


def _inference():
    """genstudio.runs.inference, imported when first used: it imports torch, which the window
    leaves to the plugins' loading thread so that it is on screen sooner."""
    from genstudio.runs import inference

    return inference


class RowsModel(QAbstractTableModel):
    """Rows of text under a header, for a QTableView."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.header: list[str] = []
        self.rows: list[list[str]] = []

    def set_rows(self, header: list[str], rows: list[list[str]]) -> None:
        self.beginResetModel()
        self.header, self.rows = list(header), [list(r) for r in rows]
        self.endResetModel()

    def rowCount(self, parent: Any = None) -> int:  # noqa: N802 - Qt override
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent: Any = None) -> int:  # noqa: N802 - Qt override
        return 0 if parent is not None and parent.isValid() else len(self.header)

    def data(self, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and index.isValid():
            return self.rows[index.row()][index.column()]
        return None

    def headerData(self, section: int, orientation: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole:
            if orientation == Qt.Orientation.Horizontal and section < len(self.header):
                return self.header[section]
            if orientation == Qt.Orientation.Vertical:
                return str(section + 1)
        return None
