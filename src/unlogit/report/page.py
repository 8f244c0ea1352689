"""``unlogit report``: one self-contained static HTML page from run directories and study folders.

It scans the given folders for what the other commands wrote — classifier and inverter runs
(``model.json``), a study's ``summary.json``, ``claim.json`` and ``findings.json``, ``analyze`` outputs
(``metrics.json`` with an ``experiment`` key) and ``evaluate.json`` — and renders them in the order a reader
wants them: the study's header line, the claim's verdict and the findings table (the first screen), Figure 1,
the claim's details, the findings' figures, the experiments in the paper's order, then the setup. Tables scroll
inside their box rather than widen the page; values that signal a broken estimate are flagged, not printed raw.
PNGs are embedded as data URIs, so the single ``index.html`` can be mailed or archived.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnlogitError
from ..runtime.atomic import write_text_atomic
from ..runtime.figures import eval_curve_figure, save_figure
from ..runtime.rundir import (
    CLAIM_JSON,
    EVALUATE_JSON,
    EXPERIMENT_JSON,
    FINDINGS_JSON,
    MODEL_JSON,
    SUMMARY_JSON,
    read_evaluations,
)
from ..runtime.tables import Column, Grid, fixed, format_value, grid, percent
from ..version import __version__
from . import schemas
from .files import inside, safe_name
from .render import render_page
from .views import AnalysisView, EvaluateView, FigureView, PageView, SetupView, StudyView, TitledGrid


def embed(path: Path, caption: str) -> FigureView:
    """A PNG file as a figure embedded in the page (a data URI), so the page stands alone."""
    return FigureView("data:image/png;base64," + base64.b64encode(path.read_bytes()).decode(), caption)


def _flatten(obj: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """Nested dicts as one row: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists of dicts are left out, and nesting
    deeper than ``MAX_DEPTH`` levels is shown as a note instead of followed."""
    out: dict[str, Any] = {}
    if depth > MAX_DEPTH:
        out[prefix.rstrip(".")] = f"(nested deeper than {MAX_DEPTH} levels)"
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}.", depth + 1))
    elif isinstance(obj, list) and obj and isinstance(obj[0], dict):
        return {}
    else:
        out[prefix.rstrip(".")] = obj
    return out


MAX_DEPTH = 6
BROKEN = {"r2": -1.0, "fraction_of_ceiling": 1.5}  # an R^2 below -1 or a fraction above 1.5 is a broken estimate


def flag_broken(row: dict[str, Any]) -> dict[str, Any]:
    """The row with values that signal a broken estimate replaced by a flag (R^2 far below 0, a recovered
    fraction far above its ceiling) instead of printed raw."""
    out = dict(row)
    for k, v in row.items():
        if not isinstance(v, float):
            continue
        if ("r2" in k.lower() and v < BROKEN["r2"]) or ("fraction" in k and v > BROKEN["fraction_of_ceiling"]):
            out[k] = f"flagged ({v:.3g}: the estimate is unreliable)"
    return out


def _experiment_tables(metrics: dict[str, Any]) -> list[TitledGrid]:
    """Tables for an experiment's per-inverter numbers (curves become one row per point)."""
    tables = []
    if "originals" in metrics:
        tables.append(TitledGrid("originals (probe quality)", grid([metrics["originals"]])))
    for inv_name, value in (metrics.get("inverters") or {}).items():
        if isinstance(value, list):  # a curve
            rows = [flag_broken(_flatten(v)) for v in value]
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            rows = [flag_broken({"": k, **_flatten(v)}) for k, v in value.items()]
        else:
            rows = [flag_broken(_flatten(value))]
        tables.append(TitledGrid(str(inv_name), grid(rows)))
    return tables


def _find(roots: Iterable[Path], name: str, max_depth: int = 4) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        if root.is_file() and root.name == name:
            found.append(root)
            continue
        for path in sorted(root.rglob(name)) if root.is_dir() else []:
            if len(path.relative_to(root).parts) <= max_depth + 1:
                found.append(path)
    return list(dict.fromkeys(found))


