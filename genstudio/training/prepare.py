"""Preparing a run: everything that can be checked is checked before a run is recorded.

:func:`prepare` takes what a person asked for (a family, data, a config, settings) and returns
a :class:`Plan`: the model class and its resolved config, the loaded data, the device, the
distributed world, the number of steps, and the record of the run as the store will keep it.
Nothing here writes anything; recording the run is the caller's (``genstudio.runs``). Bad input
raises a :class:`GenStudioError` whose message is meant for the person.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genstudio.api import ConfigError, Dataset, GenerativeModel, config_from_dict, config_to_dict
from genstudio.data.splits import dataset_split
from genstudio.host.blame import blame
from genstudio.training import distributed
from genstudio.training.command import train_command
from genstudio.training.device import describe, resolve_device
from genstudio.training.settings import DEFAULT_STEPS, TrainSettings


@dataclass
class Plan:
    """A run ready to train: what the loop needs, and the record of the run."""

    model_cls: type[GenerativeModel]
    config: Any
    dataset: Dataset
    data_options: dict[str, Any]
    settings: TrainSettings
    device: torch.device
    world: distributed.World
    total_steps: int
    plugin: str
    cache_dir: Path | None = None
    record: dict[str, Any] = field(default_factory=dict)
    """The run as :meth:`RunStore.create_run` takes it (a new run only)."""

    @property
    def n_train(self) -> int:
        return len(dataset_split(self.dataset, self.settings.val_fraction, self.settings.seed)[0])


def prepare(
    host: Any,
    model: str,
    data: str | Dataset,
    *,
    data_options: dict[str, Any] | None = None,
    config: dict[str, Any] | Any | None = None,
    settings: TrainSettings | None = None,
    name: str | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Plan:
    """Validate a new run. ``data`` is a source (name or path), loaded here, or an already
    loaded :class:`Dataset` (then ``data_options`` are those it was loaded with)."""
    from genstudio.data import load_dataset

    settings = (settings or TrainSettings()).validate()
    model_cls = host.model(model)
    if config is None or isinstance(config, dict):
        config = config_from_dict(model_cls.Config, config or {})
    data_options = dict(data_options or {})
    if isinstance(data, Dataset):
        dataset = data
    else:
        dataset = load_dataset(host, data, data_options, cache_dir=cache_dir, progress=progress)
    reason = model_cls.check_data(dataset.spec)
    if reason:
        raise ConfigError(reason)
    world, device = place(settings)
    plugin = host.plugin_of_model(model)
    with blame("resolving its auto values (resolve_config)", plugin):
        config = model_cls.resolve_config(config, dataset.spec, device)
    if settings.eval_every:
        for metric in (m.strip() for m in settings.eval_metrics.split(",") if m.strip()):
            host.metrics.get(metric)  # refuses an unknown name, listing the known ones
    n_train = len(dataset_split(dataset, settings.val_fraction, settings.seed)[0])
    total = total_steps(settings, n_train, world.size)
    source = dataset.spec.source
    options = {k: _plain_option(v) for k, v in data_options.items()}
    config_values = config_to_dict(config)
    device_flag = settings.device if settings.device != "auto" else device.type
    record = {
        "name": name,
        "model": model,
        "plugin": plugin,
        "data": source,
        "data_options": options,
        "config": config_values,
        "settings": settings.to_dict(),
        "spec": dataset.spec.to_dict(),
        "command": train_command(model_cls, source, options, config_values, settings, device_flag, world.size),
        "device": describe(device, cpu_threads(settings, world, device)),
        "total_steps": total,
    }
    return Plan(model_cls, config, dataset, options, settings, device, world, total, plugin, cache_dir, record)


def place(settings: TrainSettings) -> tuple[distributed.World, torch.device]:
    """The distributed world (one process unless under torchrun) and this process's device,
    with the process group initialised."""
    world = distributed.current()
    device = distributed.device_for(world, resolve_device(settings.device))
    if settings.precision == "bf16" and device.type != "cuda":
        raise ConfigError("--precision bf16 needs a CUDA device")
    distributed.init(world, device)
    return world, device


def cpu_threads(settings: TrainSettings, world: distributed.World, device: torch.device) -> int | None:
    """The threads a run sets for its CPU work, or None to leave PyTorch's number alone."""
    if settings.cpu_threads:
        return settings.cpu_threads
    if world.distributed and device.type == "cpu":
        # processes sharing the CPU share its cores rather than each taking all of them
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world.size))
        return max(1, (os.cpu_count() or 1) // local)
    return None


def total_steps(settings: TrainSettings, n_train: int, world_size: int = 1) -> int:
    """Steps the run takes; 0 for a run trained by time, whose total is known when it ends."""
    if settings.minutes is not None:
        return 0
    if settings.steps is not None:
        return settings.steps
    if settings.epochs is not None:
        return settings.epochs * max(1, n_train // (min(settings.batch_size, n_train) * world_size))
    return DEFAULT_STEPS


def _plain_option(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)
