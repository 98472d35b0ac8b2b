"""Periodic work inside the loop: validation, evaluation with the project's metrics, and the
schedules that decide when each is due so that it stays a small share of the run's time."""

from __future__ import annotations

import collections
import time
from typing import Any

import torch

from genstudio.api import Batch, Dataset, DataSpec, GenerativeModel, GenStudioError
from genstudio.data.splits import dataset_split
from genstudio.training.settings import TrainSettings


def validation_losses(model: Any, x: torch.Tensor, y: torch.Tensor | None, bs: int, image: bool) -> dict[str, float]:
    totals: dict[str, float] = {}
    count = 0
    for start in range(0, len(x), bs):
        xb = x[start : start + bs]
        if xb.dtype == torch.uint8:
            xb = xb.float().mul_(1.0 / 255.0)
        out = model.evaluate(Batch(xb, None if y is None else y[start : start + bs]))
        n = len(xb)
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + float(v) * n
        count += n
    return {k: v / count for k, v in totals.items()}


class IntervalEvaluation:
    """``genstudio eval``'s metrics on a few samples every ``eval_every`` steps, logged as
    ``eval/<key>`` scalars beside the losses. The feature extractor is built once. An
    evaluation that fails is reported once as a warning and turns itself off; the run goes on."""

    def __init__(self, host: Any, dataset: Dataset, settings: TrainSettings, device: torch.device, cache_dir: Any):
        self.host, self.dataset, self.settings, self.device, self.cache_dir = host, dataset, settings, device, cache_dir
        self.metrics = [m.strip() for m in settings.eval_metrics.split(",") if m.strip()]
        self.train_index, self.val_index = dataset_split(dataset, settings.val_fraction, settings.seed)
        self.extractor: Any = None
        self.live = True

    def _needs_features(self) -> bool:
        return any({"features", "logits"} & set(self.host.metrics.get(m).requires) for m in self.metrics)

    def __call__(self, model: GenerativeModel, step: int) -> tuple[dict[str, float], str | None]:
        """``({"eval/<key>": value}, None)``, or ``({}, why)`` when evaluation turned itself off."""
        from genstudio.metrics.evaluate import build_extractor, default_extractor, evaluate_model

        spec: DataSpec = self.dataset.spec
        try:
            if self.extractor is None and self._needs_features():
                name = default_extractor(self.host, spec, self.cache_dir)
                if name is not None:
                    self.extractor, _ = build_extractor(
                        self.host, name, spec, self.device, self.cache_dir, explicit=False
                    )
            report = evaluate_model(
                self.host, model, self.dataset, metrics=self.metrics, n=self.settings.eval_n,
                extractor=self.extractor, train_index=self.train_index, val_index=self.val_index,
                device=self.device, seed=self.settings.seed, cache_dir=self.cache_dir,
            )  # fmt: skip
        except GenStudioError as exc:
            self.live = False
            return {}, f"evaluation at step {step} failed, and is off for the rest of the run: {exc}"
        scalars = report.scalars()
        if not scalars:
            self.live = False
            skipped = "; ".join(f"{k}: {v}" for k, v in report.skipped.items()) or "nothing applies"
            return {}, f"no metric of --eval-metrics applies to this run ({skipped}); evaluation is off"
        return scalars, None


class Schedule:
    """When a periodic task (validation, sample grids) is due.

    Set by the user (``every`` > 0), it runs every ``every`` steps exactly. Otherwise it runs
    every ``base`` steps, stretched so that it takes at most ``share`` of the run's time, and
    at least every ``max_gap`` seconds when that too fits in the share (so a long run's
    window still gets fresh samples)."""

    def __init__(self, every: int, base: int, share: float, max_gap: float | None = None, now: float | None = None):
        self.explicit = every > 0
        self.every = every if self.explicit else base
        self.share = share
        self.max_gap = max_gap
        self.next_step = self.every
        self.last_step = -1
        self.last_time = time.perf_counter() if now is None else now
        self.cost = 0.0

    def due(self, step: int, now: float) -> bool:
        if step >= self.next_step:
            return True
        if self.explicit or self.max_gap is None:
            return False
        return now - self.last_time > max(self.max_gap, self.cost / self.share)

    def done(self, step: int, now: float, cost: float, step_seconds: float) -> None:
        self.last_step, self.last_time, self.cost = step, now, cost
        if self.explicit:
            self.next_step = (step // self.every + 1) * self.every
        else:
            stretch = int(cost / (self.share * step_seconds)) if step_seconds > 0 else 0
            self.next_step = step + max(self.every, stretch)


class RateMeter:
    """Steps per second over the last few seconds."""

    def __init__(self, window: float = 5.0):
        self.window = window
        self.points: collections.deque[tuple[int, float]] = collections.deque()

    def reset(self, step: int, t: float) -> None:
        self.points.clear()
        self.points.append((step, t))

    def add(self, step: int, t: float) -> None:
        self.points.append((step, t))
        while len(self.points) > 2 and t - self.points[0][1] > self.window:
            self.points.popleft()

    def rate(self) -> float:
        if len(self.points) < 2:
            return 0.0
        (s0, t0), (s1, t1) = self.points[0], self.points[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0
