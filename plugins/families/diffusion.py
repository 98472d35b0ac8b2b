"""The diffusion model (ddpm/ddim) family as the host sees it before importing its class (and
torch): its hyperparameters and where the class lives (:mod:`genstudio_plugins.diffusion`). See
:class:`genstudio.api.Family`."""

from __future__ import annotations

from dataclasses import dataclass

from genstudio.api import Family, Registry, hookimpl, param


@dataclass
class DiffusionConfig:
    timesteps: int = param(1000, min=2, max=10_000, help="Diffusion steps T")
    # cosine: the linear schedule spends its last steps on almost pure noise, which hurts
    # small images most (Nichol and Dhariwal 2021, Section 3.2); 8x8 and 28x28 are small
    schedule: str = param("cosine", choices=("linear", "cosine"), help="Noise schedule of the betas")
    sampler: str = param("ddim", choices=("ddim", "ddpm"), help="Reverse process: DDIM (eta) or DDPM ancestral")
    # 50 DDIM steps come close to 1000 ancestral ones (Song et al. 2021, Table 1) and keep live grids quick
    sample_steps: int = param(50, min=1, max=10_000, help="Timesteps the sampler visits (at most T)")
    # quadratic: denser near t = 0, where the image's detail is decided (Song et al. 2021, App. D.2)
    spacing: str = param("uniform", choices=("uniform", "quadratic"), help="How the sampler's timesteps are spread")
    # eta 1 by default: on MNIST after 984 CPU steps (bench/diffusion_mnist.py), eta 0 left
    # about a third of 64 samples as noisy blobs, while eta 1 drew clean strokes for all of
    # them; the fresh noise corrects what a model this young gets wrong at each step
    eta: float = param(1.0, min=0.0, max=1.0, help="DDIM noise: 0 deterministic, 1 the DDPM posterior")
    clip_denoised: bool = param(True, help="Clip predicted x_0 to the data's range while sampling")
    # auto: 16 on a CPU, 32 elsewhere. In 10 CPU minutes on MNIST a 16-channel U-Net (0.2M
    # weights, 4.2 steps/s) drew more recognisable digits than the 32-channel one (0.8M, 1.7
    # steps/s; bench/results/diffusion_mnist*.json), and it samples 4 times faster
    width: int = param(0, min=0, max=512, help="U-Net channels at full resolution (doubled below it); 0: auto")
    attention: bool = param(True, help="U-Net: self-attention at the lowest resolution")
    dropout: float = param(0.0, min=0.0, max=0.9, help="U-Net: dropout in residual blocks")
    # 4 x 128 puts 8gaussians' samples on the modes after ~4,000 steps; 3 x 256 needs twice as many
    hidden: int = param(128, min=16, max=4096, help="Vector MLP: units per hidden layer")
    hidden_layers: int = param(4, min=1, max=16, help="Vector MLP: hidden layers")
    lr: float = param(1e-3, min=1e-6, max=1.0, log=True, help="Adam learning rate", tune=True)
    warmup_steps: int = param(200, min=0, max=1_000_000, help="Steps over which the learning rate grows from 0")
    grad_clip: float = param(1.0, min=0.0, max=1e6, help="Clip the gradient norm at this (0: off); Ho et al.: 1")
    # Ho et al. use 0.9999 over 800k steps; a short CPU run needs a memory of ~200 steps
    ema_decay: float = param(0.995, min=0.0, max=0.99999, help="EMA of the weights used for sampling (0: off)")
    # 50 of 999 KL terms: an unbiased estimate of the bound at 51 network calls per image
    vlb_timesteps: int = param(50, min=1, max=10_000, help="Likelihood: timesteps sampled per image for the bound")


FAMILY = Family(
    name="diffusion",
    location="genstudio_plugins.diffusion:Diffusion",
    title="Diffusion model (DDPM/DDIM)",
    description="Denoising diffusion: U-Net or MLP noise predictor, linear or cosine schedule, DDPM or DDIM sampling",
    accepts={"image", "vector"},
    Config=DiffusionConfig,
)


@hookimpl
def genstudio_register_models(registry: Registry) -> None:
    registry.add(FAMILY)
