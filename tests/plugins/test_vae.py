"""The VAE family: shapes for any reasonable image size, likelihoods, options, and learning."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.api import Batch, DataSpec
from genstudio.testing import dry_run
from genstudio_plugins.vae import VAE, VAEConfig

from .baselines import bernoulli_baselines, mnist


def make(shape=(1, 8, 8), kind="image", value_range=(0.0, 1.0), **cfg) -> VAE:
    torch.manual_seed(0)
    return VAE(DataSpec(kind, shape, 100, value_range), VAEConfig(**cfg))


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 64, 64), (1, 7, 7), (1, 28, 20)])
def test_conv_networks_fit_any_reasonable_image_size(shape):
    vae = make(shape, latent_dim=5, width=8)
    assert vae.arch == "conv" and vae.likelihood == "bernoulli"
    x = torch.rand(3, *shape)
    z = vae.encode(x)
    assert z.shape == (3, 5)
    out = vae.decode(z)
    assert out.shape == (3, *shape) and out.min() >= 0 and out.max() <= 1
    assert vae.reconstruct(x).shape == x.shape
    assert vae.sample(4).shape == (4, *shape)


def test_vectors_get_an_mlp_and_a_gaussian_likelihood_in_data_units():
    vae = make((2,), "vector", (-4.0, 4.0), latent_dim=2, hidden=16)
    assert vae.arch == "mlp" and vae.likelihood == "gaussian"
    x = torch.randn(5, 2) * 2
    assert vae.decode(vae.encode(x)).shape == (5, 2)
    # scaling the data by s shifts a Gaussian log-density by -D log s: the model reports data units
    lp = vae.log_prob(x, k=1)
    assert lp.shape == (5,) and torch.isfinite(lp).all()
    assert math.isclose(float(vae.half_range), 4.0)


def test_likelihood_option_overrides_and_arch_conv_needs_images():
    assert make(likelihood="gaussian").likelihood == "gaussian"
    with pytest.raises(ValueError, match="arch=conv needs image data"):
        make((4,), "vector", (0, 1), arch="conv")
    assert make((1, 8, 8), arch="mlp").arch == "mlp"


def test_importance_weighting_tightens_the_bound():
    """log p(x) >= IWAE_K >= IWAE_1 = ELBO in expectation (Burda et al. 2016, theorem 1)."""
    vae = make(latent_dim=4, width=8)
    x = (torch.rand(64, 1, 8, 8) > 0.5).float()
    for _ in range(100):  # an untrained posterior equals the prior, where the bounds coincide
        vae.train_step(Batch(x))
    with torch.no_grad():
        torch.manual_seed(1)
        k1 = vae.log_prob(x, k=1).mean()
        torch.manual_seed(1)
        k50 = vae.log_prob(x, k=50).mean()
        mu, logvar = vae._posterior(x)  # the ELBO of the density log_prob scores
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        elbo = vae._log_likelihood(x, z, density=True) - 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
    assert k50 > k1
    assert abs(float(k1) - float(elbo.mean())) < 2.0  # K=1 is an ELBO estimate


def test_grey_levels_under_a_bernoulli_likelihood_get_a_density_that_integrates_to_one():
    """log_prob of [0, 1] data with the Bernoulli likelihood is the continuous Bernoulli's
    density: on one dimension, with a latent of one, its integral over [0, 1] is 1 (up to the
    IWAE bound's small gap), where the plain Bernoulli term integrates to well under 1."""
    vae = make((1,), "vector", (0.0, 1.0), latent_dim=1, hidden=16, hidden_layers=1, likelihood="bernoulli")
    x = torch.rand(256, 1) ** 2
    for _ in range(300):
        vae.train_step(Batch(x))
    grid = (torch.arange(2000, dtype=torch.float32) + 0.5) / 2000  # midpoint rule on [0, 1]
    with torch.no_grad():
        torch.manual_seed(0)
        density = vae.log_prob(grid[:, None], k=2000).exp()
        z = torch.randn(2000, 1)
        logits = vae._decoder_out(z)[0].reshape(-1)
        plain = (torch.sigmoid(logits)[:, None] ** grid * torch.sigmoid(-logits)[:, None] ** (1 - grid)).mean(0)
    assert abs(float(density.mean()) - 1.0) < 0.03
    assert float(plain.mean()) < 0.9
    from genstudio_plugins.vae import _log_continuous_bernoulli_norm

    logits = torch.tensor([-30.0, -2.0, -1e-5, 0.0, 1e-5, 2.0, 30.0])
    expected = [math.log(30.0 / math.tanh(15.0)), math.log(2.0 / math.tanh(1.0)), math.log(2.0)]
    got = _log_continuous_bernoulli_norm(logits).tolist()
    assert got == pytest.approx([*expected, math.log(2.0), *expected[::-1]], rel=1e-6)


def test_kl_warmup_grows_the_weight_linearly_to_beta():
    vae = make(beta=2.0, warmup_steps=10)
    assert vae.kl_weight() == 0.0
    vae.step = 5
    assert vae.kl_weight() == 1.0
    vae.step = 50
    assert vae.kl_weight() == 2.0


def test_binarize_makes_the_likelihood_a_mass_and_trains_on_binary_pixels():
    vae = make(binarize=True)
    assert vae.discrete_likelihood
    seen = {}
    original = vae._elbo_terms

    def spy(x, *args, **kwargs):
        seen["values"] = set(torch.unique(x).tolist())
        return original(x, *args, **kwargs)

    vae._elbo_terms = spy
    vae.train_step(Batch(torch.rand(16, 1, 8, 8)))
    assert seen["values"] <= {0.0, 1.0}
    assert not make().discrete_likelihood


def test_train_step_reports_loss_terms_and_learns():
    vae = make(latent_dim=4, width=8)
    x = torch.zeros(32, 1, 8, 8)
    x[:, :, 2:6, 2:6] = 1.0
    first = vae.train_step(Batch(x))
    assert set(first) == {"loss", "recon", "kl"}
    for _ in range(150):
        last = vae.train_step(Batch(x))
    assert float(last["recon"]) < float(first["recon"]) / 10


def test_dry_runs(gs_host, gs_workspace):
    dry_run(gs_host, gs_workspace, "vae", "digits", steps=3)
    dry_run(gs_host, gs_workspace, "vae", "moons", steps=3, data_options={"n": 500})
    dry_run(gs_host, gs_workspace, "vae", "tiny", steps=3, config={"arch": "mlp", "binarize": True})


def test_validation_nelbo_is_on_the_scale_of_log_prob(gs_train):
    """Grey levels: val/nelbo carries the continuous Bernoulli's normaliser like log_prob, so
    -nelbo is a lower bound of the IWAE estimate (Burda et al. 2016, theorem 1), not a figure
    on another scale; it falls as the model trains."""
    trainer, _ = gs_train("vae", "digits", steps=600, val_every=300, batch_size=64)
    steps, values, _ = trainer.store.scalars(trainer.run.id, ["val/nelbo"])["val/nelbo"]
    assert steps.tolist() == [300, 600] and values[-1] < values[0]
    model = trainer.model.eval()
    x = torch.from_numpy(trainer.dataset.as_float(slice(0, 200)))
    with torch.no_grad():
        nelbo = model.evaluate(Batch(x))["nelbo"]
        torch.manual_seed(0)
        elbo = model.log_prob(x, k=1).mean()  # K = 1: the ELBO, of the same density
        torch.manual_seed(0)
        iwae = model.log_prob(x, k=20).mean()
    assert iwae > elbo  # the IWAE bound is tighter
    assert -nelbo == pytest.approx(float(elbo), abs=2.0)  # one-sample estimates of one ELBO
    assert -nelbo < float(iwae) + 1.0


def test_validation_loss_is_the_training_loss_on_held_out_data(gs_train):
    """val/loss is what train_step minimises (cross-entropy plus the weighted KL), on held-out
    images, so it reads against loss; val/nelbo is hundreds of nats away on grey levels."""
    trainer, _ = gs_train("vae", "digits", steps=40, val_every=20, batch_size=64, config={"warmup_steps": 80})
    model = trainer.model
    x = torch.from_numpy(trainer.dataset.as_float(slice(0, 200)))
    with torch.no_grad():
        val = model.eval().evaluate(Batch(x))
    assert model.kl_weight() == pytest.approx(0.5)  # halfway through the warm-up
    assert val["loss"] == pytest.approx(val["recon"] + 0.5 * val["kl"])
    assert abs(val["nelbo"] - val["loss"]) > 10 * abs(val["kl"])  # another scale altogether
    scalars = trainer.store.scalars(trainer.run.id, ["loss", "val/loss"])
    train_loss, val_loss = scalars["loss"][1][-1], scalars["val/loss"][1][-1]
    assert abs(val_loss - train_loss) < 0.25 * train_loss  # the same quantity, on other images


def test_the_vae_beats_the_per_class_mean_images_on_held_out_mnist(shared_data):
    """A decoder that ignores z can do no better than the mean image (about -197 nats here),
    and a model that only knew the class no better than the mixture of the class means (about
    -166); 600 steps of the VAE reach about -130 (IWAE, K = 20) on held-out digits."""
    x, y = mnist(shared_data, 3000)
    g = torch.Generator().manual_seed(0)
    binary = torch.bernoulli(x, generator=g)
    base = bernoulli_baselines(binary[:2500], y[:2500], binary[2500:])
    torch.manual_seed(0)
    vae = VAE(DataSpec("image", (1, 28, 28), 2500), VAEConfig(binarize=True, arch="mlp", lr=2e-3))
    for _ in range(600):
        vae.train_step(Batch(x[torch.randint(0, 2500, (64,), generator=g)]))
    with torch.no_grad():
        ll = float(vae.log_prob(binary[2500:], k=20).mean())
    assert ll > max(base.values()) + 20.0, (ll, base)


def test_width_resolves_to_16_on_a_cpu_and_32_elsewhere():
    """``width`` 0 (the default): 16 channels on a CPU, where they give more steps per minute
    and no worse samples in 10 (bench/quality.py); 32 on an accelerator; a set width stays."""

    spec = DataSpec("image", (1, 28, 28), 10)
    assert VAE.resolve_config(VAEConfig(), spec, "cpu").width == 16
    assert VAE.resolve_config(VAEConfig(), spec, "cuda").width == 32
    assert VAE.resolve_config(VAEConfig(width=24), spec, "cpu").width == 24
    assert VAE(spec, VAEConfig()).config.width == 16  # built without the host, as on its device


def test_em_recovers_a_mixture_of_separated_gaussians():
    from genstudio_plugins.vae import fit_gaussian_mixture

    g = torch.Generator().manual_seed(1)
    centres = torch.randn(3, 16, generator=g) * 5
    scales = (0.5, 1.0, 2.0)
    sizes = (1000, 3000, 2000)
    x = torch.cat([c + torch.randn(n, 16, generator=g) * s for c, s, n in zip(centres, scales, sizes)]).double()
    weights, means, tril = fit_gaussian_mixture(x, 3)
    match = torch.cdist(means.float(), centres).argmin(1)  # each fitted component's true one
    assert sorted(match.tolist()) == [0, 1, 2]
    for i, j in enumerate(match.tolist()):
        assert float((means[i].float() - centres[j]).norm()) < 0.2
        assert float(weights[i]) == pytest.approx(sizes[j] / 6000, abs=0.01)
        assert float(tril[i].diagonal().mean()) == pytest.approx(scales[j], rel=0.05)
    again = fit_gaussian_mixture(x, 3)  # deterministic, from its own seed
    assert all(torch.equal(a, b) for a, b in zip((weights, means, tril), again))
    # started from a fit of slightly moved data (as the VAE refits between two grids), EM
    # lands on the fit from scratch, and one step gets there (from scratch it is 8 units off)
    moved = fit_gaussian_mixture(x + 0.3, 3)
    warm = fit_gaussian_mixture(x, 3, start=moved)
    for a, b in zip((weights, means, tril), warm):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(fit_gaussian_mixture(x, 3, iters=1, start=moved)[1], means, atol=1e-3, rtol=0)


def test_samples_decode_codes_from_a_mixture_fitted_to_the_training_codes():
    """The ex-post prior (Ghosh et al. 2020): sample_latent draws from a mixture fitted to the
    posterior means seen in training, which is kept in checkpoints; prior=normal keeps N(0, I)."""
    x = torch.zeros(128, 1, 8, 8)
    x[:64, :, :4] = 1.0  # two kinds of picture: two clusters of codes
    x[64:, :, 4:] = 1.0
    vae = make(latent_dim=2, width=8, prior_components=2)
    normal = make(latent_dim=2, width=8, prior="normal")
    g = torch.Generator().manual_seed(0)
    assert torch.equal(vae.sample_latent(5, g), torch.randn(5, 2, generator=torch.Generator().manual_seed(0)))
    for _ in range(150):  # fewer codes than the fit needs at first: N(0, I) until then
        vae.train_step(Batch(x))
        normal.train_step(Batch(x))
    with torch.no_grad():
        codes = vae.encode(x)
        z = vae.sample_latent(4000, torch.Generator().manual_seed(1))
    assert float(vae.prior_weights.sum()) == pytest.approx(1.0)
    # the two clusters of training codes, found again in the codes of samples
    near = torch.cdist(vae.prior_means, torch.stack([codes[:64].mean(0), codes[64:].mean(0)]))
    # (the buffer holds the last 64 batches' codes, from a moving encoder: near, not on, today's)
    apart = float((codes[:64].mean(0) - codes[64:].mean(0)).norm())
    assert sorted(near.argmin(1).tolist()) == [0, 1] and float(near.min(1).values.max()) < 0.2 * apart
    half = (torch.cdist(z, vae.prior_means).argmin(1) == 0).float().mean()
    assert float(half) == pytest.approx(0.5, abs=0.05)
    assert float(normal.prior_weights.sum()) == 0.0  # prior=normal fits nothing
    # a checkpoint keeps the mixture: a model built from it samples the same codes
    state = vae.checkpoint_state()
    loaded = make(latent_dim=2, width=8, prior_components=2)
    loaded.load_checkpoint_state(state)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(vae.sample_latent(16, g1), loaded.sample_latent(16, g2))
    # a checkpoint from before the ex-post prior loads, and samples N(0, I) codes until trained
    old = {**state, "module": {k: v for k, v in state["module"].items() if not k.startswith("prior_")}}
    older = make(latent_dim=2, width=8)
    older.load_checkpoint_state(old)
    assert torch.equal(
        older.sample_latent(3, torch.Generator().manual_seed(2)),
        torch.randn(3, 2, generator=torch.Generator().manual_seed(2)),
    )
