"""A trained model back from a run's record and its last checkpoint, and what every front end
draws from it: samples, sampling chains, density grids and latent interpolations."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    inference_mode,
    prior_sample,
)
from genstudio.host.blame import PluginFailure, blame
from genstudio.runs.store import RunRecord, RunStore
from genstudio.runs.workspace import Workspace
from genstudio.training import checkpoint as ckpt
from genstudio.training.device import resolve_device
from genstudio.training.sampling import sample_array


@dataclass
class LoadedModel:
    run: RunRecord
    model: GenerativeModel
    step: int
    device: torch.device
    checkpoint: str
    damaged: list[str] = field(default_factory=list)
    """Newer checkpoints that were skipped as damaged, one message each (for the person)."""


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
    damaged: list[str] = []
    if checkpoint_path is not None:
        loaded = ckpt.load_checkpoint(checkpoint_path, device="cpu")
    else:
        found = ckpt.latest_intact(folder, device="cpu")
        loaded, damaged = found.loaded, found.damaged
    if loaded is None and damaged:
        raise CheckpointError(f"run {run.id} ({run.name}) has no intact checkpoint: " + "; ".join(damaged))
    if loaded is None:
        raise CheckpointError(f"run {run.id} ({run.name}) has no checkpoint yet")
    state, meta = loaded
    config = config_from_dict(model_cls.Config, run.config)
    plugin = host.plugin_of_model(run.model)
    try:
        with blame(f"rebuilding run {run.id}", plugin):
            model = model_cls(DataSpec.from_dict(run.spec), config, dev)
            if isinstance(model, torch.nn.Module):
                model.to(dev)
            model.load_checkpoint_state(ckpt.to_device(state["model"], dev))
            if isinstance(model, torch.nn.Module):
                model.eval()
    except PluginFailure as exc:
        if isinstance(exc.exc, CheckpointError):  # the checkpoint does not fit: not the plugin's fault
            raise exc.exc from None
        raise
    path = checkpoint_path or str(ckpt.checkpoint_paths(folder, int(meta["step"]))[1])
    return LoadedModel(run, model, int(meta["step"]), dev, path, damaged)


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


# --------------------------------------------------------------------------------------
# What the window shows beside samples, and `genstudio sample --chain / --interpolate` writes

#: A sampling chain is cut after this many frames (a long Gibbs chain would fill the memory).
MAX_CHAIN_FRAMES = 240
INTERPOLATION_METHODS = ("spherical", "linear")


def _device_of(model: Any) -> Any:
    return getattr(model, "device", "cpu")


def sample_chain(model: Any, n: int, seed: int, max_frames: int = MAX_CHAIN_FRAMES) -> np.ndarray:
    """The sampling process of a model with ``sample_chain`` (Gibbs chains, reverse diffusion):
    ``(F, n, *spec.shape)`` float32, frame 0 first, at most ``max_frames`` frames, from a
    generator seeded with ``seed``. Raises :class:`PluginError` naming the model if it fails."""
    frames = []
    with blame("sampling its chain (sample_chain)"), inference_mode(model):
        gen = torch.Generator(device=_device_of(model)).manual_seed(seed)
        for frame in model.sample_chain(n, generator=gen):
            frames.append(sample_array(frame, model.spec))
            if len(frames) >= max_frames:
                break
    if not frames:
        raise PluginError("the model's sample_chain yielded no frames")
    return np.stack(frames)


def density_grid(model: Any, bounds: tuple[float, float, float, float], size: int = 120) -> np.ndarray:
    """``log_prob`` (nats) of a model of 2-D vectors on a ``size`` x ``size`` grid over
    ``bounds = (x0, x1, y0, y1)``: ``(size, size)`` float32, row ``i`` at ``y = linspace(y0, y1)[i]``."""
    x0, x1, y0, y1 = bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, size), np.linspace(y0, y1, size))
    with blame("computing densities (log_prob)"), inference_mode(model):
        pts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32, device=_device_of(model))
        values = torch.cat([torch.as_tensor(model.log_prob(chunk)).reshape(-1) for chunk in pts.split(4096)])
    return values.float().cpu().numpy().reshape(size, size)


def latent_path(a: np.ndarray, b: np.ndarray, steps: int, method: str = "spherical") -> np.ndarray:
    """``steps`` codes from ``a`` to ``b`` (both ``(D,)``), ends included: ``(steps, D)`` float32.
    ``spherical`` keeps the norm of Gaussian codes (White 2016, "Sampling generative networks");
    ``linear`` is the straight line."""
    from genstudio.metrics.core import slerp

    if method not in INTERPOLATION_METHODS:
        raise ConfigError(f"unknown interpolation {method!r}; choose one of {', '.join(INTERPOLATION_METHODS)}")
    t = np.linspace(0.0, 1.0, steps)
    a2, b2 = np.asarray(a, np.float64).reshape(1, -1), np.asarray(b, np.float64).reshape(1, -1)
    path = slerp(a2, b2, t) if method == "spherical" else a2 + (b2 - a2) * t[:, None]
    return path.astype(np.float32)


def prior_codes(model: Any, seeds: tuple[int, ...]) -> np.ndarray:
    """One latent code per seed, each drawn from the model's prior with its own generator:
    ``(len(seeds), D)`` float32. The same seed gives the same code."""
    with blame("drawing latent codes (sample_latent)"), inference_mode(model):
        codes = [
            prior_sample(model, 1, torch.Generator(device=_device_of(model)).manual_seed(s)).reshape(-1) for s in seeds
        ]
        return torch.stack(codes).float().cpu().numpy()


def encode_examples(model: Any, x: np.ndarray) -> np.ndarray:
    """Latent codes of examples ``x`` (``(N, *spec.shape)`` float in data space): ``(N, D)``."""
    with blame("encoding (encode)"), inference_mode(model):
        z = model.encode(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(_device_of(model)))
        return torch.as_tensor(z).float().reshape(len(x), -1).cpu().numpy()


def interpolate(model: Any, a: np.ndarray, b: np.ndarray, steps: int = 10, method: str = "spherical") -> np.ndarray:
    """Decoded examples along the path from code ``a`` to code ``b``: ``(steps, *spec.shape)``
    float32, ends included (a model with ``decode``)."""
    path = latent_path(a, b, steps, method)
    with blame("decoding (decode)"), inference_mode(model):
        out = model.decode(torch.from_numpy(path).to(_device_of(model)))
        return sample_array(out, model.spec)
