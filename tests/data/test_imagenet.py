"""ImageNet's class ids ship with the package, in the order ImageNet classifiers number their outputs."""

from __future__ import annotations

import torch

from unlogit.data.base import ImageDataset
from unlogit.data.imagenet import are_wnids, imagenet_names, imagenet_wnids, readable_classes


def test_the_shipped_wnids_are_imagenet_s_1000_in_output_order():
    wnids = imagenet_wnids()
    assert len(wnids) == len(set(wnids)) == 1000 == len(imagenet_names())
    assert list(wnids) == sorted(wnids)  # ImageFolder's order on ILSVRC2012's train/: output k is the k-th wnid
    assert (wnids[0], imagenet_names()[0]) == ("n01440764", "tench")
    assert (wnids[-1], imagenet_names()[-1]) == ("n15075141", "toilet tissue")


def test_wnid_labels_and_torchvision_names_are_one_vocabulary():
    wnids = list(imagenet_wnids())
    data = ImageDataset(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 999]), wnids, "x", "test")
    assert readable_classes(wnids[:2]) == ["tench", "goldfish"]
    assert data.labels_for(list(imagenet_names()))  # a torchvision-named classifier: labels exist
    assert data.labels_for(wnids)
    shuffled = [*imagenet_names()[1:], imagenet_names()[0]]
    assert not data.labels_for(shuffled)  # same words, another order: not the same labels
    assert not are_wnids(["tench"]) and readable_classes(["cat", "dog"]) == ["cat", "dog"]
