"""Invert classifiers the field uses on images a user has: no labels needed, other label sets, 1000 logits."""

from __future__ import annotations

import json

import torch
from PIL import Image

from unlogit.cli import main

from .data.test_tinyimagenet import _make_layout

QUICK = [
    "train.steps=2",
    "train.max_minutes=null",
    "train.batch_size=4",
    "train.eval_size=4",
    "train.standing_stats_batches=1",
    "train.progress=false",
    "train.log_every=1",
    "model.ch_g=4",
    "model.ch_d=4",
    "model.dim_z=16",
    "data.val_size=4",
    "train.sample_every=100",
    "train.checkpoint_every=100",
]


def _random_resnet18(path, seed: int) -> str:
    import torchvision.models as tvm

    torch.manual_seed(seed)
    torch.save(tvm.resnet18(weights=None).state_dict(), path)
    return f"torchvision:resnet18?weights={path}&size=64"  # fed 64-px images as they are, on purpose


def test_a_1000_logit_resnet_is_inverted_on_tiny_imagenet_and_evaluated_without_labels(tmp_path, capsys):
    base = _make_layout(tmp_path / "data")
    clf = _random_resnet18(tmp_path / "r18.pt", 0)
    out = tmp_path / "inv"
    argv = [
        "train",
        "--classifier",
        clf,
        "--dataset",
        "tinyimagenet",
        "--data-root",
        str(tmp_path / "data"),
        "--preset",
        "tinyimagenet64",
        "--out",
        str(out),
        *QUICK,
        "model.attention=[]",
        "train.channels_last=false",
    ]
    assert main(argv) == 0
    meta = json.loads((out / "model.json").read_text())
    assert len(meta["classes"]) == 1000 and meta["classes"][0] == "tench"  # names from torchvision's metadata
    judge = _random_resnet18(tmp_path / "judge.pt", 1)  # another network: independent by weights
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(out),
                "--dataset",
                f"images:{base / 'val' / 'images'}",
                "--n",
                "4",
                "--split",
                "test",
                "--evaluator",
                judge,
                "--samples",
                "2",
                "--out",
                str(tmp_path / "ev"),
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    row = json.loads((tmp_path / "ev" / "evaluate.json").read_text())["inverters"]["inv"]
    assert row["own_true_label_agreement"] == "n/a" and row["per_class"] == "n/a"
    assert 0 <= row["own_label_agreement"] <= 1 and "n/a" in table


def test_an_image_folder_with_a_corrupt_file(tmp_path, tiny_classifier_run, capsys):
    folder = tmp_path / "pics" / "nested"
    folder.mkdir(parents=True)
    for i in range(12):
        Image.new("RGB", (32, 32), (20 * i, 100, 200 - 10 * i)).save(folder / f"{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    argv = [
        "train",
        "--classifier",
        str(tiny_classifier_run),
        "--dataset",
        f"images:{tmp_path / 'pics'}",
        "--out",
        str(tmp_path / "inv"),
        *QUICK,
    ]
    assert main(argv) == 2 and "broken.jpg" in capsys.readouterr().err
    assert main([*argv, "--skip-bad"]) == 0
    assert "skipped 1 unreadable image" in capsys.readouterr().out
    summary = json.loads((tmp_path / "inv" / "model.json").read_text())["summary"]
    assert "own_true_label_agreement" not in summary  # no labels: no label-dependent number


def test_an_onnx_classifier_is_inverted_reloaded_reconstructed_and_served(tmp_path, tiny_classifier_run, capsys):
    """The ONNX path end to end: a network exported with its normalisation inside, named by an onnx: spec."""
    import pytest

    pytest.importorskip("onnx2torch", reason="needs the onnx extra (onnx, onnx2torch)")
    from fastapi.testclient import TestClient

    from unlogit.classifiers import load_classifier
    from unlogit.data.config import DataConfig
    from unlogit.inversion.inverter import load_inverter
    from unlogit.serve.api import create_app
    from unlogit.serve.explorer import Explorer
    from unlogit.serve.uploads import UploadLimits

    from .conftest import TINY_GAN_OVERRIDES

    source = load_classifier(str(tiny_classifier_run))
    torch.onnx.export(
        source.eval(),
        torch.zeros(1, 3, 32, 32),
        str(tmp_path / "clf.onnx"),
        dynamo=False,
        input_names=["x"],
        dynamic_axes={"x": {0: "batch"}},
    )
    spec = f"onnx:{tmp_path / 'clf.onnx'}"  # [0,1] in: the default convention (mean 0, std 1)
    out = tmp_path / "inv"
    argv = ["train", "--classifier", spec, "--preset", "tiny", "--out", str(out), *TINY_GAN_OVERRIDES, "train.steps=3"]
    assert main(argv) == 0
    inv = load_inverter(out)
    assert inv.classifier.classes == source.classes  # a bare network takes the data's class names
    x = torch.rand(3, 3, 32, 32)
    assert torch.allclose(inv.classifier.predict_logits(x), source.predict_logits(x), atol=1e-4)
    assert (
        main(
            [
                "reconstruct",
                "--inverter",
                str(out),
                "--dataset",
                "shapes",
                "--n",
                "4",
                "--samples",
                "2",
                "--out",
                str(tmp_path / "rec"),
            ]
        )
        == 0
    )
    assert any((tmp_path / "rec").glob("*.png"))
    gallery = DataConfig(name="shapes", test_size=4).load("test")
    app = create_app(
        Explorer({"onnx": inv}, gallery), UploadLimits(max_bytes=200_000, max_pixels=1 << 20), hosts=["testserver"]
    )
    client = TestClient(app, headers={"X-Unlogit": "1"})
    assert client.get("/api/info").json()["inverters"][0]["name"] == "onnx"
    answer = client.post("/api/explore", json={"image": {"gallery": 0}, "samples": 2})
    assert answer.status_code == 200 and len(answer.json()["inverters"][0]["reconstructions"]) == 2
