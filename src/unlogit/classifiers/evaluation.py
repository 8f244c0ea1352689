"""Clean and PGD-robust accuracy of any classifier on any dataset."""

from __future__ import annotations

from typing import Any

import torch

from ..attacks import PGD
from ..data.base import ImageDataset
from ..runtime.progress import progress
from .normalized import NormalizedClassifier


def accuracy(
    clf: NormalizedClassifier,
    ds: ImageDataset,
    attack: PGD | None = None,
    n: int | None = None,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    show_progress: bool = False,
) -> dict[str, Any]:
    """Top-1 accuracy (fraction in [0,1]) on the first ``n`` samples, clean or under ``attack``."""
    was_training = clf.training
    clf.eval()
    total = min(n or len(ds), len(ds))
    correct = 0
    index = torch.arange(total)
    parts = list(index.split(batch_size))
    for part in progress(parts, show_progress, desc="pgd" if attack else "clean"):
        x, y = ds.batch(part, device)
        if attack is not None:
            x = attack(x, y)
        with torch.no_grad():
            correct += int((clf(x).argmax(1) == y).sum())
    clf.train(was_training)
    return {"accuracy": correct / max(total, 1), "n": total, "attack": repr(attack) if attack else None}
