"""A study's training stages: planned in full (every stage's config built and validated) before anything runs,
then trained or resumed one by one; a finished stage is skipped.

Classifier stage K members: existing specs, or ``replicates`` runs with ``train.seed = 0..K-1``. Inverter
stage: one inverter per classifier member and training seed (``inverters/NAME[-cK][-seedS]``), each with its own
``train.seed`` derived from (the configured seed, stage, member, seed): no seed is shared across units, so a seed
effect cannot be common to an arm's classifiers or to both arms (which the claim's interval could not see).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import build_config, deep_merge, load_preset_dict
from ..errors import ConfigError, UnlogitError
from ..runtime.rundir import RunLayout, StudyLayout
from ..runtime.seeding import derived_seed
from .config import StudyConfig, inverter_run


@dataclass
class PlannedRun:
    """One training run of a study: where it goes and its resolved config."""

    kind: str  # "classifier" or "inverter"
    stage: str
    member: int
    seed: int
    run: Path
    cfg: Any

    @property
    def label(self) -> str:
        return self.run.name


@dataclass
class StudyPlan:
    """Every classifier (a spec string or a planned run per member) and inverter run ([member][seed])."""

    classifiers: dict[str, list[str | PlannedRun]] = field(default_factory=dict)
    inverters: dict[str, list[list[PlannedRun]]] = field(default_factory=dict)

    def classifier_refs(self, stage: str) -> list[str]:
        """The classifier spec of every member of a stage (a run directory when it is trained)."""
        return [m if isinstance(m, str) else str(m.run) for m in self.classifiers[stage]]

    def inverter_runs(self, stage: str) -> list[list[Path]]:
        return [[r.run for r in row] for row in self.inverters[stage]]

    def runs(self) -> list[PlannedRun]:
        trained = [m for members in self.classifiers.values() for m in members if isinstance(m, PlannedRun)]
        return [*trained, *(r for rows in self.inverters.values() for row in rows for r in row)]


def plan_study(
    cfg: StudyConfig, out: Path, overrides: Sequence[str] = (), from_scratch: bool = False, trust_code: bool = False
) -> StudyPlan:
    """Build (and so validate) the config of every stage; errors name the stage. Nothing is written."""
    plan = StudyPlan()
    data = {"data": cfg.data} if cfg.data else {}
    for name, stage in cfg.classifiers.items():
        plan.classifiers[name] = _plan_classifier(name, stage, out, data, overrides, from_scratch)
    for name, stage in cfg.inverters.items():
        refs = plan.classifier_refs(stage.classifier)
        plan.inverters[name] = [
            [_plan_inverter(name, stage, out, data, overrides, ref, k, s) for s in range(cfg.inverter_seeds(name))]
            for k, ref in enumerate(refs)
        ]
    if not trust_code:
        check_study_specs(cfg, plan)
    return plan


STUDY_FIX = "A study file may not choose code to run; if you trust it, pass --trust-code"


def check_study_specs(cfg: StudyConfig, plan: StudyPlan) -> None:
    """Every classifier spec a study reaches, whatever the route (a classifier stage, an inverter stage's
    ``classifier=`` override, ``train.evaluators``, ``analyze.classifier`` / ``analyze.evaluator``), through
    the one allow-list (:func:`~unlogit.classifiers.registry.check_spec_from_file`), before anything runs.
    The classifier runs the study trains itself are its own."""
    from ..classifiers.registry import check_spec_from_file

    own = {str(r.run) for r in plan.runs() if r.kind == "classifier"}
    reached = [(f"classifiers.{name}", spec) for name in plan.classifiers for spec in plan.classifier_refs(name)]
    for run in plan.runs():
        if run.kind == "inverter":
            reached.append((f"inverters.{run.stage} (classifier)", run.cfg.classifier))
            reached += [(f"inverters.{run.stage} (train.evaluators)", e) for e in run.cfg.train.evaluators]
    for key in ("classifier", "evaluator"):
        if getattr(cfg.analyze, key):
            reached.append((f"analyze.{key}", getattr(cfg.analyze, key)))
    for where, spec in reached:
        if spec not in own:
            check_spec_from_file(spec, where, STUDY_FIX)


def _plan_classifier(
    name: str, stage, out: Path, data: dict, overrides: Sequence[str], from_scratch: bool
) -> list[str | PlannedRun]:
    from ..classifiers.config import ClassifierRunConfig

    if stage.existing and not (from_scratch and stage.preset):
        return list(stage.existing)  # checked with every other spec the study reaches (check_study_specs)
    members: list[str | PlannedRun] = []
    for k in range(stage.replicates):
        seed = [f"train.seed={k}"] if stage.replicates > 1 else []
        try:
            ccfg = build_config(
                ClassifierRunConfig, "classifier", stage.preset, [*stage.overrides, *seed, *overrides], data
            )
        except ConfigError as exc:
            raise ConfigError(f"classifiers.{name}: {exc}") from exc
        members.append(PlannedRun("classifier", name, k, 0, StudyLayout(out).classifier_member(name, k), ccfg))
    return members


def _plan_inverter(
    name: str, stage, out: Path, data: dict, overrides: Sequence[str], classifier: str, member: int, seed: int
) -> PlannedRun:
    from ..inversion.config import InverterRunConfig

    extra = deep_merge(data, {"classifier": classifier})
    if stage.method:
        extra = deep_merge(load_preset_dict("inverter", f"methods/{stage.method}"), extra)
    try:
        icfg = build_config(
            InverterRunConfig, "inverter", stage.preset, [*stage.overrides, *stage.run_overrides(), *overrides], extra
        )
    except ConfigError as exc:
        raise ConfigError(f"inverters.{name}: {exc}") from exc
    icfg.train.seed = derived_seed(icfg.train.seed, "inverter", name, member, seed)
    return PlannedRun("inverter", name, member, seed, inverter_run(out, name, member, seed), icfg)


def run_label(run: PlannedRun) -> str:
    """How a run is named on the command line (``--only``): ``classifiers/NAME`` or ``inverters/NAME-c1-seed1``."""
    return f"{run.kind}s/{run.run.name}"


def check_torchrun_scope(only: Sequence[str] | None, processes: int) -> None:
    """Under torchrun (``processes`` > 1, torchrun's WORLD_SIZE) a study trains inverter runs across the processes
    (DDP) and nothing else: a classifier run would be trained by every process into the same folder, and every
    process would decide the claim. Raises with the fix otherwise."""
    if processes <= 1 or not only:  # without --only: the decision, once every run is trained (runner.Scorers)
        return
    single = sorted(o for o in only if not o.startswith("inverters/"))
    if single:
        raise UnlogitError(
            f"{single} train in one process, not under torchrun ({processes} processes): run them with "
            "`unlogit study CONFIG --only ...` without torchrun"
        )


def run_plan(plan: StudyPlan, timings: dict[str, float], only: set[str] | None = None) -> None:
    """Train every planned run in order (classifiers first), resuming half-finished ones, skipping done ones;
    ``only``: just these runs (:func:`run_label`), e.g. one job of many on several machines."""
    from ..classifiers.training import train_classifier
    from ..scoring import held_out

    trainers: dict[str, Callable[[Any, Path, bool], Any]] = {
        "classifier": train_classifier,
        "inverter": held_out.train_and_score,
    }
    for run in plan.runs():
        if only is not None and run_label(run) not in only:
            continue
        state = RunLayout(run.run).state()
        if state == "done":
            print(f"[study] {run.kind} {run.label}: complete, skipped", flush=True)
            continue
        print(f"[study] {run.kind} {run.label}: {'resuming' if state == 'resume' else 'training'}", flush=True)
        t0 = time.perf_counter()
        trainers[run.kind](run.cfg, run.run, state == "resume")
        timings[f"{run.kind}/{run.label}"] = time.perf_counter() - t0
