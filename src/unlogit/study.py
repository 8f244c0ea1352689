"""``unlogit study``: a whole study as resumable stages.

Stages: train classifiers -> train inverters -> compare (same images, same noise: a Figure-1 grid
and a metrics table). A stage whose output is complete (``model.json`` written) is skipped; a
half-finished one (``checkpoints/last`` present) is resumed.

A study config (``configs/study/NAME.yaml``)::

    name: demo
    data: {name: shapes}                      # shared data section (merged into every stage)
    classifiers:
      standard: {preset: tiny, overrides: [...]}
      robust:   {preset: tiny-robust}
      evaluator: {preset: tiny-evaluator}       # other architecture and seed: judges reconstructions
    evaluator: evaluator                        # which classifier stage is the independent judge
    inverters:
      standard: {classifier: standard, preset: tiny, overrides: [train.max_minutes=3]}
    compare: {n: 12, eval_size: 500}
    analyze: {experiments: [reconstruct, noise, ...], n: 8, pool: 500}
    report: true

After the comparison, ``unlogit evaluate`` runs with the evaluator (into ``evaluate/``), every
``analyze`` experiment runs on all inverters (into ``analysis/``) and ``report/index.html`` is written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from .config import build_config, deep_merge, presets_dir, to_dict
from .errors import ConfigError
from .runtime.atomic import write_json_atomic, write_text_atomic


@dataclass
class StageSpec:
    preset: str
    overrides: list[str] = field(default_factory=list)
    classifier: str | None = None  # inverters: the name of a classifier stage (or a classifier spec)


@dataclass
class StudyConfig:
    name: str
    data: dict[str, Any]
    classifiers: dict[str, StageSpec]
    inverters: dict[str, StageSpec]
    compare: dict[str, Any]
    evaluator: str | None = None
    analyze: dict[str, Any] = field(default_factory=dict)
    report: bool = True


def load_study(name_or_path: str) -> StudyConfig:
    """Read ``configs/study/NAME.yaml`` or a YAML path, with clear errors for bad structure."""
    path = Path(name_or_path)
    if not path.is_file():
        path = presets_dir() / "study" / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (presets_dir() / "study").glob("*.yaml"))
        raise ConfigError(f"unknown study {name_or_path!r}; choose one of {known} or pass a YAML path")
    raw = yaml.safe_load(path.read_text()) or {}
    allowed = {"name", "data", "classifiers", "inverters", "compare", "evaluator", "analyze", "report"}
    if unknown := sorted(set(raw) - allowed):
        raise ConfigError(f"unknown study key {unknown[0]!r} in {path}; allowed keys: {sorted(allowed)}")

    def stages(section: str) -> dict[str, StageSpec]:
        out = {}
        for stage_name, spec in (raw.get(section) or {}).items():
            if not isinstance(spec, dict) or "preset" not in spec:
                raise ConfigError(f"study {path}: {section}.{stage_name} needs a 'preset'")
            try:
                out[stage_name] = StageSpec(**spec)
            except TypeError as exc:
                raise ConfigError(f"study {path}: {section}.{stage_name}: {exc}") from exc
        return out

    cfg = StudyConfig(raw.get("name", path.stem), dict(raw.get("data") or {}), stages("classifiers"),
                      stages("inverters"), dict(raw.get("compare") or {}), raw.get("evaluator"),
                      dict(raw.get("analyze") or {}), bool(raw.get("report", True)))  # fmt: skip
    if cfg.evaluator is not None and cfg.evaluator not in cfg.classifiers:
        raise ConfigError(f"study {path}: evaluator {cfg.evaluator!r} is not one of the classifier stages")
    if unknown_exp := sorted(set(cfg.analyze.get("experiments", [])) - set(_experiments())):
        raise ConfigError(f"study {path}: unknown analyze experiment {unknown_exp[0]!r}; choose from {_experiments()}")
    for name, spec in cfg.inverters.items():
        if spec.classifier is None:
            raise ConfigError(f"study {path}: inverters.{name} needs 'classifier' (a classifier stage name)")
    if not cfg.inverters:
        raise ConfigError(f"study {path} has no inverters")
    return cfg


def _experiments() -> list[str]:
    from .analysis import EXPERIMENTS

    return sorted(EXPERIMENTS)


def _stage_state(run: Path) -> str:
    if (run / "model.json").is_file():
        return "done"
    if (run / "checkpoints" / "last.json").is_file():
        return "resume"
    return "new"


def run_study(cfg: StudyConfig, out: Path, extra_overrides: list[str] = ()) -> dict[str, Any]:
    """Run (or continue) every stage of a study into ``out``; returns the comparison summary."""
    from .classifiers.config import ClassifierRunConfig
    from .classifiers.training import train_classifier
    from .inversion.config import InverterRunConfig
    from .inversion.trainer import train_inverter

    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "study.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    timings: dict[str, float] = {}
    data = {"data": cfg.data} if cfg.data else {}
    overrides = list(extra_overrides)

    def stage(kind: str, name: str, spec: StageSpec, run: Path, train) -> None:
        state = _stage_state(run)
        if state == "done":
            print(f"[study] {kind} {name}: complete, skipped", flush=True)
            return
        action = "resuming" if state == "resume" else "training"
        print(f"[study] {kind} {name}: {action} ({spec.preset})", flush=True)
        t0 = time.perf_counter()
        train(run, state == "resume")
        timings[f"{kind}/{name}"] = time.perf_counter() - t0

    clf_runs = {name: out / "classifiers" / name for name in cfg.classifiers}
    for name, spec in cfg.classifiers.items():
        ccfg = build_config(ClassifierRunConfig, "classifier", spec.preset, [*spec.overrides, *overrides], data)
        stage("classifier", name, spec, clf_runs[name], lambda run, resume, c=ccfg: train_classifier(c, run, resume))
    inv_runs = {name: out / "inverters" / name for name in cfg.inverters}
    for name, spec in cfg.inverters.items():
        clf = str(clf_runs[spec.classifier]) if spec.classifier in clf_runs else spec.classifier
        extra = deep_merge(data, {"classifier": clf})
        icfg = build_config(InverterRunConfig, "inverter", spec.preset, [*spec.overrides, *overrides], extra)
        stage("inverter", name, spec, inv_runs[name], lambda run, resume, c=icfg: train_inverter(c, run, resume))
    summary = compare_inverters(inv_runs, clf_runs, cfg, out)
    summary["stage_seconds"] = timings
    write_json_atomic(out / "summary.json", summary)
    if cfg.evaluator and not (out / "evaluate" / "evaluate.json").is_file():
        print("[study] evaluate", flush=True)
        from .evaluate import evaluate

        test = _test_data(cfg, int(cfg.compare.get("eval_size", 500)))
        evaluate(list(inv_runs.values()), test, str(clf_runs[cfg.evaluator]),
                 seed=int(cfg.compare.get("seed", 0)), samples=2, out=out / "evaluate")  # fmt: skip
    if cfg.analyze.get("experiments"):
        run_analysis(cfg, inv_runs, clf_runs, out)
    if cfg.report:
        from .report import build_report

        summary["report"] = str(build_report([out], out / "report", title=f"unlogit study: {cfg.name}"))
        write_json_atomic(out / "summary.json", summary)
    return summary


def run_analysis(cfg: StudyConfig, inv_runs: dict[str, Path], clf_runs: dict[str, Path], out: Path) -> None:
    """Every configured experiment on all inverters side by side (skipped when already written)."""
    from .analysis import run_experiment

    a = cfg.analyze
    evaluator = str(clf_runs[cfg.evaluator]) if cfg.evaluator else None
    for name in a["experiments"]:
        if (out / "analysis" / name / "metrics.json").is_file():
            print(f"[study] analyze {name}: complete, skipped", flush=True)
            continue
        print(f"[study] analyze {name}", flush=True)
        run_experiment(name, list(inv_runs.values()), cfg.data.get("name", "shapes"), out / "analysis",
                       n=int(a.get("n", 8)), seed=int(a.get("seed", 0)), data_root=cfg.data.get("root"),
                       pool=int(a.get("pool", 500)), evaluator=evaluator, ood_dataset=a.get("ood_dataset"))  # fmt: skip


def _test_data(cfg: StudyConfig, size: int):
    """The first ``size`` test images of the study's data section (validated like every stage's)."""
    from .config import from_dict
    from .data.config import DataConfig

    data = from_dict(DataConfig, cfg.data, "data.")
    data.test_size = size
    return data.load("test")


def compare_inverters(inv_runs: dict[str, Path], clf_runs: dict[str, Path], cfg: StudyConfig, out: Path) -> dict:
    """Same test images, same noise, every inverter: a grid and a metrics table (markdown + JSON)."""
    from .classifiers.registry import load_classifier
    from .figures import comparison_grid, save_png
    from .inversion.evaluation import reconstruction_summary
    from .inversion.inverter import load_inverter
    from .metrics import label_agreement, ssim

    n_grid = int(cfg.compare.get("n", 12))
    n_eval = int(cfg.compare.get("eval_size", 500))
    seed = int(cfg.compare.get("seed", 0))
    test = _test_data(cfg, max(n_eval, n_grid))
    inverters = {name: load_inverter(run) for name, run in inv_runs.items()}
    x = test.batch(torch.arange(n_grid))[0]
    columns = [x] + [inv.reconstruct(x, samples=1, seed=seed)[:, 0] for inv in inverters.values()]
    grid = save_png(comparison_grid(columns, upscale=2), out / "figure1_reconstructions.png")
    # every inverter judged by its own classifier and by every other classifier in the study
    judges = {name: load_classifier(str(run)) for name, run in clf_runs.items()}
    rows = {}
    x_eval = test.batch(torch.arange(min(n_eval, len(test))))[0]
    judged_x = {name: judge.predict_logits(x_eval).argmax(1) for name, judge in judges.items()}
    for name, inv in inverters.items():
        row = reconstruction_summary(inv.generator, inv.classifier, test, n_eval, "cpu", seed=seed)
        row["train"] = inv.meta.get("summary", {})
        rec = inv.reconstruct(x_eval, samples=1, seed=seed)[:, 0]
        row["ssim"] = float(ssim(x_eval, rec).mean())
        for judge_name, judge in judges.items():
            if str(clf_runs[judge_name].resolve()) == str(Path(inv.meta["classifier"]).resolve()):
                continue
            key = "agreement_by_evaluator" if judge_name == cfg.evaluator else f"agreement_by_{judge_name}"
            row[key] = label_agreement(judge, rec, judged_x[judge_name])
        rows[name] = row
    table = _markdown_table(rows)
    write_text_atomic(out / "summary.md", f"# Study {cfg.name}\n\n![reconstructions]({grid.name})\n\n"
                      "Columns of the figure: original, then one reconstruction per inverter "
                      f"({', '.join(inverters)}).\n\n{table}\n")  # fmt: skip
    return {"study": cfg.name, "n_eval": n_eval, "inverters": rows, "figure": str(grid), "table": table,
            "columns": ["original", *inverters]}  # fmt: skip


def _markdown_table(rows: dict[str, dict[str, Any]]) -> str:
    judge_cols = sorted({k for r in rows.values() for k in r if k.startswith("agreement_by_")})
    head = ["inverter", "label agreement (own clf)", *judge_cols, "colour corr.", "PSNR dB", "SSIM", "logit rel. err"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows.items():
        cells = [name, f"{r['label_agreement']:.1%}", *(f"{r[c]:.1%}" if c in r else "—" for c in judge_cols),
                 f"{r['colour_correlation']:.2f}", f"{r['psnr']:.2f}", f"{r['ssim']:.3f}",
                 f"{r['logit_rel_error']:.2f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def default_study_dir(name: str) -> Path:
    return Path("runs") / f"study-{name}"
