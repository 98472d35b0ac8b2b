"""The variational autoencoder family as the host sees it before importing its class (and
torch): its hyperparameters and where the class lives (:mod:`genstudio_plugins.vae`). See
:class:`genstudio.api.Family`."""

from __future__ import annotations

from dataclasses import dataclass

from genstudio.api import Family, Registry, hookimpl, param


@dataclass
class VAEConfig:
    latent_dim: int = param(16, min=1, max=512, help="Size of the latent code z", tune=True)
    arch: str = param("auto", choices=("auto", "conv", "mlp"), help="Networks: conv for images, mlp for vectors (auto)")
    # 0 (auto): 16 on a CPU, 32 on an accelerator. On 2 CPU cores width 16 takes ~10 steps/s
    # against ~3.5 for 32 with one thread (as the window trains), so recognisable digits come
    # within a minute of pressing Train; and in 10 minutes (bench/quality.py, 2026-12-03) it
    # scored FID 467 against 495 for width 32, which had 4,742 steps to its 7,563
    width: int = param(
        0,
        min=0,
        max=256,
        help="Channels of the first conv layer; doubled at each downsampling up to 4x (0: auto)",
    )
    hidden: int = param(256, min=8, max=4096, help="Units per hidden layer of the MLPs")
    hidden_layers: int = param(2, min=1, max=8, help="Hidden layers of each MLP")
    # auto: Bernoulli when every value lies in [0, 1] (images), else Gaussian
    likelihood: str = param("auto", choices=("auto", "bernoulli", "gaussian"), help="Decoder's likelihood p(x|z)")
    beta: float = param(1.0, min=0.0, max=100.0, help="Weight of the KL term (1: VAE, >1: beta-VAE)")
    warmup_steps: int = param(0, min=0, max=10_000_000, help="Steps over which the KL weight grows from 0 to beta")
    lr: float = param(1e-3, min=1e-6, max=1.0, log=True, help="Adam learning rate", tune=True)
    # a rate that falls to 0 over the run (Loshchilov and Hutter 2017's cosine, without
    # restarts) lets the last steps settle instead of jittering around the optimum
    lr_decay: str = param(
        "cosine", choices=("none", "cosine"), help="Learning rate over the run: constant, or cosine to 0"
    )
    # dynamic binarisation is how the literature reports likelihoods on MNIST (Burda et al. 2016)
    binarize: bool = param(False, help="Train on pixels drawn as Bernoulli(x): likelihoods comparable with papers")
    iw_samples: int = param(100, min=1, max=5000, help="Importance samples K for log_prob (Burda et al. 2016)")
    # decoded N(0, I) codes fall between the training data's codes (the aggregate posterior is
    # no standard normal), and come out as blurred blends of digits: on MNIST after 10 minutes,
    # FID 485 on the project's classifier features, against 156 for the same decoder fed codes
    # from a 10-component mixture fitted to 8,192 training codes (Ghosh et al. 2020, section 4)
    prior: str = param(
        "ex-post",
        choices=("normal", "ex-post"),
        help="Codes of samples: N(0, I), or a Gaussian mixture fitted to the training data's codes",
    )
    prior_components: int = param(10, min=1, max=100, help="ex-post: components of the Gaussian mixture")


FAMILY = Family(
    name="vae",
    location="genstudio_plugins.vae:VAE",
    title="Variational autoencoder",
    description="Encoder and decoder trained on the evidence lower bound; beta-VAE and KL warm-up options",
    accepts={"image", "vector"},
    Config=VAEConfig,
)


@hookimpl
def genstudio_register_models(registry: Registry) -> None:
    registry.add(FAMILY)
