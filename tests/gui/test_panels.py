"""Each panel on its own terms: data, model, the Config form, the loss plot."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from genstudio.api import param
from genstudio.gui.config_form import ConfigForm, LogValueEdit
from genstudio.gui.loss_plot import Curve, LossPlot, ema_block, round_numbers
from tests.gui.conftest import TIMEOUT, choose

# -- data panel ------------------------------------------------------------------------------


def wait_loaded(window, qtbot, source):
    qtbot.waitUntil(
        lambda: window.studio.dataset is not None and window.studio.dataset.spec.source == source, timeout=TIMEOUT
    )


def wait_error(window, qtbot):
    qtbot.waitUntil(lambda: window.data_panel.error.isVisible(), timeout=TIMEOUT)
    return window.data_panel.error.text()


def test_built_in_sources_are_listed_and_previewed(window, qtbot):
    names = [window.data_panel.sources.item(i).text() for i in range(window.data_panel.sources.count())]
    assert any("(digits)" in n for n in names) and any("(moons)" in n for n in names)
    assert not any("(csv)" in n for n in names)  # file formats are opened, not listed
    window.data_panel.select_source("digits")
    wait_loaded(window, qtbot, "digits")
    assert window.data_panel.image_preview.isVisible() and not window.data_panel.scatter.isVisible()
    preview = window.data_panel.image_preview.pixmap()
    assert not preview.isNull() and preview.width() > 100  # the first 48 digits, scaled to the panel
    assert "1,797</b> image examples shaped <b>(1, 8, 8)" in window.data_panel.summary.text()
    assert "10 classes" in window.data_panel.summary.text()
    window.data_panel.select_source("moons")
    wait_loaded(window, qtbot, "moons")
    assert window.data_panel.scatter.isVisible() and not window.data_panel.image_preview.isVisible()
    assert len(window.data_panel.scatter.real.data) == 3000


def test_the_window_starts_on_the_built_in_mnist_with_the_vae(window, qtbot):
    wait_loaded(window, qtbot, "mnist")
    assert window.studio.dataset.spec.shape == (1, 28, 28) and window.studio.family.name == "vae"
    assert "its own split: 8,000 train, 2,000 test" in window.data_panel.summary.text()
    assert window.training.start_button.isEnabled()


def test_source_options_are_a_form_and_reload(window, qtbot):
    window.data_panel.select_source("shapes")
    wait_loaded(window, qtbot, "shapes")
    form = window.data_panel.options
    assert [p.name for p in form.params] == ["size", "n", "seed", "antialias"]
    assert "Image side in pixels" in form.widgets["size"].toolTip()
    form.widgets["n"].setValue(40)
    form.widgets["size"].setValue(16)
    qtbot.waitUntil(lambda: window.studio.dataset.spec.count == 40, timeout=TIMEOUT)
    assert window.studio.dataset.spec.shape == (1, 16, 16)
    assert window.studio.data_options == {"size": 16, "n": 40}  # only what differs from the defaults


def test_opening_a_folder_of_images(window, qtbot, tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((12, 12), 40 * i, np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    window.data_panel.open_source(str(tmp_path / "imgs"))
    wait_loaded(window, qtbot, str((tmp_path / "imgs").resolve()))
    assert window.studio.dataset.spec.classes == ("cats", "dogs")
    assert (
        "Image folder" in window.data_panel.path_label.text() or "image" in window.data_panel.path_label.text().lower()
    )


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p / "missing.png", "no such file or folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "holds no images"),
        (
            lambda p: np.save(p / "objects.npy", np.array([{"a": 1}], dtype=object)) or p / "objects.npy",
            "Python objects",
        ),
        (lambda p: np.save(p / "nan.npy", np.array([[0.0, np.nan]] * 4)) or p / "nan.npy", "NaN"),
        (lambda p: (p / "ragged.csv").write_text("a,b\n1,2\n3\n") and p / "ragged.csv", "ragged rows"),
    ],
    ids=["missing", "empty-folder", "pickle", "nan", "csv-ragged"],
)
def test_bad_input_shows_an_inline_message_naming_the_file(window, qtbot, tmp_path, make, problem):
    window.data_panel.select_source("digits")
    wait_loaded(window, qtbot, "digits")
    path = make(tmp_path)
    window.data_panel.open_source(str(path))
    message = wait_error(window, qtbot)
    assert path.name in message and problem in message
    assert "Traceback" not in message
    assert window.studio.dataset is None and not window.training.start_button.isEnabled()
    assert not window.data_panel.image_preview.isVisible()
    # and the panel still works
    window.data_panel.select_source("moons")
    wait_loaded(window, qtbot, "moons")
    assert not window.data_panel.error.isVisible()


def test_tabular_data_is_previewed_as_a_table(window, qtbot, tmp_path):
    path = tmp_path / "people.csv"
    rows = ["colour,size,age"] + [
        f"{c},{s},{a}" for c, s, a in zip(["red", "blue"] * 20, ["S", "M", "L", "M"] * 10, range(40))
    ]
    path.write_text("\n".join(rows) + "\n")
    window.data_panel.open_source(str(path))  # read as tabular without being told: it holds words
    qtbot.waitUntil(
        lambda: window.studio.dataset is not None and window.studio.dataset.spec.kind == "tabular", timeout=TIMEOUT
    )
    table = window.data_panel.table
    assert table.isVisible() and table.columnCount() == 3
    assert table.horizontalHeaderItem(0).text() == "colour" and table.item(0, 0).text() == "red"
    # only the Bayesian network trains on tabular data
    enabled = {window.model_panel.families.item(i).data(Qt.ItemDataRole.UserRole)
               for i in range(window.model_panel.families.count())
               if window.model_panel.families.item(i).flags() & Qt.ItemFlag.ItemIsEnabled}  # fmt: skip
    assert enabled == {"bayesnet"} and window.studio.family.name == "bayesnet"


# -- model panel -----------------------------------------------------------------------------


def test_every_family_is_listed_and_those_that_cannot_train_are_disabled_with_the_reason(window, qtbot):
    choose(window, qtbot, data="digits", family="vae")
    families = window.model_panel.families
    items = {families.item(i).data(Qt.ItemDataRole.UserRole): families.item(i) for i in range(families.count())}
    assert {"vae", "flow", "diffusion", "bayesnet", "tiny"} <= set(items)
    bayes = items["bayesnet"]
    assert not bayes.flags() & Qt.ItemFlag.ItemIsEnabled
    assert "tabular" in bayes.toolTip() and "not image" in bayes.toolTip()
    assert items["vae"].flags() & Qt.ItemFlag.ItemIsEnabled
    assert "evidence lower bound" in window.model_panel.description.text()
    assert "can: decode, encode, evaluate, log_prob, reconstruct" in window.model_panel.description.text()


def test_choosing_a_family_builds_its_form(window, qtbot):
    choose(window, qtbot, data="digits", family="vae")
    form = window.model_panel.form
    assert [p.name for p in form.params][:3] == ["latent_dim", "arch", "width"]
    window.model_panel.select("tiny")
    assert [p.name for p in form.params] == ["lr", "init_scale", "fail_at"]


# -- the Config form ---------------------------------------------------------------------------


@dataclass
class Demo:
    units: int = param(16, min=1, max=512, help="Units per layer")
    lr: float = param(1e-3, min=1e-6, max=1.0, log=True, help="Learning rate")
    beta: float = param(0.5, min=0.0, max=1.0, help="Momentum")
    loss: str = param("hinge", choices=("hinge", "wgan"), help="Loss")
    norm: bool = param(False, help="Normalise")
    tag: str = param("x", help="A note")


def test_the_form_has_the_right_control_for_each_parameter(qtbot):
    from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

    form = ConfigForm(Demo)
    qtbot.addWidget(form)
    w = form.widgets
    assert isinstance(w["units"], QSpinBox) and (w["units"].minimum(), w["units"].maximum()) == (1, 512)
    assert isinstance(w["lr"], LogValueEdit)
    assert isinstance(w["beta"], QDoubleSpinBox) and w["beta"].maximum() == 1.0
    assert isinstance(w["loss"], QComboBox) and [w["loss"].itemText(i) for i in range(2)] == ["hinge", "wgan"]
    assert isinstance(w["norm"], QCheckBox) and isinstance(w["tag"], QLineEdit)
    assert w["units"].toolTip() == "Units per layer\nDefault: 16; allowed: [1, 512]"
    assert form.values() == {"units": 16, "lr": 1e-3, "beta": 0.5, "loss": "hinge", "norm": False, "tag": "x"}


def test_the_form_round_trips_values_and_resets(qtbot):
    form = ConfigForm(Demo)
    qtbot.addWidget(form)
    values = {"units": 64, "lr": 3e-4, "beta": 0.9, "loss": "wgan", "norm": True, "tag": "run"}
    with qtbot.waitSignal(form.changed):
        form.set_values(values)
    assert form.values() == values
    form.reset.click()
    assert form.values()["units"] == 16 and form.values()["loss"] == "hinge"


def test_the_log_control_moves_in_orders_of_magnitude(qtbot):
    edit = LogValueEdit(1e-6, 1.0, 1e-3)
    qtbot.addWidget(edit)
    assert edit.slider.value() == 500  # 1e-3 is halfway between 1e-6 and 1 on a log scale
    edit.slider.setValue(1000)
    assert edit.value() == 1.0
    edit.slider.setValue(0)
    assert math.isclose(edit.value(), 1e-6)
    edit.edit.setText("2e-2")
    edit._from_text()
    assert edit.value() == 0.02 and edit.edit.text() == "0.02"


# -- the loss plot -----------------------------------------------------------------------------


def tensorboard_smoothing(values, weight):
    """TensorBoard's own loop (vz_line_chart2/line-chart.ts: resmoothDataset)."""
    last, out = 0.0, []
    for i, v in enumerate(values):
        last = last * weight + (1 - weight) * v
        debias = 1.0 - weight ** (i + 1) if weight < 1 else 1.0
        out.append(last / debias)
    return np.array(out)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99, 0.999])
