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
import html
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
from ..runtime.tables import html_table as _table
from ..version import __version__
from .files import inside, safe_name

CSS = """
body{font-family:system-ui,sans-serif;margin:1.2rem auto;max-width:1180px;color:#222;padding:0 1rem}
.table-wrap{max-width:100%;overflow-x:auto}
.verdict{font-size:1.15rem;background:#f6f8fa;padding:.6rem;border-left:4px solid #2a7}
.header{font-size:1.05rem;background:#fff4e5;padding:.5rem;border-left:4px solid #e90}
td{max-width:22rem;overflow-wrap:anywhere} pre{white-space:pre-wrap}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem} td,th{border:1px solid #ccc;padding:.25rem .5rem}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:.4rem;vertical-align:top} figcaption{font-size:.8rem;color:#555}
img{image-rendering:pixelated;max-width:100%;border:1px solid #eee} .claim-yes{color:#0a6} .claim-no{color:#c33}
.small{font-size:.8rem;color:#666}
"""


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, list) and obj and isinstance(obj[0], dict):
        return {}
    else:
        out[prefix.rstrip(".")] = obj
    return out


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


def _experiment_tables(metrics: dict[str, Any]) -> str:
    """Tables for an experiment's per-inverter numbers (curves become one row per point)."""
    parts = []
    for inv_name, value in (metrics.get("inverters") or {}).items():
        if isinstance(value, list):  # a curve
            parts.append(f"<h4>{html.escape(inv_name)}</h4>" + _table([flag_broken(v) for v in value]))
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            rows = [flag_broken({"": k, **_flatten(v)}) for k, v in value.items()]
            parts.append(f"<h4>{html.escape(inv_name)}</h4>" + _table(rows))
        else:
            parts.append(f"<h4>{html.escape(inv_name)}</h4>" + _table([flag_broken(_flatten(value))]))
    if "originals" in metrics:
        parts.insert(0, "<h4>originals (probe quality)</h4>" + _table([metrics["originals"]]))
    return "".join(parts)


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


def _models(roots: Sequence[Path]) -> tuple[list[dict], list[dict]]:
    classifiers, inverters = [], []
    for path in _find(roots, MODEL_JSON):
        meta = json.loads(path.read_text())
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
    return classifiers, inverters


def _training_curves(roots: Sequence[Path]) -> dict[str, list[dict]]:
    """Inverter run name -> its held-out evaluations in order (``train.eval_every`` lines and the final
    one), for runs that logged at least two."""
    curves = {}
    for path in _find(roots, MODEL_JSON):
        if json.loads(path.read_text()).get("kind") == "unlogit.inverter":
            records = read_evaluations(path.parent)
            if len(records) > 1:
                curves[path.parent.name] = records
    return curves


@dataclass
class ReportInputs:
    """What the other commands wrote under the report's roots."""

    classifiers: list[dict]
    inverters: list[dict]
    summaries: list[tuple[Path, dict]]  # (study folder, summary.json)
    analyses: list[tuple[Path, dict]]  # (experiment folder, metrics.json)
    evaluations: list[dict]
    claims: list[tuple[Path, dict]]  # (study folder, claim.json)
    findings: list[tuple[Path, dict]]  # (study folder, findings.json)


MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError)  # what a hand-edited input raises


