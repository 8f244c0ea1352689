"""``unlogit study``: a whole study as resumable stages (the config is :class:`~unlogit.study.config.StudyConfig`).

Stages: plan every run (all configs built and checked first) -> train classifiers -> train inverters (one
per classifier of a family and seed) -> compare (Figure 1 and a table) -> the claim (both arms on the same
images, the protocol's verdict on the primary endpoint, per-image values saved) -> the findings (reusing the
claim's logits and reconstructions) -> ``analyze`` experiments -> ``evaluate`` (optional) -> the report.
A finished stage is skipped; a half-finished run is resumed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from ..config import to_dict
from ..errors import CheckpointError, UnlogitError
from ..runtime.atomic import write_json_atomic, write_text_atomic
from ..runtime.checkpoint import read_json
from ..runtime.dist import DistInfo, cleanup, init_distributed, local_device
from ..runtime.rundir import EVALUATE_JSON, EXPERIMENT_JSON, RunLayout, StudyLayout
from ..runtime.tables import Column, fixed, markdown, percent
from ..scoring.stream import ONE_BATCH_STREAM, SCORE_BATCH, Shard, Streaming
from .config import StudyConfig, load_study, study_path
from .stages import StudyPlan, check_torchrun_scope, plan_study, run_label, run_plan

__all__ = ["StudyConfig", "compare_inverters", "default_study_dir", "load_study", "run_study"]


def config_provenance(source: Path | None) -> dict[str, Any]:
    """The study config file's SHA-256 and the commit that last changed it (fixed before the run)."""
    if source is None or not Path(source).is_file():
        return {"config_file": None, "config_sha256": None, "config_commit": None}
    path = Path(source).resolve()
    commit = None
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%H", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        commit = out.stdout.strip() or None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if commit and dirty:
            commit += " (the file has uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "config_file": path.name,
        "config_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "config_commit": commit,
    }


def train_only(plan: StudyPlan, only: Sequence[str], timings: dict[str, float]) -> dict[str, Any]:
    """``--only``: train just these runs (:func:`~unlogit.study.stages.run_label`), one job of many."""
    unknown = set(only) - {run_label(r) for r in plan.runs()}
    if unknown:
        raise UnlogitError(f"--only names {sorted(unknown)}, not runs of this study; --list-runs lists them")
    run_plan(plan, timings, set(only))
    return {"only": list(only), "stage_seconds": timings}


class Scorers:
    """The processes that score a study's claim and findings: this one alone, or every rank under torchrun
    (:meth:`join`), where rank 0 runs the study and announces each stage it scores, and the other ranks score
    their share of it (:meth:`follow`) until rank 0 leaves the ``with`` block."""

    def __init__(self, device: torch.device, info: DistInfo | None = None, batch_size: int = SCORE_BATCH) -> None:
        self.info, self.device = info or DistInfo(), device
        self.streaming = Streaming(Shard.of(self.info), batch_size)

    @property
    def is_main(self) -> bool:
        return self.info.is_main

    @classmethod
    def of(cls, plan: StudyPlan, device: str, only: Sequence[str] | None, batch_size: int = SCORE_BATCH) -> Scorers:
        """This process on ``device`` (``auto``: CUDA when present), or, deciding a study under torchrun (no
        ``--only``), every rank of the job (:meth:`join`); ``batch_size`` images scored at a time."""
        from ..runtime.device import resolve_device

        scoring = resolve_device(device)
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and only is None:
            return cls.join(plan, scoring, batch_size)
        return cls(scoring, batch_size=batch_size)

    @classmethod
    def join(cls, plan: StudyPlan, device: torch.device, batch_size: int = SCORE_BATCH) -> Scorers:
        """Every rank of a torchrun job deciding a study: only once every run is trained (training is one
        ``--only`` job per run); the process group on ``device`` (``cuda:LOCAL_RANK`` on GPUs)."""
        unfinished = [run_label(r) for r in plan.runs() if RunLayout(r.run).state() != "done"]
        if unfinished:
            raise UnlogitError(
                f"under torchrun a study decides only once every run is trained; not yet: {unfinished}. Train "
                "each inverter with --only inverters/NAME (under torchrun) and the classifiers in one process"
            )
        info = init_distributed(device)
        return cls(local_device(device, info), info, batch_size)

    def follow(self, cfg: StudyConfig, plan: StudyPlan) -> dict[str, Any]:
        """A rank other than 0: score its share of every stage rank 0 announces, then leave the group."""
        from .claim.stage import claim_images

        try:
            claim_images(cfg, plan, self.device, self.streaming).follow(cfg, plan)
        finally:
            cleanup(self.info)
        return {"follower": self.info.rank}

    def __enter__(self) -> Scorers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.info.enabled:  # rank 0: nothing more to score (also after an error, so no rank waits forever)
            from .claim.stage import end_of_scoring

            end_of_scoring()
            cleanup(self.info)


