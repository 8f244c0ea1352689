"""Run directories: one folder per command with the resolved config, metrics and outputs.

:class:`RunLayout` (runs) and :class:`StudyLayout` (study folders) are the only places that spell the
names of the files in them; every other module asks them. Layout of a run::

    RUN/
      config.yaml        resolved config (every default filled in)
      run.json           what the run is (kind, command line, versions, start time)
      metrics.jsonl      one JSON object per logged step/epoch
      checkpoints/       last.{safetensors,json} for resume
      model.{safetensors,json}   final weights (what other commands load)
      figures/           PNG sheets and plots
      .lock              held (fcntl) by the one process writing the run

A :class:`RunDir` is a run being written: it takes the lock first (a second writer is refused with the
holder's PID; a lock left by a killed process is released by the kernel, so it never goes stale).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import dump_yaml
from ..errors import UnlogitError
from ..version import __version__
from .atomic import open_own_file, write_json_atomic, write_text_atomic
from .resume import SafeChanges, check_resume, config_changes

MODEL_JSON, SUMMARY_JSON, CLAIM_JSON, FINDINGS_JSON = "model.json", "summary.json", "claim.json", "findings.json"


@dataclass(frozen=True)
class RunLayout:
    """The file names of one run directory (pure paths; nothing is read or written)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    config = property(lambda self: self.path / "config.yaml")
    run_json = property(lambda self: self.path / "run.json")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    checkpoints = property(lambda self: self.path / "checkpoints")
    last = property(lambda self: self.path / "checkpoints" / "last")  # checkpoint stem (.json + .safetensors)
    model = property(lambda self: self.path / "model")  # final weights stem (.json + .safetensors)
    figures = property(lambda self: self.path / "figures")
    tensorboard = property(lambda self: self.path / "tensorboard")
    reconstructions = property(lambda self: self.path / "reconstructions")
    lock = property(lambda self: self.path / ".lock")

    @property
    def model_json(self) -> Path:
        return self.path / MODEL_JSON

    @property
    def last_json(self) -> Path:
        return self.last.with_suffix(".json")

    def rank_rng(self, rank: int) -> Path:
        """The stem (.json + .safetensors) of a DDP rank's RNG streams at the last checkpoint (ranks > 0)."""
        return self.checkpoints / f"rank{rank}_rng"

    def rank_digest(self, rank: int) -> Path:
        """Where a DDP rank records the digest of its weights (the test that ranks stay identical)."""
        return self.checkpoints / f"rank{rank}_params.json"

    def state(self) -> str:
        """``done`` (model written), ``resume`` (a checkpoint to continue) or ``new``."""
        if self.model_json.is_file():
            return "done"
        return "resume" if self.last_json.is_file() else "new"

    def check_inside(self, *files: Path) -> None:
        """Refuse files of the run that resolve outside its folder (a symlink to elsewhere is not the run's)."""
        root = self.path.resolve()
        for file in files:
            if file.exists() and not Path(file).resolve().is_relative_to(root):
                raise UnlogitError(
                    f"{file} resolves to {Path(file).resolve()}, outside the run directory {root}; "
                    "unlogit reads only a run's own files (replace the link by the file)"
                )

    def relative(self, file: Path) -> str:
        """``file`` as a path relative to the run (what JSON records, so a copied run stays valid)."""
        return Path(os.path.relpath(Path(file).resolve(), self.path.resolve())).as_posix()