def test_smoothing_matches_tensorboard(weight):
    values = np.random.default_rng(0).normal(size=20_000).cumsum() * 0.01 + 5
    raw, _ = ema_block(values, weight, 0.0)
    index = np.arange(len(values))
    ours = raw / (1 - weight ** (index + 1)) if weight > 0 else raw
    np.testing.assert_allclose(ours, tensorboard_smoothing(values, weight), rtol=1e-9, atol=1e-9)


def test_the_plot_keeps_every_point_and_smooths_incrementally(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    values = np.random.default_rng(1).normal(size=5000) + 10
    steps = np.arange(1, 5001)
    for start in range(0, 5000, 700):  # arrives in pieces, as progress events bring it
        sl = slice(start, start + 700)
        plot.append({"loss": (steps[sl], values[sl])}, walls={"loss": steps[sl] * 0.01})
    curve = plot.curves["loss"]
    assert curve.n == 5000 and len(curve.steps) >= 5000  # buffers doubled as needed
    np.testing.assert_array_equal(curve.values[:5000], values)
    np.testing.assert_allclose(curve.smooth[:5000], tensorboard_smoothing(values, plot.weight), rtol=1e-9)
    plot.redraw()
    assert not curve.dirty
    # what is drawn is the peaks of all 5,000 points: the extremes survive, whatever the width
    x, y = curve.raw_item.getOriginalDataset()
    assert len(x) <= 2 * plot._budget() + 2
    assert y.min() == values.min() and y.max() == values.max()
    # zoomed in to 50 points, the points themselves are drawn
    plot.plot.getPlotItem().vb.setXRange(1000, 1049, padding=0)
    x, y = curve.raw_item.getOriginalDataset()
    assert set(range(1000, 1050)) <= set(x.tolist())
    np.testing.assert_array_equal(y[np.isin(x, np.arange(1000, 1050))], values[999:1049])


def test_smoothing_slider_log_scale_and_wall_time(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.append(
        {"loss": ([1, 2, 3], [4.0, 2.0, 1.0]), "val/loss": ([3], [1.5])},
        walls={"loss": [100.0, 101.0, 103.0], "val/loss": [103.0]},
    )
    plot.smoothing.setValue(0)
    plot._apply_smoothing()
    np.testing.assert_array_equal(plot.curves["loss"].smooth[:3], [4.0, 2.0, 1.0])
    assert plot.curves["val/loss"].weight == 0.0  # validation points are never smoothed
    plot.log_y.setChecked(True)
    assert plot.plot.getPlotItem().ctrl.logYCheck.isChecked()
    plot.x_choice.setCurrentIndex(1)
    np.testing.assert_array_equal(plot.curves["loss"].x("wall"), [0.0, 1.0, 3.0])
    plot.redraw()
    assert list(plot.curves["loss"].item.getOriginalDataset()[0]) == [0.0, 1.0, 3.0]
    assert plot.plot.getPlotItem().vb.viewRange()[0][1] >= 3.0  # the view fits wall time


def test_a_log_axis_fits_the_positive_values_of_curves_that_cross_zero(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.append({"nll": ([1, 2, 3, 4], [-2.0, 0.0, 0.05, 40.0]), "kl": ([1, 2], [0.5, 2.0])}, wall=0.0)
    plot.redraw()
    plot.log_y.setChecked(True)
    y0, y1 = plot.plot.getPlotItem().vb.viewRange()[1]
    assert y0 < np.log10(0.05) < np.log10(40.0) < y1  # the smallest positive value and the largest
    assert y0 > np.log10(0.05) - 0.5  # and not twelve decades of nothing beneath them


def test_the_pyramid_gives_each_blocks_extremes_and_keeps_up_with_appends():
    from genstudio.gui.peaks import FACTOR, Pyramid

    rng = np.random.default_rng(3)
    y = rng.normal(size=10_000)
    whole, pieces = Pyramid(), Pyramid()
    whole.update(y, len(y), 0)
    done = 0
    for end in (7, 300, 301, 5000, 9999, 10_000):  # grown in uneven pieces
        pieces.update(y, end, done)
        done = end
    for level in range(len(whole.mins)):
        block = FACTOR ** (level + 1)
        count = whole.counts[level]
        expect = [y[i * block : (i + 1) * block] for i in range(count)]
        np.testing.assert_array_equal(whole.mins[level][:count], [b.min() for b in expect])
        np.testing.assert_array_equal(whole.maxs[level][:count], [b.max() for b in expect])
        np.testing.assert_array_equal(pieces.mins[level][:count], whole.mins[level][:count])
        np.testing.assert_array_equal(pieces.maxs[level][:count], whole.maxs[level][:count])
    x = np.arange(10_000, dtype=float)
    xs, ys = whole.envelope(x, y, 1234, 8765, budget=500)
    assert len(xs) <= 2 * 500 + 8 and ys.max() == y[1234:8765].max() and ys.min() == y[1234:8765].min()
    assert whole.bounds(y, 10_000) == (y.min(), y.max())


def test_the_view_follows_the_data_until_the_user_moves_it(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.append({"loss": (np.arange(1, 101), np.ones(100))}, wall=0.0)
    plot.redraw()
    assert plot.plot.getPlotItem().vb.viewRange()[0][1] >= 100
    plot.append({"loss": (np.arange(101, 201), np.ones(100))}, wall=0.0)
    plot.redraw()
    assert plot.plot.getPlotItem().vb.viewRange()[0][1] >= 200  # follows
    plot._range_moved_by_hand()
    plot.plot.getPlotItem().vb.setXRange(10, 20, padding=0)
    plot.append({"loss": (np.arange(201, 301), np.ones(100))}, wall=0.0)
    plot.redraw()
    assert plot.plot.getPlotItem().vb.viewRange()[0] == [10, 20]  # the user's view stays
    plot.auto_range()
    assert plot.plot.getPlotItem().vb.viewRange()[0][1] >= 300


def test_a_validation_figure_without_a_training_twin_starts_hidden_and_a_legend_click_shows_it(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    steps = np.arange(1, 101)
    plot.append({"loss": (steps, np.linspace(500, 100, 100)), "kl": (steps, np.full(100, 20.0))}, wall=0.0)
    plot.append({"val/loss": ([50, 100], [200.0, 110.0]), "val/nelbo": ([50, 100], [-700.0, -900.0])}, wall=0.0)
    plot.redraw()
    vb = plot.plot.getPlotItem().vb
    nelbo, val_loss = plot.curves["val/nelbo"], plot.curves["val/loss"]
    assert not nelbo.visible and val_loss.visible  # val/loss has its twin, loss; val/nelbo none
    assert vb.viewRange()[1][0] >= 0  # the view is the losses', not squashed down to -900
    names = [label.text for _, label in plot.legend.items]
    assert "val/nelbo" in names  # still listed, to be shown with a click

    sample = next(s for s, label in plot.legend.items if label.text == "val/nelbo")
    qtbot.mouseClick(
        plot.plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.plot.mapFromScene(sample.sceneBoundingRect().center())
    )
    assert nelbo.visible
    assert vb.viewRange()[1][0] <= -900  # shown, it is fitted too

    plot.curves["loss"].item.setVisible(False)  # as its legend entry's click does
    assert not plot.curves["loss"].raw_item.isVisible()  # its unsmoothed line goes with it


def test_a_following_view_moves_only_when_the_data_crosses_a_round_number(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    vb = plot.plot.getPlotItem().vb
    changes, last = 0, None
    rng = np.random.default_rng(0)
    for start in range(0, 100_000, 1000):  # a run's progress events, a loss that falls slowly
        steps = np.arange(start + 1, start + 1001)
        plot.append({"loss": (steps, 5.0 / np.sqrt(steps) + 0.01 * rng.random(1000))}, wall=0.0)
        plot.redraw()
        (x0, x1), (y0, y1) = vb.viewRange()
        assert 0 <= x0 <= 1 and x1 >= steps[-1]  # every point in view, from step 0 on
        assert y0 <= plot.curves["loss"].values[: steps[-1]].min() and y1 >= 5.0
        changes += [[x0, x1], [y0, y1]] != last
        last = [[x0, x1], [y0, y1]]
    assert changes <= 40  # of 100 frames (every one before): the axes are laid out again now and then


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 1.0), (1.0, 99_871.0), (-3.2, 0.004), (2.31, 2.3102)])
def test_round_numbers_widen_to_a_multiple_of_a_unit_near_a_tenth_of_the_span(lo, hi):
    a, b = round_numbers(lo, hi)
    assert a < lo and b > hi and b - a < 1.5 * (hi - lo) + 1e-12
    units = [m * 10.0**e for e in range(-6, 7) for m in (1, 2, 5) if (b - a) / 25 <= m * 10.0**e <= (b - a) / 4]
    assert any(all(math.isclose(v / u, round(v / u), abs_tol=1e-6) for v in (a, b)) for u in units)


@pytest.mark.parametrize("arrivals", [1, 333, 5000])
def test_a_curve_keeps_every_point_while_its_buffers_double_ahead_of_time(arrivals):
    rng = np.random.default_rng(arrivals)
    total = 20_000 if arrivals > 1 else 3000
    values = rng.normal(size=total)
    curve = Curve("loss")
    for start in range(0, total, arrivals):
        m = min(arrivals, total - start)
        if curve._ahead._thread is not None:
            curve._ahead._thread.join()  # progress events come 20 times a second, not all at once
        if start + m > len(curve.steps) and arrivals < len(curve.steps) // 6 and curve.weight == 0:
            assert curve._ahead.moved == curve.n  # the doubling finds everything moved already
        curve.extend(np.arange(start, start + m), values[start : start + m], np.full(m, 0.5))
        if start == total // 2 // arrivals * arrivals:
            curve.set_weight(0.6)  # smoothing changed half way: every smoothed value moves again
    np.testing.assert_array_equal(curve.values[:total], values)
    np.testing.assert_array_equal(curve.steps[:total], np.arange(total))
    np.testing.assert_array_equal(curve.walls[:total], 0.5)
    np.testing.assert_allclose(curve.smooth[:total], tensorboard_smoothing(values, 0.6), rtol=1e-9, atol=1e-12)


def test_grid_lines_sit_at_the_axes_ticks_and_follow_the_view(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(800, 500)
    plot.show()
    qtbot.waitExposed(plot)
    item = plot.plot.getPlotItem()
    plot.append({"loss": (np.arange(1, 1001), np.linspace(5.0, 0.5, 1000))}, wall=0.0)
    plot.redraw()

    def vertical_lines() -> set[float]:
        xs, ys = plot.grid.items[0].getData()
        (y0, y1) = item.vb.viewRange()[1]
        return {round(float(x), 6) for x, a, b in zip(xs[0::2], ys[0::2], ys[1::2]) if (a, b) == (y0, y1)}

    def major_ticks(axis: str) -> set[float]:
        lo, hi = item.vb.viewRange()[0 if axis == "bottom" else 1]
        size = item.vb.width() if axis == "bottom" else item.vb.height()
        return {round(float(v), 6) for v in item.getAxis(axis).tickValues(lo, hi, size)[0][1]}

    assert vertical_lines() == major_ticks("bottom") and len(vertical_lines()) >= 2
    item.vb.setXRange(100, 130, padding=0)  # zooming in moves the lines with the ticks
    assert vertical_lines() == major_ticks("bottom")
    assert all(100 <= x <= 130 for x in vertical_lines())
    plot.log_y.setChecked(True)  # horizontal lines at the decades of a log axis
    xs, ys = plot.grid.items[0].getData()
    horizontal = {round(float(b), 6) for a, b, c in zip(xs[0::2], ys[0::2], ys[1::2]) if b == c}
    assert horizontal and horizontal <= major_ticks("left")
    assert [label.text for _, label in plot.legend.items] == ["loss"]  # the grid is no curve


def test_the_readout_names_the_values_under_the_mouse(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    plot.smoothing.setValue(0)
    plot._apply_smoothing()
    plot.append({"loss": (np.arange(1, 101), np.arange(1, 101) * 0.5)}, wall=0.0)
    plot.redraw()
    plot.plot.getPlotItem().vb.setRange(xRange=(1, 100), yRange=(0, 50), padding=0)
    scene_pos = plot.plot.getPlotItem().vb.mapViewToScene(pg_point(40, 10))
    plot._mouse_moved((scene_pos,))
    assert plot.readout.text() == "step 40:  loss=20"


def pg_point(x, y):
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


def test_each_key_has_its_own_colour_and_its_validation_twin_shares_it(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    for key in ("loss", "recon", "kl", "val/loss", "run-2: loss", "run-2: val/loss"):
        plot.append({key: ([1], [1.0])}, wall=0.0)
    colour = {k: c.item.opts["pen"].color().getRgb()[:3] for k, c in plot.curves.items()}
    assert len({colour["loss"], colour["recon"], colour["kl"], colour["run-2: loss"]}) == 4
    assert colour["val/loss"] == colour["loss"] and colour["run-2: val/loss"] == colour["run-2: loss"]
    assert plot.curves["val/loss"].weight == 0.0 and plot.curves["run-2: val/loss"].weight == 0.0


def test_a_live_runs_new_curves_get_their_items_one_frame_at_a_time(qtbot):
    from genstudio.gui.loss_plot import ATTACH_PER_FRAME

    plot = LossPlot()
    qtbot.addWidget(plot)
    keys = ["loss_d", "loss_g", "d_real", "d_fake"]
    plot.append({k: ([1, 2], [1.0 + i, 0.5 + i]) for i, k in enumerate(keys)}, wall=0.0, lazy=True)
    assert all(plot.curves[k].item is None for k in keys)  # nothing made in the event's handler
    assert [label.text for _, label in plot.legend.items] == []
    plot.append({"loss_d": ([3], [0.25])}, wall=0.0, lazy=True)  # points keep arriving meanwhile
    made = []
    for _ in keys:
        plot.redraw(attach=ATTACH_PER_FRAME)
        made.append(sum(plot.curves[k].item is not None for k in keys))
    assert made == [1, 2, 3, 4]
    # in order of arrival, every point drawn, the colours those of an eager plot
    assert [label.text for _, label in plot.legend.items] == keys
    plot.smoothing.setValue(0)
    plot._apply_smoothing()
    plot.redraw()
    assert list(plot.curves["loss_d"].item.getOriginalDataset()[1]) == [1.0, 0.5, 0.25]
    eager = LossPlot()
    qtbot.addWidget(eager)
    eager.append({k: ([1], [1.0]) for k in keys}, wall=0.0)
    colour = lambda p, k: p.curves[k].item.opts["pen"].color().getRgb()  # noqa: E731
    assert [colour(plot, k) for k in keys] == [colour(eager, k) for k in keys]


def test_a_long_legend_goes_into_columns(qtbot):
    from genstudio.gui.loss_plot import LEGEND_ROWS, LossPlot

    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.append({f"run-{i}: loss": ([1, 2], [1.0, 0.5]) for i in range(LEGEND_ROWS)})
    assert plot.legend.columnCount == 1
    plot.append({"one more: loss": ([1, 2], [1.0, 0.5])})
    assert plot.legend.columnCount == 2 and len(plot.legend.items) == LEGEND_ROWS + 1
