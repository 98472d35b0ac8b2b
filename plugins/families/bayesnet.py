"""The Bayesian network family as the host sees it before importing its class (and
torch): its hyperparameters and where the class lives (:mod:`genstudio_plugins.bayesnet`). See
:class:`genstudio.api.Family`."""

from __future__ import annotations

from dataclasses import dataclass

from genstudio.api import Family, Registry, hookimpl, param


@dataclass
class BayesNetConfig:
    structure: str = param(
        "hill-climb", choices=("hill-climb", "chow-liu"), help="Structure search: BIC hill climbing or a Chow-Liu tree"
    )
    # 3 parents keep tables small enough to estimate from thousands of rows
    max_parents: int = param(3, min=0, max=10, help="Most parents per column (0: independent columns)", tune=True)
    # 1 pseudo-count per cell is Laplace's rule: unseen values keep a small probability
    alpha: float = param(1.0, min=1e-4, max=100.0, log=True, help="Dirichlet pseudo-count per table cell", tune=True)
    # restarts escape local optima; a few suffice for tens of columns
    restarts: int = param(5, min=0, max=200, help="Random restarts of hill climbing (perturb the best graph)")
    max_iters: int = param(1000, min=1, max=100_000, help="Most moves per hill climb")
    # 1.25: about 10 refits per tenfold growth of the data seen
    relearn_growth: float = param(
        1.25, min=1.0, max=100.0, help="Refit when the rows seen grow by this factor (1: every step)"
    )


FAMILY = Family(
    name="bayesnet",
    location="genstudio_plugins.bayesnet:BayesNet",
    title="Bayesian network",
    description="A graph of categorical columns learned by BIC hill climbing or Chow-Liu, exact likelihood",
    accepts={"tabular"},
    Config=BayesNetConfig,
)


@hookimpl
def genstudio_register_models(registry: Registry) -> None:
    registry.add(FAMILY)
