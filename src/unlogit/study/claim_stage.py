"""The claim and findings stage of a study: load the arms' inverters, score them once on the same images,
decide the claim, then decide every configured finding from the same logits and reconstructions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..classifiers.registry import load_classifier
from ..inversion.inverter import load_inverter
from ..runtime.atomic import write_atomic, write_json_atomic
from ..runtime.figures import save_figure, save_png
from ..runtime.rundir import StudyLayout
from ..scoring.evaluators import check_independent
from ..scoring.measure import Originals
from .arms import ArmScores, score_arm
from .claim import decide, dose_response, save_values
from .config import StudyConfig
from .endpoints import claim_endpoints, endpoint_keys, extra_values
from .finding_values import FindingContext
from .findings import FINDINGS, decide_finding
from .stages import StudyPlan

TRAIN_SAMPLE = 2000  # training images that set the logit units of the findings' edits


def run_claim_stage(cfg: StudyConfig, plan: StudyPlan, out: Path, provenance: dict[str, Any],
                    write_claim: bool = True) -> dict[str, Any]:  # fmt: skip
    """Score the arms, write claim.json and claim_values.safetensors (unless ``write_claim`` is False), then
    the findings; returns the claim."""
    c, layout = cfg.claim, StudyLayout(out)
    test = cfg.test_data(cfg.compare.eval_size)
    keys = endpoint_keys(cfg.evaluators, test)
    if c.primary not in keys:
        raise ValueError(f"claim.primary {c.primary!r} is not an endpoint of this study; choose one of {keys}")
    x, y = test.batch(torch.arange(len(test)))
    judges = {e: load_classifier(plan.classifier_refs(e)[0], classes=test.classes) for e in cfg.evaluators}
    originals = Originals(x)

    def arm(stage: str) -> ArmScores:
        runs = plan.inverter_runs(stage)
        invs = [[load_inverter(r) for r in row] for row in runs]
        for row, paths in zip(invs, runs):
            for inv, path in zip(row, paths):
                check_independent(judges, inv.classifier, path)
        print(f"[study] claim: scoring {stage} ({len(invs)} classifiers x {len(invs[0])} seeds)", flush=True)
        return score_arm(stage, invs, x, y, judges, c, cfg.compare.seed, extra_values(test), originals)

    a, b = arm(c.a), arm(c.b)
    doses = [(dose, arm(stage)) for dose, stage in zip(c.dose_values, c.dose_response)]
    result = decide(a, b, list(judges), test, c)
    primary = next(e for e in claim_endpoints(c.primary, c.reason, c.margins, list(judges), test) if e.primary)
    result["dose_response"] = dose_response(doses, a, b, primary, c.dose_a) if doses else []
    result.update({"evaluators": {e: plan.classifier_refs(e)[0] for e in judges}, "dataset": test.name,
                   "split": cfg.compare.split, "protocol": _protocol(c), **provenance})  # fmt: skip
    if write_claim:
        save_values(layout.claim_values, [a, b, *(arm for _, arm in doses)])
        write_json_atomic(layout.claim, result)
        print(f"[study] claim ({c.primary}): {result['verdict']}", flush=True)
    if cfg.findings is not None:
        run_findings(cfg, plan, out, a, b, x, y, judges, test, originals)
    return result


def _protocol(c) -> dict[str, Any]:
    from ..config import to_dict

    return {**to_dict(c), "interval": "variance components (classifier, seed, image), Welch-Satterthwaite t",
            "verdict_order": "tie, holds, reversed, undecided"}  # fmt: skip


def run_findings(cfg: StudyConfig, plan: StudyPlan, out: Path, a: ArmScores, b: ArmScores, x: torch.Tensor,
                 y: torch.Tensor, judges: dict, test, originals: Originals) -> list[dict[str, Any]]:  # fmt: skip
    """Every configured finding: its row in findings.json, its figure, its per-image values."""
    import time

    f, c, layout = cfg.findings, cfg.claim, StudyLayout(out)
    t0 = time.perf_counter()
    extra = {}
    for role, stage in (("baseline", f.baseline), ("architecture", f.architecture)):
        if stage:
            invs = [[load_inverter(r) for r in row] for row in plan.inverter_runs(stage)]
            extra[role] = score_arm(stage, invs, x, y, judges, c, cfg.compare.seed, extra_values(test), originals)
    ctx = FindingContext(a, b, x, y, judges, cfg.compare.seed, f.n, _train_images(cfg, x.shape[1:]), extra,
                         _ood(cfg, x.shape[1:]), f.attack)  # fmt: skip
    rows, tensors = [], {}
    for fid in f.ids or FINDINGS.names():
        print(f"[study] finding {fid}", flush=True)
        row, vals = decide_finding(FINDINGS.get(fid), ctx)
        if vals.figure is not None:
            path = layout.path / "findings" / f"{fid}.png"
            (save_png if torch.is_tensor(vals.figure) else save_figure)(vals.figure, path)
            row["figure"] = f"findings/{fid}.png"
        rows.append(row)
        tensors.update({f"{fid}/{side}/{k}": v.contiguous() for side, m in (("a", vals.a), ("b", vals.b))
                        for k, v in m.items()})  # fmt: skip
    minutes = (time.perf_counter() - t0) / 60
    write_json_atomic(layout.findings, {"findings": rows, "cpu_minutes": minutes, "n": f.n, "a": c.a, "b": c.b})
    from safetensors.torch import save_file

    write_atomic(layout.findings_values, lambda tmp: save_file(tensors, str(tmp)))
    print(f"[study] findings: {len(rows)} in {minutes:.1f} min", flush=True)
    return rows


def _train_images(cfg: StudyConfig, shape):
    from ..data.config import DataConfig

    def load() -> torch.Tensor:
        data = DataConfig(**{**cfg.data, "train_size": TRAIN_SAMPLE, "channels": shape[0], "image_size": shape[1]})
        ds = data.load("train")
        return ds.batch(torch.arange(min(TRAIN_SAMPLE, len(ds))))[0]

    return load


def _ood(cfg: StudyConfig, shape) -> dict:
    from ..data.config import DataConfig

    out = {}
    for name in cfg.findings.ood:
        root = cfg.data.get("root")
        out[name] = DataConfig(name=name, root=root, test_size=cfg.findings.n, channels=shape[0],
                               image_size=shape[1]).load("test")  # fmt: skip
    return out
