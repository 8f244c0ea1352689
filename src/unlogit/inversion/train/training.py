"""What one inverter training run holds, in three small parts the hooks can rely on:

- :class:`TrainingData`: the frozen classifier, the training and held-out images, the logit cache;
- :class:`Training`: the config, the method, the run directory, the train state and the step context;
- the plug-ins a caller hands in: :class:`HeldOutEvaluation` (the held-out numbers, implemented by
  :class:`unlogit.scoring.held_out.HeldOutScoring`) and a :class:`MetricsSink` (TensorBoard).

The inversion layer defines these contracts; the scoring layer above it implements the evaluation, so
training never imports the code that judges it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn as nn

from ...classifiers.normalized import NormalizedClassifier
from ...data.base import ImageDataset
from ...runtime.checkpoint import CheckpointWriter
from ...runtime.dist import DistInfo
from ...runtime.rundir import RunDir, RunLayout
from ..config import InverterRunConfig
from ..methods import Method
from ..net_spec import NetSpec
from ..nets.logit_encoder import LogitEncoder
from ..steps import StepContext
from .finite import FiniteWatch
from .state import TrainState


class Clock:
    """Training seconds: wall time since the (possibly resumed) start, minus paused stretches."""

    def __init__(self, elapsed: float = 0.0) -> None:
        self._start = time.perf_counter() - elapsed

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._start += time.perf_counter() - t0


@dataclass
class TrainingData:
    """The frozen classifier and the images of one run.

    ``cached``: the logit cache (N,K) of ``train_ds`` or None; ``labels_apply``: whether the data's labels
    are the classifier's classes (label-dependent numbers are computed only then)."""

    clf: NormalizedClassifier
    train_ds: ImageDataset
    eval_ds: ImageDataset
    cached: torch.Tensor | None
    labels_apply: bool = True


class HeldOutEvaluation(Protocol):
    """The held-out numbers of an evaluation net (the final summary and ``train.eval_every``)."""

    def prepare(
        self, evaluator_specs: Sequence[str], clf: NormalizedClassifier, eval_ds: ImageDataset, what: str | Path
    ) -> None:
        """Load the independent evaluators (refusing one with ``clf``'s weights) before the run starts."""
        ...

    def __call__(
        self, net: nn.Module, encoder: LogitEncoder, data: TrainingData, n: int, device: torch.device, seed: int
    ) -> dict[str, Any]:
        """Numbers of ``net`` on the first ``n`` held-out images (flat name -> value)."""
        ...


class MetricsSink(Protocol):
    """Somewhere records and sample sheets are mirrored (``runtime.tensorboard.TensorBoardSink``)."""

    def record(self, rec: dict[str, Any], prefix: str = "train") -> None: ...

    def image(self, tag: str, image: torch.Tensor, step: int) -> None: ...

    def close(self) -> None: ...


@dataclass
class Training:
    """One training run. ``run`` is None on ranks > 0; ``ctx`` is None for methods that learn nothing."""

    cfg: InverterRunConfig
    method: Method
    spec: NetSpec
    layout: RunLayout  # the run's file names (on every rank; only rank 0 writes)
    run: RunDir | None
    dist: DistInfo
    device: torch.device
    data: TrainingData
    state: TrainState
    ctx: StepContext | None = None
    evaluation: HeldOutEvaluation | None = None
    sink: MetricsSink | None = None
    clock: Clock | None = None
    stopped_early: bool = False
    fast: Any = None  # the FastPath the steps run on (train/fastpath.py)
    watch: FiniteWatch = field(init=False)  # non-finite losses on the device, read at the sync cadences
    writer: CheckpointWriter = field(default_factory=CheckpointWriter)  # checkpoints off the training thread

    def __post_init__(self) -> None:
        self.watch = FiniteWatch(self.device)

    @property
    def sync_cadences(self) -> tuple[int, ...]:
        """The step cadences at which the loop reads numbers on the host anyway (log, sample sheet,
        held-out evaluation, checkpoint): where a non-finite loss is noticed, before anything is saved."""
        t = self.cfg.train
        return tuple(n for n in (t.log_every, t.sample_every, t.eval_every, t.checkpoint_every) if n)
