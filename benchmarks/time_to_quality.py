"""Time to quality: independent-evaluator agreement and retrieval rank of an inverter against training minutes.

``python -m benchmarks.time_to_quality --classifier SPEC --evaluator SPEC [--evaluator SPEC] [--minutes 8]``

Trains one inverter (the CIFAR-10 CPU preset by default) with held-out evaluations every
``--eval-every`` G steps on the validation split, judged by the given independent evaluators, then
writes JSON (one record per evaluation: minutes, G steps, true-label agreement per evaluator, median
retrieval rank in pixels and in each evaluator's features) and a plot of both against minutes (with the
G steps reached on a second axis: the step rate varies between machines and sessions).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from unlogit import train_inverter
from unlogit.config import build_config, deep_merge, load_preset_dict
from unlogit.inversion.config import InverterRunConfig
from unlogit.runtime.atomic import write_json_atomic
from unlogit.runtime.figures import save_figure
from unlogit.runtime.rundir import read_evaluations


def curve_figure(records: list[dict[str, Any]], evaluators: list[str]):
    """Agreement (left) and median retrieval rank (right) against training minutes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    minutes = [r["minutes"] for r in records]
    for e in evaluators:
        left.plot(minutes, [100 * r[f"true_label_agreement@{e}"] for r in records], marker="o", label=e)
    left.set_ylabel("true-label agreement, %")
    left.set_ylim(0, 100)
    for space in ["pixels", *evaluators]:
        right.plot(minutes, [r[f"median_retrieval_rank@{space}"] for r in records], marker="o", label=space)
    right.set_ylabel("median retrieval rank (lower is better)")
    for ax in (left, right):
        ax.set_xlabel("training minutes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        top = ax.secondary_xaxis("top")
        every = max(1, len(records) // 5)
        top.set_xticks(minutes[::every], [f"{r['step']:,}" for r in records[::every]], fontsize=7)
        top.set_xlabel("G steps", fontsize=8)
    fig.tight_layout()
    return fig


def run(args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, Any] = {"classifier": args.classifier, "data": {"name": args.dataset}}
    if args.data_root:
        extra["data"]["root"] = args.data_root
    if args.method != "gan":
        extra = deep_merge(load_preset_dict("inverter", f"methods/{args.method}"), extra)
    overrides = [f"train.max_minutes={args.minutes}", f"train.eval_every={args.eval_every}",
                 f"train.evaluators=[{','.join(args.evaluator)}]", "train.steps=1000000", *args.overrides]  # fmt: skip
    cfg = build_config(InverterRunConfig, "inverter", args.preset, overrides, extra)
    out = Path(args.run or f"runs/time-to-quality-{time.strftime('%Y%m%d-%H%M%S')}")
    start = time.perf_counter()
    train_inverter(cfg, out)
    names = list(cfg.train.evaluators)
    records = []
    for r in read_evaluations(out):
        minutes = r["train_minutes"] if "train_minutes" in r else r["elapsed_s"] / 60
        records.append({"minutes": minutes, "step": r["step"],
                        **{k: v for k, v in r.items() if "@" in k or k.startswith("own_")}})  # fmt: skip
    judges = sorted({k.split("@", 1)[1] for r in records for k in r if k.startswith("true_label_agreement@")})
    command = " ".join(["python -m benchmarks.time_to_quality", *sys.argv[1:]])
    return {"command": command, "run": str(out), "preset": args.preset, "method": args.method,
            "classifier": args.classifier, "evaluators": names, "evaluator_keys": judges,
            "wall_minutes": (time.perf_counter() - start) / 60, "records": records}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.time_to_quality", description=__doc__.splitlines()[0])
    p.add_argument("--classifier", required=True, help="the classifier to invert (spec)")
    p.add_argument("--evaluator", action="append", required=True, help="independent judge (repeatable)")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--data-root")
    p.add_argument("--preset", default="cifar10-cpu")
    p.add_argument("--method", default="gan", help="gan or gan-features (or a baseline)")
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--run", help="run directory (default runs/time-to-quality-<time>)")
    p.add_argument("--out", default="benchmarks/results/time_to_quality.json")
    p.add_argument("overrides", nargs="*", help="KEY=VALUE inverter config overrides")
    args = p.parse_intermixed_args(argv)  # KEY=VALUE overrides may come before or after options
    result = run(args)
    write_json_atomic(Path(args.out), result)
    plot = save_figure(curve_figure(result["records"], result["evaluator_keys"]), Path(args.out).with_suffix(".png"))
    for r in result["records"]:
        agree = "  ".join(f"{k}={r[f'true_label_agreement@{k}']:.1%}" for k in result["evaluator_keys"])
        rank = r["median_retrieval_rank@pixels"]
        print(f"{r['minutes']:6.2f} min  step {r['step']:>6}  {agree}  median rank (pixels) {rank:.0f}")
    print(f"wrote {args.out} and the plot {plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
