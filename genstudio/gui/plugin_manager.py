"""The plugin manager: every plugin with its origin, contributions and status; switch plugins
on and off; install from a package name, a wheel or sdist (file dialog or drag and drop) or a
project folder (editable); remove them.

pip runs in a subprocess read by a background worker (:mod:`genstudio.gui.workers`), its
output shown live; Cancel interrupts it. Before installing, a dry run shows what would change
and asks. After any change the plugin host is rebuilt in the background and handed to the
:class:`~genstudio.gui.state.Studio`, so the Model panel shows the new families at once;
when Python cannot swap code it has already imported, the dialog says to restart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from genstudio.gui.state import Studio
from genstudio.gui.widgets import ErrorBox
from genstudio.gui.workers import BackgroundError, run_in_background, stream_in_background
from genstudio.host import admin

COLUMNS = ("On", "Plugin", "Version", "Source", "Contributes", "Status")
SOURCES = {
    "builtin": "built-in",
    "entrypoint": "installed package",
    "dropin": "drop-in file",
    "object": "added by code",
}


def _droppable(path: str) -> bool:
    p = Path(path)
    return (p.is_file() and path.endswith(admin.ARCHIVE_SUFFIXES)) or (
        p.is_dir() and ((p / "pyproject.toml").is_file() or (p / "setup.py").is_file())
    )


class PluginManagerDialog(QDialog):
    """``job_ended`` carries how the last install or removal ended: ``"installed"``,
    ``"removed"``, ``"declined"``, ``"refused"``, ``"cancelled"`` or ``"failed"``.
    ``host_rebuilt`` carries the new plugin host once the Studio has it."""

    job_ended = Signal(str)
    host_rebuilt = Signal(object)

    def __init__(
        self,
        studio: Studio,
        parent: QWidget | None = None,
        *,
        python: str | None = None,
        host_factory: Callable[[], Any] | None = None,
    ):
        super().__init__(parent)
        self.studio = studio
        self.installer = admin.Installer(python)
        self.host_factory = host_factory or self._default_host
        self.run: admin.PipRun | None = None
        self.busy = False
        self._cancel_requested = False
        self.setWindowTitle("Plugins")
        self.setAcceptDrops(True)
        self.resize(900, 620)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._item_changed)
        self.table.itemSelectionChanged.connect(self._selected)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = ErrorBox()
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: #b9770e;")
        self.notice.setVisible(False)

        self.install_button = QPushButton("Install…")
        self.install_button.setToolTip("Install a plugin package by name from the Python package index")
        self.install_file_button = QPushButton("Install file…")
        self.install_file_button.setToolTip(
            "Install a wheel (.whl) or source archive (.tar.gz, .zip); or drop one here"
        )
        self.install_folder_button = QPushButton("Install folder…")
        self.install_folder_button.setToolTip("Install a project folder in editable mode: edits take effect on restart")
        self.uninstall_button = QPushButton("Uninstall…")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip(
            "Look for plugins again: packages installed from a terminal, files dropped in the plugins folder"
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close")
        self.install_button.clicked.connect(self.ask_package)
        self.install_file_button.clicked.connect(self.ask_file)
        self.install_folder_button.clicked.connect(self.ask_folder)
        self.uninstall_button.clicked.connect(self.uninstall_selected)
        self.refresh_button.clicked.connect(self.refresh)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText(
            "pip's output appears here. Drop a wheel, an sdist or a project folder to install it."
        )

        buttons = QHBoxLayout()
        for b in (
            self.install_button, self.install_file_button, self.install_folder_button, self.uninstall_button,
            self.refresh_button,
        ):  # fmt: skip
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table, 1)
        top_layout.addWidget(self.details)
        top_layout.addWidget(self.error)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.log)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addWidget(self.notice)
        layout.addLayout(buttons)

        studio.plugins_loaded.connect(self.show_host)
        studio.families_loaded.connect(self._families_loaded)
        if studio.host is not None:
            self.show_host(studio.host)
        self._set_busy(False)

    # -- the list ----------------------------------------------------------------------------

    def _default_host(self) -> Any:
        from genstudio.host import create_plugin_manager

        return create_plugin_manager(self.studio.workspace.root)

    def _families_loaded(self, _dropped: list[str]) -> None:
        # a declared family whose class cannot be imported is found out now: its plugin failed
        if self.studio.host is not None:
            self.show_host(self.studio.host)

    def show_host(self, host: Any) -> None:
        current = self.selected_name()
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        for info in host.plugins.values():
            row = self.table.rowCount()
            self.table.insertRow(row)
            on = QTableWidgetItem()
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if admin.can_disable(info.name) and info.source != "object":
                flags |= Qt.ItemFlag.ItemIsUserCheckable
            else:
                on.setToolTip("part of GenStudio itself" if info.source == "builtin" else "registered by code")
            on.setFlags(flags)
            on.setCheckState(Qt.CheckState.Checked if info.enabled else Qt.CheckState.Unchecked)
            on.setData(Qt.ItemDataRole.UserRole, info.name)
            what = "; ".join(f"{k}: {', '.join(v)}" for k, v in info.contributes.items() if v) or "-"
            source = SOURCES.get(info.source, info.source)
            if info.source == "entrypoint" and info.location:
                source = f"package {info.location}"
            status = "disabled" if not info.enabled else ("failed" if info.error else "ok")
            cells = [on, info.name, info.version or "-", source, what, status]
            for col, cell in enumerate(cells):
                item = cell if isinstance(cell, QTableWidgetItem) else QTableWidgetItem(str(cell))
                if col:
                    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                if info.error and col == 5:
                    item.setForeground(Qt.GlobalColor.red)
                    item.setToolTip(info.error)
                self.table.setItem(row, col, item)
        self.table.blockSignals(False)
        if current is not None:
            self.select(current)
        self._selected()

    def row_of(self, name: str) -> int:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == name:
                return row
        return -1

    def select(self, name: str) -> None:
        row = self.row_of(name)
        if row >= 0:
            self.table.selectRow(row)

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole) if rows else None

    def selected_info(self) -> Any:
        name, host = self.selected_name(), self.studio.host
        return host.plugins.get(name) if name is not None and host is not None else None

    def _selected(self) -> None:
        info = self.selected_info()
        self.uninstall_button.setEnabled(not self.busy and info is not None and info.source in ("entrypoint", "dropin"))
        if info is None:
            self.details.setText("")
            self.error.clear()
            return
        where = info.location or info.module or ""
        text = f"<b>{info.name}</b> {info.version or ''} — {SOURCES.get(info.source, info.source)}"
        self.details.setText(text + (f"<br>{where}" if where else ""))
        if info.error:
            self.error.show_error(f"Plugin {info.name!r} failed: {info.error}", info.traceback)
        else:
            self.error.clear()

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        enabled = item.checkState() == Qt.CheckState.Checked
        self.set_enabled(name, enabled)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Switch a plugin on or off, for this session and every later one."""
        if not self._may_change():
            self.show_host(self.studio.host)  # puts the check box back
            return
        try:
            changed = admin.set_enabled(name, enabled)
        except admin.PluginAdminError as exc:
            self._say(str(exc))
            self.show_host(self.studio.host)
            return
        if changed:
            self._say(f"{'Enabled' if enabled else 'Disabled'} plugin {name!r}; reloading the plugins…")
            self._rebuild()

    # -- installing and removing -----------------------------------------------------------------

    def ask(self, title: str, text: str) -> bool:
        """Ask a yes/no question (tests replace this)."""
        answer = QMessageBox.question(
            self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )  # fmt: skip
        return answer == QMessageBox.StandardButton.Yes

    def ask_package(self) -> None:
        spec, ok = QInputDialog.getText(
            self, "Install a plugin", "Package name or requirement (e.g. genstudio-foo>=1.0):"
        )
        if ok and spec.strip():
            self.install(spec.strip())

    def ask_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Install a plugin package", "", "Python packages (*.whl *.tar.gz *.zip);;All files (*)"
        )
        if path:
            self.install(path)

    def ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Install a plugin project (editable)")
        if folder:
            self.install(folder, editable=True)

    def dragEnterEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(u.isLocalFile() and _droppable(u.toLocalFile()) for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        paths = [p for p in paths if _droppable(p)]
        if paths:
            event.acceptProposedAction()
            self.install(paths[0], editable=Path(paths[0]).is_dir())

    def install(self, spec: str, editable: bool = False) -> None:
        """Check what installing ``spec`` would change, ask, then install it."""
        if not self._may_change():
            return
        try:
            target = admin.InstallTarget.parse(spec, editable)
        except admin.PluginAdminError as exc:
            self._say(str(exc))
            return
        self._set_busy(True)
        self._say("")
        self._log(f"Checking what pip would install for {target.describe()}…")
        run_in_background(self.installer.preview, target, on_result=self._previewing, on_error=self._failed)

    def _previewing(self, run: admin.PipRun) -> None:
        self._stream(run, lambda: self._previewed(run))

    def _previewed(self, run: admin.PipRun) -> None:
        try:
            preview = run.result()
        except admin.PluginAdminError as exc:
            self._ended(exc)
            return
        self._log(preview.describe())
        if not preview.ok:
            self._say("Not installed: " + "; ".join(preview.refused))
            self._finish("refused")
            return
        if not self.ask("Install plugin", preview.describe() + "\n\nInstall?"):
            self._log("Nothing installed.")
            self._finish("declined")
            return
        before = admin.path_files()

        def installed() -> None:
            self._log("Installed. Reloading the plugins…")
            self._rebuild(before, preview.replaced, outcome="installed")

        run_in_background(
            self.installer.install,
            preview.target,
            on_result=lambda r: self._stream(r, installed),
            on_error=self._failed,
        )

    def uninstall_selected(self) -> None:
        info = self.selected_info()
        if info is not None:
            self.uninstall(info.name)

    def uninstall(self, name: str) -> None:
        """Remove the package providing plugin ``name`` (or its drop-in file), after asking."""
        if not self._may_change():
            return
        package = admin.find_package(name)
        dropin = admin.dropin_file(self.studio.workspace.root, name)
        if package is not None:
            if not self.ask("Uninstall plugin", f"Remove {package.describe()}?"):
                return
            try:
                run = self.installer.uninstall(package.name)
            except admin.PluginAdminError as exc:
                self._say(str(exc))
                return
            self._set_busy(True)
            self._log(f"Removing {package.name} {package.version}…")

            def removed() -> None:
                for plugin in package.plugins:  # a later install of it starts switched on
                    if plugin in admin.disabled_plugins():
                        admin.set_enabled(plugin, True)
                self._rebuild(admin.path_files(), outcome="removed")

            self._stream(run, removed)
        elif dropin is not None:
            if not self.ask("Uninstall plugin", f"Delete the drop-in plugin file {dropin}?"):
                return
            try:
                dropin.unlink()
            except OSError as exc:
                self._say(f"Could not delete {dropin}: {exc}")
                return
            self._set_busy(True)
            self._log(f"Deleted {dropin}.")
            self._rebuild(admin.path_files(), outcome="removed")
        else:
            self._say(f"Plugin {name!r} is not an installed package or a drop-in file, so it cannot be removed here.")

    def _stream(self, run: admin.PipRun, then: Callable[[], None]) -> None:
        """Show ``run``'s output as it comes; ``then`` runs if pip succeeded."""
        self.run = run
        if self._cancel_requested:
            run.cancelled = True  # Cancel came while the command was being prepared
        self._log("$ " + run.command())

        def done(_: Any) -> None:
            self.run = None
            try:
                run.result()
            except admin.PluginAdminError as exc:
                self._ended(exc)
                return
            then()

        stream_in_background(run.lines, on_item=self._log, on_result=done, on_error=self._failed)

    def cancel(self) -> None:
        """Stop pip (it rolls back what it half did)."""
        if not self.busy:
            return
        self._cancel_requested = True
        self.cancel_button.setEnabled(False)
        self._log("Cancelling…")
        if self.run is not None:
            run_in_background(self.run.cancel)  # it waits for pip to exit: not on this thread

    def refresh(self) -> None:
        """Discover the plugins again, for what changed outside this dialog (pip in a terminal,
        a file dropped in the workspace's plugins folder)."""
        if self._may_change():
            self._say("Looking for plugins…")
            self._rebuild(outcome="refreshed")

    def _rebuild(self, before: set[Path] | None = None, replaced: list[str] | tuple = (), outcome: str = "") -> None:
        self._set_busy(True)

        def rebuild() -> tuple[Any, list[str]]:
            loaded = admin.after_change(before if before is not None else admin.path_files(), replaced)
            return self.host_factory(), loaded

        def rebuilt(result: tuple[Any, list[str]]) -> None:
            host, loaded = result
            self.studio.set_host(host)
            self.host_rebuilt.emit(host)
            if loaded:
                self._say(
                    "Restart GenStudio to finish: the new version of "
                    + ", ".join(loaded)
                    + " runs after a restart (this session keeps the code it has imported)."
                )
            elif outcome:
                self._say(f"Done: {len(host.models)} model families from {len(host.plugins)} plugins.")
            self._finish(outcome)

        run_in_background(rebuild, on_result=rebuilt, on_error=self._failed)

    # -- state ---------------------------------------------------------------------------------------

    def _may_change(self) -> bool:
        if self.busy:
            self._say("Wait for the current operation to end, or cancel it.")
            return False
        if self.studio.busy:
            self._say("Stop the run that is training before changing plugins.")
            return False
        return True

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        for b in (self.install_button, self.install_file_button, self.install_folder_button):
            b.setEnabled(not busy and not self.installer.unavailable)
            if self.installer.unavailable:
                b.setToolTip(self.installer.unavailable)
        self.table.setEnabled(not busy)
        self.refresh_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if not busy:
            self._cancel_requested = False
        self._selected()

    def _failed(self, err: BackgroundError) -> None:
        self._log(err.traceback)
        self._ended(err)

    def _ended(self, exc: BaseException) -> None:
        cancelled = isinstance(exc, admin.CancelledError) or self._cancel_requested
        self._log("Cancelled: nothing changed." if cancelled else str(exc))
        self._say("Cancelled." if cancelled else f"Failed: {str(exc).splitlines()[0]}")
        self._finish("cancelled" if cancelled else "failed")

    def _finish(self, outcome: str) -> None:
        self.run = None
        self._set_busy(False)
        if outcome:
            self.job_ended.emit(outcome)

    def _log(self, text: str) -> None:
        self.log.appendPlainText(text)

    def _say(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
