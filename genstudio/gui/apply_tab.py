"""The Apply tab: restore damaged images with the current run, or query its Bayesian network.

Restoration: pick an example of the run's data (or open an image file), choose the damage
(noise, a rectangle or brush mask drawn with the mouse, downsampling), and see the damaged,
restored and original images side by side with PSNR and SSIM, and a strip of several
restorations where the solver is stochastic. It calls :func:`genstudio.apply.restore.restore`
where the model lives, as ``genstudio restore`` does.

Queries: the network's graph; clicking a node cycles its evidence through its values (and
back to none), and every node shows its posterior as bars. A typed query ("lung | smoke=yes")
prints the exact posterior too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from genstudio.api import GenStudioError
from genstudio.data.grid import make_grid
from genstudio.gui.graph_view import GraphView
from genstudio.gui.latent_tab import Picture
from genstudio.gui.mask_canvas import MaskCanvas
from genstudio.gui.model_access import ModelAccess
from genstudio.gui.state import Studio
from genstudio.gui.widgets import ErrorBox, message_label

TASKS = (("denoise", "Noise"), ("inpaint", "Missing region (draw it)"), ("superres", "Downsampling"))


def restore_job(model: Any, clean: np.ndarray, options: dict) -> dict:
    """Damage ``clean`` ``(C, H, W)`` as ``options`` say (seeded), restore it, and score both
    (on the model's thread)."""
    import torch

    from genstudio.apply.operators import make_operator
    from genstudio.apply.restore import restore

    shape = tuple(model.spec.shape)
    task = options["task"]
    mask = None
    if task == "inpaint":
        if not options["mask"].any():
            raise GenStudioError("Draw the missing region on the image first (drag a rectangle or use the brush).")
        mask = (~options["mask"]).astype(np.float32)
    op = make_operator(
        task, shape, sigma=options["sigma"], mask=mask, factor=options["factor"] if task == "superres" else None
    )
    x = torch.from_numpy(np.asarray(clean, np.float32)[None])
    y = op.damage(x, torch.Generator().manual_seed(options["seed"]))
    result = restore(model, op, y, n=options["n"], seed=options["seed"], solver=options["solver"], clean=x)
    return {
        "damaged": op.shown(y, shape).clamp(0, 1).numpy()[0],
        "restored": result.restored[:, 0],
        "scores": result.scores,
        "solver": result.solver_title,
        "stochastic": result.stochastic,
    }


def read_image_file(path: str, shape: tuple[int, ...]) -> np.ndarray:
    """A PNG/JPEG/... or ``.npy`` as ``(C, H, W)`` float32 in [0, 1]; refused (naming the file
    and both sizes) when it is not the run's size."""
    from PIL import Image, UnidentifiedImageError

    name = Path(path).name
    if path.lower().endswith(".npy"):
        arr = np.load(path, allow_pickle=False).astype(np.float32)
        arr = arr[None] if arr.ndim == 2 else arr
    else:
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("L" if shape[0] == 1 else "RGB"), np.float32) / 255.0
        except (UnidentifiedImageError, OSError) as exc:
            raise GenStudioError(f"{name}: not an image ({exc})") from None
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    if tuple(arr.shape) != tuple(shape):
        raise GenStudioError(f"{name} is shaped {tuple(arr.shape)}; the run's images are {tuple(shape)}")
    return np.clip(arr, 0, 1)


