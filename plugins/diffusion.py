"""Denoising diffusion probabilistic models (Ho et al. 2020) with DDIM sampling (Song et al. 2021).

The forward process adds Gaussian noise over T steps; in closed form (Ho et al. 2020, eq. 4)

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),   abar_t = prod_{s<=t} (1 - beta_s).

A network eps_theta(x_t, t) predicts the noise, trained on L_simple (Ho et al. 2020, eq. 14):

    L_simple = E_{t, x_0, eps} || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2

(here the mean over dimensions, t uniform). Schedules: ``linear`` betas from 1e-4 to 0.02 at
T = 1000, rescaled by 1000 / T for other T (Ho et al. 2020, Section 4; Nichol and Dhariwal
2021, Section 3), or ``cosine``, abar_t = f(t) / f(0), f(t) = cos^2((t/T + s) / (1 + s) pi/2),
s = 0.008, betas clipped at 0.999 (Nichol and Dhariwal 2021, eq. 17).

Sampling walks ``sample_steps`` evenly spaced timesteps from T down to 1 (respacing, Nichol and
Dhariwal 2021, Section 4). ``ddim`` uses Song et al. (2021, eq. 12) with ``eta`` (0:
deterministic given x_T); ``ddpm`` draws from the posterior q(x_prev | x_t, x0_hat) of the
respaced chain (Ho et al. 2020, eq. 6-7), which is DDIM with eta = 1; with ``sample_steps`` = T
it is Ho et al.'s ancestral sampler with sigma_t^2 = beta_tilde_t. Predictions of x_0 are
clipped to the data's range (``clip_denoised``), as in Ho et al.'s code.

Data: images in [0, 1] are modelled as 2x - 1 in [-1, 1]; vectors are scaled affinely from
``spec.value_range`` to [-1, 1]. Images use a small U-Net (Ronneberger et al. 2015, as in Ho et
al. 2020, Appendix B: residual blocks, sinusoidal time embedding, self-attention at the lowest
resolution); vectors an MLP of the point and the time embedding. Samples come from an
exponential moving average of the weights (``ema_decay``; Ho et al. 2020, Appendix B).

Likelihood (images): ``log_prob`` is minus the variational bound of Ho et al. (2020, eq. 5),

    L = KL(q(x_T|x_0) || N(0, I)) + sum_{t=2..T} KL(q(x_{t-1}|x_t, x_0) || p(x_{t-1}|x_t)) - log p(x_0|x_1),

a lower bound on the log-MASS of the 256-level image (``discrete_likelihood``): p(x_0|x_1) is
the discretised Gaussian decoder of Ho et al. (2020, eq. 13), bins of width 2/255 in [-1, 1]
with open outer bins; p(x_{t-1}|x_t) = N(mu(x_t, x0_hat), sigma_t^2) with the posterior mean
of the predicted x0 (clipped like the sampler's) and sigma_t^2 = beta_tilde_t, except at the
last step where beta_tilde_1 = 0 is replaced by beta_tilde_2, as Nichol and Dhariwal 2021's code
("fixedsmall") does; bits per dimension are L / (D ln 2) as they compute them. The sum over t
is estimated from ``vlb_timesteps`` stratified timesteps per example (unbiased; exact when it
is T - 1), with noise from a fixed seed so a model scores the same images the same way.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import itertools
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.api import Batch, DataSpec, TorchModel, adam
from genstudio_plugins.families.diffusion import FAMILY, DiffusionConfig

# --------------------------------------------------------------------------------------
# Schedules and the reverse-step identities


def make_betas(schedule: str, timesteps: int) -> torch.Tensor:
    """betas (T,) float64 in (0, 1) for the ``linear`` or ``cosine`` schedule."""
    if schedule == "linear":
        scale = 1000.0 / timesteps  # the same end points of abar at any T
        return torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), timesteps, dtype=torch.float64)
    if schedule == "cosine":
        s = 0.008
        t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        return (1 - f[1:] / f[:-1]).clamp(max=0.999)
    raise ValueError(f"unknown schedule {schedule!r}")


def ddim_step(x_t, x0, abar_t, abar_prev, eta: float, noise):
    """x_prev from x_t and a prediction x0 (Song et al. 2021, eq. 12, with sigma from eq. 16):

    x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps_hat + sigma noise,
    sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev),

    eps_hat = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t), the noise that x0 implies. ``noise`` may
    be None when sigma = 0."""
    eps = (x_t - abar_t.sqrt() * x0) / (1 - abar_t).sqrt()
    sigma = eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).sqrt()
    out = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma**2).clamp(min=0).sqrt() * eps
    return out if noise is None else out + sigma * noise


def ddpm_step(x_t, x0, abar_t, abar_prev, noise):
    """x_prev ~ q(x_prev | x_t, x0), the forward process's posterior (Ho et al. 2020, eq. 6-7)
    for the step from t to prev, whose beta is 1 - abar_t / abar_prev:

    mean = sqrt(abar_prev) beta / (1 - abar_t) x0 + sqrt(1 - beta) (1 - abar_prev) / (1 - abar_t) x_t,
    variance = beta_tilde = (1 - abar_prev) / (1 - abar_t) beta."""
    beta = 1 - abar_t / abar_prev
    mean = abar_prev.sqrt() * beta / (1 - abar_t) * x0 + (1 - beta).sqrt() * (1 - abar_prev) / (1 - abar_t) * x_t
    return mean if noise is None else mean + ((1 - abar_prev) / (1 - abar_t) * beta).sqrt() * noise


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (N,) -> (N, dim) of Vaswani et al. (2017, Section 3.5), as in Ho et al. (2020)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], 1)


# --------------------------------------------------------------------------------------
# Networks: eps_theta(x_t, t)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)


class ResBlock(nn.Module):
    """GroupNorm, SiLU, conv, + time embedding, GroupNorm, SiLU, dropout, conv, + skip (Ho et al. 2020, App. B)."""

    def __init__(self, cin: int, cout: int, tdim: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2, self.drop = _norm(cout), nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as its skip path
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head self-attention over the pixels, residual (Ho et al. 2020, App. B)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).transpose(-1, -2).unbind(1)
        a = F.scaled_dot_product_attention(q, k, v)  # (n, hw, c)
        return x + self.out(a.transpose(-1, -2).reshape(n, c, h, w))


class UNet(nn.Module):
    """(N, C, H, W), timesteps (N,) -> (N, C, H, W). One residual block per level; stride-2
    convolutions halve the size (rounding up) while it is at least 8, at most twice, so 28 ->
    14 -> 7 and 8 -> 4; upsampling goes back to each skip's exact size, so odd sizes work."""

    def __init__(self, shape: tuple[int, ...], width: int, attention: bool, dropout: float, timesteps: int):
        super().__init__()
        c, h, w = shape
        downs = 0
        while downs < 2 and min(h, w) >= 8:
            h, w, downs = (h + 1) // 2, (w + 1) // 2, downs + 1
        chans = [width * min(2**i, 2) for i in range(downs + 1)]
        tdim = 4 * width
        self.time_scale = 1000.0 / timesteps  # embeddings see t in [0, 1000) whatever T is
        self.width = width
        self.time = nn.Sequential(nn.Linear(width, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.inc = nn.Conv2d(c, width, 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsample = nn.ModuleList()
        ch = width
        for i, cout in enumerate(chans):
            self.down_blocks.append(ResBlock(ch, cout, tdim, dropout))
            ch = cout
            if i < downs:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        self.mid1 = ResBlock(ch, ch, tdim, dropout)
        self.attn = Attention(ch) if attention else nn.Identity()
        self.mid2 = ResBlock(ch, ch, tdim, dropout)
        self.up_blocks = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(chans))):
            self.up_blocks.append(ResBlock(ch + chans[i], chans[i], tdim, dropout))
            ch = chans[i]
            if i > 0:
                self.upsample.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.out = nn.Sequential(_norm(ch), nn.SiLU(), nn.Conv2d(ch, c, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time(timestep_embedding(t * self.time_scale, self.width))
        h = self.inc(x)
        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h, temb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid2(self.attn(self.mid1(h, temb)), temb)
        for j, block in enumerate(self.up_blocks):
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = self.upsample[j - 1](F.interpolate(h, size=skip.shape[-2:], mode="nearest"))
            h = block(torch.cat([h, skip], 1), temb)
        return self.out(h)


class MLPDenoiser(nn.Module):
    """(N, D), timesteps (N,) -> (N, D): an MLP of the point and its time embedding, which each
    hidden layer sees again (a point's denoising direction depends strongly on t)."""

    def __init__(self, dim: int, hidden: int, layers: int, timesteps: int):
        super().__init__()
        self.time_scale = 1000.0 / timesteps
        self.tdim = 64
        self.inp = nn.Linear(dim + self.tdim, hidden)
        self.hidden = nn.ModuleList([nn.Linear(hidden + self.tdim, hidden) for _ in range(layers - 1)])
        self.out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = timestep_embedding(t * self.time_scale, self.tdim)
        h = F.silu(self.inp(torch.cat([x, temb], 1)))
        for layer in self.hidden:
            h = F.silu(layer(torch.cat([h, temb], 1)))
        return self.out(h)


# --------------------------------------------------------------------------------------
# The family


class Diffusion(TorchModel, family=FAMILY):
    """DDPM trained on L_simple, sampled by DDIM or ancestral DDPM over respaced timesteps."""

    @classmethod
    def resolve_config(cls, config: DiffusionConfig, spec: DataSpec, device) -> DiffusionConfig:
        """``width`` 0: 16 channels on a CPU, 32 on an accelerator (see the field's comment)."""
        if config.width == 0:
            return dataclasses.replace(config, width=16 if torch.device(device).type == "cpu" else 32)
        return config

    def __init__(self, spec: DataSpec, config: DiffusionConfig, device="cpu"):
        super().__init__(spec, config, device)
        if config.width == 0:  # built without the host (which resolves it): as on this device
            config = self.config = self.resolve_config(config, spec, device)
        self.image = spec.kind == "image"
        # log_prob is a bound on the mass of the 256-level image (see the module docstring)
        self.discrete_likelihood = self.image
        abar = torch.cumprod(1 - make_betas(config.schedule, config.timesteps), 0)
        self.register_buffer("abar64", abar, persistent=False)
        # derived from the config, so not part of checkpoints; float32 for devices without float64 (MPS)
        self.register_buffer("abar", abar.float(), persistent=False)
        if self.image:
            lo, hi = 0.0, 1.0
            self.net = UNet(spec.shape, config.width, config.attention, config.dropout, config.timesteps)
        else:
            lo, hi = spec.value_range
            self.net = MLPDenoiser(spec.dim, config.hidden, config.hidden_layers, config.timesteps)
        self.register_buffer("centre", torch.tensor((lo + hi) / 2.0), persistent=False)
        self.register_buffer("half_range", torch.tensor(max((hi - lo) / 2.0, 1e-6)), persistent=False)
        self.ema = None
        if config.ema_decay > 0:
            self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.opt = adam(self.net.parameters(), lr=config.lr)

    # -- data space <-> model space -----------------------------------------------------------

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Data (images in [0, 1], vectors in value_range) -> [-1, 1]."""
        return (x - self.centre) / self.half_range

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Model space -> data space; images clamped to [0, 1]."""
        x = x * self.half_range + self.centre
        return x.clamp(0.0, 1.0) if self.image else x

    # -- training -----------------------------------------------------------------------------

    def _loss(self, net: nn.Module, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """L_simple (Ho et al. 2020, eq. 14), the mean over examples and dimensions."""
        x0 = self.to_model(x)
        t = torch.randint(0, self.config.timesteps, (len(x0),), generator=generator, device=x0.device)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        ab = self.abar[t].to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps  # q(x_t | x_0), Ho et al. 2020, eq. 4
        return F.mse_loss(net(x_t, t), eps)

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        loss = self._loss(self.net, batch.x)
        lr = self.config.lr * min(1.0, (self.step + 1) / max(1, self.config.warmup_steps))
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.config.grad_clip)
        self.opt.step()
        self.step += 1  # the host sets it before each step; this keeps a bare loop on schedule
        if self.ema is not None:
            # early on the average would mostly remember the random initialisation
            decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
            with torch.no_grad():
                for p_ema, p in zip(self.ema.parameters(), self.net.parameters()):
                    p_ema.lerp_(p, 1 - decay)
        return {"loss": loss.detach()}

    def evaluate(self, batch: Batch) -> dict[str, float]:
        """Validation L_simple of the sampling network (the EMA when on), with t and the noise
        drawn from a fixed seed, so values are comparable across steps."""
        g = torch.Generator(device=batch.x.device).manual_seed(0)
        return {"loss": float(self._loss(self.sampling_net, batch.x, g))}

    # -- sampling -----------------------------------------------------------------------------

    @property
    def sampling_net(self) -> nn.Module:
        return self.ema if self.ema is not None else self.net

    def sample_timesteps(self) -> list[int]:
        """The timesteps the sampler visits, descending from T - 1 to 0 (0-based: index t is
        Ho et al.'s t + 1), ``sample_steps`` of them (fewer if T is smaller), evenly spaced or,
        with ``spacing`` quadratic, at t = (T - 1) s^2 for evenly spaced s in [0, 1]."""
        t_max = self.config.timesteps - 1
        n = min(self.config.sample_steps, self.config.timesteps)
        if n <= 1:
            return [t_max]
        s = torch.linspace(1, 0, n, dtype=torch.float64)
        steps = (t_max * (s.square() if self.config.spacing == "quadratic" else s)).round().long().tolist()
        return list(dict.fromkeys(steps))

    def predict_x0(self, x_t: torch.Tensor, t: int) -> torch.Tensor:
        """x0_hat = (x_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t) (Ho et al. 2020, eq. 15)."""
        tt = torch.full((len(x_t),), t, device=x_t.device, dtype=torch.long)
        eps = self.sampling_net(x_t, tt)
        ab = self.abar[t].to(x_t.dtype)
        x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
        if self.config.clip_denoised:
            # at t ~ T (cosine: abar ~ 1e-9) dividing by sqrt(abar) magnifies any error in eps
            x0 = x0.clamp(-1.0, 1.0)
        return x0

    def reverse_step(
        self, x_t: torch.Tensor, t: int, t_prev: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One step of the reverse process from timestep t to t_prev (-1: the data)."""
        ab_t = self.abar[t].to(x_t.dtype)
        ab_prev = self.abar[t_prev].to(x_t.dtype) if t_prev >= 0 else torch.ones_like(ab_t)
        x0 = self.predict_x0(x_t, t)
        eta = 1.0 if self.config.sampler == "ddpm" else self.config.eta
        noise = None
        if eta > 0 and t_prev >= 0:
            noise = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
        if self.config.sampler == "ddpm":
            return ddpm_step(x_t, x0, ab_t, ab_prev, noise)
        return ddim_step(x_t, x0, ab_t, ab_prev, eta, noise)

    @torch.no_grad()
    def _reverse(self, n: int, generator: torch.Generator | None) -> Iterator[torch.Tensor]:
        """x_T ~ N(0, I), then each x_t down to x_0, in model space (n, *spec.shape)."""
        x = torch.randn(n, *self.spec.shape, generator=generator, device=self.centre.device)
        yield x
        steps = self.sample_timesteps()
        for t, t_prev in zip(steps, [*steps[1:], -1]):
            x = self.reverse_step(x, t, t_prev, generator)
            yield x

    def sample_chain(
        self, n: int, generator: torch.Generator | None = None, max_frames: int = 101
    ) -> Iterator[torch.Tensor]:
        """The reverse process from x_T to x_0, each frame ``(n, *spec.shape)`` in data space:
        x_t itself mapped back to data units (images clamped to [0, 1], so the first frame is
        clipped noise). All ``len(sample_timesteps()) + 1`` states when they are at most
        ``max_frames``, else every k-th so that at most ``max_frames`` come (a viewer need not
        hold 1,001 frames of a full DDPM chain). The first frame is x_T and the last is
        ``sample()``'s output for the same generator state."""
        total = len(self.sample_timesteps())  # states 0 (x_T) .. total (x_0)
        stride = max(1, math.ceil(total / max(1, max_frames - 1)))
        for i, x in enumerate(self._reverse(n, generator)):
            if i % stride == 0 or i == total:
                yield self.to_data(x)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, *spec.shape)`` samples in data space (images in [0, 1])."""
        last = collections.deque(self._reverse(n, generator), maxlen=1)[0]
        return self.to_data(last)

    # -- likelihood (images) -----------------------------------------------------------------

    @torch.no_grad()
    def vlb_terms(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The variational bound's parts for images ``x`` (N, C, H, W) in [0, 1], read as 256
        levels: ``prior`` (L_T), ``diffusion`` (the sum of the KL terms for t = 2..T, estimated
        from ``vlb_timesteps`` stratified timesteps) and ``decoder`` (L_0), each (N,) in nats.
        Vectors (N, D): the decoder is a Gaussian density, in data units (the scaling's
        log-Jacobian included), so the bound is on a density."""
        dt = torch.float64 if self.abar64.device.type != "mps" else torch.float32
        abar = self.abar64.to(dt)
        if self.image:
            x0 = (torch.round(x.clamp(0, 1) * 255.0) / 255.0 * 2.0 - 1.0).to(dt)
        else:
            x0 = self.to_model(x).to(dt)
        n, big_t = len(x0), self.config.timesteps

        def per_example(v: torch.Tensor) -> torch.Tensor:
            return v.flatten(1).sum(1)

        def noisy(i: int) -> torch.Tensor:
            """x_i ~ q(x_i | x_0) (0-based i: Ho's t = i + 1), noise from ``generator`` on the CPU."""
            noise = torch.randn(x0.shape, generator=generator, dtype=torch.float32).to(x0.device, dt)
            return abar[i].sqrt() * x0 + (1 - abar[i]).sqrt() * noise

        def x0_hat(x_t: torch.Tensor, i: int) -> torch.Tensor:
            return self.predict_x0(x_t.float(), i).to(dt)

        def posterior(x_start: torch.Tensor, x_t: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            """Mean and variance of q(x_{i-1} | x_i, x_0), 0-based i >= 1 (Ho et al. 2020, eq. 6-7)."""
            ab_t, ab_prev = abar[i], abar[i - 1]
            beta = 1 - ab_t / ab_prev
            mean = ab_prev.sqrt() * beta / (1 - ab_t) * x_start + (1 - beta).sqrt() * (1 - ab_prev) / (1 - ab_t) * x_t
            return mean, (1 - ab_prev) / (1 - ab_t) * beta

        def beta_tilde(i: int) -> torch.Tensor:
            return (1 - abar[i - 1]) / (1 - abar[i]) * (1 - abar[i] / abar[i - 1])

        # L_T: KL(N(sqrt(abar_T) x0, 1 - abar_T) || N(0, 1)), per dimension
        ab_last = abar[-1]
        prior = per_example(0.5 * (ab_last * x0.pow(2) + (1 - ab_last) - 1 - torch.log(1 - ab_last)))
        # the sum over 0-based i = 1..T-1 (Ho's t = 2..T): one uniform i per stratum, times its size
        diffusion = torch.zeros(n, dtype=dt, device=x0.device)
        k = min(self.config.vlb_timesteps, big_t - 1)
        edges = torch.linspace(1, big_t, k + 1, dtype=torch.float64).floor().long().tolist()
        for lo, hi in itertools.pairwise(edges):
            if hi <= lo:
                continue
            i = int(torch.randint(lo, hi, (1,), generator=generator))
            x_t = noisy(i)
            mean_q, var_q = posterior(x0, x_t, i)
            mean_p, _ = posterior(x0_hat(x_t, i), x_t, i)
            kl = (mean_q - mean_p).pow(2) / (2 * var_q)  # equal variances: only the means differ
            diffusion += (hi - lo) * per_example(kl)
        # L_0: -log p(x_0 | x_1) under the discretised Gaussian decoder (Ho et al. 2020, eq. 13),
        # mean x0_hat, variance beta_tilde of the next step ("fixedsmall": beta_tilde_1 is 0)
        std_1 = (beta_tilde(1) if big_t > 1 else 1 - abar[0]).sqrt()
        mean_1 = x0_hat(noisy(0), 0)
        if self.image:
            decoder = -per_example(_discretised_gaussian_log_mass(x0, mean_1, std_1))
        else:
            log_density = torch.distributions.Normal(mean_1, std_1).log_prob(x0)
            decoder = -per_example(log_density) + x0[0].numel() * torch.log(self.half_range.to(dt))
        return {"prior": prior, "diffusion": diffusion, "decoder": decoder}

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Minus the variational bound (nats per example, (N,)): a lower bound on log P of the
        256-level image x (N, C, H, W) in [0, 1] (rounded to the nearest level), or on the
        log-density of vectors (N, D). Noise and timesteps come from a fixed seed;
        ``sample_steps`` play no part."""
        g = torch.Generator().manual_seed(0)
        parts = self.vlb_terms(x, g)
        return -(parts["prior"] + parts["diffusion"] + parts["decoder"]).float()

    def likelihood_protocol(self) -> dict:
        """How ``log_prob`` is computed, for the likelihood ledger."""
        k = min(self.config.vlb_timesteps, self.config.timesteps - 1)
        terms = "all" if k >= self.config.timesteps - 1 else f"{k} stratified of {self.config.timesteps - 1}"
        return {
            "pixels": "levels" if self.image else "continuous",
            "estimator": "variational bound (Ho et al. 2020, eq. 5; bits/dim as Nichol and Dhariwal 2021): "
            f"discretised Gaussian decoder L_0, {terms} KL terms, prior L_T; a lower bound on log p",
            "vlb_timesteps": k,
        }

    # -- the denoiser, for restoration solvers (the `denoise` capability) ---------------------

    def noise_schedule(self) -> torch.Tensor:
        """abar_t ``(T,)`` for timestep indices 0..T-1: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
        in model space (see :meth:`to_model`)."""
        return self.abar

    @torch.no_grad()
    def denoise(self, x_t: torch.Tensor, t: int) -> torch.Tensor:
        """x0_hat ``(N, *spec.shape)`` in model space from x_t at timestep index t, by the
        sampling network (Ho et al. 2020, eq. 15)."""
        return self.predict_x0(x_t, int(t))

    def load_extra_state(self, state: dict) -> None:
        if "steps_done" in state:  # checkpoints before the host kept the step count
            self.step = int(state["steps_done"])


def _discretised_gaussian_log_mass(x0: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """log P(x0) per value under N(mean, std^2) integrated over x0's bin of width 2/255 in
    [-1, 1], the first and last bins open to -inf and +inf (Ho et al. 2020, eq. 13)."""
    normal = torch.distributions.Normal(mean, std)
    half = 1.0 / 255.0
    upper = torch.where(x0 > 1 - 1e-3, torch.ones_like(x0), normal.cdf(x0 + half))
    lower = torch.where(x0 < -1 + 1e-3, torch.zeros_like(x0), normal.cdf(x0 - half))
    mass = upper - lower
    # far in a tail both CDFs round to one value: there the density times the bin width
    approx = normal.log_prob(x0) + math.log(2 * half)
    return torch.where(mass > 1e-12, mass.clamp_min(1e-300).log(), approx)
