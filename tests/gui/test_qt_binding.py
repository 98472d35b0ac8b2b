"""The Qt binding keeps reference counts straight where GenStudio leans on it hardest:
signals carrying Python objects, emitted thousands of times, within and across threads.
(PySide6 6.12.0 did not: each emit over-released a bool until the interpreter aborted.)"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot


class Carrier(QObject):
    carried = Signal(object)

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.carried.connect(self.receive)

    @Slot(object)
    def receive(self, value):
        self.seen += 1


def refcounts():
    return sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)


def test_emitting_objects_keeps_reference_counts(qapp):
    carrier = Carrier()
    before = refcounts()
    for i in range(5000):
        carrier.carried.emit(None if i % 2 else ("event", i, None))
    thread = threading.Thread(target=lambda: [carrier.carried.emit(None) for _ in range(5000)])
    thread.start()
    thread.join()
    QCoreApplication.processEvents()
    QCoreApplication.processEvents()
    assert carrier.seen == 10_000
    after = refcounts()
    # a few references come and go with the interpreter's own work; thousands would be a leak
    assert all(abs(a - b) < 200 for a, b in zip(after, before)), (before, after)
