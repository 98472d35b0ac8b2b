"""Attribute sliders for the Latent tab: directions between groups of the run's data (labels
or known factors, :mod:`genstudio.apply.attributes`), each a slider that moves the code."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from genstudio.api import GenStudioError
from genstudio.gui.model_access import ModelAccess
from genstudio.gui.widgets import ErrorBox

#: A slider spans -RANGE .. +RANGE times its direction.
RANGE = 1.5


def attribute_values(data: Any, attribute: str) -> list[str]:
    """What a group of ``attribute`` may be: class names, or a factor's values and low/high."""
    if attribute == "label":
        return list(data.spec.classes)
    f = data.extras["factors"][:, list(data.spec.factors).index(attribute)]
    values = np.unique(f)
    shown = [f"{v:g}" for v in values] if len(values) <= 12 else []
    return ["low", "high", *shown]


class AttributeSliders(QGroupBox):
    """``changed`` fires when a slider moves or a direction is added; :meth:`weights` gives
    the directions and their sliders' values."""

    changed = Signal()

    def __init__(self, access: ModelAccess, parent: QWidget | None = None):
        super().__init__("Attribute directions (difference of mean codes between two groups)", parent)
        self.access = access
        self.directions: list[tuple[str, np.ndarray, QSlider]] = []
        self.attribute = QComboBox()
        self.attribute.currentTextChanged.connect(self._fill_values)
        self.source = QComboBox()
        self.target = QComboBox()
        self.add = QPushButton("Add slider")
        self.add.clicked.connect(self.add_direction)
        self.error = ErrorBox()
        self.grid = QGridLayout()
        row = QHBoxLayout()
        for w in (self.attribute, QLabel("from"), self.source, QLabel("to"), self.target, self.add):
            row.addWidget(w)
        row.addStretch(1)
        layout = QGridLayout(self)
        layout.addLayout(row, 0, 0)
        layout.addWidget(self.error, 1, 0)
        layout.addLayout(self.grid, 2, 0)
        access.changed.connect(self._reset)
        access.data_changed.connect(self._reset)
        self._reset()

    def _reset(self) -> None:
        while self.grid.count():
            self.grid.takeAt(0).widget().deleteLater()
        self.directions.clear()
        data = self.access.data
        caps = self.access.capabilities
        usable = data is not None and {"encode", "decode"} <= caps
        self.setEnabled(usable)
        self.attribute.blockSignals(True)
        self.attribute.clear()
        if usable:  # a model is there, so torch is loaded already
            from genstudio.apply.attributes import attributes_of

            self.attribute.addItems(attributes_of(data))
        self.attribute.blockSignals(False)
        self._fill_values(self.attribute.currentText())
        if not usable and self.access.available:
            self.setTitle("Attribute directions: need a family that encodes and decodes, and labelled data")

    def _fill_values(self, attribute: str) -> None:
        self.source.clear()
        self.target.clear()
        if attribute and self.access.data is not None:
            values = attribute_values(self.access.data, attribute)
            self.source.addItems(values)
            self.target.addItems(values)
            self.target.setCurrentIndex(min(1, len(values) - 1) if values[:2] != ["low", "high"] else 1)

    def add_direction(self) -> None:
        from genstudio.apply.attributes import direction

        data = self.access.data
        attribute, a, b = self.attribute.currentText(), self.source.currentText(), self.target.currentText()
        if data is None or not attribute:
            return

        def job(model: Any) -> np.ndarray:
            return direction(model, data, attribute, a, b).vector.numpy()

        def failed(err: Any) -> None:
            exc = getattr(err, "exc", err)
            self.error.show_error(str(exc) if isinstance(exc, GenStudioError) else f"The model call failed: {exc}")

        self.access.call(job, on_result=lambda d: self._added(f"{attribute}: {a} → {b}", d), on_error=failed)

    def _added(self, name: str, d: np.ndarray) -> None:
        self.error.clear()
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(-100, 100)
        slider.valueChanged.connect(lambda _: self.changed.emit())
        row = len(self.directions)
        self.grid.addWidget(QLabel(name), row, 0)
        self.grid.addWidget(slider, row, 1)
        self.directions.append((name, np.asarray(d, np.float32), slider))
        self.changed.emit()

    def weights(self) -> list[tuple[np.ndarray, float]]:
        """Each direction d_i with its slider's alpha_i in [-RANGE, RANGE]: the code moves by
        sum alpha_i d_i. Read on the GUI thread; the model's thread gets the plain values."""
        return [(d, s.value() / 100 * RANGE) for _, d, s in self.directions]
