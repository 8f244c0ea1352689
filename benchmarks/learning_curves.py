"""Learning curves and a learning-rate grid for both arms: how many G steps the confirmatory claim needs, and at
which learning rates, chosen on the validation split of both arms alike.

``python -m benchmarks.learning_curves --arm robust=SPEC --arm standard=SPEC --evaluator SPEC [--evaluator SPEC]
[--steps 10000] [--eval-every 1000] [--lr-scale 0.5 1 2] [--endpoint retrieval@layout] --run DIR --out FILE.json``

Every (arm, learning-rate scale) pair trains one inverter (the ``--preset``, the paper's ``gan``) with ``lr_g`` and
``lr_d`` both multiplied by the scale, and measures the EMA generator every ``--eval-every`` G steps on
``train.eval_size`` validation images: true-label agreement under each independent evaluator, and retrieval in
every judge-free band (pixels, colour, layout, detail) and in each evaluator's features. The test split is not
touched. Runs are resumable: rerunning the same command continues each run from its last checkpoint and skips the
finished ones, and the JSON is rewritten after every run, so a killed session loses at most one checkpoint
interval.

What is derived, per arm (:func:`derive`): the chosen scale (the best mean of ``--endpoint`` over the last
``--last`` evaluations; the preset's own scale 1 unless another beats it by at least ``--flat``), and its
**plateau step**: the first evaluated step from which the endpoint's isotonic fit
(quality does not fall with training) rises by less than ``--flat`` over the rest of the run. The recommended G
steps are the larger of the arms' plateau steps (``null`` while an arm has not flattened within the run), and
the gap between the arms' chosen runs at that step is reported beside the claim's margin.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.time_to_quality import cpu_flags, records_of
from unlogit import train_inverter
from unlogit.config import build_config
from unlogit.inversion.config import InverterRunConfig
from unlogit.inversion.train.fastpath import cpu_model
from unlogit.runtime.atomic import write_json_atomic
from unlogit.runtime.figures import save_figure
from unlogit.runtime.rundir import RunLayout

BANDS = ("pixels", "colour", "layout", "detail")


def run_name(arm: str, scale: float) -> str:
    return f"{arm}-lr{scale:g}"


def run_config(args: argparse.Namespace, spec: str, scale: float) -> InverterRunConfig:
    """The preset's config for ``spec`` with both learning rates times ``scale`` (from the resolved preset)."""
    extra: dict[str, Any] = {"classifier": spec, "data": {"name": args.dataset}}
    if args.data_root:
        extra["data"]["root"] = args.data_root
    overrides = [
        f"train.steps={args.steps}",
        "train.max_minutes=null",
        f"train.eval_every={args.eval_every}",
        f"train.checkpoint_every={args.eval_every}",
        f"train.evaluators=[{','.join(args.evaluator)}]",
        *args.overrides,
    ]
    base = build_config(InverterRunConfig, "inverter", args.preset, overrides, extra)
    scaled = [f"train.lr_g={base.train.lr_g * scale:.6g}", f"train.lr_d={base.train.lr_d * scale:.6g}"]
    return build_config(InverterRunConfig, "inverter", args.preset, [*overrides, *scaled], extra)


def train_one(args: argparse.Namespace, arm: str, spec: str, scale: float) -> dict[str, Any]:
    """Train (or resume, or skip when finished) one run; its evaluations and settings."""
    out = Path(args.run) / run_name(arm, scale)
    cfg = run_config(args, spec, scale)
    if RunLayout(out).state() != "done":
        start = time.perf_counter()
        train_inverter(cfg, out, resume=out.is_dir())
        print(f"[curves] {out.name}: {(time.perf_counter() - start) / 60:.1f} min this session", flush=True)
    t = cfg.train
    return {
        "arm": arm,
        "classifier": spec,
        "lr_scale": scale,
        "lr_g": t.lr_g,
        "lr_d": t.lr_d,
        "batch_size": t.batch_size,
        "records": list({r["step"]: r for r in records_of(out, args.evaluator, t.batch_size, t.n_dis)}.values()),
    }


def isotonic(values: list[float]) -> list[float]:
    """The non-decreasing least-squares fit of ``values`` (quality does not fall with training)."""
    from scipy.optimize import isotonic_regression

    return [float(v) for v in isotonic_regression(values, increasing=True).x]


def plateau_step(records: list[dict[str, Any]], endpoint: str, flat: float) -> int | None:
    """The first evaluated step from which the endpoint's isotonic fit rises by less than ``flat`` to the run's
    last evaluation; None when only the last evaluation qualifies (the curve has not been seen to flatten)."""
    steps = [r["step"] for r in records if endpoint in r]
    fit = isotonic([r[endpoint] for r in records if endpoint in r])
    for i, step in enumerate(steps[:-1]):
        if fit[-1] - fit[i] < flat:
            return int(step)
    return None


def value_at(records: list[dict[str, Any]], endpoint: str, step: int) -> float | None:
    return next((r[endpoint] for r in records if r["step"] == step and endpoint in r), None)


