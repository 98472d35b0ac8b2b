"""The restricted boltzmann machine family as the host sees it before importing its class (and
torch): its hyperparameters and where the class lives (:mod:`genstudio_plugins.rbm`). See
:class:`genstudio.api.Family`."""

from __future__ import annotations

from dataclasses import dataclass

from genstudio.api import Family, Registry, hookimpl, param


@dataclass
class RBMConfig:
    # Salakhutdinov and Murray 2008 report MNIST likelihoods for 500 hidden units
    hidden: int = param(500, min=1, max=16384, help="Hidden units (at most 20: exact likelihood)", tune=True)
    visible: str = param(
        "auto", choices=("auto", "bernoulli", "gaussian"), help="Visible units: bernoulli for images (auto)"
    )
    # fresh Bernoulli draws each step regularise, and are how likelihoods on MNIST are reported
    binarize: str = param(
        "stochastic", choices=("stochastic", "threshold"), help="Bernoulli: pixels drawn as Bernoulli(x), or x > 0.5"
    )
    # persistent chains give far better samples than CD-1 for the same cost (Tieleman 2008)
    method: str = param(
        "pcd", choices=("cd", "pcd", "pt"), help="Contrastive divergence, persistent CD, or parallel tempering"
    )
    k: int = param(1, min=1, max=1000, help="Gibbs steps per update (CD-k, PCD-k)")
    n_chains: int = param(100, min=1, max=100_000, help="pcd: persistent fantasy chains")
    lr: float = param(0.01, min=1e-6, max=10.0, log=True, help="SGD learning rate", tune=True)
    # persistent chains need a learning rate that goes to 0 for the model to settle (Tieleman
    # 2008 decays it linearly): with a constant one the model's modes keep swapping depth
    lr_decay: str = param(
        "linear", choices=("none", "linear"), help="Learning rate over the run: constant, or linear to 0"
    )
    # Hinton's guide starts at 0.5; with persistent chains 0.9 made MNIST oscillate (test
    # log-likelihood -148 nats after 7,000 PCD-1 steps, samples nearly all ones) where 0.5 gave -107
    momentum: float = param(0.5, min=0.0, max=0.99, help="SGD momentum", tune=True)
    weight_decay: float = param(1e-4, min=0.0, max=1.0, help="L2 penalty on W (Hinton's guide: 1e-4)")
    # the update for the energy -(v - mu)^T W (h - lambda) - b^T v - c^T h (Melchior et al.
    # 2016), applied to the plain parameters, so sampling and AIS are unchanged; Bernoulli only
    centering: bool = param(False, help="Centred gradient (Melchior et al. 2016): offsets mu, lambda")
    gibbs_steps: int = param(1000, min=1, max=1_000_000, help="Gibbs steps of a sampling chain")
    # Bernoulli units: each sampling chain (and with method=pt each persistent chain) is a ladder
    # of this many tempered copies that swap states (Desjardins et al. 2010); 1: plain Gibbs
    temperatures: int = param(1, min=1, max=100, help="Parallel tempering: tempered copies per chain (1: off)")
    # 14,500 in Salakhutdinov and Murray 2008; 10,000 keep a 784x500 RBM's estimate under a minute on a CPU
    ais_betas: int = param(10_000, min=10, max=1_000_000, help="AIS: intermediate temperatures")
    ais_runs: int = param(100, min=2, max=100_000, help="AIS: independent annealing runs")


FAMILY = Family(
    name="rbm",
    location="genstudio_plugins.rbm:RBM",
    title="Restricted Boltzmann machine",
    description="Bernoulli or Gaussian visible units; CD-k or persistent CD; Gibbs chains; AIS likelihood",
    accepts={"image", "vector"},
    Config=RBMConfig,
)


@hookimpl
def genstudio_register_models(registry: Registry) -> None:
    registry.add(FAMILY)
