"""Built-in datasets, nothing downloaded: ``digits``, seven 2-D toys, ``shapes`` and ``asia``
(a table, :mod:`genstudio.data.asia`); and the
catalogue's sets (:mod:`genstudio.data.catalogue`), ``mnist`` built in.

The toys follow the definitions used by FFJORD (Grathwohl et al. 2019) and the normalizing
flow literature after it, so figures are comparable. Where a toy's density has a closed form
(or a one-dimensional integral), :meth:`Toy.log_prob` gives the true log-density, which the
flow benchmarks compare a model's test likelihood against.
"""

from __future__ import annotations

import importlib.resources
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from genstudio.api import Dataset, DataSource, DataSpec, LoadContext, Registry, hookimpl, param

# --------------------------------------------------------------------------------------
# digits


class Digits(DataSource):
    """scikit-learn's 8x8 handwritten digits (UCI optdigits test set, 1,797 images)."""

    name = "digits"
    title = "Digits (8x8)"
    description = "1,797 handwritten digits, 8x8 grayscale, 10 classes (scikit-learn's load_digits)"

    def load(self, options: Any, path: Any, context: LoadContext) -> Dataset:
        with importlib.resources.files("genstudio.resources").joinpath("digits.npz").open("rb") as f:
            arrays = np.load(f, allow_pickle=False)
            images, labels = arrays["images"], arrays["labels"]
        # pixel counts 0..16 -> [0, 1], exactly
        x = (images.astype(np.float32) / np.float32(16.0))[:, None]
        spec = DataSpec(
            kind="image",
            shape=x.shape[1:],
            count=len(x),
            classes=tuple(str(i) for i in range(10)),
            source=self.name,
        )
        return Dataset(x, labels.astype(np.int64), spec)


# --------------------------------------------------------------------------------------
# 2-D toys


@dataclass
class ToyOptions:
    n: int = param(10000, min=100, max=5_000_000, help="Number of points")
    seed: int = param(0, min=0, help="Seed of the random points")


def _normal_logpdf2(x: np.ndarray, centres: np.ndarray, std: float) -> np.ndarray:
    """log N(x; c, std^2 I) for every point x (N, 2) and centre c (K, 2) -> (N, K)."""
    d2 = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return -d2 / (2 * std**2) - math.log(2 * math.pi * std**2)


def _logmeanexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(a - m).mean(axis=axis, keepdims=True))).squeeze(axis)


def _curve_log_prob(x: np.ndarray, curves: list[tuple[float, np.ndarray]], std: float) -> np.ndarray:
    """Density of points drawn uniformly along curves and blurred by N(0, std^2 I).

    :param curves: ``(weight, points (K, 2))`` with points evenly spaced in the curve's
        parameter, so the mean over them is the integral over the parameter.
    """
    out = np.empty(len(x))
    for start in range(0, len(x), 4096):  # bounded memory: (chunk, K) at a time
        xs = x[start : start + 4096]
        parts = [math.log(w) + _logmeanexp(_normal_logpdf2(xs, pts, std)) for w, pts in curves]
        out[start : start + 4096] = np.logaddexp.reduce(np.stack(parts), axis=0)
    return out


def _log_i0(z: np.ndarray) -> np.ndarray:
    """log I0(z), the modified Bessel function, for z >= 0 without overflow."""
    z = np.asarray(z, np.float64)
    small = z < 30.0
    out = np.empty_like(z)
    out[small] = np.log(np.i0(z[small]))
    zl = z[~small]
    # Abramowitz and Stegun 9.7.1; the next term is below 3e-6 for z >= 30
    out[~small] = (
        zl - 0.5 * np.log(2 * math.pi * zl) + np.log1p(1 / (8 * zl) + 9 / (128 * zl**2) + 225 / (3072 * zl**3))
    )
    return out


