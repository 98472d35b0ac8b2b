"""Regenerate the Apply page's screenshots: a restoration, an ROC curve and a query.

Trains two small runs headless (a VAE on MNIST digits 0-8 from the shared data for
``--seconds``, and a Bayesian network on rows drawn from the Asia network), then drives the
real window offscreen as a user would: the Apply tab inpaints a digit with a rectangle mask,
the Evaluate tab's anomaly section scores all ten digits with 9 as the anomaly, and the Apply
tab's graph answers a query set by clicking nodes.

    python docs/apply_screenshots.py [--seconds 90] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parent.parent

MNIST = ROOT.parent / "shared" / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"


def pump(app: QApplication, until, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.02)


def train_runs(workspace, seconds: float) -> None:
    from genstudio.testing import make_host, train
    from tests.apply.asia import sample_csv

    host = make_host(workspace.root)
    # digits 0-8 of the first 8,000 images: the 9s are the anomalies later
    train(host, workspace, "vae", str(MNIST), data_options={"classes": "0-8"}, minutes=seconds / 60,
          steps=None, batch_size=64, val_fraction=0.1)  # fmt: skip
    csv = sample_csv(Path(workspace.root) / "asia.csv", 3000)
    train(host, workspace, "bayesnet", str(csv), data_options={"kind": "tabular"}, steps=6, batch_size=500)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=90.0, help="training time of the VAE")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    from genstudio.gui import workers
    from genstudio.gui.app import make_window
    from genstudio.host import create_plugin_manager
    from genstudio.runs.store import RunStore

    workers.install()
    tmp = Path(tempfile.mkdtemp(prefix="genstudio-apply-shots-"))
    win = make_window(str(tmp / "ws"), QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    win.resize(1500, 980)
    win.show()
    ws = win.studio.workspace
    # the families a person has: the built-ins, without the test suite's tiny plugins
    win.studio.set_host(create_plugin_manager(ws.root, autoload=False, disabled=()))
    train_runs(ws, args.seconds)
    store = RunStore(ws)

    # a restoration: a rectangle over the middle of a test digit
    tab = win.apply
    win.tabs.setCurrentWidget(tab)
    win.studio.run_opened.emit(store.get_run(1))
    win.tabs.setCurrentWidget(tab)
    pump(app, lambda: tab.clean is not None)
    tab.example.setValue(7000)
    tab.task.setCurrentIndex(tab.task.findData("inpaint"))
    tab.canvas.set_box(8, 8, 12, 12)
    tab.n.setValue(6)
    tab.restore()
    pump(app, lambda: "restored PSNR" in tab.scores.text() or tab.error.isVisible())
    app.processEvents()
    win.grab().save(str(out / "apply_restore.png"))

    # an ROC curve: all ten digits in the Data panel, 9 ticked as the anomaly
    win.data_panel.open_source(str(MNIST))
    # the built-in mnist holds the same 10,000 images: wait for the folder, not for the count
    pump(app, lambda: win.studio.data_source == str(MNIST) and win.studio.dataset is not None)
    ev = win.evaluate
    win.tabs.setCurrentWidget(ev)
    ev.refresh()
    ev.tick(1)
    ev.anomaly.tick(["9"])
    # reconstruction error: one pass per image (the VAE's log_prob draws 100 importance samples each)
    ev.anomaly.by.setCurrentIndex(ev.anomaly.by.findData("reconstruction"))
    ev.anomaly.run()
    pump(app, lambda: "AUROC" in ev.anomaly.summary.text() or ev.anomaly.error.isVisible())
    app.processEvents()
    ev.anomaly.grab().save(str(out / "apply_roc.png"))

    # a query: smoke and xray set by clicking the graph's nodes
    win.tabs.setCurrentWidget(tab)
    win.studio.run_opened.emit(store.get_run(2))
    win.tabs.setCurrentWidget(tab)
    pump(app, lambda: bool(tab.categories))
    tab.cycle_evidence("smoke")  # no -> yes: what a click on the node does
    pump(app, lambda: tab.evidence.get("smoke") == "no" and "smoke=no" in tab.answer.text())
    tab.cycle_evidence("smoke")
    pump(app, lambda: "smoke=yes" in tab.answer.text())
    tab.cycle_evidence("xray")
    pump(app, lambda: "xray=no" in tab.answer.text())
    tab.cycle_evidence("xray")
    pump(app, lambda: "xray=yes" in tab.answer.text())
    tab.query.setText("lung | smoke=yes, xray=yes")
    tab.ask()
    pump(app, lambda: "P(lung" in tab.answer.text())
    app.processEvents()
    win.grab().save(str(out / "apply_query.png"))
    win.access.shutdown()
    print("wrote", *(out / n for n in ("apply_restore.png", "apply_roc.png", "apply_query.png")))


if __name__ == "__main__":
    main()
