from __future__ import annotations

import pytest

from unlogit.classifiers.config import ClassifierRunConfig
from unlogit.config import build_config, dump_yaml, list_presets, load_preset_dict, parse_overrides
from unlogit.errors import ConfigError
from unlogit.inversion.config import InverterRunConfig


def test_presets_exist_and_build():
    assert {
        "tiny",
        "tiny-robust",
        "cifar10-resnet",
        "cifar10-resnet-robust",
        "tinyimagenet-resnet18",
        "tinyimagenet-resnet18-robust",
    } <= set(list_presets("classifier"))
    assert {"tiny", "cifar10", "imagenet64", "imagenet128", "tinyimagenet64"} <= set(list_presets("inverter"))
    for name in list_presets("classifier"):
        build_config(ClassifierRunConfig, "classifier", name)
    for name in list_presets("inverter"):
        build_config(InverterRunConfig, "inverter", name)


def test_preset_base_chain_and_overrides():
    cfg = build_config(ClassifierRunConfig, "classifier", "tiny-robust", ["train.lr=1e-4", "data.name=cifar10"])
    assert cfg.train.adversarial is True  # from tiny-robust
    assert cfg.model.arch == "small-cnn"  # inherited from tiny via base:
    assert cfg.train.lr == pytest.approx(1e-4)  # "1e-4" is a string to YAML; coerced to float
    assert cfg.data.name == "cifar10"


def test_fraction_values_are_parsed():
    cfg = build_config(ClassifierRunConfig, "classifier", None, ["train.attack.eps=8/255"])
    assert cfg.train.attack.eps == pytest.approx(8 / 255)


def test_unknown_key_names_key_and_allowed():
    with pytest.raises(ConfigError, match=r"'train.lrr'.*allowed keys:.*'lr'"):
        build_config(ClassifierRunConfig, "classifier", None, ["train.lrr=0.1"])


def test_bad_choice_lists_allowed_values():
    with pytest.raises(ConfigError, match=r"train.schedule.*'linear'.*cosine"):
        build_config(ClassifierRunConfig, "classifier", None, ["train.schedule=linear"])


def test_bad_type_and_range():
    with pytest.raises(ConfigError, match="train.epochs.*integer"):
        build_config(ClassifierRunConfig, "classifier", None, ["train.epochs=many"])
    with pytest.raises(ConfigError, match="train.lr.*> 0"):
        build_config(ClassifierRunConfig, "classifier", None, ["train.lr=-1"])


def test_unknown_preset_lists_choices():
    with pytest.raises(ConfigError, match="unknown classifier preset 'nope'.*tiny"):
        load_preset_dict("classifier", "nope")


def test_override_syntax_error():
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_overrides(["train.lr"])


def test_resolved_config_round_trips_through_yaml():
    import yaml

    from unlogit.config import from_dict

    cfg = build_config(InverterRunConfig, "inverter", "tiny", ["classifier=runs/x"])
    again = from_dict(InverterRunConfig, yaml.safe_load(dump_yaml(cfg)))
    assert again == cfg
