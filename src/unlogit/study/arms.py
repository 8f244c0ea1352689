"""An arm of a claim: the inverters of K classifiers of one recipe x S inverter seeds, scored on the same
images with the same noise. Per-image values are stacked (K, S, N) for the protocol; each inverter's logits
and reconstructions are kept, so the findings, KID and the report reuse them instead of reconstructing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..classifiers.stored import dataset_logits
from ..data.base import ImageDataset
from ..inversion.inverter import Inverter
from ..runtime.progress import progress
from ..scoring.calibration import fit_colour_affine, recalibrated
from ..scoring.measure import (
    PIXEL_SPACES,
    PIXELS,
    Originals,
    pixel_features,
    rank_score,
    retrieval_ranks,
    retrieval_scores,
)
from ..scoring.metrics import ClassifierFeatures, features_of, kid_from_features
from ..scoring.per_image import ValuesFn
from ..scoring.stream import ONE_BATCH_STREAM, Streaming, stream_unit


@dataclass
class Unit:
    """One inverter of an arm and what it made of the shared images: logits (N,K) and reconstructions
    (N, draws, C, H, W) in [0,1], on the CPU."""

    inverter: Inverter
    logits: torch.Tensor
    recs: torch.Tensor
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class ArmScores:
    """One arm: ``values`` key -> (K classifiers, S seeds, N images); ``units[k][s]``; KID of unit (0, 0)."""

    name: str
    values: dict[str, torch.Tensor]
    units: list[list[Unit]]
    kid: dict[str, float] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.units), len(self.units[0])

    def training(self) -> dict[str, Any]:
        """What the arm's inverters trained for: method, G steps and whether a time cap stopped any."""
        summaries = [u.summary for row in self.units for u in row]
        steps = sorted({int(s.get("steps", 0)) for s in summaries})
        return {
            "method": sorted({str(s.get("method")) for s in summaries}),
            "steps": steps,
            "capped": any(was_capped(s) for s in summaries),
        }


def was_capped(summary: dict[str, Any]) -> bool:
    """Whether an inverter's time cap (``train.max_minutes``) stopped it before its planned G steps (older runs
    recorded this as ``stopped_early``)."""
    return bool(summary.get("capped", summary.get("stopped_early", False)))


NOT_COMPARABLE = "not comparable"  # the verdict word when the arms did not train alike


def training_differences(a: ArmScores, b: ArmScores) -> list[str]:
    """Why two arms' inverters did not train alike: a unit its time cap stopped (``train.max_minutes``), or G
    steps that differ between units. A verdict on such arms would compare how long each trained, not what the
    classifiers keep, so the claim and every finding on them say this instead of holds, reversed or tie."""
    reasons = []
    for arm in (a, b):
        for k, row in enumerate(arm.units):
            for s, unit in enumerate(row):
                summary = unit.summary
                if was_capped(summary):
                    steps, planned = summary.get("steps", "?"), summary.get("steps_planned", "?")
                    reasons.append(
                        f"{arm.name} capped at {steps} of {planned} G steps by train.max_minutes "
                        f"(classifier {k + 1}, seed {s + 1})"
                    )
    steps_a, steps_b = a.training()["steps"], b.training()["steps"]
    if len({*steps_a, *steps_b}) > 1:
        reasons.append(f"unequal training: {a.name} {steps_a} G steps, {b.name} {steps_b}")
    return reasons


def colour_map(inv: Inverter, calibration: ImageDataset, seed: int) -> torch.Tensor:
    """The inverter's per-channel colour map (:func:`~unlogit.scoring.calibration.fit_colour_affine`), fitted on one
    reconstruction (noise from ``seed``) of each calibration image, made from the logits the inverter trained on:
    the data's stored logits where it carries them (ImageNet's, of the 224-px crops), else the classifier run on
    the images."""
    logits = dataset_logits(inv.classifier, calibration, device=inv.device)
    fit = inv.reconstruct_logits(logits, samples=1, seed=seed)[:, 0].cpu()
    return fit_colour_affine(calibration.batch(torch.arange(len(calibration)))[0], fit)


def recalibrated_retrieval(
    inv: Inverter, calibration: ImageDataset, x: torch.Tensor, recs: torch.Tensor, seed: int, originals: Originals
) -> dict[str, torch.Tensor]:
    """``retrieval_recalibrated@pixels`` (N,): pixel retrieval of ``recs`` (N, draws, C, H, W) after the inverter's
    :func:`colour_map`, averaged over draws."""
    coeffs = colour_map(inv, calibration, seed)
    reference = originals.get(PIXELS, "features", lambda: pixel_features(x))
    draws = recs.shape[1]
    total = torch.zeros(len(x), dtype=torch.float64)
    for d in range(draws):
        ranks = retrieval_ranks(reference, pixel_features(recalibrated(recs[:, d], coeffs)))["retrieval_rank"]
        total += rank_score(ranks, len(x)) / draws
    return {f"retrieval_recalibrated@{PIXELS}": total}


