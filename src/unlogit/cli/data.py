"""``unlogit datasets``, ``unlogit models`` and ``unlogit prepare-data``."""

from __future__ import annotations

import argparse

from .options import AddCommand


def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data.registry import list_datasets

    for name, summary in list_datasets().items():
        print(f"{name:18s} {summary}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    import json

    from ..classifiers.runs import shipped_classifiers

    models = shipped_classifiers()
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    width = max([len(f"unlogit:{name}") for name in models] + [4])
    print(f"{'name':{width}s} {'val':>6s} {'test':>6s} {'robust':>7s} {'size':>8s}  sha256        what")
    for name, m in models.items():
        s = m.get("summary", {})
        robust = f"{s['robust_acc']:.1%}" if s.get("adversarial_training") else "-"
        print(
            f"{'unlogit:' + name:{width}s} {s.get('val_acc', 0):6.1%} {s.get('clean_acc', 0):6.1%} {robust:>7s} "
            f"{m.get('bytes', 0) / 1024:6.0f}KB  {m['sha256'][:12]}  {m.get('what', '')}"
        )
    print("\nmodel cards: unlogit/weights/NAME/MODEL_CARD.md (intended use, data, recipe, accuracy with CI, limits)")
    return 0


def cmd_prepare_data(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data.prepare import PrepareOptions, prepare_data
    from ..data.prepared import prepared_files, verify_prepared
    from ..errors import UnlogitError

    if args.verify:
        manifest = verify_prepared(Path(args.verify))
        files = len(prepared_files(manifest))
        print(f"{args.verify}: the {files} files match the SHA-256 recorded when the folder was prepared")
        return 0
    missing = [f"--{k}" for k in ("dataset", "size", "out") if getattr(args, k) is None]
    if missing:
        raise UnlogitError(f"prepare-data needs {', '.join(missing)} (or --verify DIR to check a prepared folder)")
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    options = PrepareOptions(args.dataset, args.size, splits, args.skip_bad, args.data_root)
    manifest = prepare_data(options, args.out, workers=args.workers, logits=_logit_writers(args))
    for split, entry in manifest["splits"].items():
        skipped = f", {len(entry['skipped'])} unreadable left out" if entry["skipped"] else ""
        size = entry["images"]["bytes"] / 1024**2
        print(f"{split}: {entry['n']} images {'x'.join(map(str, entry['shape'][1:]))} ({size:,.1f} MB){skipped}")
    for entry in manifest.get("logits", {}).values():
        size = sum(f["bytes"] for f in entry["splits"].values()) / 1024**2
        print(f"logits of {entry['spec']}: {entry['size']}-px {entry['origin']} images ({size:,.1f} MB)")
    print(f"prepared {len(manifest['classes'])} classes into {args.out}; use it as --dataset prepared:{args.out}")
    return 0


def _logit_writers(args: argparse.Namespace):
    """The classifiers of ``--logits``, loaded once on ``--device``, each to be run on every image."""
    from ..classifiers.stored import ClassifierLogits
    from ..config import check_at_most, check_positive
    from ..data.stored_logits import LogitWriters
    from ..runtime.device import resolve_device

    if args.logit_size is not None:
        check_positive(args.logit_size, "--logit-size")
        check_at_most(args.logit_size, "--logit-size", 1024)
    device = resolve_device(args.device)
    seen = args.logit_size or args.size
    models = [ClassifierLogits(spec, seen, device) for spec in args.logits]
    return LogitWriters(models, args.logit_size, args.logit_dtype)


def register(add: AddCommand) -> None:
    add("datasets", cmd_datasets, "list the dataset registry", "unlogit datasets")
    p = add(
        "models",
        cmd_models,
        "list the shipped classifiers (unlogit:NAME) with accuracy, recipe, size and digest",
        "unlogit models",
    )
    p.add_argument("--json", action="store_true", help="print the manifest entries as JSON")
    p = add(
        "prepare-data",
        cmd_prepare_data,
        "decode a dataset once, in parallel, into memory-mapped arrays (then --dataset prepared:DIR)",
        "unlogit prepare-data --dataset imagefolder:/data/ILSVRC2012 --size 64 --out data/imagenet64 --workers 16",
    )
    p.add_argument("--dataset", help="any dataset spec; ImageNet: imagefolder:DIR with train/ and val/")
    p.add_argument("--size", type=int, help="side of the stored images (center square, resized)")
    p.add_argument("--out", help="the prepared folder (resumed if a run into it was interrupted)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (0: decode in this process)")
    p.add_argument("--splits", default="train,test", help="comma-separated: train, test (ImageNet's val/ is test)")
    p.add_argument("--skip-bad", action="store_true", help="leave unreadable images out (listed) instead of stopping")
    p.add_argument("--data-root", default=None, help="extra folder searched for named datasets")
    p.add_argument("--verify", metavar="DIR", help="instead: read a prepared folder whole and check every SHA-256")
    p.add_argument(
        "--logits",
        action="append",
        default=[],
        metavar="SPEC",
        help="also store this classifier's logits of every image (repeatable; added to a finished folder too)",
    )
    p.add_argument(
        "--logit-size",
        type=int,
        default=None,
        help="classify the center crop of each original image at this size (224: the paper's setting); "
        "default: the stored image",
    )
    p.add_argument("--logit-dtype", default="float16", choices=["float16", "float32"], help="how logits are stored")
    p.add_argument("--device", default="auto", help="where the --logits classifiers run (auto, cpu, cuda, cuda:N)")
