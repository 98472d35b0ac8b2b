"""The main window: layout, defaults, training from a button, pause/resume/stop, failures,
shortcuts, closing during training, settings, themes, drag and drop."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent
from PySide6.QtWidgets import QApplication, QDockWidget, QMessageBox

from genstudio.gui.workers import WINDOW_LEAVE
from genstudio.runs.store import RunStore
from genstudio.training import checkpoint as ckpt
from tests.gui.conftest import TIMEOUT, choose, train


def test_layout(window):
    assert window.windowTitle() == "GenStudio"
    docks = {d.windowTitle() for d in window.findChildren(QDockWidget)}
    assert docks == {"Data", "Model"}
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Training",
        "Samples",
        "Latent",
        "Evaluate",
        "Sweep",
        "Apply",
        "Runs",
    ]
    assert window.status.device_label.text().startswith("device:")
    assert "memory" in window.status.memory_label.text()
    menus = {a.text() for a in window.menuBar().actions()}
    assert {"&File", "&Run", "&View", "&Plugins", "&Help"} <= menus


def test_long_messages_wrap_or_are_cut_and_never_widen_the_window(window, qtbot):
    """A label asks for the width of its whole text: one evaluation's list of skipped metrics
    had pushed the window past the screen's right edge."""
    from types import SimpleNamespace

    window.show()
    qtbot.waitExposed(window)
    narrowest = window.minimumSizeHint().width()
    reason = "the inception-v3 extractor gives no class logits: its weights file holds no classifier layer " * 4
    window.tabs.setCurrentWidget(window.evaluate)
    window.evaluate._evaluated([SimpleNamespace(skipped={"is": reason, "ppl": reason})])
    assert reason.strip() in window.evaluate.stage.text()
    QApplication.processEvents()
    assert window.minimumSizeHint().width() == narrowest
    long = "word " * 300
    window.tabs.setCurrentWidget(window.training)
    for label in (
        window.training.status,
        window.training.plot.readout,
        window.evaluate.pairs_label,
        window.evaluate.score_label,
        window.status.workspace_label,
    ):
        label.setText(long)
        QApplication.processEvents()
        assert window.minimumSizeHint().width() == narrowest, label


def test_shortcuts_are_listed_in_the_run_menu(window):
    assert window.run_actions.start.shortcut().toString() == "Ctrl+Return"
    assert window.run_actions.pause.shortcut().toString() == "Space"
    assert window.run_actions.stop.shortcut().toString() == "Esc"


def enabled_pairs(win):
    """(button enabled, action enabled) for Train/Start, Pause and Stop."""
    actions, tab = win.run_actions, win.training
    return [
        (tab.start_button.isEnabled(), actions.start.isEnabled()),
        (tab.pause_button.isEnabled(), actions.pause.isEnabled()),
        (tab.stop_button.isEnabled(), actions.stop.isEnabled()),
    ]


def test_the_window_builds_while_torch_is_half_imported_by_the_plugin_thread(qtbot, tmp_path, settings, monkeypatch):
    """At start-up the plugins import torch in their own thread while the window is built:
    the status bar must not read ``torch.cuda`` from a module still being imported (seen
    once as an AttributeError that killed the application before its window showed)."""
    import sys
    import types

    from genstudio.gui.app import make_window

    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))  # no ``cuda`` yet
    win = make_window(str(tmp_path / "fresh"), settings)
    qtbot.addWidget(win)
    assert win.status.memory_label.text().startswith("memory ")
    assert "GPU" not in win.status.memory_label.text()


