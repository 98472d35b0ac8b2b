"""Built-in datasets (digits, the 2-D toys, shapes) and the data layer's resolution of sources."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genstudio.api import ConfigError, DataError, LoadContext
from genstudio.data import load_dataset, option_values, parse_options, resolve_source
from genstudio.data.datasets import TOYS, Digits, Shapes, ShapesOptions, ToyOptions
from genstudio.host import create_plugin_manager


@pytest.fixture(scope="module")
def host():
    return create_plugin_manager(autoload=False)


def test_digits_are_scikit_learns_digits_from_the_uci_test_set(host, shared_data):
    data = load_dataset(host, "digits")
    assert data.x.shape == (1797, 1, 8, 8) and data.x.dtype == np.float32
    assert data.spec.kind == "image" and data.spec.classes == tuple("0123456789") and data.spec.value_range == (0, 1)
    rows = np.loadtxt(shared_data / "optdigits" / "optdigits.tes", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(data.x.reshape(-1, 64) * 16, rows[:, :64])
    np.testing.assert_array_equal(data.y, rows[:, 64])


@pytest.mark.parametrize("toy", TOYS, ids=lambda t: t.name)
def test_toys_are_2d_seeded_and_labelled_where_they_have_parts(host, toy):
    data = load_dataset(host, toy.name, ["n=3000", "seed=1"])
    assert data.x.shape == (3000, 2) and data.x.dtype == np.float32 and data.spec.kind == "vector"
    again = load_dataset(host, toy.name, {"n": 3000, "seed": 1})
    np.testing.assert_array_equal(data.x, again.x)
    assert not np.array_equal(data.x, load_dataset(host, toy.name, {"n": 3000, "seed": 2}).x)
    assert data.spec.value_range == (float(data.x.min()), float(data.x.max()))
    if toy.components:
        assert data.spec.classes == toy.components and set(np.unique(data.y)) == set(range(len(toy.components)))


@pytest.mark.parametrize("toy", [t for t in TOYS if t().log_prob(np.zeros((1, 2))) is not None], ids=lambda t: t.name)
def test_true_densities_integrate_to_one_and_match_the_samples(toy):
    source = toy()
    xs = -6 + (np.arange(240) + 0.5) * 0.05  # cell midpoints: the checkerboard's edges fall between them
    grid = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    density = np.exp(source.log_prob(grid))
    cell = 0.05**2
    assert density.sum() * cell == pytest.approx(1.0, abs=0.01)
    # samples fall where the density is
    x, _ = source.draw(4000, np.random.default_rng(0))
    assert np.isfinite(source.log_prob(x)).all()


def test_eight_gaussians_entropy_matches_the_closed_form():
    source = TOYS[0]()
    x, _ = source.draw(20000, np.random.default_rng(0))
    # well-separated components: H = log 8 + log(2 pi e sigma^2)
    expected = math.log(8) + math.log(2 * math.pi * math.e * source.std**2)
    assert -source.log_prob(x).mean() == pytest.approx(expected, abs=0.03)


def test_shapes_have_known_factors_and_draw_what_they_say():
    data = Shapes().load(ShapesOptions(size=32, n=60, seed=0), None, LoadContext())
    assert data.x.shape == (60, 1, 32, 32) and data.x.dtype == np.uint8
    assert data.spec.factors == ("shape", "scale", "orientation", "pos_x", "pos_y")
    f = data.extras["factors"]
    assert f.shape == (60, 5) and np.array_equal(f[:, 0], data.y)
    assert set(np.unique(f[:, 1])) <= set(np.linspace(0.5, 1, 6).astype(np.float32))
    # a bigger sprite covers more pixels, and a sprite sits where its position says
    big = Shapes().render(np.array([[0, 1.0, 0, 0.5, 0.5]]), 32)
    small = Shapes().render(np.array([[0, 0.5, 0, 0.5, 0.5]]), 32)
    assert big.sum() > 3 * small.sum()
    left = Shapes().render(np.array([[1, 1.0, 0, 0.0, 0.5]]), 32)[0, 0]
    cols = np.nonzero(left.sum(0))[0]
    assert cols.mean() < 12
    binary = Shapes().load(ShapesOptions(size=16, n=5, antialias=False), None, LoadContext())
    assert set(np.unique(binary.x)) <= {0, 255}


def test_built_in_names_win_over_files_and_paths_are_recognised(host, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()
    cls, path = resolve_source(host, "digits")
    assert cls is Digits and path is None
    with pytest.raises(DataError, match="no such file or folder") as info:
        resolve_source(host, str(tmp_path / "missing.png"))
    assert "missing.png" in str(info.value)
    with pytest.raises(ConfigError, match="no data source given"):
        resolve_source(host, " ")


def test_options_are_typed_validated_and_named(host):
    toy = host.datasets.get("moons")
    assert option_values(toy, ["n=500", "seed=3"]) == {"n": 500, "seed": 3}
    assert parse_options(toy, {"n": "700"}) == ToyOptions(n=700)
    with pytest.raises(ConfigError, match="moons has no option 'size'; its options: n, seed"):
        option_values(toy, ["size=3"])
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        option_values(toy, ["n"])
    with pytest.raises(ConfigError, match=r"n: 5 is out of range"):
        option_values(toy, ["n=5"])
    assert option_values(host.datasets.get("shapes"), ["antialias=no"]) == {"antialias": False}
