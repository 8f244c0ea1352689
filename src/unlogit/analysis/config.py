"""``AnalyzeConfig``: what ``unlogit analyze`` and a study's ``analyze:`` section run, typed and validated."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import check_positive
from ..errors import ConfigError
from ..inversion.edits import UNIT_IMAGES
from .experiments import EXPERIMENTS


@dataclass
class AnalyzeConfig:
    """Experiments on inverters side by side.

    experiments: names from :data:`unlogit.analysis.EXPERIMENTS` (a study runs them in order).
    dataset / data_root: the held-out images (test split), converted to the inverters' image shape.
    n: images shown in the figures; pool: test images searched (misclassified, factors, ...).
    train_sample: training images an experiment may use as prior knowledge (leakage priors, logit scales,
        the ceiling's probe); the probe's cost grows with its cube.
    seed: the noise seed every inverter shares.
    draws: the most noise draws per image ``draw-mean`` averages (K = 1, 2, 4, ... up to it); None: 16
        (:data:`~unlogit.analysis.common.DEFAULT_DRAWS`), so a study folder written before the key existed, whose
        study.yaml lacks it, still resumes.
    evaluator: an independent classifier spec that judges reconstructions (None: the inverted
        classifier judges, and every number says so).
    ood_dataset: another dataset for the ``ood`` experiment.
    """

    experiments: list[str] = field(default_factory=list)
    dataset: str = "shapes"
    data_root: str | None = None
    n: int = 8
    pool: int = 500
    train_sample: int = UNIT_IMAGES
    seed: int = 0
    draws: int | None = None
    evaluator: str | None = None
    ood_dataset: str | None = None
    classifier: str | None = None  # used by every inverter instead of the classifier its run records

    def __post_init__(self) -> None:
        check_positive(self.n, "analyze.n")
        check_positive(self.pool, "analyze.pool")
        check_positive(self.train_sample, "analyze.train_sample")
        if self.draws is not None:
            check_positive(self.draws, "analyze.draws")
        for name in self.experiments:
            if name not in EXPERIMENTS:
                raise ConfigError(f"config key 'analyze.experiments': {EXPERIMENTS.unknown(name)}")
