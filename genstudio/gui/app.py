"""Starting the window: ``genstudio [--workspace DIR]``.

The window shows first; plugins (and with them torch) load in the background, so it is on
screen in well under two seconds.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from PySide6.QtCore import QSettings, QThreadPool, QTimer
from PySide6.QtWidgets import QApplication

from genstudio.gui import workers
from genstudio.gui.main_window import MainWindow, default_recent
from genstudio.gui.state import Studio
from genstudio.runs.workspace import WORKSPACE_ENV, Workspace


def make_window(workspace: str | None = None, settings: QSettings | None = None) -> MainWindow:
    """Build the window on a workspace: the argument, ``$GENSTUDIO_WORKSPACE``, the last one
    used, or the user data folder."""
    settings = settings or QSettings()
    folder = workspace or os.environ.get(WORKSPACE_ENV) or default_recent(settings)
    studio = Studio(Workspace(folder))
    return MainWindow(studio, settings)


#: Set to make the window say on stderr when it is on screen (the start-up benchmark reads it).
SHOWN_ENV = "GENSTUDIO_REPORT_SHOWN"
#: Set to make the window quit once its plugins are loaded, saying so (the bundle's smoke test).
SMOKE_ENV = "GENSTUDIO_SMOKE_QUIT"


def run_app(workspace: str | None = None, argv: list[str] | None = None) -> int:
    app: Any = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("GenStudio")
    app.setOrganizationName("GenStudio")
    workers.install()
    window = make_window(workspace)
    window.show()
    if os.environ.get(SHOWN_ENV):
        # the first turn of the event loop comes after the window's first paint
        QTimer.singleShot(
            0, lambda: print(f"genstudio: window shown at {time.time():.3f}", file=sys.stderr, flush=True)
        )
    if os.environ.get(SMOKE_ENV):
        _quit_when_ready(app, window)
    QTimer.singleShot(0, window.load_plugins)
    return app.exec()


def _quit_when_ready(app: Any, window: MainWindow) -> None:
    """For the bundle's smoke test (packaging/smoke.py): once the window is up, its plugins
    loaded and its background work (the default data, the device probe) done, say so on
    stdout and quit."""
    pool = QThreadPool.globalInstance()
    timer = QTimer(window)
    timer.setInterval(200)
    idle = [0]

    def poll() -> None:
        # two quiet ticks in a row: work delivered on one tick may start more on the next
        idle[0] = idle[0] + 1 if pool.activeThreadCount() == 0 else 0
        if idle[0] < 2:
            return
        timer.stop()
        host, data = window.studio.host, window.studio.dataset
        failed = ", ".join(p.name for p in host.failed()) or "none"
        print(
            f"GenStudio window ready: visible={window.isVisible()}, {len(host.models)} model families, "
            f"{len(host.datasets)} data sources, data {data.spec.source if data is not None else 'none'}, "
            f"failed plugins: {failed}",
            flush=True,
        )
        app.quit()

    timer.timeout.connect(poll)
    window.studio.plugins_loaded.connect(lambda _: timer.start())
