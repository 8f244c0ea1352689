"""The claim stage of a study: load the arms' inverters, score them once on the same images, decide the claim.

The scored arms (their logits and reconstructions) are handed back, so the findings stage
(:mod:`unlogit.study.findings.stage`) reuses them instead of reconstructing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...classifiers.normalized import NormalizedClassifier
from ...classifiers.registry import load_classifier
from ...data.base import ImageDataset
from ...inversion.inverter import load_inverter
from ...runtime.atomic import write_json_atomic
from ...runtime.rundir import StudyLayout
from ...scoring.evaluators import check_independent
from ...scoring.measure import Originals
from ...scoring.stream import ONE_BATCH_STREAM, Streaming
from ..arms import ArmScores, score_arm
from ..config import StudyConfig
from ..stages import StudyPlan
from .endpoints import claim_endpoints, endpoint_keys, extra_values
from .verdict import control_rows, decide, dose_response, reference_comparison, save_values


@dataclass
class ScoredImages:
    """The claim's images x (N,C,H,W) in [0,1] with labels y (N,), the judges and the judges' view of x: what
    every arm, the claim's and the findings' extra ones, is scored on."""

    data: ImageDataset
    x: torch.Tensor
    y: torch.Tensor
    judges: dict[str, NormalizedClassifier]
    originals: Originals
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # inverters and judges; values: CPU
    calibration: ImageDataset | None = None  # training images the inverters' colour maps are fitted on
    streaming: Streaming = ONE_BATCH_STREAM  # batches; under torchrun, this process's share of them
    batch_originals: dict[int, Originals] = field(default_factory=dict)  # the judges' view of each batch

    def score(self, cfg: StudyConfig, plan: StudyPlan, stage: str, check: bool = True) -> ArmScores | None:
        """Every inverter of an inverter stage ([classifier][seed]) on these images, with the same noise;
        ``check``: refuse a judge that is one of the inverted classifiers. Under torchrun rank 0 announces the
        stage to the other ranks (:meth:`follow`), which score their share of it and get None."""
        shard = self.streaming.shard
        if shard.world > 1 and shard.is_main:
            _announce((stage, check))
        runs = plan.inverter_runs(stage)
        invs = [[load_inverter(r, device=self.device) for r in row] for row in runs]
        if check:
            for row, paths in zip(invs, runs):
                for inv, path in zip(row, paths):
                    check_independent(self.judges, inv.classifier, path)
        if shard.is_main:
            print(f"[study] scoring {stage} ({len(invs)} classifiers x {len(invs[0])} seeds)", flush=True)
        c = cfg.claim
        return score_arm(
            stage,
            invs,
            self.data,
            self.judges,
            c.noise_draws,
            c.distractors,
            cfg.compare.seed,
            extra_values(self.data),
            self.originals,
            self.calibration,
            self.streaming,
            self.batch_originals,
        )

    def follow(self, cfg: StudyConfig, plan: StudyPlan) -> None:
        """A rank other than 0 under torchrun: score every stage rank 0 announces, until it announces the end
        (:func:`end_of_scoring`)."""
        while (call := _announce(None)) is not None:
            self.score(cfg, plan, *call)


def end_of_scoring() -> None:
    """Rank 0 under torchrun: tell the other ranks (:meth:`ScoredImages.follow`) that nothing more is scored."""
    _announce(None)


def _announce(call: tuple[str, bool] | None) -> tuple[str, bool] | None:
    """Rank 0's ``call`` (a stage to score, or None for the end) on every rank of the process group."""
    import torch.distributed as dist

    box = [call]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def claim_images(
    cfg: StudyConfig, plan: StudyPlan, device: torch.device | str = "cpu", streaming: Streaming = ONE_BATCH_STREAM
) -> ScoredImages:
    """The scored images (``compare.eval_size`` from ``compare.first``) and the study's evaluators on ``device``,
    scored as ``streaming`` says."""
    device = torch.device(device)
    test = cfg.test_data(cfg.compare.eval_size)
    keys = endpoint_keys(cfg.evaluators, test)
    if cfg.claim.primary not in keys:
        raise ValueError(f"claim.primary {cfg.claim.primary!r} is not an endpoint of this study; choose one of {keys}")
    x, y = test.batch(torch.arange(len(test)))
    judges = {e: load_classifier(plan.classifier_refs(e)[0], device, classes=test.classes) for e in cfg.evaluators}
    calibration = _calibration_images(cfg, tuple(x.shape[1:]))
    return ScoredImages(test, x, y, judges, Originals(x), device, calibration, streaming)


def _calibration_images(cfg: StudyConfig, shape: tuple[int, ...]) -> ImageDataset | None:
    """The first ``claim.calibration_images`` training images at the scored images' shape (C,H,W), with any logits
    the data stores (None for 0)."""
    n = cfg.claim.calibration_images if cfg.claim is not None else 0
    if not n:
        return None
    c, h, _ = shape
    train = cfg.data_config(train_size=n, channels=c, image_size=h).load("train")
    return train.subset(min(n, len(train)))


def run_claim_stage(
    cfg: StudyConfig,
    plan: StudyPlan,
    out: Path,
    images: ScoredImages,
    provenance: dict[str, Any],
    write_claim: bool = True,
) -> tuple[dict[str, Any], ArmScores, ArmScores, tuple[ArmScores, ArmScores] | None]:
    """Score both arms, decide the claim and write claim.json with claim_values.safetensors (unless
    ``write_claim`` is False: the claim exists and only the findings need the arms); returns the claim, arms A
    and B, and their reference decoders (``claim.reference_a`` / ``reference_b``; None where the study has none)."""
    c, layout = cfg.claim, StudyLayout(out)
    a, b = images.score(cfg, plan, c.a), images.score(cfg, plan, c.b)
    doses = [(dose, images.score(cfg, plan, stage)) for dose, stage in zip(c.dose_values, c.dose_response)]
    judges = list(images.judges)
    result = decide(a, b, judges, images.data, c)
    primary = next(e for e in claim_endpoints(c.primary, c.reason, c.margins, judges, images.data) if e.primary)
    result["dose_response"] = dose_response(doses, a, b, primary, c.dose_a) if doses else []
    references = None  # the findings put them beside every finding too, so they are scored either way
    if c.reference_a is not None and c.reference_b is not None:
        references = (images.score(cfg, plan, c.reference_a), images.score(cfg, plan, c.reference_b))
        if write_claim:
            result["reference"] = reference_comparison(a, b, *references, judges, images.data, c)
    controls = []
    if c.controls and write_claim:
        controls = [(st, cfg.inverters[st].method == "ridge", images.score(cfg, plan, st)) for st in c.controls]
        result["controls"] = control_rows(controls, a, b, *(references or (None, None)), primary)
    result.update(
        {
            "evaluators": {e: plan.classifier_refs(e)[0] for e in judges},
            "dataset": images.data.name,
            "split": cfg.compare.split,
            "images": {**cfg.compare.images(), "confirmatory": c.confirmatory},
            "protocol": _protocol(c),
            **provenance,
        }
    )
    if write_claim:
        save_values(
            layout.claim_values,
            [a, b, *(arm for _, arm in doses), *(references or ()), *(arm for *_, arm in controls)],
        )
        write_json_atomic(layout.claim, result)
        print(f"[study] claim ({c.primary}): {result['verdict']}", flush=True)
    return result, a, b, references


def _protocol(c) -> dict[str, Any]:
    from ...config import to_dict

    return {
        **to_dict(c),
        "interval": "variance components (classifier, seed, image), Welch-Satterthwaite t",
        "verdict_order": "tie, holds, reversed, undecided",
    }
