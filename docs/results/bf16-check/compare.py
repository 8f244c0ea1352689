"""Does bf16 change what the protocol decides? Lay the two bf16-check studies' claims side by side.

    python docs/results/bf16-check/compare.py runs/bf16-check-off runs/bf16-check-bf16 \
        > docs/results/bf16-check/table.md

Reads each study's ``claim.json`` and every inverter's ``model.json`` (fast path, steps, minutes); writes a
markdown table to stdout and ``comparison.json`` beside this file. Nothing here computes a new estimate. The
reference decoders (kernel ridge from the logits, closed form in fp32) do not depend on the numeric path: their
column is the fp32 study's, and the two studies' reference numbers are checked to agree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from unlogit.report.claim import fixed_interval_text as _ci
from unlogit.runtime.rundir import read_metrics

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
            "endpoints": {e["endpoint"]: {k: e[k] for k in KEPT} for e in claim["endpoints"]},
            "reference": reference_facts(claim)}  # fmt: skip


def reference_facts(claim: dict) -> dict:
    """The reference decoders' difference and each arm's GAN minus its reference, per endpoint."""
    ref = claim.get("reference")
    if not ref:
        raise SystemExit("this claim has no reference decoders: rerun the study with the shipped bf16-check.yaml")
    by_endpoint = lambda rows: {e["endpoint"]: {k: e[k] for k in KEPT} for e in rows}  # noqa: E731
    return {"a": ref["a"], "b": ref["b"], "summary": ref["summary"], "gap": by_endpoint(ref["gap"]),
            "a_over_reference": by_endpoint(ref["a_over_reference"]),
            "b_over_reference": by_endpoint(ref["b_over_reference"])}  # fmt: skip


def main(fp32: str, bf16: str) -> None:
    facts = {"fp32": study_facts(Path(fp32)), "bf16": study_facts(Path(bf16))}
    a, b = facts["fp32"], facts["bf16"]
    same = a["verdict"] == b["verdict"] or "tie" in (a["verdict"], b["verdict"])
    facts["same_primary_verdict_or_a_tie"] = same
    print(f"Primary endpoint `{a['primary']}` on {a['n_images']} {a['split']} images: fp32 **{a['verdict']}**, "
          f"bf16 **{b['verdict']}** ({'the same verdict or a tie' if same else 'DIFFERENT verdicts'}).\n")  # fmt: skip
    ref_a, ref_b = a["reference"]["gap"], b["reference"]["gap"]
    drift = max(abs(ref_a[k]["estimate"] - ref_b[k]["estimate"]) for k in ref_a.keys() & ref_b.keys())
    facts["reference_max_difference_between_paths"] = drift
    print(f"Reference decoders (kernel ridge from the same logits, fp32 in both studies; their estimates differ "
          f"between the two studies by at most {drift:.1e}): **{ref_a[a['primary']]['verdict']}**, "
          f"{_ci(ref_a[a['primary']])} on the primary; GAN minus reference on it: fp32 robust "
          f"{_ci(a['reference']['a_over_reference'][a['primary']])}, standard "
          f"{_ci(a['reference']['b_over_reference'][a['primary']])}; bf16 robust "
          f"{_ci(b['reference']['a_over_reference'][b['primary']])}, standard "
          f"{_ci(b['reference']['b_over_reference'][b['primary']])}.\n")  # fmt: skip
    print("| endpoint | fp32: difference [95% CI] | verdict | bf16: difference [95% CI] | verdict "
          "| reference decoders [95% CI] | verdict |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name, e in a["endpoints"].items():
        f, r = b["endpoints"].get(name), ref_a.get(name)
        label = f"**{name} (primary)**" if e["primary"] else name
        print(f"| {label} | {_ci(e)} | {e['verdict']} | {_ci(f) if f else 'n/a'} | {f['verdict'] if f else 'n/a'} "
              f"| {_ci(r) if r else 'n/a'} | {r['verdict'] if r else 'n/a'} |")  # fmt: skip
    Path(__file__).with_name("comparison.json").write_text(json.dumps(facts, indent=1) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