def draw_mean_retrieval(recs: torch.Tensor, originals: Originals) -> dict[str, torch.Tensor]:
    """``retrieval_draw_mean@S`` (N,) for each judge-free space S of :data:`PIXEL_SPACES`: the retrieval
    (:func:`~unlogit.scoring.measure.retrieval_scores`) of the mean of each image's noise draws ``recs``
    (N, draws, C, H, W) in [0,1] among the originals, the inverter's estimate of its posterior mean. Beside
    ``retrieval@S`` (each draw scored, then averaged) it tells what the logits pin down from what one sample adds
    or loses; a deterministic decoder (the reference) scores the same on both."""
    scores = retrieval_scores(originals.x, recs.mean(1), None, {}, distractors=0, seed=0, originals=originals)
    return {f"retrieval_draw_mean@{s}": scores[f"retrieval@{s}"] for s in PIXEL_SPACES.names()}


@torch.no_grad()
def score_arm(
    name: str,
    inverters: Sequence[Sequence[Inverter]],
    data: ImageDataset,
    evaluators: Mapping[str, NormalizedClassifier],
    draws: int,
    distractors: int,
    seed: int,
    extra: Sequence[ValuesFn] = (),
    originals: Originals | None = None,
    calibration: ImageDataset | None = None,
    streaming: Streaming = ONE_BATCH_STREAM,
    batch_originals: dict[int, Originals] | None = None,
) -> ArmScores | None:
    """Every inverter's per-image values on the images of ``data`` with the same noise (``inverters[k][s]``):
    ``draws`` noise draws per image, ``distractors`` same-class images for class retrieval; the inverted
    classifiers' logits come from the data's stored logits (``prepare-data --logits``) where it carries them.
    Scored in batches and, under torchrun, shared by the processes (``streaming``,
    :func:`~unlogit.scoring.stream.stream_unit`): rank 0 returns the arm, the other ranks None.
    ``calibration``: M training images (with any stored logits); each inverter's per-channel colour map is fitted
    on its reconstructions of them (:mod:`unlogit.scoring.calibration`), and ``retrieval_recalibrated@pixels`` is
    the pixel retrieval of its reconstructions under that map. Every unit also gets ``retrieval_draw_mean@S``
    (:func:`draw_mean_retrieval`). ``originals``: the judges' view of all the images
    (rank 0); ``batch_originals``: of each batch, shared across arms."""
    units: list[list[Unit]] = []
    per_unit: list[list[dict[str, torch.Tensor]]] = []
    if streaming.shard.is_main:  # rank 0 recalibrates and computes KID on every image
        originals = originals if originals is not None else Originals(data.batch(torch.arange(len(data)))[0])
    flat = [(k, s, inv) for k, row in enumerate(inverters) for s, inv in enumerate(row)]
    for k, s, inv in progress(flat, desc=f"score {name}"):
        unit = stream_unit(inv, data, evaluators, draws, seed, distractors, extra, streaming, batch_originals)
        if unit is None:  # another rank gathers
            continue
        values = unit.values
        values.update(draw_mean_retrieval(unit.recs, originals))
        if calibration is not None:
            values.update(recalibrated_retrieval(inv, calibration, originals.x, unit.recs, seed, originals))
        if s == 0:
            units.append([])
            per_unit.append([])
        units[k].append(Unit(inv, unit.logits, unit.recs, dict(inv.meta.summary)))
        per_unit[k].append(values)
    if not streaming.shard.is_main:
        return None
    keys = set.intersection(*(set(v) for row in per_unit for v in row))
    stacked = {key: torch.stack([torch.stack([v[key] for v in row]) for row in per_unit]) for key in sorted(keys)}
    arm = ArmScores(name, stacked, units)
    if evaluators:
        arm.kid = unit_kid(units[0][0], originals, evaluators)
    return arm


def unit_kid(unit: Unit, originals: Originals, evaluators: Mapping[str, NormalizedClassifier]) -> dict[str, float]:
    """KID with its SE (:func:`~unlogit.scoring.metrics.kid_from_features`) of one inverter's first noise draw
    against the originals, in the first evaluator's penultimate features; the originals' features are extracted
    once per :class:`Originals`, however many arms are scored on them."""
    name, judge = next(iter(evaluators.items()))
    extractor = ClassifierFeatures(judge)
    real = originals.get(name, "kid features", lambda: features_of(originals.x, extractor))
    return kid_from_features(real, features_of(unit.recs[:, 0], extractor))