def test_the_run_menu_and_the_buttons_share_one_enabled_state_and_start_is_never_idle(qtbot, tmp_path, settings):
    from genstudio.gui.app import make_window
    from genstudio.testing import make_host

    win = make_window(str(tmp_path / "ws"), settings)
    qtbot.addWidget(win)
    win.show()
    studio, start = win.studio, win.run_actions.start
    run_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Run")
    assert start in run_menu.actions()
    # at launch nothing can train yet: the menu item is off, like the button
    assert enabled_pairs(win) == [(False, False)] * 3
    start.trigger()
    assert studio.session is None and not studio.starting
    seen = []
    studio.state_changed.connect(lambda: seen.append(enabled_pairs(win)))
    studio.set_host(make_host(studio.workspace.root))
    with qtbot.waitSignal(start.enabledChanged, timeout=TIMEOUT, check_params_cb=bool):
        win.data_panel.select_source("tiny")
    win.model_panel.select("tiny")
    win.training.length.setValue(5_000_000)
    # the Run menu's item starts a run, as the button does
    with qtbot.waitSignal(studio.training_started, timeout=TIMEOUT):
        start.trigger()
    assert enabled_pairs(win) == [(False, False), (True, True), (True, True)]
    with qtbot.waitSignal(studio.state_changed, timeout=TIMEOUT):
        win.run_actions.pause.trigger()
    assert studio.paused and win.run_actions.pause.text() == "&Resume" and win.training.pause_button.text() == "Resume"
    win.run_actions.pause.trigger()
    assert not studio.paused and win.training.pause_button.text() == "Pause"
    with qtbot.waitSignal(studio.training_ended, timeout=TIMEOUT):
        qtbot.mouseClick(win.training.stop_button, Qt.MouseButton.LeftButton)
    assert enabled_pairs(win) == [(True, True), (False, False), (False, False)]
    # and at every change in between, each button agreed with its action
    assert seen and all(b == a for pairs in seen for b, a in pairs)
    win.access.shutdown()


def test_the_studio_holds_the_chosen_family_and_its_hyperparameters(window, qtbot):
    choose(window, qtbot, data="tiny", family="vae")
    studio = window.studio
    assert studio.family.name == "vae" and studio.config == window.model_panel.form.values()
    with qtbot.waitSignal(studio.config_changed) as changed:
        window.model_panel.form.set_values({"latent_dim": 5})
    assert changed.args[0]["latent_dim"] == 5 and studio.config["latent_dim"] == 5
    window.model_panel.select("tiny")
    assert studio.family.name == "tiny" and set(studio.config) == {"lr", "init_scale", "fail_at"}
    # hyperparameters that cannot be used stop Train with the reason, and nothing starts
    studio.set_config(studio.config, problem="lr: 'x' is not a number")
    qtbot.mouseClick(window.training.start_button, Qt.MouseButton.LeftButton)
    assert window.training.error.isVisible() and "lr: 'x' is not a number" in window.training.error.text()
    assert studio.session is None and not studio.starting and window.run_actions.start.isEnabled()


def test_plugins_load_in_the_background_then_mnist_and_the_vae_are_preselected(qtbot, tmp_path, settings):
    from genstudio.gui.app import make_window

    win = make_window(str(tmp_path / "fresh"), settings)
    qtbot.addWidget(win)
    win.show()
    assert win.studio.host is None  # the window is up before the plugins
    with qtbot.waitSignal(win.studio.plugins_loaded, timeout=TIMEOUT):
        win.load_plugins()
    qtbot.waitUntil(lambda: win.studio.dataset is not None, timeout=TIMEOUT)
    assert win.studio.data_source == "mnist"
    assert win.studio.family.name == "vae"
    assert win.training.start_button.isEnabled()
    assert "10,000" in win.data_panel.summary.text()
    win.access.shutdown()


def test_train_samples_appear_pause_resume_stop(window, qtbot):
    choose(window, qtbot)
    window.training.length.setValue(5_000_000)
    tab = window.training
    events = []
    window.studio.training_started.connect(lambda s: s.event_arrived.connect(lambda e: events.append(e.type)))
    with qtbot.waitSignal(window.studio.training_started, timeout=TIMEOUT):
        qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    assert not tab.start_button.isEnabled() and tab.stop_button.isEnabled()
    # the window's runs leave it a share of the interpreter when their steps are short
    assert window.studio.session.trainer.control.leave == WINDOW_LEAVE > 0
    qtbot.waitUntil(lambda: window.samples.samples is not None, timeout=TIMEOUT)  # samples appear
    qtbot.waitUntil(lambda: tab.plot.point_count() > 50, timeout=TIMEOUT)  # curves move
    assert tab.progress.value() > 0
    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "paused" in events, timeout=TIMEOUT)
    assert tab.pause_button.text() == "Resume" and "Paused at step" in tab.status.text()
    step = window.studio.session.trainer.step
    assert tab.progress.value() == step  # the bar stands where the run paused
    qtbot.wait(300)
    assert window.studio.session.trainer.step == step  # nothing trains while paused
    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "resumed" in events, timeout=TIMEOUT)
    with qtbot.waitSignal(window.studio.training_ended, timeout=TIMEOUT) as ended:
        qtbot.mouseClick(tab.stop_button, Qt.MouseButton.LeftButton)
    assert ended.args[0].status == "stopped"
    assert tab.progress.value() == ended.args[0].step  # the bar ends where the run did
    assert tab.start_button.isEnabled() and not tab.stop_button.isEnabled()
    run = RunStore(window.studio.workspace).get_run(window.studio.session.trainer.run.id)
    assert run.status == "stopped"
    assert ckpt.list_checkpoints(window.studio.workspace.run_dir(run.id) / "checkpoints")[-1][0] == run.step


