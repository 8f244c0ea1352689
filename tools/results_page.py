"""Markdown tables of a finished study folder, for ``docs/results/NAME/README.md`` (maintainers only).

    python tools/results_page.py STUDY_DIR > tables.md

Reads ``claim.json`` (the claim: its primary endpoint's verdict, every endpoint with its interval, the
dose-response), ``findings.json``, ``analysis/ceiling/metrics.json``, ``analysis/draw-mean/metrics.json`` and
every inverter's ``model.json`` (method, steps, minutes, capped). Nothing here computes a number: it lays out what
the study wrote.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from unlogit.report.claim import controls_grid, findings_view, reference_view
from unlogit.report.claim import fixed_interval_text as _ci
from unlogit.runtime.tables import grid_markdown


def claim_tables(claim: dict) -> list[str]:
    gate = "passed" if not claim["excluded"] else "FAILED: " + "; ".join(claim["excluded"])
    k, s = claim["n_classifiers"], claim["n_seeds"]
    design = "; ".join(f"{arm}: {k[arm]} classifier(s) x {s[arm]} seed(s)" for arm in (claim["a"], claim["b"]))
    p = next(e for e in claim["endpoints"] if e["primary"])
    out = [
        f"**Verdict: {claim['verdict']}** — primary endpoint `{claim['primary']}`: {_ci(p)} ({design}; "
        f"{claim['n_images']} test images, {claim['protocol']['noise_draws']} noise draws; about "
        f"{claim['inference']}).",
        f"Primary endpoint fixed before the run: {claim['reason']}. Config `{claim.get('config_file')}` sha256 "
        f"`{(claim.get('config_sha256') or '')[:16]}`, commit `{claim.get('config_commit')}`.",
        f"Gate: {gate}; {claim['realism']}.",
        "",
        f"| endpoint | chance | {claim['a']} | {claim['b']} | difference [95% CI] | df | verdict | p (Holm) |",
        "|---|---:|---:|---:|---|---:|---|---:|",
    ]
    for e in claim["endpoints"]:
        chance = "" if e["chance"] is None else f"{e['chance']:.2f}"
        holm = "" if e.get("p_holm") is None else f"{e['p_holm']:.3f}"
        label = f"**{e['label']} (primary)**" if e["primary"] else e["label"]
        out.append(
            f"| {label} | {chance} | {e['a_mean']:.3f} | {e['b_mean']:.3f} | {_ci(e)} | {e['df']:.1f} | "
            f"{e['verdict']} | {holm} |"
        )
    if claim.get("dose_response"):
        out += [
            "",
            f"Dose-response on `{claim['primary']}` (minus the {claim['b']} family):",
            "",
            "| eps | arm | classifiers x seeds | mean | difference [95% CI] | verdict |",
            "|---:|---|---|---:|---|---|",
        ]
        for r in claim["dose_response"]:
            borrowed = " (family variance borrowed)" if r["borrowed_classifier_variance"] else ""
            out.append(
                f"| {r['dose']:g} | {r['arm']} | {r['n_classifiers']} x {r['n_seeds']}{borrowed} | "
                f"{r['mean']:.3f} | {_ci(r)} | {r['verdict']} |"
            )
    return out


def reference_tables(claim: dict) -> list[str]:
    """Each arm beside its reference decoder (kernel ridge from the logits) on every endpoint, as the report
    shows it, and the endpoints where an inverter is below its reference."""
    if not claim.get("reference"):
        return []
    view = reference_view(claim)
    below = (
        ["", f"The inverter extracts less than the regression decoder on: {'; '.join(view.below)}."]
        if view.below
        else []
    )
    return ["", f"Reference decoder: {view.summary}", "", grid_markdown(view.table), *below]


def controls_table(claim: dict) -> list[str]:
    """Each control recipe against both arms on the primary endpoint."""
    if not claim.get("controls"):
        return []
    return ["", f"Controls for the recipe, on `{claim['primary']}`:", "", grid_markdown(controls_grid(claim))]


def findings_table(findings: dict, study: Path) -> list[str]:
    """The findings as the report's table shows them (a within-arm finding gives both arms)."""
    view = findings_view(findings, study, lambda path, alt: None)
    out = [f"Findings ({findings['a']} vs {findings['b']}; {findings['cpu_minutes']:.1f} CPU minutes):", ""]
    if view.table is not None:
        out.append(grid_markdown(view.table, links=False))
    out += [f"- {d.id}: {d.note}" for d in view.details if d.note]
    return out + [f"- {d.id}: {d.reference}" for d in view.details if d.reference]