def _models(roots: Sequence[Path]) -> tuple[list[dict], list[dict], list[Path]]:
    """The setup tables' rows (classifier runs, inverter runs) and the inverter run folders, each model.json read
    and checked once."""
    classifiers, inverters, inverter_runs = [], [], []
    for path in _find(roots, MODEL_JSON):
        meta = read_input(path, schemas.MODEL)
        run = path.parent
        if meta.get("kind") == "unlogit.classifier":
            s = meta.get("summary", {})
            attack = s.get("robust_attack") or {}
            classifiers.append(
                {
                    "run": run.name,
                    "architecture": meta.get("arch", {}).get("arch"),
                    "dataset": s.get("dataset"),
                    "training": "PGD adversarial" if s.get("adversarial_training") else "standard",
                    "epochs": s.get("epochs"),
                    "validation accuracy": s.get("val_acc"),
                    "test accuracy": s.get("clean_acc"),
                    "robust test accuracy": s.get("robust_acc"),
                    "attack": f"PGD-{attack.get('norm')} eps={attack.get('eps', 0):.4g}" if attack else "",
                }
            )
        elif meta.get("kind") == "unlogit.inverter":
            s = meta.get("summary", {})
            inverter_runs.append(run)
            inverters.append(
                {
                    "run": run.name,
                    "method": meta.get("method"),
                    "classifier": Path(str(meta.get("classifier"))).name,
                    "G steps": s.get("steps"),
                    "capped": s.get("capped", s.get("stopped_early")),
                    "minutes": s.get("train_minutes"),
                    "own-classifier label agreement": s.get("own_label_agreement"),
                    "colour correlation": s.get("colour_correlation"),
                    "PSNR (dB)": s.get("psnr"),
                }
            )
    return classifiers, inverters, inverter_runs


def _training_curves(inverter_runs: Sequence[Path]) -> dict[str, list[dict]]:
    """Inverter run name -> its held-out evaluations in order (``train.eval_every`` lines and the final
    one), for runs that logged at least two."""
    curves = {}
    for run in inverter_runs:
        records = read_evaluations(run)
        if len(records) > 1:
            curves[run.name] = records
    return curves


@dataclass
class ReportInputs:
    """What the other commands wrote under the report's roots."""

    classifiers: list[dict]
    inverters: list[dict]
    inverter_runs: list[Path]  # the inverter run folders (their training curves)
    summaries: list[tuple[Path, dict]]  # (study folder, summary.json)
    analyses: list[tuple[Path, dict]]  # (experiment folder, metrics.json)
    evaluations: list[dict]
    claims: list[tuple[Path, dict]]  # (study folder, claim.json)
    findings: list[tuple[Path, dict]]  # (study folder, findings.json)


