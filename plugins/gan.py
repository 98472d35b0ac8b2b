"""Generative adversarial networks (Goodfellow et al. 2014), DCGAN-style (Radford et al. 2016).

A generator G maps noise z ~ N(0, I) to data; a discriminator (critic) D scores how real an
example looks. Three losses, written with D's raw output d = D(x) (a logit or a score):

- ``ns``, non-saturating (Goodfellow et al. 2014, eq. 1 for D; section 3 for G's -log D trick):
      L_D = softplus(-d(x)) + softplus(d(G(z))),      L_G = softplus(-d(G(z)))
- ``hinge`` (Lim and Ye 2017; as used with spectral normalisation by Miyato et al. 2018):
      L_D = relu(1 - d(x)) + relu(1 + d(G(z))),        L_G = -d(G(z))
- ``wgan-gp``, Wasserstein with gradient penalty (Gulrajani et al. 2017, eq. 3):
      L_D = d(G(z)) - d(x) + lambda (||grad d(x_hat)||_2 - 1)^2,   x_hat = eps x + (1 - eps) G(z)
      L_G = -d(G(z))

One training step is one discriminator update on the step's batch; the generator is updated
on every ``n_critic``-th step (Gulrajani et al. 2017, algorithm 1: each critic iteration has its
own batch). Spectral normalisation of D (Miyato et al. 2018) is an option; samples come from an
exponential moving average of G's weights (Yazici et al. 2019), kept as a module so it is
checkpointed. Its batch-norm statistics are recomputed for the averaged weights before it
samples ("standing statistics", Brock et al. 2019, appendix C.1): the live generator's running
statistics belong to other weights, and a DCGAN's samples from the average blur or wash out
with them.

Defaults: with ``loss=wgan-gp`` the optimiser settings a user left at their declared defaults
(``n_critic``, ``lr_g``, ``lr_d``, ``beta1``, ``beta2``) become those of Gulrajani et al. 2017,
algorithm 1: 5 critic steps per generator step, Adam with lr 1e-4 and betas (0, 0.9). A value
equal to its declared default counts as not set, since a config does not say who wrote a
value; so wgan-gp with exactly the ns defaults (say n_critic 1) cannot be asked for, and any
other value is kept. ``resolve_config`` does this once when a run is prepared; the run records
and repeats the resolved values. With ``conditional`` the generator sees a one-hot class beside z, and the
discriminator either projects its features on a class embedding (Miyato and Koyama 2018, eq. 3)
or reads the one-hot concatenated to its input (Mirza and Osindero 2014).

Images use a DCGAN: transposed 5x5 convolutions (Radford et al.'s own code used 5x5) told each
output size, so odd sizes come out exact (7 -> 14 -> 28), batch norm in G; vectors use MLPs.
Networks work in [-1, 1]: images as 2x - 1 with a tanh output, vectors scaled by the data's
value range with a linear output. Everything the model returns is in data space.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genstudio.api import Batch, DataSpec, TorchModel, adam
from genstudio_plugins.families.gan import FAMILY, GANConfig

# Gulrajani et al. 2017, algorithm 1: n_critic = 5, alpha = 1e-4, beta1 = 0, beta2 = 0.9
WGAN_GP_DEFAULTS = {"n_critic": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9}
# generator batches that re-estimate the EMA generator's batch-norm statistics
STANDING_BATCHES, STANDING_BATCH_SIZE = 16, 64


def _mlp(sizes: list[int], act: type[nn.Module], sn: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(_sn(nn.Linear(a, b), sn))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(layer) if on else layer


def _sizes(h: int, w: int) -> list[tuple[int, int]]:
    """Full size, then halvings (rounding up) while the image is bigger than 7 pixels, at least
    one: 28 -> 14 -> 7, 8 -> 4, 7 -> 4, 32 -> 16 -> 8 -> 4, 64 -> ... -> 4."""
    sizes = [(h, w)]
    while len(sizes) == 1 or (min(h, w) > 7 and len(sizes) < 6):
        h, w = (h + 1) // 2, (w + 1) // 2
        sizes.append((h, w))
    return sizes


def _channels(width: int, level: int) -> int:
    return min(width * 2**level, width * 8)


class ConvGenerator(nn.Module):
    """(N, latent) -> (N, C, H, W) in [-1, 1]: project and reshape, then 5x5 stride-2 transposed
    convs with batch norm and ReLU, tanh at the end (Radford et al. 2016, fig. 1). At 1/2^l of
    the full size it has width * 2^l channels (at most 8 width): 28x28 at width 32 runs
    128 x 7 x 7 -> 64 x 14 x 14 -> 1 x 28 x 28."""

    def __init__(self, shape: tuple[int, ...], latent: int, width: int):
        super().__init__()
        self.sizes = _sizes(shape[1], shape[2])
        levels = len(self.sizes) - 1
        h, w = self.sizes[-1]
        self.start = (_channels(width, levels), h, w)
        self.fc = nn.Sequential(
            nn.Linear(latent, self.start[0] * h * w, bias=False), nn.BatchNorm1d(self.start[0] * h * w)
        )
        self.ups = nn.ModuleList()
        self.norms = nn.ModuleList()
        for level in range(levels, 0, -1):
            out = _channels(width, level - 1) if level > 1 else shape[0]
            self.ups.append(nn.ConvTranspose2d(_channels(width, level), out, 5, stride=2, padding=2, bias=level == 1))
            self.norms.append(nn.BatchNorm2d(out) if level > 1 else nn.Identity())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc(z)).view(-1, *self.start)
        for i, (up, norm, size) in enumerate(zip(self.ups, self.norms, reversed(self.sizes[:-1]))):
            x = norm(up(x, output_size=size))
            x = torch.tanh(x) if i == len(self.ups) - 1 else F.relu(x)
        return x


class ConvDiscriminator(nn.Module):
    """(N, C, H, W) in [-1, 1] -> features (N, F): 5x5 stride-2 convs down the generator's
    sizes, width * 2^(l-1) channels at 1/2^l of the full size, leaky ReLU (slope 0.2), batch
    norm after all but the first when ``norm`` (Radford et al. 2016)."""

    def __init__(self, shape: tuple[int, ...], width: int, in_extra: int, norm: bool, sn: bool):
        super().__init__()
        sizes = _sizes(shape[1], shape[2])
        layers: list[nn.Module] = []
        ch = shape[0] + in_extra
        for level in range(1, len(sizes)):
            out = _channels(width, level - 1)
            layers.append(_sn(nn.Conv2d(ch, out, 5, stride=2, padding=2, bias=not (norm and level > 1)), sn))
            if norm and level > 1:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2))
            ch = out
        self.net = nn.Sequential(*layers)
        h, w = sizes[-1]
        self.features = ch * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class Discriminator(nn.Module):
    """Features -> one raw score per example (N,), plus the class term when conditional."""

    def __init__(self, body: nn.Module, features: int, classes: int, mode: str, sn: bool):
        super().__init__()
        self.body, self.mode, self.classes = body, mode, classes
        self.head = _sn(nn.Linear(features, 1), sn)
        # projection discriminator (Miyato and Koyama 2018, eq. 3): d = psi(phi(x)) + <embed(y), phi(x)>
        self.embed = None
        if mode == "projection":
            embed = nn.Embedding(classes, features)
            # as a linear layer's weights: N(0, 1) entries would swamp the head over F features
            nn.init.uniform_(embed.weight, -(features**-0.5), features**-0.5)
            self.embed = _sn(embed, sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.mode == "concat":
            onehot = F.one_hot(y, self.classes).to(x.dtype)
            if x.dim() == 4:  # one constant plane per class (Mirza and Osindero 2014, for images)
                onehot = onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, onehot], 1)
        phi = self.body(x)
        out = self.head(phi).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * phi).sum(1)
        return out


class GAN(TorchModel, family=FAMILY):
    """Generator and discriminator trained adversarially; samples from the weight-averaged G.

    Training scalars, per step: ``loss_d`` and ``loss_g`` (the losses above, nats for ``ns``),
    ``grad_norm_d`` and ``grad_norm_g`` (L2 norms of the whole gradient before each update), and
    ``d_real`` and ``d_fake``, the means of D over a real and a generated batch: for ``ns`` the
    probability sigmoid(d) in [0, 1] that D calls the example real (0.5 each when G fools D),
    for ``hinge`` and ``wgan-gp`` the raw score (their gap is the critic's distance estimate).
    ``wgan-gp`` adds ``gp``, the gradient penalty before its weight.
    """

    def __init__(self, spec: DataSpec, config: GANConfig, device="cpu"):
        super().__init__(spec, config, device)
        self.num_classes = spec.num_classes if config.conditional != "none" else 0
        if config.conditional != "none" and spec.num_classes < 2:
            raise ValueError(
                f"conditional={config.conditional} needs labelled data with at least 2 classes; "
                f"{spec.source or 'this data'} has {'no labels' if spec.classes is None else 'one class'}"
            )
        arch = config.arch if config.arch != "auto" else _auto_arch(spec)
        if arch == "conv" and spec.kind != "image":
            raise ValueError("arch=conv needs image data; use arch=mlp for vectors")
        self.arch = arch
        # the latent the window explores is z and, when conditional, a one-hot class beside it:
        # interpolating it blends classes too
        self.noise_dim = config.latent_dim or (64 if spec.kind == "image" else min(64, 4 * spec.dim))
        self.latent_dim = self.noise_dim + self.num_classes
        lo, hi = (0.0, 1.0) if spec.kind == "image" else spec.value_range
        self.register_buffer("centre", torch.tensor((lo + hi) / 2.0))
        self.register_buffer("half_range", torch.tensor(max((hi - lo) / 2.0, 1e-6)))
        sn = config.spectral_norm
        # batch norm in D is the DCGAN recipe; the gradient penalty is per example, so wgan-gp
        # goes without (Gulrajani et al. 2017, section 4), and spectral norm replaces it
        d_norm = config.loss != "wgan-gp" and not sn
        extra = self.num_classes if config.conditional == "concat" else 0
        d = spec.dim
        if arch == "conv":
            self.G = ConvGenerator(spec.shape, self.latent_dim, config.width)
            body = ConvDiscriminator(spec.shape, config.width, extra, d_norm, sn)
            features = body.features
        else:
            hidden = [config.hidden] * config.hidden_layers
            self.G = _mlp([self.latent_dim, *hidden, d], nn.ReLU)
            body = nn.Sequential(_mlp([d + extra, *hidden], lambda: nn.LeakyReLU(0.2), sn), nn.LeakyReLU(0.2))
            features = config.hidden
        self.D = Discriminator(body, features, max(self.num_classes, 1), config.conditional, sn)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if config.ema_decay > 0 else None
        betas = (config.beta1, config.beta2)
        self.opt_g = adam(self.G.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = adam(self.D.parameters(), lr=config.lr_d, betas=betas)
        # fixed noise for the mode-collapse check, from its own seed: the run's random stream is untouched
        g = torch.Generator().manual_seed(12345)
        self.register_buffer("check_latent", self._latent(64, g), persistent=False)
        # steps in a row that D won (and did not win), counted on the device so a step needs no sync
        self.register_buffer("streak", torch.zeros((), dtype=torch.long), persistent=False)
        self.register_buffer("max_streak", torch.zeros((), dtype=torch.long), persistent=False)
        self.register_buffer("calm", torch.zeros((), dtype=torch.long), persistent=False)
        self.g_steps = 0
        self._ema_stats_stale = True
        self.warned_d_wins = False
        self.warned_collapse = False
        self.low_spread_checks = 0
        self.spread_checks = 0

    @classmethod
    def resolve_config(cls, config: GANConfig, spec: DataSpec, device) -> GANConfig:
        """``arch`` auto as the data says, the noise size for ``latent_dim`` 0, and with
        ``wgan-gp`` Gulrajani et al.'s optimiser settings for every one of them left at its
        declared default (see the module docstring)."""
        changes = {}
        if config.arch == "auto":
            changes["arch"] = _auto_arch(spec)
        if config.latent_dim == 0:
            changes["latent_dim"] = 64 if spec.kind == "image" else min(64, 4 * spec.dim)
        if config.loss == "wgan-gp":
            declared = {f.name: f.default for f in dataclasses.fields(GANConfig)}
            changes |= {k: v for k, v in WGAN_GP_DEFAULTS.items() if getattr(config, k) == declared[k]}
        return dataclasses.replace(config, **changes) if changes else config

    def train(self, mode: bool = True) -> GAN:
        super().train(mode)
        if self.G_ema is not None:
            self.G_ema.eval()  # the average is only ever used for inference
        return self

    # -- pieces ----------------------------------------------------------------------------

    def _latent(self, n: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
        """(n, latent_dim): z ~ N(0, I), then the one-hot class when conditional (uniform unless ``y``)."""
        device = self.centre.device
        z = torch.randn(n, self.noise_dim, generator=generator, device=device)
        if not self.num_classes:
            return z
        if y is None:
            y = torch.randint(0, self.num_classes, (n,), generator=generator, device=device)
        return torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1)

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.centre) / self.half_range
        return x if self.arch == "conv" else x.flatten(1)

    def _to_data(self, out: torch.Tensor) -> torch.Tensor:
        return (out * self.half_range + self.centre).reshape(len(out), *self.spec.shape)

    def _d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        if self.config.loss == "ns":
            return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()  # Goodfellow et al. 2014, eq. 1
        if self.config.loss == "hinge":
            return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()  # Lim and Ye 2017
        return d_fake.mean() - d_real.mean()  # Gulrajani et al. 2017, eq. 3 without the penalty

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """E[(||grad_x_hat D(x_hat)||_2 - 1)^2] on random interpolates (Gulrajani et al. 2017, eq. 3)."""
        eps = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.D(x_hat, y).sum(), x_hat, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    def _d_wins(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """Whether D wins outright on this batch (a 0-d bool tensor; no sync)."""
        if self.config.loss == "ns":  # D(x) > 0.99 and D(G(z)) < 0.01
            return (torch.sigmoid(d_real).mean() > 0.99) & (torch.sigmoid(d_fake).mean() < 0.01)
        if self.config.loss == "hinge":  # both margins met for 99% of the examples: L_D is ~0
            return ((d_real > 1).float().mean() > 0.99) & ((d_fake < -1).float().mean() > 0.99)
        # wgan-gp: the critic ranks every real example above every generated one
        return d_real.min() > d_fake.max()

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.G_ema is None:
            return
        # warm-up as in TensorFlow's ExponentialMovingAverage(num_updates): early weights are forgotten fast
        decay = min(self.config.ema_decay, (1 + self.g_steps) / (10 + self.g_steps))
        ema, live = list(self.G_ema.parameters()), list(self.G.parameters())
        torch._foreach_lerp_(ema, live, 1.0 - decay)
        self._ema_stats_stale = True

    @torch.no_grad()
    def _standing_stats(self) -> None:
        """Re-estimate G_ema's batch-norm statistics for its own weights: cumulative averages
        (momentum None) over generator batches in train mode, from a fixed seed so sampling
        draws nothing from the caller's random stream (Brock et al. 2019, appendix C.1)."""
        norms = [m for m in self.G_ema.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if norms:
            saved = [m.momentum for m in norms]
            for m in norms:
                m.reset_running_stats()
                m.momentum = None
            g = torch.Generator(device=self.centre.device).manual_seed(0)
            self.G_ema.train()
            for _ in range(STANDING_BATCHES):
                self.G_ema(self._latent(STANDING_BATCH_SIZE, g))
            self.G_ema.eval()
            for m, momentum in zip(norms, saved):
                m.momentum = momentum
        self._ema_stats_stale = False

    def _health(self, real: torch.Tensor) -> None:
        """Every ``health_every`` steps: warn once per episode that D wins, or that G collapsed.
        An episode ends when D has not won for ``patience`` steps in a row, or when G's spread
        was healthy at two checks in a row."""
        cfg = self.config
        longest, calm = (int(v) for v in torch.stack([self.max_streak, self.calm]).tolist())
        self.max_streak.copy_(self.streak)
        if longest >= cfg.patience and not self.warned_d_wins:
            what = {"ns": "D(x) > 0.99 and D(G(z)) < 0.01", "hinge": "both hinge margins met"}.get(
                cfg.loss, "every real score above every generated one"
            )
            self.warn(
                f"the discriminator wins outright ({what}) for {longest} steps in a row: the generator "
                "gets little gradient; try a lower lr_d, spectral_norm, or the hinge or wgan-gp loss"
            )
            self.warned_d_wins = True
        elif calm >= cfg.patience:
            self.warned_d_wins = False  # the episode is over; a new one may warn again
        # mode collapse: the spread of a fixed-noise batch against the spread of a real batch
        # (mean pairwise L2 distance, in the networks' [-1, 1] units), low at two checks in a row:
        # a fresh G maps all noise to a small region, and a healthy G can shrink for a moment
        was = self.G.training
        self.G.eval()
        with torch.no_grad():
            fake = self.G(self.check_latent).flatten(1)
        self.G.train(was)
        real = real.flatten(1)[: len(fake)]
        ratio = float(torch.pdist(fake).mean() / torch.pdist(real).mean().clamp_min(1e-8)) if len(real) > 1 else 1.0
        low = ratio < cfg.collapse_ratio
        self.low_spread_checks = self.low_spread_checks + 1 if low else 0
        self.spread_checks = 0 if low else self.spread_checks + 1
        if self.low_spread_checks >= 2 and self.step > 2 * cfg.health_every and not self.warned_collapse:
            self.warn(
                f"mode collapse: generated samples spread {ratio:.3f}x as much as real ones "
                f"(mean pairwise distance of {len(fake)} samples from fixed noise); try a lower lr_g, "
                "spectral_norm, or the wgan-gp loss"
            )
            self.warned_collapse = True
        elif self.spread_checks >= 2:
            self.warned_collapse = False

    # -- the contract ------------------------------------------------------------------------

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        cfg = self.config
        real = self._to_model(batch.x)
        y = batch.y if self.num_classes else None
        if self.num_classes and y is None:
            raise ValueError("conditional GAN: the batch carries no labels")
        n = len(real)
        # discriminator: fakes carry the batch's labels, so the penalty's interpolates have one
        with torch.no_grad():
            fake = self.G(self._latent(n, y=y))
        d_real, d_fake = self.D(real, y), self.D(fake, y)
        loss_d = self._d_loss(d_real, d_fake)
        out: dict[str, torch.Tensor] = {}
        if cfg.loss == "wgan-gp":
            gp = self._gradient_penalty(real, fake, y)
            loss_d = loss_d + cfg.gp_weight * gp
            out["gp"] = gp.detach()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        out["grad_norm_d"] = nn.utils.clip_grad_norm_(self.D.parameters(), float("inf"))
        self.opt_d.step()
        d_real, d_fake = d_real.detach(), d_fake.detach()
        prob = cfg.loss == "ns"
        out.update(
            loss_d=loss_d.detach(),
            d_real=torch.sigmoid(d_real).mean() if prob else d_real.mean(),
            d_fake=torch.sigmoid(d_fake).mean() if prob else d_fake.mean(),
        )
        wins = self._d_wins(d_real, d_fake)
        self.streak.add_(1).mul_(wins.long())
        self.calm.add_(1).mul_((~wins).long())
        torch.maximum(self.max_streak, self.streak, out=self.max_streak)
        done = self.step + 1  # self.step: steps before this one, set by the host
        # generator, every n_critic steps; D's weights are frozen so only G's gradients are computed
        if done % cfg.n_critic == 0:
            self.D.requires_grad_(False)
            d_gen = self.D(self.G(self._latent(n, y=y)), y)
            loss_g = F.softplus(-d_gen).mean() if prob else -d_gen.mean()  # -log D(G(z)): non-saturating
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            out["grad_norm_g"] = nn.utils.clip_grad_norm_(self.G.parameters(), float("inf"))
            self.opt_g.step()
            self.D.requires_grad_(True)
            self.g_steps += 1
            self._update_ema()
            out["loss_g"] = loss_g.detach()
        if done % cfg.health_every == 0:
            self._health(real)
        self.step = done  # the host sets it before each step; this keeps a bare loop on schedule
        return out

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes (N, latent_dim) -> samples in data space, shaped like the data (images
        in [0, 1]). When conditional, the last ``num_classes`` entries are the class (one-hot)."""
        g = self.G_ema if self.G_ema is not None else self.G
        if g is self.G_ema and self._ema_stats_stale:
            self._standing_stats()
        return self._to_data(g(z))

    @torch.no_grad()
    def critic(self, x: torch.Tensor) -> torch.Tensor:
        """The discriminator's raw score (N,) of data-space examples: higher is more like the
        training data. Conditional: the highest score over the classes."""
        h = self._to_model(x)
        if not self.num_classes:
            return self.D(h, None).reshape(-1)
        ys = [torch.full((len(x),), k, dtype=torch.long, device=x.device) for k in range(self.num_classes)]
        return torch.stack([self.D(h, y) for y in ys]).amax(0)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, latent_dim) from the prior: z ~ N(0, I), and a uniform one-hot class when conditional."""
        return self._latent(n, generator)

    def sample(self, n: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples shaped ``(n, *spec.shape)`` in data space; all randomness from ``generator``.
        Conditional models draw classes uniformly, or take ``y`` (n,) class indices."""
        return self.decode(self._latent(n, generator, y))

    def extra_state(self) -> dict:
        return {
            "g_steps": self.g_steps,
            "warned_d_wins": self.warned_d_wins,
            "warned_collapse": self.warned_collapse,
            "low_spread_checks": self.low_spread_checks,
            "spread_checks": self.spread_checks,
        }

    def load_extra_state(self, state: dict) -> None:
        if "steps_done" in state:  # checkpoints before the host kept the step count
            self.step = int(state["steps_done"])
        self._ema_stats_stale = True
        self.g_steps = int(state.get("g_steps", 0))
        self.warned_d_wins = bool(state.get("warned_d_wins", False))
        self.warned_collapse = bool(state.get("warned_collapse", False))
        self.low_spread_checks = int(state.get("low_spread_checks", 0))
        self.spread_checks = int(state.get("spread_checks", 0))


def _auto_arch(spec: DataSpec) -> str:
    return "conv" if spec.kind == "image" else "mlp"
