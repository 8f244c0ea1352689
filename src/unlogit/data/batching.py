"""Deterministic batching and batched on-device augmentation.

The order of epoch ``e`` is a pure function of ``(seed, e)`` (via ``DistributedSampler``, which
also shards it across ranks), so a run resumed at any step sees exactly the batches an
uninterrupted run would have seen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler


class _Sized:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def epoch_indices(n: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1) -> torch.Tensor:
    """This rank's shuffled sample indices for ``epoch`` (DistributedSampler semantics, drop_last)."""
    sampler = DistributedSampler(
        _Sized(n), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=world_size > 1
    )
    sampler.set_epoch(epoch)
    return torch.tensor(list(iter(sampler)), dtype=torch.long)


def batches_per_epoch(n: int, batch_size: int, world_size: int = 1) -> int:
    """Full batches per epoch on each rank (the last partial batch is dropped)."""
    per_rank = n // world_size
    if per_rank < batch_size:
        from ..errors import ConfigError

        raise ConfigError(
            f"the training data has {n} samples, fewer than one batch ({batch_size} per rank x {world_size} "
            "ranks); lower train.batch_size or use more data (data.train_size)"
        )
    return per_rank // batch_size


def gaussian_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    """x + N(0, std^2) per pixel from the global RNG (Gaussian-noise augmentation; not clipped to [0,1]); x itself
    when std is 0."""
    return x + std * torch.randn_like(x) if std > 0 else x


def augment(x: torch.Tensor, mode: str, pad: int = 4) -> torch.Tensor:
    """Random crops after reflect-padding and/or horizontal flips, per sample, on x's device.

    x: (N,C,H,W) float in [0,1]; ``mode`` in {none, flip, crop, crop-flip}. Uses the global torch RNG
    of x's device (captured in checkpoints, so resume stays exact).
    """
    if mode == "none":
        return x
    n, _, h, w = x.shape
    if "crop" in mode:
        padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        oy = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
        ox = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (N,1,H,1)
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (N,1,1,W)
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    if "flip" in mode:
        flip = torch.rand(n, device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x
