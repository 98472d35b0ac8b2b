"""The diffusion family: schedules, the reverse-step identities, samplers, the sampling chain,
image sizes, checkpoints, and learning the eight Gaussians."""

from __future__ import annotations

import pytest
import torch

from genstudio.api import Batch, DataSpec, LoadContext, config_from_dict
from genstudio.data.datasets import EightGaussians, ToyOptions
from genstudio.testing import dry_run
from genstudio_plugins.diffusion import Diffusion, DiffusionConfig, UNet, ddim_step, ddpm_step, make_betas


def make(shape=(2,), kind="vector", value_range=(-4.0, 4.0), **cfg) -> Diffusion:
    torch.manual_seed(0)
    return Diffusion(DataSpec(kind, shape, 100, value_range), config_from_dict(DiffusionConfig, cfg))


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("timesteps", [1000, 50])
def test_schedules_decrease_from_one_to_zero(schedule, timesteps):
    betas = make_betas(schedule, timesteps)
    abar = torch.cumprod(1 - betas, 0)
    assert betas.shape == (timesteps,) and (betas > 0).all() and (betas <= 0.999).all()
    assert (abar[1:] < abar[:-1]).all()
    assert abar[0] > 0.99  # x_1 is nearly the data
    assert abar[-1] < 1e-3  # x_T is nearly pure noise
    if schedule == "linear" and timesteps == 1000:  # Ho et al. 2020: 1e-4 to 0.02
        assert torch.isclose(betas[0], torch.tensor(1e-4, dtype=betas.dtype))
        assert torch.isclose(betas[-1], torch.tensor(0.02, dtype=betas.dtype))


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddim_with_eta_one_is_the_ddpm_posterior(schedule):
    """Song et al. 2021, eq. 16: eta = 1 gives q(x_prev | x_t, x_0) of Ho et al. 2020, eq. 7, for
    consecutive and for respaced (strided) steps; eta = 0 ignores the noise; the last step gives x_0."""
    abar = torch.cumprod(1 - make_betas(schedule, 100), 0)
    g = torch.Generator().manual_seed(0)
    x_t, x0, noise = torch.randn(3, 5, 2, generator=g, dtype=torch.float64)
    for t, prev in [(t, t - 1) for t in range(1, 100)] + [(99, 79), (50, 3), (10, 0)]:
        a, b = abar[t], abar[prev]
        torch.testing.assert_close(ddim_step(x_t, x0, a, b, 1.0, noise), ddpm_step(x_t, x0, a, b, noise))
        torch.testing.assert_close(ddim_step(x_t, x0, a, b, 1.0, None), ddpm_step(x_t, x0, a, b, None))
        torch.testing.assert_close(ddim_step(x_t, x0, a, b, 0.0, noise), ddim_step(x_t, x0, a, b, 0.0, None))
    one = torch.ones((), dtype=torch.float64)
    torch.testing.assert_close(ddim_step(x_t, x0, abar[5], one, 0.0, None), x0)
    torch.testing.assert_close(ddpm_step(x_t, x0, abar[5], one, None), x0)


def test_a_ddim_step_with_eta_zero_is_deterministic():
    model = make(timesteps=100, hidden=16, hidden_layers=2, eta=0.0).eval()
    x = torch.randn(8, 2)
    with torch.no_grad():
        a = model.reverse_step(x, 60, 40, torch.Generator().manual_seed(0))
        b = model.reverse_step(x, 60, 40, torch.Generator().manual_seed(1))
        model.config.eta = 0.5
        c = model.reverse_step(x, 60, 40, torch.Generator().manual_seed(0))
        d = model.reverse_step(x, 60, 40, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.allclose(c, d)


def test_ddpm_sampler_with_all_steps_equals_ddim_with_eta_one():
    """With sample_steps = T, DDIM at eta = 1 follows the DDPM posterior-mean path, noise for noise."""
    ddpm = make(timesteps=20, sample_steps=20, sampler="ddpm", hidden=16, hidden_layers=2).eval()
    ddim = make(timesteps=20, sample_steps=20, sampler="ddim", eta=1.0, hidden=16, hidden_layers=2).eval()
    ddim.load_state_dict(ddpm.state_dict())
    assert ddpm.sample_timesteps() == list(range(19, -1, -1))
    with torch.no_grad():
        a = ddpm.sample(50, torch.Generator().manual_seed(0))
        b = ddim.sample(50, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_sample_timesteps_are_respaced_evenly():
    model = make(timesteps=1000, sample_steps=50, hidden=16, hidden_layers=1)
    steps = model.sample_timesteps()
    assert len(steps) == 50 and steps[0] == 999 and steps[-1] == 0 and steps == sorted(steps, reverse=True)
    assert make(timesteps=10, sample_steps=50, hidden=16, hidden_layers=1).sample_timesteps() == list(range(9, -1, -1))


def test_sample_chain_runs_from_noise_to_the_sample():
    model = make((1, 8, 8), "image", (0.0, 1.0), width=8, sample_steps=10).eval()
    with torch.no_grad():
        frames = list(model.sample_chain(4, torch.Generator().manual_seed(0)))
        sample = model.sample(4, torch.Generator().manual_seed(0))
    assert len(frames) == 11 and all(f.shape == (4, 1, 8, 8) for f in frames)
    noise = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(frames[0], ((noise + 1) / 2).clamp(0, 1))  # x_T: clipped noise
    assert torch.equal(frames[-1], sample)
    assert sample.min() >= 0 and sample.max() <= 1


def test_long_chains_are_thinned_but_keep_both_ends():
    model = make(timesteps=300, sample_steps=300, sampler="ddpm", hidden=16, hidden_layers=1).eval()
    with torch.no_grad():
        frames = list(model.sample_chain(5, torch.Generator().manual_seed(0), max_frames=31))
        sample = model.sample(5, torch.Generator().manual_seed(0))
    assert len(frames) == 31  # states 0, 10, ..., 300 of 301
    assert torch.equal(frames[-1], sample)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 9, 9), (1, 28, 20)])
