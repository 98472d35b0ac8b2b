"""The Model dock: every family the plugins provide, and a form for the chosen one's Config.

Families that cannot train on the loaded data are disabled, with the reason as tooltip. The
chosen family and the form's values go to the studio (``studio.family``, ``studio.config``)
as they change; nothing reads them from this panel."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QScrollArea, QVBoxLayout, QWidget

from genstudio.api import ConfigError, capabilities, is_declared
from genstudio.gui.config_form import ConfigForm
from genstudio.gui.state import Studio
from genstudio.gui.widgets import fit_rows

PREFERRED = "vae"


class ModelPanel(QWidget):
    def __init__(self, studio: Studio, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self.families = QListWidget()
        fit_rows(self.families, 8)
        self.families.currentItemChanged.connect(self._picked)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.form = ConfigForm()
        self.form.changed.connect(self._publish_config)
        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Model family</b>"))
        layout.addWidget(self.families)
        layout.addWidget(self.description)
        layout.addWidget(QLabel("<b>Hyperparameters</b>"))
        layout.addWidget(scroll, 1)
        studio.plugins_loaded.connect(self._fill)
        # the families' classes are imported: list them again (one that failed is gone); the
        # list's selection then picks the chosen family's class (see _picked), keeping the form
        studio.families_loaded.connect(lambda _: self._fill(studio.host))
        studio.config_applied.connect(self.form.set_values)  # its `changed` sets studio.config
        studio.data_loaded.connect(self._refresh_enabled)
        studio.data_cleared.connect(self._refresh_enabled)
        # what the family's auto values become, shown in the form (see resolved_config)
        for signal in (studio.config_changed, studio.data_loaded, studio.data_cleared, studio.device_changed):
            signal.connect(self._show_resolved)

    def _fill(self, host: Any) -> None:
        current = self.current_name() or PREFERRED
        self.families.blockSignals(True)
        self.families.clear()
        for name, cls in host.models.items():
            item = QListWidgetItem(f"{cls.title or name}  ({name})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.families.addItem(item)
        self.families.blockSignals(False)
        fit_rows(self.families, 8)
        self._refresh_enabled()
        self.select(current)

    def _refresh_enabled(self, *_: Any) -> None:
        host, data = self.studio.host, self.studio.dataset
        if host is None:
            return
        for i in range(self.families.count()):
            item = self.families.item(i)
            cls = host.models.declared(item.data(Qt.ItemDataRole.UserRole))
            reason = cls.check_data(data.spec) if data is not None else None
            flags = item.flags()
            if reason:
                item.setFlags(flags & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(reason)
            else:
                item.setFlags(flags | Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(cls.description)
        current = self.families.currentItem()
        if current is not None and not current.flags() & Qt.ItemFlag.ItemIsEnabled:
            for i in range(self.families.count()):
                if self.families.item(i).flags() & Qt.ItemFlag.ItemIsEnabled:
                    self.families.setCurrentRow(i)
                    break

    def select(self, name: str) -> None:
        for i in range(self.families.count()):
            item = self.families.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == name and item.flags() & Qt.ItemFlag.ItemIsEnabled:
                self.families.setCurrentRow(i)
                return
        if self.families.count() and self.families.currentRow() < 0:
            self.families.setCurrentRow(0)

    def current_name(self) -> str | None:
        item = self.families.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _picked(self, item: QListWidgetItem | None) -> None:
        if item is None or self.studio.host is None:
            return
        # the class once imported; until then its declaration, which has the facts shown here
        cls = self.studio.host.models.declared(item.data(Qt.ItemDataRole.UserRole))
        caps = sorted(capabilities(cls))
        extra = f"<br><i>can: {', '.join(caps)}</i>" if caps else ""
        plugin = self.studio.host.models.owner(cls.name)
        self.description.setText(f"{cls.description}<br><i>from plugin {plugin}</i>{extra}")
        if self.form.config_class is not cls.Config:
            self.form.set_config_class(cls.Config)
        self.studio.set_family(cls, self.form.values())

    def _show_resolved(self, *_: Any) -> None:
        self.form.show_resolved(resolved_config(self.studio))

    def _publish_config(self) -> None:
        if self.studio.family is None:
            return
        try:
            self.studio.set_config(self.form.values())
        except ConfigError as exc:  # a free-text field out of range: Start says so
            self.studio.set_config(self.studio.config, problem=str(exc))


def resolved_config(studio: Any) -> dict[str, Any]:
    """The chosen family's hyperparameters with its ``auto`` values resolved for the loaded
    data and the chosen device, as a run would record them; empty when that cannot be said
    (no family or data yet, a value out of range, a device this machine lacks)."""
    family, data = studio.family, studio.dataset
    # a declared family resolves nothing until its class is imported (with torch, which
    # resolving the device would import here, in the window's thread)
    if family is None or data is None or studio.config_problem or is_declared(family):
        return {}
    from genstudio.api import config_from_dict
    from genstudio.training.device import resolve_device

    try:
        config = config_from_dict(family.Config, studio.config)
        resolved = family.resolve_config(config, data.spec, resolve_device(studio.device))
        return dataclasses.asdict(resolved)
    except Exception:
        return {}
