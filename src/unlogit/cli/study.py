"""``unlogit study`` and ``unlogit demo``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .options import AddCommand


def cmd_study(args: argparse.Namespace, header: str | None = None) -> int:
    from ..study.runner import default_study_dir, load_study, run_study

    cfg = load_study(args.config)
    out = Path(args.out) if args.out else default_study_dir(cfg.name)
    if getattr(args, "data_root", None):
        cfg.data["root"] = args.data_root
    start = time.perf_counter()
    summary = run_study(cfg, out, list(args.overrides), from_scratch=getattr(args, "from_scratch", False),
                        header=header)  # fmt: skip
    print(f"\n{summary['table']}\n")
    print(f"study {cfg.name} finished in {(time.perf_counter() - start) / 60:.1f} min")
    print(f"figure: {summary['figure']}\nsummary: {out / 'summary.md'} and {out / 'summary.json'}")
    if summary.get("claim"):
        print(f"claim ({summary['claim']['statement']}): {summary['claim']['verdict']}; see {out / 'claim.json'}")
    if summary.get("report"):
        print(f"report: {summary['report']}")
    runs = " ".join(f"--inverter {out / 'inverters' / name}" for name in cfg.inverters)
    print(f"explore in a browser (pip install -e '.[serve]'): unlogit serve {runs}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..study.demo import choose_demo

    choice = choose_demo(args.data_root, args.download)
    args.config = choice.study
    args.out = args.out or "runs/demo"
    return cmd_study(args, header=choice.header)


def register(add: AddCommand) -> None:
    p = add(
        "study",
        cmd_study,
        "run a whole study as resumable stages (classifiers, inverters, comparison)",
        "unlogit study configs/study/demo.yaml --out runs/my-study",
    )
    p.add_argument("config", help="study name (configs/study/NAME.yaml) or a YAML path")
    p.add_argument("--out", help="study folder (default runs/study-NAME); rerun to resume")
    p.add_argument("--data-root", help="folder searched first for dataset files (also $UNLOGIT_DATA)")
    p.add_argument("--from-scratch", action="store_true", help="train classifier stages that name shipped weights")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides applied to every stage")

    p = add(
        "demo",
        cmd_demo,
        "standard vs robust classifier on CIFAR-10 (shapes when it is not found): an inverter for each, "
        "the protocol's verdict and the report (about 12 minutes on 2 CPU cores)",
        "UNLOGIT_DATA=../shared/data unlogit demo",
    )
    p.add_argument("--out", help="folder (default runs/demo); rerun to resume")
    p.add_argument("--data-root", help="folder searched first for CIFAR-10 (also $UNLOGIT_DATA)")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 with torchvision (163 MB)")
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="train the demo's classifiers instead of using the shipped project weights",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides applied to every stage")
