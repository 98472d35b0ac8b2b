"""Normalizing flows: exact likelihoods through an invertible map to a standard normal.

A flow is a bijection f from data x to a latent z of the same size whose base density is
N(0, I), so the log-density is exact by the change of variables (Dinh et al. 2017, eq. 3):

    log p(x) = log N(f(x); 0, I) + log |det df(x)/dx|

Images get a multi-scale flow in the manner of RealNVP (Dinh et al. 2017) and Glow (Kingma
and Dhariwal 2018): a logit preprocessing, then per level a squeeze (C, H, W) -> (4C, H/2,
W/2), ``steps_per_level`` steps of actnorm, invertible 1x1 convolution and affine coupling,
and a split that factors out half the channels under a learned conditional Gaussian. Vectors
get a neural spline flow (Durkan et al. 2019): rational-quadratic spline couplings, each
after an LU-decomposed invertible linear map (their "RQ-NSF (C)").

Dequantization. Pixels in [0, 1] are read as 256 levels: level k = round(255 x), and training
(and ``evaluate``) see y = (k + u) / 256 with u ~ U[0, 1)^D, so y covers the bin [k/256,
(k+1)/256) uniformly (Theis et al. 2016; Dinh et al. 2017, Section 4.1). ``log_prob(y)`` is
the flow's log-DENSITY on [0, 1]^D, in nats per example, including the logit Jacobian, at the
points it is given (no noise added): ``discrete_likelihood`` stays False, and bits per
dimension of the 256-level data follow as bpd = (nll + D ln 256) / (D ln 2), the bound
-log P(k) <= -E_u log p((k + u)/256) + D ln 256. ``train_step`` logs ``bpd`` that way on its
dequantized batch and ``evaluate`` on a dequantization with a fixed seed. Data with fewer
levels (``digits``: 17) is mapped to the nearest of the 256.

Vectors are scaled affinely from ``spec.value_range`` to [-3, 3] (the Jacobian is counted in
``log_prob``), inside the splines' interval [-tail_bound, tail_bound]; outside it every spline
is the identity (Durkan et al. 2019, Section 3.1, "linear tails").
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.api import Batch, ConfigError, DataSpec, Registry, TorchModel, adam, hookimpl, param

LOG_2PI = math.log(2 * math.pi)
LN_256 = math.log(256.0)
MAX_AUTO_LEVELS = 3


@dataclass
class FlowConfig:
    # images: 28x28 -> 14x14 -> 7x7 is two levels; 8x8 -> 4x4 -> 2x2 too
    levels: int = param(0, min=0, max=6, help="Image scales (squeeze, steps, split); 0: as the size allows, at most 3")
    # 8 steps of 64 channels: about 6 steps/s of 64 MNIST images on one CPU core (Glow: 32 steps of 512)
    steps_per_level: int = param(8, min=1, max=64, help="Image flow steps (actnorm, 1x1 conv, coupling) per level")
    hidden_channels: int = param(64, min=4, max=1024, help="Channels of each image coupling's network", tune=True)
    # RealNVP's alpha (Dinh et al. 2017, Section 4.1): keeps logit(x) finite at x = 0 and 1
    logit_alpha: float = param(0.05, min=1e-6, max=0.2, help="Images: model logit(alpha + (1 - 2 alpha) x)")
    # vectors: 8 layers of 8 bins come within 0.1 nats of 8gaussians' and moons' true NLL in ~15 s on one core
    layers: int = param(8, min=1, max=64, help="Vector flow: spline coupling layers")
    hidden: int = param(
        128, min=8, max=4096, help="Vector flow: units per hidden layer of each coupling's MLP", tune=True
    )
    bins: int = param(8, min=2, max=64, help="Vector flow: rational-quadratic spline bins K")
    tail_bound: float = param(4.0, min=1.0, max=100.0, help="Vector flow: splines act on [-B, B] (data in [-3, 3])")
    # T < 1 trades diversity for cleaner images (Kingma and Dhariwal 2018, Section 5.4): the
    # default for pictures (sample grids, `genstudio sample`) is 0.7; metrics always sample at
    # T = 1, by passing sample(..., temperature=1.0), since they measure the model's density
    temperature: float = param(
        0.0,
        min=0.0,
        max=2.0,
        help="Sampling: std of the base Gaussian for pictures (0: auto, 0.7 for images, 1 for vectors)",
    )
    lr: float = param(1e-3, min=1e-6, max=1.0, log=True, help="Adam learning rate", tune=True)
    # after the warm-up, cosine to 0 over the run (Loshchilov and Hutter 2017, without restarts)
    lr_decay: str = param(
        "cosine", choices=("none", "cosine"), help="Learning rate over the run: constant, or cosine to 0"
    )
    warmup_steps: int = param(100, min=0, max=1_000_000, help="Steps over which the learning rate grows from 0")
    # a batch that lands where a coupling's scale is steep must not throw the weights away
    grad_clip: float = param(50.0, min=0.0, max=1e6, help="Clip the gradient norm at this (0: off)")


# --------------------------------------------------------------------------------------
# Layers shared by both flows. Each maps x -> (y, log|det dy/dx| per example (N,)) and has
# an exact inverse.


class InvertibleLinear(nn.Module):
    """y = W x over axis 1 of (N, C) vectors or (N, C, H, W) images: Glow's invertible 1x1
    convolution, LU-decomposed as W = P L (U + diag(sign(s) exp(log|s|))) so that
    log|det| = H W sum log|s| (Kingma and Dhariwal 2018, eq. 10)."""

    def __init__(self, channels: int):
        super().__init__()
        w = torch.linalg.qr(torch.randn(channels, channels))[0]  # a random rotation
        p, lower, upper = torch.linalg.lu(w)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.lower = nn.Parameter(torch.tril(lower, -1))
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(s.abs().log())

    def weight(self) -> torch.Tensor:
        eye = torch.eye(len(self.log_s), dtype=self.log_s.dtype, device=self.log_s.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign_s * self.log_s.exp())
        return self.perm @ lower @ upper

    def _apply_matrix(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x @ w.T if x.dim() == 2 else F.conv2d(x, w[:, :, None, None])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = x[0, 0].numel()
        logdet = self.log_s.sum() * pixels
        return self._apply_matrix(x, self.weight()), logdet.expand(len(x))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return self._apply_matrix(y, torch.linalg.inv(self.weight()))


class ActNorm(nn.Module):
    """y = (x + bias) exp(log_scale) per channel (Kingma and Dhariwal 2018, Section 3.1).

    Initialised from the first batch seen in training mode, so that y has zero mean and unit
    variance per channel; the ``initialized`` buffer travels with checkpoints, so a resumed or
    reloaded model never initialises twice."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True)
        self.bias.copy_(-mean)
        # bounded: a channel that is constant over the first batch would get an enormous scale
        self.log_scale.copy_(-std.clamp(min=1e-2).log())
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialized):
            self._initialize(x)
        logdet = self.log_scale.sum() * x[0, 0].numel()
        return (x + self.bias) * self.log_scale.exp(), logdet.expand(len(x))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


