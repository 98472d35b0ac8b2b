"""The normalizing flow family as the host sees it before importing its class (and
torch): its hyperparameters and where the class lives (:mod:`genstudio_plugins.flow`). See
:class:`genstudio.api.Family`."""

from __future__ import annotations

from dataclasses import dataclass

from genstudio.api import Family, Registry, hookimpl, param


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
    # 4e-3, four times Glow's: 10 CPU-minutes on MNIST, FID 490 against 604 at 1e-3 (screened
    # at 4 minutes: 813 at 1e-3, 660 at 2e-3, 587 at 4e-3, 577 at 8e-3); the warm-up, the
    # cosine decay and the gradient clipping keep it stable
    lr: float = param(4e-3, min=1e-6, max=1.0, log=True, help="Adam learning rate", tune=True)
    # after the warm-up, cosine to 0 over the run (Loshchilov and Hutter 2017, without restarts)
    lr_decay: str = param(
        "cosine", choices=("none", "cosine"), help="Learning rate over the run: constant, or cosine to 0"
    )
    warmup_steps: int = param(100, min=0, max=1_000_000, help="Steps over which the learning rate grows from 0")
    # Gaussian noise instead of uniform dequantization, then Tweedie denoising (Zhai et al. 2024):
    # 10 CPU-minutes on MNIST (lr 1e-3), FID 604 at 0.2 against 902 with uniform dequantization (0)
    noise: float = param(
        0.2, min=0.0, max=0.5, help="Images: std of Gaussian noise on the pixels trained on, removed from samples"
    )
    # a batch that lands where a coupling's scale is steep must not throw the weights away
    grad_clip: float = param(50.0, min=0.0, max=1e6, help="Clip the gradient norm at this (0: off)")


FAMILY = Family(
    name="flow",
    location="genstudio_plugins.flow:Flow",
    title="Normalizing flow",
    description="Exact likelihood: multi-scale Glow/RealNVP flow for images, neural spline flow for vectors",
    accepts={"image", "vector"},
    Config=FlowConfig,
)


@hookimpl
def genstudio_register_models(registry: Registry) -> None:
    registry.add(FAMILY)
