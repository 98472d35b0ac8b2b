"""Variational autoencoder (Kingma and Welling 2014).

The loss is the negative evidence lower bound, per example, in nats (Kingma and Welling 2014, eq. 10):

    -ELBO(x) = -E_q(z|x)[log p(x|z)] + beta * KL(q(z|x) || p(z))

with beta = 1 the VAE, beta > 1 the beta-VAE (Higgins et al. 2017), and beta grown linearly
from 0 over the first ``warmup_steps`` steps as KL warm-up (Sønderby et al. 2016). ``log_prob``
is the importance-weighted estimate of Burda et al. (2016, eq. 8) with K samples:

    log p(x) ~= log (1/K) sum_k p(x, z_k) / q(z_k|x),   z_k ~ q(z|x)

Samples decode codes from an ex-post density by default (Ghosh et al. 2020, "From variational
to deterministic autoencoders", section 4): a Gaussian mixture fitted by EM to the posterior
means of the most recent training batches, refitted whenever training moved on since the last
fit, and kept in checkpoints. ``prior=normal`` decodes N(0, I) codes as Kingma and Welling did.
``log_prob`` and the validation figures stay those of the model as trained, with its N(0, I)
prior (the published VAE protocol); only where samples' codes come from changes.

Images use a convolutional encoder and decoder for any reasonable size (8x8 to 128x128);
vectors use MLPs. Data in [0, 1] gets a Bernoulli likelihood, anything else a Gaussian with a
learned per-dimension scale (the ``likelihood`` option overrides).

Grey levels under a Bernoulli likelihood: training uses the Bernoulli cross-entropy as is
customary, but that is no density over [0, 1]^D. So ``log_prob`` scores x with the continuous
Bernoulli of the same logits, p(x|l) = C(l) s(l)^x (1 - s(l))^(1 - x) with C(l) = l / tanh(l/2)
(Loaiza-Ganem and Cunningham 2019), which integrates to 1 and makes bits per dimension
meaningful. ``binarize`` trains and scores binary pixels, a mass, as papers report MNIST.
The validation ``nelbo`` is on ``log_prob``'s scale (with that normaliser), so -nelbo <=
log_prob up to Monte Carlo noise; the validation ``loss`` and ``recon`` stay those of training
(the cross-entropy), to read against the training loss.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.api import Batch, DataSpec, TorchModel, adam
from genstudio_plugins.families.vae import FAMILY, VAEConfig

LOG_2PI = math.log(2 * math.pi)
CODES = 8192  # posterior means kept for the ex-post prior: 64 batches of 128
MIN_CODES = 256  # fewer and samples keep N(0, I) codes
FIT_ITERS = 5  # EM steps each time the mixture is refitted (see _fit_prior_if_stale)
FIT_STRIDE = 2  # and on every other code kept: 4,096 fit 10 components of 16 dimensions well


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """(N, C, H, W) -> (N, out): a 3x3 stem, then stride-2 3x3 convs halving the size (rounding
    up) until it is at most 4 pixels, so 8x8, 28x28 and 64x64 inputs all work."""

    def __init__(self, shape: tuple[int, ...], width: int, out: int):
        super().__init__()
        c, h, w = shape
        self.sizes = [(h, w)]
        layers: list[nn.Module] = [nn.Conv2d(c, width, 3, padding=1), nn.SiLU()]
        ch = width
        while min(h, w) > 4 and len(self.sizes) < 6:
            nxt = min(ch * 2, width * 4)
            layers += [nn.Conv2d(ch, nxt, 3, stride=2, padding=1), nn.SiLU()]
            ch, h, w = nxt, (h + 1) // 2, (w + 1) // 2
            self.sizes.append((h, w))
        self.net = nn.Sequential(*layers)
        self.channels = ch
        self.head = nn.Linear(ch * h * w, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x).flatten(1))


class ConvDecoder(nn.Module):
    """(N, latent) -> (N, out_channels, H, W): the encoder's mirror, with transposed convs
    told each output size so odd sizes (7 -> 14 -> 28) come out exact."""

    def __init__(self, encoder: ConvEncoder, latent: int, out_channels: int, width: int):
        super().__init__()
        self.sizes = encoder.sizes
        h, w = self.sizes[-1]
        self.start = (encoder.channels, h, w)
        self.fc = nn.Linear(latent, encoder.channels * h * w)
        self.ups = nn.ModuleList()
        ch = encoder.channels
        chans = [min(width * 2**i, width * 4) for i in range(len(self.sizes) - 1)]
        for nxt in reversed(chans):
            self.ups.append(nn.ConvTranspose2d(ch, nxt, 3, stride=2, padding=1))
            ch = nxt
        self.out = nn.Conv2d(ch, out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.fc(z)).view(-1, *self.start)
        for up, size in zip(self.ups, reversed(self.sizes[:-1])):
            x = F.silu(up(x, output_size=size))
        return self.out(x)


class VAE(TorchModel, family=FAMILY):
    """Variational autoencoder: encoder q(z|x), decoder p(x|z), standard normal prior."""

    @classmethod
    def resolve_config(cls, config: VAEConfig, spec: DataSpec, device) -> VAEConfig:
        """``width`` 0: 16 channels on a CPU, 32 on an accelerator (see the field's comment);
        ``arch`` and ``likelihood`` auto: as the data says (see their fields)."""
        changes: dict = {}
        if config.width == 0:
            changes["width"] = 16 if torch.device(device).type == "cpu" else 32
        if config.arch == "auto":
            changes["arch"] = "conv" if spec.kind == "image" else "mlp"
        if config.likelihood == "auto":
            changes["likelihood"] = "bernoulli" if spec.unit_interval else "gaussian"
        return dataclasses.replace(config, **changes) if changes else config

    def __init__(self, spec: DataSpec, config: VAEConfig, device="cpu"):
        super().__init__(spec, config, device)
        # built without the host (which resolves them): the auto values as on this device
        config = self.config = self.resolve_config(config, spec, device)
        lo, hi = spec.value_range
        kind = self.likelihood = config.likelihood
        self.discrete_likelihood = kind == "bernoulli" and config.binarize
        self.latent_dim = config.latent_dim
        # Gaussian data is modelled in [-1, 1]-scaled units; log_prob adds back the Jacobian
        self.register_buffer("centre", torch.tensor((lo + hi) / 2.0))
        self.register_buffer("half_range", torch.tensor(max((hi - lo) / 2.0, 1e-6)))
        out_per_dim = 2 if kind == "gaussian" else 1
        arch = config.arch
        if arch == "conv" and spec.kind != "image":
            raise ValueError("arch=conv needs image data; use arch=mlp for vectors")
        self.arch = arch
        d = spec.dim
        if arch == "conv":
            self.encoder = ConvEncoder(spec.shape, config.width, 2 * config.latent_dim)
            self.decoder = ConvDecoder(self.encoder, config.latent_dim, spec.shape[0] * out_per_dim, config.width)
        else:
            hidden = [config.hidden] * config.hidden_layers
            self.encoder = _mlp([d, *hidden, 2 * config.latent_dim])
            self.decoder = _mlp([config.latent_dim, *hidden, d * out_per_dim])
        self.opt = adam(self.parameters(), lr=config.lr)
        # the ex-post prior: the last CODES posterior means seen in training (not checkpointed:
        # training refills it), and the mixture fitted to them (checkpointed, so a loaded run
        # samples as it did)
        k, dim = config.prior_components, config.latent_dim
        self.register_buffer("codes", torch.zeros(CODES, dim), persistent=False)
        self.codes_seen = 0  # codes written since the model was built or loaded
        self.register_buffer("prior_weights", torch.zeros(k))  # all zero: not fitted yet
        self.register_buffer("prior_means", torch.zeros(k, dim))
        self.register_buffer("prior_scale_tril", torch.eye(dim).expand(k, dim, dim).clone())
        self.prior_fitted_at = 0  # codes_seen when the mixture was fitted

    # -- pieces ----------------------------------------------------------------------------

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.likelihood == "gaussian":
            x = (x - self.centre) / self.half_range
        return x if self.arch == "conv" else x.flatten(1)

    def _posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(self._prepare(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def _decoder_out(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Bernoulli: (logits, None); Gaussian: (mean, log_scale), in scaled units, flat (N, D)."""
        out = self.decoder(z).reshape(len(z), -1)
        if self.likelihood == "bernoulli":
            return out, None
        mean, log_scale = out.chunk(2, dim=1) if self.arch == "mlp" else _split_channels(out, self.spec.shape)
        return mean, log_scale.clamp(-7.0, 3.0)

    def _log_likelihood(self, x: torch.Tensor, z: torch.Tensor, density: bool = False) -> torch.Tensor:
        """log p(x|z) per example, nats, in data units. ``density``: a Bernoulli likelihood of
        grey levels gets the continuous Bernoulli's normaliser (see the module's docstring)."""
        first, log_scale = self._decoder_out(z)
        target = self._prepare(x).reshape(len(x), -1)
        if log_scale is None:
            ll = -F.binary_cross_entropy_with_logits(first, target, reduction="none")
            if density and not self.discrete_likelihood:
                ll = ll + _log_continuous_bernoulli_norm(first)
            return ll.sum(1)
        ll = -0.5 * (((target - first) / log_scale.exp()) ** 2 + 2 * log_scale + LOG_2PI).sum(1)
        return ll - target.shape[1] * torch.log(self.half_range)

    def _binarize(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.bernoulli(x, generator=generator) if self.config.binarize else x

    def _elbo_terms(
        self, x: torch.Tensor, density: bool = False, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(log-likelihood, KL, and with ``density`` the log-likelihood as a density), each per
        example in nats, with one reparameterised sample; then the posterior means."""
        mu, logvar = self._posterior(x)
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + noise * (0.5 * logvar).exp()
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)  # Kingma and Welling 2014, appendix B
        ll = self._log_likelihood(x, z)
        dense = None
        if density:
            grey = self.likelihood == "bernoulli" and not self.discrete_likelihood
            dense = ll + _log_continuous_bernoulli_norm(self._decoder_out(z)[0]).sum(1) if grey else ll
        return ll, kl, dense, mu

    # -- the contract ------------------------------------------------------------------------

    def kl_weight(self) -> float:
        if self.config.warmup_steps <= 0:
            return self.config.beta
        return self.config.beta * min(1.0, self.step / self.config.warmup_steps)

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self.config.lr_decay == "cosine":
            for group in self.opt.param_groups:
                group["lr"] = self.config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, self.progress)))
        x = self._binarize(batch.x)
        ll, kl, _, mu = self._elbo_terms(x)
        if self.config.prior == "ex-post":
            at = self.codes_seen % CODES
            self.codes[at : at + len(mu)] = mu.detach()[: CODES - at]
            self.codes_seen += min(len(mu), CODES - at)
        recon, kl = -ll.mean(), kl.mean()
        loss = recon + self.kl_weight() * kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1  # the host sets it before each step; this keeps a bare loop on schedule
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    def evaluate(self, batch: Batch) -> dict[str, float]:
        """Validation figures, nats per example, from a fixed seed: ``nelbo``, -ELBO on the scale
        of ``log_prob`` (grey levels: with the continuous Bernoulli's normaliser), so that
        -nelbo <= log_prob up to Monte Carlo noise (Burda et al. 2016, theorem 1); ``loss``,
        ``recon`` and ``kl``, the training loss and its terms, as ``train_step`` reports them
        (grey levels: recon is the Bernoulli cross-entropy, not a density), so that ``val/loss``
        reads against ``loss`` for overfitting."""
        g = torch.Generator(device=batch.x.device).manual_seed(0)
        x = self._binarize(batch.x, g)
        ll, kl, dense, _ = self._elbo_terms(x, density=True, generator=g)
        recon, kl_mean = float(-ll.mean()), float(kl.mean())
        return {
            "nelbo": float((kl - dense).mean()),
            "loss": recon + self.kl_weight() * kl_mean,
            "recon": recon,
            "kl": kl_mean,
        }

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior means (N, latent_dim)."""
        return self._posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Means of p(x|z) in data space, shaped like the data."""
        first, _ = self._decoder_out(z)
        x = torch.sigmoid(first) if self.likelihood == "bernoulli" else first * self.half_range + self.centre
        return x.reshape(len(z), *self.spec.shape)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, latent_dim) codes: from the ex-post mixture once one is fitted (see the module's
        docstring), else from N(0, I); all randomness from ``generator``."""
        device = self.centre.device
        eps = torch.randn(n, self.latent_dim, generator=generator, device=device)
        if self.config.prior == "ex-post":
            self._fit_prior_if_stale()
        if self.config.prior == "normal" or float(self.prior_weights.sum()) == 0.0:
            return eps
        comp = torch.multinomial(self.prior_weights, n, replacement=True, generator=generator)
        return self.prior_means[comp] + (self.prior_scale_tril[comp] @ eps.unsqueeze(-1)).squeeze(-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode(self.sample_latent(n, generator))

    @torch.no_grad()
    def _fit_prior_if_stale(self) -> None:
        """Fit the ex-post mixture to the codes collected since the model was built or loaded,
        when there are new ones and enough of them (a loaded run keeps its saved mixture)."""
        n = min(self.codes_seen, CODES)
        if self.codes_seen == self.prior_fitted_at or n < MIN_CODES:
            return
        # a few EM steps at a time, from the last fit once there is one: the codes move little
        # between two grids, and the mixture converges over successive grids. Fits to
        # convergence took 0.2 to 0.9 s a grid on one thread, and since the loop gives grids 1%
        # of the run's time, a run of 600 steps showed 3 grids instead of 11
        fitted = float(self.prior_weights.sum()) > 0.0
        start = (self.prior_weights.cpu(), self.prior_means.cpu(), self.prior_scale_tril.cpu()) if fitted else None
        weights, means, tril = fit_gaussian_mixture(
            self.codes[:n:FIT_STRIDE].double().cpu(), self.config.prior_components, start=start, iters=FIT_ITERS
        )
        self.prior_weights.copy_(weights)
        self.prior_means.copy_(means)
        self.prior_scale_tril.copy_(tril)
        self.prior_fitted_at = self.codes_seen

    def checkpoint_state(self) -> dict:
        if self.config.prior == "ex-post":
            self._fit_prior_if_stale()  # a checkpoint's mixture belongs to its weights
        return super().checkpoint_state()

    def load_checkpoint_state(self, state: dict) -> None:
        module = dict(state["module"])
        for key in ("prior_weights", "prior_means", "prior_scale_tril"):  # checkpoints from before the ex-post prior
            module.setdefault(key, getattr(self, key))
        super().load_checkpoint_state({**state, "module": module})

    def log_prob(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """Importance-weighted estimate of log p(x), nats per example (N,); a lower bound that
        tightens as K grows (Burda et al. 2016). A density over grey levels, a mass over
        binary pixels with ``binarize``."""
        k = k or self.config.iw_samples
        out = []
        chunk = max(1, 4096 // k)
        for xs in x.split(chunk):
            mu, logvar = self._posterior(xs)
            std = (0.5 * logvar).exp()
            eps = torch.randn(k, *mu.shape, device=mu.device)
            z = (mu + eps * std).reshape(-1, self.latent_dim)  # (k * n, latent)
            xk = xs.unsqueeze(0).expand(k, *xs.shape).reshape(-1, *xs.shape[1:])
            log_px_z = self._log_likelihood(xk, z, density=True).view(k, -1)
            log_pz = -0.5 * (eps * std + mu).pow(2).sum(-1) - 0.5 * self.latent_dim * LOG_2PI
            log_qz = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)
            out.append(torch.logsumexp(log_px_z + log_pz - log_qz, 0) - math.log(k))
        return torch.cat(out)

    def likelihood_protocol(self) -> dict:
        """How ``log_prob`` is computed, for the likelihood ledger."""
        k = self.config.iw_samples
        pixels = "binary" if self.discrete_likelihood else "continuous"
        what = "continuous Bernoulli density" if self.likelihood == "bernoulli" and pixels == "continuous" else ""
        return {
            "pixels": pixels,
            **({"binarize": "stochastic"} if pixels == "binary" else {}),
            "estimator": f"importance-weighted bound (Burda et al. 2016, eq. 8), K = {k}"
            + (f", {what}" if what else "")
            + "; a lower bound on log p under the N(0, I) prior it was trained with"
            + ("; samples decode codes from the ex-post mixture" if self.config.prior == "ex-post" else ""),
            "k": k,
        }

    def load_extra_state(self, state: dict) -> None:
        if "steps_done" in state:  # checkpoints before the host kept the step count
            self.step = int(state["steps_done"])


def fit_gaussian_mixture(
    x: torch.Tensor,
    k: int,
    iters: int = 100,
    tol: float = 1e-4,
    reg: float = 1e-4,
    start: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A K-component Gaussian mixture fitted to ``x`` (N, D) by expectation-maximisation
    (Dempster et al. 1977), started from ``start`` (an earlier fit: weights, means, Cholesky
    factors) or else from K distinct points chosen from a fixed seed, with ``reg`` added to
    each covariance's diagonal, until the mean log-likelihood gains less than ``tol`` nats.
    Covariances are full up to 64 dimensions and diagonal beyond. Returns (weights (K,),
    means (K, D), Cholesky factors (K, D, D)) in the dtype of ``x``; deterministic, and draws
    nothing from torch's global random stream."""
    n, d = x.shape
    full = d <= 64
    eye = torch.eye(d, dtype=x.dtype)
    if start is not None:
        weights, means, tril = (t.to(x.dtype) for t in start)
        covs = tril @ tril.transpose(1, 2)
        k = len(weights)
    else:
        k = min(k, n)
        means = x[torch.randperm(n, generator=torch.Generator().manual_seed(0))[:k]].clone()
        covs = (torch.cov(x.T) if full else torch.diag(x.var(0))).expand(k, d, d) + reg * eye
        weights = torch.full((k,), 1.0 / k, dtype=x.dtype)
    last = -math.inf
    for _ in range(iters):
        diff = x.unsqueeze(0) - means.unsqueeze(1)  # (K, N, D)
        if full:  # log N(x; m, L L^T) = -|L^-1 (x - m)|^2 / 2 - log det L - D log(2 pi) / 2
            tril = torch.linalg.cholesky(covs)
            white = diff @ torch.linalg.inv(tril).transpose(1, 2)
            log_det = tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        else:
            var = covs.diagonal(dim1=-2, dim2=-1)
            white, log_det = diff / var.sqrt().unsqueeze(1), 0.5 * var.log().sum(-1)
        log_r = -0.5 * white.square().sum(-1) - (log_det + 0.5 * d * LOG_2PI - weights.log()).unsqueeze(1)
        ll = torch.logsumexp(log_r, 0)  # (N,)
        r = (log_r - ll).exp()  # responsibilities (K, N)
        nk = r.sum(1) + 1e-10
        weights, means = nk / n, (r @ x) / nk[:, None]
        diff = x.unsqueeze(0) - means.unsqueeze(1)
        if full:
            covs = (r.unsqueeze(-1) * diff).transpose(1, 2) @ diff / nk[:, None, None] + reg * eye
        else:
            covs = torch.diag_embed((r.unsqueeze(-1) * diff.square()).sum(1) / nk[:, None]) + reg * eye
        mean_ll = float(ll.mean())
        if mean_ll - last < tol:
            break
        last = mean_ll
    return weights, means, torch.linalg.cholesky(covs)


def _log_continuous_bernoulli_norm(logits: torch.Tensor) -> torch.Tensor:
    """log C(l), C(l) = l / tanh(l / 2): the continuous Bernoulli's normaliser, from logits
    (Loaiza-Ganem and Cunningham 2019, eq. 7, with 1 - 2 sigmoid(l) = -tanh(l / 2)); even in l,
    2 at l = 0, where the Taylor series 2 + l^2 / 6 stands in for 0 / 0. Not
    torch.distributions.ContinuousBernoulli's: it works from probabilities clamped in float32,
    so beyond |l| of about 16 it stays at log 15.9 (at l = 30: 2.77 against 3.40), and a
    decoder's background pixels sit out there."""
    small = logits.abs() < 1e-3
    safe = torch.where(small, torch.ones_like(logits), logits)
    return torch.where(small, 2.0 + logits.square() / 6.0, safe / torch.tanh(safe / 2.0)).log()


def _split_channels(out: torch.Tensor, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """A conv decoder's (N, 2C*H*W) output -> mean and log-scale, each (N, C*H*W)."""
    c = shape[0]
    both = out.view(len(out), 2 * c, -1)
    return both[:, :c].reshape(len(out), -1), both[:, c:].reshape(len(out), -1)
