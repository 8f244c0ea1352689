"""Studies across a cluster: one scheduler job per run, then one job that decides (submitit).

``unlogit study CONFIG --launcher submitit`` plans the study where it is started (every check runs before
anything is submitted) and settles its ``study.yaml``. It then submits one job per unfinished run (``--only
RUN`` underneath, as a SLURM job array), each with its GPU count and time limit. A job that is preempted or
reaches its time limit is requeued and resumes from its run's own checkpoint. When every run has finished,
one more job runs the study itself: every run is done, so it scores, decides the claim and the findings and
writes the report. The launching process only waits; nothing heavy runs where it is started.

submitit picks SLURM when ``sbatch`` is on the PATH (``cluster: slurm`` insists on it); ``cluster: local``
runs the jobs as processes on this machine (the tests), ``debug`` in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import check_positive
from ..errors import ConfigError, UnlogitError
from ..scoring.stream import SCORE_BATCH

CLUSTERS = (None, "slurm", "local", "debug")  # submitit's executors (None: SLURM when available, else local)


@dataclass
class LauncherConfig:
    """Where and how the jobs run.

    cluster: submitit's executor (see :data:`CLUSTERS`). folder: its job files and logs (default
    ``OUT/submitit``). gpus_per_job: GPUs of one inverter run's job; more than one starts that many tasks, each
    a ``torch.distributed`` rank (the environment torchrun would set). Classifier runs and the decision are
    single-process: one task on one GPU. cpus_per_task, mem_gb, timeout_min: per
    job. partition: the SLURM partition. max_requeue: how often a preempted or timed-out job is requeued.
    """

    cluster: str | None = None
    folder: str | None = None
    gpus_per_job: int = 1
    cpus_per_task: int = 8
    mem_gb: int | None = None
    timeout_min: int = 240
    partition: str | None = None
    max_requeue: int = 3
    extra: dict[str, Any] = field(default_factory=dict)  # further submitit parameters, passed as they are

    def __post_init__(self) -> None:
        if self.cluster not in CLUSTERS:
            raise ConfigError(f"launcher cluster {self.cluster!r} is not one of {list(CLUSTERS)}")
        check_positive(self.gpus_per_job, "launcher.gpus_per_job", allow_zero=True)
        check_positive(self.cpus_per_task, "launcher.cpus_per_task")
        check_positive(self.timeout_min, "launcher.timeout_min")

    def parameters(self, name: str, ranks: bool = True) -> dict[str, Any]:
        """submitit's ``update_parameters`` for a job called ``name``: ``gpus_per_job`` DDP ranks when ``ranks``
        (an inverter run), else one task on at most one GPU (a classifier run, the decision: single-process)."""
        gpus = self.gpus_per_job if ranks else min(self.gpus_per_job, 1)
        params: dict[str, Any] = {
            "name": name,
            "timeout_min": self.timeout_min,
            "gpus_per_node": gpus,
            "tasks_per_node": max(gpus, 1),
            "cpus_per_task": self.cpus_per_task,
        }
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        if self.partition is not None:
            params["slurm_partition"] = self.partition
        return {**params, **self.extra}


@dataclass(frozen=True)
class StudyCall:
    """What a job needs to open the study again where it runs: the same file, overrides and options (pickled
    into the job file by submitit; ``reporter``, a module-level function, travels by its name)."""

    config: str
    out: str
    overrides: tuple[str, ...] = ()
    smoke: bool = False
    data_root: str | None = None
    from_scratch: bool = False
    trust_code: bool = False
    device: str = "auto"
    score_batch: int = SCORE_BATCH  # the claim's and the findings' images scored at a time
    reporter: Callable[..., Path] | None = None  # writes the report (the CLI passes report.page.build_report)

    def run(self, only: Sequence[str] | None = None) -> dict[str, Any]:
        """:func:`~unlogit.study.runner.run_study` of this study (``only``: just those runs)."""
        from .config import open_study
        from .runner import run_study

        study = open_study(self.config, self.overrides, self.smoke, self.data_root)
        return run_study(
            study.cfg,
            Path(self.out),
            study.every,
            from_scratch=self.from_scratch,
            source=study.source,
            trust_code=self.trust_code,
            reporter=self.reporter,
            only=only,
            device=self.device,
            score_batch=self.score_batch,
        )


class StudyJob:
    """One submitit job: the study's run ``label`` (None: the whole study, i.e. the decision once every run is
    done). Requeued after preemption or a time limit; a run resumes from its own checkpoint."""

    def __init__(self, call: StudyCall, label: str | None) -> None:
        self.call, self.label = call, label

    def __call__(self) -> dict[str, Any]:
        _export_rank_environment()
        return self.call.run(only=[self.label] if self.label is not None else None)

    def checkpoint(self, *_args: Any, **_kwargs: Any) -> Any:
        """submitit's preemption hook: submit this job again (the run resumes where its checkpoint left it)."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(StudyJob(self.call, self.label))


