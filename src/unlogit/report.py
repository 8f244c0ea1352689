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
from pathlib import Path
from typing import Any

from . import __version__
from .errors import UnlogitError
from .figures import eval_curve_figure, save_figure
from .runtime.atomic import write_text_atomic
from .runtime.rundir import read_evaluations

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


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return html.escape(str(value))


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return ""
    columns = list(columns or dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c, "")
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{_fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


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
                "label agreement": s.get("label_agreement"), "colour corr.": s.get("colour_correlation"),
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


TIE = 0.05  # relative differences below this are not read as evidence (single runs, no intervals)


def claim_rows(summary: dict[str, Any], analysis: dict[str, dict]) -> list[dict[str, Any]]:
    """The paper's central claim, robust vs standard, per measurable quantity.

    ``relative difference`` is the robust inverter's advantage relative to the larger magnitude; below
    5% the row is a tie: these are single runs without confidence intervals.
    """
    inv = summary.get("inverters", {})
    if not {"robust", "standard"} <= set(inv):
        return []
    rows = []

    def add(what: str, robust: float | None, standard: float | None, higher_is_better: bool = True) -> None:
        if robust is None or standard is None:
            return
        gain = (robust - standard) if higher_is_better else (standard - robust)
        rel = gain / max(abs(robust), abs(standard), 1e-12)
        verdict = "tie (< 5%)" if abs(rel) < TIE else ("yes" if gain > 0 else "no")
        rows.append({"quantity": what, "robust": robust, "standard": standard, "relative difference": rel,
                     "claim holds": verdict})  # fmt: skip

    r, s = inv["robust"], inv["standard"]
    for key, label in (("agreement_by_evaluator", "independent evaluator agreement"),
                       ("colour_correlation", "mean-colour correlation with the original"),
                       ("psnr", "PSNR (dB)")):  # fmt: skip
        add(label, r.get(key), s.get(key))
    add("SSIM", r.get("ssim"), s.get("ssim"))
    noise = analysis.get("noise", {}).get("inverters", {})
    if "robust" in noise and "standard" in noise:
        add("noise diversity (pixels; lower = logits pin down more)", noise["robust"].get("diversity_pixel"),
            noise["standard"].get("diversity_pixel"), higher_is_better=False)  # fmt: skip
    fac = analysis.get("factors", {}).get("inverters", {})
    if "robust" in fac and "standard" in fac:
        add(
            "factors readable from reconstructions (mean R^2)",
            fac["robust"].get("mean_r2"),
            fac["standard"].get("mean_r2"),
        )
    return rows


def build_report(roots: Sequence[str | Path], out: str | Path, title: str = "unlogit report") -> Path:
    """Write ``out/index.html`` from the artifacts found under ``roots``; returns its path."""
    roots = [Path(r) for r in roots]
    missing = [str(r) for r in roots if not r.exists()]
    if missing:
        raise UnlogitError(f"report inputs not found: {missing}")
    classifiers, inverters = _models(roots)
    summaries = [json.loads(p.read_text()) for p in _find(roots, "summary.json")]
    analysis: dict[str, dict] = {}
    analysis_dirs: dict[str, Path] = {}
    for path in _find(roots, "metrics.json", max_depth=5):
        try:
            metrics = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if isinstance(metrics, dict) and "experiment" in metrics:
            analysis[metrics["experiment"]] = metrics
            analysis_dirs[metrics["experiment"]] = path.parent
    evaluations = [json.loads(p.read_text()) for p in _find(roots, "evaluate.json")]
    if not (classifiers or inverters or summaries or analysis or evaluations):
        raise UnlogitError(
            f"nothing to report under {[str(r) for r in roots]}: no run, study, analysis or evaluate output"
        )
    parts = [f"<h1>{html.escape(title)}</h1><p class='small'>unlogit {__version__} &middot; sources: "
             f"{html.escape(', '.join(str(r) for r in roots))}</p>"]  # fmt: skip
    parts.append("<h2>Setup</h2>")
    if classifiers:
        parts.append("<h3>Classifiers</h3>" + _table(classifiers))
    if inverters:
        parts.append("<h3>Inverters</h3>" + _table(inverters))
    curves = _training_curves(roots)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if curves:
        figure = save_figure(eval_curve_figure(curves), out / "training_curves.png")
        parts.append("<h3>Training curves</h3>" + _img(figure, "label agreement on held-out images during training"))
    for summary in summaries:
        rows = claim_rows(summary, analysis)
        if rows:
            held = sum(r["claim holds"] == "yes" for r in rows)
            against = sum(r["claim holds"] == "no" for r in rows)
            verdict = "holds" if held == len(rows) else ("partly holds" if held > against else "not shown")
            parts.append(
                f"<h2>The paper's claim: robust inverts more faithfully than standard — {verdict} ({held} of "
                f"{len(rows)} quantities clearly favour robust, {against} favour standard)</h2>"
                + _table(rows)
                + "<p class='small'>One run per inverter, no confidence intervals: a relative difference under "
                "5% is reported as a tie.</p>"
            )
        figure = Path(summary.get("figure", ""))
        if figure.is_file():
            cols = summary.get("columns") or ["original", *summary.get("inverters", {})]
            parts.append("<h2>Figure 1: reconstructions</h2>" + _img(figure, " | ".join(cols)))
        if summary.get("table"):
            parts.append("<pre>" + html.escape(summary["table"]) + "</pre>")
    for name, metrics in analysis.items():
        parts.append(f"<h2>Experiment: {html.escape(name)}</h2>")
        folder = analysis_dirs[name]
        for key, fig in (metrics.get("figures") or {}).items():
            path = Path(fig) if Path(fig).is_file() else folder / f"{key}.png"
            if path.is_file():
                parts.append(_img(path, key))
        parts.append(_experiment_tables(metrics))
    for ev in evaluations:
        rows = [{"inverter": k, **{c: v for c, v in row.items() if not isinstance(v, (dict, list))}}
                for k, row in ev.get("inverters", {}).items()]  # fmt: skip
        prov = ev.get("provenance", {})
        parts.append(f"<h2>Evaluate ({html.escape(str(ev.get('dataset')))}, n={prov.get('n')}, "
                     f"{html.escape(str(prov.get('extractor')))})</h2>" + _table(rows))  # fmt: skip
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>" \
           f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>"  # fmt: skip
    write_text_atomic(out / "index.html", page)
    return out / "index.html"
