"""Scaling on paper: ``python -m benchmarks.scaling [--gpus 8 16 64] [--out docs/scaling-table.md]``.

For each inverter preset: parameter counts, FLOPs of one training iteration (counted with
torch.utils.flop_counter at two small batches and extrapolated linearly to the preset's batch), the
gradient bytes DDP all-reduces per iteration (``n_dis`` D all-reduces + one G all-reduce, fp32 grads,
ring all-reduce moves 2(N-1)/N of them through every GPU), and the resulting efficiency with no
compute/communication overlap (a lower bound: DDP overlaps its bucketed all-reduce with the backward).
The hardware figures are assumptions, printed with the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from unlogit.runtime.atomic import write_text_atomic

from .cases import PRESET_DATA, TRAIN_VARIANTS, build_train_bench, preset_config

PEAK_BF16 = 989e12  # H100 SXM dense bf16
ASSUMED_MFU = 0.35  # the target utilisation
LINKS = {"NVLink (one node)": 350e9, "InfiniBand NDR 400 Gb/s per GPU (across nodes)": 40e9}  # all-reduce bus B/s


def preset_costs(preset: str) -> dict[str, float]:
    """Parameters, per-iteration FLOPs and all-reduced gradient bytes of ``preset`` at its batch size."""
    flops = {}
    for batch in (2, 4):
        bench = build_train_bench(preset, TRAIN_VARIANTS["eager-fp32"], torch.device("cpu"), batch)
        flops[batch] = bench.flops_per_iter
    t = bench.state
    g = sum(p.numel() for p in t.G.parameters())
    d = sum(p.numel() for p in t.D.parameters())
    cfg = preset_config(preset).train
    per_image = (flops[4] - flops[2]) / 2
    return {
        "G_params": g,
        "D_params": d,
        "batch": cfg.batch_size,
        "n_dis": cfg.n_dis,
        "flops_per_iter": flops[2] + per_image * (cfg.batch_size - 2),
        "grad_bytes_per_iter": 4 * (cfg.n_dis * d + g),
    }


def table(gpus: list[int], presets: list[str]) -> str:
    lines = [
        f"Assumptions: {PEAK_BF16 / 1e12:.0f} TFLOP/s bf16 peak per GPU at {ASSUMED_MFU:.0%} utilisation; "
        + "; ".join(f"{k}: {v / 1e9:.0f} GB/s all-reduce bus bandwidth" for k, v in LINKS.items())
        + ". Per-GPU batch = the preset's batch (weak scaling).",
        "",
        "| preset | G params | D params | batch x n_dis | GFLOP / iter | all-reduced MB / iter | compute ms / iter |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    costs = {p: preset_costs(p) for p in presets}
    for p, c in costs.items():
        compute = c["flops_per_iter"] / (PEAK_BF16 * ASSUMED_MFU)
        params = f"{c['G_params'] / 1e6:.2f} M | {c['D_params'] / 1e6:.2f} M"
        work = f"{c['flops_per_iter'] / 1e9:.1f} | {c['grad_bytes_per_iter'] / 1e6:.1f} | {compute * 1e3:.2f}"
        lines.append(f"| {p} | {params} | {c['batch']} x {c['n_dis']} | {work} |")
    lines += ["", "Communication per GPU per iteration; efficiency without overlap = compute / (compute + comm):", ""]
    header = "| preset | link | " + " | ".join(f"{n} GPUs" for n in gpus) + " |"
    lines += [header, "|---|---|" + "---:|" * len(gpus)]
    for p, c in costs.items():
        compute = c["flops_per_iter"] / (PEAK_BF16 * ASSUMED_MFU)
        for link, bw in LINKS.items():
            cells = []
            for n in gpus:
                comm = 2 * (n - 1) / n * c["grad_bytes_per_iter"] / bw
                cells.append(f"{comm * 1e3:.2f} ms, {compute / (compute + comm):.0%}")
            lines.append(f"| {p} | {link} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.splitlines()[0])
    p.add_argument("--gpus", nargs="+", type=int, default=[2, 8, 64])
    p.add_argument(
        "--presets",
        nargs="+",
        default=["cifar10", "tinyimagenet64", "imagenet64", "imagenet128"],
        choices=sorted(PRESET_DATA),
    )
    p.add_argument("--out", help="also write the markdown table here")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    text = table(args.gpus, args.presets)
    print(text)
    if args.out:
        write_text_atomic(Path(args.out), text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
