"""The Evaluate tab: the field's metrics on chosen runs, a table across runs, the closest
(sample, training example) pairs, and anomaly scores for the data in the Data panel.

Figures computed from different feature extractors sit in different columns, each headed
by its extractor: an FID on Inception features and one on a digits classifier are not the
same number. Evaluation runs :func:`genstudio.runs.evaluation.evaluate_run`, as
``genstudio eval`` does, in the background.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from genstudio.api import GenStudioError
from genstudio.data.grid import make_grid, picture
from genstudio.gui.anomaly_panel import AnomalyPanel
from genstudio.gui.latent_tab import Picture
from genstudio.gui.state import Studio
from genstudio.gui.widgets import ErrorBox, message_label
from genstudio.gui.workers import on_gui_thread, run_in_background

DEFAULT_METRICS = ("fid", "kid", "is", "pr", "dc", "nll", "memo")
SHOWN_PAIRS = 8
SHOWN_EXTREMES = 16


class Cancelled(Exception):  # noqa: N818 - what the user did, not an error
    pass


def evaluate_runs(host: Any, workspace: Any, run_ids: list[int], options: dict, progress: Any, cancelled: Any) -> list:
    """Evaluate each run in turn (off the GUI thread); stops between and within runs on Cancel."""
    from genstudio.runs.evaluation import evaluate_run

    reports = []
    for i, run_id in enumerate(run_ids):

        def report(stage: str, done: int, total: int, i: int = i, run_id: int = run_id) -> None:
            if cancelled():
                raise Cancelled
            progress(f"run {run_id} ({i + 1} of {len(run_ids)}): {stage}", done, total)

        reports.append(evaluate_run(host, workspace, run_id, progress=report, **options))
    return reports


def score_with_run(host: Any, workspace: Any, run_id: int, data: Any) -> dict[str, np.ndarray]:
    from genstudio.metrics.scoring import score_dataset
    from genstudio.runs.inference import load_model

    loaded = load_model(host, workspace, run_id, device="auto")
    return score_dataset(loaded.model, data, device=loaded.device)


def latest_metrics(rows: list[dict]) -> dict[tuple[str, str, str], float]:
    """The newest value of each (metric, key, extractor) among a run's stored results."""
    out: dict[tuple[str, str, str], float] = {}
    for row in rows:  # oldest first: later rows win
        out[(row["metric"], row["key"], row["extractor"] or "")] = row["value"]
    return out


COLUMN_ORDER = ("fid", "kid", "is", "pr", "dc", "ppl", "nll", "memo")


def column_order(column: tuple[str, str, str]) -> tuple:
    """Metrics on features first, grouped by extractor, in the usual order (FID, KID, IS, ...);
    then those computed on the model itself; a metric's headline key before its others."""
    metric, key, extractor = column
    rank = COLUMN_ORDER.index(metric) if metric in COLUMN_ORDER else len(COLUMN_ORDER)
    return (extractor == "", extractor, rank, metric, key != metric, key)


def short_extractor(identity: str) -> str:
    if not identity:
        return ""
    name = identity.split("/")[0].split(":")[0]
    return name if len(name) < 24 else name[:21] + "..."


def published_item(family: str, noise: float | None = None) -> QTableWidgetItem:
    """The closest published likelihood for ``family``; every one, with its protocol and
    training budget, in the tooltip. ``noise``: the run's likelihood is a density of images
    with Gaussian noise of that std (the ``noise`` in the nll metric's details), which no
    paper's figure is."""
    from genstudio.metrics.references import describe, published

    refs = published(family)
    if not refs:
        item = QTableWidgetItem("—")
        item.setToolTip(f"No published likelihood is recorded for {family}.")
        return item
    first = refs[0]
    tip = "\n\n".join(f"{describe(r)}\nprotocol: {r['protocol']}\ntraining: {r['budget']}" for r in refs)
    if noise is None:
        item = QTableWidgetItem(f"{first['value']:g} {first['unit']}")
    else:
        item = QTableWidgetItem(f"{first['value']:g} {first['unit']} (not comparable)")
        tip = (
            f"This run's likelihood is the density of images with Gaussian noise of std {noise:g} added, "
            "which the model was trained on; the published figures are of images without that noise, "
            "so the two do not compare.\n\n" + tip
        )
    item.setToolTip(tip)
    return item


