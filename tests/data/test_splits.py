"""Train / validation / test: the validation split is never trained on, parts a and b are disjoint."""

import pytest
import torch

from unlogit.data.base import ImageDataset
from unlogit.data.splits import carve, class_interleaved
from unlogit.errors import ConfigError


def _sorted_dataset(n_per_class: int = 20, classes: int = 4) -> ImageDataset:
    labels = torch.arange(classes).repeat_interleave(n_per_class)  # sorted by class, like CIFAR-10's test npz
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 2, 2).clone()
    return ImageDataset(images, labels, [f"c{k}" for k in range(classes)], name="toy", split="train")


def _ids(ds: ImageDataset) -> set[int]:
    return {int(v) for v in ds.images[:, 0, 0, 0]}


def test_val_train_parts_are_disjoint_and_cover_the_training_data():
    full = _sorted_dataset()
    val = carve(full, "val", 16, "all")
    a, b, rest = carve(full, "train", 16, "a"), carve(full, "train", 16, "b"), carve(full, "train", 16, "all")
    assert val.split == "val" and len(val) == 16
    assert not (_ids(val) & _ids(rest))
    assert not (_ids(a) & _ids(b))
    assert _ids(a) | _ids(b) == _ids(rest)
    assert _ids(rest) | _ids(val) == _ids(full)


def test_held_out_splits_are_class_interleaved():
    ds = class_interleaved(_sorted_dataset())
    assert ds.labels[:8].tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert sorted(_ids(ds)) == sorted(_ids(_sorted_dataset()))  # a permutation, nothing lost


def test_a_val_split_as_large_as_the_data_is_refused():
    with pytest.raises(ConfigError, match="val_size"):
        carve(_sorted_dataset(), "val", 80, "all")
