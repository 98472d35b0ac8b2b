"""Starting the window: ``genstudio [--workspace DIR]``.

The window is built first; the plugins load in a thread of their own while it is shown, so
it is on screen in well under two seconds, and Train is offered as soon as the plugins and
the default data are there. The built-in families are declarations until their classes are
imported (with torch) in the background, after the data.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, QThreadPool, QTimer
from PySide6.QtWidgets import QApplication

from genstudio.gui import workers
from genstudio.gui.state import Studio
from genstudio.runs.workspace import WORKSPACE_ENV, Workspace

if TYPE_CHECKING:
    from genstudio.gui.main_window import MainWindow


def default_recent(settings: QSettings) -> str | None:
    value = settings.value("workspace")
    return str(value) if value and Path(str(value)).is_dir() else None


def make_studio(workspace: str | None = None, settings: QSettings | None = None) -> Studio:
    """The state of a window on a workspace: the argument, ``$GENSTUDIO_WORKSPACE``, the last
    one used, or the user data folder."""
    folder = workspace or os.environ.get(WORKSPACE_ENV) or default_recent(settings or QSettings())
    return Studio(Workspace(folder))


def make_window(workspace: str | None = None, settings: QSettings | None = None) -> MainWindow:
    """Build the window on a workspace (see :func:`make_studio`); plugins are not loaded yet."""
    from genstudio.gui.main_window import MainWindow

    settings = settings or QSettings()
    return MainWindow(make_studio(workspace, settings), settings)


#: Set to make the window say on stderr when it is on screen (the start-up benchmark reads it).
SHOWN_ENV = "GENSTUDIO_REPORT_SHOWN"
#: Set to make the window quit once its plugins are loaded, saying so (the bundle's smoke test).
SMOKE_ENV = "GENSTUDIO_SMOKE_QUIT"


def run_app(workspace: str | None = None, argv: list[str] | None = None) -> int:
    app: Any = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("GenStudio")
    app.setOrganizationName("GenStudio")
    workers.install()
    from genstudio.gui.main_window import MainWindow

    settings = QSettings()
    studio = make_studio(workspace, settings)
    # the plugins load in their own thread from here, while this one builds the window. The
    # built-in families are declared (genstudio.api.Family), so that imports no torch: Train
    # is offered once the default data is in, and the families' classes, with torch, are
    # imported after that (Studio.set_dataset). Measured (bench/ui_latency.py, median of 5):
    # Train enabled 2.06 s after launch when the plugins imported torch, 0.86 s now
    studio.load_plugins()
    window = MainWindow(studio, settings)
    window.load_plugins()  # says "Loading plugins…"; the loading itself is under way
    window.show()
    if os.environ.get(SHOWN_ENV):
        _report_shown(window)
    if os.environ.get(SMOKE_ENV):
        _quit_when_ready(app, window)
    return app.exec()


def _report_shown(window: MainWindow) -> None:
    """For the start-up benchmark: say on stderr when the window is on screen and when Start
    is first offered, as Unix times."""

    def say(what: str) -> None:
        print(f"genstudio: {what} at {time.time():.3f}", file=sys.stderr, flush=True)

    # the first turn of the event loop comes after the window's first paint
    QTimer.singleShot(0, lambda: say("window shown"))
    start = window.run_actions.start
    if start.isEnabled():
        say("train enabled")
        return

    def enabled(on: bool) -> None:
        if on:
            start.enabledChanged.disconnect(enabled)
            say("train enabled")

    start.enabledChanged.connect(enabled)


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
