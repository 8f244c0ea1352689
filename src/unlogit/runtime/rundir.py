"""Run directories: one folder per command with the resolved config, metrics and outputs.

Layout::

    RUN/
      config.yaml        resolved config (every default filled in)
      run.json           what the run is (kind, command line, versions, start time)
      metrics.jsonl      one JSON object per logged step/epoch
      checkpoints/       last.{safetensors,json} for resume
      model.{safetensors,json}   final weights (what other commands load)
      figures/           PNG sheets and plots
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..config import dump_yaml
from ..errors import UnlogitError
from .atomic import write_json_atomic, write_text_atomic
from .resume import SafeChanges, check_resume, config_changes


def default_run_dir(kind: str, *parts: str, root: str | Path = "runs") -> Path:
    """``runs/<kind>-<parts>-<YYYYmmdd-HHMMSS>`` (a fresh, readable name)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = [p.replace("/", "_").replace(":", "_") for p in parts if p]
    return Path(root) / "-".join([kind, *safe, stamp])


RUN_FILES = ("config.yaml", "run.json", "metrics.jsonl")
RUN_FOLDERS = ("checkpoints", "figures")


def _is_failed_start(path: Path) -> bool:
    """A run directory that never reached its first checkpoint (nothing to resume, nothing to lose)."""
    names = {p.name for p in path.iterdir()}
    return (
        (path / "run.json").is_file()
        and names <= {*RUN_FILES, *RUN_FOLDERS}
        and not (path / "checkpoints" / "last.json").is_file()
    )


def _clear_failed_start(path: Path) -> None:
    import shutil

    for name in RUN_FILES:
        (path / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        shutil.rmtree(path / name, ignore_errors=True)


class RunDir:
    """A run directory being written by one command.

    A folder left by a failed start (no checkpoint yet) is cleared and reused, with or without
    ``resume``; resuming a run compares ``config`` with the run's config.yaml first and refuses any
    change not in ``safe_changes`` (:mod:`unlogit.runtime.resume`), before anything is written.
    ``resume`` is False afterwards when there was nothing to resume.
    """

    def __init__(self, path: str | Path, kind: str, config: Any, resume: bool = False,
                 safe_changes: SafeChanges | None = None) -> None:  # fmt: skip
        self.path = Path(path)
        self.kind = kind
        if self.path.exists() and not self.path.is_dir():
            raise UnlogitError(f"--out {self.path} is a file; give a folder for the run directory")
        if self.path.is_dir() and any(self.path.iterdir()):
            if _is_failed_start(self.path):
                print(f"{self.path} holds a run that stopped before its first checkpoint; starting it afresh")
                _clear_failed_start(self.path)
                resume = False
            elif not resume:
                raise UnlogitError(
                    f"run directory {self.path} already exists and is not empty; pass --resume to continue it "
                    "or choose another --out"
                )
        elif resume:
            raise UnlogitError(f"cannot resume: {self.path} is not a run directory (no run.json)")
        if resume and not (self.path / "run.json").is_file():
            raise UnlogitError(f"cannot resume: {self.path} is not a run directory (no run.json)")
        self.resume = resume
        changes = self._check_resume(config, safe_changes or {}) if resume else {}
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "checkpoints").mkdir(exist_ok=True)
            (self.path / "figures").mkdir(exist_ok=True)
        except OSError as exc:
            raise UnlogitError(f"cannot create the run directory {self.path}: {exc}; choose another --out") from exc
        write_text_atomic(self.path / "config.yaml", dump_yaml(config))
        if changes:
            self.log({"resume_changes": {k: list(v) for k, v in changes.items()}})
        if not resume:
            write_json_atomic(
                self.path / "run.json",
                {
                    "kind": kind,
                    "argv": sys.argv,
                    "started": _dt.datetime.now().isoformat(timespec="seconds"),
                    "unlogit_version": __version__,
                    "torch_version": torch.__version__,
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
            )

    def _check_resume(self, config: Any, safe: SafeChanges) -> dict[str, tuple[Any, Any]]:
        from ..config import read_yaml_mapping, to_dict

        path = self.path / "config.yaml"
        old = read_yaml_mapping(path, "the run's resolved config") if path.is_file() else {}
        changes = config_changes(old, to_dict(config))
        check_resume(changes, safe)
        return changes

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl`` (flushed at once)."""
        with (self.path / "metrics.jsonl").open("a") as fh:
            fh.write(json.dumps(record, default=float) + "\n")

    def truncate_log(self, keep_while: str, upto: int) -> None:
        """On resume, drop log lines written after the checkpoint (``record[keep_while] > upto``) and the
        final line (the resumed run writes its own)."""
        path = self.path / "metrics.jsonl"
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

    path = Path(run) / "metrics.jsonl"
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
    ``"final": true`` one, each with at least ``step`` and ``own_label_agreement``."""
    return [r for r in read_metrics(run)
            if (r.get("eval") or r.get("final")) and "step" in r and "own_label_agreement" in r]  # fmt: skip
