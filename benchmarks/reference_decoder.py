"""The kernel-ridge reference decoder beside a finished study's released GAN values.

    UNLOGIT_DATA=../shared/data python -m benchmarks.reference_decoder --study cifar10-replication \
        --released docs/results/cifar10-replication --work runs/reference-cifar10-replication \
        --out docs/results/reference-decoder/cifar10-replication.json

The study config names a reference decoder per arm (``claim.reference_a``/``reference_b``, ``method: ridge``).
This fits those decoders (closed form, no GAN is retrained), scores them on the claim's images exactly as the
study's claim stage does, and sets them beside the GAN arms' per-image values that the study released with its
claim (``claim_values.safetensors``): the references' own robust-vs-standard gap, and each GAN arm against its
reference, on every endpoint, with the claim's interval. The fits are resumable (``--work`` is a study folder).
The references' per-image values are written beside ``--out`` (``reference_values.safetensors``, ``ARM/KEY`` ->
(K, 1, N), as a claim's), so the tables recompute from them and the study's released values.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from safetensors.torch import load_file


def released_arm(folder: Path, name: str):
    """A GAN arm of a finished study from its released per-image values (K, S, N) per endpoint key."""
    from unlogit.study.arms import ArmScores

    values = load_file(str(folder / "claim_values.safetensors"))
    own = {key.split("/", 1)[1]: v for key, v in values.items() if key.split("/", 1)[0] == name}
    if not own:
        raise SystemExit(f"{folder}/claim_values.safetensors holds no values of arm {name!r}")
    return ArmScores(name, own, [])


def fits(plan, stages: tuple[str, ...]) -> dict[str, Any]:
    """Each reference decoder's fit: anchors, bandwidth and the cross-validated ridge strength."""
    out = {}
    for stage in stages:
        for row in plan.inverter_runs(stage):
            for run in row:
                meta = json.loads((run / "model.json").read_text())
                out[run.name] = {"classifier": meta["summary"]["classifier"], "method": meta["method"]}
    return out


def main(argv: list[str] | None = None) -> int:
    from unlogit.runtime.rundir import StudyLayout
    from unlogit.study.claim.stage import claim_images
    from unlogit.study.claim.verdict import reference_comparison, save_values
    from unlogit.study.config import open_study
    from unlogit.study.stages import plan_study, run_label, run_plan

    p = argparse.ArgumentParser(prog="python -m benchmarks.reference_decoder", description=__doc__.splitlines()[0])
    p.add_argument("--study", required=True, help="the study config (its claim names the reference stages)")
    p.add_argument("--released", required=True, help="the finished study's folder (claim.json, claim_values)")
    p.add_argument("--work", required=True, help="where the reference decoders are fitted (resumable)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    study = open_study(args.study)
    cfg, c = study.cfg, study.cfg.claim
    if c is None or c.reference_a is None:
        raise SystemExit(f"{args.study} names no reference decoders (claim.reference_a / claim.reference_b)")
    released = Path(args.released)
    claim = json.loads(StudyLayout(released).claim.read_text())
    plan = plan_study(cfg, Path(args.work), study.every)
    stages = (c.reference_a, c.reference_b)
    start = time.perf_counter()
    labels = {run_label(r) for stage in stages for row in plan.inverters[stage] for r in row}
    run_plan(plan, {}, only=labels)
    fitted = time.perf_counter() - start
    images = claim_images(cfg, plan)
    if len(images.data) != claim["n_images"]:
        raise SystemExit(f"the claim was decided on {claim['n_images']} images, this config gives {len(images.data)}")
    refs = [images.score(cfg, plan, stage) for stage in stages]
    arms = [released_arm(released, claim[side]) for side in ("a", "b")]
    result = reference_comparison(*arms, *refs, list(images.judges), images.data, c)
    result.update(
        {
            "released": str(released),
            "claim_verdict": claim["verdict"],
            "n_images": len(images.data),
            "fits": fits(plan, stages),
            "fit_seconds": fitted,
            "total_seconds": time.perf_counter() - start,
            "command": "python -m benchmarks.reference_decoder " + " ".join(argv or sys.argv[1:]),
        }
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_values(Path(args.out).parent / "reference_values.safetensors", refs)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(result["summary"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
