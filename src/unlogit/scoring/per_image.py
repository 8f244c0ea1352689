"""Per-image values of one inverter on fixed images: what a claim's protocol pairs and bootstraps
(computed by :func:`unlogit.scoring.stream.stream_unit`, in batches and, under torchrun, across processes).

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

from collections.abc import Callable, Mapping

import torch

from .measure import Scores

ValuesFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], Mapping[str, torch.Tensor]]


def retrieval_summary(values: Mapping[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Per retrieval space: median rank and top-1 rate (rank 1), among all images and same-class ones."""
    ranks = {k: v for k, v in values.items() if k.startswith(("retrieval_rank@", "retrieval_rank_class@"))}
    out: dict[str, dict[str, float]] = {}
    for k, v in Scores(ranks).summary().items():
        if "@" in k:
            stat, space = k.split("@", 1)
            out.setdefault(space, {})[stat] = v
    return out
