"""The training data stream: deterministic batches of real images with their classifier logits."""

from __future__ import annotations

import torch

from ...classifiers.normalized import NormalizedClassifier
from ...data.base import ImageDataset
from ...data.batching import augment, batches_per_epoch, epoch_indices
from ...runtime.dist import DistInfo


class BatchStream:
    """Deterministic batch stream; its position is the number of batches drawn (saved in checkpoints).

    ``draw(position)`` -> real images (B,C,H,W) in [0,1] (augmented, channels_last if asked) and their raw
    logits (B,K) float32: from the logit cache when there is one (computed on the device, or stored by
    ``prepare-data`` and memory-mapped, so only the drawn rows are read), else from the frozen classifier.
    """

    def __init__(
        self,
        ds: ImageDataset,
        clf: NormalizedClassifier,
        logits: torch.Tensor | None,
        batch: int,
        seed: int,
        dist: DistInfo,
        augment_mode: str = "none",
        channels_last: bool = False,
    ) -> None:
        self.ds, self.clf, self.logits, self.batch, self.seed, self.dist = ds, clf, logits, batch, seed, dist
        self.augment_mode, self.channels_last = augment_mode, channels_last
        self.per_epoch = batches_per_epoch(len(ds), batch, dist.world_size)
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def _index(self, drawn: int) -> torch.Tensor:
        epoch, pos = divmod(drawn, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = epoch_indices(len(self.ds), self.seed, epoch, self.dist.rank, self.dist.world_size)
        return self._order[pos * self.batch : (pos + 1) * self.batch]

    def draw(self, drawn: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self._index(drawn)
        x, _ = self.ds.batch(idx, device)
        x = augment(x, self.augment_mode)
        if self.logits is not None:
            l = self.logits[idx.to(self.logits.device)].to(device).float()
        else:
            with torch.no_grad():
                l = self.clf(x).float()
        return (x.contiguous(memory_format=torch.channels_last) if self.channels_last else x), l
