"""The claim section of the report: the verdict per endpoint with its interval, the gate, one sentence of method."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ..runtime.figures import save_figure
from ..runtime.tables import Column, html_table, percent

METHOD = (
    "Method: paired per-image differences (A minus B, oriented so that positive favours A) on the same "
    "{n} test images and noise, {seeds} training seed(s), each value averaged over {draws} noise draws; 95% "
    "interval from a two-stage bootstrap (seeds, then images; expanded percentile). <b>holds</b>: the interval "
    "lies above 0; <b>reversed</b>: below 0; <b>tie</b>: the 90% interval lies inside the stated margin; "
    "<b>undecided</b>: otherwise. Secondary endpoints carry Holm-adjusted p-values. Every judge is an "
    "independent evaluator (weights differ from the inverted classifiers'), except rows marked own classifier."
)


def _fmt(v: Any, digits: int = 3) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def claim_rows(claim: dict[str, Any]) -> list[dict[str, Any]]:
    """One table row per endpoint: the two means, the difference with its interval, the verdict."""
    rows = []
    for e in claim["endpoints"]:
        rows.append({
            "endpoint": e["label"], "primary": "yes" if e["primary"] else "", "chance": e["chance"],
            claim["a"]: e["a_mean"], claim["b"]: e["b_mean"],
            "difference [95% CI]": f"{_fmt(e['estimate'])} [{_fmt(e['ci_low'])}, {_fmt(e['ci_high'])}]",
            "margin": e["margin"], "verdict": e["verdict"],
            "p (Holm)": _fmt(e["p_holm"]) if e.get("p_holm") is not None else "",
        })  # fmt: skip
    return rows


def forest_plot(claim: dict[str, Any], path: Path) -> Path:
    """Every primary endpoint's difference with its 95% interval (0 marked): the claim at a glance."""
    from matplotlib.figure import Figure

    rows = [e for e in claim["endpoints"] if e["primary"]]
    fig = Figure(figsize=(7, 0.35 * len(rows) + 1.2))
    ax = fig.subplots()
    for i, e in enumerate(rows):
        colour = {"holds": "tab:green", "reversed": "tab:red", "tie": "tab:blue"}.get(e["verdict"], "grey")
        ax.plot([e["ci_low"], e["ci_high"]], [i, i], color=colour, linewidth=2)
        ax.plot([e["estimate"]], [i], "o", color=colour)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [f"{e['label']} ({e['verdict']})" for e in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"{claim['a']} minus {claim['b']} (positive favours {claim['a']}), 95% CI")
    fig.tight_layout()
    return save_figure(fig, path)


def claim_section(claim: dict[str, Any], out: Path, img) -> list[str]:
    """HTML for one claim.json; ``img(path, caption)`` embeds a figure."""
    parts = [f"<h2>The claim: {html.escape(claim['statement'])} — {html.escape(claim['verdict'])}</h2>"]
    if claim["excluded"]:
        parts.append("<p><b>Not compared</b> (the gate): " + html.escape("; ".join(claim["excluded"])) + "</p>")
    else:
        parts.append(f"<p>Gate passed: both inverters' true-label agreement is above chance by the stated margin "
                     f"under every evaluator, and {html.escape(claim['realism'])}.</p>")  # fmt: skip
    parts.append(html_table(claim_rows(claim)))
    protocol = claim.get("protocol", {})
    parts.append("<p class='small'>" + METHOD.format(n=claim["n_images"], seeds=claim["n_seeds"],
                                                     draws=protocol.get("noise_draws", "?")) + "</p>")  # fmt: skip
    parts.append(img(forest_plot(claim, out / f"claim_{claim['a']}_vs_{claim['b']}.png"), "primary endpoints"))
    retrieval = [{"inverter": inv, "space": space, **vals} for inv, spaces in claim["retrieval"].items()
                 for space, vals in spaces.items()]  # fmt: skip
    cols = [Column("inverter"), Column("space"), Column("median_retrieval_rank", "median rank (all)"),
            Column("top1_retrieval_rank", "top-1 (all)", percent),
            Column("median_retrieval_rank_class", "median rank (same class)"),
            Column("top1_retrieval_rank_class", "top-1 (same class)", percent)]  # fmt: skip
    parts.append(
        f"<h3>Instance retrieval, first seed ({claim['n_images']} candidates)</h3>" + html_table(retrieval, cols)
    )
    return parts
