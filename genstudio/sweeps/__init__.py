"""Hyperparameter search on Optuna: search spaces from params, trials as runs, pruning.

Nothing here imports Qt; the command line and the window drive the same :class:`Sweep`.
"""

from genstudio.sweeps.space import Dimension, build_space
from genstudio.sweeps.sweep import Sweep, SweepSpec

__all__ = ["Dimension", "Sweep", "SweepSpec", "build_space"]
