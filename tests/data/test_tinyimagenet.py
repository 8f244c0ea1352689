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
    (base / "words.txt").write_text("n01443537\tgoldfish, Carassius auratus\nn02094433\tYorkshire terrier\n"
                                    "n03444034\tgo-kart\nn09999999\tunused\n")  # fmt: skip
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
