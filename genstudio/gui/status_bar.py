"""The status bar: the workspace, the training device and the process's memory."""

from __future__ import annotations

import os
import sys
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from genstudio.gui.state import Studio
from genstudio.gui.widgets import message_label

MEMORY_EVERY_MS = 2000


def device_description() -> str:
    """The device training picks with ``--device auto``, named for the status bar."""
    from genstudio.training.device import describe, resolve_device

    return describe(resolve_device("auto"))


def memory_text(*, torch_loaded: bool) -> str:
    """The process's memory, and the GPU's once ``torch_loaded`` (the plugins import torch in a
    thread of their own at start-up: until they are loaded, ``sys.modules`` may hold a torch
    still being imported, without its ``cuda``)."""
    rss = 0
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    text = f"memory {rss / 2**30:.2f} GiB"
    torch = sys.modules.get("torch") if torch_loaded else None  # the GPU once torch is in use anyway
    if torch is not None and torch.cuda.is_available():
        text += f" · GPU {torch.cuda.memory_allocated() / 2**30:.2f} GiB"
    return text


class StatusBar(QStatusBar):
    """Messages on the left; the workspace, the device and the memory in use on the right."""

    def __init__(self, studio: Studio, parent: QWidget | None = None):
        super().__init__(parent)
        self.device_label = QLabel("device: …")
        self.memory_label = QLabel()
        self.workspace_label = message_label(one_line=True)
        self.addWidget(self.workspace_label, 1)
        self.addPermanentWidget(self.device_label)
        self.addPermanentWidget(self.memory_label)
        self._memory_timer = QTimer(self)
        self._memory_timer.setInterval(MEMORY_EVERY_MS)
        self._memory_timer.timeout.connect(self._show_memory)  # while on screen (showEvent)
        self._studio = studio
        self._show_memory()
        studio.workspace_changed.connect(self._workspace_changed)
        studio.training_started.connect(self._training_started)
        self._workspace_changed(studio.workspace)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._show_memory()
        self._memory_timer.start()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().hideEvent(event)
        self._memory_timer.stop()  # a closed window polls nothing

    def _show_memory(self) -> None:
        self.memory_label.setText(memory_text(torch_loaded=self._studio.host is not None))

    def show_device(self, description: str) -> None:
        self.device_label.setText(f"device: {description}")

    def _workspace_changed(self, workspace: Any) -> None:
        self.workspace_label.setText(f"workspace: {workspace.root}")
        self.workspace_label.setToolTip(str(workspace.root))

    def _training_started(self, session: Any) -> None:
        self.show_device(session.trainer.run.device)
