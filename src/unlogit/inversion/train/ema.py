"""Exponential moving average of G's weights and standing BN statistics (BigGAN)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * model`` for parameters; buffers are copied."""
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1.0 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


@torch.no_grad()
def standing_stats(
    generator: nn.Module, sample_inputs: Callable[[], tuple[torch.Tensor, torch.Tensor]], batches: int
) -> None:
    """Replace G's BN running statistics by their average over ``batches`` forward passes.

    ``sample_inputs()`` returns (logits, z) of one batch. G is left in eval mode.
    """
    if batches <= 0:
        generator.eval()
        return
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    generator.train()
    for _ in range(batches):
        generator(*sample_inputs())
    for m, mom in zip(norms, momenta):
        m.momentum = mom
    generator.eval()
