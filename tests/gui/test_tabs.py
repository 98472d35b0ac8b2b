"""The Samples, Latent and Runs tabs, driven as a user drives them."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from genstudio.data.grid import make_grid
from genstudio.gui.grid_view import cell_at
from genstudio.metrics.core import slerp
from genstudio.runs.inference import latent_path
from genstudio.runs.store import RunStore
from tests.gui.conftest import TIMEOUT, choose, train


def trained(window, qtbot, data="tiny", family="tiny", steps=60):
    choose(window, qtbot, data=data, family=family)
    last = train(window, qtbot, steps=steps)
    assert last.type == "finished", getattr(last, "message", "")
    return last


# -- samples -----------------------------------------------------------------------------------


def test_cell_at_finds_the_sample_under_a_pixel():
    grid = make_grid(np.zeros((10, 1, 8, 8)))  # 4 columns, cells of 8 + 1 pixels
    assert grid.shape[:2] == (3 * 9 + 1, 4 * 9 + 1)
    assert cell_at(1, 1, 10, 8, 8) == 0
    assert cell_at(1 + 9 * 3 + 4, 1 + 9 + 4, 10, 8, 8) == 7
    assert cell_at(0, 0, 10, 8, 8) is None  # padding
    assert cell_at(1 + 9 * 2 + 2, 1 + 9 * 2 + 2, 10, 8, 8) is None  # beyond the tenth sample


def test_grids_arrive_live_and_the_history_plays_back(window, qtbot):
    trained(window, qtbot, steps=100)
    tab = window.samples
    run = RunStore(window.studio.workspace).get_run(1)
    stored = RunStore(window.studio.workspace).artifacts(run.id, "samples")
    assert len(tab.grids) == len(stored) >= 2 and tab.grids[0][0] == 0
    assert tab.slider.maximum() == len(tab.grids) - 1
    assert tab.samples.shape[1:] == (1, 8, 8)
    tab.slider.setValue(0)
    qtbot.waitUntil(lambda: tab.title.text().startswith(f"Grid 1 of {len(tab.grids)} · step 0"), timeout=TIMEOUT)
    first = tab.samples.copy()
    np.testing.assert_array_equal(first, np.load(stored[0]["meta"]["npy"]))
    tab.play_button.setChecked(True)
    qtbot.waitUntil(lambda: not tab.play_button.isChecked(), timeout=TIMEOUT)  # plays to the end and stops
    assert tab.slider.value() == tab.slider.maximum()


def test_clicking_a_sample_enlarges_it_and_both_can_be_saved(window, qtbot, tmp_path, monkeypatch):
    trained(window, qtbot, steps=20)
    tab = window.samples
    window.tabs.setCurrentWidget(tab)
    # a real click with the mouse, at the widget pixel that shows the third sample of the first row
    view = tab.view
    at = view.mapFromScene(1 + 9 * 2 + 4.5, 1 + 4.5)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert tab.selected == 2 and not tab.enlarged.pixmap().isNull() and tab.save_one.isEnabled()
    out = iter([str(tmp_path / "grid.png"), str(tmp_path / "one.png")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (next(out), "PNG"))
    tab.save_grid()
    tab.save_sample()
    from PIL import Image

    with Image.open(tmp_path / "grid.png") as grid, Image.open(tmp_path / "one.png") as one:
        np.testing.assert_array_equal(np.asarray(grid.convert("L")), tab.pixels[..., 0])
        # the third sample, 8x8 enlarged four times
        third = make_grid(tab.samples[2:3], pad=0)[..., 0]
        np.testing.assert_array_equal(np.asarray(one.convert("L")), third.repeat(4, 0).repeat(4, 1))
        assert not np.array_equal(third, make_grid(tab.samples[1:2], pad=0)[..., 0])  # not just any sample


def test_wheel_zooms_the_grid(window, qtbot):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    trained(window, qtbot, steps=10)
    view = window.samples.view
    window.tabs.setCurrentWidget(window.samples)
    before = view.transform().m11()
    event = QWheelEvent(QPointF(50, 50), QPointF(50, 50), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    view.wheelEvent(event)
    assert view.transform().m11() == pytest.approx(before * 1.25)
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.viewport().rect().center())
    assert view.transform().m11() == pytest.approx(before)  # a double click fits it again
    view.wheelEvent(event)
    qtbot.mouseClick(window.samples.fit_button, Qt.MouseButton.LeftButton)
    assert view.transform().m11() == pytest.approx(before)


def test_generate_more_draws_from_the_current_weights(window, qtbot):
    trained(window, qtbot, steps=20)
    tab = window.samples
    tab.generate_more()
    qtbot.waitUntil(lambda: "Generated from the current weights" in tab.title.text(), timeout=TIMEOUT)
    assert tab.samples.shape == (64, 1, 8, 8)


def test_two_dimensional_samples_scatter_over_the_data_with_a_density(window, qtbot):
    trained(window, qtbot, data="tiny-vectors", family="tiny", steps=100)
    tab = window.samples
    assert tab.stack.currentWidget() is tab.scatter
    assert len(tab.scatter.fake.data) == 1000 and len(tab.scatter.real.data) == 256
    assert tab.density.isVisibleTo(tab)  # tiny has log_prob
    tab.density.setChecked(True)
    qtbot.waitUntil(lambda: tab.scatter.density.isVisible(), timeout=TIMEOUT)
    image = tab.scatter.density.image
    assert image.shape == (120, 120) and np.isclose(image.max(), 1.0)


def test_the_sampling_process_plays_frame_by_frame(window, qtbot):
    choose(window, qtbot, data="tiny", family="diffusion")
    window.model_panel.form.set_values({"sample_steps": 8, "timesteps": 50})
    assert train(window, qtbot, steps=10).type == "finished"
    tab = window.samples
    assert tab.chain_button.isVisibleTo(tab)
    tab.show_chain()
    qtbot.waitUntil(lambda: bool(tab.chain), timeout=TIMEOUT)
    frames = len(tab.chain)
    assert frames >= 8 and tab.slider.maximum() == frames - 1
    assert tab.title.text().startswith(f"Sampling process: frame 1 of {frames}")
    tab.slider.setValue(frames - 1)
    assert tab.title.text().startswith(f"Sampling process: frame {frames} of {frames}")


def test_opening_a_run_from_the_runs_tab_shows_its_samples(window, qtbot):
    last = trained(window, qtbot, steps=60)
    other = window.studio.workspace
    window.runs.refresh()
    window.runs.select_run(last.run)
    with qtbot.waitSignal(window.studio.run_opened, timeout=TIMEOUT):
        window.runs.open_selected()
    tab = window.samples
    assert window.tabs.currentWidget() is tab
    qtbot.waitUntil(lambda: tab.samples is not None and tab.title.text().startswith("Grid"), timeout=TIMEOUT)
    stored = RunStore(other).artifacts(last.run, "samples")
    assert len(tab.grids) == len(stored) and tab.slider.value() == len(stored) - 1


def test_an_opened_run_is_shown_with_its_own_data_not_the_data_panels(window, qtbot):
    # trained on 2-D points, then the Data panel moves on to images: opening the run must
    # compare, reconstruct and interpolate with the points it learned, never with the images
    trained(window, qtbot, data="tiny-vectors", family="vae", steps=30)
    choose(window, qtbot, data="tiny", family="tiny")
    window.runs.refresh()
    window.runs.select_run(1)
    with qtbot.waitSignal(window.studio.run_opened, timeout=TIMEOUT):
        window.runs.open_selected()
    qtbot.waitUntil(lambda: window.access.data is not None, timeout=TIMEOUT)
    assert window.access.data.spec.source == "tiny-vectors" and window.access.data.spec.shape == (2,)
    tab = window.samples
    qtbot.waitUntil(lambda: tab.samples is not None and len(tab.scatter.real.data) == 256, timeout=TIMEOUT)
    latent = window.latent
    assert latent.groups[2].isEnabled() and latent.first.maximum() == 255
    latent.reconstruct()
    qtbot.waitUntil(lambda: latent.recon._pixmap is not None, timeout=TIMEOUT)
    assert not latent.error.isVisible()
    latent.endpoints.setCurrentIndex(1)  # between two real examples
    latent.interpolate()
    qtbot.waitUntil(lambda: latent.strip._pixmap is not None, timeout=TIMEOUT)
    assert not latent.error.isVisible()


def test_an_opened_run_whose_data_is_gone_says_so(window, qtbot, tmp_path):
    points = tmp_path / "points.npy"
    np.save(points, np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32))
    window.data_panel.open_source(str(points))
    qtbot.waitUntil(lambda: window.studio.data_source == str(points), timeout=TIMEOUT)
    window.model_panel.select("tiny")
    assert train(window, qtbot, steps=10).type == "finished"
    choose(window, qtbot, data="tiny", family="tiny")
    assert train(window, qtbot, steps=10).type == "finished"  # run 2: run 1's model is not in memory
    points.unlink()
    window.runs.refresh()
    window.runs.select_run(1)
    with qtbot.waitSignal(window.studio.run_opened, timeout=TIMEOUT):
        window.runs.open_selected()
    assert window.access.run_id == 1
    qtbot.waitUntil(lambda: bool(window.access.data_problem), timeout=TIMEOUT)
    assert "points.npy" in window.access.data_problem and window.access.data is None
    assert window.samples.error.isVisible() and "points.npy" in window.samples.error.message.text()


# -- latent ------------------------------------------------------------------------------------


def test_slerp_keeps_the_norm_between_equal_norm_endpoints():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    path = latent_path(a, b, 5, "spherical")
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 3.0)
    np.testing.assert_allclose(path[0], a)
    np.testing.assert_allclose(path[-1], b)


def decoded_picture(model, codes, nrow=None):
    """What the Latent tab should show for latent ``codes`` (K, D): the model's own decode."""
    import torch

    model.eval()
    with torch.no_grad():
        x = model.decode(torch.as_tensor(np.asarray(codes, np.float32))).float().numpy()
    return make_grid(x, nrow=nrow or len(x), pad=1)


