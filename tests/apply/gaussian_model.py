"""A model whose every capability is exact: images drawn from a known Gaussian N(m, S).

With a Gaussian prior the posterior of a linear inverse problem is known in closed form, so a
restoration solver can be checked against the exact answer rather than against a trained
network's quirks. The denoiser is the exact E[x_0 | x_t]; ``decode`` is m + S^(1/2) z;
``log_prob`` is the exact density; ``reconstruct`` projects onto the prior's principal subspace.
"""

from __future__ import annotations

import math

import torch

from genstudio.api import DataSpec


class GaussianImages:
    name = "gaussian-images"

    def __init__(self, size: int = 12, rank: int = 6, tau: float = 0.02, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        d = size * size
        self.spec = DataSpec("image", (1, size, size), 1000)
        self.device = torch.device("cpu")
        # smooth patterns: random low-frequency cosines, so neighbouring pixels are correlated
        yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        basis = []
        for _ in range(rank):
            fx, fy, ph = (torch.rand(3, generator=g) * torch.tensor([2.0, 2.0, 6.28])).tolist()
            basis.append(torch.cos(math.pi * (fx * xx + fy * yy) / size + ph).reshape(-1))
        self.B = 0.12 * torch.stack(basis, 1).double()  # (d, rank)
        self.m = torch.full((d,), 0.5, dtype=torch.float64)
        self.cov = self.B @ self.B.T + tau**2 * torch.eye(d, dtype=torch.float64)
        lam, self.U = torch.linalg.eigh(self.cov)
        self.lam = lam.clamp_min(0)
        self.latent_dim = d
        self.abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0).float()
        self.P = self.B @ torch.linalg.pinv(self.B)

    # -- sampling and data -------------------------------------------------------------------

    def sample(self, n: int, generator=None) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=torch.float64)
        return self.decode(z).float()

    def _flat(self, x):
        return x.double().reshape(len(x), -1)

    def _img(self, x, like):
        return x.to(like.dtype).reshape(len(x), *self.spec.shape)

    # -- capabilities --------------------------------------------------------------------------

    def to_model(self, x):
        return 2 * x - 1

    def to_data(self, x):
        return (x + 1) / 2

    def noise_schedule(self):
        return self.abar

    def denoise(self, x_t, t):
        """E[x_0 | x_t] in model space, where x_0 ~ N(2m - 1, 4 S)."""
        a = float(self.abar[int(t)])
        lam = 4 * self.lam
        m = 2 * self.m - 1
        gain = math.sqrt(a) * lam / (a * lam + 1 - a)
        r = (self._flat(x_t) - math.sqrt(a) * m) @ self.U
        return self._img(m + (r * gain) @ self.U.T, x_t)

    def decode(self, z):
        out = self.m + (z.double() * self.lam.sqrt()) @ self.U.T
        return out.to(z.dtype if z.is_floating_point() else torch.float32).reshape(len(z), *self.spec.shape)

    def log_prob(self, x):
        r = (self._flat(x) - self.m) @ self.U
        return (-0.5 * (r.pow(2) / self.lam).sum(1) - 0.5 * torch.log(2 * math.pi * self.lam).sum()).to(x.dtype)

    def reconstruct(self, x):
        return self._img(self.m + (self._flat(x) - self.m) @ self.P.T, x)

    def posterior_mean(self, op, y: torch.Tensor) -> torch.Tensor:
        """E[x | y] = m + S A^T (A S A^T + sigma^2 I)^-1 (y - A m), A built column by column."""
        d = self.latent_dim
        eye = torch.eye(d, dtype=torch.float64).reshape(d, *self.spec.shape)
        a = op.forward(eye).reshape(d, -1).T  # (observations, d)
        keep = a.abs().sum(1) > 0  # a mask's missing pixels are rows of zeros
        a = a[keep]
        yy = y.double().reshape(len(y), -1)[:, keep]
        k = a @ self.cov @ a.T + op.sigma**2 * torch.eye(len(a), dtype=torch.float64)
        x = self.m + (torch.linalg.solve(k, (yy - self.m @ a.T).T).T @ a) @ self.cov
        return x.float().reshape(len(y), *self.spec.shape)
