"""``unlogit datasets`` and ``unlogit models``."""

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


def register(add: AddCommand) -> None:
    add("datasets", cmd_datasets, "list the dataset registry", "unlogit datasets")
    p = add(
        "models",
        cmd_models,
        "list the shipped classifiers (unlogit:NAME) with accuracy, recipe, size and digest",
        "unlogit models",
    )
    p.add_argument("--json", action="store_true", help="print the manifest entries as JSON")
