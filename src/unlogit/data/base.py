"""The image dataset every loader returns.

A dataset is a pair of tensors plus metadata: uint8 images held in memory, or (``prepared:DIR``) memory-mapped
from disk so that ranks share one page-cache copy; batches are sliced directly (no per-sample Python work in
the training loop).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .stored_logits import StoredLogits


@dataclass
class ImageDataset:
    """Images, labels, class names and (for procedural data) the nuisance factors of each sample.

    Attributes:
        images: (N, C, H, W) uint8 in [0, 255].
        labels: (N,) int64 in [0, K).
        classes: K human-readable class names.
        name: registry name (``shapes``, ``cifar10``, ``npz:PATH`` ...).
        split: ``train`` or ``test``.
        factors: name -> (N,) float tensor of per-sample nuisance factors (shapes only).
        source: where the data was read from (a path or ``procedural``).
        labelled: False for image collections without labels (``images:PATH``); their labels are 0
            and mean nothing, so no label-dependent number is computed from them.
        stored_logits: classifier weights digest -> the logits ``unlogit prepare-data`` stored for these images
            (``prepared:DIR`` only; see :mod:`.stored_logits`). Subsets keep the matching rows.
        logit_policy: ``data.logits`` (``auto``, ``stored`` or ``computed``): whether they are used.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    split: str
    factors: dict[str, torch.Tensor] = field(default_factory=dict)
    source: str = ""
    labelled: bool = True
    stored_logits: dict[str, StoredLogits] = field(default_factory=dict)
    logit_policy: str = "auto"

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N,C,H,W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels {tuple(self.labels.shape)} do not match {self.images.shape[0]} images")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """One sample: ((C,H,W) float in [0,1], label)."""
        return self.images[index].float() / 255.0, int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def batch(self, index: torch.Tensor, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B,C,H,W) float32 in [0,1] and labels (B,) for an index tensor, on ``device``."""
        index = index.to(self.images.device)
        x = self.images[index]
        y = self.labels[index]
        if device is not None:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        return x.float().div_(255.0), y

    def subset(self, index: torch.Tensor | slice | int) -> ImageDataset:
        """A new dataset with the selected samples (an int keeps the first n)."""
        if isinstance(index, int):
            index = slice(0, index)
        return ImageDataset(
            images=self.images[index],
            labels=self.labels[index],
            classes=list(self.classes),
            name=self.name,
            split=self.split,
            factors={k: v[index] for k, v in self.factors.items()},
            source=self.source,
            labelled=self.labelled,
            stored_logits={k: v.subset(index) for k, v in self.stored_logits.items()},
            logit_policy=self.logit_policy,
        )

    def labels_for(self, classes: list[str]) -> bool:
        """Whether this data's labels mean the classes of a classifier with these class names (same count;
        same names where both sides have real names, not just numbers; ImageNet wnids and torchvision's words
        for them are the same names)."""
        from .imagenet import readable_classes

        if not self.labelled or len(classes) != self.num_classes:
            return False
        numbered = [str(i) for i in range(len(classes))]
        ours, theirs = readable_classes(self.classes), readable_classes(classes)  # ImageNet wnids as words
        return ours == theirs or numbered in (theirs, ours)

    def to(self, device: torch.device | str) -> ImageDataset:
        """Move images and labels (e.g. onto the GPU for a GPU-resident pipeline)."""
        self.images = self.images.to(device)
        self.labels = self.labels.to(device)
        return self

    def adapt(self, channels: int | None = None, size: int | None = None) -> ImageDataset:
        """Convert to ``channels`` (1 <-> 3) and resize to ``size`` x ``size`` (bilinear, antialiased)."""
        x = self.images
        if channels is not None and channels != x.shape[1]:
            if channels == 3 and x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1).contiguous()
            elif channels == 1 and x.shape[1] == 3:
                w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
                x = (x.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
            else:
                raise ValueError(f"cannot convert {x.shape[1]} channels to {channels}")
        if size is not None:
            x = resize_images(x, size)
        out = self.subset(slice(None))
        out.images = x
        return out


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images (N,C,H,W) resized to (N,C,size,size): bilinear, antialiased, in chunks of 4096."""
    if x.shape[2] == size and x.shape[3] == size:
        return x
    chunks = []
    for part in x.split(4096):
        y = F.interpolate(part.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        chunks.append(y.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(chunks)