def _zero_conv(cin: int, cout: int) -> nn.Conv2d:
    """A 3x3 convolution that starts at zero, so a new coupling or prior starts as the identity
    (Kingma and Dhariwal 2018, Section 3.3)."""
    conv = nn.Conv2d(cin, cout, 3, padding=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class AffineCoupling(nn.Module):
    """Affine coupling (Dinh et al. 2017, eq. 7; Glow's form, Kingma and Dhariwal 2018, Table 1):
    x_a, x_b = halves of the channels; (t, r) = NN(x_a); s = sigmoid(r + 2);
    y_b = (x_b + t) s, y_a = x_a; log|det| = sum log s. The sigmoid keeps the scale in (0, 1),
    which is what keeps deep stacks stable (Glow's code; an exp scale can blow up)."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.ca = channels // 2
        cb = channels - self.ca
        self.net = nn.Sequential(
            nn.Conv2d(self.ca, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(),
            _zero_conv(hidden, 2 * cb),
        )

    def _shift_scale(self, xa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(xa)
        return h[:, 0::2], torch.sigmoid(h[:, 1::2] + 2.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xa, xb = x[:, : self.ca], x[:, self.ca :]
        shift, scale = self._shift_scale(xa)
        return torch.cat([xa, (xb + shift) * scale], 1), scale.log().flatten(1).sum(1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """The exact inverse wherever it is representable. A latent far in the tail (sampling
        at T = 1) can meet scales that underflow to 0 in float32: dividing by them gave inf,
        and inf - inf NaN pixels downstream. The scale is floored at 1e-20 and the result held
        within +-1e4, far beyond any logit a pixel maps to (|logit| < 3 at alpha 0.05)."""
        ya, yb = y[:, : self.ca], y[:, self.ca :]
        shift, scale = self._shift_scale(ya)
        return torch.cat([ya, (yb / scale.clamp_min(1e-20) - shift).clamp(-1e4, 1e4)], 1)


class FlowStep(nn.Module):
    """One step of Glow (Kingma and Dhariwal 2018, Figure 2a): actnorm, 1x1 conv, coupling."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.layers = nn.ModuleList([ActNorm(channels), InvertibleLinear(channels), AffineCoupling(channels, hidden)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        total = x.new_zeros(len(x))
        for layer in self.layers:
            x, logdet = layer(x)
            total = total + logdet
        return x, total

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y


class SplitPrior(nn.Module):
    """Factor out half the channels (Dinh et al. 2017, Section 3.6) under Glow's learned prior
    z ~ N(mu(h), sigma(h)^2) given the kept half h (Kingma and Dhariwal 2018, code's split2d).
    Written as the bijection eps = (z - mu) / sigma, log|det| = -sum log sigma, so every
    factored-out latent is standard normal and ``encode`` gives N(0, I) codes throughout."""

    def __init__(self, keep: int, out: int):
        super().__init__()
        self.keep = keep
        self.net = _zero_conv(keep, 2 * out)  # starts as N(0, I)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, z = x[:, : self.keep], x[:, self.keep :]
        mu, log_sigma = self.net(h).chunk(2, 1)
        return h, (z - mu) * torch.exp(-log_sigma), -log_sigma.flatten(1).sum(1)

    def inverse(self, h: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        mu, log_sigma = self.net(h).chunk(2, 1)
        return torch.cat([h, eps * log_sigma.exp() + mu], 1)


class MultiScaleFlow(nn.Module):
    """(N, C, H, W) -> (N, C H W): per level a squeeze, ``steps`` flow steps, and (but for the
    last level) a split; the latent is the factored-out parts, then the top, flattened."""

    def __init__(self, shape: tuple[int, ...], levels: int, steps: int, hidden: int):
        super().__init__()
        c, h, w = shape
        self.levels = nn.ModuleList()
        self.splits = nn.ModuleList()
        self.out_shapes: list[tuple[int, int, int]] = []
        for i in range(levels):
            c, h, w = 4 * c, h // 2, w // 2
            self.levels.append(nn.ModuleList([FlowStep(c, hidden) for _ in range(steps)]))
            if i < levels - 1:
                keep = c // 2
                self.splits.append(SplitPrior(keep, c - keep))
                self.out_shapes.append((c - keep, h, w))
                c = keep
        self.out_shapes.append((c, h, w))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = x.new_zeros(len(x))
        zs = []
        for i, level in enumerate(self.levels):
            x = F.pixel_unshuffle(x, 2)  # squeeze: (C, H, W) -> (4C, H/2, W/2) (Dinh et al. 2017, Fig. 3)
            for step in level:
                x, ld = step(x)
                logdet = logdet + ld
            if i < len(self.splits):
                x, eps, ld = self.splits[i](x)
                zs.append(eps.flatten(1))
                logdet = logdet + ld
        zs.append(x.flatten(1))
        return torch.cat(zs, 1), logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        pieces = z.split([math.prod(s) for s in self.out_shapes], 1)
        x = pieces[-1].reshape(len(z), *self.out_shapes[-1])
        for i in reversed(range(len(self.levels))):
            if i < len(self.splits):
                x = self.splits[i].inverse(x, pieces[i].reshape(len(z), *self.out_shapes[i]))
            for step in reversed(self.levels[i]):
                x = step.inverse(x)
            x = F.pixel_shuffle(x, 2)
        return x


# --------------------------------------------------------------------------------------
# Vectors: rational-quadratic spline couplings (Durkan et al. 2019)

# softplus(0 + shift) + MIN_DERIVATIVE = 1: a zero network output is the identity spline
MIN_BIN, MIN_DERIVATIVE = 1e-3, 1e-3
_DERIV_SHIFT = math.log(math.expm1(1.0 - MIN_DERIVATIVE))


def rational_quadratic_spline(
    x: torch.Tensor, w: torch.Tensor, h: torch.Tensor, d: torch.Tensor, bound: float, inverse: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Monotone rational-quadratic spline on [-bound, bound], the identity outside (Durkan et
    al. 2019, eq. 4 for the map, eq. 5 for its derivative, Appendix A for the inverse).

    :param x: inputs, any shape (...).
    :param w: (..., K) unnormalised bin widths; ``h``: (..., K) heights; ``d``: (..., K-1)
        unnormalised derivatives at the inner knots (the outer two are 1, matching the tails).
    :returns: ``(y, log|dy/dx|)`` shaped like ``x``; with ``inverse``, the inverse map and the
        log-derivative of the inverse.
    """
    k = w.shape[-1]
    inside = (x > -bound) & (x < bound)
    xc = x.clamp(-bound, bound)  # outside points go through the spline too, harmlessly, then are dropped

    def knots(unnormalised: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sizes = MIN_BIN + (1 - MIN_BIN * k) * F.softmax(unnormalised, -1)
        inner = torch.cumsum(sizes, -1)[..., :-1] * (2 * bound) - bound
        ends = inner.new_full((*inner.shape[:-1], 1), bound)
        pos = torch.cat([-ends, inner, ends], -1)  # (..., K+1), exactly -bound and bound at the ends
        return pos, pos[..., 1:] - pos[..., :-1]

    xk, widths = knots(w)
    yk, heights = knots(h)
    derivs = F.pad(MIN_DERIVATIVE + F.softplus(d + _DERIV_SHIFT), (1, 1), value=1.0)  # (..., K+1)
    edges = yk if inverse else xk
    idx = (xc[..., None] >= edges[..., 1:-1]).sum(-1, keepdim=True)  # the bin, 0..K-1

    def pick(t: torch.Tensor, offset: int = 0) -> torch.Tensor:
        return t.gather(-1, idx + offset)[..., 0]

    x0, wk, y0, hk = pick(xk), pick(widths), pick(yk), pick(heights)
    d0, d1 = pick(derivs), pick(derivs, 1)
    slope = hk / wk
    bend = d0 + d1 - 2 * slope
    if inverse:
        dy = xc - y0
        a = hk * (slope - d0) + dy * bend
        b = hk * d0 - dy * bend
        c = -slope * dy
        theta = (2 * c) / (-b - (b * b - 4 * a * c).clamp(min=0).sqrt())  # the root in [0, 1]
        out = x0 + theta * wk
    else:
        theta = (xc - x0) / wk
        out = y0 + hk * (slope * theta**2 + d0 * theta * (1 - theta)) / (slope + bend * theta * (1 - theta))
    t1 = theta * (1 - theta)
    numerator = slope**2 * (d1 * theta**2 + 2 * slope * t1 + d0 * (1 - theta) ** 2)
    logdet = numerator.log() - 2 * torch.log(slope + bend * t1)
    if inverse:
        logdet = -logdet
    return torch.where(inside, out, x), torch.where(inside, logdet, torch.zeros_like(logdet))


class SplineCoupling(nn.Module):
    """Coupling whose transformed dimensions (``mask`` = 1) each go through a rational-quadratic
    spline with parameters from an MLP of the others (Durkan et al. 2019, Section 3.2)."""

    def __init__(self, dim: int, mask: torch.Tensor, hidden: int, bins: int, bound: float):
        super().__init__()
        self.register_buffer("mask", mask, persistent=False)  # rebuilt from the config
        self.bins, self.bound = bins, bound
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, dim * (3 * bins - 1)),
        )
        nn.init.zeros_(self.net[-1].weight)  # starts as the identity
        nn.init.zeros_(self.net[-1].bias)

    def _transform(self, x: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.bins
        p = self.net(x * (1 - self.mask)).view(len(x), x.shape[1], 3 * k - 1)
        y, logdet = rational_quadratic_spline(x, p[..., :k], p[..., k : 2 * k], p[..., 2 * k :], self.bound, inverse)
        return torch.where(self.mask.bool(), y, x), (logdet * self.mask).sum(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._transform(x, inverse=False)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return self._transform(y, inverse=True)[0]


class SplineFlow(nn.Module):
    """(N, D) -> (N, D): ``layers`` times an LU linear map then a spline coupling on
    alternating halves (Durkan et al. 2019, Section 5.1)."""

    def __init__(self, dim: int, layers: int, hidden: int, bins: int, bound: float):
        super().__init__()
        steps: list[nn.Module] = []
        for i in range(layers):
            mask = torch.ones(1) if dim == 1 else ((torch.arange(dim) + i) % 2).float()
            steps += [InvertibleLinear(dim), SplineCoupling(dim, mask, hidden, bins, bound)]
        self.steps = nn.ModuleList(steps)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        total = x.new_zeros(len(x))
        for step in self.steps:
            x, logdet = step(x)
            total = total + logdet
        return x, total

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        for step in reversed(self.steps):
            z = step.inverse(z)
        return z


# --------------------------------------------------------------------------------------
# The family


def image_levels(shape: tuple[int, ...], levels: int = 0) -> int:
    """The number of levels for images ``(C, H, W)``: ``levels`` checked, or (0) as many as
    keep both sides even at every squeeze and at least 2 after the last, at most 3 (at least 1).
    Raises :class:`ConfigError` when the size does not allow it."""
    _, h, w = shape
    if h % 2 or w % 2:
        raise ConfigError(
            f"the flow's squeeze halves images, so it needs an even height and width, not {h}x{w}; "
            "crop or pad the images by one pixel"
        )
    if levels == 0:
        levels = 1
        while levels < MAX_AUTO_LEVELS and h % 2 ** (levels + 1) == 0 and w % 2 ** (levels + 1) == 0:
            if min(h, w) // 2 ** (levels + 1) < 2:
                break
            levels += 1
        return levels
    if h % 2**levels or w % 2**levels:
        raise ConfigError(f"levels={levels} halves the images {levels} times, so {h}x{w} must divide by {2**levels}")
    return levels


class Flow(TorchModel):
    """Normalizing flow with an exact ``log_prob``: Glow-like for images, spline flow for vectors."""

    name = "flow"
    title = "Normalizing flow"
    description = "Exact likelihood: multi-scale Glow/RealNVP flow for images, neural spline flow for vectors"
    accepts = {"image", "vector"}
    Config = FlowConfig

    @classmethod
    def check_data(cls, spec: DataSpec) -> str | None:
        reason = super().check_data(spec)
        if reason is None and spec.kind == "image":
            try:
                image_levels(spec.shape)
            except ConfigError as exc:
                return str(exc)
        return reason

    @classmethod
    def resolve_config(cls, config: FlowConfig, spec: DataSpec, device) -> FlowConfig:
        """``temperature`` 0: 0.7 for images (Kingma and Dhariwal 2018, Section 5.4), 1 for vectors."""
        if config.temperature == 0:
            return dataclasses.replace(config, temperature=0.7 if spec.kind == "image" else 1.0)
        return config

    def __init__(self, spec: DataSpec, config: FlowConfig, device="cpu"):
        super().__init__(spec, config, device)
        if config.temperature == 0:  # built without the host (which resolves it)
            config = self.config = self.resolve_config(config, spec, device)
        self.image = spec.kind == "image"
        self.latent_dim = spec.dim
        if self.image:
            self.levels = image_levels(spec.shape, config.levels)
            self.body = MultiScaleFlow(spec.shape, self.levels, config.steps_per_level, config.hidden_channels)
            self.register_buffer("scale", torch.tensor(1.0), persistent=False)
        else:
            lo, hi = spec.value_range
            self.body = SplineFlow(spec.dim, config.layers, config.hidden, config.bins, config.tail_bound)
            self.register_buffer("centre", torch.tensor((lo + hi) / 2.0), persistent=False)
            # data units per unit of the flow's input: value_range maps to [-3, 3]
            self.register_buffer("scale", torch.tensor(max((hi - lo) / 6.0, 1e-6)), persistent=False)
        self.opt = adam(self.body.parameters(), lr=config.lr)

    # -- the bijection ------------------------------------------------------------------------

    def _preprocess(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> the flow's input, and log|det| per example (N,)."""
        if not self.image:
            return (x - self.centre) / self.scale, -x.shape[1] * torch.log(self.scale).expand(len(x))
        a = self.config.logit_alpha
        s = a + (1 - 2 * a) * x
        logdet = math.log(1 - 2 * a) - torch.log(s) - torch.log1p(-s)  # d logit(s)/dx
        return torch.log(s) - torch.log1p(-s), logdet.flatten(1).sum(1)

    def _postprocess(self, u: torch.Tensor) -> torch.Tensor:
        if not self.image:
            return u * self.scale + self.centre
        a = self.config.logit_alpha
        return ((torch.sigmoid(u) - a) / (1 - 2 * a)).clamp(0.0, 1.0)

    def forward_with_logdet(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data ``(N, *spec.shape)`` -> latent ``(N, D)`` and log|det dz/dx| per example (N,)."""
        u, logdet0 = self._preprocess(x)
        z, logdet = self.body(u)
        return z, logdet0 + logdet

    # -- the contract ---------------------------------------------------------------------------

    def dequantize(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [0, 1] -> (round(255 x) + u) / 256 with u ~ U[0, 1): uniform within the bin
        of each of the 256 levels (Theis et al. 2016). Same shape, float, in [0, 1)."""
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (torch.round(x * 255.0) + u) / 256.0

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density at ``x`` (data space; images in [0, 1], dequantized or not), nats per
        example (N,), by the change of variables (Dinh et al. 2017, eq. 3)."""
        z, logdet = self.forward_with_logdet(x)
        return -0.5 * z.pow(2).sum(1) - 0.5 * z.shape[1] * LOG_2PI + logdet

    def bits_per_dim(self, nll: torch.Tensor) -> torch.Tensor:
        """Bits per dimension of 256-level images from a density's nll in nats per example."""
        d = self.spec.dim
        return (nll + d * LN_256) / (d * math.log(2))

    def _losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        nll = -self.log_prob(x).mean()
        out = {"nll": nll}
        if self.image:
            out["bpd"] = self.bits_per_dim(nll)
        return out

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = self.dequantize(batch.x) if self.image else batch.x
        losses = self._losses(x)
        lr = self.config.lr * min(1.0, (self.step + 1) / max(1, self.config.warmup_steps))
        if self.config.lr_decay == "cosine":
            lr *= 0.5 * (1.0 + math.cos(math.pi * min(1.0, self.progress)))
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        # per dimension, so the step size and the clipping threshold do not depend on image size
        (losses["nll"] / self.spec.dim).backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.body.parameters(), self.config.grad_clip)
        self.opt.step()
        self.step += 1  # the host sets it before each step; this keeps a bare loop on schedule
        return {k: v.detach() for k, v in losses.items()}

    def evaluate(self, batch: Batch) -> dict[str, float]:
        """Validation nll (nats per example) and, for images, bpd, on a dequantization with a
        fixed seed so that values are comparable across steps."""
        x = batch.x
        if self.image:
            x = self.dequantize(x, torch.Generator(device=x.device).manual_seed(0))
        return {k: float(v) for k, v in self._losses(x).items()}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Data ``(N, *spec.shape)`` -> latent ``(N, D)``, standard normal under the model."""
        return self.forward_with_logdet(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent ``(N, D)`` -> data ``(N, *spec.shape)``; images clamped to [0, 1]."""
        u = self.body.inverse(z)
        return self._postprocess(u).reshape(len(z), *self.spec.shape)

    def sample(
        self, n: int, generator: torch.Generator | None = None, temperature: float | None = None
    ) -> torch.Tensor:
        """``(n, *spec.shape)`` samples: z ~ N(0, T^2 I) decoded, T = ``temperature`` or else
        ``config.temperature`` (0.7 for images by default; metrics pass 1)."""
        t = self.config.temperature if temperature is None else temperature
        ref = self.scale
        z = torch.randn(n, self.latent_dim, generator=generator, device=ref.device, dtype=ref.dtype)
        return self.decode(z * t)

    def likelihood_protocol(self) -> dict:
        """How ``log_prob`` is computed, for the likelihood ledger."""
        return {"pixels": "continuous", "estimator": "exact, by the change of variables (Dinh et al. 2017, eq. 3)"}

    def load_extra_state(self, state: dict) -> None:
        if "steps_done" in state:  # checkpoints before the host kept the step count
            self.step = int(state["steps_done"])


@hookimpl
def genstudio_register_models(registry: Registry):
    registry.add(Flow)
