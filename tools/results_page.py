"""Markdown tables of a finished study folder, for ``docs/results/NAME/README.md`` (maintainers only).

    python tools/results_page.py STUDY_DIR > tables.md

Reads ``claim.json`` (the protocol's claim table and retrieval ranks), ``evaluate/evaluate.json`` is left
to the study's own ``evaluate.md``, ``analysis/ceiling/metrics.json`` (the logit information ceiling) and
each seed-0 inverter's ``model.json`` (steps and minutes). Nothing here computes a number: it lays out
what the study wrote.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def claim_tables(claim: dict) -> list[str]:
    gate = "passed" if not claim["excluded"] else "FAILED: " + "; ".join(claim["excluded"])
    out = [
        f"**Verdict** ({claim['n_images']} test images, {claim['n_seeds']} seed(s) per inverter, "
        f"{claim['protocol']['noise_draws']} noise draws): {claim['verdict']}.",
        f"Gate: {gate}; {claim['realism']}.",
        "",
        f"| endpoint | primary | chance | {claim['a']} | {claim['b']} | difference [95% CI] | verdict | p (Holm) |",
        "|---|---|---:|---:|---:|---|---|---:|",
    ]
    for e in claim["endpoints"]:
        chance = "" if e["chance"] is None else f"{e['chance']:.2f}"
        holm = "" if e.get("p_holm") is None else f"{e['p_holm']:.3f}"
        out.append(f"| {e['label']} | {'yes' if e['primary'] else ''} | {chance} | {e['a_mean']:.3f} | "
                   f"{e['b_mean']:.3f} | {e['estimate']:+.3f} [{e['ci_low']:+.3f}, {e['ci_high']:+.3f}] | "
                   f"{e['verdict']} | {holm} |")  # fmt: skip
    out += ["", f"| inverter | space | median rank (of {claim['n_images']}) | top-1 | median rank among the "
                "same class | top-1 |", "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for inv, spaces in claim["retrieval"].items():
        for space, v in spaces.items():
            out.append(f"| {inv} | {space} | {v['median_retrieval_rank']:.1f} | {v['top1_retrieval_rank']:.1%} | "
                       f"{v['median_retrieval_rank_class']:.1f} | {v['top1_retrieval_rank_class']:.1%} |")  # fmt: skip
    return out


def ceiling_table(metrics: dict) -> list[str]:
    out = [f"Logit information ceiling ({metrics['probe']}, {metrics['n']} test images): R² of the image "
           "statistic from the logits alone, and from each reconstruction.", "",
           "| inverter | statistic | ceiling R² (logits) | recovered R² (reconstruction) | fraction of ceiling |",
           "|---|---|---:|---:|---:|"]  # fmt: skip
    for inv, targets in metrics["inverters"].items():
        for target, v in targets.items():
            out.append(f"| {inv} | {target} | {v['ceiling_r2']:.3f} | {v['recovered_r2']:.3f} | "
                       f"{v['fraction_of_ceiling']:.2f} {v['note']} |")  # fmt: skip
    return out


def inverter_lines(study: Path) -> list[str]:
    out = []
    for run in sorted((study / "inverters").iterdir()):
        summary = json.loads((run / "model.json").read_text())["summary"]
        out.append(f"- `{run.name}`: {summary['method']}, {summary['steps']} G steps in "
                   f"{summary['train_minutes']:.2f} min")  # fmt: skip
    return out


def main(study: Path) -> None:
    lines = claim_tables(json.loads((study / "claim.json").read_text()))
    ceiling = study / "analysis" / "ceiling" / "metrics.json"
    if ceiling.is_file():
        lines += ["", *ceiling_table(json.loads(ceiling.read_text()))]
    summary = json.loads((study / "summary.json").read_text())
    seconds = {k: round(v) for k, v in summary.get("stage_seconds", {}).items()}
    lines += ["", "Inverters:", *inverter_lines(study), "", f"Stage seconds: {seconds}"]
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
