"""Regenerate docs/screenshots/sweep.png: the Sweep tab in the middle of a study.

Drives the real window offscreen as a user would: the built-in moons and the VAE, the
parameters the VAE marks as worth tuning ticked, 16 trials of 400 steps; the tab is captured
once 8 trials have ended, while the next one trains.

    python docs/sweep_screenshot.py [--out docs/screenshots]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots import pump


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "screenshots"))
    ap.add_argument("--ended", type=int, default=6, help="trials ended before the capture")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    from genstudio.gui import workers
    from genstudio.gui.app import make_window

    workers.install()
    tmp = Path(tempfile.mkdtemp(prefix="genstudio-sweep-shot-"))
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    win = make_window(str(tmp / "workspace"), settings)
    win.resize(1440, 900)
    win.show()
    win.load_plugins()
    tab = win.sweep
    pump(app, lambda: win.studio.dataset is not None and win.studio.family is not None)
    win.data_panel.select_source("moons")
    pump(app, lambda: win.studio.dataset is not None and win.studio.dataset.spec.source == "moons")
    win.model_panel.select("vae")
    pump(app, lambda: tab.start_button.isEnabled())
    win.tabs.setCurrentWidget(tab)
    tab.trials.setValue(16)
    tab.length.setValue(400)
    tab.start()
    pump(app, lambda: sum(r.get("state") not in (None, "running") for r in tab.rows.values()) >= args.ended
         and any(r.get("state") == "running" and r["intermediate"] for r in tab.rows.values()))  # fmt: skip
    pump(app, lambda: not tab.reading)
    for _ in range(20):  # let the timer draw the newest points
        app.processEvents()
        time.sleep(0.05)
    win.grab().save(str(out / "sweep.png"))
    tab.stop()
    tab.shutdown()
    win.access.shutdown()
    print(f"written {out / 'sweep.png'}")


if __name__ == "__main__":
    main()
