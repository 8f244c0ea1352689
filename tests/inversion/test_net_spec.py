"""``NetSpec``: one typed description from the config to the builder to model.json and back."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from unlogit.config import build_config
from unlogit.errors import CheckpointError, ConfigError
from unlogit.inversion.config import InverterModelConfig, InverterRunConfig
from unlogit.inversion.metadata import read_inverter_meta
from unlogit.inversion.methods import METHODS
from unlogit.inversion.net_spec import NetSpec
from unlogit.inversion.nets.generator import Generator


def test_the_config_hands_every_shared_field_to_the_spec_by_name():
    cfg = build_config(InverterRunConfig, "inverter", "tiny", ["model.shared_dim=8", "model.attention=[16]"])
    spec = cfg.model.net_spec(num_classes=10, channels=3, resolution=32)
    model_fields = {f.name for f in dataclasses.fields(InverterModelConfig)}
    for f in dataclasses.fields(NetSpec):
        if f.name in model_fields and f.name != "resolution":
            assert getattr(spec, f.name) == getattr(cfg.model, f.name) or f.name in ("attention", "g_channels")
    assert spec.attention == (16,) and spec.shared_dim == 8 and spec.resolution == 32


def test_the_spec_is_frozen_and_round_trips_through_json():
    spec = NetSpec("gan", 10, 32, 3, attention=[16], g_channels=[4, 2, 1, 1])
    assert spec.attention == (16,) and spec.g_channels == (4, 2, 1, 1)  # lists become tuples
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.ch_g = 8  # type: ignore[misc]
    assert NetSpec.parse(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize(
    "field,value,named",
    [
        ("resolution", 48, "net.resolution"),
        ("ch_g", 10**6, "net.ch_g"),
        ("encoder", "softmax", "encoder"),
        ("dim_z", "many", "net.dim_z"),
    ],
)
def test_a_bad_stored_field_is_named(field, value, named):
    good = NetSpec("gan", 10, 32, 3).to_dict()
    with pytest.raises(ConfigError, match=named):
        NetSpec.parse({**good, field: value})


def test_model_json_without_a_known_method_is_refused():
    raw = {"method": "nope", "net": {**NetSpec("gan", 10, 32, 3).to_dict(), "method": "nope"}, "classifier": "x"}
    with pytest.raises(CheckpointError, match="nope"):
        read_inverter_meta(raw, "model.json")


def test_g_shared_embedding_is_plain_and_a_spec_written_before_the_field_keeps_its_norm():
    plain = METHODS.get("gan").build_net(NetSpec("gan", 10, 32, 3, ch_g=2, dim_z=8, shared_dim=4), None, None)
    assert isinstance(plain.shared, torch.nn.Linear) and not hasattr(plain.shared, "parametrizations")
    old = {**NetSpec("gan", 10, 32, 3, ch_g=2, dim_z=8, shared_dim=4).to_dict()}
    del old["shared_sn"]  # model.json of a run trained before the field existed
    meta = read_inverter_meta({"method": "gan", "net": old, "classifier": "x"}, "model.json")
    assert meta.net.shared_sn is True
    legacy = METHODS.get("gan").build_net(meta.net, None, None)
    assert hasattr(legacy.shared, "parametrizations")  # spectrally normalised, so its weights still load
    assert Generator(10, 32, 3, ch=2, dim_z=8, shared_dim=4, sn=False, shared_sn=True).shared.__class__ is (
        torch.nn.Linear
    )
