"""``unlogit study`` and ``unlogit demo``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .options import AddCommand


def cmd_study(args: argparse.Namespace) -> int:
    from ..study import default_study_dir, load_study, run_study

    cfg = load_study(args.config)
    out = Path(args.out) if args.out else default_study_dir(cfg.name)
    start = time.perf_counter()
    summary = run_study(cfg, out, list(args.overrides))
    print(f"\n{summary['table']}\n")
    print(f"study {cfg.name} finished in {(time.perf_counter() - start) / 60:.1f} min")
    print(f"figure: {summary['figure']}\nsummary: {out / 'summary.md'} and {out / 'summary.json'}")
    runs = " ".join(f"--inverter {out / 'inverters' / name}" for name in cfg.inverters)
    print(f"explore in a browser (pip install -e '.[serve]'): unlogit serve {runs}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    args.config = "demo"
    args.out = args.out or "runs/demo"
    return cmd_study(args)


def register(add: AddCommand) -> None:
    p = add(
        "study",
        cmd_study,
        "run a whole study as resumable stages (classifiers, inverters, comparison)",
        "unlogit study configs/study/demo.yaml --out runs/my-study",
    )
    p.add_argument("config", help="study name (configs/study/NAME.yaml) or a YAML path")
    p.add_argument("--out", help="study folder (default runs/study-NAME); rerun to resume")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides applied to every stage")

    p = add(
        "demo",
        cmd_demo,
        "the embedded-default study on shapes: standard vs robust classifier, an inverter "
        "for each (about 10 minutes on 2 CPU cores)",
        "unlogit demo",
    )
    p.add_argument("--out", help="folder (default runs/demo); rerun to resume")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides applied to every stage")