def test_keyboard_shortcuts_start_pause_and_stop(window, qtbot):
    choose(window, qtbot)
    window.training.length.setValue(5_000_000)
    with qtbot.waitSignal(window.studio.training_started, timeout=TIMEOUT):
        qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    session = window.studio.session
    qtbot.waitUntil(lambda: session.trainer.step > 0, timeout=TIMEOUT)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: session.trainer.paused, timeout=TIMEOUT)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not session.trainer.paused, timeout=TIMEOUT)
    with qtbot.waitSignal(window.studio.training_ended, timeout=TIMEOUT) as ended:
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert ended.args[0].status == "stopped"


def test_the_config_form_round_trips_to_the_run(window, qtbot):
    choose(window, qtbot, data="tiny", family="vae")
    window.model_panel.form.set_values({"latent_dim": 7, "lr": 0.002, "arch": "mlp", "binarize": True, "beta": 0.5})
    last = train(window, qtbot, steps=20)
    assert last.type == "finished"
    run = RunStore(window.studio.workspace).get_run(last.run)
    assert run.config["latent_dim"] == 7 and run.config["lr"] == 0.002 and run.config["arch"] == "mlp"
    assert run.config["binarize"] is True and run.config["beta"] == 0.5
    assert "--latent-dim 7 " in run.command and "--binarize" in run.command and "--steps 20" in run.command


def test_the_run_settings_of_the_training_tab_reach_the_run(window, qtbot):
    import re

    choose(window, qtbot, data="tiny", family="tiny")
    tab = window.training
    tab.length_unit.setCurrentText("epochs")
    tab.length.setValue(3)
    tab.batch_size.setValue(16)
    tab.seed.setValue(7)
    tab.device.setCurrentText("cpu")
    tab.cpu_threads.setValue(1)
    texts = []
    window.studio.training_started.connect(
        lambda s: s.event_arrived.connect(lambda e: texts.append(tab.status.text()) if e.type == "progress" else None)
    )
    last = train(window, qtbot, steps=3)  # `steps` sets the length: 3 epochs
    assert last.type == "finished"
    run = RunStore(window.studio.workspace).get_run(last.run)
    st = run.settings
    assert (st["epochs"], st["steps"], st["batch_size"], st["seed"], st["device"], st["cpu_threads"]) == (
        3, None, 16, 7, "cpu", 1,
    )  # fmt: skip
    # 96 tiny images, 10% held out: 86 to train, 5 batches of 16 an epoch
    assert run.total_steps == 3 * (86 // 16) and run.step == run.total_steps
    assert "--epochs 3" in run.command and "--batch-size 16" in run.command and "--seed 7" in run.command
    assert any(re.match(r"Run \d+: [\d,.]+ steps/s · ETA \d+:\d\d · elapsed \d+:\d\d · epoch [\d.]+$", t)
               for t in texts), texts  # fmt: skip


def test_a_plugin_that_fails_mid_training_shows_its_error_and_the_window_keeps_working(window, qtbot):
    choose(window, qtbot, family="tiny-broken")
    last = train(window, qtbot, steps=50)
    assert last.type == "failed"
    error = window.training.error
    assert error.isVisible() and "plugin 'tiny' failed while training step 3" in error.text()
    assert "Traceback" not in error.text()  # the traceback waits under Details
    assert error.toggle.isVisible() and not error.details.isVisible()
    error.toggle.click()
    assert error.details.isVisible() and "fails on purpose" in error.details.toPlainText()
    window.model_panel.select("tiny")
    assert train(window, qtbot, steps=10).type == "finished"  # the window keeps working
    assert not window.training.error.isVisible()


def test_a_nan_loss_is_reported_in_the_training_tab(window, qtbot):
    choose(window, qtbot, family="tiny-nan")
    last = train(window, qtbot, steps=50)
    assert last.type == "failed"
    assert "loss 'nll' became nan at step 3" in window.training.error.text()


def test_closing_during_training_asks_then_stops_with_a_checkpoint(window, qtbot, monkeypatch):
    choose(window, qtbot)
    window.training.length.setValue(5_000_000)
    with qtbot.waitSignal(window.studio.training_started, timeout=TIMEOUT):
        window.training.start()
    session = window.studio.session
    qtbot.waitUntil(lambda: session.trainer.step > 10, timeout=TIMEOUT)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Cancel)
    window.close()
    assert asked and window.isVisible() and window.studio.running  # cancelled: nothing happens
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.close()
    assert not window.isVisible() and not window.studio.running
    run = RunStore(window.studio.workspace).get_run(session.trainer.run.id)
    assert run.status == "stopped"
    assert ckpt.list_checkpoints(window.studio.workspace.run_dir(run.id) / "checkpoints")[-1][0] == run.step


