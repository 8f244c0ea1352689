"""``unlogit study``: a whole study as resumable stages (the config is :class:`~unlogit.study_config.StudyConfig`).

Stages: train classifiers -> train inverters -> compare (same images, same noise: a Figure-1 grid
and a metrics table) -> ``unlogit evaluate`` with the evaluator (into ``evaluate/``) -> every
``analyze`` experiment on all inverters (into ``analysis/``) -> ``report/index.html``. A stage whose
output is complete (``model.json`` written) is skipped; a half-finished one (``checkpoints/last``
present) is resumed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from .config import build_config, deep_merge, from_dict, to_dict
from .data.base import ImageDataset
from .data.config import DataConfig
from .runtime.atomic import write_json_atomic, write_text_atomic
from .study_config import StageSpec, StudyConfig, load_study
from .tables import Column, fixed, markdown, percent

__all__ = ["StudyConfig", "compare_inverters", "default_study_dir", "load_study", "run_study"]


def _stage_state(run: Path) -> str:
    if (run / "model.json").is_file():
        return "done"
    if (run / "checkpoints" / "last.json").is_file():
        return "resume"
    return "new"


def _run_stage(kind: str, name: str, spec: StageSpec, run: Path, train: Callable[[Any, Path, bool], Any], cfg: Any,
               timings: dict[str, float]) -> None:  # fmt: skip
    """Train one stage (``train(cfg, run, resume)``) unless it is complete (resuming a half-finished one)."""
    state = _stage_state(run)
    if state == "done":
        print(f"[study] {kind} {name}: complete, skipped", flush=True)
        return
    print(f"[study] {kind} {name}: {'resuming' if state == 'resume' else 'training'} ({spec.preset})", flush=True)
    t0 = time.perf_counter()
    train(cfg, run, state == "resume")
    timings[f"{kind}/{name}"] = time.perf_counter() - t0


def train_stages(cfg: StudyConfig, out: Path, overrides: Sequence[str], timings: dict[str, float]):
    """Every classifier, then every inverter stage; returns their run directories by name."""
    from .classifiers.config import ClassifierRunConfig
    from .classifiers.training import train_classifier
    from .inversion.config import InverterRunConfig
    from .inversion.trainer import train_inverter

    data = {"data": cfg.data} if cfg.data else {}
    clf_runs = {name: out / "classifiers" / name for name in cfg.classifiers}
    for name, spec in cfg.classifiers.items():
        ccfg = build_config(ClassifierRunConfig, "classifier", spec.preset, [*spec.overrides, *overrides], data)
        _run_stage("classifier", name, spec, clf_runs[name], train_classifier, ccfg, timings)
    inv_runs = {name: out / "inverters" / name for name in cfg.inverters}
    for name, spec in cfg.inverters.items():
        clf = str(clf_runs[spec.classifier]) if spec.classifier in clf_runs else spec.classifier
        icfg = build_config(InverterRunConfig, "inverter", spec.preset, [*spec.overrides, *overrides],
                            deep_merge(data, {"classifier": clf}))  # fmt: skip
        _run_stage("inverter", name, spec, inv_runs[name], train_inverter, icfg, timings)
    return clf_runs, inv_runs


def run_study(cfg: StudyConfig, out: Path, extra_overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Run (or continue) every stage of a study into ``out``; returns the comparison summary."""
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "study.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    timings: dict[str, float] = {}
    clf_runs, inv_runs = train_stages(cfg, out, list(extra_overrides), timings)
    summary = compare_inverters(inv_runs, clf_runs, cfg, out)
    summary["stage_seconds"] = timings
    write_json_atomic(out / "summary.json", summary)
    if cfg.evaluator and not (out / "evaluate" / "evaluate.json").is_file():
        print("[study] evaluate", flush=True)
        from .evaluate import evaluate

        evaluate(list(inv_runs.values()), _test_data(cfg, cfg.compare.eval_size), [str(clf_runs[cfg.evaluator])],
                 seed=cfg.compare.seed, samples=2, out=out / "evaluate")  # fmt: skip
    if cfg.analyze.experiments:
        run_analysis(cfg, inv_runs, clf_runs, out)
    if cfg.report:
        from .report import build_report

        summary["report"] = str(build_report([out], out / "report", title=f"unlogit study: {cfg.name}"))
        write_json_atomic(out / "summary.json", summary)
    return summary


