"""The ``genstudio train ...`` command that repeats a run, as every run records it."""

from __future__ import annotations

import shlex
from dataclasses import fields
from typing import Any

from genstudio.api import params
from genstudio.training.settings import DEFAULT_STEPS, TrainSettings

#: Settings that are always written out; the others only when they differ from the default.
_ALWAYS = ("batch_size", "seed")
#: Settings that have no command-line flag.
_NO_FLAG = ("steps", "epochs", "minutes", "device", "event_rate")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def train_command(
    model_cls: type,
    source: str,
    data_options: dict[str, Any],
    config: dict[str, Any],
    settings: TrainSettings,
    device: str,
    world_size: int = 1,
) -> str:
    """Every model flag is written out, so the command means the same after defaults change.
    A run trained by ``world_size`` processes under torchrun is repeated under torchrun."""
    launch = ["torchrun", "--nproc-per-node", str(world_size), "-m", "genstudio"] if world_size > 1 else ["genstudio"]
    parts = [*launch, "train", model_cls.name, "--data", source]
    for key, value in data_options.items():
        parts += ["--data-option", f"{key}={_text(value)}"]
    for p in params(model_cls.Config):
        value = config[p.name]
        if p.type is bool:
            parts.append(p.flag if value else "--no-" + p.flag[2:])
        else:
            parts += [p.flag, _text(value)]
    if settings.minutes is not None:
        parts += ["--minutes", _text(settings.minutes)]
    elif settings.epochs is not None:
        parts += ["--epochs", str(settings.epochs)]
    else:
        parts += ["--steps", str(settings.steps or DEFAULT_STEPS)]
    defaults = TrainSettings()
    for f in fields(TrainSettings):
        if f.name in _NO_FLAG:
            continue
        value = getattr(settings, f.name)
        if f.name in _ALWAYS or value != getattr(defaults, f.name):
            parts += ["--" + f.name.replace("_", "-"), _text(value)]
    parts += ["--device", device]
    return shlex.join(parts)
