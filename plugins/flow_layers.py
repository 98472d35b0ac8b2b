"""The layers of the flow family (``flow.py``): Glow's steps and the multi-scale flow for
images, rational-quadratic spline couplings for vectors. Each maps x -> (y, log|det dy/dx|
per example (N,)) and has an exact inverse."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


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


def chain_forward(parts: nn.ModuleList, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bijections applied in order: the output and the summed log|det| per example (N,)."""
    total = x.new_zeros(len(x))
    for part in parts:
        x, logdet = part(x)
        total = total + logdet
    return x, total


def chain_inverse(parts: nn.ModuleList, y: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`chain_forward`: each part's inverse, last first."""
    for part in reversed(parts):
        y = part.inverse(y)
    return y


class FlowStep(nn.Module):
    """One step of Glow (Kingma and Dhariwal 2018, Figure 2a): actnorm, 1x1 conv, coupling."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.layers = nn.ModuleList([ActNorm(channels), InvertibleLinear(channels), AffineCoupling(channels, hidden)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return chain_forward(self.layers, x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return chain_inverse(self.layers, y)


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
            x, ld = chain_forward(level, x)
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
            x = chain_inverse(self.levels[i], x)
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
        return chain_forward(self.steps, x)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return chain_inverse(self.steps, z)
