"""The findings stage of a study: every configured finding decided on the claim's scored arms, with its row in
findings.json, its figure and its per-image values (findings_values.safetensors)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ...errors import UnlogitError
from ...inversion.edits import UNIT_IMAGES
from ...runtime.atomic import write_atomic, write_json_atomic
from ...runtime.checkpoint import read_json
from ...runtime.figures import save_figure, save_png
from ...runtime.rundir import StudyLayout
from ..arms import ArmScores
from ..claim.stage import ScoredImages
from ..config import StudyConfig
from ..stages import StudyPlan
from .reference import reference_context, reference_row
from .registry import FINDINGS, decide_finding
from .values import FindingContext, FindingValues


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
    ctx = finding_context(cfg, plan, images, a, b, extra)
    ref_ctx = None
    if references is not None:
        ref_ctx = reference_context(ctx, *references, _reference_extra(cfg, plan, images))
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
        tensors.update(_stored(fid, sides))
    minutes = (time.perf_counter() - t0) / 60
    write_json_atomic(layout.findings, {"findings": rows, "cpu_minutes": minutes, "n": f.n, "a": c.a, "b": c.b})
    from safetensors.torch import save_file

    write_atomic(layout.findings_values, lambda tmp: save_file(tensors, str(tmp)))
    print(f"[study] findings: {len(rows)} in {minutes:.1f} min", flush=True)
    return rows


def add_references(cfg: StudyConfig, plan: StudyPlan, out: Path, images: ScoredImages) -> list[dict[str, Any]]:
    """The reference decoders beside the findings of a study whose findings.json predates them: the claim's
    reference decoders (trained: ``--only``) are scored on the claim's images, every finding they can answer is
    computed for them as :func:`run_findings` does, and each row gets its ``reference`` entry against the
    inverters' per-image values already in findings_values.safetensors (those, and every verdict, stay as the
    run wrote them). Refused when a reference's eligible images differ from the finding's (the images are not
    the run's). Rewrites findings.json and findings_values.safetensors atomically; returns the rows."""
    from safetensors.torch import load_file, save_file

    c, layout = cfg.claim, StudyLayout(out)
    reference_stages(cfg)  # refuses a study without them
    doc = read_json(layout.findings, "findings")
    tensors = load_file(str(layout.findings_values))
    refs = images.score(cfg, plan, c.reference_a), images.score(cfg, plan, c.reference_b)
    agreement = _same_references(layout, refs)
    ctx = finding_context(cfg, plan, images, *refs, _reference_extra(cfg, plan, images))
    for row in doc["findings"]:
        fid, finding = row["id"], FINDINGS.get(row["id"])
        print(f"[study] finding {fid}: its reference decoders", flush=True)
        sides = {side: _side(tensors, fid, side) for side in ("a", "b")}
        vals = FindingValues(sides["a"], sides["b"], row["n_images"])
        row["reference"], ref = reference_row(finding, row["primary"], vals, ctx)
        if ref is None:
            continue
        if ref.n_eligible != row["n_images"]:
            raise UnlogitError(
                f"{fid}: the reference decoders are eligible on {ref.n_eligible} images, the run's finding on "
                f"{row['n_images']}: these are not the run's images (check compare.first, compare.eval_size and "
                "findings.n against the run's study.yaml)"
            )
        tensors.update(_stored(fid, {"ref_a": ref.a, "ref_b": ref.b}))
    doc["reference_added"] = (
        f"after the run: the references' rows are new, every inverter's value is the run's; {agreement}"
    )
    write_json_atomic(layout.findings, doc)
    write_atomic(layout.findings_values, lambda tmp: save_file(tensors, str(tmp)))
    return doc["findings"]


def reference_stages(cfg: StudyConfig) -> list[str]:
    """The inverter stages of the findings' reference decoders: the claim's two, and C7's
    (``findings.architecture_reference``) where the study names it; refused when the claim names none."""
    c = cfg.claim
    if c is None or c.reference_a is None or c.reference_b is None:
        raise UnlogitError(f"{cfg.name} names no reference decoders (claim.reference_a and claim.reference_b)")
    extra = cfg.findings.architecture_reference if cfg.findings is not None else None
    return [c.reference_a, c.reference_b, *([extra] if extra else [])]


def _reference_extra(cfg: StudyConfig, plan: StudyPlan, images: ScoredImages) -> dict[str, ArmScores]:
    """The references of the findings' extra arms: C7's ``architecture`` when the study names it
    (``findings.architecture_reference``), scored on the claim's images."""
    stage = cfg.findings.architecture_reference
    return {"architecture": images.score(cfg, plan, stage, check=False)} if stage else {}


SAME_REFERENCE = 1e-3  # the largest mean |difference| of a refitted reference's primary values from the run's


def _same_references(layout: StudyLayout, refs: tuple[ArmScores, ArmScores]) -> str:
    """Check that the reference decoders scored now are the run's: their per-image values on the claim's primary
    endpoint against the run's claim_values.safetensors (refused beyond :data:`SAME_REFERENCE` mean absolute
    difference); returns the agreement in words."""
    from safetensors.torch import load_file

    primary = read_json(layout.claim, "claim")["primary"]
    run = load_file(str(layout.claim_values))
    words = []
    for arm in refs:
        key = f"{arm.name}/{primary}"
        if key not in run:
            raise UnlogitError(f"{layout.claim_values} has no {key}: the run did not score this reference decoder")
        now, then = arm.values[primary].double(), run[key].double()
        if now.shape != then.shape:
            raise UnlogitError(
                f"{arm.name} scored now has {tuple(now.shape)} values on {primary}, the run's {tuple(then.shape)}: "
                "these are not the run's classifiers, seeds or images"
            )
        gap = float((now - then).abs().mean())
        if gap > SAME_REFERENCE:
            raise UnlogitError(
                f"{arm.name} scored now differs from the run's on {primary} (mean |difference| {gap:.2g}): refit it "
                "as the run did (the same config, data and code) or run the study again"
            )
        words.append(f"{arm.name}: mean |difference| {gap:.2g} on {primary}")
    return "the refitted references against the run's claim_values: " + ", ".join(words)


def _stored(fid: str, sides: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Finding ``fid``'s per-image values (side -> key -> (K, S, N)) as findings_values stores them:
    ``fid/side/key`` (sides ``a``, ``b``, and the reference decoders' ``ref_a``, ``ref_b``)."""
    return {f"{fid}/{side}/{key}": v.contiguous() for side, values in sides.items() for key, v in values.items()}


def _side(tensors: dict[str, torch.Tensor], fid: str, side: str) -> dict[str, torch.Tensor]:
    """One side's per-image values of finding ``fid`` back from findings_values (the inverse of :func:`_stored`)."""
    prefix = f"{fid}/{side}/"
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def finding_context(
    cfg: StudyConfig,
    plan: StudyPlan,
    images: ScoredImages,
    a: ArmScores,
    b: ArmScores,
    extra: dict[str, ArmScores] | None = None,
) -> FindingContext:
    """What the findings are computed on: the scored arms A and B on the claim's images, the judges, the
    training images of the logit units, C8's surrogate and attack (its budget chosen on validation images),
    C9's datasets and the ``extra`` arms (``baseline``, ``architecture``)."""
    shape = tuple(images.x.shape[1:])
    surrogate, attack, attack_note = _surrogate(cfg, plan, images, shape)
    return FindingContext(
        a,
        b,
        images.x,
        images.y,
        images.judges,
        cfg.compare.seed,
        cfg.findings.n,
        _train_images(cfg, shape),
        extra or {},
        _ood(cfg, shape),
        attack,
        surrogate,
        attack_note,
    )


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
