"""What every experiment shares: the inverters side by side, the same images, the same noise."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..data.base import ImageDataset
from ..figures import save_figure, save_png
from ..inversion.inverter import Inverter
from ..runtime.atomic import write_json_atomic


@dataclass
class AnalysisContext:
    """Inputs of an experiment.

    inverters: name -> Inverter (all for the same image shape), compared side by side.
    data: held-out images (the first ``n`` are shown; some experiments search the whole pool).
    seed: the noise seed every inverter shares.
    """

    inverters: dict[str, Inverter]
    data: ImageDataset
    n: int = 16
    seed: int = 0
    evaluator: NormalizedClassifier | None = None  # an independent judge of reconstructions (optional)
    ood_data: ImageDataset | None = None  # another dataset, converted to the inverters' image shape

    def judge(self, inv: Inverter) -> NormalizedClassifier:
        """The evaluator when given, else the inverter's own classifier (see :attr:`judge_name`)."""
        return self.evaluator if self.evaluator is not None else inv.classifier

    @property
    def judge_name(self) -> str:
        """Who labels the reconstructions, as every metrics file records it."""
        return "evaluator" if self.evaluator is not None else "own classifier"

    @property
    def evaluators(self) -> dict[str, NormalizedClassifier]:
        """The independent judges for :func:`unlogit.measure.score` (none, or ``{"evaluator": E}``)."""
        return {"evaluator": self.evaluator} if self.evaluator is not None else {}

    def images(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first n images (N,C,H,W) in [0,1] and their labels (N,)."""
        n = min(n or self.n, len(self.data))
        return self.data.batch(torch.arange(n))

    def noise(self, inv: Inverter, n: int, offset: int = 0) -> torch.Tensor:
        """Shared noise (n, dim_z) from the context seed (identical across inverters with the same dim_z)."""
        return inv.sample_noise(n, self.seed + offset)


@dataclass
class ExperimentResult:
    """Figures (name -> (3,H,W) image in [0,1] or a matplotlib Figure) and a JSON-able metrics dict."""

    name: str
    metrics: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)

    def write(self, out: Path) -> dict[str, str]:
        """Write ``out/<figure>.png`` and ``out/metrics.json`` atomically; returns figure paths."""
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for key, fig in self.figures.items():
            path = out / f"{key}.png"
            if isinstance(fig, torch.Tensor):
                save_png(fig, path)
            else:
                save_figure(fig, path)
            paths[key] = str(path)
        write_json_atomic(out / "metrics.json", {"experiment": self.name, "figures": paths, **self.metrics})
        return paths


def image_stats(x: torch.Tensor) -> dict[str, float]:
    """Mean brightness (luminance), contrast (luminance std) and sharpness (mean |Laplacian|) of (N,C,H,W)."""
    lum = (
        x.mean(1, keepdim=True)
        if x.shape[1] == 1
        else (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    )
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    lap = torch.nn.functional.conv2d(lum, kernel)
    return {
        "brightness": float(lum.mean()),
        "contrast": float(lum.flatten(1).std(1).mean()),
        "sharpness": float(lap.abs().mean()),
    }
