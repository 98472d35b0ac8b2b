"""The Sweep tab, clicked as a person would: tick two parameters, start, watch, stop."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from genstudio.gui.workers import WINDOW_LEAVE
from tests.gui.conftest import TIMEOUT, choose


def points(item) -> int:
    xs = item.getData()[0]
    return 0 if xs is None else len(xs)


def test_tick_two_parameters_start_see_rows_and_points_arrive_then_stop(window, qtbot):
    win = window
    choose(win, qtbot, data="tiny-vectors", family="tiny")
    tab = win.sweep
    win.tabs.setCurrentWidget(tab)
    assert tab.tune.ticked() == ["lr"]  # what the family marks as worth tuning
    names = [tab.tune.item(r, 1).text() for r in range(tab.tune.rowCount())]
    assert names == ["lr", "init_scale"]  # fail_at has no upper limit: it cannot be searched
    # tick init_scale too, and narrow its range by editing the cell
    row = names.index("init_scale")
    qtbot.mouseClick(tab.tune.ticks[row], Qt.MouseButton.LeftButton)
    assert tab.tune.ticked() == ["lr", "init_scale"]
    tab.tune.item(row, 2).setText("0.2:3")
    assert tab.tune.overrides() == {"lr": "1e-05:1:log", "init_scale": "0.2:3"}
    tab.trials.setValue(50)
    tab.length.setValue(300)
    tab.pruner.setCurrentText("none")
    assert tab.start_button.isEnabled() and not tab.stop_button.isEnabled()
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    # rows come into the table and points into the history and the parallel coordinates
    qtbot.waitUntil(lambda: tab.table.rowCount() >= 3 and points(tab.history.complete) >= 2, timeout=TIMEOUT)
    assert tab.stop_button.isEnabled() and not tab.start_button.isEnabled()
    assert tab.session.sweep.leave == WINDOW_LEAVE  # its trials leave the window a share of the time
    assert tab.table.item(0, 1).text() in ("complete", "pruned")
    assert "lr=" in tab.table.item(0, 5).text() and "init_scale=" in tab.table.item(0, 5).text()
    assert tab.intermediate.curves and tab.parallel.lines
    for r in tab.rows.values():
        assert 0.2 <= r["params"]["init_scale"] <= 3
    with qtbot.waitSignal(tab.session.ended, timeout=TIMEOUT) as ended:
        qtbot.mouseClick(tab.stop_button, Qt.MouseButton.LeftButton)
    assert ended.args[0].status == "stopped"
    qtbot.waitUntil(lambda: tab.start_button.isEnabled(), timeout=TIMEOUT)
    # importances come from Optuna once two trials are complete
    qtbot.waitUntil(lambda: tab.importance.bars is not None and not tab.reading, timeout=TIMEOUT)

    # "Train with the best" fills the model form; a double-click opens a trial's run
    best = tab._best()
    qtbot.mouseClick(tab.best_button, Qt.MouseButton.LeftButton)
    assert win.tabs.currentWidget() is win.training
    values = dict(win.studio.config)
    # the form shows 4 decimals, and a log-scaled rate 3 significant digits
    assert values["init_scale"] == pytest.approx(best["params"]["init_scale"], abs=1e-4)
    assert values["lr"] == pytest.approx(best["params"]["lr"], rel=5e-3)
    win.tabs.setCurrentWidget(tab)
    tab._redraw()
    cell = tab.table.visualItemRect(tab.table.item(0, 0)).center()
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    qtbot.mouseDClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert win.tabs.currentWidget() is win.runs
    assert win.runs.selected_ids() == [tab.rows[0]["run"]]


def test_a_bad_range_is_an_inline_message(window, qtbot):
    win = window
    choose(win, qtbot, data="tiny-vectors", family="tiny")
    tab = win.sweep
    tab.tune.item(0, 2).setText("0:5")
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    assert "lr: 0.0 is out of range" in tab.error.text()
    assert tab.session is None and tab.start_button.isEnabled()


def test_pause_starts_no_new_trial_until_released(window, qtbot):
    win = window
    choose(win, qtbot, data="tiny-vectors", family="tiny")
    tab = win.sweep
    tab.trials.setValue(3)
    tab.length.setValue(400)
    tab.pruner.setCurrentText("none")
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.session is not None and bool(tab.rows), timeout=TIMEOUT)
    kinds = []
    tab.session.event_arrived.connect(lambda e: kinds.append((e.type, getattr(e, "message", ""))))
    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    assert tab.pause_button.isChecked()
    # the trial in progress finishes; then the sweep waits, and starts nothing
    qtbot.waitUntil(lambda: ("waiting", "paused") in kinds, timeout=TIMEOUT)
    started = len(tab.rows)
    assert all(r["state"] != "running" for r in tab.rows.values())
    assert ("trial_started", "") not in kinds[kinds.index(("waiting", "paused")) :]
    assert tab.status.text() == "Waiting: paused."
    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)  # release
    with qtbot.waitSignal(tab.session.ended, timeout=TIMEOUT) as ended:
        pass
    assert ended.args[0].status == "finished" and ended.args[0].complete == 3 and len(tab.rows) > started
