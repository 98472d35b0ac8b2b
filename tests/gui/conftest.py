"""Window tests: pytest-qt, offscreen, each window on its own workspace and settings file."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6", reason="the window needs PySide6 (the gui extra)")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings

from genstudio.testing import make_host

# Each QThreadPool worker must finish before a test's window goes away.
TIMEOUT = 60_000


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, tmp_path, settings):
    """The main window on a fresh workspace, with the built-in plugins and the tiny test plugin."""
    from genstudio.gui import workers
    from genstudio.gui.app import make_window

    workers.install()
    win = make_window(str(tmp_path / "ws"), settings)

    def stop_training(w):
        # before pytest-qt closes the window: a run still training (a test that failed half-way)
        # would make closing ask with a modal question, which nobody answers offscreen
        session = w.studio.session
        if w.studio.running:
            session.stop()
            session.wait(30)

    qtbot.addWidget(win, before_close_func=stop_training)
    win.show()
    win.studio.set_host(make_host(win.studio.workspace.root))
    yield win
    stop_training(win)
    win.access.shutdown()


def choose(win, qtbot, data="tiny", family="tiny"):
    """Pick data and a family as a user would, and wait until the data is loaded and the
    families' classes imported (the form then shows what auto values become)."""
    win.data_panel.select_source(data)
    qtbot.waitUntil(lambda: win.studio.dataset is not None and win.studio.dataset.spec.source == data, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: win.studio.families_imported, timeout=TIMEOUT)
    win.model_panel.select(family)
    assert win.studio.family.name == family


def train(win, qtbot, steps=200, **form):
    """Press Train and wait for the run to end; returns the last event."""
    from PySide6.QtCore import Qt

    win.training.length.setValue(steps)
    for name, value in form.items():
        setattr_widget(win.model_panel.form, name, value)
    ended = []
    win.studio.training_ended.connect(ended.append)
    with qtbot.waitSignal(win.studio.training_started, timeout=TIMEOUT):
        qtbot.mouseClick(win.training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(ended), timeout=TIMEOUT)
    win.studio.training_ended.disconnect(ended.append)
    return ended[-1]


def setattr_widget(form, name, value):
    form.set_values({name: value})
