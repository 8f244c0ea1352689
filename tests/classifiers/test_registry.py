from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from unlogit.classifiers import load_classifier
from unlogit.data import get_dataset
from unlogit.errors import CheckpointError, UnlogitError


@pytest.fixture(scope="module")
def images():
    return get_dataset("shapes", "test", size=32).batch(torch.arange(32))[0]


def test_run_directory_round_trip(tiny_classifier_run, images):
    clf = load_classifier(str(tiny_classifier_run))
    assert clf.num_classes == 10 and clf.classes[0] == "circle"
    assert not clf.training and not any(p.requires_grad for p in clf.parameters())
    assert clf.features(images).shape[0] == 32
    assert clf.info["summary"]["clean_acc"] > 0


def test_torchscript_and_export_match_the_original(tiny_classifier_run, images, tmp_path):
    clf = load_classifier(str(tiny_classifier_run))
    ref = clf(images)
    scripted = torch.jit.trace(clf, images[:2])
    scripted.save(str(tmp_path / "model.pt"))
    ts = load_classifier(f"torchscript:{tmp_path / 'model.pt'}", num_classes=10)
    assert torch.allclose(ts(images), ref, atol=1e-5)
    program = torch.export.export(clf, (images[:2],), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(tmp_path / "model.pt2"))
    ex = load_classifier(str(tmp_path / "model.pt2"), classes=clf.classes)
    assert torch.allclose(ex(images), ref, atol=1e-5)
    assert ex.classes == clf.classes


def test_factory_with_weights_only_state_dict(tmp_path, images, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    from helper_factory import tiny_net

    net = tiny_net()
    torch.save(net.state_dict(), tmp_path / "w.pt")
    clf = load_classifier(f"helper_factory:tiny_net@{tmp_path / 'w.pt'}", num_classes=10)
    assert torch.allclose(clf(images), net(images), atol=1e-6)
    # a pickle with arbitrary objects is refused (weights_only=True)
    torch.save({"state_dict": net.state_dict(), "obj": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(UnlogitError, match="weights_only=True"):
        load_classifier(f"helper_factory:tiny_net@{tmp_path / 'evil.pt'}", num_classes=10)
    sys.modules.pop("helper_factory", None)


class _Evil:
    pass


def test_bad_specs_are_explained(tmp_path, tiny_inverter_run):
    with pytest.raises(UnlogitError, match="does not exist"):
        load_classifier("runs/nothing-here")
    with pytest.raises(UnlogitError, match="not a TorchScript file"):
        (tmp_path / "x.pt").write_bytes(b"junk")
        load_classifier(f"torchscript:{tmp_path / 'x.pt'}", num_classes=10)
    with pytest.raises(UnlogitError, match="not a torch.export (program|archive)"):
        (tmp_path / "y.pt2").write_bytes(b"junk")
        load_classifier(str(tmp_path / "y.pt2"), num_classes=10)
    with pytest.raises(CheckpointError, match="not a classifier run directory"):
        load_classifier(str(tmp_path))
    with pytest.raises(CheckpointError, match="'unlogit.inverter'.*'unlogit.classifier'"):
        load_classifier(str(tiny_inverter_run))
    with pytest.raises(UnlogitError, match="not in the local cache.*never downloads"):
        load_classifier("torchvision:resnet18")


def test_wrong_input_shape_is_explained(tiny_classifier_run):
    clf = load_classifier(str(tiny_classifier_run))
    with pytest.raises(UnlogitError, match="3-channel images, got 1"):
        clf(torch.rand(2, 1, 32, 32))
    with pytest.raises(UnlogitError, match="32x32 images, got 28x28"):
        clf(torch.rand(2, 3, 28, 28))


def test_torchvision_imagenet_model_from_the_local_cache_takes_64px_images(tmp_path, monkeypatch):
    """A torchvision ImageNet model is accepted when its weights are in the hub cache (never downloaded)."""
    import torchvision.models as tvm

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = tvm.get_model_weights("resnet18").DEFAULT
    cache = tmp_path / "torch" / "hub" / "checkpoints" / Path(weights.url).name
    cache.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(tvm.resnet18(weights=None).state_dict(), cache)  # stands in for the downloaded file
    clf = load_classifier("torchvision:resnet18")
    logits = clf(torch.rand(2, 3, 64, 64))  # Tiny ImageNet's size
    assert logits.shape == (2, 1000) and torch.isfinite(logits).all()
    assert clf.classes[0] == weights.meta["categories"][0] and len(clf.classes) == 1000


def test_a_program_exported_for_batch_one_runs_one_image_at_a_time(tiny_classifier_run, images, tmp_path):
    """torch.export specialises to its example input: exported with one image, the graph guards the batch size.
    It is run per image (like a batch-1 ONNX graph) instead of failing on the first batch."""
    from unlogit.classifiers.external import PerSample

    clf = load_classifier(str(tiny_classifier_run))
    torch.export.save(torch.export.export(clf, (images[:1],)), str(tmp_path / "one.pt2"))
    ex = load_classifier(str(tmp_path / "one.pt2"), classes=clf.classes)
    assert isinstance(ex.model, PerSample)
    assert torch.allclose(ex(images), clf(images), atol=1e-5)
