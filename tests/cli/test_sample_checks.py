"""A sample is never NaN or infinite silently: ``genstudio sample``, the host's sample arrays and
every metric name the broken samples (and the temperature they were drawn at) instead."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genstudio.api import DataSpec, PluginError
from genstudio.cli import main
from genstudio.metrics.core import non_finite_message
from genstudio.runs.inference import sample_array

NAN_DROPIN = """
import torch
from genstudio.api import hookimpl
from genstudio.testing import TinyModel

class NaNOnLargeDraws(TinyModel):
    name = "tiny-nansample"

    def sample(self, n, generator=None):
        out = super().sample(n, generator)
        if n >= 100:  # the live grids (64) stay clean, so the run itself trains
            out[5, 0, 0, 0] = float("nan")
            out[7] = float("inf")
        return out

@hookimpl
def genstudio_register_models(registry):
    registry.add(NaNOnLargeDraws)
"""


@pytest.fixture
def ws(tmp_path, monkeypatch):
    root = tmp_path / "ws"
    (root / "plugins").mkdir(parents=True)
    (root / "plugins" / "nan_models.py").write_text(NAN_DROPIN)
    (root / "plugins" / "data.py").write_text(
        "from genstudio.api import hookimpl\nfrom genstudio.testing import TinyImages\n\n"
        "@hookimpl\ndef genstudio_register_datasets(registry):\n    registry.add(TinyImages)\n"
    )
    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(root))
    monkeypatch.delenv("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return root


def test_the_sample_command_names_the_broken_samples_and_writes_nothing(ws, capsys, tmp_path):
    assert main(["train", "tiny-nansample", "--data", "tiny", "--steps", "3"]) == 0
    out = tmp_path / "s.npy"
    code = main(["sample", "1", "-n", "600", "-o", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and not out.exists() and "Traceback" not in err
    assert "2 of 512 samples hold NaN or infinite values (sample 5, 7)" in err


def test_sample_arrays_and_metrics_name_the_samples_and_the_temperature():
    images = DataSpec("image", (1, 2, 2), 10)
    x = torch.rand(30, 1, 2, 2)
    x[12, 0, 1, 1] = float("-inf")  # clamping alone would have turned it into a 0 pixel
    with pytest.raises(
        ValueError, match=r"1 of 30 samples hold NaN or infinite values at temperature 0.7 \(sample 112\)"
    ):
        sample_array(x, images, offset=100, temperature=0.7)
    assert non_finite_message(np.zeros((3, 4))) is None
    many = np.full((25, 2), np.nan)
    assert non_finite_message(many).endswith("(sample 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...)")


def test_metrics_refuse_non_finite_samples_naming_them():
    from genstudio.api import Dataset
    from genstudio.host import create_plugin_manager
    from genstudio.metrics.evaluate import evaluate_model

    class Broken:
        spec = DataSpec("vector", (2,), 40)
        device = torch.device("cpu")

        def sample(self, n, generator=None):
            out = torch.randn(n, 2, generator=generator)
            out[3] = float("nan")
            return out

    data = Dataset(np.random.default_rng(0).standard_normal((40, 2)).astype(np.float32), None, Broken.spec)
    with pytest.raises(
        PluginError, match=r"samples are broken: 1 of 20 samples hold NaN or infinite values \(sample 3\)"
    ):
        evaluate_model(create_plugin_manager(autoload=False), Broken(), data, metrics=["memo"], n=20)


def test_metrics_sample_at_temperature_1_whatever_the_pictures_default():
    """A family may draw its pictures colder (the flow's 0.7); metrics measure the model at T = 1."""
    from genstudio.api import Dataset
    from genstudio.host import create_plugin_manager
    from genstudio.metrics.evaluate import evaluate_model

    seen = []

    class Cold:
        spec = DataSpec("vector", (2,), 40)
        device = torch.device("cpu")

        def sample(self, n, generator=None, temperature=None):
            seen.append(temperature)
            t = 0.7 if temperature is None else temperature
            return t * torch.randn(n, 2, generator=generator)

    data = Dataset(np.random.default_rng(0).standard_normal((40, 2)).astype(np.float32), None, Cold.spec)
    evaluate_model(create_plugin_manager(autoload=False), Cold(), data, metrics=["memo"], n=20)
    assert seen and set(seen) == {1.0}


def test_the_flow_draws_pictures_at_0_7_and_vectors_at_1():
    from genstudio_plugins.flow import Flow, FlowConfig

    image = Flow.resolve_config(FlowConfig(), DataSpec("image", (1, 8, 8), 10), "cpu")
    vector = Flow.resolve_config(FlowConfig(), DataSpec("vector", (2,), 10), "cpu")
    assert (image.temperature, vector.temperature) == (0.7, 1.0)
    assert Flow.resolve_config(FlowConfig(temperature=1.3), DataSpec("image", (1, 8, 8), 10), "cpu").temperature == 1.3
