"""Train / validation / test, and the two disjoint halves of the training split.

Every dataset has three splits. ``test`` is the dataset's own test split, touched once per study.
``val`` is carved from the training data and never trained on: it is what tuning decisions and the
trainer's held-out numbers use. For file datasets it is the last ``val_size`` images of the training
file; procedural datasets (``shapes``) render a split of their own. The rest of the training split
can be cut into two disjoint halves, ``a`` and ``b``, so that independent evaluators are trained on
data the inverted classifiers never saw.

Held-out splits (val, test) are put in round-robin class order, so their first N images are
class-balanced (the CIFAR-10 test npz is sorted by class).
"""

from __future__ import annotations

from typing import Literal

import torch

from ..errors import ConfigError
from .base import ImageDataset

SPLITS = ("train", "val", "test")
Part = Literal["all", "a", "b"]
PROCEDURAL_PART_B = 10_000_000  # shapes: part b renders sample indices from here (disjoint from part a)


def class_interleaved(ds: ImageDataset) -> ImageDataset:
    """``ds`` reordered round-robin over classes (each class keeps its own order). Data already in that order
    (a prepared split) is returned as it is: no copy of its images."""
    labels = ds.labels.cpu()
    rank = torch.empty_like(labels)
    for k in labels.unique():
        sel = (labels == k).nonzero()[:, 0]
        rank[sel] = torch.arange(len(sel))
    order = torch.argsort(rank * (int(labels.max()) + 1 if len(labels) else 1) + labels, stable=True)
    if torch.equal(order, torch.arange(len(labels))):
        return ds
    return ds.subset(order)


def carve(train: ImageDataset, split: str, val_size: int, part: Part) -> ImageDataset:
    """The ``val`` split or (a part of) the ``train`` split of a file dataset's full training data."""
    n = len(train)
    if val_size >= n:
        raise ConfigError(
            f"data.val_size={val_size} leaves no training images in {train.name} ({n} in its training split); "
            "lower data.val_size"
        )
    if split == "val":
        out = class_interleaved(train.subset(slice(n - val_size, n)))
        out.split = "val"
        return out
    rest = n - val_size
    bounds = {"all": (0, rest), "a": (0, rest // 2), "b": (rest // 2, rest)}[part]
    return train.subset(slice(*bounds))
