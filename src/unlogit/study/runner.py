"""``unlogit study``: a whole study as resumable stages (the config is :class:`~unlogit.study.config.StudyConfig`).

Stages: train classifiers -> train inverters -> compare (same images, same noise: a Figure-1 grid
and a metrics table) -> ``unlogit evaluate`` with the evaluator (into ``evaluate/``) -> every
``analyze`` experiment on all inverters (into ``analysis/``) -> ``report/index.html``. A stage whose
output is complete (``model.json`` written) is skipped; a half-finished one (``checkpoints/last``
present) is resumed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from ..config import build_config, deep_merge, from_dict, to_dict
from ..data.base import ImageDataset
from ..data.config import DataConfig
from ..runtime.atomic import write_json_atomic, write_text_atomic
from ..runtime.rundir import EVALUATE_JSON, EXPERIMENT_JSON, RunLayout, StudyLayout
from ..runtime.tables import Column, fixed, markdown, percent
from .config import StageSpec, StudyConfig, load_study

__all__ = ["StudyConfig", "compare_inverters", "default_study_dir", "load_study", "run_study"]


def _run_stage(kind: str, name: str, spec: StageSpec, run: Path, train: Callable[[Any, Path, bool], Any], cfg: Any,
               timings: dict[str, float]) -> None:  # fmt: skip
    """Train one stage (``train(cfg, run, resume)``) unless it is complete (resuming a half-finished one)."""
    state = RunLayout(run).state()
    if state == "done":
        print(f"[study] {kind} {name}: complete, skipped", flush=True)
        return
    print(f"[study] {kind} {name}: {'resuming' if state == 'resume' else 'training'} ({spec.preset})", flush=True)
    t0 = time.perf_counter()
    train(cfg, run, state == "resume")
    timings[f"{kind}/{name}"] = time.perf_counter() - t0


def train_stages(cfg: StudyConfig, out: Path, overrides: Sequence[str], timings: dict[str, float],
                 from_scratch: bool = False):  # fmt: skip
    """Every classifier stage (trained, or an existing spec), then every inverter stage for every seed.

    Returns (classifier name -> spec string, inverter name -> run directories by seed)."""
    from ..classifiers.config import ClassifierRunConfig
    from ..classifiers.training import train_classifier
    from ..inversion.config import InverterRunConfig
    from ..scoring import held_out

    data = {"data": cfg.data} if cfg.data else {}
    clf_refs: dict[str, str] = {}
    for name, spec in cfg.classifiers.items():
        if spec.spec is not None and not (from_scratch and spec.preset):
            clf_refs[name] = spec.spec
            continue
        run = StudyLayout(out).classifier(name)
        ccfg = build_config(ClassifierRunConfig, "classifier", spec.preset, [*spec.overrides, *overrides], data)
        _run_stage("classifier", name, spec, run, train_classifier, ccfg, timings)
        clf_refs[name] = str(run)
    inv_runs: dict[str, list[Path]] = {}
    for name, spec in cfg.inverters.items():
        clf = clf_refs.get(spec.classifier, spec.classifier)
        inv_runs[name] = []
        for seed in range(cfg.seeds):
            seed_override = [f"train.seed={seed}"] if cfg.seeds > 1 else []
            icfg = build_config(InverterRunConfig, "inverter", spec.preset, [*spec.overrides, *seed_override,
                                *overrides], deep_merge(data, {"classifier": clf}))  # fmt: skip
            run = cfg.inverter_run(out, name, seed)
            _run_stage("inverter", run.name, spec, run, held_out.train_and_score, icfg, timings)
            inv_runs[name].append(run)
    return clf_refs, inv_runs


def run_study(cfg: StudyConfig, out: Path, extra_overrides: Sequence[str] = (), from_scratch: bool = False,
              header: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Run (or continue) every stage of a study into ``out``; returns the comparison summary.

    ``from_scratch`` trains classifier stages that also name existing weights (``spec``); ``header`` is a
    line the report shows first (e.g. which data the demo found)."""
    layout = StudyLayout(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(layout.study_yaml, yaml.safe_dump(to_dict(cfg), sort_keys=False))
    timings: dict[str, float] = {}
    clf_refs, seed_runs = train_stages(cfg, out, list(extra_overrides), timings, from_scratch)
    inv_runs = {name: runs[0] for name, runs in seed_runs.items()}  # seed 0: figures, tables, experiments
    summary = compare_inverters(inv_runs, clf_refs, cfg, out)
    summary["stage_seconds"] = timings
    summary["seeds"] = cfg.seeds
    summary["header"] = header
    summary["classifiers"] = clf_refs
    write_json_atomic(layout.summary, summary)
    if cfg.evaluators and not (layout.evaluate / EVALUATE_JSON).is_file():
        print("[study] evaluate", flush=True)
        from .evaluate import evaluate

        evaluate(list(inv_runs.values()), _test_data(cfg, cfg.compare.eval_size),
                 [clf_refs[e] for e in cfg.evaluators], seed=cfg.compare.seed, samples=2,
                 out=layout.evaluate)  # fmt: skip
    if cfg.claim is not None:
        if layout.claim.is_file():
            claim = json.loads(layout.claim.read_text())
        else:
            print("[study] claim", flush=True)
            claim = run_claim(cfg, seed_runs, clf_refs, out)
        summary["claim"] = {"statement": claim["statement"], "verdict": claim["verdict"]}
    if cfg.analyze.experiments:
        run_analysis(cfg, inv_runs, clf_refs, out)
    if cfg.report:
        from ..report.page import build_report

        summary["report"] = str(build_report([out], layout.report, title=f"unlogit study: {cfg.name}"))
        write_json_atomic(layout.summary, summary)
    return summary


def run_claim(cfg: StudyConfig, seed_runs: dict[str, list[Path]], clf_refs: dict[str, str], out: Path) -> dict:
    """The claim stage: A vs B on the first ``compare.eval_size`` test images, every seed, every evaluator."""
    from ..classifiers.registry import load_classifier
    from ..inversion.inverter import load_inverter
    from ..scoring.evaluators import check_independent
    from .claim import decide, save_values, score_inverter

    c = cfg.claim
    test = _test_data(cfg, cfg.compare.eval_size)
    x, y = test.batch(torch.arange(len(test)))
    judges = {e: load_classifier(clf_refs[e], classes=test.classes) for e in cfg.evaluators}
    scores = []
    for name in (c.a, c.b):
        invs = [load_inverter(run) for run in seed_runs[name]]
        for inv, run in zip(invs, seed_runs[name]):
            check_independent(judges, inv.classifier, run)
        extra = _extra_endpoints(test, c.noise_draws)
        scores.append(score_inverter(name, invs, x, y, judges, c, cfg.compare.seed, extra))
    result = decide(*scores, list(judges), test.num_classes, c, _factor_keys(test))
    result.update({"evaluators": {e: clf_refs[e] for e in judges}, "dataset": test.name, "protocol": to_dict(c)})
    save_values(StudyLayout(out).claim_values, scores)
    write_json_atomic(StudyLayout(out).claim, result)
    return result


def _extra_endpoints(data: ImageDataset, draws: int):
    """Dataset-specific primary endpoints (shapes: the colour-blind factor errors), or None."""
    if not data.factors:
        return None
    from ..scoring.shapes_factors import factor_endpoint_values

    return lambda inv, x, y, seed: factor_endpoint_values(inv, x, y, seed, draws)


def _factor_keys(data: ImageDataset) -> list[str]:
    if not data.factors:
        return []
    from ..scoring.shapes_factors import FACTOR_ENDPOINTS

    return list(FACTOR_ENDPOINTS)


def run_analysis(cfg: StudyConfig, inv_runs: dict[str, Path], clf_refs: dict[str, str], out: Path) -> None:
    """Every configured experiment on all inverters side by side (skipped when already written)."""
    from ..analysis import run_experiment

    acfg = cfg.analyze_config()
    acfg.evaluator = clf_refs[cfg.evaluator] if cfg.evaluator else None
    for name in acfg.experiments:
        if (StudyLayout(out).experiment(name) / EXPERIMENT_JSON).is_file():
            print(f"[study] analyze {name}: complete, skipped", flush=True)
            continue
        print(f"[study] analyze {name}", flush=True)
        run_experiment(name, list(inv_runs.values()), acfg, StudyLayout(out).analysis)


def _test_data(cfg: StudyConfig, size: int) -> ImageDataset:
    """The first ``size`` test images of the study's data section."""
    data = from_dict(DataConfig, cfg.data, "data.")
    data.test_size = size
    return data.load("test")


COMPARE_COLUMNS = [Column("inverter"), Column("own_label_agreement", "label agreement (own clf)", percent)]
COMPARE_TAIL = [Column("colour_correlation", "colour corr.", fixed(2)), Column("psnr", "PSNR dB", fixed(2)),
                Column("ssim", "SSIM", fixed(3)), Column("logit_error", "logit error", fixed(2))]  # fmt: skip


def compare_inverters(inv_runs: dict[str, Path], clf_refs: dict[str, str], cfg: StudyConfig, out: Path) -> dict:
    """Same test images, same noise, every inverter: a grid and a metrics table (markdown + JSON).

    Each inverter is judged by its own classifier (``own_``) and by every other classifier of the study
    (``evaluator_label_agreement@<stage>``); the images are reconstructed once.
    """
    from ..classifiers.registry import load_classifier
    from ..inversion.inverter import load_inverter
    from ..runtime.figures import comparison_grid, save_png
    from ..scoring.measure import score

    c = cfg.compare
    test = _test_data(cfg, max(c.eval_size, c.n))
    inverters = {name: load_inverter(run) for name, run in inv_runs.items()}
    judges = {name: load_classifier(ref, classes=test.classes) for name, ref in clf_refs.items()}
    x, y = test.batch(torch.arange(min(c.eval_size, len(test))))
    recs = {name: inv.reconstruct(x, samples=1, seed=c.seed)[:, 0].cpu() for name, inv in inverters.items()}
    grid = save_png(comparison_grid([x[: c.n], *(r[: c.n] for r in recs.values())], upscale=2),
                    StudyLayout(out).figure1)  # fmt: skip
    rows = {}
    for name, inv in inverters.items():
        own = inv.classifier.weights_digest()
        others = {j: judge for j, judge in judges.items() if judge.weights_digest() != own}
        rows[name] = {**score(x, recs[name], y, inv.classifier, others).summary(), "train": inv.meta.get("summary", {})}
    judge_cols = [
        Column(k, k.replace("evaluator_label_agreement@", "agreement by "), percent)
        for k in dict.fromkeys(k for r in rows.values() for k in r if k.startswith("evaluator_label"))
    ]
    table = markdown([{"inverter": k, **v} for k, v in rows.items()], [*COMPARE_COLUMNS, *judge_cols, *COMPARE_TAIL])
    write_text_atomic(StudyLayout(out).summary_md, f"# Study {cfg.name}\n\n![reconstructions]({grid.name})\n\n"
                      "Columns of the figure: original, then one reconstruction per inverter "
                      f"({', '.join(inverters)}).\n\n{table}\n")  # fmt: skip
    return {"study": cfg.name, "n_eval": len(x), "inverters": rows, "figure": str(grid), "table": table,
            "columns": ["original", *inverters], "evaluator": cfg.evaluator}  # fmt: skip


def default_study_dir(name: str) -> Path:
    return Path("runs") / f"study-{name}"
