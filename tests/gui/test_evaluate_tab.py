"""The Evaluate tab: metrics on chosen runs, the table across runs, memorisation pairs and
anomaly scores; and evaluation at intervals from the Training tab."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QFileDialog

from genstudio.data.grid import make_grid
from genstudio.gui.evaluate_tab import column_order, latest_metrics, short_extractor
from genstudio.runs.store import RunStore
from tests.gui.conftest import TIMEOUT, choose, train


def evaluate(window, qtbot, runs, metrics, n=100):
    tab = window.evaluate
    tab.refresh()
    for run in runs:
        tab.tick(run)
    for name, box in tab.metric_boxes.items():
        box.setChecked(name in metrics)
    tab.n.setValue(n)
    tab.evaluate()
    qtbot.waitUntil(lambda: not tab._busy, timeout=TIMEOUT)
    return tab


def test_metrics_on_two_runs_fill_one_table(window, qtbot):
    choose(window, qtbot, data="tiny-vectors", family="tiny")
    assert train(window, qtbot, steps=30).type == "finished"
    assert train(window, qtbot, steps=200).type == "finished"
    tab = evaluate(window, qtbot, [1, 2], ["fid", "nll", "memo"])
    assert tab.error.isHidden(), tab.error.text()
    assert tab.table.rowCount() == 2
    headers = [tab.table.horizontalHeaderItem(c).text() for c in range(tab.table.columnCount())]
    assert "fid\n[raw]" in headers and "nll\n[no features]" in headers
    fid = headers.index("fid\n[raw]")
    first, second = (float(tab.table.item(r, fid).text()) for r in (0, 1))
    assert second < first  # the longer run fits the data better
    stored = RunStore(window.studio.workspace).metrics(1)
    assert {(m["metric"], m["extractor"], m["n"]) for m in stored if m["key"] == "fid"} == {("fid", "raw", 100)}


def test_memorisation_pairs_show_for_the_selected_run(window, qtbot):
    choose(window, qtbot, data="tiny", family="tiny")
    assert train(window, qtbot, steps=30).type == "finished"
    tab = evaluate(window, qtbot, [1], ["memo"])
    # one run evaluated: its pairs show at once, with no row to select first
    assert tab.pairs_label.text().startswith("Run 1: the 8 samples closest to a training example")
    assert tab.pairs._pixmap is not None
    tab.table.selectRow(0)
    assert "the 8 samples closest to a training example" in tab.pairs_label.text()
    assert tab.pairs._pixmap.width() == 8 * 9 + 1 and tab.pairs._pixmap.height() == 2 * 9 + 1


def test_cancel_stops_an_evaluation(window, qtbot):
    choose(window, qtbot, data="tiny", family="tiny")
    assert train(window, qtbot, steps=10).type == "finished"
    tab = window.evaluate
    tab.refresh()
    tab.tick(1)
    for name, box in tab.metric_boxes.items():
        box.setChecked(name == "fid")
    tab.n.setValue(5000)
    tab.evaluate()
    tab.cancel()
    qtbot.waitUntil(lambda: not tab._busy, timeout=TIMEOUT)
    assert tab.stage.text() == "Cancelled."


def test_nothing_to_evaluate_is_said_plainly(window, qtbot):
    tab = window.evaluate
    tab.refresh()
    tab.evaluate()
    assert "Tick at least one run" in tab.error.text()


def test_anomaly_scores_show_the_least_and_most_likely_examples(window, qtbot, tmp_path, monkeypatch):
    choose(window, qtbot, data="tiny", family="tiny")
    assert train(window, qtbot, steps=100).type == "finished"
    tab = window.evaluate
    tab.refresh()
    tab.tick(1)
    tab.score()
    qtbot.waitUntil(lambda: tab.scores is not None, timeout=TIMEOUT)
    assert len(tab.scores["log_prob"]) == 96
    assert "scored 96 examples by log_prob" in tab.score_label.text()
    # the pictures hold the 16 least and the 16 most likely examples by those scores
    order = np.argsort(tab.scores["log_prob"])
    data = window.studio.dataset
    for pic, idx in ((tab.least, order[:16]), (tab.most, order[-16:])):
        np.testing.assert_array_equal(pic.pixels, make_grid(data.as_float(np.sort(idx)), nrow=8))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "s.csv"), "CSV"))
    tab.save_scores_csv()
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0].startswith("index,log_prob") and len(rows) == 97


def test_evaluation_at_intervals_from_the_training_tab(window, qtbot):
    choose(window, qtbot, data="tiny", family="tiny")
    window.training.eval_every.setValue(10)
    window.training.eval_metrics.setText("nll")
    assert train(window, qtbot, steps=30).type == "finished"
    assert "eval/nll" in window.training.plot.curves
    steps, _, _ = RunStore(window.studio.workspace).scalars(1, ["eval/nll"])["eval/nll"]
    assert steps.tolist() == [10, 20, 30]


def test_latest_results_and_extractor_names():
    rows = [
        {"metric": "fid", "key": "fid", "extractor": "raw", "value": 3.0},
        {"metric": "fid", "key": "fid", "extractor": "raw", "value": 2.0},
        {"metric": "nll", "key": "nll", "extractor": None, "value": 1.0},
    ]
    assert latest_metrics(rows) == {("fid", "fid", "raw"): 2.0, ("nll", "nll", ""): 1.0}
    assert short_extractor("inception-v3:sha256=abc") == "inception-v3"
    assert short_extractor("classifier/123-abc") == "classifier"
    assert np.isfinite(latest_metrics(rows)[("fid", "fid", "raw")])


def test_columns_put_feature_metrics_first_in_the_usual_order():
    cols = [("memo", "nn_distance", ""), ("nll", "bpd", ""), ("nll", "nll", ""), ("kid", "kid", "c"),
            ("pr", "recall", "c"), ("pr", "precision", "c"), ("fid", "fid", "c"), ("fid", "fid", "b")]  # fmt: skip
    assert sorted(cols, key=column_order) == [
        ("fid", "fid", "b"),
        ("fid", "fid", "c"), ("kid", "kid", "c"), ("pr", "precision", "c"), ("pr", "recall", "c"),
        ("nll", "nll", ""), ("nll", "bpd", ""), ("memo", "nn_distance", ""),
    ]  # fmt: skip


def test_a_likelihood_shows_the_published_reference_with_its_protocol_and_budget(window):
    from types import SimpleNamespace

    tab = window.evaluate
    runs = [SimpleNamespace(id=1, name="ten minutes", model="vae"), SimpleNamespace(id=2, name="t", model="tiny")]
    row = {"metric": "nll", "key": "nll", "extractor": None, "value": 101.5}
    tab._fill_table(runs, {1: [row], 2: [row]})
    last = tab.table.columnCount() - 1
    assert tab.table.horizontalHeaderItem(last).text() == "published\n[likelihood]"
    vae = tab.table.item(0, last)
    assert vae.text() == "-86.76 nats"
    assert "Burda, Grosse and Salakhutdinov 2016" in vae.toolTip()
    assert "protocol: MNIST, dynamically binarised" in vae.toolTip() and "training: 60,000" in vae.toolTip()
    assert tab.table.item(1, last).text() == "—"
    noised = [SimpleNamespace(id=3, name="noised", model="flow")]
    tab._fill_table(noised, {3: [{**row, "details": {"noise": 0.2, "protocol": "..."}}]})
    flow = tab.table.item(0, tab.table.columnCount() - 1)
    assert flow.text() == "1.06 bits/dim (not comparable)"
    assert flow.toolTip().startswith("This run's likelihood is the density of images with Gaussian noise of std 0.2")
    tab._fill_table(runs, {1: [{**row, "metric": "fid", "key": "fid", "extractor": "raw"}]})
    assert tab.table.horizontalHeaderItem(tab.table.columnCount() - 1).text() != "published\n[likelihood]"
