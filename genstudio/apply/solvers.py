"""Restoration solvers, written once and chosen by what a model can do, never by its family.

Each solver takes a model, a degradation operator (:mod:`genstudio.apply.operators`) and an
observation ``y``, and returns restored images ``(N, C, H, W)`` in data space. As diffusers
keeps schedulers apart from networks, a solver asks only for capabilities:

==============  ==========================================  =======================================
solver          needs                                       method
==============  ==========================================  =======================================
``own``         ``restore``                                 the family's own method
``ddrm``        ``denoise`` + ``noise_schedule``            DDRM (Kawar et al. 2022), any operator
``repaint``     ``denoise`` + ``noise_schedule``            RePaint (Lugmayr et al. 2022), masks
``latent``      ``decode``                                  MAP of the data fit plus the prior in z
``gradient``    differentiable ``log_prob``                 MAP of log p(x) plus the data fit in x
``gibbs``       ``gibbs_step``                              Gibbs sampling, observed pixels clamped
``reconstruct`` ``reconstruct``                             reconstruction repeated, observed clamped
==============  ==========================================  =======================================

:func:`solvers_for` lists the ones that apply in that order of preference; the first is the
default. Where the observation is noisy, "clamped" means the data-consistency step of
:func:`consistency` (the discrepancy principle), not a copy of the noisy pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from genstudio.api import ConfigError, PluginError
from genstudio.apply.operators import Degradation, Mask

Progress = Callable[[int, int], None] | None


def consistency(x: torch.Tensor, y: torch.Tensor, op: Degradation) -> torch.Tensor:
    """Move ``x`` towards the observation inside A's row space, so that the residual
    ``||A x - y||`` is at most what the noise explains, sqrt(m) sigma over m observed values
    (Morozov's discrepancy principle). With sigma = 0 this replaces the row-space part of x
    by the observation's (the observed pixels for a mask, the block means for downsampling);
    the null space, what y says nothing about, is the model's.

    x' = x + g (A^+ y - A^+ A x) gives A x' - y = (1 - g)(A x - y), since A A^+ = I."""
    r = op.forward(x) - y
    if op.task == "inpaint":
        r = r * op.observed(r)
    norm = r.flatten(1).norm(dim=1)
    m = op.observed(op.forward(x)).flatten(1).sum(1)
    allowed = op.sigma * m.sqrt()
    keep = torch.where(norm > allowed, allowed / norm.clamp_min(1e-12), torch.ones_like(norm))
    g = (1 - keep).view(-1, *([1] * (x.dim() - 1)))
    return x + g * (op.pinv(y) - op.project(x))


def initial_guess(y: torch.Tensor, op: Degradation) -> torch.Tensor:
    """A^+ y, with missing pixels of a mask set to the observed pixels' mean, in [0, 1]."""
    x = op.pinv(y)
    if op.task == "inpaint":
        m = op.observed(x)
        mean = (x * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
        x = x * m + (1 - m) * mean.view(-1, *([1] * (x.dim() - 1)))
    return x.clamp(0.0, 1.0)


class Solver:
    """A restoration method. Subclasses set ``name``, ``title``, ``stochastic`` and implement
    :meth:`applies` and :meth:`solve`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    stochastic: ClassVar[bool] = False

    def __init__(self, steps: int | None = None):
        self.steps = steps

    @classmethod
    def applies(cls, model: Any, op: Degradation) -> bool:
        raise NotImplementedError

    def solve(
        self, model: Any, op: Degradation, y: torch.Tensor, generator: torch.Generator, progress: Progress = None
    ) -> torch.Tensor:
        raise NotImplementedError


def _has(model: Any, *names: str) -> bool:
    return all(callable(getattr(model, n, None)) for n in names)


def _randn(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def _report(progress: Progress, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


class OwnRestore(Solver):
    name, title, stochastic = "own", "the family's own restore", True

    @classmethod
    def applies(cls, model: Any, op: Degradation) -> bool:
        return _has(model, "restore")

    def solve(self, model, op, y, generator, progress=None):
        return model.restore(y, op, generator=generator)


class _Diffusion(Solver):
    """Shared by the diffusion solvers: the timesteps, the model-space maps and the schedule."""

    stochastic = True

    @classmethod
    def applies(cls, model: Any, op: Degradation) -> bool:
        return _has(model, "denoise", "noise_schedule", "to_model", "to_data")

    def timesteps(self, model: Any, total: int) -> list[int]:
        n = min(self.steps or 50, total)
        ts = torch.linspace(total - 1, 0, n, dtype=torch.float64).round().long().tolist() if n > 1 else [total - 1]
        return list(dict.fromkeys(ts))

    @staticmethod
    def scale(model: Any, like: torch.Tensor) -> float:
        """Model units per data unit (the affine map's slope)."""
        one = torch.ones(1, device=like.device, dtype=like.dtype)
        return float(model.to_model(one) - model.to_model(0 * one))


class DDRM(_Diffusion):
    """Denoising Diffusion Restoration Models (Kawar et al. 2022, eq. 7-8), with eta = 0.85
    and eta_b = 1 as in the paper. The model's VP chain x_t = sqrt(abar_t) x_0 + sqrt(1 -
    abar_t) eps is read as the VE chain x_t / sqrt(abar_t) with sigma_t = sqrt((1 - abar_t) /
    abar_t). Because every operator here has a single singular value s, the spectral space
    splits into A's row space (where y_bar = A^+ y is observed with noise sigma_c = sigma / s)
    and its null space, handled with :meth:`Degradation.project` in pixel space."""

    name, title = "ddrm", "DDRM (Kawar et al. 2022)"
    eta, eta_b = 0.85, 1.0

    @torch.no_grad()
    def solve(self, model, op, y, generator, progress=None):
        abar = model.noise_schedule().to(y.device, torch.float64)
        ts = self.timesteps(model, len(abar))
        k = self.scale(model, y)
        y_bar = op.pinv(model.to_model(y))
        sigma_c = op.sigma * k / op.singular
        sig = ((1 - abar) / abar).sqrt()

        def split(range_part: torch.Tensor, null_part: torch.Tensor) -> torch.Tensor:
            return op.project(range_part) + null_part - op.project(null_part)

        s_t = float(sig[ts[0]])
        noise = _randn(y_bar, generator)
        x = split(y_bar + math.sqrt(max(s_t**2 - sigma_c**2, 0.0)) * noise, s_t * noise)  # VE units
        for i, t in enumerate(ts):
            s_t = float(sig[t])
            x_vp = x * math.sqrt(float(abar[t]))
            x0 = model.denoise(x_vp.to(y.dtype), t).to(x.dtype)
            s_next = float(sig[ts[i + 1]]) if i + 1 < len(ts) else 0.0
            eps = _randn(x, generator)
            c = math.sqrt(1 - self.eta**2) * s_next
            null = x0 + c * (x - x0) / s_t + self.eta * s_next * eps
            if s_next < sigma_c:
                rng = x0 + c * (y_bar - x0) / sigma_c + self.eta * s_next * eps
            else:
                rng = (1 - self.eta_b) * x0 + self.eta_b * y_bar
                rng = rng + math.sqrt(max(s_next**2 - (self.eta_b * sigma_c) ** 2, 0.0)) * eps
            x = split(rng, null)
            _report(progress, i + 1, len(ts))
        return model.to_data(x)


class RePaint(_Diffusion):
    """RePaint (Lugmayr et al. 2022, Algorithm 1): at each reverse step the known pixels come
    from the forward process applied to the observation, the missing ones from the model's
    reverse step (the posterior q(x_prev | x_t, x0_hat), Ho et al. 2020, eq. 6-7), and the
    step is resampled ``resample`` times by diffusing back (x_t ~ q(x_t | x_prev)) so that the
    two parts harmonise. Jump length 1 over the respaced timesteps."""

    name, title = "repaint", "RePaint (Lugmayr et al. 2022)"

    def __init__(self, steps: int | None = None, resample: int = 5):
        super().__init__(steps)
        self.resample = resample

    @classmethod
    def applies(cls, model: Any, op: Degradation) -> bool:
        return isinstance(op, Mask) and super().applies(model, op)

    @torch.no_grad()
    def solve(self, model, op, y, generator, progress=None):
        abar = model.noise_schedule().to(y.device, y.dtype)
        ts = self.timesteps(model, len(abar))
        known = model.to_model(y)
        m = op.observed(known)
        x = _randn(known, generator)
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            a_t = abar[t]
            a_prev = abar[t_prev] if t_prev >= 0 else torch.ones_like(a_t)
            for u in range(self.resample if t_prev >= 0 else 1):
                x0 = model.denoise(x, t)
                beta = 1 - a_t / a_prev
                mean = a_prev.sqrt() * beta / (1 - a_t) * x0 + (1 - beta).sqrt() * (1 - a_prev) / (1 - a_t) * x
                var = (1 - a_prev) / (1 - a_t) * beta
                unknown = mean + var.sqrt() * _randn(x, generator)
                seen = a_prev.sqrt() * known + (1 - a_prev).sqrt() * _randn(x, generator)
                x_prev = m * seen + (1 - m) * unknown
                if u < self.resample - 1 and t_prev >= 0:
                    x = (a_t / a_prev).sqrt() * x_prev + (1 - a_t / a_prev).sqrt() * _randn(x, generator)
            x = x_prev
            _report(progress, i + 1, len(ts))
        return model.to_data(x)


def _data_fit(op: Degradation, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||A x - y||^2 / (2 sigma^2) per example, with sigma floored at 0.05: the model cannot
    match an observation exactly, and a zero sigma would make the prior irrelevant."""
    sigma = max(op.sigma, 0.05)
    r = op.forward(x) - y
    if op.task == "inpaint":
        r = r * op.observed(r)
    return r.pow(2).flatten(1).sum(1) / (2 * sigma**2)


class LatentMAP(Solver):
    """argmin_z ||A decode(z) - y||^2 / 2 sigma^2 + ||z||^2 / 2: the data fit plus a standard
    normal prior on z (as in Bora et al. 2017, compressed sensing with generative models), by
    Adam from encode(A^+ y) where the model encodes, else from the best of 16 prior draws."""

    name, title, stochastic = "latent", "latent optimisation (data fit + prior)", True
    lr = 0.05

    @classmethod
    def applies(cls, model: Any, op: Degradation) -> bool:
        return _has(model, "decode") and hasattr(model, "latent_dim")

    def solve(self, model, op, y, generator, progress=None):
        from genstudio.api import prior_sample

        steps = self.steps or 200
        with torch.no_grad():
            if _has(model, "encode"):
                z = model.encode(initial_guess(y, op)).detach().float()
                z = z + 0.3 * _randn(z, generator)  # restorations differ; the start stays near the encoding
            else:
                draws = [prior_sample(model, len(y), generator).float() for _ in range(16)]
                fits = torch.stack([_data_fit(op, model.decode(z), y) for z in draws])
                z = torch.stack(draws)[fits.argmin(0), torch.arange(len(y))]
        z = z.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=self.lr)
        last = z.detach().clone()  # each example's last code whose loss was finite
        with torch.enable_grad():
            for i in range(steps):
                rows = _data_fit(op, model.decode(z), y) + 0.5 * z.pow(2).sum(1)
                ok = torch.isfinite(rows)
                with torch.no_grad():
                    last[ok] = z[ok]
                if not bool(ok.all()):
                    del rows
                    with torch.no_grad():  # a step that made the decoder (a flow's inverse) overflow is undone
                        z[~ok] = last[~ok]
                    continue
                opt.zero_grad(set_to_none=True)
                rows.sum().backward()
                opt.step()
                _report(progress, i + 1, steps)
        with torch.no_grad():
            x = model.decode(last)
            bad = ~torch.isfinite(x.flatten(1)).all(1)
            if bool(bad.any()):  # no finite code at all for these: the observation, made consistent
                x[bad] = initial_guess(y[bad], op)
            return consistency(x.clamp(0, 1), y, op)


def differentiable_log_prob(model: Any, example: torch.Tensor) -> bool:
    """Whether ``log_prob`` returns a gradient with respect to its input (tried on one example)."""
    if not _has(model, "log_prob"):
        return False
    x = example[:1].detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            out = model.log_prob(x)
        return isinstance(out, torch.Tensor) and out.requires_grad
    except Exception:
        return False


class GradientMAP(Solver):
    """argmax_x log p(x) - ||A x - y||^2 / 2 sigma^2 by Adam on u = logit(x), so x stays in
    (0, 1): a maximum a posteriori estimate under the model's density, from A^+ y."""

    name, title = "gradient", "gradient steps on log p(x) + data fit"
    lr = 0.05

    @classmethod
    def applies(cls, model: Any, op: Degradation) -> bool:
        spec = getattr(model, "spec", None)
        if spec is None or not _has(model, "log_prob"):
            return False
        return differentiable_log_prob(model, torch.full((1, *spec.shape), 0.5, device=model.device))

    def solve(self, model, op, y, generator, progress=None):
        steps = self.steps or 200
        x0 = initial_guess(y, op).clamp(0.02, 0.98)
        u = torch.log(x0 / (1 - x0)).requires_grad_(True)
        opt = torch.optim.Adam([u], lr=self.lr)
        with torch.enable_grad():
            for i in range(steps):
                x = torch.sigmoid(u)
                loss = (_data_fit(op, x, y) - model.log_prob(x)).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                _report(progress, i + 1, steps)
        with torch.no_grad():
            return consistency(torch.sigmoid(u), y, op)


class ClampedChain(Solver):
    """x <- step(x), then the data-consistency step, repeated; the result is the mean of the
    states over the second half of the chain (an estimate of the posterior mean)."""

    method: ClassVar[str] = ""

    @classmethod
    def applies(cls, model: Any, op: Degradation) -> bool:
        return _has(model, cls.method)

    def step(self, model: Any, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return getattr(model, self.method)(x)

    @torch.no_grad()
    def solve(self, model, op, y, generator, progress=None):
        steps = self.steps or 100
        x = initial_guess(y, op)
        total = torch.zeros_like(x)
        kept = 0
        for i in range(steps):
            x = consistency(self.step(model, x, generator).to(x.dtype).clamp(0, 1), y, op)
            if i >= steps // 2:
                total += x
                kept += 1
            _report(progress, i + 1, steps)
        return total / kept


class Gibbs(ClampedChain):
    """Gibbs sampling of the missing pixels given the observed ones: the model's own Markov
    chain step (``gibbs_step``), with the observed pixels clamped after every sweep."""

    name, title, stochastic, method = "gibbs", "Gibbs sampling, observed pixels clamped", True, "gibbs_step"

    def step(self, model, x, generator):
        return model.gibbs_step(x, generator=generator)


class Reconstruct(ClampedChain):
    name, title, stochastic, method = (
        "reconstruct",
        "repeated reconstruction, observed pixels clamped",
        False,
        "reconstruct",
    )


SOLVERS: tuple[type[Solver], ...] = (OwnRestore, RePaint, DDRM, LatentMAP, GradientMAP, Gibbs, Reconstruct)


def solvers_for(model: Any, op: Degradation) -> list[type[Solver]]:
    """The solvers that apply to ``model`` and ``op``, the preferred first."""
    return [s for s in SOLVERS if s.applies(model, op)]


def solver_named(name: str) -> type[Solver]:
    for s in SOLVERS:
        if s.name == name:
            return s
    raise ConfigError(f"unknown solver {name!r}; one of {', '.join(s.name for s in SOLVERS)}")


def check_result(x: Any, like: torch.Tensor, solver: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != tuple(like.shape):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise PluginError(f"solver {solver!r} returned {shape}; expected {tuple(like.shape)}")
    if not torch.isfinite(x).all():
        raise PluginError(f"solver {solver!r} returned NaN or infinite values")
    return x


__all__ = [
    "DDRM",
    "SOLVERS",
    "Gibbs",
    "GradientMAP",
    "LatentMAP",
    "OwnRestore",
    "RePaint",
    "Reconstruct",
    "Solver",
    "consistency",
    "solver_named",
    "solvers_for",
]
