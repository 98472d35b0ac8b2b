"""The Training tab trains by time: a "minutes" unit, and a progress bar that counts time."""

from __future__ import annotations

from tests.gui.conftest import TIMEOUT, choose


def test_minutes_in_the_length_selector_train_by_time(window, qtbot):
    from PySide6.QtCore import Qt

    choose(window, qtbot)
    tab = window.training
    tab.length_unit.setCurrentText("minutes")
    assert tab.length.value() == 10  # the unit's own starting value
    assert tab.settings().minutes == 10.0 and tab.settings().steps is None
    tab.length.setValue(1)
    ended, progress = [], []
    window.studio.training_ended.connect(ended.append)
    with qtbot.waitSignal(window.studio.training_started, timeout=TIMEOUT):
        qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    session = window.studio.session
    session.event_arrived.connect(lambda e: progress.append(e) if e.type == "progress" else None)
    qtbot.waitUntil(lambda: len(progress) >= 3, timeout=TIMEOUT)
    # the bar shows elapsed time against the budget, not steps against an estimate
    assert "/ 1:00" in tab.progress.format()
    assert tab.progress.maximum() == 1000
    session.stop()
    qtbot.waitUntil(lambda: bool(ended), timeout=TIMEOUT)
    run = session.trainer.store.get_run(session.trainer.run.id)
    assert run.settings["minutes"] == 1.0 and "--minutes 1.0" in run.command
    assert ended[-1].status == "stopped"
