"""``unlogit study`` and ``unlogit demo``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .options import AddCommand

OVERRIDES_HELP = (
    "overrides: study keys (seeds=1, claim.noise_draws=2), stage keys (inverters.robust.steps=500, "
    "inverters.*.train.lr_g=1e-3, classifiers.*.train.epochs=1) or keys for every stage "
    "(train.threads=2); all are checked before anything runs"
)


def cmd_study(args: argparse.Namespace, header: str | None = None) -> int:
    from ..report.page import build_report
    from ..runtime.rundir import StudyLayout
    from ..study.config import open_study
    from ..study.runner import default_study_dir, run_study

    study = open_study(args.config, args.overrides, getattr(args, "smoke", False), getattr(args, "data_root", None))
    cfg = study.cfg
    out = Path(args.out) if args.out else default_study_dir(cfg.name)
    layout = StudyLayout(out)
    if getattr(args, "list_runs", False):
        from ..study.stages import plan_study, run_label

        for run in plan_study(
            cfg, out, study.every, getattr(args, "from_scratch", False), getattr(args, "trust_code", False)
        ).runs():
            print(run_label(run))
        return 0
    start = time.perf_counter()
    if getattr(args, "launcher", None) == "submitit":
        summary = _launch(args, out)
    else:
        summary = run_study(
            cfg,
            out,
            study.every,
            from_scratch=getattr(args, "from_scratch", False),
            header=header,
            source=study.source,
            trust_code=getattr(args, "trust_code", False),
            reporter=build_report,
            only=getattr(args, "only", None),
            device=getattr(args, "device", None) or "auto",
            score_batch=_score_batch(args),
        )
    if "follower" in summary:  # another rank of a torchrun job: rank 0 prints and writes
        return 0
    if "only" in summary:
        print(f"trained {', '.join(summary['only'])}; run the study without --only to decide the claim")
        return 0
    print(f"\n{summary['table']}\n")
    print(f"study {cfg.name} finished in {(time.perf_counter() - start) / 60:.1f} min")
    print(f"figure: {out / summary['figure']}\nsummary: {layout.summary_md} and {layout.summary}")
    if summary.get("claim"):
        c = summary["claim"]
        print(f"claim ({c['statement']}), primary endpoint {c['primary']}: {c['verdict']}; see {layout.claim}")
        if c.get("reference"):
            print(f"against the reference decoder: {c['reference']}")
    if summary.get("report"):
        print(f"report: {out / summary['report']}")
    runs = " ".join(f"--inverter {layout.inverter(name)}" for name in cfg.inverters)
    print(f"explore in a browser (pip install -e '.[serve]'): unlogit serve {runs}")
    return _verdict_status(summary.get("claim"))


def _score_batch(args: argparse.Namespace) -> int:
    """``--batch-size`` as given (a bad value is refused where it is used, naming the flag), else the default."""
    from ..scoring.stream import SCORE_BATCH

    given = getattr(args, "batch_size", None)
    return SCORE_BATCH if given is None else given


def _launch(args: argparse.Namespace, out: Path) -> dict:
    """The study as scheduler jobs (:mod:`unlogit.study.launcher`): one per run, then the decision."""
    from ..errors import UnlogitError
    from ..report.page import build_report
    from ..study.launcher import LauncherConfig, StudyCall, launch_study

    if getattr(args, "only", None):
        raise UnlogitError("--launcher submits every run itself; give either --launcher or --only, not both")
    call = StudyCall(
        str(args.config),
        str(out),
        tuple(args.overrides),
        getattr(args, "smoke", False),
        getattr(args, "data_root", None),
        getattr(args, "from_scratch", False),
        getattr(args, "trust_code", False),
        getattr(args, "device", None) or "auto",
        _score_batch(args),
        build_report,
    )
    launcher = LauncherConfig(
        cluster=args.cluster,
        folder=args.launcher_folder,
        gpus_per_job=args.gpus_per_job,
        cpus_per_task=args.cpus_per_task,
        mem_gb=args.mem_gb,
        timeout_min=args.timeout_min,
        partition=args.partition,
    )
    return launch_study(call, launcher)


NOT_COMPARABLE_EXIT = 3  # the study finished, but its arms did not train alike: no verdict was given


def _verdict_status(claim: dict | None) -> int:
    """0, or :data:`NOT_COMPARABLE_EXIT` with the reason and the fix when the arms did not train alike."""
    import sys

    from ..study.arms import NOT_COMPARABLE

    if not claim or claim.get("verdict") != NOT_COMPARABLE:
        return 0
    reasons = "; ".join(r.removeprefix(f"{NOT_COMPARABLE}: ") for r in claim.get("excluded", []))
    print(
        f"unlogit: no verdict: the arms did not train alike ({reasons}). Give every inverter the same G steps: "
        "rerun into a new --out without max_minutes (steps decide, however long they take)",
        file=sys.stderr,
    )
    return NOT_COMPARABLE_EXIT


def cmd_demo(args: argparse.Namespace) -> int:
    from ..study.demo import choose_demo

    if args.download:
        print(
            "note: --download is the default now (the demo downloads CIFAR-10 when it is not found); "
            "the flag will be removed",
            flush=True,
        )
    choice = choose_demo(args.data_root, offline=args.offline)
    args.config = choice.study
    args.out = args.out or "runs/demo"
    return cmd_study(args, header=choice.header)


def register(add: AddCommand) -> None:
    p = add(
        "study",
        cmd_study,
        "run a whole study as resumable stages (classifiers, inverters, the claim, findings, report)",
        "unlogit study demo --smoke --out runs/smoke      # every stage, in about a minute\n"
        "  unlogit study cifar10-replication inverters.*.steps=500 --out runs/rep",
    )
    p.add_argument("config", help="study name (configs/study/NAME.yaml) or a YAML path")
    p.add_argument("--out", help="study folder (default runs/study-NAME); rerun to resume")
    p.add_argument("--data-root", help="folder searched first for dataset files (also $UNLOGIT_DATA)")
    p.add_argument("--from-scratch", action="store_true", help="train classifier stages that name shipped weights")
    p.add_argument("--smoke", action="store_true", help="shrink every stage: the whole study in about a minute")
    p.add_argument(
        "--trust-code",
        action="store_true",
        help="let the study file name code-carrying classifiers (TorchScript, torch.export, factories)",
    )
    p.add_argument("--list-runs", action="store_true", help="print the study's runs (for --only) and exit")
    p.add_argument(
        "--device",
        default="auto",
        help="where the stages after training score (inverters, classifiers, judges): auto (CUDA when present), "
        "cpu, cuda:N; training stages follow their own train.device",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="images of the claim and the findings scored at a time (default 256; memory is one batch); the same "
        "batches give the same values in one process or under torchrun, where they are dealt to the processes",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="RUN",
        help="train just this run (repeatable; names from --list-runs): one job per machine",
    )
    _add_launcher_options(p)
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=OVERRIDES_HELP)

    p = add(
        "demo",
        cmd_demo,
        "standard vs robust classifier on CIFAR-10 (downloaded when missing; shapes when offline): an inverter for "
        "each, the protocol's verdict, the findings and the report (about 10 minutes on 2 CPU cores)",
        "unlogit demo     # or: UNLOGIT_DATA=../shared/data unlogit demo",
    )
    p.add_argument("--out", help="folder (default runs/demo); rerun to resume")
    p.add_argument("--data-root", help="folder searched first for CIFAR-10 (also $UNLOGIT_DATA)")
    p.add_argument("--offline", action="store_true", help="never download: without CIFAR-10, run the shapes study")
    p.add_argument("--download", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="train the demo's classifiers instead of using the shipped project weights",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=OVERRIDES_HELP)


def _add_launcher_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "cluster", "--launcher submitit: one scheduler job per run (SLURM via submitit), then one job that decides"
    )
    g.add_argument("--launcher", choices=["submitit"], help="submit the runs as jobs instead of running them here")
    g.add_argument(
        "--cluster",
        choices=["slurm", "local", "debug"],
        help="submitit's executor (default: SLURM when sbatch is on the PATH, else local processes)",
    )
    g.add_argument("--launcher-folder", help="job files and logs (default OUT/submitit)")
    g.add_argument(
        "--gpus-per-job",
        type=int,
        default=1,
        help="GPUs per inverter run (more than 1: that many DDP ranks); classifier runs and the decision use one",
    )
    g.add_argument("--cpus-per-task", type=int, default=8)
    g.add_argument("--mem-gb", type=int)
    g.add_argument("--timeout-min", type=int, default=240, help="a job's time limit; it is requeued and resumes")
    g.add_argument("--partition", help="the SLURM partition")
