"""Settings of a training run: how to train, as opposed to what (the model's Config).

Declared once, with :func:`genstudio.api.param` like a model's Config: the CLI's flags
(``genstudio train``), the window's Training form and the validation all come from these
declarations (:func:`setting_params`). The run's length (steps, epochs or minutes) is the one
setting that is not a plain value: exactly one of the three, or none for :data:`DEFAULT_STEPS`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from genstudio.api import ConfigError, Param, param, params
from genstudio.training.device import DEVICES

DEFAULT_STEPS = 2000
#: Settings without a command-line flag or a place in the window's form.
HIDDEN = ("event_rate",)


@dataclass
class TrainSettings:
    """How to train, as opposed to what (the model's Config)."""

    steps: int | None = None
    """Optimisation steps; with neither steps, epochs nor minutes, :data:`DEFAULT_STEPS`."""
    epochs: int | None = None
    """Passes over the training split (the last partial batch of each is dropped)."""
    minutes: float | None = None
    """Minutes of training (pauses not counted); the run ends by itself at the budget."""
    batch_size: int = param(128, min=1, max=65536, help="examples per step")
    seed: int = param(0, min=0, max=2**31 - 1, help="random seed; the same seed and device give identical losses")
    device: str = param("auto", choices=DEVICES, help="auto: CUDA, then MPS, then the CPU")
    precision: str = param("fp32", choices=("fp32", "bf16"), help="bf16 autocast needs CUDA")
    val_fraction: float = param(0.1, min=0.0, max=1.0, help="share of the data held out for validation, below 1")
    val_every: int = param(0, min=0, help="steps between validations (0: 20 per run, at most 1% of its time)")
    sample_every: int = param(
        0, min=0, help="steps between sample grids (0: 50 per run and every 15 s, at most 0.5% of its time)"
    )
    n_samples: int = param(0, min=0, max=100_000, help="samples per grid (0: 64 for images, 1000 for vectors)")
    checkpoint_every: int = param(0, min=0, help="steps between checkpoints (0: every --checkpoint-minutes)")
    checkpoint_minutes: float = param(2.0, min=0.0, help="minutes between checkpoints (the first comes within 30 s)")
    keep_checkpoints: int = param(3, min=1, help="checkpoints kept")
    eval_every: int = param(
        0, min=0, help="steps between evaluations with --eval-metrics, plotted as eval/... (0: never)"
    )
    eval_metrics: str = param("fid", help="metrics for --eval-every, comma-separated")
    eval_n: int = param(500, min=10, max=1_000_000, help="samples per evaluation at intervals")
    cpu_threads: int = param(0, min=0, help="threads for work on the CPU (0: PyTorch's choice)")
    event_rate: float = param(20.0, min=1e-3, help="most progress events per second")

    def validate(self) -> TrainSettings:
        """Check every setting against its declaration; raises :class:`ConfigError` naming the flag."""
        if sum(v is not None for v in (self.steps, self.epochs, self.minutes)) > 1:
            raise ConfigError("give one of --steps, --epochs or --minutes, not several")
        length = [
            ("steps", self.steps is None or self.steps >= 1, "at least 1"),
            ("epochs", self.epochs is None or self.epochs >= 1, "at least 1"),
            ("minutes", self.minutes is None or 0 < self.minutes <= 1e6, "positive"),
            # a held-out share of 1 would leave nothing to train on
            ("val_fraction", self.val_fraction < 1.0, "below 1"),
        ]
        for name, ok, allowed in length:
            if not ok:
                raise ConfigError(f"{_flag(name)}: {getattr(self, name)!r} is not allowed; it must be {allowed}")
        for p in setting_params(hidden=True):
            value = getattr(self, p.name)
            if p.name == "device":  # a device may be indexed, cuda:1; resolve_device checks the rest
                continue
            try:
                setattr(self, p.name, p.validate(value))
            except ConfigError as exc:
                raise ConfigError(str(exc).replace(f"{p.name}:", f"{p.flag}:", 1)) from None
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


def setting_params(hidden: bool = False) -> list[Param]:
    """The settings as the CLI's flags and the window's form show them (all but the run's
    length), with their defaults, ranges and help; ``hidden`` adds those with no flag."""
    return [p for p in params(TrainSettings, declared_only=True) if hidden or p.name not in HIDDEN]


def setting_param(name: str) -> Param:
    """One setting's declaration."""
    return next(p for p in setting_params(hidden=True) if p.name == name)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")
