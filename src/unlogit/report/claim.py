"""The claim and findings sections of the report: the verdict first, then every endpoint with its interval,
the gate, the dose-response, and the findings table (each row linked to its figure)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..runtime.figures import save_figure
from ..runtime.tables import Column, html_table, percent
from .files import inside, safe_name

METHOD = (
    "Method: the difference of the two arms' means (A minus B, oriented so that positive favours A) on the same "
    "{n} test images and noise; {design}; each value averaged over {draws} noise draws. 95% interval from the "
    "variance components of the crossed design (classifiers, seeds, images; Welch-Satterthwaite t), about "
    "{inference}. <b>tie</b>: the 90% interval lies inside the stated margin; <b>holds</b>: the 95% interval lies "
    "above 0; <b>reversed</b>: below 0; <b>undecided</b>: otherwise. The claim's verdict is its one primary "
    "endpoint's, fixed in the study config before the run; secondary endpoints carry Holm-adjusted p-values. "
    "Every judge is an independent evaluator (other architecture and recipe than the inverted classifiers), "
    "except rows marked own classifier."
)


def sig(value: float | None, se: float | None = None) -> str:
    """``value`` rounded to what its standard error supports (two significant digits of the SE)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if not se or not math.isfinite(se):
        return f"{value:.3g}"
    digits = max(0, 1 - math.floor(math.log10(abs(se))))
    return f"{value:.{digits}f}"


def interval_text(e: dict[str, Any]) -> str:
    se = e.get("se") or (None if e.get("ci_high") is None else (e["ci_high"] - e["ci_low"]) / 3.92)
    if e.get("estimate") is None:
        return "n/a"
    return f"{sig(e['estimate'], se)} [{sig(e['ci_low'], se)}, {sig(e['ci_high'], se)}]"


def fixed_interval_text(e: dict[str, Any]) -> str:
    """``+0.054 [+0.040, +0.068]``: an estimate and its interval to three signed decimals (the markdown tables
    of docs/results, where rows of one table line up); ``n/a`` when the estimate is None."""
    if e.get("estimate") is None:
        return "n/a"
    return f"{e['estimate']:+.3f} [{e['ci_low']:+.3f}, {e['ci_high']:+.3f}]"


def claim_rows(claim: dict[str, Any]) -> list[dict[str, Any]]:
    """One table row per endpoint (primary first): the two means, the difference with its interval, the verdict."""
    rows = []
    for e in claim["endpoints"]:
        rows.append(
            {
                "endpoint": e["label"] + (" (primary)" if e["primary"] else ""),
                "chance": e["chance"],
                claim["a"]: e["a_mean"],
                claim["b"]: e["b_mean"],
                "difference [95% CI]": interval_text(e),
                "margin": e["margin"],
                "verdict": e["verdict"],
                "p (Holm)": f"{e['p_holm']:.3f}" if e.get("p_holm") is not None else "",
            }
        )
    return rows


def forest_plot(claim: dict[str, Any], path: Path) -> Path:
    """The primary endpoint and the judge-based secondaries with their 95% intervals (0 and the margin marked)."""
    from matplotlib.figure import Figure

    rows = [e for e in claim["endpoints"] if e["primary"] or e["endpoint"].startswith(("retrieval", "true_label"))]
    fig = Figure(figsize=(7, 0.35 * len(rows) + 1.2))
    ax = fig.subplots()
    for i, e in enumerate(rows):
        colour = {"holds": "tab:green", "reversed": "tab:red", "tie": "tab:blue"}.get(e["verdict"], "grey")
        ax.plot([e["ci_low"], e["ci_high"]], [i, i], color=colour, linewidth=3 if e["primary"] else 1.5)
        ax.plot([e["estimate"]], [i], "o", color=colour)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(
        range(len(rows)),
        [f"{e['label']}{' (primary)' if e['primary'] else ''}: {e['verdict']}" for e in rows],
        fontsize=7,
    )
    ax.invert_yaxis()
    ax.set_xlabel(f"{claim['a']} minus {claim['b']} (positive favours {claim['a']}), 95% CI")
    fig.tight_layout()
    return save_figure(fig, path)


def verdict_sentence(claim: dict[str, Any]) -> str:
    """The answer in one sentence: the primary endpoint's verdict, its estimate and interval, what it is about."""
    p = next(e for e in claim["endpoints"] if e["primary"])
    k = claim.get("n_classifiers", {})
    design = ", ".join(f"{name}: {n} classifier(s)" for name, n in k.items()) if isinstance(k, dict) else ""
    about = claim.get("inference", "")
    return (
        f"<b>{html.escape(claim['verdict'])}</b> — {html.escape(claim['statement'])}: {html.escape(p['label'])} "
        f"{html.escape(interval_text(p))} ({html.escape(design)}; about {html.escape(about)})."
    )


