"""The generative adversarial network family as the host sees it before importing its class (and
torch): its hyperparameters and where the class lives (:mod:`genstudio_plugins.gan`). See
:class:`genstudio.api.Family`."""

from __future__ import annotations

from dataclasses import dataclass

from genstudio.api import Family, Registry, hookimpl, param


@dataclass
class GANConfig:
    loss: str = param("ns", choices=("ns", "hinge", "wgan-gp"), help="Adversarial loss (see the module docstring)")
    # 2-D toys: 64 noise dimensions for 2 data dimensions cost mode coverage (8 Gaussians: 8 of 8
    # modes in 4 of 4 seeds with 8, 2 of 4 with 64)
    latent_dim: int = param(0, min=0, max=1024, help="Size of the noise z; 0: 64 for images, 4 x D (<= 64) for vectors")
    arch: str = param("auto", choices=("auto", "conv", "mlp"), help="Networks: conv for images, mlp for vectors (auto)")
    # 32 keeps a 28x28 DCGAN near 9 GFLOP per step at batch 64: MNIST digits within minutes on a CPU
    width: int = param(
        32, min=4, max=512, help="Channels of D's first conv, doubled per halving; G has 2x at each size"
    )
    hidden: int = param(128, min=8, max=4096, help="Units per hidden layer of the MLPs")
    hidden_layers: int = param(3, min=1, max=8, help="Hidden layers of each MLP")
    spectral_norm: bool = param(False, help="Spectral normalisation of D's layers (Miyato et al. 2018)")
    # 1 for ns and hinge (DCGAN, SN-GAN); wgan-gp resolves a default 1 to Gulrajani et al.'s 5
    n_critic: int = param(1, min=1, max=20, help="Discriminator updates per generator update")
    gp_weight: float = param(10.0, min=0.0, max=1000.0, help="wgan-gp: gradient penalty weight lambda")
    # Radford et al. 2016: Adam, lr 2e-4, beta1 0.5; wgan-gp resolves these defaults to 1e-4, (0, 0.9)
    lr_g: float = param(2e-4, min=1e-6, max=1.0, log=True, help="Generator's Adam learning rate", tune=True)
    lr_d: float = param(2e-4, min=1e-6, max=1.0, log=True, help="Discriminator's Adam learning rate", tune=True)
    beta1: float = param(0.5, min=0.0, max=0.999, help="Adam beta1 of both networks", tune=True)
    beta2: float = param(0.999, min=0.0, max=0.9999, help="Adam beta2 of both networks")
    # averages over roughly the last 1/(1 - decay) generator updates; 0 samples from G itself
    ema_decay: float = param(0.999, min=0.0, max=0.99999, help="Decay of the generator's weight average (0: off)")
    conditional: str = param(
        "none", choices=("none", "projection", "concat"), help="Class-conditional GAN: how D sees the label"
    )
    health_every: int = param(100, min=1, max=100_000, help="Steps between training-health checks")
    # a healthy D wins for a few dozen steps early on; hundreds of steps in a row mean G gets no signal
    patience: int = param(300, min=1, max=1_000_000, help="Steps D must win in a row before a warning")
    # a collapsed G spreads its fixed-noise batch far less than the data: a tenth of its pairwise distance
    collapse_ratio: float = param(0.1, min=0.0, max=1.0, help="Warn when G's sample spread falls below this x data")


FAMILY = Family(
    name="gan",
    location="genstudio_plugins.gan:GAN",
    title="Generative adversarial network",
    description="DCGAN or MLP generator and discriminator; non-saturating, hinge or WGAN-GP loss; EMA sampling",
    accepts={"image", "vector"},
    Config=GANConfig,
)


@hookimpl
def genstudio_register_models(registry: Registry) -> None:
    registry.add(FAMILY)
