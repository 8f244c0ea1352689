"""``LogitEncoder``: how raw logits are preprocessed before conditioning G and D.

Modes:
    none         the raw logits
    standardize  (l - mean) / std with per-class statistics of the training set (default)
    log-softmax  log-probabilities (shift-invariant, like an API that returns probabilities)
    temperature  l / T

The statistics are buffers, saved with the inverter: the classifier's logit units on training images
(:class:`~unlogit.inversion.edits.LogitUnits`, computed there and handed to :meth:`LogitEncoder.fit`). Every
logit edit (:mod:`unlogit.inversion.edits`) is expressed in raw logit space and encoded the same way at train
and test time.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn

from ...errors import UnlogitError

EncoderMode = Literal["none", "standardize", "log-softmax", "temperature"]


class LogitEncoder(nn.Module):
    """Raw logits (N,K) -> encoded condition (N,K). No learnable parameters."""

    def __init__(self, num_classes: int, mode: EncoderMode = "standardize", temperature: float = 1.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.mode = mode
        self.temperature = temperature
        self.register_buffer("mean", torch.zeros(num_classes))
        self.register_buffer("std", torch.ones(num_classes))

    @property
    def needs_fit(self) -> bool:
        """Whether the mode uses training-set statistics (set by :meth:`fit`)."""
        return self.mode == "standardize"

    @torch.no_grad()
    def fit(self, mean: torch.Tensor, std: torch.Tensor) -> LogitEncoder:
        """Set the standardisation statistics: the per-class mean and std (K,) of training-set logits."""
        self.check(torch.stack([mean, std]))
        if not bool((std > 0).all()):
            raise UnlogitError("the logits' standard deviations must be > 0 (see inversion.edits.SIGMA_FLOOR)")
        self.mean.copy_(mean.float())
        self.std.copy_(std.float())
        return self

    def check(self, logits: torch.Tensor) -> None:
        """Raise a clear error for logits of the wrong shape or with NaN/Inf."""
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise UnlogitError(
                f"expected logits of shape (N, {self.num_classes}) (the classifier's classes), "
                f"got {tuple(logits.shape)}"
            )
        if not torch.isfinite(logits).all():
            raise UnlogitError("logits contain NaN or Inf; check the classifier's outputs or your manipulation")

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.mode == "standardize":
            return (logits - self.mean) / self.std
        if self.mode == "log-softmax":
            return torch.log_softmax(logits, dim=1)
        if self.mode == "temperature":
            return logits / self.temperature
        return logits

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, mode={self.mode}"
