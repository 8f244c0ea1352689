"""``unlogit train-classifier`` and ``unlogit eval-classifier``."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import UnlogitError
from .options import SPEC_FORMS, AddCommand, add_config_options, config_extra, deprecated_positional, run_dir_for


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from ..classifiers.config import ClassifierRunConfig
    from ..classifiers.training import train_classifier
    from ..config import build_config

    cfg = build_config(ClassifierRunConfig, "classifier", args.preset, args.overrides, config_extra(args))
    out = run_dir_for(args, "clf", cfg.data.name, args.preset)
    print(f"training classifier -> {out}", flush=True)
    summary = train_classifier(cfg, out, resume=args.resume)
    print(
        f"done: clean accuracy {summary['clean_acc']:.1%}, PGD accuracy {summary['robust_acc']:.1%} "
        f"({summary['robust_attack']['norm']} eps={summary['robust_attack']['eps']:.4g}); run: {out}"
    )
    return 0


def cmd_eval_classifier(args: argparse.Namespace) -> int:
    from ..classifiers.evaluation import evaluate_classifier
    from ..data.config import DataConfig
    from ..runtime.device import configure_cpu, resolve_device

    deprecated_positional(args, "spec", "--classifier")
    if not args.classifier:
        raise UnlogitError("give the classifier to evaluate: --classifier SPEC (" + SPEC_FORMS + ")")
    for name in ("n", "n_robust"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise UnlogitError(
                f"--{name.replace('_', '-')} must be a positive number of images, got {getattr(args, name)}"
            )
    configure_cpu()
    device = resolve_device(args.device or "auto")
    if args.download:
        print("note: --download is deprecated; use data.download=true", file=sys.stderr)
    data = DataConfig(name=args.dataset, root=args.data_root, test_size=args.n, download=args.download).load(args.split)
    result = evaluate_classifier(
        args.classifier, data, args.attack, args.n, args.n_robust, device, show_progress=not args.json
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if result.get("labels_apply") is False:
        print(f"accuracy: n/a (the classifier's classes are not {data.name}'s: {result['why']})")
        return 0
    print(f"clean accuracy: {result['clean']['accuracy']:.2%} on {result['clean']['n']} images")
    if "robust" in result:
        r = result["robust"]
        print(f"robust accuracy: {r['accuracy']:.2%} on {r['n']} images under {r['attack']}")
    return 0


def register(add: AddCommand) -> None:
    p = add(
        "train-classifier",
        cmd_train_classifier,
        "train a classifier (standard or PGD adversarial)",
        "unlogit train-classifier --dataset shapes --preset tiny-robust --out runs/clf-robust train.epochs=3",
    )
    add_config_options(p, "classifier", "tiny")

    p = add(
        "eval-classifier",
        cmd_eval_classifier,
        "clean and PGD-robust accuracy of any classifier spec",
        "unlogit eval-classifier --classifier runs/clf-robust --dataset shapes --attack pgd-linf:8/255 --n 1000",
    )
    p.add_argument("spec", nargs="?", help=argparse.SUPPRESS)  # the old positional form (deprecated)
    p.add_argument("--classifier", help="the classifier: " + SPEC_FORMS)
    p.add_argument("--dataset", required=True, help="dataset registry name")
    p.add_argument("--data-root", help="folder searched first for dataset files")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--n", type=int, default=None, help="evaluate the first N images (default all)")
    p.add_argument("--n-robust", type=int, default=None, help="images for the attack (default --n)")
    p.add_argument("--attack", help="pgd-linf:EPS[:STEPS] or pgd-l2:EPS[:STEPS], e.g. pgd-linf:8/255")
    p.add_argument("--device", help="auto, cpu, cuda ...")
    p.add_argument("--download", action="store_true", help=argparse.SUPPRESS)  # deprecated: data.download=true
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
