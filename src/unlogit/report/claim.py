"""The claim and findings sections of the report: the verdict first, then every endpoint with its interval,
the gate, the dose-response, and the findings table (each row linked to its figure). They are built as views
(:mod:`unlogit.report.views`); the template draws and escapes them."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..runtime.figures import save_figure
from ..runtime.tables import Grid, grid
from ..study.protocol import VERDICTS
from .files import inside, safe_name
from .views import ClaimView, DoseView, FigureView, FindingsView, FindingView, MethodView, ReferenceView, VerdictView

Embed = Callable[[Path, str], FigureView]  # (a PNG file, its caption) -> the embedded figure


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
                "chance": e.get("chance"),
                claim["a"]: e.get("a_mean"),
                claim["b"]: e.get("b_mean"),
                "difference [95% CI]": interval_text(e),
                "margin": e.get("margin"),
                "verdict": e["verdict"],
                "p (Holm)": f"{e['p_holm']:.3f}" if e.get("p_holm") is not None else "",
            }
        )
    return rows


def forest_plot(claim: dict[str, Any], path: Path) -> Path:
    """The primary endpoint and the judge-based secondaries with their 95% intervals (0 and the margin marked)."""
    from matplotlib.figure import Figure

    rows = [
        e
        for e in claim["endpoints"]
        if (e["primary"] or e["endpoint"].startswith(("retrieval", "true_label")))
        and None not in (e["estimate"], e["ci_low"], e["ci_high"])
    ]
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


def verdict_view(claim: dict[str, Any]) -> VerdictView:
    """The answer in one sentence: the primary endpoint's verdict, its estimate and interval, what it is about."""
    p = next(e for e in claim["endpoints"] if e["primary"])
    k = claim["n_classifiers"]
    decided = claim["verdict"] in VERDICTS
    return VerdictView(
        verdict=claim["verdict"],
        why="" if decided else "; ".join(claim["excluded"]),
        statement=claim["statement"],
        endpoint=p["label"],
        interval=interval_text(p),
        design=", ".join(f"{name}: {n} classifier(s)" for name, n in k.items()),
        about=claim.get("inference") or "",
    )


def claim_view(claim: dict[str, Any], out: Path, embed: Embed) -> ClaimView:
    """One claim.json as the report shows it; its figures are drawn into ``out``."""
    design = "; ".join(
        f"{a}: {claim['n_classifiers'].get(a, '?')} classifier(s) x {claim['n_seeds'].get(a, '?')} seed(s)"
        for a in (claim["a"], claim["b"])
    )
    name = f"claim_{safe_name(claim['a'])}_vs_{safe_name(claim['b'])}.png"  # names from a file: one component
    return ClaimView(
        statement=claim["statement"],
        verdict=verdict_view(claim),
        primary=claim["primary"],
        reason=claim.get("reason") or "",
        excluded=tuple(claim["excluded"]),
        realism=claim.get("realism") or "",
        table=grid(claim_rows(claim)),
        method=MethodView(
            n_images=claim["n_images"],
            design=design,
            inference=claim.get("inference") or "?",
            draws=str(claim.get("protocol", {}).get("noise_draws", "?")),
            images=images_text(claim.get("images")),
        ),
        forest=embed(forest_plot(claim, out / name), "endpoints, 95% CI"),
        dose=dose_view(claim, out, embed) if claim.get("dose_response") else None,
        controls=controls_grid(claim) if claim.get("controls") else None,
        reference=reference_view(claim) if claim.get("reference") else None,
    )


def images_text(images: dict[str, Any] | None) -> str:
    """Which images a claim scored, in words (older claim.json files do not say)."""
    if not images:
        return ""
    low, high = images["index_range"]
    text = f"{images['split']} images {low}-{high} ({images['order']} order"
    pilot = images.get("pilot_images") or 0
    if pilot:
        text += f"; the pilot set, images 0-{pilot - 1}, {'untouched' if low >= pilot else 'included'}"
    if images.get("confirmatory"):
        text += "; confirmatory"
    return text + ")"