def parse_input(path: Path) -> dict:
    """A JSON object from ``path``, or one named error (not JSON, not UTF-8, not an object)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UnlogitError(f"report input {path} cannot be read as JSON ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise UnlogitError(f"report input {path} holds a {type(data).__name__}, not a JSON object")
    return data


def read_input(path: Path, schema: schemas.Schema) -> dict:
    """A JSON object the report reads, checked against its schema, or one named error (not JSON, not UTF-8,
    not an object, a field of the wrong type)."""
    return schemas.check_input(parse_input(path), schema, path)


def _analyses(roots: Sequence[Path]) -> list[tuple[Path, dict]]:
    """``analyze`` outputs: the ``metrics.json`` files that name an experiment (a run's own metrics do not), each
    read once and then checked."""
    found = []
    for path in _find(roots, EXPERIMENT_JSON, max_depth=5):
        try:
            metrics = parse_input(path)
        except UnlogitError:
            continue  # not an analysis: not ours to refuse
        if "experiment" in metrics:
            found.append((path.parent, schemas.check_input(metrics, schemas.EXPERIMENT, path)))
    return sorted(found, key=lambda fm: _paper_order(fm[1]["experiment"]))


def collect(roots: Sequence[Path]) -> ReportInputs:
    """Find every run, study summary, analysis and evaluation under ``roots``; each input is schema-checked."""
    missing = [str(r) for r in roots if not r.exists()]
    if missing:
        raise UnlogitError(f"report inputs not found: {missing}")
    classifiers, inverters, inverter_runs = _models(roots)
    found = ReportInputs(
        classifiers,
        inverters,
        inverter_runs,
        summaries=[(p.parent, read_input(p, schemas.SUMMARY)) for p in _find(roots, SUMMARY_JSON)],
        analyses=_analyses(roots),
        evaluations=[read_input(p, schemas.EVALUATE) for p in _find(roots, EVALUATE_JSON)],
        claims=[(p.parent, read_input(p, schemas.CLAIM)) for p in _find(roots, CLAIM_JSON)],
        findings=[(p.parent, read_input(p, schemas.FINDINGS)) for p in _find(roots, FINDINGS_JSON)],
    )
    if not (classifiers or inverters or found.summaries or found.analyses or found.evaluations):
        raise UnlogitError(
            f"nothing to report under {[str(r) for r in roots]}: no run, study, analysis or evaluate output"
        )
    return found


def _setup(found: ReportInputs, out: Path) -> SetupView:
    def formatted(rows: list[dict], fmt_of) -> Grid | None:
        return grid(rows, [Column(k, k, fmt_of(k) or format_value) for k in rows[0]]) if rows else None

    curves = _training_curves(found.inverter_runs)
    return SetupView(
        classifiers=formatted(
            found.classifiers, lambda k: percent if k.endswith("accuracy") else fixed(0) if k == "epochs" else None
        ),
        inverters=formatted(
            found.inverters,
            lambda k: percent if "agreement" in k else fixed(1) if k in ("minutes", "PSNR (dB)") else None,
        ),
        curves=embed(
            save_figure(eval_curve_figure(curves), out / "training_curves.png"),
            "label agreement on held-out images during training",
        )
        if curves
        else None,
    )


def _paper_order(experiment: str) -> int:
    from ..analysis.experiments import EXPERIMENTS

    names = EXPERIMENTS.names()
    return names.index(experiment) if experiment in names else len(names)


def _study(folder: Path, summary: dict, found: ReportInputs, out: Path) -> StudyView:
    """The answer first: header line, verdict, findings table, Figure 1; then the claim's and findings' details."""
    from .claim import claim_view, findings_view, verdict_view

    claims = [c for f, c in found.claims if f == folder]
    findings = [f for d, f in found.findings if d == folder]
    figure = inside(folder, summary.get("figure"))
    columns = summary.get("columns") or ["original", *summary.get("inverters", {})]
    return StudyView(
        header=summary.get("header") or "",
        verdicts=tuple(verdict_view(c) for c in claims),
        note=summary.get("note") or "",
        findings=findings_view(findings[0], folder, embed) if findings else None,
        figure1=None if figure is None else embed(figure, "columns: " + " | ".join(columns)),
        claims=tuple(claim_view(c, out, embed) for c in claims),
        summary_table=_summary_table(summary) if summary.get("inverters") else None,
    )


def _summary_table(summary: dict) -> Grid:
    from ..study.runner import COMPARE_COLUMNS, COMPARE_TAIL

    rows = [{"inverter": k, **v} for k, v in summary["inverters"].items()]
    keys = dict.fromkeys(k for r in rows for k in r if k.startswith("evaluator_label"))
    judges = [Column(k, k.replace("evaluator_label_agreement@", "agreement with "), percent) for k in keys]
    return grid(rows, [*COMPARE_COLUMNS, *judges, *COMPARE_TAIL])


def _analysis(folder: Path, metrics: dict) -> AnalysisView:
    figures = []
    for key, fig in (metrics.get("figures") or {}).items():
        path = inside(folder, fig) or inside(folder, f"{safe_name(key)}.png")
        if path is not None:
            figures.append(embed(path, str(key)))
    return AnalysisView(metrics["experiment"], tuple(figures), tuple(_experiment_tables(metrics)))


def _evaluation(ev: dict) -> EvaluateView:
    rows = [
        {"inverter": k, **{c: v for c, v in row.items() if not isinstance(v, (dict, list))}}
        for k, row in ev["inverters"].items()
    ]
    judges = ", ".join(f"{k}: {v['spec']}" for k, v in (ev.get("evaluators") or {}).items())
    return EvaluateView(str(ev.get("dataset")), format_value(ev.get("n")), judges, grid(rows))


def build_report(roots: Sequence[str | Path], out: str | Path, title: str = "unlogit report") -> Path:
    """Write ``out/index.html`` from the artifacts found under ``roots``; returns its path."""
    roots = [Path(r) for r in roots]
    found = collect(roots)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    page = PageView(
        title=title,
        studies=tuple(_study(folder, summary, found, out) for folder, summary in found.summaries),
        analyses=tuple(_analysis(folder, metrics) for folder, metrics in found.analyses),
        evaluations=tuple(_evaluation(ev) for ev in found.evaluations),
        setup=_setup(found, out),
        version=__version__,
        sources=", ".join(str(r) for r in roots),
    )
    # a path that is not UTF-8 (a foreign file name) is shown with replacement characters, not a traceback
    html = render_page(page).encode("utf-8", "replace").decode("utf-8")
    write_text_atomic(out / "index.html", html)
    return out / "index.html"
