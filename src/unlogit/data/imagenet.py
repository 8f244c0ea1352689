"""ImageNet's class ids: the 1000 ILSVRC2012 WordNet ids (wnids) in the order torchvision, timm and RobustBench
number their outputs (sorted wnids, as ``ImageFolder`` numbers ILSVRC2012's ``train/`` folders).

Datasets read from ImageNet's folder layout name their classes by wnid (``n01440764``); torchvision's weights
name the same classes in words ("tench"). :func:`readable_classes` puts both in one vocabulary, so a classifier
named in words and data named by wnid agree on what each label means, and label-dependent numbers exist for
both arms of a comparison or for neither. ``imagenet_wnids.txt`` ships with the package (from timm's
``imagenet_synsets.txt``; the test suite checks it against torchvision's class count and order).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files

WNID = re.compile(r"n\d{8}")


@cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ILSVRC2012 wnids, index k = output k of an ImageNet classifier."""
    text = files("unlogit.data").joinpath("imagenet_wnids.txt").read_text(encoding="ascii")
    return tuple(text.split())


@cache
def imagenet_names() -> tuple[str, ...]:
    """torchvision's names of the 1000 classes ("tench", "goldfish", ...), in output order (no download: the
    names are part of torchvision's weights metadata)."""
    import torchvision.models as tvm

    return tuple(tvm.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def are_wnids(classes: Sequence[str]) -> bool:
    """Whether every class name is a WordNet id."""
    return bool(classes) and all(WNID.fullmatch(str(c)) for c in classes)


def readable_classes(classes: Sequence[str]) -> list[str]:
    """``classes`` in words where they are ImageNet wnids (``n01440764`` -> ``tench``); other names unchanged."""
    if not are_wnids(classes):
        return list(classes)
    index = {w: k for k, w in enumerate(imagenet_wnids())}
    names = imagenet_names()
    return [names[index[c]] if c in index else c for c in classes]
