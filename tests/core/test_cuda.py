"""On a CUDA device: every built-in family trains on the GPU, and its run opens on the CPU, as a
run trained on a GPU machine and then looked at on a laptop.

Skipped where there is no CUDA device (CI has none); run by hand where a GPU is lent:
``python -m pytest tests/core/test_cuda.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genstudio.api import capabilities
from genstudio.runs.inference import load_model
from genstudio.testing import train
from tests.plugins.test_families import cases

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _device_type(model) -> str:
    if isinstance(model, torch.nn.Module):
        tensors = [*model.parameters(), *model.buffers()]
        if tensors:
            return tensors[0].device.type
    return torch.device(getattr(model, "device", "cpu")).type


@pytest.mark.parametrize(("model", "data"), list(cases()))
def test_trains_on_cuda_and_opens_on_the_cpu(gs_host, gs_workspace, model, data):
    trainer, events = train(gs_host, gs_workspace, model, data, steps=6, device="cuda")
    failed = [e for e in events if e.type == "failed"]
    assert not failed, f"{model} failed on CUDA: {failed[0].message}\n{failed[0].traceback or ''}"
    assert events[-1].type == "finished" and trainer.step == 6
    assert all(math.isfinite(v) for v in events[-1].losses.values()), events[-1].losses
    assert _device_type(trainer.model) == "cuda"
    grids = [e for e in events if e.type == "samples"]
    assert grids and isinstance(grids[-1].samples, np.ndarray) and np.isfinite(grids[-1].samples).all()

    shape = tuple(trainer.dataset.spec.shape)
    on_cpu = load_model(gs_host, gs_workspace, trainer.run.id, device="cpu")
    on_gpu = load_model(gs_host, gs_workspace, trainer.run.id, device="cuda")
    assert _device_type(on_cpu.model) == "cpu" and _device_type(on_gpu.model) == "cuda"
    with torch.no_grad():
        drawn = on_cpu.model.sample(3, generator=torch.Generator().manual_seed(0))
    assert tuple(drawn.shape) == (3, *shape) and torch.isfinite(drawn).all()
    if model == "flow":  # an exact likelihood: the same numbers from the same weights on either device
        x = torch.from_numpy(trainer.dataset.x[:16]).float()
        if trainer.dataset.x.dtype == np.uint8:  # the middle of each grey level's bin
            x = (x + 0.5) / 256.0
        assert "log_prob" in capabilities(on_cpu.model)
        # in full fp32: by default cuDNN convolves in TF32 on Ampere and later (10-bit mantissa)
        with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            cpu = on_cpu.model.log_prob(x)
            gpu = on_gpu.model.log_prob(x.cuda()).cpu()
        torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-2)


def test_bf16_autocast_trains(gs_host, gs_workspace):
    trainer, events = train(gs_host, gs_workspace, "vae", "tiny", steps=6, device="cuda", precision="bf16")
    assert events[-1].type == "finished", [e.message for e in events if e.type == "failed"]
    assert all(math.isfinite(v) for v in events[-1].losses.values())
    assert trainer.step == 6 and _device_type(trainer.model) == "cuda"
