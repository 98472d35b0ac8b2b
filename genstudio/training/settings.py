"""Settings of a training run: how to train, as opposed to what (the model's Config)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from genstudio.api import ConfigError

DEFAULT_STEPS = 2000


@dataclass
class TrainSettings:
    """How to train, as opposed to what (the model's Config). Every field is a CLI flag."""

    steps: int | None = None
    """Optimisation steps; with neither steps nor epochs, :data:`DEFAULT_STEPS`."""
    epochs: int | None = None
    """Passes over the training split (the last partial batch of each is dropped)."""
    minutes: float | None = None
    """Minutes of training (pauses not counted); the run ends by itself at the budget."""
    batch_size: int = 128
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    """``fp32``, or ``bf16`` (autocast, CUDA only)."""
    val_fraction: float = 0.1
    """Share of the data held out for validation (and evaluation)."""
    val_every: int = 0
    """Steps between validations; 0 = 20 times per run, fewer where that would take over 1%
    of the run's time."""
    sample_every: int = 0
    """Steps between sample grids; 0 = 50 times per run, and at least every 15 s, fewer where
    that would take over 0.5% of the run's time."""
    n_samples: int = 0
    """Samples per grid; 0 = 64 for images, 1,000 for vectors."""
    checkpoint_every: int = 0
    """Steps between checkpoints; 0 = every ``checkpoint_minutes``."""
    checkpoint_minutes: float = 2.0
    keep_checkpoints: int = 3
    eval_every: int = 0
    """Steps between evaluations with the project's metrics (``eval/<key>`` scalars); 0 = never."""
    eval_metrics: str = "fid"
    """Comma-separated metric names for ``eval_every`` (those that do not apply are left out)."""
    eval_n: int = 500
    """Samples per evaluation at intervals: few, so it stays a small share of the run."""
    cpu_threads: int = 0
    """Threads for CPU work (torch.set_num_threads); 0 = PyTorch's default."""
    event_rate: float = 20.0
    """Most progress events per second."""

    def validate(self) -> TrainSettings:
        if sum(v is not None for v in (self.steps, self.epochs, self.minutes)) > 1:
            raise ConfigError("give one of --steps, --epochs or --minutes, not several")
        checks = [
            ("steps", self.steps is None or self.steps >= 1, "at least 1"),
            ("epochs", self.epochs is None or self.epochs >= 1, "at least 1"),
            ("minutes", self.minutes is None or 0 < self.minutes <= 1e6, "positive"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("seed", self.seed >= 0, "0 or more"),
            ("precision", self.precision in ("fp32", "bf16"), "fp32 or bf16"),
            ("val_fraction", 0.0 <= self.val_fraction < 1.0, "in [0, 1)"),
            ("n_samples", 0 <= self.n_samples <= 100_000, "in [0, 100000]"),
            ("keep_checkpoints", self.keep_checkpoints >= 1, "at least 1"),
            ("eval_every", self.eval_every >= 0, "0 (never) or more"),
            ("eval_n", 10 <= self.eval_n <= 1_000_000, "in [10, 1000000]"),
            ("cpu_threads", self.cpu_threads >= 0, "0 (the default) or more"),
            ("event_rate", self.event_rate > 0, "positive"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ConfigError(
                    f"--{name.replace('_', '-')}: {getattr(self, name)!r} is not allowed; it must be {allowed}"
                )
        return self

    @property
    def budget_seconds(self) -> float | None:
        """The time budget in seconds, or ``None`` for a run measured in steps or epochs."""
        return None if self.minutes is None else self.minutes * 60.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