@dataclass(frozen=True)
class StudyLayout:
    """The file names of a study folder (``unlogit study``, ``unlogit demo``)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    study_yaml = property(lambda self: self.path / "study.yaml")
    summary = property(lambda self: self.path / SUMMARY_JSON)
    summary_md = property(lambda self: self.path / "summary.md")
    figure1 = property(lambda self: self.path / "figure1_reconstructions.png")
    claim = property(lambda self: self.path / CLAIM_JSON)
    claim_values = property(lambda self: self.path / "claim_values.safetensors")
    findings = property(lambda self: self.path / FINDINGS_JSON)
    findings_values = property(lambda self: self.path / "findings_values.safetensors")
    analysis = property(lambda self: self.path / "analysis")
    evaluate = property(lambda self: self.path / "evaluate")
    report = property(lambda self: self.path / "report")

    def classifier(self, name: str) -> Path:
        return self.path / "classifiers" / name

    def inverter(self, name: str, seed: int = 0, member: int = 0) -> Path:
        """``inverters/NAME`` for the first classifier of a stage and seed 0; ``-cK`` names the stage's
        classifier K (a family's replicate), ``-seedS`` the training seed S."""
        return self.path / "inverters" / (name + (f"-c{member}" if member else "") + (f"-seed{seed}" if seed else ""))

    def classifier_member(self, name: str, member: int) -> Path:
        """A trained replicate of a classifier stage: ``classifiers/NAME`` (the first), ``NAME-cK``."""
        return self.classifier(name + (f"-c{member}" if member else ""))

    @property
    def inverters(self) -> Path:
        return self.path / "inverters"

    def experiment(self, name: str) -> Path:
        return self.analysis / name

    def finding_figure(self, finding: str) -> Path:
        """``findings/ID.png``: a finding's figure."""
        return self.path / "findings" / f"{finding}.png"


EVALUATE_JSON = "evaluate.json"  # what `unlogit evaluate` writes into its folder
EXPERIMENT_JSON = "metrics.json"  # what each `unlogit analyze` experiment writes into its folder
EXPERIMENT_VALUES = "experiment_values.safetensors"  # and the per-image values behind its numbers, where it keeps them


def default_run_dir(kind: str, *parts: str, root: str | Path = "runs") -> Path:
    """``runs/<kind>-<parts>-<YYYYmmdd-HHMMSS>`` (a fresh, readable name)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = [p.replace("/", "_").replace(":", "_") for p in parts if p]
    return Path(root) / "-".join([kind, *safe, stamp])


def _run_files(layout: RunLayout) -> tuple[Path, ...]:
    return layout.config, layout.run_json, layout.metrics


def _run_folders(layout: RunLayout) -> tuple[Path, ...]:
    return layout.checkpoints, layout.figures


def _is_failed_start(layout: RunLayout) -> bool:
    """A run directory that never reached its first checkpoint (nothing to resume, nothing to lose)."""
    names = {p.name for p in layout.path.iterdir()}
    known = {p.name for p in (*_run_files(layout), *_run_folders(layout), layout.lock)}
    return layout.run_json.is_file() and names <= known and not layout.last_json.is_file()


def _clear_failed_start(layout: RunLayout) -> None:
    import shutil

    for file in _run_files(layout):
        file.unlink(missing_ok=True)
    for folder in _run_folders(layout):
        shutil.rmtree(folder, ignore_errors=True)


class RunLock:
    """An exclusive ``fcntl`` lock on ``RUN/.lock`` for as long as one process writes the run.

    The kernel drops the lock when the holder exits or is killed, so a lock is never stale; the file keeps
    the last holder's PID for the message a second writer gets."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._fd: int | None = None
        self.created = False  # whether acquire() made the file (removed again if the folder is refused)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        import fcntl

        self.created = not self.file.exists() and not self.file.is_symlink()
        purpose = f"lock the run directory {self.file.parent}"
        fd = open_own_file(self.file, os.O_RDWR | os.O_CREAT, purpose=purpose)  # never through a link or a FIFO
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UnlogitError(
                f"run directory {self.file.parent} is being written by process {holder}; wait for it to finish, "
                "stop it, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self, remove: bool = False) -> None:
        """Drop the lock; ``remove`` also deletes the file (a folder that was refused, not a run)."""
        if self._fd is not None:
            if remove and self.created:
                self.file.unlink(missing_ok=True)
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def _run_record(kind: str) -> dict[str, Any]:
    """run.json: what the run is and what made it."""
    return {
        "kind": kind,
        "argv": sys.argv,
        "started": _dt.datetime.now().isoformat(timespec="seconds"),
        "unlogit_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


class RunDir:
    """A run directory being written by one command.

    A folder left by a failed start (no checkpoint yet) is cleared and reused, with or without
    ``resume``; resuming a run compares ``config`` with the run's config.yaml first and refuses any
    change not in ``safe_changes`` (:mod:`unlogit.runtime.resume`), before anything is written.
    ``resume`` is False afterwards when there was nothing to resume.
    """

    def __init__(
        self, path: str | Path, kind: str, config: Any, resume: bool = False, safe_changes: SafeChanges | None = None
    ) -> None:
        self.path = Path(path)
        self.layout = RunLayout(self.path)
        self.kind = kind
        if self.path.exists() and not self.path.is_dir():
            raise UnlogitError(f"--out {self.path} is a file; give a folder for the run directory")
        existed = self.path.is_dir() and any(self.path.iterdir())
        self._lock = RunLock(self.layout.lock)
        if self.path.is_dir():
            self._lock.acquire()  # before looking: a running job's folder is never taken for a failed start
        try:
            resume = self._open(config, resume, existed, safe_changes)
        except BaseException:
            self._lock.release(remove=not self.layout.run_json.is_file())
            raise
        self.resume = resume

    def _open(self, config: Any, resume: bool, existed: bool, safe_changes: SafeChanges | None) -> bool:
        """Validate, create and initialise the folder; returns whether the run resumes."""
        if existed:
            if _is_failed_start(self.layout):
                print(f"{self.path} holds a run that stopped before its first checkpoint; starting it afresh")
                _clear_failed_start(self.layout)
                resume = False
            elif not resume:
                raise UnlogitError(
                    f"run directory {self.path} already exists and is not empty; pass --resume to continue it "
                    "or choose another --out"
                )
        elif resume:
            raise UnlogitError(f"cannot resume: {self.path} is not a run directory (no run.json)")
        if resume and not self.layout.run_json.is_file():
            raise UnlogitError(f"cannot resume: {self.path} is not a run directory (no run.json)")
        changes = self._check_resume(config, safe_changes or {}) if resume else {}
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if not self._lock.held:
                self._lock.acquire()
            self.layout.checkpoints.mkdir(exist_ok=True)
            self.layout.figures.mkdir(exist_ok=True)
            write_text_atomic(self.layout.config, dump_yaml(config))
            if changes:
                self.log({"resume_changes": {k: list(v) for k, v in changes.items()}})
            if not resume:
                write_json_atomic(self.layout.run_json, _run_record(self.kind))
        except OSError as exc:
            raise UnlogitError(
                f"cannot write the run directory {self.path}: {exc}; check its permissions and free "
                "space, or choose another --out"
            ) from exc
        return resume

    def close(self) -> None:
        """Release the run's lock (also released by the kernel if the process dies)."""
        self._lock.release()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_resume(self, config: Any, safe: SafeChanges) -> dict[str, tuple[Any, Any]]:
        from ..config import read_yaml_mapping, to_dict

        path = self.layout.config
        old = read_yaml_mapping(path, "the run's resolved config") if path.is_file() else {}
        changes = config_changes(old, to_dict(config))
        check_resume(changes, safe)
        return changes

    @property
    def checkpoints(self) -> Path:
        return self.layout.checkpoints

    @property
    def figures(self) -> Path:
        return self.layout.figures

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl`` (written at once; never through a link)."""
        fd = open_own_file(self.layout.metrics, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "a") as fh:
            fh.write(json.dumps(record, default=float) + "\n")

    def truncate_log(self, keep_while: str, upto: int) -> None:
        """On resume, drop log lines written after the checkpoint (``record[keep_while] > upto``) and the
        final line (the resumed run writes its own)."""
        path = self.layout.metrics
        if not path.is_file():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get(keep_while, 0) <= upto and not rec.get("final"):
                kept.append(line)
        write_text_atomic(path, "".join(k + "\n" for k in kept))


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """All records of a run's ``metrics.jsonl``; a damaged line (a run killed mid-write) is skipped with a
    warning."""
    import warnings

    path = RunLayout(Path(run)).metrics
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            warnings.warn(f"{path}:{number} is not a JSON record (a truncated write?); skipped", stacklevel=2)
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_evaluations(run: str | Path) -> list[dict[str, Any]]:
    """A run's held-out evaluations in order: the ``"eval": true`` lines (``train.eval_every``) and the
    ``"final": true`` one, each with at least a numeric ``step`` and ``own_label_agreement`` (a line that lacks
    them, or holds them as other types, is not an evaluation)."""
    return [
        r
        for r in read_metrics(run)
        if (r.get("eval") or r.get("final"))
        and _is_number(r.get("step"))
        and _is_number(r.get("own_label_agreement"))
        and (_is_number(r.get("train_minutes")) or _is_number(r.get("elapsed_s")))
    ]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