def read_input(path: Path) -> dict:
    """A JSON object the report reads, or one named error (not JSON, not UTF-8, not an object)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UnlogitError(f"report input {path} cannot be read as JSON ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise UnlogitError(f"report input {path} holds a {type(data).__name__}, not a JSON object")
    return data


def _malformed(where: Path, exc: Exception) -> UnlogitError:
    return UnlogitError(
        f"report input under {where} is malformed ({type(exc).__name__}: {exc}); it was not written by this "
        "unlogit or was edited since: regenerate it, or leave it out of the report"
    )


def collect(roots: Sequence[Path]) -> ReportInputs:
    """Find every run, study summary, analysis and evaluation under ``roots``."""
    missing = [str(r) for r in roots if not r.exists()]
    if missing:
        raise UnlogitError(f"report inputs not found: {missing}")
    classifiers, inverters = _models(roots)
    summaries = [(p.parent, read_input(p)) for p in _find(roots, SUMMARY_JSON)]
    analyses = []
    for path in _find(roots, EXPERIMENT_JSON, max_depth=5):
        try:
            metrics = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if isinstance(metrics, dict) and "experiment" in metrics:
            analyses.append((path.parent, metrics))
    evaluations = [read_input(p) for p in _find(roots, EVALUATE_JSON)]
    claims = [(p.parent, read_input(p)) for p in _find(roots, CLAIM_JSON)]
    findings = [(p.parent, read_input(p)) for p in _find(roots, FINDINGS_JSON)]
    analyses.sort(key=lambda fm: _paper_order(fm[1]["experiment"]))
    found = ReportInputs(classifiers, inverters, summaries, analyses, evaluations, claims, findings)
    if not (classifiers or inverters or summaries or analyses or evaluations):
        raise UnlogitError(
            f"nothing to report under {[str(r) for r in roots]}: no run, study, analysis or evaluate output"
        )
    return found


def _setup_section(found: ReportInputs, roots: Sequence[Path], out: Path) -> list[str]:
    from ..runtime.tables import Column, fixed, percent

    parts = ["<h2>Setup</h2>"]
    if found.classifiers:
        cols = [
            Column(k, k, percent if k.endswith("accuracy") else fixed(0) if k == "epochs" else None)
            for k in found.classifiers[0]
        ]
        parts.append("<h3>Classifiers</h3>" + _table(found.classifiers, [_col(c) for c in cols]))
    if found.inverters:
        cols = [
            Column(k, k, percent if "agreement" in k else fixed(1) if k in ("minutes", "PSNR (dB)") else None)
            for k in found.inverters[0]
        ]
        parts.append("<h3>Inverters</h3>" + _table(found.inverters, [_col(c) for c in cols]))
    curves = _training_curves(roots)
    if curves:
        figure = save_figure(eval_curve_figure(curves), out / "training_curves.png")
        parts.append("<h3>Training curves</h3>" + _img(figure, "label agreement on held-out images during training"))
    return parts


def _paper_order(experiment: str) -> int:
    from ..analysis.experiments import EXPERIMENTS

    names = EXPERIMENTS.names()
    return names.index(experiment) if experiment in names else len(names)


def _col(c):
    from ..runtime.tables import Column, format_value

    return Column(c.key, c.title, c.fmt or format_value)


def _study_section(folder: Path, summary: dict, found: ReportInputs, out: Path) -> list[str]:
    """The answer first: header line, verdict, findings table, Figure 1; then the claim's and findings' details."""
    from .claim import claim_section, findings_section, verdict_sentence

    parts = []
    if summary.get("header"):
        parts.append(f"<p class='header'>{html.escape(summary['header'])}</p>")
    claims = [c for f, c in found.claims if f == folder]
    findings = [f for d, f in found.findings if d == folder]
    for claim in claims:
        parts.append(f"<p class='verdict'>The claim: {verdict_sentence(claim)}</p>")
    if summary.get("note"):
        parts.append(f"<p>{html.escape(summary['note'])}</p>")
    detail = findings_section(findings[0], folder, _img) if findings else []
    parts += detail[:2]  # the findings table, on the first screen
    figure = inside(folder, summary.get("figure"))
    if figure is not None:
        cols = summary.get("columns") or ["original", *summary.get("inverters", {})]
        parts.append("<h2>Figure 1: reconstructions</h2>" + _img(figure, "columns: " + " | ".join(cols)))
    for claim in claims:
        parts += claim_section(claim, out, _img)
    parts += detail[2:]
    if summary.get("inverters"):
        parts.append("<h2>Every inverter on the same images</h2>" + _summary_table(summary))
    return parts


def _summary_table(summary: dict) -> str:
    from ..runtime.tables import Column, percent
    from ..study.runner import COMPARE_COLUMNS, COMPARE_TAIL

    rows = [{"inverter": k, **v} for k, v in summary["inverters"].items()]
    keys = dict.fromkeys(k for r in rows for k in r if k.startswith("evaluator_label"))
    judges = [Column(k, k.replace("evaluator_label_agreement@", "agreement with "), percent) for k in keys]
    return _table(rows, [*COMPARE_COLUMNS, *judges, *COMPARE_TAIL])


def _analysis_section(folder: Path, metrics: dict) -> list[str]:
    parts = [f"<h2>Experiment: {html.escape(metrics['experiment'])}</h2>"]
    for key, fig in (metrics.get("figures") or {}).items():
        path = inside(folder, fig) or inside(folder, f"{safe_name(key)}.png")
        if path is not None:
            parts.append(_img(path, str(key)))
    return [*parts, _experiment_tables(metrics)]


def _evaluate_section(ev: dict) -> list[str]:
    rows = [
        {"inverter": k, **{c: v for c, v in row.items() if not isinstance(v, (dict, list))}}
        for k, row in ev.get("inverters", {}).items()
    ]
    judges = ", ".join(f"{k}: {v['spec']}" for k, v in (ev.get("evaluators") or {}).items())
    return [
        f"<h2>Evaluate ({html.escape(str(ev.get('dataset')))}, n={ev.get('n')}, "
        f"evaluators {html.escape(judges)})</h2>" + _table(rows)
    ]


def build_report(roots: Sequence[str | Path], out: str | Path, title: str = "unlogit report") -> Path:
    """Write ``out/index.html`` from the artifacts found under ``roots``; returns its path."""
    roots = [Path(r) for r in roots]
    found = collect(roots)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for folder, summary in found.summaries:
        try:
            parts += _study_section(folder, summary, found, out)
        except MALFORMED as exc:
            raise _malformed(folder, exc) from exc
    for folder, metrics in found.analyses:
        try:
            parts += _analysis_section(folder, metrics)
        except MALFORMED as exc:
            raise _malformed(folder, exc) from exc
    for ev in found.evaluations:
        try:
            parts += _evaluate_section(ev)
        except MALFORMED as exc:
            raise _malformed(out, exc) from exc
    parts += _setup_section(found, roots, out)
    parts.append(
        f"<p class='small'>unlogit {__version__} &middot; sources: {html.escape(', '.join(str(r) for r in roots))}</p>"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>"
    )
    # a path that is not UTF-8 (a foreign file name) is shown with replacement characters, not a traceback
    write_text_atomic(out / "index.html", page.encode("utf-8", "replace").decode("utf-8"))
    return out / "index.html"
