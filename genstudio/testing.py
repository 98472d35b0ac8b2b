"""Test helpers for GenStudio and its plugin authors: a pytest plugin (entry point ``pytest11``).

Like Lightning's ``BoringModel``, one tiny model and one tiny dataset carry most tests:

- :class:`TinyModel` (``tiny``): a diagonal Gaussian with a learned mean and scale; exact
  ``log_prob``; trains in milliseconds. ``tiny-broken`` raises in ``train_step`` and
  ``tiny-nan`` returns a NaN loss, at the step their ``fail_at`` option names.
- :class:`TinyImages` (``tiny``): 96 8x8 images of bars, two classes; :class:`TinyVectors`
  (``tiny-vectors``): 256 points in 2-D.

Fixtures: ``gs_workspace`` (a fresh workspace), ``gs_host`` (a plugin host with the built-ins
and the tiny plugin, no third-party autoload), ``gs_train`` (train and collect the events).
:func:`dry_run` checks a family end to end in a few steps; a plugin's own tests call it::

    def test_my_family(gs_host, gs_workspace):
        from genstudio.testing import dry_run
        dry_run(gs_host, gs_workspace, "mymodel", data="moons")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genstudio.api import Batch, Dataset, DataSource, DataSpec, Registry, TorchModel, hookimpl, param

# torch is imported by genstudio.api anyway; the plugin stays import-cheap otherwise


@dataclass
class TinyConfig:
    lr: float = param(0.05, min=1e-5, max=1.0, log=True, help="Adam learning rate", tune=True)
    init_scale: float = param(1.0, min=1e-3, max=10.0, help="Initial standard deviation")
    fail_at: int = param(3, min=1, help="tiny-broken and tiny-nan: the step that goes wrong")


class TinyModel(TorchModel):
    """A diagonal Gaussian over the flattened data, fitted by maximum likelihood."""

    name = "tiny"
    title = "Tiny Gaussian"
    description = "A diagonal Gaussian: the smallest model that learns (for tests)"
    accepts = {"image", "vector"}
    Config = TinyConfig

    def __init__(self, spec: DataSpec, config: TinyConfig, device: Any = "cpu"):
        super().__init__(spec, config, device)
        import torch

        self.mean = torch.nn.Parameter(torch.zeros(spec.dim))
        self.log_scale = torch.nn.Parameter(torch.full((spec.dim,), math.log(config.init_scale)))
        self.opt = torch.optim.Adam(self.parameters(), lr=config.lr)
        self.latent_dim = spec.dim

    def scale(self) -> Any:
        # bounded below: constant pixels would otherwise drive the likelihood to infinity
        return self.log_scale.clamp(min=-3.0).exp()

    def log_prob(self, x: Any) -> Any:
        """Exact log-density, nats per example (N,)."""
        scale = self.scale()
        z = (x.flatten(1) - self.mean) / scale
        return (-0.5 * z.pow(2) - scale.log() - 0.5 * math.log(2 * math.pi)).sum(1)

    def train_step(self, batch: Batch) -> dict[str, Any]:
        loss = -self.log_prob(batch.x).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"nll": loss.detach(), "scale": float(self.scale().detach().mean())}

    def evaluate(self, batch: Batch) -> dict[str, float]:
        return {"nll": float(-self.log_prob(batch.x).mean())}

    def decode(self, z: Any) -> Any:
        x = self.mean + z * self.scale()
        if self.spec.kind == "image":
            x = x.clamp(0, 1)
        return x.view(len(z), *self.spec.shape)

    def encode(self, x: Any) -> Any:
        return (x.flatten(1) - self.mean) / self.scale()

    def sample(self, n: int, generator: Any = None) -> Any:
        import torch

        z = torch.randn(n, self.spec.dim, generator=generator, device=self.mean.device)
        return self.decode(z)


class BrokenModel(TinyModel):
    """Raises in ``train_step`` at step ``fail_at``."""

    name = "tiny-broken"
    title = "Tiny (raises)"

    def train_step(self, batch: Batch) -> dict[str, Any]:
        # the host keeps the step: self.step steps are done, this is step self.step + 1
        if self.step + 1 >= self.config.fail_at:
            raise RuntimeError(f"tiny-broken fails on purpose at step {self.step + 1}")
        return super().train_step(batch)


class NaNModel(TinyModel):
    """Returns a NaN loss at step ``fail_at``."""

    name = "tiny-nan"
    title = "Tiny (NaN loss)"

    def train_step(self, batch: Batch) -> dict[str, Any]:
        out = super().train_step(batch)
        if self.step + 1 >= self.config.fail_at:
            out["nll"] = float("nan")
        return out


def tiny_images(n: int = 96, size: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 1, size, size)`` uint8 images of one horizontal (class 0) or vertical (class 1) bar."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, size, size), np.uint8)
    y = rng.integers(0, 2, n)
    pos = rng.integers(1, size - 1, n)
    for i in range(n):
        if y[i] == 0:
            x[i, 0, pos[i], :] = 255
        else:
            x[i, 0, :, pos[i]] = 255
    return x, y.astype(np.int64)


@dataclass
class TinyOptions:
    n: int = param(96, min=4, max=100_000, help="Number of examples")
    size: int = param(8, min=4, max=64, help="Image side")


class TinyImages(DataSource):
    name = "tiny"
    title = "Tiny bars"
    description = "96 8x8 images of a horizontal or vertical bar (for tests)"
    Options = TinyOptions

    def load(self, options: Any, path: Any, context: Any) -> Dataset:
        x, y = tiny_images(options.n, options.size)
        spec = DataSpec("image", x.shape[1:], len(x), classes=("horizontal", "vertical"), source=self.name)
        return Dataset(x, y, spec)


class TinyVectors(DataSource):
    name = "tiny-vectors"
    title = "Tiny 2-D blob"
    description = "256 points from a 2-D Gaussian centred at (1, -1) (for tests)"

    def load(self, options: Any, path: Any, context: Any) -> Dataset:
        x = np.random.default_rng(0).normal(0, 0.5, (256, 2)).astype(np.float32) + np.array([1, -1], np.float32)
        spec = DataSpec("vector", (2,), len(x), value_range=(float(x.min()), float(x.max())), source=self.name)
        return Dataset(x, None, spec)


class TinyPlugin:
    """The tiny model and data as a plugin object: ``create_plugin_manager(extra=[("tiny", TinyPlugin())])``."""

    @hookimpl
    def genstudio_register_models(self, registry: Registry) -> None:
        for cls in (TinyModel, BrokenModel, NaNModel):
            registry.add(cls)

    @hookimpl
    def genstudio_register_datasets(self, registry: Registry) -> None:
        registry.add(TinyImages)
        registry.add(TinyVectors)


def make_host(workspace: Any = None, **kwargs: Any) -> Any:
    """A plugin host with the built-ins and the tiny plugin; no entry points, no drop-ins, and
    every plugin on, whatever the user switched off (``disabled=None`` honours that)."""
    from genstudio.host import create_plugin_manager

    kwargs.setdefault("autoload", False)
    kwargs.setdefault("disabled", ())
    extra = [*list(kwargs.pop("extra", ())), ("tiny", TinyPlugin())]
    return create_plugin_manager(workspace, extra=extra, **kwargs)


def train(host: Any, workspace: Any, model: str, data: str = "tiny", **kwargs: Any) -> tuple[Any, list]:
    """Train to the end and return ``(trainer, events)``. Keyword arguments: ``config``,
    ``data_options``, ``name``, and any :class:`TrainSettings` field."""
    from genstudio.runs.trainer import Trainer
    from genstudio.training.settings import TrainSettings

    config = kwargs.pop("config", None)
    data_options = kwargs.pop("data_options", None)
    name = kwargs.pop("name", None)
    kwargs.setdefault("device", "cpu")
    trainer = Trainer.new(
        host,
        workspace,
        model,
        data,
        config=config,
        data_options=data_options,
        settings=TrainSettings(**kwargs),
        name=name,
    )
    return trainer, list(trainer.events())


def dry_run(host: Any, workspace: Any, model: str, data: str = "tiny", steps: int = 4, **kwargs: Any) -> list:
    """Train ``steps`` steps and check the run end to end: it finishes, its losses are finite,
    samples come shaped like the data, and its checkpoint rebuilds a model that samples."""
    import torch

    from genstudio.runs.inference import load_model

    trainer, events = train(host, workspace, model, data, steps=steps, **kwargs)
    kinds = [e.type for e in events]
    assert kinds[0] == "started", kinds
    failed = [e for e in events if e.type == "failed"]
    assert not failed, f"{model} failed: {failed[0].message}\n{failed[0].traceback or ''}"
    assert kinds[-1] == "finished" and events[-1].status == "finished", kinds
    assert trainer.step == steps
    assert events[-1].losses and all(math.isfinite(v) for v in events[-1].losses.values()), events[-1].losses
    shape = tuple(trainer.dataset.spec.shape)
    grids = [e for e in events if e.type == "samples"]
    assert grids and all(g.samples.shape[1:] == shape for g in grids)
    assert Path(grids[-1].path).is_file()
    assert np.isfinite(grids[-1].samples).all()
    loaded = load_model(host, workspace, trainer.run.id)
    with torch.no_grad():
        out = loaded.model.sample(3, generator=torch.Generator().manual_seed(0))
    assert tuple(out.shape) == (3, *shape)
    return events


# -- pytest fixtures --------------------------------------------------------------------------


@pytest.fixture
def gs_workspace(tmp_path: Path) -> Any:
    """A fresh, empty workspace."""
    from genstudio.runs.workspace import Workspace

    return Workspace(tmp_path / "workspace")


@pytest.fixture
def gs_host(gs_workspace: Any) -> Any:
    """A plugin host with the built-ins and the tiny plugin (no third-party autoload)."""
    return make_host(gs_workspace.root)


@pytest.fixture
def gs_train(gs_host: Any, gs_workspace: Any) -> Any:
    """``gs_train(model, data="tiny", **settings) -> (trainer, events)``."""

    def run(model: str, data: str = "tiny", **kwargs: Any) -> tuple[Any, list]:
        return train(gs_host, gs_workspace, model, data, **kwargs)

    return run