class ApplyTab(QWidget):
    def __init__(self, studio: Studio, access: ModelAccess, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self.access = access
        self.clean: np.ndarray | None = None
        self.evidence: dict[str, str] = {}
        self.categories: dict[str, list[str]] = {}

        self.note = QLabel()
        self.note.setWordWrap(True)
        self.error = ErrorBox()

        # -- restoration ------------------------------------------------------------------
        self.example = QSpinBox()
        self.example.setToolTip("Index of an example of the run's data")
        self.example.valueChanged.connect(self._pick_example)
        self.open_button = QPushButton("Open image…")
        self.open_button.clicked.connect(self.open_image)
        self.task = QComboBox()
        for key, title in TASKS:
            self.task.addItem(title, key)
        self.task.currentIndexChanged.connect(self._task_changed)
        self.sigma = QDoubleSpinBox()
        self.sigma.setRange(0.0, 1.0)
        self.sigma.setSingleStep(0.05)
        self.sigma.setValue(0.3)
        self.sigma.setToolTip("Standard deviation of the added noise, in [0, 1] pixel units")
        self.factor = QSpinBox()
        self.factor.setRange(2, 8)
        self.factor.setValue(2)
        self.brush = QComboBox()
        self.brush.addItems(["rectangle", "brush"])
        self.brush.currentTextChanged.connect(lambda mode: setattr(self.canvas, "mode", mode))
        self.clear_mask = QPushButton("Clear mask")
        self.solver = QComboBox()
        self.solver.addItem("automatic (by capability)", None)
        # the solvers import torch, which comes off the GUI thread after launch, with the
        # families' classes (families_loaded)
        if studio.families_imported:
            self._add_solvers()
        else:
            studio.families_loaded.connect(self._add_solvers)
        self.n = QSpinBox()
        self.n.setRange(1, 8)
        self.n.setValue(4)
        self.n.setToolTip("Restorations to draw; stochastic solvers give different ones")
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.restore_button = QPushButton("Restore")
        self.restore_button.clicked.connect(self.restore)
        self.canvas = MaskCanvas()
        self.clear_mask.clicked.connect(self.canvas.clear)

        form = QFormLayout()
        pick = QHBoxLayout()
        pick.addWidget(self.example, 1)
        pick.addWidget(self.open_button)
        form.addRow("Example", pick)
        form.addRow("Damage", self.task)
        form.addRow("Noise σ", self.sigma)
        form.addRow("Factor", self.factor)
        mask_row = QHBoxLayout()
        mask_row.addWidget(self.brush, 1)
        mask_row.addWidget(self.clear_mask)
        form.addRow("Mask", mask_row)
        form.addRow("Solver", self.solver)
        form.addRow("Restorations", self.n)
        form.addRow("Seed", self.seed)
        form.addRow(self.restore_button)
        self.damaged = Picture("damaged")
        self.restored = Picture("restored")
        self.original = Picture("original")
        self.strip = Picture("several restorations")
        self.scores = QLabel()
        self.scores.setWordWrap(True)
        side = QHBoxLayout()
        for title, pic in (("Damaged", self.damaged), ("Restored", self.restored), ("Original", self.original)):
            col = QVBoxLayout()
            col.addWidget(QLabel(title))
            col.addWidget(pic, 1)
            side.addLayout(col, 1)
        controls = QVBoxLayout()
        controls.addLayout(form)
        self.canvas_label = message_label()  # what the picture is for, with the damage chosen
        controls.addWidget(self.canvas_label)
        controls.addWidget(self.canvas, 1)
        results = QVBoxLayout()
        results.addLayout(side, 3)
        results.addWidget(self.scores)
        results.addWidget(QLabel("Several restorations (stochastic solvers differ):"))
        results.addWidget(self.strip, 1)
        self.restore_group = QGroupBox("Restore damaged images")
        rl = QHBoxLayout(self.restore_group)
        rl.addLayout(controls, 1)
        rl.addLayout(results, 2)

        # -- queries ----------------------------------------------------------------------
        self.graph = GraphView()
        self.graph.node_clicked.connect(self.cycle_evidence)
        self.query = QLineEdit()
        self.query.setPlaceholderText("lung | smoke=yes, xray=yes")
        self.query.returnPressed.connect(self.ask)
        self.ask_button = QPushButton("Ask")
        self.ask_button.clicked.connect(self.ask)
        self.clear_evidence = QPushButton("Clear evidence")
        self.clear_evidence.clicked.connect(lambda: self._set_evidence({}))
        self.answer = QLabel("Click a node to set its value as evidence; click again for the next value.")
        self.answer.setWordWrap(True)
        self.query_group = QGroupBox("Ask the Bayesian network")
        ql = QVBoxLayout(self.query_group)
        ask = QHBoxLayout()
        ask.addWidget(self.query, 1)
        ask.addWidget(self.ask_button)
        ask.addWidget(self.clear_evidence)
        ql.addLayout(ask)
        ql.addWidget(self.answer)
        ql.addWidget(self.graph, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.error)
        layout.addWidget(self.restore_group, 1)
        layout.addWidget(self.query_group, 1)
        access.changed.connect(self._model_changed)
        access.data_changed.connect(self._data_changed)
        self._task_changed()
        self._model_changed()

    # -- availability ----------------------------------------------------------------------

    def _add_solvers(self, *_: object) -> None:
        from genstudio.apply.solvers import SOLVERS

        if self.solver.count() > 1:
            return
        for s in SOLVERS:
            self.solver.addItem(f"{s.name}: {s.title}", s.name)

    def _model_changed(self) -> None:
        spec = self.access.spec
        image = self.access.available and spec is not None and spec.kind == "image"
        bayes = self.access.available and "factors" in self.access.capabilities
        self.restore_group.setVisible(image or not bayes)
        self.restore_group.setEnabled(bool(image))
        self.query_group.setVisible(bool(bayes))
        if not self.access.available:
            self.note.setText("Train a model or open a run: images can be restored, Bayesian networks queried.")
        else:
            what = "restore its images" if image else "query it" if bayes else "nothing to apply it to here"
            self.note.setText(f"Run {self.access.run_id}: {self.access.model_cls.title}; {what}.")
        self.clean = None
        self._data_changed()
        if bayes:
            self._set_evidence({})

    def _data_changed(self) -> None:
        data = self.access.data
        self.example.setRange(0, max(0, len(data) - 1) if data is not None else 0)
        if data is not None and self.access.spec is not None and self.access.spec.kind == "image":
            self._pick_example()

    def _task_changed(self) -> None:
        task = self.task.currentData()
        self.sigma.setEnabled(True)
        self.factor.setEnabled(task == "superres")
        self.brush.setEnabled(task == "inpaint")
        self.clear_mask.setEnabled(task == "inpaint")
        self.canvas_label.setText(
            "Draw the missing region here (drag a rectangle, or choose the brush):"
            if task == "inpaint"
            else "The example to damage and restore (to draw a missing region on it, choose that damage):"
        )
        if task == "inpaint" and self.sigma.value() == 0.3:
            self.sigma.setValue(0.0)
        elif task == "denoise" and self.sigma.value() == 0.0:
            self.sigma.setValue(0.3)

    # -- restoration -----------------------------------------------------------------------

    def _pick_example(self) -> None:
        data = self.access.data
        if data is None or data.spec.kind != "image":
            return
        self._show_clean(data.as_float(self.example.value()))

    def _show_clean(self, x: np.ndarray) -> None:
        self.clean = np.asarray(x, np.float32)
        self.canvas.set_image(self.clean)
        self.original.show_pixels(make_grid(self.clean[None], nrow=1, pad=0))

    def open_image(self, path: str | None = None) -> None:
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Open an image", "", "Images (*.png *.jpg *.bmp *.npy)")
        if not path or self.access.spec is None:
            return
        try:
            self._show_clean(read_image_file(path, tuple(self.access.spec.shape)))
            self.error.clear()
        except (GenStudioError, OSError, ValueError) as exc:
            self.error.show_error(str(exc))

    def options(self) -> dict:
        return {
            "task": self.task.currentData(),
            "sigma": float(self.sigma.value()),
            "factor": int(self.factor.value()),
            "mask": self.canvas.mask.copy() if self.canvas.mask is not None else np.zeros((1, 1), bool),
            "n": int(self.n.value()),
            "seed": int(self.seed.value()),
            "solver": self.solver.currentData(),
        }

    def restore(self) -> None:
        if not self.access.available:
            self.error.show_error("Train a model or open a run first.")
            return
        if self.clean is None:
            self.error.show_error(self.access.data_problem or "Pick an example of the run's data or open an image.")
            return
        self.error.clear()
        self.restore_button.setEnabled(False)
        self.scores.setText("Restoring…")
        clean, options = self.clean.copy(), self.options()
        self.access.call(
            lambda model: restore_job(model, clean, options), on_result=self._restored, on_error=self._failed
        )

    def _restored(self, out: dict) -> None:
        self.restore_button.setEnabled(True)
        self.damaged.show_pixels(make_grid(out["damaged"][None], nrow=1, pad=0))
        self.restored.show_pixels(make_grid(out["restored"][:1], nrow=1, pad=0))
        self.strip.show_pixels(make_grid(out["restored"], nrow=len(out["restored"])))
        s = out["scores"]
        self.scores.setText(
            f"{out['solver']}: damaged PSNR {s['psnr_damaged']:.2f} dB, SSIM {s['ssim_damaged']:.3f} → "
            f"restored PSNR {s['psnr_restored']:.2f} dB, SSIM {s['ssim_restored']:.3f}"
            + (" (mean over the restorations)" if len(out["restored"]) > 1 else "")
        )

    def _failed(self, err: Any) -> None:
        self.restore_button.setEnabled(True)
        self.ask_button.setEnabled(True)
        self.scores.setText("")
        exc = getattr(err, "exc", err)
        known = isinstance(exc, GenStudioError)
        self.error.show_error(str(exc) if known else f"The model call failed: {exc}", None if known else err.traceback)

    # -- queries ---------------------------------------------------------------------------

    def cycle_evidence(self, name: str) -> None:
        """A click on a node: no evidence -> its first value -> ... -> its last -> none."""
        values = self.categories.get(name, [])
        evidence = dict(self.evidence)
        current = evidence.pop(name, None)
        nxt = 0 if current is None else values.index(current) + 1
        if nxt < len(values):
            evidence[name] = values[nxt]
        self._set_evidence(evidence)

    def _set_evidence(self, evidence: dict[str, str]) -> None:
        self.evidence = dict(evidence)

        def job(model: Any) -> tuple:
            from genstudio.apply.bayes import all_posteriors, network_of

            net = network_of(model)
            codes = {net.index(k): net.code(net.index(k), v) for k, v in evidence.items()}
            return model.structure(), dict(zip(net.names, net.categories)), all_posteriors(net, codes)

        self.access.call(job, on_result=self._posteriors, on_error=self._failed)

    def _posteriors(self, out: tuple) -> None:
        structure, self.categories, post = out
        self.error.clear()
        self.graph.structure = dict(structure)
        self.graph.show_posteriors(post, self.evidence)
        given = ", ".join(f"{k}={v}" for k, v in self.evidence.items()) or "no evidence"
        self.answer.setText(f"Posteriors given {given}. Click a node to set or change its evidence.")

    def ask(self) -> None:
        text = self.query.text().strip()
        if not text:
            return
        self.ask_button.setEnabled(False)

        def job(model: Any) -> dict:
            from genstudio.apply.bayes import network_of, parse_query, posterior

            net = network_of(model)
            query, evidence = parse_query(text, net)
            return posterior(net, query, evidence)

        def show(post: dict) -> None:
            self.ask_button.setEnabled(True)
            self.error.clear()
            lines = [
                f"{col}: " + ", ".join(f"{v} {p:.4f}" for v, p in sorted(dist.items(), key=lambda kv: -kv[1]))
                for col, dist in post.items()
            ]
            self.answer.setText(f"P({text}):  " + "   ".join(lines))

        self.access.call(job, on_result=show, on_error=self._failed)
