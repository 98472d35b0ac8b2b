"""A trained model back from a run's record and its last checkpoint, for sampling and evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genstudio.api import (
    CheckpointError,
    ConfigError,
    Dataset,
    DataSpec,
    GenerativeModel,
    PluginError,
    config_from_dict,
)
from genstudio.runs.store import RunRecord, RunStore
from genstudio.runs.workspace import Workspace
from genstudio.training import checkpoint as ckpt
from genstudio.training.device import resolve_device


@dataclass
class LoadedModel:
    run: RunRecord
    model: GenerativeModel
    step: int
    device: torch.device
    checkpoint: str


def load_model(
    host: Any,
    workspace: Workspace,
    run_ref: int | str,
    *,
    device: str = "cpu",
    checkpoint_path: str | None = None,
) -> LoadedModel:
    """Rebuild a run's model from its recorded spec and config and load its newest checkpoint
    (or ``checkpoint_path``), in eval mode. Raises :class:`GenStudioError` subclasses with a
    message for the user; plugin code that raises becomes a :class:`PluginError` naming it."""
    run = RunStore(workspace).get_run(run_ref)
    model_cls = host.model(run.model)
    if not run.spec:
        raise CheckpointError(f"run {run.id} ({run.name}) recorded no data spec; it never started")
    dev = resolve_device(device)
    folder = workspace.run_dir(run.id) / "checkpoints"
    if checkpoint_path is not None:
        loaded = ckpt.load_checkpoint(checkpoint_path, device="cpu")
    else:
        loaded = ckpt.load_latest(folder, device="cpu")
    if loaded is None:
        raise CheckpointError(f"run {run.id} ({run.name}) has no checkpoint yet")
    state, meta = loaded
    config = config_from_dict(model_cls.Config, run.config)
    plugin = host.plugin_of_model(run.model)
    try:
        model = model_cls(DataSpec.from_dict(run.spec), config, dev)
        if isinstance(model, torch.nn.Module):
            model.to(dev)
        model.load_checkpoint_state(ckpt.to_device(state["model"], dev))
        if isinstance(model, torch.nn.Module):
            model.eval()
    except CheckpointError:
        raise
    except Exception as exc:
        raise PluginError(f"plugin {plugin!r} failed to rebuild run {run.id}: {type(exc).__name__}: {exc}") from exc
    path = checkpoint_path or str(ckpt.checkpoint_paths(folder, int(meta["step"]))[1])
    return LoadedModel(run, model, int(meta["step"]), dev, path)


def sample_array(out: Any, spec: DataSpec, *, offset: int = 0, temperature: float | None = None) -> np.ndarray:
    """What a model's ``sample()`` returned, as the host hands samples on (``.npy`` files,
    grids, events): ``(N, *spec.shape)`` float32; for images ``(N, C, H, W)`` in [0, 1],
    clamped, since a decoder's means (a Gaussian likelihood's, say) may stray outside.

    Raises :class:`ValueError` when the shape is not the data's (the plugin broke the
    contract), or when a sample holds NaN or infinite values: the message names them
    (numbered from ``offset``) and the ``temperature`` they were drawn at, if given."""
    from genstudio.metrics.core import non_finite_message

    if isinstance(out, torch.Tensor):
        out = out.detach().float()
        bad = non_finite_message(out.cpu().numpy(), offset=offset, temperature=temperature)
        if bad:
            raise ValueError(bad)
        if spec.kind == "image":
            out = out.clamp(0.0, 1.0)
        arr = out.cpu().numpy()
    else:
        arr = np.asarray(out, dtype=np.float32)
        bad = non_finite_message(arr, offset=offset, temperature=temperature)
        if bad:
            raise ValueError(bad)
        if spec.kind == "image":
            arr = np.clip(arr, 0.0, 1.0)
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim < 1 or arr.shape[1:] != tuple(spec.shape):
        raise ValueError(f"sample() returned shape {arr.shape}; expected (n, {', '.join(map(str, spec.shape))})")
    return arr


def load_run_data(host: Any, workspace: Workspace, run: RunRecord, progress: Any = None) -> Dataset:
    """The data a run was trained on, loaded again from its source and options; refused when
    it no longer matches what the run recorded (another count, shape or kind)."""
    from genstudio.data import load_dataset

    data = load_dataset(host, run.data, run.data_options, cache_dir=workspace.cache_dir, progress=progress)
    saved = DataSpec.from_dict(run.spec) if run.spec else None
    now = data.spec
    if saved is not None and (saved.shape, saved.kind, saved.count) != (now.shape, now.kind, now.count):
        raise ConfigError(
            f"{run.data}: the data changed since run {run.id} was trained "
            f"({saved.count} x {saved.shape} then, {now.count} x {now.shape} now)"
        )
    return data
