"""A synthetic ImageNet-layout tree, for the tests and the data benchmark: ``train/<wnid>/<wnid>_<i>.JPEG`` and
``val/<wnid>/...`` at ImageNet-like mixed sizes, smooth random content that JPEG compresses like photos."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

SIZES = ((500, 375), (333, 500), (640, 480))  # (width, height): landscape, portrait, 4:3


def wnids(k: int) -> list[str]:
    """``k`` real ImageNet wnids spread over the 1000 (so torchvision's class names apply to them)."""
    from unlogit.data.imagenet import imagenet_wnids

    return list(imagenet_wnids()[:: 1000 // k][:k])


def make_imagenet_tree(
    root: Path,
    classes: int = 4,
    train: int = 5,
    val: int = 2,
    seed: int = 0,
    sizes: Sequence[tuple[int, int]] = SIZES,
    block: int = 25,
    names: Sequence[str] | None = None,
) -> Path:
    """``train`` and ``val`` images per class, image i of class k at ``sizes[(i + k) % len(sizes)]``, each a
    random field of ``block`` x ``block``-pixel cells smoothed by a bicubic upscale; class folders ``names`` (real
    wnids by default)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("val", val)):
        for k, wnid in enumerate(names or wnids(classes)):
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                w, h = sizes[(i + k) % len(sizes)]
                small = rng.integers(0, 256, (h // block + 1, w // block + 1, 3), dtype=np.uint8)
                image = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
                image.save(folder / f"{wnid}_{i}.JPEG", quality=90)
    return root
