"""Tiny ImageNet loader on a generated extract in the official layout (folder and zip)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unlogit.data import get_dataset
from unlogit.errors import UnlogitError

WNIDS = ["n03444034", "n01443537", "n02094433"]  # deliberately not sorted (official order differs)


def _make_layout(root: Path) -> Path:
    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (base / "words.txt").write_text(
        "n01443537\tgoldfish, Carassius auratus\nn02094433\tYorkshire terrier\nn03444034\tgo-kart\nn09999999\tunused\n"
    )
    for k, wnid in enumerate(WNIDS):
        img_dir = base / "train" / wnid / "images"
        img_dir.mkdir(parents=True)
        for i in range(2 + k):  # uneven subsets per class are fine
            mode = "L" if (k, i) == (1, 0) else "RGB"  # one greyscale JPEG
            Image.new(mode, (64, 64), 40 * k + i if mode == "L" else (40 * k, 10 * i, 0)).save(
                img_dir / f"{wnid}_{i}.JPEG", "JPEG"
            )
    lines = []
    for n, wnid in enumerate(["n02094433", "n01443537", "n03444034", "n01443537"]):
        Image.new("RGB", (64, 64), (n * 50, 0, 0)).save(base / "val" / "images" / f"val_{n}.JPEG", "JPEG")
        lines.append(f"val_{n}.JPEG\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return base


def test_folder_layout_counts_labels_names_and_greyscale(tmp_path):
    _make_layout(tmp_path)
    train = get_dataset("tinyimagenet", "train", data_root=tmp_path)
    assert train.image_shape == (3, 64, 64) and len(train) == 2 + 3 + 4
    assert train.classes == ["goldfish", "Yorkshire terrier", "go-kart"]  # sorted-wnid order
    assert np.bincount(train.labels.numpy()).tolist() == [3, 4, 2]  # n01443537 had 3 images, etc.
    val = get_dataset("tinyimagenet", "test", data_root=tmp_path)
    assert val.labels.tolist() == [1, 0, 2, 0]


def test_zip_without_extracting_matches_folder(tmp_path):
    base = _make_layout(tmp_path / "src")
    archive = tmp_path / "zipped" / "tiny-imagenet-200.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(base.rglob("*")):
            if path.is_file():
                zf.write(path, f"tiny-imagenet-200/{path.relative_to(base).as_posix()}")
    a = get_dataset("tinyimagenet", "train", data_root=tmp_path / "src")
    b = get_dataset("tinyimagenet", "train", data_root=tmp_path / "zipped")
    assert b.source.endswith(".zip")
    assert np.array_equal(a.images.numpy(), b.images.numpy()) and a.labels.tolist() == b.labels.tolist()


def test_missing_and_partial_layouts(tmp_path):
    with pytest.raises(UnlogitError, match="(?s)tinyimagenet.*not found.*tiny-imagenet-200.zip"):
        get_dataset("tinyimagenet", "train", data_root=tmp_path / "none")
    base = _make_layout(tmp_path)
    (base / "val" / "val_annotations.txt").unlink()
    with pytest.raises(UnlogitError, match="val_annotations.txt is missing"):
        get_dataset("tinyimagenet", "test", data_root=tmp_path)
    shutil.rmtree(base / "train")
    with pytest.raises(UnlogitError, match="no training images"):
        get_dataset("tinyimagenet", "train", data_root=tmp_path)


def test_presets_train_a_64px_classifier_and_inverter_and_cross_dataset_ood(tmp_path, capsys):
    """The shipped 64-px presets run end to end on an extract (1 epoch / 1 step), then the ood pair."""
    import json

    from unlogit.analysis import AnalyzeConfig, run_experiment
    from unlogit.cli import main

    _make_layout(tmp_path / "data")
    root = str(tmp_path / "data")
    clf = tmp_path / "clf"
    argv = [
        "train-classifier",
        "--dataset",
        "tinyimagenet",
        "--data-root",
        root,
        "--preset",
        "tinyimagenet-resnet18",
        "--out",
        str(clf),
        "train.epochs=1",
        "train.batch_size=4",
        "train.eval_robust_size=2",
        "data.val_size=3",
        "train.schedule=constant",
        "train.progress=false",
    ]
    assert main(argv) == 0
    summary = json.loads((clf / "model.json").read_text())
    assert summary["classes"] == ["goldfish", "Yorkshire terrier", "go-kart"]
    inv = tmp_path / "inv"
    argv = [
        "train",
        "--classifier",
        str(clf),
        "--dataset",
        "tinyimagenet",
        "--data-root",
        root,
        "--preset",
        "tinyimagenet64",
        "--out",
        str(inv),
        "model.ch_g=4",
        "model.ch_d=4",
        "model.dim_z=16",
        "train.steps=1",
        "train.batch_size=4",
        "train.ema_start=0",
        "train.eval_size=3",
        "train.standing_stats_batches=1",
        "data.val_size=3",
        "train.progress=false",
    ]
    assert main(argv) == 0
    assert "done after 1 G steps" in capsys.readouterr().out
    # A 64-px Tiny ImageNet inverter on 32-px images of another dataset (upsampled to 64 px).
    cfg = AnalyzeConfig(dataset="tinyimagenet", n=2, data_root=root, ood_dataset="shapes")
    result = run_experiment("ood", [inv], cfg, tmp_path / "ood")
    ood = result.metrics["inverters"]["inv"]["ood"]
    assert ood["dataset"] == "shapes" and 0 <= ood["own_label_agreement"] <= 1


def test_ood_reverse_pair_downsamples_tinyimagenet_for_a_32px_inverter(tmp_path, tiny_inverter_run):
    from unlogit.analysis import AnalyzeConfig, run_experiment

    _make_layout(tmp_path / "data")
    cfg = AnalyzeConfig(dataset="shapes", n=2, data_root=str(tmp_path / "data"), ood_dataset="tinyimagenet")
    result = run_experiment("ood", [tiny_inverter_run], cfg, tmp_path / "ood")
    metrics = result.metrics["inverters"][tiny_inverter_run.name]
    assert metrics["ood"]["dataset"] == "tinyimagenet" and metrics["in_distribution"]["dataset"] == "shapes"
    assert (tmp_path / "ood" / "ood").is_dir()


def test_train_order_is_round_robin_so_a_size_limit_keeps_every_class(tmp_path):
    from unlogit.data.files import interleave_classes

    assert interleave_classes([("a0", 0), ("a1", 0), ("a2", 0), ("b0", 1), ("c0", 2), ("c1", 2)]) == [
        ("a0", 0),
        ("b0", 1),
        ("c0", 2),
        ("a1", 0),
        ("c1", 2),
        ("a2", 0),
    ]
    _make_layout(tmp_path)
    first = get_dataset("tinyimagenet", "train", data_root=tmp_path, size=3)
    assert sorted(first.labels.tolist()) == [0, 1, 2]  # one image of each class, not three of the first
