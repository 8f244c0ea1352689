"""The findings stage of a study: every configured finding decided on the claim's scored arms, with its row in
findings.json, its figure and its per-image values (findings_values.safetensors)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ...inversion.edits import UNIT_IMAGES
from ...runtime.atomic import write_atomic, write_json_atomic
from ...runtime.figures import save_figure, save_png
from ...runtime.rundir import StudyLayout
from ..arms import ArmScores
from ..claim.stage import ScoredImages
from ..config import StudyConfig
from ..stages import StudyPlan
from .reference import reference_context, reference_row
from .registry import FINDINGS, decide_finding
from .values import FindingContext


def run_findings(
    cfg: StudyConfig,
    plan: StudyPlan,
    out: Path,
    images: ScoredImages,
    a: ArmScores,
    b: ArmScores,
    references: tuple[ArmScores, ArmScores] | None = None,
) -> list[dict[str, Any]]:
    """Every configured finding: its row in findings.json, its figure, its per-image values; with the arms'
    reference decoders (``references``: A's and B's), each row also says what they show on its primary endpoint
    (:mod:`.reference`)."""
    f, c, layout = cfg.findings, cfg.claim, StudyLayout(out)
    t0 = time.perf_counter()
    extra = {
        role: images.score(cfg, plan, stage, check=False)
        for role, stage in (("baseline", f.baseline), ("architecture", f.architecture))
        if stage
    }
    shape = tuple(images.x.shape[1:])
    surrogate, attack, attack_note = _surrogate(cfg, plan, images, shape)
    ctx = FindingContext(
        a,
        b,
        images.x,
        images.y,
        images.judges,
        cfg.compare.seed,
        f.n,
        _train_images(cfg, shape),
        extra,
        _ood(cfg, shape),
        attack,
        surrogate,
        attack_note,
    )
    ref_ctx = reference_context(ctx, *references) if references is not None else None
    rows, tensors = [], {}
    for fid in f.ids or FINDINGS.names():
        print(f"[study] finding {fid}", flush=True)
        finding = FINDINGS.get(fid)
        row, vals = decide_finding(finding, ctx)
        sides = {"a": vals.a, "b": vals.b}
        if ref_ctx is not None:
            row["reference"], ref = reference_row(finding, row["primary"], vals, ref_ctx)
            if ref is not None:
                sides.update({"ref_a": ref.a, "ref_b": ref.b})
        if vals.figure is not None:
            path = layout.finding_figure(fid)
            (save_png if torch.is_tensor(vals.figure) else save_figure)(vals.figure, path)
            row["figure"] = path.relative_to(layout.path).as_posix()
        rows.append(row)
        tensors.update({f"{fid}/{side}/{k}": v.contiguous() for side, m in sides.items() for k, v in m.items()})
    minutes = (time.perf_counter() - t0) / 60
    write_json_atomic(layout.findings, {"findings": rows, "cpu_minutes": minutes, "n": f.n, "a": c.a, "b": c.b})
    from safetensors.torch import save_file

    write_atomic(layout.findings_values, lambda tmp: save_file(tensors, str(tmp)))
    print(f"[study] findings: {len(rows)} in {minutes:.1f} min", flush=True)
    return rows


def _train_images(cfg: StudyConfig, shape: tuple[int, ...]):
    """A loader of the first :data:`~unlogit.inversion.edits.UNIT_IMAGES` training images (N,C,H,W) in [0,1], at
    the claim's shape: what sets the logit units of the findings' edits."""

    def load() -> torch.Tensor:
        ds = cfg.data_config(train_size=UNIT_IMAGES, channels=shape[0], image_size=shape[1]).load("train")
        return ds.batch(torch.arange(min(UNIT_IMAGES, len(ds))))[0]

    return load


def _surrogate(cfg: StudyConfig, plan: StudyPlan, images: ScoredImages, shape: tuple[int, ...]):
    """C8's surrogate classifier and its attack: the budget chosen on validation images when candidates are given
    (before any test image is attacked); (None, the configured attack, "") without a surrogate."""
    from ...classifiers.registry import load_classifier
    from .values import choose_budget

    f = cfg.findings
    if f.surrogate is None:
        return None, f.attack, ""
    surrogate = load_classifier(plan.classifier_refs(f.surrogate)[0], images.device, classes=images.data.classes)
    if not f.attack_budgets:
        return surrogate, f.attack, f"budget {f.attack} as configured"
    val = cfg.data_config().load("val")  # the study's own validation split, never the scored images
    val = val.subset(min(f.budget_images, len(val)))
    x, y = val.batch(torch.arange(len(val)))
    attack, note = choose_budget(surrogate, x, y, f.attack, f.attack_budgets, f.attack_success, cfg.compare.seed)
    return surrogate, attack, note


def _ood(cfg: StudyConfig, shape: tuple[int, ...]) -> dict:
    """C9's datasets (their test splits), converted to the claim's image shape, from the study's data root."""
    from ...data.config import DataConfig

    root, n = cfg.data_config().root, cfg.findings.n
    return {
        name: DataConfig(name=name, root=root, test_size=n, channels=shape[0], image_size=shape[1]).load("test")
        for name in cfg.findings.ood
    }
