"""Evaluation: the standard metrics of generative models, feature extractors, and the driver
that evaluates a run (no Qt).

The metrics on arrays, float64 throughout::

    from genstudio.metrics import fid, frechet_distance, kid, inception_score, precision_recall

    fid(a, b) -> float                                   # a, b: (N, D) features
    frechet_distance(mu1, sigma1, mu2, sigma2) -> float  # from statistics
    kid(a, b, subsets=100, subset_size=1000, seed=0) -> (mean, std)
    inception_score(logits, splits=10) -> (mean, std)    # (N, K) logits, split in order
    precision_recall(real, fake, k=3) -> (precision, recall)
    density_coverage(real, fake, k=5) -> (density, coverage)

The built-in metric and extractor plugins live in :mod:`genstudio.metrics.builtin`; the
driver (sampling, feature extraction, cached real statistics, the run store) in
:mod:`genstudio.metrics.evaluate`.
"""

from __future__ import annotations

from genstudio.metrics.core import (
    bits_per_dim,
    density_coverage,
    feature_statistics,
    fid,
    frechet_distance,
    inception_score,
    kid,
    kth_neighbour_distances,
    nearest_neighbours,
    path_length,
    precision_recall,
)

__all__ = [
    "bits_per_dim",
    "density_coverage",
    "feature_statistics",
    "fid",
    "frechet_distance",
    "inception_score",
    "kid",
    "kth_neighbour_distances",
    "nearest_neighbours",
    "path_length",
    "precision_recall",
]