def run_study(
    cfg: StudyConfig,
    out: Path,
    extra_overrides: Sequence[str] = (),
    from_scratch: bool = False,
    header: str | None = None,
    source: Path | None = None,
    trust_code: bool = False,
    reporter: Callable[..., Path] | None = None,
    only: Sequence[str] | None = None,
    device: str = "auto",
    score_batch: int = SCORE_BATCH,
) -> dict[str, Any]:
    """Run (or continue) every stage of a study into ``out``; returns the summary.

    ``from_scratch`` trains classifier stages that also name existing weights; ``header`` is a line the report
    shows first (e.g. which data the demo found); ``source`` the config file (its hash and commit are
    recorded with the claim); ``trust_code`` lets the study's classifier specs name code-carrying formats;
    ``reporter(roots, out, title)`` writes the report when the config asks for one (the report layer sits above
    this one: :func:`unlogit.run_study` and the CLI pass :func:`unlogit.report.page.build_report`); ``only``
    trains just those runs (:func:`~unlogit.study.stages.run_label`) and stops (independent jobs); ``device``:
    where the stages after training score (``auto``: CUDA when present; values stay on the CPU); ``score_batch``:
    the claim's and the findings' images scored at a time (the same batches give the same values whatever the
    number of processes)."""
    check_torchrun_scope(only, int(os.environ.get("WORLD_SIZE", "1")))
    plan = plan_study(cfg, out, extra_overrides, from_scratch, trust_code)  # everything checked before writing
    scorers = Scorers.of(plan, device, only, score_batch)  # under torchrun: every rank, once every run is trained
    layout = StudyLayout(out)
    settled = settle_study_yaml(layout, cfg)
    if only is not None:
        return train_only(plan, only, {})
    timings = earlier_stage_seconds(layout)  # a rerun skips finished stages: their times are kept, not lost
    if not scorers.is_main:
        return scorers.follow(cfg, plan)
    first = {name: plan.inverter_runs(name)[0][0] for name in plan.inverters}  # figures, tables, analysis
    with scorers:  # under torchrun the other ranks follow until rank 0 leaves, after an error too
        provenance = {**config_provenance(source), "study_yaml_sha256": settled}
        summary = _decide(cfg, plan, first, out, timings, scorers, header, provenance)
    scoring = scorers.device
    if cfg.analyze.experiments:
        run_analysis(cfg, first, plan, out)  # analyze scores on the CPU (its device is not threaded yet)
    if cfg.evaluate and cfg.evaluators and not (layout.evaluate / EVALUATE_JSON).is_file():
        run_evaluate(cfg, first, plan, out, scoring)
    summary["stage_seconds"] = timings
    if cfg.report and reporter is not None:
        page = Path(reporter([out], layout.report, title=f"unlogit study: {cfg.name}"))
        summary["report"] = str(page.resolve().relative_to(Path(out).resolve()))  # relative, like "figure"
    write_json_atomic(layout.summary, summary)
    return summary