def claim_section(claim: dict[str, Any], out: Path, img: Callable[[Path, str], str]) -> list[str]:
    """HTML for one claim.json; ``img(path, caption)`` embeds a figure."""
    parts = [
        f"<h2 id='claim'>The claim: {html.escape(claim['statement'])}</h2>",
        f"<p class='verdict'>{verdict_sentence(claim)}</p>",
    ]
    if claim.get("reason"):
        parts.append(
            f"<p class='small'>Primary endpoint <code>{html.escape(claim['primary'])}</code>, fixed before "
            f"the run: {html.escape(claim['reason'])}.</p>"
        )
    if claim["excluded"]:
        parts.append("<p><b>Not compared</b> (the gate): " + html.escape("; ".join(claim["excluded"])) + "</p>")
    else:
        parts.append(
            f"<p>Gate passed: every arm's true-label agreement is above chance by the stated margin "
            f"under every evaluator, and {html.escape(claim['realism'])}.</p>"
        )
    parts.append(html_table(claim_rows(claim)))
    protocol = claim.get("protocol", {})
    design = "; ".join(
        f"{a}: {claim['n_classifiers'][a]} classifier(s) x {claim['n_seeds'][a]} seed(s)"
        for a in (claim["a"], claim["b"])
    )
    parts.append(
        "<p class='small'>"
        + METHOD.format(
            n=claim["n_images"],
            design=design,
            inference=claim.get("inference", "?"),
            draws=protocol.get("noise_draws", "?"),
        )
        + "</p>"
    )
    name = f"claim_{safe_name(claim['a'])}_vs_{safe_name(claim['b'])}.png"  # names from a file: one component
    parts.append(img(forest_plot(claim, out / name), "endpoints, 95% CI"))
    if claim.get("dose_response"):
        parts.append(dose_section(claim, out, img))
    return parts


def dose_section(claim: dict[str, Any], out: Path, img: Callable[[Path, str], str]) -> str:
    from matplotlib.figure import Figure

    rows = claim["dose_response"]
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    ax.errorbar(
        [r["dose"] for r in rows],
        [r["estimate"] for r in rows],
        yerr=[[r["estimate"] - r["ci_low"] for r in rows], [r["ci_high"] - r["estimate"] for r in rows]],
        marker="o",
        capsize=3,
    )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("adversarial training eps (PGD-L2)")
    ax.set_ylabel(f"{claim['primary']}: minus {claim['b']}")
    fig.tight_layout()
    table = [
        {
            "eps": r["dose"],
            "classifiers": r["n_classifiers"],
            "difference [95% CI]": interval_text(r),
            "verdict": r["verdict"],
        }
        for r in rows
    ]
    return (
        "<h3>Dose-response</h3>"
        + img(save_figure(fig, out / "dose_response.png"), "effect against eps, 95% CI")
        + html_table(table)
    )


def findings_section(findings: dict[str, Any], study: Path, img: Callable[[Path, str], str]) -> list[str]:
    """The findings table (verdict, estimate, CI, n), each row linked to its figure below."""
    rows = []
    for f in findings["findings"]:
        link = f"<a href='#finding-{safe_name(f['id'])}'>{html.escape(str(f['id']))}</a>"
        cells = {
            "finding": f["statement"],
            "primary endpoint": f["primary"],
            "difference [95% CI]": interval_text(f),
            "n images": f["n_images"],
            "verdict": f["verdict"],
        }
        rows.append({"id": link, **{k: html.escape(str(v)) for k, v in cells.items()}})  # the table is raw HTML
    parts = [
        "<h2 id='findings'>Findings</h2>",
        html_table(rows, [Column(k) for k in rows[0]], escape=False) if rows else "<p>No findings.</p>",
    ]
    for f in findings["findings"]:
        body = f"<h3 id='finding-{safe_name(f['id'])}'>{html.escape(str(f['id']))}: {html.escape(str(f['title']))}</h3>"
        body += f"<p>{html.escape(str(f.get('note') or ''))}</p>"
        figure = inside(study, f.get("figure"))
        if figure is not None:
            body += img(figure, f"{f['id']}: {f.get('note') or f['title']}")
        parts.append(body)
    return parts


__all__ = ["claim_rows", "claim_section", "findings_section", "percent"]
