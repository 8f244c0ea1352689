"""Clean and PGD-robust accuracy of any classifier on any dataset."""

from __future__ import annotations

from typing import Any

import torch

from ..data.base import ImageDataset
from ..runtime.progress import progress
from .attacks import PGD
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
            logits = clf(x)
        if not torch.isfinite(logits).all():
            from ..errors import UnlogitError

            raise UnlogitError(
                f"classifier {clf.info.get('spec', '?')} returned NaN or infinite logits; an accuracy of them "
                "would mean nothing. Check its weights and its input convention (mean/std)"
            )
        correct += int((logits.argmax(1) == y).sum())
    clf.train(was_training)
    return {"accuracy": correct / max(total, 1), "n": total, "attack": repr(attack) if attack else None}


def evaluate_classifier(
    spec: str,
    data: ImageDataset,
    attack: str | None = None,
    n: int | None = None,
    n_robust: int | None = None,
    device: torch.device | str = "cpu",
    show_progress: bool = False,
) -> dict[str, Any]:
    """Clean accuracy of classifier ``spec`` on ``data`` (first ``n``) and, with an ``attack`` string
    (``pgd-linf:8/255``), its accuracy under that attack on the first ``n_robust`` (default ``n``)."""
    from ..errors import UnlogitError
    from .attacks import parse_attack
    from .registry import load_classifier

    clf = load_classifier(spec, device=device, classes=data.classes)
    if clf.num_classes != data.num_classes:
        raise UnlogitError(
            f"classifier {spec} has {clf.num_classes} outputs but dataset {data.name} has "
            f"{data.num_classes} classes; evaluate it on the data it was trained for"
        )
    clf.probe(data.image_shape)
    result: dict[str, Any] = {"classifier": spec, "dataset": data.name, "split": data.split, "labels_apply": True}
    if not data.labels_for(clf.classes):
        result.update(
            {
                "labels_apply": False,
                "why": f"the classifier's classes are {clf.classes[:4]}..., the data's {data.classes[:4]}...",
                "clean": {"accuracy": None, "n": 0},
            }
        )
        return result
    result["clean"] = accuracy(clf, data, n=n, device=device, show_progress=show_progress)
    if attack:
        pgd = parse_attack(attack).build(clf)
        n_attack = n_robust if n_robust is not None else n
        result["robust"] = accuracy(clf, data, pgd, n=n_attack, device=device, show_progress=show_progress)
    return result
