"""Held-out evaluation of a net during and after training: standing BN statistics, then the scoring core."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from ..classifiers.normalized import NormalizedClassifier
from ..data.base import ImageDataset
from ..endpoints import retrieval_values
from ..measure import score
from ..metrics import ClassifierFeatures
from .config import InverterTrainConfig
from .ema import standing_stats
from .inverter import generate_chunked
from .logit_encoder import LogitEncoder

STANDING_SEED_OFFSET = 7


def refresh_standing_stats(net: nn.Module, encoder: LogitEncoder, clf: NormalizedClassifier,
                           train_ds: ImageDataset, cached: torch.Tensor | None, t: InverterTrainConfig,
                           device: torch.device) -> None:  # fmt: skip
    """Standing BN statistics of ``net`` from ``t.standing_stats_batches`` batches of training logits.

    Batches and noise come from a generator seeded by ``t.seed``, never from the global RNG, so an
    evaluation during training leaves the training stream (and exact resume) untouched.
    """
    gen = torch.Generator().manual_seed(t.seed + STANDING_SEED_OFFSET)

    def standing_inputs() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(train_ds), (t.batch_size,), generator=gen)
        if cached is not None:
            l = cached[idx.to(cached.device)].to(device)
        else:
            l = clf.predict_logits(train_ds.batch(idx, device)[0])
        return encoder(l), net.sample_noise(len(idx), "cpu", gen).to(device)

    standing_stats(net, standing_inputs, t.standing_stats_batches)


@torch.no_grad()
def held_out_numbers(net: nn.Module, encoder: LogitEncoder, clf: NormalizedClassifier, ds: ImageDataset, n: int,
                     device: torch.device, seed: int = 0,
                     evaluators: Mapping[str, NormalizedClassifier] | None = None,
                     labels: bool = True) -> dict[str, Any]:  # fmt: skip
    """Reconstruct the first ``n`` images of ``ds`` from their logits (one noise draw from ``seed``) and
    score them: the ``own_`` quantities (the inverted classifier: a training-time signal, not a fidelity
    claim), and with ``evaluators`` their agreement and the median retrieval ranks in pixels and in each
    evaluator's features. ``labels``: whether the data's labels are the classifier's classes (else no
    label-dependent number is computed). Returns the means of :class:`~unlogit.measure.Scores` plus ``seed``."""
    net.eval()
    x, y = ds.batch(torch.arange(min(n, len(ds))), device)
    logits = clf.predict_logits(x)
    x_hat = generate_chunked(net, encoder(logits), net.sample_noise(len(x), "cpu", torch.Generator().manual_seed(seed)))
    y = y if labels else None
    out = {**score(x, x_hat, y, clf, evaluators, logits=logits).means(), "seed": seed}
    if evaluators:
        spaces = {name: ClassifierFeatures(judge) for name, judge in evaluators.items()}
        ranks = retrieval_values(x.cpu(), x_hat.cpu(), y.cpu() if y is not None else None, spaces, distractors=10,
                                 seed=seed)  # fmt: skip
        out.update({f"median_{k}": float(v.median()) for k, v in ranks.items() if k.startswith("rank")})
    return out
