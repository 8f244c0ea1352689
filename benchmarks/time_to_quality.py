"""Time to quality: independent-evaluator agreement and pixel retrieval of an inverter against G steps and
minutes, for eager fp32 and the measured fast path (``auto``), in one run.

``python -m benchmarks.time_to_quality --classifier SPEC --evaluator SPEC [--evaluator SPEC] [--steps 3000]``

Each variant trains one inverter (the CIFAR-10 CPU preset, the paper's ``gan``, by default) for the same G
steps with held-out evaluations every ``--eval-every`` steps on the validation split, judged by the given
independent evaluators. The JSON holds, per variant, every evaluation (minutes, G steps, steps/s, images/s,
true-label agreement per evaluator, median retrieval rank in pixels and each evaluator's features), the
minutes to the target quality (``--target-agreement`` under every evaluator and a median pixel rank of at
most ``--target-rank``), and ``minutes_ratio``: the auto path's minutes to the target over eager fp32's
(null when either never reaches it). The CPU model and flags are recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from unlogit import train_inverter
from unlogit.config import build_config, deep_merge, load_preset_dict
from unlogit.inversion.config import InverterRunConfig
from unlogit.inversion.train.fastpath import cpu_model
from unlogit.runtime.atomic import write_json_atomic
from unlogit.runtime.figures import save_figure
from unlogit.runtime.rundir import read_evaluations, read_metrics

AUTO = ["train.amp=auto", "train.channels_last=auto", "train.compile=auto"]
VARIANTS = {
    "eager-fp32": ["train.amp=off", "train.channels_last=false", "train.compile=false", "train.optimizer=for-loop"],
    "auto": AUTO,
    # a lever of the list that keeps the paper's method: batch 32 with both learning rates scaled by
    # sqrt(32 / the preset's batch) (the square-root rule for Adam; see BATCH_OF), the same EMA and G steps
    "auto-b32": AUTO,
    # the EMA lever: the generator's running average from step 150 instead of the preset's 300, decay 0.99
    "auto-ema-early": [*AUTO, "train.ema_start=150", "train.ema_decay=0.99"],
}
BATCH_OF = {"auto-b32": 32}  # variants that change the batch: their learning rates follow the square-root rule


def scaled_lr_overrides(cfg: InverterRunConfig, batch: int) -> list[str]:
    """``train.batch_size=batch`` and both learning rates times sqrt(batch / the config's batch), from the
    resolved config (the preset's rates, not the dataclass defaults)."""
    factor = (batch / cfg.train.batch_size) ** 0.5
    return [
        f"train.batch_size={batch}",
        f"train.lr_g={cfg.train.lr_g * factor:.6g}",
        f"train.lr_d={cfg.train.lr_d * factor:.6g}",
    ]


def cpu_flags() -> list[str]:
    """The CPU's vector and matrix extensions that matter for the fast paths (from /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "f16c")))


def records_of(run: Path, evaluators: list[str], batch: int, n_dis: int) -> list[dict[str, Any]]:
    out = []
    for r in read_evaluations(run):
        minutes = r["train_minutes"] if "train_minutes" in r else r["elapsed_s"] / 60
        steps_s = r["step"] / max(minutes * 60, 1e-9)
        out.append(
            {
                "minutes": minutes,
                "step": r["step"],
                "steps_per_s": steps_s,
                "images_per_s": steps_s * batch * n_dis,
                **{k: v for k, v in r.items() if "@" in k or k.startswith("own_")},
            }
        )
    return out


def _first_meeting(records: list[dict[str, Any]], agreement: float, rank: float, smooth: bool) -> float | None:
    """The minutes of the first evaluation where every judge's agreement is at least ``agreement`` and the
    median pixel rank at most ``rank``: on the raw curves, or (``smooth``) on their isotonic fits."""
    if not records:
        return None
    judges = [k for k in records[0] if k.startswith("true_label_agreement@")]
    curves = [[r[k] for r in records] for k in judges]
    ranks = [r["median_retrieval_rank@pixels"] for r in records]
    slack, rank_slack = 0.0, 0.0
    if smooth:
        from scipy.optimize import isotonic_regression

        curves = [isotonic_regression(c, increasing=True).x for c in curves]
        ranks = isotonic_regression(ranks, increasing=False).x
        slack, rank_slack = 1e-12, 1e-9  # pooled means carry rounding: a fit pooled to the target meets it
    for i, r in enumerate(records):
        if judges and all(c[i] >= agreement - slack for c in curves) and ranks[i] <= rank + rank_slack:
            return r["minutes"]
    return None


def minutes_to(records: list[dict[str, Any]], agreement: float, rank: float) -> float | None:
    """The first evaluation's minutes at which every evaluator's agreement and the pixel rank meet the target."""
    return _first_meeting(records, agreement, rank, smooth=False)


def trend_minutes_to(records: list[dict[str, Any]], agreement: float, rank: float) -> float | None:
    """The first evaluation's minutes at which the *trend* meets the target: each judge's agreement fitted
    non-decreasing and the pixel rank non-increasing in the steps (isotonic regression: quality does not fall
    with training), so one lucky evaluation on a plateau does not count as reaching it."""
    return _first_meeting(records, agreement, rank, smooth=True)


def ratio(minutes: float | None, eager: float | None) -> float | None:
    """A variant's minutes to the target over eager fp32's; None when either never reached it."""
    return minutes / eager if minutes and eager else None


def curve_figure(result: dict[str, Any]):
    """Agreement (left) and median pixel retrieval rank (right) against minutes, one line per variant."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    for i, (name, v) in enumerate(result["variants"].items()):
        colour, minutes = f"C{i}", [r["minutes"] for r in v["records"]]
        judges = [k for k in v["records"][0] if k.startswith("true_label_agreement@")] if v["records"] else []
        for key, style in zip(judges, ("-", "--", ":", "-.")):  # one colour per variant, a line style per judge
            left.plot(
                minutes,
                [100 * r[key] for r in v["records"]],
                marker="o",
                color=colour,
                linestyle=style,
                label=f"{name}: {key.split('@')[1]}",
            )
        right.plot(
            minutes, [r["median_retrieval_rank@pixels"] for r in v["records"]], marker="o", color=colour, label=name
        )
    left.axhline(100 * result["target"]["agreement"], color="grey", linestyle="--")
    right.axhline(result["target"]["rank"], color="grey", linestyle="--")
    left.set_ylabel("true-label agreement, %")
    right.set_ylabel("median retrieval rank, 8x8 pixels")
    for ax in (left, right):
        ax.set_xlabel("training minutes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def run_variant(args: argparse.Namespace, name: str, out: Path) -> dict[str, Any]:
    extra: dict[str, Any] = {"classifier": args.classifier, "data": {"name": args.dataset}}
    if args.data_root:
        extra["data"]["root"] = args.data_root
    if args.method != "gan":
        extra = deep_merge(load_preset_dict("inverter", f"methods/{args.method}"), extra)
    overrides = [
        f"train.steps={args.steps}",
        "train.max_minutes=null",
        f"train.eval_every={args.eval_every}",
        f"train.evaluators=[{','.join(args.evaluator)}]",
        *VARIANTS[name],
        *args.overrides,
    ]
    cfg = build_config(InverterRunConfig, "inverter", args.preset, overrides, extra)
    if name in BATCH_OF:
        overrides = [*overrides, *scaled_lr_overrides(cfg, BATCH_OF[name])]
        cfg = build_config(InverterRunConfig, "inverter", args.preset, overrides, extra)
    start = time.perf_counter()
    train_inverter(cfg, out)
    fast = next((r["fast_path"] for r in read_metrics(out) if "fast_path" in r), None)
    records = records_of(out, args.evaluator, cfg.train.batch_size, cfg.train.n_dis)
    t = cfg.train
    settings = {
        "batch_size": t.batch_size,
        "lr_g": t.lr_g,
        "lr_d": t.lr_d,
        "n_dis": t.n_dis,
        "ema_start": t.ema_start,
        "ema_decay": t.ema_decay,
    }
    return {
        "run": out.name,
        "wall_minutes": (time.perf_counter() - start) / 60,
        "fast_path": fast,
        "train": settings,
        "records": records,
    }


def derive(result: dict[str, Any], ladder: list[float]) -> dict[str, Any]:
    """Fill in what follows from the records and the target: per variant the minutes to the target (first
    evaluation, and trend), the ratios to eager fp32, and the trend ratios at each agreement of ``ladder``
    (the same rank target): how the levers compare at quality levels every variant reaches."""
    target, variants = result["target"], result["variants"]
    for v in variants.values():
        v["minutes_to_target"] = minutes_to(v["records"], target["agreement"], target["rank"])
        v["minutes_to_target_trend"] = trend_minutes_to(v["records"], target["agreement"], target["rank"])
    eager = variants.get("eager-fp32", {})
    others = [k for k in variants if k != "eager-fp32"]
    for suffix in ("", "_trend"):  # first evaluation, trend
        key = "minutes_to_target" + suffix
        result["minutes_ratios" + suffix] = {k: ratio(variants[k][key], eager.get(key)) for k in others}
        result["minutes_ratio" + suffix] = result["minutes_ratios" + suffix].get("auto")  # the number
    base = {a: trend_minutes_to(eager.get("records", []), a, target["rank"]) for a in ladder}
    result["trend_ratio_ladder"] = {
        f"{a:g}": {
            "eager_minutes": base[a],
            **{k: ratio(trend_minutes_to(variants[k]["records"], a, target["rank"]), base[a]) for k in others},
        }
        for a in ladder
    }
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(args.run or f"runs/time-to-quality-{time.strftime('%Y%m%d-%H%M%S')}")
    variants = {name: run_variant(args, name, root / name) for name in args.variants}
    target = {"agreement": args.target_agreement, "rank": args.target_rank}
    result = {
        "command": " ".join(["python -m benchmarks.time_to_quality", *sys.argv[1:]]),
        "preset": args.preset,
        "method": args.method,
        "classifier": args.classifier,
        "evaluators": args.evaluator,
        "steps": args.steps,
        "cpu": {"model": cpu_model(), "flags": cpu_flags(), "machine": platform.machine()},
        "target": target,
        "variants": variants,
    }
    return derive(result, args.ladder)


def rederive(path: Path, ladder: list[float]) -> dict[str, Any]:
    """An earlier run's JSON with the derived fields recomputed from its own records and target (nothing
    trains; the measured records are kept as they are)."""
    result = json.loads(path.read_text())
    return derive(result, ladder)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.time_to_quality", description=__doc__.splitlines()[0])
    p.add_argument("--classifier", help="the classifier to invert (spec; required unless --from-json)")
    p.add_argument("--evaluator", action="append", help="independent judge (repeatable; required unless --from-json)")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--data-root")
    p.add_argument("--preset", default="cifar10-cpu")
    p.add_argument("--method", default="gan", help="gan (the paper) or another method")
    p.add_argument("--steps", type=int, default=3000, help="G steps of every variant")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--variants", nargs="+", default=["eager-fp32", "auto"], choices=list(VARIANTS))
    p.add_argument("--target-agreement", type=float, default=0.45)
    p.add_argument("--target-rank", type=float, default=80.0, help="median pixel retrieval rank (of train.eval_size)")
    p.add_argument("--run", help="folder for the variants' run directories (default runs/time-to-quality-<time>)")
    p.add_argument("--out", default="benchmarks/results/time_to_quality.json")
    p.add_argument(
        "--ladder",
        type=float,
        nargs="+",
        default=[0.35, 0.40, 0.425, 0.45],
        help="agreements (each with --target-rank) at which the trend ratios to eager fp32 are reported",
    )
    p.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="train nothing: recompute the derived fields of an earlier run's JSON (its own records and "
        "target) into --out",
    )
    p.add_argument("overrides", nargs="*", help="KEY=VALUE inverter config overrides")
    args = p.parse_intermixed_args(argv)  # KEY=VALUE overrides may come before or after options
    if args.from_json and not args.from_json.is_file():
        p.error(f"--from-json {args.from_json}: no such file (give the JSON an earlier run wrote with --out)")
    if not args.from_json and not (args.classifier and args.evaluator):
        p.error("--classifier and at least one --evaluator are required (or --from-json FILE to recompute)")
    result = rederive(args.from_json, args.ladder) if args.from_json else run(args)
    write_json_atomic(Path(args.out), result)
    plot = save_figure(curve_figure(result), Path(args.out).with_suffix(".png"))
    for name, v in result["variants"].items():
        for r in v["records"]:
            agree = "  ".join(f"{k.split('@')[1]}={r[k]:.1%}" for k in r if k.startswith("true_label_agreement@"))
            print(
                f"{name:10s} {r['minutes']:6.2f} min  step {r['step']:>6}  {r['steps_per_s']:.2f} steps/s  {agree}  "
                f"median rank (pixels) {r['median_retrieval_rank@pixels']:.0f}"
            )
        print(
            f"{name}: minutes to the target {v['minutes_to_target']} (first evaluation), "
            f"{v['minutes_to_target_trend']} (trend)"
        )
    print(f"minutes_ratio (auto / eager fp32): {result['minutes_ratio']}; every variant: {result['minutes_ratios']}")
    print(f"trend ratios: {result['minutes_ratios_trend']}; by agreement: {result['trend_ratio_ladder']}")
    print(f"wrote {args.out} and the plot {plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
