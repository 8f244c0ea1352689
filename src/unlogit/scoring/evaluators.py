"""Independent evaluators: the classifiers that judge reconstructions, never the one that was inverted.

Independence is decided by weights (:meth:`~unlogit.classifiers.normalized.NormalizedClassifier.weights_digest`),
never by path: a copy of the inverted classifier's run directory is refused like the original.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..classifiers.registry import load_classifier
from ..data.base import ImageDataset
from ..errors import UnlogitError


def check_independent(
    evaluators: Mapping[str, NormalizedClassifier], inverted: NormalizedClassifier, what: str | Path
) -> None:
    """Refuse an evaluator whose weights are the inverted classifier's (compared by digest, not path);
    ``what`` names the inverter (or run) in the message."""
    own = inverted.weights_digest()
    for name, judge in evaluators.items():
        if judge.weights_digest() == own:
            raise UnlogitError(
                f"the evaluator {name} has the same weights as the classifier that {what} inverts; use an "
                "independent one (another architecture and seed, trained on other data)"
            )


def load_evaluators(
    specs: Sequence[str], data: ImageDataset, device: str | torch.device = "cpu"
) -> dict[str, NormalizedClassifier]:
    """Evaluator name (the spec's last path part, or a shipped name without ``unlogit:``, made unique) ->
    classifier on ``device``, checked against the data."""
    if not specs:
        raise UnlogitError("give at least one independent evaluator (--evaluator RUN_OR_SPEC)")
    out: dict[str, NormalizedClassifier] = {}
    for spec in specs:
        judge = load_classifier(spec, device=device, classes=data.classes if data.labelled else None)
        if data.labelled and judge.num_classes != data.num_classes:
            raise UnlogitError(
                f"evaluator {spec} has {judge.num_classes} classes, the data {data.num_classes}; "
                "use an evaluator trained on the same data"
            )
        name = base = (
            spec.removeprefix("unlogit:") if spec.startswith("unlogit:") else Path(spec.rstrip("/")).name or spec
        )
        i = 2
        while name in out:
            name, i = f"{base}-{i}", i + 1
        out[name] = judge
    return out