def test_geometry_dock_layout_theme_and_recent_workspaces_persist(qtbot, tmp_path, settings):
    from genstudio.gui.app import make_window

    first = make_window(str(tmp_path / "a"), settings)
    qtbot.addWidget(first)
    first.show()
    first.resize(790, 660)  # the offscreen screen is 800x600 wide: stay inside it
    size = (first.size().width(), first.size().height())
    first.set_theme("dark")
    first.model_dock.close()  # the user closes one dock and moves the other
    first.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, first.data_dock)
    first.close()
    second = make_window(str(tmp_path / "b"), settings)
    qtbot.addWidget(second)
    second.show()
    assert (second.size().width(), second.size().height()) == size != (1400, 900)
    assert second.theme_actions["dark"].isChecked()
    assert QApplication.palette().window().color().name() == "#2b2d30"
    assert second.model_dock.isHidden()
    assert second.dockWidgetArea(second.data_dock) == Qt.DockWidgetArea.RightDockWidgetArea
    recent = [a.text() for a in second.recent_menu.actions()]
    assert recent[:2] == [str((tmp_path / "b").resolve()), str((tmp_path / "a").resolve())]
    second.close()


def test_opening_a_workspace_switches_runs_and_plugins(window, qtbot, tmp_path):
    other = tmp_path / "other"
    with qtbot.waitSignal(window.studio.plugins_loaded, timeout=TIMEOUT):
        window.open_workspace(str(other))
    assert window.studio.workspace.root == other.resolve()
    assert str(other.resolve()) in window.status.workspace_label.text()


def test_a_workspace_that_cannot_be_used_is_named_and_the_window_stays(window, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    said = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: said.append(text))
    before = window.studio.workspace.root
    window.open_workspace(str(blocker))
    assert len(said) == 1 and "a-file" in said[0]
    assert window.studio.workspace.root == before


