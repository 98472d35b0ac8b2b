"""The Latent tab, for families that can ``decode`` (and ``encode``, ``reconstruct``).

Sliders set the first latent dimensions and the decoded example follows; an interpolation
strip walks between two samples or two real examples, linearly or along the great circle
(slerp, as in White 2016); reconstructions of real examples sit beside the originals. Model
calls go where the model lives (see :mod:`genstudio.gui.model_access`), one at a time:
while one is out, slider moves coalesce into the next.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from genstudio.api import prior_sample
from genstudio.data.grid import make_grid, picture
from genstudio.gui.attribute_sliders import AttributeSliders
from genstudio.gui.images import to_pixmap
from genstudio.gui.model_access import ModelAccess
from genstudio.gui.state import Studio
from genstudio.gui.widgets import ErrorBox

SLIDERS = 8
STEPS = 10
SLIDER_RANGE = 3.0


class Picture(QLabel):
    """A picture scaled to fit, with crisp pixels. ``pixels`` is what it shows (uint8, as
    :func:`genstudio.data.grid.make_grid` makes it); ``shown`` fires each time it changes."""

    shown = Signal()

    def __init__(self, text: str = ""):
        super().__init__(text)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumHeight(80)
        self._pixmap = None
        self.pixels: np.ndarray | None = None

    def show_pixels(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self._pixmap = to_pixmap(pixels)
        self._fit()
        self.shown.emit()

    def _fit(self) -> None:
        if self._pixmap is not None:
            self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.FastTransformation))  # fmt: skip

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()


class LatentTab(QWidget):
    def __init__(self, studio: Studio, access: ModelAccess, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self.access = access
        self.base: np.ndarray | None = None  # the latent code the sliders edit
        self._busy = False
        self._again = False

        self.note = QLabel()
        self.note.setWordWrap(True)
        self.error = ErrorBox()

        self.sliders: list[QSlider] = []
        self.slider_labels: list[QLabel] = []
        grid = QGridLayout()
        for i in range(SLIDERS):
            s = QSlider(Qt.Orientation.Horizontal)
            s.setRange(-100, 100)
            s.valueChanged.connect(self._slider_moved)
            label = QLabel("0.00")
            label.setMinimumWidth(40)
            grid.addWidget(QLabel(f"z[{i}]"), i, 0)
            grid.addWidget(s, i, 1)
            grid.addWidget(label, i, 2)
            self.sliders.append(s)
            self.slider_labels.append(label)
        self.random_button = QPushButton("Random code")
        self.random_button.clicked.connect(self.randomize)
        self.zero_button = QPushButton("Zero")
        self.zero_button.clicked.connect(self.zero)
        self.decoded = Picture("decoded")
        explore = QGroupBox("Explore the latent space")
        ex = QHBoxLayout(explore)
        left = QVBoxLayout()
        left.addLayout(grid)
        buttons = QHBoxLayout()
        buttons.addWidget(self.random_button)
        buttons.addWidget(self.zero_button)
        left.addLayout(buttons)
        ex.addLayout(left, 2)
        ex.addWidget(self.decoded, 1)

        self.endpoints = QComboBox()
        self.endpoints.addItems(["two samples", "two real examples"])
        self.method = QComboBox()
        self.method.addItems(["linear", "spherical"])
        self.first = QSpinBox()
        self.second = QSpinBox()
        self.first.setValue(0)
        self.second.setValue(1)
        self.interpolate_button = QPushButton("Interpolate")
        self.interpolate_button.clicked.connect(self.interpolate)
        self.strip = Picture("interpolation")
        inter = QGroupBox("Interpolation")
        il = QVBoxLayout(inter)
        row = QHBoxLayout()
        for w in (QLabel("between"), self.endpoints, QLabel("#"), self.first, QLabel("and #"), self.second,
                  QLabel("path"), self.method, self.interpolate_button):  # fmt: skip
            row.addWidget(w)
        row.addStretch(1)
        il.addLayout(row)
        il.addWidget(self.strip)

        self.reconstruct_button = QPushButton("Reconstruct 16 real examples")
        self.reconstruct_button.clicked.connect(self.reconstruct)
        self.recon = Picture("originals (top) and reconstructions (bottom)")
        recon = QGroupBox("Reconstructions")
        rl = QVBoxLayout(recon)
        rl.addWidget(self.reconstruct_button, 0, Qt.AlignmentFlag.AlignLeft)
        rl.addWidget(self.recon)
        self.groups = (explore, inter, recon)

        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.error)
        layout.addWidget(explore, 3)
        self.attributes = AttributeSliders(access)  # directions between groups (genstudio.apply.attributes)
        self.attributes.changed.connect(self._request_decode)
        layout.addWidget(self.attributes, 1)
        layout.addWidget(inter, 2)
        layout.addWidget(recon, 2)
        access.changed.connect(self._model_changed)
        access.data_changed.connect(self._data_changed)
        self._model_changed()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        # the picture was made when the model came (a live run's: at step 0, an untrained
        # decoder's grey); it is made again from the model as it is now
        self._request_decode()

    # -- availability ------------------------------------------------------------------------

    def _model_changed(self) -> None:
        caps = self.access.capabilities
        explore, inter, recon = self.groups
        if not self.access.available:
            self.note.setText("Train a model or open a run: the Latent tab needs a family that can decode.")
        elif "decode" not in caps:
            self.note.setText(
                f"{self.access.model_cls.title} cannot decode latent codes, so there is nothing to explore here."
            )
        else:
            self.note.setText(f"Run {self.access.run_id}: {self.access.model_cls.title}")
        explore.setEnabled("decode" in caps)
        inter.setEnabled("decode" in caps)
        real = "encode" in caps
        self.endpoints.model().item(1).setEnabled(real)
        if not real:
            self.endpoints.setCurrentIndex(0)
        recon.setEnabled("reconstruct" in caps and self.access.data is not None)
        if self.access.available and self.access.data_problem:
            self.note.setText(f"{self.note.text()} · {self.access.data_problem}")
        self.base = None
        self._limit_indices()
        if "decode" in caps:
            self.zero()

    def _data_changed(self) -> None:
        self.groups[2].setEnabled("reconstruct" in self.access.capabilities and self.access.data is not None)
        if self.access.data_problem:
            self.error.show_error(self.access.data_problem)
        self._limit_indices()

    def _limit_indices(self) -> None:
        n = len(self.access.data) if self.access.data is not None else 1000
        for spin in (self.first, self.second):
            spin.setRange(0, max(0, n - 1))

    def _latent_dim(self, model: Any) -> int:
        return int(model.latent_dim)

    # -- exploring ---------------------------------------------------------------------------

    def zero(self) -> None:
        self.base = None
        for s in self.sliders:
            s.blockSignals(True)
            s.setValue(0)
            s.blockSignals(False)
        self._request_decode()

    def randomize(self) -> None:
        import torch

        seed = int(np.random.default_rng().integers(1 << 30))

        def draw(model: Any) -> np.ndarray:
            return (
                prior_sample(model, 1, torch.Generator(device=getattr(model, "device", "cpu")).manual_seed(seed))
                .cpu()
                .numpy()[0]
            )

        self.access.call(draw, on_result=self._set_base, on_error=self._failed)

    def _set_base(self, z: np.ndarray) -> None:
        self.base = np.asarray(z, np.float32).reshape(-1)
        for s, v in zip(self.sliders, self.base):
            s.blockSignals(True)
            s.setValue(int(np.clip(v / SLIDER_RANGE * 100, -100, 100)))
            s.blockSignals(False)
        self._request_decode()

    def _slider_moved(self) -> None:
        self._request_decode()

    def _code(self, latent_dim: int) -> np.ndarray:
        z = np.zeros(latent_dim, np.float32) if self.base is None or len(self.base) != latent_dim else self.base.copy()
        for i, s in enumerate(self.sliders[:latent_dim]):
            z[i] = s.value() / 100 * SLIDER_RANGE
            self.slider_labels[i].setText(f"{z[i]:+.2f}")
        return z

    def _request_decode(self) -> None:
        if not self.access.available or "decode" not in self.access.capabilities:
            return
        if self._busy:  # one call out at a time; the newest slider values go next
            self._again = True
            return
        self._busy = True
        sliders = [s.value() for s in self.sliders]
        base = None if self.base is None else self.base.copy()
        along = self.attributes.weights()

        def decode(model: Any) -> np.ndarray:
            import torch

            d = self._latent_dim(model)
            z = np.zeros(d, np.float32) if base is None or len(base) != d else base
            z = z.copy()
            z[: min(d, SLIDERS)] = np.asarray(sliders[: min(d, SLIDERS)], np.float32) / 100 * SLIDER_RANGE
            for direction, alpha in along:  # attribute sliders move the code along their directions
                z = z + alpha * direction if len(direction) == d else z
            device = getattr(model, "device", "cpu")
            return model.decode(torch.from_numpy(z)[None].to(device)).float().cpu().numpy()

        self.access.call(decode, on_result=self._decoded, on_error=self._failed)

    def _decoded(self, x: np.ndarray) -> None:
        self._busy = False
        for i, s in enumerate(self.sliders):
            self.slider_labels[i].setText(f"{s.value() / 100 * SLIDER_RANGE:+.2f}")
        self.decoded.show_pixels(self._picture(x))
        if self._again:
            self._again = False
            self._request_decode()

    def _picture(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 4:
            return make_grid(x, nrow=len(x), pad=1)
        reference = self.access.data.as_float(slice(0, 2000)) if self.access.data is not None else None
        return picture(x, reference)

    def _failed(self, err: Any) -> None:
        self._busy = False
        self.error.show_error(f"The model call failed: {err}", getattr(err, "traceback", None))

    # -- interpolation and reconstruction ----------------------------------------------------------

    def interpolate(self) -> None:

        method = self.method.currentText()
        real = self.endpoints.currentIndex() == 1
        data = self.access.data
        if real and data is None:
            self.error.show_error(self.access.data_problem or "The run's data is still loading: try again in a moment.")
            return
        pair = data.as_float([self.first.value(), self.second.value()]) if real else None
        seeds = (self.first.value(), self.second.value())

        def run(model: Any) -> np.ndarray:
            from genstudio.runs import inference  # torch: loaded with the plugins, off the GUI thread

            z = inference.encode_examples(model, pair) if pair is not None else inference.prior_codes(model, seeds)
            return inference.interpolate(model, z[0], z[1], STEPS, method)

        self.access.call(run, on_result=lambda x: self.strip.show_pixels(self._picture(x)), on_error=self._failed)

    def reconstruct(self) -> None:
        import torch

        data = self.access.data
        if data is None:
            return
        idx = np.random.default_rng(0).choice(len(data), size=min(16, len(data)), replace=False)
        originals = data.as_float(np.sort(idx))

        def run(model: Any) -> np.ndarray:
            device = getattr(model, "device", "cpu")
            return model.reconstruct(torch.from_numpy(originals).to(device)).float().cpu().numpy()

        def show(recon: np.ndarray) -> None:
            if originals.ndim == 4:
                self.recon.show_pixels(make_grid(np.concatenate([originals, recon]), nrow=len(originals)))
            else:
                self.recon.show_pixels(picture(recon, originals))

        self.access.call(run, on_result=show, on_error=self._failed)