def test_unet_keeps_the_shape_of_any_reasonable_image(shape):
    net = UNet(shape, width=8, attention=True, dropout=0.0, timesteps=1000)
    x = torch.randn(2, *shape)
    assert net(x, torch.tensor([0, 999])).shape == x.shape


def test_evaluate_is_comparable_across_calls_and_checkpoints_keep_the_ema():
    model = make(timesteps=100, hidden=16, hidden_layers=2)
    x = torch.rand(64, 2) * 8 - 4
    for _ in range(5):
        model.train_step(Batch(x))
    assert not torch.equal(model.ema.out.weight, model.net.out.weight)
    model.eval()
    with torch.no_grad():
        assert model.evaluate(Batch(x)) == model.evaluate(Batch(x))
        again = make(timesteps=100, hidden=16, hidden_layers=2)
        state = model.checkpoint_state()
        state["extra"]["steps_done"] = 5  # as checkpoints written before the host kept the step
        again.load_checkpoint_state(state)
        again.eval()
        assert model.step == 5 and again.step == 5
        torch.testing.assert_close(
            again.sample(10, torch.Generator().manual_seed(0)), model.sample(10, torch.Generator().manual_seed(0))
        )


@pytest.mark.slow
def test_learns_the_eight_gaussians():
    """Measured: after 4,000 steps of 256 (about 10 s on one core), all 8 modes hold 8-14% of
    1,000 samples each and about 6% lie more than 3 std from every centre (the true density:
    1.1%). Bounds: at least 7 modes with 2% of the samples each, at most 15% far away."""
    source = EightGaussians()
    data = source.load(ToyOptions(n=10_000, seed=0), None, LoadContext())
    torch.manual_seed(0)
    model = Diffusion(data.spec, DiffusionConfig())
    x = torch.from_numpy(data.x)
    g = torch.Generator().manual_seed(0)
    for _ in range(4000):
        model.train_step(Batch(x[torch.randint(0, len(x), (256,), generator=g)]))
    model.eval()
    with torch.no_grad():
        samples = model.sample(1000, torch.Generator().manual_seed(1))
    dist, nearest = torch.cdist(samples, torch.from_numpy(source.centres).float()).min(1)
    near = dist < 3 * source.std
    counts = torch.bincount(nearest[near], minlength=8)
    assert (counts >= 20).sum() >= 7, counts
    assert 1 - near.float().mean() <= 0.15, counts


DRY_RUNS = [
    ("tiny", "linear", "ddpm"),
    ("tiny", "cosine", "ddim"),
    ("digits", "linear", "ddim"),
    ("digits", "cosine", "ddpm"),
    ("8gaussians", "linear", "ddim"),
    ("8gaussians", "cosine", "ddpm"),
]


@pytest.mark.parametrize(("data", "schedule", "sampler"), DRY_RUNS)
def test_dry_run(gs_host, gs_workspace, data, schedule, sampler):
    config = {"schedule": schedule, "sampler": sampler, "sample_steps": 10, "width": 16}
    events = dry_run(gs_host, gs_workspace, "diffusion", data, config=config)
    logged = set().union(*(e.losses for e in events if e.type == "progress"))
    assert {"loss", "val/loss"} <= logged


def test_the_unet_beats_the_best_trivial_denoisers_on_held_out_digits():
    """The image U-Net on 8x8 digits: after 300 steps its validation L_simple (fixed t and
    noise; no weight average) is below that of the best noise predictions a trivial model
    allows: the Wiener filter of a Gaussian with the data's per-pixel means and variances
    (0.28), and the posterior mean under a mixture of one such Gaussian per class (0.23).
    It reaches about 0.195; a network that ignored t or the image could not beat them."""
    from genstudio.data.datasets import Digits

    from .baselines import denoiser_baselines

    d = Digits().load(None, None, None)
    x, y = torch.from_numpy(d.x).float(), torch.from_numpy(d.y)
    torch.manual_seed(0)
    model = make((1, 8, 8), "image", (0.0, 1.0), width=16, ema_decay=0.0, warmup_steps=20)
    g = torch.Generator().manual_seed(1)
    for _ in range(300):
        model.train_step(Batch(x[:1500][torch.randint(0, 1500, (64,), generator=g)]))
    test = x[1500:]
    model.eval()
    with torch.no_grad():
        loss = model.evaluate(Batch(test))["loss"]
    # the same t and noise that evaluate() drew (a generator seeded 0: t first, then the noise)
    g = torch.Generator().manual_seed(0)
    t = torch.randint(0, model.config.timesteps, (len(test),), generator=g)
    eps = torch.randn(test.shape, generator=g)
    base = denoiser_baselines(x[:1500], y[:1500], test * 2 - 1, model.abar[t], eps)
    assert loss < 0.9 * min(base.values()), (loss, base)