def run_analysis(cfg: StudyConfig, inv_runs: dict[str, Path], clf_runs: dict[str, Path], out: Path) -> None:
    """Every configured experiment on all inverters side by side (skipped when already written)."""
    from .analysis import run_experiment

    acfg = cfg.analyze_config()
    acfg.evaluator = str(clf_runs[cfg.evaluator]) if cfg.evaluator else None
    for name in acfg.experiments:
        if (out / "analysis" / name / "metrics.json").is_file():
            print(f"[study] analyze {name}: complete, skipped", flush=True)
            continue
        print(f"[study] analyze {name}", flush=True)
        run_experiment(name, list(inv_runs.values()), acfg, out / "analysis")


def _test_data(cfg: StudyConfig, size: int) -> ImageDataset:
    """The first ``size`` test images of the study's data section."""
    data = from_dict(DataConfig, cfg.data, "data.")
    data.test_size = size
    return data.load("test")


COMPARE_COLUMNS = [Column("inverter"), Column("own_label_agreement", "label agreement (own clf)", percent)]
COMPARE_TAIL = [Column("colour_correlation", "colour corr.", fixed(2)), Column("psnr", "PSNR dB", fixed(2)),
                Column("ssim", "SSIM", fixed(3)), Column("logit_error", "logit error", fixed(2))]  # fmt: skip


def compare_inverters(inv_runs: dict[str, Path], clf_runs: dict[str, Path], cfg: StudyConfig, out: Path) -> dict:
    """Same test images, same noise, every inverter: a grid and a metrics table (markdown + JSON).

    Each inverter is judged by its own classifier (``own_``) and by every other classifier of the study
    (``evaluator_label_agreement@<stage>``); the images are reconstructed once.
    """
    from .classifiers.registry import load_classifier
    from .figures import comparison_grid, save_png
    from .inversion.inverter import load_inverter
    from .measure import score

    c = cfg.compare
    test = _test_data(cfg, max(c.eval_size, c.n))
    inverters = {name: load_inverter(run) for name, run in inv_runs.items()}
    judges = {name: load_classifier(str(run)) for name, run in clf_runs.items()}
    x, y = test.batch(torch.arange(min(c.eval_size, len(test))))
    recs = {name: inv.reconstruct(x, samples=1, seed=c.seed)[:, 0].cpu() for name, inv in inverters.items()}
    grid = save_png(comparison_grid([x[: c.n], *(r[: c.n] for r in recs.values())], upscale=2),
                    out / "figure1_reconstructions.png")  # fmt: skip
    rows = {}
    for name, inv in inverters.items():
        own = inv.classifier.weights_digest()
        others = {j: judge for j, judge in judges.items() if judge.weights_digest() != own}
        rows[name] = {**score(x, recs[name], y, inv.classifier, others).means(), "train": inv.meta.get("summary", {})}
    judge_cols = [
        Column(k, k.replace("evaluator_label_agreement@", "agreement by "), percent)
        for k in dict.fromkeys(k for r in rows.values() for k in r if k.startswith("evaluator_label"))
    ]
    table = markdown([{"inverter": k, **v} for k, v in rows.items()], [*COMPARE_COLUMNS, *judge_cols, *COMPARE_TAIL])
    write_text_atomic(out / "summary.md", f"# Study {cfg.name}\n\n![reconstructions]({grid.name})\n\n"
                      "Columns of the figure: original, then one reconstruction per inverter "
                      f"({', '.join(inverters)}).\n\n{table}\n")  # fmt: skip
    return {"study": cfg.name, "n_eval": len(x), "inverters": rows, "figure": str(grid), "table": table,
            "columns": ["original", *inverters], "evaluator": cfg.evaluator}  # fmt: skip


def default_study_dir(name: str) -> Path:
    return Path("runs") / f"study-{name}"
