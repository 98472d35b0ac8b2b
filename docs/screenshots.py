"""Regenerate docs/screenshots/*.png: the window while training, samples, latent, evaluate, runs.

Drives the real window offscreen as a user would: the built-in MNIST digits and the VAE are
preselected, Train is pressed, and each tab is captured once there is something to show. A
first, shorter run with a 2-dimensional latent space gives the Runs and Evaluate tabs two
comparable runs.

    python docs/screenshots.py [--steps N] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication


def pump(app: QApplication, until, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.02)


def start_and_wait(app: QApplication, win, at_step: float | None = None) -> None:
    """Press Train; wait for the new run to reach ``at_step`` (or to end)."""
    pump(app, lambda: win.training.start_button.isEnabled())  # the last run has wound down
    before = win.studio.session
    win.training.start()
    pump(app, lambda: win.studio.session is not before and win.studio.session is not None)
    session = win.studio.session
    if at_step is None:
        pump(app, lambda: not session.running)
    else:
        pump(app, lambda: session.trainer.step >= at_step or not session.running)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "screenshots"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    app = QApplication(sys.argv[:1])
    from genstudio.gui import workers
    from genstudio.gui.app import make_window

    workers.install()
    tmp = Path(tempfile.mkdtemp(prefix="genstudio-shots-"))
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    win = make_window(str(tmp / "workspace"), settings)
    win.resize(1440, 900)
    win.show()
    win.load_plugins()
    pump(app, lambda: win.training.start_button.isEnabled())

    # a first, shorter run with a 2-D latent space, so the Runs tab compares two runs
    win.model_panel.form.set_values({"latent_dim": 2})
    win.training.length.setValue(args.steps // 2)
    start_and_wait(app, win)

    win.model_panel.form.reset_values()
    win.training.length.setValue(args.steps)
    start_and_wait(app, win, at_step=args.steps * 0.6)
    win.tabs.setCurrentWidget(win.training)
    for _ in range(20):  # let the plot's timer draw the newest points
        app.processEvents()
        time.sleep(0.05)
    win.grab().save(str(out / "training.png"))
    pump(app, lambda: not win.studio.session.running)

    win.tabs.setCurrentWidget(win.samples)
    samples = win.samples
    pump(app, lambda: samples.samples is not None)
    _, _, h, w = samples.samples.shape
    samples._clicked(1 + (w + 1) * 2 + w / 2, 1 + (h + 1) + h / 2)  # enlarge one: row 2, column 3
    app.processEvents()
    win.grab().save(str(out / "samples.png"))

    win.tabs.setCurrentWidget(win.latent)
    latent = win.latent
    latent.sliders[0].setValue(60)
    latent.sliders[1].setValue(-45)
    latent.endpoints.setCurrentIndex(1)
    latent.method.setCurrentText("spherical")
    latent.first.setValue(0)
    latent.second.setValue(7)
    latent.interpolate()
    latent.reconstruct()
    pump(app, lambda: latent.strip._pixmap is not None and latent.recon._pixmap is not None and not latent._busy)
    app.processEvents()
    win.grab().save(str(out / "latent.png"))

    win.tabs.setCurrentWidget(win.evaluate)
    evaluate = win.evaluate
    evaluate.refresh()
    for run in (1, 2):
        evaluate.tick(run)
    for name, box in evaluate.metric_boxes.items():
        box.setChecked(name in ("fid", "kid", "pr", "nll", "memo"))
    evaluate.n.setValue(1000)
    evaluate.evaluate()
    # Inception-v3 features of 1,000 samples a run and of the real images: 10 minutes on 2 cores
    pump(app, lambda: not evaluate._busy, timeout=2400)
    evaluate.table.selectRow(1)
    app.processEvents()
    win.grab().save(str(out / "evaluate.png"))

    win.tabs.setCurrentWidget(win.runs)
    win.runs.refresh()
    win.runs.table.selectAll()
    pump(app, lambda: len(win.runs.plot.curves) > 0)
    app.processEvents()
    win.grab().save(str(out / "runs.png"))
    win.access.shutdown()
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    main()
