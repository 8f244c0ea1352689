"""What reading every step's numbers on the host costs: seconds per training iteration of a preset when each
step's numbers are read (a float and a finiteness test per number: what the training loop did before) vs
summed on the device and read once per log line (:class:`~unlogit.inversion.train.finite.FiniteWatch` and
the log hook now). Timed round-robin in one process, so the ratio is measured on one machine at one time.

    python -m benchmarks.host_syncs --device cpu --preset cifar10 --out docs/results/host-syncs/cpu-epyc.json

On a CPU there is no device to wait for, so the ratio is expected near 1; on a GPU each read stalls the
queue of kernels (the GPU check runs this at imagenet64).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

from benchmarks.cases import TRAIN_VARIANTS, build_train_bench, interleaved
from benchmarks.time_to_quality import cpu_flags
from unlogit.inversion.train.fastpath import cpu_model
from unlogit.inversion.train.finite import FiniteWatch
from unlogit.runtime.atomic import write_json_atomic


def host_syncs(preset: str, device: torch.device, variant: str, iters: int, repeats: int, log_every: int) -> dict:
    """Seconds per iteration, per-step reads vs reads at the log cadence, on one shared training state."""
    bench = build_train_bench(preset, TRAIN_VARIANTS[variant], device, None, False)
    watch, sums, count = FiniteWatch(device), {}, [0]

    def per_step_reads() -> None:
        numbers = bench.step()
        for v in numbers.values():
            float(v)
            bool(torch.isfinite(v))

    def at_log_cadence() -> None:
        numbers = bench.step()
        count[0] += 1
        watch.observe(count[0], numbers)
        for k, v in numbers.items():
            sums[k] = sums[k] + v.detach().float() if k in sums else v.detach().float()
        if count[0] % log_every == 0:
            watch.first_bad()
            torch.stack(list(sums.values())).tolist()
            sums.clear()

    runs = interleaved({"per_step_reads": per_step_reads, "at_log_cadence": at_log_cadence}, device, iters, 3, repeats)
    seconds = {name: statistics.median(times) for name, times in runs.items()}
    return {
        "preset": preset,
        "variant": variant,
        "log_every": log_every,
        "iters_per_repeat": iters,
        "repeats": repeats,
        "seconds_per_iter": seconds,
        "speedup": seconds["per_step_reads"] / seconds["at_log_cadence"],
        "all_runs": runs,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--preset", default="cifar10")
    p.add_argument("--variant", default="eager-fp32", choices=sorted(TRAIN_VARIANTS))
    p.add_argument("--iters", type=int, default=50, help="iterations per timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--log-every", type=int, default=100, help="the log cadence the reads happen at (train.log_every)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    device = torch.device(args.device)
    result = {
        "command": "python -m benchmarks.host_syncs " + " ".join(argv if argv is not None else sys.argv[1:]),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        "cpu": {"model": cpu_model(), "flags": cpu_flags(), "machine": platform.machine()},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        **host_syncs(args.preset, device, args.variant, args.iters, args.repeats, args.log_every),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "all_runs"}, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, result)
    return result


if __name__ == "__main__":
    main()
