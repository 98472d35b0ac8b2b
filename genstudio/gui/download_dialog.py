""" "Get dataset…": fetch a catalogue set with a progress bar (bytes, speed, time left) and Cancel.

The download runs in a worker thread (:func:`genstudio.gui.workers.run_in_background`);
Cancel sets an event the downloader checks between chunks, and what was received stays in
``NAME.part`` for the next attempt, which resumes it. The mirror field is the window's
counterpart of ``GENSTUDIO_DATASETS_MIRROR``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.api import GenStudioError
from genstudio.data.catalogue import CATALOGUE
from genstudio.data.download import MIRROR_ENV, DownloadCancelledError, fetch, is_present, recorded_folder
from genstudio.gui.widgets import ErrorBox
from genstudio.gui.workers import on_gui_thread, run_in_background

MIRROR_SETTING = "datasets/mirror"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def progress_text(t: Any) -> str:
    """``12.3 MB of 60.1 MB · 4.1 MB/s · 0:11 left``"""
    total = human_bytes(t.total) if t.total else "?"
    eta = t.eta
    left = "--:--" if eta is None else f"{int(eta) // 60}:{int(eta) % 60:02d}"
    return f"{t.file}: {human_bytes(t.done)} of {total} · {human_bytes(t.speed)}/s · {left} left"


class DownloadDialog(QDialog):
    """Signals ``fetched(name)`` once a set is downloaded and verified."""

    fetched = Signal(str)
    finished_download = Signal(str)  # "done", "cancelled" or "failed": for tests and the status bar

    def __init__(self, parent: QWidget | None = None, settings: QSettings | None = None):
        super().__init__(parent)
        self.settings = settings or QSettings()
        self.setWindowTitle("Get dataset")
        self.setMinimumWidth(560)
        self._cancel: threading.Event | None = None
        self._worker: Any = None

        self.sets = QListWidget()
        self.sets.currentItemChanged.connect(self._picked)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.mirror = QLineEdit(str(self.settings.value(MIRROR_SETTING, "") or os.environ.get(MIRROR_ENV, "")))
        self.mirror.setPlaceholderText("the published mirrors; or a base URL holding a folder per dataset")
        self.mirror.setToolTip(f"Points every download at another base URL (like {MIRROR_ENV})")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = ErrorBox()
        self.get_button = QPushButton("Download")
        self.get_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)

        form = QFormLayout()
        form.addRow("Mirror:", self.mirror)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.get_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Standard datasets</b> (verified against their published checksums)"))
        layout.addWidget(self.sets, 1)
        layout.addWidget(self.details)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        current = self.current_name()
        self.sets.clear()
        for e in CATALOGUE.values():
            here = is_present(e)
            size = sum(f.size for f in e.files)
            item = QListWidgetItem(
                f"{e.title}  ({e.name})" + (f"  · {human_bytes(size)}" if size else "") + ("  ✓ here" if here else "")
            )
            item.setData(Qt.ItemDataRole.UserRole, e.name)
            self.sets.addItem(item)
        self.select(current or next(iter(CATALOGUE)))

    def select(self, name: str) -> None:
        for i in range(self.sets.count()):
            if self.sets.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.sets.setCurrentRow(i)

    def current_name(self) -> str | None:
        item = self.sets.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _picked(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        e = CATALOGUE[item.data(Qt.ItemDataRole.UserRole)]
        here = is_present(e)
        where = f"On this machine in {here}." if here else f"Goes to {recorded_folder(e.name)}."
        self.details.setText(f"{e.description}<br>Licence: {e.licence}. Cite: {e.citation}<br>{where}")

    # -- downloading ------------------------------------------------------------------------

    @property
    def downloading(self) -> bool:
        return self._cancel is not None

    def start(self) -> None:
        name = self.current_name()
        if name is None or self.downloading:
            return
        mirror = self.mirror.text().strip()
        self.settings.setValue(MIRROR_SETTING, mirror)
        self._cancel = threading.Event()
        self.error.clear()
        self.progress.setVisible(True)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status.setText(f"Connecting for {name}…")
        self.get_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.sets.setEnabled(False)
        self._worker = run_in_background(
            fetch,
            CATALOGUE[name],
            progress=on_gui_thread(self._progress),
            cancel=self._cancel,
            mirror=mirror or None,
            on_result=lambda folder: self._done(name, folder),
            on_error=self._failed,
        )

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling…")

    def _progress(self, t: Any) -> None:
        if t.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(min(1000, int(1000 * t.done / t.total)))
        else:  # the catalogue does not know this file's size: a busy bar
            self.progress.setRange(0, 0)
        self.status.setText(progress_text(t))

    def _idle(self) -> None:
        self._cancel = None
        self.get_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.sets.setEnabled(True)

    def _done(self, name: str, folder: Any) -> None:
        self._idle()
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.status.setText(f"{name}: verified in {folder}. It is now in the Data dock's list.")
        self.refresh()
        self.fetched.emit(name)
        self.finished_download.emit("done")

    def _failed(self, err: Any) -> None:
        self._idle()
        self.progress.setVisible(False)
        if isinstance(err.exc, DownloadCancelledError):
            self.status.setText("Cancelled. What was received is kept; Download again resumes it.")
            self.finished_download.emit("cancelled")
            return
        self.status.setText("")
        if isinstance(err.exc, GenStudioError):
            self.error.show_error(str(err.exc))
        else:
            self.error.show_error(f"the download failed: {type(err.exc).__name__}: {err.exc}", err.traceback)
        self.finished_download.emit("failed")

    def reject(self) -> None:
        self.cancel()  # closing the dialog never leaves a download running unseen
        super().reject()
