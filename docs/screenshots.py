"""Regenerate docs/screenshots/*.png: the window while training, samples, latent, runs.

Drives the real window offscreen as a user would: the built-in digits and the VAE are
preselected, Train is pressed, and each tab is captured once there is something to show.

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
    before = win.training.session
    win.training.start()
    pump(app, lambda: win.training.session is not before and win.training.session is not None)
    session = win.training.session
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

    # a first, short run on the moons, so the Runs tab has two runs to compare
    win.data_panel.select_source("moons")
    pump(app, lambda: win.studio.dataset is not None and win.studio.dataset.spec.source == "moons")
    win.training.length.setValue(1500)
    start_and_wait(app, win)

    win.data_panel.select_source("digits")
    pump(app, lambda: win.studio.dataset is not None and win.studio.dataset.spec.source == "digits")
    win.model_panel.select("vae")
    win.training.length.setValue(args.steps)
    start_and_wait(app, win, at_step=args.steps * 0.6)
    win.tabs.setCurrentWidget(win.training)
    for _ in range(20):  # let the plot's timer draw the newest points
        app.processEvents()
        time.sleep(0.05)
    win.grab().save(str(out / "training.png"))
    pump(app, lambda: not win.training.session.running)

    win.tabs.setCurrentWidget(win.samples)
    win.samples._clicked(1 + 33 * 2 + 10, 1 + 33 + 10)  # enlarge one sample
    pump(app, lambda: win.samples.samples is not None)
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
