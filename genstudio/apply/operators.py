"""Degradation operators: an observation y = A(x) + sigma * n, n ~ N(0, I), written once.

Every operator here is linear with orthogonal rows of one common length ``s`` (its singular
value), so A A^T = s^2 I. That is what lets a solver work in pixel space with three maps
instead of a full singular value decomposition (as DDRM's spectral space needs; Kawar et al.
2022, Section 3):

- ``forward(x)``: A x, images ``(N, C, H, W)`` -> observations (same shape for the identity
  and the mask, ``(N, C, H/f, W/f)`` for downsampling by ``f``);
- ``pinv(y)``: the pseudo-inverse A^+ y = A^T y / s^2, back to image size;
- ``project(x)``: A^+ A x, the orthogonal projection onto the row space of A.

Then ``x - project(x)`` is the null-space part that the observation says nothing about, and
``pinv(y)`` carries noise of standard deviation ``sigma / s`` along each row direction.
Observations are stored at image size where A keeps the size (the mask's missing pixels are
0), so they read and write like images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from genstudio.api import ConfigError

TASKS = ("denoise", "inpaint", "superres")


@dataclass
class Degradation:
    """Base class: the identity with additive Gaussian noise of ``sigma`` (data units)."""

    sigma: float = 0.0
    task = "denoise"
    singular = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.pinv(self.forward(x))

    def observed(self, x: torch.Tensor) -> torch.Tensor:
        """Where ``x``'s values are observed (1) or missing (0), shaped like ``x``."""
        return torch.ones_like(x)

    def observation_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one observation for examples of ``shape`` ``(C, H, W)``."""
        return tuple(shape)

    def damage(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """y = A x + sigma n, with n drawn from ``generator``."""
        y = self.forward(x)
        if self.sigma > 0:
            y = y + self.sigma * torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
        return y

    def shown(self, y: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """The observation as an image of the data's size, for display and PSNR: the
        pseudo-inverse (nearest upsampling for ``superres``, missing pixels 0)."""
        return self.pinv(y)

    def describe(self) -> str:
        return f"noise sigma {self.sigma:g}"

    def check(self, shape: tuple[int, ...]) -> None:
        """Raise :class:`ConfigError` when the operator does not fit examples of ``shape``."""


@dataclass
class Noise(Degradation):
    """Denoising: A = I."""


@dataclass
class Mask(Degradation):
    """Inpainting: A keeps the pixels where ``mask`` is 1. ``mask`` is ``(H, W)`` or
    ``(C, H, W)``, broadcast over the batch and (when 2-D) the channels."""

    mask: torch.Tensor | None = None
    task = "inpaint"

    def __post_init__(self) -> None:
        if self.mask is None:
            raise ConfigError("inpainting needs a mask")
        self.mask = (torch.as_tensor(self.mask) > 0.5).float()

    def _m(self, x: torch.Tensor) -> torch.Tensor:
        m = self.mask.to(device=x.device, dtype=x.dtype)
        return m if m.dim() == 3 else m.unsqueeze(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self._m(x)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        return y * self._m(y)

    def observed(self, x: torch.Tensor) -> torch.Tensor:
        return self._m(x).expand_as(x)

    def damage(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.forward(super().damage(x, generator))  # missing pixels stay exactly 0

    def check(self, shape: tuple[int, ...]) -> None:
        h, w = shape[-2:]
        if tuple(self.mask.shape[-2:]) != (h, w) or (self.mask.dim() == 3 and self.mask.shape[0] != shape[0]):
            raise ConfigError(
                f"the mask is {'x'.join(map(str, self.mask.shape[-2:]))} pixels; the run's images are {h}x{w}"
            )
        if self.mask.dim() not in (2, 3):
            raise ConfigError(f"the mask must be an image (H, W), not shaped {tuple(self.mask.shape)}")

    def describe(self) -> str:
        missing = 1.0 - float(self.mask.mean())
        return f"mask, {100 * missing:.0f}% missing" + (f", noise sigma {self.sigma:g}" if self.sigma else "")

    @staticmethod
    def box(shape: tuple[int, ...], x: int, y: int, w: int, h: int) -> torch.Tensor:
        """An ``(H, W)`` mask that hides the rectangle at column ``x``, row ``y``, ``w`` wide, ``h`` high."""
        height, width = shape[-2:]
        if w <= 0 or h <= 0:
            raise ConfigError(f"--box {x},{y},{w},{h}: width and height must be positive")
        if x < 0 or y < 0 or x + w > width or y + h > height:
            raise ConfigError(f"--box {x},{y},{w},{h} does not fit in the run's {width}x{height} images")
        m = torch.ones(height, width)
        m[y : y + h, x : x + w] = 0.0
        return m


@dataclass
class Downsample(Degradation):
    """Super-resolution: A averages ``factor`` x ``factor`` blocks. Its rows are the blocks'
    indicators over factor^2, of length s = 1 / factor."""

    factor: int = 2
    task = "superres"

    def __post_init__(self) -> None:
        if int(self.factor) < 2:
            raise ConfigError(f"--factor {self.factor}: the downsampling factor must be at least 2")
        self.factor = int(self.factor)
        self.singular = 1.0 / self.factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.factor)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        # A^T y / s^2: each block gets its mean back (nearest-neighbour upsampling)
        return F.interpolate(y, scale_factor=self.factor, mode="nearest")

    def observation_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        c, h, w = shape
        return (c, h // self.factor, w // self.factor)

    def check(self, shape: tuple[int, ...]) -> None:
        h, w = shape[-2:]
        if h % self.factor or w % self.factor:
            raise ConfigError(f"--factor {self.factor} does not divide the run's {h}x{w} images")

    def describe(self) -> str:
        return f"downsampled x{self.factor}" + (f", noise sigma {self.sigma:g}" if self.sigma else "")


def make_operator(
    task: str,
    shape: tuple[int, ...],
    *,
    sigma: float = 0.0,
    mask: np.ndarray | torch.Tensor | None = None,
    box: tuple[int, int, int, int] | None = None,
    factor: int | None = None,
) -> Degradation:
    """The operator for a task, checked against examples of ``shape`` ``(C, H, W)``.
    Raises :class:`ConfigError` naming the problem."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; one of {', '.join(TASKS)}")
    if len(shape) != 3:
        raise ConfigError(f"restoration works on images; this run's examples are shaped {tuple(shape)}")
    if sigma < 0 or not np.isfinite(sigma):
        raise ConfigError(f"--sigma {sigma}: the noise level must be a non-negative number")
    op: Degradation
    if task == "denoise":
        if sigma <= 0:
            raise ConfigError("denoising needs the noise level: give --sigma S (in [0, 1] pixel units)")
        op = Noise(sigma)
    elif task == "inpaint":
        if (mask is None) == (box is None):
            raise ConfigError("inpainting needs exactly one of --mask FILE or --box X,Y,W,H")
        m = torch.as_tensor(np.asarray(mask, np.float32)) if mask is not None else Mask.box(shape, *box)
        op = Mask(sigma, mask=m)
    else:
        if factor is None:
            raise ConfigError("super-resolution needs --factor F")
        op = Downsample(sigma, factor=factor)
    op.check(tuple(shape))
    return op
