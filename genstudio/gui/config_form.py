"""A form generated from a ``Config`` (or a data source's ``Options``) dataclass.

Each :class:`~genstudio.api.Param` becomes one control: a spin box with the declared range
for numbers, a log-scaled slider with a text field for ``log=True`` rates, a combo box for
``choices``, a check box for flags, a line edit for free text. The help text is the tooltip.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from genstudio.api import ConfigError, Param, params

INT_LIMIT = 2**31 - 1


class LogValueEdit(QWidget):
    """A positive number over orders of magnitude: a slider on a log scale and a text field."""

    value_changed = Signal(float)
    STEPS = 1000

    def __init__(self, low: float, high: float, value: float, parent: QWidget | None = None):
        super().__init__(parent)
        self.low, self.high = math.log10(low), math.log10(high)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, self.STEPS)
        self.edit = QLineEdit()
        self.edit.setMaximumWidth(90)
        validator = QDoubleValidator(low, high, 12)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.edit.setValidator(validator)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.edit)
        self._value = value
        self.set_value(value)
        self.slider.valueChanged.connect(self._from_slider)
        self.edit.editingFinished.connect(self._from_text)

    def value(self) -> float:
        return self._value

    def set_value(self, value: float) -> None:
        self._value = float(value)
        self.slider.blockSignals(True)
        self.slider.setValue(round((math.log10(value) - self.low) / (self.high - self.low) * self.STEPS))
        self.slider.blockSignals(False)
        self.edit.setText(f"{value:.3g}")

    def _from_slider(self, position: int) -> None:
        value = 10 ** (self.low + (self.high - self.low) * position / self.STEPS)
        value = float(f"{value:.3g}")  # round to what the field shows
        self._value = value
        self.edit.setText(f"{value:.3g}")
        self.value_changed.emit(value)

    def _from_text(self) -> None:
        try:
            value = float(self.edit.text())
        except ValueError:
            self.edit.setText(f"{self._value:.3g}")
            return
        value = min(max(value, 10**self.low), 10**self.high)
        self.set_value(value)
        self.value_changed.emit(value)


class ConfigForm(QWidget):
    """Controls for every parameter of a dataclass, and a button to reset them."""

    changed = Signal()

    def __init__(self, config_cls: type | None = None, parent: QWidget | None = None, reset_button: bool = True):
        super().__init__(parent)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(self.form)
        self.reset = QPushButton("Reset to defaults")
        self.reset.clicked.connect(self.reset_values)
        self.reset.setVisible(reset_button)
        outer.addWidget(self.reset, 0, Qt.AlignmentFlag.AlignRight)
        self.params: list[Param] = []
        self.widgets: dict[str, QWidget] = {}
        self.config_class: type | None = None
        self.set_config_class(config_cls)

    def set_config_class(self, config_cls: type | None) -> None:
        """Show the fields of ``config_cls`` (a ``Config`` dataclass, or None), at their defaults."""
        self.config_class = config_cls
        while self.form.rowCount():
            self.form.removeRow(0)
        self.widgets.clear()
        self.params = params(config_cls) if config_cls is not None else []
        for p in self.params:
            widget = self._make(p)
            widget.setToolTip(self._tooltip(p))
            widget.setObjectName(p.name)
            self.widgets[p.name] = widget
            self.form.addRow(p.name.replace("_", " ").capitalize(), widget)
        self.reset.setEnabled(bool(self.params))

    @staticmethod
    def _tooltip(p: Param) -> str:
        text = p.help or p.name
        return f"{text}\nDefault: {p.default}; allowed: {p.describe_range()}"

    def _make(self, p: Param) -> QWidget:
        if p.choices is not None:
            box = QComboBox()
            for choice in p.choices:
                box.addItem(str(choice), choice)
            box.setCurrentIndex(list(p.choices).index(p.default))
            box.currentIndexChanged.connect(self.changed)
            return box
        if p.type is bool:
            check = QCheckBox()
            check.setChecked(bool(p.default))
            check.toggled.connect(self.changed)
            return check
        if p.type is int:
            spin = QSpinBox()
            spin.setRange(
                int(max(p.min, -INT_LIMIT)) if p.min is not None else -INT_LIMIT,
                int(min(p.max, INT_LIMIT)) if p.max is not None else INT_LIMIT,
            )
            spin.setValue(int(p.default))
            spin.setAccelerated(True)
            spin.valueChanged.connect(self.changed)
            return spin
        if p.type is float and p.log:
            edit = LogValueEdit(p.min, p.max if p.max is not None else p.min * 1e6, p.default)
            edit.value_changed.connect(self.changed)
            return edit
        if p.type is float:
            dspin = QDoubleSpinBox()
            dspin.setDecimals(4)
            dspin.setRange(p.min if p.min is not None else -1e12, p.max if p.max is not None else 1e12)
            dspin.setSingleStep(_step_for(p))
            dspin.setValue(float(p.default))
            dspin.valueChanged.connect(self.changed)
            return dspin
        line = QLineEdit(str(p.default))
        line.textChanged.connect(self.changed)
        return line

    def values(self) -> dict[str, Any]:
        """The form's values, typed; raises :class:`ConfigError` for a value out of range."""
        out: dict[str, Any] = {}
        for p in self.params:
            w = self.widgets[p.name]
            if isinstance(w, QComboBox):
                value: Any = w.currentData()
            elif isinstance(w, QCheckBox):
                value = w.isChecked()
            elif isinstance(w, (QSpinBox, QDoubleSpinBox, LogValueEdit)):
                value = w.value()
            else:
                value = w.text()
            out[p.name] = p.validate(p.type(value)) if p.type is not str else p.validate(value)
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        for p in self.params:
            if p.name not in values:
                continue
            w, value = self.widgets[p.name], values[p.name]
            if isinstance(w, QComboBox):
                index = w.findData(value)
                if index < 0:
                    raise ConfigError(f"{p.name}: {value!r} is not allowed; allowed: {p.describe_range()}")
                w.setCurrentIndex(index)
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                w.setValue(value)
            elif isinstance(w, LogValueEdit):
                w.set_value(float(value))
            else:
                w.setText(str(value))
        self.changed.emit()

    def reset_values(self) -> None:
        self.set_values({p.name: p.default for p in self.params})

    def show_resolved(self, resolved: dict[str, Any]) -> None:
        """Say beside each ``auto`` value what it becomes (a family's ``resolve_config`` for the
        data and device at hand): ``auto: 16`` in a spin box at its minimum, ``auto → conv``
        for a choice. An empty dict takes every such note away."""
        for p in self.params:
            w = self.widgets[p.name]
            value = resolved.get(p.name)
            if isinstance(w, (QSpinBox, QDoubleSpinBox)):
                at_auto = w.value() == w.minimum() and value is not None and value != w.value()
                w.setSpecialValueText(f"auto: {value:g}" if at_auto else "")
            elif isinstance(w, QComboBox):
                for i in range(w.count()):
                    choice = w.itemData(i)
                    note = i == w.currentIndex() and value is not None and value != choice
                    w.setItemText(i, f"{choice} → {value}" if note else str(choice))


def _step_for(p: Param) -> float:
    if p.min is not None and p.max is not None and p.max > p.min:
        return float(f"{(p.max - p.min) / 100:.1g}")
    return 0.1 if abs(p.default) < 10 else 1.0