def frames(strip, n, side=8):
    """The ``n`` pictures of a one-row strip made by make_grid with a 1-pixel pad."""
    return [strip[1 : 1 + side, 1 + i * (side + 1) : 1 + i * (side + 1) + side] for i in range(n)]


def test_latent_sliders_decode_the_code_they_show(window, qtbot):
    from genstudio.gui.images import to_qimage
    from genstudio.gui.latent_tab import SLIDER_RANGE

    trained(window, qtbot, data="tiny", family="vae", steps=30)
    tab = window.latent
    with qtbot.waitSignal(tab.decoded.shown, timeout=TIMEOUT):  # opened, it shows the model as it is now
        window.tabs.setCurrentWidget(tab)
    assert tab.groups[0].isEnabled() and "Run 1" in tab.note.text()
    model = window.access.trainer.model
    with qtbot.waitSignal(tab.decoded.shown, timeout=TIMEOUT):
        qtbot.mouseClick(tab.zero_button, Qt.MouseButton.LeftButton)
    at_zero = tab.decoded.pixels.copy()
    np.testing.assert_array_equal(at_zero, decoded_picture(model, np.zeros((1, 16))))
    with qtbot.waitSignal(tab.decoded.shown, timeout=TIMEOUT):
        tab.sliders[0].setValue(80)
    assert tab.slider_labels[0].text() == "+2.40"
    code = np.zeros((1, 16))
    code[0, 0] = 0.8 * SLIDER_RANGE
    moved = tab.decoded.pixels
    np.testing.assert_array_equal(moved, decoded_picture(model, code))
    assert not np.array_equal(moved, at_zero)  # the slider changed the picture
    on_screen = tab.decoded._pixmap.toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    assert on_screen == to_qimage(moved)  # and that is what is on screen
    # a random code from the prior: the sliders take its first values, the rest stays
    with qtbot.waitSignal(tab.decoded.shown, timeout=TIMEOUT):
        qtbot.mouseClick(tab.random_button, Qt.MouseButton.LeftButton)
    assert len(tab.base) == 16
    code = tab.base.copy()[None]
    code[0, :8] = [s.value() / 100 * SLIDER_RANGE for s in tab.sliders]
    np.testing.assert_array_equal(tab.decoded.pixels, decoded_picture(model, code))