class EvaluateTab(QWidget):
    def __init__(self, studio: Studio, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self._cancel = False
        self._busy = False
        self.scores: dict[str, np.ndarray] | None = None

        self.runs = QListWidget()
        self.runs.setToolTip("Tick the runs to evaluate; each is evaluated at its newest checkpoint")
        self.metric_boxes: dict[str, QCheckBox] = {}
        self.metric_grid = QGridLayout()
        self.n = QSpinBox()
        self.n.setRange(50, 100_000)
        self.n.setValue(1000)
        self.n.setToolTip("Generated samples per run (and at most as many held-out real examples)")
        self.extractor = QComboBox()
        self.extractor.setToolTip("Features for FID, KID, precision/recall and density/coverage")
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.stage = message_label()
        self.error = ErrorBox()

        form = QFormLayout()
        form.addRow("Samples", self.n)
        form.addRow("Features", self.extractor)
        buttons = QHBoxLayout()
        buttons.addWidget(self.evaluate_button)
        buttons.addWidget(self.cancel_button)
        choose = QGroupBox("Evaluate runs")
        cl = QVBoxLayout(choose)
        cl.addWidget(QLabel("Runs"))
        cl.addWidget(self.runs, 1)
        cl.addWidget(QLabel("Metrics"))
        cl.addLayout(self.metric_grid)
        cl.addLayout(form)
        cl.addLayout(buttons)
        cl.addWidget(self.progress)
        cl.addWidget(self.stage)

        self.table = QTableWidget()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._show_pairs)
        self.note = QLabel(
            "Each column names the features it was computed from; figures from different features are not comparable."
        )
        self.note.setWordWrap(True)
        self.pairs = Picture("Memorisation: each generated sample (top) above its nearest training example")
        self.pairs_label = message_label()

        self.score_button = QPushButton("Score the Data panel's data with the selected run")
        self.score_button.clicked.connect(self.score)
        self.save_scores = QPushButton("Save scores…")
        self.save_scores.setEnabled(False)
        self.save_scores.clicked.connect(self.save_scores_csv)
        self.least = Picture("least likely examples")
        self.most = Picture("most likely examples")
        self.score_label = message_label()
        scoring = QGroupBox("Anomaly scores")
        sl = QVBoxLayout(scoring)
        row = QHBoxLayout()
        row.addWidget(self.score_button)
        row.addWidget(self.save_scores)
        row.addStretch(1)
        sl.addLayout(row)
        sl.addWidget(self.score_label)
        pics = QHBoxLayout()
        for title, pic in (("Least likely", self.least), ("Most likely", self.most)):
            box = QVBoxLayout()
            box.addWidget(QLabel(title))
            box.addWidget(pic, 1)
            pics.addLayout(box)
        sl.addLayout(pics, 1)

        figures = QWidget()
        rl = QVBoxLayout(figures)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.error)
        rl.addWidget(self.table, 2)
        rl.addWidget(self.note)
        rl.addWidget(self.pairs_label)
        rl.addWidget(self.pairs, 1)
        # a header and four runs stay in view however the parts below are sized (in a window
        # 900 pixels high, the table had shrunk to one row behind its scroll bar)
        table = self.table  # its header is one line, as tall as a row (the header's hint is -1 until shown)
        table.setMinimumHeight(
            5 * table.verticalHeader().defaultSectionSize()
            + table.horizontalScrollBar().sizeHint().height()
            + 2 * table.frameWidth()
        )
        self.anomaly = AnomalyPanel(studio, self.selected_run)  # ROC/PR for chosen labels (genstudio.apply)
        right = QSplitter(Qt.Orientation.Vertical)  # the person decides what gets the height
        right.setChildrenCollapsible(False)
        for i, (part, stretch) in enumerate(((figures, 3), (scoring, 1), (self.anomaly, 2))):
            right.addWidget(part)
            right.setStretchFactor(i, stretch)
        splitter = QSplitter()
        splitter.addWidget(choose)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        studio.plugins_loaded.connect(self._plugins_loaded)
        studio.workspace_changed.connect(lambda _: self.refresh())
        studio.training_ended.connect(lambda _: self.refresh())

    # -- choices -------------------------------------------------------------------------------

    def _plugins_loaded(self, host: Any) -> None:
        while self.metric_grid.count():
            self.metric_grid.takeAt(0).widget().deleteLater()
        self.metric_boxes.clear()
        for i, (name, cls) in enumerate(host.metrics.items()):
            box = QCheckBox(name)
            box.setToolTip(f"{cls.title}\n{cls.description}".strip())
            box.setChecked(name in DEFAULT_METRICS)
            self.metric_boxes[name] = box
            self.metric_grid.addWidget(box, i // 4, i % 4)
        self.extractor.clear()
        self.extractor.addItem("automatic", None)
        for name, cls in host.extractors.items():
            self.extractor.addItem(cls.title or name, name)
        self.refresh()

    def refresh(self) -> None:
        """The workspace's runs that have a checkpoint, and their stored results."""
        from genstudio.runs.store import RunStore

        store = RunStore(self.studio.workspace)
        try:
            runs = [r for r in store.list_runs() if store.artifacts(r.id, "checkpoint")]
            stored = {r.id: store.metrics(r.id) for r in runs}
        finally:
            store.close()
        ticked = set(self.ticked_runs())
        self.runs.clear()
        for run in runs:
            item = QListWidgetItem(f"{run.id}  {run.name}  ({run.model} on {run.data})")
            item.setData(Qt.ItemDataRole.UserRole, run.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if run.id in ticked else Qt.CheckState.Unchecked)
            self.runs.addItem(item)
        self._fill_table(runs, stored)

    def ticked_runs(self) -> list[int]:
        return [
            self.runs.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.runs.count())
            if self.runs.item(i).checkState() == Qt.CheckState.Checked
        ]

    def tick(self, run_id: int, on: bool = True) -> None:
        for i in range(self.runs.count()):
            item = self.runs.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == run_id:
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    # -- evaluation ------------------------------------------------------------------------------

    def evaluate(self) -> None:
        host = self.studio.host
        run_ids = self.ticked_runs()
        metrics = [m for m, box in self.metric_boxes.items() if box.isChecked()]
        if host is None or self._busy:
            return
        if not run_ids or not metrics:
            self.error.show_error("Tick at least one run and one metric.")
            return
        self._busy, self._cancel = True, False
        self.error.clear()
        self.evaluate_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        options = {"metrics": metrics, "n": self.n.value(), "extractor": self.extractor.currentData(), "device": "auto"}
        progress = on_gui_thread(self._progress)
        run_in_background(
            evaluate_runs, host, self.studio.workspace, run_ids, options, progress, lambda: self._cancel,
            on_result=self._evaluated, on_error=self._failed,
        )  # fmt: skip

    def cancel(self) -> None:
        self._cancel = True
        self.stage.setText("Cancelling…")

    def _progress(self, stage: str, done: int, total: int) -> None:
        self.stage.setText(stage)
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _finish(self) -> None:
        self._busy = False
        self.evaluate_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)

    def _evaluated(self, reports: list) -> None:
        self._finish()
        skipped = sorted({f"{k}: {v}" for r in reports for k, v in r.skipped.items()})
        self.stage.setText(
            f"Evaluated {len(reports)} run{'s' * (len(reports) != 1)}."
            + (" Skipped: " + "; ".join(skipped) if skipped else "")
        )
        self.refresh()
        self._show_pairs()  # the selected run's, or the one run evaluated

    def _failed(self, err: Any) -> None:
        self._finish()
        if isinstance(err.exc, Cancelled):
            self.stage.setText("Cancelled.")
        elif isinstance(err.exc, GenStudioError):
            self.error.show_error(str(err.exc))
        else:
            self.error.show_error(f"Evaluation failed: {type(err.exc).__name__}: {err.exc}", err.traceback)
        self.refresh()

    # -- results ------------------------------------------------------------------------------------

    def _fill_table(self, runs: list, stored: dict[int, list[dict]]) -> None:
        latest = {run_id: latest_metrics(rows) for run_id, rows in stored.items()}
        columns = sorted({col for values in latest.values() for col in values if not col[1].endswith("_std")},
                         key=column_order)  # fmt: skip
        shown = [r for r in runs if latest.get(r.id)]
        # beside a likelihood, what the paper reached (with its protocol and budget)
        papers = any(col[0] == "nll" for col in columns)
        self.table.clear()
        self.table.setRowCount(len(shown))
        self.table.setColumnCount(len(columns) + 1 + papers)
        headers = ["run"] + [f"{key}\n[{short_extractor(ex) or 'no features'}]" for _, key, ex in columns]
        headers += ["published\n[likelihood]"] * papers
        self.table.setHorizontalHeaderLabels(headers)
        for c, (_, key, ex) in enumerate(columns, start=1):
            self.table.horizontalHeaderItem(c).setToolTip(f"{key}, computed on {ex or 'the model itself'}")
        for r, run in enumerate(shown):
            name = QTableWidgetItem(f"{run.id} {run.name}")
            name.setData(Qt.ItemDataRole.UserRole, run.id)
            self.table.setItem(r, 0, name)
            for c, col in enumerate(columns, start=1):
                if col in latest[run.id]:
                    value = latest[run.id][col]
                    std = latest[run.id].get((col[0], col[1] + "_std", col[2]))
                    text = f"{value:.4g}" + (f" ± {std:.2g}" if std is not None else "")
                    self.table.setItem(r, c, QTableWidgetItem(text))
            if papers:
                nll = [row for row in stored[run.id] if row["metric"] == "nll"]
                noise = (nll[-1].get("details") or {}).get("noise") if nll else None
                self.table.setItem(r, len(columns) + 1, published_item(run.model, noise))
        self.table.resizeRowsToContents()

    def selected_run(self) -> int | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if len(rows) == 1:
            item = self.table.item(rows.pop(), 0)
            return item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        ticked = self.ticked_runs()
        return ticked[0] if len(ticked) == 1 else None

    def _show_pairs(self) -> None:
        run_id = self.selected_run()
        if run_id is None:
            return
        folder = self.studio.workspace.run_dir(run_id) / "eval"
        files = sorted(folder.glob("memo-*.npz")) if folder.is_dir() else []
        if not files:
            self.pairs_label.setText(f"Run {run_id}: no memorisation check yet (tick memo and Evaluate)")
            return
        with np.load(files[-1], allow_pickle=False) as pairs:
            samples, train, distance = pairs["samples"][:SHOWN_PAIRS], pairs["train"][:SHOWN_PAIRS], pairs["distance"]
        self.pairs_label.setText(
            f"Run {run_id}: the {len(samples)} samples closest to a training example (distances "
            + ", ".join(f"{d:.3g}" for d in distance[:SHOWN_PAIRS])
            + ")"
        )
        if samples.ndim == 4:
            self.pairs.show_pixels(make_grid(np.concatenate([samples, train]), nrow=len(samples)))
        else:
            self.pairs.show_pixels(picture(samples, train))

    # -- anomaly scores ---------------------------------------------------------------------------

    def score(self) -> None:
        run_id = self.selected_run()
        data = self.studio.dataset
        if run_id is None or data is None or self.studio.host is None:
            self.error.show_error("Select one run (in the table, or tick one) and load data in the Data panel.")
            return
        self.error.clear()
        self.score_label.setText(f"Scoring {len(data):,} examples with run {run_id}…")
        run_in_background(
            score_with_run, self.studio.host, self.studio.workspace, run_id, data,
            on_result=lambda scores: self._scored(run_id, scores), on_error=self._score_failed,
        )  # fmt: skip

    def _score_failed(self, err: Any) -> None:
        self.score_label.setText("")
        message = str(err.exc) if isinstance(err.exc, GenStudioError) else f"Scoring failed: {err.exc}"
        self.error.show_error(message, None if isinstance(err.exc, GenStudioError) else err.traceback)

    def _scored(self, run_id: int, scores: dict[str, np.ndarray]) -> None:
        self.scores = scores
        self.save_scores.setEnabled(True)
        data = self.studio.dataset
        # likelihood when there is one; else a large reconstruction error is what is unlikely
        key = "log_prob" if "log_prob" in scores else "recon_error"
        value = scores[key] if key == "log_prob" else -scores[key]
        order = np.argsort(value)
        least, most = order[:SHOWN_EXTREMES], order[::-1][:SHOWN_EXTREMES]
        self.score_label.setText(
            f"Run {run_id} scored {len(value):,} examples by {key}: least likely "
            + ", ".join(f"#{i}" for i in least[:5])
            + "…"
        )
        for pic, idx in ((self.least, least), (self.most, most)):
            x = data.as_float(np.sort(idx))
            pic.show_pixels(make_grid(x, nrow=8) if x.ndim == 4 else picture(x, data.as_float(slice(0, 2000))))

    def save_scores_csv(self) -> None:
        if self.scores is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the scores", "scores.csv", "CSV (*.csv)")
        if path:
            from genstudio.metrics.scoring import write_scores

            write_scores(path, self.scores)
