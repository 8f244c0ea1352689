"""What every experiment shares: the inverters side by side, the same images, the same noise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..data.base import ImageDataset
from ..inversion.edits import LogitUnits, logit_units
from ..inversion.inverter import Inverter
from ..runtime.atomic import write_atomic, write_json_atomic
from ..runtime.figures import save_figure, save_png
from ..runtime.rundir import EXPERIMENT_JSON, EXPERIMENT_VALUES
from ..scoring.metrics import image_statistics_per_image

DEFAULT_DRAWS = 16  # the most noise draws per image draw-mean averages unless analyze.draws says otherwise


@dataclass
class AnalysisContext:
    """Inputs of an experiment.

    inverters: name -> Inverter (all for the same image shape), compared side by side.
    data: held-out images (the first ``n`` are shown; some experiments search the whole pool).
    seed: the noise seed every inverter shares.
    draws: the most noise draws per image an experiment averages (``draw-mean``).
    train_data: training images (what an attacker may know: the leakage audit's priors come from here,
        never from the images it attacks), or ``train_loader`` that reads them the first time an
        experiment asks (:meth:`training_images`), so experiments that need none never load them.
    """

    inverters: dict[str, Inverter]
    data: ImageDataset
    n: int = 16
    seed: int = 0
    draws: int = DEFAULT_DRAWS
    evaluator: NormalizedClassifier | None = None  # an independent judge of reconstructions (optional)
    ood_data: ImageDataset | None = None  # another dataset, converted to the inverters' image shape
    train_data: ImageDataset | None = None
    train_loader: Callable[[], ImageDataset] | None = None
    _units: dict[str, LogitUnits] = field(default_factory=dict, repr=False)

    def judge(self, inv: Inverter) -> NormalizedClassifier:
        """The evaluator when given, else the inverter's own classifier (see :attr:`judge_name`)."""
        return self.evaluator if self.evaluator is not None else inv.classifier

    @property
    def judge_name(self) -> str:
        """Who labels the reconstructions, as every metrics file records it."""
        return "evaluator" if self.evaluator is not None else "own classifier"

    @property
    def evaluators(self) -> dict[str, NormalizedClassifier]:
        """The independent judges for :func:`unlogit.scoring.measure.score` (none, or ``{"evaluator": E}``)."""
        return {"evaluator": self.evaluator} if self.evaluator is not None else {}

    def images(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first n images (N,C,H,W) in [0,1] and their labels (N,)."""
        n = min(n or self.n, len(self.data))
        return self.data.batch(torch.arange(n))

    def units(self, inv: Inverter) -> LogitUnits:
        """The inverted classifier's logit units on the training images (:func:`~unlogit.inversion.edits.
        logit_units`): what every logit edit's size is measured in."""
        key = inv.classifier.weights_digest()
        if key not in self._units:
            train = self.training_images()
            self._units[key] = logit_units(inv.classifier, train.batch(torch.arange(len(train)))[0])
        return self._units[key]

    def training_images(self) -> ImageDataset:
        """:attr:`train_data`, read through :attr:`train_loader` on first use."""
        if self.train_data is None and self.train_loader is not None:
            self.train_data = self.train_loader()
        if self.train_data is None:
            raise ValueError("this experiment needs training images (AnalysisContext.train_data or train_loader)")
        return self.train_data

    def noise(self, inv: Inverter, n: int, offset: int = 0) -> torch.Tensor:
        """Shared noise (n, dim_z) from the context seed (identical across inverters with the same dim_z)."""
        return inv.sample_noise(n, self.seed + offset)


@dataclass
class ExperimentResult:
    """Figures (name -> (3,H,W) image in [0,1] or a matplotlib Figure), a JSON-able metrics dict and the
    per-image values behind its numbers (name -> tensor), for a reader to recompute them."""

    name: str
    metrics: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    values: dict[str, torch.Tensor] = field(default_factory=dict)

    def write(self, out: Path) -> dict[str, str]:
        """Write ``out/<figure>.png``, ``out/metrics.json`` and (when there are any) the per-image values
        ``out/values.safetensors``, each atomically; returns figure paths."""
        out.mkdir(parents=True, exist_ok=True)
        extra = {}
        if self.values:
            from safetensors.torch import save_file

            tensors = {k: v.contiguous() for k, v in self.values.items()}
            write_atomic(out / EXPERIMENT_VALUES, lambda tmp: save_file(tensors, str(tmp)))
            extra["values"] = EXPERIMENT_VALUES
        paths = {}
        for key, fig in self.figures.items():
            path = out / f"{key}.png"
            if isinstance(fig, torch.Tensor):
                save_png(fig, path)
            else:
                save_figure(fig, path)
            paths[key] = path.name  # relative to the experiment's folder: a copied folder stays valid
        write_json_atomic(out / EXPERIMENT_JSON, {"experiment": self.name, "figures": paths, **extra, **self.metrics})
        return paths


def image_stats(x: torch.Tensor) -> dict[str, float]:
    """Mean brightness, contrast and contrast-normalised sharpness of (N,C,H,W) images
    (:func:`unlogit.scoring.metrics.image_statistics_per_image`, averaged)."""
    return {k: float(v.mean()) for k, v in image_statistics_per_image(x).items()}


def classifier_key(inv: Inverter) -> tuple:
    """What makes two inverters' classifiers the same one: its weights' digest and its input normalisation."""
    clf = inv.classifier
    return clf.weights_digest(), tuple(clf.mean.flatten().tolist()), tuple(clf.std.flatten().tolist())
