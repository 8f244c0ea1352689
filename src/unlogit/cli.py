"""The ``unlogit`` command line: one console script, one subcommand per job.

The CLI only parses arguments and calls the library. Errors the user can fix
(:class:`~unlogit.errors.UnlogitError`) are printed without a traceback and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import UnlogitError

Handler = Callable[[argparse.Namespace], int]


def _add_common_config(p: argparse.ArgumentParser, group: str, default_preset: str) -> None:
    p.add_argument("--preset", default=default_preset, help=f"YAML preset (configs/{group}/NAME.yaml or a path)")
    p.add_argument("--dataset", help="dataset registry name (shapes, fashion-mnist, cifar10, npz:PATH, ...)")
    p.add_argument("--data-root", help="folder searched first for dataset files (also $UNLOGIT_DATA)")
    p.add_argument("--out", help="run directory to create (default runs/<kind>-<dataset>-<preset>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides, e.g. train.lr=1e-4")


def _data_extra(args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if args.dataset:
        extra.setdefault("data", {})["name"] = args.dataset
    if args.data_root:
        extra.setdefault("data", {})["root"] = args.data_root
    if getattr(args, "device", None):
        extra.setdefault("train", {})["device"] = args.device
    return extra


def _run_dir(args: argparse.Namespace, kind: str, dataset: str, preset: str) -> Path:
    from .runtime.rundir import default_run_dir

    if args.out:
        return Path(args.out)
    if args.resume:
        raise UnlogitError("--resume needs --out RUN_DIR (the run to continue)")
    return default_run_dir(kind, dataset, Path(preset).stem)


# --- train-classifier -----------------------------------------------------------------------------
def cmd_train_classifier(args: argparse.Namespace) -> int:
    from .classifiers.config import ClassifierRunConfig
    from .classifiers.training import train_classifier
    from .config import build_config

    cfg = build_config(ClassifierRunConfig, "classifier", args.preset, args.overrides, _data_extra(args))
    out = _run_dir(args, "clf", cfg.data.name, args.preset)
    print(f"training classifier -> {out}", flush=True)
    summary = train_classifier(cfg, out, resume=args.resume)
    print(
        f"done: clean accuracy {summary['clean_acc']:.1%}, PGD accuracy {summary['robust_acc']:.1%} "
        f"({summary['robust_attack']['norm']} eps={summary['robust_attack']['eps']:.4g}); run: {out}"
    )
    return 0


# --- eval-classifier ------------------------------------------------------------------------------
def cmd_eval_classifier(args: argparse.Namespace) -> int:
    from .attacks import parse_attack
    from .classifiers.evaluation import accuracy
    from .classifiers.registry import load_classifier
    from .data.config import DataConfig
    from .runtime.device import configure_cpu, resolve_device

    configure_cpu()
    device = resolve_device(args.device or "auto")
    data = DataConfig(name=args.dataset, root=args.data_root, test_size=args.n, download=args.download)
    ds = data.load(args.split)
    clf = load_classifier(args.classifier, device=device, classes=ds.classes)
    if clf.num_classes != ds.num_classes:
        raise UnlogitError(
            f"classifier {args.classifier} has {clf.num_classes} outputs but dataset {args.dataset} has "
            f"{ds.num_classes} classes; evaluate it on the data it was trained for"
        )
    result: dict[str, Any] = {"classifier": args.classifier, "dataset": args.dataset, "split": args.split}
    result["clean"] = accuracy(clf, ds, n=args.n, device=device, show_progress=not args.json)
    if args.attack:
        atk = parse_attack(args.attack)
        result["robust"] = accuracy(clf, ds, atk.build(clf), n=args.n_robust or args.n, device=device,
                                    show_progress=not args.json)  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"clean accuracy: {result['clean']['accuracy']:.2%} on {result['clean']['n']} images")
        if "robust" in result:
            print(f"robust accuracy: {result['robust']['accuracy']:.2%} on {result['robust']['n']} images "
                  f"under {result['robust']['attack']}")  # fmt: skip
    return 0


# --- evaluate -------------------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data.config import DataConfig
    from .evaluate import evaluate
    from .runtime.rundir import default_run_dir

    data = DataConfig(name=args.dataset, root=args.data_root, test_size=args.n, train_size=args.n).load(args.split)
    data = data.subset(min(args.n, len(data)))
    out = Path(args.out) if args.out else default_run_dir("evaluate", args.dataset)
    result = evaluate(args.runs, data, args.evaluator, seed=args.seed, samples=args.samples, out=out,
                      extractor_specs=args.extractor or (), inception_weights=args.inception_weights)  # fmt: skip
    print(result["table"])
    print(f"\n{len(data)} {args.split} images of {args.dataset}, evaluator {args.evaluator}, seed {args.seed}. "
          f"Wrote {out / 'evaluate.json'} (with per-class numbers), evaluate.csv, evaluate.md")  # fmt: skip
    return 0


# --- analyze --------------------------------------------------------------------------------------
def cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import run_experiment
    from .runtime.rundir import default_run_dir

    out = Path(args.out) if args.out else default_run_dir("analyze", args.dataset)
    names = list(args.experiment)
    if names == ["all"]:
        from .analysis import EXPERIMENTS

        skip = {"ood"} if not args.ood_dataset else set()
        names = [n for n in EXPERIMENTS if n not in skip]
    for name in names:
        result = run_experiment(name, args.inverter, args.dataset, out, n=args.n, seed=args.seed,
                                data_root=args.data_root, pool=args.pool, evaluator=args.evaluator,
                                ood_dataset=args.ood_dataset)  # fmt: skip
        print(f"{name}: wrote {out / name} ({', '.join(result.figures)}, metrics.json)")
    return 0


# --- report ---------------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report

    path = build_report(args.inputs, args.out, title=args.title)
    print(f"wrote {path} (self-contained: open it in a browser)")
    return 0


# --- datasets -------------------------------------------------------------------------------------
def cmd_datasets(args: argparse.Namespace) -> int:
    from .data.registry import list_datasets

    for name, summary in list_datasets().items():
        print(f"{name:18s} {summary}")
    return 0


def _add_measure_args(p: argparse.ArgumentParser, kind: str, n_default: int) -> None:
    """Data, sample count, shared noise seed and output folder of the measuring commands."""
    p.add_argument("--dataset", required=True, help="dataset registry name (its test split by default)")
    p.add_argument("--data-root", help="folder searched first for dataset files")
    p.add_argument("--n", type=int, default=n_default, help="number of images")
    p.add_argument("--seed", type=int, default=0, help="noise seed shared by every inverter")
    p.add_argument("--out", help=f"output folder (default runs/{kind}-<dataset>-<time>)")


# --- parser ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unlogit",
        description="Reconstruct images from a frozen classifier's logits and measure what the logits keep.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Start with `unlogit demo`. Each subcommand has --help with an example.",
    )
    parser.add_argument("--version", action="version", version=f"unlogit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, handler: Handler, help_: str, example: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=help_, description=help_, epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip
        p.set_defaults(handler=handler)
        return p

    p = add(
        "train-classifier",
        cmd_train_classifier,
        "train a classifier (standard or PGD adversarial)",
        "unlogit train-classifier --dataset shapes --preset tiny-robust --out runs/clf-robust train.epochs=3",
    )
    _add_common_config(p, "classifier", "tiny")

    p = add(
        "eval-classifier",
        cmd_eval_classifier,
        "clean and PGD-robust accuracy of any classifier spec",
        "unlogit eval-classifier runs/clf-robust --dataset shapes --attack pgd-linf:8/255 --n 1000",
    )
    p.add_argument("classifier", help="run dir, torchvision name, torchscript:PATH, PATH.pt2, pkg.mod:factory@w.pt")
    p.add_argument("--dataset", required=True, help="dataset registry name")
    p.add_argument("--data-root", help="folder searched first for dataset files")
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--n", type=int, default=None, help="evaluate the first N images (default all)")
    p.add_argument("--n-robust", type=int, default=None, help="images for the attack (default --n)")
    p.add_argument("--attack", help="pgd-linf:EPS[:STEPS] or pgd-l2:EPS[:STEPS], e.g. pgd-linf:8/255")
    p.add_argument("--device", help="auto, cpu, cuda ...")
    p.add_argument("--download", action="store_true", help="allow torchvision to download the dataset")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = add(
        "evaluate",
        cmd_evaluate,
        "measure inverters on the same images with the same noise (one table)",
        "unlogit evaluate runs/inv-rob runs/inv-std runs/inv-pixel --dataset shapes --evaluator runs/clf-eval",
    )
    p.add_argument("runs", nargs="+", help="inverter run directories")
    _add_measure_args(p, "evaluate", n_default=1000)
    p.add_argument(
        "--evaluator",
        required=True,
        help="an independent classifier (other architecture/seed, same data), e.g. a run dir",
    )
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--samples", type=int, default=4, help="noise draws per image for diversity")
    p.add_argument(
        "--extractor",
        action="append",
        help="another classifier spec whose features give an extra Frechet distance (repeatable)",
    )
    p.add_argument("--inception-weights", help="local FID Inception weights file (never downloaded); needs [fid]")

    p = add(
        "analyze",
        cmd_analyze,
        "run the paper's experiments on inverters side by side (figures + metrics JSON)",
        "unlogit analyze logit-shift --inverter runs/inv-rob --inverter runs/inv-std --dataset shapes",
    )
    p.add_argument(
        "experiment",
        nargs="+",
        help="reconstruct, noise, misclassified, adversarial, logit-shift, logit-scale, logit-perturb, "
        "logit-interpolate, transforms, ood, leakage, factors (shapes), or all",
    )
    p.add_argument("--inverter", action="append", required=True, help="inverter run directory (repeatable)")
    _add_measure_args(p, "analyze", n_default=16)
    p.add_argument("--pool", type=int, default=1000, help="test images searched (misclassified, factors)")
    p.add_argument("--evaluator", help="independent classifier that judges reconstructions (run dir or spec)")
    p.add_argument("--ood-dataset", help="another dataset for the ood experiment (converted to the image shape)")

    p = add(
        "report",
        cmd_report,
        "one self-contained HTML page from runs, studies, analyses and evaluations",
        "unlogit report runs/demo -o runs/demo/report",
    )
    p.add_argument("inputs", nargs="+", help="run directories or folders that contain them")
    p.add_argument("-o", "--out", required=True, help="output folder (index.html is written there)")
    p.add_argument("--title", default="unlogit report")

    add("datasets", cmd_datasets, "list the dataset registry", "unlogit datasets")

    from .inversion.cli import register as register_inversion
    from .serve.cli import register as register_serve
    from .study_cli import register as register_study

    register_inversion(add)
    register_study(add)
    register_serve(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unlogit`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse takes one run of positionals: KEY=VALUE overrides after an option (``--out RUN
    # train.lr=1e-4``) arrive here and are still overrides; anything else is an error.
    if extra and hasattr(args, "overrides") and all("=" in tok and not tok.startswith("-") for tok in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.handler(args) or 0)
    except UnlogitError as exc:
        print(f"unlogit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("unlogit: interrupted; resume with --resume --out RUN_DIR", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