def test_dropping_a_file_on_the_window_opens_it(window, qtbot, tmp_path):
    path = tmp_path / "points.npy"
    np.save(path, np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    window.dropEvent(event)
    qtbot.waitUntil(
        lambda: window.studio.dataset is not None and window.studio.dataset.spec.source == str(path), timeout=TIMEOUT
    )
    assert window.studio.dataset.spec.kind == "vector"
    assert window.data_panel.scatter.isVisible()


@pytest.mark.parametrize("name", ["light", "dark"])
def test_themes(window, name):
    window.training.plot.append({"loss": ([1, 2], [3.0, 2.0])})  # a curve, so the legend has a label
    window.set_theme(name)
    dark = QApplication.palette().window().color().lightness() < 100
    assert dark == (name == "dark")
    # the legend made before the switch follows it: labels stay readable on the new background
    legend = window.training.plot.plot.getPlotItem().legend
    labels = [label for _, label in legend.items]
    assert labels
    for label in labels:
        assert (QColor(label.opts["color"]).lightness() > 128) == dark


def test_the_plugins_menu_opens_the_plugin_manager(window):
    action = next(a for a in window.plugins_menu.actions() if a.text() == "Manage plugins…")
    action.trigger()
    dialog = window.plugin_manager
    assert dialog.isVisible()
    names = [dialog.table.item(row, 1).text() for row in range(dialog.table.rowCount())]
    assert "vae" in names and "tiny" in names


def test_the_command_line_opens_this_window(monkeypatch, tmp_path):
    from genstudio import cli

    opened = []
    monkeypatch.setattr("genstudio.gui.app.run_app", lambda ws: opened.append(ws) or 0)
    assert cli.main(["--workspace", str(tmp_path)]) == 0
    assert opened == [str(tmp_path)]
    assert Path(cli.__file__).name == "__init__.py"


def test_building_the_window_imports_no_torch(tmp_path):
    """The plugins import torch in their own thread while the window is built (Train is offered
    sooner): no module of the window may import it, nor may building the window."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import sys
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from genstudio.gui import workers
        workers.install()
        from genstudio.gui.app import make_window
        win = make_window({str(tmp_path / "ws")!r}, QSettings({str(tmp_path / "s.ini")!r}, QSettings.Format.IniFormat))
        win.show()
        app.processEvents()
        print("torch" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_torchs_warm_up_leaves_the_long_lived_objects_out_of_garbage_collections():
    """A full collection walked the ~340,000 objects of Qt, pyqtgraph and torch, holding the
    interpreter lock for 100 to 160 ms in whichever thread allocated: the window froze that
    long during training. After the warm-up they are frozen (gc.freeze) and a full
    collection walks only what came after."""
    import gc

    from genstudio.gui.startup import torch_warmed_up, warm_up_torch

    warm_up_torch()
    assert torch_warmed_up()
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # torch's modules and functions at the least


def test_the_form_shows_what_auto_values_become_and_the_run_records_it(window, qtbot):
    """Issue 12: a family's auto values resolve from the data and the device, and the form
    shows the resolved value; the run records the same."""
    choose(window, qtbot, data="mnist", family="vae")  # the built-in 28x28 digits
    form = window.model_panel.form
    width, arch, likelihood = form.widgets["width"], form.widgets["arch"], form.widgets["likelihood"]
    assert width.value() == 0 and width.text() == "auto: 16"  # 16 channels on a CPU
    assert arch.currentText() == "auto → conv" and arch.currentData() == "auto"
    assert likelihood.currentText() == "auto → bernoulli"  # pixels in [0, 1]
    assert form.widgets["latent_dim"].text() == "16"  # not an auto value: no note
    width.setValue(24)
    assert width.text() == "24"
    width.setValue(0)
    assert width.text() == "auto: 16"
    window.studio.clear_dataset()  # no data: nothing to resolve against, so no note
    assert width.text() == "0" and arch.currentText() == "auto"
    window.data_panel.open_source("mnist")
    qtbot.waitUntil(lambda: window.studio.dataset is not None, timeout=TIMEOUT)
    assert width.text() == "auto: 16"
    assert train(window, qtbot, steps=3).type == "finished"
    assert RunStore(window.studio.workspace).get_run(1).config["width"] == 16


def test_work_that_ends_after_the_application_is_gone_says_nothing(monkeypatch):
    """A background job (an evaluation) whose window was closed while it ran: delivering its
    progress or result printed 'Signal source has been deleted' with a traceback."""
    import shiboken6

    from genstudio.gui import workers

    relay = workers._Relay()
    monkeypatch.setattr(workers, "_relay", relay)
    shiboken6.delete(relay)
    workers._deliver(lambda _: None, 1)  # no RuntimeError


def window_on_plugin(qtbot, tmp_path, settings, module):
    """A window whose plugins are the built-in data sources and the plugin ``module``."""
    from genstudio.gui.app import make_window
    from genstudio.testing import make_host

    win = make_window(str(tmp_path / "ws"), settings)
    qtbot.addWidget(win)
    win.show()
    win.studio.set_host(make_host(win.studio.workspace.root, builtins=("genstudio.data.datasets", module)))
    return win


def test_train_is_offered_before_the_family_is_imported_and_a_click_then_trains(qtbot, tmp_path, settings, importable):
    """The families are listed from their declarations (genstudio.api.Family) and Train comes
    with the data, before any class (or torch) is imported; a click then prepares the run,
    which waits for the import and trains. Here the class's module is held at import until
    the test lets it go."""
    importable("late_gate", "import threading\nGATE = threading.Event()\n")
    importable(
        "late_family",
        """
        from genstudio.api import Family, hookimpl
        from genstudio.testing import TinyConfig

        FAMILY = Family(name="late", location="late_family_model:Late", title="Late",
                        accepts={"image", "vector"}, Config=TinyConfig)

        @hookimpl
        def genstudio_register_models(registry):
            registry.add(FAMILY)
        """,
    )
    importable(
        "late_family_model",
        """
        import late_gate
        from genstudio.testing import TinyModel
        from late_family import FAMILY

        late_gate.GATE.wait(60)

        class Late(TinyModel, family=FAMILY):
            pass
        """,
    )
    import late_gate

    try:
        win = window_on_plugin(qtbot, tmp_path, settings, "late_family")
        studio = win.studio
        with qtbot.waitSignal(win.run_actions.start.enabledChanged, timeout=TIMEOUT, check_params_cb=bool):
            win.data_panel.select_source("tiny")
        win.model_panel.select("late")
        assert studio.family.name == "late" and not studio.families_imported
        # offered, not imported: the import has begun in the background, held by the gate
        assert not hasattr(sys.modules.get("late_family_model"), "Late")
        win.training.length.setValue(50)
        qtbot.mouseClick(win.training.start_button, Qt.MouseButton.LeftButton)
        assert studio.starting and not win.run_actions.start.isEnabled()  # the click was taken
        ended = []
        studio.training_ended.connect(ended.append)
        late_gate.GATE.set()
        qtbot.waitUntil(lambda: bool(ended), timeout=TIMEOUT)
        assert type(ended[-1]).__name__ == "Finished" and ended[-1].step == 50
        qtbot.waitUntil(lambda: studio.families_imported, timeout=TIMEOUT)
        assert studio.family.__name__ == "Late"  # the panel took the class once it came
        win.access.shutdown()
    finally:
        late_gate.GATE.set()  # never leave the import thread waiting


def test_a_declared_family_whose_class_does_not_import_says_so_and_leaves_the_list(
    qtbot, tmp_path, settings, importable
):
    """A third-party family declared in a module that imports nothing broken, its class in one
    that fails: Train on it says why (the plugin, the family, the error), with no traceback,
    and once the families are imported it leaves the list and the status bar says so."""
    importable(
        "shaky_family",
        """
        from genstudio.api import Family, hookimpl
        from genstudio.testing import TinyConfig

        @hookimpl
        def genstudio_register_models(registry):
            registry.add(Family(name="shaky", location="shaky_family_model:Shaky", title="Shaky",
                                accepts={"vector"}, Config=TinyConfig))
        """,
    )
    importable("shaky_family_model", "raise ImportError('needs libshaky, which is not installed')\n")
    win = window_on_plugin(qtbot, tmp_path, settings, "shaky_family")
    studio = win.studio
    win.model_panel.select("shaky")  # before any data: the import waits for the data
    with qtbot.waitSignal(studio.training_not_started, timeout=TIMEOUT) as refused:
        with qtbot.waitSignal(win.run_actions.start.enabledChanged, timeout=TIMEOUT, check_params_cb=bool):
            win.data_panel.select_source("tiny-vectors")
        assert studio.family.name == "shaky"
        qtbot.mouseClick(win.training.start_button, Qt.MouseButton.LeftButton)
    message, details = refused.args
    assert message == (
        "plugin 'shaky_family': importing model 'shaky': ImportError: needs libshaky, which is not installed"
    )
    assert details is None and win.training.error.isVisible()
    qtbot.waitUntil(lambda: studio.families_imported, timeout=TIMEOUT)
    names = [
        win.model_panel.families.item(i).data(Qt.ItemDataRole.UserRole) for i in range(win.model_panel.families.count())
    ]
    assert "shaky" not in names and studio.family.name != "shaky"
    assert "shaky" in win.status.currentMessage()
    win.access.shutdown()


def test_a_run_of_a_family_whose_class_does_not_import_opens_without_its_model(window, qtbot, monkeypatch):
    """Opened while its declared family's import fails (within a second of launch), a run is
    shown as one whose plugin is missing: no model, no exception out of the window's code."""
    from genstudio.api import PluginError
    from genstudio.testing import train as train_headless

    ws = window.studio.workspace
    train_headless(window.studio.host, ws, "tiny", "tiny", steps=5)
    models = window.studio.host.models

    def broken(name):
        raise PluginError(f"plugin 'tiny': importing model {name!r}: ImportError: gone")

    monkeypatch.setattr(models, "get", broken)
    window.studio.run_opened.emit(RunStore(ws).get_run(1))
    assert window.access.run.id == 1 and window.access.model_cls is None