def ceiling_table(metrics: dict) -> list[str]:
    out = [
        f"Logit information ceiling ({metrics['probe']}, {metrics['n']} test images; 95% CIs from "
        f"{metrics.get('bootstrap')} image redraws):",
        "",
        "| inverter | statistic | ceiling R² (logits) | recovered R² (reconstructions) | fraction of ceiling |",
        "|---|---|---|---|---|",
    ]
    for inv, targets in metrics["inverters"].items():
        for target, v in targets.items():
            frac = (
                "n/a"
                if v["fraction_of_ceiling"] is None
                else (f"{v['fraction_of_ceiling']:.2f} [{v['fraction_ci'][0]:.2f}, {v['fraction_ci'][1]:.2f}]")
            )
            out.append(
                f"| {inv} | {target} | {v['ceiling_r2']:.3f} [{v['ceiling_ci'][0]:.3f}, "
                f"{v['ceiling_ci'][1]:.3f}] | {v['recovered_r2']:.3f} [{v['recovered_ci'][0]:.3f}, "
                f"{v['recovered_ci'][1]:.3f}] | {frac} {v['note']} |"
            )
    return out


def draw_mean_table(metrics: dict) -> list[str]:
    """Each stochastic inverter's retrieval of the mean of K draws minus each deterministic inverter of its
    classifier (the reference regression, the pixel baseline), per space and K, with one draw's level beside it."""
    draws = metrics["draws"]
    out = [
        f"The mean of K noise draws against the deterministic decoders ({metrics['n']} test images; "
        f"{metrics['reading']}):",
        "",
        "| inverter minus decoder | space | one draw | " + " | ".join(f"mean of {k}" for k in draws) + " |",
        "|---|---|---|" + "---|" * len(draws),
    ]
    for pair, spaces in metrics["versus_reference"].items():
        gan = pair.split(" - ", 1)[0]
        for space, by_k in spaces.items():
            cells = [_ci(c) for c in by_k.values()]
            level = metrics["inverters"][gan]["one draw"][space]
            out.append(f"| {pair} | {space} | {level:.3f} | " + " | ".join(cells) + " |")
    levels = [
        f"{name}: {space} {rows['one draw'][space]:.3f} (one draw)"
        + (f", {rows[f'mean of {draws[-1]} draws'][space]:.3f} (mean of {draws[-1]})" if len(rows) > 2 else "")
        for name, rows in metrics["inverters"].items()
        for space in metrics["spaces"]
    ]
    return [*out, "", "Retrieval levels: " + "; ".join(levels) + "."]


def inverter_lines(study: Path) -> list[str]:
    out = []
    for run in sorted((study / "inverters").iterdir()):
        s = json.loads((run / "model.json").read_text())["summary"]
        capped = " (capped)" if s.get("capped") else ""
        out.append(f"- `{run.name}`: {s['method']}, {s['steps']} G steps{capped} in {s['train_minutes']:.2f} min")
    return out


def main(study: Path) -> None:
    claim = json.loads((study / "claim.json").read_text())
    lines = [*claim_tables(claim), *reference_tables(claim), *controls_table(claim)]
    if (study / "findings.json").is_file():
        lines += ["", *findings_table(json.loads((study / "findings.json").read_text()), study)]
    ceiling = study / "analysis" / "ceiling" / "metrics.json"
    if ceiling.is_file():
        lines += ["", *ceiling_table(json.loads(ceiling.read_text()))]
    draws = study / "analysis" / "draw-mean" / "metrics.json"
    if draws.is_file():
        lines += ["", *draw_mean_table(json.loads(draws.read_text()))]
    summary = json.loads((study / "summary.json").read_text())
    seconds = summary.get("stage_seconds", {})
    lines += [
        "",
        "Inverters:",
        *inverter_lines(study),
        "",
        f"Total: {sum(seconds.values()) / 60:.1f} minutes of stages on 2 CPU cores.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
