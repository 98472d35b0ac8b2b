"""Per-step losses, gathered between two progress events and converted in one go."""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np
import torch

Scalars = dict[str, tuple[list, list, list]]
"""``{key: (steps, values, walls)}``: every value logged for ``key``, with its step and the
wall-clock time (seconds since the epoch) it was logged at."""


class NonFiniteLossError(Exception):
    """A loss became NaN or infinite at ``step``. ``good`` holds the values of the steps
    before it that were collected with it, ``{key: (steps, values, walls)}``: they are kept."""

    def __init__(self, key: str, step: int, value: float, good: dict[str, tuple[list, list, list]] | None = None):
        super().__init__(f"loss {key!r} became {value} at step {step}")
        self.key, self.step, self.value = key, step, value
        self.good = good or {}


def collect(
    pending: list[tuple[int, float, dict[str, Any]]],
) -> tuple[dict[str, tuple[list, list, list]], dict[str, float]]:
    """Per-step loss dicts -> ``{key: (steps, values, walls)}`` and the means. Tensors are
    converted in one go (one device sync), and a non-finite value raises :class:`NonFiniteLossError`
    for the earliest step that has one, carrying the values of the steps before it."""
    by_key: dict[str, tuple[list, list, list]] = {}
    tensors: list[tuple[list, int, torch.Tensor]] = []
    for step, wall, losses in pending:
        for key, value in losses.items():
            steps, vals, walls = by_key.setdefault(key, ([], [], []))
            steps.append(step)
            walls.append(wall)
            if isinstance(value, torch.Tensor):
                tensors.append((vals, len(vals), value))
                vals.append(0.0)
            else:
                vals.append(float(value))
    if tensors:
        converted = torch.stack([t.detach().float().reshape(()) for _, _, t in tensors]).cpu().tolist()
        for (vals, i, _), value in zip(tensors, converted):
            vals[i] = value
    bad: tuple[str, int, float] | None = None  # the earliest step with a non-finite value, over every key
    for key, (steps, vals, _) in by_key.items():
        for step, value in zip(steps, vals):
            if not math.isfinite(value):
                if bad is None or step < bad[1]:
                    bad = (key, step, value)
                break
    if bad is not None:
        key, step, value = bad
        good: dict[str, tuple[list, list, list]] = {}
        for k, (steps, vals, walls) in by_key.items():
            n = bisect.bisect_left(steps, step)  # steps come in order; those before the bad one are finite
            if n:
                good[k] = (steps[:n], vals[:n], walls[:n])
        raise NonFiniteLossError(key, step, value, good)
    return by_key, means(by_key)


def means(by_key: dict[str, tuple[list, list, list]]) -> dict[str, float]:
    return {k: float(np.mean(v[1])) for k, v in by_key.items()}


def finite(d: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in d.items() if math.isfinite(v)}
