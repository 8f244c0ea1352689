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


def default_run_dir(kind: str, *parts: str, root: str | Path = "runs") -> Path:
    """``runs/<kind>-<parts>-<YYYYmmdd-HHMMSS>`` (a fresh, readable name)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = [p.replace("/", "_").replace(":", "_") for p in parts if p]
    return Path(root) / "-".join([kind, *safe, stamp])


class RunDir:
    """A run directory being written by one command."""

    def __init__(self, path: str | Path, kind: str, config: Any, resume: bool = False) -> None:
        self.path = Path(path)
        self.kind = kind
        if self.path.exists() and any(self.path.iterdir()) and not resume:
            raise UnlogitError(
                f"run directory {self.path} already exists and is not empty; pass --resume to continue it "
                "or choose another --out"
            )
        if resume and not (self.path / "run.json").is_file():
            raise UnlogitError(f"cannot resume: {self.path} is not a run directory (no run.json)")
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "checkpoints").mkdir(exist_ok=True)
        (self.path / "figures").mkdir(exist_ok=True)
        write_text_atomic(self.path / "config.yaml", dump_yaml(config))
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
        """On resume, drop log lines written after the checkpoint (``record[keep_while] > upto``)."""
        path = self.path / "metrics.jsonl"
        if not path.is_file():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get(keep_while, 0) <= upto:
                kept.append(line)
        write_text_atomic(path, "".join(k + "\n" for k in kept))


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """All records of a run's ``metrics.jsonl``."""
    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_evaluations(run: str | Path) -> list[dict[str, Any]]:
    """A run's held-out evaluations in order: the ``"eval": true`` lines (``train.eval_every``) and the
    ``"final": true`` one, each with at least ``step`` and ``own_label_agreement``."""
    return [r for r in read_metrics(run)
            if (r.get("eval") or r.get("final")) and "step" in r and "own_label_agreement" in r]  # fmt: skip
