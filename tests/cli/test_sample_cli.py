"""``genstudio sample RUN --chain`` and ``--interpolate A,B``: what the window's Samples and
Latent tabs show, from the command line, computed by the same core functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genstudio.api import hookimpl
from genstudio.cli import main
from genstudio.runs import inference
from genstudio.testing import TinyModel, make_host, train


class Chained(TinyModel):
    """The tiny Gaussian, sampled by a chain of 5 frames that moves from the mean to the sample."""

    name = "tiny-chain"

    def sample_chain(self, n, generator=None):
        final = self.sample(n, generator=generator)
        for k in range(5):
            yield self.mean.view(1, *self.spec.shape) + (final - self.mean.view(1, *self.spec.shape)) * (k / 4)


class P:
    @hookimpl
    def genstudio_register_models(self, registry):
        registry.add(Chained)


@pytest.fixture
def run(gs_workspace, monkeypatch):
    host = make_host(extra=[("p", P())])
    monkeypatch.setattr("genstudio.cli.runs.make_host", lambda workspace: host)
    trainer, _ = train(host, gs_workspace, "tiny-chain", steps=20)
    return host, gs_workspace, trainer.run.id


def sample(workspace, *args):
    return main(["sample", *map(str, args), "--workspace", str(workspace.root)])


def test_chain_writes_every_frame_and_a_picture_of_them(run, tmp_path):
    host, workspace, run_id = run
    npy, png = tmp_path / "chain.npy", tmp_path / "chain.png"
    assert sample(workspace, run_id, "--chain", "-n", 3, "--seed", 4, "-o", npy) == 0
    frames = np.load(npy)
    assert frames.shape == (5, 3, 1, 8, 8) and frames.dtype == np.float32
    model = inference.load_model(host, workspace, run_id).model
    np.testing.assert_allclose(frames, inference.sample_chain(model, 3, seed=4), atol=1e-6)
    assert not np.allclose(frames[0], frames[-1])  # the frames are the process, not one picture
    assert sample(workspace, run_id, "--chain", "-n", 3, "-o", png) == 0 and png.stat().st_size > 0


def test_interpolate_decodes_the_path_between_two_seeds(run, tmp_path):
    host, workspace, run_id = run
    out = tmp_path / "path.npy"
    assert sample(workspace, run_id, "--interpolate", "1,2", "--steps", 7, "--method", "linear", "-o", out) == 0
    path = np.load(out)
    assert path.shape == (7, 1, 8, 8)
    model = inference.load_model(host, workspace, run_id).model
    codes = inference.prior_codes(model, (1, 2))
    with torch.no_grad():
        ends = model.decode(torch.from_numpy(codes)).clamp(0, 1).numpy()
    np.testing.assert_allclose(path[[0, -1]], ends, atol=1e-6)  # the ends are the two seeds' codes
    np.testing.assert_allclose(path[3], model.decode(torch.from_numpy(codes.mean(0, keepdims=True))).clamp(0, 1)
                               .detach().numpy()[0], atol=1e-5)  # fmt: skip


def test_spherical_paths_keep_the_norm_of_equal_norm_codes():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    path = inference.latent_path(a, b, 5, "spherical")
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 3.0, rtol=1e-6)
    assert not np.allclose(path, inference.latent_path(a, b, 5, "linear"))


def test_a_family_without_the_capability_is_a_usage_error(gs_workspace, monkeypatch, tmp_path, capsys):
    host = make_host()
    monkeypatch.setattr("genstudio.cli.runs.make_host", lambda workspace: host)
    trainer, _ = train(host, gs_workspace, "tiny", steps=5)
    assert sample(gs_workspace, trainer.run.id, "--chain", "-o", tmp_path / "c.npy") == 2
    assert "has no sampling chain" in capsys.readouterr().err
    assert sample(gs_workspace, trainer.run.id, "--interpolate", "1", "-o", tmp_path / "i.npy") == 2
    assert "give two seeds" in capsys.readouterr().err
