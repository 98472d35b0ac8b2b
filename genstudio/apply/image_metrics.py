"""Full-reference image quality: PSNR and SSIM (Wang et al. 2004), per image."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def psnr(x: torch.Tensor, ref: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, ``10 log10(range^2 / MSE)``; images
    ``(N, ...)`` in [0, ``data_range``] -> ``(N,)`` float64 (inf where identical)."""
    mse = (x.double() - ref.double()).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(data_range**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    x: torch.Tensor, ref: torch.Tensor, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Mean structural similarity per image (Wang et al. 2004, eq. 13), ``(N, C, H, W)`` ->
    ``(N,)`` float64: local means, variances and covariance under an 11x11 Gaussian window of
    sigma 1.5 (population statistics), K1 = 0.01, K2 = 0.03, C_i = (K_i L)^2, averaged over
    the windows that fit inside the image (no padding) and over channels. This is
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=L)``."""
    if x.shape != ref.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two (N, C, H, W) batches of one shape, got {tuple(x.shape)}, {tuple(ref.shape)}")
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"images of {x.shape[-2]}x{x.shape[-1]} are smaller than the {win_size}x{win_size} window")
    n, c = x.shape[:2]
    g = _gaussian_window(win_size, sigma)
    w = (g[:, None] * g[None, :]).expand(c, 1, win_size, win_size).to(x.device)
    a, b = x.double(), ref.double()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.reshape(n, -1).mean(1)


def summary(x: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    """Mean PSNR (dB; identical images count as 100 dB) and mean SSIM over a batch; SSIM
    only for images at least 11 pixels on a side."""
    p = psnr(x, ref).clamp(max=100.0)
    out = {"psnr": float(p.mean())}
    if x.dim() == 4 and min(x.shape[-2:]) >= 11:
        out["ssim"] = float(ssim(x, ref).mean())
    else:
        out["ssim"] = math.nan
    return out
