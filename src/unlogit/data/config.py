"""The dataset section shared by every command's config."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import check_at_most, check_positive
from ..errors import ConfigError
from .base import ImageDataset
from .registry import get_dataset, is_procedural
from .splits import PROCEDURAL_PART_B, SPLITS, Part, carve, class_interleaved
from .stored_logits import LOGIT_POLICIES

# Stated limits, checked before anything is read or rendered: ImageNet's 1.28M images fit, a typo does not.
SIZE_LIMITS = {"train_size": 20_000_000, "test_size": 20_000_000, "val_size": 20_000_000, "image_size": 1024}


@dataclass
class DataConfig:
    """Which dataset to read and how.

    name: registry name (shapes, fashion-mnist, mnist, cifar10, cifar100, svhn, npz:PATH, imagefolder:PATH).
    root: extra folder searched first (``--data-root``); ``$UNLOGIT_DATA`` is searched too.
    download: let torchvision download missing data (needs internet; never used in tests).
    train_size / test_size: keep the first N samples (shapes: generate N).
    val_size: images of the validation split (the last ones of the training file; shapes renders them).
    part: ``all`` of the training split (minus validation) or one of its disjoint halves ``a`` / ``b``
        (independent evaluators train on the half the inverted classifiers never saw).
    seed: procedural seed (shapes).
    channels / image_size: convert to this many channels (1 or 3) / resize to this square size.
    logits: which logits of these images a classifier is paired with (``prepared:DIR`` with logits stored by
        ``unlogit prepare-data --logits``): ``auto`` uses the stored ones of the classifier's weights when there
        are some and computes them otherwise, ``stored`` requires them, ``computed`` ignores them.
    """

    name: str = "shapes"
    root: str | None = None
    download: bool = False
    train_size: int | None = None
    test_size: int | None = None
    val_size: int = 1000
    part: Part = "all"
    skip_bad: bool = False  # images:PATH: leave unreadable files out (and say how many) instead of stopping
    seed: int = 0
    channels: int | None = None
    image_size: int | None = None
    logits: str = "auto"

    def __post_init__(self) -> None:
        if self.logits not in LOGIT_POLICIES:
            raise ConfigError(f"config key 'data.logits' must be one of {list(LOGIT_POLICIES)}, got {self.logits!r}")
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"config key 'data.channels' must be 1 or 3, got {self.channels}")
        for key, top in SIZE_LIMITS.items():
            if getattr(self, key) is not None:
                check_positive(getattr(self, key), f"data.{key}")
                check_at_most(getattr(self, key), f"data.{key}", top)

    def _files(self) -> dict:
        """What file sources decode with: ``images:`` and ``imagefolder:`` center-crop to ``image_size`` while
        decoding (images of mixed sizes then load at all); ``images:`` can skip unreadable files."""
        if self.name.startswith("images:"):
            return {"skip_bad": self.skip_bad, "image_size": self.image_size}
        return {"image_size": self.image_size} if self.name.startswith("imagefolder:") else {}

    def load(self, split: str) -> ImageDataset:
        """Load ``split`` (train, val or test; see :mod:`unlogit.data.splits`) with this config's sizes and
        conversions."""
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; choose one of {list(SPLITS)}")
        size = {"train": self.train_size, "val": self.val_size, "test": self.test_size}[split]
        if is_procedural(self.name):
            start = PROCEDURAL_PART_B if split == "train" and self.part == "b" else 0
            ds = get_dataset(self.name, split, self.root, size=size, seed=self.seed, start=start)
        elif split == "test":
            ds = class_interleaved(get_dataset(self.name, "test", self.root, download=self.download, **self._files()))
        else:
            full = get_dataset(self.name, "train", self.root, download=self.download, **self._files())
            ds = carve(full, split, self.val_size, self.part)
        if size is not None and size < len(ds):
            ds = ds.subset(size)
        if self.channels is not None or self.image_size is not None:
            ds = ds.adapt(self.channels, self.image_size)
        ds.logit_policy = self.logits
        return ds
