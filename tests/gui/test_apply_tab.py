"""The Apply tab, driven with the mouse: restore a damaged example, query a Bayesian network."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from genstudio.runs.store import RunStore
from tests.apply.asia import sample_csv
from tests.gui.conftest import TIMEOUT, choose, train


def test_draw_a_mask_restore_and_read_psnr(window, qtbot, tmp_path):
    choose(window, qtbot, data="tiny", family="tiny")
    assert train(window, qtbot, steps=60).type == "finished"
    tab = window.apply
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.clean is not None, timeout=TIMEOUT)
    assert tab.restore_group.isEnabled() and not tab.query_group.isVisible()
    assert tab.task.currentData() == "denoise" and not tab.canvas_label.text().startswith("Draw")
    tab.task.setCurrentIndex(tab.task.findData("inpaint"))
    assert tab.canvas_label.text().startswith("Draw the missing region here")
    # drag a rectangle over the image with the mouse: pixels (2, 2) to (5, 5) go missing
    canvas = tab.canvas
    r = canvas._target()

    def at(col, row):
        return QPoint(int(r.x() + (col + 0.5) * r.width() / 8), int(r.y() + (row + 0.5) * r.height() / 8))

    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(2, 2))
    qtbot.mouseMove(canvas, at(5, 5))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(5, 5))
    assert canvas.mask.sum() == 16 and canvas.mask[2:6, 2:6].all()
    tab.n.setValue(3)
    qtbot.mouseClick(tab.restore_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "restored PSNR" in tab.scores.text(), timeout=TIMEOUT)
    assert "latent optimisation" in tab.scores.text()
    assert not tab.error.isVisible()
    # an image of another size than the run's is refused inline
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "big.png")
    tab.open_image(str(tmp_path / "big.png"))
    assert tab.error.isVisible() and "big.png is shaped (1, 20, 20); the run's images are (1, 8, 8)" in (
        tab.error.message.text()
    )
    # inpainting with nothing drawn says what to do
    qtbot.mouseClick(tab.clear_mask, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(tab.restore_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Draw the missing region" in tab.error.message.text(), timeout=TIMEOUT)


def test_clicking_a_node_sets_evidence_and_shows_posteriors(window, qtbot, tmp_path):
    from genstudio.testing import train as train_headless

    csv = sample_csv(tmp_path / "asia.csv", 2000)
    ws = window.studio.workspace
    train_headless(window.studio.host, ws, "bayesnet", str(csv), data_options={"kind": "tabular"}, steps=4,
                   batch_size=500)  # fmt: skip
    tab = window.apply
    window.tabs.setCurrentWidget(tab)
    window.studio.run_opened.emit(RunStore(ws).get_run(1))
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: bool(tab.categories), timeout=TIMEOUT)
    assert tab.query_group.isVisible() and not tab.restore_group.isVisible()
    from genstudio.gui.graph_view import layout

    view = tab.graph
    before = len(view.scene().items())
    centre = view.mapFromScene(layout(view.structure)["smoke"])
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.waitUntil(lambda: "smoke=no" in tab.answer.text(), timeout=TIMEOUT)  # categories sort: no, yes
    assert tab.evidence == {"smoke": "no"}
    assert len(view.scene().items()) > before  # bars under every node
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(layout(view.structure)["smoke"]))
    qtbot.waitUntil(lambda: "smoke=yes" in tab.answer.text(), timeout=TIMEOUT)
    tab.query.setText("lung | xray=yes")
    qtbot.mouseClick(tab.ask_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "P(lung | xray=yes)" in tab.answer.text(), timeout=TIMEOUT)
    tab.query.setText("lung | xray=maybe")
    qtbot.mouseClick(tab.ask_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "never had the value 'maybe'" in tab.error.message.text(), timeout=TIMEOUT)


def test_evaluate_tab_detects_anomalies_with_roc_and_pr(window, qtbot):
    from genstudio.apply.anomaly import auroc

    choose(window, qtbot, data="tiny", family="tiny")
    assert train(window, qtbot, steps=60).type == "finished"
    tab = window.evaluate
    window.tabs.setCurrentWidget(tab)
    tab.refresh()
    tab.tick(1)
    panel = tab.anomaly
    assert [panel.labels.item(i).text() for i in range(panel.labels.count())] == ["horizontal", "vertical"]
    qtbot.mouseClick(panel.compute, Qt.MouseButton.LeftButton)
    assert "Tick at least one anomalous label" in panel.error.message.text()
    panel.tick(["vertical"])
    qtbot.mouseClick(panel.compute, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "AUROC" in panel.summary.text(), timeout=TIMEOUT)
    r = panel.result
    assert r["by"] == "log_prob" and f"AUROC {auroc(r['scores'], r['anomalous']):.4f}" in panel.summary.text()
    assert len(panel.roc.getPlotItem().listDataItems()) == 2 and len(panel.pr.getPlotItem().listDataItems()) == 2
    assert panel.most.pixmap() is not None and not panel.most.pixmap().isNull()


def test_latent_tab_attribute_slider_moves_the_decoded_code(window, qtbot):
    choose(window, qtbot, data="tiny", family="tiny")
    assert train(window, qtbot, steps=60).type == "finished"
    tab = window.latent
    window.tabs.setCurrentWidget(tab)
    panel = tab.attributes
    qtbot.waitUntil(lambda: panel.isEnabled() and panel.attribute.count() > 0, timeout=TIMEOUT)
    assert panel.attribute.currentText() == "label"
    assert [panel.source.itemText(i) for i in range(panel.source.count())] == ["horizontal", "vertical"]
    panel.source.setCurrentText("horizontal")
    panel.target.setCurrentText("vertical")
    qtbot.mouseClick(panel.add, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(panel.directions) == 1, timeout=TIMEOUT)
    name, d, slider = panel.directions[0]
    assert name == "label: horizontal → vertical" and np.linalg.norm(d) > 0
    qtbot.waitUntil(lambda: not tab._busy, timeout=TIMEOUT)
    before = tab.decoded.pixmap().toImage()
    slider.setValue(100)
    qtbot.waitUntil(lambda: not tab._busy and tab.decoded.pixmap().toImage() != before, timeout=TIMEOUT)
