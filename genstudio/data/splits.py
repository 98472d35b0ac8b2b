"""Splitting a dataset into the examples a run trains on and those it holds out.

Training, evaluation and every front end draw the split from here, so a run's validation
examples are the same ones ``genstudio eval`` scores against.
"""

from __future__ import annotations

import numpy as np

#: At most this many examples are held out, whatever ``val_fraction`` says: validation and
#: evaluation cost grows with it, and 10,000 already pins a mean to a fraction of a percent.
MAX_VAL_EXAMPLES = 10_000


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, reproducible train/validation split of ``n`` examples.

    :return: ``(train, val)``, sorted int64 indices into the dataset; ``val`` holds
        ``round(n * val_fraction)`` of them (at most :data:`MAX_VAL_EXAMPLES`, and at least one
        example is left to train on), empty when ``val_fraction`` is 0.
    """
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(round(n * val_fraction), MAX_VAL_EXAMPLES, n - 1) if val_fraction > 0 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])
