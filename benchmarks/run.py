"""Benchmark runner: ``python -m benchmarks.run [--quick] [--device cuda] [--out FILE.json]``.

Prints a table and writes JSON. Every speed figure is a ratio to the plain eager fp32 path measured in
the same run (these machines are noisy); on CUDA also absolute images/s, peak memory and model FLOP
utilisation. See docs/performance.md for the recorded figures and their commands.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from unlogit.runtime.atomic import write_json_atomic
from unlogit.runtime.device import compile_toolchain_missing, configure_cpu, resolve_device

from . import cases


def compiler_available(device: torch.device) -> bool:
    """Whether torch.compile can build kernels here (see ``compile_toolchain_missing``)."""
    return compile_toolchain_missing(device) is None


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = resolve_device(args.device)
    if device.type == "cpu":
        configure_cpu(args.threads)
    variants = args.variants or list(cases.TRAIN_VARIANTS)
    if args.no_compile or not compiler_available(device):
        variants = [v for v in variants if not cases.TRAIN_VARIANTS[v]["compile"]]
    quick = args.quick
    iters, warmup = (2, 1) if quick else (args.iters, 3)
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "device_type": device.type,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "command": " ".join(["python -m benchmarks.run", *sys.argv[1:]]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "inverter_training": [],
    }
    for preset in args.presets:
        print(f"inverter training, preset {preset} ...", flush=True)
        result["inverter_training"].append(
            cases.inverter_training(
                preset, variants, device, iters, warmup, batch=args.batch, repeats=2 if quick else args.repeats
            )
        )
    print("step-time breakdown ...", flush=True)
    result["step_breakdown"] = [
        cases.step_breakdown(args.presets[0], device, 3 if quick else args.iters, args.batch, amp)
        for amp in ("off", "bf16")
    ]
    compile_ok = not args.no_compile and compiler_available(device)
    print("reconstruction ...", flush=True)
    result["reconstruction"] = cases.reconstruction(
        args.presets[0], device, iters * 2, warmup, batch=64 if quick else 256, compile_too=compile_ok
    )
    print("adversarial training ...", flush=True)
    result["adversarial_training"] = cases.adversarial_training(args.classifier_preset, device, iters, warmup)
    print("optimize baseline ...", flush=True)
    result["optimize_baseline"] = cases.optimize_baseline(device, steps=20 if quick else 200, n=4 if quick else 8)
    print("shapes generation ...", flush=True)
    result["shapes_generation"] = cases.shapes_generation(500 if quick else 4000)
    if device.type == "cpu":
        import resource

        result["process_max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def table(result: dict[str, Any]) -> str:
    where = f"{result['device']} ({result['device_type']}, {result['threads']} threads)"
    lines = [f"device: {where}, torch {result['torch']}"]
    for block in result["inverter_training"]:
        drift = f"baseline drift x{block['baseline_drift']:.2f}, median of {block['repeats']} round-robin repeats"
        lines.append(f"\ninverter training, preset {block['preset']} ({drift})")
        lines.append(f"  {'variant':<14}{'img/s':>10}{'speedup':>10}{'peak MB':>10}{'MFU':>8}")
        for name, row in block["variants"].items():
            peak = f"{row['peak_mb']:.0f}" if row.get("peak_mb") is not None else "-"
            mfu = f"{row['mfu']:.1%}" if row.get("mfu") is not None else "-"
            speed = f"{row['images_per_s']:>10.1f}{row['speedup_vs_eager_fp32']:>9.2f}x"
            lines.append(f"  {name:<14}{speed}{peak:>10}{mfu:>8}")
    for b in result.get("step_breakdown", []):
        parts = ", ".join(f"{k} {v:.1f}" for k, v in b["ms"].items())
        lines.append(
            f"\nstep breakdown, preset {b['preset']}, batch {b['batch']}, amp {b['amp']}: "
            f"{b['ms_per_iteration']:.1f} ms/iteration ({parts} ms)"
        )
    rec = result["reconstruction"]
    lines.append(f"\nreconstruction, preset {rec['preset']}, batch {rec['batch']}")
    for name, row in rec["variants"].items():
        lines.append(f"  {name:<14}{row['images_per_s']:>10.0f} img/s {row['speedup_vs_eager_fp32']:>6.2f}x")
    adv = result["adversarial_training"]
    lines.append(
        f"\nclassifier training ({adv['preset']}, PGD {adv['attack_steps']} steps): standard "
        f"{adv['standard_images_per_s']:.0f} img/s, adversarial {adv['adversarial_images_per_s']:.0f} img/s "
        f"({adv['adversarial_cost_ratio']:.1f}x the cost)"
    )
    opt = result["optimize_baseline"]
    opt_ms, gan_ms = opt["optimize_seconds_per_image"] * 1000, opt["gan_seconds_per_image"] * 1000
    lines.append(
        f"optimize baseline ({opt['steps']} steps): {opt_ms:.1f} ms/image; "
        f"GAN {gan_ms:.3f} ms/image ({opt['gan_speedup']:.0f}x faster)"
    )
    gen = result["shapes_generation"]
    lines.append(
        f"shapes generation: {gen['images_per_s']:.0f} images/s ({gen['n']} images, target "
        f">= {gen['target_images_per_s']}: {'met' if gen['met'] else 'NOT met'})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["tiny", "cifar10"], choices=sorted(cases.PRESET_DATA))
    p.add_argument("--variants", nargs="+", choices=list(cases.TRAIN_VARIANTS), help="default: all")
    p.add_argument("--classifier-preset", default="tiny-robust", help="classifier preset for adversarial training")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--iters", type=int, default=10, help="timed iterations per repeat")
    p.add_argument("--repeats", type=int, default=5, help="round-robin repeats of every variant (median)")
    p.add_argument("--batch", type=int, default=None, help="override the presets' batch size")
    p.add_argument("--quick", action="store_true", help="a few iterations (smoke test; ratios are rough)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    p.add_argument("--out", default="benchmarks/results/latest.json")
    args = p.parse_args(argv)
    result = run(args)
    write_json_atomic(Path(args.out), result)
    print(table(result))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
