"""``unlogit report``: one self-contained static HTML page from run directories and study folders.

It scans the given folders for what the other commands wrote — classifier and inverter runs
(``model.json``), a study's ``summary.json`` and Figure-1 grid, ``analyze`` outputs (``metrics.json``
with an ``experiment`` key) and ``evaluate.json`` — and renders the setup, the Figure-1 grid, every
experiment's figures with its numbers, and the evaluate table. PNGs are embedded as data URIs, so the
single ``index.html`` can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UnlogitError
from ..runtime.atomic import write_text_atomic
from ..runtime.figures import eval_curve_figure, save_figure
from ..runtime.rundir import read_evaluations
from ..runtime.tables import html_table as _table

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem} td,th{border:1px solid #ccc;padding:.25rem .5rem}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:.4rem;vertical-align:top} figcaption{font-size:.8rem;color:#555}
img{image-rendering:pixelated;max-width:100%;border:1px solid #eee} .claim-yes{color:#0a6} .claim-no{color:#c33}
.small{font-size:.8rem;color:#666}
"""


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")  # fmt: skip


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


def _experiment_tables(metrics: dict[str, Any]) -> str:
    """Tables for an experiment's per-inverter numbers (curves become one row per point)."""
    parts = []
    for inv_name, value in (metrics.get("inverters") or {}).items():
        if isinstance(value, list):  # a curve
            parts.append(f"<h4>{html.escape(inv_name)}</h4>" + _table(value))
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            rows = [{"": k, **_flatten(v)} for k, v in value.items()]
            parts.append(f"<h4>{html.escape(inv_name)}</h4>" + _table(rows))
        else:
            parts.append(f"<h4>{html.escape(inv_name)}</h4>" + _table([_flatten(value)]))
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
    for path in _find(roots, "model.json"):
        meta = json.loads(path.read_text())
        run = path.parent
        if meta.get("kind") == "unlogit.classifier":
            s = meta.get("summary", {})
            attack = s.get("robust_attack") or {}
            classifiers.append({
                "run": run.name, "architecture": meta.get("arch", {}).get("arch"), "dataset": s.get("dataset"),
                "training": "PGD adversarial" if s.get("adversarial_training") else "standard",
                "epochs": s.get("epochs"), "clean acc": s.get("clean_acc"), "robust acc": s.get("robust_acc"),
                "attack": f"PGD-{attack.get('norm')} eps={attack.get('eps', 0):.4g}" if attack else "",
            })  # fmt: skip
        elif meta.get("kind") == "unlogit.inverter":
            s = meta.get("summary", {})
            inverters.append({
                "run": run.name, "method": meta.get("method"), "classifier": Path(str(meta.get("classifier"))).name,
                "G steps": s.get("steps"), "minutes": s.get("train_minutes"),
                "own-classifier label agreement": s.get("own_label_agreement"),
                "colour corr.": s.get("colour_correlation"),
                "PSNR": s.get("psnr"), "logit loss": s.get("logit_loss", 0.0),
            })  # fmt: skip
    return classifiers, inverters


def _training_curves(roots: Sequence[Path]) -> dict[str, list[dict]]:
    """Inverter run name -> its held-out evaluations in order (``train.eval_every`` lines and the final
    one), for runs that logged at least two."""
    curves = {}
    for path in _find(roots, "model.json"):
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


def collect(roots: Sequence[Path]) -> ReportInputs:
    """Find every run, study summary, analysis and evaluation under ``roots``."""
    missing = [str(r) for r in roots if not r.exists()]
    if missing:
        raise UnlogitError(f"report inputs not found: {missing}")
    classifiers, inverters = _models(roots)
    summaries = [(p.parent, json.loads(p.read_text())) for p in _find(roots, "summary.json")]
    analyses = []
    for path in _find(roots, "metrics.json", max_depth=5):
        try:
            metrics = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if isinstance(metrics, dict) and "experiment" in metrics:
            analyses.append((path.parent, metrics))
    evaluations = [json.loads(p.read_text()) for p in _find(roots, "evaluate.json")]
    claims = [(p.parent, json.loads(p.read_text())) for p in _find(roots, "claim.json")]
    found = ReportInputs(classifiers, inverters, summaries, analyses, evaluations, claims)
    if not (classifiers or inverters or summaries or analyses or evaluations):
        raise UnlogitError(
            f"nothing to report under {[str(r) for r in roots]}: no run, study, analysis or evaluate output"
        )
    return found


def _setup_section(found: ReportInputs, roots: Sequence[Path], out: Path) -> list[str]:
    parts = ["<h2>Setup</h2>"]
    if found.classifiers:
        parts.append("<h3>Classifiers</h3>" + _table(found.classifiers))
    if found.inverters:
        parts.append("<h3>Inverters</h3>" + _table(found.inverters))
    curves = _training_curves(roots)
    if curves:
        figure = save_figure(eval_curve_figure(curves), out / "training_curves.png")
        parts.append("<h3>Training curves</h3>" + _img(figure, "label agreement on held-out images during training"))
    return parts


def _study_section(folder: Path, summary: dict, found: ReportInputs, out: Path) -> list[str]:
    from ..study.claim_report import claim_section

    parts = []
    if summary.get("header"):
        parts.append(f"<p><b>{html.escape(summary['header'])}</b></p>")
    for claim_folder, claim in found.claims:
        if claim_folder == folder:
            parts += claim_section(claim, out, _img)
    figure = Path(summary.get("figure", ""))
    if figure.is_file():
        cols = summary.get("columns") or ["original", *summary.get("inverters", {})]
        parts.append("<h2>Figure 1: reconstructions</h2>" + _img(figure, " | ".join(cols)))
    if summary.get("table"):
        parts.append("<pre>" + html.escape(summary["table"]) + "</pre>")
    return parts


def _analysis_section(folder: Path, metrics: dict) -> list[str]:
    parts = [f"<h2>Experiment: {html.escape(metrics['experiment'])}</h2>"]
    for key, fig in (metrics.get("figures") or {}).items():
        path = Path(fig) if Path(fig).is_file() else folder / f"{key}.png"
        if path.is_file():
            parts.append(_img(path, key))
    return [*parts, _experiment_tables(metrics)]


def _evaluate_section(ev: dict) -> list[str]:
    rows = [{"inverter": k, **{c: v for c, v in row.items() if not isinstance(v, (dict, list))}}
            for k, row in ev.get("inverters", {}).items()]  # fmt: skip
    judges = ", ".join(f"{k}: {v['spec']}" for k, v in (ev.get("evaluators") or {}).items())
    return [f"<h2>Evaluate ({html.escape(str(ev.get('dataset')))}, n={ev.get('n')}, "
            f"evaluators {html.escape(judges)})</h2>" + _table(rows)]  # fmt: skip


def build_report(roots: Sequence[str | Path], out: str | Path, title: str = "unlogit report") -> Path:
    """Write ``out/index.html`` from the artifacts found under ``roots``; returns its path."""
    roots = [Path(r) for r in roots]
    found = collect(roots)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"<h1>{html.escape(title)}</h1><p class='small'>unlogit {__version__} &middot; sources: "
             f"{html.escape(', '.join(str(r) for r in roots))}</p>"]  # fmt: skip
    parts += _setup_section(found, roots, out)
    for folder, summary in found.summaries:
        parts += _study_section(folder, summary, found, out)
    for folder, metrics in found.analyses:
        parts += _analysis_section(folder, metrics)
    for ev in found.evaluations:
        parts += _evaluate_section(ev)
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>" \
           f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>"  # fmt: skip
    write_text_atomic(out / "index.html", page)
    return out / "index.html"