def reference_view(claim: dict[str, Any]) -> ReferenceView:
    """Per endpoint: each arm's mean beside its reference decoder's, each arm minus its reference, and the
    references' own A-vs-B difference next to the arms'."""
    ref = claim["reference"]
    arms = {e["endpoint"]: e for e in claim["endpoints"]}
    over_a = {e["endpoint"]: e for e in ref["a_over_reference"]}
    over_b = {e["endpoint"]: e for e in ref["b_over_reference"]}
    rows = []
    for gap in ref["gap"]:
        key, arm = gap["endpoint"], arms.get(gap["endpoint"], {})
        rows.append(
            {
                "endpoint": gap["label"] + (" (primary)" if gap["primary"] else ""),
                f"{claim['a']} / {ref['a']}": f"{_mean(arm.get('a_mean'))} / {_mean(gap.get('a_mean'))}",
                f"{claim['b']} / {ref['b']}": f"{_mean(arm.get('b_mean'))} / {_mean(gap.get('b_mean'))}",
                f"{claim['a']} minus its reference": interval_text(over_a[key]) if key in over_a else "n/a",
                f"{claim['b']} minus its reference": interval_text(over_b[key]) if key in over_b else "n/a",
                "A minus B: references": interval_text(gap),
                "A minus B: inverters": interval_text(arm) if arm else "n/a",
            }
        )
    below = tuple(
        f"{arm}: {e['label']}"
        for arm, rows_ in ((claim["a"], ref["a_over_reference"]), (claim["b"], ref["b_over_reference"]))
        for e in rows_
        if e["verdict"] == "reversed"
    )
    return ReferenceView(ref["summary"], grid(rows), below)


def _mean(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def controls_grid(claim: dict[str, Any]) -> Grid:
    """Each control recipe on the primary endpoint: arm A minus the control and arm B minus the control."""
    rows = []
    for r in claim["controls"]:
        row = {"control": r["stage"], "classifiers": r["n_classifiers"]}
        for side in ("vs_a", "vs_b"):
            v = r[side]
            row[f"{v['arm']} minus control [95% CI]"] = f"{interval_text(v)} ({v['verdict']})"
        rows.append(row)
    return grid(rows)


def dose_view(claim: dict[str, Any], out: Path, embed: Embed) -> DoseView:
    from matplotlib.figure import Figure

    rows = [r for r in claim["dose_response"] if None not in (r["estimate"], r["ci_low"], r["ci_high"])]
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
        for r in claim["dose_response"]
    ]
    return DoseView(embed(save_figure(fig, out / "dose_response.png"), "effect against eps, 95% CI"), grid(table))


def _finding_interval(f: dict[str, Any]) -> str:
    """A finding's interval; a within-arm one names the arm it is about and gives arm B's beside it."""
    if not f.get("b_within"):
        return interval_text(f)
    return f"{f['a']}: {interval_text(f)}; {f['b']}: {interval_text(f['b_within'])}"


def _reference_interval(ref: dict[str, Any] | None) -> str:
    """The reference decoders' own result on a finding's primary endpoint with its verdict, or ``n/a``."""
    if not ref or "gap" not in ref:
        return "n/a" if not ref or not ref.get("applies") else ref.get("verdict", "n/a")
    text = f"{interval_text(ref['gap'])} {ref['gap']['verdict']}"
    if "b_within" not in ref:
        return text
    return f"{ref['a']}: {text}; {ref['b']}: {interval_text(ref['b_within'])} {ref['b_within']['verdict']}"


def _reference_line(ref: dict[str, Any] | None) -> str:
    """One sentence on the reference decoders of a finding: the summary, or why they do not answer it."""
    if not ref:
        return ""
    head = f"Reference decoders ({ref['a']}, {ref['b']})"
    if "summary" in ref:
        return f"{head}: {ref['summary']}."
    why = ref.get("why") or "no reason recorded"
    if ref.get("applies"):
        return f"{head}: {ref.get('verdict', 'undecided')}: {why}."
    return f"{head}: not applicable: {why}."


def finding_anchor(finding_id: str) -> str:
    return f"finding-{safe_name(finding_id)}"


def findings_view(findings: dict[str, Any], study: Path, embed: Embed) -> FindingsView:
    """The findings table (verdict, estimate, CI, n), each id linked to its detail, and the details."""
    with_reference = any("reference" in f for f in findings["findings"])
    rows = []
    for f in findings["findings"]:
        row = {
            "id": f["id"],
            "finding": f["statement"],
            "primary endpoint": f["primary"],
            "difference [95% CI]": _finding_interval(f),
            "n images": f.get("n_images"),
            "verdict": f["verdict"] + (f"; {f['b']}: {f['b_within']['verdict']}" if f.get("b_within") else ""),
        }
        if with_reference:
            row["reference decoders [95% CI]"] = _reference_interval(f.get("reference"))
        rows.append(row)
    table = grid(rows, links={"id": lambda v: "#" + finding_anchor(v)}) if rows else None
    details = []
    for f in findings["findings"]:
        note = f.get("note") or ""
        figure = inside(study, f.get("figure"))
        details.append(
            FindingView(
                id=f["id"],
                anchor=finding_anchor(f["id"]),
                title=f["title"],
                note=note,
                figure=None if figure is None else embed(figure, f"{f['id']}: {note or f['title']}"),
                reference=_reference_line(f.get("reference")),
            )
        )
    return FindingsView(table, tuple(details))


__all__ = ["claim_rows", "claim_view", "findings_view", "fixed_interval_text", "interval_text", "verdict_view"]