def _ring_log_prob(x: np.ndarray, radii_weights: list[tuple[float, float]], std: float) -> np.ndarray:
    """Density of rings: a uniform angle on a circle of radius r, blurred by N(0, std^2 I).

    Integrating the angle out gives exp(-(rho^2 + r^2) / 2 std^2) I0(rho r / std^2) / (2 pi std^2)."""
    rho = np.linalg.norm(np.asarray(x, np.float64), axis=1)
    parts = [
        math.log(w) - (rho**2 + r**2) / (2 * std**2) + _log_i0(rho * r / std**2) - math.log(2 * math.pi * std**2)
        for r, w in radii_weights
    ]
    return np.logaddexp.reduce(np.stack(parts), axis=0)


class Toy(DataSource):
    """A 2-D toy distribution: vectors (N, 2)."""

    Options = ToyOptions
    components: ClassVar[tuple[str, ...] | None] = None

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def load(self, options: Any, path: Any, context: LoadContext) -> Dataset:
        rng = np.random.default_rng(options.seed)
        x, y = self.draw(options.n, rng)
        x = x.astype(np.float32)
        spec = DataSpec(
            kind="vector",
            shape=(2,),
            count=len(x),
            value_range=(float(x.min()), float(x.max())),
            classes=self.components if y is not None else None,
            source=self.name,
        )
        return Dataset(x, None if y is None else y.astype(np.int64), spec)

    def log_prob(self, x: np.ndarray) -> np.ndarray | None:
        """True log-density in nats of points ``(N, 2)``, or ``None`` when it has no closed form."""
        return None


_SQ = 1.0 / math.sqrt(2.0)
_EIGHT = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (_SQ, _SQ), (_SQ, -_SQ), (-_SQ, _SQ), (-_SQ, -_SQ)])


class EightGaussians(Toy):
    name = "8gaussians"
    title = "8 Gaussians"
    description = "Eight Gaussians on a circle of radius 2.83, std 0.35"
    components = tuple(str(i) for i in range(8))
    centres = _EIGHT * 4.0 / 1.414
    std = 0.5 / 1.414

    def draw(self, n, rng):
        y = rng.integers(0, 8, n)
        return self.centres[y] + rng.normal(0, self.std, (n, 2)), y

    def log_prob(self, x):
        return _logmeanexp(_normal_logpdf2(np.asarray(x, np.float64), self.centres, self.std))


class Moons(Toy):
    name = "moons"
    title = "Two moons"
    description = "Two interleaved half circles (scikit-learn's make_moons, noise 0.1), scaled by 2"
    components = ("upper", "lower")
    noise = 0.1

    def _moon(self, which: int, theta: np.ndarray) -> np.ndarray:
        # make_moons: outer (cos t, sin t), inner (1 - cos t, 0.5 - sin t); then FFJORD's x*2 + (-1, -0.2)
        if which == 0:
            pts = np.stack([np.cos(theta), np.sin(theta)], -1)
        else:
            pts = np.stack([1 - np.cos(theta), 0.5 - np.sin(theta)], -1)
        return pts * 2.0 + np.array([-1.0, -0.2])

    def draw(self, n, rng):
        y = rng.integers(0, 2, n)
        theta = rng.uniform(0, math.pi, n)
        pts = np.where(y[:, None] == 0, self._moon(0, theta), self._moon(1, theta))
        return pts + rng.normal(0, self.noise * 2.0, (n, 2)), y

    def log_prob(self, x):
        theta = np.linspace(0, math.pi, 2001)
        return _curve_log_prob(
            np.asarray(x, np.float64), [(0.5, self._moon(0, theta)), (0.5, self._moon(1, theta))], self.noise * 2.0
        )