def test_the_latent_picture_is_of_the_model_as_it_is_when_the_tab_is_opened(window, qtbot):
    trained(window, qtbot, data="tiny", family="vae", steps=30)
    tab = window.latent
    model = window.access.trainer.model
    # made when the run started, from the untrained decoder; opening the tab makes it again
    with qtbot.waitSignal(tab.decoded.shown, timeout=TIMEOUT):
        window.tabs.setCurrentWidget(tab)
    np.testing.assert_array_equal(tab.decoded.pixels, decoded_picture(model, np.zeros((1, 16))))


@pytest.mark.parametrize(("endpoints", "method"), [(0, "linear"), (1, "spherical")])
def test_interpolation_strips_decode_the_path_between_the_endpoints(window, qtbot, endpoints, method):
    import torch

    from genstudio.api import prior_sample
    from genstudio.gui.latent_tab import STEPS

    trained(window, qtbot, data="tiny", family="vae", steps=30)
    tab = window.latent
    tab.endpoints.setCurrentIndex(endpoints)
    tab.method.setCurrentText(method)
    tab.first.setValue(3)
    tab.second.setValue(7)
    with qtbot.waitSignal(tab.strip.shown, timeout=TIMEOUT):
        qtbot.mouseClick(tab.interpolate_button, Qt.MouseButton.LeftButton)
    strip = tab.strip.pixels
    assert strip.shape[:2] == (9 + 1, STEPS * 9 + 1)  # ten 8x8 frames in a row
    model = window.access.trainer.model
    model.eval()
    with torch.no_grad():
        if endpoints == 1:  # two real examples, encoded
            ends = model.encode(torch.from_numpy(window.access.data.as_float([3, 7]))).numpy()
        else:  # two codes from the prior, seeded by the two numbers
            ends = np.concatenate([prior_sample(model, 1, torch.Generator().manual_seed(s)).numpy() for s in (3, 7)])
    t = np.linspace(0, 1, STEPS)
    path = (1 - t)[:, None] * ends[0] + t[:, None] * ends[1] if method == "linear" else slerp(ends[:1], ends[1:], t)
    if method == "spherical":  # along the great circle: the norm follows the endpoints', not the chord's
        chord = np.linalg.norm((ends[0] + ends[1]) / 2)
        assert np.linalg.norm(path[STEPS // 2]) > chord
    expected = decoded_picture(model, path, nrow=STEPS)
    np.testing.assert_allclose(strip.astype(int), expected.astype(int), atol=1)
    shown = frames(strip, STEPS)
    assert not np.array_equal(shown[0], shown[-1])  # it goes somewhere


def test_reconstructions_sit_beside_the_originals(window, qtbot):
    import torch

    from genstudio.data.grid import to_uint8

    trained(window, qtbot, data="tiny", family="vae", steps=30)
    tab = window.latent
    assert tab.groups[2].isEnabled()
    with qtbot.waitSignal(tab.recon.shown, timeout=TIMEOUT):
        qtbot.mouseClick(tab.reconstruct_button, Qt.MouseButton.LeftButton)
    picture = tab.recon.pixels
    assert picture.shape[:2] == (2 * 9 + 1, 16 * 9 + 1)
    # the top row holds 16 examples of the run's data ...
    data = window.access.data
    everything = to_uint8(data.as_float(slice(0, len(data))))[:, 0]
    top = frames(picture, 16)
    index = [int(np.flatnonzero((everything == f[..., 0]).all(axis=(1, 2)))[0]) for f in top]
    # ... and the bottom row is the model's reconstruction of each, in the same order
    model = window.access.trainer.model
    model.eval()
    with torch.no_grad():
        recon = model.reconstruct(torch.from_numpy(data.as_float(index))).numpy()
    bottom = np.stack(frames(picture[9:], 16))
    np.testing.assert_allclose(bottom.astype(int), np.stack(frames(make_grid(recon, nrow=16), 16)).astype(int), atol=1)


def test_families_without_decode_leave_the_latent_tab_explaining_why(window, qtbot):
    trained(window, qtbot, data="tiny", family="rbm", steps=10)
    tab = window.latent
    assert "cannot decode" in tab.note.text() and not tab.groups[0].isEnabled()


# -- runs ----------------------------------------------------------------------------------------


def test_the_runs_table_lists_runs_and_overlays_curves(window, qtbot):
    trained(window, qtbot, steps=30)
    window.model_panel.select("vae")
    assert train(window, qtbot, steps=20).type == "finished"
    runs = window.runs
    runs.refresh()
    assert runs.model.rowCount() == 2
    assert [runs.model.index(0, c).data() for c in (0, 2, 4, 5)] == [1, "tiny", "30 / 30", "finished"]
    runs.table.selectAll()
    qtbot.waitUntil(lambda: len(runs.plot.curves) > 3, timeout=TIMEOUT)
    keys = set(runs.plot.curves)
    assert "tiny-1: nll" in keys and "vae-2: loss" in keys
    assert not runs.open_button.isEnabled() and runs.delete_button.isEnabled()


def test_the_command_that_repeats_a_run_can_be_copied(window, qtbot):
    trained(window, qtbot, steps=15)
    runs = window.runs
    runs.refresh()
    runs.select_run(1)
    assert runs.command.text().startswith("genstudio train tiny --data tiny ")
    runs.copy_command()
    assert QGuiApplication.clipboard().text() == runs.command.text()


def test_rename_and_delete_with_confirmation(window, qtbot, monkeypatch):
    trained(window, qtbot, steps=15)
    runs = window.runs
    runs.refresh()
    runs.select_run(1)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("my run", True))
    runs.rename_selected()
    assert RunStore(window.studio.workspace).get_run(1).name == "my run"
    runs.select_run(1)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    runs.delete_selected()
    assert RunStore(window.studio.workspace).list_runs()  # cancelled
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    runs.delete_selected()
    assert RunStore(window.studio.workspace).list_runs() == []
    assert not window.studio.workspace.run_dir(1).exists()
    assert runs.model.rowCount() == 0


def test_continuing_a_finished_run(window, qtbot, monkeypatch):
    trained(window, qtbot, steps=20)
    runs = window.runs
    runs.refresh()
    runs.select_run(1)
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a, **k: (15, True))
    ended = []
    window.studio.training_ended.connect(ended.append)
    runs.continue_selected()
    qtbot.waitUntil(lambda: bool(ended), timeout=TIMEOUT)
    assert ended[-1].type == "finished" and ended[-1].step == 35
    run = RunStore(window.studio.workspace).get_run(1)
    assert run.step == 35 and run.status == "finished"
    assert window.training.plot.curves["nll"].n == 35  # the earlier curve came back, then grew


