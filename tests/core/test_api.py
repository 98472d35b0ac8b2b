"""The plugin contract in genstudio.api: hyperparameters, specs, base classes, capabilities."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import torch

from genstudio.api import (
    ConfigError,
    DataError,
    DataSpec,
    GenerativeModel,
    Param,
    PluginError,
    TorchModel,
    capabilities,
    config_from_dict,
    config_to_dict,
    param,
    params,
    prior_sample,
)
from genstudio.testing import TinyModel


@dataclass
class Cfg:
    units: int = param(16, min=1, max=512, help="Units")
    lr: float = param(1e-3, min=1e-6, max=1.0, log=True, help="Rate")
    act: str = param("relu", choices=("relu", "tanh"), help="Activation")
    norm: bool = param(False, help="Normalise")
    plain: int = 3


def test_params_read_the_dataclass_in_order():
    ps = params(Cfg)
    assert [p.name for p in ps] == ["units", "lr", "act", "norm", "plain"]
    units, lr, act, norm, plain = ps
    assert (units.type, units.default, units.min, units.max, units.help) == (int, 16, 1, 512, "Units")
    assert lr.log and lr.type is float
    assert act.choices == ("relu", "tanh")
    assert norm.type is bool
    assert plain == Param("plain", int, 3)
    assert units.flag == "--units" and Param("latent_dim", int, 1).flag == "--latent-dim"


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("units", "32", 32),
        ("units", "1e2", 100),
        ("units", "64.0", 64),
        ("lr", "3e-4", 3e-4),
        ("act", "tanh", "tanh"),
        ("norm", "yes", True),
        ("norm", "False", False),
        ("norm", "1", True),
    ],
)
def test_param_parse(name, text, value):
    p = {p.name: p for p in params(Cfg)}[name]
    assert p.parse(text) == value


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("units", "0", "out of range; allowed: [1, 512]"),
        ("units", "2.5", "not an integer"),
        ("units", "many", "not an integer"),
        ("lr", "nan", "not a finite number"),
        ("lr", "2", "allowed: [1e-06, 1]"),
        ("act", "gelu", "allowed: one of relu, tanh"),
        ("norm", "maybe", "not true or false"),
    ],
)
def test_param_refuses_with_the_allowed_values(name, text, message):
    p = {p.name: p for p in params(Cfg)}[name]
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        p.parse(text)
    assert str(info.value).startswith(f"{name}: ")


def test_describe_range_gives_numbers_a_range_and_text_none():
    ranges = [p.describe_range() for p in params(Cfg)]
    assert ranges == ["[1, 512]", "[1e-06, 1]", "one of relu, tanh", "true or false", "[-inf, inf]"]
    assert Param("path", str, "").describe_range() == "any text"


def test_param_rules_are_checked_when_declared():
    with pytest.raises(ValueError, match="positive min"):
        param(1.0, log=True)

    @dataclass
    class NoDefault:
        x: int

    with pytest.raises(PluginError, match="has no default"):
        params(NoDefault)

    @dataclass
    class BadType:
        x: list = param(None)

    with pytest.raises(PluginError, match="not one of int, float, bool, str"):
        params(BadType)

    with pytest.raises(PluginError, match="not a dataclass"):
        params(object)


def test_config_round_trip_and_unknown_names():
    cfg = config_from_dict(Cfg, {"units": 8, "act": "tanh"})
    assert (cfg.units, cfg.act, cfg.lr) == (8, "tanh", 1e-3)
    assert config_from_dict(Cfg, config_to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="unknown option 'width'"):
        config_from_dict(Cfg, {"width": 3})
    with pytest.raises(ConfigError, match="out of range"):
        config_from_dict(Cfg, {"units": 10_000})


def test_dataspec_round_trips_through_json():
    import json

    spec = DataSpec("image", [1, 8, 8], 10, (0, 1), classes=[0, 1], source="x", factors=["a"])
    assert spec.shape == (1, 8, 8) and spec.classes == ("0", "1") and spec.dim == 64 and spec.num_classes == 2
    again = DataSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    with pytest.raises(ValueError, match="kind must be one of"):
        DataSpec("audio", (3,), 1)


def test_data_error_names_the_file():
    err = DataError("is truncated", "/tmp/a.png")
    assert str(err) == "/tmp/a.png: is truncated" and err.path == "/tmp/a.png" and err.problem == "is truncated"


def test_capabilities_are_detected_by_presence():
    assert capabilities(TinyModel) == {"log_prob", "evaluate", "encode", "decode"}

    class Bare(GenerativeModel):
        def train_step(self, batch):
            return {}

    assert capabilities(Bare) == set()


def test_check_data_explains_refusal():
    spec = DataSpec("tabular", (3,), 10)
    assert TinyModel.check_data(spec) == "Tiny Gaussian trains on image, vector data, not tabular"
    assert TinyModel.check_data(DataSpec("vector", (3,), 10)) is None


def test_torch_model_checkpoint_state_round_trip(tmp_path):
    from genstudio.training.checkpoint import load_checkpoint, save_checkpoint

    spec = DataSpec("vector", (3,), 10)
    a = TinyModel(spec, TinyModel.Config())
    x = torch.randn(8, 3)
    from genstudio.api import Batch

    for _ in range(3):
        a.train_step(Batch(x))
    state = a.checkpoint_state()
    assert set(state) == {"module", "optimizers", "extra"} and "opt" in state["optimizers"]
    state, _ = load_checkpoint(save_checkpoint(tmp_path, 3, state, {}))
    b = TinyModel(spec, TinyModel.Config())
    b.load_checkpoint_state(state)
    assert torch.equal(a.mean, b.mean)
    # the optimizer's moments came along: the next steps are identical
    a.train_step(Batch(x))
    b.train_step(Batch(x))
    assert torch.equal(a.mean, b.mean)


def test_warnings_are_collected_once():
    m = TinyModel(DataSpec("vector", (2,), 4), TinyModel.Config())
    m.warn("discriminator wins")
    assert m.take_warnings() == ["discriminator wins"] and m.take_warnings() == []


def test_prior_sample_uses_latent_dim_or_the_models_own():
    m = TinyModel(DataSpec("vector", (5,), 4), TinyModel.Config())
    assert prior_sample(m, 3).shape == (3, 5)

    class Own(TorchModel):
        latent_dim = 2

        def sample_latent(self, n, generator=None):
            return torch.ones(n, 2)

    own = Own.__new__(Own)
    assert torch.equal(prior_sample(own, 2), torch.ones(2, 2))


def test_adam_is_fused_where_the_device_has_a_kernel_and_steps_like_adam():
    import torch

    from genstudio.api import adam

    torch.manual_seed(0)
    a, b = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    fused, plain = (
        adam(a.parameters(), lr=0.1, betas=(0.5, 0.9)),
        torch.optim.Adam(b.parameters(), lr=0.1, betas=(0.5, 0.9)),
    )
    assert fused.defaults["fused"] is True and not plain.defaults["fused"]
    x = torch.randn(16, 5)
    for _ in range(5):
        for net, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            net(x).pow(2).sum().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)  # the same update
    again = adam(torch.nn.Linear(5, 3).parameters(), lr=0.1, betas=(0.5, 0.9))
    again.load_state_dict(plain.state_dict())  # a checkpoint written by either loads into the other
    assert adam([torch.zeros(2, dtype=torch.float64, requires_grad=True)], foreach=False).defaults["fused"] in (
        None,
        False,
    )