def derive(result: dict[str, Any], endpoint: str, last: int, flat: float, margin: float) -> dict[str, Any]:
    """Per arm: the chosen learning-rate scale and its plateau step; the recommended G steps and the gap there."""
    arms: dict[str, Any] = {}
    for run in result["runs"]:
        recs = [r for r in run["records"] if endpoint in r]
        if not recs:
            continue
        tail = [r[endpoint] for r in recs[-last:]]
        entry = arms.setdefault(run["arm"], {"scales": {}})
        entry["scales"][f"{run['lr_scale']:g}"] = {
            "last_step": recs[-1]["step"],
            "tail_mean": sum(tail) / len(tail),
            "plateau_step": plateau_step(recs, endpoint, flat),
        }
    for entry in arms.values():
        scale, best = max(entry["scales"].items(), key=lambda kv: kv[1]["tail_mean"])
        preset = entry["scales"].get("1")
        if preset is not None and best["tail_mean"] - preset["tail_mean"] < flat:  # not better than noise: keep it
            scale, best = "1", preset
        entry.update({"chosen_scale": float(scale), "plateau_step": best["plateau_step"]})
    plateaus = [a["plateau_step"] for a in arms.values()]
    steps = max(plateaus) if plateaus and all(p is not None for p in plateaus) else None
    gap = None
    if steps is not None and len(arms) == 2:
        (name_a, a), (name_b, b) = arms.items()
        runs = {(r["arm"], r["lr_scale"]): r["records"] for r in result["runs"]}
        va = value_at(runs[(name_a, a["chosen_scale"])], endpoint, steps)
        vb = value_at(runs[(name_b, b["chosen_scale"])], endpoint, steps)
        if va is not None and vb is not None:
            gap = {
                "a": name_a,
                "b": name_b,
                "a_value": va,
                "b_value": vb,
                "gap": va - vb,
                "margin": margin,
                "exceeds_margin": abs(va - vb) > margin,
            }
    result.update(
        {"endpoint": endpoint, "flat": flat, "last": last, "arms": arms, "recommended_steps": steps, "gap": gap}
    )
    return result


def curve_figure(result: dict[str, Any]):
    """One panel per band (and per judge's agreement): the endpoint against G steps, a line per run."""
    from matplotlib.figure import Figure

    runs = result["runs"]
    keys = [f"retrieval@{b}" for b in BANDS] + sorted(
        {k for r in runs for rec in r["records"] for k in rec if k.startswith("true_label_agreement@")}
    )
    fig = Figure(figsize=(3.2 * len(keys), 3.2))
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    styles = {s: st for s, st in zip(sorted({r["lr_scale"] for r in runs}), ("--", "-", ":", "-."))}
    arms = sorted({r["arm"] for r in runs})
    for ax, key in zip(axes, keys):
        for run in runs:
            recs = [r for r in run["records"] if key in r]
            ax.plot(
                [r["step"] for r in recs],
                [r[key] for r in recs],
                color=f"C{arms.index(run['arm'])}",
                linestyle=styles[run["lr_scale"]],
                marker=".",
                label=f"{run['arm']} lr x{run['lr_scale']:g}",
            )
        if result.get("recommended_steps"):
            ax.axvline(result["recommended_steps"], color="grey", linestyle=":")
        ax.set_title(key, fontsize=8)
        ax.set_xlabel("G steps")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.learning_curves", description=__doc__.splitlines()[0])
    p.add_argument("--arm", action="append", default=[], metavar="NAME=SPEC", help="an arm's classifier")
    p.add_argument("--evaluator", action="append", default=[], help="independent judge (repeatable)")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--data-root")
    p.add_argument("--preset", default="cifar10-cpu")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--eval-every", type=int, default=1_000)
    p.add_argument("--lr-scale", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--endpoint", default="retrieval@layout", help="the validation endpoint the choice is made on")
    p.add_argument("--last", type=int, default=3, help="evaluations averaged to choose the learning rate")
    p.add_argument("--flat", type=float, default=0.01, help="rise of the isotonic fit below which a curve is flat")
    p.add_argument("--margin", type=float, default=0.02, help="the claim's margin on the endpoint (reported)")
    p.add_argument("--run", help="folder of the runs (resumable; required unless --from-json)")
    p.add_argument("--from-json", type=Path, metavar="FILE", help="train nothing: re-derive an earlier run's JSON")
    p.add_argument("--out", required=True)
    p.add_argument("overrides", nargs="*", help="KEY=VALUE inverter config overrides for every run")
    args = p.parse_intermixed_args(argv)
    out = Path(args.out)
    if args.from_json:
        result = derive(json.loads(args.from_json.read_text()), args.endpoint, args.last, args.flat, args.margin)
        write_json_atomic(out, result)
        save_figure(curve_figure(result), out.with_suffix(".png"))
        print(f"recommended G steps: {result['recommended_steps']}; gap there: {result['gap']}")
        return 0
    if not (args.run and args.arm and args.evaluator):
        p.error("--run, --arm and --evaluator are required (or --from-json FILE)")
    arms = [a.split("=", 1) for a in args.arm]
    if any(len(a) != 2 for a in arms):
        p.error("--arm takes NAME=SPEC, e.g. --arm robust=unlogit:cifar10-robust-s0")
    result: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.learning_curves", *sys.argv[1:]]),
        "preset": args.preset,
        "steps": args.steps,
        "evaluators": args.evaluator,
        "cpu": {"model": cpu_model(), "flags": cpu_flags(), "machine": platform.machine()},
        "runs": [],
    }
    for scale in args.lr_scale:  # the preset's own scale of both arms first when it is listed first
        for name, spec in arms:
            result["runs"].append(train_one(args, name, spec, scale))
            derive(result, args.endpoint, args.last, args.flat, args.margin)
            write_json_atomic(out, result)
            save_figure(curve_figure(result), out.with_suffix(".png"))
    for name, entry in result["arms"].items():
        print(f"{name}: chosen lr x{entry['chosen_scale']:g}, plateau at {entry['plateau_step']} G steps")
    print(f"recommended G steps: {result['recommended_steps']}; gap there: {result['gap']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