def test_continuing_a_stopped_run_finishes_it(window, qtbot, monkeypatch):
    choose(window, qtbot)
    window.training.length.setValue(400)
    with qtbot.waitSignal(window.studio.training_started, timeout=TIMEOUT):
        window.training.start()
    session = window.studio.session
    qtbot.waitUntil(lambda: session.trainer.step >= 20, timeout=TIMEOUT)
    with qtbot.waitSignal(window.studio.training_ended, timeout=TIMEOUT) as stopped:
        window.studio.stop_training()
    assert stopped.args[0].status == "stopped"
    at = stopped.args[0].step
    runs = window.runs
    runs.refresh()
    runs.select_run(1)
    offered = []

    def get_int(parent, title, label, value, *args):
        offered.append((label, value))
        return value, True  # the user accepts what is offered: the steps left

    monkeypatch.setattr(QInputDialog, "getInt", get_int)
    ended = []
    window.studio.training_ended.connect(ended.append)
    runs.continue_selected()
    qtbot.waitUntil(lambda: bool(ended), timeout=TIMEOUT)
    assert f"It stopped at {at:,} of 400" in offered[0][0] and offered[0][1] == 400 - at
    assert ended[-1].type == "finished" and ended[-1].step == 400
    run = RunStore(window.studio.workspace).get_run(1)
    assert run.step == 400 and run.status == "finished"


