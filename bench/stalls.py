"""Who makes the window late: train families in the window (as bench/ui_latency.py does) while
a watchdog thread, whenever the GUI thread's 10 ms timer has not fired for 30 ms (``--threshold-ms``), writes
down the stack of every other thread (and of the GUI thread, marked MAIN). The stacks seen
most often during stalls are where to look: a C call that holds the interpreter lock (an
import, a large sort) stalls the window whichever thread makes it.

    python bench/stalls.py [--families vae,bayesnet] [--seconds 6] [--top 12]

Prints the longest gap per family and the most frequent stacks; writes nothing.
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.ui_latency as ui


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", default="vae,bayesnet")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--threshold-ms", type=float, default=30.0, help="a stall: the timer late by this much")
    args = ap.parse_args()

    from PySide6.QtCore import Qt, QTimer

    from genstudio.gui.app import make_window

    app, tmp, settings = ui.make_app()
    win = make_window(str(tmp / "ws"), settings)
    ui.show_ready(app, win)

    main_id = threading.main_thread().ident
    last = [time.perf_counter()]
    stacks: collections.Counter = collections.Counter()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            time.sleep(0.003)
            if time.perf_counter() - last[0] <= args.threshold_ms / 1000:
                continue
            for tid, frame in sys._current_frames().items():
                if tid == threading.get_ident():
                    continue
                where = traceback.extract_stack(frame)[-7:]
                key = " <- ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in reversed(where))
                stacks[("MAIN " if tid == main_id else "") + key] += 1

    threading.Thread(target=watch, daemon=True).start()
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(lambda: last.__setitem__(0, time.perf_counter()))
    timer.start()
    stacks.clear()
    for family in args.families.split(","):
        source = "asia" if family == "bayesnet" else "mnist"  # built in
        gaps = ui.train_in_window(app, win, source, family, args.seconds)
        print(f"{family} on {source}: longest gap {gaps['gap_ms_max']:.1f} ms, p99 {gaps['gap_ms_p99']:.1f} ms")
    done.set()
    for key, n in stacks.most_common(args.top):
        print(n, key)
    win.access.shutdown()


if __name__ == "__main__":
    main()
