"""``unlogit evaluate``, ``unlogit analyze`` and ``unlogit report``."""

from __future__ import annotations

import argparse
import sys

from ..errors import UnlogitError
from .options import (
    ANALYZE_EXPERIMENTS,
    SPEC_FORMS,
    AddCommand,
    add_classifier_override,
    add_measure_options,
    deprecated_positional,
    output_dir,
)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """One process, or every rank of ``torchrun -m unlogit evaluate``: each scores its share of the images,
    rank 0 gathers them in image order, writes and prints (:mod:`unlogit.scoring.stream`)."""
    from ..data.config import DataConfig
    from ..runtime.device import resolve_device
    from ..runtime.dist import barrier, broadcast_from_main, cleanup, init_distributed, local_device
    from ..scoring.evaluate import evaluate
    from ..scoring.stream import Shard, Streaming

    deprecated_positional(args, "runs", "--inverter", append=True)
    if not args.inverter:
        raise UnlogitError("give the inverters to evaluate: --inverter RUN (repeatable)")
    device = resolve_device(args.device)
    info = init_distributed(device)
    try:
        data = DataConfig(name=args.dataset, root=args.data_root, test_size=args.n, train_size=args.n).load(args.split)
        data = data.subset(min(args.n, len(data)))
        out = broadcast_from_main(info, output_dir(args, "evaluate", args.dataset))
        result = evaluate(
            args.inverter,
            data,
            args.evaluator,
            seed=args.seed,
            samples=args.samples,
            out=out,
            extractor_specs=args.extractor or (),
            inception_weights=args.inception_weights,
            classifier=args.classifier,
            device=local_device(device, info),
            streaming=Streaming(Shard.of(info), args.batch_size, args.amp),
        )
        barrier(info)  # no process leaves the group while rank 0 still computes and writes
    finally:
        cleanup(info)
    if result is None:  # another rank writes
        return 0
    print(result["table"])
    judges = ", ".join(args.evaluator)
    processes = f", {info.world_size} processes" if info.enabled else ""
    print(
        f"\n{len(data)} {args.split} images of {args.dataset}, evaluators {judges}, seed {args.seed}{processes}. "
        f"Wrote {out / 'evaluate.json'} (with per-class numbers), evaluate.csv, evaluate.md, "
        f"per_image/<inverter>.csv"
    )
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from ..analysis import AnalyzeConfig, run_experiment
    from ..analysis.experiments import expand_experiments

    out = output_dir(args, "analyze", args.dataset)
    names = expand_experiments(args.experiment, with_ood=bool(args.ood_dataset))
    sample = {"train_sample": args.train_sample} if args.train_sample is not None else {}
    cfg = AnalyzeConfig(
        experiments=names,
        dataset=args.dataset,
        data_root=args.data_root,
        n=args.n,
        pool=args.pool,
        draws=args.draws,
        seed=args.seed,
        evaluator=(args.evaluator or [None])[0],
        ood_dataset=args.ood_dataset,
        classifier=args.classifier,
        **sample,
    )
    if args.evaluator and len(args.evaluator) > 1:
        print(f"note: analyze judges with one evaluator, the first ({args.evaluator[0]})", file=sys.stderr)
    for name in cfg.experiments:
        result = run_experiment(name, args.inverter, cfg, out, device=args.device)
        print(f"{name}: wrote {out / name} ({', '.join(result.figures)}, metrics.json)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..report.page import build_report

    path = build_report(args.inputs, args.out, title=args.title)
    print(f"wrote {path} (self-contained: open it in a browser)")
    return 0


def register(add: AddCommand) -> None:
    _register_evaluate(add)
    _register_analyze(add)
    _register_report(add)


def _register_evaluate(add: AddCommand) -> None:
    p = add(
        "evaluate",
        cmd_evaluate,
        "measure inverters on the same images with the same noise (one table)",
        "unlogit evaluate --inverter runs/inv-rob --inverter runs/inv-std --dataset shapes --evaluator runs/clf-eval",
    )
    p.add_argument("runs", nargs="*", help=argparse.SUPPRESS)  # the old positional form (deprecated)
    p.add_argument("--inverter", action="append", help="inverter run directory (repeatable)")
    add_measure_options(p, "evaluate", n_default=1000)
    p.add_argument(
        "--device", default="auto", help="where inverters and evaluators run: auto (CUDA when present), cpu, cuda:N"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=256,
        help="images scored at a time (memory is one batch, not the split); the same batches give the same numbers "
        "in one process or under torchrun --nproc-per-node=N, where the batches are dealt to the processes",
    )
    p.add_argument(
        "--amp",
        default="auto",
        choices=["auto", "bf16", "off"],
        help="bf16 autocast for classifying and reconstructing (auto: on CUDA only); the features of retrieval, "
        "KID and the Frechet distance are always float32. evaluate.json records it",
    )
    add_classifier_override(p)
    p.add_argument(
        "--evaluator",
        action="append",
        required=True,
        help="an independent classifier (other architecture, seed and data), e.g. a run dir (repeatable)",
    )
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--samples", type=int, default=4, help="noise draws per image for diversity")
    p.add_argument(
        "--extractor",
        action="append",
        help="another classifier spec whose features give an extra Frechet distance (repeatable)",
    )
    p.add_argument("--inception-weights", help="local FID Inception weights file (never downloaded); needs [fid]")


def _register_analyze(add: AddCommand) -> None:
    p = add(
        "analyze",
        cmd_analyze,
        "run the paper's experiments on inverters side by side (figures + metrics JSON)",
        "unlogit analyze logit-shift --inverter runs/inv-rob --inverter runs/inv-std --dataset shapes",
    )
    p.add_argument(
        "experiment",
        nargs="+",
        help=", ".join(ANALYZE_EXPERIMENTS) + ", or all",
    )
    p.add_argument("--inverter", action="append", required=True, help="inverter run directory (repeatable)")
    add_measure_options(p, "analyze", n_default=16)
    p.add_argument(
        "--device",
        default="cpu",
        help="where the inverters and the judge run: cpu (the default: the experiments are small, and not yet "
        "verified on a GPU), auto, cuda:N",
    )
    add_classifier_override(p)
    p.add_argument("--pool", type=int, default=1000, help="test images searched (misclassified, factors)")
    p.add_argument(
        "--draws", type=int, help="draw-mean: the most noise draws averaged per image (K = 1, 2, 4, ...; default 16)"
    )
    p.add_argument(
        "--train-sample",
        type=int,
        help="training images used as prior knowledge (leakage priors, logit units, the ceiling's probe); "
        "default 2,000, the sample that sets logit units everywhere (unlogit.inversion.edits.UNIT_IMAGES)",
    )
    p.add_argument(
        "--evaluator",
        action="append",
        help="independent classifier that judges reconstructions (repeatable; analyze uses the first): " + SPEC_FORMS,
    )
    p.add_argument("--ood-dataset", help="another dataset for the ood experiment (converted to the image shape)")


def _register_report(add: AddCommand) -> None:
    p = add(
        "report",
        cmd_report,
        "one self-contained HTML page from runs, studies, analyses and evaluations",
        "unlogit report runs/demo -o runs/demo/report",
    )
    p.add_argument("inputs", nargs="+", help="run directories or folders that contain them")
    p.add_argument("-o", "--out", required=True, help="output folder (index.html is written there)")
    p.add_argument("--title", default="unlogit report")