def _export_rank_environment() -> None:
    """In a job of several tasks, the RANK / WORLD_SIZE / MASTER_ADDR environment that torchrun would set."""
    import submitit

    try:
        tasks = submitit.JobEnvironment().num_tasks
    except RuntimeError:  # not inside a submitit job (the debug executor runs in this process)
        return
    if tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export()


def _executor(launcher: LauncherConfig, out: Path):
    try:
        import submitit
    except ImportError as exc:
        raise UnlogitError(
            "--launcher submitit needs submitit: pip install 'unlogit[cluster]' (or pip install submitit)"
        ) from exc
    folder = Path(launcher.folder) if launcher.folder else out / "submitit"
    return submitit.AutoExecutor(folder=folder, cluster=launcher.cluster, slurm_max_num_timeout=launcher.max_requeue)


def unfinished_runs(call: StudyCall) -> list[tuple[str, str]]:
    """(kind, label) of the study's runs that are not done yet, in plan order: classifiers before the inverters
    of their logits (plans and checks the study; writes nothing)."""
    return _unfinished(_plan(call)[1])


def _plan(call: StudyCall):
    """The study ``call`` opens and its plan (every check of the config runs here)."""
    from .config import open_study
    from .stages import plan_study

    study = open_study(call.config, call.overrides, call.smoke, call.data_root)
    return study, plan_study(study.cfg, Path(call.out), study.every, call.from_scratch, call.trust_code)


def _unfinished(plan: Any) -> list[tuple[str, str]]:
    from ..runtime.rundir import RunLayout
    from .stages import run_label

    return [(r.kind, run_label(r)) for r in plan.runs() if RunLayout(r.run).state() != "done"]


def launch_study(call: StudyCall, launcher: LauncherConfig) -> dict[str, Any]:
    """Run ``call``'s study as scheduler jobs and return its summary: the unfinished classifier runs (one job
    each, an array), then the inverter runs of their logits, then one job that decides.

    Raises :class:`~unlogit.errors.UnlogitError` naming every failed run and its log when a job fails; the
    runs that finished stay finished, and the same command resubmits only the others."""
    from ..runtime.rundir import StudyLayout
    from .runner import settle_study_yaml

    out = Path(call.out)
    study, plan = _plan(call)  # every check before anything is written or submitted
    pending = _unfinished(plan)
    settle_study_yaml(StudyLayout(out), study.cfg)
    executor = _executor(launcher, out)
    name = f"unlogit-{study.cfg.name}"
    for kind in dict.fromkeys(k for k, _ in pending):  # an inverter needs its classifier: one wave per kind
        executor.update_parameters(**launcher.parameters(f"{name}-{kind}", ranks=kind == "inverter"))
        with executor.batch():
            jobs = {label: executor.submit(StudyJob(call, label)) for k, label in pending if k == kind}
        print(f"[launcher] submitted {len(jobs)} {kind} runs of {study.cfg.name} ({_where(executor)})", flush=True)
        _wait(jobs)
    executor.update_parameters(**launcher.parameters(f"{name}-decide", ranks=False))
    decision = executor.submit(StudyJob(call, None))
    print(f"[launcher] every run is done; the decision is job {decision.job_id}", flush=True)
    _wait({"the decision (scoring, claim, findings, report)": decision})
    return decision.result()


def _where(executor: Any) -> str:
    return f"{executor.cluster} executor, job files and logs in {executor.folder}"


def _wait(jobs: dict[str, Any]) -> None:
    """Wait for every job; raise once, naming each failed one with its log, when any failed."""
    failed = []
    for label, job in jobs.items():
        try:
            job.result()
        except Exception as exc:  # every failure is reported, each with its log
            failed.append(f"{label} (job {job.job_id}): {_cause(exc)}; log {job.paths.stderr}")
    if failed:
        listed = "\n  ".join(failed)
        raise UnlogitError(
            f"{len(failed)} of {len(jobs)} jobs failed:\n  {listed}\nFix the cause and rerun the same command: the "
            "finished runs are kept and only the others are submitted again"
        )


def _cause(exc: BaseException) -> str:
    """The last line of a failed job's traceback (submitit wraps it between dashed lines), else the error."""
    lines = [line.strip() for line in str(exc).splitlines()]
    dashes = [i for i, line in enumerate(lines) if line and set(line) == {"-"}]
    trace = lines[dashes[0] + 1 : dashes[1]] if len(dashes) >= 2 else lines
    trace = [line for line in trace if line]
    return trace[-1] if trace else repr(exc)
