"""Does bf16 change what the protocol decides? Lay the two bf16-check studies' claims side by side.

    python docs/results/bf16-check/compare.py runs/bf16-check-off runs/bf16-check-bf16 \
        > docs/results/bf16-check/table.md

Reads each study's ``claim.json`` and every inverter's ``model.json`` (fast path, steps, minutes); writes a
markdown table to stdout and ``comparison.json`` beside this file. Nothing here computes a new estimate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from unlogit.runtime.rundir import read_metrics
from unlogit.report.claim import fixed_interval_text as _ci

KEPT = ("a_mean", "b_mean", "estimate", "ci_low", "ci_high", "verdict", "primary")


def study_facts(folder: Path) -> dict:
    claim = json.loads((folder / "claim.json").read_text())
    runs = {}
    for model in sorted((folder / "inverters").glob("*/model.json")):
        s = json.loads(model.read_text())["summary"]
        runs[model.parent.name] = {k: s.get(k) for k in ("steps", "capped", "train_minutes")}
        runs[model.parent.name]["fast_path"] = next(
            (r["fast_path"] for r in read_metrics(model.parent) if "fast_path" in r), None)  # fmt: skip
    return {"verdict": claim["verdict"], "primary": claim["primary"], "split": claim.get("split"),
            "n_images": claim["n_images"], "inverters": runs,
            "endpoints": {e["endpoint"]: {k: e[k] for k in KEPT} for e in claim["endpoints"]}}  # fmt: skip


def main(fp32: str, bf16: str) -> None:
    facts = {"fp32": study_facts(Path(fp32)), "bf16": study_facts(Path(bf16))}
    a, b = facts["fp32"], facts["bf16"]
    same = a["verdict"] == b["verdict"] or "tie" in (a["verdict"], b["verdict"])
    facts["same_primary_verdict_or_a_tie"] = same
    print(f"Primary endpoint `{a['primary']}` on {a['n_images']} {a['split']} images: fp32 **{a['verdict']}**, "
          f"bf16 **{b['verdict']}** ({'the same verdict or a tie' if same else 'DIFFERENT verdicts'}).\n")  # fmt: skip
    print("| endpoint | fp32: difference [95% CI] | verdict | bf16: difference [95% CI] | verdict |")
    print("|---|---|---|---|---|")
    for name, e in a["endpoints"].items():
        f = b["endpoints"].get(name)
        label = f"**{name} (primary)**" if e["primary"] else name
        print(f"| {label} | {_ci(e)} | {e['verdict']} | {_ci(f) if f else 'n/a'} | {f['verdict'] if f else 'n/a'} |")
    Path(__file__).with_name("comparison.json").write_text(json.dumps(facts, indent=1) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