class Circles(Toy):
    name = "circles"
    title = "Two circles"
    description = "Two concentric circles of radius 3 and 1.5 (make_circles, factor 0.5, noise 0.08), scaled by 3"
    components = ("outer", "inner")
    noise = 0.08

    def draw(self, n, rng):
        y = rng.integers(0, 2, n)
        theta = rng.uniform(0, 2 * math.pi, n)
        r = np.where(y == 0, 1.0, 0.5)[:, None]
        pts = np.stack([np.cos(theta), np.sin(theta)], -1) * r + rng.normal(0, self.noise, (n, 2))
        return pts * 3.0, y

    def log_prob(self, x):
        return _ring_log_prob(x, [(3.0, 0.5), (1.5, 0.5)], self.noise * 3.0)


class Rings(Toy):
    name = "rings"
    title = "Four rings"
    description = "Four concentric rings of radius 3, 2.25, 1.5 and 0.75, noise 0.08"
    components = ("r3", "r2.25", "r1.5", "r0.75")
    radii = (3.0, 2.25, 1.5, 0.75)
    noise = 0.08

    def draw(self, n, rng):
        y = rng.integers(0, 4, n)
        theta = rng.uniform(0, 2 * math.pi, n)
        r = np.asarray(self.radii)[y][:, None]
        return np.stack([np.cos(theta), np.sin(theta)], -1) * r + rng.normal(0, self.noise, (n, 2)), y

    def log_prob(self, x):
        return _ring_log_prob(x, [(r, 0.25) for r in self.radii], self.noise)


class SwissRoll(Toy):
    name = "swissroll"
    title = "Swiss roll"
    description = "The 2-D swiss roll (make_swiss_roll, noise 1.0, x and z), divided by 5"

    def draw(self, n, rng):
        t = 1.5 * math.pi * (1 + 2 * rng.uniform(0, 1, n))
        pts = np.stack([t * np.cos(t), t * np.sin(t)], -1) + rng.normal(0, 1.0, (n, 2))
        return pts / 5.0, None


class Checkerboard(Toy):
    name = "checkerboard"
    title = "Checkerboard"
    description = "Uniform over the dark squares of a 4x4 checkerboard spanning [-4, 4]^2"

    def draw(self, n, rng):
        x1 = rng.uniform(0, 1, n) * 4 - 2
        x2 = rng.uniform(0, 1, n) - rng.integers(0, 2, n) * 2 + np.floor(x1) % 2
        return np.stack([x1, x2], -1) * 2, None

    def log_prob(self, x):
        x = np.asarray(x, np.float64) / 2.0
        inside = (np.abs(x[:, 0]) <= 2) & (np.abs(x[:, 1]) <= 2)
        dark = (np.floor(x[:, 0]) + np.floor(x[:, 1])) % 2 == 0
        # eight squares of side 2 in data units: area 32
        return np.where(inside & dark, -math.log(32.0), -np.inf)


class Pinwheel(Toy):
    name = "pinwheel"
    title = "Pinwheel"
    description = "Five curved arms (radial std 0.3, tangential std 0.1, rate 0.25), scaled by 2"
    components = tuple(str(i) for i in range(5))

    def draw(self, n, rng):
        y = rng.integers(0, 5, n)
        rads = np.linspace(0, 2 * math.pi, 5, endpoint=False)
        features = rng.normal(0, 1, (n, 2)) * np.array([0.3, 0.1])
        features[:, 0] += 1.0
        angles = rads[y] + 0.25 * np.exp(features[:, 0])
        c, s = np.cos(angles), np.sin(angles)
        rotated = np.stack([features[:, 0] * c + features[:, 1] * s, -features[:, 0] * s + features[:, 1] * c], -1)
        return 2 * rotated, y


TOYS = (EightGaussians, Moons, Circles, Rings, SwissRoll, Checkerboard, Pinwheel)


# --------------------------------------------------------------------------------------
# shapes


@dataclass
class ShapesOptions:
    size: int = param(32, min=16, max=128, help="Image side in pixels")
    n: int = param(6000, min=10, max=1_000_000, help="Number of images")
    seed: int = param(0, min=0, help="Seed of the random factors")
    antialias: bool = param(True, help="Grey edges from 3x3 supersampling (off: binary, as dSprites)")


