"""The Evaluate tab's anomaly detection: choose which labels are anomalies, score the Data
panel's data with a run, and see the ROC and precision-recall curves and the most and least
anomalous examples. It computes what ``genstudio score --anomalous`` does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.api import GenStudioError
from genstudio.data.grid import make_grid, picture
from genstudio.gui.latent_tab import Picture
from genstudio.gui.state import Studio
from genstudio.gui.widgets import ErrorBox
from genstudio.gui.workers import run_in_background

SHOWN = 16
BY = ("log_prob", "bpd", "reconstruction", "discriminator")


def anomaly_job(host: Any, workspace: Any, run_id: int, data: Any, labels: list[int], by: str | None) -> dict:
    """Scores and curves (off the GUI thread)."""
    from genstudio.apply import anomaly
    from genstudio.runs.inference import load_model

    loaded = load_model(host, workspace, run_id, device="auto")
    have = anomaly.available_scores(loaded.model)
    if not have:
        raise GenStudioError(f"run {run_id} ({loaded.run.model}) has no anomaly score (log_prob, reconstruct, critic)")
    by = by or have[0]
    scores = anomaly.anomaly_scores(loaded.model, data, by, device=loaded.device)
    flagged = np.isin(data.y, labels)
    return {"by": by, "have": have, "scores": scores, "anomalous": flagged, "curves": anomaly.curves(scores, flagged)}


class AnomalyPanel(QGroupBox):
    def __init__(self, studio: Studio, selected_run: Callable[[], int | None], parent: QWidget | None = None):
        super().__init__("Anomaly detection: ROC and precision-recall", parent)
        self.studio = studio
        self.selected_run = selected_run
        self.result: dict | None = None
        self.labels = QListWidget()
        self.labels.setToolTip("Tick the labels that count as anomalies")
        self.labels.setMaximumWidth(160)
        self.by = QComboBox()
        self.by.addItem("best available", None)
        for b in BY:
            self.by.addItem(b, b)
        self.compute = QPushButton("Detect anomalies with the selected run")
        self.compute.clicked.connect(self.run)
        self.summary = QLabel("Tick the anomalous labels, select a run, and press the button.")
        self.summary.setWordWrap(True)
        self.error = ErrorBox()
        self.roc = pg.PlotWidget(title="ROC")
        self.roc.setLabel("bottom", "false positive rate")
        self.roc.setLabel("left", "true positive rate")
        self.pr = pg.PlotWidget(title="Precision-recall")
        self.pr.setLabel("bottom", "recall")
        self.pr.setLabel("left", "precision")
        for plot in (self.roc, self.pr):
            plot.setXRange(0, 1)
            plot.setYRange(0, 1.02)
            plot.setMinimumHeight(160)
        self.most = Picture("most anomalous")
        self.least = Picture("least anomalous")

        left = QVBoxLayout()
        left.addWidget(QLabel("Anomalous labels"))
        left.addWidget(self.labels, 1)
        left.addWidget(QLabel("Score"))
        left.addWidget(self.by)
        plots = QHBoxLayout()
        plots.addWidget(self.roc)
        plots.addWidget(self.pr)
        pics = QHBoxLayout()
        for title, pic in (("Most anomalous", self.most), ("Least anomalous", self.least)):
            col = QVBoxLayout()
            col.addWidget(QLabel(title))
            col.addWidget(pic, 1)
            pics.addLayout(col)
        right = QVBoxLayout()
        right.addWidget(self.compute)
        right.addWidget(self.error)
        right.addWidget(self.summary)
        right.addLayout(plots, 2)
        right.addLayout(pics, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(left)
        layout.addLayout(right, 1)
        studio.data_loaded.connect(self._data_loaded)
        studio.data_cleared.connect(self.labels.clear)
        if studio.dataset is not None:
            self._data_loaded(studio.dataset)

    def _data_loaded(self, data: Any) -> None:
        self.labels.clear()
        for i, name in enumerate(data.spec.classes or () if data.y is not None else ()):
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.labels.addItem(item)

    def ticked(self) -> list[int]:
        return [
            int(self.labels.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.labels.count())
            if self.labels.item(i).checkState() == Qt.CheckState.Checked
        ]

    def tick(self, names: list[str]) -> None:
        for i in range(self.labels.count()):
            item = self.labels.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in names else Qt.CheckState.Unchecked)

    def run(self) -> None:
        data, run_id = self.studio.dataset, self.selected_run()
        problem = None
        if data is None or self.studio.host is None:
            problem = "Load labelled data in the Data panel first."
        elif data.y is None or not data.spec.classes:
            problem = f"{data.spec.source or 'This data'} has no labels to mark as anomalous."
        elif run_id is None:
            problem = "Select one run (in the table, or tick one)."
        elif not self.ticked():
            problem = "Tick at least one anomalous label."
        elif not np.isin(data.y, self.ticked()).any():
            problem = "No example of the loaded data has the ticked labels."
        elif np.isin(data.y, self.ticked()).all():
            problem = "Every example has a ticked label: leave some labels normal."
        if problem:
            self.error.show_error(problem)
            return
        self.error.clear()
        self.compute.setEnabled(False)
        self.summary.setText(f"Scoring {len(data):,} examples with run {run_id}…")
        run_in_background(
            anomaly_job, self.studio.host, self.studio.workspace, run_id, data, self.ticked(), self.by.currentData(),
            on_result=self._done, on_error=self._failed,
        )  # fmt: skip

    def _failed(self, err: Any) -> None:
        self.compute.setEnabled(True)
        self.summary.setText("")
        known = isinstance(err.exc, GenStudioError)
        self.error.show_error(str(err.exc) if known else f"Scoring failed: {err.exc}", None if known else err.traceback)

    def _done(self, result: dict) -> None:
        self.compute.setEnabled(True)
        self.result = result
        c = result["curves"]
        share = float(result["anomalous"].mean())
        self.summary.setText(
            f"Score {result['by']} (higher is more anomalous; available: {', '.join(result['have'])}): "
            f"AUROC {c.auroc:.4f}, average precision {c.average_precision:.4f} "
            f"(a random ranking: 0.5 and {share:.3f}); {int(result['anomalous'].sum()):,} anomalies."
        )
        grey = pg.mkPen((150, 150, 150), style=Qt.PenStyle.DashLine)
        self.roc.clear()
        self.roc.plot([0, 1], [0, 1], pen=grey)
        self.roc.plot(c.fpr, c.tpr, pen=pg.mkPen((31, 119, 180), width=2))
        self.pr.clear()
        self.pr.plot([0, 1], [share, share], pen=grey)
        # a step down to each threshold's precision, as scikit-learn draws it
        xs = np.repeat(np.r_[0.0, c.recall], 2)[1:-1]
        ys = np.repeat(np.r_[c.precision[0], c.precision], 2)[:-2]
        self.pr.plot(np.r_[xs, c.recall[-1]], np.r_[ys, c.precision[-1]], pen=pg.mkPen((31, 119, 180), width=2))
        data = self.studio.dataset
        order = np.argsort(-result["scores"], kind="mergesort")
        for pic, idx in ((self.most, order[:SHOWN]), (self.least, order[::-1][:SHOWN])):
            x = data.as_float(np.sort(idx))
            pic.show_pixels(make_grid(x, nrow=8) if x.ndim == 4 else picture(x, data.as_float(slice(0, 2000))))
