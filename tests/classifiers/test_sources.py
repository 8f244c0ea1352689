"""Classifiers from elsewhere, each built by the test itself: ONNX, timm, a RobustBench-layout folder, and the
URL-style input conventions."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from unlogit.classifiers import load_classifier
from unlogit.classifiers.spec import parse_convention, split_options
from unlogit.errors import UnlogitError

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
OPTS = f"mean={','.join(map(str, MEAN))}&std={','.join(map(str, STD))}"


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 10),
    ).eval()


def _reference(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net((x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1))


def test_options_are_parsed_and_checked(tmp_path):
    base, opts = split_options("onnx:m.onnx?mean=0.5,0.5,0.5&layout=nhwc&size=64")
    assert base == "onnx:m.onnx" and opts == {"mean": "0.5,0.5,0.5", "layout": "nhwc", "size": "64"}
    conv = parse_convention(opts, "x")
    assert conv.mean == (0.5, 0.5, 0.5) and conv.layout == "nhwc" and conv.size == 64
    (tmp_path / "names.txt").write_text("cat\ndog\n")
    assert parse_convention({"classes": str(tmp_path / "names.txt")}, "x").classes == ("cat", "dog")
    assert parse_convention({"classes": "3"}, "x").classes == ("0", "1", "2")
    for bad, words in (
        ({"layout": "hwc"}, "nchw or nhwc"),
        ({"std": "0,1,1"}, "must be > 0"),
        ({"size": "-3"}, "integer from 1 to 1024"),
        ({"colour": "1"}, "unknown option 'colour'"),
    ):
        with pytest.raises(UnlogitError, match=words):
            parse_convention(bad, "x")


@pytest.mark.parametrize("layout,batch", [("nchw", "dynamic"), ("nhwc", "dynamic"), ("nchw", "fixed-1")])
def test_an_onnx_classifier_matches_the_network_it_was_exported_from(tmp_path, layout, batch):
    pytest.importorskip("onnx2torch", reason="needs the onnx extra (onnx, onnx2torch)")
    net = _net()
    exported = net if layout == "nchw" else _Nhwc(net)
    dummy = torch.zeros(1, 3, 32, 32) if layout == "nchw" else torch.zeros(1, 32, 32, 3)
    axes = {"x": {0: "batch"}} if batch == "dynamic" else None
    torch.onnx.export(exported, dummy, str(tmp_path / "m.onnx"), dynamo=False, input_names=["x"], dynamic_axes=axes)
    clf = load_classifier(f"onnx:{tmp_path / 'm.onnx'}?{OPTS}&layout={layout}")
    x = torch.rand(5, 3, 32, 32)
    assert torch.allclose(clf.predict_logits(x), _reference(net, x), atol=1e-4)
    assert clf.num_classes == 10 and clf.info["convention"]["layout"] == layout
    x.requires_grad_(True)  # gradients flow: attacks and optimisation inversion work on it
    clf(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


class _Nhwc(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.permute(0, 3, 1, 2))


def test_a_timm_model_with_local_random_weights(tmp_path):
    timm = pytest.importorskip("timm", reason="needs the timm extra")
    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=10).eval()
    from safetensors.torch import save_file

    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    clf = load_classifier(f"timm:resnet18?weights={tmp_path / 'w.safetensors'}&num_classes=10")
    x = torch.rand(2, 3, 64, 64)
    mean = torch.tensor(model.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.pretrained_cfg["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(clf.predict_logits(x), model((x - mean) / std), atol=1e-4)


def test_a_robustbench_layout_folder(tmp_path, monkeypatch):
    """RobustBench's model zoo contract (model_dicts[dataset][threat][name]["model"]()), its folder layout
    MODEL_DIR/DATASET/THREAT/NAME.pt, weights read with weights_only=True, and nothing downloaded."""
    zoo = types.ModuleType("robustbench.model_zoo")
    enums = types.ModuleType("robustbench.model_zoo.enums")
    enums.BenchmarkDataset, enums.ThreatModel = str, str
    zoo.model_dicts = {"cifar10": {"Linf": {"Tiny2025": {"model": _net}}}}
    for name, module in (
        ("robustbench", types.ModuleType("robustbench")),
        ("robustbench.model_zoo", zoo),
        ("robustbench.model_zoo.enums", enums),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    spec = f"robustbench:Tiny2025?dataset=cifar10&threat=Linf&model_dir={tmp_path / 'models'}"
    with pytest.raises(UnlogitError, match="never downloads them.*load_model"):
        load_classifier(spec)
    (tmp_path / "models" / "cifar10" / "Linf").mkdir(parents=True)
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in _net(3).state_dict().items()}},
        tmp_path / "models" / "cifar10" / "Linf" / "Tiny2025.pt",
    )
    clf = load_classifier(spec)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(clf.predict_logits(x), _net(3)(x), atol=1e-5)  # RobustBench models take [0,1]


class _ImageNormalizer(torch.nn.Module):
    """Built like RobustBench's ImageNet wrapper: constant buffers the checkpoints do not carry."""

    def __init__(self, mean, std) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.as_tensor(std).view(1, 3, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def _imagenet_entry(seed: int = 0) -> torch.nn.Module:
    """``normalize_model(net, mu, sigma)`` as RobustBench's ImageNet zoo builds its entries (1000 outputs)."""
    from collections import OrderedDict

    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 1000)
    )
    wrapper = _ImageNormalizer((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    return torch.nn.Sequential(OrderedDict([("normalize", wrapper), ("model", net)])).eval()


def _fake_robustbench(monkeypatch, dataset: str, name: str, factory) -> None:
    zoo = types.ModuleType("robustbench.model_zoo")
    enums = types.ModuleType("robustbench.model_zoo.enums")
    enums.BenchmarkDataset, enums.ThreatModel = str, str
    zoo.model_dicts = {dataset: {"Linf": {name: {"model": factory}}}}
    for module_name, module in (
        ("robustbench", types.ModuleType("robustbench")),
        ("robustbench.model_zoo", zoo),
        ("robustbench.model_zoo.enums", enums),
    ):
        monkeypatch.setitem(sys.modules, module_name, module)


@pytest.mark.parametrize("layout", ["net keys, as RobustBench ships them", "wrapper keys without the normaliser"])
def test_a_robustbench_imagenet_model_loads_from_either_key_layout(tmp_path, monkeypatch, layout):
    _fake_robustbench(monkeypatch, "imagenet", "Engstrom2019Robustness", _imagenet_entry)
    reference = _imagenet_entry(7)
    state = reference.state_dict()
    if layout.startswith("net"):
        state = {"state_dict": {f"module.{k[len('model.') :]}": v for k, v in state.items() if k.startswith("model.")}}
    else:
        state = {k: v for k, v in state.items() if not k.startswith("normalize.")}
    (tmp_path / "imagenet" / "Linf").mkdir(parents=True)
    torch.save(state, tmp_path / "imagenet" / "Linf" / "Engstrom2019Robustness.pt")
    spec = f"robustbench:Engstrom2019Robustness?dataset=imagenet&threat=Linf&model_dir={tmp_path}"
    clf = load_classifier(spec)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(clf.predict_logits(x), reference(x), atol=1e-5)
    assert clf.classes[:2] == ["tench", "goldfish"]  # torchvision's names: wnid-labelled data has labels for it
    with pytest.raises(UnlogitError, match="trained on 224x224 images, but the data is 64x64.*size=224"):
        clf.probe((3, 64, 64))  # a 224-px network is not fed 64-px images silently
    load_classifier(spec + "&size=224").probe((3, 64, 64))  # resized to its size: accepted


def test_a_robustbench_checkpoint_of_another_model_is_refused_by_key(tmp_path, monkeypatch):
    _fake_robustbench(monkeypatch, "imagenet", "Salman2020Do_R50", _imagenet_entry)
    (tmp_path / "imagenet" / "Linf").mkdir(parents=True)
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "imagenet" / "Linf" / "Salman2020Do_R50.pt")
    with pytest.raises(UnlogitError, match="does not fit RobustBench's model.*missing.*unexpected"):
        load_classifier(f"robustbench:Salman2020Do_R50?dataset=imagenet&threat=Linf&model_dir={tmp_path}")


def test_a_robustbench_that_fails_to_import_is_named_not_called_missing(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def failing(name, *args, **kwargs):
        if name.startswith("robustbench"):
            raise ModuleNotFoundError("No module named 'pkg_resources'", name="pkg_resources")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing)
    with pytest.raises(UnlogitError, match="installed but cannot be imported.*setuptools<81"):
        load_classifier("robustbench:Standard?dataset=cifar10&threat=Linf&model_dir=models")


def test_eval_classifier_on_an_onnx_model_with_its_normalisation(tmp_path, capsys):
    pytest.importorskip("onnx2torch", reason="needs the onnx extra (onnx, onnx2torch)")
    import json

    import numpy as np

    from unlogit.cli import main

    net = _net()
    torch.onnx.export(
        net,
        torch.zeros(1, 3, 32, 32),
        str(tmp_path / "m.onnx"),
        dynamo=False,
        input_names=["x"],
        dynamic_axes={"x": {0: "batch"}},
    )
    x = torch.rand(40, 3, 32, 32)
    y = _reference(net, x).argmax(1)
    y[:10] = (y[:10] + 1) % 10  # a known accuracy of 75%
    np.savez(
        tmp_path / "test.npz",
        x=(x * 255).round().byte().permute(0, 2, 3, 1).numpy(),
        y=y.numpy(),
        classes=np.array([f"c{k}" for k in range(10)]),
    )  # a random net may never predict labels 6-9
    assert (
        main(
            [
                "eval-classifier",
                f"onnx:{tmp_path / 'm.onnx'}?{OPTS}",
                "--dataset",
                f"npz:{tmp_path / 'test.npz'}",
                "--json",
            ]
        )
        == 0
    )
    accuracy = json.loads(capsys.readouterr().out)["clean"]["accuracy"]
    assert abs(accuracy - 0.75) <= 0.05  # the uint8 rounding of the images may flip a borderline label
