"""Every stage of the pipeline on one device, end to end, timed: a small classifier and two independent judges
trained on shapes, a small GAN inverter, then ``evaluate`` (one process, and two under torchrun) and ``analyze``
on that device and on the CPU, on the same runs. What it shows on a GPU: that no stage leaves a tensor on the
wrong device (each stage's error is recorded, and the rest still run), and CPU seconds vs device seconds per
scoring stage at one size.

    python -m benchmarks.device_stages --device cuda --out runs/gpu-check/device_stages.json

At this size the numbers say where each stage runs correctly, not how fast a large one is: the GPU's fixed costs
dominate a few hundred images.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from unlogit.cli import main as unlogit
from unlogit.runtime.atomic import write_json_atomic

ANALYZE = ["reconstruct", "noise", "misclassified", "adversarial", "logit-shift", "logit-perturb", "transforms"]


def timed(stage: Callable[[], Any]) -> dict[str, Any]:
    """Run one stage: its seconds, and its error's last line (the others still run) when it fails."""
    start = time.perf_counter()
    try:
        code = stage()
        ok, error = code in (0, None), None if code in (0, None) else f"exit {code}"
    except Exception as exc:
        ok, error = False, f"{type(exc).__name__}: {exc}".splitlines()[0][:3000]
        traceback.print_exc()
    return {"ok": ok, "seconds": time.perf_counter() - start, **({"error": error} if error else {})}


def train_runs(
    root: Path, device: str, steps: int, train_images: int, overrides: list[str]
) -> dict[str, dict[str, Any]]:
    """The classifier, its judge and the inverter (with ``overrides``), trained on ``device``."""
    clf = ["--preset", "tiny", "--device", device, f"data.train_size={train_images}", "data.test_size=200"]
    clf += ["train.epochs=2", "train.eval_robust_size=50", "train.progress=false"]
    stages = {}
    for name, extra in (("classifier", []), ("judge", ["model.width=8", "train.seed=1"])):
        command = ["train-classifier", *clf, *extra, "--out", str(root / name)]
        stages[f"train_{name}"] = timed(lambda command=command: unlogit(command))
    inv = ["train", "--classifier", str(root / "classifier"), "--preset", "tiny", "--device", device]
    inv += [f"train.steps={steps}", "train.progress=false", *overrides, "--out", str(root / "inverter")]
    stages["train_inverter"] = timed(lambda: unlogit(inv))
    return stages


def _torchrun(command: list[str], env: dict[str, str]) -> int:
    """Run a torchrun job; on failure raise with the last lines its processes printed (the stage's error)."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        tail = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()][-12:]
        raise RuntimeError(f"exit {done.returncode}: " + " | ".join(tail))
    return 0


def scoring_runs(root: Path, device: str, images: int) -> dict[str, dict[str, Any]]:
    """``evaluate`` (one process and two) and ``analyze`` on ``device``, on the trained runs."""
    runs = ["--inverter", str(root / "inverter"), "--dataset", "shapes", "--images", str(images)]
    evaluate = ["evaluate", *runs, "--evaluator", str(root / "judge"), "--device", device]
    stages = {"evaluate": timed(lambda: unlogit([*evaluate, "--out", str(root / f"evaluate-{device}")]))}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "unlogit"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = [*torchrun, *evaluate, "--out", str(root / f"evaluate-2-{device}")]
    stages["evaluate_2_processes"] = timed(lambda: _torchrun(two, env))
    analyze = ["analyze", *ANALYZE, *runs[:-2], "--images", "8", "--pool", str(images), "--device", device]
    stages["analyze"] = timed(lambda: unlogit([*analyze, "--out", str(root / f"analyze-{device}")]))
    return stages


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.device_stages", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=200, help="inverter G steps")
    p.add_argument("--images", type=int, default=500, help="test images evaluate scores (analyze searches them)")
    p.add_argument("--train-images", type=int, default=2000, help="training images of the classifiers")
    p.add_argument(
        "--inverter-override",
        action="append",
        default=[],
        help="KEY=VALUE for the inverter run (repeatable; the dry run turns the CPU's fast-path search off)",
    )
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    root = Path(args.out).with_suffix("")
    root.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"device": args.device, "steps": args.steps, "images": args.images}
    result["training"] = train_runs(root, args.device, args.steps, args.train_images, args.inverter_override)
    devices = [args.device] if args.device == "cpu" else [args.device, "cpu"]
    result["scoring"] = {d: scoring_runs(root, d, args.images) for d in devices}
    result["all_ok"] = all(s["ok"] for part in (result["training"], *result["scoring"].values()) for s in part.values())
    result["command"] = "python -m benchmarks.device_stages " + " ".join(argv or sys.argv[1:])
    write_json_atomic(Path(args.out), result)
    print(json.dumps(result, indent=2))
    return 0 if result["all_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
