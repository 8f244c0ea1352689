"""Invert classifiers the field uses on images a user has: no labels needed, other label sets, 1000 logits."""

from __future__ import annotations

import json

import torch
from PIL import Image

from unlogit.cli import main

from .data.test_tinyimagenet import _make_layout

QUICK = ["train.steps=2", "train.max_minutes=null", "train.batch_size=4", "train.eval_size=4",
         "train.standing_stats_batches=1", "train.progress=false", "train.log_every=1", "model.ch_g=4", "model.ch_d=4",
         "model.dim_z=16", "data.val_size=4", "train.sample_every=100", "train.checkpoint_every=100"]  # fmt: skip


def _random_resnet18(path, seed: int) -> str:
    import torchvision.models as tvm

    torch.manual_seed(seed)
    torch.save(tvm.resnet18(weights=None).state_dict(), path)
    return f"torchvision:resnet18?weights={path}"


def test_a_1000_logit_resnet_is_inverted_on_tiny_imagenet_and_evaluated_without_labels(tmp_path, capsys):
    base = _make_layout(tmp_path / "data")
    clf = _random_resnet18(tmp_path / "r18.pt", 0)
    out = tmp_path / "inv"
    argv = ["train", "--classifier", clf, "--dataset", "tinyimagenet", "--data-root", str(tmp_path / "data"),
            "--preset", "tinyimagenet64", "--out", str(out), *QUICK, "model.attention=[]",
            "train.channels_last=false"]  # fmt: skip
    assert main(argv) == 0
    meta = json.loads((out / "model.json").read_text())
    assert len(meta["classes"]) == 1000 and meta["classes"][0] == "tench"  # names from torchvision's metadata
    judge = _random_resnet18(tmp_path / "judge.pt", 1)  # another network: independent by weights
    capsys.readouterr()
    assert main(["evaluate", str(out), "--dataset", f"images:{base / 'val' / 'images'}", "--n", "4", "--split",
                 "test", "--evaluator", judge, "--samples", "2", "--out", str(tmp_path / "ev")]) == 0  # fmt: skip
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
    argv = ["train", "--classifier", str(tiny_classifier_run), "--dataset", f"images:{tmp_path / 'pics'}",
            "--out", str(tmp_path / "inv"), *QUICK]  # fmt: skip
    assert main(argv) == 2 and "broken.jpg" in capsys.readouterr().err
    assert main([*argv, "--skip-bad"]) == 0
    assert "skipped 1 unreadable image" in capsys.readouterr().out
    summary = json.loads((tmp_path / "inv" / "model.json").read_text())["summary"]
    assert "own_true_label_agreement" not in summary  # no labels: no label-dependent number
