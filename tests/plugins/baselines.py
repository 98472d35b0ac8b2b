"""The best trivial models a learning test must beat, fitted on the same training images and
scored on the same held-out ones: the mean image and the mixture of per-class mean images."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import torch


def mnist(folder: Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` shared MNIST images, float (n, 1, 28, 28) in [0, 1], and labels (n,)."""
    with gzip.open(folder / "mnist" / "t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
    with gzip.open(folder / "mnist" / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype(np.int64)
    return torch.from_numpy(x.copy()).float() / 255.0, torch.from_numpy(y)


def bernoulli_baselines(train: torch.Tensor, labels: torch.Tensor, test: torch.Tensor) -> dict[str, float]:
    """Mean log-mass (nats per example) of binary ``test`` images under independent Bernoulli
    pixels with the training means (``mean_image``), and under the mixture of the classes' mean
    images weighted by class frequency (``class_means``)."""
    t = test.flatten(1).double()

    def log_mass(images: torch.Tensor) -> torch.Tensor:
        p = images.flatten(1).double().mean(0).clamp(1e-3, 1 - 1e-3)
        return t @ p.log() + (1 - t) @ (1 - p).log()

    parts = [log_mass(train[labels == c]) + math.log(float((labels == c).double().mean())) for c in labels.unique()]
    return {
        "mean_image": float(log_mass(train).mean()),
        "class_means": float(torch.logsumexp(torch.stack(parts), 0).mean()),
    }


def gaussian_baselines(train: torch.Tensor, labels: torch.Tensor, test: torch.Tensor) -> dict[str, float]:
    """Mean log-density (nats per example) of ``test`` under a Gaussian with the training
    images' mean and per-pixel variances (``mean_image``), and under the mixture of the classes'
    such Gaussians weighted by class frequency (``class_means``). Variances are floored at
    1e-4 (a hundredth of a pixel range's standard deviation)."""
    t = test.flatten(1).double()

    def log_density(images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1).double()
        mean, var = flat.mean(0), flat.var(0).clamp_min(1e-4)
        return -0.5 * (((t - mean) ** 2 / var) + var.log() + math.log(2 * math.pi)).sum(1)

    parts = [log_density(train[labels == c]) + math.log(float((labels == c).double().mean())) for c in labels.unique()]
    return {
        "mean_image": float(log_density(train).mean()),
        "class_means": float(torch.logsumexp(torch.stack(parts), 0).mean()),
    }
