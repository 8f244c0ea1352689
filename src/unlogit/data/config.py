"""The dataset section shared by every command's config."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .base import ImageDataset
from .registry import get_dataset


@dataclass
class DataConfig:
    """Which dataset to read and how.

    name: registry name (shapes, fashion-mnist, mnist, cifar10, cifar100, svhn, npz:PATH, imagefolder:PATH).
    root: extra folder searched first (``--data-root``); ``$UNLOGIT_DATA`` is searched too.
    download: let torchvision download missing data (needs internet; never used in tests).
    train_size / test_size: keep the first N samples (shapes: generate N).
    seed: procedural seed (shapes).
    channels / image_size: convert to this many channels (1 or 3) / resize to this square size.
    """

    name: str = "shapes"
    root: str | None = None
    download: bool = False
    train_size: int | None = None
    test_size: int | None = None
    seed: int = 0
    channels: int | None = None
    image_size: int | None = None

    def __post_init__(self) -> None:
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"config key 'data.channels' must be 1 or 3, got {self.channels}")
        for key in ("train_size", "test_size", "image_size"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ConfigError(f"config key 'data.{key}' must be a positive integer, got {value}")

    def load(self, split: str) -> ImageDataset:
        """Load ``split`` with this config's sizes and conversions."""
        size = self.train_size if split == "train" else self.test_size
        ds = get_dataset(self.name, split, self.root, size=size, seed=self.seed, download=self.download)
        if self.channels is not None or self.image_size is not None:
            ds = ds.adapt(self.channels, self.image_size)
        return ds
