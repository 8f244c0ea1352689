"""Option helpers shared by the subcommands (argparse only: importing this module loads no torch)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..errors import UnlogitError

Handler = Callable[[argparse.Namespace], int]

# What a classifier spec may be (kept equal to unlogit.classifiers.registry.spec_forms() by a test; written
# out here so that --help needs no torch).
SPEC_FORMS = (
    "unlogit:NAME, a run directory, onnx:PATH, timm:NAME?weights=FILE, robustbench:NAME, "
    "torchvision:NAME (or a bare torchvision name), torchscript:PATH, export:PATH or PATH.pt2, "
    "pkg.module:factory@weights.pt"
)

# The analyze experiments (kept equal to unlogit.analysis.EXPERIMENTS by a test; written out for the same reason).
ANALYZE_EXPERIMENTS = (
    "reconstruct",
    "noise",
    "logit-shift",
    "logit-scale",
    "logit-perturb",
    "logit-interpolate",
    "misclassified",
    "adversarial",
    "transforms",
    "ood",
    "leakage",
    "factors",
    "ceiling",
    "draw-mean",
)


def deprecated_positional(args: argparse.Namespace, positional: str, flag: str, append: bool = False) -> None:
    """Move an old positional argument to its flag (one style: ``--classifier``, ``--inverter``), with a note."""
    old = getattr(args, positional, None)
    if not old:
        return
    print(
        f"note: give {'each ' if append else ''}{positional.rstrip('s')} as {flag} (the positional form is "
        "deprecated and will be removed)",
        file=sys.stderr,
    )
    dest = flag.lstrip("-").replace("-", "_")
    if append:
        setattr(args, dest, [*(getattr(args, dest) or []), *old])
    elif getattr(args, dest, None) is None:
        setattr(args, dest, old)


class AddCommand(Protocol):
    """``add(name, handler, help, example) -> parser``: how a command module registers a subcommand."""

    def __call__(self, name: str, handler: Handler, help_: str, example: str) -> argparse.ArgumentParser: ...


def add_config_options(p: argparse.ArgumentParser, group: str, default_preset: str) -> None:
    """--preset/--dataset/--data-root/--out/--resume/--device and KEY=VALUE overrides (training commands)."""
    p.add_argument("--preset", default=default_preset, help=f"YAML preset (configs/{group}/NAME.yaml or a path)")
    p.add_argument("--dataset", help="dataset registry name (shapes, fashion-mnist, cifar10, npz:PATH, ...)")
    p.add_argument("--data-root", help="folder searched first for dataset files (also $UNLOGIT_DATA)")
    p.add_argument("--out", help="run directory to create (default runs/<kind>-<dataset>-<preset>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--skip-bad", action="store_true", help="images:PATH data: leave unreadable files out (counted)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides, e.g. train.lr=1e-4")


def add_measure_options(p: argparse.ArgumentParser, kind: str, n_default: int) -> None:
    """Data, sample count, shared noise seed and output folder of the measuring commands."""
    p.add_argument("--dataset", required=True, help="dataset registry name (its test split by default)")
    p.add_argument("--data-root", help="folder searched first for dataset files")
    p.add_argument(
        "--images",
        "--n",
        dest="n",
        type=int,
        default=n_default,
        help="number of images (under torchrun write --images: torchrun takes --n for its own options)",
    )
    p.add_argument("--seed", type=int, default=0, help="noise seed shared by every inverter")
    p.add_argument("--out", help=f"output folder (default runs/{kind}-<dataset>-<time>)")


def add_classifier_override(p: argparse.ArgumentParser) -> None:
    """``--classifier SPEC``: the classifier every inverter uses instead of the one its run records (e.g. a
    factory spec, which a run directory may not name, or the same weights moved elsewhere)."""
    p.add_argument(
        "--classifier", help="classifier spec for every inverter, instead of the one each run records: " + SPEC_FORMS
    )


def config_extra(args: argparse.Namespace) -> dict[str, Any]:
    """The config sections that --dataset, --data-root and --device set."""
    extra: dict[str, Any] = {}
    if args.dataset:
        extra.setdefault("data", {})["name"] = args.dataset
    if args.data_root:
        extra.setdefault("data", {})["root"] = args.data_root
    if getattr(args, "device", None):
        extra.setdefault("train", {})["device"] = args.device
    if getattr(args, "skip_bad", False):
        extra.setdefault("data", {})["skip_bad"] = True
    return extra


def run_dir_for(args: argparse.Namespace, kind: str, dataset: str, preset: str) -> Path:
    """--out, or a fresh ``runs/<kind>-<dataset>-<preset>-<time>`` (resuming needs --out)."""
    from ..runtime.rundir import default_run_dir

    if args.out:
        return Path(args.out)
    if args.resume:
        raise UnlogitError("--resume needs --out RUN_DIR (the run to continue)")
    return default_run_dir(kind, dataset, Path(preset).stem)


def output_dir(args: argparse.Namespace, kind: str, dataset: str) -> Path:
    """--out, or a fresh ``runs/<kind>-<dataset>-<time>`` (measuring commands)."""
    from ..runtime.rundir import default_run_dir

    return Path(args.out) if args.out else default_run_dir(kind, dataset)
