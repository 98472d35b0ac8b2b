""" "Get dataset…" in the Data dock, against a local HTTP server: progress, Cancel mid-download,
a resumed second attempt, the fetched set joining the list; a server that is not there."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from genstudio.data import catalogue as cat
from genstudio.data.download import MIRROR_ENV
from genstudio.data.splits import split_counts
from tests.core.test_catalogue import idx_bytes
from tests.data_server import Behaviour, md5, serve
from tests.gui.conftest import TIMEOUT


def tiny_files() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    return {
        "train-images-idx3-ubyte.gz": idx_bytes(rng.integers(0, 256, (2000, 12, 12))),  # ~290 KB, incompressible
        "train-labels-idx1-ubyte.gz": idx_bytes(np.arange(2000) % 10),
        "t10k-images-idx3-ubyte.gz": idx_bytes(rng.integers(0, 256, (100, 12, 12))),
        "t10k-labels-idx1-ubyte.gz": idx_bytes(np.arange(100) % 10),
    }


@pytest.fixture
def tiny(monkeypatch, tmp_path, request):
    """A catalogue entry `tiny` registered before the window's plugin host is made, and the window."""
    monkeypatch.setenv("GENSTUDIO_DATASETS_DIR", str(tmp_path / "datasets"))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    files = tiny_files()
    entry = cat.CatalogueEntry(
        "tiny",
        "Tiny digits",
        "a test set",
        tuple(cat.RemoteFile(k, md5(v), len(v)) for k, v in files.items()),
        (),
        "idx",
    )
    monkeypatch.setitem(cat.CATALOGUE, "tiny", entry)
    return files, request.getfixturevalue("window")


def listed(window) -> list[str]:
    panel = window.data_panel
    return [panel.sources.item(i).data(Qt.ItemDataRole.UserRole) for i in range(panel.sources.count())]


def test_get_dataset_shows_progress_cancels_and_resumes(tiny, qtbot, tmp_path):
    files, window = tiny
    assert "tiny" not in listed(window) and "mnist" in listed(window)  # not fetched yet: not offered
    b = Behaviour(files={f"/tiny/{k}": v for k, v in files.items()}, delay=0.03)
    with serve(b) as base:
        qtbot.mouseClick(window.data_panel.get_button, Qt.MouseButton.LeftButton)
        dialog = window.data_panel.download_dialog
        assert dialog.isVisible()
        dialog.select("tiny")
        dialog.mirror.setText(base)
        qtbot.mouseClick(dialog.get_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: " KB of " in dialog.status.text(), timeout=TIMEOUT)
        assert "/s" in dialog.status.text() and "left" in dialog.status.text()
        assert dialog.progress.isVisible() and dialog.cancel_button.isEnabled()
        with qtbot.waitSignal(dialog.finished_download, timeout=TIMEOUT) as blocker:
            qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        assert blocker.args == ["cancelled"] and "Cancelled" in dialog.status.text()
        folder = tmp_path / "datasets" / "tiny"
        part = folder / "train-images-idx3-ubyte.gz.part"
        kept = part.stat().st_size
        assert 0 < kept < len(files["train-images-idx3-ubyte.gz"])
        assert not (folder / "train-images-idx3-ubyte.gz").exists()  # never a partial file under its name
        assert dialog.get_button.isEnabled() and "tiny" not in listed(window)

        b.delay = 0.0
        with qtbot.waitSignal(dialog.finished_download, timeout=TIMEOUT) as blocker:
            qtbot.mouseClick(dialog.get_button, Qt.MouseButton.LeftButton)
        assert blocker.args == ["done"], dialog.error.text()
    assert ("/tiny/train-images-idx3-ubyte.gz", f"bytes={kept}-") in b.requests  # resumed, not restarted
    assert "verified" in dialog.status.text()
    assert window.settings.value("datasets/mirror") == base  # the window's setting, kept for next time
    # the fetched set joins the Data dock's list and is opened, with its own split
    assert "tiny" in listed(window)
    qtbot.waitUntil(
        lambda: window.studio.dataset is not None and window.studio.dataset.spec.source == "tiny", timeout=TIMEOUT
    )
    assert split_counts(window.studio.dataset) == (2000, 100)
    dialog.close()


def test_a_server_that_is_not_there_is_an_inline_message(tiny, qtbot):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, window = tiny
    window.data_panel.get_dataset()
    dialog = window.data_panel.download_dialog
    dialog.select("tiny")
    dialog.mirror.setText(f"http://127.0.0.1:{port}")
    with qtbot.waitSignal(dialog.finished_download, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(dialog.get_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["failed"]
    text = dialog.error.text()
    assert f"http://127.0.0.1:{port}/tiny/" in text and "place the files by hand" in text and "Traceback" not in text
    dialog.close()
