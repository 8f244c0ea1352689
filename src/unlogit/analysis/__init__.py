"""``unlogit analyze``: the paper's experiments as commands that write figures AND a metrics JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import UnlogitError
from .common import DEFAULT_DRAWS, AnalysisContext, ExperimentResult
from .config import AnalyzeConfig
from .experiments import EXPERIMENTS

__all__ = ["EXPERIMENTS", "AnalysisContext", "AnalyzeConfig", "ExperimentResult", "run_experiment"]


def run_experiment(
    experiment: str,
    inverter_runs: Sequence[str | Path],
    cfg: AnalyzeConfig,
    out: Path,
    device: str | torch.device = "cpu",
) -> ExperimentResult:
    """Run one experiment on several inverters side by side; write ``out/<experiment>/``.

    ``cfg.pool`` test images are loaded (the first ``cfg.n`` are shown; misclassified/factors search the
    pool); ``cfg.evaluator`` judges reconstructions; ``cfg.ood_dataset`` is converted to the inverters'
    image shape for the ``ood`` experiment. ``device``: where the inverters, their classifiers and the judge
    run. The CPU by default: the experiments are small (``cfg.n`` images shown, ``cfg.pool`` searched), and
    on a GPU they are checked only by ``benchmarks/gpu_check.sh`` (step 5), not yet run there.
    """
    from ..classifiers.registry import load_classifier
    from ..data.config import DataConfig
    from ..inversion.inverter import load_inverter
    from ..runtime.device import resolve_device

    run = EXPERIMENTS.get(experiment)
    device = resolve_device(device) if isinstance(device, str) else device
    inverters = {Path(run).name: load_inverter(run, device=device, classifier=cfg.classifier) for run in inverter_runs}
    shapes = {inv.image_shape for inv in inverters.values()}
    if len(shapes) != 1:
        raise UnlogitError(f"inverters make images of different shapes {sorted(shapes)}; compare like with like")
    c, h, _ = shapes.pop()
    size = max(cfg.n, cfg.pool)
    data = DataConfig(name=cfg.dataset, root=cfg.data_root, test_size=size, channels=c, image_size=h).load("test")
    ood_data = None
    if cfg.ood_dataset:
        ood_cfg = DataConfig(
            name=cfg.ood_dataset, root=cfg.data_root, test_size=max(cfg.n, 64), channels=c, image_size=h
        )
        ood_data = ood_cfg.load("test")
    train = DataConfig(name=cfg.dataset, root=cfg.data_root, train_size=cfg.train_sample, channels=c, image_size=h)
    judge = load_classifier(cfg.evaluator, device, classes=data.classes) if cfg.evaluator else None
    ctx = AnalysisContext(
        inverters,
        data,
        n=cfg.n,
        seed=cfg.seed,
        draws=cfg.draws or DEFAULT_DRAWS,
        evaluator=judge,
        ood_data=ood_data,
        train_loader=lambda: train.load("train").subset(cfg.train_sample),
    )
    result = run(ctx)
    result.metrics.update(
        {
            "dataset": cfg.dataset,
            "seed": cfg.seed,
            "evaluator": cfg.evaluator,
            "ood_dataset": cfg.ood_dataset,
            "inverter_runs": {k: Path(v).name for k, v in zip(inverters, inverter_runs)},
        }
    )
    result.write(out / experiment)
    return result
