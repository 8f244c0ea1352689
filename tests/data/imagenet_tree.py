"""A synthetic ImageNet-layout tree for tests: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` at
ImageNet-like mixed sizes (landscape 500x375, portrait 333x500, 640x480), with real ImageNet wnids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZES = ((500, 375), (333, 500), (640, 480))


def wnids(k: int) -> list[str]:
    from unlogit.data.imagenet import imagenet_wnids

    return list(imagenet_wnids()[:: 1000 // k][:k])


def make_imagenet_tree(root: Path, classes: int = 4, train: int = 5, val: int = 2, seed: int = 0) -> Path:
    """Smooth random images (JPEG compresses them like photos), a different size per image."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("val", val)):
        for k, wnid in enumerate(wnids(classes)):
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                w, h = SIZES[(i + k) % len(SIZES)]
                small = rng.integers(0, 256, (h // 25 + 1, w // 25 + 1, 3), dtype=np.uint8)
                image = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
                image.save(folder / f"{wnid}_{i}.JPEG", quality=90)
    return root
