"""Standing BN statistics of an evaluation net from training logits, with their own RNG."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..config import InverterTrainConfig
from ..nets.logit_encoder import LogitEncoder
from .ema import standing_stats
from .training import TrainingData

STANDING_SEED_OFFSET = 7


def refresh_standing_stats(
    net: nn.Module, encoder: LogitEncoder, data: TrainingData, t: InverterTrainConfig, device: torch.device
) -> None:
    """Standing BN statistics of ``net`` from ``t.standing_stats_batches`` batches of training logits.

    Batches and noise come from a generator seeded by ``t.seed``, never from the global RNG, so an
    evaluation during training leaves the training stream (and exact resume) untouched.
    """
    gen = torch.Generator().manual_seed(t.seed + STANDING_SEED_OFFSET)
    train_ds, cached = data.train_ds, data.cached

    def standing_inputs() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(train_ds), (t.batch_size,), generator=gen)
        if cached is not None:
            l = cached[idx.to(cached.device)].to(device).float()
        else:
            l = data.clf.predict_logits(train_ds.batch(idx, device)[0])
        return encoder(l), net.sample_noise(len(idx), "cpu", gen).to(device)

    standing_stats(net, standing_inputs, t.standing_stats_batches)
