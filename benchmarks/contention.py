"""What a second job on the same cores does to a training step, under each OpenMP wait policy.

Two processes with as many threads as there are cores (an `unlogit` run beside the test suite, or beside another
study) share the cores. libgomp's default lets an idle thread spin at every barrier, burning the time the other
process's threads need; ``OMP_WAIT_POLICY=PASSIVE`` makes it sleep, and half the threads per process leaves each
its own cores. Each case is a fresh process (policy and thread count are read when the OpenMP runtime starts)
timing GAN training iterations of a preset, alone and two at once: the default policy and threads, PASSIVE, and
half the threads (``OMP_NUM_THREADS``; ``UNLOGIT_THREADS`` does the same for unlogit's commands). Ratios are
within this one run.

    python -m benchmarks.contention --preset cifar10-cpu --out docs/results/contention/cpu.json

The two-at-once cases start both processes together and report each one's seconds per iteration; their time
windows overlap for most of the measurement (both warm up first), which the JSON records.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CASES = {  # name -> (OMP_WAIT_POLICY, threads per process: None = torch's default, one per core)
    "default": (None, None),
    "passive": ("PASSIVE", None),
    "half_threads": (None, "half"),
}


def child(preset: str, variant: str, iters: int, warmup: int) -> dict[str, Any]:
    """Seconds per training iteration in this process (the parent set the policy in its environment)."""
    import torch

    from benchmarks.cases import TRAIN_VARIANTS, build_train_bench

    bench = build_train_bench(preset, TRAIN_VARIANTS[variant], torch.device("cpu"), None, False)
    for _ in range(warmup):
        bench.step()
    start = time.time()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        bench.step()
        times.append(time.perf_counter() - t0)
    return {
        "seconds_per_iter": statistics.median(times),
        "mean_seconds_per_iter": statistics.fmean(times),
        "start": start,
        "end": time.time(),
        "threads": torch.get_num_threads(),
    }


def _launch(policy: str | None, threads: str | None, args: argparse.Namespace) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    if threads == "half":
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 2) // 2))
    cmd = [sys.executable, "-m", "benchmarks.contention", "--child", "--preset", args.preset]
    cmd += ["--variant", args.variant, "--iters", str(args.iters), "--warmup", str(args.warmup)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def _collect(procs: list[subprocess.Popen]) -> list[dict[str, Any]]:
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"a timing process failed (exit {p.returncode})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def overlap(runs: list[dict[str, Any]]) -> float:
    """The fraction of the longer timing window during which both processes were timing."""
    both = min(r["end"] for r in runs) - max(r["start"] for r in runs)
    return max(both, 0.0) / max(r["end"] - r["start"] for r in runs)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    cases: dict[str, Any] = {}
    for name, (policy, threads) in CASES.items():
        alone = _collect([_launch(policy, threads, args)])[0]
        pair = _collect([_launch(policy, threads, args), _launch(policy, threads, args)])
        cases[name] = {
            "alone": alone,
            "two_at_once": pair,
            "overlap": overlap(pair),
            "slowdown_two_at_once": statistics.fmean(r["seconds_per_iter"] for r in pair) / alone["seconds_per_iter"],
        }
    pair_mean = {name: statistics.fmean(r["seconds_per_iter"] for r in c["two_at_once"]) for name, c in cases.items()}
    alone = {name: c["alone"]["seconds_per_iter"] for name, c in cases.items()}
    return {
        "cases": cases,
        "over_default_alone": {name: alone[name] / alone["default"] for name in cases},
        "over_default_two_at_once": {name: pair_mean[name] / pair_mean["default"] for name in cases},
        "fair_share_slowdown": 2.0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="cifar10-cpu")
    p.add_argument("--variant", default="eager-fp32")
    p.add_argument("--iters", type=int, default=40, help="timed training iterations per process")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--out", type=Path)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.preset, args.variant, args.iters, args.warmup)))
        return 0
    from benchmarks.time_to_quality import cpu_flags
    from unlogit.inversion.train.fastpath import cpu_model
    from unlogit.runtime.atomic import write_json_atomic

    result = {
        "command": "python -m benchmarks.contention " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "preset": args.preset,
        "variant": args.variant,
        "iters": args.iters,
        **measure(args),
    }
    text = json.dumps(result, indent=1)
    if args.out:
        write_json_atomic(args.out, result)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
