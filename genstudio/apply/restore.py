"""Restoring damaged images with a trained model: the one entry point the CLI and the window share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genstudio.api import ConfigError, GenStudioError, PluginError
from genstudio.apply.image_metrics import summary
from genstudio.apply.operators import Degradation
from genstudio.apply.solvers import Solver, check_result, solver_named, solvers_for


@dataclass
class Restoration:
    """``restored`` is ``(n, N, C, H, W)`` float32 in [0, 1]: ``n`` restorations of each of
    the ``N`` observations. ``scores`` holds mean PSNR (dB) and SSIM of the damaged
    observation (shown at image size) and of the restorations against the clean images, when
    those were given."""

    restored: np.ndarray
    solver: str
    solver_title: str
    stochastic: bool
    scores: dict[str, float] = field(default_factory=dict)


def check_observation(y: np.ndarray | torch.Tensor, op: Degradation, shape: tuple[int, ...], what: str) -> torch.Tensor:
    """``y`` as ``(N, *observation_shape)`` float32; one example may come without its batch
    axis. Raises :class:`ConfigError` naming ``what`` and both shapes when it does not fit."""
    y = torch.as_tensor(np.asarray(y, np.float32))
    want = op.observation_shape(tuple(shape))
    if tuple(y.shape) == want:
        y = y.unsqueeze(0)
    if y.dim() != len(want) + 1 or tuple(y.shape[1:]) != want:
        hint = f" (a {op.task} observation of the run's {tuple(shape)} images)" if want != tuple(shape) else ""
        raise ConfigError(f"{what}: shaped {tuple(y.shape)}; the run takes {want}{hint}, one example or (N, ...) many")
    return y


def pick_solver(model: Any, op: Degradation, name: str | None = None) -> type[Solver]:
    """The named solver, or the preferred one for ``model`` and ``op``; :class:`ConfigError`
    when none (or not the named one) applies."""
    usable = solvers_for(model, op)
    if name is not None:
        chosen = solver_named(name)
        if chosen not in usable:
            names = ", ".join(s.name for s in usable) or "none"
            raise ConfigError(f"solver {name!r} does not apply to this model and task; usable: {names}")
        return chosen
    if not usable:
        raise ConfigError(
            f"the {getattr(model, 'name', '?')} family has nothing to restore with: it needs one of "
            "restore, denoise, decode, a differentiable log_prob, gibbs_step or reconstruct"
        )
    return usable[0]


def restore(
    model: Any,
    op: Degradation,
    y: torch.Tensor,
    *,
    n: int = 1,
    seed: int = 0,
    solver: str | None = None,
    steps: int | None = None,
    clean: torch.Tensor | None = None,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> Restoration:
    """Restore observations ``y`` ``(N, *op.observation_shape(spec.shape))`` with ``n`` draws
    each, seeded; with ``clean`` ``(N, C, H, W)`` also score them (PSNR, SSIM)."""
    if n < 1:
        raise ConfigError("-n must be at least 1")
    cls = pick_solver(model, op, solver)
    method = cls(steps=steps)
    dev = getattr(model, "device", torch.device("cpu"))
    y = y.to(dev, torch.float32)
    generator = torch.Generator(device=dev).manual_seed(seed)
    chunks = [(i, j) for i in range(n) for j in range(0, len(y), batch_size)]
    out = np.empty((n, len(y), *model.spec.shape), np.float32)
    was_training = isinstance(model, torch.nn.Module) and model.training
    if isinstance(model, torch.nn.Module):
        model.eval()
    try:
        for k, (i, j) in enumerate(chunks):
            yb = y[j : j + batch_size]

            def step(done: int, total: int, k: int = k) -> None:
                if progress is not None:
                    progress(k * total + done, len(chunks) * total)

            try:
                x = method.solve(model, op, yb, generator, step)
            except GenStudioError:
                raise
            except Exception as exc:
                raise PluginError(f"restoring with {cls.name} failed: {type(exc).__name__}: {exc}") from exc
            like = torch.empty(len(yb), *model.spec.shape)
            out[i, j : j + len(yb)] = check_result(x.detach().float().cpu(), like, cls.name).clamp(0, 1).numpy()
    finally:
        if was_training:
            model.train()
    result = Restoration(out, cls.name, cls.title, cls.stochastic)
    if clean is not None:
        clean = clean.float().cpu()
        shown = op.shown(y.cpu(), tuple(model.spec.shape)).clamp(0, 1)
        damaged = summary(shown, clean)
        scores = [summary(torch.from_numpy(out[i]), clean) for i in range(n)]
        result.scores = {
            "psnr_damaged": damaged["psnr"],
            "ssim_damaged": damaged["ssim"],
            "psnr_restored": float(np.mean([s["psnr"] for s in scores])),
            "ssim_restored": float(np.mean([s["ssim"] for s in scores])),
        }
    return result