def earlier_stage_seconds(layout: StudyLayout) -> dict[str, float]:
    """The seconds each stage took when it last ran, from the folder's summary.json (stage -> seconds); {} when
    there is none or it is not unlogit's. A rerun overwrites the stages it runs and keeps the others."""
    if not layout.summary.is_file():
        return {}
    try:
        data = read_json(layout.summary, "summary")
    except CheckpointError:
        return {}
    seconds = data.get("stage_seconds") if isinstance(data, dict) else None
    if not isinstance(seconds, dict):
        return {}
    return {str(k): float(v) for k, v in seconds.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _decide(
    cfg: StudyConfig,
    plan: StudyPlan,
    first: dict[str, Path],
    out: Path,
    timings: dict[str, float],
    scorers: Scorers,
    header: str | None,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """Rank 0 (or the one process): every run trained, the inverters compared (figures and tables), then the claim
    and the findings, which the other ranks under torchrun score their share of; ``first``: each inverter stage's
    first run (the figures and tables). Returns the summary so far."""
    run_plan(plan, timings)
    summary = compare_inverters(first, plan, cfg, out, scorers.device)
    summary.update(
        {
            "stage_seconds": timings,
            "seeds": cfg.seeds,
            "header": header,
            "note": cfg.note,
            "classifiers": {name: plan.classifier_refs(name) for name in cfg.classifiers},
        }
    )
    write_json_atomic(StudyLayout(out).summary, summary)
    if cfg.claim is not None:
        summary.update(_claim_and_findings(cfg, plan, out, provenance, timings, scorers.device, scorers.streaming))
    return summary


def run_evaluate(
    cfg: StudyConfig, first: dict[str, Path], plan: StudyPlan, out: Path, device: torch.device | str = "cpu"
) -> None:
    """``unlogit evaluate`` of the first inverter of every stage, judged by the study's evaluators."""
    from ..scoring.evaluate import evaluate

    print("[study] evaluate", flush=True)
    evaluate(
        list(first.values()),
        cfg.test_data(cfg.compare.eval_size),
        [plan.classifier_refs(e)[0] for e in cfg.evaluators],
        seed=cfg.compare.seed,
        samples=2,
        out=StudyLayout(out).evaluate,
        device=device,
    )


WHERE_NOT_WHAT = {"data.root"}  # where the data is found may change between reruns; what the data is may not


def settle_study_yaml(layout: StudyLayout, cfg: StudyConfig) -> str:
    """``study.yaml``, the resolved study a folder holds: written once, atomically, when the study starts; a
    rerun into the folder must resolve to the same study (it resumes) or is refused with the changed keys,
    before anything is written, so the folder's claim always belongs to its study.yaml. Returns its SHA-256
    (recorded in claim.json)."""
    from ..config import safe_yaml
    from ..runtime.resume import config_changes

    text = yaml.safe_dump(to_dict(cfg), sort_keys=False)
    if layout.study_yaml.is_file():
        try:
            old = safe_yaml(layout.study_yaml.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise UnlogitError(f"{layout.study_yaml} is not the YAML unlogit wrote ({exc}); use another --out") from exc
        changes = config_changes(old if isinstance(old, dict) else {}, yaml.safe_load(text))
        changes = {k: v for k, v in changes.items() if k not in WHERE_NOT_WHAT}
        if changes:
            listed = "\n  ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in list(changes.items())[:20])
            raise UnlogitError(
                f"{layout.path} holds another study (its study.yaml); these keys differ:\n  {listed}\n"
                "Rerun with the same study and overrides to resume it, or give a new --out for the changed study"
            )
    else:
        layout.path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(layout.study_yaml, text)
    return hashlib.sha256(layout.study_yaml.read_bytes()).hexdigest()


def _claim_and_findings(
    cfg: StudyConfig,
    plan: StudyPlan,
    out: Path,
    provenance: dict[str, Any],
    timings: dict[str, float],
    device: torch.device | str = "cpu",
    streaming: Streaming = ONE_BATCH_STREAM,
) -> dict[str, Any]:
    """The claim (skipped when claim.json exists) and the findings (when configured and not yet written), both
    on the same scored arms (in batches and, under torchrun, shared by the processes: ``streaming``)."""
    from .claim.stage import claim_images, run_claim_stage
    from .findings.stage import run_findings

    layout = StudyLayout(out)
    done_claim = layout.claim.is_file()
    done_findings = cfg.findings is None or layout.findings.is_file()
    if done_claim and done_findings:
        print("[study] claim: complete, skipped", flush=True)
    else:
        t0 = time.perf_counter()
        images = claim_images(cfg, plan, device, streaming)
        _, a, b, references = run_claim_stage(cfg, plan, out, images, provenance, write_claim=not done_claim)
        if not done_findings:
            run_findings(cfg, plan, out, images, a, b, references)
        timings["claim+findings"] = time.perf_counter() - t0
    claim = read_json(layout.claim, "claim")
    keep = ("statement", "verdict", "primary", "excluded")
    summary = {k: claim[k] for k in keep}
    if claim.get("reference"):
        summary["reference"] = claim["reference"]["summary"]
    return {"claim": summary}


def run_analysis(cfg: StudyConfig, first: dict[str, Path], plan: StudyPlan, out: Path) -> None:
    """Every configured experiment on all inverters side by side (skipped when already written)."""
    from ..analysis import run_experiment

    acfg = cfg.analyze_config()
    acfg.evaluator = plan.classifier_refs(cfg.evaluators[0])[0] if cfg.evaluators else None
    for name in acfg.experiments:
        if (StudyLayout(out).experiment(name) / EXPERIMENT_JSON).is_file():
            print(f"[study] analyze {name}: complete, skipped", flush=True)
            continue
        print(f"[study] analyze {name}", flush=True)
        run_experiment(name, list(first.values()), acfg, StudyLayout(out).analysis)


COMPARE_COLUMNS = [Column("inverter"), Column("own_label_agreement", "label agreement (own classifier)", percent)]
COMPARE_TAIL = [
    Column("colour_correlation", "colour correlation", fixed(2)),
    Column("psnr", "PSNR (dB)", fixed(1)),
    Column("ssim", "SSIM", fixed(2)),
    Column("logit_error", "logit error", fixed(2)),
]


def compare_inverters(
    first: dict[str, Path], plan: StudyPlan, cfg: StudyConfig, out: Path, device: torch.device | str = "cpu"
) -> dict:
    """Same test images, same noise, the first inverter of every stage: Figure 1 (column labels on the image)
    and a table (markdown + JSON), each inverter judged by its own classifier (``own_``) and by the study's
    evaluators; the images are reconstructed once."""
    from ..classifiers.registry import load_classifier
    from ..inversion.inverter import load_inverter
    from ..runtime.figures import labelled_grid, save_figure
    from ..scoring.measure import score

    c = cfg.compare
    test = cfg.test_data(max(c.eval_size, c.n))
    inverters = {name: load_inverter(run, device=device) for name, run in first.items()}
    judges = {e: load_classifier(plan.classifier_refs(e)[0], device, classes=test.classes) for e in cfg.evaluators}
    x, y = test.batch(torch.arange(min(c.eval_size, len(test))))
    recs = {name: inv.reconstruct(x, samples=1, seed=c.seed)[:, 0].cpu() for name, inv in inverters.items()}
    grid = save_figure(
        labelled_grid([x[: c.n], *(r[: c.n] for r in recs.values())], ["original", *inverters]),
        StudyLayout(out).figure1,
    )
    rows = {}
    for name, inv in inverters.items():
        own = inv.classifier.weights_digest()
        others = {j: judge for j, judge in judges.items() if judge.weights_digest() != own}
        rows[name] = {**score(x, recs[name], y, inv.classifier, others).summary(), "train": inv.meta.summary}
    keys = dict.fromkeys(k for r in rows.values() for k in r if k.startswith("evaluator_label"))
    judge_cols = [Column(k, k.replace("evaluator_label_agreement@", "agreement with "), percent) for k in keys]
    table = markdown([{"inverter": k, **v} for k, v in rows.items()], [*COMPARE_COLUMNS, *judge_cols, *COMPARE_TAIL])
    write_text_atomic(
        StudyLayout(out).summary_md,
        f"# Study {cfg.name}\n\n![reconstructions]({grid.name})\n\n"
        "Columns of the figure: original, then one reconstruction per inverter "
        f"({', '.join(inverters)}).\n\n{table}\n",
    )
    return {
        "study": cfg.name,
        "n_eval": len(x),
        "inverters": rows,
        "figure": grid.name,
        "table": table,
        "columns": ["original", *inverters],
        "evaluators": list(cfg.evaluators),
    }


def default_study_dir(name: str) -> Path:
    return Path("runs") / f"study-{name}"


__all__ += ["study_path"]
