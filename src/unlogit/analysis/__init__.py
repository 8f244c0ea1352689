"""``unlogit analyze``: the paper's experiments as commands that write figures AND a metrics JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, UnlogitError
from .common import AnalysisContext, ExperimentResult
from .experiments import EXPERIMENTS

__all__ = ["EXPERIMENTS", "AnalysisContext", "ExperimentResult", "run_experiment"]


def run_experiment(
    experiment: str,
    inverter_runs: Sequence[str | Path],
    dataset: str,
    out: Path,
    n: int = 16,
    seed: int = 0,
    data_root: str | None = None,
    pool: int = 1000,
    evaluator: str | None = None,
    ood_dataset: str | None = None,
) -> ExperimentResult:
    """Run one experiment on several inverters side by side; write ``out/<experiment>/``.

    ``pool`` test images are loaded (the first ``n`` are shown; misclassified/factors search the pool);
    ``evaluator`` is an independent classifier spec that judges reconstructions; ``ood_dataset`` is
    converted to the inverters' image shape for the ``ood`` experiment.
    """
    from ..classifiers.registry import load_classifier
    from ..data.config import DataConfig
    from ..inversion.inverter import load_inverter

    if experiment not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {experiment!r}; choose one of {sorted(EXPERIMENTS)}")
    inverters = {Path(run).name: load_inverter(run) for run in inverter_runs}
    shapes = {inv.image_shape for inv in inverters.values()}
    if len(shapes) != 1:
        raise UnlogitError(f"inverters make images of different shapes {sorted(shapes)}; compare like with like")
    c, h, _ = shapes.pop()
    data = DataConfig(name=dataset, root=data_root, test_size=max(n, pool), channels=c, image_size=h).load("test")
    ood_data = None
    if ood_dataset:
        ood_cfg = DataConfig(name=ood_dataset, root=data_root, test_size=max(n, 64), channels=c, image_size=h)
        ood_data = ood_cfg.load("test")
    judge = load_classifier(evaluator, classes=data.classes) if evaluator else None
    ctx = AnalysisContext(inverters, data, n=n, seed=seed, evaluator=judge, ood_data=ood_data)
    result = EXPERIMENTS[experiment](ctx)
    result.metrics.update(
        {"dataset": dataset, "seed": seed, "evaluator": evaluator, "ood_dataset": ood_dataset,
         "inverter_runs": {k: str(v) for k, v in zip(inverters, inverter_runs)}}
    )  # fmt: skip
    result.write(out / experiment)
    return result