def test_a_bayesian_networks_graph_is_drawn_with_its_samples(window, qtbot, tmp_path):
    from genstudio.gui.graph_view import depths, layout

    rng = np.random.default_rng(0)
    rain = rng.random(600) < 0.3
    wet = np.where(rain, rng.random(600) < 0.9, rng.random(600) < 0.1)
    path = tmp_path / "weather.csv"
    path.write_text(
        "rain,wet\n" + "\n".join(f"{'yes' if r else 'no'},{'yes' if w else 'no'}" for r, w in zip(rain, wet))
    )
    window.data_panel.open_source(str(path))
    qtbot.waitUntil(lambda: "kind" in window.data_panel.options.widgets, timeout=TIMEOUT)
    window.data_panel.options.set_values({"kind": "tabular"})
    qtbot.waitUntil(
        lambda: window.studio.dataset is not None and window.studio.dataset.spec.kind == "tabular", timeout=TIMEOUT
    )
    assert window.studio.family.name == "bayesnet"
    assert train(window, qtbot, steps=50).type == "finished"
    tab = window.samples
    qtbot.waitUntil(lambda: tab.graph.edge_count() == 1, timeout=TIMEOUT)
    assert tab.graph.isVisibleTo(tab)
    # the table of sampled rows is filled when a person looks at it, not while it is hidden
    assert tab.table.model().rowCount() == 0
    window.show()
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.table.model().rowCount() > 0, timeout=TIMEOUT)
    assert tab.rows.header == ["rain", "wet"] and {v for row in tab.rows.rows for v in row} <= {"yes", "no"}
    edge = tab.graph.structure["edges"][0]
    assert sorted(edge) == ["rain", "wet"]
    # rows by depth: the parent above the child
    centres = layout(tab.graph.structure)
    assert centres[edge[0]].y() < centres[edge[1]].y()
    assert depths(["a", "b", "c"], [["a", "b"], ["b", "c"], ["a", "c"]]) == [0, 1, 2]