class Shapes(DataSource):
    """Sprites in the manner of dSprites (Matthey et al. 2017): five known factors.

    Factors as in dSprites: shape (square, ellipse, heart), scale (6 values in [0.5, 1]),
    orientation (40 values in [0, 2 pi)), position x and y (32 values each in [0, 1]).
    """

    name = "shapes"
    title = "Shapes (dSprites-like)"
    description = "Procedural sprites with known factors: shape, scale, rotation, position"
    Options = ShapesOptions
    SHAPES = ("square", "ellipse", "heart")
    FACTORS = ("shape", "scale", "orientation", "pos_x", "pos_y")

    @staticmethod
    def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Whether points in the sprite's own frame (unit scale) lie inside the shape."""
        if shape == 0:
            return np.maximum(np.abs(u), np.abs(v)) <= 0.8
        if shape == 1:
            return (u / 1.0) ** 2 + (v / 0.5) ** 2 <= 1.0
        x, y = u * 1.15, -v * 1.15 + 0.15
        return (x**2 + y**2 - 1) ** 3 - x**2 * y**3 <= 0

    def render(self, factors: np.ndarray, size: int, antialias: bool = True) -> np.ndarray:
        """Images (N, 1, size, size) uint8 for factors (N, 5) as in :attr:`FACTORS`."""
        ss = 3 if antialias else 1
        grid = (np.arange(size * ss) + 0.5) / (size * ss)
        gy, gx = np.meshgrid(grid, grid, indexing="ij")
        out = np.empty((len(factors), 1, size, size), np.uint8)
        for i, (shape, scale, theta, px, py) in enumerate(factors):
            cx, cy, r = 0.2 + 0.6 * px, 0.2 + 0.6 * py, 0.2 * scale
            dx, dy = (gx - cx) / r, (gy - cy) / r
            c, s = math.cos(theta), math.sin(theta)
            mask = self._inside(int(shape), c * dx + s * dy, -s * dx + c * dy)
            cover = mask.reshape(size, ss, size, ss).mean(axis=(1, 3))
            out[i, 0] = np.round(cover * 255) if antialias else cover * 255
        return out

    def load(self, options: Any, path: Any, context: LoadContext) -> Dataset:
        rng = np.random.default_rng(options.seed)
        n = options.n
        factors = np.stack(
            [
                rng.integers(0, 3, n),
                np.linspace(0.5, 1.0, 6)[rng.integers(0, 6, n)],
                np.linspace(0, 2 * math.pi, 40, endpoint=False)[rng.integers(0, 40, n)],
                np.linspace(0, 1, 32)[rng.integers(0, 32, n)],
                np.linspace(0, 1, 32)[rng.integers(0, 32, n)],
            ],
            -1,
        )
        x = np.empty((n, 1, options.size, options.size), np.uint8)
        step = 500
        for start in range(0, n, step):
            x[start : start + step] = self.render(factors[start : start + step], options.size, options.antialias)
            context.report(min(n, start + step), n)
        spec = DataSpec(
            kind="image",
            shape=x.shape[1:],
            count=n,
            classes=self.SHAPES,
            source=self.name,
            factors=self.FACTORS,
        )
        return Dataset(x, factors[:, 0].astype(np.int64), spec, extras={"factors": factors.astype(np.float32)})


@hookimpl
def genstudio_register_datasets(registry: Registry):
    from genstudio.data.asia import Asia
    from genstudio.data.catalogue import sources

    catalogue = sources()  # mnist (built in until the full set is fetched) first: the window starts on it
    registry.add(catalogue[0])
    registry.add(Digits)
    for toy in TOYS:
        registry.add(toy)
    registry.add(Shapes)
    registry.add(Asia)
    for cls in catalogue[1:]:  # the other catalogue sets, readable once fetched
        registry.add(cls)
