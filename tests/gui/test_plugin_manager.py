"""The plugin manager dialog: the list, switching plugins off and on, installing a wheel with
pip's output live, a failing plugin with its traceback, and Cancel."""

from __future__ import annotations

import stat
import sys

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from genstudio.gui.plugin_manager import PluginManagerDialog
from genstudio.host.admin import disabled_plugins
from genstudio.scaffold import create_plugin
from genstudio.testing import make_host
from tests.gui.conftest import TIMEOUT
from tests.plugin_env import build_wheel, layered_env, site_packages

BROKEN = "from genstudio.api import hookimpl\nraise RuntimeError('broken on purpose')\n"


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("GENSTUDIO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # nothing is downloaded in tests


def open_dialog(window, qtbot, python=None):
    root = window.studio.workspace.root
    dialog = PluginManagerDialog(
        window.studio, window, python=python, host_factory=lambda: make_host(root, autoload=True, disabled=None)
    )
    dialog.ask = lambda title, text: True
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def families(window):
    panel = window.model_panel.families
    return [panel.item(i).data(Qt.ItemDataRole.UserRole) for i in range(panel.count())]


def cell(dialog, name, column):
    return dialog.table.item(dialog.row_of(name), column)


def test_every_plugin_is_listed_with_its_source_and_contributions(window, qtbot, config):
    dialog = open_dialog(window, qtbot)
    assert cell(dialog, "vae", 3).text() == "built-in" and cell(dialog, "vae", 4).text() == "models: vae"
    assert cell(dialog, "vae", 5).text() == "ok" and cell(dialog, "vae", 0).checkState() == Qt.CheckState.Checked
    # GenStudio's own data sources cannot be switched off; model families can
    assert not cell(dialog, "datasets", 0).flags() & Qt.ItemFlag.ItemIsUserCheckable
    assert cell(dialog, "vae", 0).flags() & Qt.ItemFlag.ItemIsUserCheckable


def test_switching_a_plugin_off_and_on_updates_the_model_panel(window, qtbot, config):
    dialog = open_dialog(window, qtbot)
    assert "vae" in families(window)
    with qtbot.waitSignal(dialog.host_rebuilt, timeout=TIMEOUT):
        cell(dialog, "vae", 0).setCheckState(Qt.CheckState.Unchecked)
    assert "vae" not in families(window) and "gan" in families(window)
    assert disabled_plugins() == {"vae"}  # remembered for the next start
    assert cell(dialog, "vae", 5).text() == "disabled"
    with qtbot.waitSignal(dialog.host_rebuilt, timeout=TIMEOUT):
        cell(dialog, "vae", 0).setCheckState(Qt.CheckState.Checked)
    assert "vae" in families(window) and disabled_plugins() == set()


def test_refresh_finds_a_plugin_added_outside_the_dialog(window, qtbot, config):
    dialog = open_dialog(window, qtbot)
    assert dialog.row_of("late") < 0
    plugins = window.studio.workspace.plugins_dir
    plugins.mkdir()
    (plugins / "late.py").write_text(BROKEN)  # dropped in while the window is open
    with qtbot.waitSignal(dialog.host_rebuilt, timeout=TIMEOUT):
        qtbot.mouseClick(dialog.refresh_button, Qt.MouseButton.LeftButton)
    assert dialog.row_of("late") >= 0 and cell(dialog, "late", 5).text() == "failed"


def test_a_failing_plugin_is_shown_with_its_error_and_traceback(window, qtbot, config):
    plugins = window.studio.workspace.plugins_dir
    plugins.mkdir()
    (plugins / "broken.py").write_text(BROKEN)
    window.studio.set_host(make_host(window.studio.workspace.root, autoload=True))
    dialog = open_dialog(window, qtbot)
    assert cell(dialog, "broken", 5).text() == "failed"
    dialog.select("broken")
    assert dialog.error.isVisible()
    assert "Plugin 'broken' failed: importing: RuntimeError: broken on purpose" in dialog.error.text()
    dialog.error.toggle.click()
    assert dialog.error.details.isVisible()
    assert "Traceback" in dialog.error.details.toPlainText() and "broken.py" in dialog.error.details.toPlainText()
    assert dialog.uninstall_button.isEnabled()  # a drop-in file can be removed
    dialog.select("vae")
    assert not dialog.error.isVisible() and not dialog.uninstall_button.isEnabled()


@pytest.fixture
def plugin_wheel(tmp_path):
    wheel = build_wheel(create_plugin("gui-mix", tmp_path / "src"), tmp_path / "wheels")
    yield wheel
    for name in [m for m in sys.modules if m == "genstudio_gui_mix"]:
        del sys.modules[name]


def test_a_dropped_wheel_installs_with_pip_output_and_its_family_appears(
    window, qtbot, config, tmp_path, plugin_wheel, monkeypatch
):
    python = layered_env(tmp_path / "env")
    monkeypatch.syspath_prepend(site_packages(python))  # what pip installs there, this process sees
    dialog = open_dialog(window, qtbot, python=str(python))
    asked = []
    dialog.ask = lambda title, text: asked.append(text) or True
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(plugin_wheel))])
    drop = QDropEvent(
        QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    with qtbot.waitSignal(dialog.job_ended, timeout=TIMEOUT) as ended:
        dialog.dropEvent(drop)
    assert ended.args == ["installed"], dialog.log.toPlainText()
    assert "genstudio-gui-mix 0.1.0 (new)" in asked[0] and "torch==" in asked[0]
    log = dialog.log.toPlainText()
    assert "Processing " in log and "Successfully installed genstudio-gui-mix-0.1.0" in log
    assert "gui-mix" in families(window)  # no restart needed for a new plugin
    assert cell(dialog, "gui-mix", 3).text() == "package genstudio-gui-mix 0.1.0"
    assert not dialog.notice.text().startswith("Restart")

    # a new version of a plugin whose module this process imported takes a restart
    source = create_plugin("gui-mix", tmp_path / "v2")
    pyproject = source / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    newer = build_wheel(source, tmp_path / "wheels-v2")
    with qtbot.waitSignal(dialog.job_ended, timeout=TIMEOUT) as ended:
        dialog.install(str(newer))
    assert ended.args == ["installed"], dialog.log.toPlainText()
    assert "genstudio-gui-mix 0.2.0 (replaces 0.1.0)" in asked[-1]
    assert dialog.notice.text().startswith("Restart GenStudio to finish: the new version of genstudio_gui_mix")

    dialog.select("gui-mix")
    assert dialog.uninstall_button.isEnabled()
    with qtbot.waitSignal(dialog.job_ended, timeout=TIMEOUT) as ended:
        dialog.uninstall_button.click()
    assert ended.args == ["removed"], dialog.log.toPlainText()
    assert "Successfully uninstalled genstudio-gui-mix-0.2.0" in dialog.log.toPlainText()
    assert "gui-mix" not in families(window) and dialog.row_of("gui-mix") == -1


def test_declining_the_preview_installs_nothing(window, qtbot, config):
    dialog = open_dialog(window, qtbot)
    dialog.ask = lambda title, text: False
    with qtbot.waitSignal(dialog.job_ended, timeout=TIMEOUT) as ended:
        dialog.install("pluggy")  # installed already: the dry run finds nothing to do
    assert ended.args == ["declined"]
    assert "nothing new" in dialog.log.toPlainText() and "Nothing installed." in dialog.log.toPlainText()


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for Python")
def test_cancel_stops_pip(window, qtbot, config, tmp_path):
    # a Python whose `pip install` hangs after one line; everything else is the real one
    fake = tmp_path / "python"
    fake.write_text(
        "#!/bin/sh\n"
        'case " $* " in\n'
        f'  *" --dry-run "*) exec "{sys.executable}" "$@" ;;\n'
        '  *" install "*) echo "Collecting slowly"; exec sleep 600 ;;\n'
        f'  *) exec "{sys.executable}" "$@" ;;\n'
        "esac\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    dialog = open_dialog(window, qtbot, python=str(fake))
    dialog.install("pluggy")
    qtbot.waitUntil(lambda: "Collecting slowly" in dialog.log.toPlainText(), timeout=TIMEOUT)
    run = dialog.run
    assert dialog.cancel_button.isEnabled() and not dialog.install_button.isEnabled()
    with qtbot.waitSignal(dialog.job_ended, timeout=TIMEOUT) as ended:
        dialog.cancel_button.click()
    assert ended.args == ["cancelled"]
    assert run.process.poll() is not None  # the subprocess is gone
    assert "Cancelled: nothing changed." in dialog.log.toPlainText()
    assert dialog.install_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_a_family_that_fails_to_sample_in_the_window_is_named(window, qtbot, monkeypatch):
    from genstudio.testing import TinyModel
    from tests.gui.conftest import choose, train

    choose(window, qtbot)
    assert train(window, qtbot, steps=10).type == "finished"

    def broken(self, n, generator=None):
        raise RuntimeError("no samples today")

    monkeypatch.setattr(TinyModel, "sample", broken)
    tab = window.samples
    tab.generate_more()
    qtbot.waitUntil(lambda: bool(tab.error.text()), timeout=TIMEOUT)
    assert "Sampling failed: plugin 'tiny' failed: RuntimeError: no samples today" in tab.error.text()
    assert "no samples today" in tab.error.details.toPlainText()
