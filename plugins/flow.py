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

Noise (``noise`` sigma > 0, images). As TarFlow does (Zhai et al. 2024), the flow is trained on
the 256-level images plus Gaussian noise, y = k / 255 + sigma eps, through an affine map
u = 4 (y - 1/2) instead of the logit (y leaves [0, 1]), and ``sample`` removes the noise by one
step of Tweedie's formula with the flow's own score (``tweedie``). The likelihood is then the
exact density of the noised images, which the ledger says (``pixels``: ``noised``); it bounds
nothing about the 256-level images, so it does not compare with dequantised figures.

Vectors are scaled affinely from ``spec.value_range`` to [-3, 3] (the Jacobian is counted in
``log_prob``), inside the splines' interval [-tail_bound, tail_bound]; outside it every spline
is the identity (Durkan et al. 2019, Section 3.1, "linear tails").
"""

from __future__ import annotations

import dataclasses
import math

import torch

from genstudio.api import Batch, ConfigError, DataSpec, TorchModel, adam
from genstudio_plugins.families.flow import FAMILY, FlowConfig
from genstudio_plugins.flow_layers import MultiScaleFlow, SplineFlow

LOG_2PI = math.log(2 * math.pi)
LN_256 = math.log(256.0)
MAX_AUTO_LEVELS = 3


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


class Flow(TorchModel, family=FAMILY):
    """Normalizing flow with an exact ``log_prob``: Glow-like for images, spline flow for vectors."""

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
        if self.config.noise > 0:
            return 4.0 * (x - 0.5), x.new_full((len(x),), x[0].numel() * math.log(4.0))
        a = self.config.logit_alpha
        s = a + (1 - 2 * a) * x
        logdet = math.log(1 - 2 * a) - torch.log(s) - torch.log1p(-s)  # d logit(s)/dx
        return torch.log(s) - torch.log1p(-s), logdet.flatten(1).sum(1)

    def _postprocess(self, u: torch.Tensor) -> torch.Tensor:
        if not self.image:
            return u * self.scale + self.centre
        if self.config.noise > 0:
            return u / 4.0 + 0.5
        a = self.config.logit_alpha
        return (torch.sigmoid(u) - a) / (1 - 2 * a)

    def forward_with_logdet(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data ``(N, *spec.shape)`` -> latent ``(N, D)`` and log|det dz/dx| per example (N,)."""
        u, logdet0 = self._preprocess(x)
        z, logdet = self.body(u)
        return z, logdet0 + logdet

    # -- the contract ---------------------------------------------------------------------------

    def dequantize(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [0, 1] -> (round(255 x) + u) / 256 with u ~ U[0, 1): uniform within the bin
        of each of the 256 levels (Theis et al. 2016). Same shape, float, in [0, 1). With
        ``noise`` sigma: round(255 x) / 255 + sigma eps, eps ~ N(0, I), the data it trains on."""
        if self.config.noise > 0:
            e = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return torch.round(x * 255.0) / 255.0 + self.config.noise * e
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

    def _invert(self, z: torch.Tensor) -> torch.Tensor:
        return self._postprocess(self.body.inverse(z)).reshape(len(z), *self.spec.shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent ``(N, D)`` -> data ``(N, *spec.shape)``, the exact inverse of ``encode``;
        images clamped to [0, 1] (with ``noise``, not denoised: ``sample`` does that)."""
        x = self._invert(z)
        return x.clamp(0.0, 1.0) if self.image else x

    def sample(
        self, n: int, generator: torch.Generator | None = None, temperature: float | None = None
    ) -> torch.Tensor:
        """``(n, *spec.shape)`` samples: z ~ N(0, T^2 I) decoded, T = ``temperature`` or else
        ``config.temperature`` (0.7 for images by default; metrics pass 1)."""
        t = self.config.temperature if temperature is None else temperature
        ref = self.scale
        z = torch.randn(n, self.latent_dim, generator=generator, device=ref.device, dtype=ref.dtype)
        if not (self.image and self.config.noise > 0):
            return self.decode(z * t)
        return self.tweedie(self._invert(z * t)).clamp(0.0, 1.0)

    def tweedie(self, y: torch.Tensor) -> torch.Tensor:
        """E[x | y] for y = x + sigma eps, by Tweedie's formula y + sigma^2 grad_y log p(y)
        (Efron 2011, eq. 2.8) with the flow's exact score, as TarFlow denoises its samples
        (Zhai et al. 2024); ``sigma`` is ``config.noise``. Gradients are taken even under the
        host's no-grad inference, 256 images at a time (the graph of a batch is kept for them)."""
        out = []
        for part in y.detach().split(256):
            with torch.inference_mode(False), torch.enable_grad():
                part = part.clone().requires_grad_(True)
                score = torch.autograd.grad(self.log_prob(part).sum(), part)[0]
            out.append((part + self.config.noise**2 * score).detach())
        return torch.cat(out)

    def likelihood_protocol(self) -> dict:
        """How ``log_prob`` is computed, for the likelihood ledger."""
        estimator = "exact, by the change of variables (Dinh et al. 2017, eq. 3)"
        if not (self.image and self.config.noise > 0):
            return {"pixels": "continuous", "estimator": estimator}
        return {
            "pixels": "noised",
            "noise": self.config.noise,
            "estimator": estimator + ", of the density the flow was trained on: the images plus Gaussian noise "
            f"of std {self.config.noise:g} (Zhai et al. 2024); not a bound on the likelihood of the 256-level images",
        }

    def extra_state(self) -> dict:
        return {"noise": self.config.noise}

    def load_extra_state(self, state: dict) -> None:
        if "steps_done" in state:  # checkpoints before the host kept the step count
            self.step = int(state["steps_done"])
        # the weights hold to the noise they were trained with; checkpoints from before
        # ``noise`` existed were trained on uniformly dequantized pixels
        self.config.noise = float(state.get("noise", 0.0))
