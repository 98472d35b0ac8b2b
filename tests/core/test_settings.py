"""Training settings are declared once (TrainSettings, with param()): the CLI's flags, the
validation and the window's form come from there, and there is one list of devices."""

from __future__ import annotations

from dataclasses import fields

import pytest

from genstudio.api import ConfigError
from genstudio.cli.train import _settings, train_parser
from genstudio.training.device import DEVICES
from genstudio.training.settings import HIDDEN, TrainSettings, setting_param, setting_params

LENGTH = {"steps", "epochs", "minutes"}


def test_every_setting_but_the_length_is_declared_with_param():
    declared = {p.name for p in setting_params(hidden=True)}
    assert declared == {f.name for f in fields(TrainSettings)} - LENGTH
    assert all(p.help for p in setting_params(hidden=True))
    assert setting_param("device").choices == DEVICES


def test_every_declared_setting_is_a_train_flag_with_its_default_in_the_help():
    parser = train_parser(None, ["tiny"])
    text = parser.format_help()
    for p in setting_params():
        assert p.flag in text
    for name in HIDDEN:
        assert setting_param(name).flag not in text
    assert "(default 128)" in text and "--device {auto,cpu,cuda,mps}" in text


def test_flags_become_settings_and_unset_flags_keep_the_declared_defaults():
    parser = train_parser(None, ["tiny"])
    args = parser.parse_args(["tiny", "--data", "d", "--checkpoint-minutes", "0.5", "--batch-size", "16"])
    settings = _settings(args)
    assert settings.checkpoint_minutes == 0.5 and settings.batch_size == 16
    defaults = TrainSettings()
    for p in setting_params():
        if p.name not in ("checkpoint_minutes", "batch_size"):
            assert getattr(settings, p.name) == getattr(defaults, p.name) == p.default


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_samples": 100_001}, "--n-samples: 100001 is out of range; allowed: [0, 100000]"),
        ({"eval_n": 5}, "--eval-n: 5 is out of range"),
        ({"precision": "fp16"}, "--precision: 'fp16' is not allowed; allowed: one of fp32, bf16"),
        ({"keep_checkpoints": 0}, "--keep-checkpoints"),
        ({"checkpoint_minutes": -1.0}, "--checkpoint-minutes"),
        ({"event_rate": 0.0}, "--event-rate"),
        ({"val_fraction": 1.0}, "--val-fraction: 1.0 is not allowed; it must be below 1"),
    ],
)
def test_validation_comes_from_the_declarations(kwargs, message):
    with pytest.raises(ConfigError) as info:
        TrainSettings(**kwargs).validate()
    assert message in str(info.value)


def test_every_device_choice_in_the_cli_is_the_one_list():
    import argparse

    from genstudio.cli import base_parser

    parsers = [train_parser(None, ["tiny"])]
    for action in base_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers += list(action.choices.values())
    choices = [a.choices for p in parsers for a in p._actions if a.dest == "device"]
    assert len(choices) >= 4 and all(tuple(c) == DEVICES for c in choices)
