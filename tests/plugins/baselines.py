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


def denoiser_baselines(
    train: torch.Tensor, labels: torch.Tensor, x0: torch.Tensor, abar: torch.Tensor, eps: torch.Tensor
) -> dict[str, float]:
    """Mean squared error per value of the best noise predictions E[eps | x_t] when x_0 is
    Gaussian with the training images' per-pixel means and variances (``mean_image``: a Wiener
    filter), or a class-frequency mixture of such Gaussians, one per class (``class_means``).
    All in the diffusion's [-1, 1] units: ``x0`` (N, D) clean images, ``abar`` (N,) each one's
    abar_t, ``eps`` (N, D) the noise in x_t = sqrt(abar) x0 + sqrt(1 - abar) eps."""
    x0, eps = x0.flatten(1).double(), eps.flatten(1).double()
    ab = abar.double()[:, None]
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    flat = train.flatten(1).double() * 2 - 1

    def gaussian(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """E[eps | x_t] and log p(x_t) under x_0 ~ N(mean, diag var): (N, D), (N,)."""
        mean, var = images.mean(0), images.var(0).clamp_min(1e-4)
        total = ab * var + (1 - ab)  # the variance of x_t
        resid = x_t - ab.sqrt() * mean
        log_p = -0.5 * (resid.pow(2) / total + total.log() + math.log(2 * math.pi)).sum(1)
        return (1 - ab).sqrt() * resid / total, log_p

    single, _ = gaussian(flat)
    parts = [gaussian(flat[labels == c]) for c in labels.unique()]
    weights = torch.stack(
        [p + math.log(float((labels == c).double().mean())) for (_, p), c in zip(parts, labels.unique())]
    )
    resp = torch.softmax(weights, 0)  # (classes, N)
    mixture = sum(r[:, None] * e for r, (e, _) in zip(resp, parts))
    return {
        "mean_image": float((single - eps).pow(2).mean()),
        "class_means": float((mixture - eps).pow(2).mean()),
    }
