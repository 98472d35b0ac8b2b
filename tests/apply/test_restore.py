"""Restoration: operators, PSNR/SSIM against their references, and every solver against the
exact posterior of a Gaussian image model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genstudio.api import ConfigError
from genstudio.apply.image_metrics import psnr, ssim
from genstudio.apply.operators import Downsample, Mask, make_operator
from genstudio.apply.restore import check_observation, restore
from genstudio.apply.solvers import consistency, solvers_for

from .gaussian_model import GaussianImages


def test_operators_are_linear_with_orthogonal_rows():
    x = torch.rand(3, 1, 12, 12, dtype=torch.float64)
    for op in (
        make_operator("denoise", (1, 12, 12), sigma=0.1),
        make_operator("superres", (1, 12, 12), factor=3),
        make_operator("inpaint", (1, 12, 12), box=(2, 3, 5, 4)),
    ):
        p = op.project(x)
        np.testing.assert_allclose(op.project(p), p, atol=1e-12)  # a projection
        np.testing.assert_allclose(op.forward(op.pinv(op.forward(x))), op.forward(x), atol=1e-12)  # A A+ A = A
        np.testing.assert_allclose((p * (x - p)).sum(), 0, atol=1e-9)  # orthogonal
    assert Downsample(factor=3).observation_shape((1, 12, 12)) == (1, 4, 4)
    assert Mask.box((1, 12, 12), 2, 3, 5, 4).sum() == 144 - 20


def test_bad_damage_descriptions_name_the_problem():
    with pytest.raises(ConfigError, match="mask is 10x10 pixels; the run's images are 12x12"):
        make_operator("inpaint", (1, 12, 12), mask=np.ones((10, 10)))
    with pytest.raises(ConfigError, match="does not fit in the run's 12x12"):
        make_operator("inpaint", (1, 12, 12), box=(8, 8, 6, 6))
    with pytest.raises(ConfigError, match="--factor 5 does not divide"):
        make_operator("superres", (1, 12, 12), factor=5)
    with pytest.raises(ConfigError, match="--sigma"):
        make_operator("denoise", (1, 12, 12))
    op = make_operator("denoise", (1, 12, 12), sigma=0.1)
    with pytest.raises(ConfigError, match=r"input.npy: shaped \(2, 1, 8, 8\); the run takes \(1, 12, 12\)"):
        check_observation(np.zeros((2, 1, 8, 8)), op, (1, 12, 12), "input.npy")


def test_psnr_is_its_definition():
    a = torch.zeros(1, 1, 4, 4)
    b = torch.full((1, 1, 4, 4), 0.1)
    assert float(psnr(b, a)) == pytest.approx(20.0)


def test_ssim_agrees_with_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(0)
    for shape in ((1, 28, 28), (3, 16, 20)):
        ref = torch.rand(2, *shape, generator=g, dtype=torch.float64)
        x = (ref + 0.2 * torch.randn(ref.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
        ours = ssim(x, ref)
        for i in range(2):
            want = metrics.structural_similarity(
                x[i].numpy(),
                ref[i].numpy(),
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1.0,
                channel_axis=0,
            )
            assert float(ours[i]) == pytest.approx(want, abs=1e-9)
        assert float(ssim(ref, ref)[0]) == pytest.approx(1.0)


def test_consistency_keeps_the_observed_values_when_noiseless():
    op = make_operator("inpaint", (1, 12, 12), box=(2, 2, 6, 6))
    y = op.damage(torch.rand(2, 1, 12, 12))
    x = consistency(torch.rand(2, 1, 12, 12), y, op)
    m = op.observed(x)
    assert torch.equal(x * m, y * m)


CASES = [
    ("denoise", {"sigma": 0.2}),
    ("inpaint", {"box": (3, 2, 6, 7), "sigma": 0.0}),
    ("superres", {"factor": 3, "sigma": 0.02}),
]


@pytest.mark.parametrize(("task", "kw"), CASES)
@pytest.mark.parametrize("solver", ["ddrm", "repaint", "latent", "gradient", "reconstruct"])
def test_each_solver_comes_near_the_exact_posterior_mean(task, kw, solver):
    model = GaussianImages()
    op = make_operator(task, (1, 12, 12), **kw)
    if solver not in [s.name for s in solvers_for(model, op)]:
        assert (solver, task) in {("repaint", "denoise"), ("repaint", "superres")}
        return
    g = torch.Generator().manual_seed(1)
    clean = model.sample(16, g)
    y = op.damage(clean, g)
    exact = model.posterior_mean(op, y)
    n = 4 if solver in ("ddrm", "repaint") else 1
    result = restore(model, op, y, n=n, solver=solver, clean=clean)
    mean = torch.from_numpy(result.restored.mean(0))
    best = float(psnr(exact.clamp(0, 1), clean).mean())
    got = float(psnr(mean, clean).mean())
    prior_mean = float(psnr(torch.full_like(clean, 0.5), clean).mean())
    # not worse than the exact answer by more than a little, and far better than knowing nothing
    slack = 2.5 if solver == "reconstruct" else 1.5
    assert got > best - slack, (got, best)
    assert got > prior_mean + 3.0
    assert got > result.scores["psnr_damaged"] + (1.0 if task != "inpaint" else 0.0)
    if solver in ("ddrm", "repaint"):
        # stochastic: the draws differ, and their mean is closer to the posterior mean than each draw
        assert not np.allclose(result.restored[0], result.restored[1])


def test_solvers_are_chosen_by_capability():
    model = GaussianImages()
    mask = make_operator("inpaint", (1, 12, 12), box=(0, 0, 4, 4))
    noise = make_operator("denoise", (1, 12, 12), sigma=0.1)
    assert [s.name for s in solvers_for(model, mask)] == ["repaint", "ddrm", "latent", "gradient", "reconstruct"]
    assert [s.name for s in solvers_for(model, noise)] == ["ddrm", "latent", "gradient", "reconstruct"]
    model.restore = lambda y, op, generator=None: op.pinv(y)
    assert solvers_for(model, noise)[0].name == "own"


def test_restoration_repeats_with_its_seed():
    model = GaussianImages()
    op = make_operator("inpaint", (1, 12, 12), box=(3, 3, 5, 5))
    y = op.damage(model.sample(2, torch.Generator().manual_seed(0)))
    a = restore(model, op, y, seed=3, steps=10).restored
    b = restore(model, op, y, seed=3, steps=10).restored
    c = restore(model, op, y, seed=4, steps=10).restored
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_latent_restoration_survives_a_decoder_that_overflows():
    """A flow's inverse can overflow for codes far from the prior: the solver undoes such a
    step instead of returning NaN, and an example whose code never decodes finitely gets its
    observation back."""
    from genstudio.api import DataSpec

    class Overflowing:
        spec = DataSpec("image", (1, 4, 4), 8)
        latent_dim = 16
        device = torch.device("cpu")

        def decode(self, z):
            x = torch.sigmoid(z).view(-1, 1, 4, 4)
            far = (z.abs() > 3).any(1).view(-1, 1, 1, 1)
            return torch.where(far, torch.full_like(x, float("nan")), x)

        def encode(self, x):
            z = torch.logit(x.flatten(1).clamp(0.05, 0.95))
            z[0] = 10.0  # this one decodes to NaN from the start, and always would
            return z

    op = make_operator("denoise", (1, 4, 4), sigma=0.3)
    clean = torch.rand(4, 1, 4, 4) * 0.5 + 0.25
    noisy = op.damage(clean, torch.Generator().manual_seed(0))
    out = restore(Overflowing(), op, noisy, solver="latent", steps=30, seed=0)
    assert np.isfinite(out.restored).all()
    np.testing.assert_allclose(out.restored[0, 0], noisy[0].clamp(0, 1).numpy(), atol=1e-6)
