"""The trainer's held-out numbers: the scoring core applied to an evaluation net during and after training.

:class:`HeldOutScoring` implements :class:`unlogit.inversion.train.training.HeldOutEvaluation`; whoever
starts a training run (the CLI, a study, :func:`unlogit.train_inverter`) hands it to the trainer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..classifiers.normalized import NormalizedClassifier
from ..classifiers.stored import dataset_logits
from ..data.base import ImageDataset
from ..inversion.config import InverterRunConfig
from ..inversion.inverter import generate_chunked
from ..inversion.nets.logit_encoder import LogitEncoder
from ..inversion.train.trainer import train_inverter
from ..inversion.train.training import TrainingData
from .evaluators import check_independent, load_evaluators
from .measure import score


class HeldOutScoring:
    """Reconstruct the first ``n`` held-out images from their logits (one noise draw from ``seed``) and score
    them: the ``own_`` quantities (the inverted classifier: a training-time signal, not a fidelity claim),
    and with independent evaluators (``train.evaluators``) their agreement and the retrieval ranks in
    pixels and in each evaluator's features. Returns :meth:`~unlogit.scoring.measure.Scores.summary` plus
    ``seed``."""

    def __init__(self) -> None:
        self.evaluators: dict[str, NormalizedClassifier] = {}

    def prepare(
        self, evaluator_specs: Sequence[str], clf: NormalizedClassifier, eval_ds: ImageDataset, what: str | Path
    ) -> None:
        self.evaluators = load_evaluators(evaluator_specs, eval_ds, clf.mean.device) if evaluator_specs else {}
        check_independent(self.evaluators, clf, what)

    @torch.no_grad()
    def __call__(
        self, net: nn.Module, encoder: LogitEncoder, data: TrainingData, n: int, device: torch.device, seed: int
    ) -> dict[str, Any]:
        net.eval()
        ds, clf = data.eval_ds, data.clf
        first = torch.arange(min(n, len(ds)))
        x, y = ds.batch(first, device)
        logits = dataset_logits(clf, ds, first, device)
        noise = net.sample_noise(len(x), "cpu", torch.Generator().manual_seed(seed))
        x_hat = generate_chunked(net, encoder(logits), noise)
        labels = y if data.labels_apply else None
        scores = score(
            x, x_hat, labels, clf, self.evaluators, logits=logits, retrieval=bool(self.evaluators), seed=seed
        )
        return {**scores.summary(), "seed": seed}


def train_and_score(cfg: InverterRunConfig, out: str | Path, resume: bool = False) -> dict[str, Any]:
    """Train an inverter with :class:`HeldOutScoring` as its held-out evaluation (what the CLI, studies and
    :func:`unlogit.train_inverter` run); returns the summary."""
    return train_inverter(cfg, out, resume, HeldOutScoring())
