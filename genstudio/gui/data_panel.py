"""The Data dock: pick a built-in source or open a folder or file, set its options, see a
preview and a summary. Bad input shows a message naming the file and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from genstudio.api import GenStudioError
from genstudio.data.catalogue import CatalogueSource
from genstudio.data.grid import make_grid
from genstudio.data.splits import split_counts
from genstudio.gui.config_form import ConfigForm
from genstudio.gui.images import to_pixmap
from genstudio.gui.state import Studio
from genstudio.gui.widgets import ErrorBox, ScatterView, fit_rows
from genstudio.gui.workers import on_gui_thread, run_in_background

PREVIEW_IMAGES = 48
PREVIEW_POINTS = 3000


def load_for_preview(host: Any, source: str, options: dict[str, Any], cache_dir: Path, progress: Any) -> tuple:
    """Load a dataset and make its preview, off the GUI thread."""
    from genstudio.data import load_dataset

    data = load_dataset(host, source, options, cache_dir=cache_dir, progress=progress)
    spec = data.spec
    if spec.kind == "image":
        preview: Any = make_grid(data.as_float(slice(0, PREVIEW_IMAGES)), nrow=8)
    elif spec.kind == "vector":
        preview = data.as_float(slice(0, PREVIEW_POINTS))
    else:
        from genstudio.data.tabular import decode_rows

        preview = decode_rows(spec, data.x[:50])
    return data, preview


class DataPanel(QWidget):
    """Signals ``loaded(dataset)`` after a successful load; the studio holds the result."""

    loaded = Signal(object)

    def __init__(self, studio: Studio, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self.source: str = ""
        self._token = 0
        self._pending: tuple | None = None

        self.sources = QListWidget()
        fit_rows(self.sources, 7)
        self.sources.currentItemChanged.connect(self._source_picked)
        open_folder = QPushButton("Open folder…")
        open_folder.clicked.connect(self.choose_folder)
        open_file = QPushButton("Open file…")
        open_file.clicked.connect(self.choose_file)
        self.get_button = QPushButton("Get dataset…")
        self.get_button.setToolTip("Download a standard dataset: MNIST, Fashion-MNIST, KMNIST, CIFAR-10, UCI Adult")
        self.get_button.clicked.connect(self.get_dataset)
        self.download_dialog: Any = None
        self.path_label = QLabel("")
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.options = ConfigForm(reset_button=False)
        self.options.changed.connect(self._options_changed)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.error = ErrorBox()
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.image_preview = QLabel()
        self.image_preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_preview.setMinimumHeight(160)
        self.image_preview.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.scatter = ScatterView()
        self.table = QTableWidget()
        self._pixmap = None

        buttons = QHBoxLayout()
        buttons.addWidget(open_folder)
        buttons.addWidget(open_file)
        buttons.addWidget(self.get_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Built-in and fetched data</b>"))
        layout.addWidget(self.sources)
        layout.addLayout(buttons)
        layout.addWidget(self.path_label)
        layout.addWidget(self.error)  # above the options, so a long form never pushes it out of sight
        layout.addWidget(self.options)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addWidget(self.image_preview, 1)
        layout.addWidget(self.scatter, 1)
        layout.addWidget(self.table, 1)
        self._show_preview(None)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(300)
        self._debounce.timeout.connect(self.load)
        studio.plugins_loaded.connect(self._fill_sources)

    # -- choosing ----------------------------------------------------------------------------

    def _fill_sources(self, host: Any) -> None:
        self.sources.blockSignals(True)
        self.sources.clear()
        for name, cls in host.datasets.items():
            if cls.path_based or (issubclass(cls, CatalogueSource) and name != "mnist" and cls.folder() is None):
                continue  # a catalogue set joins the list once it is fetched
            item = QListWidgetItem(f"{cls.title or name}  ({name})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(cls.description)
            self.sources.addItem(item)
        self.sources.blockSignals(False)
        fit_rows(self.sources, 7)

    def get_dataset(self) -> None:
        """Open "Get dataset…"; a set it fetches joins the list and is opened."""
        from genstudio.gui.download_dialog import DownloadDialog

        if self.download_dialog is None:
            # the window's settings (a test's own file), where the mirror setting is kept
            self.download_dialog = DownloadDialog(self, getattr(self.window(), "settings", None))
            self.download_dialog.fetched.connect(self._fetched)
        self.download_dialog.show()
        self.download_dialog.raise_()

    def _fetched(self, name: str) -> None:
        if self.studio.host is not None:
            self._fill_sources(self.studio.host)
            self.select_source(name)

    def select_source(self, name: str) -> None:
        for i in range(self.sources.count()):
            if self.sources.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.sources.setCurrentRow(i)
                return

    def _source_picked(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.open_source(item.data(Qt.ItemDataRole.UserRole))

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if folder:
            self.open_source(folder)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a data file", "", "Data (*.gz *-ubyte *.idx* *.npy *.npz *.csv *.tsv *.txt);;All files (*)"
        )
        if path:
            self.open_source(path)

    def open_source(self, source: str) -> None:
        """Choose a built-in source by name or a path (from a dialog or a drop), and load it."""
        host = self.studio.host
        if host is None:
            return
        self.source = source
        self.error.clear()
        from genstudio.data import resolve_source

        try:
            cls, path = resolve_source(host, source)
        except GenStudioError as exc:
            self._failed(str(exc))
            return
        if path is not None:
            self.sources.blockSignals(True)
            self.sources.clearSelection()
            self.sources.setCurrentRow(-1)
            self.sources.blockSignals(False)
            self.path_label.setText(f"{cls.title or cls.name}: {path}")
        else:
            self.path_label.setText("")
        self.options.blockSignals(True)
        self.options.set_config_class(cls.Options)
        self.options.blockSignals(False)
        self.load()

    def _options_changed(self) -> None:
        self._debounce.start()

    # -- loading ------------------------------------------------------------------------------

    def load(self) -> None:
        host = self.studio.host
        if host is None or not self.source:
            return
        try:
            options = self._explicit_options()
        except GenStudioError as exc:
            self._failed(str(exc))
            return
        self._token += 1
        token = self._token
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        progress = on_gui_thread(lambda done, total: self._progress(token, done, total))
        run_in_background(
            load_for_preview,
            host,
            self.source,
            options,
            self.studio.workspace.cache_dir,
            progress,
            on_result=lambda result: self._loaded(token, options, *result),
            on_error=lambda err: self._load_error(token, err),
        )

    def _explicit_options(self) -> dict[str, Any]:
        values = self.options.values()
        defaults = {p.name: p.default for p in self.options.params}
        return {k: v for k, v in values.items() if v != defaults[k]}

    def _current(self, token: int) -> bool:
        """Whether a background load's result is still wanted: not replaced by a newer choice,
        and the panel not closed with its window meanwhile."""
        return token == self._token and isValid(self) and isValid(self.progress)

    def _progress(self, token: int, done: int, total: int) -> None:
        if self._current(token):
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _loaded(self, token: int, options: dict[str, Any], data: Any, preview: Any) -> None:
        if not self._current(token):  # a newer choice replaced this one, or the window is gone
            return
        self.progress.setVisible(False)
        self.error.clear()
        self.summary.setText(summarize(data))
        self._show_preview(data.spec.kind, preview, data.spec)
        self.studio.set_dataset(data, self.source, options)
        self.loaded.emit(data)

    def _load_error(self, token: int, err: Any) -> None:
        if not self._current(token):
            return
        self.progress.setVisible(False)
        if isinstance(err.exc, GenStudioError):
            self._failed(str(err.exc))
        else:  # a source that broke in an unexpected way: say so, details on demand
            self._failed(f"{self.source}: could not load: {type(err.exc).__name__}: {err.exc}", err.traceback)

    def _failed(self, message: str, details: str | None = None) -> None:
        self.error.show_error(message, details)
        self.summary.setText("")
        self._show_preview(None)
        self.studio.clear_dataset()

    # -- preview ------------------------------------------------------------------------------

    def _show_preview(self, kind: str | None, preview: Any = None, spec: Any = None) -> None:
        self.image_preview.setVisible(kind == "image")
        self.scatter.setVisible(kind == "vector")
        self.table.setVisible(kind == "tabular")
        if kind == "image":
            self._pixmap = to_pixmap(preview)
            self._fit_pixmap()
        elif kind == "vector":
            self.scatter.show_points(reference=np.asarray(preview))
        elif kind == "tabular":
            names = [c["name"] for c in spec.columns]
            self.table.clear()
            self.table.setRowCount(len(preview))
            self.table.setColumnCount(len(preview[0]) if preview else 0)
            self.table.setHorizontalHeaderLabels(names)
            for r, row in enumerate(preview):
                for c, value in enumerate(row):
                    self.table.setItem(r, c, QTableWidgetItem(str(value)))

    def _fit_pixmap(self) -> None:
        if self._pixmap is not None and not self._pixmap.isNull():
            size = self.image_preview.size()
            self.image_preview.setPixmap(
                self._pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
            )

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_pixmap()


def summarize(data: Any) -> str:
    spec = data.spec
    lines = [
        f"<b>{spec.count:,}</b> {spec.kind} examples shaped <b>{tuple(spec.shape)}</b>",
        f"values in [{spec.value_range[0]:.4g}, {spec.value_range[1]:.4g}]",
    ]
    n_train, n_test = split_counts(data)
    if n_test:
        lines.insert(1, f"its own split: {n_train:,} train, {n_test:,} test")
    if spec.classes:
        shown = ", ".join(spec.classes[:12]) + (" …" if len(spec.classes) > 12 else "")
        lines.append(f"{len(spec.classes)} classes: {shown}")
    else:
        lines.append("no labels")
    if spec.factors:
        lines.append("known factors: " + ", ".join(spec.factors))
    for w in data.warnings:
        lines.append(f"<span style='color:#b8860b'>⚠ {w}</span>")
    return "<br>".join(lines)
