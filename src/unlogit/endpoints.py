"""Per-image endpoint values of one inverter on fixed images: what the protocol pairs and bootstraps.

For each image the inverter reconstructs ``draws`` noise draws (the same noise for every inverter with
the same ``dim_z``); every endpoint is a per-image value averaged over the draws:

- ``true_label_agreement@E``: the fraction of draws an independent evaluator E labels with the true label;
- ``retrieval@S`` / ``retrieval_class@S``: instance retrieval in space S (``pixels`` or E's penultimate
  features): ``1 - (rank - 1) / (candidates - 1)``, 1 when x is the nearest original to G(f(x)), 0.5
  by chance; against all scored images, and against ``distractors`` same-class images;
- the pixel and own-classifier quantities of :func:`unlogit.measure.score` (secondary).

Ranks themselves (median, top-1) are kept for the report: :func:`retrieval_summary`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

from .classifiers.normalized import NormalizedClassifier
from .measure import retrieval_ranks, score
from .metrics import ClassifierFeatures

if TYPE_CHECKING:
    from .inversion.inverter import Inverter

PIXELS = "pixels"
POOL = 8  # pixel retrieval compares 8x8 average-pooled images (colour and layout, not texture)


def pixel_features(x: torch.Tensor) -> torch.Tensor:
    """The pixel space of retrieval: (N,C,H,W) -> (N, C*8*8) average-pooled pixels."""
    return torch.nn.functional.adaptive_avg_pool2d(x.float(), POOL).flatten(1)


def rank_score(rank: torch.Tensor, candidates: int) -> torch.Tensor:
    """Rank 1..candidates -> 1 (best) .. 0 (worst); 0.5 expected by chance."""
    return 1.0 - (rank - 1.0) / max(candidates - 1, 1)


def retrieval_values(x: torch.Tensor, x_hat: torch.Tensor, y: torch.Tensor | None,
                     spaces: Mapping[str, torch.nn.Module], distractors: int,
                     seed: int) -> dict[str, torch.Tensor]:  # fmt: skip
    """``retrieval@S``, ``retrieval_class@S`` (scores) and ``rank@S``, ``rank_class@S`` (ranks) per image."""
    out: dict[str, torch.Tensor] = {}
    if y is not None:  # every image gets the same number of same-class distractors
        distractors = min(distractors, int(torch.bincount(y.cpu())[y.cpu().unique()].min()) - 1)
    for name, features in {PIXELS: pixel_features, **spaces}.items():
        ranks = retrieval_ranks(features(x), features(x_hat), y, distractors, seed)
        out[f"rank@{name}"] = ranks["retrieval_rank"]
        out[f"retrieval@{name}"] = rank_score(ranks["retrieval_rank"], len(x))
        if "retrieval_rank_class" in ranks and distractors > 0:
            out[f"rank_class@{name}"] = ranks["retrieval_rank_class"]
            out[f"retrieval_class@{name}"] = rank_score(ranks["retrieval_rank_class"], distractors + 1)
    return out


@torch.no_grad()
def endpoint_values(inv: Inverter, x: torch.Tensor, y: torch.Tensor | None,
                    evaluators: Mapping[str, NormalizedClassifier], draws: int = 4, seed: int = 0,
                    distractors: int = 10) -> dict[str, torch.Tensor]:  # fmt: skip
    """Every per-image value (N,) float64 of one inverter on images x (N,C,H,W in [0,1]), labels y."""
    recs = inv.reconstruct(x, samples=draws, seed=seed).cpu()  # (N, S, C, H, W)
    spaces = {name: ClassifierFeatures(judge) for name, judge in evaluators.items()}
    logits = inv.logits(x)
    totals: dict[str, torch.Tensor] = {}
    for s in range(draws):
        x_hat = recs[:, s]
        values = {**score(x, x_hat, y, inv.classifier, evaluators, logits=logits).per_image,
                  **retrieval_values(x, x_hat, y, spaces, distractors, seed)}  # fmt: skip
        for k, v in values.items():
            totals[k] = totals.get(k, 0) + v.double() / draws
    return totals


def retrieval_summary(values: Mapping[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Per retrieval space: median rank and top-1 rate (rank 1), among all images and same-class ones."""
    out: dict[str, dict[str, float]] = {}
    for k, ranks in values.items():
        if k.startswith(("rank@", "rank_class@")):
            kind, space = k.split("@", 1)
            row = out.setdefault(space, {})
            row[f"median_{kind}"] = float(ranks.median())
            row[f"top1_{kind}"] = float((ranks <= 1.0 + 1e-9).double().mean())
    return out
