"""Attribute directions on ``shapes``, whose generative factors are known."""

from __future__ import annotations

import numpy as np
import pytest

from genstudio.api import ConfigError
from genstudio.apply.attributes import attributes_of, direction, edit_examples, group
from genstudio.runs.inference import load_model, load_run_data
from genstudio.testing import train


@pytest.fixture(scope="module")
def shapes_vae(tmp_path_factory):
    from genstudio.runs.workspace import Workspace
    from genstudio.testing import make_host

    ws = Workspace(tmp_path_factory.mktemp("ws"))
    host = make_host(ws.root)
    trainer, events = train(
        host,
        ws,
        "vae",
        "shapes",
        data_options={"size": 16, "n": 3000},
        steps=600,
        batch_size=64,
        # a constant rate, as this recipe was written for: the default cosine decay halves
        # what 600 steps learn, and the decoder then barely uses the code
        config={"latent_dim": 6, "arch": "mlp", "hidden": 256, "lr_decay": "none"},
    )
    assert events[-1].type == "finished", events[-1]
    loaded = load_model(host, ws, trainer.run.id)
    return loaded.model, load_run_data(host, ws, loaded.run)


def test_shapes_offers_its_label_and_factors(shapes_vae):
    _, data = shapes_vae
    assert attributes_of(data) == ["label", "shape", "scale", "orientation", "pos_x", "pos_y"]
    small, big = group(data, "scale", "0.5"), group(data, "scale", "1")
    assert len(small) and len(big) and not set(small) & set(big)
    with pytest.raises(ConfigError, match="no attribute 'colour'; it has: label, shape"):
        group(data, "colour", "red")
    with pytest.raises(ConfigError, match="scale never takes a value near 7"):
        group(data, "scale", "7")


def test_moving_along_the_scale_direction_grows_the_sprites_monotonically(shapes_vae):
    model, data = shapes_vae
    d = direction(model, data, "scale", "0.5", "1")
    alphas = [float(a) for a in np.linspace(0.0, 1.0, 6)]
    edits = edit_examples(model, data, d, n=32, alphas=alphas)  # (32, 6, 1, 16, 16)
    # the sprite's size: its area, the sum of its grey levels
    area = edits.reshape(32, len(alphas), -1).sum(-1).mean(0)
    assert np.all(np.diff(area) > 0), area
    # by a good part of what separates the data's sprites of scale 1 from those of scale 0.5
    # (a short-trained VAE's decoded means are blurred, which shrinks the difference)
    real = [data.as_float(group(data, "scale", v)).reshape(-1, 256).sum(1).mean() for v in ("0.5", "1")]
    assert area[-1] - area[0] > 0.3 * (real[1] - real[0])
    # a group's direction to itself is nothing
    assert float(direction(model, data, "label", "square", "square").vector.norm()) == 0.0
