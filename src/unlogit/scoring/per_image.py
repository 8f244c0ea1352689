"""Per-image values of one inverter on fixed images: what a claim's protocol pairs and bootstraps.

For each image the inverter reconstructs ``draws`` noise draws (the same noise for every inverter with
the same ``dim_z``); every value is a per-image quantity of :func:`unlogit.scoring.measure.score`
(retrieval included) averaged over the draws:

- ``true_label_agreement@E``: the fraction of draws an independent evaluator E labels with the true label;
- ``retrieval@S`` / ``retrieval_class@S``: instance retrieval in space S (``pixels`` or E's penultimate
  features), 1 when x is the nearest original to G(f(x)), 0.5 by chance; against all scored images, and
  against same-class distractors;
- the pixel and own-classifier quantities (secondary).

Ranks themselves (median, top-1) are summarised for the report by :func:`retrieval_summary`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..inversion.inverter import Inverter
from .measure import Originals, Scores, score

ValuesFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], Mapping[str, torch.Tensor]]


@torch.no_grad()
def per_image_values(
    inv: Inverter,
    x: torch.Tensor,
    y: torch.Tensor | None,
    evaluators: Mapping[str, NormalizedClassifier],
    draws: int = 4,
    seed: int = 0,
    distractors: int = 10,
    logits: torch.Tensor | None = None,
    recs: torch.Tensor | None = None,
    originals: Originals | None = None,
    extra: Sequence[ValuesFn] = (),
) -> dict[str, torch.Tensor]:
    """Every per-image value (N,) float64 of one inverter on images x (N,C,H,W in [0,1]), labels y.

    ``logits`` (N,K) and ``recs`` (N,draws,C,H,W) are computed when not given (a caller that keeps them
    for later experiments passes its own); ``originals`` shares the judges' view of x across inverters;
    ``extra`` functions ``(x, x_hat, y) -> {key: (N,)}`` add dataset-specific values (shapes factors)."""
    logits = inv.logits(x) if logits is None else logits
    recs = inv.reconstruct_logits(logits, samples=draws, seed=seed).cpu() if recs is None else recs
    originals = originals if originals is not None else Originals(x)
    totals: dict[str, torch.Tensor] = {}
    for s in range(draws):
        values = dict(
            score(
                x,
                recs[:, s],
                y,
                inv.classifier,
                evaluators,
                logits=logits,
                retrieval=True,
                distractors=distractors,
                seed=seed,
                originals=originals,
            ).per_image
        )
        for fn in extra:
            values.update(fn(x, recs[:, s], y))
        for k, v in values.items():
            totals[k] = totals.get(k, 0) + v.double() / draws
    return totals


def retrieval_summary(values: Mapping[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Per retrieval space: median rank and top-1 rate (rank 1), among all images and same-class ones."""
    ranks = {k: v for k, v in values.items() if k.startswith(("retrieval_rank@", "retrieval_rank_class@"))}
    out: dict[str, dict[str, float]] = {}
    for k, v in Scores(ranks).summary().items():
        if "@" in k:
            stat, space = k.split("@", 1)
            out.setdefault(space, {})[stat] = v
    return out
